/*
 * cmd_tlscheck: `petrel tls-check DOMAIN [--config FILE]` and
 * `petrel tls-check --server HOST[:PORT] [--config FILE]`. Like Postfix's
 * posttls-finger, but it explains: what petrel would do when sending to
 * DOMAIN, and why.
 *
 * For a DOMAIN it builds the remote process's resolver from the
 * configuration (cmd_resolve_env_open: the same remote/dns, resolv.conf
 * and trust anchor the parent hands to the remote process), then, all in
 * parallel on one event loop:
 *   - the MX route (remote/dns dns_mx), printed as `petrel resolve` does;
 *   - the MTA-STS policy (remote/sts sts_get, a memory cache seeded
 *     read-only from the daemon's STATE/remote/sts as `petrel resolve
 *     --sts` does; the policy CAs are mta-sts-ca-file);
 *   - the TLSA records of every host whose addresses are DNSSEC-secure
 *     (remote/dane dane_lookup), as delivery does.
 * Then for each host, in the order delivery tries them: the security
 * petrel chooses (the decision order of remote/mta.c mta_host_decide,
 * repeated here for a job without REQUIRETLS or TLS-Required: No), and a
 * probe of its addresses (at most TLSCHECK_ADDRS_MAX, stopping at the
 * first petrel would deliver to): connect (remote-port, outbound-source),
 * greeting, EHLO (HELO when EHLO is refused with 5xx other than 554),
 * STARTTLS when offered, the handshake set up as petrel would (DANE
 * through dane_apply on a DANE-enabled context, else PKIX for the MX name
 * with outbound-ca-file, or mta-sts-ca-file for MTA-STS hosts), the
 * certificate chain, the DANE result, the PKIX results for the MX name
 * against outbound-ca-file and (when the domain has an MTA-STS policy)
 * mta-sts-ca-file, EHLO again, QUIT. No MAIL command is ever sent. The
 * probe always tries STARTTLS when offered (also under tls-policy none,
 * to show it), but the verdict is what petrel would do.
 *
 * --server HOST[:PORT] (IPv6 as [ADDR]:PORT; PORT defaults to
 * remote-port) probes that one host: no MX lookup, no MTA-STS; the TLSA
 * and PKIX name is HOST, looked up as for a smarthost (dns_host), so an
 * address literal gets neither DANE nor SNI. Its policy is outbound-tls.
 *
 * remember-TLS: the daemon's STATE/remote/tls-seen is read (never
 * written) to tell whether an opportunistic host that offers no STARTTLS
 * now, or fails the handshake, would be a probable downgrade.
 *
 * Nothing is written: not into STATE (the caches are read-only copies in
 * memory), not to the peer beyond EHLO/HELO, STARTTLS and QUIT.
 *
 * The command is two files: this one (arguments, set-up, the lookups,
 * the plan per host, the verdicts and the output, whose format is
 * documented here only) and cmd_tlscheck_probe.c (the SMTP/TLS
 * conversation with one address: everything that talks to the peer).
 * What they share is in cmd_tlscheck_int.h.
 *
 * The peer is untrusted: replies are framed by lib/line (CRLF only, at
 * most SMTP_REPLY_LINE_MAX bytes a line) and parsed by proto/smtp_reply
 * (bounded lines and text, printable ASCII out); certificate fields are
 * reduced to printable ASCII and cut at TLSCHECK_TEXT_MAX; at most
 * TLSCHECK_CERTS_MAX certificates and TLSCHECK_SANS_MAX names each are
 * shown. Whatever the peer sent after its 220 to STARTTLS and before the
 * handshake is discarded (and counted). Every wait has a deadline:
 * connecting remote-timeout-connect, each reply and the handshake
 * remote-timeout-command, each capped at TLSCHECK_CAP seconds; the
 * lookups together TLSCHECK_LOOKUP_TIMEOUT (the MTA-STS fetch
 * TLSCHECK_CAP unless --sts-timeout says otherwise).
 *
 * Test-only options, not in the usage text: --sts-port N (HTTPS port of
 * the policy host instead of 443), --sts-timeout N (seconds for the
 * policy fetch).
 *
 * Output, one item a line, words separated by single spaces; lines
 * starting with two spaces belong to the "connect" (or "tlsa", policy)
 * line above them. Tests parse it; operators read it.
 *   check domain DOMAIN | check server HOST port N
 *   settings tls-policy POLICY dane on|off mta-sts on|off port N
 *   note TEXT                           (DANE or MTA-STS off and why; a
 *                                        smarthost takes all mail)
 *   cache ...                           (the MTA-STS cache, as resolve)
 *   domain/host/address/error/route ... (the route, as `petrel resolve`;
 *                                        --server: no domain line)
 *   mta-sts/policy/failure/error/sts .. (as `petrel resolve --sts`), or
 *   mta-sts off
 *   tlsa HOST STATE TEXT                (STATE dane, dane-encrypt, none,
 *                                        fail: the TLSA lookup), or
 *   tlsa HOST not-asked|timeout TEXT
 *     record U S M HEX                  (each usable record)
 *   plan HOST security SECURITY TEXT    (the security chosen and why;
 *                                        SECURITY none, opportunistic,
 *                                        encrypt, verify, dane, mta-sts,
 *                                        mta-sts-testing, or unusable)
 *   remember-tls HOST last-tls ISO8601|never | off | unknown TEXT
 *                                       (opportunistic hosts)
 *   connect HOST ADDR port N
 *     error TEXT                        (the probe stopped: why)
 *     greeting|ehlo|helo|starttls-reply|ehlo-tls|quit CODE TEXT
 *                                       (the peer's reply, lines joined
 *                                        by " / ")
 *     starttls offered|not-offered
 *     discarded N bytes sent before the TLS handshake
 *     tls PROTOCOL cipher NAME
 *     tls failed TEXT
 *     chain N                           (certificates sent)
 *     cert I subject|issuer DN          (RFC 2253)
 *     cert I san DNS:NAME|IP:ADDR|other|none
 *     cert I not-after ISO8601 [expired]
 *     dane ok|fail|none TEXT
 *     pkix outbound-ca-file|mta-sts-ca-file ok|fail TEXT
 *     requiretls offered|not-offered
 *     outcome deliver|defer TEXT        (petrel at this address)
 *   verdict HOST security SECURITY deliver|defer|skip TEXT
 *   result deliver N of M hosts | result defer TEXT
 * Exit status: 0 when petrel would deliver to at least one host, 1 when
 * to none (or the check could not run), 2 for usage errors.
 */
