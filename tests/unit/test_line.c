/*
 * test_line: table-driven tests of the strict CRLF line finder (lib/line),
 * plus a stream reader that feeds each input whole, split at every byte
 * position and byte by byte, and must see the same lines and errors every
 * time (Dovecot test-smtp-command-parser.c style).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "lib/line.h"

#define T_NOMAX ((size_t)-1)

struct test_line_case {
	const char *in;
	size_t n;
	size_t max;
	enum line_result res;
	size_t len;
	size_t used;
};

/* S("x") gives the pointer and the length, so inputs may hold NUL. */
#define S(s) s, sizeof(s) - 1

/* clang-format off */
static const struct test_line_case test_line_cases[] = {
	{ S(""), 10, LINE_MORE, 0, 0 },
	{ S("abc"), 10, LINE_MORE, 0, 0 },
	{ S("abc\r"), 10, LINE_MORE, 0, 0 },
	{ S("\r"), 10, LINE_MORE, 0, 0 },
	{ S("abc\r\n"), 10, LINE_OK, 3, 5 },
	{ S("\r\n"), 10, LINE_OK, 0, 2 },
	{ S("abc\r\nxyz"), 10, LINE_OK, 3, 5 },
	{ S("abc\r\n\n"), 10, LINE_OK, 3, 5 },
	{ S("a\0b\r\n"), 10, LINE_OK, 3, 5 },
	{ S("\xff\x80\r\n"), 10, LINE_OK, 2, 4 },
	/* Bare LF / CR at the first offending position. */
	{ S("\n"), 10, LINE_BARELF, 0, 1 },
	{ S("ab\ncd\r\n"), 10, LINE_BARELF, 2, 3 },
	{ S("ab\n"), 10, LINE_BARELF, 2, 3 },
	{ S("\n\r\n"), 10, LINE_BARELF, 0, 1 },
	{ S("ab\rcd\r\n"), 10, LINE_BARECR, 2, 3 },
	{ S("ab\r\r\n"), 10, LINE_BARECR, 2, 3 },
	{ S("\r\r"), 10, LINE_BARECR, 0, 1 },
	{ S("\r."), 10, LINE_BARECR, 0, 1 },
	{ S("\r\0"), 10, LINE_BARECR, 0, 1 },
	/* Length limit: max bytes + CRLF is fine, max+1 is not. */
	{ S("12345\r\n"), 5, LINE_OK, 5, 7 },
	{ S("12345"), 5, LINE_MORE, 0, 0 },
	{ S("12345\r"), 5, LINE_MORE, 0, 0 },
	{ S("12345\rx"), 5, LINE_BARECR, 5, 6 },
	{ S("12345\n"), 5, LINE_BARELF, 5, 6 },
	{ S("123456"), 5, LINE_TOOLONG, 0, 6 },
	{ S("123456\r\n"), 5, LINE_TOOLONG, 0, 8 },
	{ S("123456\n"), 5, LINE_TOOLONG, 0, 7 },
	{ S("1234567890"), 5, LINE_TOOLONG, 0, 10 },
	{ S("12\n456"), 5, LINE_BARELF, 2, 3 },
	{ S("\r\n"), 0, LINE_OK, 0, 2 },
	{ S(""), 0, LINE_MORE, 0, 0 },
	{ S("\r"), 0, LINE_MORE, 0, 0 },
	{ S("\n"), 0, LINE_BARELF, 0, 1 },
	{ S("a"), 0, LINE_TOOLONG, 0, 1 },
	{ S("a\r\n"), 0, LINE_TOOLONG, 0, 3 },
	{ S("abc\r\n"), T_NOMAX, LINE_OK, 3, 5 },
	{ S("abc"), T_NOMAX, LINE_MORE, 0, 0 },
	{ S("abc\n"), T_NOMAX, LINE_BARELF, 3, 4 },
};
/* clang-format on */

