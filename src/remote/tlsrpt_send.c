/*
 * tlsrpt_send: producing and delivering TLS-RPT reports (see tlsrpt.h).
 * It owns the JSON of a due (period, domain) pair, the mailto: report
 * messages (tlsrpt_report()), and the asynchronous run of tlsrpt_send():
 * the "_smtp._tls.DOMAIN" TXT lookups (TLSRPT_LOOKUPS_MAX at a time) and
 * the https: POSTs through remote/curlev, with the CAs of tlsrpt_set_ca().
 * The counts are tlsrpt.c's: this file reads them through tlsrpt_int.h
 * and marks a domain reported with tlsrpt_period_save() before anything
 * leaves.
 */
#include "remote/tlsrpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/dns_rdata.h"
#include "remote/curlev.h"
#include "remote/dns.h"
#include "remote/tlsrpt_int.h"

#define TLSRPT_TXT_RR_MAX 32 /* TXT records looked at per answer */

void
tlsrpt_set_ca(struct tlsrpt *t, const char *pem, size_t len)
{
	free(t->ca);
	t->ca = NULL;
	t->ca_len = 0;
	if (pem != NULL && len > 0) {
		t->ca = xmalloc(len);
		memcpy(t->ca, pem, len);
		t->ca_len = len;
	}
}

static int
tlsrpt_dom_json(const struct tlsrpt_period *p, const struct tlsrpt_dom *d,
    const char *org, const char *contact, const char *report_id,
    struct buf *out)
{
	struct tlsrpt_policy pols[TLSRPT_POLICIES_MAX];
	struct tlsrpt_failure *fails[TLSRPT_POLICIES_MAX] = {NULL};
	struct tlsrpt_report r;
	size_t i, k;
	int rc;

	for (i = 0; i < d->npols; i++) {
		const struct tlsrpt_pol *pl = &d->pols[i];

		fails[i] = xcalloc(pl->nrows + 1, sizeof(*fails[i]));
		for (k = 0; k < pl->nrows; k++) {
			fails[i][k].result = pl->rows[k].result;
			fails[i][k].sending_ip = pl->rows[k].sending_ip;
			fails[i][k].receiving_mx = pl->rows[k].receiving_mx;
			fails[i][k].receiving_ip = pl->rows[k].receiving_ip;
			fails[i][k].reason = pl->rows[k].reason;
			fails[i][k].count = pl->rows[k].count;
		}
		pols[i].ptype = pl->ptype;
		pols[i].domain = d->domain;
		pols[i].strings = (const char *const *)pl->strings;
		pols[i].nstrings = pl->nstrings;
		pols[i].nsuccess = pl->nsuccess;
		pols[i].nfailure = pl->nfailure;
		pols[i].failures = fails[i];
		pols[i].nfailures = pl->nrows;
	}
	r.org_name = org;
	r.contact = contact;
	r.report_id = report_id;
	r.start = p->start;
	r.end = p->end - 1; /* inclusive, as RFC 8460 4.4's example */
	r.policies = pols;
	r.npolicies = d->npols;
	rc = tlsrpt_json(&r, out);
	for (i = 0; i < d->npols; i++)
		free(fails[i]);
	return rc;
}

int
tlsrpt_report_json(const struct tlsrpt *t, const struct tlsrpt_due *due,
    const char *org, const char *contact, const char *report_id,
    struct buf *out)
{
	struct tlsrpt_period *p;
	struct tlsrpt_dom *d = tlsrpt_due_dom(t, due, &p);

	if (d == NULL)
		return -1;
	return tlsrpt_dom_json(p, d, org, contact, report_id, out);
}

/* One report on its way to https: destinations (shared by its POSTs). */
struct tlsrpt_rep {
	struct tlsrpt_run *run;
	char domain[254];
	char period[TLSRPT_NAME_MAX];
	char report_id[400];
	struct buf gz;    /* the body of every POST */
	unsigned pending; /* POSTs not finished */
	unsigned taken;   /* destinations (mail or https) that took it */
};

static void tlsrpt_post_start(
    struct tlsrpt_rep *rep, const struct tlsrpt_rua *rua);
static void tlsrpt_rep_unref(struct tlsrpt_rep *rep);

/*
 * tlsrpt_report() with the run it belongs to: with a run, https: rua are
 * posted (the POSTs finish later, from the loop); without one they are
 * skipped with a log line.
 */
