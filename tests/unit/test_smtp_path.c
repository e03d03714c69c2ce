/*
 * test_smtp_path: table-driven tests for proto/smtp_path (RFC 5321 paths).
 * Every input is copied into a heap buffer of exactly its length (no NUL
 * after it), so ASan reports any read past the span. Each case is also fed
 * as every one of its strict prefixes, the non-incremental version of the
 * "split at every byte" rule in STYLE.md: the parser must stay inside the
 * span and never report success with an inconsistent result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_path.h"

#define IN(s) s, sizeof(s) - 1

#define N SMTP_PATH_F_NULL
#define U SMTP_PATH_F_UTF8
#define P SMTP_PATH_F_POSTMASTER

/* Result bits. */
#define R_NULL    0x1
#define R_UTF8    0x2
#define R_QUOTED  0x4
#define R_LITERAL 0x8

#define OK   SMTP_PATH_OK
#define SYN  SMTP_PATH_SYNTAX
#define LONG SMTP_PATH_TOOLONG
#define NEED SMTP_PATH_NEEDUTF8

struct path_case {
	const char *in;
	size_t n;
	unsigned flags;
	int rc;
	const char *local;  /* checked when rc == OK */
	const char *domain; /* checked when rc == OK */
	unsigned bits;      /* R_*, checked when rc == OK */
	const char *rest;   /* NULL: "" */
};

