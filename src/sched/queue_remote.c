/*
 * queue_remote: the queue side of outbound delivery. Owns how remote
 * recipients are grouped into deliveries for the remote process, the
 * concurrency limits, and how a delivery's per-recipient results are
 * recorded. The remote process does the network work; nothing here
 * blocks.
 *
 * A remote recipient (env_rcpt.local == false) is due when it is pending,
 * not in flight and its next_try has come. queue_remote_pump takes the due
 * recipients of one message and groups them by the lower-cased domain of
 * their final address (dest): one delivery per domain, at most
 * QUEUE_REMOTE_RCPT_MAX recipients (more make several deliveries), so
 * recipients at one destination travel in one SMTP transaction. Limits:
 *   - conf->remote_concurrency deliveries in flight in all;
 *   - conf->destination_concurrency in flight per domain (struct qdomain,
 *     counted from hand-out to result, freed at zero).
 * A recipient kept back by a limit stays due; its message stays on the
 * ready list and the next pump (after any result) tries again.
 *
 * Results (queue_remote_result), per recipient:
 *   OK    delivered (ENV_RF_RELAYED when the peer had no DSN extension);
 *   TEMP  retried after queue_backoff(attempts); once the message is older
 *         than queue_lifetime, failed instead (ENV_RF_EXPIRED; the status
 *         and diagnostic stay those of the last attempt);
 *   PERM  failed.
 * Status, diagnostic (ENV_RF_DIAG_SMTP when it is the peer's reply),
 * remote MTA and the attempt's time are kept in the envelope for the
 * reports (queue_dsn.c) and `petrel queue show`.
 *
 * ORCPT (RFC 3461 5.2.1): a recipient received without one is handed to
 * remote with "rfc822;" and its RCPT address as xtext, so a DSN-capable
 * peer's report names the address the sender wrote, not what an alias
 * made of it (remote passes DSN parameters only to peers with DSN).
 *
 * When the remote process goes away, its deliveries in flight have an
 * unknown outcome: the recipients become due again without an attempt
 * counted and are sent once a remote process is back. A recipient may
 * then get the message twice, if remote died after the peer's 250 to the
 * final dot and before the result reached us; nothing else repeats a
 * remote delivery.
 */
#include "sched/queue.h"
#include "sched/queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/smtp_param.h"

/*
 * Bytes of addresses in one delivery. IMSG_R_DELIVER must fit an IPC
 * message (64 KiB): 50 recipients of the longest addresses the envelope
 * may hold would not, so a delivery also stops at this many bytes.
 */
#define QUEUE_REMOTE_BYTES_MAX (40 * 1024)

bool
queue_rcpt_remote_pending(const struct env_rcpt *r)
{
	return !r->local && r->state == ENV_RCPT_PENDING;
}

/*
 * The lower-cased domain of addr (after its last '@') into out (256
 * bytes). -1 when there is none or it is too long.
 */
