/*
 * remote: outbound delivery, the logic of the remote process. A job is
 * one message for one destination domain with up to REMOTE_RCPT_MAX
 * recipients (the queue groups them). For each job the route is found
 * (the smarthost, or the domain's MX hosts through remote/dns), the hosts
 * are tried in order, and one SMTP transaction hands the message over
 * (remote/mta_session.c); every recipient gets its own result: delivered,
 * temporary failure (the queue retries) or permanent failure (the queue
 * bounces). Idle connections are kept a few seconds and reused for the
 * next job to the same destination.
 *
 * Nothing here writes to disk: the message is read from the queue file
 * descriptor the queue sent, and the results go back to the queue, the
 * only writer of the spool.
 */
#ifndef PETREL_REMOTE_REMOTE_H
#define PETREL_REMOTE_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf/conf.h"
#include "lib/buf.h"

#define REMOTE_RCPT_MAX 50	/* recipients in one job */
#define REMOTE_DIAG_MAX 512	/* diagnostic text per recipient */
#define REMOTE_REPORT_MAX (1024 * 1024) /* IMSG_R_REPORT message size */

enum remote_result { REMOTE_OK = 0, REMOTE_TEMP = 1, REMOTE_PERM = 2 };
#define REMOTE_F_RELAYED 0x1	/* accepted by a peer without DSN */
#define REMOTE_F_SMTP 0x2	/* diag is the peer's SMTP reply */

struct remote_rcpt {
	unsigned idx;		/* index in the queue's envelope */
	char *dest;
	char *orcpt;		/* xtext form or NULL */
	unsigned notify;	/* SMTP_NOTIFY_* */
	/* outcome */
	bool done;		/* result is final for this job */
	bool accepted;		/* RCPT got 2xx in the current transaction */
	enum remote_result result;
	unsigned flags;
	char status[16];
	char diag[REMOTE_DIAG_MAX + 1];
};

struct mta_route;

struct remote_job {
	struct remote_job *next, *prev;	/* jobs in flight */
	struct mta_route *route;	/* remote/mta.c's state */
	uint64_t did;
	char qid[32];
	char *domain;
	char *sender;
	char *envid;		/* xtext or NULL */
	unsigned ret, body;	/* enum smtp_ret, enum smtp_body */
	bool smtputf8;
	bool requiretls;	/* RFC 8689: only over DANE or MTA-STS
				 * verified TLS to a peer offering REQUIRETLS */
	bool tls_optional;	/* "TLS-Required: No" (RFC 8689 5), and
				 * no REQUIRETLS: DANE and MTA-STS failures
				 * do not stop delivery (remote/mta.c) */
	bool tlsrpt_msg;	/* a TLS-RPT report (TLS-Report-Domain):
				 * delivered opportunistically and not
				 * counted (RFC 8460 5.3) */
	uint64_t content_len;
	int fd;			/* queue file; content from offset 0 */
	struct remote_rcpt *rcpts;
	size_t nrcpts;
	char remote_mta[256];	/* host of the last transaction, or "" */
	void *owner;		/* the caller's tag (proc_remote: link) */
	double started;
};

/*
 * What the remote process needs besides struct conf (from the bundle).
 * remote_configure() takes it over: release(owner) is called when no job
 * or connection uses it any more.
 */
struct remote_env {
	void (*release)(void *owner);
	void *owner;
	const struct conf *conf;
	const char *resolv;	/* /etc/resolv.conf text */
	size_t resolv_len;
	const char *ta;		/* trust anchor text */
	size_t ta_len;
	const char *ca;		/* CA certificates, PEM */
	size_t ca_len;
	const char *sts_ca;	/* mta-sts-ca-file PEM; NULL/0: same as ca */
	size_t sts_ca_len;
	const char *relay_auth;	/* smarthost "user:password" */
	size_t relay_auth_len;
};

struct remote;
struct event_base;

/* Called once per job when every recipient has its result. */
typedef void (*remote_done_fn)(void *arg, struct remote_job *job);

struct remote *remote_new(struct event_base *base, remote_done_fn done,
    void *arg);
/*
 * Installs a configuration (at start and at each reload): new jobs use
 * it; jobs in flight and idle connections finish with the one they had.
 * 0 (env now belongs to r), or -1 with err (bad DNS options, unusable
 * smarthost-auth file; the caller keeps env, the old one stays).
 */
int remote_configure(struct remote *r, const struct remote_env *env,
    char *err, size_t errsz);
/* True until the first successful remote_configure(). */
bool remote_unconfigured(const struct remote *r);
/* Takes the job (and its fd); done() is called exactly once for it. */
void remote_deliver(struct remote *r, struct remote_job *job);
/*
 * Stops everything: jobs in flight are finished as temporary failures
 * ("delivery interrupted") through done(), connections closed.
 */
void remote_shutdown(struct remote *r);
void remote_free(struct remote *r);

/*
 * The remote process's transport-security records (remote_tls.c), kept
 * in files of its working directory (STATE/remote).
 * remote_tls_list: the hosts remembered for offering STARTTLS, one
 * "host last-seen" line each. remote_tls_forget: drops one; 0, or -1 when
 * there was no record. remote_tls_report: sends the TLS-RPT reports now
 * (today's included); done(arg, n) once they are handed to the sender.
 */
void remote_tls_list(struct remote *r, struct buf *out);
int remote_tls_forget(struct remote *r, const char *host);
void remote_tls_report(struct remote *r,
    void (*done)(void *arg, unsigned nsent), void *arg);
/* Where composed messages (TLS-RPT reports) go: proc_remote's sender. */
typedef void (*remote_send_fn)(void *arg, const char *sender,
    const char *const *rcpts, size_t nrcpts, const char *msg, size_t len);
void remote_set_sender(struct remote *r, remote_send_fn fn, void *arg);

/* Frees a job and closes its fd. */
void remote_job_free(struct remote_job *job);

#endif
