/*
 * smtpd: the inbound SMTP server of the smtp process: listeners, one state
 * machine per connection (session.c), the transaction it builds, and the
 * data path into the queue's file (session_data.c). It never writes the
 * spool itself: it asks the queue process for a file and for a commit
 * through the three smtpd_queue_* calls that the process wiring provides
 * (src/bin/proc_smtp.c), and answers 250 only when the commit is durable.
 */
#ifndef PETREL_SMTPD_SMTPD_H
#define PETREL_SMTPD_SMTPD_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf/conf.h"
#include "lookup/tables.h"
#include "proto/smtp_param.h"
#include "proto/smtp_path.h"

struct event_base;
struct smtpd_server;
struct smtpd_session;

/*
 * What a session needs from the configuration, shared by reference count:
 * a reload makes a new one, sessions keep the one they started with.
 */
struct smtpd_rt {
	unsigned refs;
	struct conf conf;
	struct tables *tables;
	SSL_CTX *tls;		/* NULL when TLS is not available */
};

void smtpd_rt_ref(struct smtpd_rt *rt);
void smtpd_rt_unref(struct smtpd_rt *rt);

/* One accepted recipient of the transaction. */
struct smtpd_rcpt {
	char addr[SMTP_LOCAL_MAX * 4 + SMTP_DOMAIN_MAX + 8];
	struct smtp_rcpt_params params;
};

/* The transaction: MAIL .. end of data; RSET and EHLO discard it. */
struct smtpd_txn {
	struct smtp_path from;
	char from_addr[SMTP_LOCAL_MAX * 4 + SMTP_DOMAIN_MAX + 8];
	struct smtp_mail_params params;
	struct smtpd_rcpt *rcpts;
	unsigned nrcpts, rcpts_cap;
};

struct smtpd_server *smtpd_server_new(struct event_base *base);
/* Installs a new runtime (takes one reference). */
void smtpd_server_set_rt(struct smtpd_server *srv, struct smtpd_rt *rt);
/* Starts accepting on a bound, listening socket (fd is taken over). */
void smtpd_server_listen(struct smtpd_server *srv, int fd,
    const struct conf_listener *cl);
/* Stops accepting; existing sessions go on. */
void smtpd_server_stop_listening(struct smtpd_server *srv);
/* Sessions alive. */
unsigned smtpd_server_sessions(const struct smtpd_server *srv);
/* Ends every session with "421 4.3.2" (shutdown). */
void smtpd_server_shutdown(struct smtpd_server *srv);
/* Finds a session by id (for queue replies); NULL if it has gone. */
struct smtpd_session *smtpd_server_find(struct smtpd_server *srv,
    uint64_t id);

/* The queue's side of a transaction, provided by the process wiring. */
struct smtpd_queue_req {
	uint64_t id;		/* the session id */
	const struct smtpd_txn *txn;
	const char *helo;
	const char *client_addr;
	const char *protocol;	/* "ESMTP", "ESMTPS", "SMTP", ... */
};
/* Asks for a new spool file; answered by smtpd_session_created(). */
void smtpd_queue_create(const struct smtpd_queue_req *req);
/* Asks to commit it; answered by smtpd_session_committed(). */
void smtpd_queue_commit(uint64_t id);
/* Drops the file of an unfinished transaction; no answer. */
void smtpd_queue_abort(uint64_t id);

/*
 * Queue answers. status 0 = ok; otherwise an errno value (ENOSPC, EIO...)
 * from the queue. fd is the file to write the content into (created) and
 * is owned by the session from then on.
 */
void smtpd_session_created(struct smtpd_session *s, int status,
    const char *qid, int fd);
void smtpd_session_committed(struct smtpd_session *s, int status);
/*
 * The auth process's side (src/auth/ holds the accounts; passwords and
 * keys never come here). A session asks one question at a time and gets
 * exactly one smtpd_session_auth_answer(), or smtpd_server_auth_lost().
 */
enum smtpd_auth_kind {
	SMTPD_AUTH_PASSWORD,	/* PLAIN, LOGIN: check user + password */
	SMTPD_AUTH_SCRAM_START,	/* SCRAM: the user's salt and iterations */
	SMTPD_AUTH_SCRAM_PROOF,	/* SCRAM: check the client proof */
};

struct smtpd_auth_req {
	uint64_t id;		/* the session id */
	enum smtpd_auth_kind kind;
	const char *client_addr;
	const char *mech;	/* for the log: "PLAIN", ... */
	const char *user;	/* as the client gave it */
	const char *password;	/* PASSWORD */
	const char *authmsg;	/* SCRAM_PROOF: the AuthMessage */
	const uint8_t *proof;	/* SCRAM_PROOF: 32 bytes */
};

enum smtpd_auth_status {
	SMTPD_AUTH_OK,		/* authenticated (PROOF, PASSWORD); salt
				 * found or faked (START) */
	SMTPD_AUTH_FAILED,	/* bad credentials */
	SMTPD_AUTH_LOCKED,	/* too many failures: not even checked */
	SMTPD_AUTH_TEMPFAIL,	/* no auth process, or it failed */
};

struct smtpd_auth_answer {
	enum smtpd_auth_status status;
	const char *user;	/* OK: the account's canonical address */
	const char *senders;	/* OK: its other addresses, "a@b,c@d" */
	const uint8_t *salt;	/* START */
	size_t saltlen;
	unsigned iter;		/* START */
	const uint8_t *server_sig; /* PROOF: 32 bytes */
};

/* Sends a question; false when there is no auth process to ask. */
bool smtpd_auth_request(const struct smtpd_auth_req *req);
void smtpd_session_auth_answer(struct smtpd_session *s,
    const struct smtpd_auth_answer *a);
/* The auth process went away: every waiting session gets TEMPFAIL. */
void smtpd_server_auth_lost(struct smtpd_server *srv);

/* The queue went away: every waiting session fails its transaction. */
void smtpd_server_queue_lost(struct smtpd_server *srv);
/* The same for one session (no queue to ask; call it from the loop). */
void smtpd_session_queue_failed(struct smtpd_session *s);

#endif
