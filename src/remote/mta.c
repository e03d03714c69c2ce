/*
 * mta: jobs, routes and connections of outbound delivery (see remote.h).
 *
 * A job's route is the smarthost or the MX hosts of its domain (RFC 5321
 * 5.1, through remote/dns), each with its addresses. They are tried in
 * order: a connection that fails (refused, timeout, greeting or EHLO
 * refused, TLS required and missing, a 421) moves on to the next address
 * and host; the recipients a transaction settles keep their result. When
 * the route is exhausted the rest are deferred with the last reason. A
 * transaction's recipients are settled by the peer's replies: 2xx
 * delivered, 4xx deferred, 5xx bounced.
 *
 * Host-level refusals: a 5xx greeting, or 5xx to EHLO and to HELO, means
 * the host will not take mail from us at all (RFC 5321 3.1, 4.2.1: "554"
 * at connection time, "the SMTP client SHOULD NOT repeat the exact
 * request"). The next host is tried; when the last host tried refused
 * like that and no host failed temporarily (no timeout, refused
 * connection, 4xx, failed DNS lookup of a host), the rest bounce with
 * that reply, as Postfix does; otherwise they are deferred.
 *
 * Loops: an MX whose name is our hostname, or whose address and port are
 * one of our listeners, would hand the message back to us; that is a
 * permanent error (5.4.6), as in Postfix ("mail loops back to myself").
 *
 * TLS policy "may": when a handshake fails, the same address is tried once
 * more in plaintext (opportunistic TLS must not make mail undeliverable);
 * "encrypt" and "verify" move on to the next host instead.
 *
 * Connection reuse: after a transaction the connection waits up to
 * MTA_IDLE_SECONDS for the next job to the same destination (the queue
 * sends jobs for one domain back to back), at most MTA_REUSE_MAX times.
 */
#include "remote/remote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/rfc5322.h"
#include "remote/dane.h"
#include "remote/dns.h"
#include "remote/mta_int.h"
#include "remote/sts.h"
#include "remote/tlsrpt.h"
#include "tls/tls.h"

struct mta_route {
	struct remote *r;
	struct mta_cfg *cfg;
	struct mta_host hosts[MTA_HOSTS_MAX];
	size_t nhosts, ihost, iaddr;
	unsigned port;
	bool smarthost;
	enum conf_tls_policy policy;
	bool dane;			/* TLSA lookups for secure hosts */
	bool sts_on;			/* MTA-STS discovery for the domain */
	bool resolved;			/* hosts known, waiting for MTA-STS */
	struct dns_query *dnsq;
	struct dane_query *daneq;
	struct sts_query *stsq;
	enum sts_status sts;		/* the domain's MTA-STS policy */
	struct mta_sts_policy sts_policy;
	char sts_id[MTA_STS_ID_MAX + 1];
	struct mta_conn *conn;		/* the connection working on it */
	char status[16];		/* last failure */
	char diag[REMOTE_DIAG_MAX + 1];
	bool diag_smtp;
	bool last_perm;			/* last failure: a host-level 5xx */
	bool temp_seen;			/* a host failed temporarily */
	char relay[340];
	char tls[200];
	enum mta_security security;	/* of the last host tried */
};

static void mta_try_next(struct remote_job *j);
static void mta_host_failed_errno(struct mta_conn *c, const char *what);

/* ---- configurations ---- */

void
mta_cfg_unref(struct mta_cfg *cfg)
{
	if (cfg == NULL || --cfg->refs > 0)
		return;
	dns_free(cfg->dns);
	SSL_CTX_free(cfg->tls);
	SSL_CTX_free(cfg->tls_sts);
	explicit_bzero(cfg->relay_pass, sizeof(cfg->relay_pass));
	if (cfg->env.release != NULL)
		cfg->env.release(cfg->env.owner);
	free(cfg);
}

