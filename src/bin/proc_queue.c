/*
 * proc_queue: wiring of the queue process. Decodes the smtp, local and
 * remote processes' messages into calls of sched/queue.c and sends its
 * answers back (struct queue_ops). Every message from a sibling is
 * checked field by field; a malformed one is a bug of the sender, so this
 * process exits (fatalx) and the parent restarts it. Control requests (`petrel queue ...`)
 * arrive from the parent with the client's connection and are answered
 * on it (sched/queue_admin.c, bin/control.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "bin/control.h"
#include "bin/imsg.h"
#include "bin/proc.h"
#include "lib/log.h"
#include "proto/smtp_reply.h"
#include "sched/queue.h"

static struct {
	struct event_base *base;
	struct queue *queue;
	struct bundle_conf bc;
	bool have_conf;
	struct ipc_chan *smtp, *local, *remote;
} Q;

/* sched/queue.h mirrors the IMSG_R_* constants; they must agree. */
_Static_assert(QUEUE_REMOTE_RCPT_MAX == REMOTE_RCPT_MAX, "rcpt max");
_Static_assert(QUEUE_REMOTE_DIAG_MAX == REMOTE_DIAG_MAX, "diag max");
_Static_assert(QUEUE_REPORT_MAX == REMOTE_REPORT_MAX, "report max");
_Static_assert((int)QUEUE_REMOTE_OK == (int)REMOTE_OK &&
	(int)QUEUE_REMOTE_TEMP == (int)REMOTE_TEMP &&
	(int)QUEUE_REMOTE_PERM == (int)REMOTE_PERM, "results");
_Static_assert(QUEUE_REMOTE_F_RELAYED == REMOTE_F_RELAYED &&
	QUEUE_REMOTE_F_SMTP == REMOTE_F_SMTP, "flags");

static void
q_created(void *arg, uint64_t id, int status, const char *qid, int fd)
{
	struct buf b;

	(void)arg;
	if (Q.smtp == NULL)
		return;
	buf_init(&b, 256);
	ipc_put_u32(&b, (uint32_t)status);
	ipc_put_str(&b, qid);
	ipc_send(Q.smtp, IMSG_Q_CREATED, id, fd, &b);
	buf_clear(&b);
}

static void
q_committed(void *arg, uint64_t id, int status)
{
	struct buf b;

	(void)arg;
	if (Q.smtp == NULL)
		return;
	buf_init(&b, 16);
	ipc_put_u32(&b, (uint32_t)status);
	ipc_send(Q.smtp, IMSG_Q_COMMITTED, id, -1, &b);
	buf_clear(&b);
}

static bool
q_deliver(void *arg, uint64_t did, const struct queue_delivery *d, int fd)
{
	struct buf b;
	bool ok;

	(void)arg;
	if (Q.local == NULL)
		return false;
	buf_init(&b, IPC_MSG_MAX - 64);
	ipc_put_str(&b, d->qid);
	ipc_put_u32(&b, d->rcpt);
	ipc_put_str(&b, d->mbox_domain);
	ipc_put_str(&b, d->mbox_user);
	ipc_put_str(&b, d->sender);
	ipc_put_str(&b, d->dest);
	ipc_put_u64(&b, (uint64_t)d->arrival);
	ipc_put_u64(&b, d->content_len);
	ipc_put_u32(&b, d->check_dup);
	ok = ipc_send(Q.local, IMSG_L_DELIVER, did, fd, &b) == 0;
	buf_clear(&b);
	return ok;
}

