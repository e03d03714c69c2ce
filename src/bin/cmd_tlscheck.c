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

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bin/cmd_resolve.h"
#include "lib/line.h"
#include "lib/xalloc.h"
#include "proto/mta_sts.h"
#include "proto/smtp_reply.h"
#include "remote/dane.h"
#include "remote/dns.h"
#include "remote/sts.h"
#include "remote/tlsdecide.h"
#include "remote/tlsseen.h"
#include "tls/tls.h"

#define TLSCHECK_CAP            30 /* seconds: the longest single wait */
#define TLSCHECK_LOOKUP_TIMEOUT 90 /* seconds: DNS, TLSA, MTA-STS */
#define TLSCHECK_ADDRS_MAX      4  /* addresses probed per host */
#define TLSCHECK_IN_MAX         (2 * (SMTP_REPLY_LINE_MAX + 2))
#define TLSCHECK_CERTS_MAX      8   /* certificates shown */
#define TLSCHECK_SANS_MAX       16  /* names shown per certificate */
#define TLSCHECK_TEXT_MAX       256 /* bytes of one peer field shown */
#define TLSCHECK_WHY_MAX        640

struct tlscheck_plan {
	enum mta_security sec; /* remote/tlsdecide.h */
	bool skip;         /* unusable: delivery does not try it */
	const char *label; /* how reasons name the security */
	char why[TLSCHECK_WHY_MAX];
};

enum tlscheck_action {
	TLSCHECK_UNSET,
	TLSCHECK_DELIVER,
	TLSCHECK_DEFER,
};

struct tlscheck_out {
	enum tlscheck_action action;
	char why[TLSCHECK_WHY_MAX];
};

struct tlscheck;

struct tlscheck_slot {
	struct tlscheck *tc;
	size_t i;
};

struct tlscheck {
	struct cmd_resolve_env env;
	const char *domain;            /* DOMAIN, or NULL for --server */
	char server[DNS_NAME_MAX + 1]; /* --server HOST */
	unsigned port;
	enum conf_tls_policy policy;
	bool dane_on, sts_on;
	unsigned t_connect, t_command; /* seconds */
	SSL_CTX *ctx;                  /* outbound-ca-file, DANE enabled */
	SSL_CTX *ctx_sts;              /* mta-sts-ca-file */
	struct tlsseen *seen; /* the daemon's remember-TLS, read only */
	char seen_err[256];
	struct sts *sts;
	/* the lookups */
	unsigned pending;
	bool timed_out;
	struct dns_query *dnsq;
	struct dns_route *route;
	struct sts_query *stsq;
	bool sts_done;
	struct sts_result sts_res;
	struct tlscheck_slot slots[DNS_ROUTE_HOSTS_MAX];
	struct dane_query *daneq[DNS_ROUTE_HOSTS_MAX];
	struct dane_host *dane[DNS_ROUTE_HOSTS_MAX];
	bool dane_asked[DNS_ROUTE_HOSTS_MAX];
};

/* One SMTP connection of the probe (synchronous, with deadlines). */
struct tlscheck_conn {
	int fd;
	SSL *ssl;
	unsigned timeout; /* seconds per reply */
	char in[TLSCHECK_IN_MAX];
	size_t inlen;
	struct smtp_reply_parser parser;
	struct smtp_reply reply;
	char err[TLSCHECK_WHY_MAX];
};

static int
tlscheck_usage(void)
{
	fprintf(stderr,
	    "usage: petrel tls-check DOMAIN [--config FILE]\n"
	    "       petrel tls-check --server HOST[:PORT] [--config FILE]\n");
	return 2;
}

/* ---- small helpers ---- */

