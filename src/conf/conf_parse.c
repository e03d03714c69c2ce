/*
 * conf_parse: turns the text of petrel.conf into a struct conf. Pure apart
 * from the default hostname (conf_util.c), so every process can parse the
 * same bytes and a reload can build a new struct beside the old one.
 *
 * Grammar (docs/config.md explains each keyword):
 *
 *   file    = *( line LF ) [ line ]        ; a CR before LF is dropped
 *   line    = *WSP [ word *( 1*WSP word ) *WSP ] [ "#" *any ]
 *   word    = bare / quoted
 *   bare    = 1*( any byte but WSP, '"', '#', control )
 *   quoted  = DQUOTE *( any byte but '"', '\', control
 *                       / "\" DQUOTE / "\\" ) DQUOTE
 *
 * The first word is the keyword (case-sensitive), the rest its values.
 * A quoted word must be followed by WSP, '#' or the line end. Control bytes
 * (NUL, CR not before LF, DEL, ...) other than TAB are errors anywhere, so
 * no value can carry one. A line holds at most CONF_LINE_MAX bytes.
 *
 * Each error names the file and line, "petrel.conf:7: unknown keyword
 * 'lisen'", and parsing stops at the first one. A keyword that is not
 * repeatable (everything but listen, domain and relay-from) may appear once;
 * the second occurrence is an error naming the first line. Defaults are
 * filled in after the last line, so the order of lines does not matter.
 */
#include "conf/conf.h"

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"
#include "lib/numparse.h"
#include "lib/span.h"
#include "lib/xalloc.h"

static int conf_do_hostname(struct conf_parser *, const struct conf_keyword *);
static int conf_do_listen(struct conf_parser *, const struct conf_keyword *);
static int conf_do_domain(struct conf_parser *, const struct conf_keyword *);
static int conf_do_delimiter(struct conf_parser *,
    const struct conf_keyword *);
static int conf_do_relay(struct conf_parser *, const struct conf_keyword *);
static int conf_do_size(struct conf_parser *, const struct conf_keyword *);
static int conf_do_uint(struct conf_parser *, const struct conf_keyword *);
static int conf_do_duration(struct conf_parser *,
    const struct conf_keyword *);
static int conf_do_bool(struct conf_parser *, const struct conf_keyword *);
static int conf_do_user(struct conf_parser *, const struct conf_keyword *);
static int conf_do_log_level(struct conf_parser *,
    const struct conf_keyword *);

#define CONF_OFF(f) offsetof(struct conf, f)
#define CONF_DAY 86400u

/*
 * Every keyword with its handler and range. The ranges are documented in
 * docs/config.md; keep the two in step.
 */
