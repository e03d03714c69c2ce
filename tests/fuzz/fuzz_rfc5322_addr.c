/*
 * fuzz_rfc5322_addr: libFuzzer target for proto/rfc5322_addr. The whole
 * input is a field body, parsed from an exact-size heap copy with each of
 * the four flag combinations. Invariants:
 *  - every address is bounded (local part 64, domain 255), NUL-terminated
 *    at len, and its flags agree with its text;
 *  - every address, with its quoting undone, is a subsequence of the
 *    input, and the addresses appear in input order (the parser only
 *    drops text, and adds nothing but quotes and backslashes);
 *  - every address parses again, strictly, to exactly itself;
 *  - an error has a reason and a position inside the input;
 *  - leniency only adds: what parses strictly parses the same in lenient
 *    mode and with bare local parts allowed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/rfc5322_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RFC5322_ADDR_CHECK(x)                                             \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

#define FUZZ_RFC5322_ADDR_MAX 64 /* addresses remembered per run */

struct fuzz_rfc5322_addr_run {
	const unsigned char *in;
	size_t n;
	size_t matched; /* input consumed by the subsequence checks */
	size_t count;
	char addrs[FUZZ_RFC5322_ADDR_MAX]
		  [RFC5322_ADDR_LOCAL_MAX + 1 + RFC5322_ADDR_DOMAIN_MAX + 1];
};

/* Matches one octet of an address at or after r->matched. */
static void
fuzz_rfc5322_addr_match(struct fuzz_rfc5322_addr_run *r, unsigned char c)
{
	const unsigned char *hit =
	    memchr(r->in + r->matched, c, r->n - r->matched);

	FUZZ_RFC5322_ADDR_CHECK(hit != NULL);
	r->matched = (size_t)(hit - r->in) + 1;
}

static int
fuzz_rfc5322_addr_take(const struct rfc5322_addr *a, void *arg)
{
	struct fuzz_rfc5322_addr_run *r = arg;
	size_t i, dom;
	bool utf8 = false;

	FUZZ_RFC5322_ADDR_CHECK(a->len == strlen(a->addr));
	FUZZ_RFC5322_ADDR_CHECK(a->local_len > 0);
	FUZZ_RFC5322_ADDR_CHECK(a->local_len <= RFC5322_ADDR_LOCAL_MAX);
	FUZZ_RFC5322_ADDR_CHECK(a->quoted == (a->addr[0] == '"'));
	if (a->no_domain) {
		FUZZ_RFC5322_ADDR_CHECK(a->len == a->local_len);
		FUZZ_RFC5322_ADDR_CHECK(!a->literal);
	} else {
		FUZZ_RFC5322_ADDR_CHECK(a->addr[a->local_len] == '@');
		dom = a->local_len + 1;
		FUZZ_RFC5322_ADDR_CHECK(a->len > dom);
		FUZZ_RFC5322_ADDR_CHECK(
		    a->len - dom <= RFC5322_ADDR_DOMAIN_MAX);
		FUZZ_RFC5322_ADDR_CHECK(a->literal == (a->addr[dom] == '['));
	}
	for (i = 0; i < a->len; i++) {
		unsigned char c = (unsigned char)a->addr[i];

		/* Nothing SMTP cannot carry: no CTL, SP only when quoted. */
		FUZZ_RFC5322_ADDR_CHECK(c >= 32 && c != 127);
		FUZZ_RFC5322_ADDR_CHECK(c != ' ' || a->quoted);
		if (c >= 0x80)
			utf8 = true;
	}
	FUZZ_RFC5322_ADDR_CHECK(utf8 == a->utf8);

	/* Undo the quoting, then find the octets in the input, in order. */
	i = 0;
	if (a->quoted) {
		for (i = 1; a->addr[i] != '"'; i++) {
			if (a->addr[i] == '\\')
				i++;
			FUZZ_RFC5322_ADDR_CHECK(i < a->local_len);
			fuzz_rfc5322_addr_match(r, (unsigned char)a->addr[i]);
		}
		FUZZ_RFC5322_ADDR_CHECK(i + 1 == a->local_len);
		i++;
	}
	for (; i < a->len; i++)
		fuzz_rfc5322_addr_match(r, (unsigned char)a->addr[i]);

	if (r->count < FUZZ_RFC5322_ADDR_MAX)
		memcpy(r->addrs[r->count], a->addr, a->len + 1);
	r->count++;
	return 0;
}

/* Parses from an exact-size heap copy. */
static int
fuzz_rfc5322_addr_run(const uint8_t *data, size_t size, unsigned flags,
    struct fuzz_rfc5322_addr_run *r)
{
	struct rfc5322_addr_error err;
	unsigned char *copy = malloc(size ? size : 1);
	int res;

	FUZZ_RFC5322_ADDR_CHECK(copy != NULL);
	if (size > 0)
		memcpy(copy, data, size);
	memset(r, 0, sizeof(*r));
	r->in = copy;
	r->n = size;
	res = rfc5322_addr_parse(span_make((const char *)copy, size), flags,
	    fuzz_rfc5322_addr_take, r, &err);
	free(copy);
	r->in = NULL;
	FUZZ_RFC5322_ADDR_CHECK(res <= 0 && res >= RFC5322_ADDR_NOTSMTP);
	if (res != 0) {
		FUZZ_RFC5322_ADDR_CHECK(err.why != NULL);
		FUZZ_RFC5322_ADDR_CHECK(err.pos <= size);
	}
	return res;
}

static bool
fuzz_rfc5322_addr_same(const struct fuzz_rfc5322_addr_run *a,
    const struct fuzz_rfc5322_addr_run *b)
{
	size_t i;

	if (a->count != b->count)
		return false;
	for (i = 0; i < a->count && i < FUZZ_RFC5322_ADDR_MAX; i++)
		if (strcmp(a->addrs[i], b->addrs[i]) != 0)
			return false;
	return true;
}

/* Each address parses, strictly, to itself. */
static void
fuzz_rfc5322_addr_fixpoint(
    const struct fuzz_rfc5322_addr_run *r, unsigned flags)
{
	static struct fuzz_rfc5322_addr_run again;
	size_t i;

	for (i = 0; i < r->count && i < FUZZ_RFC5322_ADDR_MAX; i++) {
		const char *a = r->addrs[i];

		FUZZ_RFC5322_ADDR_CHECK(
		    fuzz_rfc5322_addr_run((const uint8_t *)a, strlen(a),
			flags & RFC5322_ADDR_F_BARE_LOCAL, &again) == 0);
		FUZZ_RFC5322_ADDR_CHECK(again.count == 1);
		FUZZ_RFC5322_ADDR_CHECK(strcmp(again.addrs[0], a) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_rfc5322_addr_run runs[4];
	int res[4];
	unsigned f;

	if (size > 16384)
		return 0;
	for (f = 0; f < 4; f++) {
		res[f] = fuzz_rfc5322_addr_run(data, size, f, &runs[f]);
		if (res[f] == 0)
			fuzz_rfc5322_addr_fixpoint(&runs[f], f);
	}
	/* Strict success carries over to the more lenient flag sets. */
	for (f = 0; f < 4; f++) {
		unsigned g;

		if (res[f] != 0)
			continue;
		for (g = 0; g < 4; g++) {
			if ((g & f) != f)
				continue;
			FUZZ_RFC5322_ADDR_CHECK(res[g] == 0);
			FUZZ_RFC5322_ADDR_CHECK(
			    fuzz_rfc5322_addr_same(&runs[f], &runs[g]));
		}
	}
	return 0;
}