/* IMSG_R_DELIVER (bin/imsg.h has the layout). */
static bool
q_remote_deliver(void *arg, uint64_t did, const struct queue_remote_delivery *d,
    int fd)
{
	struct buf b;
	unsigned i;
	bool ok;

	(void)arg;
	if (Q.remote == NULL)
		return false;
	if (d->nrcpts == 0 || d->nrcpts > REMOTE_RCPT_MAX)
		fatalx("queue: remote delivery of %u recipients", d->nrcpts);
	buf_init(&b, IPC_MSG_MAX - 64);
	ipc_put_str(&b, d->qid);
	ipc_put_str(&b, d->domain);
	ipc_put_str(&b, d->sender);
	ipc_put_str(&b, d->envid);
	ipc_put_u32(&b, d->ret);
	ipc_put_u32(&b, d->body);
	ipc_put_u32(&b, d->smtputf8);
	ipc_put_u32(&b, d->requiretls);
	ipc_put_u64(&b, d->content_len);
	ipc_put_u32(&b, d->nrcpts);
	for (i = 0; i < d->nrcpts; i++) {
		ipc_put_u32(&b, d->rcpts[i].rcpt);
		ipc_put_str(&b, d->rcpts[i].dest);
		ipc_put_str(&b, d->rcpts[i].orcpt);
		ipc_put_u32(&b, d->rcpts[i].notify);
	}
	ok = ipc_send(Q.remote, IMSG_R_DELIVER, did, fd, &b) == 0;
	buf_clear(&b);
	return ok;
}

static const struct queue_ops q_ops = { q_created, q_committed, q_deliver,
	q_remote_deliver };

static void
q_smtp_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	char *sender, *helo, *addr, *proto, *envid, *rcpt, *orcpt;
	uint32_t ret, body, utf8, n, notify, rtls;

	(void)ch;
	(void)arg;
	if (m->fd >= 0)
		fatalx("smtp: unexpected descriptor");
	switch (m->type) {
	case IMSG_Q_CREATE:
		sender = ipc_get_str(m);
		helo = ipc_get_str(m);
		addr = ipc_get_str(m);
		proto = ipc_get_str(m);
		envid = ipc_get_str(m);
		ret = ipc_get_u32(m);
		body = ipc_get_u32(m);
		utf8 = ipc_get_u32(m);
		n = ipc_get_u32(m);
		rtls = ipc_get_u32(m);
		ipc_get_end(m);
		if (sender == NULL)
			fatalx("smtp: CREATE without sender");
		if (rtls > 1)
			fatalx("smtp: CREATE with requiretls %u", rtls);
		queue_txn_create(Q.queue, m->id, sender, helo, addr, proto,
		    envid, ret, body, utf8 != 0, rtls != 0, n);
		free(sender);
		free(helo);
		free(addr);
		free(proto);
		free(envid);
		break;
	case IMSG_Q_RCPT:
		rcpt = ipc_get_str(m);
		orcpt = ipc_get_str(m);
		notify = ipc_get_u32(m);
		ipc_get_end(m);
		if (rcpt == NULL)
			fatalx("smtp: RCPT without address");
		queue_txn_rcpt(Q.queue, m->id, rcpt, orcpt, notify);
		free(rcpt);
		free(orcpt);
		break;
	case IMSG_Q_COMMIT:
		ipc_get_end(m);
		queue_txn_commit(Q.queue, m->id);
		break;
	case IMSG_Q_ABORT:
		ipc_get_end(m);
		queue_txn_abort(Q.queue, m->id);
		break;
	default:
		fatalx("smtp: unexpected message %u", m->type);
	}
}

static void
q_smtp_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != Q.smtp)
		return;
	ipc_chan_free(Q.smtp);
	Q.smtp = NULL;
	queue_smtp_lost(Q.queue);
}

static void
q_local_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	uint32_t result;
	char *err;

	(void)ch;
	(void)arg;
	if (m->type != IMSG_L_RESULT || m->fd >= 0)
		fatalx("local: unexpected message %u", m->type);
	result = ipc_get_u32(m);
	err = ipc_get_str(m);
	ipc_get_end(m);
	if (result > 2)
		fatalx("local: bad result %u", result);
	queue_delivery_result(Q.queue, m->id, -(int)result, err);
	free(err);
}

static void
q_local_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != Q.local)
		return;
	ipc_chan_free(Q.local);
	Q.local = NULL;
	queue_local_lost(Q.queue);
}

/* status-code = ("2" / "4" / "5") "." 1*3digit "." 1*3digit (RFC 3463). */
static bool
q_status_ok(const char *s)
{
	struct span sp = span_cstr(s);

	return smtp_reply_enhanced_len(sp, 0) == sp.n;
}

/* Printable ASCII, at most REMOTE_DIAG_MAX bytes (bin/imsg.h). */
static bool
q_diag_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] < 0x20 || s[n] > 0x7e)
			return false;
	return n <= REMOTE_DIAG_MAX;
}

