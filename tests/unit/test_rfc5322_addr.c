/*
 * test_rfc5322_addr: table-driven tests of the address-list parser
 * (proto/rfc5322_addr). Each case gives the input, the flags and either
 * the addresses expected ("a@b|c@d", in order) or the error expected.
 * Every input is parsed from an exact-size heap copy (so ASan sees a read
 * past the end), and every address produced must parse again, strictly,
 * to itself (the canonical form is a fixed point).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/buf.h"
#include "proto/rfc5322_addr.h"

#define L    RFC5322_ADDR_F_LENIENT
#define BL   RFC5322_ADDR_F_BARE_LOCAL
#define S(s) s, sizeof(s) - 1

/* An expected error: the result code and (optionally) the position. */
#define E(code)      NULL, code, (size_t)-1
#define EP(code, at) NULL, code, at

struct test_rfc5322_addr_case {
	const char *in;
	size_t n;
	unsigned flags;
	const char *want; /* '|'-separated addresses, or NULL: error */
	int err;          /* with want NULL */
	size_t err_pos;   /* (size_t)-1: not checked */
};

/* clang-format off */
static const struct test_rfc5322_addr_case test_rfc5322_addr_cases[] = {
	/* addr-spec and name-addr, RFC 5322 appendix A.1. */
	{ S("john.q.public@example.com"), 0, "john.q.public@example.com", 0, 0 },
	{ S("John Doe <jdoe@machine.example>"), 0, "jdoe@machine.example", 0, 0 },
	{ S("\"Joe Q. Public\" <john.q.public@example.com>"), 0,
	    "john.q.public@example.com", 0, 0 },
	{ S("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
	    0, "mary@x.test|jdoe@example.org|one@y.test", 0, 0 },
	{ S("<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>"),
	    0, "boss@nil.test|sysservices@example.net", 0, 0 },
	{ S("<a@b.example>"), 0, "a@b.example", 0, 0 },
	{ S("  <a@b.example>  "), 0, "a@b.example", 0, 0 },
	/* Groups (A.1.3). */
	{ S("A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;"),
	    0, "c@a.test|joe@where.test|jdoe@one.test", 0, 0 },
	{ S("Undisclosed recipients:;"), 0, "", 0, 0 },
	{ S("undisclosed-recipients: ;"), 0, "", 0, 0 },
	{ S("team: a@b.example, c@d.example;"), 0, "a@b.example|c@d.example", 0, 0 },
	{ S("team: a@b.example, c@d.example; , x@y.example"), 0,
	    "a@b.example|c@d.example|x@y.example", 0, 0 },
	{ S("g1: a@b.example;, g2: c@d.example;"), 0, "a@b.example|c@d.example", 0, 0 },
	{ S("\"quoted group\": <a@b.example>;"), 0, "a@b.example", 0, 0 },
	{ S("team:,,a@b.example,,;"), 0, "a@b.example", 0, 0 },
	{ S("team: (nobody) ;"), 0, "", 0, 0 },
	/* CFWS and comments (A.5, A.6.3). */
	{ S("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
	    0, "pete@silly.test", 0, 0 },
	{ S("(Empty list)(start)Hidden recips :(nobody(that I know))  ;"), 0,
	    "", 0, 0 },
	{ S("john (comment) . doe @ example (x) . com"), 0,
	    "john.doe@example.com", 0, 0 },
	{ S("a@b.example (Alice (the (nested) one))"), 0, "a@b.example", 0, 0 },
	{ S("(c) a@b.example"), 0, "a@b.example", 0, 0 },
	{ S("a(\\(\\))@b.example"), 0, "a@b.example", 0, 0 },
	/* Folding: CRLF or LF followed by WSP; one final line end. */
	{ S("Alice <a@b.example>,\r\n Bob <c@d.example>"), 0,
	    "a@b.example|c@d.example", 0, 0 },
	{ S("Alice <a@b.example>,\n\tBob <c@d.example>\n"), 0,
	    "a@b.example|c@d.example", 0, 0 },
	{ S("a@b.example\r\n"), 0, "a@b.example", 0, 0 },
	{ S("\"folded\r\n name\" <a@b.example>"), 0, "a@b.example", 0, 0 },
	{ S("(folded\r\n comment) a@b.example"), 0, "a@b.example", 0, 0 },
	{ S("a@b.example,\r\n\r\n c@d.example"), 0, EP(RFC5322_ADDR_SYNTAX, 12) },
	{ S("a@b.example\r\nc@d.example"), 0, EP(RFC5322_ADDR_SYNTAX, 11) },
	{ S("a@b.example\rc@d.example"), 0, EP(RFC5322_ADDR_SYNTAX, 11) },
	{ S("a@b.example\r"), 0, EP(RFC5322_ADDR_SYNTAX, 11) },
	/* Source routes are dropped (4.4). */
	{ S("<@a.example,@b.example:x@y.example>"), 0, "x@y.example", 0, 0 },
	{ S("Joe <@relay.test:joe@host.test>"), 0, "joe@host.test", 0, 0 },
	{ S("<,@a.example,,@b.example:x@y.example>"), 0, "x@y.example", 0, 0 },
	{ S("< @a.example , @b.example : x@y.example >"), 0, "x@y.example", 0, 0 },
	{ S("<@a.example x@y.example>"), 0, E(RFC5322_ADDR_SYNTAX) },
	{ S("<,:x@y.example>"), 0, E(RFC5322_ADDR_SYNTAX) },
	{ S("<@:x@y.example>"), 0, E(RFC5322_ADDR_SYNTAX) },
	/* Quoted local parts are kept quoted, re-escaped minimally. */
	{ S("\"john doe\"@example.com"), 0, "\"john doe\"@example.com", 0, 0 },
	{ S("\"a\".b@example.com"), 0, "\"a.b\"@example.com", 0, 0 },
	{ S("a.\"b c\".d@example.com"), 0, "\"a.b c.d\"@example.com", 0, 0 },
	{ S("\"\\a\\b\"@example.com"), 0, "\"ab\"@example.com", 0, 0 },
	{ S("\"a\\\"b\\\\c\"@example.com"), 0, "\"a\\\"b\\\\c\"@example.com", 0, 0 },
	{ S("\"a@b\"@example.com"), 0, "\"a@b\"@example.com", 0, 0 },
	{ S("\"folded\r\n local\"@example.com"), 0,
	    "\"folded local\"@example.com", 0, 0 },
	{ S("\"tab\tinside\"@example.com"), 0, EP(RFC5322_ADDR_NOTSMTP, 0) },
	{ S("\"\"@example.com"), 0, EP(RFC5322_ADDR_NOTSMTP, 0) },
	{ S("\"\x01\"@example.com"), 0, E(RFC5322_ADDR_NOTSMTP) },
	{ S("\"a\\\x7f\"@example.com"), 0, E(RFC5322_ADDR_NOTSMTP) },
	/* obs-local-part and obs-domain. */
	{ S("a . b . c @ d . e"), 0, "a.b.c@d.e", 0, 0 },
	{ S("user%other@example.com"), 0, "user%other@example.com", 0, 0 },
	{ S("!#$%&'*+-/=?^_`{|}~@example.com"), 0,
	    "!#$%&'*+-/=?^_`{|}~@example.com", 0, 0 },
	{ S("Joe Q. Public <jqp@example.com>"), 0, "jqp@example.com", 0, 0 },
	{ S("Joe Q.Public . <jqp@example.com>"), 0, "jqp@example.com", 0, 0 },
	/* Domain literals: white space removed, only dcontent. */
	{ S("a@[192.0.2.1]"), 0, "a@[192.0.2.1]", 0, 0 },
	{ S("a@[ 192.0.2.1 ]"), 0, "a@[192.0.2.1]", 0, 0 },
	{ S("<a@[IPv6:2001:db8::1]>"), 0, "a@[IPv6:2001:db8::1]", 0, 0 },
	{ S("a@[1.2\\.3.4]"), 0, E(RFC5322_ADDR_NOTSMTP) },
	{ S("a@[1.2.3.4"), 0, EP(RFC5322_ADDR_SYNTAX, 2) },
	{ S("a@[1.[2].3.4]"), 0, EP(RFC5322_ADDR_SYNTAX, 5) },
	/* UTF-8 (RFC 6532). */
	{ S("J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc" "cher.example>"), 0,
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.example", 0, 0 },
	{ S("\"\xc3\xa9t\xc3\xa9\"@example.com"), 0,
	    "\"\xc3\xa9t\xc3\xa9\"@example.com", 0, 0 },
	{ S("a\xff@example.com"), 0, EP(RFC5322_ADDR_SYNTAX, 1) },
	{ S("\xff <a@example.com>"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("(\xc3) a@example.com"), 0, EP(RFC5322_ADDR_SYNTAX, 1) },
	/* Encoded words are just atoms of a display name. */
	{ S("=?UTF-8?Q?J=C3=B6rg?= <j@example.com>"), 0, "j@example.com", 0, 0 },
	{ S("=?ISO-8859-1?B?SvZyZw==?= <j@example.com>, b@c.example"), 0,
	    "j@example.com|b@c.example", 0, 0 },
	/* obs-addr-list: empty elements. */
	{ S(""), 0, "", 0, 0 },
	{ S("   "), 0, "", 0, 0 },
	{ S(",,"), 0, "", 0, 0 },
	{ S(", a@b.example ,, c@d.example ,"), 0, "a@b.example|c@d.example", 0, 0 },
	{ S("(only a comment)"), 0, "", 0, 0 },
	/* Limits: 64 octets of local part, 255 of domain. */
	{ S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@example.com"), 0,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@example.com", 0, 0 },
	{ S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@example.com"), 0, EP(RFC5322_ADDR_TOOLONG, 0) },
	{ S("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""
	    "@example.com"), 0,
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\""
	    "@example.com", 0, 0 },
	{ S("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\"\""
	    "@example.com"), 0, EP(RFC5322_ADDR_TOOLONG, 0) },
	{ S("x <a@"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>"),
	    0, "a@"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0, 0 },
	{ S("x <a@"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "a>"), 0, EP(RFC5322_ADDR_TOOLONG, 3) },
	/* Syntax errors, strict. */
	{ S("a@"), 0, EP(RFC5322_ADDR_SYNTAX, 2) },
	{ S("@b.example"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("a@b.example."), 0, EP(RFC5322_ADDR_SYNTAX, 12) },
	{ S("a@.b.example"), 0, EP(RFC5322_ADDR_SYNTAX, 2) },
	{ S("a@b..example"), 0, EP(RFC5322_ADDR_SYNTAX, 4) },
	{ S("a@b@c.example"), 0, EP(RFC5322_ADDR_SYNTAX, 3) },
	{ S("a b@c.example"), 0, EP(RFC5322_ADDR_SYNTAX, 2) },
	{ S("root"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("john..doe@example.com"), 0, EP(RFC5322_ADDR_SYNTAX, 5) },
	{ S(".john@example.com"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("john.@example.com"), 0, EP(RFC5322_ADDR_SYNTAX, 5) },
	{ S("<a@b.example"), 0, EP(RFC5322_ADDR_SYNTAX, 12) },
	{ S("a@b.example>"), 0, EP(RFC5322_ADDR_SYNTAX, 11) },
	{ S("<>"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("Name <>"), 0, EP(RFC5322_ADDR_SYNTAX, 5) },
	{ S("<<a@b.example>>"), 0, E(RFC5322_ADDR_SYNTAX) },
	{ S("a@b.example c@d.example"), 0, EP(RFC5322_ADDR_SYNTAX, 12) },
	{ S("a@b.example; c@d.example"), 0, EP(RFC5322_ADDR_SYNTAX, 11) },
	{ S("a@b.example <c@d.example>"), 0, EP(RFC5322_ADDR_SYNTAX, 12) },
	{ S("<a@b.example> x"), 0, EP(RFC5322_ADDR_SYNTAX, 14) },
	{ S("team: a@b.example"), 0, EP(RFC5322_ADDR_SYNTAX, 17) },
	{ S("a: b: c@d.example;;"), 0, EP(RFC5322_ADDR_SYNTAX, 4) },
	{ S(": a@b.example;"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("\"unterminated <a@b.example>"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("(unterminated a@b.example"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("((nested) a@b.example"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("a@b.example)"), 0, EP(RFC5322_ADDR_SYNTAX, 11) },
	{ S("\"a\\"), 0, E(RFC5322_ADDR_SYNTAX) },
	{ S("\"a\\\r\n b\"@c.example"), 0, EP(RFC5322_ADDR_SYNTAX, 3) },
	{ S("a\0b@c.example"), 0, EP(RFC5322_ADDR_SYNTAX, 1) },
	{ S("(a\0b) c@d.example"), 0, EP(RFC5322_ADDR_SYNTAX, 2) },
	{ S("\"a\0b\"@c.example"), 0, EP(RFC5322_ADDR_SYNTAX, 2) },
	{ S("Name\x01 <a@b.example>"), 0, EP(RFC5322_ADDR_SYNTAX, 4) },
	{ S("Mr. X [work] <x@y.example>"), 0, E(RFC5322_ADDR_SYNTAX) },
	{ S("a\"b\"@c.example"), 0, EP(RFC5322_ADDR_SYNTAX, 1) },
	{ S(". <a@b.example>"), 0, EP(RFC5322_ADDR_SYNTAX, 0) },
	/* Lenient: what real mail programs write. */
	{ S("a@b.example <c@d.example>"), L, "c@d.example", 0, 0 },
	{ S("a@b.example <c@d.example>, e@f.example"), L,
	    "c@d.example|e@f.example", 0, 0 },
	{ S("Mr. X [work] <x@y.example>"), L, "x@y.example", 0, 0 },
	{ S("Name\x01\xff <a@b.example>"), L, "a@b.example", 0, 0 },
	{ S("\"Latin-1 \xe9\" <a@b.example>"), L, "a@b.example", 0, 0 },
	{ S("(\xe9) a@b.example"), L, "a@b.example", 0, 0 },
	{ S("john..doe@example.com"), L, "\"john..doe\"@example.com", 0, 0 },
	{ S(".john@example.com"), L, "\".john\"@example.com", 0, 0 },
	{ S("john.@example.com"), L, "\"john.\"@example.com", 0, 0 },
	{ S("<john..doe@example.com>"), L, "\"john..doe\"@example.com", 0, 0 },
	{ S("team: a@b.example, c@d.example"), L, "a@b.example|c@d.example", 0, 0 },
	{ S("Re: foo <a@b.example>"), L, "a@b.example", 0, 0 },
	{ S("a@b.example; c@d.example;"), L, "a@b.example|c@d.example", 0, 0 },
	{ S("team: a@b.example; c@d.example"), L, "a@b.example|c@d.example", 0, 0 },
	{ S("a: b: c <c@d.example>;;"), L, "c@d.example", 0, 0 },
	{ S("a@b.example c@d.example"), L, EP(RFC5322_ADDR_SYNTAX, 12) },
	{ S("\"unterminated <a@b.example>"), L, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("Name <a@b.example> junk"), L, EP(RFC5322_ADDR_SYNTAX, 19) },
	{ S("a\xff@example.com"), L, E(RFC5322_ADDR_NOTSMTP) },
	{ S("x <\"\xe9\"@example.com>"), L, E(RFC5322_ADDR_NOTSMTP) },
	{ S("root"), L, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("Doe, John <jd@example.com>"), L, EP(RFC5322_ADDR_SYNTAX, 0) },
	/* Bare local parts: the caller adds the domain. */
	{ S("root"), BL, "root", 0, 0 },
	{ S("root, admin@example.com, \"x y\""), BL,
	    "root|admin@example.com|\"x y\"", 0, 0 },
	{ S("first.last (comment)"), BL, "first.last", 0, 0 },
	{ S("team: root, a@b.example;"), BL, "root|a@b.example", 0, 0 },
	{ S("Full Name"), BL, EP(RFC5322_ADDR_SYNTAX, 5) },
	{ S("."), BL, EP(RFC5322_ADDR_SYNTAX, 0) },
	{ S("a..b"), BL | L, "\"a..b\"", 0, 0 },
};
/* clang-format on */

struct test_rfc5322_addr_out {
	struct buf joined;
	struct rfc5322_addr last;
	size_t count;
};

static int
test_rfc5322_addr_collect(const struct rfc5322_addr *a, void *arg)
{
	struct test_rfc5322_addr_out *o = arg;

	assert_int_equal(strlen(a->addr), a->len);
	assert_true(a->local_len <= RFC5322_ADDR_LOCAL_MAX);
	assert_true(a->local_len <= a->len);
	if (a->no_domain) {
		assert_int_equal(a->local_len, a->len);
	} else {
		assert_true(a->addr[a->local_len] == '@');
		assert_true(
		    a->len - a->local_len - 1 <= RFC5322_ADDR_DOMAIN_MAX);
	}
	assert_int_equal(a->quoted, a->addr[0] == '"');
	if (o->count > 0)
		assert_int_equal(buf_putc(&o->joined, '|'), 0);
	assert_int_equal(buf_puts(&o->joined, a->addr), 0);
	o->last = *a;
	o->count++;
	return 0;
}

/* Parses in from an exact-size heap copy. */
static int
test_rfc5322_addr_run(const char *in, size_t n, unsigned flags,
    struct test_rfc5322_addr_out *o, struct rfc5322_addr_error *err)
{
	char *copy = malloc(n ? n : 1);
	int r;

	assert_non_null(copy);
	if (n > 0)
		memcpy(copy, in, n);
	buf_init(&o->joined, 1 << 20);
	o->count = 0;
	r = rfc5322_addr_parse(
	    span_make(copy, n), flags, test_rfc5322_addr_collect, o, err);
	free(copy);
	return r;
}

/* Every canonical address parses, strictly, to itself. */
static int
test_rfc5322_addr_fixpoint(const struct rfc5322_addr *a, void *arg)
{
	struct test_rfc5322_addr_out again;
	int r;

	(void)arg;
	r = test_rfc5322_addr_run(a->addr, a->len,
	    a->no_domain ? RFC5322_ADDR_F_BARE_LOCAL : 0, &again, NULL);
	if (r != 0 || strcmp(buf_str(&again.joined), a->addr) != 0) {
		print_error("not a fixed point: %s -> %d %s\n", a->addr, r,
		    buf_str(&again.joined));
		fail();
	}
	buf_clear(&again.joined);
	return 0;
}

static void
test_rfc5322_addr_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(test_rfc5322_addr_cases) /
			    sizeof(test_rfc5322_addr_cases[0]);
	     i++) {
		const struct test_rfc5322_addr_case *c =
		    &test_rfc5322_addr_cases[i];
		struct test_rfc5322_addr_out o;
		struct rfc5322_addr_error err;
		int r = test_rfc5322_addr_run(c->in, c->n, c->flags, &o, &err);

		if (c->want != NULL) {
			if (r != 0 ||
			    strcmp(buf_str(&o.joined), c->want) != 0) {
				print_error("case %zu \"%s\": got %d (%s at "
					    "%zu) \"%s\", want \"%s\"\n",
				    i, c->in, r, err.why ? err.why : "",
				    err.pos, buf_str(&o.joined), c->want);
				fail();
			}
			r = rfc5322_addr_parse(span_make(c->in, c->n), c->flags,
			    test_rfc5322_addr_fixpoint, NULL, NULL);
			assert_int_equal(r, 0);
		} else if (r != c->err || (c->err_pos != (size_t)-1 &&
					      err.pos != c->err_pos)) {
			print_error("case %zu \"%s\": got %d (%s at %zu), want "
				    "%d at %zd\n",
			    i, c->in, r, err.why ? err.why : "", err.pos,
			    c->err, (ssize_t)c->err_pos);
			fail();
		} else {
			assert_non_null(err.why);
			assert_true(err.pos <= c->n);
		}
		buf_clear(&o.joined);
	}
}

/* The flags of one address. */
static void
test_rfc5322_addr_flags(void **state)
{
	struct test_rfc5322_addr_out o;

	(void)state;
	assert_int_equal(
	    test_rfc5322_addr_run(S("a@[192.0.2.1]"), 0, &o, NULL), 0);
	assert_true(o.last.literal);
	assert_false(o.last.utf8);
	assert_false(o.last.quoted);
	assert_false(o.last.in_group);
	assert_int_equal(o.last.local_len, 1);
	buf_clear(&o.joined);

	assert_int_equal(test_rfc5322_addr_run(
			     S("g: \"x y\"@b\xc3\xa9.example;"), 0, &o, NULL),
	    0);
	assert_true(o.last.quoted);
	assert_true(o.last.utf8);
	assert_true(o.last.in_group);
	assert_false(o.last.literal);
	assert_int_equal(o.last.local_len, 5);
	buf_clear(&o.joined);

	assert_int_equal(test_rfc5322_addr_run(
			     S("g: a@b.example;, c@d.example"), 0, &o, NULL),
	    0);
	assert_false(o.last.in_group);
	buf_clear(&o.joined);

	assert_int_equal(
	    test_rfc5322_addr_run(S("r\xc3\xa9sum\xc3\xa9"), BL, &o, NULL), 0);
	assert_true(o.last.no_domain);
	assert_true(o.last.utf8);
	buf_clear(&o.joined);
}

static int
test_rfc5322_addr_stop_second(const struct rfc5322_addr *a, void *arg)
{
	size_t *n = arg;

	(void)a;
	return ++*n == 2;
}

/* The callback stops the parse; err says where. */
static void
test_rfc5322_addr_stop(void **state)
{
	struct rfc5322_addr_error err;
	size_t n = 0;
	int r;

	(void)state;
	r = rfc5322_addr_parse(span_cstr("a@b.example, c@d.example, e@f"), 0,
	    test_rfc5322_addr_stop_second, &n, &err);
	assert_int_equal(r, RFC5322_ADDR_STOPPED);
	assert_int_equal(n, 2);
	assert_int_equal(err.pos, 24);
	assert_string_equal(rfc5322_addr_strerror(r), "stopped");
	/* Addresses before an error have been seen; the error is reported. */
	n = 0;
	r = rfc5322_addr_parse(span_cstr("a@b.example, c@@d"), 0,
	    test_rfc5322_addr_stop_second, &n, &err);
	assert_int_equal(r, RFC5322_ADDR_SYNTAX);
	assert_int_equal(n, 1);
	/* NULL input with length 0, and a NULL err. */
	r = rfc5322_addr_parse(
	    span_make(NULL, 0), 0, test_rfc5322_addr_stop_second, &n, NULL);
	assert_int_equal(r, 0);
	assert_string_equal(rfc5322_addr_strerror(RFC5322_ADDR_SYNTAX),
	    "syntax error in address list");
	assert_string_equal(rfc5322_addr_strerror(12345), "unknown error");
}

/* Long inputs: deep comments, many addresses, long junk; linear time. */
static void
test_rfc5322_addr_big(void **state)
{
	struct test_rfc5322_addr_out o;
	struct buf in;
	size_t i;

	(void)state;
	buf_init(&in, 1 << 24);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_putc(&in, '('), 0);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_putc(&in, ')'), 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_puts(&in, "x@y.example,\r\n "), 0);
	assert_int_equal(buf_puts(&in, "team:"), 0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_puts(&in, "Name . . <z@w.example>,"), 0);
	assert_int_equal(buf_puts(&in, ";"), 0);
	assert_int_equal(
	    test_rfc5322_addr_run(in.data, in.len, 0, &o, NULL), 0);
	assert_int_equal(o.count, 20000);
	buf_clear(&o.joined);
	/* A huge lenient display name before '<' is read twice, no more. */
	buf_reset(&in);
	for (i = 0; i < 200000; i++)
		assert_int_equal(buf_puts(&in, "a@b "), 0);
	assert_int_equal(buf_puts(&in, "<c@d.example>"), 0);
	assert_int_equal(
	    test_rfc5322_addr_run(in.data, in.len, L, &o, NULL), 0);
	assert_string_equal(buf_str(&o.joined), "c@d.example");
	buf_clear(&o.joined);
	buf_clear(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc5322_addr_table),
	    cmocka_unit_test(test_rfc5322_addr_flags),
	    cmocka_unit_test(test_rfc5322_addr_stop),
	    cmocka_unit_test(test_rfc5322_addr_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
