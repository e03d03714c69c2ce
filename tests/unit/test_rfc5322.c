/*
 * test_rfc5322: table-driven tests of the incremental header scanner
 * (proto/rfc5322). Every case is fed whole, split in two at every byte
 * position and byte by byte, each piece in its own heap copy (so ASan sees
 * a read past a piece); all runs must give the same result (Dovecot
 * style).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/rfc5322.h"

#define S(s) s, sizeof(s) - 1

/* Expected-flags bits, to keep the table narrow. */
#define T_BODY 0x1
#define T_DATE 0x2
#define T_MID  0x4
#define T_FROM 0x8

/* 76 octets: the longest name that fits a 78-octet line with ": ". */
#define T_NAME76                                                               \
	"X-Seventy-Six-Octets-Long-Field-Name-For-The-Scanner-Test-Abcdefghi"  \
	"jklmnopqr"

struct test_rfc5322_case {
	const char *name;
	const char *in;
	size_t n;
	unsigned fields;
	unsigned received;
	unsigned flags; /* T_* */
};

/* clang-format off */
static const struct test_rfc5322_case test_rfc5322_cases[] = {
	/* The end of the header. */
	{ "empty input", S(""), 0, 0, 0 },
	{ "no header", S("\r\n"), 0, 0, T_BODY },
	{ "no header, body", S("\r\nReceived: x\r\nDate: y\r\n\r\n"), 0, 0,
	    T_BODY },
	{ "one field", S("Subject: hi\r\n\r\nbody\r\n"), 1, 0, T_BODY },
	{ "no empty line", S("Received: a\r\nDate: b\r\n"), 2, 1, T_DATE },
	{ "last line without CRLF", S("Received: a\r\nFrom: x"), 2, 1,
	    T_FROM },
	{ "colon is enough", S("Date:"), 1, 0, T_DATE },
	{ "name without colon yet", S("Date"), 0, 0, 0 },
	{ "header then lone CR", S("A: b\r\n\r"), 1, 0, 0 },
	{ "empty value", S("Date:\r\n\r\n"), 1, 0, T_DATE | T_BODY },
	/* Received, any case; never inside a continuation or the body. */
	{ "received cases",
	    S("Received: a\r\nRECEIVED: b\r\nreceived:c\r\nReCeIvEd:\r\n\r\n"),
	    4, 4, T_BODY },
	{ "folded received",
	    S("Received: from a\r\n\tby b; Received: x\r\n Received: y\r\n"
	      "\tReceived:\r\nReceived: z\r\n\r\n"), 2, 2, T_BODY },
	{ "received in body",
	    S("From: a\r\n\r\nReceived: x\r\nReceived: y\r\n\r\nDate: z\r\n"),
	    1, 0, T_FROM | T_BODY },
	{ "received in value", S("Subject: Received: x\r\n\r\n"), 1, 0,
	    T_BODY },
	{ "continuation first", S(" Received: x\r\nDate: y\r\n\r\n"), 1, 0,
	    T_DATE | T_BODY },
	{ "blank continuation", S("From: a\r\n \r\n\t\r\n\r\n"), 1, 0,
	    T_FROM | T_BODY },
	/* obs-optional: WSP between name and colon. */
	{ "wsp before colon",
	    S("Received :x\r\nReceived\t \t: y\r\nDate :z\r\n\r\n"), 3, 2,
	    T_DATE | T_BODY },
	{ "space inside name", S("Recei ved: x\r\nFrom x: y\r\n\r\n"), 0, 0,
	    T_BODY },
	/* Date, Message-ID, From. */
	{ "date message-id from",
	    S("Date: x\r\nMessage-ID: <a@b>\r\nFrom: a@b\r\n\r\n"), 3, 0,
	    T_DATE | T_MID | T_FROM | T_BODY },
	{ "other cases",
	    S("message-id: <x>\r\nFROM: y\r\nDATE: z\r\n\r\n"), 3, 0,
	    T_DATE | T_MID | T_FROM | T_BODY },
	{ "near names",
	    S("Dates: x\r\nFro: y\r\nMessage-IDs: z\r\nMessage-I: z\r\n"
	      "Received-SPF: pass\r\nX-Received: a\r\nResent-From: b\r\n"
	      "Resent-Date: c\r\nResent-Message-ID: d\r\nReceive: e\r\n"
	      "\r\n"), 10, 0, T_BODY },
	{ "repeated fields", S("Date: a\r\nDate: b\r\nFrom: c\r\n\r\n"), 3, 0,
	    T_DATE | T_FROM | T_BODY },
	/* Malformed lines: skipped, count nothing, end nothing. */
	{ "mbox From line", S("From foo@bar Mon Jan 1\r\nReceived: x\r\n\r\n"),
	    1, 1, T_BODY },
	{ "garbage lines",
	    S("garbage\r\n:empty name\r\n\x80" "bad: x\r\nna\x01me: y\r\n"
	      "Da\0te: q\r\nok: z\r\n\r\n"), 1, 0, T_BODY },
	{ "colon first", S(":\r\n: Received\r\n\r\n"), 0, 0, T_BODY },
	{ "DEL in name", S("Date\x7f: x\r\n\r\n"), 0, 0, T_BODY },
	{ "CR in name", S("Date\r: x\r\n\r\n"), 0, 0, T_BODY },
	{ "CR in wsp", S("Date \r: x\r\n\r\n"), 0, 0, T_BODY },
	{ "CR CR LF line", S("A: b\r\n\r\r\nDate: x\r\n\r\n"), 2, 0,
	    T_DATE | T_BODY },
	{ "CR then text", S("\rDate: x\r\n\r\n"), 0, 0, T_BODY },
	{ "CR CR CR LF", S("\r\r\r\n\r\n"), 0, 0, T_BODY },
	/* Bare LF is an ordinary octet, never a line end. */
	{ "bare LF", S("From: a\n\nReceived: b\r\n\r\n"), 1, 0,
	    T_FROM | T_BODY },
	{ "bare LF at start", S("\n\nReceived: x\r\n"), 0, 0, 0 },
	{ "LF LF is not the end", S("A: b\n\nDate: c\r\n"), 1, 0, 0 },
	{ "LF CR LF", S("A: b\n\r\nDate: c\r\n\r\n"), 2, 0, T_DATE | T_BODY },
	{ "CR LF LF", S("A: b\r\n\nDate: c\r\n\r\n"), 1, 0, T_BODY },
	{ "LF in name", S("Da\nte: x\r\n\r\n"), 0, 0, T_BODY },
	/* Long names count as fields, never match. */
	{ "76-octet name", S(T_NAME76 ": x\r\nDate: y\r\n\r\n"), 2, 0,
	    T_DATE | T_BODY },
	{ "32-octet name", S("ReceivedReceivedReceivedReceived: x\r\n\r\n"),
	    1, 0, T_BODY },
	{ "33-octet name", S("ReceivedReceivedReceivedReceivedX: x\r\n\r\n"),
	    1, 0, T_BODY },
	{ "long name with prefix",
	    S("Received" T_NAME76 T_NAME76 ": x\r\n\r\n"), 1, 0, T_BODY },
	{ "long name then wsp", S(T_NAME76 T_NAME76 " : x\r\n\r\n"), 1, 0,
	    T_BODY },
	/* After the header, nothing counts. */
	{ "body with header-like lines",
	    S("Date: a\r\n\r\n\r\nFrom: b\r\n Received: c\r\n\r\n\r\n"), 1, 0,
	    T_DATE | T_BODY },
	{ "8-bit value", S("Subject: caf\xc3\xa9\r\nFrom: \xff\r\n\r\n"), 2, 0,
	    T_FROM | T_BODY },
};
/* clang-format on */

