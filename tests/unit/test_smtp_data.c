/*
 * test_smtp_data: table-driven tests of the DATA/BDAT decoder
 * (proto/smtp_data). Every case is also fed split at every byte position,
 * byte by byte and in small chunks, and must give the same return value,
 * bytes used, flags, size and output (Dovecot style). The table covers the
 * SMTP smuggling variants (CVE-2023-51764 class): only CRLF "." CRLF may end
 * DATA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "proto/smtp_data.h"

#define S(s) s, sizeof(s) - 1

#define T_LF   SMTP_DATA_BARE_LF
#define T_CR   SMTP_DATA_BARE_CR
#define T_LONG SMTP_DATA_LONG_LINE
#define T_BIG  SMTP_DATA_TOO_BIG
#define T_8BIT SMTP_DATA_8BIT

/* Not SIZE_MAX: buf.c computes max + 1. */
#define T_OUTMAX ((size_t)1 << 30)

struct test_data_case {
	const char *name;
	bool dot;
	uint64_t max_size;
	size_t max_line;
	const char *in;
	size_t n;
	int ret;        /* of the last feed */
	size_t used;    /* in all, over all feeds */
	unsigned flags; /* after smtp_data_finish */
	uint64_t size;
	const char *out;
	size_t outn;
};

/* clang-format off */
#define DATA(name, in, ret, used, flags, size, out)                        \
	{ name, true, 100000, 1000, S(in), ret, used, flags, size, S(out) }
#define BDAT(name, in, flags, size, out)                                   \
	{ name, false, 100000, 1000, S(in), 0, sizeof(in) - 1, flags, size, \
		S(out) }

