/*
 * fuzz_tables: libFuzzer target for the users and aliases loaders and the
 * lookups (tables.h). The input is split at its first NUL: users text
 * before, aliases text after (no NUL: no aliases file). The configuration
 * is fixed. Accepted tables are probed with the key of each of the first
 * lines of both texts plus a few fixed names, and lookup_rcpt and
 * lookup_expand must agree. Corpus: tests/fuzz/corpus/tables/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "lookup/tables.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_tables_conf_text[] = "hostname mx.example.org\n"
					    "domain example.org\n"
					    "domain example.net\n"
					    "recipient-delimiter +-\n";

/* The fixed configuration, parsed once. */
static const struct conf *
fuzz_tables_conf(void)
{
	static struct conf c;
	static int done;
	char err[256];

	if (!done) {
		if (conf_parse("fuzz.conf", fuzz_tables_conf_text,
		    strlen(fuzz_tables_conf_text), "/", &c, err,
		    sizeof(err)) != 0)
			abort();
		done = 1;
	}
	return &c;
}

/* Looks up local@domain both ways and checks they agree. */
static void
fuzz_tables_probe(const struct tables *t, const struct conf *c,
    const char *local, const char *domain)
{
	static struct lookup_dest out[64];
	enum lookup_result r = lookup_rcpt(t, c, local, domain);
	int n = lookup_expand(t, c, local, domain, out, 64);
	int i;

	switch (r) {
	case LOOKUP_NO_SUCH_USER:
		if (n != -1)
			abort();
		break;
	case LOOKUP_USER:
	case LOOKUP_POSTMASTER:
		if (n != 1 || !out[0].local)
			abort();
		break;
	case LOOKUP_NOT_LOCAL:
		if (n != -1 && (n != 1 || out[0].local))
			abort();
		break;
	case LOOKUP_ALIAS:
		break;
	}
	for (i = 0; i < n; i++) {
		if (strnlen(out[i].address, sizeof(out[i].address)) ==
		    sizeof(out[i].address))
			abort();
		if (out[i].local && !conf_is_local_domain(c, out[i].domain))
			abort();
	}
	(void)lookup_expand(t, c, local, domain, out, 1);
}

/* Probes the "local@domain" key at the start of each of the first lines. */
static void
fuzz_tables_probe_lines(const struct tables *t, const struct conf *c,
    const char *text, size_t len)
{
	size_t pos = 0;
	int lines = 0;

	while (pos < len && lines++ < 32) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		char key[400], *at, *colon;

		pos += n + 1;
		if (n >= sizeof(key))
			continue;
		memcpy(key, s, n);
		key[n] = '\0';
		if ((colon = strchr(key, ':')) != NULL)
			*colon = '\0';
		if ((at = strrchr(key, '@')) != NULL) {
			*at = '\0';
			fuzz_tables_probe(t, c, key, at + 1);
		} else {
			fuzz_tables_probe(t, c, key, "example.org");
			fuzz_tables_probe(t, c, key, "example.net");
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "postmaster", "a", "a+b",
		"info", "x-y", "abuse" };
	const struct conf *c = fuzz_tables_conf();
	const char *text = (const char *)data;
	const char *nul = memchr(text, '\0', size);
	size_t ulen = nul ? (size_t)(nul - text) : size;
	const char *aliases = nul ? nul + 1 : NULL;
	size_t alen = nul ? size - ulen - 1 : 0;
	struct tables *t;
	char err[256];
	size_t i;

	if (tables_new(c, "users", text, ulen, "aliases", aliases, alen, &t,
	    err, sizeof(err)) != 0) {
		if (t != NULL || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fuzz_tables_probe(t, c, names[i], "example.org");
		fuzz_tables_probe(t, c, names[i], "EXAMPLE.NET");
		fuzz_tables_probe(t, c, names[i], "remote.example");
	}
	fuzz_tables_probe_lines(t, c, text, ulen);
	if (aliases != NULL)
		fuzz_tables_probe_lines(t, c, aliases, alen);
	tables_free(t);
	return 0;
}
