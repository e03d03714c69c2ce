/*
 * mta_int: what remote/mta.c (jobs, routes, connections, the idle cache)
 * and remote/mta_session.c (the SMTP client protocol) share. Nothing
 * outside src/remote/ includes this.
 *
 * Ownership: a job belongs to mta.c until done() is called; while a
 * session works on it, conn->job points to it and job's route state says
 * which host and address is being tried. A configuration (struct mta_cfg)
 * is reference counted: every job and connection holds one, so a reload
 * never pulls the DNS context or TLS context from under a session.
 */
#ifndef PETREL_REMOTE_MTA_INT_H
#define PETREL_REMOTE_MTA_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "proto/smtp_reply.h"
#include "remote/dns.h"
#include "remote/remote.h"
#include "remote/tlsdecide.h"

#define MTA_HOSTS_MAX 20	/* MX hosts tried per job */
#define MTA_ADDRS_MAX 16	/* addresses per host */
#define MTA_IDLE_SECONDS 5	/* an unused connection is closed after */
#define MTA_IDLE_MAX 64		/* idle connections kept in all */
#define MTA_REUSE_MAX 100	/* transactions per connection */

struct dns;
struct dane_host;


struct tlsseen;
struct tlsrpt;
struct sts;

struct remote {
	struct event_base *base;
	remote_done_fn done;
	void *arg;
	struct mta_cfg *cfg;
	struct remote_job *jobs;	/* in flight */
	struct mta_conn *idle;		/* reusable connections, newest first */
	unsigned nidle;
	/* remote_tls.c: the records in the working directory */
	struct tlsseen *seen;		/* remember-TLS */
	struct tlsrpt *rpt;		/* TLS-RPT counts */
	struct sts *sts;		/* MTA-STS policies */
	struct event *rpt_timer;	/* daily TLS-RPT reports */
	remote_send_fn send;
	void *send_arg;
};

struct mta_cfg {
	unsigned refs;
	struct remote_env env;
	struct dns *dns;
	SSL_CTX *tls;		/* outbound-ca-file; DANE enabled */
	SSL_CTX *tls_sts;	/* mta-sts-ca-file (may be tls, referenced) */
	char relay_user[256];
	char relay_pass[256];
	bool relay_auth;
};

struct mta_host {
	char name[256];		/* MX host name (or the smarthost) */
	struct sockaddr_storage addr[MTA_ADDRS_MAX];
	size_t naddrs;
	bool no_tls;		/* a TLS handshake failed under "may":
				 * the retry of this host goes plaintext */
	enum dns_sec sec;	/* DNSSEC verdict of its addresses */
	char canon[256];	/* CNAME target of its addresses, or "" */
	bool decided;		/* security chosen (below) */
	bool skip;		/* unusable (DANE lookup failed, not in the
				 * MTA-STS policy, REQUIRETLS impossible) */
	enum mta_security security;
	struct dane_host *dane;	/* its TLSA lookup, or NULL */
};

enum mta_state {
	MTA_S_CONNECTING,
	MTA_S_GREETING,		/* waiting for 220 */
	MTA_S_EHLO,
	MTA_S_HELO,
	MTA_S_STARTTLS,		/* waiting for 220 to STARTTLS */
	MTA_S_TLS,		/* handshake */
	MTA_S_AUTH,		/* waiting for 235 / 334 */
	MTA_S_AUTH_USER,	/* LOGIN: user sent, waiting for 334 */
	MTA_S_AUTH_PASS,	/* LOGIN: password sent */
	MTA_S_READY,		/* between transactions */
	MTA_S_TXN,		/* MAIL/RCPT/DATA replies pending */
	MTA_S_CONTENT,		/* sending the message */
	MTA_S_DOT,		/* waiting for the final reply */
	MTA_S_RSET,
	MTA_S_QUIT,
};

/* One pending reply of a pipelined group. */
enum mta_expect { MTA_X_MAIL, MTA_X_RCPT, MTA_X_DATA };