static int
tlsrpt_report_do(struct tlsrpt *t, const struct tlsrpt_due *due,
    const struct tlsrpt_record *rec, const char *org, const char *contact,
    int64_t now, tlsrpt_send_fn send, void *arg, struct tlsrpt_run *run)
{
	char rnd[17], report_id[400], msgid[400];
	unsigned char bytes[8];
	struct tlsrpt_period *p;
	struct tlsrpt_dom *d = tlsrpt_due_dom(t, due, &p);
	struct tlsrpt_mail m;
	struct tlsrpt_rep *rep = NULL;
	struct buf json, gz, msg;
	size_t i;
	int nsent = 0;

	if (d == NULL || d->done)
		return -1;
	arc4random_buf(bytes, sizeof(bytes));
	for (i = 0; i < sizeof(bytes); i++)
		snprintf(rnd + 2 * i, 3, "%02x", bytes[i]);
	snprintf(report_id, sizeof(report_id), "%s.%s.%s@%s", p->name,
	    d->domain, rnd, org);
	buf_init(&json, TLSRPT_MSG_MAX * 8);
	buf_init(&gz, TLSRPT_MSG_MAX);
	buf_init(&msg, TLSRPT_MSG_MAX);
	if (tlsrpt_dom_json(p, d, org, contact, report_id, &json) != 0 ||
	    tlsrpt_gzip(json.data, json.len, &gz) != 0) {
		tlsrpt_drop(t, due, "report too large");
		nsent = -1;
		goto out;
	}
	/* never twice: the mark is on disk before anything leaves */
	d->done = true;
	if (tlsrpt_period_save(t, p, true) != 0) {
		d->done = false;
		p->dirty = true;
		nsent = -1;
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.from = contact;
	m.policy_domain = d->domain;
	m.submitter = org;
	m.report_id = report_id;
	m.now = now;
	m.start = p->start;
	m.end = p->end - 1;
	m.unique_id = rnd;
	m.gz = gz.data;
	m.gzlen = gz.len;
	for (i = 0; i < rec->nrua; i++) {
		const struct tlsrpt_rua *rua = &rec->rua[i];
		const char *rcpt = rua->addr;

		if (rua->kind != TLSRPT_RUA_MAILTO) {
			if (run == NULL) {
				log_info("tlsrpt: domain=%s period=%s rua=%s "
					 "skipped: https reports are posted "
					 "by tlsrpt_send() only",
				    d->domain, p->name, rua->uri);
			}
			continue;
		}
		snprintf(msgid, sizeof(msgid), "tlsrpt.%s.%zu@%s", rnd, i, org);
		m.to = rua->addr;
		m.message_id = msgid;
		buf_reset(&msg);
		if (tlsrpt_mail_compose(&m, &msg) != 0) {
			log_warn("tlsrpt: domain=%s period=%s to=<%s> "
				 "action=dropped reason=\"cannot compose the "
				 "message\"",
			    d->domain, p->name, rua->addr);
			continue;
		}
		log_info("tlsrpt: domain=%s period=%s to=<%s> report-id=%s "
			 "action=sent size=%zu",
		    d->domain, p->name, rua->addr, report_id, msg.len);
		send(arg, contact, &rcpt, 1, msg.data, msg.len);
		nsent++;
	}
	if (run == NULL)
		goto out;
	/* the https: rua, all at once; the report lives until the last */
	rep = xcalloc(1, sizeof(*rep));
	rep->run = run;
	memcpy(rep->domain, d->domain, strlen(d->domain) + 1);
	memcpy(rep->period, p->name, sizeof(rep->period));
	memcpy(rep->report_id, report_id, sizeof(rep->report_id));
	rep->gz = gz; /* moved */
	buf_init(&gz, 1);
	rep->taken = (unsigned)nsent;
	rep->pending = 1; /* held while starting */
	for (i = 0; i < rec->nrua; i++) {
		if (rec->rua[i].kind == TLSRPT_RUA_HTTPS)
			tlsrpt_post_start(rep, &rec->rua[i]);
	}
	tlsrpt_rep_unref(rep);
out:
	buf_clear(&json);
	buf_clear(&gz);
	buf_clear(&msg);
	return nsent;
}

int
tlsrpt_report(struct tlsrpt *t, const struct tlsrpt_due *due,
    const struct tlsrpt_record *rec, const char *org, const char *contact,
    int64_t now, tlsrpt_send_fn send, void *arg)
{
	return tlsrpt_report_do(
	    t, due, rec, org, contact, now, send, arg, NULL);
}

/* ---- the asynchronous run ---- */

struct tlsrpt_job {
	struct tlsrpt_run *run;
	struct tlsrpt_due due;
	struct dns_lookup *l;
};

struct tlsrpt_run {
	struct tlsrpt *t;
	struct dns *dns;
	char *org, *contact;
	tlsrpt_send_fn send;
	void (*done)(void *arg, unsigned nsent);
	void *arg;
	int64_t now;
	struct tlsrpt_job *jobs;
	size_t njobs, next, running;
	unsigned nsent;
	struct event *ev; /* done() from the loop when nothing to look up */
	bool refused;     /* a second run while one was in progress */
	struct tlsrpt_run *next_refused;
	char *ca; /* the CA PEM of the run's POSTs (a copy) */
	size_t ca_len;
	TAILQ_HEAD(, tlsrpt_post) posts; /* running */
	unsigned ndelivered; /* reports that a destination took */
};

/* ---- https: destinations (RFC 8460 5.4) ---- */

/* One POST of a report to one https: rua. */
struct tlsrpt_post {
	struct tlsrpt_rep *rep;
	TAILQ_ENTRY(tlsrpt_post) entry; /* in run->posts */
	char url[TLSRPT_URI_MAX + 1];
	char host[TLSRPT_URI_MAX + 1]; /* as libcurl reads it from url */
	char port[8];
	struct dns_query *q;
	CURL *easy;
	struct curl_slist *resolve, *headers;
	size_t got; /* response body bytes (discarded) */
	char err[CURL_ERROR_SIZE];
};

static void
tlsrpt_post_free(struct tlsrpt_post *po)
{
	struct tlsrpt_run *run = po->rep->run;

	if (po->q != NULL)
		dns_cancel(po->q);
	if (po->easy != NULL) {
		curlev_remove(run->t->curl, po->easy);
		curl_easy_cleanup(po->easy);
	}
	curl_slist_free_all(po->resolve);
	curl_slist_free_all(po->headers);
	TAILQ_REMOVE(&run->posts, po, entry);
	free(po);
}

static void
tlsrpt_run_free(struct tlsrpt_run *run)
{
	size_t i;

	for (i = 0; i < run->njobs; i++) {
		if (run->jobs[i].l != NULL)
			dns_lookup_cancel(run->jobs[i].l);
	}
	/* abandoned POSTs: their reports go with the last of them */
	while (!TAILQ_EMPTY(&run->posts)) {
		struct tlsrpt_post *po = TAILQ_FIRST(&run->posts);
		struct tlsrpt_rep *rep = po->rep;

		tlsrpt_post_free(po);
		if (--rep->pending == 0) {
			buf_clear(&rep->gz);
			free(rep);
		}
	}
	if (run->ev != NULL)
		event_free(run->ev);
	free(run->ca);
	free(run->jobs);
	free(run->org);
	free(run->contact);
	free(run);
}

static void
tlsrpt_run_finish(struct tlsrpt_run *run)
{
	struct tlsrpt *t = run->t;
	void (*done)(void *, unsigned) = run->done;
	void *arg = run->arg;
	unsigned nsent = run->nsent;
	struct tlsrpt_run **pp;

	if (run->refused) {
		for (pp = &t->refused; *pp != run; pp = &(*pp)->next_refused)
			;
		*pp = run->next_refused;
	} else {
		tlsrpt_gc(t, run->now);
		tlsrpt_flush(t);
		t->run = NULL;
		log_info("tlsrpt: reports sent=%u delivered=%u domains=%zu",
		    nsent, run->ndelivered, run->njobs);
	}
	tlsrpt_run_free(run);
	if (done != NULL)
		done(arg, nsent);
}

static void
tlsrpt_run_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tlsrpt_run_finish(arg);
}