/* "user:password" on the first line; the password may hold ':'. */
static int
mta_parse_relay_auth(struct mta_cfg *cfg, const char *s, size_t n,
    char *err, size_t errsz)
{
	const char *nl = memchr(s, '\n', n), *colon;
	size_t len = nl ? (size_t)(nl - s) : n, ul, pl;

	if (len > 0 && s[len - 1] == '\r')
		len--;
	colon = memchr(s, ':', len);
	if (colon == NULL || colon == s) {
		snprintf(err, errsz, "smarthost-auth: expected USER:PASSWORD "
		    "on the first line");
		return -1;
	}
	ul = (size_t)(colon - s);
	pl = len - ul - 1;
	if (ul >= sizeof(cfg->relay_user) || pl >= sizeof(cfg->relay_pass) ||
	    pl == 0) {
		snprintf(err, errsz, "smarthost-auth: user or password empty "
		    "or too long");
		return -1;
	}
	memcpy(cfg->relay_user, s, ul);
	cfg->relay_user[ul] = '\0';
	memcpy(cfg->relay_pass, colon + 1, pl);
	cfg->relay_pass[pl] = '\0';
	if (memchr(cfg->relay_user, '\0', ul) != NULL ||
	    memchr(cfg->relay_pass, '\0', pl) != NULL) {
		snprintf(err, errsz, "smarthost-auth: NUL byte");
		return -1;
	}
	cfg->relay_auth = true;
	return 0;
}

struct remote *
remote_new(struct event_base *base, remote_done_fn done, void *arg)
{
	struct remote *r = xcalloc(1, sizeof(*r));

	r->base = base;
	r->done = done;
	r->arg = arg;
	remote_tls_open(r);
	return r;
}

/*
 * The start-up probe: with DNSSEC validation on, a resolver that strips
 * signatures (some home routers, some cloud resolvers) makes every answer
 * bogus and all outbound mail waits. Say so once, plainly.
 */
static void
mta_dnssec_probe_done(const struct dns_answer *a, void *arg)
{
	(void)arg;
	if (a->sec == DNS_SEC_BOGUS)
		log_warn("DNSSEC validation fails for a probe lookup (%s): the "
		    "DNS servers used probably strip DNSSEC, and mail to other "
		    "domains will wait; see dns-resolver in docs/config.md (%s)",
		    a->qname, a->error);
}

int
remote_configure(struct remote *r, const struct remote_env *env, char *err,
    size_t errsz)
{
	struct mta_cfg *cfg = xcalloc(1, sizeof(*cfg));

	cfg->refs = 1;
	cfg->env = *env;
	cfg->env.release = NULL;	/* not ours until we succeed */
	if (env->relay_auth_len > 0 && mta_parse_relay_auth(cfg,
	    env->relay_auth, env->relay_auth_len, err, errsz) != 0)
		goto fail;
	cfg->tls = tls_client_ctx_new(env->ca, env->ca_len, err, errsz);
	if (cfg->tls == NULL)
		goto fail;
	if (dane_ctx_enable(cfg->tls) != 0) {
		snprintf(err, errsz, "OpenSSL DANE support failed");
		goto fail;
	}
	if (env->sts_ca != NULL && env->sts_ca_len > 0) {
		cfg->tls_sts = tls_client_ctx_new(env->sts_ca,
		    env->sts_ca_len, err, errsz);
		if (cfg->tls_sts == NULL)
			goto fail;
	} else {
		SSL_CTX_up_ref(cfg->tls);
		cfg->tls_sts = cfg->tls;
	}
	cfg->dns = dns_new(r->base, env->conf, env->resolv, env->resolv_len,
	    env->ta, env->ta_len, err, errsz);
	if (cfg->dns == NULL)
		goto fail;
	cfg->env.release = env->release;
	if (env->ta_len > 0 && env->conf->smarthost == NULL)
		(void)dns_lookup(cfg->dns, "com", DNS_RDATA_TYPE_SOA,
		    mta_dnssec_probe_done, NULL);
	mta_cfg_unref(r->cfg);
	r->cfg = cfg;
	return 0;
fail:
	mta_cfg_unref(cfg);
	return -1;
}

bool
remote_unconfigured(const struct remote *r)
{
	return r->cfg == NULL;
}

/* ---- addresses ---- */

static socklen_t
mta_salen(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
}

/* "192.0.2.1" or "2001:db8::1". */
static void
mta_addr_text(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	const void *a = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	if (inet_ntop(ss->ss_family, a, out, (socklen_t)outsz) == NULL)
		snprintf(out, outsz, "?");
}