static const struct path_case path_cases[] = {
    /* plain */
    {IN("<user@example.com>"), 0, OK, "user", "example.com", 0, NULL},
    {IN("<User.Name@Example.COM>"), 0, OK, "User.Name", "example.com", 0, NULL},
    {IN("<a@b>"), 0, OK, "a", "b", 0, NULL},
    {IN("<a.b.c@d.e.f>"), 0, OK, "a.b.c", "d.e.f", 0, NULL},
    {IN("<!#$%&'*+-/=?^_`{|}~@x>"), 0, OK, "!#$%&'*+-/=?^_`{|}~", "x", 0, NULL},
    {IN("<a@x-y.z>"), 0, OK, "a", "x-y.z", 0, NULL},
    {IN("<a@123.45>"), 0, OK, "a", "123.45", 0, NULL},
    {IN("<a@1.2.3.4>"), 0, OK, "a", "1.2.3.4", 0, NULL},
    {IN("<a@xn--bcher-kva.example>"), 0, OK, "a", "xn--bcher-kva.example", 0,
	NULL},
    {IN("<a@A-1.B2>"), 0, OK, "a", "a-1.b2", 0, NULL},
    /* rest */
    {IN("<a@b> SIZE=10"), 0, OK, "a", "b", 0, " SIZE=10"},
    {IN("<a@b>x"), 0, OK, "a", "b", 0, "x"},
    {IN("<a@b>>"), 0, OK, "a", "b", 0, ">"},
    {IN("<a@b>\0"), 0, OK, "a", "b", 0, NULL}, /* rest checked below */
    /* null path */
    {IN("<>"), N, OK, "", "", R_NULL, NULL},
    {IN("<> SIZE=1"), N, OK, "", "", R_NULL, " SIZE=1"},
    {IN("<>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<>"), P | U, SYN, NULL, NULL, 0, NULL},
    {IN("< >"), N, SYN, NULL, NULL, 0, NULL},
    {IN("<@a:>"), N, SYN, NULL, NULL, 0, NULL},
    /* shape */
    {IN(""), N, SYN, NULL, NULL, 0, NULL},
    {IN("<"), N, SYN, NULL, NULL, 0, NULL},
    {IN(">"), N, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("a@b"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("a@b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN(" <a@b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b >"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("< a@b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a @b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@ b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a b@c>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b@c>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<<a@b>>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b"), U | P | N, SYN, NULL, NULL, 0, NULL},
    /* dots */
    {IN("<.a@b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a.@b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a..b@c>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<.@b>"), 0, SYN, NULL, NULL, 0, NULL},
    /* specials and controls outside quotes */
    {IN("<a(b)@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a,b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a[b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a;b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a:b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a\\b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a\"b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a\tb@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a\x01@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a\x7f@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a\rb@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a\nb@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b\r\n>"), 0, SYN, NULL, NULL, 0, NULL},
    /* NUL inside the span */
    {IN("<a\0b@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<ab@x\0y>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\0b\"@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\0>"), N, SYN, NULL, NULL, 0, NULL},
    {IN("\0<a@b>"), 0, SYN, NULL, NULL, 0, NULL},
    /* domains */
    {IN("<a@-b.com>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b-.com>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b.-c>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b..com>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@.b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b.>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@.>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b_c.com>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b%c>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b!c>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@b:c>"), 0, SYN, NULL, NULL, 0, NULL},
    /* relay tricks: routing must only ever see the domain */
    {IN("<user%other@local>"), 0, OK, "user%other", "local", 0, NULL},
    {IN("<user%other%third@local>"), 0, OK, "user%other%third", "local", 0,
	NULL},
    {IN("<\"user@other\"@local>"), 0, OK, "user@other", "local", R_QUOTED,
	NULL},
    {IN("<other!user@local>"), 0, OK, "other!user", "local", 0, NULL},
    {IN("<a!b!user@local>"), 0, OK, "a!b!user", "local", 0, NULL},
    {IN("<@local:user@other>"), 0, OK, "user", "other", 0, NULL},
    {IN("<@a,@b:user@c>"), 0, OK, "user", "c", 0, NULL},
    {IN("<@a.example,@b.example,@C.EXAMPLE:u@D.example>"), 0, OK, "u",
	"d.example", 0, NULL},
    {IN("<@local:user%other@local2>"), 0, OK, "user%other", "local2", 0, NULL},
    {IN("<@local:\"user@other\"@x>"), 0, OK, "user@other", "x", R_QUOTED, NULL},
    {IN("<\"@local:user@other\"@x>"), 0, OK, "@local:user@other", "x", R_QUOTED,
	NULL},
    {IN("<\"user%other@x\"@local>"), 0, OK, "user%other@x", "local", R_QUOTED,
	NULL},
    {IN("<\"other!user\"@local>"), 0, OK, "other!user", "local", R_QUOTED,
	NULL},
    {IN("<user@other@local>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<user@other%local>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@local:@other:u@x>"), 0, SYN, NULL, NULL, 0, NULL},
    /* malformed source routes */
    {IN("<@:a@b>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a:>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a,b:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a,:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a,,@b:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a;c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a: c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a-:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@a..b:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@[192.0.2.1]:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<@@a:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a,@b:c@d>"), 0, SYN, NULL, NULL, 0, NULL},
    /* quoted strings */
    {IN("<\"a b\"@x>"), 0, OK, "a b", "x", R_QUOTED, NULL},
    {IN("<\"a\\\"b\"@x>"), 0, OK, "a\"b", "x", R_QUOTED, NULL},
    {IN("<\"\\\"\"@x>"), 0, OK, "\"", "x", R_QUOTED, NULL},
    {IN("<\"a\\\\b\"@x>"), 0, OK, "a\\b", "x", R_QUOTED, NULL},
    {IN("<\"\\a\"@x>"), 0, OK, "a", "x", R_QUOTED, NULL},
    {IN("<\"\\ \"@x>"), 0, OK, " ", "x", R_QUOTED, NULL},
    {IN("<\" \"@x>"), 0, OK, " ", "x", R_QUOTED, NULL},
    {IN("<\"a.\"@x>"), 0, OK, "a.", "x", R_QUOTED, NULL},
    {IN("<\"plain\"@x>"), 0, OK, "plain", "x", R_QUOTED, NULL},
    {IN("<\"(),:;<>[]@\"@x>"), 0, OK, "(),:;<>[]@", "x", R_QUOTED, NULL},
    {IN("<\"\\\\\\\"\"@x>"), 0, OK, "\\\"", "x", R_QUOTED, NULL},
    {IN("<\"\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\"b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\".b@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a.\"b\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\\\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\\"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\tb\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\\\tb\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\\\x7f\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\x7f\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\r\nb\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\\\r\"@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"a\"@>"), 0, SYN, NULL, NULL, 0, NULL},
    /* Postmaster */
    {IN("<Postmaster>"), P, OK, "Postmaster", "", 0, NULL},
    {IN("<pOSTMASTER>"), P, OK, "pOSTMASTER", "", 0, NULL},
    {IN("<postmaster> NOTIFY=NEVER"), P, OK, "postmaster", "", 0,
	" NOTIFY=NEVER"},
    {IN("<Postmaster>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<Postmaster>"), N | U, SYN, NULL, NULL, 0, NULL},
    {IN("<Postmaster@Example.COM>"), 0, OK, "Postmaster", "example.com", 0,
	NULL},
    {IN("<Postmasterx>"), P, SYN, NULL, NULL, 0, NULL},
    {IN("<Postmaste>"), P, SYN, NULL, NULL, 0, NULL},
    {IN("<Postmaster"), P, SYN, NULL, NULL, 0, NULL},
    {IN("<\"Postmaster\">"), P, SYN, NULL, NULL, 0, NULL},
    {IN("<@a:Postmaster>"), P, SYN, NULL, NULL, 0, NULL},
    {IN("< Postmaster>"), P, SYN, NULL, NULL, 0, NULL},
    /* IPv4 literals */
    {IN("<a@[192.0.2.1]>"), 0, OK, "a", "[192.0.2.1]", R_LITERAL, NULL},
    {IN("<a@[0.0.0.0]>"), 0, OK, "a", "[0.0.0.0]", R_LITERAL, NULL},
    {IN("<a@[255.255.255.255]>"), 0, OK, "a", "[255.255.255.255]", R_LITERAL,
	NULL},
    {IN("<a@[256.1.1.1]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.4.5]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[01.2.3.4]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.004]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1234.1.1.1]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.4 ]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1..2.3]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[.1.2.3]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[-1.2.3.4]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.4>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.4]x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.4].x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@x.[1.2.3.4]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[[1.2.3.4]]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.4\0]>"), 0, SYN, NULL, NULL, 0, NULL},
    /* IPv6 literals */
    {IN("<a@[IPv6:2001:DB8::1]>"), 0, OK, "a", "[ipv6:2001:db8::1]", R_LITERAL,
	NULL},
    {IN("<a@[ipv6:::1]>"), 0, OK, "a", "[ipv6:::1]", R_LITERAL, NULL},
    {IN("<a@[IPV6:::]>"), 0, OK, "a", "[ipv6:::]", R_LITERAL, NULL},
    {IN("<a@[IPv6:::ffff:192.0.2.1]>"), 0, OK, "a", "[ipv6:::ffff:192.0.2.1]",
	R_LITERAL, NULL},
    {IN("<a@[IPv6:1:2:3:4:5:6:7:8]>"), 0, OK, "a", "[ipv6:1:2:3:4:5:6:7:8]",
	R_LITERAL, NULL},
    {IN("<a@[IPv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]>"), 0, OK, "a",
	"[ipv6:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]", R_LITERAL,
	NULL},
    {IN("<a@[IPv6:1:2:3:4:5:6:7:8:9]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6:]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6:gg::1]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6:1::2::3]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6:12345::1]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6:fe80::1%eth0]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6:192.0.2.1]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6: ::1]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0]>"), 0, SYN, NULL,
	NULL, 0, NULL},
    {IN("<a@[2001:db8::1]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[x-tag:content]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[IPv4:1.2.3.4]>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<a@IPv6:::1>"), 0, SYN, NULL, NULL, 0, NULL},
    /* UTF-8 (RFC 6531): local part, domain, quoted string */
    {IN("<j\xc3\xb6rg@example.com>"), 0, NEED, NULL, NULL, 0, NULL},
    {IN("<j\xc3\xb6rg@example.com>"), U, OK, "j\xc3\xb6rg", "example.com",
	R_UTF8, NULL},
    {IN("<a@b\xc3\xbc"
	"cher.de>"),
	0, NEED, NULL, NULL, 0, NULL},
    {IN("<a@b\xc3\xbc"
	"cher.de>"),
	U, OK, "a",
	"b\xc3\xbc"
	"cher.de",
	R_UTF8, NULL},
    {IN("<A@B\xc3\x9c"
	"CHER.DE>"),
	U, OK, "A",
	"b\xc3\x9c"
	"cher.de",
	R_UTF8, NULL},
    {IN("<\"j\xc3\xb6 rg\"@x>"), U, OK, "j\xc3\xb6 rg", "x", R_UTF8 | R_QUOTED,
	NULL},
    {IN("<\"j\xc3\xb6 rg\"@x>"), 0, NEED, NULL, NULL, 0, NULL},
    {IN("<\xf0\x9f\x98\x80@x>"), U, OK, "\xf0\x9f\x98\x80", "x", R_UTF8, NULL},
    {IN("<\xf4\x8f\xbf\xbf@x>"), U, OK, "\xf4\x8f\xbf\xbf", "x", R_UTF8, NULL},
    {IN("<\xef\xbf\xbf@x>"), U, OK, "\xef\xbf\xbf", "x", R_UTF8, NULL},
    {IN("<\xe0\xa0\x80@x>"), U, OK, "\xe0\xa0\x80", "x", R_UTF8, NULL},
    {IN("<\xed\x9f\xbf@x>"), U, OK, "\xed\x9f\xbf", "x", R_UTF8, NULL},
    {IN("<\xc2\x80@x>"), U, OK, "\xc2\x80", "x", R_UTF8, NULL},
    {IN("<a@\xe4\xbe\x8b\xe3\x81\x88.jp>"), U, OK, "a",
	"\xe4\xbe\x8b\xe3\x81\x88.jp", R_UTF8, NULL},
    {IN("<a@-\xc3\xbc.de>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a@\xc3\xbc-.de>"), U, SYN, NULL, NULL, 0, NULL},
    /* malformed UTF-8: syntax even without SMTPUTF8 (syntax wins) */
    {IN("<\xc0\xaf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xc1\xbf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xe0\x80\xaf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xe0\x9f\xbf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xf0\x80\x80\xaf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xf0\x8f\xbf\xbf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xed\xa0\x80@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xed\xbf\xbf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xf4\x90\x80\x80@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xf5\x80\x80\x80@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xf8\x88\x80\x80\x80@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\x80@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xbf@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xff@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xfe@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a\xc3@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a\xe2\x82@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a\xc3\xc3\xb6@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a@x\xc3>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a@x\xc3"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a\xf0\x9f\x98"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\xc0\xaf@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\xff@x>"), 0, SYN, NULL, NULL, 0, NULL},
    {IN("<\"\xed\xa0\x80\"@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<\"\\\xc3\xb6\"@x>"), U, SYN, NULL, NULL, 0, NULL},
    {IN("<a@[1.2.3.\xc3\xb6]>"), U, SYN, NULL, NULL, 0, NULL},
    /* UTF-8 only in the dropped source route */
    {IN("<@b\xc3\xbc.de:a@x>"), 0, NEED, NULL, NULL, 0, NULL},
    {IN("<@b\xc3\xbc.de:a@x>"), U, OK, "a", "x", 0, NULL},
};

/* Copies s into a heap buffer of exactly n bytes (a unique pointer if 0). */
static char *
dup_exact(const char *s, size_t n)
{
	char *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	if (n > 0)
		memcpy(p, s, n);
	return p;
}

/* Printable form of a test input for failure messages. */
static const char *
show(const char *s, size_t n)
{
	static char out[1024];
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < sizeof(out); i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 32 && c < 127 && c != '\\') {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}

/* Properties every successful parse must have, whatever the input. */
static void
check_invariants(
    const struct smtp_path *p, const char *buf, size_t n, struct span rest)
{
	size_t i, ln = strlen(p->local), dn = strlen(p->domain);

	assert_true(ln <= SMTP_LOCAL_MAX);
	assert_true(dn <= SMTP_DOMAIN_MAX);
	for (i = 0; i < ln; i++)
		assert_true(
		    (unsigned char)p->local[i] >= 32 && p->local[i] != 127);
	for (i = 0; i < dn; i++) {
		assert_false(p->domain[i] >= 'A' && p->domain[i] <= 'Z');
		assert_true(
		    (unsigned char)p->domain[i] > 32 && p->domain[i] != 127);
	}
	if (p->null)
		assert_true(ln == 0 && dn == 0);
	else
		assert_true(ln > 0);
	assert_true(rest.p >= buf && rest.p + rest.n == buf + n);
}

static void
run_prefixes(const char *in, size_t n, unsigned flags)
{
	size_t k;

	for (k = 0; k < n; k++) {
		char *buf = dup_exact(in, k);
		struct smtp_path p;
		struct span rest;

		if (smtp_path_parse(span_make(buf, k), flags, &p, &rest) ==
		    SMTP_PATH_OK)
			check_invariants(&p, buf, k, rest);
		free(buf);
	}
}

static void
test_path_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		char *buf = dup_exact(c->in, c->n);
		const char *want_rest = c->rest ? c->rest : "";
		struct smtp_path p;
		struct span rest;
		int rc;

		rc = smtp_path_parse(span_make(buf, c->n), c->flags, &p, &rest);
		if (rc != c->rc)
			fail_msg("case %zu <%s> flags %u: rc %d, want %d", i,
			    show(c->in, c->n), c->flags, rc, c->rc);
		if (rc == SMTP_PATH_OK) {
			unsigned bits = (p.null ? R_NULL : 0u) |
					(p.utf8 ? R_UTF8 : 0u) |
					(p.quoted ? R_QUOTED : 0u) |
					(p.literal ? R_LITERAL : 0u);
			if (strcmp(p.local, c->local) != 0 ||
			    strcmp(p.domain, c->domain) != 0 || bits != c->bits)
				fail_msg("case %zu <%s>: got local <%s> domain "
					 "<%s> bits %u",
				    i, show(c->in, c->n), p.local, p.domain,
				    bits);
			check_invariants(&p, buf, c->n, rest);
			/* "<a@b>\0" is the one case whose rest holds a NUL */
			if (c->n > 0 && c->in[c->n - 1] == '\0') {
				assert_int_equal(rest.n, 1);
				assert_int_equal(rest.p[0], '\0');
			} else {
				assert_int_equal(rest.n, strlen(want_rest));
				assert_memory_equal(rest.p, want_rest, rest.n);
			}
		} else {
			/* failure leaves a zeroed result and an empty rest */
			assert_false(p.null || p.utf8 || p.quoted || p.literal);
			assert_string_equal(p.local, "");
			assert_string_equal(p.domain, "");
			assert_int_equal(rest.n, 0);
		}
		free(buf);
		run_prefixes(c->in, c->n, c->flags);
	}
}

/* Fills dst with n copies of c, NUL-terminated. */
static char *
rep(char *dst, char c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
	return dst;
}

/* Fills dst with n copies of the string s, NUL-terminated. */
static char *
reps(char *dst, const char *s, size_t n)
{
	size_t i, k = strlen(s);

	for (i = 0; i < n; i++)
		memcpy(dst + i * k, s, k);
	dst[n * k] = '\0';
	return dst;
}

/* Parses a C string (copied to an exact buffer) and returns the code. */
static int
parse_str(const char *s, unsigned flags, struct smtp_path *p)
{
	size_t n = strlen(s);
	char *buf = dup_exact(s, n);
	struct span rest;
	int rc = smtp_path_parse(span_make(buf, n), flags, p, &rest);

	if (rc == SMTP_PATH_OK) {
		check_invariants(p, buf, n, rest);
		assert_int_equal(rest.n, 0);
	}
	free(buf);
	run_prefixes(s, n, flags);
	return rc;
}

/* Limits of RFC 5321 4.5.3.1, at the limit and one over. */
static void
test_path_limits(void **state)
{
	char a[600], b[600], in[1400], lab[4][70];
	struct smtp_path p;

	(void)state;
	/* local part: 64 octets */
	snprintf(in, sizeof(in), "<%s@x>", rep(a, 'l', 64));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_OK);
	assert_int_equal(strlen(p.local), 64);
	snprintf(in, sizeof(in), "<%s@x>", rep(a, 'l', 65));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	/* quoted: counted as received, quotes included */
	snprintf(in, sizeof(in), "<\"%s\"@x>", rep(a, 'q', 62));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_OK);
	assert_int_equal(strlen(p.local), 62);
	snprintf(in, sizeof(in), "<\"%s\"@x>", rep(a, 'q', 63));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	/* escapes count too: 31 pairs + 2 quotes = 64 */
	reps(a, "\\\"", 31);
	snprintf(in, sizeof(in), "<\"%s\"@x>", a);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_OK);
	assert_int_equal(strlen(p.local), 31);
	snprintf(in, sizeof(in), "<\"%s\\\\\"@x>", a);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	/* UTF-8 counts octets: 32 x U+00F6 = 64 octets */
	reps(a, "\xc3\xb6", 32);
	snprintf(in, sizeof(in), "<%s@x>", a);
	assert_int_equal(parse_str(in, SMTP_PATH_F_UTF8, &p), SMTP_PATH_OK);
	assert_true(p.utf8);
	/* without SMTPUTF8 it is NEEDUTF8, not TOOLONG */
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_NEEDUTF8);
	snprintf(in, sizeof(in), "<%s\xc3\xb6@x>", a);
	assert_int_equal(
	    parse_str(in, SMTP_PATH_F_UTF8, &p), SMTP_PATH_TOOLONG);
	/* too long wins over non-ASCII without SMTPUTF8 */
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	/* syntax wins over too long */
	snprintf(in, sizeof(in), "<%s@>", rep(a, 'l', 65));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_SYNTAX);
	snprintf(in, sizeof(in), "<%s@x", rep(a, 'l', 300));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_SYNTAX);

	/* label: 63 octets */
	snprintf(in, sizeof(in), "<a@%s.com>", rep(a, 'd', 63));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_OK);
	snprintf(in, sizeof(in), "<a@%s.com>", rep(a, 'd', 64));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	snprintf(in, sizeof(in), "<a@com.%s>", rep(a, 'd', 64));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	/* a long label in a source route counts as well */
	snprintf(in, sizeof(in), "<@%s:a@b>", rep(a, 'r', 64));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	snprintf(in, sizeof(in), "<@%s:a@b>", rep(a, 'r', 63));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_OK);

	/* path: 256 octets from '<' to '>' ("<" 1 "@" 252 ">") */
	rep(lab[0], 'a', 63);
	rep(lab[1], 'b', 63);
	rep(lab[2], 'c', 63);
	rep(lab[3], 'e', 60);
	snprintf(b, sizeof(b), "%s.%s.%s.%s", lab[0], lab[1], lab[2], lab[3]);
	assert_int_equal(strlen(b), 252);
	snprintf(in, sizeof(in), "<u@%s>", b);
	assert_int_equal(strlen(in), 256);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_OK);
	assert_string_equal(p.domain, b);
	snprintf(in, sizeof(in), "<uu@%s>", b);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	/* the path limit includes a source route */
	snprintf(in, sizeof(in), "<@r:u@%s>", b);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	/* 64-octet local part with the longest domain that fits */
	snprintf(
	    b, sizeof(b), "%s.%s.%s", lab[0], lab[1], rep(lab[2], 'c', 61));
	assert_int_equal(strlen(b), 189);
	snprintf(in, sizeof(in), "<%s@%s>", rep(a, 'l', 64), b);
	assert_int_equal(strlen(in), 256);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_OK);
	snprintf(in, sizeof(in), "<%s@%sx>", rep(a, 'l', 64), b);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);

	/* domain: 255 octets; over 255 is too long even with a short path */
	snprintf(b, sizeof(b), "%s.%s.%s.%s", lab[0], lab[1],
	    rep(lab[2], 'c', 63), rep(lab[3], 'e', 63));
	assert_int_equal(strlen(b), 255);
	snprintf(in, sizeof(in), "<a@%s>", b);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	snprintf(in, sizeof(in), "<a@%s.x>", b);
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
	snprintf(in, sizeof(in), "<%s@x>", rep(a, 'l', 500));
	assert_int_equal(parse_str(in, 0, &p), SMTP_PATH_TOOLONG);
}