#include "bin/cmd_tlscheck.h"

#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "bin/cmd_resolve.h"
#include "bin/cmd_tlscheck_int.h"
#include "lib/xalloc.h"
#include "remote/dane.h"
#include "remote/dns.h"
#include "remote/sts.h"
#include "remote/tlsdecide.h"
#include "remote/tlsseen.h"
#include "tls/tls.h"

#define TLSCHECK_CAP            30 /* seconds: the longest single wait */
#define TLSCHECK_LOOKUP_TIMEOUT 90 /* seconds: DNS, TLSA, MTA-STS */
#define TLSCHECK_ADDRS_MAX      4  /* addresses probed per host */

static int
tlscheck_usage(void)
{
	fprintf(stderr,
	    "usage: petrel tls-check DOMAIN [--config FILE]\n"
	    "       petrel tls-check --server HOST[:PORT] [--config FILE]\n");
	return 2;
}

/* ---- small helpers ---- */

/* cmd_tlscheck_int.h */
void
tlscheck_set(
    struct tlscheck_out *o, enum tlscheck_action a, const char *fmt, ...)
{
	va_list ap;

	if (o->action != TLSCHECK_UNSET)
		return;
	o->action = a;
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof(o->why), fmt, ap);
	va_end(ap);
}

static unsigned
tlscheck_cap(unsigned secs)
{
	return secs == 0 || secs > TLSCHECK_CAP ? TLSCHECK_CAP : secs;
}

/* ---- the lookups (event loop) ---- */

static void
tlscheck_settle(struct tlscheck *tc)
{
	if (--tc->pending == 0)
		event_base_loopbreak(tc->env.base);
}

static void
tlscheck_dane_done(struct dane_host *h, void *arg)
{
	struct tlscheck_slot *s = arg;

	s->tc->daneq[s->i] = NULL;
	s->tc->dane[s->i] = h;
	tlscheck_settle(s->tc);
}

static void
tlscheck_route_done(struct dns_route *r, void *arg)
{
	struct tlscheck *tc = arg;
	size_t i;

	tc->dnsq = NULL;
	tc->route = r;
	/* mta.c: a TLSA lookup for every host with secure addresses. */
	for (i = 0; tc->dane_on && i < r->nhosts; i++) {
		const struct dns_host *h = &r->hosts[i];

		if (h->naddrs == 0 || h->sec != DNS_SEC_SECURE)
			continue;
		tc->slots[i].tc = tc;
		tc->slots[i].i = i;
		tc->dane_asked[i] = true;
		tc->pending++;
		tc->daneq[i] = dane_lookup(tc->env.dns, h->name, h->canon,
		    tlscheck_dane_done, &tc->slots[i]);
	}
	tlscheck_settle(tc);
}

