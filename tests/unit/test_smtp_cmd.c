/*
 * test_smtp_cmd: table-driven tests of the SMTP command split, the
 * EHLO/HELO argument check and the BDAT argument parser (proto/smtp_cmd).
 * Inputs are copied to exactly-sized heap buffers so ASan catches any read
 * past the span.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/span.h"
#include "proto/smtp_cmd.h"

#define S(s) s, sizeof(s) - 1

/* A heap copy of exactly n bytes (no NUL after it). */
static char *
test_cmd_dup(const char *p, size_t n)
{
	char *q = malloc(n ? n : 1);

	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

struct test_parse_case {
	const char *in;
	size_t n;
	enum smtp_verb verb;
	bool has_args;
	const char *args;
};

/* clang-format off */
static const struct test_parse_case test_parse_cases[] = {
	{ S("HELO example.org"), SMTP_VERB_HELO, true, "example.org" },
	{ S("ehlo example.org"), SMTP_VERB_EHLO, true, "example.org" },
	{ S("EhLo x"), SMTP_VERB_EHLO, true, "x" },
	{ S("MAIL FROM:<a@b>"), SMTP_VERB_MAIL, true, "FROM:<a@b>" },
	{ S("MAIL FROM:<a@b> SIZE=10  \t "), SMTP_VERB_MAIL, true,
	    "FROM:<a@b> SIZE=10" },
	{ S("MAIL  FROM:<a@b>"), SMTP_VERB_MAIL, true, " FROM:<a@b>" },
	{ S("RCPT TO:<c@d>"), SMTP_VERB_RCPT, true, "TO:<c@d>" },
	{ S("DATA"), SMTP_VERB_DATA, false, "" },
	{ S("data "), SMTP_VERB_DATA, true, "" },
	{ S("DATA \t"), SMTP_VERB_DATA, true, "" },
	{ S("BDAT 100 LAST"), SMTP_VERB_BDAT, true, "100 LAST" },
	{ S("RSET"), SMTP_VERB_RSET, false, "" },
	{ S("NOOP hello there"), SMTP_VERB_NOOP, true, "hello there" },
	{ S("QUIT"), SMTP_VERB_QUIT, false, "" },
	{ S("VRFY postmaster"), SMTP_VERB_VRFY, true, "postmaster" },
	{ S("EXPN list"), SMTP_VERB_EXPN, true, "list" },
	{ S("HELP"), SMTP_VERB_HELP, false, "" },
	{ S("StartTLS"), SMTP_VERB_STARTTLS, false, "" },
	{ S("AUTH PLAIN AGFAAGI="), SMTP_VERB_AUTH, true, "PLAIN AGFAAGI=" },
	{ S(""), SMTP_VERB_UNKNOWN, false, "" },
	{ S(" "), SMTP_VERB_UNKNOWN, true, "" },
	{ S(" MAIL FROM:<>"), SMTP_VERB_UNKNOWN, true, "MAIL FROM:<>" },
	{ S("MAIL\tFROM:<>"), SMTP_VERB_UNKNOWN, false, "" },
	{ S("MAILX"), SMTP_VERB_UNKNOWN, false, "" },
	{ S("MAI"), SMTP_VERB_UNKNOWN, false, "" },
	{ S("STARTTLSX"), SMTP_VERB_UNKNOWN, false, "" },
	{ S("GET / HTTP/1.0"), SMTP_VERB_UNKNOWN, true, "/ HTTP/1.0" },
	{ S("M\0IL x"), SMTP_VERB_UNKNOWN, true, "x" },
	{ S("QUIT\0"), SMTP_VERB_UNKNOWN, false, "" },
	{ S("HELO \0"), SMTP_VERB_HELO, true, "" },
	{ S("\xc3\xa9HLO x"), SMTP_VERB_UNKNOWN, true, "x" },
};
/* clang-format on */

static void
test_cmd_parse_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_parse_cases) / sizeof(test_parse_cases[0]);
	     i++) {
		const struct test_parse_case *c = &test_parse_cases[i];
		char *p = test_cmd_dup(c->in, c->n);
		struct smtp_cmd cmd;
		size_t an = strlen(c->args);

		/* "HELO \0": the args are one NUL byte. */
		if (c->n > 0 && c->in[c->n - 1] == '\0' && c->has_args)
			an = 1;
		assert_int_equal(smtp_cmd_parse(span_make(p, c->n), &cmd), 0);
		if (cmd.verb != c->verb || cmd.has_args != c->has_args ||
		    cmd.args.n != an ||
		    (an > 0 && memcmp(cmd.args.p, c->args, an) != 0))
			fail_msg("case %zu \"%.*s\": verb %d has_args %d args "
				 "\"%.*s\"",
			    i, (int)c->n, c->in, (int)cmd.verb,
			    (int)cmd.has_args, (int)cmd.args.n, cmd.args.p);
		assert_non_null(cmd.args.p);
		if (cmd.args.n > 0) {
			/* args points into the line. */
			assert_true(cmd.args.p > p);
			assert_true(cmd.args.p + cmd.args.n <= p + c->n);
		}
		free(p);
	}
}

