/*
 * conf_outbound: the keywords of outbound delivery (read by src/remote and
 * src/sched): outbound-source, outbound-tls and tls-policy, smarthost and
 * smarthost-tls, dns-resolver, dns-trust-anchor, dns-option, the
 * transport security ones (tls-remember-policy, tlsrpt-contact), their
 * defaults and the checks that involve several of them. The simple
 * numbers and paths among them are plain entries of conf_parse.c's
 * keyword table. docs/config.md describes each.
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"
#include "lib/numparse.h"
#include "lib/span.h"
#include "lib/xalloc.h"

/* Parses one IPv4 or IPv6 address (no brackets, no port). 0 or -1. */
static int
conf_addr_parse(const char *s, struct sockaddr_storage *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)out;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		return 0;
	}
	return -1;
}

/* outbound-source ADDR [ADDR]: at most one address per family. */
int
conf_do_source(struct conf_parser *p, const struct conf_keyword *kw)
{
	struct sockaddr_storage ss;
	char clip[64];
	size_t i;

	if (p->argc < 2)
		return conf_parse_error(p, "%s: missing value", kw->name);
	for (i = 1; i < p->argc; i++) {
		struct sockaddr_storage *slot;
		if (conf_addr_parse(p->argv[i], &ss) < 0)
			return conf_parse_error(p,
			    "%s: '%s' is not an IPv4 or IPv6 address",
			    kw->name, conf_clip(p->argv[i], clip,
			    sizeof(clip)));
		slot = ss.ss_family == AF_INET ? &p->c->source4 :
		    &p->c->source6;
		if (slot->ss_family != 0)
			return conf_parse_error(p, "%s: more than one %s "
			    "address", kw->name,
			    ss.ss_family == AF_INET ? "IPv4" : "IPv6");
		*slot = ss;
	}
	return 0;
}