static void
tlscheck_sts_done(const struct sts_result *r, void *arg)
{
	struct tlscheck *tc = arg;

	tc->stsq = NULL;
	tc->sts_res = *r;
	tc->sts_done = true;
	tlscheck_settle(tc);
}

static void
tlscheck_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tlscheck *tc = arg;

	(void)fd;
	(void)what;
	tc->timed_out = true;
	event_base_loopbreak(tc->env.base);
}

/* Runs every lookup to its end or the deadline. 0, or -1 (printed). */
static int
tlscheck_lookup(struct tlscheck *tc)
{
	struct timeval tv = {TLSCHECK_LOOKUP_TIMEOUT, 0};
	struct event *timer;
	size_t i;

	timer = evtimer_new(tc->env.base, tlscheck_timeout, tc);
	if (timer == NULL || evtimer_add(timer, &tv) != 0) {
		fprintf(stderr, "petrel: cannot arm a timer\n");
		return -1;
	}
	tc->pending = 1;
	if (tc->domain != NULL) {
		tc->dnsq =
		    dns_mx(tc->env.dns, tc->domain, tlscheck_route_done, tc);
		if (tc->sts_on && tc->sts != NULL) {
			tc->pending++;
			tc->stsq = sts_get(tc->sts, tc->env.dns,
			    tc->env.sts_ca.data, tc->env.sts_ca.len, tc->domain,
			    tlscheck_sts_done, tc);
		}
	} else {
		tc->dnsq =
		    dns_host(tc->env.dns, tc->server, tlscheck_route_done, tc);
	}
	(void)event_base_dispatch(tc->env.base);
	if (tc->dnsq != NULL)
		dns_cancel(tc->dnsq);
	if (tc->stsq != NULL)
		sts_cancel(tc->stsq);
	for (i = 0; i < DNS_ROUTE_HOSTS_MAX; i++)
		if (tc->daneq[i] != NULL)
			dane_cancel(tc->daneq[i]);
	tc->dnsq = NULL;
	tc->stsq = NULL;
	memset(tc->daneq, 0, sizeof(tc->daneq));
	event_free(timer);
	return 0;
}

/* ---- the decision (remote/mta.c mta_host_decide) ---- */

/* Why DANE does not apply to host i (when it does not). */
static const char *
tlscheck_dane_absent(const struct tlscheck *tc, size_t i)
{
	const struct dns_host *h = &tc->route->hosts[i];

	if (tc->dane[i] != NULL)
		return tc->dane[i]->why;
	if (!tc->dane_on)
		return "DANE not in use";
	if (h->naddrs == 0)
		return "no addresses";
	return h->sec == DNS_SEC_SECURE ? "no DANE"
					: "addresses not DNSSEC-signed";
}

/* How reasons name a security choice. */
static const char *
tlscheck_label(enum mta_security sec, const struct dane_host *dh)
{
	switch (sec) {
	case MTA_SEC_NONE:
		return "tls-policy none";
	case MTA_SEC_VERIFY:
		return "tls-policy verify";
	case MTA_SEC_DANE:
		return "DANE";
	case MTA_SEC_ENCRYPT:
		return dh != NULL && dh->state == DANE_ENCRYPT ?
		    "DANE without usable TLSA records" : "tls-policy encrypt";
	case MTA_SEC_STS:
		return "MTA-STS enforce";
	case MTA_SEC_STS_TESTING:
		return "MTA-STS testing";
	default:
		return "opportunistic";
	}
}

/*
 * The security petrel chooses for host i: the delivery's own decision
 * (remote/tlsdecide.h), for a message without REQUIRETLS.
 */