struct test_rfc5322_res {
	bool in_body;
	unsigned fields, received;
	bool has_date, has_message_id, has_from;
	uint64_t header_len;
};

/* Feeds one piece from its own exact-size heap copy. */
static void
test_rfc5322_feed_copy(struct rfc5322_scan *s, const char *p, size_t n)
{
	char *piece = malloc(n ? n : 1);

	assert_non_null(piece);
	if (n > 0)
		memcpy(piece, p, n);
	rfc5322_scan_feed(s, piece, n);
	free(piece);
}

/* Feeds in[0..n) in pieces of step bytes, or cut in two when step is 0. */
static void
test_rfc5322_run(const char *in, size_t n, size_t step, size_t cut,
    struct test_rfc5322_res *r)
{
	struct rfc5322_scan s;
	size_t off = 0;

	rfc5322_scan_init(&s);
	if (step == 0) {
		test_rfc5322_feed_copy(&s, in, cut);
		test_rfc5322_feed_copy(&s, in + cut, n - cut);
	} else {
		while (off < n) {
			size_t len = n - off < step ? n - off : step;

			test_rfc5322_feed_copy(&s, in + off, len);
			off += len;
		}
	}
	r->in_body = s.in_body;
	r->fields = s.fields;
	r->received = s.received;
	r->has_date = s.has_date;
	r->has_message_id = s.has_message_id;
	r->has_from = s.has_from;
	r->header_len = s.in_body ? s.header_len : 0;
	/* The header ends at an empty line: CRLF at the start or after CRLF. */
	if (s.in_body) {
		assert_true(r->header_len + 2 <= n);
		assert_memory_equal(in + r->header_len, "\r\n", 2);
		assert_true(r->header_len == 0 ||
		    (r->header_len >= 2 &&
			memcmp(in + r->header_len - 2, "\r\n", 2) == 0));
	}
}