/*
 * IMSG_R_REPORT: a message the remote process composed, spooled as a new
 * one (sched/queue_report.c). The fields are checked here; an address the
 * queue refuses or a file that is not a regular one of an acceptable
 * size is a bug of the sender, like any malformed message.
 */
static void
q_remote_report(struct ipc_msg *m)
{
	char *sender, *rcpts[REMOTE_RCPT_MAX];
	uint32_t n, i;
	int fd = m->fd;

	if (m->id != 0 || fd < 0)
		fatalx("remote: REPORT without a file");
	sender = ipc_get_str(m);
	n = ipc_get_u32(m);
	if (sender == NULL || n == 0 || n > REMOTE_RCPT_MAX)
		fatalx("remote: REPORT with %u recipients", n);
	for (i = 0; i < n; i++) {
		rcpts[i] = ipc_get_str(m);
		if (rcpts[i] == NULL)
			fatalx("remote: REPORT recipient missing");
	}
	ipc_get_end(m);
	m->fd = -1; /* queue_report_submit takes it */
	if (queue_report_submit(Q.queue, fd, sender,
		(const char *const *)rcpts, n) != 0)
		fatalx("remote: REPORT with a bad address or file");
	for (i = 0; i < n; i++)
		free(rcpts[i]);
	free(sender);
}

/*
 * IMSG_R_RESULT, decoded strictly: the count and the recipient order are
 * checked against the delivery by queue_remote_result, the rest here.
 */
static void
q_remote_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct queue_remote_result res[REMOTE_RCPT_MAX];
	char *mta, *strs[2 * REMOTE_RCPT_MAX];
	uint32_t n, i;

	(void)ch;
	(void)arg;
	if (m->type == IMSG_R_REPORT) {
		q_remote_report(m);
		return;
	}
	if (m->type != IMSG_R_RESULT || m->fd >= 0)
		fatalx("remote: unexpected message %u", m->type);
	mta = ipc_get_str(m);
	n = ipc_get_u32(m);
	if (n == 0 || n > REMOTE_RCPT_MAX)
		fatalx("remote: result with %u recipients", n);
	if (mta != NULL && (mta[0] == '\0' || !q_diag_ok(mta)))
		fatalx("remote: bad remote MTA name");
	memset(res, 0, sizeof(res));
	for (i = 0; i < n; i++) {
		res[i].rcpt = ipc_get_u32(m);
		res[i].result = ipc_get_u32(m);
		res[i].flags = ipc_get_u32(m);
		strs[2 * i] = ipc_get_str(m);
		strs[2 * i + 1] = ipc_get_str(m);
		res[i].status = strs[2 * i];
		res[i].diagnostic = strs[2 * i + 1];
		if (res[i].result > REMOTE_PERM)
			fatalx("remote: bad result %u", res[i].result);
		if ((res[i].flags & ~(uint32_t)(REMOTE_F_RELAYED |
			REMOTE_F_SMTP)) != 0)
			fatalx("remote: bad flags %#x", res[i].flags);
		if (res[i].status == NULL || !q_status_ok(res[i].status))
			fatalx("remote: missing or bad status");
		if (res[i].diagnostic == NULL || !q_diag_ok(res[i].diagnostic))
			fatalx("remote: missing or bad diagnostic");
	}
	ipc_get_end(m);
	queue_remote_result(Q.queue, m->id, mta, n, res);
	for (i = 0; i < n; i++) {
		free(strs[2 * i]);
		free(strs[2 * i + 1]);
	}
	free(mta);
}

static void
q_remote_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != Q.remote)
		return;
	ipc_chan_free(Q.remote);
	Q.remote = NULL;
	queue_remote_lost(Q.queue);
}