/* True if addr:port is one of our own listeners (a mail loop). */
static bool
mta_is_self(const struct conf *cf, const struct sockaddr_storage *ss)
{
	size_t i;

	for (i = 0; i < cf->nlisteners; i++) {
		const struct sockaddr_storage *l = &cf->listeners[i].addr;
		if (l->ss_family != ss->ss_family)
			continue;
		if (l->ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)l;
			const struct sockaddr_in *b = (const void *)ss;
			if (a->sin_port == b->sin_port &&
			    (a->sin_addr.s_addr == b->sin_addr.s_addr ||
			    a->sin_addr.s_addr == htonl(INADDR_ANY)))
				return true;
		} else {
			const struct sockaddr_in6 *a = (const void *)l;
			const struct sockaddr_in6 *b = (const void *)ss;
			if (a->sin6_port == b->sin6_port &&
			    (memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0 ||
			    IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr)))
				return true;
		}
	}
	return false;
}

/* ---- jobs ---- */

static double
mta_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Every recipient has its result: log, report, forget. */
static void
mta_job_finish(struct remote_job *j)
{
	struct mta_route *rt = j->route;
	struct remote *r = rt->r;
	double delay = mta_now() - j->started;
	size_t i;

	if (rt->dnsq != NULL)
		dns_cancel(rt->dnsq);
	dane_cancel(rt->daneq);
	sts_cancel(rt->stsq);
	for (i = 0; i < rt->nhosts; i++)
		dane_host_free(rt->hosts[i].dane);
	for (i = 0; i < j->nrcpts; i++) {
		struct remote_rcpt *rc = &j->rcpts[i];
		char to[300], diag[REMOTE_DIAG_MAX * 2];

		if (!rc->done)
			mta_rcpt_result(rc, REMOTE_TEMP,
			    rt->status[0] ? rt->status : "4.4.0",
			    rt->diag[0] ? rt->diag :
			    "no route to the destination", rt->diag_smtp ?
			    REMOTE_F_SMTP : 0);
		log_escape(rc->dest, strlen(rc->dest), to, sizeof(to));
		log_escape(rc->diag, strlen(rc->diag), diag, sizeof(diag));
		log_info("qid=%s to=<%s> relay=%s delay=%.3f tls=%s "
		    "security=%s code=%s status=%s (%s)", j->qid, to,
		    rt->relay[0] ? rt->relay : "none", delay,
		    rt->tls[0] ? rt->tls : "none",
		    mta_security_name(rt->security), rc->status,
		    rc->result == REMOTE_OK ? "sent" : rc->result ==
		    REMOTE_TEMP ? "deferred" : "bounced", diag);
	}
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		r->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	j->next = j->prev = NULL;
	mta_cfg_unref(rt->cfg);
	free(rt);
	j->route = NULL;
	r->done(r->arg, j);
}

static bool
mta_all_done(const struct remote_job *j)
{
	size_t i;

	for (i = 0; i < j->nrcpts; i++)
		if (!j->rcpts[i].done)
			return false;
	return true;
}

/* Records why the route could not be used (for the deferral). */
static void
mta_route_error(struct mta_route *rt, const char *status, const char *diag,
    bool smtp)
{
	snprintf(rt->status, sizeof(rt->status), "%s", status);
	snprintf(rt->diag, sizeof(rt->diag), "%s", diag);
	rt->diag_smtp = smtp;
}

/* The DNS answer for the job's route. */
static void
mta_resolved(struct dns_route *res, void *arg)
{
	struct remote_job *j = arg;
	struct mta_route *rt = j->route;
	size_t i, k;

	rt->dnsq = NULL;
	if (res->status != DNS_OK) {
		char diag[REMOTE_DIAG_MAX + 1];
		bool perm = res->status == DNS_PERM;

		snprintf(diag, sizeof(diag), "%.255s: %.255s", rt->smarthost ?
		    rt->cfg->env.conf->smarthost : j->domain, res->error);
		for (i = 0; i < j->nrcpts; i++)
			if (!j->rcpts[i].done)
				mta_rcpt_result(&j->rcpts[i], perm ?
				    REMOTE_PERM : REMOTE_TEMP,
				    res->enhanced[0] ? res->enhanced : perm ?
				    "5.4.4" : "4.4.3", diag, 0);
		dns_route_free(res);
		mta_job_finish(j);
		return;
	}
	for (i = 0; i < res->nhosts && rt->nhosts < MTA_HOSTS_MAX; i++) {
		const struct dns_host *h = &res->hosts[i];
		struct mta_host *mh = &rt->hosts[rt->nhosts];

		snprintf(mh->name, sizeof(mh->name), "%s", h->name);
		snprintf(mh->canon, sizeof(mh->canon), "%s", h->canon);
		mh->sec = h->sec;
		mh->naddrs = 0;
		for (k = 0; k < h->naddrs && mh->naddrs < MTA_ADDRS_MAX; k++)
			if (dns_addr_sockaddr(&h->addrs[k], rt->port,
			    &mh->addr[mh->naddrs]) > 0)
				mh->naddrs++;
		if (mh->naddrs == 0 && h->error[0] != '\0')
			mta_route_error(rt, "4.4.3", h->error, false);
		if (mh->naddrs == 0 && h->status == DNS_TEMP)
			rt->temp_seen = true;
		rt->nhosts++;
	}
	dns_route_free(res);
	rt->resolved = true;
	if (rt->stsq == NULL)
		mta_try_next(j);
}

