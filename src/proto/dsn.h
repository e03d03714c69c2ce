/*
 * dsn: composes delivery status notifications (RFC 3464 inside an RFC
 * 3462/6522 multipart/report, requested with the RFC 3461 SMTP DSN
 * extension). Pure: no I/O, no clock, no configuration; the caller passes
 * the time, the host name, a Message-ID and the original content it read.
 *
 * The output is a complete RFC 5322 message in SMTP wire form: CRLF line
 * ends, no line longer than 998 octets (long fields are folded at spaces,
 * a word longer than DSN_WORD_MAX is split), and every byte this module
 * writes itself is printable ASCII; bytes from the envelope (diagnostics,
 * addresses) that are not are written as \xHH, except UTF-8 addresses of a
 * SMTPUTF8 report. The returned original content is copied unchanged; its
 * part is marked 8bit when it holds any byte above 127.
 *
 * Three parts, in the order RFC 6522 3 requires:
 *   1. text/plain (us-ascii): what happened, per recipient, with the
 *      remote reply quoted;
 *   2. message/delivery-status (RFC 3464 2): the per-message fields, then
 *      one block per recipient;
 *   3. the original: text/rfc822-headers (headers only) or message/rfc822
 *      (the whole message), omitted when no content is given.
 *
 * SMTPUTF8 (RFC 6533): when the original message was sent with SMTPUTF8,
 * the report uses message/global-delivery-status (report-type
 * global-delivery-status, as RFC 6522 ties report-type to the second
 * part's subtype), message/global or message/global-headers for the
 * original, and "utf-8" address types for non-ASCII addresses. Such a
 * report itself needs SMTPUTF8 to travel; the caller marks its envelope.
 * A plain report is used otherwise, even for 8BITMIME originals (only the
 * third part is 8bit then).
 */
#ifndef PETREL_PROTO_DSN_H
#define PETREL_PROTO_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define DSN_LINE_WIDTH 78  /* fold or wrap after this where possible */
#define DSN_WORD_MAX   900 /* a longer word is split (keeps lines < 998) */

enum dsn_kind {
	DSN_KIND_FAILURE, /* "Undelivered Mail Returned to Sender" */
	DSN_KIND_DELAY,   /* "Delayed Mail (still being retried)" */
	DSN_KIND_SUCCESS, /* "Successful Mail Delivery Report" */
};

/* RFC 3464 2.3.3 action-value. */
enum dsn_action {
	DSN_ACTION_FAILED,
	DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED,
	DSN_ACTION_RELAYED,
	DSN_ACTION_EXPANDED,
};

struct dsn_rcpt {
	const char *orcpt; /* ORCPT as received ("rfc822;a+2Bb@x", the
			    * value xtext) or NULL: no Original-Recipient */
	const char *rcpt;  /* RCPT TO address (text part), or NULL */
	const char *final; /* final address, after aliases; required */
	enum dsn_action action;
	const char *status;     /* "5.1.1"; NULL or malformed: 5.0.0, 4.0.0 or
				 * 2.0.0 by action */
	const char *remote_mta; /* host name (Remote-MTA: dns;) or NULL */
	const char *diagnostic; /* or NULL: no Diagnostic-Code */
	bool diag_smtp;         /* diagnostic is the peer's SMTP reply
				 * ("smtp;"), else our text ("X-Petrel;") */
	bool expired;           /* failed because the queue lifetime passed */
	int64_t last_attempt;   /* unix time, 0: no Last-Attempt-Date */
	int64_t retry_until;    /* delayed: unix time, 0: no Will-Retry-Until */
};

struct dsn_report {
	enum dsn_kind kind;
	const char *hostname;   /* Reporting-MTA and MAILER-DAEMON@ domain */
	const char *message_id; /* the report's Message-ID, without <> */
	const char *qid;        /* original queue ID (X-Petrel-Queue-ID), or
				 * NULL */
	const char *sender;     /* original envelope sender: the To: */
	const char *envid;      /* ENVID as received (xtext) or NULL */
	int64_t arrival;        /* Arrival-Date */
	int64_t now;            /* Date */
	bool utf8;              /* the original was sent with SMTPUTF8 */
	bool full;              /* content is the whole message, else its
				 * header section */
	bool cut;               /* the whole message was asked for but only
				 * the headers are returned (too large) */
	const char *content;    /* returned content, or NULL: no third part */
	size_t content_len;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts; /* at least 1 */
};

/*
 * Appends the report to out. 0, or -1 when an argument is missing
 * (hostname, message_id, sender, a final address, no recipient) or out
 * is full; out is then left as it was.
 */
int dsn_compose(const struct dsn_report *r, struct buf *out);

/*
 * Whether a report of this kind returns the whole message (true) or its
 * header section, for ret an enum smtp_ret (see dsn.c for why).
 */
bool dsn_return_full(unsigned ret, enum dsn_kind kind);

/*
 * Length of the header section at the start of a message in wire form:
 * up to and including the CRLF that ends the last header line, without
 * the empty line. n when there is no empty line (all headers).
 */
size_t dsn_header_len(const char *p, size_t n);

/* RFC 5322 3.3 date-time of t, in UTC: "Mon, 02 Jan 2006 15:04:05 +0000".
 * 0, or -1 when t is out of range or outsz is too small. */
int dsn_date(int64_t t, char *out, size_t outsz);

#endif