static const struct test_data_case test_data_cases[] = {
	/* Plain DATA. */
	DATA("empty input", "", 0, 0, 0, 0, ""),
	DATA("one line", "hello\r\n.\r\n", 1, 10, 0, 7, "hello\r\n"),
	DATA("just the terminator", ".\r\n", 1, 3, 0, 0, ""),
	DATA("pipelined after dot", ".\r\nMAIL FROM:<a@b>\r\n", 1, 3, 0, 0,
	    ""),
	DATA("pipelined QUIT", "a\r\n.\r\nQUIT\r\n", 1, 6, 0, 3, "a\r\n"),
	DATA("two terminators", "a\r\n.\r\n.\r\n", 1, 6, 0, 3, "a\r\n"),
	DATA("empty lines", "\r\n\r\n.\r\n", 1, 7, 0, 4, "\r\n\r\n"),
	DATA("unfinished", "abc\r\n", 0, 5, 0, 5, "abc\r\n"),
	DATA("unfinished dot", "abc\r\n.", 0, 6, 0, 5, "abc\r\n"),
	DATA("unfinished dot CR", "abc\r\n.\r", 0, 7, 0, 5, "abc\r\n"),
	DATA("unfinished CR", "abc\r", 0, 4, 0, 3, "abc"),
	/* Dot-unstuffing, RFC 5321 4.5.2. */
	DATA("stuffed dot line", "..\r\n.\r\n", 1, 7, 0, 3, ".\r\n"),
	DATA("stuffed lines", "..foo\r\n.bar\r\n.\r\n", 1, 16, 0, 11,
	    ".foo\r\nbar\r\n"),
	DATA("stuffed after line", "a\r\n..\r\n.\r\n", 1, 10, 0, 6,
	    "a\r\n.\r\n"),
	DATA("leading dot line", ".foo\r\n.\r\n", 1, 9, 0, 5, "foo\r\n"),
	DATA("three dots", "...\r\n.\r\n", 1, 8, 0, 4, "..\r\n"),
	DATA("dot inside line", "a.b\r\n a.\r\n.\r\n", 1, 13, 0, 10,
	    "a.b\r\n a.\r\n"),
	DATA("dot space", ". \r\n.\r\n", 1, 7, 0, 3, " \r\n"),
	/* Smuggling: none of these ends DATA. */
	DATA("LF dot LF", "\n.\n", 0, 3, T_LF, 3, ""),
	DATA("LF dot LF then end", "\n.\n\r\n.\r\n", 1, 8, T_LF, 5, ""),
	DATA("CRLF dot LF", "a\r\n.\nb\r\n.\r\n", 1, 11, T_LF, 7, "a\r\n"),
	DATA("LF dot CRLF", "a\n.\r\nb\r\n.\r\n", 1, 11, T_LF, 8, "a"),
	DATA("CR dot CRLF", "a\r.\r\nb\r\n.\r\n", 1, 11, T_CR, 8, "a"),
	DATA("CRLF dot CR x", "a\r\n.\rX\r\n.\r\n", 1, 11, T_CR, 7, "a\r\n"),
	DATA("CRLF dot CR CR LF", "a\r\n.\r\r\n.\r\n", 1, 10, T_CR, 6,
	    "a\r\n"),
	DATA("CRLF dot CR dot", "a\r\n.\r.\r\n.\r\n", 1, 11, T_CR, 7,
	    "a\r\n"),
	DATA("LF at start then dot", "\n.\r\n", 0, 4, T_LF, 4, ""),
	DATA("CRLF LF dot CRLF", "x\r\n\n.\r\n", 0, 7, T_LF, 7, "x\r\n"),
	DATA("CR LF-less dot", "\r.\r\n", 0, 4, T_CR, 4, ""),
	DATA("bare CR mid", "a\rb\r\n.\r\n", 1, 8, T_CR, 5, "a"),
	DATA("bare LF mid", "a\nb\r\n.\r\n", 1, 8, T_LF, 5, "a"),
	DATA("CR CR LF", "a\r\r\n.\r\n", 1, 7, T_CR, 4, "a"),
	DATA("LF CR LF", "a\n\r\n.\r\n", 1, 7, T_LF, 4, "a"),
	DATA("both bare", "a\nb\rc\r\n.\r\n", 1, 10, T_LF | T_CR, 7, "a"),
	DATA("error then consume to end",
	    "ok\r\na\nbcd\r\nefg\r\n.\r\nNEXT\r\n", 1, 19, T_LF, 16,
	    "ok\r\na"),
	DATA("dot LF at start", ".\n.\r\n", 0, 5, T_LF, 4, ""),
	DATA("dot LF at start then end", ".\n\r\n.\r\n", 1, 7, T_LF, 3, ""),
	DATA("NUL is content", "a\0b\r\n.\r\n", 1, 8, 0, 5, "a\0b\r\n"),
	/* 8-bit property. */
	DATA("8bit", "caf\xc3\xa9\r\n.\r\n", 1, 10, T_8BIT, 7,
	    "caf\xc3\xa9\r\n"),
	DATA("8bit stuffed", ".\xff\r\n.\r\n", 1, 7, T_8BIT, 3, "\xff\r\n"),
	DATA("8bit after end", ".\r\n\xff", 1, 3, 0, 0, ""),
	DATA("8bit with error", "\n\x80\r\n.\r\n", 1, 7, T_LF | T_8BIT, 4,
	    ""),
	/* Size cap, max_size 5 below; line cap, max_line 5 below. */
	{ "size exactly max", true, 5, 1000, S("abc\r\n.\r\n"), 1, 8, 0, 5,
	    S("abc\r\n") },
	{ "size one over", true, 4, 1000, S("abc\r\n.\r\n"), 1, 8, T_BIG, 5,
	    S("abc\r") },
	{ "size zero", true, 0, 1000, S(".\r\n"), 1, 3, 0, 0, S("") },
	{ "size zero one byte", true, 0, 1000, S("a\r\n.\r\n"), 1, 6, T_BIG,
	    3, S("") },
	{ "size counts after error", true, 3, 1000,
	    S("a\nbcdef\r\n.\r\n"), 1, 12, T_LF | T_BIG, 9, S("a") },
	{ "line exactly max", true, 1000, 5, S("abc\r\n.\r\n"), 1, 8, 0, 5,
	    S("abc\r\n") },
	{ "line one over", true, 1000, 5, S("abcd\r\n.\r\n"), 1, 9, T_LONG,
	    6, S("abcd\r") },
	{ "line one over, no CRLF yet", true, 1000, 5, S("abcdef"), 0, 6,
	    T_LONG, 6, S("abcde") },
	{ "stuffed line exactly max", true, 1000, 5, S("..bc\r\n.\r\n"), 1,
	    9, 0, 5, S(".bc\r\n") },
	{ "stuffed line one over", true, 1000, 5, S("..bcd\r\n.\r\n"), 1,
	    10, T_LONG, 6, S(".bcd\r") },
	{ "line count resets at CRLF", true, 1000, 5,
	    S("abc\r\nabc\r\nabc\r\n.\r\n"), 1, 18, 0, 15,
	    S("abc\r\nabc\r\nabc\r\n") },
	{ "bare LF does not reset line count", true, 1000, 5,
	    S("ab\nab\r\n.\r\n"), 1, 10, T_LF | T_LONG, 7, S("ab") },
	/* BDAT: no dots, no terminator, the same CRLF rules. */
	BDAT("bdat line", "abc\r\n", 0, 5, "abc\r\n"),
	BDAT("bdat empty", "", 0, 0, ""),
	BDAT("bdat dot line", ".\r\n", 0, 3, ".\r\n"),
	BDAT("bdat two dots", "..\r\n", 0, 4, "..\r\n"),
	BDAT("bdat terminator is content", "a\r\n.\r\nMAIL\r\n", 0, 12,
	    "a\r\n.\r\nMAIL\r\n"),
	BDAT("bdat no final CRLF", "abc", 0, 3, "abc"),
	BDAT("bdat trailing CR", "abc\r", T_CR, 4, "abc"),
	BDAT("bdat bare LF", "a\nb\r\n", T_LF, 5, "a"),
	BDAT("bdat bare CR", "a\rb\r\n", T_CR, 5, "a"),
	BDAT("bdat LF dot LF", "\n.\n", T_LF, 3, ""),
	BDAT("bdat 8bit", "\xe2\x82\xac\r\n", T_8BIT, 5, "\xe2\x82\xac\r\n"),
	{ "bdat size exactly max", false, 5, 1000, S("abc\r\n"), 0, 5, 0, 5,
	    S("abc\r\n") },
	{ "bdat size one over", false, 4, 1000, S("abc\r\n"), 0, 5, T_BIG, 5,
	    S("abc\r") },
	{ "bdat trailing CR over size", false, 3, 1000, S("abc\r"), 0, 4,
	    T_CR | T_BIG, 4, S("abc") },
	{ "bdat line one over", false, 1000, 5, S("abcd\r\n"), 0, 6, T_LONG,
	    6, S("abcd\r") },
};
/* clang-format on */