/* The domain's MTA-STS policy (or none): with the hosts, go on. */
static void
mta_sts_done(const struct sts_result *res, void *arg)
{
	struct remote_job *j = arg;
	struct mta_route *rt = j->route;

	rt->stsq = NULL;
	rt->sts = res->status;
	if (res->status == STS_OK)
		rt->sts_policy = res->policy;
	snprintf(rt->sts_id, sizeof(rt->sts_id), "%s", res->id);
	if (res->status != STS_NONE || res->error[0] != '\0')
		log_info("domain=%s mta-sts=%s id=%s mode=%s%s%s%s", j->domain,
		    res->status == STS_OK ? (res->cached ? "cached" :
		    "fetched") : res->status == STS_FAIL ? "unavailable" :
		    "none", res->id[0] ? res->id : "-",
		    res->status == STS_OK ? mta_sts_mode_name(res->policy.mode) :
		    "-", res->error[0] ? " error=\"" : "", res->error,
		    res->error[0] ? "\"" : "");
	if (res->failure != NULL)
		mta_tls_report_sts(j, res->failure, res->error);
	if (rt->resolved)
		mta_try_next(j);
}

/* Starts the lookup of the job's route. */
static void
mta_route_start(struct remote_job *j)
{
	struct mta_route *rt = j->route;
	const struct conf *cf = rt->cfg->env.conf;

	/* A second lookup (a stale reused connection): forget the first. */
	for (size_t i = 0; i < rt->nhosts; i++) {
		dane_host_free(rt->hosts[i].dane);
		memset(&rt->hosts[i], 0, sizeof(rt->hosts[i]));
	}
	rt->nhosts = rt->ihost = rt->iaddr = 0;
	rt->last_perm = rt->temp_seen = false;
	rt->resolved = false;
	rt->sts = STS_NONE;
	if (rt->sts_on && rt->stsq == NULL && rt->r->sts != NULL) {
		const struct remote_env *env = &rt->cfg->env;
		rt->stsq = sts_get(rt->r->sts, rt->cfg->dns, env->sts_ca_len ?
		    env->sts_ca : env->ca, env->sts_ca_len ? env->sts_ca_len :
		    env->ca_len, j->domain, mta_sts_done, j);
	}
	rt->dnsq = rt->smarthost ?
	    dns_host(rt->cfg->dns, cf->smarthost, mta_resolved, j) :
	    dns_mx(rt->cfg->dns, j->domain, mta_resolved, j);
}

/* A new connection for the job to addr of host h. */
static void
mta_connect(struct remote_job *j, struct mta_host *h,
    const struct sockaddr_storage *addr)
{
	struct mta_route *rt = j->route;
	const struct conf *cf = rt->cfg->env.conf;
	const struct sockaddr_storage *src = addr->ss_family == AF_INET ?
	    &cf->source4 : &cf->source6;
	struct mta_conn *c = xcalloc(1, sizeof(*c));
	char a[64];

	c->r = rt->r;
	c->base = rt->r->base;
	c->cfg = rt->cfg;
	c->cfg->refs++;
	c->job = j;
	c->sa = *addr;
	c->salen = mta_salen(addr);
	c->security = h->security;
	c->policy = h->security == MTA_SEC_NONE ? CONF_TLS_NONE :
	    h->security == MTA_SEC_VERIFY || h->security == MTA_SEC_STS ?
	    CONF_TLS_VERIFY : h->security == MTA_SEC_ENCRYPT ||
	    h->security == MTA_SEC_DANE ? CONF_TLS_ENCRYPT :
	    h->security == MTA_SEC_SMARTHOST ? rt->policy : CONF_TLS_MAY;
	c->dane = h->security == MTA_SEC_DANE ? h->dane : NULL;
	rt->security = h->security;
	c->smarthost = rt->smarthost;
	c->no_tls = h->no_tls;
	c->implicit_tls = rt->smarthost &&
	    cf->smarthost_tls == CONF_SMARTHOST_IMPLICIT;
	c->fd = -1;
	snprintf(c->key, sizeof(c->key), "%s", rt->smarthost ? "[smarthost]" :
	    j->domain);
	snprintf(c->host, sizeof(c->host), "%s", h->name);
	mta_addr_text(addr, a, sizeof(a));
	snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", h->name, a,
	    rt->smarthost ? cf->smarthost_port : cf->remote_port);
	rt->conn = c;
	snprintf(rt->relay, sizeof(rt->relay), "%s", c->relay);
	rt->tls[0] = '\0';
	c->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		mta_host_failed_errno(c, "socket");
		return;
	}
	if (src->ss_family != 0 && bind(c->fd, (const struct sockaddr *)src,
	    mta_salen(src)) != 0) {
		mta_host_failed_errno(c, "bind to outbound-source");
		return;
	}
	mta_session_start(c);
}