static void
test_line_find_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_line_cases) / sizeof(test_line_cases[0]);
	     i++) {
		const struct test_line_case *c = &test_line_cases[i];
		size_t len = 99, used = 99, k;
		enum line_result r;

		r = line_find(c->in, c->n, c->max, &len, &used);
		if (r != c->res || len != c->len || used != c->used)
			fail_msg("case %zu: got %d len %zu used %zu, "
				 "want %d len %zu used %zu",
			    i, (int)r, len, used, (int)c->res, c->len, c->used);
		/*
		 * Any prefix either needs more or already gives the final
		 * answer (with TOOLONG dropping what it was given).
		 */
		for (k = 0; k <= c->n; k++) {
			size_t l2, u2;
			enum line_result r2;

			r2 = line_find(c->in, k, c->max, &l2, &u2);
			if (r2 == LINE_MORE) {
				assert_int_equal(l2, 0);
				assert_int_equal(u2, 0);
				continue;
			}
			if (r2 != r || l2 != len ||
			    (r == LINE_TOOLONG ? u2 != k : u2 != used))
				fail_msg("case %zu prefix %zu: got %d %zu %zu",
				    i, k, (int)r2, l2, u2);
		}
	}
}

static void
test_line_find_998(void **state)
{
	char line[1001];
	size_t len, used;

	(void)state;
	/* RFC 5321 4.5.3.1.4: 512 for commands; 998 + CRLF for text. */
	memset(line, 'x', sizeof(line));
	memcpy(line + 998, "\r\n", 2);
	assert_int_equal(line_find(line, 1000, 998, &len, &used), LINE_OK);
	assert_int_equal(len, 998);
	assert_int_equal(used, 1000);
	memset(line, 'x', sizeof(line));
	memcpy(line + 999, "\r\n", 2);
	assert_int_equal(line_find(line, 1001, 998, &len, &used), LINE_TOOLONG);
	assert_int_equal(used, 1001);
	assert_int_equal(line_find(line, 999, 998, &len, &used), LINE_TOOLONG);
	assert_int_equal(line_find(line, 998, 998, &len, &used), LINE_MORE);
}

struct test_skip_case {
	const char *in;
	size_t n;
	int res;
	size_t used;
};

/* clang-format off */
static const struct test_skip_case test_skip_cases[] = {
	{ S(""), 0, 0 },
	{ S("abc"), 0, 3 },
	{ S("abc\r"), 0, 3 },
	{ S("\r"), 0, 0 },
	{ S("abc\r\nX"), 1, 5 },
	{ S("\r\n"), 1, 2 },
	{ S("a\rb\nc\r\nd"), 1, 7 },
	{ S("\r\r\n"), 1, 3 },
	{ S("\n\r\r"), 0, 2 },
	{ S("\r\r"), 0, 1 },
};
/* clang-format on */

static void
test_line_skip_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_skip_cases) / sizeof(test_skip_cases[0]);
	     i++) {
		const struct test_skip_case *c = &test_skip_cases[i];
		size_t used = 99;
		int r;

		r = line_skip(c->in, c->n, &used);
		if (r != c->res || used != c->used)
			fail_msg("skip case %zu: got %d used %zu", i, r, used);
	}
}

/*
 * A reader as a session would write it: buffer input, take lines, drop
 * bytes after errors, skip the rest of over-long lines. Everything it sees
 * goes to log as text, so runs with different splits can be compared.
 */
struct test_reader {
	struct buf in;
	struct buf log;
	size_t max;
	int skipping;
};

static void
test_reader_run(struct test_reader *r)
{
	for (;;) {
		size_t len, used;
		enum line_result res;

		if (r->skipping) {
			int done = line_skip(r->in.data, r->in.len, &used);

			buf_consume(&r->in, used);
			if (!done)
				return;
			r->skipping = 0;
			assert_int_equal(buf_puts(&r->log, "[skipped]"), 0);
			continue;
		}
		res = line_find(r->in.data, r->in.len, r->max, &len, &used);
		assert_true(used <= r->in.len);
		switch (res) {
		case LINE_OK:
			assert_true(len <= r->max);
			assert_int_equal(used, len + 2);
			assert_int_equal(buf_printf(&r->log, "L%zu<", len), 0);
			assert_int_equal(
			    buf_append(&r->log, r->in.data, len), 0);
			assert_int_equal(buf_puts(&r->log, ">"), 0);
			break;
		case LINE_MORE:
			assert_int_equal(used, 0);
			return;
		case LINE_TOOLONG:
			assert_int_equal(buf_puts(&r->log, "[toolong]"), 0);
			/* Resynchronise without losing pipelined lines. */
			r->skipping = 1;
			used = 0;
			break;
		case LINE_BARELF:
		case LINE_BARECR:
			assert_int_equal(used, len + 1);
			assert_int_equal(
			    buf_printf(&r->log, "[bare%s@%zu]",
				res == LINE_BARELF ? "LF" : "CR", len),
			    0);
			break;
		}
		buf_consume(&r->in, used);
	}
}

