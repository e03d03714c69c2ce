/*
 * test_sasl: table-driven tests for proto/sasl (PLAIN and SCRAM-SHA-256
 * messages). The RFC 7677 example exchange is checked message by message.
 * Every parser input is copied into a heap buffer of exactly its length
 * (no NUL after it) so ASan reports reads past the span, and every case is
 * also parsed as each of its strict prefixes: the parser must stay inside
 * the span and any success must satisfy the invariants.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/base64.h"
#include "proto/sasl.h"

#define IN(s) s, sizeof(s) - 1

#define OK    SASL_OK
#define SYN   SASL_ERR_SYNTAX
#define CBT   SASL_ERR_CBIND_TYPE
#define MEXT  SASL_ERR_MEXT
#define NONE  SASL_SCRAM_CBIND_NONE
#define UNOFF SASL_SCRAM_CBIND_UNOFFERED
#define EXP   SASL_SCRAM_CBIND_TLS_EXPORTER

/* RFC 7677 3: user "user", password "pencil". */
#define RFC_CNONCE       "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE       "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST                                                       \
	"r=" RFC_CNONCE RFC_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define RFC_FINAL_NOPROOF "c=biws,r=" RFC_CNONCE RFC_SNONCE
#define RFC_PROOF64       "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_CLIENT_FINAL  RFC_FINAL_NOPROOF ",p=" RFC_PROOF64
#define RFC_SERVER_FINAL  "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const uint8_t rfc_proof[32] = {0x74, 0x7c, 0xdb, 0x65, 0xaa, 0x56, 0x22,
    0x4e, 0x23, 0x52, 0x13, 0x7e, 0x52, 0xd7, 0xbd, 0xca, 0xd6, 0xa0, 0xf7,
    0x38, 0xdf, 0x30, 0x78, 0x2c, 0xaa, 0x69, 0xa2, 0xcf, 0xb0, 0x27, 0x75,
    0x54};
static const uint8_t rfc_sig[32] = {0xea, 0xba, 0xe2, 0x4d, 0x10, 0x62, 0xdb,
    0x75, 0xa9, 0x45, 0x1f, 0xf0, 0xb6, 0xea, 0x7e, 0x98, 0xc8, 0x54, 0x65,
    0x49, 0xff, 0x74, 0x1e, 0x67, 0x2d, 0x32, 0x51, 0xb2, 0x39, 0x7d, 0xe4,
    0x6e};
static const uint8_t rfc_salt[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35,
    0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};

/* 32 bytes 0x01..0x20 of pretend tls-exporter data. */
static const uint8_t cbdata[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
    14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

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
			(void)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
	return out;
}

/* snprintf into an array that fails the test instead of truncating. */
#define MSGF(arr, ...)                                                         \
	do {                                                                   \
		int msgf_n = snprintf(arr, sizeof(arr), __VA_ARGS__);          \
		assert_true(msgf_n >= 0 && (size_t)msgf_n < sizeof(arr));      \
	} while (0)

static bool
span_is(struct span s, const char *lit)
{
	return s.n == strlen(lit) && (s.n == 0 || memcmp(s.p, lit, s.n) == 0);
}

static bool
span_inside(struct span s, const char *buf, size_t n)
{
	return s.p >= buf && s.n <= n && s.p + s.n <= buf + n;
}

/* A string of n copies of unit (at most 1024 bytes in all). */
static const char *
rep(const char *unit, size_t n)
{
	static char out[4][1100];
	static int slot;
	size_t u = strlen(unit), i;
	char *o = out[slot++ & 3];

	assert_true(u * n < sizeof(out[0]));
	for (i = 0; i < n; i++)
		memcpy(o + i * u, unit, u);
	o[u * n] = '\0';
	return o;
}

/* ---------------------------------------------------------------- PLAIN */

struct plain_case {
	const char *in;
	size_t n;
	int rc;
	const char *authzid, *authcid, *passwd; /* when rc == 0 */
};

static const struct plain_case plain_cases[] = {
    /* RFC 4616 4 examples */
    {IN("\0tim\0tanstaaftanstaaf"), 0, "", "tim", "tanstaaftanstaaf"},
    {IN("Ursel\0Kurt\0xipj3plmq"), 0, "Ursel", "Kurt", "xipj3plmq"},
    {IN("\0user\0pencil"), 0, "", "user", "pencil"},
    {IN("a\0b\0c"), 0, "a", "b", "c"},
    {IN("admin@example.test\0alice@example.test\0p w,=:"), 0,
	"admin@example.test", "alice@example.test", "p w,=:"},
    /* UTF-8 */
    {IN("\0j\xc3\xb6rg\0p\xc3\xa4ss\xe2\x82\xac\xf0\x9f\x98\x80"), 0, "",
	"j\xc3\xb6rg", "p\xc3\xa4ss\xe2\x82\xac\xf0\x9f\x98\x80"},
    /* controls: allowed in the password only */
    {IN("\0u\0p\tw\x01\x7f"), 0, "", "u", "p\tw\x01\x7f"},
    {IN("\0u\tx\0p"), -1, NULL, NULL, NULL},
    {IN("\0u\nx\0p"), -1, NULL, NULL, NULL},
    {IN("\0u\x7f\0p"), -1, NULL, NULL, NULL},
    {IN("a\rb\0u\0p"), -1, NULL, NULL, NULL},
    {IN("a\x1f\0u\0p"), -1, NULL, NULL, NULL},
    /* NUL count */
    {IN(""), -1, NULL, NULL, NULL},
    {IN("\0"), -1, NULL, NULL, NULL},
    {IN("\0\0"), -1, NULL, NULL, NULL},
    {IN("\0\0\0"), -1, NULL, NULL, NULL},
    {IN("user"), -1, NULL, NULL, NULL},
    {IN("user\0pencil"), -1, NULL, NULL, NULL},
    {IN("\0user\0pencil\0"), -1, NULL, NULL, NULL},
    {IN("\0a\0b\0c"), -1, NULL, NULL, NULL},
    {IN("\0\0user\0pencil"), -1, NULL, NULL, NULL},
    {IN("z\0u\0p\0\0"), -1, NULL, NULL, NULL},
    /* empty fields */
    {IN("\0user\0"), -1, NULL, NULL, NULL},
    {IN("\0\0pencil"), -1, NULL, NULL, NULL},
    {IN("z\0\0p"), -1, NULL, NULL, NULL},
    {IN("z\0u\0"), -1, NULL, NULL, NULL},
    /* malformed UTF-8 in each field */
    {IN("\xff\0u\0p"), -1, NULL, NULL, NULL},
    {IN("\0\xff\0p"), -1, NULL, NULL, NULL},
    {IN("\0u\0\xff"), -1, NULL, NULL, NULL},
    {IN("\0u\0p\xc3"), -1, NULL, NULL, NULL},
    {IN("\0u\xc3\0p"), -1, NULL, NULL, NULL},
    {IN("\0\xc0\x80\0p"), -1, NULL, NULL, NULL},         /* overlong NUL */
    {IN("\0u\0\xed\xa0\x80"), -1, NULL, NULL, NULL},     /* surrogate */
    {IN("\0u\0\xf4\x90\x80\x80"), -1, NULL, NULL, NULL}, /* > U+10FFFF */
    {IN("\0u\0\x80"), -1, NULL, NULL, NULL},
    {IN("\0u\0\xe2\x82"), -1, NULL, NULL, NULL},
};