static void mta_dane_done(struct dane_host *dh, void *arg);

/*
 * Chooses how host h of j's route is secured (the order of RFC 8461 2:
 * the operator's explicit policy, DANE, MTA-STS, then opportunistic).
 * Returns true when a TLSA lookup must answer first (mta_dane_done then
 * comes back here).
 */
static bool
mta_host_decide(struct remote_job *j, struct mta_host *h)
{
	struct mta_route *rt = j->route;
	struct tls_decide_in in;
	struct tls_decision d;

	memset(&in, 0, sizeof(in));
	in.host = h->name;
	in.domain = j->domain;
	in.smarthost = rt->smarthost;
	in.policy = rt->policy;
	in.dane_on = rt->dane;
	in.sec = h->sec;
	in.dane = h->dane;
	in.sts = rt->sts == STS_OK ? &rt->sts_policy : NULL;
	in.sts_id = rt->sts_id;
	in.tls_optional = j->tls_optional;
	in.requiretls = j->requiretls;
	if (tls_decide_needs_dane(&in)) {
		rt->daneq = dane_lookup(rt->cfg->dns, h->name, h->canon,
		    mta_dane_done, j);
		return true;
	}
	tls_decide(&in, &d);
	h->decided = true;
	h->security = d.security;
	h->skip = d.skip;
	if (d.skip) {
		mta_route_error(rt, d.status, d.diag, false);
		/* REQUIRETLS impossible is for good; the rest may pass. */
		rt->last_perm = d.status[0] == '5';
		if (!rt->last_perm)
			rt->temp_seen = true;
		if (d.tlsrpt != NULL)
			mta_tls_report_host(j, h, d.tlsrpt_sec, d.tlsrpt,
			    h->dane != NULL ? h->dane->why : d.why);
	}
	log_info("domain=%s mx=%s security=%s reason=\"%s\"%s", j->domain,
	    h->name, d.skip ? "unusable" : mta_security_name(d.security),
	    d.why, d.skip ? " action=skip" : "");
	return false;
}

/* The TLSA answer for the host being tried. */
static void
mta_dane_done(struct dane_host *dh, void *arg)
{
	struct remote_job *j = arg;
	struct mta_route *rt = j->route;

	rt->daneq = NULL;
	rt->hosts[rt->ihost].dane = dh;
	mta_try_next(j);
}

/* Tries the next address of the route, or ends the job. */
static void
mta_try_next(struct remote_job *j)
{
	struct mta_route *rt = j->route;
	const struct conf *cf = rt->cfg->env.conf;

	while (rt->ihost < rt->nhosts) {
		struct mta_host *h = &rt->hosts[rt->ihost];
		struct sockaddr_storage *a;

		if (rt->iaddr == 0 && h->naddrs > 0 && !h->decided &&
		    mta_host_decide(j, h))
			return;
		if (rt->iaddr >= h->naddrs || h->skip) {
			rt->ihost++;
			rt->iaddr = 0;
			continue;
		}
		a = &h->addr[rt->iaddr++];
		if (!rt->smarthost && (strcasecmp(h->name, cf->hostname) == 0 ||
		    mta_is_self(cf, a))) {
			char diag[REMOTE_DIAG_MAX + 1];
			size_t i;

			snprintf(diag, sizeof(diag), "mail for %s loops back to "
			    "myself (MX %s)", j->domain, h->name);
			for (i = 0; i < j->nrcpts; i++)
				if (!j->rcpts[i].done)
					mta_rcpt_result(&j->rcpts[i],
					    REMOTE_PERM, "5.4.6", diag, 0);
			mta_job_finish(j);
			return;
		}
		mta_connect(j, h, a);
		return;
	}
	if (rt->last_perm && !rt->temp_seen) {
		/* Every host refused us for good: bounce (see the top). */
		size_t i;

		for (i = 0; i < j->nrcpts; i++)
			if (!j->rcpts[i].done)
				mta_rcpt_result(&j->rcpts[i], REMOTE_PERM,
				    rt->status, rt->diag, rt->diag_smtp ?
				    REMOTE_F_SMTP : 0);
	}
	mta_job_finish(j);
}

