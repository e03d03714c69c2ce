/*
 * queue: transactions into the spool, group commit, and the delivery
 * scheduler of the queue process (see queue.h for the promises). Remote
 * deliveries are grouped and limited in queue_remote.c, delivery status
 * notifications are written by queue_dsn.c; this file decides when
 * (queue_pump, queue_msg_check).
 *
 * Commit path, per message: the smtp process has written the content into
 * incoming/QID; a worker thread appends the envelope, fdatasyncs and
 * renames into queue/ (spool_commit); back on the loop the message joins
 * the batch waiting for the directory fsync; one worker fsyncs queue/ for
 * the whole batch (spool_sync) and only then are the 250s sent. So N
 * concurrent sessions cost N data syncs in parallel and one directory
 * sync, and the event loop never waits for the disk.
 */
#include "sched/queue.h"
#include "sched/queue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xalloc.h"
#include "proto/smtp_param.h"

#define QUEUE_MAX_EXPAND 1000	/* destinations per message */
#define QUEUE_DIRECT_MAX 32	/* recipients for delivery before commit */

static struct qtxn **
queue_txn_slot(struct queue *q, uint64_t id)
{
	struct qtxn **pp = &q->txns[id % QUEUE_BUCKETS];

	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static void
queue_txn_free(struct qtxn *t)
{
	struct qtxn **pp = queue_txn_slot(t->q, t->id);

	if (*pp == t)
		*pp = t->hnext;
	if (t->fd >= 0)
		close(t->fd);
	envelope_clear(&t->env);
	envelope_clear(&t->raw);
	free(t);
}

/* ---- incoming transactions ---- */

void
queue_txn_create(struct queue *q, uint64_t id, const char *sender,
    const char *helo, const char *client_addr, const char *protocol,
    const char *envid, unsigned ret, unsigned body, bool smtputf8,
    bool requiretls, unsigned nrcpts)
{
	struct qtxn **pp = queue_txn_slot(q, id);
	struct qtxn *t;
	char qid[SPOOL_QID_LEN + 1];
	int fd = -1;

	if (*pp != NULL) {
		/* A session starts one transaction at a time. */
		log_warn("session=%llx: transaction already open; dropping it",
		    (unsigned long long)id);
		queue_txn_abort(q, id);
		pp = queue_txn_slot(q, id);
	}
	if (spool_create(&q->spool, qid, &fd) != 0) {
		int err = errno;
		log_warn("cannot create queue file: %s", strerror(err));
		q->ops->created(q->arg, id, err ? err : EIO, "", -1);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->q = q;
	t->id = id;
	t->fd = fd;
	t->nrcpts_expected = nrcpts;
	snprintf(t->env.qid, sizeof(t->env.qid), "%s", qid);
	envelope_set_str(&t->env.sender, sender);
	envelope_set_str(&t->env.helo, helo);
	envelope_set_str(&t->env.client_addr, client_addr);
	envelope_set_str(&t->env.protocol, protocol);
	envelope_set_str(&t->env.envid, envid);
	t->env.ret = (uint8_t)ret;
	t->env.body = (uint8_t)body;
	t->env.smtputf8 = smtputf8;
	t->env.requiretls = requiretls;
	t->hnext = NULL;
	*pp = t;
	q->ops->created(q->arg, id, 0, qid, fd);
}

void
queue_txn_rcpt(struct queue *q, uint64_t id, const char *rcpt,
    const char *orcpt, unsigned notify)
{
	struct qtxn *t = *queue_txn_slot(q, id);

	if (t == NULL || t->state != QTXN_OPEN)
		return;		/* the file could not be created */
	envelope_add_rcpt(&t->raw, rcpt, orcpt, notify, rcpt, false, NULL,
	    NULL);
}

void
queue_rcpt_set_status(struct env_rcpt *r, const char *text, const char *dflt)
{
	/* status-code = class "." 1*3digit "." 1*3digit (RFC 3463 2). */
	if (text != NULL && (text[0] == '2' || text[0] == '4' ||
	    text[0] == '5') && text[1] == '.') {
		const char *p = text + 2;
		size_t part, digits;
		bool ok = true;

		for (part = 0; part < 2 && ok; part++) {
			for (digits = 0; *p >= '0' && *p <= '9'; p++)
				digits++;
			ok = digits >= 1 && digits <= 3 &&
			    (part == 1 || *p++ == '.');
		}
		if (ok && (*p == ' ' || *p == '\0')) {
			char code[16];
			size_t n = (size_t)(p - text);
			memcpy(code, text, n);
			code[n] = '\0';
			envelope_set_str(&r->status, code);
			return;
		}
	}
	envelope_set_str(&r->status, dflt);
}

/* Adds the destinations of one recipient to e, without duplicates. */
void
queue_expand(struct queue *q, struct envelope *e, const struct env_rcpt *r)
{
	struct lookup_dest *dest = xcalloc(QUEUE_MAX_EXPAND, sizeof(*dest));
	char local[320], *at;
	const char *domain;
	int n, i;
	size_t k;

	snprintf(local, sizeof(local), "%s", r->rcpt);
	at = strrchr(local, '@');
	domain = "";
	if (at != NULL) {
		*at = '\0';
		domain = at + 1;
	}
	n = lookup_expand(q->tables, q->conf, local, domain, dest,
	    QUEUE_MAX_EXPAND);
	if (n <= 0) {
		struct env_rcpt *nr;
		if (conf_is_local_domain(q->conf, domain)) {
			/* Accepted, but gone or looping since (a reload). */
			nr = envelope_add_rcpt(e, r->rcpt, r->orcpt, r->notify,
			    r->rcpt, true, domain, local);
			nr->state = ENV_RCPT_FAILED;
			envelope_set_str(&nr->last_error, "5.1.1 unknown "
			    "recipient or alias loop");
			envelope_set_str(&nr->status, "5.1.1");
			nr->last_try = (int64_t)time(NULL);
		} else {
			envelope_add_rcpt(e, r->rcpt, r->orcpt, r->notify,
			    r->rcpt, false, NULL, NULL);
		}
		free(dest);
		return;
	}
	for (i = 0; i < n; i++) {
		bool dup = false;
		for (k = 0; k < e->nrcpts && !dup; k++)
			dup = strcasecmp(e->rcpts[k].dest, dest[i].address) ==
			    0;
		if (dup)
			continue;
		envelope_add_rcpt(e, r->rcpt, r->orcpt, r->notify,
		    dest[i].address, dest[i].local,
		    dest[i].local ? dest[i].domain : NULL,
		    dest[i].local ? dest[i].user : NULL);
	}
	free(dest);
}

static void
queue_commit_work(void *arg)
{
	struct qtxn *t = arg;
	struct stat st;

	t->status = 0;
	if (fstat(t->fd, &st) != 0) {
		t->status = errno;
		return;
	}
	t->env.size = (uint64_t)st.st_size;
	if (spool_commit(&t->q->spool, t->env.qid, t->fd, &t->env) != 0)
		t->status = errno ? errno : EIO;
}

static void
queue_sync_work(void *arg)
{
	struct queue *q = arg;

	q->sync_status = spool_sync(&q->spool) == 0 ? 0 : (errno ? errno : EIO);
}

static void queue_sync_done(void *arg);

static void
queue_sync_start(struct queue *q)
{
	if (q->syncing != NULL || q->batch_head == NULL)
		return;
	q->syncing = q->batch_head;
	q->batch_head = NULL;
	q->batch_tail = &q->batch_head;
	workq_submit(q->wq, queue_sync_work, queue_sync_done, q);
}

static void
queue_sync_done(void *arg)
{
	struct queue *q = arg;
	struct qtxn *t, *next;

	for (t = q->syncing; t != NULL; t = next) {
		char from[300];

		next = t->bnext;
		if (q->sync_status != 0) {
			/*
			 * The rename may not be durable: refuse the message.
			 * It may still be delivered; a client retry can then
			 * duplicate it, which beats losing it.
			 */
			log_err("qid=%s spool sync failed: %s", t->env.qid,
			    strerror(q->sync_status));
			if (!t->orphan)
				q->ops->committed(q->arg, t->id,
				    q->sync_status);
		} else {
			log_escape(t->env.sender, strlen(t->env.sender), from,
			    sizeof(from));
			log_info("qid=%s from=<%s> size=%llu nrcpt=%zu queued",
			    t->env.qid, from,
			    (unsigned long long)t->env.size, t->env.nrcpts);
			if (!t->orphan)
				q->ops->committed(q->arg, t->id, 0);
		}
		queue_msg_add(q, &t->env, t->env.size, t->maybe_done);
		memset(&t->env, 0, sizeof(t->env));
		queue_txn_free(t);
	}
	q->syncing = NULL;
	queue_sync_start(q);
}

static void
queue_commit_done(void *arg)
{
	struct qtxn *t = arg;
	struct queue *q = t->q;

	if (t->status != 0) {
		log_warn("qid=%s commit failed: %s", t->env.qid,
		    strerror(t->status));
		spool_abort(&q->spool, t->env.qid);
		if (!t->orphan)
			q->ops->committed(q->arg, t->id, t->status);
		queue_txn_free(t);
		return;
	}
	/* The content is durable; its name in queue/ is not yet. */
	t->bnext = NULL;
	*q->batch_tail = t;
	q->batch_tail = &t->bnext;
	queue_sync_start(q);
}

/*
 * Delivery before the commit. A message whose recipients are all local
 * mailboxes is handed to the local process straight away, read from
 * incoming/; the session's 250 waits for the deliveries. When every one
 * is durable in its Maildir the message needs no spool entry at all: the
 * incoming file is unlinked, never fsync'ed. That halves the disk syncs of
 * the common case. If any delivery fails, the message is committed to the
 * spool as usual, with the delivered recipients marked done, and 250 is
 * sent after that commit. Either way 250 means the message is on disk.
 */
static bool
queue_direct_start(struct queue *q, struct qtxn *t)
{
	unsigned limit = q->conf->local_concurrency * 4;
	struct stat st;
	char from[300];
	size_t i;

	if (!q->local_up || t->env.nrcpts == 0 ||
	    t->env.nrcpts > QUEUE_DIRECT_MAX ||
	    q->in_flight + t->env.nrcpts > limit)
		return false;
	/*
	 * A recipient that asked for a success notice goes the committed
	 * way: the notice is written from a queued message (queue_dsn.c).
	 */
	for (i = 0; i < t->env.nrcpts; i++)
		if (!t->env.rcpts[i].local ||
		    t->env.rcpts[i].state != ENV_RCPT_PENDING ||
		    (t->env.rcpts[i].notify & SMTP_NOTIFY_SUCCESS))
			return false;
	if (fstat(t->fd, &st) != 0)
		return false;
	t->env.size = (uint64_t)st.st_size;
	t->state = QTXN_DIRECT;
	log_escape(t->env.sender, strlen(t->env.sender), from, sizeof(from));
	log_info("qid=%s from=<%s> size=%llu nrcpt=%zu delivering before "
	    "acknowledgement", t->env.qid, from,
	    (unsigned long long)t->env.size, t->env.nrcpts);
	for (i = 0; i < t->env.nrcpts; i++) {
		struct env_rcpt *r = &t->env.rcpts[i];
		struct queue_delivery d;
		struct qdelivery *qd;
		int fd;

		if (spool_open_incoming(&q->spool, t->env.qid, &fd) != 0)
			break;
		qd = xcalloc(1, sizeof(*qd));
		qd->did = ++q->next_did;
		qd->t = t;
		qd->rcpt = (unsigned)i;
		clock_gettime(CLOCK_MONOTONIC, &qd->started);
		memset(&d, 0, sizeof(d));
		d.qid = t->env.qid;
		d.rcpt = (unsigned)i;
		d.mbox_domain = r->mbox_domain;
		d.mbox_user = r->mbox_user;
		d.sender = t->env.sender;
		d.dest = r->dest;
		d.arrival = t->env.arrival;
		d.content_len = t->env.size;
		if (!q->ops->deliver(q->arg, qd->did, &d, fd)) {
			close(fd);
			free(qd);
			break;
		}
		close(fd);
		queue_delivery_put(q, qd);
		q->in_flight++;
		t->direct_left++;
	}
	if (t->direct_left == 0) {
		t->state = QTXN_OPEN;
		return false;
	}
	return true;
}

/* The last direct delivery of t is back: acknowledge or commit. */
static void
queue_direct_end(struct queue *q, struct qtxn *t)
{
	size_t i;

	for (i = 0; i < t->env.nrcpts; i++)
		if (t->env.rcpts[i].state == ENV_RCPT_PENDING)
			break;
	if (i < t->env.nrcpts) {
		/* Some must wait for a retry: make the message durable. */
		t->state = QTXN_COMMITTING;
		workq_submit(q->wq, queue_commit_work, queue_commit_done, t);
		return;
	}
	log_info("qid=%s done (delivered before acknowledgement)",
	    t->env.qid);
	if (!t->orphan)
		q->ops->committed(q->arg, t->id, 0);
	/*
	 * An unlink needs no sync and does not wait for the disk; a worker
	 * thread round trip would cost more than it.
	 */
	spool_abort(&q->spool, t->env.qid);
	queue_txn_free(t);
}

/*
 * Records a local delivery's outcome in r: 0 delivered, -2 failed for
 * good, else deferred for the backoff (or at once when retry_now: the
 * outcome is unknown), or failed when the message is older than the
 * queue lifetime (age in seconds; the last status stays, flagged
 * expired). Returns the word for the log.
 */
static const char *
queue_local_record(struct queue *q, struct env_rcpt *r, int result,
    const char *error, double age, bool retry_now)
{
	int64_t now = (int64_t)time(NULL);

	r->attempts++;
	r->last_try = now;
	r->flags &= ~ENV_RF_DIAG_SMTP;
	if (result == 0) {
		r->state = ENV_RCPT_DELIVERED;
		queue_rcpt_set_status(r, NULL, "2.0.0");
		envelope_set_str(&r->last_error, NULL); /* an earlier try's */
		return "sent (delivered to maildir)";
	}
	envelope_set_str(&r->last_error, error);
	if (result == -2) {
		r->state = ENV_RCPT_FAILED;
		queue_rcpt_set_status(r, error, "5.2.0");
		return "bounced";
	}
	queue_rcpt_set_status(r, error, "4.2.0");
	if (age > (double)q->conf->queue_lifetime) {
		r->state = ENV_RCPT_FAILED;
		r->flags |= ENV_RF_EXPIRED;
		return "bounced (queue lifetime expired)";
	}
	r->next_try = retry_now ? 0 : now + queue_backoff(q->conf,
	    r->attempts);
	return "deferred";
}

/* Records one direct delivery's outcome (see queue_delivery_result). */
static void
queue_direct_result(struct queue *q, struct qdelivery *qd, int result,
    const char *error, double delay)
{
	struct qtxn *t = qd->t;
	struct env_rcpt *r = &t->env.rcpts[qd->rcpt];
	const char *status;
	char esc[512];

	status = queue_local_record(q, r, result, error, 0, t->maybe_done);
	log_escape(error ? error : "", error ? strlen(error) : 0, esc,
	    sizeof(esc));
	log_info("qid=%s to=<%s> orig_to=<%s> relay=local delay=%.3f age=0 "
	    "attempts=%u status=%s%s%s%s", t->env.qid, r->dest, r->rcpt, delay,
	    r->attempts, status, error ? " (" : "", esc, error ? ")" : "");
	if (--t->direct_left == 0)
		queue_direct_end(q, t);
}

void
queue_txn_commit(struct queue *q, uint64_t id)
{
	struct qtxn *t = *queue_txn_slot(q, id);
	size_t i;

	if (t == NULL || t->state != QTXN_OPEN) {
		q->ops->committed(q->arg, id, EIO);
		return;
	}
	if (t->raw.nrcpts != t->nrcpts_expected || t->raw.nrcpts == 0)
		fatalx("session=%llx: %zu recipients, %u announced",
		    (unsigned long long)id, t->raw.nrcpts, t->nrcpts_expected);
	t->env.arrival = (int64_t)time(NULL);
	for (i = 0; i < t->raw.nrcpts; i++)
		queue_expand(q, &t->env, &t->raw.rcpts[i]);
	if (queue_direct_start(q, t))
		return;
	t->state = QTXN_COMMITTING;
	workq_submit(q->wq, queue_commit_work, queue_commit_done, t);
}

void
queue_txn_abort(struct queue *q, uint64_t id)
{
	struct qtxn *t = *queue_txn_slot(q, id);

	if (t == NULL)
		return;
	if (t->state != QTXN_OPEN) {
		/*
		 * Already delivering or committing: finish it, answer
		 * nobody. Out of the table, so the id can be used again.
		 */
		struct qtxn **pp = queue_txn_slot(q, id);
		*pp = t->hnext;
		t->hnext = NULL;
		t->orphan = true;
		return;
	}
	spool_abort(&q->spool, t->env.qid);
	queue_txn_free(t);
}

void
queue_smtp_lost(struct queue *q)
{
	unsigned i;

	for (i = 0; i < QUEUE_BUCKETS; i++) {
		struct qtxn *t = q->txns[i], *next;
		for (; t != NULL; t = next) {
			next = t->hnext;
			queue_txn_abort(q, t->id);
		}
	}
}

/* ---- messages and deliveries ---- */

static void
queue_msg_timer(evutil_socket_t fd, short what, void *arg)
{
	struct qmsg *m = arg;

	(void)fd;
	(void)what;
	if (m->removing || m->held || m->deleted)
		return;
	if (!m->ready) {
		m->ready = true;
		m->rnext = NULL;
		*m->q->ready_tail = m;
		m->q->ready_tail = &m->rnext;
	}
	queue_pump(m->q);
}

void
queue_msg_ready(struct qmsg *m)
{
	struct timeval tv = { 0, 0 };

	evtimer_add(m->timer, &tv);
}

void
queue_ready_unlink(struct queue *q, struct qmsg *m)
{
	struct qmsg **pp;

	if (!m->ready)
		return;
	for (pp = &q->ready_head; *pp != NULL; pp = &(*pp)->rnext) {
		if (*pp != m)
			continue;
		*pp = m->rnext;
		if (*pp == NULL)
			q->ready_tail = pp;
		break;
	}
	m->rnext = NULL;
	m->ready = false;
}

/* A new message in memory, not yet scheduled. */
static struct qmsg *
queue_msg_new(struct queue *q, struct envelope *env, uint64_t content_len,
    bool check_dup)
{
	struct qmsg *m = xcalloc(1, sizeof(*m));

	m->q = q;
	m->env = *env;
	m->content_len = content_len;
	m->check_dup = check_dup;
	m->has_state = check_dup;	/* recovered: maybe */
	m->busy = xcalloc(env->nrcpts ? env->nrcpts : 1, sizeof(bool));
	m->timer = evtimer_new(q->base, queue_msg_timer, m);
	m->next = q->msgs;
	if (q->msgs)
		q->msgs->prev = m;
	q->msgs = m;
	return m;
}

struct qmsg *
queue_msg_add(struct queue *q, struct envelope *env, uint64_t content_len,
    bool check_dup)
{
	struct qmsg *m = queue_msg_new(q, env, content_len, check_dup);

	queue_msg_ready(m);
	return m;
}

void
queue_msg_free(struct qmsg *m)
{
	struct queue *q = m->q;

	if (m->prev)
		m->prev->next = m->next;
	else
		q->msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	event_free(m->timer);
	free(m->busy);
	envelope_clear(&m->env);
	free(m);
}

static void
queue_remove_work(void *arg)
{
	struct qmsg *m = arg;

	m->remove_errno = spool_remove(&m->q->spool, m->env.qid,
	    m->has_state) == 0 ? 0 : errno;
}

static void
queue_remove_done(void *arg)
{
	struct qmsg *m = arg;

	if (m->remove_errno != 0)
		log_err("qid=%s remove: %s", m->env.qid,
		    strerror(m->remove_errno));
	else
		log_info("qid=%s removed", m->env.qid);
	queue_msg_free(m);
}

static bool
queue_rcpt_due(const struct env_rcpt *r, int64_t now)
{
	return r->state == ENV_RCPT_PENDING && r->local && r->next_try <= now;
}

static bool
queue_send(struct queue *q, struct qmsg *m, unsigned idx)
{
	struct env_rcpt *r = &m->env.rcpts[idx];
	struct queue_delivery d;
	struct qdelivery *qd;
	int fd;

	if (spool_open_content(&q->spool, m->env.qid, &fd) != 0) {
		/* This message only: retry it later, go on with others. */
		log_err("qid=%s cannot open content: %s", m->env.qid,
		    strerror(errno));
		r->attempts++;
		r->next_try = (int64_t)time(NULL) +
		    queue_backoff(q->conf, r->attempts);
		envelope_set_str(&r->last_error, "cannot open queue file");
		m->dirty = true;
		return true;
	}
	qd = xcalloc(1, sizeof(*qd));
	qd->did = ++q->next_did;
	qd->m = m;
	qd->rcpt = idx;
	clock_gettime(CLOCK_MONOTONIC, &qd->started);
	d.qid = m->env.qid;
	d.rcpt = idx;
	d.mbox_domain = r->mbox_domain;
	d.mbox_user = r->mbox_user;
	d.sender = m->env.sender;
	d.dest = r->dest;
	d.arrival = m->env.arrival;
	d.content_len = m->content_len;
	d.check_dup = m->check_dup || r->attempts > 0;
	if (!q->ops->deliver(q->arg, qd->did, &d, fd)) {
		close(fd);
		free(qd);
		return false;
	}
	close(fd);
	queue_delivery_put(q, qd);
	m->in_flight++;
	q->in_flight++;
	m->busy[idx] = true;
	return true;
}

/*
 * Hands out m's due local recipients; true when the local limit kept one
 * back. Without a local process nothing is sent and false is returned:
 * queue_local_ready brings the message back.
 */
static bool
queue_pump_local(struct queue *q, struct qmsg *m, int64_t now)
{
	unsigned limit = q->conf->local_concurrency * 4;
	size_t i;

	for (i = 0; i < m->env.nrcpts; i++) {
		if (m->busy[i] || !queue_rcpt_due(&m->env.rcpts[i], now))
			continue;
		if (!q->local_up)
			return false;
		if (q->in_flight >= limit)
			return true;
		if (!queue_send(q, m, (unsigned)i))
			return false;	/* the channel broke: lost follows */
	}
	return false;
}

/*
 * Sends what is due on every ready message, within the limits: local
 * deliveries up to local_concurrency * 4 in flight, remote ones up to
 * remote_concurrency in all and destination_concurrency per domain
 * (queue_remote_pump). A message that a limit held back stays on the
 * ready list for the next pump (after any result); the others leave it
 * and are checked (queue_msg_check: reports, removal, the next timer).
 * The whole list is walked each time, so one busy destination does not
 * hold up the others.
 */
void
queue_pump(struct queue *q)
{
	int64_t now = (int64_t)time(NULL);
	struct qmsg **pp = &q->ready_head;

	while (*pp != NULL) {
		struct qmsg *m = *pp;
		bool held = queue_pump_local(q, m, now);

		if (queue_remote_pump(q, m, now))
			held = true;
		if (held) {
			pp = &m->rnext;
			continue;
		}
		*pp = m->rnext;
		if (*pp == NULL)
			q->ready_tail = pp;
		m->rnext = NULL;
		m->ready = false;
		queue_msg_check(m);
	}
}

unsigned
queue_backoff(const struct conf *c, uint32_t attempts)
{
	uint64_t d = c->retry_min;
	uint32_t i;

	for (i = 1; i < attempts && d < c->retry_max; i++)
		d *= 2;
	return d > c->retry_max ? c->retry_max : (unsigned)d;
}

/*
 * After a change: write the reports that are due, remove a finished
 * message, save state and arm the timer for the next thing to do (a
 * retry, a delay warning). A message is finished when no recipient is
 * pending and no report is due: its reports are committed before it goes
 * (a crash in between repeats a report, never loses one).
 */
void
queue_msg_check(struct qmsg *m)
{
	struct queue *q = m->q;
	int64_t now = (int64_t)time(NULL), next = 0, t;
	bool pending = false, have_next = false;
	size_t i;

	if (m->in_flight > 0 || m->ready || m->removing || m->deleted)
		return;
	for (i = 0; i < m->env.nrcpts; i++) {
		const struct env_rcpt *r = &m->env.rcpts[i];
		if (r->state != ENV_RCPT_PENDING)
			continue;
		pending = true;
		/* Waiting for a process that is not there needs no timer. */
		if (!(r->local ? q->local_up : q->remote_up))
			continue;
		if (!have_next || r->next_try < next)
			next = r->next_try;
		have_next = true;
	}
	if (!pending && !queue_dsn_pending(m, now)) {
		/* Unlinking can wait for the disk: not on the loop. */
		m->removing = true;
		workq_submit(q->wq, queue_remove_work, queue_remove_done, m);
		return;
	}
	if (m->dirty) {
		m->has_state = true;
		if (spool_update(&q->spool, &m->env) != 0)
			log_err("qid=%s saving state: %s", m->env.qid,
			    strerror(errno));
		m->dirty = false;
	}
	if (m->held)
		return;
	if (queue_dsn_start(m, now))
		return;		/* checked again when it is written */
	if ((t = queue_dsn_next(m, now)) != 0 && (!have_next || t < next)) {
		next = t;
		have_next = true;
	}
	if (have_next) {
		struct timeval tv = { next > now ? next - now : 0, 0 };
		evtimer_add(m->timer, &tv);
	}
}

void
queue_delivery_put(struct queue *q, struct qdelivery *qd)
{
	qd->hnext = q->deliveries[qd->did % QUEUE_BUCKETS];
	q->deliveries[qd->did % QUEUE_BUCKETS] = qd;
}

struct qdelivery *
queue_delivery_take(struct queue *q, uint64_t did)
{
	struct qdelivery **pp = &q->deliveries[did % QUEUE_BUCKETS], *qd;

	while (*pp != NULL && (*pp)->did != did)
		pp = &(*pp)->hnext;
	qd = *pp;
	if (qd != NULL)
		*pp = qd->hnext;
	return qd;
}

void
queue_delivery_result(struct queue *q, uint64_t did, int result,
    const char *error)
{
	struct qdelivery *qd = queue_delivery_take(q, did);
	struct timespec now;
	struct env_rcpt *r;
	struct qmsg *m;
	double delay, age;
	const char *status;
	char esc[512];

	if (qd == NULL || qd->remote)
		fatalx("local: result for unknown delivery %llu",
		    (unsigned long long)did);
	q->in_flight--;
	clock_gettime(CLOCK_MONOTONIC, &now);
	delay = (double)(now.tv_sec - qd->started.tv_sec) +
	    (double)(now.tv_nsec - qd->started.tv_nsec) / 1e9;
	if (qd->t != NULL) {
		queue_direct_result(q, qd, result, error, delay);
		free(qd);
		queue_pump(q);
		return;
	}
	m = qd->m;
	r = &m->env.rcpts[qd->rcpt];
	m->busy[qd->rcpt] = false;
	m->in_flight--;
	if (m->deleted) {
		/* Deleted meanwhile: nothing to record, no file to write. */
		log_info("qid=%s to=<%s> result=%s ignored: message deleted",
		    m->env.qid, r->dest, result == 0 ? "delivered" :
		    result == -2 ? "failed" : "deferred");
		free(qd);
		if (m->in_flight == 0)
			queue_msg_free(m);
		queue_pump(q);
		return;
	}
	age = difftime(time(NULL), (time_t)m->env.arrival);
	status = queue_local_record(q, r, result, error, age, false);
	/* A lone recipient delivered needs no state: the message goes. */
	if (result != 0 || m->env.nrcpts > 1)
		m->dirty = true;
	log_escape(error ? error : "", error ? strlen(error) : 0, esc,
	    sizeof(esc));
	log_info("qid=%s to=<%s> orig_to=<%s> relay=local delay=%.3f "
	    "age=%.0f attempts=%u status=%s%s%s%s", m->env.qid, r->dest,
	    r->rcpt, delay, age, r->attempts, status, error ? " (" : "",
	    esc, error ? ")" : "");
	free(qd);
	queue_msg_check(m);
	queue_pump(q);
}

void
queue_local_lost(struct queue *q)
{
	unsigned i;

	q->local_up = false;
	for (i = 0; i < QUEUE_BUCKETS; i++) {
		struct qdelivery **pp = &q->deliveries[i], *qd;
		while ((qd = *pp) != NULL) {
			if (qd->remote) {
				pp = &qd->hnext;
				continue;
			}
			*pp = qd->hnext;
			if (qd->t != NULL) {
				/* Maybe written: the retry looks first. */
				qd->t->maybe_done = true;
				q->in_flight--;
				queue_direct_result(q, qd, -1, "local delivery "
				    "process went away", 0);
				free(qd);
				continue;
			}
			/* It may have been written: look before writing. */
			qd->m->busy[qd->rcpt] = false;
			qd->m->check_dup = true;
			qd->m->in_flight--;
			q->in_flight--;
			if (qd->m->deleted) {
				if (qd->m->in_flight == 0)
					queue_msg_free(qd->m);
			} else if (qd->m->held) {
				if (qd->m->in_flight == 0)
					queue_msg_check(qd->m);
			} else {
				queue_msg_ready(qd->m);
			}
			free(qd);
		}
	}
}

void
queue_local_ready(struct queue *q)
{
	struct qmsg *m;
	size_t i;

	q->local_up = true;
	/* What waited for a local process is scheduled again. */
	for (m = q->msgs; m != NULL; m = m->next) {
		if (m->removing || m->held || m->deleted || m->ready)
			continue;
		for (i = 0; i < m->env.nrcpts; i++) {
			if (m->env.rcpts[i].local &&
			    m->env.rcpts[i].state == ENV_RCPT_PENDING) {
				queue_msg_ready(m);
				break;
			}
		}
	}
	queue_pump(q);
}

unsigned
queue_flush(struct queue *q)
{
	int64_t now = (int64_t)time(NULL);
	unsigned n = 0;
	struct qmsg *m;

	for (m = q->msgs; m != NULL; m = m->next) {
		bool waited = false;
		size_t i;

		if (m->removing || m->held || m->deleted)
			continue;
		for (i = 0; i < m->env.nrcpts; i++) {
			struct env_rcpt *r = &m->env.rcpts[i];
			if (r->state != ENV_RCPT_PENDING || m->busy[i])
				continue;
			if (r->next_try > now)
				waited = true;
			r->next_try = 0;
		}
		n += waited;
		if (!m->ready)
			queue_msg_ready(m);
	}
	return n;
}

/* ---- start-up ---- */

static void
queue_recover_one(const char *qid, void *arg)
{
	struct queue *q = arg;
	struct envelope env;
	uint64_t len;

	memset(&env, 0, sizeof(env));
	switch (spool_load(&q->spool, qid, &env, &len)) {
	case 0:
		break;
	case -2:
		log_err("qid=%s damaged; moved to %s/corrupt", qid,
		    q->spool.path);
		spool_quarantine(&q->spool, qid);
		return;
	default:
		/* A passing error (EMFILE, EIO): try again next start. */
		log_err("qid=%s cannot be read now: %s", qid, strerror(errno));
		return;
	}
	queue_msg_add(q, &env, len, true);
}

/* A held message found at start: loaded, never scheduled. */
static void
queue_recover_held_one(const char *qid, void *arg)
{
	struct queue *q = arg;
	struct envelope env;
	struct qmsg *m;
	uint64_t len;

	memset(&env, 0, sizeof(env));
	switch (spool_load(&q->spool, qid, &env, &len)) {
	case 0:
		break;
	case -2:
		log_err("qid=%s (held) damaged; moved to %s/corrupt", qid,
		    q->spool.path);
		spool_quarantine(&q->spool, qid);
		return;
	default:
		log_err("qid=%s (held) cannot be read now: %s", qid,
		    strerror(errno));
		return;
	}
	m = queue_msg_new(q, &env, len, true);
	m->held = true;
	/* One finished by a delivery just before a crash: remove it. */
	queue_msg_check(m);
}

struct queue *
queue_new(struct event_base *base, const struct conf *c,
    const struct tables *t, const struct queue_ops *ops, void *arg)
{
	struct queue *q = xcalloc(1, sizeof(*q));
	int n;

	q->base = base;
	q->conf = c;
	q->tables = t;
	q->ops = ops;
	q->arg = arg;
	q->ready_tail = &q->ready_head;
	q->batch_tail = &q->batch_head;
	if (spool_open(&q->spool, c->spool_dir) != 0) {
		int err = errno;
		free(q);
		errno = err;
		return NULL;
	}
	/* Enough threads that concurrent sessions sync in parallel. */
	q->wq = workq_new(base, 16);
	n = spool_recover(&q->spool, queue_recover_one, q);
	if (n < 0)
		log_err("spool recovery: %s", strerror(errno));
	else if (n > 0)
		log_info("recovered %d queued messages", n);
	n = spool_recover_held(&q->spool, queue_recover_held_one, q);
	if (n < 0)
		log_err("spool recovery (hold): %s", strerror(errno));
	else if (n > 0)
		log_info("%d messages on hold", n);
	return q;
}

void
queue_set_conf(struct queue *q, const struct conf *c, const struct tables *t)
{
	q->conf = c;
	q->tables = t;
}