static void __attribute__((format(printf, 3, 4))) tlscheck_set(
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

/* Copies peer bytes as printable ASCII (others '?'), at most
 * TLSCHECK_TEXT_MAX of them, "..." marking a cut; "-" when empty. */
static void
tlscheck_clean(const unsigned char *p, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0, max = outsz - 4;

	if (max > TLSCHECK_TEXT_MAX)
		max = TLSCHECK_TEXT_MAX;
	for (i = 0; i < n && o < max; i++)
		out[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (o == 0)
		out[o++] = '-';
	out[o] = '\0';
}

static void
tlscheck_iso(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "%lld", (long long)t);
}

static int64_t
tlscheck_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long
tlscheck_num(const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return -1;
	return n;
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

static bool
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
static bool
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
	tlscheck_iso((time_t)last, iso, sizeof(iso));
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

/* ---- the SMTP probe (synchronous, every wait bounded) ---- */

/* Waits for events on fd until deadline: 1 ready, 0 timeout, -1 error. */
static int
tlscheck_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - tlscheck_now_ms();
		struct pollfd p = {fd, events, 0};
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 1; /* errors show in the next read or write */
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static void
tlscheck_ssl_err(const char *what, char *out, size_t outsz)
{
	unsigned long e = ERR_get_error();
	char detail[256];

	if (e == 0) {
		snprintf(out, outsz, "%s: connection closed", what);
		return;
	}
	ERR_error_string_n(e, detail, sizeof(detail));
	ERR_clear_error();
	snprintf(out, outsz, "%s: %s", what, detail);
}

/* Waits as SSL asks after a WANT_READ/WANT_WRITE. 0 ready, -1 (err). */
static int
tlscheck_ssl_wait(
    struct tlscheck_conn *c, int rc, int64_t deadline, const char *what)
{
	int e = SSL_get_error(c->ssl, rc), w;

	if (e == SSL_ERROR_WANT_READ)
		w = tlscheck_wait(c->fd, POLLIN, deadline);
	else if (e == SSL_ERROR_WANT_WRITE)
		w = tlscheck_wait(c->fd, POLLOUT, deadline);
	else if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(c->err, sizeof(c->err), "%s: connection closed", what);
		return -1;
	} else {
		tlscheck_ssl_err(what, c->err, sizeof(c->err));
		return -1;
	}
	if (w == 0)
		snprintf(c->err, sizeof(c->err), "%s: timeout", what);
	else if (w < 0)
		snprintf(
		    c->err, sizeof(c->err), "%s: %s", what, strerror(errno));
	return w == 1 ? 0 : -1;
}

/* Reads more input (some bytes) before deadline. 0, or -1 (c->err). */
static int
tlscheck_fill(struct tlscheck_conn *c, int64_t deadline)
{
	size_t room = sizeof(c->in) - c->inlen;

	if (room == 0) {
		snprintf(c->err, sizeof(c->err), "input buffer full");
		return -1;
	}
	for (;;) {
		if (c->ssl != NULL) {
			int n;

			ERR_clear_error();
			n = SSL_read(c->ssl, c->in + c->inlen,
			    room > INT32_MAX ? INT32_MAX : (int)room);
			if (n > 0) {
				c->inlen += (size_t)n;
				return 0;
			}
			if (tlscheck_ssl_wait(c, n, deadline, "reading") != 0)
				return -1;
		} else {
			ssize_t n = recv(c->fd, c->in + c->inlen, room, 0);
			int w;

			if (n > 0) {
				c->inlen += (size_t)n;
				return 0;
			}
			if (n == 0) {
				snprintf(c->err, sizeof(c->err),
				    "connection closed");
				return -1;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				snprintf(c->err, sizeof(c->err), "read: %s",
				    strerror(errno));
				return -1;
			}
			w = tlscheck_wait(c->fd, POLLIN, deadline);
			if (w <= 0) {
				snprintf(c->err, sizeof(c->err), "%s",
				    w == 0 ? "timeout waiting for a reply"
					   : strerror(errno));
				return -1;
			}
		}
	}
}

/* Reads one reply into c->reply. 0, or -1 (c->err). */
static int
tlscheck_reply(struct tlscheck_conn *c)
{
	int64_t deadline = tlscheck_now_ms() + (int64_t)c->timeout * 1000;

	for (;;) {
		size_t len, used;
		enum line_result lr = line_find(
		    c->in, c->inlen, SMTP_REPLY_LINE_MAX, &len, &used);
		int r;

		if (lr == LINE_MORE) {
			if (tlscheck_fill(c, deadline) != 0)
				return -1;
			continue;
		}
		if (lr != LINE_OK) {
			snprintf(c->err, sizeof(c->err), "%s",
			    lr == LINE_TOOLONG ? "reply line too long"
					       : "bare CR or LF in a reply");
			return -1;
		}
		r = smtp_reply_feed(
		    &c->parser, span_make(c->in, len), &c->reply);
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
		if (r == 1)
			return 0;
		if (r < 0) {
			snprintf(c->err, sizeof(c->err), "malformed reply: %s",
			    smtp_reply_error(&c->parser));
			return -1;
		}
	}
}

/* Sends "line\r\n". 0, or -1 (c->err). */
static int
tlscheck_send(struct tlscheck_conn *c, const char *line)
{
	int64_t deadline = tlscheck_now_ms() + (int64_t)c->timeout * 1000;
	char buf[600];
	int len = snprintf(buf, sizeof(buf), "%s\r\n", line);
	size_t off = 0, n;

	if (len < 0 || (size_t)len >= sizeof(buf)) {
		snprintf(c->err, sizeof(c->err), "command too long");
		return -1;
	}
	n = (size_t)len;
	while (off < n) {
		if (c->ssl != NULL) {
			int w;

			ERR_clear_error();
			w = SSL_write(c->ssl, buf + off, (int)(n - off));
			if (w > 0)
				off += (size_t)w;
			else if (tlscheck_ssl_wait(c, w, deadline, "writing") !=
				 0)
				return -1;
		} else {
			ssize_t w =
			    send(c->fd, buf + off, n - off, MSG_NOSIGNAL);

			if (w > 0) {
				off += (size_t)w;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				snprintf(c->err, sizeof(c->err), "write: %s",
				    strerror(errno));
				return -1;
			}
			if (tlscheck_wait(c->fd, POLLOUT, deadline) != 1) {
				snprintf(
				    c->err, sizeof(c->err), "write: timeout");
				return -1;
			}
		}
	}
	return 0;
}

/* Prints "  key CODE text / text" for the reply just read. */
static void
tlscheck_print_reply(
    const char *key, const struct tlscheck_conn *c, char *out, size_t outsz)
{
	char line[TLSCHECK_TEXT_MAX * 2];

	smtp_reply_format(&c->reply, line, sizeof(line));
	printf("  %s %s\n", key, line);
	if (out != NULL)
		snprintf(out, outsz, "%s", line);
}

/* Sends cmd (if not NULL), reads and prints the reply as key. 0 or -1
 * (the error printed, c->err kept). */
static int
tlscheck_cmd(struct tlscheck_conn *c, const char *cmd, const char *key,
    char *text, size_t textsz)
{
	if ((cmd != NULL && tlscheck_send(c, cmd) != 0) ||
	    tlscheck_reply(c) != 0) {
		printf("  error %s: %s\n", key, c->err);
		return -1;
	}
	tlscheck_print_reply(key, c, text, textsz);
	return 0;
}

/* Connects to a (port, outbound-source) before the connect timeout. */
static int
tlscheck_connect(const struct tlscheck *tc, struct tlscheck_conn *c,
    const struct dns_addr *a)
{
	const struct conf *cf = &tc->env.conf;
	struct sockaddr_storage ss;
	socklen_t sl = dns_addr_sockaddr(a, tc->port, &ss);
	const struct sockaddr_storage *src =
	    a->family == AF_INET ? &cf->source4 : &cf->source6;
	int64_t deadline;
	int soerr = 0, w;
	socklen_t el = sizeof(soerr);

	if (sl == 0) {
		snprintf(c->err, sizeof(c->err), "unknown address family");
		return -1;
	}
	c->fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
		return -1;
	}
	if (src->ss_family != 0 &&
	    bind(c->fd, (const struct sockaddr *)src,
		src->ss_family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6)) != 0) {
		snprintf(c->err, sizeof(c->err), "bind to outbound-source: %s",
		    strerror(errno));
		return -1;
	}
	if (connect(c->fd, (const struct sockaddr *)&ss, sl) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		snprintf(
		    c->err, sizeof(c->err), "connect: %s", strerror(errno));
		return -1;
	}
	deadline = tlscheck_now_ms() + (int64_t)tc->t_connect * 1000;
	w = tlscheck_wait(c->fd, POLLOUT, deadline);
	if (w == 0) {
		snprintf(c->err, sizeof(c->err),
		    "connect: timeout after %u seconds", tc->t_connect);
		return -1;
	}
	if (w < 0 ||
	    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &el) != 0 ||
	    soerr != 0) {
		snprintf(c->err, sizeof(c->err), "connect: %s",
		    strerror(w < 0 || soerr == 0 ? errno : soerr));
		return -1;
	}
	return 0;
}