/* ---- TLS-RPT (RFC 8460) ---- */

/* "192.0.2.1" of a socket's own or peer address, "" when unknown. */
static void
mta_sock_text(int fd, bool peer, char *out, size_t outsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	out[0] = '\0';
	if (fd >= 0 && (peer ? getpeername(fd, (struct sockaddr *)&ss, &len) :
	    getsockname(fd, (struct sockaddr *)&ss, &len)) == 0)
		mta_addr_text(&ss, out, outsz);
}

static void
mta_tls_record(struct remote_job *j, const char *mx,
    enum mta_security sec, const struct dane_host *dh, int fd,
    const char *result, const char *reason)
{
	struct mta_route *rt = j->route;
	struct remote *r = rt->r;
	char strs[MTA_STS_MX_MAX + 4][MTA_STS_STRING_MAX];
	const char *ptr[MTA_STS_MX_MAX + 4];
	char sip[64], rip[64];
	struct tlsrpt_event ev;
	size_t i, n = 0;

	if (r->rpt == NULL || !rt->cfg->env.conf->tlsrpt || rt->smarthost ||
	    j->tlsrpt_msg)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.policy_domain = j->domain;
	ev.ptype = TLSRPT_NO_POLICY;
	if (sec == MTA_SEC_DANE && dh != NULL) {
		ev.ptype = TLSRPT_TLSA;
		for (i = 0; i < dh->n && n < MTA_STS_MX_MAX + 4; i++)
			dane_tlsa_text(&dh->rr[i], strs[n++], sizeof(strs[0]));
	} else if ((sec == MTA_SEC_STS || sec == MTA_SEC_STS_TESTING) &&
	    rt->sts == STS_OK) {
		ev.ptype = TLSRPT_STS;
		n = mta_sts_policy_strings(&rt->sts_policy, strs,
		    MTA_STS_MX_MAX + 4);
	}
	for (i = 0; i < n; i++)
		ptr[i] = strs[i];
	ev.policy_strings = ptr;
	ev.npolicy_strings = n;
	ev.mx_host = mx;
	mta_sock_text(fd, false, sip, sizeof(sip));
	mta_sock_text(fd, true, rip, sizeof(rip));
	ev.sending_ip = sip;
	ev.receiving_ip = rip;
	ev.result = TLSRPT_SUCCESS;
	if (result != NULL && tlsrpt_result_parse(span_cstr(result),
	    &ev.result) != 0)
		ev.result = TLSRPT_VALIDATION_FAILURE;
	ev.reason = reason;
	tlsrpt_record(r->rpt, &ev, (int64_t)time(NULL));
}

void
mta_tls_report_conn(struct mta_conn *c, const char *result,
    const char *reason)
{
	if (c->job != NULL)
		mta_tls_record(c->job, c->host, c->security,
		    c->security == MTA_SEC_DANE ? c->dane : NULL, c->fd,
		    result, reason);
}

void
mta_tls_report_host(struct remote_job *j, const struct mta_host *h,
    enum mta_security sec, const char *result, const char *reason)
{
	mta_tls_record(j, h->name, sec, h->dane, -1, result, reason);
}

void
mta_tls_report_sts(struct remote_job *j, const char *result,
    const char *reason)
{
	mta_tls_record(j, "", MTA_SEC_STS, NULL, -1, result, reason);
}