static void tlsrpt_run_next(struct tlsrpt_run *run);

/* A report's last destination finished: logged when none took it. */
static void
tlsrpt_rep_unref(struct tlsrpt_rep *rep)
{
	if (--rep->pending > 0)
		return;
	if (rep->taken > 0) {
		rep->run->ndelivered++;
	} else {
		log_warn("tlsrpt: domain=%s period=%s report-id=%s "
			 "action=undelivered reason=\"no destination took "
			 "the report\"",
		    rep->domain, rep->period, rep->report_id);
	}
	buf_clear(&rep->gz);
	free(rep);
}

/* Ends po: logged (status 0: no HTTP answer), counted, freed; the run
 * may finish. */
static void
tlsrpt_post_end(struct tlsrpt_post *po, long status, const char *why)
{
	struct tlsrpt_rep *rep = po->rep;
	struct tlsrpt_run *run = rep->run;
	char safe[CURL_ERROR_SIZE * 4];

	if (why == NULL) {
		log_info("tlsrpt: domain=%s period=%s to=%s report-id=%s "
			 "action=posted status=%ld",
		    rep->domain, rep->period, po->url, rep->report_id, status);
		rep->taken++;
		run->nsent++;
	} else {
		log_warn("tlsrpt: domain=%s period=%s to=%s report-id=%s "
			 "action=failed status=%ld reason=\"%s\"",
		    rep->domain, rep->period, po->url, rep->report_id, status,
		    log_escape(why, strlen(why), safe, sizeof(safe)));
	}
	tlsrpt_post_free(po);
	tlsrpt_rep_unref(rep);
	tlsrpt_run_next(run);
}