/* The handshake on c->fd, set up by petrel's rules for the plan. */
static int
tlscheck_handshake(const struct tlscheck *tc, struct tlscheck_conn *c,
    const struct tlscheck_plan *p, const struct dane_host *dh, const char *name)
{
	SSL_CTX *ctx =
	    p->sec == MTA_SEC_STS || p->sec == MTA_SEC_STS_TESTING
		? tc->ctx_sts
		: tc->ctx;
	int64_t deadline = tlscheck_now_ms() + (int64_t)c->timeout * 1000;
	char why[256];

	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL ||
	    (p->sec == MTA_SEC_DANE && dh != NULL
		    ? dane_apply(c->ssl, dh, why, sizeof(why))
		    : tls_client_prepare(c->ssl, name)) != 0 ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		snprintf(c->err, sizeof(c->err), "TLS set-up failed");
		return -1;
	}
	for (;;) {
		int r;

		ERR_clear_error();
		r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		if (tlscheck_ssl_wait(c, r, deadline, "handshake") != 0)
			return -1;
	}
}

/* ---- what the handshake showed ---- */

static void
tlscheck_print_dn(size_t i, const char *key, const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, out[TLSCHECK_TEXT_MAX + 8];
	long len;

	if (b == NULL)
		return;
	(void)X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(b, &p);
	tlscheck_clean((const unsigned char *)p, len > 0 ? (size_t)len : 0, out,
	    sizeof(out));
	printf("  cert %zu %s %s\n", i, key, out);
	BIO_free(b);
}