/* Reads the message's header: "TLS-Required: No" (RFC 8689 5). */
static void
mta_read_header(struct remote_job *j)
{
	char buf[16384], val[16], dom[1024];
	ssize_t n;

	j->tls_optional = j->tlsrpt_msg = false;
	/* RFC 8689 5: REQUIRETLS must not make a report (from <>) vanish. */
	if (j->requiretls && j->sender[0] == '\0')
		j->requiretls = false;
	n = pread(j->fd, buf, j->content_len < sizeof(buf) ?
	    (size_t)j->content_len : sizeof(buf), 0);
	if (n <= 0)
		return;
	/* RFC 8460 5.3: reports go despite TLS failures, uncounted. */
	j->tlsrpt_msg = rfc5322_field_value(buf, (size_t)n,
	    "TLS-Report-Domain", dom, sizeof(dom));
	if (j->requiretls)	/* the parameter wins (RFC 8689 4.1) */
		return;
	if (j->tlsrpt_msg || (rfc5322_field_value(buf, (size_t)n,
	    "TLS-Required", val, sizeof(val)) && strcasecmp(val, "No") == 0))
		j->tls_optional = true;
}

void
remote_deliver(struct remote *r, struct remote_job *j)
{
	struct mta_route *rt = xcalloc(1, sizeof(*rt));
	const struct conf *cf;
	struct mta_conn **pp, *c;
	char key[300];

	if (r->cfg == NULL)
		fatalx("remote: a job before the configuration");
	j->route = rt;
	j->started = mta_now();
	mta_read_header(j);
	rt->r = r;
	rt->cfg = r->cfg;
	rt->cfg->refs++;
	cf = rt->cfg->env.conf;
	rt->smarthost = cf->smarthost != NULL;
	rt->port = rt->smarthost ? cf->smarthost_port : cf->remote_port;
	rt->policy = rt->smarthost ? (cf->smarthost_tls ==
	    CONF_SMARTHOST_NONE ? CONF_TLS_NONE : cf->smarthost_verify ?
	    CONF_TLS_VERIFY : CONF_TLS_ENCRYPT) :
	    conf_tls_policy_for(cf, j->domain);
	rt->dane = !rt->smarthost && cf->dane && rt->cfg->env.ta_len > 0 &&
	    (rt->policy == CONF_TLS_MAY || rt->policy == CONF_TLS_ENCRYPT);
	rt->sts_on = !rt->smarthost && cf->mta_sts &&
	    (rt->policy == CONF_TLS_MAY || rt->policy == CONF_TLS_ENCRYPT);
	j->next = r->jobs;
	j->prev = NULL;
	if (r->jobs != NULL)
		r->jobs->prev = j;
	r->jobs = j;
	/* An idle connection to the same destination, same configuration. */
	snprintf(key, sizeof(key), "%s", rt->smarthost ? "[smarthost]" :
	    j->domain);
	for (pp = &r->idle; (c = *pp) != NULL; pp = &c->next) {
		if (c->cfg != rt->cfg || strcmp(c->key, key) != 0)
			continue;
		if (j->requiretls && (!c->ehlo.requiretls ||
		    (c->security != MTA_SEC_DANE &&
		    c->security != MTA_SEC_STS)))
			continue;
		*pp = c->next;
		c->next = NULL;
		r->nidle--;
		evtimer_del(c->idle_timer);
		c->job = j;
		rt->conn = c;
		snprintf(rt->relay, sizeof(rt->relay), "%s", c->relay);
		snprintf(rt->tls, sizeof(rt->tls), "%s", c->tls_info);
		rt->security = c->security;
		c->reused = true;
		mta_session_txn(c);
		return;
	}
	mta_route_start(j);
}

/* ---- what sessions report ---- */

void
mta_host_failed(struct mta_conn *c, const char *status, const char *diag,
    bool smtp)
{
	struct remote_job *j = c->job;
	struct mta_route *rt;
	bool reused = c->reused;

	c->job = NULL;
	if (j == NULL) {
		mta_conn_free(c);
		return;
	}
	rt = j->route;
	rt->conn = NULL;

	mta_route_error(rt, status, diag, smtp);
	if (smtp) {
		/* The reply is this host's: its Remote-MTA in a report. */
		snprintf(j->remote_mta, sizeof(j->remote_mta), "%s", c->host);
	}
	/*
	 * A 5xx reply to the greeting, EHLO or HELO refuses the session;
	 * so does our own permanent verdict on the host (REQUIRETLS
	 * impossible, 5.7.30). Other 5xx replies (AUTH, STARTTLS) defer.
	 */
	rt->last_perm = status[0] == '5' && (!smtp ||
	    c->state == MTA_S_GREETING || c->state == MTA_S_EHLO ||
	    c->state == MTA_S_HELO);
	if (!rt->last_perm)
		rt->temp_seen = true;
	if (c->tls_failed && c->policy == CONF_TLS_MAY && !c->no_tls &&
	    !c->downgrade &&
	    rt->ihost < rt->nhosts && rt->iaddr > 0) {
		/* Once more in plaintext, same address. */
		rt->hosts[rt->ihost].no_tls = true;
		rt->iaddr--;
	}
	mta_conn_free(c);
	if (reused) {
		/* A stale reused connection: look the route up afresh. */
		mta_route_start(j);
		return;
	}
	mta_try_next(j);
}