static size_t
tlsrpt_post_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct tlsrpt_post *po = arg;
	size_t n = size * nmemb;

	(void)p;
	po->got += n;
	return po->got > TLSRPT_RESPONSE_MAX ? 0 : n; /* 0: stop reading */
}

/* curlev's callback: the POST ended. RFC 8460 5.4: a 2xx answer is
 * success, anything else a failure. */
static void
tlsrpt_post_done(CURL *easy, CURLcode rc, void *arg)
{
	struct tlsrpt_post *po = arg;
	long status = 0;
	char why[CURL_ERROR_SIZE + 64];

	(void)curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	/* an answer that is too long is still an answer */
	if (rc != CURLE_OK &&
	    !(rc == CURLE_WRITE_ERROR && po->got > TLSRPT_RESPONSE_MAX &&
		status > 0)) {
		snprintf(why, sizeof(why), "%s",
		    po->err[0] ? po->err : curl_easy_strerror(rc));
		tlsrpt_post_end(po, status, why);
		return;
	}
	if (status < 200 || status > 299) {
		snprintf(why, sizeof(why), "HTTP status %ld%s", status,
		    status >= 300 && status < 400
			? " (redirects are not followed)"
			: "");
		tlsrpt_post_end(po, status, why);
		return;
	}
	tlsrpt_post_end(po, status, NULL);
}

/* The addresses of the URL's host arrived: pin them, start the POST. */
static void
tlsrpt_post_addrs(struct dns_route *r, void *arg)
{
	struct tlsrpt_post *po = arg;
	struct tlsrpt_run *run = po->rep->run;
	const struct dns_host *h = r->nhosts > 0 ? &r->hosts[0] : NULL;
	char err[TLSRPT_URI_MAX + DNS_ERR_MAX + 32];

	po->q = NULL;
	if (h == NULL || h->naddrs == 0) {
		snprintf(err, sizeof(err), "no address: %s",
		    h != NULL && h->error[0] ? h->error : r->error);
		dns_route_free(r);
		tlsrpt_post_end(po, 0, err);
		return;
	}
	po->resolve = curlev_pin(po->host, po->port, h);
	dns_route_free(r);
	po->headers = curl_slist_append(
	    NULL, "Content-Type: application/tlsrpt+gzip");
	if (po->headers != NULL) /* no "100 Continue" round trip */
		po->headers = curl_slist_append(po->headers, "Expect:");
	if (po->resolve == NULL || po->headers == NULL ||
	    (po->easy = curlev_https(po->url, po->resolve, run->ca,
	    run->ca_len, (long)TLSRPT_POST_TIMEOUT, po->err)) == NULL) {
		tlsrpt_post_end(po, 0, "cannot set up libcurl");
		return;
	}
	(void)curl_easy_setopt(po->easy, CURLOPT_POST, 1L);
	(void)curl_easy_setopt(po->easy, CURLOPT_POSTFIELDS, po->rep->gz.data);
	(void)curl_easy_setopt(po->easy, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)po->rep->gz.len);
	(void)curl_easy_setopt(po->easy, CURLOPT_HTTPHEADER, po->headers);
	(void)curl_easy_setopt(
	    po->easy, CURLOPT_WRITEFUNCTION, tlsrpt_post_write);
	(void)curl_easy_setopt(po->easy, CURLOPT_WRITEDATA, po);
	snprintf(err, sizeof(err), "no event loop");
	if (run->t->curl == NULL && run->t->base != NULL)
		run->t->curl = curlev_new(run->t->base, err, sizeof(err));
	if (run->t->curl == NULL ||
	    curlev_add(run->t->curl, po->easy, tlsrpt_post_done, po, err,
		sizeof(err)) != 0) {
		curl_easy_cleanup(po->easy);
		po->easy = NULL;
		tlsrpt_post_end(po, 0, err);
	}
}

