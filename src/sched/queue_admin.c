/*
 * queue_admin: the administrator's requests on the queue (`petrel queue
 * list|show|delete|hold|release|flush`), run inside the queue process on
 * its in-memory state and, for changes, through the spool's durable
 * operations (spool_delete, spool_hold, spool_release). Owns the text of
 * the listings; the control protocol around them is src/bin/control.h.
 *
 * Everything here runs on the queue's event loop and answers at once: the
 * spool changes are a few renames or unlinks and directory fsyncs, like
 * the state updates the scheduler already writes from the loop. A message
 * with deliveries in flight can still be deleted or held: a deleted one
 * stays in memory (flag deleted, no files) until its results are back and
 * dropped; a held one records those results in hold/QID.st (spool_update
 * writes next to the message file) and is then left alone.
 *
 * Limits: each text field is cut at QA_FIELD_MAX output bytes and each
 * header line at QA_HEADER_LINE_MAX; `show` reads at most QA_HEAD_MAX bytes
 * of the message to find its header section.
 */
#include "sched/queue.h"
#include "sched/queue_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/smtp_param.h"

#define QA_FIELD_MAX       1024  /* escaped address, error, ... */
#define QA_HEADER_LINE_MAX 4096  /* escaped header line */
#define QA_HEAD_MAX        65536 /* bytes read to find the headers */

/* Output with a sticky overflow flag, so a cut listing is never sent. */
struct qa_out {
	struct buf *b;
	bool full;
};

static void
qa_append(struct qa_out *o, const char *p, size_t n)
{
	if (!o->full && buf_append(o->b, p, n) < 0)
		o->full = true;
}

static void
qa_puts(struct qa_out *o, const char *s)
{
	qa_append(o, s, strlen(s));
}

static void qa_printf(struct qa_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
qa_printf(struct qa_out *o, const char *fmt, ...)
{
	va_list ap;

	if (o->full)
		return;
	va_start(ap, fmt);
	if (buf_vprintf(o->b, fmt, ap) < 0)
		o->full = true;
	va_end(ap);
}

/*
 * Appends n bytes of untrusted text: printable ASCII passes (TAB too when
 * tab_ok), anything else and the backslash become \xHH; cut with "..."
 * after max output bytes.
 */
static void
qa_escn(struct qa_out *o, const char *s, size_t n, size_t max, bool tab_ok)
{
	size_t i, used = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		size_t k = 1;

		if ((c >= 0x20 && c < 0x7f && c != '\\') ||
		    (tab_ok && c == '\t'))
			tmp[0] = (char)c;
		else
			k = (size_t)snprintf(tmp, sizeof(tmp), "\\x%02X", c);
		if (used + k > max) {
			qa_puts(o, "...");
			return;
		}
		qa_append(o, tmp, k);
		used += k;
	}
}

static void
qa_esc(struct qa_out *o, const char *s)
{
	if (s != NULL)
		qa_escn(o, s, strlen(s), QA_FIELD_MAX, false);
}

/* "<addr>" with the address escaped; "<>" for the null sender. */
static void
qa_addr(struct qa_out *o, const char *s)
{
	qa_puts(o, "<");
	qa_esc(o, s);
	qa_puts(o, ">");
}

static int
qa_finish(struct qa_out *o, char *err, size_t errsz)
{
	if (!o->full)
		return 0;
	snprintf(
	    err, errsz, "reply too large (more than %zu bytes)", o->b->max);
	return -1;
}

/* A duration, coarse: 42s, 17m, 5h, 3d. */
static void
qa_duration(char *out, size_t outsz, int64_t secs)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(out, outsz, "%llds", (long long)secs);
	else if (secs < 2 * 3600)
		snprintf(out, outsz, "%lldm", (long long)(secs / 60));
	else if (secs < 2 * 86400)
		snprintf(out, outsz, "%lldh", (long long)(secs / 3600));
	else
		snprintf(out, outsz, "%lldd", (long long)(secs / 86400));
}

/* Local time with its offset, "2024-05-01 12:00:00 +0200". */
static void
qa_time(char *out, size_t outsz, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(out, outsz, "@%lld", (long long)t);
}

