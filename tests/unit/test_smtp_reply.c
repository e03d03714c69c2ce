/*
 * test_smtp_reply: table-driven tests for proto/smtp_reply (SMTP client
 * reply parser, enhanced status codes, EHLO keywords, one-line format).
 * A case's input is its lines joined by CRLF; each line is copied into a
 * heap buffer of exactly its length so ASan catches any read past the span.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_reply.h"

#define IN(s) s, sizeof(s) - 1

/* Feeds one line from an exact-size heap copy. */
static int
feed(struct smtp_reply_parser *p, const char *s, size_t n,
    struct smtp_reply *out)
{
	char *copy = malloc(n > 0 ? n : 1);
	int rc;

	assert_non_null(copy);
	if (n > 0)
		memcpy(copy, s, n);
	rc = smtp_reply_feed(p, span_make(copy, n), out);
	free(copy);
	return rc;
}

/*
 * Feeds in (lines separated by CRLF) and returns the rc of the last line
 * fed; every line before it must return 0. Stops at the first non-zero.
 */
static int
feed_all(struct smtp_reply_parser *p, const char *in, size_t n,
    struct smtp_reply *out, size_t *fed)
{
	size_t start = 0, i;
	int rc = 0;

	*fed = 0;
	for (i = 0;; i++) {
		bool end = i == n;
		if (!end && !(i + 1 < n && in[i] == '\r' && in[i + 1] == '\n'))
			continue;
		rc = feed(p, in + start, i - start, out);
		(*fed)++;
		if (rc != 0 || end)
			break;
		assert_false(out->code != 0);
		start = i + 2;
		i++;
	}
	return rc;
}

struct reply_case {
	const char *in;
	size_t n;
	int rc;
	unsigned code;
	const char *enhanced;
	const char *text;
	size_t nlines;
	const char *err; /* on -1 */
};

#define ROK(in, code, enh, text, nl)                                           \
	{                                                                      \
		IN(in), 1, code, enh, text, nl, NULL                           \
	}
#define RERR(in, err)                                                          \
	{                                                                      \
		IN(in), -1, 0, "", "", 0, err                                  \
	}

#define E_CODE  "reply does not start with a code"
#define E_RANGE "reply code out of range"
#define E_SEP   "no SP or '-' after the reply code"
#define E_DIFF  "reply code differs between lines"

