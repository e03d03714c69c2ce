/*
 * remote_tls: the remote process's transport-security records and what
 * the delivery code asks of them: remember-TLS (which MX hosts offered
 * STARTTLS and completed a handshake, remote/tlsseen), the MTA-STS
 * policy cache (remote/sts), TLS-RPT counts and the daily reports
 * (remote/tlsrpt), and the `petrel tls ...` control requests. The files
 * live in the working directory, STATE/remote.
 *
 * remember-TLS: a host that completed a handshake within tls-remember
 * and now offers no STARTTLS, or fails the handshake, is a probable
 * downgrade (a middlebox rewriting "250-STARTTLS", a forged certificate
 * the peer's TLS stack refuses is not one: verification is not asked for
 * opportunistic hosts). It is logged as a warning; tls-remember-policy
 * remember defers the host (the next MX is tried), warn goes on in
 * plaintext. The trade-off (docs/operations.md): a receiver that really
 * turned TLS off is deferred until the record ages out or an operator
 * runs `petrel tls forget HOST`.
 */
#include "remote/remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "remote/mta_int.h"
#include "remote/sts.h"
#include "remote/tlsrpt.h"
#include "remote/tlsseen.h"

#define REMOTE_TLSRPT_HOUR_DELAY 300	/* seconds after 00:00 UTC */
#define REMOTE_TLSRPT_FIRST 60		/* first run after start-up */

/* Seconds until the next daily report run (00:05 UTC + jitter). */
static long
remote_tls_next_run(void)
{
	time_t now = time(NULL);

	return (long)(86400 - now % 86400) + REMOTE_TLSRPT_HOUR_DELAY +
	    (long)(arc4random() % 600);
}

struct remote_report_run {
	struct remote *r;
	struct mta_cfg *cfg;	/* referenced for the run: dns, conf */
	void (*done)(void *arg, unsigned nsent);
	void *arg;
};

/* One report of a run: to the queue (tlsrpt_send's arg is the run). */
static void
remote_tls_send_cb(void *arg, const char *sender, const char *const *rcpts,
    size_t nrcpts, const char *msg, size_t len)
{
	struct remote *r = ((struct remote_report_run *)arg)->r;

	if (r->send != NULL)
		r->send(r->send_arg, sender, rcpts, nrcpts, msg, len);
}

static void
remote_tls_run_done(void *arg, unsigned nsent)
{
	struct remote_report_run *run = arg;

	log_info("tlsrpt: %u report%s sent", nsent, nsent == 1 ? "" : "s");
	if (run->done != NULL)
		run->done(run->arg, nsent);
	mta_cfg_unref(run->cfg);
	free(run);
}

/* Sends the reports due (force: today's so far too). */
static void
remote_tls_run(struct remote *r, bool force,
    void (*done)(void *arg, unsigned nsent), void *arg)
{
	struct remote_report_run *run;

	if (r->rpt == NULL || r->cfg == NULL || !r->cfg->env.conf->tlsrpt) {
		if (done != NULL)
			done(arg, 0);
		return;
	}
	run = calloc(1, sizeof(*run));
	if (run == NULL)
		fatal("calloc");
	run->r = r;
	run->cfg = r->cfg;
	run->cfg->refs++;
	run->done = done;
	run->arg = arg;
	/* https: rua are checked against the outbound-ca-file */
	tlsrpt_set_ca(r->rpt, run->cfg->env.ca, run->cfg->env.ca_len);
	tlsrpt_send(r->rpt, run->cfg->dns, run->cfg->env.conf, force,
	    remote_tls_send_cb, remote_tls_run_done, run);
}

static void
remote_tls_timer(evutil_socket_t fd, short what, void *arg)
{
	struct remote *r = arg;
	struct timeval tv = { remote_tls_next_run(), 0 };

	(void)fd;
	(void)what;
	remote_tls_run(r, false, NULL, NULL);
	evtimer_add(r->rpt_timer, &tv);
}

void
remote_tls_open(struct remote *r)
{
	struct timeval first = { REMOTE_TLSRPT_FIRST, 0 };
	char err[512];

	r->seen = tlsseen_open("tls-seen", err, sizeof(err));
	if (r->seen == NULL)
		log_warn("remember-TLS records off: %s", err);
	else
		tlsseen_set_base(r->seen, r->base);
	r->rpt = tlsrpt_open("tlsrpt", err, sizeof(err));
	if (r->rpt == NULL)
		log_warn("TLS-RPT counts off: %s", err);
	else
		tlsrpt_set_base(r->rpt, r->base);
	r->sts = sts_new(r->base, "sts", err, sizeof(err));
	if (r->sts == NULL)
		log_warn("MTA-STS off: %s", err);
	r->rpt_timer = evtimer_new(r->base, remote_tls_timer, r);
	evtimer_add(r->rpt_timer, &first);
}

void
remote_tls_close(struct remote *r)
{
	if (r->rpt_timer != NULL)
		event_free(r->rpt_timer);
	r->rpt_timer = NULL;
	sts_free(r->sts);
	tlsrpt_close(r->rpt);
	tlsseen_close(r->seen);
	r->sts = NULL;
	r->rpt = NULL;
	r->seen = NULL;
}

void
remote_set_sender(struct remote *r, remote_send_fn fn, void *arg)
{
	r->send = fn;
	r->send_arg = arg;
}

bool
mta_tls_downgrade(struct mta_conn *c, const char *what)
{
	const struct conf *cf = c->cfg->env.conf;
	struct remote *r = c->r;
	int64_t last, now = (int64_t)time(NULL);
	char iso[32], host[300], w[400];
	time_t t;
	bool defer;

	if (r->seen == NULL || cf->tls_remember == 0 || c->job == NULL ||
	    c->job->tls_optional)
		return false;
	last = tlsseen_get(r->seen, c->host);
	if (last == 0 || now - last > (int64_t)cf->tls_remember)
		return false;
	t = (time_t)last;
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	defer = cf->tls_remember_policy == CONF_REMEMBER_DEFER;
	log_warn("probable STARTTLS downgrade host=%s last-tls=%s now=\"%s\" "
	    "action=%s relay=%s", log_escape(c->host, strlen(c->host), host,
	    sizeof(host)), iso, log_escape(what, strlen(what), w, sizeof(w)),
	    defer ? "defer" : "plaintext", c->relay);
	return defer;
}

void
mta_tls_seen(struct mta_conn *c)
{
	if (c->r->seen != NULL)
		tlsseen_put(c->r->seen, c->host, (int64_t)time(NULL));
}

void
remote_tls_list(struct remote *r, struct buf *out)
{
	buf_printf(out, "remember-TLS (host, last TLS handshake):\n");
	if (r->seen != NULL)
		tlsseen_list(r->seen, out);
	buf_printf(out, "MTA-STS policies cached:\n");
	if (r->sts != NULL)
		sts_cache_dump(r->sts, out);
}

int
remote_tls_forget(struct remote *r, const char *host)
{
	if (r->seen == NULL)
		return -1;
	if (tlsseen_forget(r->seen, host) != 0)
		return -1;
	tlsseen_flush(r->seen);
	log_info("remember-TLS: %s forgotten (petrel tls forget)", host);
	return 0;
}

void
remote_tls_report(struct remote *r, void (*done)(void *arg, unsigned nsent),
    void *arg)
{
	remote_tls_run(r, true, done, arg);
}