int
tlsrpt_https_target(const char *uri, char *host, size_t hostsz,
    char *port, size_t portsz)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *p = NULL;
	int rc = -1;

	if (u == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, uri, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0 ||
	    curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) !=
		CURLUE_OK ||
	    h[0] == '\0' || strlen(h) >= hostsz || strlen(p) >= portsz)
		goto out;
	memcpy(host, h, strlen(h) + 1);
	memcpy(port, p, strlen(p) + 1);
	rc = 0;
out:
	curl_free(scheme);
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

/* Starts the POST of rep to rua: the host's addresses first. A failure
 * to start is logged at once. */
static void
tlsrpt_post_start(struct tlsrpt_rep *rep, const struct tlsrpt_rua *rua)
{
	struct tlsrpt_run *run = rep->run;
	struct tlsrpt_post *po = xcalloc(1, sizeof(*po));
	char name[TLSRPT_URI_MAX + 1];
	size_t n;

	po->rep = rep;
	memcpy(po->url, rua->uri, sizeof(po->url));
	TAILQ_INSERT_TAIL(&run->posts, po, entry);
	rep->pending++;
	if (tlsrpt_https_target(po->url, po->host, sizeof(po->host), po->port,
		sizeof(po->port)) != 0) {
		tlsrpt_post_end(po, 0, "not a usable https: URL");
		return;
	}
	/* an IPv6 literal comes in brackets; dns_host() takes it bare */
	n = strlen(po->host);
	if (po->host[0] == '[' && n > 2 && po->host[n - 1] == ']') {
		memcpy(name, po->host + 1, n - 2);
		name[n - 2] = '\0';
	} else {
		memcpy(name, po->host, n + 1);
	}
	po->q = dns_host(run->dns, name, tlsrpt_post_addrs, po);
}

static void
tlsrpt_job_answer(const struct dns_answer *a, void *arg)
{
	struct tlsrpt_job *job = arg;
	struct tlsrpt_run *run = job->run;
	struct tlsrpt *t = run->t;
	struct tlsrpt_record rec;
	struct span txts[TLSRPT_TXT_RR_MAX];
	char *bufs[TLSRPT_TXT_RR_MAX] = {NULL};
	size_t i, n = 0, len;
	int rc;

	job->l = NULL;
	if (a->status == DNS_OK) {
		for (i = 0; i < a->nrr && n < TLSRPT_TXT_RR_MAX; i++) {
			/* the text is never longer than the rdata */
			bufs[n] = xmalloc(a->rr[i].n + 1);
			if (dns_rdata_txt(
				span_make((const char *)a->rr[i].p, a->rr[i].n),
				bufs[n], a->rr[i].n + 1, &len) != DNS_RDATA_OK)
				continue;
			txts[n] = span_make(bufs[n], len);
			n++;
		}
		rc = tlsrpt_record_select(txts, n, &rec);
		if (rc == TLSRPT_REC_OK) {
			int k = tlsrpt_report_do(t, &job->due, &rec,
			    run->org, run->contact, run->now, run->send,
			    run->arg, run);

			if (k > 0)
				run->nsent += (unsigned)k;
		} else {
			tlsrpt_drop(t, &job->due, tlsrpt_rec_strerror(rc));
		}
		for (i = 0; i < TLSRPT_TXT_RR_MAX; i++)
			free(bufs[i]);
	} else if (a->status == DNS_PERM) {
		tlsrpt_drop(t, &job->due, "no TLSRPT record (NXDOMAIN)");
	} else if (job->due.end <=
		   run->now - (int64_t)TLSRPT_RETRY_DAYS * TLSRPT_DAY) {
		tlsrpt_drop(t, &job->due, a->error);
	} else {
		log_info("tlsrpt: domain=%s action=retry reason=\"%s\"",
		    job->due.domain, a->error);
	}
	/* counted as running until here: a POST that fails at once must
	 * not finish the run under our feet */
	run->running--;
	tlsrpt_run_next(run);
}

