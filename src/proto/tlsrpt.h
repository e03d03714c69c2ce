/*
 * tlsrpt: the pure parts of SMTP TLS Reporting (RFC 8460): the
 * "_smtp._tls" TXT record (section 3), the aggregate report as JSON
 * (section 4), and the report message (section 5.3: an RFC 5322 message
 * with a multipart/report body whose second part is the gzip'd JSON,
 * base64, application/tlsrpt+gzip). No I/O, no clock, no randomness, no
 * configuration: the caller passes the times, names and identifiers.
 *
 * Promises:
 * - The record parser reads only the span it is given and keeps at most
 *   TLSRPT_RUA_MAX usable URIs of at most TLSRPT_URI_MAX octets each;
 *   every kept URI is printable ASCII without spaces, every mailto:
 *   address is a plain ASCII addr-spec checked by proto/smtp_path.
 * - The JSON composer escapes every string as RFC 8259 7 requires
 *   (quotation mark, reverse solidus, control characters); bytes above
 *   127 that are not well-formed UTF-8 are written as U+FFFD, so the
 *   output is always valid UTF-8 JSON.
 * - The message composer writes CRLF lines, printable ASCII only, base64
 *   lines of 76 characters, and a boundary that cannot occur in the
 *   parts. Lines stay within 78 octets except where a long domain name or
 *   the attachment's file name must go on one line (always < 998).
 */
#ifndef PETREL_PROTO_TLSRPT_H
#define PETREL_PROTO_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/span.h"

#define TLSRPT_TXT_MAX 2048 /* octets of one TXT record we read at all */
#define TLSRPT_RUA_MAX 8    /* report destinations kept per record */
#define TLSRPT_URI_MAX 512  /* octets of one rua URI */
#define TLSRPT_ADDR_MAX                                                        \
	254 /* octets of a mailto: address (RFC 5321                           \
	     * 4.5.3.1.3 path without "<>") */

/* RFC 8460 4.3 policy-type. */
enum tlsrpt_policy_type {
	TLSRPT_TLSA,      /* "tlsa" */
	TLSRPT_STS,       /* "sts" */
	TLSRPT_NO_POLICY, /* "no-policy-found" */
};

/* RFC 8460 4.3 result-type (4.3.1 negotiation, 4.3.2 policy failures);
 * TLSRPT_SUCCESS is only counted, never a failure detail. */
enum tlsrpt_result {
	TLSRPT_SUCCESS,
	TLSRPT_STARTTLS_NOT_SUPPORTED,
	TLSRPT_CERTIFICATE_HOST_MISMATCH,
	TLSRPT_CERTIFICATE_EXPIRED,
	TLSRPT_CERTIFICATE_NOT_TRUSTED,
	TLSRPT_VALIDATION_FAILURE,
	TLSRPT_TLSA_INVALID,
	TLSRPT_DNSSEC_INVALID,
	TLSRPT_DANE_REQUIRED,
	TLSRPT_STS_POLICY_FETCH_ERROR,
	TLSRPT_STS_POLICY_INVALID,
	TLSRPT_STS_WEBPKI_INVALID,
};
#define TLSRPT_RESULT_COUNT (TLSRPT_STS_WEBPKI_INVALID + 1)

/* "tlsa", "sts", "no-policy-found"; NULL for a value out of range. */
const char *tlsrpt_policy_type_name(enum tlsrpt_policy_type t);
/* "success", "starttls-not-supported", ...; NULL out of range. */
const char *tlsrpt_result_name(enum tlsrpt_result r);
/* The reverse of the two above (exact, case-sensitive names). 0, or -1. */
int tlsrpt_policy_type_parse(struct span s, enum tlsrpt_policy_type *out);
int tlsrpt_result_parse(struct span s, enum tlsrpt_result *out);

/* ---- the TXT record (RFC 8460 3) ---- */