struct test_data_res {
	int ret;
	size_t used;
	unsigned flags;
	uint64_t size;
	struct buf out;
};

/*
 * Feeds c->in in chunks that end at the given cut offsets (ascending),
 * then the rest, stopping once DATA reports its end.
 */
static void
test_data_run(const struct test_data_case *c, const size_t *cuts, size_t ncuts,
    size_t outmax, struct test_data_res *res)
{
	struct smtp_data_dec d;
	size_t pos = 0, i;

	smtp_data_init(&d, c->dot, c->max_size, c->max_line);
	buf_init(&res->out, outmax);
	res->ret = 0;
	res->used = 0;
	for (i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : c->n;
		size_t used = 12345;
		char *chunk;

		/* A private copy, so ASan sees any read past the chunk. */
		chunk = malloc(end - pos + 1);
		assert_non_null(chunk);
		memcpy(chunk, c->in + pos, end - pos);
		res->ret =
		    smtp_data_feed(&d, chunk, end - pos, &used, &res->out);
		free(chunk);
		assert_true(used <= end - pos);
		assert_true(res->ret == 0 || res->ret == 1);
		if (res->ret == 0)
			assert_int_equal(used, end - pos);
		res->used += used;
		pos = end;
		if (res->ret == 1)
			break;
	}
	res->flags = smtp_data_finish(&d);
	assert_int_equal(res->flags, d.flags);
	res->size = d.size;
	assert_true(res->out.len <= res->size);
	if (c->dot)
		assert_true(res->size <= res->used);
}

static void
test_data_expect(const struct test_data_case *c,
    const struct test_data_res *res, const char *how, size_t at)
{
	if (res->ret != c->ret || res->used != c->used ||
	    res->flags != c->flags || res->size != c->size ||
	    res->out.len != c->outn ||
	    memcmp(buf_str(&res->out), c->out, c->outn) != 0)
		fail_msg("%s (%s %zu): got ret %d used %zu flags %#x size "
			 "%llu out %zu \"%s\"; want ret %d used %zu flags "
			 "%#x size %llu out %zu",
		    c->name, how, at, res->ret, res->used, res->flags,
		    (unsigned long long)res->size, res->out.len,
		    buf_str(&res->out), c->ret, c->used, c->flags,
		    (unsigned long long)c->size, c->outn);
}

