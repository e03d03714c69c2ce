/*
 * queue_dsn: delivery status notifications (RFC 3461, RFC 3464) written
 * by the queue process into its own spool. Owns when a recipient gets a
 * report, how reports are combined, and the order of the writes that
 * makes them crash-safe; the report's text is proto/dsn's.
 *
 * Who gets what (queue_dsn_wanted), never when the sender is <> (a
 * report is never reported on) or NOTIFY=NEVER:
 *   failure  a failed recipient, when NOTIFY has FAILURE or was not given;
 *   delay    a pending recipient deferred at least once, once the message
 *            is older than delay-warning (0: never), when NOTIFY has DELAY
 *            or was not given (RFC 3461 4.1 lets an MTA treat a missing
 *            NOTIFY as FAILURE,DELAY; we do); at most once per recipient;
 *   success  a delivered recipient with NOTIFY=SUCCESS: "delivered" for a
 *            local mailbox, "relayed" for a remote peer without the DSN
 *            extension (RFC 3461 5.2.2). A remote peer that has it was
 *            given our NOTIFY and ORCPT and reports the delivery itself
 *            (RFC 3461 5.2.1), so we write nothing for it: the sender
 *            would get two reports.
 * All the recipients of one message that are due for the same kind when
 * the message is checked (queue_msg_check runs only when none of its
 * deliveries is in flight) go into one report; the kinds are written one
 * after the other (failure, delay, success).
 *
 * Writing one (queue_dsn_work, on a worker thread: the loop never waits
 * for the disk): read the original's header section or whole content
 * from the spool (RET, dsn_return_full; a message over QUEUE_DSN_FULL_MAX
 * returns its headers and the text says so), compose, create a new spool
 * message from <> to the original sender (expanded through the aliases
 * like any recipient, on the loop before), write it, spool_commit and
 * spool_sync. Only back on the loop, with the report durable, are the
 * recipients' ENV_RF_DSN_*_SENT flags set in the original's envelope
 * (saved by queue_msg_check with spool_update). A crash between the two
 * writes sends the report again after recovery: a duplicate, never a
 * loss. A report that cannot be written is retried after retry_min, and
 * the original stays in the queue until it is written.
 *
 * REQUIRETLS (RFC 8689 5): a report on a message that came with
 * REQUIRETLS carries the original's header section, which is what the
 * sender asked to protect, so it is itself sent with REQUIRETLS (the
 * report's envelope has requiretls set, and the remote process applies
 * the same rules to it), and it returns only the header section whatever
 * RET said ("If a REQUIRETLS message is bounced, the server MUST behave
 * as if RET=HDRS was present"). That holds for every kind of report, not
 * only failures: a delay or success report shows the same headers. Its
 * reverse path is <>, and the RFC asks that REQUIRETLS not make such a
 * report be discarded when the next hop lacks REQUIRETLS: that decision
 * belongs to the remote process, which sees sender "" with requiretls.
 */
#include "sched/queue.h"
#include "sched/queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xalloc.h"
#include "proto/dsn.h"
#include "proto/smtp_param.h"

/* A failure returns the whole message up to this size, else headers. */
#define QUEUE_DSN_FULL_MAX ((uint64_t)10 << 20)
/* At most this much of the message is read to find its headers. */
#define QUEUE_DSN_HEAD_MAX ((size_t)64 << 10)
/* Room for the text and status parts besides the returned content. */
#define QUEUE_DSN_EXTRA_MAX ((size_t)64 << 20)

static const enum dsn_kind queue_dsn_kinds[] = {
    DSN_KIND_FAILURE, DSN_KIND_DELAY, DSN_KIND_SUCCESS};

struct qdsn {
	struct queue *q;
	struct qmsg *m;
	enum dsn_kind kind;
	unsigned *idx; /* the recipients reported, in m->env */
	size_t n;
	struct envelope snap; /* copies: the original and those rcpts */
	struct envelope nenv; /* the report's own envelope */
	uint64_t content_len;
	bool full, cut;
	char *hostname;
	unsigned lifetime;
	int64_t now;
	/* results of the work */
	int err;          /* errno, 0 when durable */
	const char *what; /* the step that failed */
	bool committed;   /* in queue/ (maybe not synced) */
	char newqid[SPOOL_QID_LEN + 1];
	uint64_t size;
};

static const char *
queue_dsn_kind_name(enum dsn_kind k)
{
	switch (k) {
	case DSN_KIND_FAILURE:
		return "failure";
	case DSN_KIND_DELAY:
		return "delay";
	default:
		return "success";
	}
}