static void
tlscheck_decide(const struct tlscheck *tc, size_t i, struct tlscheck_plan *p)
{
	const struct dns_host *h = &tc->route->hosts[i];
	const struct sts_result *sr = &tc->sts_res;
	struct tls_decide_in in;
	struct tls_decision d;

	memset(p, 0, sizeof(*p));
	p->sec = MTA_SEC_OPPORTUNISTIC;
	p->label = "opportunistic";
	if (h->naddrs == 0) {
		p->skip = true;
		snprintf(p->why, sizeof(p->why), "no addresses%s%s",
		    h->error[0] ? ": " : "", h->error);
		return;
	}
	if (tc->dane_asked[i] && tc->dane[i] == NULL) {
		/* Delivery would wait for the answer; we cannot. */
		p->skip = true;
		snprintf(p->why, sizeof(p->why),
		    "no TLSA answer within %d seconds",
		    TLSCHECK_LOOKUP_TIMEOUT);
		return;
	}
	memset(&in, 0, sizeof(in));
	in.host = h->name;
	in.domain = tc->route->domain;
	in.policy = tc->policy;
	in.dane_on = tc->dane_on;
	in.sec = h->sec;
	in.dane = tc->dane[i];
	in.sts = tc->sts_done && sr->status == STS_OK ? &sr->policy : NULL;
	in.sts_id = sr->id;
	tls_decide(&in, &d);
	p->sec = d.security;
	p->skip = d.skip;
	p->label = tlscheck_label(d.security, tc->dane[i]);
	snprintf(p->why, sizeof(p->why), "%s", d.why);
}

bool
tlscheck_required(const struct tlscheck_plan *p)
{
	return p->sec == MTA_SEC_ENCRYPT ||
	       p->sec == MTA_SEC_VERIFY || p->sec == MTA_SEC_DANE ||
	       p->sec == MTA_SEC_STS;
}

/*
 * remember-TLS (remote_tls.c mta_tls_downgrade): for an opportunistic
 * host that offers no STARTTLS now or fails the handshake. Returns true
 * and fills o when petrel would defer; false (o may get a warning note
 * in note) when it goes on in plaintext.
 */
bool
tlscheck_downgrade(const struct tlscheck *tc, const char *host,
    const char *what, struct tlscheck_out *o, char *note, size_t notesz)
{
	const struct conf *c = &tc->env.conf;
	int64_t last, now = (int64_t)time(NULL);
	char iso[32];

	note[0] = '\0';
	if (tc->seen == NULL || c->tls_remember == 0)
		return false;
	last = tlsseen_get(tc->seen, host);
	if (last == 0 || now - last > (int64_t)c->tls_remember)
		return false;
	cmd_resolve_iso((time_t)last, iso, sizeof(iso));
	if (c->tls_remember_policy == CONF_REMEMBER_DEFER) {
		tlscheck_set(o, TLSCHECK_DEFER,
		    "probable STARTTLS downgrade (%s; last TLS %s): would "
		    "defer",
		    what, iso);
		return true;
	}
	snprintf(note, notesz,
	    " (probable STARTTLS downgrade, last TLS %s: warning logged)", iso);
	return false;
}

/* ---- the report ---- */

static void
tlscheck_print_tlsa(const struct tlscheck *tc, size_t i)
{
	const struct dns_host *h = &tc->route->hosts[i];
	const struct dane_host *dh = tc->dane[i];
	char rec[200];
	size_t k;

	if (dh == NULL) {
		printf("tlsa %s %s %s\n", h->name,
		    tc->dane_asked[i] ? "timeout" : "not-asked",
		    tc->dane_asked[i] ? "no answer"
				      : tlscheck_dane_absent(tc, i));
		return;
	}
	printf("tlsa %s %s %s\n", h->name, dane_state_name(dh->state), dh->why);
	for (k = 0; k < dh->n; k++) {
		dane_tlsa_text(&dh->rr[k], rec, sizeof(rec));
		printf("  record %s\n", rec);
	}
}

static void
tlscheck_print_seen(const struct tlscheck *tc, const char *host)
{
	int64_t last;
	char iso[32];

	if (tc->env.conf.tls_remember == 0) {
		printf("remember-tls %s off\n", host);
		return;
	}
	if (tc->seen == NULL) {
		printf("remember-tls %s unknown %s\n", host, tc->seen_err);
		return;
	}
	last = tlsseen_get(tc->seen, host);
	if (last == 0) {
		printf("remember-tls %s never\n", host);
		return;
	}
	cmd_resolve_iso((time_t)last, iso, sizeof(iso));
	printf("remember-tls %s last-tls %s\n", host, iso);
}