static int
queue_remote_domain(const char *addr, char *out)
{
	const char *at = addr != NULL ? strrchr(addr, '@') : NULL;
	size_t i, n;

	out[0] = '\0';
	if (at == NULL || at[1] == '\0' || (n = strlen(at + 1)) > 255)
		return -1;
	for (i = 0; i < n; i++) {
		char c = at[1 + i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	return 0;
}

static unsigned
queue_domain_hash(const char *name)
{
	unsigned h = 5381;

	while (*name != '\0')
		h = h * 33 + (unsigned char)*name++;
	return h % QUEUE_DOMAIN_BUCKETS;
}

/* The in-flight count of a domain, created at zero when absent. */
static struct qdomain *
queue_domain_get(struct queue *q, const char *name)
{
	struct qdomain **pp = &q->domains[queue_domain_hash(name)], *d;

	for (d = *pp; d != NULL; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->next = *pp;
	*pp = d;
	return d;
}

/* Frees d when nothing is in flight to it. */
static void
queue_domain_release(struct queue *q, struct qdomain *d)
{
	struct qdomain **pp = &q->domains[queue_domain_hash(d->name)];

	if (d->in_flight > 0)
		return;
	while (*pp != d)
		pp = &(*pp)->next;
	*pp = d->next;
	free(d);
}

/* One delivery to d is over. */
static void
queue_domain_put(struct queue *q, struct qdomain *d)
{
	if (d->in_flight == 0)
		fatalx("queue: domain %s has nothing in flight", d->name);
	d->in_flight--;
	queue_domain_release(q, d);
}

/*
 * RFC 3461 5.2.1: "If no ORCPT parameter was present in the RCPT command
 * when the message was received, an ORCPT parameter MAY be added to the
 * RCPT command when the message is relayed. If an ORCPT parameter is
 * added by the relaying MTA, it MUST contain the recipient address from
 * the RCPT command used when the message was received by that MTA."
 * 4.2: orcpt-parameter = "ORCPT=" original-recipient-address,
 * original-recipient-address = addr-type ";" xtext; at most 500 chars.
 * xtext (4): xchar (33..126 except "+" and "=") or "+" 2HEXCHAR.
 * Writes "rfc822;XTEXT" of rcpt into out (SMTP_ORCPT_MAX + 1 bytes) and
 * returns true, or false for a non-ASCII address (that would need RFC
 * 6533's utf-8-addr-xtext) or one too long.
 */
static bool
queue_remote_orcpt(const char *rcpt, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 7;

	memcpy(out, "rfc822;", o);
	for (; *rcpt != '\0'; rcpt++) {
		unsigned char c = (unsigned char)*rcpt;

		if (c >= 0x80 || o + 3 > SMTP_ORCPT_MAX)
			return false;
		if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			out[o++] = (char)c;
		} else {
			out[o++] = '+';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xF];
		}
	}
	out[o] = '\0';
	return true;
}

static bool
queue_remote_due(const struct qmsg *m, size_t i, int64_t now)
{
	const struct env_rcpt *r = &m->env.rcpts[i];

	return !m->busy[i] && queue_rcpt_remote_pending(r) &&
	       r->next_try <= now;
}

/*
 * Sends one delivery: the n recipients idx[] of m, all for domain d.
 * Returns false when the remote process could not be reached (nothing is
 * then in flight; queue_remote_lost follows from the channel).
 */
static bool
queue_remote_send(struct queue *q, struct qmsg *m, struct qdomain *d,
    const unsigned *idx, unsigned n, int64_t now)
{
	struct queue_remote_rcpt rr[QUEUE_REMOTE_RCPT_MAX];
	struct queue_remote_delivery rd;
	struct qdelivery *qd;
	char (*orcpt)[SMTP_ORCPT_MAX + 1];
	unsigned k;
	bool sent;
	int fd;

	if (spool_open_content(&q->spool, m->env.qid, &fd) != 0) {
		/* This message only: retry it later, go on with others. */
		log_err("qid=%s cannot open content: %s", m->env.qid,
		    strerror(errno));
		for (k = 0; k < n; k++) {
			struct env_rcpt *r = &m->env.rcpts[idx[k]];
			r->attempts++;
			r->next_try = now + queue_backoff(q->conf, r->attempts);
			envelope_set_str(
			    &r->last_error, "cannot open queue file");
		}
		m->dirty = true;
		return true;
	}
	memset(&rd, 0, sizeof(rd));
	rd.qid = m->env.qid;
	rd.domain = d->name;
	rd.sender = m->env.sender;
	rd.envid = m->env.envid;
	rd.ret = m->env.ret;
	rd.body = m->env.body;
	rd.smtputf8 = m->env.smtputf8;
	rd.requiretls = m->env.requiretls;
	rd.content_len = m->content_len;
	rd.nrcpts = n;
	rd.rcpts = rr;
	orcpt = xcalloc(n, sizeof(*orcpt));
	for (k = 0; k < n; k++) {
		const struct env_rcpt *r = &m->env.rcpts[idx[k]];
		rr[k].rcpt = idx[k];
		rr[k].dest = r->dest;
		rr[k].orcpt = r->orcpt;
		if (r->orcpt == NULL && r->rcpt != NULL &&
		    queue_remote_orcpt(r->rcpt, orcpt[k]))
			rr[k].orcpt = orcpt[k];
		rr[k].notify = r->notify;
	}
	qd = xcalloc(1, sizeof(*qd));
	qd->did = ++q->next_did;
	qd->m = m;
	qd->remote = true;
	qd->nrcpts = n;
	qd->rcpts = xcalloc(n, sizeof(*qd->rcpts));
	memcpy(qd->rcpts, idx, n * sizeof(*idx));
	qd->dom = d;
	clock_gettime(CLOCK_MONOTONIC, &qd->started);
	sent = q->ops->remote_deliver != NULL &&
	       q->ops->remote_deliver(q->arg, qd->did, &rd, fd);
	free(orcpt);
	if (!sent) {
		close(fd);
		free(qd->rcpts);
		free(qd);
		return false;
	}
	close(fd);
	queue_delivery_put(q, qd);
	for (k = 0; k < n; k++)
		m->busy[idx[k]] = true;
	m->in_flight++;
	q->remote_in_flight++;
	d->in_flight++;
	return true;
}

bool
queue_remote_pump(struct queue *q, struct qmsg *m, int64_t now)
{
	unsigned idx[QUEUE_REMOTE_RCPT_MAX];
	bool held = false;
	size_t i, j;

	if (!q->remote_up)
		return false; /* queue_remote_ready brings it back */
	for (i = 0; i < m->env.nrcpts; i++) {
		char dom[256], other[256];
		struct qdomain *d;
		size_t bytes;
		unsigned n;

		if (!queue_remote_due(m, i, now))
			continue;
		if (q->remote_in_flight >= q->conf->remote_concurrency)
			return true;
		if (queue_remote_domain(m->env.rcpts[i].dest, dom) != 0) {
			/* Cannot happen for an address we accepted. */
			struct env_rcpt *r = &m->env.rcpts[i];
			log_warn("qid=%s to=<%s> no destination domain",
			    m->env.qid, r->dest ? r->dest : "");
			r->state = ENV_RCPT_FAILED;
			r->last_try = now;
			envelope_set_str(&r->status, "5.1.3");
			envelope_set_str(&r->last_error,
			    "5.1.3 no domain in the destination address");
			m->dirty = true;
			continue;
		}
		d = queue_domain_get(q, dom);
		if (d->in_flight >= q->conf->destination_concurrency) {
			/* Its other recipients get here too and wait. */
			queue_domain_release(q, d);
			held = true;
			continue;
		}
		/* This recipient and the next due ones of the same domain. */
		n = 0;
		bytes = 0;
		for (j = i; j < m->env.nrcpts && n < QUEUE_REMOTE_RCPT_MAX;
		     j++) {
			const struct env_rcpt *r = &m->env.rcpts[j];
			size_t b;

			if (!queue_remote_due(m, j, now))
				continue;
			if (j != i &&
			    (queue_remote_domain(r->dest, other) != 0 ||
				strcmp(other, dom) != 0))
				continue;
			/* an added ORCPT: at most SMTP_ORCPT_MAX */
			b = strlen(r->dest) +
			    (r->orcpt ? strlen(r->orcpt) : SMTP_ORCPT_MAX) + 32;
			if (n > 0 && bytes + b > QUEUE_REMOTE_BYTES_MAX)
				break;
			bytes += b;
			idx[n++] = (unsigned)j;
		}
		if (!queue_remote_send(q, m, d, idx, n, now)) {
			/* Broken channel: wait for queue_remote_ready. */
			queue_domain_release(q, d);
			q->remote_up = false;
			return false;
		}
		/* Nothing sent when the content could not be opened. */
		queue_domain_release(q, d);
	}
	return held;
}

/* The log word and state change for one recipient's result. */
static const char *
queue_remote_record(struct queue *q, struct qmsg *m, struct env_rcpt *r,
    const struct queue_remote_result *res, const char *remote_mta, int64_t now)
{
	double age = difftime((time_t)now, (time_t)m->env.arrival);

	r->attempts++;
	r->last_try = now;
	envelope_set_str(&r->status, res->status);
	envelope_set_str(&r->remote_mta, remote_mta);
	envelope_set_str(&r->last_error, res->diagnostic);
	r->flags &= ~(ENV_RF_DIAG_SMTP | ENV_RF_RELAYED);
	if (res->flags & QUEUE_REMOTE_F_SMTP)
		r->flags |= ENV_RF_DIAG_SMTP;
	m->dirty = true;
	switch (res->result) {
	case QUEUE_REMOTE_OK:
		r->state = ENV_RCPT_DELIVERED;
		if (res->flags & QUEUE_REMOTE_F_RELAYED) {
			r->flags |= ENV_RF_RELAYED;
			return "sent (relayed to a peer without DSN)";
		}
		return "sent";
	case QUEUE_REMOTE_PERM:
		r->state = ENV_RCPT_FAILED;
		return "bounced";
	default:
		if (age > (double)q->conf->queue_lifetime) {
			r->state = ENV_RCPT_FAILED;
			r->flags |= ENV_RF_EXPIRED;
			return "bounced (queue lifetime expired)";
		}
		r->next_try = now + queue_backoff(q->conf, r->attempts);
		return "deferred";
	}
}

/*
 * A delivery is over (result or lost process): frees it and lets its
 * message go on (saved, rescheduled, removed, or freed if deleted).
 */
static void
queue_remote_release(struct queue *q, struct qdelivery *qd)
{
	struct qmsg *m = qd->m;

	queue_domain_put(q, qd->dom);
	free(qd->rcpts);
	free(qd);
	if (m->deleted) {
		if (m->in_flight == 0)
			queue_msg_free(m);
	} else {
		queue_msg_check(m);
	}
}

void
queue_remote_result(struct queue *q, uint64_t did, const char *remote_mta,
    unsigned n, const struct queue_remote_result *results)
{
	struct qdelivery *qd = queue_delivery_take(q, did);
	int64_t now = (int64_t)time(NULL);
	struct timespec ts;
	struct qmsg *m;
	double delay;
	unsigned k;

	if (qd == NULL || !qd->remote)
		fatalx("remote: result for unknown delivery %llu",
		    (unsigned long long)did);
	if (n != qd->nrcpts)
		fatalx("remote: delivery %llu: %u results for %u recipients",
		    (unsigned long long)did, n, qd->nrcpts);
	for (k = 0; k < n; k++) {
		if (results[k].rcpt != qd->rcpts[k])
			fatalx("remote: delivery %llu: result %u is for "
			       "recipient %u, not %u",
			    (unsigned long long)did, k, results[k].rcpt,
			    qd->rcpts[k]);
		if (results[k].result > QUEUE_REMOTE_PERM)
			fatalx("remote: delivery %llu: bad result %u",
			    (unsigned long long)did, results[k].result);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	delay = (double)(ts.tv_sec - qd->started.tv_sec) +
		(double)(ts.tv_nsec - qd->started.tv_nsec) / 1e9;
	m = qd->m;
	q->remote_in_flight--;
	m->in_flight--;
	for (k = 0; k < n; k++)
		m->busy[qd->rcpts[k]] = false;
	if (m->deleted) {
		log_info("qid=%s remote delivery of %u recipients: results "
			 "ignored: message deleted",
		    m->env.qid, n);
	} else {
		for (k = 0; k < n; k++) {
			struct env_rcpt *r = &m->env.rcpts[qd->rcpts[k]];
			const char *status = queue_remote_record(
			    q, m, r, &results[k], remote_mta, now);
			char esc[600];

			log_escape(
			    results[k].diagnostic ? results[k].diagnostic : "",
			    results[k].diagnostic
				? strlen(results[k].diagnostic)
				: 0,
			    esc, sizeof(esc));
			log_info("qid=%s to=<%s> orig_to=<%s> relay=%s "
				 "delay=%.3f age=%.0f attempts=%u code=%s "
				 "status=%s (%s)",
			    m->env.qid, r->dest, r->rcpt,
			    remote_mta ? remote_mta : qd->dom->name, delay,
			    difftime((time_t)now, (time_t)m->env.arrival),
			    r->attempts,
			    results[k].status ? results[k].status : "", status,
			    esc);
		}
	}
	/* After the log lines: they name the domain when no host answered. */
	queue_remote_release(q, qd);
	queue_pump(q);
}

void
queue_remote_lost(struct queue *q)
{
	unsigned i;

	q->remote_up = false;
	for (i = 0; i < QUEUE_BUCKETS; i++) {
		struct qdelivery **pp = &q->deliveries[i], *qd;

		while ((qd = *pp) != NULL) {
			struct qmsg *m = qd->m;
			unsigned k;

			if (!qd->remote) {
				pp = &qd->hnext;
				continue;
			}
			*pp = qd->hnext;
			/*
			 * Unknown outcome: no attempt counted, still due;
			 * sent again when a remote process is back.
			 */
			log_warn("qid=%s remote delivery to %s of %u "
				 "recipients lost with the remote process; "
				 "will retry",
			    m->env.qid, qd->dom->name, qd->nrcpts);
			for (k = 0; k < qd->nrcpts; k++)
				m->busy[qd->rcpts[k]] = false;
			m->in_flight--;
			q->remote_in_flight--;
			queue_remote_release(q, qd);
		}
	}
}

void
queue_remote_ready(struct queue *q)
{
	struct qmsg *m;
	size_t i;

	q->remote_up = true;
	/* What waited for a remote process is scheduled again. */
	for (m = q->msgs; m != NULL; m = m->next) {
		if (m->removing || m->held || m->deleted || m->ready)
			continue;
		for (i = 0; i < m->env.nrcpts; i++) {
			if (queue_rcpt_remote_pending(&m->env.rcpts[i])) {
				queue_msg_ready(m);
				break;
			}
		}
	}
	queue_pump(q);
}
