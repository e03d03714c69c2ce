/*
 * test_conf: unit tests for src/conf (conf.h). Table-driven: every keyword
 * with a valid value, every error message form, the defaults, the round
 * trip through conf_dump(), the embedded default text, relay CIDR matching
 * (IPv4-mapped IPv6 included) and the small queries. The hostname source is
 * replaced by a fixed function so results do not depend on the machine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "lib/xalloc.h"

#define T_HOST "mx.test.example"

static int
test_hostname(char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%s", T_HOST);
	return 0;
}

static int
test_no_hostname(char *out, size_t outsz)
{
	(void)outsz;
	out[0] = '\0';
	return -1;
}

static int
test_bad_hostname(char *out, size_t outsz)
{
	(void)snprintf(out, outsz, "%s", "(none)");
	return 0;
}

/*
 * Parses text from an exact-size heap copy without a NUL after it, so
 * ASan catches any read past len.
 */
static int
parse(const char *text, const char *base, struct conf *c, char *err,
    size_t errsz)
{
	size_t n = strlen(text);
	char *copy = xmalloc(n);
	int rc;

	memcpy(copy, text, n);
	rc = conf_parse("t.conf", copy, n, base, c, err, errsz);
	free(copy);
	return rc;
}

/* Parses text that must be valid; fails the test with the error if not. */
static void
parse_ok(const char *text, struct conf *c)
{
	char err[256];

	if (parse(text, "/etc/petrel", c, err, sizeof(err)) != 0)
		fail_msg("unexpected error: %s\ninput:\n%s", err, text);
}

/* Dumps c into a fresh string (caller frees). */
static char *
dump(const struct conf *c)
{
	struct buf b;
	char *s;

	buf_init(&b, 1 << 20);
	conf_dump(c, &b);
	s = xstrdup(buf_str(&b));
	buf_clear(&b);
	return s;
}

static int
str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Asserts that two parsed configurations are equal field by field. */
static void
assert_conf_equal(const struct conf *a, const struct conf *b)
{
	size_t i;

	assert_true(str_eq(a->hostname, b->hostname));
	assert_true(str_eq(a->state_dir, b->state_dir));
	assert_true(str_eq(a->spool_dir, b->spool_dir));
	assert_true(str_eq(a->mail_dir, b->mail_dir));
	assert_true(str_eq(a->tls_cert, b->tls_cert));
	assert_true(str_eq(a->tls_key, b->tls_key));
	assert_int_equal(a->tls_generate, b->tls_generate);
	assert_int_equal(a->nlisteners, b->nlisteners);
	for (i = 0; i < a->nlisteners; i++) {
		assert_int_equal(a->listeners[i].addrlen,
		    b->listeners[i].addrlen);
		assert_memory_equal(&a->listeners[i].addr,
		    &b->listeners[i].addr, sizeof(a->listeners[i].addr));
		assert_int_equal(a->listeners[i].role, b->listeners[i].role);
		assert_string_equal(a->listeners[i].text,
		    b->listeners[i].text);
	}
	assert_int_equal(a->ndomains, b->ndomains);
	for (i = 0; i < a->ndomains; i++)
		assert_string_equal(a->domains[i], b->domains[i]);
	assert_true(str_eq(a->users_file, b->users_file));
	assert_true(str_eq(a->aliases_file, b->aliases_file));
	assert_string_equal(a->delimiter, b->delimiter);
	assert_int_equal(a->nrelay_nets, b->nrelay_nets);
	for (i = 0; i < a->nrelay_nets; i++) {
		assert_int_equal(a->relay_nets[i].family,
		    b->relay_nets[i].family);
		assert_int_equal(a->relay_nets[i].prefix,
		    b->relay_nets[i].prefix);
		assert_memory_equal(a->relay_nets[i].addr,
		    b->relay_nets[i].addr, 16);
	}
	assert_int_equal(a->max_message_size, b->max_message_size);
	assert_int_equal(a->max_recipients, b->max_recipients);
	assert_int_equal(a->max_errors, b->max_errors);
	assert_int_equal(a->max_connections, b->max_connections);
	assert_int_equal(a->max_connections_per_ip,
	    b->max_connections_per_ip);
	assert_int_equal(a->max_command_line, b->max_command_line);
	assert_int_equal(a->max_text_line, b->max_text_line);
	assert_int_equal(a->timeout_command, b->timeout_command);
	assert_int_equal(a->timeout_data, b->timeout_data);
	assert_int_equal(a->expn, b->expn);
	assert_true(str_eq(a->user_smtp, b->user_smtp));
	assert_true(str_eq(a->user_queue, b->user_queue));
	assert_true(str_eq(a->user_local, b->user_local));
	assert_int_equal(a->retry_min, b->retry_min);
	assert_int_equal(a->retry_max, b->retry_max);
	assert_true(str_eq(a->user_remote, b->user_remote));
	assert_int_equal(a->remote_concurrency, b->remote_concurrency);
	assert_int_equal(a->destination_concurrency,
	    b->destination_concurrency);
	assert_int_equal(a->delay_warning, b->delay_warning);
	assert_int_equal(a->remote_port, b->remote_port);
	assert_int_equal(a->remote_timeout_connect, b->remote_timeout_connect);
	assert_int_equal(a->remote_timeout_command, b->remote_timeout_command);
	assert_int_equal(a->remote_timeout_data, b->remote_timeout_data);
	assert_memory_equal(&a->source4, &b->source4, sizeof(a->source4));
	assert_memory_equal(&a->source6, &b->source6, sizeof(a->source6));
	assert_int_equal(a->outbound_tls, b->outbound_tls);
	assert_int_equal(a->ntls_rules, b->ntls_rules);
	for (i = 0; i < a->ntls_rules; i++) {
		assert_string_equal(a->tls_rules[i].domain,
		    b->tls_rules[i].domain);
		assert_int_equal(a->tls_rules[i].policy,
		    b->tls_rules[i].policy);
	}
	assert_true(str_eq(a->outbound_ca_file, b->outbound_ca_file));
	assert_true(str_eq(a->smarthost, b->smarthost));
	assert_int_equal(a->smarthost_port, b->smarthost_port);
	assert_int_equal(a->smarthost_tls, b->smarthost_tls);
	assert_int_equal(a->smarthost_verify, b->smarthost_verify);
	assert_true(str_eq(a->smarthost_auth, b->smarthost_auth));
	assert_int_equal(a->dns_mode, b->dns_mode);
	assert_int_equal(a->ndns_forwarders, b->ndns_forwarders);
	for (i = 0; i < a->ndns_forwarders; i++)
		assert_string_equal(a->dns_forwarders[i],
		    b->dns_forwarders[i]);
	assert_true(str_eq(a->dns_trust_anchor, b->dns_trust_anchor));
	assert_int_equal(a->ndns_options, b->ndns_options);
	for (i = 0; i < 2 * a->ndns_options; i++)
		assert_string_equal(a->dns_options[i], b->dns_options[i]);
	assert_int_equal(a->queue_lifetime, b->queue_lifetime);
	assert_int_equal(a->local_concurrency, b->local_concurrency);
	assert_int_equal(a->log_level, b->log_level);
}

