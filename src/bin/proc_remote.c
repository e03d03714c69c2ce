/*
 * proc_remote: wiring of the remote process (outbound delivery). Decodes
 * the queue's IMSG_R_DELIVER into a job for src/remote, and sends each
 * job's per-recipient results back as IMSG_R_RESULT. The configuration
 * bundle brings everything the chrooted process cannot open itself:
 * resolv.conf, the DNSSEC trust anchor, the CA certificates and the
 * smarthost password. A delivery from a queue link that has since been
 * replaced is finished but its result is dropped (the new queue process
 * numbers its deliveries afresh and retries what it did not hear about).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <event2/event.h>

#include "bin/control.h"
#include "bin/imsg.h"
#include "bin/proc.h"
#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "remote/remote.h"

/* A configuration as remote/ holds it: the bundle and its parse. */
struct rp_conf {
	struct bundle b;
	struct bundle_conf bc;
};

static struct {
	struct event_base *base;
	struct remote *remote;
	struct ipc_chan *queue;
	unsigned gen;			/* counts queue links */
	bool stopping;
} R;

static void
rp_conf_release(void *owner)
{
	struct rp_conf *rc = owner;

	bundle_conf_free(&rc->bc);
	bundle_free(&rc->b);
	free(rc);
}

static void
rp_conf(struct ipc_msg *m)
{
	struct rp_conf *rc = xcalloc(1, sizeof(*rc));
	struct remote_env env;
	char err[512];

	proc_conf_from_msg(m, &rc->b, &rc->bc);
	log_set_level((enum log_level)rc->bc.conf.log_level);
	memset(&env, 0, sizeof(env));
	env.release = rp_conf_release;
	env.owner = rc;
	env.conf = &rc->bc.conf;
	env.resolv = buf_str(&rc->b.part[BUNDLE_RESOLV]);
	env.resolv_len = rc->b.part[BUNDLE_RESOLV].len;
	env.ta = buf_str(&rc->b.part[BUNDLE_TRUST_ANCHOR]);
	env.ta_len = rc->b.part[BUNDLE_TRUST_ANCHOR].len;
	env.ca = buf_str(&rc->b.part[BUNDLE_CA]);
	env.ca_len = rc->b.part[BUNDLE_CA].len;
	env.sts_ca = buf_str(&rc->b.part[BUNDLE_STS_CA]);
	env.sts_ca_len = rc->b.part[BUNDLE_STS_CA].len;
	env.relay_auth = buf_str(&rc->b.part[BUNDLE_RELAY_AUTH]);
	env.relay_auth_len = rc->b.part[BUNDLE_RELAY_AUTH].len;
	if (remote_configure(R.remote, &env, err, sizeof(err)) != 0) {
		if (remote_unconfigured(R.remote))
			fatalx("outbound delivery: %s", err);
		log_err("outbound delivery: %s; keeping the previous "
		    "configuration", err);
		rp_conf_release(rc);
	}
}

/* Sends a job's results to the queue that asked, and frees it. */
static void
rp_done(void *arg, struct remote_job *j)
{
	unsigned gen = (unsigned)(uintptr_t)j->owner;
	struct buf b;
	size_t i;

	(void)arg;
	if (gen == R.gen && R.queue != NULL) {
		buf_init(&b, IPC_MSG_MAX - 64);
		ipc_put_str(&b, j->remote_mta[0] ? j->remote_mta : NULL);
		ipc_put_u32(&b, (uint32_t)j->nrcpts);
		for (i = 0; i < j->nrcpts; i++) {
			const struct remote_rcpt *rc = &j->rcpts[i];
			ipc_put_u32(&b, rc->idx);
			ipc_put_u32(&b, (uint32_t)rc->result);
			ipc_put_u32(&b, rc->flags);
			ipc_put_str(&b, rc->status);
			ipc_put_str(&b, rc->diag);
		}
		if (ipc_send(R.queue, IMSG_R_RESULT, j->did, -1, &b) != 0)
			log_warn("qid=%s result not sent to the queue", j->qid);
		buf_clear(&b);
	}
	remote_job_free(j);
}

