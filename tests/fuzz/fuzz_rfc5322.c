/*
 * fuzz_rfc5322: libFuzzer target for proto/rfc5322. The whole input is
 * the message. It is scanned whole, byte by byte, and in pseudo-random
 * chunks whose sizes come from a generator seeded by a hash of the input;
 * every piece is a private heap copy so ASan sees a read past it. All runs
 * must agree with each other and with a simple line-at-a-time reference
 * scanner written from rfc5322.h: lines end at CR LF only, the first empty
 * complete line ends the header, a line starting with WSP counts nothing,
 * any other line counts when it starts with 1*ftext *WSP ":".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/rfc5322.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RFC5322_CHECK(x)                                                  \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

struct fuzz_rfc5322_res {
	bool in_body;
	unsigned fields, received;
	bool has_date, has_message_id, has_from;
};

static void
fuzz_rfc5322_take(const struct rfc5322_scan *s, struct fuzz_rfc5322_res *r)
{
	memset(r, 0, sizeof(*r));
	r->in_body = s->in_body;
	r->fields = s->fields;
	r->received = s->received;
	r->has_date = s->has_date;
	r->has_message_id = s->has_message_id;
	r->has_from = s->has_from;
}

static bool
fuzz_rfc5322_same(
    const struct fuzz_rfc5322_res *a, const struct fuzz_rfc5322_res *b)
{
	return a->in_body == b->in_body && a->fields == b->fields &&
	       a->received == b->received && a->has_date == b->has_date &&
	       a->has_message_id == b->has_message_id &&
	       a->has_from == b->has_from;
}

static void
fuzz_rfc5322_feed_copy(struct rfc5322_scan *s, const char *p, size_t n)
{
	char *piece = malloc(n ? n : 1);

	FUZZ_RFC5322_CHECK(piece != NULL);
	if (n > 0)
		memcpy(piece, p, n);
	rfc5322_scan_feed(s, piece, n);
	free(piece);
}

/* Chunk sizes 0..max from a xorshift generator seeded by FNV-1a. */
static void
fuzz_rfc5322_chunked(
    const char *p, size_t n, size_t max, struct fuzz_rfc5322_res *r)
{
	struct rfc5322_scan s;
	uint64_t x = 1469598103934665603ULL;
	size_t i, off = 0;

	for (i = 0; i < n; i++)
		x = (x ^ (unsigned char)p[i]) * 1099511628211ULL;
	x ^= max;
	if (x == 0)
		x = 1;
	rfc5322_scan_init(&s);
	while (off < n) {
		size_t len;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = (size_t)(x % (max + 1)); /* 0-length feeds too */
		if (len > n - off)
			len = n - off;
		fuzz_rfc5322_feed_copy(&s, p + off, len);
		off += len;
	}
	fuzz_rfc5322_take(&s, r);
}

static bool
fuzz_rfc5322_name_is(const char *name, size_t len, const char *lit)
{
	return len == strlen(lit) && strncasecmp(name, lit, len) == 0;
}

/* The reference: whole lines, no state machine. */
static void
fuzz_rfc5322_reference(const char *p, size_t n, struct fuzz_rfc5322_res *r)
{
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	while (off < n) {
		const char *line = p + off;
		const char *crlf = memmem(line, n - off, "\r\n", 2);
		size_t len = crlf ? (size_t)(crlf - line) : n - off;
		size_t k = 0, j;

		if (crlf != NULL && len == 0) {
			r->in_body = true;
			return;
		}
		while (k < len && line[k] >= 33 && line[k] <= 126 &&
		       line[k] != ':')
			k++;
		j = k;
		while (j < len && (line[j] == ' ' || line[j] == '\t'))
			j++;
		if (k > 0 && j < len && line[j] == ':') {
			/* No saturation: the input is far below UINT_MAX. */
			r->fields++;
			if (fuzz_rfc5322_name_is(line, k, "received"))
				r->received++;
			else if (fuzz_rfc5322_name_is(line, k, "date"))
				r->has_date = true;
			else if (fuzz_rfc5322_name_is(line, k, "message-id"))
				r->has_message_id = true;
			else if (fuzz_rfc5322_name_is(line, k, "from"))
				r->has_from = true;
		}
		off += crlf ? len + 2 : len;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct fuzz_rfc5322_res whole, other;
	struct rfc5322_scan s;
	size_t i;

	if (size > 65536)
		return 0;
	rfc5322_scan_init(&s);
	fuzz_rfc5322_feed_copy(&s, p, size);
	fuzz_rfc5322_take(&s, &whole);
	FUZZ_RFC5322_CHECK(s.name_len <= sizeof(s.name) + 1);
	FUZZ_RFC5322_CHECK(whole.received <= whole.fields);
	FUZZ_RFC5322_CHECK(whole.fields >= (unsigned)whole.has_date +
					       (unsigned)whole.has_message_id +
					       (unsigned)whole.has_from);
	/* The header ends exactly at a leading CRLF or the first CRLFCRLF. */
	FUZZ_RFC5322_CHECK(
	    whole.in_body == ((size >= 2 && memcmp(p, "\r\n", 2) == 0) ||
				 memmem(p, size, "\r\n\r\n", 4) != NULL));

	fuzz_rfc5322_reference(p, size, &other);
	FUZZ_RFC5322_CHECK(fuzz_rfc5322_same(&whole, &other));

	rfc5322_scan_init(&s);
	for (i = 0; i < size; i++)
		fuzz_rfc5322_feed_copy(&s, p + i, 1);
	fuzz_rfc5322_take(&s, &other);
	FUZZ_RFC5322_CHECK(fuzz_rfc5322_same(&whole, &other));

	fuzz_rfc5322_chunked(p, size, 7, &other);
	FUZZ_RFC5322_CHECK(fuzz_rfc5322_same(&whole, &other));
	fuzz_rfc5322_chunked(p, size, 64, &other);
	FUZZ_RFC5322_CHECK(fuzz_rfc5322_same(&whole, &other));

	/* Field values: from a private copy, bounded, NUL-terminated. */
	{
		char *copy = malloc(size ? size : 1), val[40];
		bool found;

		FUZZ_RFC5322_CHECK(copy != NULL);
		memcpy(copy, p, size);
		found = rfc5322_field_value(copy, size, "Subject", val,
		    sizeof(val));
		FUZZ_RFC5322_CHECK(strlen(val) < sizeof(val));
		FUZZ_RFC5322_CHECK(found || val[0] == '\0');
		(void)rfc5322_field_value(copy, size, "TLS-Required", val, 1);
		free(copy);
	}
	return 0;
}