static void
test_cmd_verb_name(void **state)
{
	/* clang-format off */
	static const struct {
		enum smtp_verb v;
		const char *name;
	} names[] = {
		{ SMTP_VERB_UNKNOWN, "?" },
		{ SMTP_VERB_HELO, "HELO" },
		{ SMTP_VERB_EHLO, "EHLO" },
		{ SMTP_VERB_MAIL, "MAIL" },
		{ SMTP_VERB_RCPT, "RCPT" },
		{ SMTP_VERB_DATA, "DATA" },
		{ SMTP_VERB_BDAT, "BDAT" },
		{ SMTP_VERB_RSET, "RSET" },
		{ SMTP_VERB_NOOP, "NOOP" },
		{ SMTP_VERB_QUIT, "QUIT" },
		{ SMTP_VERB_VRFY, "VRFY" },
		{ SMTP_VERB_EXPN, "EXPN" },
		{ SMTP_VERB_HELP, "HELP" },
		{ SMTP_VERB_STARTTLS, "STARTTLS" },
		{ SMTP_VERB_AUTH, "AUTH" },
		{ (enum smtp_verb)99, "?" },
		{ (enum smtp_verb)-1, "?" },
	};
	/* clang-format on */
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct smtp_cmd cmd;

		assert_string_equal(smtp_verb_name(names[i].v), names[i].name);
		/* Every name parses back to its verb. */
		if (names[i].v != SMTP_VERB_UNKNOWN && (int)names[i].v < 99 &&
		    (int)names[i].v >= 0) {
			smtp_cmd_parse(span_cstr(names[i].name), &cmd);
			assert_int_equal(cmd.verb, names[i].v);
		}
	}
}

struct test_helo_case {
	const char *in;
	size_t n;
	int want;
};