/* Starts lookups up to the limit; finishes the run when all are done. */
static void
tlsrpt_run_next(struct tlsrpt_run *run)
{
	char qname[300];

	while (run->running < TLSRPT_LOOKUPS_MAX && run->next < run->njobs) {
		struct tlsrpt_job *job = &run->jobs[run->next++];

		snprintf(
		    qname, sizeof(qname), "_smtp._tls.%s", job->due.domain);
		run->running++;
		job->l = dns_lookup(run->dns, qname, DNS_RDATA_TYPE_TXT,
		    tlsrpt_job_answer, job);
	}
	if (run->running == 0 && run->next == run->njobs &&
	    TAILQ_EMPTY(&run->posts))
		tlsrpt_run_finish(run);
}

static size_t
tlsrpt_count_due(const struct tlsrpt *t)
{
	size_t i, k, n = 0;

	for (i = 0; i < t->nperiods; i++) {
		for (k = 0; k < t->periods[i]->ndoms; k++)
			n += !t->periods[i]->doms[k]->done;
	}
	return n;
}

void
tlsrpt_send(struct tlsrpt *t, struct dns *dns, const struct conf *conf,
    bool force, tlsrpt_send_fn send, void (*done)(void *arg, unsigned nsent),
    void *arg)
{
	struct tlsrpt_run *run;
	struct tlsrpt_due *due;
	struct timeval tv = {0, 0};
	size_t n, i;
	int64_t now = (int64_t)time(NULL);

	run = xcalloc(1, sizeof(*run));
	TAILQ_INIT(&run->posts);
	run->t = t;
	run->dns = dns;
	if (t->ca_len > 0) {
		run->ca = xmalloc(t->ca_len);
		memcpy(run->ca, t->ca, t->ca_len);
		run->ca_len = t->ca_len;
	}
	run->send = send;
	run->done = done;
	run->arg = arg;
	run->now = now;
	run->org =
	    xstrdup(conf->hostname != NULL ? conf->hostname : "localhost");
	if (conf->tlsrpt_contact != NULL)
		run->contact = xstrdup(conf->tlsrpt_contact);
	else if (asprintf(&run->contact, "postmaster@%s", run->org) < 0)
		fatal("asprintf");
	if (t->run != NULL) {
		/* one run at a time: this one ends at once, empty */
		log_info("tlsrpt: a report run is already in progress");
		run->refused = true;
		run->next_refused = t->refused;
		t->refused = run;
	} else {
		t->run = run;
		if (force)
			tlsrpt_cut(t, now);
		n = tlsrpt_count_due(t);
		due = xcalloc(n + 1, sizeof(*due));
		run->njobs = tlsrpt_due(t, now, due, n);
		run->jobs = xcalloc(run->njobs + 1, sizeof(*run->jobs));
		for (i = 0; i < run->njobs; i++) {
			run->jobs[i].run = run;
			run->jobs[i].due = due[i];
		}
		free(due);
		if (run->njobs > 0) {
			/* lookup answers always come later, from the loop */
			tlsrpt_run_next(run);
			return;
		}
	}
	/* nothing to look up: done() still comes from the loop */
	if (t->base != NULL) {
		run->ev = event_new(t->base, -1, 0, tlsrpt_run_finish_cb, run);
		event_add(run->ev, &tv);
		return;
	}
	tlsrpt_run_finish(run);
}

void
tlsrpt_send_abandon(struct tlsrpt *t)
{
	if (t->run != NULL)
		tlsrpt_run_free(t->run);
	while (t->refused != NULL) {
		struct tlsrpt_run *r = t->refused;

		t->refused = r->next_refused;
		tlsrpt_run_free(r);
	}
}