/* The message with this QID, unless it has been deleted. */
static struct qmsg *
qa_find(struct queue *q, const char *qid, char *err, size_t errsz)
{
	struct qmsg *m;

	for (m = q->msgs; m != NULL; m = m->next)
		if (!m->deleted && strcmp(m->env.qid, qid) == 0)
			return m;
	snprintf(err, errsz, "no message %s in the queue", qid);
	return NULL;
}

/* The message, if an administrator may change it now. */
static struct qmsg *
qa_find_changeable(struct queue *q, const char *qid, char *err, size_t errsz)
{
	struct qmsg *m = qa_find(q, qid, err, errsz);

	if (m != NULL && m->removing) {
		snprintf(
		    err, errsz, "message %s is done and being removed", qid);
		return NULL;
	}
	return m;
}

static const char *
qa_rcpt_state(const struct qmsg *m, const struct env_rcpt *r)
{
	switch (r->state) {
	case ENV_RCPT_DELIVERED:
		return "delivered";
	case ENV_RCPT_FAILED:
		return "failed";
	default:
		if (m->held)
			return "held";
		return r->attempts > 0 ? "deferred" : "pending";
	}
}

/*
 * After the last error of a remote recipient: " (status S, remote HOST)"
 * with whatever of the two the error text does not already say.
 */
static void
qa_rcpt_remote(struct qa_out *o, const struct env_rcpt *r)
{
	bool st =
	    r->status != NULL &&
	    (r->last_error == NULL || strstr(r->last_error, r->status) == NULL);
	bool mta = !r->local && r->remote_mta != NULL;

	if (!st && !mta)
		return;
	qa_puts(o, " (");
	if (st) {
		qa_puts(o, "status ");
		qa_esc(o, r->status);
	}
	if (mta) {
		qa_puts(o, st ? ", remote " : "remote ");
		qa_esc(o, r->remote_mta);
	}
	qa_puts(o, ")");
}

static int
qa_cmp_arrival(const void *a, const void *b)
{
	const struct qmsg *x = *(const struct qmsg *const *)a;
	const struct qmsg *y = *(const struct qmsg *const *)b;

	if (x->env.arrival != y->env.arrival)
		return x->env.arrival < y->env.arrival ? -1 : 1;
	return strcmp(x->env.qid, y->env.qid);
}

int
queue_admin_list(struct queue *q, struct buf *out, char *err, size_t errsz)
{
	struct qa_out o = {out, false};
	int64_t now = (int64_t)time(NULL);
	struct qmsg *m, **v;
	size_t n = 0, held = 0, i, k;

	for (m = q->msgs; m != NULL; m = m->next)
		n += !m->deleted;
	v = xcalloc(n ? n : 1, sizeof(*v));
	n = 0;
	for (m = q->msgs; m != NULL; m = m->next)
		if (!m->deleted)
			v[n++] = m;
	qsort(v, n, sizeof(*v), qa_cmp_arrival);
	for (i = 0; i < n && !o.full; i++) {
		char age[32];

		m = v[i];
		held += m->held;
		qa_duration(age, sizeof(age), now - m->env.arrival);
		qa_printf(&o, "%s %s %llu ", m->env.qid, age,
		    (unsigned long long)m->content_len);
		qa_addr(&o, m->env.sender);
		qa_puts(&o, m->held ? " held\n" : "\n");
		for (k = 0; k < m->env.nrcpts; k++) {
			const struct env_rcpt *r = &m->env.rcpts[k];

			qa_printf(&o, "  %-9s ", qa_rcpt_state(m, r));
			qa_addr(&o, r->dest ? r->dest : r->rcpt);
			if (r->dest != NULL && strcasecmp(r->dest, r->rcpt)) {
				qa_puts(&o, " (for ");
				qa_addr(&o, r->rcpt);
				qa_puts(&o, ")");
			}
			if (r->state != ENV_RCPT_DELIVERED &&
			    r->last_error != NULL) {
				qa_puts(&o, ": ");
				qa_esc(&o, r->last_error);
				qa_rcpt_remote(&o, r);
			}
			qa_puts(&o, "\n");
		}
	}
	qa_printf(&o, "%zu message%s, %zu held\n", n, n == 1 ? "" : "s", held);
	free(v);
	return qa_finish(&o, err, errsz);
}