/* Decodes IMSG_R_DELIVER strictly (the queue is trusted but checked). */
static void
rp_deliver(struct ipc_msg *m)
{
	struct remote_job *j = xcalloc(1, sizeof(*j));
	char *qid;
	uint32_t i, n;

	j->fd = m->fd;
	m->fd = -1;
	j->did = m->id;
	qid = ipc_get_str(m);
	j->domain = ipc_get_str(m);
	j->sender = ipc_get_str(m);
	j->envid = ipc_get_str(m);
	j->ret = ipc_get_u32(m);
	j->body = ipc_get_u32(m);
	j->smtputf8 = ipc_get_u32(m) != 0;
	j->requiretls = ipc_get_u32(m) != 0;
	j->content_len = ipc_get_u64(m);
	n = ipc_get_u32(m);
	if (j->fd < 0 || qid == NULL || strlen(qid) >= sizeof(j->qid) ||
	    j->domain == NULL || j->domain[0] == '\0' || j->sender == NULL ||
	    j->ret > 2 || j->body > 2 || n == 0 || n > REMOTE_RCPT_MAX)
		fatalx("queue: bad delivery request");
	memcpy(j->qid, qid, strlen(qid) + 1);
	free(qid);
	j->rcpts = xcalloc(n, sizeof(*j->rcpts));
	j->nrcpts = n;
	for (i = 0; i < n; i++) {
		struct remote_rcpt *rc = &j->rcpts[i];
		rc->idx = ipc_get_u32(m);
		rc->dest = ipc_get_str(m);
		rc->orcpt = ipc_get_str(m);
		rc->notify = ipc_get_u32(m);
		if (rc->dest == NULL || rc->dest[0] == '\0')
			fatalx("queue: recipient without address");
	}
	ipc_get_end(m);
	j->owner = (void *)(uintptr_t)R.gen;
	if (R.stopping) {
		/* Answered at once: "interrupted", the queue retries. */
		for (i = 0; i < n; i++) {
			struct remote_rcpt *rc = &j->rcpts[i];
			rc->result = REMOTE_TEMP;
			memcpy(rc->status, "4.3.2", 6);
			snprintf(rc->diag, sizeof(rc->diag), "petrel is "
			    "stopping");
		}
		rp_done(NULL, j);
		return;
	}
	remote_deliver(R.remote, j);
}

static void
rp_queue_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)ch;
	(void)arg;
	if (m->type != IMSG_R_DELIVER)
		fatalx("queue: unexpected message %u", m->type);
	rp_deliver(m);
}

static void
rp_queue_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != R.queue)
		return;
	ipc_chan_free(R.queue);
	R.queue = NULL;
	R.gen++;
}

