/*
 * proc_smtp: wiring of the smtp process. Translates the parent's and the
 * queue's messages into calls of smtpd/ and implements the smtpd_queue_*
 * calls by sending messages to the queue process.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bin/imsg.h"
#include "bin/proc.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/base64.h"
#include "smtpd/smtpd.h"
#include "tls/tls.h"

static struct {
	struct event_base *base;
	struct smtpd_server *srv;
	struct smtpd_rt *rt;
	struct ipc_chan *parent, *queue, *auth;
	bool stopping;
} S;

/* The local submission socket (STATE/submit.sock) as a listener. */
static const struct conf_listener smtp_local_listener = {
	.role = CONF_ROLE_LOCAL, .text = "submit.sock" };

void
proc_conf_from_msg(struct ipc_msg *m, struct bundle *b,
    struct bundle_conf *out)
{
	char err[1024];

	ipc_get_end(m);
	if (m->fd < 0 || bundle_from_fd(m->fd, b) != 0)
		fatalx("configuration bundle unreadable");
	close(m->fd);
	m->fd = -1;
	if (bundle_parse(b, out, err, sizeof(err)) != 0)
		fatalx("configuration: %s", err);
}

static void
smtp_conf(struct ipc_msg *m)
{
	struct bundle b;
	struct bundle_conf bc;
	struct smtpd_rt *rt = xcalloc(1, sizeof(*rt));
	char err[512];

	proc_conf_from_msg(m, &b, &bc);
	rt->refs = 1;
	rt->conf = bc.conf;
	rt->tables = bc.tables;
	if (b.part[BUNDLE_CERT].len > 0) {
		rt->tls = tls_server_ctx_new(b.part[BUNDLE_CERT].data,
		    b.part[BUNDLE_CERT].len, b.part[BUNDLE_KEY].data,
		    b.part[BUNDLE_KEY].len, err, sizeof(err));
		if (rt->tls == NULL)
			log_err("TLS disabled: %s", err);
	}
	bundle_free(&b);
	log_set_level((enum log_level)rt->conf.log_level);
	smtpd_server_set_rt(S.srv, rt);
	S.rt = rt;
}

static void
smtp_queue_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct smtpd_session *s;
	uint32_t status;
	char qid[32];

	(void)ch;
	(void)arg;
	switch (m->type) {
	case IMSG_Q_CREATED:
		status = ipc_get_u32(m);
		ipc_get_strn(m, qid, sizeof(qid));
		ipc_get_end(m);
		if (status == 0 && m->fd < 0)
			fatalx("queue: CREATED without a file");
		s = smtpd_server_find(S.srv, m->id);
		if (s == NULL) {
			if (m->fd >= 0)
				close(m->fd);
			if (status == 0)
				smtpd_queue_abort(m->id);
			return;
		}
		smtpd_session_created(s, (int)status, qid, m->fd);
		break;
	case IMSG_Q_COMMITTED:
		status = ipc_get_u32(m);
		ipc_get_end(m);
		s = smtpd_server_find(S.srv, m->id);
		if (s != NULL)
			smtpd_session_committed(s, (int)status);
		break;
	default:
		fatalx("queue: unexpected message %u", m->type);
	}
}

static void
smtp_queue_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != S.queue)
		return;
	log_warn("lost the queue process; open transactions fail");
	ipc_chan_free(S.queue);
	S.queue = NULL;
	smtpd_server_queue_lost(S.srv);
}

/* Decodes base64 from a sibling into out (exactly n bytes) or exits. */
static void
smtp_b64_exact(const char *s, uint8_t *out, size_t n)
{
	uint8_t tmp[64];
	size_t len = 0;

	if (s == NULL || base64_decode(s, strlen(s), tmp, sizeof(tmp), &len) !=
	    0 || len != n)
		fatalx("auth: malformed answer");
	memcpy(out, tmp, n);
}