static void
tlscheck_print_sans(size_t i, X509 *x)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char out[TLSCHECK_TEXT_MAX + 8];
	int j, n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;

	if (n <= 0)
		printf("  cert %zu san none\n", i);
	for (j = 0; j < n && j < TLSCHECK_SANS_MAX; j++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, j);

		if (g->type == GEN_DNS) {
			tlscheck_clean(ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName), out,
			    sizeof(out));
			printf("  cert %zu san DNS:%s\n", i, out);
		} else if (g->type == GEN_IPADD &&
			   (ASN1_STRING_length(g->d.iPAddress) == 4 ||
			       ASN1_STRING_length(g->d.iPAddress) == 16)) {
			int len = ASN1_STRING_length(g->d.iPAddress);

			if (inet_ntop(len == 4 ? AF_INET : AF_INET6,
				ASN1_STRING_get0_data(g->d.iPAddress), out,
				sizeof(out)) == NULL)
				snprintf(out, sizeof(out), "?");
			printf("  cert %zu san IP:%s\n", i, out);
		} else {
			printf("  cert %zu san other\n", i);
		}
	}
	if (n > TLSCHECK_SANS_MAX)
		printf("  cert %zu san-more %d\n", i, n - TLSCHECK_SANS_MAX);
	GENERAL_NAMES_free(gens);
}

static void
tlscheck_print_chain(SSL *ssl)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	int n = chain != NULL ? sk_X509_num(chain) : 0;
	size_t i;

	printf("  chain %d\n", n);
	for (i = 0; i < (size_t)n && i < TLSCHECK_CERTS_MAX; i++) {
		X509 *x = sk_X509_value(chain, (int)i);
		struct tm tm;
		char iso[32];

		tlscheck_print_dn(i, "subject", X509_get_subject_name(x));
		tlscheck_print_dn(i, "issuer", X509_get_issuer_name(x));
		tlscheck_print_sans(i, x);
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1 &&
		    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
			printf("  cert %zu not-after %s%s\n", i, iso,
			    X509_cmp_current_time(X509_get0_notAfter(x)) < 0
				? " expired"
				: "");
	}
}

/*
 * PKIX of the peer's chain against ctx's CAs for name, outside the
 * handshake (the other CA file than the one the handshake used): the
 * checks of tls_client_prepare (host name, no partial wildcards, an IP
 * address literal against IP names) and of the handshake (purpose
 * ssl_server). *code gets the X509_V_ERR code.
 */
