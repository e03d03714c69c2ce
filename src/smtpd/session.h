/*
 * session: private definitions shared by the files of smtpd/ (one SMTP
 * connection: state, transaction, I/O). Not for use outside smtpd/.
 */
#ifndef PETREL_SMTPD_SESSION_H
#define PETREL_SMTPD_SESSION_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#include "lib/buf.h"
#include "proto/rfc5322.h"
#include "proto/smtp_data.h"
#include "smtpd/smtpd.h"

enum smtpd_state {
	SMTPD_S_HANDSHAKE,	/* implicit TLS: waiting for the handshake */
	SMTPD_S_CMD,		/* reading commands */
	SMTPD_S_DATA,		/* reading DATA content */
	SMTPD_S_BDAT,		/* reading a BDAT chunk */
	SMTPD_S_STARTTLS_WAIT,	/* STARTTLS: 220 being written */
	SMTPD_S_STARTTLS,	/* STARTTLS handshake in progress */
	SMTPD_S_CLOSING,	/* final reply queued; close when flushed */
	SMTPD_S_AUTH,		/* AUTH: reading a SASL response line */
};

/* What the session waits for from the queue, if anything. */
enum smtpd_wait {
	SMTPD_W_NONE,
	SMTPD_W_CREATE,		/* for the spool file (DATA or first BDAT) */
	SMTPD_W_COMMIT,		/* for the durable commit */
	SMTPD_W_AUTH,		/* for the auth process, or the pause after
				 * a failed AUTH */
};

struct smtpd_auth;		/* an AUTH exchange (session_auth.c) */

struct smtpd_server {
	struct event_base *base;
	struct smtpd_rt *rt;
	struct smtpd_listener *listeners;
	struct smtpd_session **table;	/* open hash by id */
	unsigned table_size, nsessions;
	struct smtpd_ipcount **ipcounts; /* per client address */
	uint64_t next_id;
	bool stopping;			/* shutting down: no new commands */
};

struct smtpd_session {
	struct smtpd_session *hnext;	/* in server->table */
	struct smtpd_server *srv;
	struct smtpd_rt *rt;
	enum conf_role role;
	uint64_t id;
	struct bufferevent *bev;
	SSL *ssl;			/* set once TLS is up or starting */
	char addr[INET6_ADDRSTRLEN];	/* client address; "local" */
	long peer_uid;			/* local: the client's uid, else -1 */
	char tlsinfo[128];		/* "TLSv1.3 cipher=... bits=..." */
	enum smtpd_state state;
	enum smtpd_wait wait;
	bool esmtp;			/* EHLO (not HELO) given */
	bool skip_line;			/* discarding an over-long line */
	bool eof;			/* the client half-closed */
	int plain_fd;			/* socket, while not owned by TLS */
	bool tls_failed_once;
	char helo[SMTP_DOMAIN_MAX + 1];	/* "" until EHLO/HELO */
	unsigned errors;
	unsigned messages;		/* accepted so far */
	/* AUTH (RFC 4954) */
	char *auth_user;		/* the authenticated account, or NULL */
	char *auth_senders;		/* its other addresses, "a@b,c@d" */
	unsigned auth_failures;
	struct smtpd_auth *auth;	/* exchange in progress, or NULL */

	/* transaction (valid when has_txn) */
	bool has_txn;
	struct smtpd_txn txn;

	/* content of the transaction being received */
	char qid[32];
	int fd;				/* spool file, -1 if none */
	int write_errno;		/* first write error, 0 if none */
	uint64_t written;
	struct smtp_data_dec dec;
	struct rfc5322_scan hdr;	/* the client's header: hop count */
	bool fix_header;		/* add Date:/Message-ID: if missing */
	uint64_t content_at;		/* file offset of the content */
	struct buf out;			/* decoded bytes not yet written */
	bool bdat;			/* this transaction uses BDAT */
	bool bdat_last;			/* the current chunk is LAST */
	bool bdat_reject;		/* the chunk is read and discarded */
	uint64_t bdat_left;		/* bytes of the current chunk left */
	const char *bdat_reply;		/* reply after a discarded chunk */
};

/* session.c */
void smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Replies with an error and counts it toward the session's limit. */
void smtpd_reply_err(struct smtpd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtpd_close(struct smtpd_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void smtpd_txn_reset(struct smtpd_session *s);
void smtpd_session_input(struct smtpd_session *s);
/* A session on accepted socket fd from client address addr ("local"). */
struct smtpd_session *smtpd_session_new(struct smtpd_server *srv, int fd,
    const char *addr, const struct conf_listener *cl);
void smtpd_session_free(struct smtpd_session *s);
const char *smtpd_protocol(const struct smtpd_session *s);

/* session_data.c */
void smtpd_cmd_data(struct smtpd_session *s, const struct span *args);
void smtpd_cmd_bdat(struct smtpd_session *s, const struct span *args);
/* Consumes content bytes; false when more input is needed. */
bool smtpd_data_input(struct smtpd_session *s);
bool smtpd_bdat_input(struct smtpd_session *s);
/* Releases the content file and buffers (transaction over). */
void smtpd_data_release(struct smtpd_session *s);

/* session_auth.c */
void smtpd_cmd_auth(struct smtpd_session *s, const struct span *args);
/* One response line of the client during an AUTH exchange. */
void smtpd_auth_line(struct smtpd_session *s, struct span line);
/* Ends an exchange in progress without a reply (line too long, close). */
void smtpd_auth_abort(struct smtpd_session *s);
/* The AUTH line of the EHLO reply, if AUTH is offered now. */
void smtpd_auth_ehlo(struct smtpd_session *s, struct evbuffer *out);
/* May the authenticated user use addr (any case) as MAIL FROM? */
bool smtpd_auth_may_send_as(const struct smtpd_session *s, const char *addr);

/* listener.c */
void smtpd_server_unregister(struct smtpd_server *srv,
    struct smtpd_session *s);

#endif