static const struct reply_case reply_cases[] = {
    ROK("250 OK", 250, "", "OK", 1),
    ROK("250", 250, "", "", 1),
    ROK("250 ", 250, "", "", 1),
    ROK("250  two spaces ", 250, "", " two spaces ", 1),
    ROK("220 mx.example.com ESMTP", 220, "", "mx.example.com ESMTP", 1),
    ROK("250-first\r\n250-second\r\n250 third", 250, "", "first\nsecond\nthird",
	3),
    ROK("250-first\r\n250", 250, "", "first\n", 2),
    ROK("250-\r\n250 ok", 250, "", "\nok", 2),
    ROK("200 x", 200, "", "x", 1),
    ROK("599 x", 599, "", "x", 1),
    ROK("260 odd but first digit counts", 260, "", "odd but first digit counts",
	1),
    ROK("334 VXNlcm5hbWU6", 334, "", "VXNlcm5hbWU6", 1),
    ROK("354 2.0.0 go ahead", 354, "", "2.0.0 go ahead", 1),
    /* bad codes and separators */
    RERR("199 x", E_RANGE),
    RERR("600 x", E_RANGE),
    RERR("099 x", E_RANGE),
    RERR("000", E_RANGE),
    RERR("25x ok", E_CODE),
    RERR("x250 ok", E_CODE),
    RERR("2500 ok", E_SEP),
    RERR("2500", E_SEP),
    RERR("250ok", E_SEP),
    RERR("250\tok", E_SEP),
    RERR("250_ok", E_SEP),
    RERR("25", E_CODE),
    RERR("2", E_CODE),
    RERR("", E_CODE),
    RERR(" 250 ok", E_CODE),
    RERR("250-a\r\n251 b", E_DIFF),
    RERR("250-a\r\n550 b", E_DIFF),
    RERR("250-a\r\n250-b\r\n25", E_CODE),
    RERR("250-a\r\n250x", E_SEP),
    RERR("250-a\r\n2500", E_SEP),
    RERR("250-a\r\n", E_CODE),
    /* text cleaning */
    ROK("250 a\tb", 250, "", "a b", 1),
    ROK("250 a\rb\nc", 250, "", "a?b?c", 1),
    ROK("250 \x01\x1f\x7f\x80\xff", 250, "", "?????", 1),
    ROK("250 caf\xc3\xa9", 250, "", "caf??", 1),
    ROK("250 a\0b", 250, "", "a?b", 1),
    ROK("250-\x1b[31m\r\n250 \x07", 250, "", "?[31m\n?", 2),
    /* enhanced status codes */
    ROK("550 5.1.1 User unknown", 550, "5.1.1", "User unknown", 1),
    ROK("550 5.1.1", 550, "5.1.1", "", 1),
    ROK("550 5.1.1 ", 550, "5.1.1", "", 1),
    ROK("450 4.7.1 try later", 450, "4.7.1", "try later", 1),
    ROK("250 2.0.0 Ok: queued", 250, "2.0.0", "Ok: queued", 1),
    ROK("550 5.001.999 x", 550, "5.001.999", "x", 1),
    ROK("550 5.999.999 x", 550, "5.999.999", "x", 1),
    ROK("550-5.1.1 User\r\n550 5.1.1 unknown", 550, "5.1.1", "User\nunknown",
	2),
    ROK("550-5.1.1 a\r\n550-5.1.1\r\n550 b", 550, "5.1.1", "a\n\nb", 3),
    ROK("550-5.1.1 User\r\n550 5.2.2 full", 550, "5.1.1", "User\n5.2.2 full",
	2),
    ROK("550-5.1.1 a\r\n550 5.1.10 b", 550, "5.1.1", "a\n5.1.10 b", 2),
    ROK("550-no code\r\n550 5.1.1 b", 550, "", "no code\n5.1.1 b", 2),
    /* class must match the code's first digit */
    ROK("250 5.1.1 odd", 250, "", "5.1.1 odd", 1),
    ROK("550 4.1.1 odd", 550, "", "4.1.1 odd", 1),
    ROK("450 2.0.0 odd", 450, "", "2.0.0 odd", 1),
    ROK("550 3.1.1 x", 550, "", "3.1.1 x", 1),
    /* malformed codes stay text */
    ROK("550 5.1.1x", 550, "", "5.1.1x", 1),
    ROK("550 5.1.1.1 x", 550, "", "5.1.1.1 x", 1),
    ROK("550 5.1000.1 x", 550, "", "5.1000.1 x", 1),
    ROK("550 5.1.1000 x", 550, "", "5.1.1000 x", 1),
    ROK("550 5.1. x", 550, "", "5.1. x", 1),
    ROK("550 5..1 x", 550, "", "5..1 x", 1),
    ROK("550 5.1", 550, "", "5.1", 1),
    ROK("550 5", 550, "", "5", 1),
    ROK("550 .1.1 x", 550, "", ".1.1 x", 1),
    ROK("550 5.a.1 x", 550, "", "5.a.1 x", 1),
    ROK("550 5.1.1\tx", 550, "", "5.1.1 x", 1),
    ROK("550  5.1.1 x", 550, "", " 5.1.1 x", 1),
    ROK("550-x\r\n550 5.1.1 y", 550, "", "x\n5.1.1 y", 2),
};

static void
test_reply_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case *c = &reply_cases[i];
		struct smtp_reply_parser p;
		struct smtp_reply r;
		size_t fed;
		int rc;

		smtp_reply_init(&p);
		rc = feed_all(&p, c->in, c->n, &r, &fed);
		if (rc != c->rc)
			fail_msg("case %zu \"%s\": rc %d, want %d (%s)", i,
			    c->in, rc, c->rc, smtp_reply_error(&p));
		assert_false(smtp_reply_pending(&p));
		if (rc == -1) {
			assert_string_equal(smtp_reply_error(&p), c->err);
			assert_int_equal(r.code, 0);
			assert_int_equal(r.nlines, 0);
			assert_string_equal(r.text, "");
			/* the parser is usable again */
			assert_int_equal(feed(&p, IN("250 ok"), &r), 1);
			assert_string_equal(smtp_reply_error(&p), "no error");
			continue;
		}
		assert_int_equal(r.code, c->code);
		if (strcmp(r.enhanced, c->enhanced) != 0 ||
		    strcmp(r.text, c->text) != 0)
			fail_msg("case %zu: enhanced \"%s\" text \"%s\"", i,
			    r.enhanced, r.text);
		assert_int_equal(r.nlines, c->nlines);
		assert_int_equal(fed, c->nlines);
		assert_false(r.truncated);
		assert_string_equal(smtp_reply_error(&p), "no error");
	}
}