static bool
tlscheck_pkix_offline(SSL_CTX *ctx, SSL *ssl, const char *name, char *why,
    size_t whysz, long *code)
{
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *sc;
	X509_VERIFY_PARAM *vp;
	bool ok;

	*code = X509_V_OK;
	if (leaf == NULL) {
		snprintf(why, whysz, "no certificate");
		return false;
	}
	sc = X509_STORE_CTX_new();
	if (sc == NULL || X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx),
			      leaf, SSL_get_peer_cert_chain(ssl)) != 1) {
		X509_STORE_CTX_free(sc);
		ERR_clear_error();
		snprintf(why, whysz, "cannot verify");
		return false;
	}
	(void)X509_STORE_CTX_set_default(sc, "ssl_server");
	vp = X509_STORE_CTX_get0_param(sc);
	X509_VERIFY_PARAM_set_hostflags(
	    vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1)
		(void)X509_VERIFY_PARAM_set1_host(vp, name, 0);
	ok = X509_verify_cert(sc) == 1;
	*code = ok ? X509_V_OK : X509_STORE_CTX_get_error(sc);
	snprintf(
	    why, whysz, "%s", ok ? "ok" : X509_verify_cert_error_string(*code));
	X509_STORE_CTX_free(sc);
	ERR_clear_error();
	return ok;
}

/* Strips a leading "DANE: " (dane_verified's reasons carry one). */
static const char *
tlscheck_undane(const char *s)
{
	return strncmp(s, "DANE: ", 6) == 0 ? s + 6 : s;
}

/*
 * After the handshake: the chain, the DANE and PKIX results, and the
 * verdict of petrel's policy for the plan.
 */
static void
tlscheck_verify(const struct tlscheck *tc, struct tlscheck_conn *c,
    const struct tlscheck_plan *p, const char *dane_absent, const char *name,
    struct tlscheck_out *o)
{
	bool sts_ctx =
	    p->sec == MTA_SEC_STS || p->sec == MTA_SEC_STS_TESTING;
	bool has_policy = tc->sts_done && tc->sts_res.status == STS_OK;
	bool ok_ca = false, ok_sts = false, ok;
	long code_ca = X509_V_OK, code_sts = X509_V_OK, code;
	char why[256], why_ca[256], why_sts[256];

	printf("  tls %s cipher %s\n", SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl));
	tlscheck_print_chain(c->ssl);
	if (p->sec == MTA_SEC_DANE) {
		uint8_t u = 0, s = 0, m = 0;

		int depth;

		ok = dane_verified(c->ssl, why, sizeof(why));
		depth = ok ? SSL_get0_dane_tlsa(c->ssl, &u, &s, &m, NULL, NULL)
			   : -1;
		if (depth >= 0) {
			printf("  dane ok TLSA %u %u %u matched at depth %d\n",
			    u, s, m, depth);
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "DANE: TLSA %u %u %u matched", u, s, m);
		} else {
			printf("  dane fail %s\n", tlscheck_undane(why));
			tlscheck_set(o, TLSCHECK_DEFER, "DANE: %s: would defer",
			    tlscheck_undane(why));
		}
	} else {
		printf("  dane none %s\n", dane_absent);
	}
	/* The handshake's own PKIX result where it was set up for it. */
	if (p->sec != MTA_SEC_DANE && !sts_ctx) {
		ok_ca = tls_client_verified(c->ssl, why_ca, sizeof(why_ca));
		code_ca = SSL_get_verify_result(c->ssl);
	} else {
		ok_ca = tlscheck_pkix_offline(
		    tc->ctx, c->ssl, name, why_ca, sizeof(why_ca), &code_ca);
	}
	printf("  pkix outbound-ca-file %s %s\n", ok_ca ? "ok" : "fail",
	    ok_ca ? name : why_ca);
	if (has_policy || sts_ctx) {
		if (sts_ctx) {
			ok_sts = tls_client_verified(
			    c->ssl, why_sts, sizeof(why_sts));
			code_sts = SSL_get_verify_result(c->ssl);
		} else {
			ok_sts = tlscheck_pkix_offline(tc->ctx_sts, c->ssl,
			    name, why_sts, sizeof(why_sts), &code_sts);
		}
		printf("  pkix mta-sts-ca-file %s %s\n", ok_sts ? "ok" : "fail",
		    ok_sts ? name : why_sts);
	}
	switch (p->sec) {
	case MTA_SEC_STS:
	case MTA_SEC_STS_TESTING:
	case MTA_SEC_VERIFY:
		ok = sts_ctx ? ok_sts : ok_ca;
		code = sts_ctx ? code_sts : code_ca;
		snprintf(why, sizeof(why), "%s", sts_ctx ? why_sts : why_ca);
		if (ok)
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: certificate valid for %s", p->label, name);
		else if (p->sec == MTA_SEC_STS_TESTING)
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: certificate not valid for %s (%s): would "
			    "deliver anyway, reported by TLS-RPT",
			    p->label, name, why);
		else if (code == X509_V_ERR_HOSTNAME_MISMATCH ||
			 code == X509_V_ERR_IP_ADDRESS_MISMATCH)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: certificate does not match %s: would defer",
			    p->label, name);
		else
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: certificate not valid for %s (%s): would "
			    "defer",
			    p->label, name, why);
		break;
	case MTA_SEC_ENCRYPT:
		tlscheck_set(o, TLSCHECK_DELIVER,
		    "%s: over TLS, certificate not checked", p->label);
		break;
	case MTA_SEC_OPPORTUNISTIC:
		tlscheck_set(o, TLSCHECK_DELIVER,
		    "opportunistic: over TLS, certificate not checked");
		break;
	default:
		break;
	}
}