static uint32_t
queue_dsn_flag(enum dsn_kind k)
{
	switch (k) {
	case DSN_KIND_FAILURE:
		return ENV_RF_DSN_FAILURE_SENT;
	case DSN_KIND_DELAY:
		return ENV_RF_DSN_DELAY_SENT;
	default:
		return ENV_RF_DSN_SUCCESS_SENT;
	}
}

/* A recipient that may get a delay warning once the time has come. */
static bool
queue_dsn_delay_candidate(const struct qmsg *m, size_t i)
{
	const struct env_rcpt *r = &m->env.rcpts[i];
	unsigned nf = r->notify;

	return r->state == ENV_RCPT_PENDING && r->attempts > 0 && !m->busy[i] &&
	       !(r->flags & ENV_RF_DSN_DELAY_SENT) &&
	       !(nf & SMTP_NOTIFY_NEVER) &&
	       (nf == 0 || (nf & SMTP_NOTIFY_DELAY));
}

/* Whether recipient i of m is due for a report of kind k (see above). */
static bool
queue_dsn_wanted(const struct qmsg *m, size_t i, enum dsn_kind k, int64_t now)
{
	const struct conf *c = m->q->conf;
	const struct env_rcpt *r = &m->env.rcpts[i];
	unsigned nf = r->notify;

	if (m->env.sender == NULL || m->env.sender[0] == '\0' ||
	    (nf & SMTP_NOTIFY_NEVER))
		return false;
	switch (k) {
	case DSN_KIND_FAILURE:
		return r->state == ENV_RCPT_FAILED &&
		       !(r->flags & ENV_RF_DSN_FAILURE_SENT) &&
		       (nf == 0 || (nf & SMTP_NOTIFY_FAILURE));
	case DSN_KIND_DELAY:
		return c->delay_warning > 0 &&
		       now - m->env.arrival >= (int64_t)c->delay_warning &&
		       queue_dsn_delay_candidate(m, i);
	default:
		return r->state == ENV_RCPT_DELIVERED &&
		       !(r->flags & ENV_RF_DSN_SUCCESS_SENT) &&
		       (nf & SMTP_NOTIFY_SUCCESS) &&
		       (r->local || (r->flags & ENV_RF_RELAYED));
	}
}

bool
queue_dsn_pending(const struct qmsg *m, int64_t now)
{
	size_t i, k;

	for (k = 0; k < sizeof(queue_dsn_kinds) / sizeof(queue_dsn_kinds[0]);
	     k++)
		for (i = 0; i < m->env.nrcpts; i++)
			if (queue_dsn_wanted(m, i, queue_dsn_kinds[k], now))
				return true;
	return false;
}

int64_t
queue_dsn_next(const struct qmsg *m, int64_t now)
{
	const struct conf *c = m->q->conf;
	int64_t next = 0;
	size_t i;

	if (m->dsn_retry > now && queue_dsn_pending(m, now))
		next = m->dsn_retry;
	if (c->delay_warning > 0 && m->env.sender != NULL &&
	    m->env.sender[0] != '\0') {
		int64_t at = m->env.arrival + (int64_t)c->delay_warning;
		if (at > now) {
			for (i = 0; i < m->env.nrcpts; i++) {
				if (!queue_dsn_delay_candidate(m, i))
					continue;
				if (next == 0 || at < next)
					next = at;
				break;
			}
		}
	}
	return next;
}

/*
 * Reads what the report returns: the whole content (full) or its header
 * section, into a malloc'ed *p_out. 0 or -1/errno.
 */