static int
setup(void **state)
{
	(void)state;
	conf_set_hostname_fn(test_hostname);
	return 0;
}

/* An empty file gives every documented default. */
static void
test_defaults(void **state)
{
	struct conf c;
	char a[64];

	(void)state;
	parse_ok("", &c);
	assert_string_equal(c.hostname, T_HOST);
	assert_string_equal(c.state_dir, "/var/lib/petrel");
	assert_string_equal(c.spool_dir, "/var/lib/petrel/spool");
	assert_string_equal(c.mail_dir, "/var/lib/petrel/mail");
	assert_string_equal(c.tls_cert, "/var/lib/petrel/tls/cert.pem");
	assert_string_equal(c.tls_key, "/var/lib/petrel/tls/key.pem");
	assert_true(c.tls_generate);
	assert_int_equal(c.nlisteners, 3);
	assert_string_equal(c.listeners[0].text, "0.0.0.0:25");
	assert_int_equal(c.listeners[0].role, CONF_ROLE_MX);
	assert_string_equal(c.listeners[1].text, "0.0.0.0:587");
	assert_int_equal(c.listeners[1].role, CONF_ROLE_SUBMISSION);
	assert_string_equal(c.listeners[2].text, "0.0.0.0:465");
	assert_int_equal(c.listeners[2].role, CONF_ROLE_SUBMISSIONS);
	{
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)&c.listeners[1].addr;
		assert_int_equal(sin->sin_family, AF_INET);
		assert_int_equal(ntohs(sin->sin_port), 587);
		assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
		assert_int_equal(c.listeners[1].addrlen, sizeof(*sin));
	}
	assert_int_equal(c.ndomains, 1);
	assert_string_equal(c.domains[0], T_HOST);
	assert_string_equal(c.users_file, "/var/lib/petrel/users");
	assert_null(c.aliases_file);
	assert_string_equal(c.delimiter, "+");
	assert_int_equal(c.nrelay_nets, 0);
	assert_int_equal(c.max_message_size, 50 * 1024 * 1024);
	assert_int_equal(c.max_recipients, 1000);
	assert_int_equal(c.max_errors, 20);
	assert_int_equal(c.max_connections, 1000);
	assert_int_equal(c.max_connections_per_ip, 100);
	assert_int_equal(c.max_command_line, 2048);
	assert_int_equal(c.max_text_line, 1000);
	assert_int_equal(c.timeout_command, 300);
	assert_int_equal(c.timeout_data, 600);
	assert_false(c.expn);
	assert_string_equal(c.user_smtp, "petrel");
	assert_string_equal(c.user_queue, "petrel-queue");
	assert_string_equal(c.user_local, "petrel-mail");
	assert_int_equal(c.retry_min, 60);
	assert_int_equal(c.retry_max, 3600);
	assert_int_equal(c.queue_lifetime, 5 * 86400);
	assert_int_equal(c.local_concurrency, 8);
	assert_int_equal(c.log_level, 1);
	inet_pton(AF_INET, "127.0.0.1", a);
	conf_free(&c);
	/* Freeing twice (a zeroed struct) is harmless. */
	conf_free(&c);
}

/*
 * Every keyword with a valid, non-default value: the dump of the result
 * must contain the expected line (the dump covers every field).
 */