/* ---- one address ---- */

/*
 * Probes one address of a host; prints the conversation and the outcome.
 * Returns true when petrel would deliver there.
 */
static bool
tlscheck_probe(const struct tlscheck *tc, const char *name,
    const struct dns_addr *a, const struct tlscheck_plan *p,
    const struct dane_host *dh, const char *dane_absent, struct tlscheck_out *o)
{
	struct tlscheck_conn *c = xcalloc(1, sizeof(*c));
	bool required = tlscheck_required(p), tls = false, ehlo_ok = false;
	struct smtp_ehlo ehlo;
	int r;
	char addr[64], text[TLSCHECK_TEXT_MAX * 2], cmd[DNS_NAME_MAX + 16];
	char note[200];

	memset(o, 0, sizeof(*o));
	memset(&ehlo, 0, sizeof(ehlo));
	c->fd = -1;
	c->timeout = tc->t_command;
	smtp_reply_init(&c->parser);
	dns_addr_format(a, addr, sizeof(addr));
	printf("connect %s %s port %u\n", name, addr, tc->port);
	if (tlscheck_connect(tc, c, a) != 0) {
		printf("  error %s\n", c->err);
		tlscheck_set(o, TLSCHECK_DEFER, "%s: next address", c->err);
		goto close;
	}
	if (tlscheck_cmd(c, NULL, "greeting", text, sizeof(text)) != 0) {
		tlscheck_set(o, TLSCHECK_DEFER, "greeting: %s", c->err);
		goto close;
	}
	if (c->reply.code != 220) {
		tlscheck_set(o, TLSCHECK_DEFER, "greeting %s: next host", text);
		goto quit;
	}
	snprintf(cmd, sizeof(cmd), "EHLO %s", tc->env.conf.hostname);
	if (tlscheck_cmd(c, cmd, "ehlo", text, sizeof(text)) != 0) {
		tlscheck_set(o, TLSCHECK_DEFER, "EHLO: %s", c->err);
		goto close;
	}
	if (c->reply.code == 250) {
		smtp_ehlo_parse(&c->reply, &ehlo);
	} else if (c->reply.code >= 500 && c->reply.code != 554) {
		/* RFC 5321 3.2: an old server; HELO (no extensions). */
		snprintf(cmd, sizeof(cmd), "HELO %s", tc->env.conf.hostname);
		if (tlscheck_cmd(c, cmd, "helo", text, sizeof(text)) != 0) {
			tlscheck_set(o, TLSCHECK_DEFER, "HELO: %s", c->err);
			goto close;
		}
		if (c->reply.code != 250) {
			tlscheck_set(o, TLSCHECK_DEFER,
			    "EHLO and HELO refused (%s): next host", text);
			goto quit;
		}
	} else {
		tlscheck_set(
		    o, TLSCHECK_DEFER, "EHLO refused (%s): next host", text);
		goto quit;
	}
	ehlo_ok = true;
	printf("  starttls %s\n", ehlo.starttls ? "offered" : "not-offered");
	if (p->sec == MTA_SEC_NONE)
		tlscheck_set(o, TLSCHECK_DELIVER,
		    "tls-policy none: would deliver in plaintext (no "
		    "STARTTLS)");
	if (!ehlo.starttls) {
		if (required)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: STARTTLS not offered: would defer", p->label);
		else if (p->sec == MTA_SEC_OPPORTUNISTIC &&
			 tlscheck_downgrade(tc, name, "STARTTLS not offered", o,
			     note, sizeof(note)))
			;
		else
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: STARTTLS not offered: would deliver in "
			    "plaintext%s",
			    p->label, p->sec == MTA_SEC_OPPORTUNISTIC ? note : "");
		goto quit;
	}
	if (tlscheck_cmd(c, "STARTTLS", "starttls-reply", text, sizeof(text)) !=
	    0) {
		tlscheck_set(o, TLSCHECK_DEFER, "STARTTLS: %s", c->err);
		goto close;
	}
	if (c->reply.code != 220) {
		if (required)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: STARTTLS refused (%s): would defer", p->label,
			    text);
		else
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: STARTTLS refused (%s): would deliver in "
			    "plaintext",
			    p->label, text);
		goto quit;
	}
	/* RFC 3207 4.2, CVE-2011-0411: nothing said before TLS counts. */
	if (c->inlen > 0)
		printf("  discarded %zu bytes sent before the TLS handshake\n",
		    c->inlen);
	c->inlen = 0;
	smtp_reply_init(&c->parser);
	if (tlscheck_handshake(tc, c, p, dh, name) != 0) {
		printf("  tls failed %s\n", c->err);
		if (required)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: TLS %s: would defer", p->label, c->err);
		else if (p->sec == MTA_SEC_OPPORTUNISTIC &&
			 tlscheck_downgrade(
			     tc, name, c->err, o, note, sizeof(note)))
			;
		else
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: TLS %s: would retry in plaintext%s", p->label,
			    c->err, p->sec == MTA_SEC_OPPORTUNISTIC ? note : "");
		/* The TLS state is unknown: no QUIT. */
		SSL_free(c->ssl);
		c->ssl = NULL;
		goto close;
	}
	tls = true;
	tlscheck_verify(tc, c, p, dane_absent, name, o);
	/* RFC 3207 4.2: EHLO again; REQUIRETLS is offered only now. */
	memset(&ehlo, 0, sizeof(ehlo));
	r = tlscheck_cmd(c, cmd, "ehlo-tls", text, sizeof(text));
	if (r != 0 || c->reply.code != 250) {
		if (o->action == TLSCHECK_DELIVER &&
		    p->sec != MTA_SEC_NONE) {
			o->action = TLSCHECK_DEFER;
			snprintf(o->why, sizeof(o->why),
			    "EHLO after STARTTLS failed: next address");
		}
		if (r != 0)
			goto close;
		goto quit;
	}
	smtp_ehlo_parse(&c->reply, &ehlo);
quit:
	if (ehlo_ok)
		printf("  requiretls %s%s\n",
		    ehlo.requiretls ? "offered" : "not-offered",
		    tls || ehlo.requiretls ? "" : " (only after TLS)");
	c->timeout = c->timeout > 10 ? 10 : c->timeout;
	(void)tlscheck_cmd(c, "QUIT", "quit", NULL, 0);
	if (c->ssl != NULL)
		(void)SSL_shutdown(c->ssl); /* once, without waiting */
close:
	ERR_clear_error();
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	tlscheck_set(o, TLSCHECK_DEFER, "no verdict");
	printf("  outcome %s %s\n",
	    o->action == TLSCHECK_DELIVER ? "deliver" : "defer", o->why);
	free(c);
	return o->action == TLSCHECK_DELIVER;
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
	tlscheck_iso((time_t)last, iso, sizeof(iso));
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
		if ((v = tlscheck_num(colon + 1, 1, 65535)) < 0)
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
			if ((sts_port = tlscheck_num(argv[++i], 1, 65535)) < 0)
				return tlscheck_usage();
		} else if (strcmp(a, "--sts-timeout") == 0 && more) {
			if ((sts_timeout = tlscheck_num(argv[++i], 1, 3600)) <
			    0)
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