/* clang-format off */
static const struct test_helo_case test_helo_cases[] = {
	/* Domains. */
	{ S("example.org"), 0 },
	{ S("mail.example.org"), 0 },
	{ S("localhost"), 0 },
	{ S("EXAMPLE.ORG"), 0 },
	{ S("example.org."), 0 },
	{ S("my_host.example.org"), 0 },
	{ S("_dmarc.example"), 0 },
	{ S("a-b.c-d.example"), 0 },
	{ S("xn--bcher-kva.example"), 0 },
	{ S("192.0.2.1"), 0 },
	{ S("1"), 0 },
	{ S("a"), 0 },
	{ S(""), -1 },
	{ S("."), -1 },
	{ S(".example.org"), -1 },
	{ S("example..org"), -1 },
	{ S("example.org.."), -1 },
	{ S("-example.org"), -1 },
	{ S("example-.org"), -1 },
	{ S("example.org-"), -1 },
	{ S("example.-org"), -1 },
	{ S("exa mple.org"), -1 },
	{ S("example.org "), -1 },
	{ S(" example.org"), -1 },
	{ S("exa\tmple"), -1 },
	{ S("exa\0mple"), -1 },
	{ S("exa\x7fmple"), -1 },
	{ S("exa\x01mple"), -1 },
	{ S("<example.org>"), -1 },
	{ S("user@example.org"), -1 },
	{ S("example.org>"), -1 },
	{ S("exa/mple"), -1 },
	{ S("exa:mple"), -1 },
	{ S("exa%mple"), -1 },
	{ S("exa\"mple"), -1 },
	{ S("exa\\mple"), -1 },
	/* UTF-8 labels (SMTPUTF8): strict. */
	{ S("b\xc3\xbc" "cher.example"), 0 },		/* bücher */
	{ S("\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"),
	    0 },					/* 例え.テスト */
	{ S("\xf0\x9f\x98\x80.example"), 0 },		/* U+1F600 */
	{ S("\xf4\x8f\xbf\xbf.example"), 0 },		/* U+10FFFF */
	{ S("\xc2\xa0x.example"), 0 },			/* U+00A0 */
	{ S("\xed\x9f\xbf.example"), 0 },		/* U+D7FF */
	{ S("\xee\x80\x80.example"), 0 },		/* U+E000 */
	{ S("\xc3.example"), -1 },			/* truncated */
	{ S("b\xc3"), -1 },				/* truncated at end */
	{ S("\xe4\xbe.example"), -1 },			/* truncated */
	{ S("\xc0\xae.example"), -1 },			/* overlong '.' */
	{ S("\xc1\xbf.example"), -1 },			/* overlong */
	{ S("\xe0\x80\xae.example"), -1 },		/* overlong */
	{ S("\xe0\x9f\xbf.example"), -1 },		/* overlong */
	{ S("\xf0\x80\x80\xae.example"), -1 },		/* overlong */
	{ S("\xf0\x8f\xbf\xbf.example"), -1 },		/* overlong */
	{ S("\xed\xa0\x80.example"), -1 },		/* U+D800 surrogate */
	{ S("\xed\xbf\xbf.example"), -1 },		/* U+DFFF surrogate */
	{ S("\xf4\x90\x80\x80.example"), -1 },		/* > U+10FFFF */
	{ S("\xf5\x80\x80\x80.example"), -1 },
	{ S("\xf8\x88\x80\x80\x80.example"), -1 },	/* 5-byte form */
	{ S("\xff.example"), -1 },
	{ S("\xfe.example"), -1 },
	{ S("\x80.example"), -1 },			/* lone tail */
	{ S("\xc3\xa9\xa9.example"), -1 },		/* extra tail */
	{ S("\xc2\x80.example"), -1 },			/* U+0080 (C1) */
	{ S("\xc2\x9f.example"), -1 },			/* U+009F (C1) */
	{ S("\xc3\x28.example"), -1 },			/* bad tail */
	{ S("\xe2\x82\x28.example"), -1 },		/* bad tail */
	{ S("\xf0\x9f\x98\x28.example"), -1 },		/* bad tail */
	/* IPv4 address literals. */
	{ S("[192.0.2.1]"), 0 },
	{ S("[0.0.0.0]"), 0 },
	{ S("[255.255.255.255]"), 0 },
	{ S("[010.000.002.001]"), 0 },
	{ S("[256.0.0.1]"), -1 },
	{ S("[1.2.3.999]"), -1 },
	{ S("[1.2.3]"), -1 },
	{ S("[1.2.3.4.5]"), -1 },
	{ S("[1.2.3.4.]"), -1 },
	{ S("[.1.2.3.4]"), -1 },
	{ S("[1..2.3]"), -1 },
	{ S("[0001.2.3.4]"), -1 },
	{ S("[1.2.3.4 ]"), -1 },
	{ S("[ 1.2.3.4]"), -1 },
	{ S("[1.2.3.-4]"), -1 },
	{ S("[+1.2.3.4]"), -1 },
	{ S("[1.2.3.4"), -1 },
	{ S("1.2.3.4]"), -1 },
	{ S("["), -1 },
	{ S("[]"), -1 },
	{ S("]"), -1 },
	{ S("[example.org]"), -1 },
	{ S("[1.2.3.4]x"), -1 },
	{ S("[[1.2.3.4]]"), -1 },
	/* IPv6 address literals. */
	{ S("[IPv6:2001:db8::1]"), 0 },
	{ S("[ipv6:2001:db8::1]"), 0 },
	{ S("[IPV6:::1]"), 0 },
	{ S("[IPv6:::]"), 0 },
	{ S("[IPv6:2001:db8:0:0:0:0:0:1]"), 0 },
	{ S("[IPv6:::ffff:192.0.2.1]"), 0 },
	{ S("[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]"), 0 },
	{ S("[IPv6:2001:db8::1%eth0]"), -1 },
	{ S("[IPv6:2001:db8:::1]"), -1 },
	{ S("[IPv6:2001:db8::g]"), -1 },
	{ S("[IPv6:1:2:3:4:5:6:7:8:9]"), -1 },
	{ S("[IPv6:]"), -1 },
	{ S("[IPv6:192.0.2.1]"), -1 },
	{ S("[IPv6: ::1]"), -1 },
	{ S("[IPv6:::1\0]"), -1 },
	{ S("[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555]"), -1 },
	{ S("[2001:db8::1]"), -1 },
	{ S("[IPv4:1.2.3.4]"), -1 },
	{ S("[x-tag:whatever]"), -1 },
};
/* clang-format on */

