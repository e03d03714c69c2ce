/*
 * fuzz_conf: libFuzzer target for the configuration parser (conf_parse).
 * Every input is parsed; an accepted one must dump (conf_dump) to text
 * that parses again into a configuration with the same dump, and the
 * queries must not crash. The hostname source is fixed so runs do not
 * touch the resolver. Corpus: tests/fuzz/corpus/conf/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The default hostname for inputs without "hostname". */
static int
fuzz_conf_hostname(char *out, size_t outsz)
{
	if (outsz < 16)
		return -1;
	memcpy(out, "mx.fuzz.example", 16);
	return 0;
}

/* Asks conf_may_relay about a few fixed addresses. */
static void
fuzz_conf_queries(const struct conf *c)
{
	static const char *const v4[] = { "127.0.0.1", "10.1.2.3",
		"192.0.2.255", "0.0.0.0" };
	static const char *const v6[] = { "::1", "::ffff:10.1.2.3",
		"2001:db8::1", "fe80::1" };
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	size_t i;

	for (i = 0; i < 4; i++) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		(void)inet_pton(AF_INET, v4[i], &sin.sin_addr);
		(void)conf_may_relay(c, (struct sockaddr *)&sin);
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		(void)inet_pton(AF_INET6, v6[i], &sin6.sin6_addr);
		(void)conf_may_relay(c, (struct sockaddr *)&sin6);
	}
	(void)conf_is_local_domain(c, "Example.ORG");
	for (i = 0; i < c->nlisteners; i++)
		(void)conf_role_name(c->listeners[i].role);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, c2;
	struct buf d1, d2;
	char err[256];

	conf_set_hostname_fn(fuzz_conf_hostname);
	if (conf_parse("fuzz.conf", (const char *)data, size, "/fuzz", &c,
	    err, sizeof(err)) != 0) {
		if (memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	fuzz_conf_queries(&c);
	buf_init(&d1, 1 << 22);
	buf_init(&d2, 1 << 22);
	conf_dump(&c, &d1);
	if (conf_parse("dump", buf_str(&d1), d1.len, NULL, &c2, err,
	    sizeof(err)) != 0)
		abort();	/* the dump of a valid file must parse */
	conf_dump(&c2, &d2);
	if (d1.len != d2.len || memcmp(buf_str(&d1), buf_str(&d2), d1.len))
		abort();	/* and describe the same configuration */
	buf_clear(&d1);
	buf_clear(&d2);
	conf_free(&c2);
	conf_free(&c);
	return 0;
}