static void
test_reply_sequence(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;

	(void)state;
	smtp_reply_init(&p);
	assert_false(smtp_reply_pending(&p));
	/* pipelined replies, one after another */
	assert_int_equal(feed(&p, IN("250 2.1.0 Ok"), &r), 1);
	assert_int_equal(r.code, 250);
	assert_int_equal(feed(&p, IN("550-5.1.1 no"), &r), 0);
	assert_true(smtp_reply_pending(&p));
	assert_int_equal(r.code, 0);
	assert_int_equal(feed(&p, IN("550 5.1.1 such user"), &r), 1);
	assert_false(smtp_reply_pending(&p));
	assert_int_equal(r.code, 550);
	assert_string_equal(r.enhanced, "5.1.1");
	assert_string_equal(r.text, "no\nsuch user");
	assert_int_equal(feed(&p, IN("354 go"), &r), 1);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.enhanced, "");
	assert_string_equal(r.text, "go");
	assert_int_equal(r.nlines, 1);
}

static void
test_reply_line_length(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	char *line = malloc(SMTP_REPLY_LINE_MAX + 1);

	(void)state;
	assert_non_null(line);
	memcpy(line, "250 ", 4);
	memset(line + 4, 'x', SMTP_REPLY_LINE_MAX + 1 - 4);
	smtp_reply_init(&p);
	assert_int_equal(feed(&p, line, SMTP_REPLY_LINE_MAX, &r), 1);
	assert_int_equal(strlen(r.text), SMTP_REPLY_LINE_MAX - 4);
	assert_int_equal(feed(&p, line, SMTP_REPLY_LINE_MAX + 1, &r), -1);
	assert_string_equal(smtp_reply_error(&p), "reply line too long");
	/* too long in the middle of a reply */
	line[3] = '-';
	assert_int_equal(feed(&p, line, 10, &r), 0);
	assert_int_equal(feed(&p, line, SMTP_REPLY_LINE_MAX + 1, &r), -1);
	assert_false(smtp_reply_pending(&p));
	free(line);
}

static void
test_reply_truncated(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	char *line = malloc(SMTP_REPLY_LINE_MAX);
	size_t i, want;

	(void)state;
	assert_non_null(line);
	memcpy(line, "550-", 4);
	memset(line + 4, 'x', SMTP_REPLY_LINE_MAX - 4);
	smtp_reply_init(&p);
	for (i = 0; i < 5; i++)
		assert_int_equal(feed(&p, line, SMTP_REPLY_LINE_MAX, &r), 0);
	assert_int_equal(feed(&p, IN("550 tail"), &r), 1);
	assert_int_equal(r.nlines, 6);
	assert_true(r.truncated);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	for (i = 0; i < SMTP_REPLY_TEXT_MAX - 1; i++)
		assert_true(r.text[i] == 'x' || r.text[i] == '\n');
	/* the next reply starts clean */
	assert_int_equal(feed(&p, IN("250 ok"), &r), 1);
	assert_false(r.truncated);
	assert_string_equal(r.text, "ok");

	/* exactly full is not truncated: 4 lines of 2044 and 3 '\n' = 8179,
	 * then "\n" and 11 bytes = 8191 */
	for (i = 0; i < 4; i++)
		assert_int_equal(feed(&p, line, SMTP_REPLY_LINE_MAX, &r), 0);
	assert_int_equal(feed(&p, IN("550 abcdefghijk"), &r), 1);
	want = 4 * (SMTP_REPLY_LINE_MAX - 4) + 3 + 1 + 11;
	assert_int_equal(want, SMTP_REPLY_TEXT_MAX - 1);
	assert_int_equal(strlen(r.text), want);
	assert_false(r.truncated);
	/* one more byte is */
	for (i = 0; i < 4; i++)
		assert_int_equal(feed(&p, line, SMTP_REPLY_LINE_MAX, &r), 0);
	assert_int_equal(feed(&p, IN("550 abcdefghijkl"), &r), 1);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	assert_true(r.truncated);
	assert_int_equal(r.text[SMTP_REPLY_TEXT_MAX - 2], 'k');
	free(line);
}

