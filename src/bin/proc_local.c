/*
 * proc_local: the local delivery process, the only writer of mailboxes.
 * Each delivery request from the queue runs deliver/maildir on a worker
 * thread (writes and fsyncs never block the loop); the result goes back
 * to the queue, which decides about retries. The fsync of a Maildir's
 * new/ is shared by the deliveries that finish together (group commit):
 * successes wait for it before they are reported.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "bin/imsg.h"
#include "bin/proc.h"
#include "deliver/maildir.h"
#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xalloc.h"

struct ljob;

static struct {
	struct event_base *base;
	struct workq *wq;
	struct workq *syncq;		/* one thread: new/ fsyncs */
	struct ljob *pending, **pending_tail; /* delivered, await new/ sync */
	struct ljob *syncing;		/* the batch being synced */
	struct bundle_conf bc;
	bool have_conf;
	struct ipc_chan *queue;
	unsigned gen;			/* counts queue links */
} L;

struct ljob {
	struct ljob *next;
	uint64_t did;
	unsigned gen;		/* the queue link it came from (L.gen) */
	char qid[32];
	char dir[4096];
	char *sender, *dest;
	char uniq[48];
	char hostname[256];
	struct maildir_msg msg;
	enum maildir_result result;
	char err[512];
};

static void
l_work(void *arg)
{
	struct ljob *j = arg;

	j->result = maildir_deliver(j->dir, &j->msg, j->err, sizeof(j->err));
}

/* Reports a finished delivery to the queue and frees it. */
static void
l_report(struct ljob *j)
{
	struct buf b;

	if (j->result != MAILDIR_OK)
		log_warn("qid=%s to=<%s> maildir=%s: %s", j->qid, j->dest,
		    j->dir, j->err);
	/*
	 * Only to the queue that asked: a new queue process numbers its
	 * deliveries afresh (a pointer comparison could match a new
	 * channel at a reused address).
	 */
	if (j->gen == L.gen && L.queue != NULL) {
		buf_init(&b, 1024);
		ipc_put_u32(&b, (uint32_t)-(int)j->result);
		ipc_put_str(&b, j->result == MAILDIR_OK ? NULL : j->err);
		ipc_send(L.queue, IMSG_L_RESULT, j->did, -1, &b);
		buf_clear(&b);
	}
	free(j->sender);
	free(j->dest);
	free(j);
}

/* Worker: one fsync of new/ per distinct Maildir in the batch. */
static void
l_sync_work(void *arg)
{
	struct ljob *batch = arg, *j, *k;

	for (j = batch; j != NULL; j = j->next) {
		bool seen = false;
		for (k = batch; k != j && !seen; k = k->next)
			seen = strcmp(k->dir, j->dir) == 0;
		if (seen)
			continue;
		if (maildir_sync_new(j->dir) != 0) {
			int e = errno;
			for (k = j; k != NULL; k = k->next) {
				if (strcmp(k->dir, j->dir) != 0)
					continue;
				k->result = MAILDIR_TEMPFAIL;
				snprintf(k->err, sizeof(k->err),
				    "maildir: fsync new/: %s", strerror(e));
			}
		}
	}
}

static void l_sync_start(void);

static void
l_sync_done(void *arg)
{
	struct ljob *j = arg, *next;

	for (; j != NULL; j = next) {
		next = j->next;
		l_report(j);
	}
	L.syncing = NULL;
	l_sync_start();
}

static void
l_sync_start(void)
{
	if (L.syncing != NULL || L.pending == NULL)
		return;
	L.syncing = L.pending;
	L.pending = NULL;
	L.pending_tail = &L.pending;
	workq_submit(L.syncq, l_sync_work, l_sync_done, L.syncing);
}

static void
l_done(void *arg)
{
	struct ljob *j = arg;

	close(j->msg.fd);
	if (j->result != MAILDIR_OK) {
		l_report(j);
		return;
	}
	j->next = NULL;
	*L.pending_tail = j;
	L.pending_tail = &j->next;
	l_sync_start();
}

