/*
 * tlsrpt: the remote process's SMTP TLS Reporting (RFC 8460): it counts
 * the outcome of every outbound session per policy domain and sends the
 * daily aggregate reports to the domains that ask for them.
 *
 * Counting. tlsrpt_record() adds one session to the period that holds
 * `now`: normally the UTC day (00:00:00 to 24:00:00), per policy domain
 * and per policy (type and policy strings: a TLSA set or an MTA-STS
 * policy; a domain whose policy changed during the day has several),
 * successful-session-count / failure-session-count, and failure-details
 * rows keyed by (result type, sending IP, receiving MX, receiving IP,
 * reason). A forced report (`petrel tls report`) cuts the current period
 * at that moment: the counts so far are reported, later sessions go into
 * a new period that ends at midnight, so no session is reported twice.
 *
 * Persistence. Each period is one text file in the directory given to
 * tlsrpt_open(), named after its start: "YYYY-MM-DD" (the usual case) or
 * "YYYY-MM-DD.EPOCH" (a period that starts after a cut). Files are
 * rewritten whole and atomically (temporary file, rename) at most every
 * TLSRPT_SAVE_INTERVAL seconds while sessions are counted (a timer writes
 * the last changes when an event base is attached), and at close, so a
 * restart loses at most those seconds. A domain is marked reported in
 * the file (written and fdatasync'ed) before its report is handed to
 * send(), so a report is never sent twice, across restarts too; a crash
 * between the two loses that one report instead. A period whose domains
 * are all reported (or dropped) is deleted.
 *
 * Bounds: TLSRPT_DOMAINS_MAX policy domains per period (later ones are
 * not counted, with one warning per period), TLSRPT_POLICIES_MAX policies
 * per domain, TLSRPT_ROWS_MAX failure-details rows per policy (the
 * session is still counted in the summary), TLSRPT_STRINGS_MAX policy
 * strings of at most TLSRPT_STRING_MAX octets; periods older than
 * TLSRPT_KEEP_DAYS are dropped unreported.
 *
 * Sending. tlsrpt_send() looks up "_smtp._tls.DOMAIN" TXT for every
 * unreported domain of every finished period (TLSRPT_LOOKUPS_MAX at a
 * time), and for every mailto: rua composes the RFC 8460 5.3 message and
 * hands it to send() (the caller passes it to the queue as IMSG_R_REPORT).
 * To every https: rua it POSTs the gzip'd JSON (RFC 8460 5.4) with
 * Content-Type application/tlsrpt+gzip, on the event loop (remote/curlev):
 * the URL's host is resolved with dns_host() and pinned (libcurl never
 * resolves), its port is the URL's (443 by default), TLS 1.2 or later
 * with a certificate that chains to the CA PEM of tlsrpt_set_ca() and
 * names the host, no redirects, TLSRPT_POST_TIMEOUT seconds in all. A 2xx
 * answer is success ("action=posted status=N"), anything else (another
 * status, a TLS, DNS or connection failure, the time limit) a failure
 * ("action=failed", logged as a warning). Failed POSTs are not retried:
 * RFC 8460 5.5 makes redelivery optional, and the domain is marked
 * reported before anything leaves (so nothing is ever sent twice), which
 * leaves no state to retry from; the next day's report carries the next
 * day's counts. A report is delivered when at least one rua (mail or
 * https) took it; one that none took is logged ("action=undelivered").
 * No valid record, NXDOMAIN, or a report that cannot be composed: the
 * domain's counts are dropped (logged). A temporary DNS failure of the
 * TXT lookup leaves the domain for the next run, until the period is
 * TLSRPT_RETRY_DAYS old.
 *
 * RFC 8460 5.3 also says reports must be delivered despite TLS failures
 * and their own sessions should not be counted: that is the caller's part
 * (deliver report messages with the opportunistic policy and do not call
 * tlsrpt_record() for them).
 */
#ifndef PETREL_REMOTE_TLSRPT_H
#define PETREL_REMOTE_TLSRPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "proto/tlsrpt.h" /* enum tlsrpt_policy_type, enum tlsrpt_result */

struct dns;
struct event_base;
struct tlsrpt;

#define TLSRPT_DOMAINS_MAX   10000 /* policy domains per period */
#define TLSRPT_POLICIES_MAX  4     /* policies per domain and period */
#define TLSRPT_ROWS_MAX      100   /* failure-details rows per policy */
#define TLSRPT_STRINGS_MAX   32    /* policy strings per policy */
#define TLSRPT_STRING_MAX    4096  /* octets per policy string (cut) */
#define TLSRPT_FIELD_MAX     255   /* octets of an IP, MX or reason (cut) */
#define TLSRPT_SAVE_INTERVAL 5     /* seconds between writes */
#define TLSRPT_LOOKUPS_MAX   16    /* TXT lookups at a time */
#define TLSRPT_RETRY_DAYS    3     /* DNS failures retried this long */
#define TLSRPT_KEEP_DAYS     7     /* unreported periods kept this long */
#define TLSRPT_MSG_MAX       (1024 * 1024)       /* REMOTE_REPORT_MAX */
#define TLSRPT_FILE_MAX      (64u * 1024 * 1024) /* bytes read per file */
#define TLSRPT_POST_TIMEOUT  60          /* seconds per https: POST */
#define TLSRPT_RESPONSE_MAX  (64 * 1024) /* response bytes read (discarded) */