/* A TLS policy name. 0 and *out, or -1. */
static int
conf_tls_policy_parse(const char *s, enum conf_tls_policy *out)
{
	enum conf_tls_policy i;

	for (i = CONF_TLS_NONE; i <= CONF_TLS_VERIFY; i++) {
		if (strcmp(s, conf_tls_policy_name(i)) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

int
conf_do_tls(struct conf_parser *p, const struct conf_keyword *kw)
{
	char clip[64];

	if (conf_want_one(p, kw) < 0)
		return -1;
	if (conf_tls_policy_parse(p->argv[1], &p->c->outbound_tls) < 0)
		return conf_parse_error(p,
		    "%s: '%s' is not none, may, encrypt or verify", kw->name,
		    conf_clip(p->argv[1], clip, sizeof(clip)));
	return 0;
}

/* tls-policy DOMAIN POLICY; DOMAIN may start with '.' (subdomains). */
int
conf_do_tls_rule(struct conf_parser *p, const struct conf_keyword *kw)
{
	struct conf *c = p->c;
	struct conf_tls_rule r;
	const char *d;
	char clip[64];
	size_t i;

	if (p->argc != 3)
		return conf_parse_error(p, "%s: expected DOMAIN POLICY",
		    kw->name);
	d = p->argv[1];
	if (!conf_domain_is_valid(d + (d[0] == '.'), strlen(d + (d[0] ==
	    '.'))))
		return conf_parse_error(p, "%s: '%s' is not a valid domain "
		    "(or .domain for its subdomains)", kw->name,
		    conf_clip(d, clip, sizeof(clip)));
	if (conf_tls_policy_parse(p->argv[2], &r.policy) < 0)
		return conf_parse_error(p,
		    "%s: '%s' is not none, may, encrypt or verify", kw->name,
		    conf_clip(p->argv[2], clip, sizeof(clip)));
	for (i = 0; i < c->ntls_rules; i++)
		if (strcasecmp(c->tls_rules[i].domain, d) == 0)
			return conf_parse_error(p, "%s: '%s' given twice",
			    kw->name, conf_clip(d, clip, sizeof(clip)));
	if (c->ntls_rules == CONF_DOMAIN_MAX)
		return conf_parse_error(p, "%s: more than %u rules", kw->name,
		    CONF_DOMAIN_MAX);
	r.domain = xstrdup(d);
	conf_lower(r.domain);
	c->tls_rules = xreallocarray(c->tls_rules, c->ntls_rules + 1,
	    sizeof(*c->tls_rules));
	c->tls_rules[c->ntls_rules++] = r;
	return 0;
}

/* smarthost HOST[:PORT] or [ADDR]:PORT-less forms: a host name or an
 * IPv4 address, or [IPv6]; the port defaults by smarthost-tls. */
int
conf_do_smarthost(struct conf_parser *p, const struct conf_keyword *kw)
{
	const char *v, *colon;
	char host[256], clip[64];
	size_t hn;
	uint64_t port = 0;
	struct sockaddr_storage ss;

	if (conf_want_one(p, kw) < 0)
		return -1;
	v = p->argv[1];
	if (v[0] == '[') {
		const char *close = strchr(v, ']');
		if (close == NULL || (close[1] != '\0' && close[1] != ':'))
			return conf_parse_error(p, "%s: expected [IPv6] or "
			    "[IPv6]:PORT", kw->name);
		hn = (size_t)(close - v - 1);
		colon = close[1] == ':' ? close + 1 : NULL;
		if (hn == 0 || hn >= sizeof(host))
			return conf_parse_error(p, "%s: invalid address",
			    kw->name);
		memcpy(host, v + 1, hn);
		host[hn] = '\0';
		if (conf_addr_parse(host, &ss) < 0 || ss.ss_family != AF_INET6)
			return conf_parse_error(p, "%s: '%s' is not an IPv6 "
			    "address", kw->name, conf_clip(host, clip,
			    sizeof(clip)));
	} else {
		colon = strchr(v, ':');
		hn = colon ? (size_t)(colon - v) : strlen(v);
		if (hn == 0 || hn >= sizeof(host))
			return conf_parse_error(p, "%s: invalid host",
			    kw->name);
		memcpy(host, v, hn);
		host[hn] = '\0';
		if (!conf_domain_is_valid(host, hn) &&
		    conf_addr_parse(host, &ss) < 0)
			return conf_parse_error(p, "%s: '%s' is not a host "
			    "name or address", kw->name, conf_clip(host, clip,
			    sizeof(clip)));
	}
	if (colon != NULL && numparse_u64(span_cstr(colon + 1), 1, 65535,
	    &port) < 0)
		return conf_parse_error(p, "%s: port must be 1..65535",
		    kw->name);
	p->c->smarthost = xstrdup(host);
	conf_lower(p->c->smarthost);
	p->c->smarthost_port = (unsigned)port;
	return 0;
}

int
conf_do_smarthost_tls(struct conf_parser *p, const struct conf_keyword *kw)
{
	char clip[64];

	if (conf_want_one(p, kw) < 0)
		return -1;
	if (strcmp(p->argv[1], "starttls") == 0)
		p->c->smarthost_tls = CONF_SMARTHOST_STARTTLS;
	else if (strcmp(p->argv[1], "implicit") == 0)
		p->c->smarthost_tls = CONF_SMARTHOST_IMPLICIT;
	else if (strcmp(p->argv[1], "none") == 0)
		p->c->smarthost_tls = CONF_SMARTHOST_NONE;
	else
		return conf_parse_error(p,
		    "%s: '%s' is not starttls, implicit or none", kw->name,
		    conf_clip(p->argv[1], clip, sizeof(clip)));
	return 0;
}

/*
 * dns-resolver resolv.conf | recursive | ADDR[@PORT]...: where libunbound
 * sends its questions.
 */
int
conf_do_dns_resolver(struct conf_parser *p, const struct conf_keyword *kw)
{
	struct conf *c = p->c;
	char clip[64], host[64];
	size_t i;

	if (p->argc < 2)
		return conf_parse_error(p, "%s: missing value", kw->name);
	if (strcmp(p->argv[1], "resolv.conf") == 0 ||
	    strcmp(p->argv[1], "recursive") == 0) {
		if (p->argc > 2)
			return conf_parse_error(p, "%s: too many values",
			    kw->name);
		c->dns_mode = strcmp(p->argv[1], "recursive") == 0 ?
		    CONF_DNS_RECURSIVE : CONF_DNS_RESOLVCONF;
		return 0;
	}
	if (p->argc - 1 > 16)
		return conf_parse_error(p, "%s: more than 16 servers",
		    kw->name);
	c->dns_mode = CONF_DNS_FORWARD;
	c->dns_forwarders = xcalloc(p->argc - 1, sizeof(char *));
	for (i = 1; i < p->argc; i++) {
		const char *v = p->argv[i], *at = strchr(v, '@');
		size_t hn = at ? (size_t)(at - v) : strlen(v);
		struct sockaddr_storage ss;
		uint64_t port;

		if (hn == 0 || hn >= sizeof(host))
			return conf_parse_error(p, "%s: '%s' is not ADDR or "
			    "ADDR@PORT", kw->name, conf_clip(v, clip,
			    sizeof(clip)));
		memcpy(host, v, hn);
		host[hn] = '\0';
		if (conf_addr_parse(host, &ss) < 0 || (at != NULL &&
		    numparse_u64(span_cstr(at + 1), 1, 65535, &port) < 0))
			return conf_parse_error(p, "%s: '%s' is not ADDR or "
			    "ADDR@PORT", kw->name, conf_clip(v, clip,
			    sizeof(clip)));
		c->dns_forwarders[c->ndns_forwarders++] = xstrdup(v);
	}
	return 0;
}

int
conf_do_trust_anchor(struct conf_parser *p, const struct conf_keyword *kw)
{
	if (conf_want_one(p, kw) < 0)
		return -1;
	if (strcmp(p->argv[1], "none") == 0) {
		/* conf_finish turns "" into NULL, after the defaults. */
		p->c->dns_trust_anchor = xstrdup("");
		return 0;
	}
	return conf_do_path(p, kw);
}

/* dns-option NAME VALUE: passed to libunbound as "NAME:" VALUE. */
int
conf_do_dns_option(struct conf_parser *p, const struct conf_keyword *kw)
{
	struct conf *c = p->c;
	const char *n;
	size_t i;

	if (p->argc != 3)
		return conf_parse_error(p, "%s: expected NAME VALUE",
		    kw->name);
	n = p->argv[1];
	for (i = 0; n[i] != '\0'; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' &&
		    n[i] <= '9') || n[i] == '-'))
			return conf_parse_error(p, "%s: '%s' is not an "
			    "unbound option name", kw->name, n);
	if (i == 0 || i > 64 || c->ndns_options >= 64)
		return conf_parse_error(p, "%s: invalid or too many options",
		    kw->name);
	c->dns_options = xreallocarray(c->dns_options,
	    2 * (c->ndns_options + 1), sizeof(char *));
	c->dns_options[2 * c->ndns_options] = xstrdup(n);
	c->dns_options[2 * c->ndns_options + 1] = xstrdup(p->argv[2]);
	c->ndns_options++;
	return 0;
}

const char *
conf_tls_remember_name(enum conf_tls_remember p)
{
	return p == CONF_REMEMBER_WARN ? "warn" : "remember";
}

int
conf_do_remember(struct conf_parser *p, const struct conf_keyword *kw)
{
	char clip[64];

	if (conf_want_one(p, kw) < 0)
		return -1;
	if (strcmp(p->argv[1], "remember") == 0)
		p->c->tls_remember_policy = CONF_REMEMBER_DEFER;
	else if (strcmp(p->argv[1], "warn") == 0)
		p->c->tls_remember_policy = CONF_REMEMBER_WARN;
	else
		return conf_parse_error(p, "%s: '%s' is not remember or warn",
		    kw->name, conf_clip(p->argv[1], clip, sizeof(clip)));
	return 0;
}

/* tlsrpt-contact LOCAL@DOMAIN: printable, no spaces or quotes. */
int
conf_do_tlsrpt_contact(struct conf_parser *p, const struct conf_keyword *kw)
{
	const char *a, *at;
	char clip[64];
	size_t i;

	if (conf_want_one(p, kw) < 0)
		return -1;
	a = p->argv[1];
	at = strrchr(a, '@');
	for (i = 0; a[i] != '\0'; i++)
		if (a[i] <= ' ' || a[i] > '~' || strchr("\"<>(),;:\\[]",
		    a[i]) != NULL)
			break;
	if (a[i] != '\0' || at == NULL || at == a || i > 254 ||
	    !conf_domain_is_valid(at + 1, strlen(at + 1)))
		return conf_parse_error(p, "%s: '%s' is not an address "
		    "local@domain", kw->name, conf_clip(a, clip,
		    sizeof(clip)));
	free(p->c->tlsrpt_contact);
	p->c->tlsrpt_contact = xstrdup(a);
	return 0;
}

void
conf_outbound_defaults(struct conf *c)
{
	c->remote_concurrency = 100;
	c->destination_concurrency = 20;
	c->delay_warning = 4 * 3600;
	c->remote_port = 25;
	c->remote_timeout_connect = 30;
	c->remote_timeout_command = 5 * 60;
	c->remote_timeout_data = 10 * 60;
	c->outbound_tls = CONF_TLS_MAY;
	c->smarthost_verify = true;
	c->dns_mode = CONF_DNS_RESOLVCONF;
	c->dane = true;
	c->mta_sts = true;
	c->tls_remember = 30 * 86400;
	c->tlsrpt = true;
}

int
conf_outbound_finish(struct conf_parser *p)
{
	struct conf *c = p->c;

	if (c->user_remote == NULL)
		c->user_remote = xstrdup("petrel-remote");
	if (c->outbound_ca_file == NULL)
		c->outbound_ca_file = xstrdup(
		    "/etc/ssl/certs/ca-certificates.crt");
	if (c->sts_ca_file == NULL)
		c->sts_ca_file = xstrdup(c->outbound_ca_file);
	if (c->tlsrpt_contact == NULL) {
		size_t n = strlen(c->hostname) + sizeof("postmaster@");
		c->tlsrpt_contact = xmalloc(n);
		snprintf(c->tlsrpt_contact, n, "postmaster@%s", c->hostname);
	}
	if (c->dns_trust_anchor == NULL) {
		c->dns_trust_anchor = xstrdup("/usr/share/dns/root.key");
	} else if (c->dns_trust_anchor[0] == '\0') {
		free(c->dns_trust_anchor);	/* "none" */
		c->dns_trust_anchor = NULL;
	}
	if (c->smarthost != NULL && c->smarthost_port == 0)
		c->smarthost_port = c->smarthost_tls ==
		    CONF_SMARTHOST_IMPLICIT ? 465 : c->smarthost_tls ==
		    CONF_SMARTHOST_NONE ? 25 : 587;
	if (c->smarthost_auth != NULL &&
	    c->smarthost_tls == CONF_SMARTHOST_NONE) {
		p->line = conf_seen_line(p, "smarthost-auth");
		return conf_parse_error(p, "smarthost-auth: passwords are "
		    "never sent without TLS (smarthost-tls none)");
	}
	return 0;
}