static void
l_queue_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct ljob *j;
	char domain[256], user[128];

	(void)ch;
	(void)arg;
	if (m->type != IMSG_L_DELIVER || m->fd < 0)
		fatalx("queue: unexpected message %u", m->type);
	j = xcalloc(1, sizeof(*j));
	j->did = m->id;
	j->gen = L.gen;
	ipc_get_strn(m, j->qid, sizeof(j->qid));
	snprintf(j->uniq, sizeof(j->uniq), "%s.%u", j->qid, ipc_get_u32(m));
	ipc_get_strn(m, domain, sizeof(domain));
	ipc_get_strn(m, user, sizeof(user));
	j->sender = ipc_get_str(m);
	j->dest = ipc_get_str(m);
	j->msg.arrival = (int64_t)ipc_get_u64(m);
	j->msg.len = ipc_get_u64(m);
	j->msg.check_dup = ipc_get_u32(m) != 0;
	ipc_get_end(m);
	if (j->sender == NULL || j->dest == NULL || domain[0] == '\0' ||
	    domain[0] == '.' || user[0] == '\0' || user[0] == '.' ||
	    strchr(domain, '/') != NULL || strchr(user, '/') != NULL)
		fatalx("queue: bad delivery request");
	snprintf(j->dir, sizeof(j->dir), "%s/%s/%s", L.bc.conf.mail_dir,
	    domain, user);
	snprintf(j->hostname, sizeof(j->hostname), "%s", L.bc.conf.hostname);
	j->msg.fd = m->fd;
	m->fd = -1;
	j->msg.return_path = j->sender;
	j->msg.delivered_to = j->dest;
	j->msg.uniq = j->uniq;
	j->msg.hostname = j->hostname;
	j->msg.defer_sync = true;
	workq_submit(L.wq, l_work, l_done, j);
}

static void
l_queue_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != L.queue)
		return;
	ipc_chan_free(L.queue);
	L.queue = NULL;
}

static void
l_parent_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	char name[16];

	(void)ch;
	(void)arg;
	switch (m->type) {
	case IMSG_CONF:
		/* Jobs copy what they need from it: no pointers into it. */
		proc_conf_replace(m, &L.bc, &L.have_conf);
		if (L.wq == NULL) {
			L.wq = workq_new(L.base,
			    (int)L.bc.conf.local_concurrency);
			L.syncq = workq_new(L.base, 1);
			L.pending_tail = &L.pending;
		}
		break;
	case IMSG_PEER:
		ipc_get_strn(m, name, sizeof(name));
		ipc_get_end(m);
		if (m->fd < 0 || strcmp(name, "queue") != 0 || !L.have_conf)
			fatalx("parent: bad peer message");
		if (L.queue != NULL)
			ipc_chan_free(L.queue);
		L.gen++;
		L.queue = ipc_chan_new(L.base, m->fd, "queue", l_queue_recv,
		    l_queue_closed, NULL);
		break;
	default:
		fatalx("parent: unexpected message %u", m->type);
	}
}

static void
l_parent_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	fatalx("lost the parent process");
}

static void
l_stop_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (L.wq == NULL || (workq_pending(L.wq) == 0 &&
	    workq_pending(L.syncq) == 0 && L.pending == NULL))
		event_base_loopexit(L.base, NULL);
}

static void
l_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { 0, 50000 };

	(void)sig;
	(void)what;
	(void)arg;
	/* Let deliveries in progress finish (each is short). */
	event_add(event_new(L.base, -1, EV_PERSIST, l_stop_check, NULL), &tv);
}

int
proc_local_main(void)
{
	struct event *term, *intr;

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	L.base = proc_event_base();
	ipc_chan_new(L.base, PROC_CTL_FD, "parent", l_parent_recv,
	    l_parent_closed, NULL);
	term = evsignal_new(L.base, SIGTERM, l_sigterm, NULL);
	intr = evsignal_new(L.base, SIGINT, l_sigterm, NULL);
	event_add(term, NULL);
	event_add(intr, NULL);
	proc_signals_ready();
	event_base_dispatch(L.base);
	return 0;
}