static const struct conf_keyword conf_keywords[] = {
	{ "hostname", conf_do_hostname, CONF_OFF(hostname), 0, 0, false },
	{ "state-dir", conf_do_path, CONF_OFF(state_dir), 0, 0, false },
	{ "spool-dir", conf_do_path, CONF_OFF(spool_dir), 0, 0, false },
	{ "mail-dir", conf_do_path, CONF_OFF(mail_dir), 0, 0, false },
	{ "tls-certificate", conf_do_path, CONF_OFF(tls_cert), 0, 0, false },
	{ "tls-key", conf_do_path, CONF_OFF(tls_key), 0, 0, false },
	{ "listen", conf_do_listen, 0, 0, 0, true },
	{ "domain", conf_do_domain, 0, 0, 0, true },
	{ "users", conf_do_path, CONF_OFF(users_file), 0, 0, false },
	{ "aliases", conf_do_path, CONF_OFF(aliases_file), 0, 0, false },
	{ "recipient-delimiter", conf_do_delimiter, 0, 0, 0, false },
	{ "relay-from", conf_do_relay, 0, 0, 0, true },
	{ "max-message-size", conf_do_size, CONF_OFF(max_message_size), 1024,
	    (uint64_t)4 << 30, false },
	{ "max-recipients", conf_do_uint, CONF_OFF(max_recipients), 100,
	    100000, false },
	{ "max-errors", conf_do_uint, CONF_OFF(max_errors), 1, 1000, false },
	{ "max-connections", conf_do_uint, CONF_OFF(max_connections), 1,
	    100000, false },
	{ "max-connections-per-ip", conf_do_uint,
	    CONF_OFF(max_connections_per_ip), 1, 100000, false },
	{ "max-command-line", conf_do_uint, CONF_OFF(max_command_line), 512,
	    65536, false },
	{ "max-text-line", conf_do_uint, CONF_OFF(max_text_line), 1000, 65536,
	    false },
	{ "timeout-command", conf_do_duration, CONF_OFF(timeout_command), 1,
	    CONF_DAY, false },
	{ "timeout-data", conf_do_duration, CONF_OFF(timeout_data), 1,
	    CONF_DAY, false },
	{ "expn", conf_do_bool, CONF_OFF(expn), 0, 0, false },
	{ "user-smtp", conf_do_user, CONF_OFF(user_smtp), 0, 0, false },
	{ "user-queue", conf_do_user, CONF_OFF(user_queue), 0, 0, false },
	{ "user-local", conf_do_user, CONF_OFF(user_local), 0, 0, false },
	{ "user-auth", conf_do_user, CONF_OFF(user_auth), 0, 0, false },
	{ "auth-fail-limit-ip", conf_do_uint, CONF_OFF(auth_fail_limit_ip), 1,
	    100000, false },
	{ "auth-fail-limit-user", conf_do_uint, CONF_OFF(auth_fail_limit_user),
	    1, 100000, false },
	{ "auth-fail-window", conf_do_duration, CONF_OFF(auth_fail_window), 1,
	    CONF_DAY, false },
	{ "auth-fail-delay", conf_do_duration, CONF_OFF(auth_fail_delay), 0,
	    60, false },
	{ "sender-check", conf_do_bool, CONF_OFF(sender_check), 0, 0, false },
	{ "received-client", conf_do_bool, CONF_OFF(received_client), 0, 0,
	    false },
	{ "retry-min", conf_do_duration, CONF_OFF(retry_min), 1, CONF_DAY,
	    false },
	{ "retry-max", conf_do_duration, CONF_OFF(retry_max), 1,
	    30 * CONF_DAY, false },
	{ "queue-lifetime", conf_do_duration, CONF_OFF(queue_lifetime), 1,
	    60 * CONF_DAY, false },
	{ "local-concurrency", conf_do_uint, CONF_OFF(local_concurrency), 1,
	    256, false },
	{ "log-level", conf_do_log_level, CONF_OFF(log_level), 0, 0, false },
	{ "user-remote", conf_do_user, CONF_OFF(user_remote), 0, 0, false },
	{ "remote-concurrency", conf_do_uint, CONF_OFF(remote_concurrency), 1,
	    10000, false },
	{ "destination-concurrency", conf_do_uint,
	    CONF_OFF(destination_concurrency), 1, 10000, false },
	{ "delay-warning", conf_do_duration, CONF_OFF(delay_warning), 0,
	    30 * CONF_DAY, false },
	{ "remote-port", conf_do_uint, CONF_OFF(remote_port), 1, 65535,
	    false },
	{ "remote-timeout-connect", conf_do_duration,
	    CONF_OFF(remote_timeout_connect), 1, 3600, false },
	{ "remote-timeout-command", conf_do_duration,
	    CONF_OFF(remote_timeout_command), 1, 3600, false },
	{ "remote-timeout-data", conf_do_duration,
	    CONF_OFF(remote_timeout_data), 1, 3600, false },
	{ "outbound-source", conf_do_source, 0, 0, 0, true },
	{ "outbound-tls", conf_do_tls, CONF_OFF(outbound_tls), 0, 0, false },
	{ "tls-policy", conf_do_tls_rule, 0, 0, 0, true },
	{ "outbound-ca-file", conf_do_path, CONF_OFF(outbound_ca_file), 0, 0,
	    false },
	{ "smarthost", conf_do_smarthost, 0, 0, 0, false },
	{ "smarthost-tls", conf_do_smarthost_tls, 0, 0, 0, false },
	{ "smarthost-verify", conf_do_bool, CONF_OFF(smarthost_verify), 0, 0,
	    false },
	{ "smarthost-auth", conf_do_path, CONF_OFF(smarthost_auth), 0, 0,
	    false },
	{ "dns-resolver", conf_do_dns_resolver, 0, 0, 0, false },
	{ "dns-trust-anchor", conf_do_trust_anchor, CONF_OFF(dns_trust_anchor),
	    0, 0, false },
	{ "dns-option", conf_do_dns_option, 0, 0, 0, true },
	{ "dane", conf_do_bool, CONF_OFF(dane), 0, 0, false },
	{ "mta-sts", conf_do_bool, CONF_OFF(mta_sts), 0, 0, false },
	{ "mta-sts-ca-file", conf_do_path, CONF_OFF(sts_ca_file), 0, 0,
	    false },
	{ "tls-remember", conf_do_duration, CONF_OFF(tls_remember), 0,
	    3650 * CONF_DAY, false },
	{ "tls-remember-policy", conf_do_remember, 0, 0, 0, false },
	{ "tlsrpt", conf_do_bool, CONF_OFF(tlsrpt), 0, 0, false },
	{ "tlsrpt-contact", conf_do_tlsrpt_contact, 0, 0, 0, false },
};

#define CONF_NKEYWORDS (sizeof(conf_keywords) / sizeof(conf_keywords[0]))