static int
queue_dsn_read(struct qdsn *j, char **p_out, size_t *n_out)
{
	size_t want, got = 0, n;
	char *p;
	int fd;

	*p_out = NULL;
	*n_out = 0;
	if (spool_open_message(&j->q->spool, j->snap.qid, &fd) != 0)
		return -1;
	want = j->full ? (size_t)j->content_len
		       : (j->content_len < QUEUE_DSN_HEAD_MAX
				 ? (size_t)j->content_len
				 : QUEUE_DSN_HEAD_MAX);
	p = xmalloc(want ? want : 1);
	while (got < want) {
		ssize_t r = pread(fd, p + got, want - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : EIO; /* shorter than said */
			close(fd);
			free(p);
			errno = err;
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	n = got;
	if (!j->full) {
		n = dsn_header_len(p, got);
		if (n == got && got < j->content_len) {
			/* No end of headers in what we read: whole lines. */
			while (n > 0 && !(n >= 2 && p[n - 2] == '\r' &&
					    p[n - 1] == '\n'))
				n--;
		}
	}
	*p_out = p;
	*n_out = n;
	return 0;
}

/* Composes the report for j into out. 0 or -1. */
static int
queue_dsn_compose(
    struct qdsn *j, const char *content, size_t content_len, struct buf *out)
{
	struct dsn_rcpt *dr = xcalloc(j->snap.nrcpts, sizeof(*dr));
	struct dsn_report rep;
	char msgid[SPOOL_QID_LEN * 2 + 300];
	size_t k;
	int rc;

	for (k = 0; k < j->snap.nrcpts; k++) {
		const struct env_rcpt *r = &j->snap.rcpts[k];

		dr[k].orcpt = r->orcpt;
		dr[k].rcpt = r->rcpt;
		dr[k].final = r->dest != NULL ? r->dest : r->rcpt;
		dr[k].status = r->status;
		dr[k].remote_mta = r->remote_mta;
		dr[k].diag_smtp = (r->flags & ENV_RF_DIAG_SMTP) != 0;
		dr[k].expired = (r->flags & ENV_RF_EXPIRED) != 0;
		dr[k].last_attempt = r->last_try;
		switch (j->kind) {
		case DSN_KIND_FAILURE:
			dr[k].action = DSN_ACTION_FAILED;
			dr[k].diagnostic = r->last_error;
			break;
		case DSN_KIND_DELAY:
			dr[k].action = DSN_ACTION_DELAYED;
			dr[k].diagnostic = r->last_error;
			dr[k].retry_until =
			    j->snap.arrival + (int64_t)j->lifetime;
			break;
		default:
			dr[k].action = (r->flags & ENV_RF_RELAYED)
					   ? DSN_ACTION_RELAYED
					   : DSN_ACTION_DELIVERED;
			/* An earlier failure's text is not this result. */
			dr[k].diagnostic =
			    dr[k].diag_smtp ? r->last_error : NULL;
			break;
		}
	}
	snprintf(msgid, sizeof(msgid), "%s.%s@%s", j->newqid, j->snap.qid,
	    j->hostname);
	memset(&rep, 0, sizeof(rep));
	rep.kind = j->kind;
	rep.hostname = j->hostname;
	rep.message_id = msgid;
	rep.qid = j->snap.qid;
	rep.sender = j->snap.sender;
	rep.envid = j->snap.envid;
	rep.arrival = j->snap.arrival;
	rep.now = j->now;
	rep.utf8 = j->snap.smtputf8;
	rep.full = j->full;
	rep.cut = j->cut;
	rep.content = content;
	rep.content_len = content_len;
	rep.rcpts = dr;
	rep.nrcpts = j->snap.nrcpts;
	rc = dsn_compose(&rep, out);
	free(dr);
	return rc;
}

/* On a worker thread: touches only j and the spool's descriptors. */
static void
queue_dsn_work(void *arg)
{
	struct qdsn *j = arg;
	struct spool *sp = &j->q->spool;
	struct buf out;
	char *content = NULL;
	size_t clen = 0, i;
	int fd = -1;

	j->err = 0;
	if (queue_dsn_read(j, &content, &clen) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "reading the message";
		return;
	}
	if (spool_create(sp, j->newqid, &fd) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "creating the report";
		free(content);
		return;
	}
	buf_init(&out, clen + QUEUE_DSN_EXTRA_MAX);
	if (queue_dsn_compose(j, content, clen, &out) != 0) {
		j->err = EMSGSIZE;
		j->what = "composing the report";
		goto fail;
	}
	if (fsio_write_all(fd, out.data, out.len) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "writing the report";
		goto fail;
	}
	memcpy(j->nenv.qid, j->newqid, sizeof(j->newqid));
	j->nenv.arrival = j->now;
	j->nenv.size = out.len;
	j->nenv.body = SMTP_BODY_7BIT;
	for (i = 0; i < out.len; i++) {
		if ((unsigned char)out.data[i] & 0x80) {
			j->nenv.body = SMTP_BODY_8BITMIME;
			break;
		}
	}
	j->size = out.len;
	if (spool_commit(sp, j->newqid, fd, &j->nenv) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "committing the report";
		goto fail;
	}
	j->committed = true;
	if (spool_sync(sp) != 0) {
		/* In queue/ but maybe not durable: not "sent" yet. */
		j->err = errno ? errno : EIO;
		j->what = "syncing the spool";
	}
	close(fd);
	buf_clear(&out);
	free(content);
	return;
fail:
	close(fd);
	spool_abort(sp, j->newqid);
	buf_clear(&out);
	free(content);
}

static void
queue_dsn_free(struct qdsn *j)
{
	envelope_clear(&j->snap);
	envelope_clear(&j->nenv);
	free(j->idx);
	free(j->hostname);
	free(j);
}

/* Back on the loop. */
static void
queue_dsn_done(void *arg)
{
	struct qdsn *j = arg;
	struct queue *q = j->q;
	struct qmsg *m = j->m;
	size_t k;

	m->in_flight--;
	if (j->committed) {
		/* It exists in queue/: deliver it whatever else happened. */
		log_info("qid=%s from=<> size=%llu nrcpt=%zu queued (%s "
			 "report for %s)",
		    j->newqid, (unsigned long long)j->size, j->nenv.nrcpts,
		    queue_dsn_kind_name(j->kind), m->env.qid);
		queue_msg_add(q, &j->nenv, j->size, false);
		memset(&j->nenv, 0, sizeof(j->nenv));
	}
	if (j->err == 0) {
		log_info("qid=%s dsn=%s kind=%s rcpts=%zu", m->env.qid,
		    j->newqid, queue_dsn_kind_name(j->kind), j->n);
		if (!m->deleted) {
			for (k = 0; k < j->n; k++)
				m->env.rcpts[j->idx[k]].flags |=
				    queue_dsn_flag(j->kind);
			m->dirty = true;
		}
		m->dsn_retry = 0;
	} else {
		unsigned wait = q->conf->retry_min ? q->conf->retry_min : 60;
		log_err("qid=%s %s report not written: %s: %s; next try in "
			"%us",
		    m->env.qid, queue_dsn_kind_name(j->kind), j->what,
		    strerror(j->err), wait);
		m->dsn_retry = (int64_t)time(NULL) + wait;
	}
	queue_dsn_free(j);
	if (m->deleted) {
		if (m->in_flight == 0)
			queue_msg_free(m);
	} else {
		queue_msg_check(m);
	}
}

/* Starts the report of kind k for the n recipients idx of m. */
static void
queue_dsn_submit(
    struct qmsg *m, enum dsn_kind k, unsigned *idx, size_t n, int64_t now)
{
	struct queue *q = m->q;
	struct qdsn *j = xcalloc(1, sizeof(*j));
	struct envelope raw;
	size_t i;

	j->q = q;
	j->m = m;
	j->kind = k;
	j->idx = idx;
	j->n = n;
	j->now = now;
	j->hostname =
	    xstrdup(q->conf->hostname ? q->conf->hostname : "localhost");
	j->lifetime = q->conf->queue_lifetime;
	j->content_len = m->content_len;
	/* RFC 8689 5: a REQUIRETLS message is reported as with RET=HDRS. */
	j->full = dsn_return_full(m->env.ret, k) && !m->env.requiretls;
	if (j->full && m->content_len > QUEUE_DSN_FULL_MAX) {
		j->full = false;
		j->cut = true;
	}
	/* What the worker reads: copies, as m->env keeps changing. */
	memcpy(j->snap.qid, m->env.qid, sizeof(j->snap.qid));
	j->snap.arrival = m->env.arrival;
	envelope_set_str(&j->snap.sender, m->env.sender);
	envelope_set_str(&j->snap.envid, m->env.envid);
	j->snap.ret = m->env.ret;
	j->snap.body = m->env.body;
	j->snap.smtputf8 = m->env.smtputf8;
	j->snap.requiretls = m->env.requiretls;
	j->snap.size = m->env.size;
	for (i = 0; i < n; i++)
		envelope_copy_rcpt(&j->snap, &m->env.rcpts[idx[i]]);
	/* The report: from <> to the original sender, through aliases. */
	envelope_set_str(&j->nenv.sender, "");
	envelope_set_str(&j->nenv.protocol, "DSN");
	j->nenv.smtputf8 = m->env.smtputf8;
	j->nenv.requiretls = m->env.requiretls; /* RFC 8689 5 */
	memset(&raw, 0, sizeof(raw));
	envelope_add_rcpt(
	    &raw, m->env.sender, NULL, 0, m->env.sender, false, NULL, NULL);
	queue_expand(q, &j->nenv, &raw.rcpts[0]);
	envelope_clear(&raw);
	m->in_flight++;
	workq_submit(q->wq, queue_dsn_work, queue_dsn_done, j);
}

bool
queue_dsn_start(struct qmsg *m, int64_t now)
{
	size_t i, k, n;

	if (m->dsn_retry > now)
		return false;
	for (k = 0; k < sizeof(queue_dsn_kinds) / sizeof(queue_dsn_kinds[0]);
	     k++) {
		enum dsn_kind kind = queue_dsn_kinds[k];
		unsigned *idx;

		for (n = 0, i = 0; i < m->env.nrcpts; i++)
			n += queue_dsn_wanted(m, i, kind, now);
		if (n == 0)
			continue;
		idx = xcalloc(n, sizeof(*idx));
		for (n = 0, i = 0; i < m->env.nrcpts; i++)
			if (queue_dsn_wanted(m, i, kind, now))
				idx[n++] = (unsigned)i;
		queue_dsn_submit(m, kind, idx, n, now);
		return true;
	}
	return false;
}