static const struct {
	const char *in;
	const char *line;	/* expected in conf_dump output */
} keyword_cases[] = {
	{ "hostname Mail.Example.ORG", "hostname mail.example.org\n" },
	{ "hostname localhost", "hostname localhost\n" },
	{ "state-dir /srv/petrel", "state-dir /srv/petrel\n" },
	{ "state-dir /srv/petrel/", "state-dir /srv/petrel\n" },
	{ "state-dir //srv/./petrel//x/", "state-dir /srv/petrel/x\n" },
	{ "state-dir /", "state-dir /\n" },
	{ "state-dir data", "state-dir /etc/petrel/data\n" },
	{ "state-dir ./data/../x", "state-dir /etc/petrel/data/../x\n" },
	{ "state-dir /srv/p\nspool-dir q", "spool-dir /etc/petrel/q\n" },
	{ "state-dir /srv/p", "spool-dir /srv/p/spool\n" },
	{ "state-dir /srv/p", "mail-dir /srv/p/mail\n" },
	{ "state-dir /srv/p", "users /srv/p/users\n" },
	{ "state-dir /", "spool-dir /spool\n" },
	{ "spool-dir /var/spool/petrel", "spool-dir /var/spool/petrel\n" },
	{ "mail-dir /home/vmail", "mail-dir /home/vmail\n" },
	{ "mail-dir \"/srv/my mail\"", "mail-dir \"/srv/my mail\"\n" },
	{ "mail-dir \"/srv/a\\\"b\\\\c#d\"",
	    "mail-dir \"/srv/a\\\"b\\\\c#d\"\n" },
	{ "tls-certificate /etc/ssl/c.pem",
	    "tls-certificate /etc/ssl/c.pem\n" },
	{ "tls-certificate /etc/ssl/c.pem",
	    "tls-key /var/lib/petrel/tls/key.pem\n" },
	{ "tls-key /etc/ssl/k.pem", "tls-key /etc/ssl/k.pem\n" },
	{ "", "# tls-certificate /var/lib/petrel/tls/cert.pem\n" },
	{ "listen 192.0.2.1:25 mx", "listen 192.0.2.1:25 mx\n" },
	{ "listen *:587 submission", "listen *:587 submission\n" },
	{ "listen [::1]:465 submissions", "listen [::1]:465 submissions\n" },
	{ "listen [::]:25 mx\nlisten 0.0.0.0:25 mx", "listen [::]:25 mx\n" },
	{ "listen [::ffff:192.0.2.1]:25 mx",
	    "listen [::ffff:192.0.2.1]:25 mx\n" },
	{ "domain Example.ORG", "domain example.org\n" },
	{ "domain a.example\ndomain b.example", "domain b.example\n" },
	{ "domain xn--bcher-kva.example", "domain xn--bcher-kva.example\n" },
	{ "users /etc/petrel/users", "users /etc/petrel/users\n" },
	{ "users u", "users /etc/petrel/u\n" },
	{ "aliases aliases", "aliases /etc/petrel/aliases\n" },
	{ "", "# aliases (none)\n" },
	{ "recipient-delimiter -", "recipient-delimiter -\n" },
	{ "recipient-delimiter +-_.", "recipient-delimiter +-_.\n" },
	{ "recipient-delimiter \"\"", "recipient-delimiter \"\"\n" },
	{ "", "# relay-from (none)\n" },
	{ "relay-from 127.0.0.1", "relay-from 127.0.0.1/32\n" },
	{ "relay-from ::1", "relay-from ::1/128\n" },
	{ "relay-from 10.0.0.0/8 192.168.0.0/16",
	    "relay-from 10.0.0.0/8\nrelay-from 192.168.0.0/16\n" },
	{ "relay-from 2001:db8::/32", "relay-from 2001:db8::/32\n" },
	{ "relay-from 0.0.0.0/0", "relay-from 0.0.0.0/0\n" },
	{ "relay-from 10.0.0.0/8\nrelay-from 172.16.0.0/12",
	    "relay-from 172.16.0.0/12\n" },
	{ "max-message-size 10M", "max-message-size 10M\n" },
	{ "max-message-size 10m", "max-message-size 10M\n" },
	{ "max-message-size 1024", "max-message-size 1K\n" },
	{ "max-message-size 1025", "max-message-size 1025\n" },
	{ "max-message-size 1536K", "max-message-size 1536K\n" },
	{ "max-message-size 4G", "max-message-size 4G\n" },
	{ "max-message-size 2048M", "max-message-size 2G\n" },
	{ "max-recipients 100", "max-recipients 100\n" },
	{ "max-recipients 100000", "max-recipients 100000\n" },
	{ "max-errors 1", "max-errors 1\n" },
	{ "max-connections 1", "max-connections 1\n" },
	{ "max-connections-per-ip 7", "max-connections-per-ip 7\n" },
	{ "max-command-line 512", "max-command-line 512\n" },
	{ "max-text-line 65536", "max-text-line 65536\n" },
	{ "timeout-command 30", "timeout-command 30s\n" },
	{ "timeout-command 90s", "timeout-command 90s\n" },
	{ "timeout-command 120", "timeout-command 2m\n" },
	{ "timeout-data 1h", "timeout-data 1h\n" },
	{ "timeout-data 1d", "timeout-data 1d\n" },
	{ "timeout-data 1D", "timeout-data 1d\n" },
	{ "expn yes", "expn yes\n" },
	{ "expn no", "expn no\n" },
	{ "user-smtp _smtpd", "user-smtp _smtpd\n" },
	{ "user-queue q.user-1", "user-queue q.user-1\n" },
	{ "user-local vmail", "user-local vmail\n" },
	{ "retry-min 1s", "retry-min 1s\n" },
	{ "retry-max 30d", "retry-max 30d\n" },
	{ "retry-min 5m\nretry-max 5m", "retry-max 5m\n" },
	{ "queue-lifetime 60d", "queue-lifetime 60d\n" },
	{ "queue-lifetime 36h", "queue-lifetime 36h\n" },
	{ "local-concurrency 1", "local-concurrency 1\n" },
	{ "local-concurrency 256", "local-concurrency 256\n" },
	{ "log-level debug", "log-level debug\n" },
	{ "log-level info", "log-level info\n" },
	{ "log-level warn", "log-level warn\n" },
	{ "log-level error", "log-level error\n" },
	/* lexical forms */
	{ "  max-errors   3  # three", "max-errors 3\n" },
	{ "\tmax-errors\t4\t", "max-errors 4\n" },
	{ "max-errors 5\r\n", "max-errors 5\n" },
	{ "max-errors 6#x", "max-errors 6\n" },
	{ "\"max-errors\" \"7\"", "max-errors 7\n" },
	{ "max-errors \"8\"# c", "max-errors 8\n" },
	{ "# only a comment\n\n   \n#\nmax-errors 9", "max-errors 9\n" },
	{ "mail-dir \"/a # b\"", "mail-dir \"/a # b\"\n" },
	{ "mail-dir /a\\b", "mail-dir \"/a\\\\b\"\n" },
	{ "mail-dir /caf\xc3\xa9", "mail-dir /caf\xc3\xa9\n" },
};

static void
test_keywords(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(keyword_cases) / sizeof(keyword_cases[0]);
	    i++) {
		struct conf c;
		char *d;

		parse_ok(keyword_cases[i].in, &c);
		d = dump(&c);
		if (strstr(d, keyword_cases[i].line) == NULL)
			fail_msg("case %zu: '%s' not in dump of '%s':\n%s", i,
			    keyword_cases[i].line, keyword_cases[i].in, d);
		free(d);
		conf_free(&c);
	}
}

