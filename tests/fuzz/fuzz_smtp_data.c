/*
 * fuzz_smtp_data: libFuzzer target for proto/smtp_data. The first byte
 * picks the mode and limits, the rest is the client's byte stream. The
 * stream is decoded whole, split in two, byte by byte and in chunks of 3;
 * all runs must agree. Invariants checked: *used <= n and == n unless DATA
 * ended, output never larger than the decoded size nor the input, decoded
 * size <= input for DATA, a clean DATA decode re-encodes (dot-stuffing)
 * and decodes to the same bytes, a clean BDAT decode is the input itself,
 * and the bytes DATA consumed end in the one real terminator.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "proto/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DATA_CHECK(x)                                                     \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

#define FUZZ_DATA_OUTMAX ((size_t)1 << 24)

struct fuzz_data_res {
	int ret;
	size_t used;
	unsigned flags;
	uint64_t size;
	struct buf out;
};

/*
 * Feeds p[0..n) in pieces: step 0 means two pieces cut at cut, otherwise
 * pieces of step bytes. Each piece is a private heap copy, so ASan sees a
 * read past its end.
 */
static void
fuzz_data_run(bool dot, uint64_t max_size, size_t max_line, const char *p,
    size_t n, size_t step, size_t cut, size_t outmax, struct fuzz_data_res *r)
{
	struct smtp_data_dec d;
	size_t off = 0;

	smtp_data_init(&d, dot, max_size, max_line);
	buf_init(&r->out, outmax);
	r->ret = 0;
	r->used = 0;
	do {
		size_t len, used = 99;
		char *piece;

		if (step == 0)
			len = off < cut ? cut - off : n - off;
		else
			len = n - off < step ? n - off : step;
		piece = malloc(len ? len : 1);
		FUZZ_DATA_CHECK(piece != NULL);
		memcpy(piece, p + off, len);
		r->ret = smtp_data_feed(&d, piece, len, &used, &r->out);
		free(piece);
		FUZZ_DATA_CHECK(r->ret == 0 || r->ret == 1);
		FUZZ_DATA_CHECK(used <= len);
		FUZZ_DATA_CHECK(r->ret == 1 || used == len);
		FUZZ_DATA_CHECK(dot || r->ret == 0);
		r->used += used;
		off += len;
	} while (r->ret == 0 && off < n);
	r->flags = smtp_data_finish(&d);
	FUZZ_DATA_CHECK(r->flags == d.flags);
	r->size = d.size;

	FUZZ_DATA_CHECK(r->used <= n);
	FUZZ_DATA_CHECK(r->out.len <= r->size);
	FUZZ_DATA_CHECK(r->out.len <= max_size);
	FUZZ_DATA_CHECK(r->out.len <= r->used);
	if (dot)
		FUZZ_DATA_CHECK(r->size <= r->used);
	else
		FUZZ_DATA_CHECK(r->size == r->used);
	if ((r->flags & SMTP_DATA_ERRORS) == 0)
		FUZZ_DATA_CHECK(r->out.len == r->size);
	if (r->ret == 1) {
		/* The end is CRLF "." CRLF, or "." CRLF at the very start. */
		FUZZ_DATA_CHECK(r->used >= 3);
		FUZZ_DATA_CHECK(memcmp(p + r->used - 3, ".\r\n", 3) == 0);
		FUZZ_DATA_CHECK(
		    r->used == 3 || (r->used >= 5 && p[r->used - 5] == '\r' &&
					p[r->used - 4] == '\n'));
	}
}

static bool
fuzz_data_same(const struct fuzz_data_res *a, const struct fuzz_data_res *b)
{
	return a->ret == b->ret && a->used == b->used && a->flags == b->flags &&
	       a->size == b->size && a->out.len == b->out.len &&
	       (a->out.len == 0 ||
		   memcmp(a->out.data, b->out.data, a->out.len) == 0);
}