/* Whole, at every split, byte by byte and in chunks of 2, 3 and 7. */
static void
test_data_case_all_splits(const struct test_data_case *c)
{
	struct test_data_res res;
	size_t *cuts;
	size_t k, step;

	test_data_run(c, NULL, 0, T_OUTMAX, &res);
	test_data_expect(c, &res, "whole", 0);
	buf_clear(&res.out);

	for (k = 0; k <= c->n; k++) {
		test_data_run(c, &k, 1, T_OUTMAX, &res);
		test_data_expect(c, &res, "split at", k);
		buf_clear(&res.out);
	}

	cuts = calloc(c->n + 1, sizeof(*cuts));
	assert_non_null(cuts);
	for (step = 1; step <= 7; step++) {
		size_t ncuts = 0;

		if (step != 1 && step != 2 && step != 3 && step != 7)
			continue;
		for (k = step; k < c->n; k += step)
			cuts[ncuts++] = k;
		test_data_run(c, cuts, ncuts, T_OUTMAX, &res);
		test_data_expect(c, &res, "chunks of", step);
		buf_clear(&res.out);
	}
	free(cuts);
}

static void
test_data_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_data_cases) / sizeof(test_data_cases[0]);
	     i++)
		test_data_case_all_splits(&test_data_cases[i]);
}

/* Builds prefix + len times 'x' + suffix into a malloc'ed case input. */
static char *
test_data_make(
    const char *prefix, size_t len, const char *suffix, size_t *n_out)
{
	size_t pn = strlen(prefix), sn = strlen(suffix);
	char *p = malloc(pn + len + sn + 1);

	assert_non_null(p);
	memcpy(p, prefix, pn);
	memset(p + pn, 'x', len);
	memcpy(p + pn + len, suffix, sn + 1);
	*n_out = pn + len + sn;
	return p;
}

/* RFC 5321 4.5.3.1.6: 1000 octets including CRLF, without the dot. */
static void
test_data_line_1000(void **state)
{
	struct test_data_case c;
	char *in, *out;
	size_t n, outn;

	(void)state;
	memset(&c, 0, sizeof(c));
	c.dot = true;
	c.max_size = 100000;
	c.max_line = 1000;

	/* 998 + CRLF = 1000: fine. */
	in = test_data_make("", 998, "\r\n.\r\n", &n);
	out = test_data_make("", 998, "\r\n", &outn);
	c.name = "line of 1000";
	c.in = in;
	c.n = n;
	c.ret = 1;
	c.used = n;
	c.flags = 0;
	c.size = outn;
	c.out = out;
	c.outn = outn;
	test_data_case_all_splits(&c);
	free(in);
	free(out);

	/* 999 + CRLF = 1001: LONG_LINE, content up to 1000 octets out. */
	in = test_data_make("", 999, "\r\nok\r\n.\r\n", &n);
	out = test_data_make("", 999, "\r", &outn);
	c.name = "line of 1001";
	c.in = in;
	c.n = n;
	c.ret = 1;
	c.used = n;
	c.flags = SMTP_DATA_LONG_LINE;
	c.size = 999 + 2 + 4;
	c.out = out;
	c.outn = outn;
	test_data_case_all_splits(&c);
	free(in);
	free(out);

	/* "." + 999 octets + CRLF: 1001 on the wire, 1000 decoded: fine. */
	in = test_data_make(".", 998, "\r\n.\r\n", &n);
	out = test_data_make("", 998, "\r\n", &outn);
	c.name = "stuffed line of 1000";
	c.in = in;
	c.n = n;
	c.ret = 1;
	c.used = n;
	c.flags = 0;
	c.size = outn;
	c.out = out;
	c.outn = outn;
	test_data_case_all_splits(&c);
	free(in);
	free(out);

	/* The same in BDAT mode. */
	in = test_data_make("", 999, "\r\n", &n);
	out = test_data_make("", 999, "\r", &outn);
	c.name = "bdat line of 1001";
	c.dot = false;
	c.in = in;
	c.n = n;
	c.ret = 0;
	c.used = n;
	c.flags = SMTP_DATA_LONG_LINE;
	c.size = 1001;
	c.out = out;
	c.outn = outn;
	test_data_case_all_splits(&c);
	free(in);
	free(out);
}