/* A message remote composed (a TLS-RPT report) goes to the queue. */
static void
rp_send_message(void *arg, const char *sender, const char *const *rcpts,
    size_t nrcpts, const char *msg, size_t len)
{
	struct buf b;
	size_t i;
	int fd;

	(void)arg;
	if (R.queue == NULL || nrcpts == 0 || nrcpts > REMOTE_RCPT_MAX ||
	    len > REMOTE_REPORT_MAX) {
		log_warn("report to <%s> not queued: %s", rcpts[0],
		    R.queue == NULL ? "no queue process" : "too large");
		return;
	}
	fd = memfd_create("petrel-report", MFD_CLOEXEC);
	if (fd < 0 || fsio_write_all(fd, msg, len) != 0 ||
	    lseek(fd, 0, SEEK_SET) != 0) {
		log_warn("report to <%s> not queued: %s", rcpts[0],
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	buf_init(&b, 4096);
	ipc_put_str(&b, sender);
	ipc_put_u32(&b, (uint32_t)nrcpts);
	for (i = 0; i < nrcpts; i++)
		ipc_put_str(&b, rcpts[i]);
	if (ipc_send(R.queue, IMSG_R_REPORT, 0, fd, &b) != 0)
		log_warn("report to <%s> not queued: the queue is not "
		    "reachable", rcpts[0]);
	buf_clear(&b);
	close(fd);
}

/* `petrel tls report` finished: the reply says how many went out. */
static void
rp_report_done(void *arg, unsigned nsent)
{
	int fd = (int)(intptr_t)arg;
	struct buf out;

	buf_init(&out, 128);
	buf_printf(&out, "%u report%s sent\n", nsent, nsent == 1 ? "" :
	    "s");
	control_reply(R.base, fd, &out, 0, "");
	buf_clear(&out);
}

/* A `tls ...` control request; the parent validated it. */
static void
rp_control(struct ipc_msg *m)
{
	struct control_req req;
	struct buf out;
	char *line, err[CONTROL_HOST_MAX + 64];
	int fd = m->fd, r = 0;

	line = ipc_get_str(m);
	ipc_get_end(m);
	if (fd < 0 || line == NULL || remote_unconfigured(R.remote) ||
	    control_parse(line, strlen(line), &req, err, sizeof(err)) != 0)
		fatalx("parent: bad control request");
	free(line);
	m->fd = -1;
	err[0] = '\0';
	buf_init(&out, 65536);
	switch (req.verb) {
	case CONTROL_TLS_LIST:
		remote_tls_list(R.remote, &out);
		break;
	case CONTROL_TLS_FORGET:
		r = remote_tls_forget(R.remote, req.host);
		if (r != 0)
			snprintf(err, sizeof(err), "%s: no record", req.host);
		else
			buf_printf(&out, "%s: forgotten\n", req.host);
		break;
	case CONTROL_TLS_REPORT:
		buf_clear(&out);
		remote_tls_report(R.remote, rp_report_done,
		    (void *)(intptr_t)fd);
		return;
	default:
		fatalx("parent: control request %d is not for remote",
		    (int)req.verb);
	}
	control_reply(R.base, fd, r == 0 ? &out : NULL, r, err);
	buf_clear(&out);
}

static void
rp_parent_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	char name[16];

	(void)ch;
	(void)arg;
	switch (m->type) {
	case IMSG_CONF:
		rp_conf(m);
		break;
	case IMSG_PEER:
		ipc_get_strn(m, name, sizeof(name));
		ipc_get_end(m);
		if (m->fd < 0 || strcmp(name, "queue") != 0 ||
		    remote_unconfigured(R.remote))
			fatalx("parent: bad peer message");
		if (R.queue != NULL)
			ipc_chan_free(R.queue);
		R.gen++;
		R.queue = ipc_chan_new(R.base, m->fd, "queue", rp_queue_recv,
		    rp_queue_closed, NULL);
		m->fd = -1;
		break;
	case IMSG_CTL_REMOTE:
		rp_control(m);
		break;
	default:
		fatalx("parent: unexpected message %u", m->type);
	}
}

static void
rp_parent_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	fatalx("lost the parent process");
}

static void
rp_sigterm(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	/* Deliveries in flight are reported as interrupted (retried). */
	R.stopping = true;
	remote_shutdown(R.remote);
	event_base_loopexit(R.base, NULL);
}

int
proc_remote_main(void)
{
	struct event *term, *intr;

	signal(SIGPIPE, SIG_IGN);
	R.base = proc_event_base();
	R.remote = remote_new(R.base, rp_done, NULL);
	remote_set_sender(R.remote, rp_send_message, NULL);
	ipc_chan_new(R.base, PROC_CTL_FD, "parent", rp_parent_recv,
	    rp_parent_closed, NULL);
	term = evsignal_new(R.base, SIGTERM, rp_sigterm, NULL);
	intr = evsignal_new(R.base, SIGINT, rp_sigterm, NULL);
	event_add(term, NULL);
	event_add(intr, NULL);
	proc_signals_ready();
	event_base_dispatch(R.base);
	return 0;
}