static void
test_cmd_helo_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_helo_cases) / sizeof(test_helo_cases[0]);
	     i++) {
		const struct test_helo_case *c = &test_helo_cases[i];
		char *p = test_cmd_dup(c->in, c->n);
		int r = smtp_helo_check(span_make(p, c->n));

		if (r != c->want)
			fail_msg("helo case %zu \"%.*s\": got %d want %d", i,
			    (int)c->n, c->in, r, c->want);
		free(p);
	}
}

/* Label and name length limits: 63 and 255 octets. */
static void
test_cmd_helo_lengths(void **state)
{
	char name[300];
	size_t i;

	(void)state;
	memset(name, 'a', 63);
	assert_int_equal(smtp_helo_check(span_make(name, 63)), 0);
	memset(name, 'a', 64);
	assert_int_equal(smtp_helo_check(span_make(name, 64)), -1);

	/* 63 octets of UTF-8 in one label: 21 times U+20AC. */
	for (i = 0; i < 21; i++)
		memcpy(name + 3 * i, "\xe2\x82\xac", 3);
	assert_int_equal(smtp_helo_check(span_make(name, 63)), 0);
	memcpy(name + 63, "a", 1);
	assert_int_equal(smtp_helo_check(span_make(name, 64)), -1);

	/* Four labels of 63 and three dots: 255 octets, the most. */
	memset(name, 'a', sizeof(name));
	for (i = 63; i < sizeof(name); i += 64)
		name[i] = '.';
	assert_int_equal(smtp_helo_check(span_make(name, 255)), 0);
	/* 255 octets plus a trailing dot are fine, one more octet is not. */
	assert_int_equal(name[255], '.');
	assert_int_equal(smtp_helo_check(span_make(name, 256)), 0);
	assert_int_equal(smtp_helo_check(span_make(name, 257)), -1);
	name[62] = '.';
	assert_int_equal(smtp_helo_check(span_make(name, 64)), -1);
}

struct test_bdat_case {
	const char *in;
	size_t n;
	uint64_t max;
	int want;
	uint64_t size;
	bool last;
};