/* Every error form: the exact message for each input. */
static const struct {
	const char *in;
	const char *err;
} error_cases[] = {
	/* lexer */
	{ "lisen *:25 mx", "t.conf:1: unknown keyword 'lisen'" },
	{ "\n\nLISTEN *:25 mx", "t.conf:3: unknown keyword 'LISTEN'" },
	{ "hostname \"abc", "t.conf:1: unterminated quoted string" },
	{ "hostname \"a\\b\"",
	    "t.conf:1: invalid escape in quoted string (only \\\" and \\\\)" },
	{ "hostname \"a\\", "t.conf:1: invalid escape in quoted string "
			    "(only \\\" and \\\\)" },
	{ "hostname \"a\"b", "t.conf:1: missing space after closing quote" },
	{ "hostname a\"b\"", "t.conf:1: unexpected '\"' inside a word" },
	{ "hostname a\x01", "t.conf:1: control character 0x01 in line" },
	{ "hostname a\rb", "t.conf:1: control character 0x0d in line" },
	{ "hostname a\x7f", "t.conf:1: control character 0x7f in line" },
	{ "max-errors 3\nhostname a\x1b", "t.conf:2: control character "
					   "0x1b in line" },
	/* counts */
	{ "hostname", "t.conf:1: hostname: missing value" },
	{ "hostname a b", "t.conf:1: hostname: too many values" },
	{ "hostname a # b c", NULL },
	{ "hostname a\nhostname b",
	    "t.conf:2: hostname: already given on line 1" },
	{ "expn no\n\n# x\nexpn no", "t.conf:4: expn: already given on line "
				     "1" },
	{ "state-dir", "t.conf:1: state-dir: missing value" },
	{ "relay-from", "t.conf:1: relay-from: missing value" },
	{ "listen *:25", "t.conf:1: listen: expected ADDR:PORT ROLE" },
	{ "listen", "t.conf:1: listen: expected ADDR:PORT ROLE" },
	{ "listen *:25 mx x", "t.conf:1: listen: too many values" },
	{ "domain a.example b.example", "t.conf:1: domain: too many values" },
	/* hostname and domain */
	{ "hostname a_b", "t.conf:1: hostname: 'a_b' is not a valid host "
			  "name" },
	{ "hostname -a.example", "t.conf:1: hostname: '-a.example' is not a "
				 "valid host name" },
	{ "hostname a-.example", "t.conf:1: hostname: 'a-.example' is not a "
				 "valid host name" },
	{ "hostname a..example", "t.conf:1: hostname: 'a..example' is not a "
				 "valid host name" },
	{ "hostname example.", "t.conf:1: hostname: 'example.' is not a "
			       "valid host name" },
	{ "hostname \"\"", "t.conf:1: hostname: '' is not a valid host "
			   "name" },
	{ "hostname "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "t.conf:1: hostname: "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"
	    " is not a valid host name" },
	{ "hostname caf\xc3\xa9", "t.conf:1: hostname: 'caf?" "?' is not a valid "
				  "host name" },
	{ "domain [192.0.2.1]", "t.conf:1: domain: '[192.0.2.1]' is not a "
				"valid domain" },
	{ "domain a.example\ndomain b.example\ndomain A.Example",
	    "t.conf:3: domain: 'A.Example' already given on line 1" },
	/* paths */
	{ "state-dir \"\"", "t.conf:1: state-dir: empty path" },
	{ "users \"\"", "t.conf:1: users: empty path" },
	/* listen */
	{ "listen 127.0.0.1 mx", "t.conf:1: listen: '127.0.0.1': missing "
				 "':PORT' after the address" },
	{ "listen 127.0.0.1:0 mx", "t.conf:1: listen: '127.0.0.1:0': port "
				   "must be 1..65535" },
	{ "listen 127.0.0.1:65536 mx", "t.conf:1: listen: '127.0.0.1:65536':"
				       " port must be 1..65535" },
	{ "listen 127.0.0.1:smtp mx", "t.conf:1: listen: '127.0.0.1:smtp': "
				      "port is not a number" },
	{ "listen 127.0.0.1: mx", "t.conf:1: listen: '127.0.0.1:': port is "
				  "not a number" },
	{ "listen 127.1:25 mx", "t.conf:1: listen: '127.1:25': invalid "
				"address (IPv4, [IPv6] or *)" },
	{ "listen localhost:25 mx", "t.conf:1: listen: 'localhost:25': "
				    "invalid address (IPv4, [IPv6] or *)" },
	{ "listen :25 mx", "t.conf:1: listen: ':25': invalid address (IPv4, "
			   "[IPv6] or *)" },
	{ "listen ::1:25 mx", "t.conf:1: listen: '::1:25': invalid address "
			      "(IPv4, [IPv6] or *)" },
	{ "listen [::1:25 mx", "t.conf:1: listen: '[::1:25': missing ']' "
			       "after IPv6 address" },
	{ "listen [::1] mx", "t.conf:1: listen: '[::1]': missing ':PORT' "
			     "after the address" },
	{ "listen [1.2.3.4]:25 mx", "t.conf:1: listen: '[1.2.3.4]:25': "
				    "invalid IPv6 address" },
	{ "listen [fe80::1%eth0]:25 mx", "t.conf:1: listen: "
					 "'[fe80::1%eth0]:25': invalid IPv6 "
					 "address" },
	{ "outbound-tls maybe", "t.conf:1: outbound-tls: 'maybe' is not none, "
				"may, encrypt or verify" },
	{ "tls-policy a..b verify", "t.conf:1: tls-policy: 'a..b' is not a "
				    "valid domain (or .domain for its "
				    "subdomains)" },
	{ "outbound-source 1.2.3.4 5.6.7.8", "t.conf:1: outbound-source: "
					     "more than one IPv4 address" },
	{ "smarthost relay:0", "t.conf:1: smarthost: port must be 1..65535" },
	{ "dns-resolver 1.2.3.4@x", "t.conf:1: dns-resolver: '1.2.3.4@x' is "
				    "not ADDR or ADDR@PORT" },
	{ "smarthost r\nsmarthost-tls none\nsmarthost-auth pw",
	    "t.conf:3: smarthost-auth: passwords are never sent without TLS "
	    "(smarthost-tls none)" },
	{ "listen *:25 smtp", "t.conf:1: listen: unknown role 'smtp' (mx, "
			      "submission or submissions)" },
	{ "listen *:25 MX", "t.conf:1: listen: unknown role 'MX' (mx, "
			    "submission or submissions)" },
	{ "listen *:25 mx\nlisten 0.0.0.0:25 submission",
	    "t.conf:2: listen: '0.0.0.0:25' already given on line 1" },
	{ "listen [::1]:25 mx\n\nlisten [0::1]:25 mx",
	    "t.conf:3: listen: '[0::1]:25' already given on line 1" },
	/* recipient-delimiter */
	{ "recipient-delimiter =", "t.conf:1: recipient-delimiter: '=' is "
				   "not allowed (only +-_., or \"\" for "
				   "none)" },
	{ "recipient-delimiter ++", "t.conf:1: recipient-delimiter: '+' "
				    "given twice" },
	{ "recipient-delimiter +-_.+-_.", "t.conf:1: recipient-delimiter: "
					  "at most 7 characters" },
	/* relay-from */
	{ "relay-from 10.0.0.0/33", "t.conf:1: relay-from: '10.0.0.0/33': "
				    "prefix length must be 0..32" },
	{ "relay-from ::/129", "t.conf:1: relay-from: '::/129': prefix "
			       "length must be 0..128" },
	{ "relay-from 10.0.0.0/", "t.conf:1: relay-from: '10.0.0.0/': "
				  "prefix length must be 0..32" },
	{ "relay-from 10.0.0.0/x", "t.conf:1: relay-from: '10.0.0.0/x': "
				   "prefix length must be 0..32" },
	{ "relay-from 192.0.2.1/24", "t.conf:1: relay-from: '192.0.2.1/24': "
				     "address has bits set past the prefix "
				     "length" },
	{ "relay-from 10.0.0.0/8 nope", "t.conf:1: relay-from: 'nope': "
					"invalid address" },
	{ "relay-from /8", "t.conf:1: relay-from: '/8': invalid address" },
	{ "relay-from [::1]", "t.conf:1: relay-from: '[::1]': invalid "
			      "address" },
	/* numbers */
	{ "max-recipients 99", "t.conf:1: max-recipients: must be at least "
			       "100" },
	{ "max-recipients 100001", "t.conf:1: max-recipients: must be at "
				   "most 100000" },
	{ "max-recipients 99999999999999999999999", "t.conf:1: "
	    "max-recipients: must be at most 100000" },
	{ "max-recipients x", "t.conf:1: max-recipients: 'x' is not a "
			      "number" },
	{ "max-recipients -1", "t.conf:1: max-recipients: '-1' is not a "
			       "number" },
	{ "max-recipients 1K", "t.conf:1: max-recipients: '1K' is not a "
			       "number" },
	{ "max-recipients \"\"", "t.conf:1: max-recipients: '' is not a "
				 "number" },
	{ "max-errors 0", "t.conf:1: max-errors: must be at least 1" },
	{ "max-errors 1001", "t.conf:1: max-errors: must be at most 1000" },
	{ "max-connections 0", "t.conf:1: max-connections: must be at least "
			       "1" },
	{ "max-connections-per-ip 0", "t.conf:1: max-connections-per-ip: "
				      "must be at least 1" },
	{ "max-command-line 511", "t.conf:1: max-command-line: must be at "
				  "least 512" },
	{ "max-command-line 65537", "t.conf:1: max-command-line: must be at "
				    "most 65536" },
	{ "max-text-line 999", "t.conf:1: max-text-line: must be at least "
			       "1000" },
	{ "local-concurrency 0", "t.conf:1: local-concurrency: must be at "
				 "least 1" },
	{ "local-concurrency 257", "t.conf:1: local-concurrency: must be at "
				   "most 256" },
	/* sizes */
	{ "max-message-size 1023", "t.conf:1: max-message-size: must be at "
				   "least 1K" },
	{ "max-message-size 4097M", "t.conf:1: max-message-size: must be at "
				    "most 4G" },
	{ "max-message-size 5G", "t.conf:1: max-message-size: must be at "
				 "most 4G" },
	{ "max-message-size 18446744073709551615G", "t.conf:1: "
	    "max-message-size: must be at most 4G" },
	{ "max-message-size 5X", "t.conf:1: max-message-size: '5X' is not a "
				 "size (a number with K, M or G)" },
	{ "max-message-size 5MB", "t.conf:1: max-message-size: '5MB' is not "
				  "a size (a number with K, M or G)" },
	{ "max-message-size M", "t.conf:1: max-message-size: 'M' is not a "
				"size (a number with K, M or G)" },
	{ "max-message-size 1.5M", "t.conf:1: max-message-size: '1.5M' is "
				   "not a size (a number with K, M or G)" },
	/* durations */
	{ "timeout-command 0", "t.conf:1: timeout-command: must be at least "
			       "1s" },
	{ "timeout-command 0m", "t.conf:1: timeout-command: must be at "
				"least 1s" },
	{ "timeout-command 25h", "t.conf:1: timeout-command: must be at "
				 "most 1d" },
	{ "timeout-data 86401", "t.conf:1: timeout-data: must be at most "
				"1d" },
	{ "timeout-data 5w", "t.conf:1: timeout-data: '5w' is not a "
			     "duration (a number with s, m, h or d)" },
	{ "retry-max 31d", "t.conf:1: retry-max: must be at most 30d" },
	{ "queue-lifetime 61d", "t.conf:1: queue-lifetime: must be at most "
				"60d" },
	{ "retry-min 2h", "t.conf:1: retry-min (2h) must not exceed "
			  "retry-max (1h)" },
	{ "retry-max 10m\nretry-min 11m", "t.conf:2: retry-min (11m) must "
					  "not exceed retry-max (10m)" },
	{ "retry-min 11m\n\nretry-max 10m", "t.conf:3: retry-min (11m) must "
					    "not exceed retry-max (10m)" },
	/* enumerations */
	{ "expn true", "t.conf:1: expn: 'true' is not yes or no" },
	{ "expn YES", "t.conf:1: expn: 'YES' is not yes or no" },
	{ "log-level verbose", "t.conf:1: log-level: 'verbose' is not debug, "
			       "info, warn or error" },
	{ "user-smtp -x", "t.conf:1: user-smtp: '-x' is not a valid user "
			  "name" },
	{ "user-queue a:b", "t.conf:1: user-queue: 'a:b' is not a valid user "
			    "name" },
	{ "user-local aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "t.conf:1: "
	    "user-local: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' is not a valid "
	    "user name" },
};