static void
test_rfc5322_check(
    const struct test_rfc5322_case *c, const struct test_rfc5322_res *r)
{
	if (r->fields != c->fields || r->received != c->received ||
	    r->in_body != ((c->flags & T_BODY) != 0) ||
	    r->has_date != ((c->flags & T_DATE) != 0) ||
	    r->has_message_id != ((c->flags & T_MID) != 0) ||
	    r->has_from != ((c->flags & T_FROM) != 0)) {
		print_error("case \"%s\": fields %u received %u body %d "
			    "date %d mid %d from %d\n",
		    c->name, r->fields, r->received, r->in_body, r->has_date,
		    r->has_message_id, r->has_from);
		fail();
	}
}

static void
test_rfc5322_table(void **state)
{
	size_t i, cut;

	(void)state;
	for (i = 0;
	     i < sizeof(test_rfc5322_cases) / sizeof(test_rfc5322_cases[0]);
	     i++) {
		const struct test_rfc5322_case *c = &test_rfc5322_cases[i];
		struct test_rfc5322_res r;

		uint64_t hl;

		test_rfc5322_run(c->in, c->n, c->n ? c->n : 1, 0, &r);
		test_rfc5322_check(c, &r);
		hl = r.header_len;
		for (cut = 0; cut <= c->n; cut++) {
			test_rfc5322_run(c->in, c->n, 0, cut, &r);
			test_rfc5322_check(c, &r);
			assert_true(r.header_len == hl);
		}
		test_rfc5322_run(c->in, c->n, 1, 0, &r);
		test_rfc5322_check(c, &r);
		assert_true(r.header_len == hl);
		test_rfc5322_run(c->in, c->n, 3, 0, &r);
		test_rfc5322_check(c, &r);
		assert_true(r.header_len == hl);
	}
}