/* A message bigger than the stage buffer inside the decoder. */
static void
test_data_big(void **state)
{
	struct smtp_data_dec d;
	struct buf out;
	size_t used, i, n = 0;
	char *in = malloc(200000);

	(void)state;
	assert_non_null(in);
	for (i = 0; i < 3000; i++) {
		int len = snprintf(in + n, 200000 - n, "%sline %zu\r\n",
		    i % 7 == 0 ? "." : "", i);
		assert_true(len > 0);
		n += (size_t)len;
	}
	memcpy(in + n, ".\r\n", 3);
	n += 3;
	smtp_data_init(&d, true, 1000000, 1000);
	buf_init(&out, T_OUTMAX);
	assert_int_equal(smtp_data_feed(&d, in, n, &used, &out), 1);
	assert_int_equal(used, n);
	assert_int_equal(d.flags, 0);
	assert_int_equal(out.len, d.size);
	assert_int_equal(out.len, n - 3 - (3000 + 6) / 7);
	assert_memory_equal(out.data, "line 0\r\nline 1\r\n", 16);
	buf_clear(&out);
	free(in);
}

/* out refusing an append sets OUTFULL, whatever the split. */
static void
test_data_outfull(void **state)
{
	static const struct test_data_case c =
	    DATA("outfull", "abcdef\r\nxyz\r\n.\r\nQUIT\r\n", 1, 16, 0, 13, "");
	struct test_data_res res;
	size_t k;

	(void)state;
	for (k = 0; k <= c.n; k++) {
		test_data_run(&c, &k, 1, 3, &res);
		assert_int_equal(res.ret, 1);
		assert_int_equal(res.used, 16);
		assert_int_equal(res.flags, SMTP_DATA_OUTFULL);
		assert_int_equal(res.size, 13);
		assert_true(res.out.len <= 3);
		buf_clear(&res.out);
	}
	/* A buffer that is just big enough is not full. */
	test_data_run(&c, NULL, 0, 13, &res);
	assert_int_equal(res.flags, 0);
	assert_string_equal(buf_str(&res.out), "abcdef\r\nxyz\r\n");
	buf_clear(&res.out);
}

/* After the terminator the decoder takes nothing more. */
static void
test_data_after_end(void **state)
{
	struct smtp_data_dec d;
	struct buf out;
	size_t used;

	(void)state;
	smtp_data_init(&d, true, 100, 100);
	buf_init(&out, 100);
	assert_int_equal(
	    smtp_data_feed(&d, S("x\r\n.\r\nRSET"), &used, &out), 1);
	assert_int_equal(used, 6);
	used = 99;
	assert_int_equal(smtp_data_feed(&d, S("RSET\r\n"), &used, &out), 1);
	assert_int_equal(used, 0);
	assert_int_equal(smtp_data_feed(&d, NULL, 0, &used, &out), 1);
	assert_int_equal(used, 0);
	assert_int_equal(smtp_data_finish(&d), 0);
	assert_int_equal(out.len, 3);
	buf_clear(&out);
}

/* BDAT chunks: a CR at the end of one chunk, the LF in the next. */
static void
test_data_bdat_chunks(void **state)
{
	struct smtp_data_dec d;
	struct buf out;
	size_t used;

	(void)state;
	smtp_data_init(&d, false, 100, 100);
	buf_init(&out, 100);
	assert_int_equal(smtp_data_feed(&d, S("a\r"), &used, &out), 0);
	assert_int_equal(used, 2);
	assert_int_equal(smtp_data_feed(&d, S("\nb\r"), &used, &out), 0);
	assert_int_equal(used, 3);
	assert_int_equal(smtp_data_feed(&d, NULL, 0, &used, &out), 0);
	assert_int_equal(smtp_data_feed(&d, S("\n"), &used, &out), 0);
	assert_int_equal(smtp_data_finish(&d), 0);
	assert_int_equal(d.size, 6);
	assert_string_equal(buf_str(&out), "a\r\nb\r\n");

	/* BDAT LAST right after a chunk ending in CR. */
	buf_reset(&out);
	smtp_data_init(&d, false, 100, 100);
	assert_int_equal(smtp_data_feed(&d, S("a\r\nb\r"), &used, &out), 0);
	assert_int_equal(smtp_data_finish(&d), SMTP_DATA_BARE_CR);
	assert_int_equal(d.size, 5);
	assert_string_equal(buf_str(&out), "a\r\nb");
	/* finish is idempotent. */
	assert_int_equal(smtp_data_finish(&d), SMTP_DATA_BARE_CR);
	assert_int_equal(d.size, 5);
	buf_clear(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_table),
	    cmocka_unit_test(test_data_line_1000),
	    cmocka_unit_test(test_data_big),
	    cmocka_unit_test(test_data_outfull),
	    cmocka_unit_test(test_data_after_end),
	    cmocka_unit_test(test_data_bdat_chunks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