struct cmd_case {
	bool rcpt;
	const char *in;
	size_t n;
	bool utf8;
	int rc;
	const char *local;
	const char *domain;
	bool null;
	const char *params;
};

static const struct cmd_case cmd_cases[] = {
    {false, IN("FROM:<a@b>"), false, OK, "a", "b", false, ""},
    {false, IN("from:<a@B>"), false, OK, "a", "b", false, ""},
    {false, IN("FrOm:<a@b>"), false, OK, "a", "b", false, ""},
    {false, IN("FROM: <a@b>"), false, OK, "a", "b", false, ""},
    {false, IN("FROM:   <a@b>"), false, OK, "a", "b", false, ""},
    {false, IN("FROM:<a@b> SIZE=1"), false, OK, "a", "b", false, "SIZE=1"},
    {false, IN("FROM:<a@b>   SIZE=1 BODY=8BITMIME"), false, OK, "a", "b", false,
	"SIZE=1 BODY=8BITMIME"},
    {false, IN("FROM:<a@b>  "), false, OK, "a", "b", false, ""},
    {false, IN("FROM:<a@b> SIZE=1 "), false, OK, "a", "b", false, "SIZE=1 "},
    {false, IN("FROM:<>"), false, OK, "", "", true, ""},
    {false, IN("FROM:<> SIZE=0"), false, OK, "", "", true, "SIZE=0"},
    {false, IN("FROM:<>SIZE=0"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:<a@b>SIZE=1"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:<a@b>\t"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:<a@b>\0"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:<a@b>>"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM :<a@b>"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM<a@b>"), false, SYN, NULL, NULL, false, ""},
    {false, IN(" FROM:<a@b>"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:a@b"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:\t<a@b>"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM"), false, SYN, NULL, NULL, false, ""},
    {false, IN(""), false, SYN, NULL, NULL, false, ""},
    {false, IN("TO:<a@b>"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:<Postmaster>"), false, SYN, NULL, NULL, false, ""},
    {false, IN("FROM:<@relay:u@x>"), false, OK, "u", "x", false, ""},
    {false, IN("FROM:<j\xc3\xb6rg@x> SMTPUTF8"), false, NEED, NULL, NULL, false,
	""},
    {false, IN("FROM:<j\xc3\xb6rg@x> SMTPUTF8"), true, OK, "j\xc3\xb6rg", "x",
	false, "SMTPUTF8"},
    {true, IN("TO:<a@b>"), false, OK, "a", "b", false, ""},
    {true, IN("to:<a@b>"), false, OK, "a", "b", false, ""},
    {true, IN("To: <a@b> NOTIFY=NEVER"), false, OK, "a", "b", false,
	"NOTIFY=NEVER"},
    {true, IN("TO:<Postmaster>"), false, OK, "Postmaster", "", false, ""},
    {true, IN("TO:<postmaster> NOTIFY=NEVER"), false, OK, "postmaster", "",
	false, "NOTIFY=NEVER"},
    {true, IN("TO:<postmaster>x"), false, SYN, NULL, NULL, false, ""},
    {true, IN("TO:<>"), false, SYN, NULL, NULL, false, ""},
    {true, IN("FROM:<a@b>"), false, SYN, NULL, NULL, false, ""},
    {true, IN("TO :<a@b>"), false, SYN, NULL, NULL, false, ""},
    {true, IN("TO:<@relay:user%other@x>"), false, OK, "user%other", "x", false,
	""},
    {true, IN("TO:<\xc3\xbc@x>"), false, NEED, NULL, NULL, false, ""},
    {true, IN("TO:<\xc3\xbc@x>"), true, OK, "\xc3\xbc", "x", false, ""},
    {true, IN("TO:<a@b>\0"), false, SYN, NULL, NULL, false, ""},
    {true, IN("TO:<a@b> \0"), false, OK, "a", "b", false, "\0"},
};

static int
run_cmd(bool rcpt, const char *buf, size_t n, bool utf8, struct smtp_path *p,
    struct span *params)
{
	struct span s = span_make(buf, n);

	return rcpt ? smtp_path_parse_rcpt(s, utf8, p, params)
		    : smtp_path_parse_mail(s, utf8, p, params);
}

static void
test_path_cmd_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		char *buf = dup_exact(c->in, c->n);
		struct smtp_path p;
		struct span params;
		int rc = run_cmd(c->rcpt, buf, c->n, c->utf8, &p, &params);

		if (rc != c->rc)
			fail_msg("case %zu %s <%s>: rc %d, want %d", i,
			    c->rcpt ? "RCPT" : "MAIL", show(c->in, c->n), rc,
			    c->rc);
		if (rc == SMTP_PATH_OK) {
			size_t pn = c->params[0] == '\0' && c->n > 0 &&
					    c->in[c->n - 1] == '\0'
					? 1
					: strlen(c->params);
			assert_string_equal(p.local, c->local);
			assert_string_equal(p.domain, c->domain);
			assert_int_equal(p.null, c->null);
			assert_int_equal(params.n, pn);
			assert_memory_equal(params.p, c->params, pn);
			assert_true(params.p + params.n == buf + c->n);
		} else {
			assert_int_equal(params.n, 0);
			assert_string_equal(p.local, "");
		}
		free(buf);
		for (k = 0; k < c->n; k++) {
			char *pb = dup_exact(c->in, k);
			(void)run_cmd(c->rcpt, pb, k, c->utf8, &p, &params);
			free(pb);
		}
	}
}

struct fmt_case {
	struct smtp_path p;
	const char *out;
};

static const struct fmt_case fmt_cases[] = {
    {{.null = true}, ""},
    {{.local = "a", .domain = "b"}, "a@b"},
    {{.local = "user%other", .domain = "local"}, "user%other@local"},
    {{.local = "other!user", .domain = "local"}, "other!user@local"},
    {{.local = "user@other", .domain = "local", .quoted = true},
	"\"user@other\"@local"},
    {{.local = "plain", .domain = "x", .quoted = true}, "plain@x"},
    {{.local = "a b", .domain = "x"}, "\"a b\"@x"},
    {{.local = "a\"b", .domain = "x"}, "\"a\\\"b\"@x"},
    {{.local = "a\\b", .domain = "x"}, "\"a\\\\b\"@x"},
    {{.local = "a.", .domain = "x"}, "\"a.\"@x"},
    {{.local = ".a", .domain = "x"}, "\".a\"@x"},
    {{.local = "a..b", .domain = "x"}, "\"a..b\"@x"},
    {{.local = "a.b", .domain = "x"}, "a.b@x"},
    {{.local = "(),:;<>[]", .domain = "x"}, "\"(),:;<>[]\"@x"},
    {{.local = "j\xc3\xb6rg", .domain = "b\xc3\xbc.de", .utf8 = true},
	"j\xc3\xb6rg@b\xc3\xbc.de"},
    {{.local = "Postmaster", .domain = ""}, "Postmaster"},
    {{.local = "a", .domain = "[ipv6:::1]", .literal = true}, "a@[ipv6:::1]"},
};

static void
test_path_format(void **state)
{
	char out[600];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(fmt_cases) / sizeof(fmt_cases[0]); i++) {
		const struct fmt_case *c = &fmt_cases[i];
		size_t need = strlen(c->out) + 1;
		char *small;

		assert_int_equal(smtp_path_format(&c->p, out, sizeof(out)), 0);
		assert_string_equal(out, c->out);
		/* exactly enough room, then one byte short */
		small = malloc(need);
		assert_non_null(small);
		assert_int_equal(smtp_path_format(&c->p, small, need), 0);
		assert_string_equal(small, c->out);
		if (need > 1) {
			assert_int_equal(
			    smtp_path_format(&c->p, small, need - 1), -1);
			assert_string_equal(small, "");
		}
		free(small);
	}
	assert_int_equal(smtp_path_format(&fmt_cases[1].p, out, 0), -1);
}

/*
 * Every successful table case: format, wrap in "<>", parse again with the
 * same flags; the result must be the same address (quoted may differ:
 * "plain"@x comes back as plain@x).
 */
static void
test_path_roundtrip(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct smtp_path a, b;
		struct span rest;
		char out[600], wrapped[610];
		int n;

		if (c->rc != SMTP_PATH_OK)
			continue;
		assert_int_equal(smtp_path_parse(span_make(c->in, c->n),
				     c->flags, &a, &rest),
		    SMTP_PATH_OK);
		assert_int_equal(smtp_path_format(&a, out, sizeof(out)), 0);
		n = snprintf(wrapped, sizeof(wrapped), "<%s>", out);
		assert_true(n > 0 && (size_t)n < sizeof(wrapped));
		if (smtp_path_parse(span_make(wrapped, (size_t)n), c->flags, &b,
			&rest) != SMTP_PATH_OK)
			fail_msg(
			    "case %zu: %s does not parse again", i, wrapped);
		assert_int_equal(rest.n, 0);
		assert_int_equal(a.null, b.null);
		assert_int_equal(a.utf8, b.utf8);
		assert_int_equal(a.literal, b.literal);
		assert_string_equal(a.local, b.local);
		assert_string_equal(a.domain, b.domain);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_table),
	    cmocka_unit_test(test_path_limits),
	    cmocka_unit_test(test_path_cmd_table),
	    cmocka_unit_test(test_path_format),
	    cmocka_unit_test(test_path_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