static const char *
qa_ret_name(unsigned ret)
{
	switch (ret) {
	case SMTP_RET_FULL:
		return "FULL";
	case SMTP_RET_HDRS:
		return "HDRS";
	default:
		return "(not given)";
	}
}

static const char *
qa_body_name(unsigned body)
{
	switch (body) {
	case SMTP_BODY_7BIT:
		return "7BIT";
	case SMTP_BODY_8BITMIME:
		return "8BITMIME";
	default:
		return "(not given)";
	}
}

static void
qa_notify(struct qa_out *o, unsigned notify)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {{SMTP_NOTIFY_NEVER, "NEVER"},
	    {SMTP_NOTIFY_SUCCESS, "SUCCESS"}, {SMTP_NOTIFY_FAILURE, "FAILURE"},
	    {SMTP_NOTIFY_DELAY, "DELAY"}};
	const char *sep = "";
	size_t i;

	if (notify == 0) {
		qa_puts(o, "(not given)");
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(notify & names[i].bit))
			continue;
		qa_printf(o, "%s%s", sep, names[i].name);
		sep = ",";
	}
}

static void
qa_show_flags(struct qa_out *o, uint32_t flags)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {{ENV_RF_DSN_FAILURE_SENT, "failure report sent"},
	    {ENV_RF_DSN_DELAY_SENT, "delay warning sent"},
	    {ENV_RF_DSN_SUCCESS_SENT, "success report sent"},
	    {ENV_RF_RELAYED, "relayed (peer without DSN)"},
	    {ENV_RF_EXPIRED, "expired (queue lifetime)"}};
	const char *sep = "  notes: ";
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].bit))
			continue;
		qa_printf(o, "%s%s", sep, names[i].name);
		sep = ", ";
	}
	if (sep[0] == ',')
		qa_puts(o, "\n");
}

static void
qa_show_rcpt(struct qa_out *o, const struct queue *q, const struct qmsg *m,
    size_t k, int64_t now)
{
	const struct env_rcpt *r = &m->env.rcpts[k];
	char when[64], dur[32];

	qa_puts(o, "recipient: ");
	qa_addr(o, r->dest ? r->dest : r->rcpt);
	qa_printf(o, "\n  state: %s\n  rcpt to: ", qa_rcpt_state(m, r));
	qa_addr(o, r->rcpt);
	qa_puts(o, "\n  orcpt: ");
	if (r->orcpt != NULL)
		qa_esc(o, r->orcpt);
	else
		qa_puts(o, "(not given)");
	qa_puts(o, "\n  notify: ");
	qa_notify(o, r->notify);
	qa_puts(o, "\n  mailbox: ");
	if (r->local) {
		qa_esc(o, r->mbox_domain);
		qa_puts(o, "/");
		qa_esc(o, r->mbox_user);
	} else {
		const char *at = r->dest ? strrchr(r->dest, '@') : NULL;
		qa_puts(o, "(remote, domain ");
		qa_esc(o, at ? at + 1 : "?");
		qa_puts(o, ")");
	}
	qa_printf(o, "\n  attempts: %u\n", r->attempts);
	if (r->state == ENV_RCPT_PENDING && !m->held) {
		if (m->busy[k]) {
			qa_puts(o, "  next attempt: in flight now\n");
		} else if (!(r->local ? q->local_up : q->remote_up)) {
			qa_printf(o,
			    "  next attempt: when the %s delivery "
			    "process is connected\n",
			    r->local ? "local" : "remote");
		} else if (r->next_try <= now) {
			qa_puts(o, "  next attempt: now\n");
		} else {
			qa_time(when, sizeof(when), r->next_try);
			qa_duration(dur, sizeof(dur), r->next_try - now);
			qa_printf(o, "  next attempt: %s (in %s)\n", when, dur);
		}
	}
	if (r->last_try != 0) {
		qa_time(when, sizeof(when), r->last_try);
		qa_duration(dur, sizeof(dur), now - r->last_try);
		qa_printf(o, "  last attempt: %s (%s ago)\n", when, dur);
	}
	if (r->status != NULL) {
		qa_puts(o, "  status: ");
		qa_esc(o, r->status);
		qa_puts(o, "\n");
	}
	if (r->remote_mta != NULL) {
		qa_puts(o, "  remote mta: ");
		qa_esc(o, r->remote_mta);
		qa_puts(o, "\n");
	}
	if (r->last_error != NULL) {
		qa_puts(o, r->state == ENV_RCPT_DELIVERED ? "  last reply: "
							  : "  last error: ");
		qa_esc(o, r->last_error);
		qa_puts(o, "\n");
	}
	qa_show_flags(o, r->flags);
}