static void
test_reply_too_many_lines(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	size_t i;

	(void)state;
	smtp_reply_init(&p);
	for (i = 0; i + 1 < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(feed(&p, IN("250-x"), &r), 0);
	assert_int_equal(feed(&p, IN("250 x"), &r), 1);
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);

	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		assert_int_equal(feed(&p, IN("250-x"), &r), 0);
	assert_int_equal(feed(&p, IN("250 x"), &r), -1);
	assert_string_equal(
	    smtp_reply_error(&p), "too many lines in one reply");
	assert_false(smtp_reply_pending(&p));
	assert_int_equal(feed(&p, IN("250 x"), &r), 1);
	assert_int_equal(r.nlines, 1);
}

static void
test_enhanced_len(void **state)
{
	(void)state;
	assert_int_equal(smtp_reply_enhanced_len(span_cstr("5.1.1"), 0), 5);
	assert_int_equal(smtp_reply_enhanced_len(span_cstr("5.1.1 x"), '5'), 5);
	assert_int_equal(smtp_reply_enhanced_len(span_cstr("5.1.1 x"), '4'), 0);
	assert_int_equal(smtp_reply_enhanced_len(span_cstr("2.10.100"), 0), 8);
	assert_int_equal(smtp_reply_enhanced_len(span_cstr("1.1.1"), 0), 0);
	assert_int_equal(smtp_reply_enhanced_len(span_cstr("5.1.1-"), 0), 0);
	assert_int_equal(smtp_reply_enhanced_len(span_cstr(""), 0), 0);
	assert_int_equal(smtp_reply_enhanced_len(span_make("5.1.1", 4), 0), 0);
}

/* Parses a whole reply given as CRLF-separated lines. */
static void
parse(const char *in, size_t n, struct smtp_reply *r)
{
	struct smtp_reply_parser p;
	size_t fed;

	smtp_reply_init(&p);
	assert_int_equal(feed_all(&p, in, n, r, &fed), 1);
}

static void
test_ehlo_full(void **state)
{
	static const char in[] = "250-mx.example.com Hello STARTTLS\r\n"
				 "250-PIPELINING\r\n"
				 "250-SIZE 10240000\r\n"
				 "250-STARTTLS\r\n"
				 "250-8BITMIME\r\n"
				 "250-ENHANCEDSTATUSCODES\r\n"
				 "250-DSN\r\n"
				 "250-SMTPUTF8\r\n"
				 "250-CHUNKING\r\n"
				 "250-BINARYMIME\r\n"
				 "250-REQUIRETLS\r\n"
				 "250-X-UNKNOWN foo\r\n"
				 "250 AUTH CRAM-MD5 PLAIN LOGIN";
	struct smtp_reply r;
	struct smtp_ehlo e;

	(void)state;
	parse(IN(in), &r);
	smtp_ehlo_parse(&r, &e);
	assert_true(e.pipelining && e.starttls && e.eightbitmime &&
		    e.enhancedstatuscodes && e.dsn && e.smtputf8 &&
		    e.chunking && e.binarymime && e.requiretls);
	assert_true(e.size);
	assert_int_equal(e.size_max, 10240000);
	assert_true(e.auth_plain && e.auth_login);
}

struct ehlo_case {
	const char *in; /* lines after "250-mx.example.com\r\n" */
	size_t n;
	bool starttls, pipelining, size;
	uint64_t size_max;
	bool auth_plain, auth_login;
};

#define EC(in, tls, pipe, size, max, plain, login)                             \
	{                                                                      \
		IN(in), tls, pipe, size, max, plain, login                     \
	}