static void
test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct conf c;
		char err[256];
		int rc;

		memset(err, 'x', sizeof(err));
		rc = parse(error_cases[i].in, "/etc/petrel", &c, err,
		    sizeof(err));
		if (error_cases[i].err == NULL) {
			if (rc != 0)
				fail_msg("case %zu: unexpected error %s", i,
				    err);
			conf_free(&c);
			continue;
		}
		if (rc != -1)
			fail_msg("case %zu: '%s' parsed", i,
			    error_cases[i].in);
		if (strcmp(err, error_cases[i].err) != 0)
			fail_msg("case %zu:\n got  %s\n want %s", i, err,
			    error_cases[i].err);
		/* *out is left empty */
		assert_null(c.hostname);
		assert_null(c.listeners);
		assert_int_equal(c.ndomains, 0);
	}
}

/* Errors that need a special setting: base directory, hostname source. */
static void
test_errors_special(void **state)
{
	struct conf c;
	char err[256], small[12];
	char *longline;

	(void)state;
	assert_int_equal(parse("state-dir data", NULL, &c, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "t.conf:1: state-dir: relative path needs "
				 "an absolute base directory");
	assert_int_equal(parse("mail-dir m", "rel", &c, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "t.conf:1: mail-dir: relative path needs "
				 "an absolute base directory");
	assert_int_equal(parse("mail-dir m", "/bad\ndir", &c, err,
			     sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1: mail-dir: control character in "
				 "path");
	assert_int_equal(parse("mail-dir /m", NULL, &c, err, sizeof(err)), 0);
	conf_free(&c);

	conf_set_hostname_fn(test_no_hostname);
	assert_int_equal(parse("", "/", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf: hostname: cannot determine this "
				 "host's name; set hostname");
	conf_set_hostname_fn(test_bad_hostname);
	assert_int_equal(parse("domain x.example", "/", &c, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "t.conf: hostname: cannot determine this "
				 "host's name; set hostname");
	/* With hostname set, the source is not consulted. */
	assert_int_equal(parse("hostname h.example", "/", &c, err,
			     sizeof(err)), 0);
	assert_string_equal(c.domains[0], "h.example");
	conf_free(&c);
	conf_set_hostname_fn(test_hostname);

	/* A small error buffer truncates but stays terminated. */
	assert_int_equal(parse("lisen x", "/", &c, small, sizeof(small)), -1);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(parse("lisen x", "/", &c, small, 0), -1);

	/* Lines of 4096 bytes are fine, 4097 are not. */
	longline = xmalloc(4200);
	memset(longline, ' ', 4200);
	memcpy(longline, "expn no", 7);
	longline[4096] = '\0';
	assert_int_equal(parse(longline, "/", &c, err, sizeof(err)), 0);
	conf_free(&c);
	longline[4096] = ' ';
	longline[4097] = '\0';
	assert_int_equal(parse(longline, "/", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1: line too long (more than 4096 "
				 "bytes)");
	free(longline);

	/* A resolved path longer than 4095 bytes (base + relative). */
	longline = xmalloc(5000);
	memcpy(longline, "mail-dir ", 9);
	memset(longline + 9, 'a', 4000);
	longline[4009] = '\0';
	{
		char base[200];
		memset(base, 'b', sizeof(base));
		base[0] = '/';
		base[94] = '\0';	/* 94 + '/' + 4000 = 4095: fits */
		assert_int_equal(parse(longline, base, &c, err, sizeof(err)),
		    0);
		assert_int_equal(strlen(c.mail_dir), 4095);
		conf_free(&c);
		base[94] = 'b';
		base[95] = '\0';
		assert_int_equal(parse(longline, base, &c, err, sizeof(err)),
		    -1);
		assert_string_equal(err, "t.conf:1: mail-dir: path too long");
	}
	free(longline);

	/* NUL bytes inside the text are control characters. */
	assert_int_equal(conf_parse("t.conf", "expn no\0x", 9, "/", &c, err,
			     sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1: control character 0x00 in line");
}

/* Many values on one line, and the caps on repeated keywords. */
static void
test_limits(void **state)
{
	struct buf b;
	struct conf c;
	char err[256];
	unsigned i;

	(void)state;
	buf_init(&b, 1 << 20);
	for (i = 0; i < 64; i++)
		buf_printf(&b, "listen 127.0.0.1:%u mx\n", 1000 + i);
	assert_int_equal(parse(buf_str(&b), "/", &c, err, sizeof(err)), 0);
	assert_int_equal(c.nlisteners, 64);
	conf_free(&c);
	buf_printf(&b, "listen 127.0.0.1:%u mx\n", 2000);
	assert_int_equal(parse(buf_str(&b), "/", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:65: listen: more than 64 listeners");

	buf_reset(&b);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "domain d%u.example\n", i);
	assert_int_equal(parse(buf_str(&b), "/", &c, err, sizeof(err)), 0);
	assert_int_equal(c.ndomains, 1000);
	assert_true(conf_is_local_domain(&c, "D999.example"));
	conf_free(&c);
	buf_puts(&b, "domain x.example\n");
	assert_int_equal(parse(buf_str(&b), "/", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:1001: domain: more than 1000 "
				 "domains");

	buf_reset(&b);
	for (i = 0; i < 10; i++) {
		unsigned j;
		buf_puts(&b, "relay-from");
		for (j = 0; j < 100; j++)
			buf_printf(&b, " 10.%u.%u.0/24", i, j);
		buf_putc(&b, '\n');
	}
	assert_int_equal(parse(buf_str(&b), "/", &c, err, sizeof(err)), 0);
	assert_int_equal(c.nrelay_nets, 1000);
	conf_free(&c);
	buf_puts(&b, "relay-from 1.2.3.4\n");
	assert_int_equal(parse(buf_str(&b), "/", &c, err, sizeof(err)), -1);
	assert_string_equal(err, "t.conf:11: relay-from: more than 1000 "
				 "blocks in all");
	buf_clear(&b);
}

/* Configurations whose dump must parse back into an equal struct. */
static const char *const roundtrip_cases[] = {
	"",
	"hostname mail.example.org\n"
	"state-dir /srv/petrel\n"
	"spool-dir \"/srv/spool dir\"\n"
	"mail-dir \"/srv/a\\\"b\\\\c#d\"\n"
	"tls-certificate /etc/letsencrypt/live/mail.example.org/"
	"fullchain.pem\n"
	"tls-key /etc/letsencrypt/live/mail.example.org/privkey.pem\n"
	"listen *:25 mx\n"
	"listen [::]:25 mx\n"
	"listen 192.0.2.7:587 submission\n"
	"listen [2001:db8::7]:465 submissions\n"
	"domain example.org\n"
	"domain Example.NET\n"
	"users /etc/petrel/users\n"
	"aliases /etc/petrel/aliases\n"
	"recipient-delimiter \"\"\n"
	"relay-from 127.0.0.1 ::1 10.0.0.0/8\n"
	"relay-from ::ffff:192.0.2.0/120 2001:db8::/32\n"
	"max-message-size 1025\n"
	"max-recipients 5000\n"
	"max-errors 3\n"
	"max-connections 50\n"
	"max-connections-per-ip 5\n"
	"max-command-line 4096\n"
	"max-text-line 2000\n"
	"timeout-command 61\n"
	"timeout-data 1d\n"
	"expn yes\n"
	"user-smtp _smtp\n"
	"user-queue _queue\n"
	"user-local vmail\n"
	"retry-min 5s\n"
	"retry-max 2h\n"
	"queue-lifetime 3d\n"
	"local-concurrency 2\n"
	"log-level debug\n",
	"tls-certificate cert.pem\nrecipient-delimiter -+\nlog-level error\n",
	"tls-key key.pem\nstate-dir /\nmax-message-size 4G\n",
	"state-dir rel/dir\nexpn no\nlog-level warn\n",
	"user-remote relay\nremote-concurrency 7\ndestination-concurrency 3\n"
	"delay-warning 0\nremote-port 2525\nremote-timeout-connect 5s\n"
	"remote-timeout-command 1m\nremote-timeout-data 2m\n"
	"outbound-source 127.0.0.2 ::1\noutbound-tls encrypt\n"
	"tls-policy example.org verify\ntls-policy .example.net none\n"
	"outbound-ca-file ca.pem\nsmarthost [2001:db8::1]:2587\n"
	"smarthost-tls implicit\nsmarthost-verify no\n"
	"smarthost-auth relay.pw\ndns-resolver 127.0.0.1@5353 ::1\n"
	"dns-trust-anchor none\n"
	"dns-option local-zone \"test. transparent\"\n"
	"dns-option infra-cache-max-rtt 100\n",
	"smarthost relay.example.com\ndns-resolver recursive\n"
	"dns-trust-anchor ta.key\n",
};

static void
test_roundtrip(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(roundtrip_cases) / sizeof(roundtrip_cases[0]);
	    i++) {
		struct conf a, b;
		char *d1, *d2, err[256];

		parse_ok(roundtrip_cases[i], &a);
		d1 = dump(&a);
		/* A different base proves the dump holds absolute paths. */
		if (parse(d1, "/elsewhere", &b, err, sizeof(err)) != 0)
			fail_msg("case %zu: dump does not parse: %s\n%s", i,
			    err, d1);
		assert_conf_equal(&a, &b);
		d2 = dump(&b);
		assert_string_equal(d1, d2);
		free(d1);
		free(d2);
		conf_free(&a);
		conf_free(&b);
	}
}

/* The embedded default parses, relative to the given directory. */
static void
test_default_text(void **state)
{
	struct conf c, c2;
	const char *t = conf_default_text();
	char err[256], *d;

	(void)state;
	conf_set_hostname_fn(test_no_hostname);	/* must not be needed */
	assert_int_equal(conf_parse("(built-in)", t, strlen(t), "/home/u",
			     &c, err, sizeof(err)), 0);
	conf_set_hostname_fn(test_hostname);
	assert_string_equal(c.hostname, "localhost");
	assert_string_equal(c.state_dir, "/home/u/petrel-data");
	assert_string_equal(c.spool_dir, "/home/u/petrel-data/spool");
	assert_string_equal(c.tls_cert, "/home/u/petrel-data/tls/cert.pem");
	assert_true(c.tls_generate);
	assert_int_equal(c.nlisteners, 3);
	assert_string_equal(c.listeners[0].text, "127.0.0.1:2525");
	assert_int_equal(c.listeners[0].role, CONF_ROLE_MX);
	assert_string_equal(c.listeners[1].text, "127.0.0.1:2587");
	assert_int_equal(c.listeners[1].role, CONF_ROLE_SUBMISSION);
	assert_string_equal(c.listeners[2].text, "127.0.0.1:2465");
	assert_int_equal(c.listeners[2].role, CONF_ROLE_SUBMISSIONS);
	assert_int_equal(c.ndomains, 1);
	assert_string_equal(c.domains[0], "localhost");
	d = dump(&c);
	assert_int_equal(parse(d, "/", &c2, err, sizeof(err)), 0);
	assert_conf_equal(&c, &c2);
	free(d);
	conf_free(&c);
	conf_free(&c2);
}

/* Builds a sockaddr from an IPv4 or IPv6 literal. */
static void
make_sa(const char *s, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(s, ':') == NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, s, &sin->sin_addr), 1);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, s, &sin6->sin6_addr), 1);
	}
}

static const struct {
	const char *nets;	/* relay-from values */
	const char *addr;
	bool relay;
} relay_cases[] = {
	{ "127.0.0.1", "127.0.0.1", true },
	{ "127.0.0.1", "127.0.0.2", false },
	{ "127.0.0.1", "::ffff:127.0.0.1", true },
	{ "127.0.0.1", "::ffff:127.0.0.2", false },
	{ "127.0.0.1", "::1", false },
	{ "127.0.0.1", "::127.0.0.1", false },	/* IPv4-compatible: no */
	{ "::1", "::1", true },
	{ "::1", "127.0.0.1", false },
	{ "::1", "::2", false },
	{ "10.0.0.0/8", "10.255.255.255", true },
	{ "10.0.0.0/8", "11.0.0.0", false },
	{ "10.0.0.0/8", "::ffff:10.1.2.3", true },
	{ "10.0.0.0/8", "::ffff:11.1.2.3", false },
	{ "192.0.2.128/25", "192.0.2.127", false },
	{ "192.0.2.128/25", "192.0.2.128", true },
	{ "192.0.2.128/25", "192.0.2.255", true },
	{ "192.0.2.0/31", "192.0.2.1", true },
	{ "192.0.2.0/31", "192.0.2.2", false },
	{ "172.16.0.0/12", "172.31.255.255", true },
	{ "172.16.0.0/12", "172.32.0.0", false },
	{ "0.0.0.0/0", "203.0.113.9", true },
	{ "0.0.0.0/0", "::ffff:203.0.113.9", true },
	{ "0.0.0.0/0", "2001:db8::1", false },
	{ "::/0", "2001:db8::1", true },
	{ "::/0", "192.0.2.1", true },	/* as ::ffff:192.0.2.1 */
	{ "2001:db8::/32", "2001:db8:ffff::1", true },
	{ "2001:db8::/32", "2001:db9::1", false },
	{ "2001:db8::/33", "2001:db8:8000::1", false },
	{ "2001:db8::/33", "2001:db8:7fff::1", true },
	{ "::ffff:192.0.2.0/120", "192.0.2.5", true },
	{ "::ffff:192.0.2.0/120", "::ffff:192.0.2.5", true },
	{ "::ffff:192.0.2.0/120", "192.0.3.5", false },
	{ "10.0.0.0/8 192.168.1.0/24 ::1", "192.168.1.9", true },
	{ "10.0.0.0/8 192.168.1.0/24 ::1", "::1", true },
	{ "10.0.0.0/8 192.168.1.0/24 ::1", "192.168.2.9", false },
};

static void
test_relay(void **state)
{
	struct conf c;
	struct sockaddr_storage ss;
	struct sockaddr_un_like {
		sa_family_t family;
	} other = { AF_UNIX };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(relay_cases) / sizeof(relay_cases[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "relay-from %s\n",
		    relay_cases[i].nets);
		parse_ok(text, &c);
		make_sa(relay_cases[i].addr, &ss);
		if (conf_may_relay(&c, (struct sockaddr *)&ss) !=
		    relay_cases[i].relay)
			fail_msg("case %zu: %s in %s should be %d", i,
			    relay_cases[i].addr, relay_cases[i].nets,
			    relay_cases[i].relay);
		conf_free(&c);
	}
	/* No relay-from: nobody; unknown families and NULL: nobody. */
	parse_ok("", &c);
	make_sa("127.0.0.1", &ss);
	assert_false(conf_may_relay(&c, (struct sockaddr *)&ss));
	conf_free(&c);
	parse_ok("relay-from 0.0.0.0/0 ::/0", &c);
	assert_false(conf_may_relay(&c, (struct sockaddr *)(void *)&other));
	assert_false(conf_may_relay(&c, NULL));
	conf_free(&c);
}

static void
test_queries(void **state)
{
	struct conf c;

	(void)state;
	parse_ok("domain Example.org\ndomain example.NET\n", &c);
	assert_true(conf_is_local_domain(&c, "example.org"));
	assert_true(conf_is_local_domain(&c, "EXAMPLE.ORG"));
	assert_true(conf_is_local_domain(&c, "example.net"));
	assert_false(conf_is_local_domain(&c, "example.com"));
	assert_false(conf_is_local_domain(&c, "sub.example.org"));
	assert_false(conf_is_local_domain(&c, ""));
	assert_false(conf_is_local_domain(&c, T_HOST));
	conf_free(&c);

	assert_string_equal(conf_role_name(CONF_ROLE_MX), "mx");
	assert_string_equal(conf_role_name(CONF_ROLE_SUBMISSION),
	    "submission");
	assert_string_equal(conf_role_name(CONF_ROLE_SUBMISSIONS),
	    "submissions");

	assert_true(conf_domain_is_valid("a", 1));
	assert_true(conf_domain_is_valid("a-b.c0", 6));
	assert_true(conf_domain_is_valid("123.example", 11));
	assert_false(conf_domain_is_valid("", 0));
	assert_false(conf_domain_is_valid(".a", 2));
	assert_false(conf_domain_is_valid("a.", 2));
	assert_false(conf_domain_is_valid("a b", 3));
	assert_false(conf_domain_is_valid("a.-b", 4));
	assert_false(conf_domain_is_valid("a\0b", 3));
	{
		char lab[80], name[300];
		memset(lab, 'a', 64);
		assert_true(conf_domain_is_valid(lab, 63));
		assert_false(conf_domain_is_valid(lab, 64));
		/* 253 bytes in all is the most: 4 labels of 63 + 3 dots
		 * = 255 is too long. */
		memset(name, 'b', sizeof(name));
		name[63] = name[127] = name[191] = '.';
		assert_true(conf_domain_is_valid(name, 253));
		assert_false(conf_domain_is_valid(name, 254));
	}
}

/* The listener sockaddrs carry the written address and port. */
static void
test_listen_addrs(void **state)
{
	struct conf c;
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	struct in6_addr v6;

	(void)state;
	parse_ok("listen 192.0.2.1:2525 mx\nlisten [2001:db8::1]:465 "
		 "submissions\nlisten *:587 submission\n", &c);
	assert_int_equal(c.nlisteners, 3);
	sin = (const struct sockaddr_in *)&c.listeners[0].addr;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 2525);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000201);
	sin6 = (const struct sockaddr_in6 *)&c.listeners[1].addr;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 465);
	assert_int_equal(c.listeners[1].addrlen, sizeof(*sin6));
	inet_pton(AF_INET6, "2001:db8::1", &v6);
	assert_memory_equal(&sin6->sin6_addr, &v6, 16);
	assert_int_equal(c.listeners[1].role, CONF_ROLE_SUBMISSIONS);
	assert_string_equal(c.listeners[2].text, "*:587");
	sin = (const struct sockaddr_in *)&c.listeners[2].addr;
	assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	/* Listeners replace the defaults entirely. */
	conf_free(&c);
}

/* Only one TLS path given: no generation, the other one defaults. */
static void
test_tls_generate(void **state)
{
	struct conf c;

	(void)state;
	parse_ok("tls-key /k.pem", &c);
	assert_false(c.tls_generate);
	assert_string_equal(c.tls_key, "/k.pem");
	assert_string_equal(c.tls_cert, "/var/lib/petrel/tls/cert.pem");
	conf_free(&c);
	parse_ok("tls-certificate /c.pem\ntls-key /k.pem", &c);
	assert_false(c.tls_generate);
	conf_free(&c);
	parse_ok("state-dir /x", &c);
	assert_true(c.tls_generate);
	assert_string_equal(c.tls_key, "/x/tls/key.pem");
	conf_free(&c);
}

/* Line numbers count every line, blank and comment ones included, and
 * the last line needs no LF. */
static void
test_line_numbers(void **state)
{
	struct conf c;
	char err[256];

	(void)state;
	assert_int_equal(parse("# a\n\n  \r\n\t# b\nexpn maybe", "/", &c, err,
			     sizeof(err)), -1);
	assert_string_equal(err, "t.conf:5: expn: 'maybe' is not yes or no");
	assert_int_equal(parse("expn yes\n\n\n", "/", &c, err, sizeof(err)),
	    0);
	assert_true(c.expn);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, setup),
		cmocka_unit_test_setup(test_keywords, setup),
		cmocka_unit_test_setup(test_errors, setup),
		cmocka_unit_test_setup(test_errors_special, setup),
		cmocka_unit_test_setup(test_limits, setup),
		cmocka_unit_test_setup(test_roundtrip, setup),
		cmocka_unit_test_setup(test_default_text, setup),
		cmocka_unit_test_setup(test_relay, setup),
		cmocka_unit_test_setup(test_queries, setup),
		cmocka_unit_test_setup(test_listen_addrs, setup),
		cmocka_unit_test_setup(test_tls_generate, setup),
		cmocka_unit_test_setup(test_line_numbers, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