enum tlsrpt_rua_kind {
	TLSRPT_RUA_MAILTO, /* addr is the mailbox to send the report to */
	TLSRPT_RUA_HTTPS,  /* uri is the https: URI to POST it to */
};

struct tlsrpt_rua {
	enum tlsrpt_rua_kind kind;
	char uri[TLSRPT_URI_MAX + 1];   /* as written in the record */
	char addr[TLSRPT_ADDR_MAX + 1]; /* MAILTO: "local@domain"; else "" */
};

struct tlsrpt_record {
	size_t nrua;
	struct tlsrpt_rua rua[TLSRPT_RUA_MAX]; /* in record order */
	size_t nskipped; /* URIs not kept: another scheme, a mailto:
			  * that is not one plain address, too long,
			  * or past TLSRPT_RUA_MAX */
};

enum tlsrpt_rec_err {
	TLSRPT_REC_OK = 0,
	TLSRPT_REC_NOTRPT = -1,   /* does not begin with "v=TLSRPTv1" and a
				   * delimiter: another kind of TXT record */
	TLSRPT_REC_SYNTAX = -2,   /* a TLSRPT record that breaks the grammar */
	TLSRPT_REC_NORUA = -3,    /* no rua field */
	TLSRPT_REC_TOOLONG = -4,  /* longer than TLSRPT_TXT_MAX */
	TLSRPT_REC_NOURI = -5,    /* rua present, but no URI petrel can use */
	TLSRPT_REC_MULTIPLE = -6, /* more than one candidate record */
};

/*
 * Whether txt (one TXT record, its strings concatenated) is a TLSRPT
 * record candidate: it begins with "v=TLSRPTv1" followed by ";" or a space
 * or tab. RFC 8460 3 discards the others before counting the records.
 */
bool tlsrpt_record_is_candidate(struct span txt);

/*
 * Parses one TXT record (RFC 8460 3):
 *
 *   tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field)
 *                      [field-delim]
 *   field-delim      = *WSP ";" *WSP
 *   tlsrpt-field     = tlsrpt-rua / tlsrpt-extension
 *   tlsrpt-version   = %s"v=TLSRPTv1"
 *   tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *   tlsrpt-uri       = URI    ; commas and "!" MUST be %-encoded
 *   tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
 *   tlsrpt-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * Extensions are checked for syntax and ignored; rua may appear more than
 * once (its URIs are appended). Of the URIs only "mailto:" (RFC 6068, one
 * addr-spec, percent-decoded, "?hfields" ignored) and "https:" are kept.
 * Returns TLSRPT_REC_OK with out filled (nrua >= 1), or a negative enum
 * tlsrpt_rec_err with *out zeroed.
 */
int tlsrpt_record_parse(struct span txt, struct tlsrpt_record *out);

/*
 * RFC 8460 3 over an answer's records: those that are not candidates are
 * discarded; exactly one must remain and parse. Returns TLSRPT_REC_OK with
 * out filled, TLSRPT_REC_NOTRPT when none remains, TLSRPT_REC_SYNTAX when
 * TLSRPT_REC_MULTIPLE when more than one does, or the one record's parse
 * error.
 */
int tlsrpt_record_select(
    const struct span *txts, size_t n, struct tlsrpt_record *out);

/* "ok", "not a TLSRPT record", ... for log lines. Never NULL. */
const char *tlsrpt_rec_strerror(int err);

/* ---- the report (RFC 8460 4) ---- */

/* One row of "failure-details" (RFC 8460 4.3). */
struct tlsrpt_failure {
	enum tlsrpt_result result;
	const char *sending_ip;   /* "sending-mta-ip"; "" or NULL: omitted */
	const char *receiving_mx; /* "receiving-mx-hostname"; "" or NULL */
	const char *receiving_ip; /* "receiving-ip"; "" or NULL */
	const char *reason;       /* "failure-reason-code"; "" or NULL */
	uint64_t count;           /* "failed-session-count" */
};