/* The index of keyword name in conf_keywords, or -1. */
static int
conf_keyword_index(const char *name)
{
	size_t i;

	for (i = 0; i < CONF_NKEYWORDS; i++)
		if (strcmp(conf_keywords[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* The first line of the keyword called name, 0 when it was not given. */
unsigned
conf_seen_line(const struct conf_parser *p, const char *name)
{
	int i = conf_keyword_index(name);

	return i < 0 ? 0 : p->seen[i];
}

/*
 * Writes "name:line: " and the formatted message into p->err (just
 * "name: " when p->line is 0). Returns -1 so callers can return it.
 */
int
conf_parse_error(struct conf_parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->errsz == 0)
		return -1;
	if (p->line > 0)
		n = snprintf(p->err, p->errsz, "%s:%u: ", p->name, p->line);
	else
		n = snprintf(p->err, p->errsz, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errsz)
		return -1;	/* already truncated; nothing more fits */
	va_start(ap, fmt);
	(void)vsnprintf(p->err + n, p->errsz - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Copies a value into out for an error message: at most 60 bytes, then
 * "...", with bytes outside printable ASCII shown as '?' (the lexer already
 * refuses control bytes; this also keeps raw UTF-8 out of log lines).
 * Returns out.
 */
const char *
conf_clip(const char *s, char *out, size_t outsz)
{
	size_t i, lim = outsz < 64 ? 0 : 60;

	if (outsz == 0)
		return out;
	for (i = 0; s[i] != '\0' && i < lim; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s[i] != '\0' && lim > 0) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/*
 * Splits one line (n bytes, no LF) into words in p->tok / p->argv per the
 * grammar above. Returns 0 (argc may be 0 for a blank line) or -1.
 */
static int
conf_lex_line(struct conf_parser *p, const char *s, size_t n)
{
	size_t i = 0, o = 0;

	p->argc = 0;
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n > CONF_LINE_MAX)
		return conf_parse_error(p, "line too long (more than %u bytes)",
		    CONF_LINE_MAX);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return conf_parse_error(p,
			    "control character 0x%02x in line", ch);
	}
	i = 0;
	for (;;) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n || s[i] == '#')
			return 0;
		p->argv[p->argc++] = p->tok + o;
		if (s[i] == '"') {
			for (i++;; i++) {
				if (i == n)
					return conf_parse_error(p,
					    "unterminated quoted string");
				if (s[i] == '"')
					break;
				if (s[i] == '\\') {
					if (i + 1 == n || (s[i + 1] != '"' &&
					    s[i + 1] != '\\'))
						return conf_parse_error(p,
						    "invalid escape in quoted "
						    "string (only \\\" and \\\\)");
					i++;
				}
				p->tok[o++] = s[i];
			}
			i++;
			if (i < n && s[i] != ' ' && s[i] != '\t' &&
			    s[i] != '#')
				return conf_parse_error(p,
				    "missing space after closing quote");
		} else {
			while (i < n && s[i] != ' ' && s[i] != '\t' &&
			    s[i] != '#') {
				if (s[i] == '"')
					return conf_parse_error(p,
					    "unexpected '\"' inside a word");
				p->tok[o++] = s[i++];
			}
		}
		p->tok[o++] = '\0';
	}
}

/* Checks that kw got exactly one value. 0 or -1. */
int
conf_want_one(struct conf_parser *p, const struct conf_keyword *kw)
{
	if (p->argc < 2)
		return conf_parse_error(p, "%s: missing value", kw->name);
	if (p->argc > 2)
		return conf_parse_error(p, "%s: too many values", kw->name);
	return 0;
}

bool
conf_domain_is_valid(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		char ch = s[i];
		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (ch == '-') {
			if (label == 0)
				return false;
		} else if (!((ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) {
			return false;
		}
		if (++label > 63)
			return false;
	}
	return label > 0 && s[n - 1] != '-';
}

/* Lower-cases ASCII letters of s in place. */
void
conf_lower(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

static int
conf_do_hostname(struct conf_parser *p, const struct conf_keyword *kw)
{
	char clip[64];
	const char *v;

	if (conf_want_one(p, kw) < 0)
		return -1;
	v = p->argv[1];
	if (!conf_domain_is_valid(v, strlen(v)))
		return conf_parse_error(p, "%s: '%s' is not a valid host name",
		    kw->name, conf_clip(v, clip, sizeof(clip)));
	p->c->hostname = xstrdup(v);
	conf_lower(p->c->hostname);
	return 0;
}

/*
 * Resolves path against base (NULL or "" for none) and normalises it: no
 * repeated '/', no "." components, no trailing '/' (except "/" itself).
 * ".." is kept as written. Returns a new string, or NULL when the path is
 * relative without a base, too long, or contains a control byte (which a
 * base directory from the caller might).
 */
static char *
conf_path_resolve(const char *base, const char *path, const char **why)
{
	struct buf in, out;
	const char *s, *e;
	char *r;

	*why = NULL;
	buf_init(&in, CONF_PATH_MAX * 2 + 2);
	if (path[0] != '/') {
		if (base == NULL || base[0] != '/') {
			*why = "relative path needs an absolute base directory";
			return NULL;
		}
		if (buf_puts(&in, base) < 0 || buf_putc(&in, '/') < 0) {
			buf_clear(&in);
			*why = "path too long";
			return NULL;
		}
	}
	if (buf_puts(&in, path) < 0) {
		buf_clear(&in);
		*why = "path too long";
		return NULL;
	}
	buf_init(&out, CONF_PATH_MAX);
	for (s = buf_str(&in); *s != '\0'; s = e) {
		while (*s == '/')
			s++;
		for (e = s; *e != '\0' && *e != '/'; e++)
			if ((unsigned char)*e < 0x20 || *e == 0x7f)
				*why = "control character in path";
		if (e == s || (e - s == 1 && s[0] == '.'))
			continue;
		if (buf_putc(&out, '/') < 0 ||
		    buf_append(&out, s, (size_t)(e - s)) < 0)
			*why = "path too long";
	}
	buf_clear(&in);
	if (*why == NULL && out.len == 0 && buf_putc(&out, '/') < 0)
		*why = "path too long";
	if (*why != NULL) {
		buf_clear(&out);
		return NULL;
	}
	r = xstrdup(buf_str(&out));
	buf_clear(&out);
	return r;
}

int
conf_do_path(struct conf_parser *p, const struct conf_keyword *kw)
{
	char **field = (char **)(void *)((char *)p->c + kw->off);
	const char *why;

	if (conf_want_one(p, kw) < 0)
		return -1;
	if (p->argv[1][0] == '\0')
		return conf_parse_error(p, "%s: empty path", kw->name);
	*field = conf_path_resolve(p->base_dir, p->argv[1], &why);
	if (*field == NULL)
		return conf_parse_error(p, "%s: %s", kw->name, why);
	return 0;
}

/* Parses a role name. 0 and *out, or -1. */
static int
conf_role_parse(const char *s, enum conf_role *out)
{
	*out = CONF_ROLE_MX;
	if (strcmp(s, "mx") == 0)
		*out = CONF_ROLE_MX;
	else if (strcmp(s, "submission") == 0)
		*out = CONF_ROLE_SUBMISSION;
	else if (strcmp(s, "submissions") == 0)
		*out = CONF_ROLE_SUBMISSIONS;
	else
		return -1;
	return 0;
}

/*
 * Parses "ADDR:PORT" where ADDR is a dotted quad, "[IPv6]" or "*"
 * (0.0.0.0) into l. Returns NULL, or what is wrong.
 */
static const char *
conf_listen_parse(const char *s, struct conf_listener *l)
{
	char host[64];
	const char *colon, *h;
	size_t hn;
	uint64_t port;
	int rc;

	memset(l, 0, sizeof(*l));
	if (strlen(s) >= sizeof(l->text))
		return "address too long";
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL)
			return "missing ']' after IPv6 address";
		if (close[1] != ':')
			return "missing ':PORT' after the address";
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return "missing ':PORT' after the address";
		h = s;
		hn = (size_t)(colon - s);
	}
	rc = numparse_u64(span_cstr(colon + 1), 1, 65535, &port);
	if (rc == -1)
		return "port is not a number";
	if (rc < 0)
		return "port must be 1..65535";
	if (hn == 0 || hn >= sizeof(host))
		return "invalid address (IPv4, [IPv6] or *)";
	memcpy(host, h, hn);
	host[hn] = '\0';
	if (s[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return "invalid IPv6 address";
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		l->addrlen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
		if (strcmp(host, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return "invalid address (IPv4, [IPv6] or *)";
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		l->addrlen = sizeof(*sin);
	}
	(void)snprintf(l->text, sizeof(l->text), "%s", s);
	return NULL;
}

/* True if two listeners bind the same address and port. */
static bool
conf_listener_same(const struct conf_listener *a,
    const struct conf_listener *b)
{
	return a->addrlen == b->addrlen &&
	    memcmp(&a->addr, &b->addr, a->addrlen) == 0;
}

/* Appends listener l, refusing duplicates. 0 or -1. */
static int
conf_listener_add(struct conf_parser *p, const struct conf_listener *l)
{
	struct conf *c = p->c;
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		if (conf_listener_same(&c->listeners[i], l))
			return conf_parse_error(p,
			    "listen: '%s' already given on line %u", l->text,
			    p->listen_lines[i]);
	if (c->nlisteners == CONF_LISTEN_MAX)
		return conf_parse_error(p, "listen: more than %u listeners",
		    CONF_LISTEN_MAX);
	c->listeners = xreallocarray(c->listeners, c->nlisteners + 1,
	    sizeof(*c->listeners));
	p->listen_lines = xreallocarray(p->listen_lines, c->nlisteners + 1,
	    sizeof(*p->listen_lines));
	c->listeners[c->nlisteners] = *l;
	p->listen_lines[c->nlisteners] = p->line;
	c->nlisteners++;
	return 0;
}

static int
conf_do_listen(struct conf_parser *p, const struct conf_keyword *kw)
{
	struct conf_listener l;
	const char *why;
	char clip[64];

	if (p->argc < 3)
		return conf_parse_error(p, "%s: expected ADDR:PORT ROLE",
		    kw->name);
	if (p->argc > 3)
		return conf_parse_error(p, "%s: too many values", kw->name);
	why = conf_listen_parse(p->argv[1], &l);
	if (why != NULL)
		return conf_parse_error(p, "%s: '%s': %s", kw->name,
		    conf_clip(p->argv[1], clip, sizeof(clip)), why);
	if (conf_role_parse(p->argv[2], &l.role) < 0)
		return conf_parse_error(p,
		    "%s: unknown role '%s' (mx, submission or submissions)",
		    kw->name, conf_clip(p->argv[2], clip, sizeof(clip)));
	return conf_listener_add(p, &l);
}

static int
conf_do_domain(struct conf_parser *p, const struct conf_keyword *kw)
{
	struct conf *c = p->c;
	const char *v;
	char clip[64];
	size_t i;

	if (conf_want_one(p, kw) < 0)
		return -1;
	v = p->argv[1];
	if (!conf_domain_is_valid(v, strlen(v)))
		return conf_parse_error(p, "%s: '%s' is not a valid domain",
		    kw->name, conf_clip(v, clip, sizeof(clip)));
	for (i = 0; i < c->ndomains; i++)
		if (strcasecmp(c->domains[i], v) == 0)
			return conf_parse_error(p,
			    "%s: '%s' already given on line %u", kw->name, v,
			    p->domain_lines[i]);
	if (c->ndomains == CONF_DOMAIN_MAX)
		return conf_parse_error(p, "%s: more than %u domains",
		    kw->name, CONF_DOMAIN_MAX);
	c->domains = xreallocarray(c->domains, c->ndomains + 1,
	    sizeof(*c->domains));
	p->domain_lines = xreallocarray(p->domain_lines, c->ndomains + 1,
	    sizeof(*p->domain_lines));
	c->domains[c->ndomains] = xstrdup(v);
	conf_lower(c->domains[c->ndomains]);
	p->domain_lines[c->ndomains] = p->line;
	c->ndomains++;
	return 0;
}

static int
conf_do_delimiter(struct conf_parser *p, const struct conf_keyword *kw)
{
	const char *v;
	size_t i, n;

	if (conf_want_one(p, kw) < 0)
		return -1;
	v = p->argv[1];
	n = strlen(v);
	if (n >= sizeof(p->c->delimiter))
		return conf_parse_error(p, "%s: at most %zu characters",
		    kw->name, sizeof(p->c->delimiter) - 1);
	for (i = 0; i < n; i++) {
		if (strchr(CONF_DELIM_CHARS, v[i]) == NULL)
			return conf_parse_error(p,
			    "%s: '%c' is not allowed (only %s, or \"\" "
			    "for none)", kw->name, v[i], CONF_DELIM_CHARS);
		if (memchr(v, v[i], i) != NULL)
			return conf_parse_error(p, "%s: '%c' given twice",
			    kw->name, v[i]);
	}
	memcpy(p->c->delimiter, v, n + 1);
	return 0;
}

/*
 * Parses a CIDR block "ADDR[/LEN]" (IPv4 or IPv6, no brackets) into n. A
 * missing length means a single host. Bits set past the prefix are an
 * error: "192.0.2.1/24" is more likely a typo than a wish. Returns NULL or
 * what is wrong.
 */
static const char *
conf_net_parse(const char *s, struct conf_net *n)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hn = slash ? (size_t)(slash - s) : strlen(s);
	unsigned maxlen, i;
	uint64_t len;

	memset(n, 0, sizeof(*n));
	if (hn == 0 || hn >= sizeof(host))
		return "invalid address";
	memcpy(host, s, hn);
	host[hn] = '\0';
	if (inet_pton(AF_INET, host, n->addr) == 1) {
		n->family = AF_INET;
		maxlen = 32;
	} else if (inet_pton(AF_INET6, host, n->addr) == 1) {
		n->family = AF_INET6;
		maxlen = 128;
	} else {
		return "invalid address";
	}
	n->prefix = maxlen;
	if (slash != NULL) {
		int rc = numparse_u64(span_cstr(slash + 1), 0, maxlen, &len);
		if (rc < 0)
			return n->family == AF_INET ?
			    "prefix length must be 0..32" :
			    "prefix length must be 0..128";
		n->prefix = (unsigned)len;
	}
	for (i = n->prefix; i < maxlen; i++)
		if (n->addr[i / 8] & (0x80u >> (i % 8)))
			return "address has bits set past the prefix length";
	return NULL;
}

static int
conf_do_relay(struct conf_parser *p, const struct conf_keyword *kw)
{
	struct conf *c = p->c;
	char clip[64];
	size_t i;

	if (p->argc < 2)
		return conf_parse_error(p, "%s: missing value", kw->name);
	if (c->nrelay_nets + (p->argc - 1) > CONF_RELAY_MAX)
		return conf_parse_error(p, "%s: more than %u blocks in all",
		    kw->name, CONF_RELAY_MAX);
	c->relay_nets = xreallocarray(c->relay_nets,
	    c->nrelay_nets + p->argc - 1, sizeof(*c->relay_nets));
	for (i = 1; i < p->argc; i++) {
		struct conf_net *n = &c->relay_nets[c->nrelay_nets];
		const char *why = conf_net_parse(p->argv[i], n);
		if (why != NULL)
			return conf_parse_error(p, "%s: '%s': %s", kw->name,
			    conf_clip(p->argv[i], clip, sizeof(clip)), why);
		c->nrelay_nets++;
	}
	return 0;
}

/*
 * Parses a number with an optional one-letter unit from units (each
 * letter's multiplier in mults; letters match in either case) and checks
 * min <= value <= max. Returns 0 and *out, -1 on syntax error, -2 when too
 * small, -3 when too large.
 */
static int
conf_number_unit(const char *s, const char *units, const uint64_t *mults,
    uint64_t min, uint64_t max, uint64_t *out)
{
	size_t n = strlen(s);
	uint64_t v, mult = 1;
	const char *u;

	*out = 0;
	if (n > 1 && (s[n - 1] < '0' || s[n - 1] > '9')) {
		char ch = s[n - 1];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		u = strchr(units, ch);
		if (u == NULL)
			return -1;
		mult = mults[u - units];
		n--;
	}
	switch (numparse_u64(span_make(s, n), 0, UINT64_MAX, &v)) {
	case 0:
		break;
	case -1:
		return -1;
	default:
		return -3;
	}
	if (v > UINT64_MAX / mult)
		return -3;
	v *= mult;
	if (v < min)
		return -2;
	if (v > max)
		return -3;
	*out = v;
	return 0;
}

static const uint64_t conf_size_mults[] = { 1024, 1024 * 1024,
	1024 * 1024 * 1024 };
static const uint64_t conf_duration_mults[] = { 1, 60, 3600, 86400 };

/*
 * Shared body of the size, duration and plain number keywords: parses
 * argv[1] with the given units and reports range errors in the same
 * notation (fmt formats the limit). 0 and *out, or -1.
 */
static int
conf_do_number(struct conf_parser *p, const struct conf_keyword *kw,
    const char *units, const uint64_t *mults,
    char *(*fmt)(uint64_t, char *, size_t), const char *what, uint64_t *out)
{
	char lim[32], clip[64];

	if (conf_want_one(p, kw) < 0)
		return -1;
	switch (conf_number_unit(p->argv[1], units, mults, kw->min, kw->max,
	    out)) {
	case 0:
		return 0;
	case -1:
		return conf_parse_error(p, "%s: '%s' is not %s", kw->name,
		    conf_clip(p->argv[1], clip, sizeof(clip)), what);
	case -2:
		return conf_parse_error(p, "%s: must be at least %s",
		    kw->name, fmt(kw->min, lim, sizeof(lim)));
	default:
		return conf_parse_error(p, "%s: must be at most %s", kw->name,
		    fmt(kw->max, lim, sizeof(lim)));
	}
}

/* Plain decimal formatting, for conf_do_number(). */
static char *
conf_fmt_plain(uint64_t v, char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%llu", (unsigned long long)v);
	return out;
}

static int
conf_do_size(struct conf_parser *p, const struct conf_keyword *kw)
{
	uint64_t v;

	if (conf_do_number(p, kw, "kmg", conf_size_mults, conf_fmt_size,
	    "a size (a number with K, M or G)", &v) < 0)
		return -1;
	*(uint64_t *)(void *)((char *)p->c + kw->off) = v;
	return 0;
}

static int
conf_do_uint(struct conf_parser *p, const struct conf_keyword *kw)
{
	uint64_t v;

	if (conf_do_number(p, kw, "", NULL, conf_fmt_plain, "a number",
	    &v) < 0)
		return -1;
	*(unsigned *)(void *)((char *)p->c + kw->off) = (unsigned)v;
	return 0;
}

static int
conf_do_duration(struct conf_parser *p, const struct conf_keyword *kw)
{
	uint64_t v;

	if (conf_do_number(p, kw, "smhd", conf_duration_mults,
	    conf_fmt_duration, "a duration (a number with s, m, h or d)",
	    &v) < 0)
		return -1;
	*(unsigned *)(void *)((char *)p->c + kw->off) = (unsigned)v;
	return 0;
}

static int
conf_do_bool(struct conf_parser *p, const struct conf_keyword *kw)
{
	bool *field = (bool *)(void *)((char *)p->c + kw->off);
	char clip[64];

	if (conf_want_one(p, kw) < 0)
		return -1;
	if (strcmp(p->argv[1], "yes") == 0)
		*field = true;
	else if (strcmp(p->argv[1], "no") == 0)
		*field = false;
	else
		return conf_parse_error(p, "%s: '%s' is not yes or no",
		    kw->name, conf_clip(p->argv[1], clip, sizeof(clip)));
	return 0;
}

/*
 * A system user name: 1..32 of [A-Za-z0-9_.-], not starting with '-'
 * (the portable set of POSIX 3.437 plus what adduser accepts).
 */
static bool
conf_user_is_valid(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

static int
conf_do_user(struct conf_parser *p, const struct conf_keyword *kw)
{
	char **field = (char **)(void *)((char *)p->c + kw->off);
	char clip[64];

	if (conf_want_one(p, kw) < 0)
		return -1;
	if (!conf_user_is_valid(p->argv[1]))
		return conf_parse_error(p,
		    "%s: '%s' is not a valid user name", kw->name,
		    conf_clip(p->argv[1], clip, sizeof(clip)));
	*field = xstrdup(p->argv[1]);
	return 0;
}

static int
conf_do_log_level(struct conf_parser *p, const struct conf_keyword *kw)
{
	char clip[64];
	int i;

	if (conf_want_one(p, kw) < 0)
		return -1;
	for (i = 0; conf_log_level_name(i) != NULL; i++) {
		if (strcmp(p->argv[1], conf_log_level_name(i)) == 0) {
			p->c->log_level = i;
			return 0;
		}
	}
	return conf_parse_error(p,
	    "%s: '%s' is not debug, info, warn or error", kw->name,
	    conf_clip(p->argv[1], clip, sizeof(clip)));
}

/* Handles one lexed line: finds the keyword, checks repetition, acts. */
static int
conf_do_line(struct conf_parser *p)
{
	const struct conf_keyword *kw;
	char clip[64];
	int i;

	i = conf_keyword_index(p->argv[0]);
	if (i < 0)
		return conf_parse_error(p, "unknown keyword '%s'",
		    conf_clip(p->argv[0], clip, sizeof(clip)));
	kw = &conf_keywords[i];
	if (p->seen[i] != 0 && !kw->repeated)
		return conf_parse_error(p, "%s: already given on line %u",
		    kw->name, p->seen[i]);
	if (p->seen[i] == 0)
		p->seen[i] = p->line;
	return kw->fn(p, kw);
}

/* Sets *field to state_dir + "/" + rel unless the file set it. */
static void
conf_default_path(const struct conf *c, char **field, const char *rel)
{
	struct buf b;

	if (*field != NULL)
		return;
	buf_init(&b, (size_t)-1 / 2);
	if (strcmp(c->state_dir, "/") != 0)
		(void)buf_puts(&b, c->state_dir);
	(void)buf_putc(&b, '/');
	(void)buf_puts(&b, rel);
	*field = xstrdup(buf_str(&b));
	buf_clear(&b);
}

/* Adds a default listener; the texts are fixed and known to parse. */
static void
conf_default_listener(struct conf *c, const char *text, enum conf_role r)
{
	struct conf_listener l;

	if (conf_listen_parse(text, &l) != NULL)
		abort();	/* a broken constant, not input */
	l.role = r;
	c->listeners = xreallocarray(c->listeners, c->nlisteners + 1,
	    sizeof(*c->listeners));
	c->listeners[c->nlisteners++] = l;
}

/* The hostname source; see conf_set_hostname_fn(). */
static conf_hostname_fn conf_hostname_source = conf_system_hostname;

void
conf_set_hostname_fn(conf_hostname_fn fn)
{
	conf_hostname_source = fn != NULL ? fn : conf_system_hostname;
}

/*
 * Fills in every default after the last line and checks what involves
 * more than one keyword. 0 or -1.
 */
static int
conf_finish(struct conf_parser *p)
{
	struct conf *c = p->c;
	char a[32], b[32];

	p->line = 0;
	if (c->hostname == NULL) {
		char host[256];
		if (conf_hostname_source(host, sizeof(host)) < 0 ||
		    !conf_domain_is_valid(host, strlen(host)))
			return conf_parse_error(p,
			    "hostname: cannot determine this host's name; "
			    "set hostname");
		c->hostname = xstrdup(host);
		conf_lower(c->hostname);
	}
	if (c->state_dir == NULL)
		c->state_dir = xstrdup("/var/lib/petrel");
	c->tls_generate = c->tls_cert == NULL && c->tls_key == NULL;
	conf_default_path(c, &c->spool_dir, "spool");
	conf_default_path(c, &c->mail_dir, "mail");
	conf_default_path(c, &c->tls_cert, "tls/cert.pem");
	conf_default_path(c, &c->tls_key, "tls/key.pem");
	conf_default_path(c, &c->users_file, "users");
	if (c->nlisteners == 0) {
		conf_default_listener(c, "0.0.0.0:25", CONF_ROLE_MX);
		conf_default_listener(c, "0.0.0.0:587", CONF_ROLE_SUBMISSION);
		conf_default_listener(c, "0.0.0.0:465",
		    CONF_ROLE_SUBMISSIONS);
	}
	if (c->ndomains == 0) {
		c->domains = xcalloc(1, sizeof(*c->domains));
		c->domains[0] = xstrdup(c->hostname);
		c->ndomains = 1;
	}
	if (c->user_smtp == NULL)
		c->user_smtp = xstrdup("petrel");
	if (c->user_queue == NULL)
		c->user_queue = xstrdup("petrel-queue");
	if (c->user_local == NULL)
		c->user_local = xstrdup("petrel-mail");
	if (c->user_auth == NULL)
		c->user_auth = xstrdup("petrel-auth");
	if (conf_outbound_finish(p) < 0)
		return -1;
	if (c->retry_min > c->retry_max) {
		unsigned lmin = conf_seen_line(p, "retry-min");
		unsigned lmax = conf_seen_line(p, "retry-max");
		p->line = lmin > lmax ? lmin : lmax;
		return conf_parse_error(p,
		    "retry-min (%s) must not exceed retry-max (%s)",
		    conf_fmt_duration(c->retry_min, a, sizeof(a)),
		    conf_fmt_duration(c->retry_max, b, sizeof(b)));
	}
	return 0;
}

/* The values of every option not given in the file (except paths). */
static void
conf_set_defaults(struct conf *c)
{
	memcpy(c->delimiter, "+", 2);
	c->max_message_size = (uint64_t)50 << 20;
	c->max_recipients = 1000;
	c->max_errors = 20;
	c->max_connections = 1000;
	c->max_connections_per_ip = 100;
	c->max_command_line = 2048;
	c->max_text_line = 1000;
	c->timeout_command = 5 * 60;
	c->timeout_data = 10 * 60;
	c->expn = false;
	c->retry_min = 60;
	c->retry_max = 3600;
	c->queue_lifetime = 5 * CONF_DAY;
	c->local_concurrency = 8;
	c->auth_fail_limit_ip = 10;
	c->auth_fail_limit_user = 30;
	c->auth_fail_window = 15 * 60;
	c->auth_fail_delay = 2;
	c->sender_check = true;
	c->received_client = true;
	c->log_level = 1;
	conf_outbound_defaults(c);
}

int
conf_parse(const char *name, const char *text, size_t len,
    const char *base_dir, struct conf *out, char *err, size_t errsz)
{
	struct conf_parser p;
	size_t pos = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (errsz > 0)
		err[0] = '\0';
	memset(&p, 0, sizeof(p));
	p.name = name;
	p.base_dir = base_dir;
	p.c = out;
	p.err = err;
	p.errsz = errsz;
	p.tok = xmalloc(CONF_LINE_MAX + 2);
	p.argv = xcalloc(CONF_LINE_MAX / 2 + 2, sizeof(*p.argv));
	p.seen = xcalloc(CONF_NKEYWORDS, sizeof(*p.seen));
	conf_set_defaults(out);

	while (pos < len && rc == 0) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL);
		if (p.line == UINT_MAX) {
			rc = conf_parse_error(&p, "too many lines");
			break;
		}
		p.line++;
		rc = conf_lex_line(&p, s, n);
		if (rc == 0 && p.argc > 0)
			rc = conf_do_line(&p);
	}
	if (rc == 0)
		rc = conf_finish(&p);

	free(p.tok);
	free(p.argv);
	free(p.seen);
	free(p.listen_lines);
	free(p.domain_lines);
	if (rc < 0) {
		conf_free(out);
		return -1;
	}
	return 0;
}