/* A name far longer than the buffer, and a huge folded field. */
static void
test_rfc5322_huge(void **state)
{
	struct rfc5322_scan s;
	size_t n = 100000, i;
	char *big = malloc(n);

	(void)state;
	assert_non_null(big);
	memset(big, 'R', n);
	rfc5322_scan_init(&s);
	rfc5322_scan_feed(&s, S("Received"));
	rfc5322_scan_feed(&s, big, n);
	assert_true(s.name_len <= sizeof(s.name) + 1);
	rfc5322_scan_feed(&s, S(": x\r\nReceived: y"));
	for (i = 0; i < 1000; i++)
		rfc5322_scan_feed(&s, S("\r\n Received: z"));
	rfc5322_scan_feed(&s, big, n);
	rfc5322_scan_feed(&s, S("\r\n\r\n"));
	assert_true(s.in_body);
	assert_int_equal(s.fields, 2);
	assert_int_equal(s.received, 1);
	free(big);
}

/* Counters stop at UINT_MAX. */
static void
test_rfc5322_saturate(void **state)
{
	struct rfc5322_scan s;

	(void)state;
	rfc5322_scan_init(&s);
	s.fields = UINT_MAX - 1;
	s.received = UINT_MAX - 2;
	rfc5322_scan_feed(&s, S("Received: a\r\nReceived: b\r\n"
				"Received: c\r\nReceived: d\r\n"));
	assert_true(s.fields == UINT_MAX);
	assert_true(s.received == UINT_MAX);
	assert_false(s.in_body);
}

/* Feeding after the header, or nothing, changes nothing. */
static void
test_rfc5322_after_body(void **state)
{
	struct rfc5322_scan s, copy;

	(void)state;
	rfc5322_scan_init(&s);
	rfc5322_scan_feed(&s, NULL, 0);
	assert_false(s.in_body);
	assert_int_equal(s.fields, 0);
	rfc5322_scan_feed(&s, S("Date: x\r\n\r\n"));
	assert_true(s.in_body);
	copy = s;
	rfc5322_scan_feed(&s, S("Received: x\r\n\r\n"));
	rfc5322_scan_feed(&s, NULL, 0);
	assert_memory_equal(&s, &copy, sizeof(s));
	/* init starts over. */
	rfc5322_scan_init(&s);
	assert_false(s.in_body);
	assert_int_equal(s.fields, 0);
	assert_false(s.has_date);
}

static void
test_rfc5322_field_value(void **state)
{
	static const char msg[] = "Received: from x\r\n\tby y\r\n"
	    "tls-required :  No \r\nSubject: a\r\n b\r\n\r\n"
	    "TLS-Required: Yes\r\n";
	char out[32];

	(void)state;
	assert_true(rfc5322_field_value(msg, sizeof(msg) - 1, "TLS-Required",
	    out, sizeof(out)));
	assert_string_equal(out, "No");
	assert_true(rfc5322_field_value(msg, sizeof(msg) - 1, "subject", out,
	    sizeof(out)));
	assert_string_equal(out, "a b");
	assert_true(rfc5322_field_value(msg, sizeof(msg) - 1, "Received", out,
	    sizeof(out)));
	assert_string_equal(out, "from x\tby y");
	/* Not in the header (only in the body), too small, truncated. */
	assert_false(rfc5322_field_value(msg, sizeof(msg) - 1, "From", out,
	    sizeof(out)));
	assert_false(rfc5322_field_value(msg, sizeof(msg) - 1, "Received",
	    out, 4));
	assert_string_equal(out, "");
	assert_true(rfc5322_field_value("A: 1", 4, "a", out, sizeof(out)));
	assert_string_equal(out, "1");
	assert_false(rfc5322_field_value("A 1\r\n", 5, "a", out,
	    sizeof(out)));
	assert_false(rfc5322_field_value("", 0, "a", out, sizeof(out)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5322_table),
	    cmocka_unit_test(test_rfc5322_huge),
	    cmocka_unit_test(test_rfc5322_saturate),
	    cmocka_unit_test(test_rfc5322_after_body),
	    cmocka_unit_test(test_rfc5322_field_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