/* Frees the connection after a failure of syscall what (before any I/O). */
static void
mta_host_failed_errno(struct mta_conn *c, const char *what)
{
	char diag[REMOTE_DIAG_MAX + 1];

	snprintf(diag, sizeof(diag), "%s: %s: %s", c->relay, what,
	    strerror(errno));
	log_warn("relay=%s %s: %s", c->relay, what, strerror(errno));
	mta_host_failed(c, "4.4.0", diag, false);
}

static void
mta_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mta_conn *c = arg;

	(void)fd;
	(void)what;
	mta_session_quit(c);
}

void
mta_txn_done(struct mta_conn *c, bool reusable)
{
	struct remote_job *j = c->job;
	struct remote *r = c->r;
	struct mta_route *rt = j->route;

	c->job = NULL;
	rt->conn = NULL;
	snprintf(j->remote_mta, sizeof(j->remote_mta), "%s", c->host);
	snprintf(rt->relay, sizeof(rt->relay), "%s", c->relay);
	snprintf(rt->tls, sizeof(rt->tls), "%s", c->tls_info);
	if (!mta_all_done(j))
		mta_route_error(rt, "4.4.0", "the transaction ended without "
		    "a result", false);
	mta_job_finish(j);
	if (!reusable || c->txns >= MTA_REUSE_MAX || c->cfg != r->cfg) {
		mta_session_quit(c);
		return;
	}
	c->state = MTA_S_READY;
	c->reused = false;
	if (c->idle_timer == NULL)
		c->idle_timer = evtimer_new(c->base, mta_idle_timeout, c);
	{
		struct timeval tv = { MTA_IDLE_SECONDS, 0 };
		evtimer_add(c->idle_timer, &tv);
	}
	/* The peer's own timeout is longer; ours ends idling first. */
	bufferevent_set_timeouts(c->bev, NULL, NULL);
	c->next = r->idle;
	r->idle = c;
	r->nidle++;
	if (r->nidle > MTA_IDLE_MAX) {
		struct mta_conn **pp = &r->idle;
		while ((*pp)->next != NULL)
			pp = &(*pp)->next;
		c = *pp;
		*pp = NULL;
		r->nidle--;
		c->job = NULL;
		mta_session_quit(c);
	}
}

void
mta_conn_free(struct mta_conn *c)
{
	struct remote *r = c->r;
	struct mta_conn **pp;

	if (c->in_cb) {
		c->dead = true;
		if (c->bev != NULL)
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	for (pp = &r->idle; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			r->nidle--;
			break;
		}
	}
	if (c->job != NULL) {
		/* Freed under a job without a verdict: defer the rest. */
		struct remote_job *j = c->job;
		c->job = NULL;
		j->route->conn = NULL;
		mta_job_finish(j);
	}
	if (c->idle_timer != NULL)
		event_free(c->idle_timer);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	mta_cfg_unref(c->cfg);
	free(c);
}

void
remote_shutdown(struct remote *r)
{
	while (r->idle != NULL)
		mta_session_quit(r->idle);
	while (r->jobs != NULL) {
		struct remote_job *j = r->jobs;
		struct mta_route *rt = j->route;
		if (rt->conn != NULL) {
			struct mta_conn *c = rt->conn;
			c->job = NULL;
			rt->conn = NULL;
			c->in_cb = false;
			mta_conn_free(c);
		}
		mta_route_error(rt, "4.3.2", "delivery interrupted (petrel "
		    "stopped)", false);
		mta_job_finish(j);
	}
}

void
remote_free(struct remote *r)
{
	remote_shutdown(r);
	mta_cfg_unref(r->cfg);
	remote_tls_close(r);
	free(r);
}

void
remote_job_free(struct remote_job *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->nrcpts; i++) {
		free(j->rcpts[i].dest);
		free(j->rcpts[i].orcpt);
	}
	free(j->rcpts);
	free(j->domain);
	free(j->sender);
	free(j->envid);
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}