static const struct ehlo_case ehlo_cases[] = {
    EC("250 STARTTLS", true, false, false, 0, false, false),
    EC("250 starttls", true, false, false, 0, false, false),
    EC("250 StartTls", true, false, false, 0, false, false),
    EC("250 Pipelining", false, true, false, 0, false, false),
    EC("250 PIPELINING foo bar", false, true, false, 0, false, false),
    EC("250 STARTTLS   ", true, false, false, 0, false, false),
    EC("250   STARTTLS", true, false, false, 0, false, false),
    EC("250 STARTTLSX", false, false, false, 0, false, false),
    EC("250 XSTARTTLS", false, false, false, 0, false, false),
    EC("250 START TLS", false, false, false, 0, false, false),
    EC("250 STARTTLS=1", false, false, false, 0, false, false),
    EC("250 -STARTTLS", false, false, false, 0, false, false),
    EC("250 STARTTLS\x01", false, false, false, 0, false, false),
    EC("250 ", false, false, false, 0, false, false),
    EC("250", false, false, false, 0, false, false),
    EC("250-\r\n250 STARTTLS", true, false, false, 0, false, false),
    EC("250 SIZE", false, false, true, 0, false, false),
    EC("250 size", false, false, true, 0, false, false),
    EC("250 SIZE 0", false, false, true, 0, false, false),
    EC("250 SIZE 52428800", false, false, true, 52428800, false, false),
    EC("250 SIZE  52428800 extra", false, false, true, 52428800, false, false),
    EC("250 SIZE 18446744073709551615", false, false, true, UINT64_MAX, false,
	false),
    EC("250 SIZE 18446744073709551616", false, false, true, 0, false, false),
    EC("250 SIZE 999999999999999999999999", false, false, true, 0, false,
	false),
    EC("250 SIZE 12abc", false, false, true, 0, false, false),
    EC("250 SIZE -1", false, false, true, 0, false, false),
    EC("250 SIZE +5", false, false, true, 0, false, false),
    EC("250 SIZE 0x100", false, false, true, 0, false, false),
    EC("250 SIZE=100", false, false, false, 0, false, false),
    EC("250 AUTH PLAIN", false, false, false, 0, true, false),
    EC("250 AUTH LOGIN", false, false, false, 0, false, true),
    EC("250 auth login plain", false, false, false, 0, true, true),
    EC("250 AUTH CRAM-MD5 SCRAM-SHA-256", false, false, false, 0, false, false),
    EC("250 AUTH", false, false, false, 0, false, false),
    EC("250 AUTH PLAINX LOGINX", false, false, false, 0, false, false),
    EC("250 AUTH=LOGIN", false, false, false, 0, false, true),
    EC("250 AUTH=PLAIN LOGIN", false, false, false, 0, true, true),
    EC("250 auth=plain", false, false, false, 0, true, false),
    EC("250 AUTH=", false, false, false, 0, false, false),
    EC("250-AUTH=LOGIN\r\n250 AUTH PLAIN", false, false, false, 0, true, true),
    EC("250-\x80\xff\r\n250-\t\r\n250 SIZE 7", false, false, true, 7, false,
	false),
};

static void
test_ehlo_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ehlo_cases) / sizeof(ehlo_cases[0]); i++) {
		const struct ehlo_case *c = &ehlo_cases[i];
		char in[512];
		struct smtp_reply r;
		struct smtp_ehlo e;
		int n = snprintf(in, sizeof(in), "250-mx.example.com\r\n");

		assert_true(n > 0 && (size_t)n + c->n < sizeof(in));
		memcpy(in + n, c->in, c->n);
		parse(in, (size_t)n + c->n, &r);
		smtp_ehlo_parse(&r, &e);
		if (e.starttls != c->starttls ||
		    e.pipelining != c->pipelining || e.size != c->size ||
		    e.size_max != c->size_max ||
		    e.auth_plain != c->auth_plain ||
		    e.auth_login != c->auth_login)
			fail_msg("ehlo case %zu \"%s\"", i, c->in);
		assert_false(e.eightbitmime || e.dsn || e.chunking);
	}
}

static void
test_ehlo_first_line_and_codes(void **state)
{
	struct smtp_reply r;
	struct smtp_ehlo e;

	(void)state;
	/* the first line is the greeting, never a keyword */
	parse(IN("250 STARTTLS"), &r);
	smtp_ehlo_parse(&r, &e);
	assert_false(e.starttls);
	/* not a 250: nothing */
	parse(IN("550-mx\r\n550-STARTTLS\r\n550 SIZE 10"), &r);
	smtp_ehlo_parse(&r, &e);
	assert_false(e.starttls || e.size);
	parse(IN("251-mx\r\n251 STARTTLS"), &r);
	smtp_ehlo_parse(&r, &e);
	assert_false(e.starttls);
}

