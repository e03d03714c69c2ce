/*
 * conf_util: questions asked of a parsed struct conf (local domain? may
 * this client relay?), its release, the embedded default configuration,
 * the system hostname lookup and the formatting helpers shared with
 * conf_dump.c. The hostname lookup is the module's only contact with the
 * system; everything else here is pure.
 */
#include "conf/conf.h"

#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/conf_int.h"

/*
 * The embedded default: everything on loopback with unprivileged ports,
 * state under ./petrel-data (the caller passes the working directory as
 * base_dir), so `petrel` can be tried without root or a file.
 */
static const char conf_default[] =
    "# petrel built-in configuration for a local trial (see "
    "docs/config.md)\n"
    "hostname localhost\n"
    "state-dir petrel-data\n"
    "listen 127.0.0.1:2525 mx\n"
    "listen 127.0.0.1:2587 submission\n"
    "listen 127.0.0.1:2465 submissions\n"
    "domain localhost\n";

const char *
conf_default_text(void)
{
	return conf_default;
}

void
conf_free(struct conf *c)
{
	size_t i;

	free(c->hostname);
	free(c->state_dir);
	free(c->spool_dir);
	free(c->mail_dir);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->listeners);
	for (i = 0; i < c->ndomains; i++)
		free(c->domains[i]);
	free(c->domains);
	free(c->users_file);
	free(c->aliases_file);
	free(c->relay_nets);
	free(c->user_smtp);
	free(c->user_queue);
	free(c->user_local);
	free(c->user_auth);
	free(c->user_remote);
	for (i = 0; i < c->ntls_rules; i++)
		free(c->tls_rules[i].domain);
	free(c->tls_rules);
	free(c->outbound_ca_file);
	free(c->smarthost);
	free(c->smarthost_auth);
	for (i = 0; i < c->ndns_forwarders; i++)
		free(c->dns_forwarders[i]);
	free(c->dns_forwarders);
	free(c->dns_trust_anchor);
	for (i = 0; i < 2 * c->ndns_options; i++)
		free(c->dns_options[i]);
	free(c->dns_options);
	free(c->sts_ca_file);
	free(c->tlsrpt_contact);
	memset(c, 0, sizeof(*c));
}

enum conf_tls_policy
conf_tls_policy_for(const struct conf *c, const char *domain)
{
	size_t i, dn = strlen(domain), best = 0;
	enum conf_tls_policy p = c->outbound_tls;

	for (i = 0; i < c->ntls_rules; i++) {
		const char *r = c->tls_rules[i].domain;
		size_t rn = strlen(r);
		if (r[0] != '.') {
			if (strcasecmp(r, domain) == 0)
				return c->tls_rules[i].policy;
			continue;
		}
		if (rn < dn && rn > best &&
		    strcasecmp(domain + dn - rn, r) == 0) {
			best = rn;
			p = c->tls_rules[i].policy;
		}
	}
	return p;
}

const char *
conf_tls_policy_name(enum conf_tls_policy p)
{
	static const char *const names[] = { "none", "may", "encrypt",
		"verify" };

	return (unsigned)p < 4 ? names[p] : "?";
}

bool
conf_is_local_domain(const struct conf *c, const char *domain)
{
	size_t i;

	for (i = 0; i < c->ndomains; i++)
		if (strcasecmp(c->domains[i], domain) == 0)
			return true;
	return false;
}

/* True if the first prefix bits of a and b agree. */
static bool
conf_prefix_match(const unsigned char *a, const unsigned char *b,
    unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ b[full]) & (0xffu << (8 - rest)) & 0xffu) == 0;
}

/*
 * Both forms of a client address are tried: an IPv4 client also as
 * ::ffff:a.b.c.d, and an IPv4-mapped IPv6 client (a dual-stack socket's
 * view of an IPv4 peer) also as plain IPv4, so "relay-from 192.0.2.0/24"
 * works whichever socket accepted the connection.
 */