/* Dot-stuffs a clean decode and checks it decodes to itself. */
static void
fuzz_data_roundtrip(
    const struct fuzz_data_res *r, uint64_t max_size, size_t max_line)
{
	struct fuzz_data_res again;
	struct buf enc;
	size_t i;
	bool bol = true;

	buf_init(&enc, FUZZ_DATA_OUTMAX * 2);
	for (i = 0; i < r->out.len; i++) {
		if (bol && r->out.data[i] == '.')
			FUZZ_DATA_CHECK(buf_putc(&enc, '.') == 0);
		FUZZ_DATA_CHECK(buf_putc(&enc, r->out.data[i]) == 0);
		bol = r->out.data[i] == '\n';
	}
	/* A clean decode that ended always ends with CRLF or is empty. */
	FUZZ_DATA_CHECK(bol);
	FUZZ_DATA_CHECK(buf_append(&enc, ".\r\n", 3) == 0);
	fuzz_data_run(true, max_size, max_line, enc.data, enc.len, enc.len, 0,
	    FUZZ_DATA_OUTMAX, &again);
	FUZZ_DATA_CHECK(again.ret == 1 && again.used == enc.len);
	FUZZ_DATA_CHECK((again.flags & SMTP_DATA_ERRORS) == 0);
	FUZZ_DATA_CHECK(again.out.len == r->out.len);
	FUZZ_DATA_CHECK(r->out.len == 0 ||
			memcmp(again.out.data, r->out.data, r->out.len) == 0);
	buf_clear(&again.out);
	buf_clear(&enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lines[] = {1000, 3, 8, 78};
	static const uint64_t sizes[] = {UINT64_MAX, 0, 10, 200};
	struct fuzz_data_res whole, other;
	const char *p;
	size_t n, max_line, cut;
	uint64_t max_size;
	bool dot;

	if (size < 1 || size > 65536)
		return 0;
	dot = (data[0] & 1) == 0;
	max_line = lines[(data[0] >> 1) & 3];
	max_size = sizes[(data[0] >> 3) & 3];
	p = (const char *)data + 1;
	n = size - 1;
	cut = n > 0 ? (size_t)data[0] * 7 % (n + 1) : 0;

	fuzz_data_run(
	    dot, max_size, max_line, p, n, n, 0, FUZZ_DATA_OUTMAX, &whole);
	FUZZ_DATA_CHECK((whole.flags & SMTP_DATA_OUTFULL) == 0);

	fuzz_data_run(
	    dot, max_size, max_line, p, n, 0, cut, FUZZ_DATA_OUTMAX, &other);
	FUZZ_DATA_CHECK(fuzz_data_same(&whole, &other));
	buf_clear(&other.out);
	fuzz_data_run(
	    dot, max_size, max_line, p, n, 1, 0, FUZZ_DATA_OUTMAX, &other);
	FUZZ_DATA_CHECK(fuzz_data_same(&whole, &other));
	buf_clear(&other.out);
	fuzz_data_run(
	    dot, max_size, max_line, p, n, 3, 0, FUZZ_DATA_OUTMAX, &other);
	FUZZ_DATA_CHECK(fuzz_data_same(&whole, &other));
	buf_clear(&other.out);

	/* A small out: OUTFULL or the same; never an overflow. */
	fuzz_data_run(dot, max_size, max_line, p, n, 5, 0, 4, &other);
	FUZZ_DATA_CHECK(other.ret == whole.ret && other.used == whole.used);
	FUZZ_DATA_CHECK(other.size == whole.size);
	FUZZ_DATA_CHECK(
	    (other.flags & ~(unsigned)SMTP_DATA_OUTFULL) == whole.flags);
	FUZZ_DATA_CHECK(other.out.len <= 4);
	if ((other.flags & SMTP_DATA_OUTFULL) == 0)
		FUZZ_DATA_CHECK(fuzz_data_same(&whole, &other));
	buf_clear(&other.out);

	if ((whole.flags & SMTP_DATA_ERRORS) == 0) {
		if (dot && whole.ret == 1)
			fuzz_data_roundtrip(&whole, max_size, max_line);
		if (!dot)
			FUZZ_DATA_CHECK(
			    whole.out.len == n &&
			    (n == 0 || memcmp(whole.out.data, p, n) == 0));
	}
	buf_clear(&whole.out);
	return 0;
}