static void
plain_check_invariants(
    const char *buf, size_t n, struct span z, struct span c, struct span p)
{
	assert_true(span_inside(z, buf, n) && span_inside(c, buf, n) &&
		    span_inside(p, buf, n));
	assert_true(z.p == buf);
	assert_true(c.n >= 1 && c.n <= SASL_NAME_MAX);
	assert_true(p.n >= 1 && p.n <= SASL_NAME_MAX);
	assert_true(z.n <= SASL_NAME_MAX);
	assert_true(z.n + 1 + c.n + 1 + p.n == n);
	assert_true(c.p == buf + z.n + 1 && p.p == c.p + c.n + 1);
	assert_null(memchr(z.p, 0, z.n));
	assert_null(memchr(c.p, 0, c.n));
	assert_null(memchr(p.p, 0, p.n));
}

static int
plain_run(const char *in, size_t n, struct span *z, struct span *c,
    struct span *p, char **bufp)
{
	char *buf = dup_exact(in, n);
	int rc = sasl_plain_parse((const uint8_t *)buf, n, z, c, p);

	if (rc == 0)
		plain_check_invariants(buf, n, *z, *c, *p);
	else
		assert_true(z->p == NULL && z->n == 0 && c->p == NULL &&
			    c->n == 0 && p->p == NULL && p->n == 0);
	*bufp = buf;
	return rc;
}

static void
test_plain_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(plain_cases) / sizeof(plain_cases[0]); i++) {
		const struct plain_case *tc = &plain_cases[i];
		struct span z, c, p;
		char *buf;
		int rc = plain_run(tc->in, tc->n, &z, &c, &p, &buf);

		if (rc != tc->rc)
			fail_msg("PLAIN \"%s\": rc %d, want %d",
			    show(tc->in, tc->n), rc, tc->rc);
		if (rc == 0) {
			assert_true(span_is(z, tc->authzid));
			assert_true(span_is(c, tc->authcid));
			assert_true(span_is(p, tc->passwd));
		}
		free(buf);
		for (k = 0; k < tc->n; k++) {
			plain_run(tc->in, k, &z, &c, &p, &buf);
			free(buf);
		}
	}
}

/* 255 octets per field are accepted, 256 are not. */
static void
test_plain_limits(void **state)
{
	static const size_t lens[][3] = {
	    {0, 255, 255},
	    {255, 255, 255},
	    {256, 1, 1},
	    {0, 256, 1},
	    {0, 1, 256},
	    {255, 1, 256},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char msg[800];
		size_t n = 0;
		struct span z, c, p;
		char *buf;
		int rc;

		memset(msg + n, 'z', lens[i][0]);
		n += lens[i][0];
		msg[n++] = '\0';
		memset(msg + n, 'c', lens[i][1]);
		n += lens[i][1];
		msg[n++] = '\0';
		memset(msg + n, 'p', lens[i][2]);
		n += lens[i][2];
		rc = plain_run(msg, n, &z, &c, &p, &buf);
		assert_int_equal(rc,
		    lens[i][0] <= 255 && lens[i][1] <= 255 && lens[i][2] <= 255
			? 0
			: -1);
		if (rc == 0)
			assert_true(z.n == lens[i][0] && c.n == lens[i][1] &&
				    p.n == lens[i][2]);
		free(buf);
	}
	/* a 255-octet name made of 2-octet characters is fine too */
	{
		char msg[600];
		size_t n = 0;
		struct span z, c, p;
		char *buf;

		msg[n++] = '\0';
		memcpy(msg + n, rep("\xc3\xa9", 127), 254);
		n += 254;
		msg[n++] = 'x';
		msg[n++] = '\0';
		msg[n++] = 'p';
		assert_int_equal(plain_run(msg, n, &z, &c, &p, &buf), 0);
		assert_int_equal(c.n, 255);
		free(buf);
	}
}

/* -------------------------------------------------- SCRAM client-first */

struct first_case {
	const char *in;
	size_t n;
	int rc;
	/* checked when rc == OK: */
	enum sasl_scram_cbind cbind;
	const char *authzid, *user, *cnonce, *gs2;
};