/* clang-format off */
static const struct test_bdat_case test_bdat_cases[] = {
	{ S("0"), 100, 0, 0, false },
	{ S("0 LAST"), 100, 0, 0, true },
	{ S("100"), 100, 0, 100, false },
	{ S("100 LAST"), 100, 0, 100, true },
	{ S("100 last"), 100, 0, 100, true },
	{ S("100 LaSt"), 100, 0, 100, true },
	{ S("007"), 100, 0, 7, false },
	{ S("101"), 100, -2, 101, false },
	{ S("101 LAST"), 100, -2, 101, true },
	{ S("18446744073709551615"), UINT64_MAX, 0, UINT64_MAX, false },
	{ S("18446744073709551615"), UINT64_MAX - 1, -2, UINT64_MAX, false },
	{ S("18446744073709551616"), UINT64_MAX, -2, UINT64_MAX, false },
	{ S("99999999999999999999 LAST"), 100, -2, UINT64_MAX, true },
	{ S("00000000000000000001"), 100, 0, 1, false },
	{ S("000000000000000000001"), 100, -1, 0, false },
	{ S("123456789012345678901"), 100, -1, 0, false },
	{ S(""), 100, -1, 0, false },
	{ S(" "), 100, -1, 0, false },
	{ S("LAST"), 100, -1, 0, false },
	{ S(" LAST"), 100, -1, 0, false },
	{ S(" 10"), 100, -1, 0, false },
	{ S("10 "), 100, -1, 0, false },
	{ S("10  LAST"), 100, -1, 0, false },
	{ S("10 LAST "), 100, -1, 0, false },
	{ S("10 LAST x"), 100, -1, 0, false },
	{ S("10 LASTX"), 100, -1, 0, false },
	{ S("10 LAS"), 100, -1, 0, false },
	{ S("10 FIRST"), 100, -1, 0, false },
	{ S("10\tLAST"), 100, -1, 0, false },
	{ S("+10"), 100, -1, 0, false },
	{ S("-1"), 100, -1, 0, false },
	{ S("1e3"), 100, -1, 0, false },
	{ S("0x10"), 100, -1, 0, false },
	{ S("10 LAST\0"), 100, -1, 0, false },
	{ S("1\0"), 100, -1, 0, false },
	{ S("\xd9\xa1"), 100, -1, 0, false }, /* ARABIC-INDIC ONE */
	{ S("101 LASTX"), 100, -1, 0, false },
};
/* clang-format on */

static void
test_cmd_bdat_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_bdat_cases) / sizeof(test_bdat_cases[0]);
	     i++) {
		const struct test_bdat_case *c = &test_bdat_cases[i];
		char *p = test_cmd_dup(c->in, c->n);
		uint64_t size = 42;
		bool last = true;
		int r;

		r = smtp_bdat_parse(span_make(p, c->n), c->max, &size, &last);
		if (r != c->want || size != c->size || last != c->last)
			fail_msg("bdat case %zu \"%.*s\": got %d %llu %d", i,
			    (int)c->n, c->in, r, (unsigned long long)size,
			    (int)last);
		free(p);
	}
}

/* A BDAT line goes through smtp_cmd_parse first, as the session does. */
static void
test_cmd_bdat_via_parse(void **state)
{
	struct smtp_cmd cmd;
	uint64_t size;
	bool last;

	(void)state;
	smtp_cmd_parse(span_cstr("BDAT 512 LAST  "), &cmd);
	assert_int_equal(cmd.verb, SMTP_VERB_BDAT);
	assert_int_equal(smtp_bdat_parse(cmd.args, 1000, &size, &last), 0);
	assert_int_equal(size, 512);
	assert_true(last);
	smtp_cmd_parse(span_cstr("BDAT"), &cmd);
	assert_int_equal(smtp_bdat_parse(cmd.args, 1000, &size, &last), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmd_parse_table),
	    cmocka_unit_test(test_cmd_verb_name),
	    cmocka_unit_test(test_cmd_helo_table),
	    cmocka_unit_test(test_cmd_helo_lengths),
	    cmocka_unit_test(test_cmd_bdat_table),
	    cmocka_unit_test(test_cmd_bdat_via_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
