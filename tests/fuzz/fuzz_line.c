/*
 * fuzz_line: libFuzzer target for lib/line. The first input byte picks the
 * line limit, the rest is a byte stream. Checks what every result promises
 * (offsets, *used bounds, the bytes at the reported positions), that a
 * prefix never contradicts the whole input, and that a reader built on
 * line_find/line_skip logs the same events whether the stream arrives
 * whole, split in two or byte by byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_LINE_CHECK(x)                                                     \
	do {                                                                   \
		if (!(x))                                                      \
			abort();                                               \
	} while (0)

/* No CR or LF in p[0..n). */
static int
fuzz_line_clean(const char *p, size_t n)
{
	return memchr(p, '\r', n) == NULL && memchr(p, '\n', n) == NULL;
}

/* Checks the promises of one line_find result on p[0..n). */
static enum line_result
fuzz_line_find_checked(
    const char *p, size_t n, size_t max, size_t *len_out, size_t *used_out)
{
	size_t len = 7, used = 7, k;
	enum line_result r = line_find(p, n, max, &len, &used);

	FUZZ_LINE_CHECK(used <= n);
	switch (r) {
	case LINE_OK:
		FUZZ_LINE_CHECK(len <= max && used == len + 2);
		FUZZ_LINE_CHECK(p[len] == '\r' && p[len + 1] == '\n');
		FUZZ_LINE_CHECK(fuzz_line_clean(p, len));
		break;
	case LINE_MORE:
		FUZZ_LINE_CHECK(len == 0 && used == 0);
		FUZZ_LINE_CHECK(n <= max + 1 || max == SIZE_MAX);
		/* Clean, except perhaps a final CR. */
		FUZZ_LINE_CHECK(fuzz_line_clean(p, n > 0 ? n - 1 : 0));
		FUZZ_LINE_CHECK(n == 0 || p[n - 1] != '\n');
		break;
	case LINE_TOOLONG:
		FUZZ_LINE_CHECK(len == 0 && used == n && n > max);
		FUZZ_LINE_CHECK(fuzz_line_clean(p, max + 1));
		break;
	case LINE_BARELF:
		FUZZ_LINE_CHECK(len <= max && used == len + 1);
		FUZZ_LINE_CHECK(p[len] == '\n' && fuzz_line_clean(p, len));
		break;
	case LINE_BARECR:
		FUZZ_LINE_CHECK(len <= max && used == len + 1 && len + 1 < n);
		FUZZ_LINE_CHECK(p[len] == '\r' && p[len + 1] != '\n');
		FUZZ_LINE_CHECK(fuzz_line_clean(p, len));
		break;
	default:
		abort();
	}
	/* A prefix needs more or already knows the same answer. */
	for (k = n > 3 ? n - 3 : 0; k < n; k++) {
		size_t l2, u2;
		enum line_result r2 = line_find(p, k, max, &l2, &u2);

		if (r2 == LINE_MORE)
			continue;
		FUZZ_LINE_CHECK(r2 == r && l2 == len);
		FUZZ_LINE_CHECK(r == LINE_TOOLONG ? u2 == k : u2 == used);
	}
	*len_out = len;
	*used_out = used;
	return r;
}

/* A session-like reader; events are hashed so runs can be compared. */
struct fuzz_line_reader {
	char *buf;
	size_t len;
	size_t max;
	int skipping;
	uint64_t hash;
};

static void
fuzz_line_mix(struct fuzz_line_reader *r, const void *p, size_t n)
{
	const unsigned char *q = p;
	size_t i;

	for (i = 0; i < n; i++) {
		r->hash ^= q[i];
		r->hash *= 0x100000001b3ULL;
	}
}

static void
fuzz_line_drop(struct fuzz_line_reader *r, size_t n)
{
	FUZZ_LINE_CHECK(n <= r->len);
	memmove(r->buf, r->buf + n, r->len - n);
	r->len -= n;
}

static void
fuzz_line_run(struct fuzz_line_reader *r)
{
	for (;;) {
		size_t len, used;
		enum line_result res;
		int ev;

		if (r->skipping) {
			int done = line_skip(r->buf, r->len, &used);

			FUZZ_LINE_CHECK(used <= r->len);
			if (done) {
				FUZZ_LINE_CHECK(used >= 2 &&
						r->buf[used - 2] == '\r' &&
						r->buf[used - 1] == '\n');
			} else {
				FUZZ_LINE_CHECK(used + 1 >= r->len);
			}
			fuzz_line_drop(r, used);
			if (!done)
				return;
			r->skipping = 0;
			ev = 9;
			fuzz_line_mix(r, &ev, sizeof(ev));
			continue;
		}
		res =
		    fuzz_line_find_checked(r->buf, r->len, r->max, &len, &used);
		if (res == LINE_MORE)
			return; /* not an event: depends on the split */
		ev = (int)res;
		fuzz_line_mix(r, &ev, sizeof(ev));
		switch (res) {
		case LINE_MORE:
			return;
		case LINE_OK:
			fuzz_line_mix(r, &len, sizeof(len));
			fuzz_line_mix(r, r->buf, len);
			break;
		case LINE_BARELF:
		case LINE_BARECR:
			fuzz_line_mix(r, &len, sizeof(len));
			break;
		case LINE_TOOLONG:
			r->skipping = 1;
			used = 0;
			break;
		}
		fuzz_line_drop(r, used);
	}
}

static void
fuzz_line_feed(struct fuzz_line_reader *r, const char *p, size_t n)
{
	if (n == 0)
		return;
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	fuzz_line_run(r);
}

static uint64_t
fuzz_line_stream(
    const char *p, size_t n, size_t max, size_t step, size_t cut, char *work)
{
	struct fuzz_line_reader r = {work, 0, max, 0, 0xcbf29ce484222325ULL};
	size_t off = 0;

	if (step == 0) {
		fuzz_line_feed(&r, p, cut);
		fuzz_line_feed(&r, p + cut, n - cut);
	} else {
		for (off = 0; off < n; off += step)
			fuzz_line_feed(
			    &r, p + off, n - off < step ? n - off : step);
	}
	fuzz_line_mix(&r, &r.len, sizeof(r.len));
	fuzz_line_mix(&r, &r.skipping, sizeof(r.skipping));
	return r.hash;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p;
	size_t n, max, len, used, cut;
	char *work;
	uint64_t h;

	if (size < 1)
		return 0;
	/* Small limits find the edges; 255 means "no limit". */
	max = data[0] == 255 ? SIZE_MAX : (size_t)(data[0] % 40);
	p = (const char *)data + 1;
	n = size - 1;
	cut = n > 0 ? data[0] % n : 0;

	(void)fuzz_line_find_checked(p, n, max, &len, &used);
	(void)line_skip(p, n, &used);
	FUZZ_LINE_CHECK(used <= n);

	work = malloc(n + 1);
	if (work == NULL)
		return 0;
	h = fuzz_line_stream(p, n, max, n > 0 ? n : 1, 0, work);
	FUZZ_LINE_CHECK(fuzz_line_stream(p, n, max, 0, cut, work) == h);
	FUZZ_LINE_CHECK(fuzz_line_stream(p, n, max, 1, 0, work) == h);
	FUZZ_LINE_CHECK(fuzz_line_stream(p, n, max, 3, 0, work) == h);
	free(work);
	return 0;
}