static const struct first_case first_cases[] = {
    /* RFC 7677 3 and RFC 5802 5 examples */
    {IN(RFC_CLIENT_FIRST), OK, NONE, "", "user", RFC_CNONCE, "n,,"},
    {IN("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), OK, NONE, "", "user",
	"fyko+d2lbbFgONRv9qkxdawL", "n,,"},
    /* channel binding flags */
    {IN("y,,n=user,r=abc"), OK, UNOFF, "", "user", "abc", "y,,"},
    {IN("p=tls-exporter,,n=user,r=abc"), OK, EXP, "", "user", "abc",
	"p=tls-exporter,,"},
    /* authzid */
    {IN("n,a=admin,n=user,r=abc"), OK, NONE, "admin", "user", "abc",
	"n,a=admin,"},
    {IN("p=tls-exporter,a=a@b.c,n=u,r=x"), OK, EXP, "a@b.c", "u", "x",
	"p=tls-exporter,a=a@b.c,"},
    /* escaped names */
    {IN("n,,n=a=2Cb=3Dc,r=x"), OK, NONE, "", "a,b=c", "x", "n,,"},
    {IN("n,,n==2C,r=x"), OK, NONE, "", ",", "x", "n,,"},
    {IN("n,,n==3D=3D,r=x"), OK, NONE, "", "==", "x", "n,,"},
    {IN("n,a==2Cx=3D,n=u,r=x"), OK, NONE, ",x=", "u", "x", "n,a==2Cx=3D,"},
    {IN("n,,n=user@example.test,r=x"), OK, NONE, "", "user@example.test", "x",
	"n,,"},
    {IN("n,,n=a b,r=x"), OK, NONE, "", "a b", "x", "n,,"},
    {IN("n,,n=j\xc3\xb6rg\xe2\x82\xac\xf0\x9f\x98\x80,r=x"), OK, NONE, "",
	"j\xc3\xb6rg\xe2\x82\xac\xf0\x9f\x98\x80", "x", "n,,"},
    /* every printable character in the nonce */
    {IN("n,,n=u,r=!\"#$%&'()*+-./"
	"0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
	"abcdefghijklmnopqrstuvwxyz{|}~"),
	OK, NONE, "", "u",
	"!\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
	"abcdefghijklmnopqrstuvwxyz{|}~",
	"n,,"},
    /* optional extensions after the nonce are tolerated */
    {IN("n,,n=user,r=abc,x=1"), OK, NONE, "", "user", "abc", "n,,"},
    {IN("n,,n=user,r=abc,x=1,Y=a=b,z=\xc3\xa9"), OK, NONE, "", "user", "abc",
	"n,,"},
    {IN("n,,n=user,r=abc,t=\x01"), OK, NONE, "", "user", "abc", "n,,"},

    /* unsupported channel binding type (otherwise well-formed) */
    {IN("p=tls-unique,,n=user,r=abc"), CBT, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls-server-end-point,,n=user,r=abc"), CBT, 0, NULL, NULL, NULL,
	NULL},
    {IN("p=TLS-EXPORTER,,n=user,r=abc"), CBT, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls-exporter2,,n=user,r=abc"), CBT, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls-exporte,,n=user,r=abc"), CBT, 0, NULL, NULL, NULL, NULL},
    {IN("p=a.b-1,a=z,n=user,r=abc,x=1"), CBT, 0, NULL, NULL, NULL, NULL},
    /* mandatory extension (otherwise well-formed) */
    {IN("n,,m=ext,n=user,r=abc"), MEXT, 0, NULL, NULL, NULL, NULL},
    {IN("n,,m=a=b\xc3\xa9,n=user,r=abc,x=y"), MEXT, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls-exporter,,m=x,n=user,r=abc"), MEXT, 0, NULL, NULL, NULL, NULL},
    /* precedence: syntax > channel binding type > mandatory extension */
    {IN("p=tls-unique,,m=x,n=user,r=abc"), CBT, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls-unique,,n=user,r="), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,m=x,n=,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,m=x,n=u"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls-unique,,m=x,n=u,r=a,"), SYN, 0, NULL, NULL, NULL, NULL},

    /* shape */
    {IN(""), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n="), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r="), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,r=abc,n=user"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,x=1,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN(",,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN(" n,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n ,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,, n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc\r\n"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,N=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,R=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n:user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    /* gs2 header */
    {IN("N,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("Y,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("x,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("nn,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("p,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("p=,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("P=tls-exporter,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls exporter,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls_exporter,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("p=tls-exporter\xc3\xa9,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL,
	NULL},
    {IN("F,n,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,a=,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,a,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,b=x,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,A=x,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,a=x=,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,a=x\x01,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,a=x\xff,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,a=x,a=y,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    /* saslname escaping and content */
    {IN("n,,n=,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=us=er,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user=,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user=2,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n==,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=a=2c,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=a=3d,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=a=2D,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=a=3C,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=a=20,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=a==2C,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\0s,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\x01,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\t,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\r\n,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\x7f,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\xff,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\xc3,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\xc0\xae,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=u\xed\xa0\x80,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=\xc3"), SYN, 0, NULL, NULL, NULL, NULL},
    /* nonce */
    {IN("n,,n=user,r=a b"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=a\x7f"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=a\x01"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=a\0"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=\xc3\xa9"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc\t"), SYN, 0, NULL, NULL, NULL, NULL},
    /* extensions */
    {IN("n,,n=user,r=abc,x"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,x="), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,=x"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,xy=1"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,1=x"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,-=x"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,x=\xff"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,x=\0"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,x=1,"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,x=1,,y=2"), SYN, 0, NULL, NULL, NULL, NULL},
    /* letters RFC 5802 assigns are not extensions */
    {IN("n,,n=user,r=abc,m=1"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,r=def"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,n=other"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,a=admin"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,p=x"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,c=biws"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,s=QQ=="), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,i=1"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,v=x"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,n=user,r=abc,e=x"), SYN, 0, NULL, NULL, NULL, NULL},
    /* mext in the wrong place or empty */
    {IN("n,,m=,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,m=x,m=y,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("n,,m=x\xff,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
    {IN("m=x,n,,n=user,r=abc"), SYN, 0, NULL, NULL, NULL, NULL},
};

static void
first_check_invariants(
    const struct sasl_scram_first *f, const char *buf, size_t n)
{
	size_t i, ul = strlen(f->user), zl = strlen(f->authzid);

	assert_true(f->gs2_header.p == buf && f->gs2_header.n >= 3 &&
		    f->gs2_header.n < n);
	assert_int_equal(f->gs2_header.p[f->gs2_header.n - 1], ',');
	assert_true(f->bare.p == buf + f->gs2_header.n &&
		    f->bare.n == n - f->gs2_header.n);
	assert_true(span_inside(f->cnonce, f->bare.p, f->bare.n));
	assert_true(f->cnonce.n >= 1 && f->cnonce.n <= SASL_SCRAM_NONCE_MAX);
	for (i = 0; i < f->cnonce.n; i++)
		assert_true(f->cnonce.p[i] > 0x20 && f->cnonce.p[i] < 0x7f &&
			    f->cnonce.p[i] != ',');
	assert_true(ul >= 1 && ul <= SASL_NAME_MAX);
	assert_true(zl <= SASL_NAME_MAX);
	assert_true(f->cbind == NONE || f->cbind == UNOFF || f->cbind == EXP);
}

static void
first_check_zero(const struct sasl_scram_first *f)
{
	assert_true(f->gs2_header.p == NULL && f->gs2_header.n == 0 &&
		    f->bare.p == NULL && f->bare.n == 0 &&
		    f->cnonce.p == NULL && f->cnonce.n == 0 &&
		    f->user[0] == '\0' && f->authzid[0] == '\0' &&
		    f->cbind == NONE);
}

static int
first_run(const char *in, size_t n, struct sasl_scram_first *f, char **bufp)
{
	char *buf = dup_exact(in, n);
	int rc = sasl_scram_parse_first(buf, n, f);

	assert_true(rc == OK || rc == SYN || rc == CBT || rc == MEXT);
	if (rc == OK)
		first_check_invariants(f, buf, n);
	else
		first_check_zero(f);
	*bufp = buf;
	return rc;
}

static void
test_first_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(first_cases) / sizeof(first_cases[0]); i++) {
		const struct first_case *tc = &first_cases[i];
		struct sasl_scram_first f;
		char *buf;
		int rc = first_run(tc->in, tc->n, &f, &buf);

		if (rc != tc->rc)
			fail_msg("first \"%s\": rc %d, want %d",
			    show(tc->in, tc->n), rc, tc->rc);
		if (rc == OK) {
			assert_int_equal(f.cbind, tc->cbind);
			assert_string_equal(f.authzid, tc->authzid);
			assert_string_equal(f.user, tc->user);
			assert_true(span_is(f.cnonce, tc->cnonce));
			assert_true(span_is(f.gs2_header, tc->gs2));
			assert_true(span_is(f.bare, tc->in + strlen(tc->gs2)));
		}
		free(buf);
		for (k = 0; k < tc->n; k++) {
			first_run(tc->in, k, &f, &buf);
			free(buf);
		}
	}
}

/* Parses a NUL-terminated message built at run time. */
static int
first_parse_str(const char *msg, struct sasl_scram_first *f)
{
	char *buf;
	int rc = first_run(msg, strlen(msg), f, &buf);

	free(buf);
	return rc;
}

static void
test_first_limits(void **state)
{
	struct sasl_scram_first f;
	char msg[1200];

	(void)state;
	/* 255 octets decoded: plain, escaped (765 on the wire), UTF-8 */
	MSGF(msg, "n,,n=%s,r=x", rep("u", 255));
	assert_int_equal(first_parse_str(msg, &f), OK);
	assert_int_equal(strlen(f.user), 255);
	MSGF(msg, "n,,n=%s,r=x", rep("=2C", 255));
	assert_int_equal(first_parse_str(msg, &f), OK);
	assert_string_equal(f.user, rep(",", 255));
	MSGF(msg, "n,,n=%sx,r=x", rep("\xc3\xa9", 127));
	assert_int_equal(first_parse_str(msg, &f), OK);
	assert_int_equal(strlen(f.user), 255);
	MSGF(msg, "n,a=%s,n=u,r=x", rep("=3D", 255));
	assert_int_equal(first_parse_str(msg, &f), OK);
	assert_string_equal(f.authzid, rep("=", 255));
	/* 256 are too many, however they are spelt */
	MSGF(msg, "n,,n=%s,r=x", rep("u", 256));
	assert_int_equal(first_parse_str(msg, &f), SYN);
	MSGF(msg, "n,,n=%s,r=x", rep("=2C", 256));
	assert_int_equal(first_parse_str(msg, &f), SYN);
	MSGF(msg, "n,,n=%s,r=x", rep("\xc3\xa9", 128));
	assert_int_equal(first_parse_str(msg, &f), SYN);
	/* a 3-octet character that would cross the limit */
	MSGF(msg, "n,,n=%s\xe2\x82\xac,r=x", rep("u", 253));
	assert_int_equal(first_parse_str(msg, &f), SYN);
	MSGF(msg, "n,,n=%s\xe2\x82\xac,r=x", rep("u", 252));
	assert_int_equal(first_parse_str(msg, &f), OK);
	MSGF(msg, "n,a=%s,n=u,r=x", rep("a", 256));
	assert_int_equal(first_parse_str(msg, &f), SYN);
	/* client nonce: 255 octets */
	MSGF(msg, "n,,n=u,r=%s", rep("N", 255));
	assert_int_equal(first_parse_str(msg, &f), OK);
	assert_int_equal(f.cnonce.n, 255);
	MSGF(msg, "n,,n=u,r=%s", rep("N", 256));
	assert_int_equal(first_parse_str(msg, &f), SYN);
}

/* -------------------------------------------------- SCRAM client-final */

struct final_case {
	const char *in;
	size_t n;
	int rc;
	/* checked when rc == OK: */
	const char *cbind, *nonce, *noproof;
	const uint8_t *proof;
};

#define P44  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define CBX  "cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"
#define ZERO zero32

static const uint8_t zero32[32];

static const struct final_case final_cases[] = {
    /* RFC 7677 3 */
    {IN(RFC_CLIENT_FINAL), OK, "biws", RFC_CNONCE RFC_SNONCE, RFC_FINAL_NOPROOF,
	rfc_proof},
    /* channel binding data, extensions */
    {IN("c=" CBX ",r=abcdef,p=" P44), OK, CBX, "abcdef", "c=" CBX ",r=abcdef",
	ZERO},
    {IN("c=eSws,r=abc,x=1,p=" P44), OK, "eSws", "abc", "c=eSws,r=abc,x=1",
	ZERO},
    {IN("c=biws,r=abc,x=1,Y=a=b,z=\xc3\xa9,p=" P44), OK, "biws", "abc",
	"c=biws,r=abc,x=1,Y=a=b,z=\xc3\xa9", ZERO},
    /* any base64 the c= value may be: it is compared later */
    {IN("c=QQ==,r=abc,p=" P44), OK, "QQ==", "abc", "c=QQ==,r=abc", ZERO},

    /* shape */
    {IN(""), SYN, NULL, NULL, NULL, NULL},
    {IN("c"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,p="), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,p"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN(",c=biws,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,p=" P44 ","), SYN, NULL, NULL, NULL, NULL},
    {IN("r=abc,c=biws,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,p=" P44 ",r=abc"), SYN, NULL, NULL, NULL, NULL},
    {IN("p=" P44 ",c=biws,r=abc"), SYN, NULL, NULL, NULL, NULL},
    {IN("C=biws,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,R=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,P=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("m=x,c=biws,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN(" c=biws,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,p=" P44 "\r\n"), SYN, NULL, NULL, NULL, NULL},
    /* p= must be last, and only once */
    {IN("c=biws,r=abc,p=" P44 ",x=1"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,p=" P44 ",p=" P44), SYN, NULL, NULL, NULL, NULL},
    /* c= */
    {IN("c=,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biw,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws=,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=bi ws,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biv=,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=QR==,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=bi-s,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    /* r= */
    {IN("c=biws,r=,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=a b,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=a\x7f,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=\xc3\xa9,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=a\0,p=" P44), SYN, NULL, NULL, NULL, NULL},
    /* p= length and encoding */
    {IN("c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), SYN,
	NULL, NULL, NULL, NULL}, /* 31 octets */
    {IN("c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), SYN,
	NULL, NULL, NULL, NULL}, /* 33 octets */
    {IN("c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), SYN,
	NULL, NULL, NULL, NULL}, /* unpadded */
    {IN("c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="), SYN,
	NULL, NULL, NULL, NULL}, /* pad bits */
    {IN("c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA =="), SYN,
	NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,p=" P44 "AAAA"), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,p=QQ=="), SYN, NULL, NULL, NULL, NULL},
    /* extensions */
    {IN("c=biws,r=abc,x,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,x=,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,xy=1,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,1=1,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,x=\xff,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,m=1,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,r=abc,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,c=biws,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,n=u,p=" P44), SYN, NULL, NULL, NULL, NULL},
    {IN("c=biws,r=abc,v=x,p=" P44), SYN, NULL, NULL, NULL, NULL},
};

static void
final_check_invariants(
    const struct sasl_scram_final *f, const char *buf, size_t n)
{
	char enc[64];
	size_t i;

	assert_true(f->without_proof.p == buf && f->without_proof.n < n);
	assert_true(span_inside(f->cbind, buf, f->without_proof.n));
	assert_true(span_inside(f->nonce, buf, f->without_proof.n));
	assert_true(f->cbind.n > 0 && f->nonce.n > 0);
	for (i = 0; i < f->nonce.n; i++)
		assert_true(f->nonce.p[i] > 0x20 && f->nonce.p[i] < 0x7f &&
			    f->nonce.p[i] != ',');
	/* the message is without_proof ",p=" base64(proof), exactly */
	assert_int_equal(base64_encode(f->proof, sizeof(f->proof), enc), 44);
	assert_int_equal(n, f->without_proof.n + 3 + 44);
	assert_memory_equal(buf + f->without_proof.n, ",p=", 3);
	assert_memory_equal(buf + f->without_proof.n + 3, enc, 44);
}

static int
final_run(const char *in, size_t n, struct sasl_scram_final *f, char **bufp)
{
	char *buf = dup_exact(in, n);
	int rc = sasl_scram_parse_final(buf, n, f);

	assert_true(rc == OK || rc == SYN);
	if (rc == OK) {
		final_check_invariants(f, buf, n);
	} else {
		assert_true(f->cbind.p == NULL && f->cbind.n == 0 &&
			    f->nonce.p == NULL && f->nonce.n == 0 &&
			    f->without_proof.p == NULL &&
			    f->without_proof.n == 0);
		assert_memory_equal(f->proof, zero32, 32);
	}
	*bufp = buf;
	return rc;
}

static void
test_final_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(final_cases) / sizeof(final_cases[0]); i++) {
		const struct final_case *tc = &final_cases[i];
		struct sasl_scram_final f;
		char *buf;
		int rc = final_run(tc->in, tc->n, &f, &buf);

		if (rc != tc->rc)
			fail_msg("final \"%s\": rc %d, want %d",
			    show(tc->in, tc->n), rc, tc->rc);
		if (rc == OK) {
			assert_true(span_is(f.cbind, tc->cbind));
			assert_true(span_is(f.nonce, tc->nonce));
			assert_true(span_is(f.without_proof, tc->noproof));
			assert_memory_equal(f.proof, tc->proof, 32);
		}
		free(buf);
		for (k = 0; k < tc->n; k++) {
			final_run(tc->in, k, &f, &buf);
			free(buf);
		}
	}
}

static void
test_final_limits(void **state)
{
	struct sasl_scram_final f;
	char msg[2000], c64[1500];
	uint8_t raw[1100];
	char *buf;

	(void)state;
	/* a c= value of 1024 decoded octets is looked at, 1025 is not */
	memset(raw, 'x', sizeof(raw));
	base64_encode(raw, 1024, c64);
	MSGF(msg, "c=%s,r=a,p=" P44, c64);
	assert_int_equal(final_run(msg, strlen(msg), &f, &buf), OK);
	free(buf);
	base64_encode(raw, 1025, c64);
	MSGF(msg, "c=%s,r=a,p=" P44, c64);
	assert_int_equal(final_run(msg, strlen(msg), &f, &buf), SYN);
	free(buf);
}

/* ------------------------------------------ nonce and channel binding */

static void
parse_pair(const char *first, const char *final, struct sasl_scram_first *f1,
    struct sasl_scram_final *f2)
{
	assert_int_equal(sasl_scram_parse_first(first, strlen(first), f1), OK);
	assert_int_equal(sasl_scram_parse_final(final, strlen(final), f2), OK);
}

static void
test_nonce_ok(void **state)
{
	struct sasl_scram_first f1;
	struct sasl_scram_final f2;

	(void)state;
	parse_pair(RFC_CLIENT_FIRST, RFC_CLIENT_FINAL, &f1, &f2);
	assert_true(sasl_scram_nonce_ok(&f2, f1.cnonce, span_cstr(RFC_SNONCE)));
	assert_false(sasl_scram_nonce_ok(&f2, f1.cnonce, span_cstr("x")));
	assert_false(
	    sasl_scram_nonce_ok(&f2, f1.cnonce, span_cstr(RFC_SNONCE "x")));
	assert_false(sasl_scram_nonce_ok(
	    &f2, f1.cnonce, span_cstr("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1")));
	assert_false(sasl_scram_nonce_ok(
	    &f2, span_cstr("rOprNGfwEbeRWgbNEkqX"), span_cstr(RFC_SNONCE)));
	/* the split point does not matter, the concatenation does */
	assert_true(sasl_scram_nonce_ok(&f2, span_cstr("rOprNGfwEbeRWgbNEkqO%"),
	    span_cstr("hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")));
	/* both halves must be there */
	assert_false(sasl_scram_nonce_ok(
	    &f2, span_cstr(RFC_CNONCE RFC_SNONCE), span_make("", 0)));
	assert_false(sasl_scram_nonce_ok(
	    &f2, span_make("", 0), span_cstr(RFC_CNONCE RFC_SNONCE)));
	/* the client echoing only its own nonce */
	parse_pair(
	    RFC_CLIENT_FIRST, "c=biws,r=" RFC_CNONCE ",p=" P44, &f1, &f2);
	assert_false(
	    sasl_scram_nonce_ok(&f2, f1.cnonce, span_cstr(RFC_SNONCE)));
}

struct cbind_case {
	const char *first;
	const char *c64; /* c= value */
	const uint8_t *cb;
	size_t cblen;
	bool ok;
};

static const struct cbind_case cbind_cases[] = {
    /* no channel binding: the header alone, cbdata ignored */
    {"n,,n=u,r=x", "biws", NULL, 0, true},
    {"n,,n=u,r=x", "biws", cbdata, 32, true},
    {"n,,n=u,r=x", "eSws", NULL, 0, false},
    {"n,,n=u,r=x", "biwsAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=", cbdata,
	32, false},
    {"n,,n=u,r=x", "bixhPWFkbWluLA==", NULL, 0, false},
    {"n,,n=u,r=x", "bg==", NULL, 0, false},
    {"n,,n=u,r=x", "biwsAA==", NULL, 0, false},
    {"y,,n=u,r=x", "eSws", NULL, 0, true},
    {"y,,n=u,r=x", "biws", NULL, 0, false},
    {"n,a=admin,n=u,r=x", "bixhPWFkbWluLA==", NULL, 0, true},
    {"n,a=admin,n=u,r=x", "biws", NULL, 0, false},
    /* tls-exporter: header followed by exactly this connection's data */
    {"p=tls-exporter,,n=u,r=x",
	"cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
	cbdata, 32, true},
    {"p=tls-exporter,a=admin,n=u,r=x",
	"cD10bHMtZXhwb3J0ZXIsYT1hZG1pbiwBAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR"
	"4fIA==",
	cbdata, 32, true},
    {"p=tls-exporter,,n=u,r=x",
	"cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",
	cbdata, 32, false},
    {"p=tls-exporter,,n=u,r=x",
	"cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
	cbdata, 31, false},
    {"p=tls-exporter,,n=u,r=x",
	"cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
	NULL, 0, false},
    {"p=tls-exporter,,n=u,r=x",
	"cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
	cbdata, 0, false},
    {"p=tls-exporter,,n=u,r=x", "cD10bHMtZXhwb3J0ZXIsLA==", cbdata, 32, false},
    {"p=tls-exporter,,n=u,r=x", "cD10bHMtZXhwb3J0ZXIsLA==", NULL, 0, false},
    {"p=tls-exporter,,n=u,r=x", "biws", cbdata, 32, false},
    {"p=tls-exporter,a=admin,n=u,r=x",
	"cD10bHMtZXhwb3J0ZXIsLAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
	cbdata, 32, false},
};

static void
test_cbind_ok(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cbind_cases) / sizeof(cbind_cases[0]); i++) {
		const struct cbind_case *tc = &cbind_cases[i];
		struct sasl_scram_first f1;
		struct sasl_scram_final f2;
		char fin[300];

		MSGF(fin, "c=%s,r=xyz,p=" P44, tc->c64);
		parse_pair(tc->first, fin, &f1, &f2);
		if (sasl_scram_cbind_ok(&f2, &f1, tc->cb, tc->cblen) != tc->ok)
			fail_msg("cbind case %zu: want %d", i, tc->ok);
	}
}

/* ------------------------------------------------------------ formatters */

static void
test_format_server_first(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	/* RFC 7677 3, byte for byte */
	assert_int_equal(
	    sasl_scram_format_server_first(&b, span_cstr(RFC_CNONCE),
		span_cstr(RFC_SNONCE), rfc_salt, sizeof(rfc_salt), 4096),
	    0);
	assert_string_equal(buf_str(&b), RFC_SERVER_FIRST);
	assert_int_equal(b.len, strlen(RFC_SERVER_FIRST));
	/* appends */
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("a"),
			     span_cstr("b"), rfc_salt, 1, 4294967295u),
	    0);
	assert_string_equal(
	    buf_str(&b), RFC_SERVER_FIRST "r=ab,s=Ww==,i=4294967295");
	buf_reset(&b);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("a"),
			     span_cstr("b"), rfc_salt, 1, 1),
	    0);
	assert_string_equal(buf_str(&b), "r=ab,s=Ww==,i=1");
	buf_reset(&b);
	/* 255-octet client nonce and 128-octet salt are the limits */
	{
		static const uint8_t salt[129];
		assert_int_equal(
		    sasl_scram_format_server_first(&b, span_cstr(rep("c", 255)),
			span_cstr("s"), salt, 128, 1),
		    0);
		buf_reset(&b);
		assert_int_equal(
		    sasl_scram_format_server_first(&b, span_cstr(rep("c", 256)),
			span_cstr("s"), salt, 1, 1),
		    -1);
		assert_int_equal(
		    sasl_scram_format_server_first(
			&b, span_cstr("c"), span_cstr("s"), salt, 129, 1),
		    -1);
		assert_int_equal(b.len, 0);
	}
	/* bad arguments: nothing is appended */
	assert_int_equal(buf_puts(&b, "keep"), 0);
	assert_int_equal(sasl_scram_format_server_first(&b, span_make("", 0),
			     span_cstr("s"), rfc_salt, 16, 4096),
	    -1);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("c"),
			     span_make("", 0), rfc_salt, 16, 4096),
	    -1);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("a,b"),
			     span_cstr("s"), rfc_salt, 16, 4096),
	    -1);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("c"),
			     span_cstr("s t"), rfc_salt, 16, 4096),
	    -1);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("c"),
			     span_cstr("s\x80"), rfc_salt, 16, 4096),
	    -1);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("c"),
			     span_cstr("s"), NULL, 16, 4096),
	    -1);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("c"),
			     span_cstr("s"), rfc_salt, 0, 4096),
	    -1);
	assert_int_equal(sasl_scram_format_server_first(&b, span_cstr("c"),
			     span_cstr("s"), rfc_salt, 16, 0),
	    -1);
	assert_string_equal(buf_str(&b), "keep");
	buf_clear(&b);

	/* a buffer too small by one takes nothing; exactly enough works */
	buf_init(&b, 4 + strlen(RFC_SERVER_FIRST) - 1);
	assert_int_equal(buf_puts(&b, "keep"), 0);
	assert_int_equal(
	    sasl_scram_format_server_first(&b, span_cstr(RFC_CNONCE),
		span_cstr(RFC_SNONCE), rfc_salt, sizeof(rfc_salt), 4096),
	    -1);
	assert_string_equal(buf_str(&b), "keep");
	b.max++;
	assert_int_equal(
	    sasl_scram_format_server_first(&b, span_cstr(RFC_CNONCE),
		span_cstr(RFC_SNONCE), rfc_salt, sizeof(rfc_salt), 4096),
	    0);
	assert_string_equal(buf_str(&b), "keep" RFC_SERVER_FIRST);
	buf_clear(&b);
}

static void
test_auth_message(void **state)
{
	static const char want[] =
	    "n=user,r=" RFC_CNONCE "," RFC_SERVER_FIRST "," RFC_FINAL_NOPROOF;
	struct sasl_scram_first f1;
	struct sasl_scram_final f2;
	struct buf b;

	(void)state;
	parse_pair(RFC_CLIENT_FIRST, RFC_CLIENT_FINAL, &f1, &f2);
	buf_init(&b, 4096);
	assert_int_equal(sasl_scram_auth_message(&b, f1.bare,
			     span_cstr(RFC_SERVER_FIRST), f2.without_proof),
	    0);
	assert_string_equal(buf_str(&b), want);
	buf_clear(&b);

	/* exactly enough room, then one octet short (nothing appended) */
	buf_init(&b, strlen(want));
	assert_int_equal(sasl_scram_auth_message(&b, f1.bare,
			     span_cstr(RFC_SERVER_FIRST), f2.without_proof),
	    0);
	assert_string_equal(buf_str(&b), want);
	buf_clear(&b);
	buf_init(&b, strlen(want) + 1);
	assert_int_equal(buf_puts(&b, "xy"), 0);
	assert_int_equal(sasl_scram_auth_message(&b, f1.bare,
			     span_cstr(RFC_SERVER_FIRST), f2.without_proof),
	    -1);
	assert_string_equal(buf_str(&b), "xy");
	assert_int_equal(b.len, 2);
	buf_clear(&b);
	/* empty parts are the caller's business: still well-defined */
	buf_init(&b, 16);
	assert_int_equal(sasl_scram_auth_message(&b, span_make("", 0),
			     span_make("", 0), span_make("", 0)),
	    0);
	assert_string_equal(buf_str(&b), ",,");
	buf_clear(&b);
}

static void
test_format_server_final(void **state)
{
	struct buf b;
	size_t max;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(sasl_scram_format_server_final(&b, rfc_sig), 0);
	assert_string_equal(buf_str(&b), RFC_SERVER_FINAL);
	assert_int_equal(sasl_scram_format_server_final(&b, zero32), 0);
	assert_string_equal(buf_str(&b), RFC_SERVER_FINAL "v=" P44);
	buf_clear(&b);
	for (max = 0; max <= 46; max++) {
		buf_init(&b, max);
		assert_int_equal(sasl_scram_format_server_final(&b, rfc_sig),
		    max == 46 ? 0 : -1);
		assert_int_equal(b.len, max == 46 ? 46 : 0);
		buf_clear(&b);
	}
}

static void
test_format_server_error(void **state)
{
	static const char *const names[] = {
	    "e=invalid-encoding",
	    "e=extensions-not-supported",
	    "e=invalid-proof",
	    "e=channel-bindings-dont-match",
	    "e=server-does-support-channel-binding",
	    "e=channel-binding-not-supported",
	    "e=unsupported-channel-binding-type",
	    "e=unknown-user",
	    "e=invalid-username-encoding",
	    "e=no-resources",
	    "e=other-error",
	};
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 4096);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		buf_reset(&b);
		assert_int_equal(sasl_scram_format_server_error(
				     &b, (enum sasl_scram_error)i),
		    0);
		assert_string_equal(buf_str(&b), names[i]);
	}
	assert_int_equal(SASL_SCRAM_E_OTHER_ERROR, 10);
	buf_reset(&b);
	assert_int_equal(
	    sasl_scram_format_server_error(&b, (enum sasl_scram_error)11), -1);
	assert_int_equal(
	    sasl_scram_format_server_error(&b, (enum sasl_scram_error) - 1),
	    -1);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
	buf_init(&b, strlen("e=invalid-proof") - 1);
	assert_int_equal(
	    sasl_scram_format_server_error(&b, SASL_SCRAM_E_INVALID_PROOF), -1);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(sasl_strerror(SASL_OK), "success");
	assert_string_equal(sasl_strerror(SASL_ERR_SYNTAX), "syntax error");
	assert_string_equal(sasl_strerror(SASL_ERR_CBIND_TYPE),
	    "unsupported channel binding type");
	assert_string_equal(
	    sasl_strerror(SASL_ERR_MEXT), "mandatory extension not supported");
	assert_string_equal(sasl_strerror(-99), "unknown error");
	assert_string_equal(sasl_strerror(1), "unknown error");
}