/* Checks every host of the route; returns how many would take mail. */
static size_t
tlscheck_hosts(const struct tlscheck *tc)
{
	const struct dns_route *r = tc->route;
	size_t i, k, good = 0;

	for (i = 0; i < r->nhosts; i++) {
		const struct dns_host *h = &r->hosts[i];
		struct tlscheck_plan p;
		struct tlscheck_out o;
		bool deliver = false;

		tlscheck_decide(tc, i, &p);
		printf("plan %s security %s %s\n", h->name,
		    p.skip ? "unusable" : mta_security_name(p.sec), p.why);
		memset(&o, 0, sizeof(o));
		if (p.skip) {
			printf(
			    "verdict %s security unusable skip %s: skipped\n",
			    h->name, p.why);
			continue;
		}
		if (p.sec == MTA_SEC_OPPORTUNISTIC)
			tlscheck_print_seen(tc, h->name);
		for (k = 0; k < h->naddrs && k < TLSCHECK_ADDRS_MAX; k++) {
			deliver = tlscheck_probe(tc, h->name, &h->addrs[k], &p,
			    tc->dane[i], tlscheck_dane_absent(tc, i), &o);
			if (deliver)
				break;
		}
		printf("verdict %s security %s %s %s\n", h->name,
		    mta_security_name(p.sec), deliver ? "deliver" : "defer",
		    o.why);
		if (deliver)
			good++;
	}
	return good;
}

/* Splits "HOST", "HOST:PORT", "[ADDR]:PORT", "[ADDR]" or a bare IPv6
 * address. 0, or -1 for a malformed argument. */
static int
tlscheck_split_server(
    const char *arg, char *host, size_t hostsz, unsigned *port)
{
	const char *colon, *end = NULL;
	size_t n;
	long v;

	if (arg[0] == '[') {
		end = strchr(arg, ']');
		if (end == NULL)
			return -1;
		n = (size_t)(end - arg - 1);
		arg++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strrchr(arg, ':');
		if (colon != NULL && strchr(arg, ':') != colon)
			colon = NULL; /* a bare IPv6 address */
		n = colon != NULL ? (size_t)(colon - arg) : strlen(arg);
	}
	if (n == 0 || n >= hostsz)
		return -1;
	memcpy(host, arg, n);
	host[n] = '\0';
	if (colon != NULL) {
		if ((v = cmd_resolve_num(colon + 1, 1, 65535)) < 0)
			return -1;
		*port = (unsigned)v;
	}
	return 0;
}

/* The contexts petrel's remote process makes (remote_configure). */
static int
tlscheck_contexts(struct tlscheck *tc)
{
	char err[512];

	tc->ctx = tls_client_ctx_new(
	    tc->env.ca.data, tc->env.ca.len, err, sizeof(err));
	if (tc->ctx == NULL || dane_ctx_enable(tc->ctx) != 0) {
		fprintf(stderr, "petrel: TLS: %s\n",
		    tc->ctx == NULL ? err : "OpenSSL DANE support failed");
		return -1;
	}
	tc->ctx_sts = tls_client_ctx_new(
	    tc->env.sts_ca.data, tc->env.sts_ca.len, err, sizeof(err));
	if (tc->ctx_sts == NULL) {
		fprintf(stderr, "petrel: TLS: %s\n", err);
		return -1;
	}
	return 0;
}

/* The settings line and notes; the route's switches as mta.c sets them. */
static void
tlscheck_settings(struct tlscheck *tc)
{
	const struct conf *c = &tc->env.conf;
	bool policy_ok;

	tc->policy = tc->domain != NULL ? conf_tls_policy_for(c, tc->domain)
					: c->outbound_tls;
	policy_ok =
	    tc->policy == CONF_TLS_MAY || tc->policy == CONF_TLS_ENCRYPT;
	tc->dane_on = c->dane && tc->env.ta.len > 0 && policy_ok;
	tc->sts_on = tc->domain != NULL && c->mta_sts && policy_ok;
	tc->t_connect = tlscheck_cap(c->remote_timeout_connect);
	tc->t_command = tlscheck_cap(c->remote_timeout_command);
	if (tc->domain != NULL)
		printf("check domain %s\n", tc->domain);
	else
		printf("check server %s port %u\n", tc->server, tc->port);
	printf("settings tls-policy %s dane %s mta-sts %s port %u\n",
	    conf_tls_policy_name(tc->policy), tc->dane_on ? "on" : "off",
	    tc->sts_on ? "on" : "off", tc->port);
	if (!tc->dane_on)
		printf("note DANE off: %s\n",
		    !c->dane ? "dane no"
		    : tc->env.ta.len == 0
			? "no DNSSEC trust anchor (dns-trust-anchor)"
			: "tls-policy is not may or encrypt");
	if (tc->domain != NULL && !tc->sts_on)
		printf("note MTA-STS off: %s\n",
		    !c->mta_sts ? "mta-sts no"
				: "tls-policy is not may or encrypt");
	if (tc->domain != NULL && c->smarthost != NULL)
		printf("note smarthost %s: petrel relays all outbound mail "
		       "there; shown is direct delivery\n",
		    c->smarthost);
}