struct tlsrpt_event {
	const char *policy_domain; /* the recipient domain */
	enum tlsrpt_policy_type ptype;
	const char *const *policy_strings; /* TLSA records as text, or the
					    * STS policy lines */
	size_t npolicy_strings;
	const char *mx_host;                   /* receiving-mx-hostname */
	const char *sending_ip, *receiving_ip; /* text, may be "" or NULL */
	enum tlsrpt_result result;
	const char *reason; /* failure-reason-code, may be NULL */
};

/*
 * Opens the store in dir (created, mode 0700, when missing) and reads
 * every period file in it; a file or line that does not parse is skipped
 * with a warning. Returns the store, or NULL with a message in err when
 * dir cannot be created or read.
 */
struct tlsrpt *tlsrpt_open(const char *dir, char *err, size_t errsz);

/*
 * Lets the store write pending counts from a timer on base, and deliver
 * tlsrpt_send()'s done() from the loop when there is nothing to look up.
 * NULL detaches. Call before the loop runs.
 */
void tlsrpt_set_base(struct tlsrpt *t, struct event_base *base);

/*
 * The CAs (PEM text, len bytes; copied) that https: report destinations
 * must chain to: the outbound-ca-file. A run uses the CAs set when it
 * started. NULL or 0: none, so every POST fails verification.
 */
void tlsrpt_set_ca(struct tlsrpt *t, const char *pem, size_t len);

/*
 * Writes pending counts and frees the store. A tlsrpt_send() still
 * running is abandoned (its lookups cancelled, done() never called).
 * Must not be called from inside a send() or done() callback. NULL is
 * fine.
 */
void tlsrpt_close(struct tlsrpt *t);

/* Counts one session outcome into the period holding now (see above). An
 * event without a valid policy domain is ignored. */
void tlsrpt_record(
    struct tlsrpt *t, const struct tlsrpt_event *ev, int64_t now);

/* Writes every changed period now (errors are logged). */
void tlsrpt_flush(struct tlsrpt *t);

/*
 * Called once per report message: sender is the envelope sender (the
 * tlsrpt contact), rcpts the rua mailbox(es), msg[0..len) the message in
 * wire form (CRLF). The data lives until the callback returns.
 */
typedef void (*tlsrpt_send_fn)(void *arg, const char *sender,
    const char *const *rcpts, size_t nrcpts, const char *msg, size_t len);

/*
 * Sends the reports of every finished period (with force: first cuts the
 * current period at now, so today's counts so far are included), as the
 * header comment says. organization-name and the submitter are
 * conf->hostname, contact-info and the sender conf->tlsrpt_contact
 * (postmaster@hostname when NULL); both are copied. done(arg, nsent) is
 * called once, from the loop, when every lookup and every POST has
 * finished; nsent counts the messages handed to send() plus the POSTs
 * answered with 2xx. https: rua need the event base (tlsrpt_set_base()).
 * One run at a time: a second call while one runs gets done(arg, 0) at
 * once.
 */
void tlsrpt_send(struct tlsrpt *t, struct dns *dns, const struct conf *conf,
    bool force, tlsrpt_send_fn send, void (*done)(void *arg, unsigned nsent),
    void *arg);

/* ---- the steps of tlsrpt_send(), exposed for tests (no DNS) ---- */

/* A (period, domain) pair that is due for a report. */
struct tlsrpt_due {
	int64_t start; /* the period's start (identifies it) */
	int64_t end;   /* its end (exclusive) */
	char domain[254];
};

/*
 * Cuts the current period at now (only when it holds counts and started
 * before now): it ends at now and is written, and an empty successor
 * period from now to the end of the day is written too, so later
 * sessions never fall into a range already reported.
 */
void tlsrpt_cut(struct tlsrpt *t, int64_t now);

/*
 * Drops periods older than TLSRPT_KEEP_DAYS (logged) and fills out with
 * up to max unreported (period, domain) pairs of periods that ended by
 * now, oldest period first. Returns the number of pairs.
 */
size_t tlsrpt_due(
    struct tlsrpt *t, int64_t now, struct tlsrpt_due *out, size_t max);

/*
 * Reports one due pair to the destinations of rec: marks the domain
 * reported and writes the period file (if that fails, nothing is sent and
 * -1 returned), then composes one message per mailto: rua and calls send.
 * org is the host name (organization-name, submitter, Message-ID and
 * report-id domain), contact the contact-info and sender. Returns the
 * number of messages sent, or -1. https: rua are skipped here with a log
 * line: only tlsrpt_send() posts them.
 */
int tlsrpt_report(struct tlsrpt *t, const struct tlsrpt_due *d,
    const struct tlsrpt_record *rec, const char *org, const char *contact,
    int64_t now, tlsrpt_send_fn send, void *arg);

/* Marks one due pair reported without a report (no TXT record): its
 * counts are dropped. why goes into the log line. */
void tlsrpt_drop(struct tlsrpt *t, const struct tlsrpt_due *d, const char *why);

/* Deletes the periods (and files) whose domains are all reported, and
 * empty ones that ended by now. */
void tlsrpt_gc(struct tlsrpt *t, int64_t now);

/*
 * The host (as libcurl reads it: an IPv6 literal in brackets) and port
 * (the URL's, else "443") of an https: rua URI. 0, or -1 when uri is not
 * an https: URL with a host or a part does not fit.
 */
int tlsrpt_https_target(const char *uri, char *host, size_t hostsz,
    char *port, size_t portsz);

/*
 * The JSON report of one due pair as it would be sent (tests, `petrel
 * tls` debugging). 0, or -1 when the pair is unknown or out is full.
 */
int tlsrpt_report_json(const struct tlsrpt *t, const struct tlsrpt_due *d,
    const char *org, const char *contact, const char *report_id,
    struct buf *out);

#endif