static void
smtp_auth_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct smtpd_auth_answer a;
	struct smtpd_session *s;
	char *user, *senders, *salt, *sig;
	uint8_t saltb[64], sigb[32];
	size_t saltlen = 0;

	(void)ch;
	(void)arg;
	if (m->type != IMSG_A_ANSWER)
		fatalx("auth: unexpected message %u", m->type);
	memset(&a, 0, sizeof(a));
	a.status = (enum smtpd_auth_status)ipc_get_u32(m);
	user = ipc_get_str(m);
	senders = ipc_get_str(m);
	salt = ipc_get_str(m);
	a.iter = ipc_get_u32(m);
	sig = ipc_get_str(m);
	ipc_get_end(m);
	if (a.status > SMTPD_AUTH_TEMPFAIL)
		fatalx("auth: bad status %u", (unsigned)a.status);
	if (salt != NULL && (base64_decode(salt, strlen(salt), saltb,
	    sizeof(saltb), &saltlen) != 0 || saltlen == 0))
		fatalx("auth: malformed salt");
	if (sig != NULL)
		smtp_b64_exact(sig, sigb, sizeof(sigb));
	a.user = user;
	a.senders = senders;
	a.salt = salt != NULL ? saltb : NULL;
	a.saltlen = saltlen;
	a.server_sig = sig != NULL ? sigb : NULL;
	s = smtpd_server_find(S.srv, m->id);
	if (s != NULL)
		smtpd_session_auth_answer(s, &a);
	free(user);
	free(senders);
	free(salt);
	free(sig);
}

static void
smtp_auth_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != S.auth)
		return;
	log_warn("lost the auth process; authentications fail for now");
	ipc_chan_free(S.auth);
	S.auth = NULL;
	smtpd_server_auth_lost(S.srv);
}

bool
smtpd_auth_request(const struct smtpd_auth_req *req)
{
	char proof[64];
	struct buf b;

	if (S.auth == NULL)
		return false;
	buf_init(&b, IPC_MSG_MAX - 64);
	ipc_put_u32(&b, (uint32_t)req->kind);
	ipc_put_str(&b, req->client_addr);
	ipc_put_str(&b, req->mech);
	ipc_put_str(&b, req->user);
	ipc_put_str(&b, req->password);
	ipc_put_str(&b, req->authmsg);
	if (req->proof != NULL)
		base64_encode(req->proof, 32, proof);
	ipc_put_str(&b, req->proof != NULL ? proof : NULL);
	/* A broken channel answers every waiting session from the loop. */
	ipc_send(S.auth, IMSG_A_REQUEST, req->id, -1, &b);
	OPENSSL_cleanse(b.data, b.len);
	buf_clear(&b);
	return true;
}

static void
smtp_stop_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (smtpd_server_sessions(S.srv) == 0)
		event_base_loopexit(S.base, NULL);
}

static void
smtp_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { 0, 100000 };

	(void)sig;
	(void)what;
	(void)arg;
	if (S.stopping)
		return;
	S.stopping = true;
	smtpd_server_stop_listening(S.srv);
	smtpd_server_shutdown(S.srv);
	event_add(event_new(S.base, -1, EV_PERSIST, smtp_stop_check, NULL),
	    &tv);
}

static void
smtp_parent_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct ipc_chan *old;
	char name[16];
	uint32_t idx;

	(void)ch;
	(void)arg;
	switch (m->type) {
	case IMSG_CONF:
		smtp_conf(m);
		break;
	case IMSG_LISTENER:
		idx = ipc_get_u32(m);
		ipc_get_end(m);
		if (idx == IMSG_LISTENER_LOCAL && m->fd >= 0) {
			smtpd_server_listen(S.srv, m->fd, &smtp_local_listener);
			break;
		}
		if (S.rt == NULL || idx >= S.rt->conf.nlisteners || m->fd < 0)
			fatalx("parent: bad listener %u", idx);
		smtpd_server_listen(S.srv, m->fd, &S.rt->conf.listeners[idx]);
		break;
	case IMSG_PEER:
		ipc_get_strn(m, name, sizeof(name));
		ipc_get_end(m);
		if (strcmp(name, "auth") == 0 && m->fd >= 0) {
			old = S.auth;
			S.auth = ipc_chan_new(S.base, m->fd, "auth",
			    smtp_auth_recv, smtp_auth_closed, NULL);
			if (old != NULL) {
				ipc_chan_free(old);
				smtpd_server_auth_lost(S.srv);
			}
			break;
		}
		if (strcmp(name, "queue") != 0 || m->fd < 0)
			fatalx("parent: unexpected peer %s", name);
		old = S.queue;
		/* New first: sessions failed below may start again at once. */
		S.queue = ipc_chan_new(S.base, m->fd, "queue", smtp_queue_recv,
		    smtp_queue_closed, NULL);
		if (old != NULL) {
			ipc_chan_free(old);
			smtpd_server_queue_lost(S.srv);
		}
		break;
	default:
		fatalx("parent: unexpected message %u", m->type);
	}
}