/* One element of "policies". */
struct tlsrpt_policy {
	enum tlsrpt_policy_type ptype;
	const char *domain;          /* "policy-domain" */
	const char *const *strings;  /* "policy-string": TLSA records as
				      * text, or the STS policy lines */
	size_t nstrings;             /* 0: "policy-string" omitted */
	uint64_t nsuccess, nfailure; /* the "summary" */
	const struct tlsrpt_failure *failures;
	size_t nfailures;
};

struct tlsrpt_report {
	const char *org_name;  /* "organization-name" */
	const char *contact;   /* "contact-info" */
	const char *report_id; /* "report-id" */
	int64_t start, end;    /* "date-range": unix times, both inclusive
				* (a day is 00:00:00 to 23:59:59, as in the
				* RFC's example) */
	const struct tlsrpt_policy *policies;
	size_t npolicies;
};

/*
 * Appends the report as JSON (RFC 8460 4.4, RFC 8259) to out, on one line
 * without insignificant whitespace, members in the order of RFC 8460 4.
 * For STS policies "mx-host" is the array of the values of the "mx:"
 * lines among the policy strings (RFC 8460 erratum 6241: an array),
 * omitted when there are none. Returns 0, or -1 (out full or a time out
 * of range; out is then as it was).
 */
int tlsrpt_json(const struct tlsrpt_report *r, struct buf *out);

/* Appends s[0..n) as a JSON string (with the quotes). 0, or -1 (full). */
int tlsrpt_json_string(struct buf *out, const char *s, size_t n);

/* RFC 3339 date-time in UTC, "2016-04-01T23:59:59Z". 0, or -1. */
int tlsrpt_datetime(int64_t t, char *out, size_t outsz);

/*
 * Appends the gzip (RFC 1952) compression of in[0..n) to out (zlib,
 * default level, no file name, mtime 0). 0, or -1 (out full or a zlib
 * failure; out is then as it was).
 */
int tlsrpt_gzip(const void *in, size_t n, struct buf *out);

/* ---- the report message (RFC 8460 5.3) ---- */

struct tlsrpt_mail {
	const char *from; /* From: addr-spec (the tlsrpt contact) */
	const char *to;   /* To: addr-spec (the rua mailbox) */
	const char *policy_domain;
	const char *submitter;  /* our host name */
	const char *report_id;  /* id-left "@" id-right, for the Subject */
	const char *message_id; /* without <> */
	int64_t now;            /* Date: */
	int64_t start, end;     /* the report's date-range, for the file
				 * name */
	const char *unique_id;  /* [A-Za-z0-9]+ for the file name, or NULL */
	const void *gz;         /* the gzip'd JSON */
	size_t gzlen;
};

/*
 * The attachment's file name (RFC 8460 5.3):
 *   filename = sender "!" policy-domain "!" begin-timestamp
 *              "!" end-timestamp [ "!" unique-id ] "." extension
 * with extension "json.gz". 0, or -1 when it does not fit or a name has a
 * byte that cannot go into a quoted MIME parameter.
 */
int tlsrpt_filename(const struct tlsrpt_mail *m, char *out, size_t outsz);

/*
 * Appends the whole message to out in SMTP wire form (CRLF):
 *   From, To, Date, Subject ("Report Domain: D Submitter: S Report-ID:
 *   <ID>", folded), Message-ID, TLS-Report-Domain, TLS-Report-Submitter,
 *   MIME-Version, Content-Type: multipart/report; report-type="tlsrpt";
 *   then a text/plain part and the application/tlsrpt+gzip part (base64,
 *   76-character lines, Content-Disposition: attachment; filename=...).
 * Returns 0, or -1 (a required field missing or not printable ASCII
 * without spaces, or out full; out is then as it was).
 */
int tlsrpt_mail_compose(const struct tlsrpt_mail *m, struct buf *out);

#endif