static void
test_ehlo_truncated(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_reply r;
	struct smtp_ehlo e;
	char line[4 + 2040];
	size_t i;

	(void)state;
	/* 19 + 4 * (1 + 2040) = 8183; "\nSIZE 10240000" is cut after 8 */
	smtp_reply_init(&p);
	assert_int_equal(feed(&p, IN("250-mx.example.com.pads"), &r), 0);
	memcpy(line, "250-", 4);
	memset(line + 4, 'A', sizeof(line) - 4);
	for (i = 0; i < 4; i++)
		assert_int_equal(feed(&p, line, sizeof(line), &r), 0);
	assert_int_equal(feed(&p, IN("250 SIZE 10240000"), &r), 1);
	assert_true(r.truncated);
	assert_string_equal(r.text + strlen(r.text) - 8, "\nSIZE 10");
	smtp_ehlo_parse(&r, &e);
	assert_false(e.size);
	assert_int_equal(e.size_max, 0);
}

static void
test_format(void **state)
{
	struct smtp_reply r;
	char out[256];

	(void)state;
	parse(IN("550-5.1.1 User\r\n550-\r\n550 5.1.1 unknown"), &r);
	assert_int_equal(smtp_reply_format(&r, out, sizeof(out)),
	    strlen("550 5.1.1 User / unknown"));
	assert_string_equal(out, "550 5.1.1 User / unknown");
	parse(IN("250"), &r);
	smtp_reply_format(&r, out, sizeof(out));
	assert_string_equal(out, "250");
	parse(IN("250-\r\n250"), &r);
	smtp_reply_format(&r, out, sizeof(out));
	assert_string_equal(out, "250");
	parse(IN("451 4.3.0"), &r);
	smtp_reply_format(&r, out, sizeof(out));
	assert_string_equal(out, "451 4.3.0");
	parse(IN("421 bye\x01\xff"), &r);
	smtp_reply_format(&r, out, sizeof(out));
	assert_string_equal(out, "421 bye??");

	/* small buffers */
	parse(IN("550 5.1.1 x"), &r);
	assert_int_equal(smtp_reply_format(&r, out, 4), 3);
	assert_string_equal(out, "550");
	assert_int_equal(smtp_reply_format(&r, out, 1), 0);
	assert_string_equal(out, "");
	out[0] = 'Z';
	assert_int_equal(smtp_reply_format(&r, out, 0), 0);
	assert_int_equal(out[0], 'Z');

	/* a hand-built reply with bad bytes everywhere */
	memset(&r, 0, sizeof(r));
	r.code = 550;
	memcpy(r.enhanced, "5.\r.1", 6);
	memcpy(r.text, "a\tb\x1b\n\rc", 8);
	r.nlines = 2;
	smtp_reply_format(&r, out, sizeof(out));
	assert_string_equal(out, "550 5.?.1 a b? / ?c");
	/* unterminated arrays are read within their bounds */
	memset(r.enhanced, '5', sizeof(r.enhanced));
	memset(r.text, 'x', sizeof(r.text));
	r.code = 1234567;
	{
		char big[SMTP_REPLY_TEXT_MAX + 64];
		size_t n = smtp_reply_format(&r, big, sizeof(big));
		assert_int_equal(
		    n, 7 + 1 + sizeof(r.enhanced) + 1 + sizeof(r.text));
		assert_int_equal(strlen(big), n);
	}
}

static void
test_format_every_size(void **state)
{
	struct smtp_reply r;
	char full[256], out[256];
	size_t n, sz;

	(void)state;
	parse(IN("550-5.7.1 Message rejected\r\n550 5.7.1 see http://x/"), &r);
	n = smtp_reply_format(&r, full, sizeof(full));
	assert_string_equal(full, "550 5.7.1 Message rejected / see http://x/");
	for (sz = 1; sz <= n + 2; sz++) {
		size_t want = sz - 1 < n ? sz - 1 : n;
		memset(out, 'Q', sizeof(out));
		assert_int_equal(smtp_reply_format(&r, out, sz), want);
		assert_int_equal(out[want], '\0');
		assert_memory_equal(out, full, want);
		assert_int_equal(out[sz], 'Q');
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_table),
	    cmocka_unit_test(test_reply_sequence),
	    cmocka_unit_test(test_reply_line_length),
	    cmocka_unit_test(test_reply_truncated),
	    cmocka_unit_test(test_reply_too_many_lines),
	    cmocka_unit_test(test_enhanced_len),
	    cmocka_unit_test(test_ehlo_full),
	    cmocka_unit_test(test_ehlo_table),
	    cmocka_unit_test(test_ehlo_first_line_and_codes),
	    cmocka_unit_test(test_ehlo_truncated),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_format_every_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