struct mta_conn {
	struct mta_conn *next;	/* idle list */
	struct remote *r;
	struct event_base *base;
	struct sockaddr_storage sa;	/* peer */
	socklen_t salen;
	struct mta_cfg *cfg;
	struct remote_job *job;	/* NULL when idle */
	char key[300];		/* destination this connection serves */
	char host[256];		/* peer's name */
	char addr[80];		/* "192.0.2.1]:25" style text for logs */
	char relay[340];	/* "host[addr]:port" */
	int fd;
	struct bufferevent *bev;
	SSL *ssl;
	enum mta_state state;
	enum conf_tls_policy policy;	/* what security maps to */
	enum mta_security security;
	const struct dane_host *dane;	/* DANE_USABLE records, borrowed
					 * from the job's route until the
					 * handshake is over */
	bool smarthost;
	bool verify_name_ok;	/* certificate valid for the name */
	char tls_info[200];	/* "TLSv1.3 cipher=... verify=ok" or "none" */
	struct smtp_reply_parser parser;
	struct smtp_reply reply;
	struct smtp_ehlo ehlo;
	bool esmtp;
	unsigned txns;		/* transactions done on this connection */
	/* pipelined replies still expected, in order */
	enum mta_expect expect[REMOTE_RCPT_MAX + 3];
	size_t rcpt_map[REMOTE_RCPT_MAX + 3]; /* expect[k] RCPT: rcpt index */
	size_t nexpect, iexpect;
	size_t accepted;	/* RCPTs accepted in this transaction */
	bool mail_failed;	/* MAIL was refused: the rest is moot */
	bool rset_after_dot;	/* a lone "." was sent: then RSET */
	bool no_tls;		/* retrying a host whose TLS failed */
	bool tls_failed;	/* this connection's handshake failed */
	bool downgrade;		/* ... at a host remembered for TLS:
				 * no plaintext retry */
	bool in_cb;		/* inside a bufferevent callback */
	bool dead;		/* freed when the callback returns */
	bool reused;		/* taken from the idle cache for this job */
	bool data_sent;		/* the content may have reached the peer */
	bool use_bdat;
	bool send_utf8, send_8bit;
	/* content streaming */
	uint64_t off;		/* next byte of the queue file to send */
	bool bol;		/* at the start of a line (dot-stuffing) */
	bool last_crlf;		/* content ended with CRLF */
	bool last_cr;		/* the last byte sent was CR */
	bool implicit_tls;	/* smarthost-tls implicit: TLS first */
	struct event *idle_timer;
};

/* mta.c: the session reports back. */

/*
 * The connection could not be used for the job (connect, greeting, TLS,
 * AUTH failure, protocol error, lost before the transaction finished).
 * Recipients not yet done stay for the next host; status and diag say
 * why, for the deferral if no host is left (or the bounce, when the
 * last host refused the session with a 5xx to the greeting, EHLO or
 * HELO and none failed temporarily: see mta.c). Frees conn.
 */
void mta_host_failed(struct mta_conn *c, const char *status,
    const char *diag, bool smtp);
/*
 * The transaction ended with every recipient done. The connection goes
 * to the idle cache when reusable is true, else it is freed.
 */
void mta_txn_done(struct mta_conn *c, bool reusable);
/* An idle connection closed or timed out: frees it. */
void mta_conn_free(struct mta_conn *c);

/* Drops a reference to a configuration (the last one frees it). */
void mta_cfg_unref(struct mta_cfg *cfg);

/* remote_tls.c: the transport-security records */

/* Opens the records (remote_new); a failure is logged, never fatal. */
void remote_tls_open(struct remote *r);
void remote_tls_close(struct remote *r);
/*
 * An opportunistic connection cannot have TLS (what: "STARTTLS not
 * offered", "handshake failed: ..."). If the host completed a TLS
 * handshake within tls-remember, this is a probable downgrade: logged as
 * a warning; returns true when the connection must not go on in
 * plaintext (tls-remember-policy remember).
 */
bool mta_tls_downgrade(struct mta_conn *c, const char *what);
/* A handshake with c's peer completed: remember the host. */
void mta_tls_seen(struct mta_conn *c);

/*
 * TLS-RPT (RFC 8460, remote/tlsrpt): one session outcome for the job's
 * domain. result: NULL for a successful TLS session, else an RFC 8460
 * result type ("starttls-not-supported", "validation-failure", ...);
 * reason: a short text or NULL. mta_tls_report_conn takes host,
 * security, addresses and TLSA records from c; mta_tls_report_host is
 * for a host given up before connecting; mta_tls_report_sts for a failed
 * policy fetch.
 */
void mta_tls_report_conn(struct mta_conn *c, const char *result,
    const char *reason);
void mta_tls_report_host(struct remote_job *j, const struct mta_host *h,
    enum mta_security sec, const char *result, const char *reason);
void mta_tls_report_sts(struct remote_job *j, const char *result,
    const char *reason);

/* mta_session.c */

/* c->fd is a fresh socket (source bound): connects to c->sa, reads the
 * greeting and goes on. */
void mta_session_start(struct mta_conn *c);
/* A ready connection (c->job set): starts the next transaction. */
void mta_session_txn(struct mta_conn *c);
/* Says QUIT (best effort) and frees c. */
void mta_session_quit(struct mta_conn *c);

/* Sets the final result of recipient i of c's job. */
void mta_rcpt_result(struct remote_rcpt *rc, enum remote_result res,
    const char *status, const char *diag, unsigned flags);

#endif