/*
 * The header section of m: the lines before the first empty one, as
 * stored (CRLF line ends, folded lines kept as they are).
 */
static void
qa_show_headers(struct queue *q, struct qa_out *o, const struct qmsg *m)
{
	size_t want =
	    m->content_len < QA_HEAD_MAX ? (size_t)m->content_len : QA_HEAD_MAX;
	char *p = xmalloc(want ? want : 1);
	size_t got = 0, i, start;
	bool ended = false;
	int fd;

	qa_puts(o, "headers:\n");
	if (spool_open_message(&q->spool, m->env.qid, &fd) != 0) {
		qa_printf(
		    o, "  (cannot open the message: %s)\n", strerror(errno));
		free(p);
		return;
	}
	while (got < want) {
		ssize_t r = pread(fd, p + got, want - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	for (start = 0, i = 0; i < got && !ended; i++) {
		size_t end;

		if (p[i] != '\n')
			continue;
		end = i > start && p[i - 1] == '\r' ? i - 1 : i;
		if (end == start) {
			ended = true;
			break;
		}
		qa_puts(o, "  ");
		qa_escn(o, p + start, end - start, QA_HEADER_LINE_MAX, true);
		qa_puts(o, "\n");
		start = i + 1;
	}
	if (!ended && got == QA_HEAD_MAX)
		qa_printf(o, "  (header section longer than %d bytes: cut)\n",
		    QA_HEAD_MAX);
	free(p);
}

int
queue_admin_show(
    struct queue *q, const char *qid, struct buf *out, char *err, size_t errsz)
{
	struct qa_out o = {out, false};
	int64_t now = (int64_t)time(NULL);
	const struct envelope *e;
	struct qmsg *m;
	char when[64], age[32];
	size_t k;

	if ((m = qa_find(q, qid, err, errsz)) == NULL)
		return -1;
	e = &m->env;
	qa_time(when, sizeof(when), e->arrival);
	qa_duration(age, sizeof(age), now - e->arrival);
	qa_printf(&o,
	    "id: %s\nstatus: %s\narrival: %s (%s ago)\n"
	    "size: %llu\nsender: ",
	    e->qid,
	    m->removing ? "done, being removed"
	    : m->held   ? "held"
			: "queued",
	    when, age, (unsigned long long)m->content_len);
	qa_addr(&o, e->sender);
	qa_puts(&o, "\nenvid: ");
	if (e->envid != NULL)
		qa_esc(&o, e->envid);
	else
		qa_puts(&o, "(not given)");
	qa_printf(&o,
	    "\nret: %s\nbody: %s\nsmtputf8: %s\nrequiretls: %s\nhelo: ",
	    qa_ret_name(e->ret), qa_body_name(e->body),
	    e->smtputf8 ? "yes" : "no", e->requiretls ? "yes" : "no");
	qa_esc(&o, e->helo);
	qa_puts(&o, "\nclient: ");
	qa_esc(&o, e->client_addr ? e->client_addr : "(local)");
	if (e->client_name != NULL) {
		qa_puts(&o, " ");
		qa_esc(&o, e->client_name);
	}
	qa_puts(&o, "\nprotocol: ");
	qa_esc(&o, e->protocol);
	qa_printf(&o, "\nrecipients: %zu\n", e->nrcpts);
	for (k = 0; k < e->nrcpts; k++)
		qa_show_rcpt(&o, q, m, k, now);
	qa_show_headers(q, &o, m);
	return qa_finish(&o, err, errsz);
}

int
queue_admin_delete(
    struct queue *q, const char *qid, struct buf *out, char *err, size_t errsz)
{
	struct qa_out o = {out, false};
	struct qmsg *m;
	int r;

	if ((m = qa_find_changeable(q, qid, err, errsz)) == NULL)
		return -1;
	r = spool_delete(&q->spool, qid);
	if (r == -1) {
		snprintf(
		    err, errsz, "cannot delete %s: %s", qid, strerror(errno));
		log_err("qid=%s delete: %s", qid, strerror(errno));
		return -1;
	}
	if (r == -2)
		log_err("qid=%s deleted, but the spool sync failed (it may "
			"come back after a crash): %s",
		    qid, strerror(errno));
	log_info("qid=%s deleted by request in_flight=%u", qid, m->in_flight);
	qa_printf(&o, "%s deleted", qid);
	if (m->in_flight > 0)
		qa_printf(&o,
		    " (%u deliveries in flight: their results will "
		    "be ignored)",
		    m->in_flight);
	qa_puts(&o, "\n");
	m->deleted = true;
	queue_ready_unlink(q, m);
	evtimer_del(m->timer);
	if (m->in_flight == 0)
		queue_msg_free(m);
	return qa_finish(&o, err, errsz);
}

int
queue_admin_hold(
    struct queue *q, const char *qid, struct buf *out, char *err, size_t errsz)
{
	struct qa_out o = {out, false};
	struct qmsg *m;

	if ((m = qa_find_changeable(q, qid, err, errsz)) == NULL)
		return -1;
	if (m->held) {
		qa_printf(&o, "%s is already on hold\n", qid);
		return qa_finish(&o, err, errsz);
	}
	if (spool_hold(&q->spool, qid) != 0) {
		snprintf(
		    err, errsz, "cannot hold %s: %s", qid, strerror(errno));
		log_err("qid=%s hold: %s", qid, strerror(errno));
		return -1;
	}
	m->held = true;
	queue_ready_unlink(q, m);
	evtimer_del(m->timer);
	log_info("qid=%s held by request in_flight=%u", qid, m->in_flight);
	qa_printf(&o, "%s held", qid);
	if (m->in_flight > 0)
		qa_printf(&o,
		    " (%u deliveries in flight record their result "
		    "first)",
		    m->in_flight);
	qa_puts(&o, "\n");
	/* State changed while it was ready is saved now, in hold/. */
	queue_msg_check(m);
	return qa_finish(&o, err, errsz);
}

int
queue_admin_release(
    struct queue *q, const char *qid, struct buf *out, char *err, size_t errsz)
{
	struct qa_out o = {out, false};
	struct qmsg *m;

	if ((m = qa_find_changeable(q, qid, err, errsz)) == NULL)
		return -1;
	if (!m->held) {
		snprintf(err, errsz, "message %s is not on hold", qid);
		return -1;
	}
	if (spool_release(&q->spool, qid) != 0) {
		snprintf(
		    err, errsz, "cannot release %s: %s", qid, strerror(errno));
		log_err("qid=%s release: %s", qid, strerror(errno));
		return -1;
	}
	m->held = false;
	log_info("qid=%s released by request", qid);
	qa_printf(&o, "%s released\n", qid);
	queue_msg_ready(m);
	return qa_finish(&o, err, errsz);
}

int
queue_admin_flush(struct queue *q, struct buf *out, char *err, size_t errsz)
{
	struct qa_out o = {out, false};
	unsigned n = queue_flush(q);

	log_info("flush by request deferred=%u", n);
	qa_printf(&o, "%u deferred message%s scheduled for delivery now\n", n,
	    n == 1 ? "" : "s");
	return qa_finish(&o, err, errsz);
}