static void
test_reader_init(struct test_reader *r, size_t max)
{
	buf_init(&r->in, 1 << 20);
	buf_init(&r->log, 1 << 20);
	r->max = max;
	r->skipping = 0;
}

static void
test_reader_feed(struct test_reader *r, const char *p, size_t n)
{
	assert_int_equal(buf_append(&r->in, p, n), 0);
	test_reader_run(r);
}

static void
test_reader_end(struct test_reader *r)
{
	assert_int_equal(
	    buf_printf(&r->log, "|rest=%zu skip=%d", r->in.len, r->skipping),
	    0);
}

static void
test_reader_clear(struct test_reader *r)
{
	buf_clear(&r->in);
	buf_clear(&r->log);
}

struct test_stream_case {
	const char *in;
	size_t n;
	size_t max;
	const char *want;
	size_t wn;
};

/* clang-format off */
static const struct test_stream_case test_stream_cases[] = {
	{ S("HELO a\r\nMAIL\r\n"), 8, S("L6<HELO a>L4<MAIL>|rest=0 skip=0") },
	{ S("a\nb\r\nc\rd\r\n"), 8,
	    S("[bareLF@1]L1<b>[bareCR@1]L1<d>|rest=0 skip=0") },
	{ S("0123456789abc\r\nok\r\n"), 8,
	    S("[toolong][skipped]L2<ok>|rest=0 skip=0") },
	{ S("0123456789\r\r\nx\r\n"), 8,
	    S("[toolong][skipped]L1<x>|rest=0 skip=0") },
	{ S("12345678\r\n123456789\r\n"), 8,
	    S("L8<12345678>[toolong][skipped]|rest=0 skip=0") },
	{ S("toolong-line-here\n\r\r\nafter\r\n"), 8,
	    S("[toolong][skipped]L5<after>|rest=0 skip=0") },
	{ S("\r\n\r\n\n\r"), 8, S("L0<>L0<>[bareLF@0]|rest=1 skip=0") },
	{ S("abc\r"), 8, S("|rest=4 skip=0") },
	{ S("0123456789\r"), 8, S("[toolong]|rest=1 skip=1") },
	{ S("\r\r\r\n"), 8, S("[bareCR@0][bareCR@0]L0<>|rest=0 skip=0") },
	{ S("a\0b\r\n\xff\r\n"), 8, S("L3<a\0b>L1<\xff>|rest=0 skip=0") },
};
/* clang-format on */

static void
test_reader_check(
    const struct test_stream_case *c, struct test_reader *r, const char *how)
{
	if (r->log.len != c->wn || memcmp(r->log.data, c->want, c->wn) != 0)
		fail_msg("%s: input \"%.*s\": got \"%s\" want \"%s\"", how,
		    (int)c->n, c->in, buf_str(&r->log), c->want);
}

static void
test_line_stream_splits(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0;
	     i < sizeof(test_stream_cases) / sizeof(test_stream_cases[0]);
	     i++) {
		const struct test_stream_case *c = &test_stream_cases[i];
		struct test_reader whole, r;

		test_reader_init(&whole, c->max);
		test_reader_feed(&whole, c->in, c->n);
		test_reader_end(&whole);
		test_reader_check(c, &whole, "whole");

		/* Split at every byte position: identical log. */
		for (k = 0; k <= c->n; k++) {
			test_reader_init(&r, c->max);
			test_reader_feed(&r, c->in, k);
			test_reader_feed(&r, c->in + k, c->n - k);
			test_reader_end(&r);
			assert_int_equal(r.log.len, whole.log.len);
			assert_memory_equal(
			    r.log.data, whole.log.data, whole.log.len);
			test_reader_clear(&r);
		}

		/* Byte by byte. */
		test_reader_init(&r, c->max);
		for (k = 0; k < c->n; k++)
			test_reader_feed(&r, c->in + k, 1);
		test_reader_end(&r);
		assert_int_equal(r.log.len, whole.log.len);
		assert_memory_equal(r.log.data, whole.log.data, whole.log.len);
		test_reader_clear(&r);
		test_reader_clear(&whole);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_find_table),
	    cmocka_unit_test(test_line_find_998),
	    cmocka_unit_test(test_line_skip_table),
	    cmocka_unit_test(test_line_stream_splits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