static void
smtp_parent_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	fatalx("lost the parent process");
}

/* ---- the smtpd_queue_* calls of smtpd.h, sent over IPC ---- */

/*
 * There is no queue to ask: the session's request fails, from the loop
 * (never from inside the session that is asking).
 */
static void
smtp_queue_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t *id = arg;
	struct smtpd_session *s = smtpd_server_find(S.srv, *id);

	(void)fd;
	(void)what;
	if (s != NULL)
		smtpd_session_queue_failed(s);
	free(id);
}

static void
smtp_queue_failed_later(uint64_t id)
{
	uint64_t *p = xmalloc(sizeof(*p));

	*p = id;
	event_base_once(S.base, -1, EV_TIMEOUT, smtp_queue_failed_cb, p, NULL);
}

void
smtpd_queue_create(const struct smtpd_queue_req *req)
{
	const struct smtpd_txn *t = req->txn;
	struct buf b;
	unsigned i;

	if (S.queue == NULL) {
		smtp_queue_failed_later(req->id);
		return;
	}
	buf_init(&b, IPC_MSG_MAX - 64);
	ipc_put_str(&b, t->from_addr);
	ipc_put_str(&b, req->helo);
	ipc_put_str(&b, req->client_addr);
	ipc_put_str(&b, req->protocol);
	ipc_put_str(&b, t->params.envid[0] ? t->params.envid : NULL);
	ipc_put_u32(&b, (uint32_t)t->params.ret);
	ipc_put_u32(&b, (uint32_t)t->params.body);
	ipc_put_u32(&b, t->params.smtputf8);
	ipc_put_u32(&b, t->nrcpts);
	ipc_put_u32(&b, t->params.requiretls);
	ipc_send(S.queue, IMSG_Q_CREATE, req->id, -1, &b);
	for (i = 0; i < t->nrcpts; i++) {
		const struct smtpd_rcpt *r = &t->rcpts[i];
		buf_reset(&b);
		ipc_put_str(&b, r->addr);
		ipc_put_str(&b, r->params.orcpt[0] ? r->params.orcpt : NULL);
		ipc_put_u32(&b, r->params.notify);
		ipc_send(S.queue, IMSG_Q_RCPT, req->id, -1, &b);
	}
	buf_clear(&b);
}

void
smtpd_queue_commit(uint64_t id)
{
	/* A broken channel's close callback fails the session later. */
	if (S.queue != NULL)
		ipc_send(S.queue, IMSG_Q_COMMIT, id, -1, NULL);
	else
		smtp_queue_failed_later(id);
}

void
smtpd_queue_abort(uint64_t id)
{
	if (S.queue != NULL)
		ipc_send(S.queue, IMSG_Q_ABORT, id, -1, NULL);
}

int
proc_smtp_main(void)
{
	struct event *term, *intr;

	signal(SIGPIPE, SIG_IGN);
	S.base = proc_event_base();
	S.srv = smtpd_server_new(S.base);
	S.parent = ipc_chan_new(S.base, PROC_CTL_FD, "parent",
	    smtp_parent_recv, smtp_parent_closed, NULL);
	term = evsignal_new(S.base, SIGTERM, smtp_sigterm, NULL);
	intr = evsignal_new(S.base, SIGINT, smtp_sigterm, NULL);
	event_add(term, NULL);
	event_add(intr, NULL);
	proc_signals_ready();
	event_base_dispatch(S.base);
	return 0;
}