bool
conf_may_relay(const struct conf *c, const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 0xff, 0xff };
	unsigned char v4[4], v6[16];
	bool have4 = false, have6 = false;
	size_t i;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;
		memcpy(v4, &sin->sin_addr, 4);
		memcpy(v6, mapped, 12);
		memcpy(v6 + 12, v4, 4);
		have4 = have6 = true;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;
		memcpy(v6, &sin6->sin6_addr, 16);
		have6 = true;
		if (memcmp(v6, mapped, 12) == 0) {
			memcpy(v4, v6 + 12, 4);
			have4 = true;
		}
	}
	for (i = 0; i < c->nrelay_nets; i++) {
		const struct conf_net *n = &c->relay_nets[i];
		if (n->family == AF_INET && have4 &&
		    conf_prefix_match(n->addr, v4, n->prefix))
			return true;
		if (n->family == AF_INET6 && have6 &&
		    conf_prefix_match(n->addr, v6, n->prefix))
			return true;
	}
	return false;
}

const char *
conf_role_name(enum conf_role r)
{
	switch (r) {
	case CONF_ROLE_MX:
		return "mx";
	case CONF_ROLE_SUBMISSION:
		return "submission";
	case CONF_ROLE_SUBMISSIONS:
		return "submissions";
	case CONF_ROLE_LOCAL:
		return "local";
	}
	return "unknown";
}

const char *
conf_log_level_name(int level)
{
	static const char *const names[] = { "debug", "info", "warn",
		"error" };

	if (level < 0 || level > 3)
		return NULL;
	return names[level];
}

/*
 * Writes v with the largest unit of units (multipliers mults, count n)
 * that divides it exactly, or bare when none does.
 */
static char *
conf_fmt_unit(uint64_t v, const char *units, const uint64_t *mults,
    size_t n, char *out, size_t outsz)
{
	size_t i;

	for (i = n; i-- > 0;) {
		if (v != 0 && v % mults[i] == 0) {
			(void)snprintf(out, outsz, "%llu%c",
			    (unsigned long long)(v / mults[i]), units[i]);
			return out;
		}
	}
	(void)snprintf(out, outsz, "%llu", (unsigned long long)v);
	return out;
}

char *
conf_fmt_size(uint64_t v, char *out, size_t outsz)
{
	static const uint64_t mults[] = { 1024, 1024 * 1024,
		1024 * 1024 * 1024 };

	return conf_fmt_unit(v, "KMG", mults, 3, out, outsz);
}

char *
conf_fmt_duration(uint64_t v, char *out, size_t outsz)
{
	static const uint64_t mults[] = { 1, 60, 3600, 86400 };

	return conf_fmt_unit(v, "smhd", mults, 4, out, outsz);
}

char *
conf_fmt_net(const struct conf_net *n, char *out, size_t outsz)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(n->family, n->addr, a, sizeof(a)) == NULL)
		(void)snprintf(a, sizeof(a), "?");
	(void)snprintf(out, outsz, "%s/%u", a, n->prefix);
	return out;
}

int
conf_system_hostname(char *out, size_t outsz)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	int n;

	if (outsz > 0)
		out[0] = '\0';
	if (gethostname(host, sizeof(host)) != 0)
		return -1;
	host[sizeof(host) - 1] = '\0';
	if (host[0] == '\0')
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_CANONNAME;
	if (strchr(host, '.') == NULL &&
	    getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL &&
	    res->ai_canonname != NULL && strchr(res->ai_canonname, '.')) {
		n = snprintf(out, outsz, "%s", res->ai_canonname);
		freeaddrinfo(res);
		if (n >= 0 && (size_t)n < outsz)
			return 0;
	} else if (res != NULL) {
		freeaddrinfo(res);
	}
	n = snprintf(out, outsz, "%s", host);
	return n >= 0 && (size_t)n < outsz ? 0 : -1;
}