/*
 * The whole RFC 7677 exchange as the server side sees it: parse the
 * client's messages, produce the server's, and check AuthMessage. (The
 * proof and signature come from src/auth; here they are the RFC's.)
 */
static void
test_rfc7677_exchange(void **state)
{
	struct sasl_scram_first f1;
	struct sasl_scram_final f2;
	struct buf sf, am, fin;

	(void)state;
	buf_init(&sf, 1024);
	buf_init(&am, 4096);
	buf_init(&fin, 1024);
	assert_int_equal(sasl_scram_parse_first(IN(RFC_CLIENT_FIRST), &f1), OK);
	assert_int_equal(f1.cbind, NONE);
	assert_string_equal(f1.user, "user");
	assert_int_equal(sasl_scram_format_server_first(&sf, f1.cnonce,
			     span_cstr(RFC_SNONCE), rfc_salt, 16, 4096),
	    0);
	assert_string_equal(buf_str(&sf), RFC_SERVER_FIRST);
	assert_int_equal(sasl_scram_parse_final(IN(RFC_CLIENT_FINAL), &f2), OK);
	assert_true(sasl_scram_nonce_ok(&f2, f1.cnonce, span_cstr(RFC_SNONCE)));
	assert_true(sasl_scram_cbind_ok(&f2, &f1, NULL, 0));
	assert_memory_equal(f2.proof, rfc_proof, 32);
	assert_int_equal(sasl_scram_auth_message(&am, f1.bare,
			     span_make(sf.data, sf.len), f2.without_proof),
	    0);
	assert_string_equal(buf_str(&am),
	    "n=user,r=" RFC_CNONCE "," RFC_SERVER_FIRST "," RFC_FINAL_NOPROOF);
	assert_int_equal(sasl_scram_format_server_final(&fin, rfc_sig), 0);
	assert_string_equal(buf_str(&fin), RFC_SERVER_FINAL);
	buf_clear(&sf);
	buf_clear(&am);
	buf_clear(&fin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_table),
	    cmocka_unit_test(test_plain_limits),
	    cmocka_unit_test(test_first_table),
	    cmocka_unit_test(test_first_limits),
	    cmocka_unit_test(test_final_table),
	    cmocka_unit_test(test_final_limits),
	    cmocka_unit_test(test_nonce_ok),
	    cmocka_unit_test(test_cbind_ok),
	    cmocka_unit_test(test_format_server_first),
	    cmocka_unit_test(test_auth_message),
	    cmocka_unit_test(test_format_server_final),
	    cmocka_unit_test(test_format_server_error),
	    cmocka_unit_test(test_strerror),
	    cmocka_unit_test(test_rfc7677_exchange),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