/* A control request; the parent validated it, so anything else is a bug. */
static void
q_control(struct ipc_msg *m)
{
	struct control_req req;
	struct buf out;
	char *line, err[1024];
	int r;

	line = ipc_get_str(m);
	ipc_get_end(m);
	if (m->fd < 0 || line == NULL || Q.queue == NULL ||
	    control_parse(line, strlen(line), &req, err, sizeof(err)) != 0)
		fatalx("parent: bad control request");
	free(line);
	buf_init(&out, QUEUE_ADMIN_OUT_MAX);
	err[0] = '\0';
	switch (req.verb) {
	case CONTROL_QUEUE_LIST:
		r = queue_admin_list(Q.queue, &out, err, sizeof(err));
		break;
	case CONTROL_QUEUE_SHOW:
		r = queue_admin_show(Q.queue, req.qid, &out, err, sizeof(err));
		break;
	case CONTROL_QUEUE_DELETE:
		r = queue_admin_delete(Q.queue, req.qid, &out, err,
		    sizeof(err));
		break;
	case CONTROL_QUEUE_HOLD:
		r = queue_admin_hold(Q.queue, req.qid, &out, err, sizeof(err));
		break;
	case CONTROL_QUEUE_RELEASE:
		r = queue_admin_release(Q.queue, req.qid, &out, err,
		    sizeof(err));
		break;
	case CONTROL_QUEUE_FLUSH:
		r = queue_admin_flush(Q.queue, &out, err, sizeof(err));
		break;
	default:
		fatalx("parent: control request %d is not for the queue",
		    (int)req.verb);
	}
	control_reply(Q.base, m->fd, r == 0 ? &out : NULL, r, err);
	buf_clear(&out);
}

static void
q_parent_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	char name[16];

	(void)ch;
	(void)arg;
	switch (m->type) {
	case IMSG_CONF:
		proc_conf_replace(m, &Q.bc, &Q.have_conf);
		if (Q.queue == NULL) {
			Q.queue = queue_new(Q.base, &Q.bc.conf, Q.bc.tables,
			    &q_ops, NULL);
			if (Q.queue == NULL)
				fatal("spool %s", Q.bc.conf.spool_dir);
		} else {
			queue_set_conf(Q.queue, &Q.bc.conf, Q.bc.tables);
		}
		break;
	case IMSG_PEER:
		ipc_get_strn(m, name, sizeof(name));
		ipc_get_end(m);
		if (m->fd < 0 || Q.queue == NULL)
			fatalx("parent: bad peer message");
		if (strcmp(name, "smtp") == 0) {
			if (Q.smtp != NULL) {
				ipc_chan_free(Q.smtp);
				queue_smtp_lost(Q.queue);
			}
			Q.smtp = ipc_chan_new(Q.base, m->fd, "smtp",
			    q_smtp_recv, q_smtp_closed, NULL);
		} else if (strcmp(name, "local") == 0) {
			if (Q.local != NULL) {
				ipc_chan_free(Q.local);
				queue_local_lost(Q.queue);
			}
			Q.local = ipc_chan_new(Q.base, m->fd, "local",
			    q_local_recv, q_local_closed, NULL);
			queue_local_ready(Q.queue);
		} else if (strcmp(name, "remote") == 0) {
			if (Q.remote != NULL) {
				ipc_chan_free(Q.remote);
				queue_remote_lost(Q.queue);
			}
			Q.remote = ipc_chan_new(Q.base, m->fd, "remote",
			    q_remote_recv, q_remote_closed, NULL);
			queue_remote_ready(Q.queue);
		} else {
			fatalx("parent: unexpected peer %s", name);
		}
		break;
	case IMSG_FLUSH:
		ipc_get_end(m);
		if (Q.queue != NULL)
			(void)queue_flush(Q.queue);
		break;
	case IMSG_CTL_QUEUE:
		q_control(m);
		break;
	default:
		fatalx("parent: unexpected message %u", m->type);
	}
}

static void
q_parent_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	fatalx("lost the parent process");
}

static void
q_sigterm(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	/* Everything acknowledged is on disk already. */
	event_base_loopexit(Q.base, NULL);
}

int
proc_queue_main(void)
{
	struct event *term, *intr;

	signal(SIGPIPE, SIG_IGN);
	Q.base = proc_event_base();
	ipc_chan_new(Q.base, PROC_CTL_FD, "parent", q_parent_recv,
	    q_parent_closed, NULL);
	term = evsignal_new(Q.base, SIGTERM, q_sigterm, NULL);
	intr = evsignal_new(Q.base, SIGINT, q_sigterm, NULL);
	event_add(term, NULL);
	event_add(intr, NULL);
	proc_signals_ready();
	event_base_dispatch(Q.base);
	return 0;
}