int
cmd_tlscheck_main(int argc, char **argv)
{
	const char *config = NULL, *domain = NULL, *server = NULL;
	long sts_port = 443, sts_timeout = TLSCHECK_CAP;
	struct tlscheck *tc;
	char path[4096];
	size_t i, good = 0;
	int rc = 1;

	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i];
		bool more = i + 1 < (size_t)argc;

		if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) &&
		    more)
			config = argv[++i];
		else if (strncmp(a, "--config=", 9) == 0)
			config = a + 9;
		else if (strcmp(a, "--server") == 0 && more && server == NULL)
			server = argv[++i];
		else if (strcmp(a, "--sts-port") == 0 && more) {
			if ((sts_port = cmd_resolve_num(argv[++i], 1, 65535)) <
			    0)
				return tlscheck_usage();
		} else if (strcmp(a, "--sts-timeout") == 0 && more) {
			if ((sts_timeout =
				    cmd_resolve_num(argv[++i], 1, 3600)) < 0)
				return tlscheck_usage();
		} else if (a[0] == '-' || domain != NULL)
			return tlscheck_usage();
		else
			domain = a;
	}
	if ((domain == NULL) == (server == NULL))
		return tlscheck_usage();
	tc = xcalloc(1, sizeof(*tc));
	if (server != NULL && tlscheck_split_server(server, tc->server,
				  sizeof(tc->server), &tc->port) != 0) {
		free(tc);
		return tlscheck_usage();
	}
	tc->domain = domain;
	(void)signal(SIGPIPE, SIG_IGN);
	if (cmd_resolve_env_open(&tc->env, config, CMD_RESOLVE_ENV_CA) != 0) {
		free(tc);
		return 1;
	}
	if (tc->port == 0)
		tc->port = tc->env.conf.remote_port;
	if (tlscheck_contexts(tc) != 0)
		goto out;
	tlscheck_settings(tc);
	if (snprintf(path, sizeof(path), "%s/remote/tls-seen",
		tc->env.conf.state_dir) < (int)sizeof(path))
		tc->seen =
		    tlsseen_open(path, tc->seen_err, sizeof(tc->seen_err));
	else
		snprintf(tc->seen_err, sizeof(tc->seen_err), "path too long");
	if (tc->sts_on) {
		tc->sts =
		    cmd_resolve_sts_open(&tc->env.conf, tc->env.base, NULL);
		if (tc->sts == NULL)
			goto out;
		sts_set_port(tc->sts, (unsigned)sts_port);
		sts_set_timeout(tc->sts, (unsigned)sts_timeout);
	}
	if (tlscheck_lookup(tc) != 0)
		goto out;
	if (tc->route == NULL) {
		printf(
		    "route error temporary 4.4.3 no answer within %d seconds\n",
		    TLSCHECK_LOOKUP_TIMEOUT);
		printf("result defer no route\n");
		goto out;
	}
	cmd_resolve_print(tc->route, tc->domain == NULL);
	if (tc->sts_on && tc->sts_done)
		cmd_resolve_sts_print(tc->domain, &tc->sts_res);
	else if (tc->sts_on)
		printf("mta-sts %s timeout\nsts fail\n", tc->domain);
	else
		printf("mta-sts off\n");
	for (i = 0; i < tc->route->nhosts; i++)
		tlscheck_print_tlsa(tc, i);
	if (tc->route->status != DNS_OK) {
		printf("result defer route error %s %s\n", tc->route->enhanced,
		    tc->route->error);
		goto out;
	}
	good = tlscheck_hosts(tc);
	if (good > 0) {
		printf("result deliver %zu of %zu hosts\n", good,
		    tc->route->nhosts);
		rc = 0;
	} else {
		printf("result defer no host would take the mail\n");
	}
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "petrel: cannot write the output\n");
		rc = 1;
	}
	for (i = 0; i < DNS_ROUTE_HOSTS_MAX; i++)
		dane_host_free(tc->dane[i]);
	dns_route_free(tc->route);
	sts_free(tc->sts);
	tlsseen_discard(tc->seen);	/* nothing written into STATE */
	SSL_CTX_free(tc->ctx);
	SSL_CTX_free(tc->ctx_sts);
	cmd_resolve_env_close(&tc->env);
	free(tc);
	return rc;
}
