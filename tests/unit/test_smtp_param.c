/*
 * test_smtp_param: table-driven tests for proto/smtp_param (ESMTP MAIL and
 * RCPT parameters, xtext). Inputs are copied into heap buffers of exactly
 * their length so ASan catches any read past the span, and every case is
 * also fed as each of its strict prefixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_param.h"

#define IN(s) s, sizeof(s) - 1

#define ALL                                                                    \
	(SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |               \
	    SMTP_EXT_DSN | SMTP_EXT_AUTH | SMTP_EXT_REQUIRETLS)
#define NO(x) (ALL & ~(unsigned)(x))

#define OK  SMTP_PARAM_OK
#define SYN SMTP_PARAM_SYNTAX
#define UNK SMTP_PARAM_UNKNOWN

#define B7 SMTP_BODY_7BIT
#define B8 SMTP_BODY_8BITMIME
#define RF SMTP_RET_FULL
#define RH SMTP_RET_HDRS

struct mail_case {
	const char *in;
	size_t n;
	unsigned ext;
	int rc;
	const char *why; /* on error: expected reason, NULL to skip */
	/* expected result when rc == OK */
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	const char *envid;
	const char *auth;
	bool requiretls;
};

#define MOK(in, ext, hs, sz, body, u8, ret, envid, auth)                       \
	{                                                                      \
		IN(in), ext, OK, NULL, hs, sz, body, u8, ret, envid, auth,     \
		    false                                                      \
	}
#define MERR(in, ext, rc, why)                                                 \
	{                                                                      \
		IN(in), ext, rc, why, false, 0, SMTP_BODY_NONE, false,         \
		    SMTP_RET_NONE, "", "", false                               \
	}

/* The cases above, plus REQUIRETLS (RFC 8689 2). */
#define MOKT(in, ext, hs, sz, body, u8, ret, envid, auth)                      \
	{                                                                      \
		IN(in), ext, OK, NULL, hs, sz, body, u8, ret, envid, auth,     \
		    true                                                       \
	}

static const struct mail_case mail_cases[] = {
    MOK("", ALL, false, 0, 0, false, 0, "", ""),
    MOK("", 0, false, 0, 0, false, 0, "", ""),
    MOK("   ", ALL, false, 0, 0, false, 0, "", ""),
    /* SIZE, RFC 1870 */
    MOK("SIZE=1000", ALL, true, 1000, 0, false, 0, "", ""),
    MOK("size=0", ALL, true, 0, 0, false, 0, "", ""),
    MOK("SiZe=007", ALL, true, 7, 0, false, 0, "", ""),
    MOK("SIZE=1000", SMTP_EXT_SIZE, true, 1000, 0, false, 0, "", ""),
    MOK("SIZE=18446744073709551615", ALL, true, UINT64_MAX, 0, false, 0, "",
	""),
    MOK("SIZE=18446744073709551616", ALL, true, UINT64_MAX, 0, false, 0, "",
	""),
    MOK("SIZE=99999999999999999999", ALL, true, UINT64_MAX, 0, false, 0, "",
	""),
    MOK("SIZE=00000000000000000001", ALL, true, 1, 0, false, 0, "", ""),
    MERR("SIZE=123456789012345678901", ALL, SYN, "Bad SIZE value"),
    MERR("SIZE=", ALL, SYN, "Malformed parameter"),
    MERR("SIZE", ALL, SYN, "Bad SIZE value"),
    MERR("SIZE = 1", ALL, SYN, "Bad SIZE value"),
    MERR("SIZE=-1", ALL, SYN, "Bad SIZE value"),
    MERR("SIZE=+1", ALL, SYN, "Bad SIZE value"),
    MERR("SIZE=1k", ALL, SYN, "Bad SIZE value"),
    MERR("SIZE=0x10", ALL, SYN, "Bad SIZE value"),
    MERR("SIZE=1 SIZE=2", ALL, SYN, "Duplicate parameter"),
    MERR("SIZE=1 size=1", ALL, SYN, "Duplicate parameter"),
    MERR("SIZE=10", NO(SMTP_EXT_SIZE), UNK, "Unsupported parameter"),
    MERR("SIZE=10", 0, UNK, "Unsupported parameter"),
    /* BODY, RFC 6152 */
    MOK("BODY=7BIT", ALL, false, 0, B7, false, 0, "", ""),
    MOK("BODY=8bitmime", ALL, false, 0, B8, false, 0, "", ""),
    MOK("body=8BitMime", SMTP_EXT_8BITMIME, false, 0, B8, false, 0, "", ""),
    MERR("BODY=BINARYMIME", ALL, SYN, "Bad BODY value"),
    MERR("BODY=8BIT", ALL, SYN, "Bad BODY value"),
    MERR("BODY", ALL, SYN, "Bad BODY value"),
    MERR("BODY=7BIT BODY=7BIT", ALL, SYN, "Duplicate parameter"),
    MERR("BODY=8BITMIME", NO(SMTP_EXT_8BITMIME), UNK, NULL),
    /* SMTPUTF8, RFC 6531 */
    MOK("SMTPUTF8", ALL, false, 0, 0, true, 0, "", ""),
    MOK("smtputf8", SMTP_EXT_SMTPUTF8, false, 0, 0, true, 0, "", ""),
    MERR("SMTPUTF8=yes", ALL, SYN, "SMTPUTF8 takes no value"),
    MERR("SMTPUTF8 SMTPUTF8", ALL, SYN, "Duplicate parameter"),
    MERR("SMTPUTF8", NO(SMTP_EXT_SMTPUTF8), UNK, NULL),
    /* RET, RFC 3461 4.3 */
    MOK("RET=FULL", ALL, false, 0, 0, false, RF, "", ""),
    MOK("ret=hdrs", SMTP_EXT_DSN, false, 0, 0, false, RH, "", ""),
    MERR("RET=NONE", ALL, SYN, "Bad RET value"),
    MERR("RET", ALL, SYN, "Bad RET value"),
    MERR("RET=FULL RET=HDRS", ALL, SYN, "Duplicate parameter"),
    MERR("RET=FULL", NO(SMTP_EXT_DSN), UNK, NULL),
    /* ENVID, RFC 3461 4.4 */
    MOK("ENVID=QQ314159", ALL, false, 0, 0, false, 0, "QQ314159", ""),
    MOK("ENVID=a+2Bb", ALL, false, 0, 0, false, 0, "a+2Bb", ""),
    MOK("ENVID=a+20b+3D+7E", ALL, false, 0, 0, false, 0, "a+20b+3D+7E", ""),
    MOK("ENVID=<x;y@z>", ALL, false, 0, 0, false, 0, "<x;y@z>", ""),
    MERR("ENVID=a+2bb", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a+2", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a+", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=+G0", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a+0D+0A", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a+00", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a+1F", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a+7F", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a+80", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a\xc3\xb6", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID", ALL, SYN, "Bad ENVID value"),
    MERR("ENVID=a ENVID=b", ALL, SYN, "Duplicate parameter"),
    MERR("ENVID=a", NO(SMTP_EXT_DSN), UNK, NULL),
    /* AUTH, RFC 4954 5 */
    MOK("AUTH=<>", ALL, false, 0, 0, false, 0, "", "<>"),
    MOK("AUTH=user+2Btag@example.com", ALL, false, 0, 0, false, 0, "",
	"user+2Btag@example.com"),
    MOK("AUTH=e+3Dmc2@example.com", SMTP_EXT_AUTH, false, 0, 0, false, 0, "",
	"e+3Dmc2@example.com"),
    MERR("AUTH=a+0A", ALL, SYN, "Bad AUTH value"),
    MERR("AUTH=a+2b", ALL, SYN, "Bad AUTH value"),
    MERR("AUTH", ALL, SYN, "Bad AUTH value"),
    MERR("AUTH=<> AUTH=<>", ALL, SYN, "Duplicate parameter"),
    MERR("AUTH=<>", NO(SMTP_EXT_AUTH), UNK, NULL),
    /* RCPT keywords are unknown in MAIL */
    MERR("NOTIFY=NEVER", ALL, UNK, "Unsupported parameter"),
    MERR("ORCPT=rfc822;a@b", ALL, UNK, "Unsupported parameter"),
    /* unknown keywords */
    MERR("FOO=bar", ALL, UNK, "Unsupported parameter"),
    MERR("X-FOO", ALL, UNK, "Unsupported parameter"),
    MERR("FOO=bar SIZE=1", ALL, UNK, NULL),
    MERR("SIZE=1 FOO", ALL, UNK, NULL),
    MERR("SIZES=1", ALL, UNK, NULL),
    MERR("SIZ=1", ALL, UNK, NULL),
    MERR("X=\xc3\xb6", ALL, UNK, NULL),
    /* malformed */
    MERR("=1", ALL, SYN, "Malformed parameter"),
    MERR("-SIZE=1", ALL, SYN, "Malformed parameter"),
    MERR("S_IZE=1", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=1=2", ALL, SYN, "Malformed parameter"),
    MERR("SIZE==1", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=1\t", ALL, SYN, "Malformed parameter"),
    MERR("\tSIZE=1", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=1\0", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=1\0 BODY=7BIT", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=\x01", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=1\r\n", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=1,BODY=7BIT", ALL, SYN, "Malformed parameter"),
    MERR("SIZE=1\x7f", ALL, SYN, "Malformed parameter"),
    MERR("X=\xc3", ALL, SYN, "Malformed parameter"),
    MERR("X=\xc0\xaf", ALL, SYN, "Malformed parameter"),
    MERR("X=\xed\xa0\x80", ALL, SYN, "Malformed parameter"),
    MERR("<a@b>", ALL, SYN, "Malformed parameter"),
    /* REQUIRETLS, RFC 8689 2: no value, once, where offered */
    MOKT("REQUIRETLS", ALL, false, 0, 0, false, 0, "", ""),
    MOKT("requiretls", SMTP_EXT_REQUIRETLS, false, 0, 0, false, 0, "", ""),
    MOKT("RequireTLS SMTPUTF8", ALL, false, 0, 0, true, 0, "", ""),
    MERR("REQUIRETLS=YES", ALL, SYN, "REQUIRETLS takes no value"),
    MERR("REQUIRETLS=NO", ALL, SYN, "REQUIRETLS takes no value"),
    MERR("REQUIRETLS=", ALL, SYN, "Malformed parameter"),
    MERR("REQUIRETLS REQUIRETLS", ALL, SYN, "Duplicate parameter"),
    MERR("REQUIRETLS requiretls", ALL, SYN, "Duplicate parameter"),
    MERR("REQUIRETLS", NO(SMTP_EXT_REQUIRETLS), UNK, "Unsupported parameter"),
    MERR("REQUIRETLS", 0, UNK, "Unsupported parameter"),
    MERR("REQUIRE-TLS", ALL, UNK, "Unsupported parameter"),
    MERR("REQUIRETLSX", ALL, UNK, "Unsupported parameter"),
    /* everything together, with extra spaces */
    MOK("SIZE=100 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc AUTH=<>", ALL, true,
	100, B8, true, RH, "abc", "<>"),
    MOK("  SIZE=1   BODY=7BIT  ", ALL, true, 1, B7, false, 0, "", ""),
    MOKT("SIZE=100 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=HDRS ENVID=abc",
	ALL, true, 100, B8, true, RH, "abc", ""),
    /* the first error found wins */
    MERR("SIZE=x FOO=1", ALL, SYN, "Bad SIZE value"),
    MERR("FOO=1 SIZE=x", ALL, UNK, NULL),
};

struct rcpt_case {
	const char *in;
	size_t n;
	unsigned ext;
	int rc;
	const char *why;
	unsigned notify;
	const char *orcpt;
};

#define ROK(in, ext, notify, orcpt)                                            \
	{                                                                      \
		IN(in), ext, OK, NULL, notify, orcpt                           \
	}
#define RERR(in, ext, rc, why)                                                 \
	{                                                                      \
		IN(in), ext, rc, why, 0, ""                                    \
	}

#define NV SMTP_NOTIFY_NEVER
#define NS SMTP_NOTIFY_SUCCESS
#define NF SMTP_NOTIFY_FAILURE
#define ND SMTP_NOTIFY_DELAY

static const struct rcpt_case rcpt_cases[] = {
    ROK("", ALL, 0, ""),
    ROK("", 0, 0, ""),
    /* NOTIFY, RFC 3461 4.1 */
    ROK("NOTIFY=NEVER", ALL, NV, ""),
    ROK("NOTIFY=never", SMTP_EXT_DSN, NV, ""),
    ROK("NOTIFY=SUCCESS", ALL, NS, ""),
    ROK("NOTIFY=SUCCESS,FAILURE,DELAY", ALL, NS | NF | ND, ""),
    ROK("notify=delay,Success", ALL, NS | ND, ""),
    ROK("NOTIFY=FAILURE", ALL, NF, ""),
    RERR("NOTIFY=NEVER,SUCCESS", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=DELAY,NEVER", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=NEVER,NEVER", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=SUCCESS,SUCCESS", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=SUCCESS,success", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=", ALL, SYN, "Malformed parameter"),
    RERR("NOTIFY", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=SUCCESS,", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=,SUCCESS", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=SUCCESS,,DELAY", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=NEVERMORE", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=SUCCESS;DELAY", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=SUCCESS, DELAY", ALL, SYN, "Bad NOTIFY value"),
    RERR("NOTIFY=NEVER NOTIFY=NEVER", ALL, SYN, "Duplicate parameter"),
    RERR("NOTIFY=NEVER", NO(SMTP_EXT_DSN), UNK, "Unsupported parameter"),
    /* ORCPT, RFC 3461 4.2: rfc822 */
    ROK("ORCPT=rfc822;user@example.com", ALL, 0, "rfc822;user@example.com"),
    ROK("ORCPT=RFC822;a+2Bb@x", ALL, 0, "RFC822;a+2Bb@x"),
    ROK("ORCPT=rfc822;a;b@x", ALL, 0, "rfc822;a;b@x"),
    ROK("ORCPT=rfc822;\"a+20b\"@x", ALL, 0, "rfc822;\"a+20b\"@x"),
    RERR("ORCPT=rfc822;", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=rfc822", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=x400;foo", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=;a@b", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=rfc 822;a@b", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=rfc822;a@b 822;a@b", ALL, SYN, "Malformed parameter"),
    RERR("ORCPT=rfc822;a+0Ab", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=rfc822;a+0d", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=rfc822;a@b+", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=rfc822;a\xc3\xb6@b", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=rfc822;a@b ORCPT=rfc822;a@b", ALL, SYN, "Duplicate parameter"),
    RERR("ORCPT=rfc822;a@b", NO(SMTP_EXT_DSN), UNK, NULL),
    /* ORCPT, RFC 6533: utf-8 */
    ROK("ORCPT=utf-8;j\\x{F6}rg@x", ALL, 0, "utf-8;j\\x{F6}rg@x"),
    ROK("ORCPT=UTF-8;a\\x{2B}b@x", ALL, 0, "UTF-8;a\\x{2B}b@x"),
    ROK("ORCPT=utf-8;a\\x{3D}\\x{20}\\x{5C}@x", ALL, 0,
	"utf-8;a\\x{3D}\\x{20}\\x{5C}@x"),
    ROK("ORCPT=utf-8;\\x{1F600}@x", ALL, 0, "utf-8;\\x{1F600}@x"),
    ROK("ORCPT=utf-8;\\x{10FFFF}@x", ALL, 0, "utf-8;\\x{10FFFF}@x"),
    ROK("ORCPT=utf-8;\\x{100}@x", ALL, 0, "utf-8;\\x{100}@x"),
    ROK("ORCPT=utf-8;\\x{FFFF}@x", ALL, 0, "utf-8;\\x{FFFF}@x"),
    ROK("ORCPT=utf-8;\\x{D7FF}\\x{E000}@x", ALL, 0,
	"utf-8;\\x{D7FF}\\x{E000}@x"),
    ROK("ORCPT=utf-8;\\x{f6}@x", ALL, 0, "utf-8;\\x{f6}@x"),
    ROK("ORCPT=utf-8;plain@x", ALL, 0, "utf-8;plain@x"),
    RERR("ORCPT=utf-8;a\\x{41}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;a\\x{0A}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;a\\x{7F}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;a\\x{00}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{110000}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{D800}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{DFFF}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{0100}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{00F6}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{F}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{1234567}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{F6@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{F6", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\y{F6}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\X{F6}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;\\x{G6}@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;a\\b@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;a+2Bb@x", ALL, SYN, "Bad ORCPT value"),
    RERR("ORCPT=utf-8;", ALL, SYN, "Bad ORCPT value"),
    /* raw UTF-8 (utf-8-addr-unitext) only with SMTPUTF8 */
    ROK("ORCPT=utf-8;j\xc3\xb6rg@x", ALL, 0, "utf-8;j\xc3\xb6rg@x"),
    RERR("ORCPT=utf-8;j\xc3\xb6rg@x", NO(SMTP_EXT_SMTPUTF8), SYN,
	"Bad ORCPT value"),
    RERR("ORCPT=utf-8;j\xc3@x", ALL, SYN, "Malformed parameter"),
    RERR("ORCPT=utf-8;\xf4\x90\x80\x80@x", ALL, SYN, "Malformed parameter"),
    /* together */
    ROK("NOTIFY=FAILURE,DELAY ORCPT=rfc822;a@b", ALL, NF | ND, "rfc822;a@b"),
    ROK("ORCPT=rfc822;a@b  NOTIFY=NEVER ", ALL, NV, "rfc822;a@b"),
    /* MAIL keywords are unknown in RCPT */
    RERR("SIZE=1", ALL, UNK, "Unsupported parameter"),
    RERR("RET=FULL", ALL, UNK, NULL),
    RERR("ENVID=x", ALL, UNK, NULL),
    RERR("AUTH=<>", ALL, UNK, NULL),
    RERR("SMTPUTF8", ALL, UNK, NULL),
    RERR("REQUIRETLS", ALL, UNK, NULL),
    RERR("BODY=7BIT", ALL, UNK, NULL),
    RERR("NOTIFY=NEVER X", ALL, UNK, NULL),
    RERR("NOTIFY=NEVER\0", ALL, SYN, "Malformed parameter"),
};

static char *
dup_exact(const char *s, size_t n)
{
	char *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	if (n > 0)
		memcpy(p, s, n);
	return p;
}

static const char *
show(const char *s, size_t n)
{
	static char out[2048];
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

static bool
mail_is_empty(const struct smtp_mail_params *m)
{
	return !m->has_size && m->size == 0 && m->body == SMTP_BODY_NONE &&
	       !m->smtputf8 && m->ret == SMTP_RET_NONE && m->envid[0] == '\0' &&
	       m->auth[0] == '\0' && !m->requiretls;
}

static void
check_mail(const char *in, size_t n, unsigned ext, int want_rc,
    const char *want_why, const struct mail_case *want)
{
	char *buf = dup_exact(in, n);
	struct smtp_mail_params m;
	const char *why = "stale";
	int rc = smtp_mail_params_parse(span_make(buf, n), ext, &m, &why);

	if (rc != want_rc)
		fail_msg("MAIL <%s> ext %#x: rc %d (%s), want %d", show(in, n),
		    ext, rc, why ? why : "-", want_rc);
	if (rc == SMTP_PARAM_OK) {
		assert_null(why);
		if (want != NULL) {
			assert_int_equal(m.has_size, want->has_size);
			assert_true(m.size == want->size);
			assert_int_equal(m.body, want->body);
			assert_int_equal(m.smtputf8, want->smtputf8);
			assert_int_equal(m.ret, want->ret);
			assert_string_equal(m.envid, want->envid);
			assert_string_equal(m.auth, want->auth);
			assert_int_equal(m.requiretls, want->requiretls);
		}
	} else {
		assert_non_null(why);
		assert_true(why[0] != '\0');
		if (want_why != NULL && strcmp(why, want_why) != 0)
			fail_msg("MAIL <%s>: why \"%s\", want \"%s\"",
			    show(in, n), why, want_why);
		assert_true(mail_is_empty(&m));
	}
	free(buf);
}

static void
check_rcpt(const char *in, size_t n, unsigned ext, int want_rc,
    const char *want_why, const struct rcpt_case *want)
{
	char *buf = dup_exact(in, n);
	struct smtp_rcpt_params r;
	const char *why = "stale";
	int rc = smtp_rcpt_params_parse(span_make(buf, n), ext, &r, &why);

	if (rc != want_rc)
		fail_msg("RCPT <%s> ext %#x: rc %d (%s), want %d", show(in, n),
		    ext, rc, why ? why : "-", want_rc);
	if (rc == SMTP_PARAM_OK) {
		assert_null(why);
		if (want != NULL) {
			assert_int_equal(r.notify, want->notify);
			assert_string_equal(r.orcpt, want->orcpt);
		}
	} else {
		assert_non_null(why);
		if (want_why != NULL && strcmp(why, want_why) != 0)
			fail_msg("RCPT <%s>: why \"%s\", want \"%s\"",
			    show(in, n), why, want_why);
		assert_int_equal(r.notify, 0);
		assert_string_equal(r.orcpt, "");
	}
	free(buf);
}

/* Every strict prefix, exact-size, under ASan; results not checked. */
static void
run_prefixes(const char *in, size_t n, unsigned ext)
{
	size_t k;

	for (k = 0; k < n; k++) {
		char *buf = dup_exact(in, k);
		struct smtp_mail_params m;
		struct smtp_rcpt_params r;
		const char *why;

		(void)smtp_mail_params_parse(span_make(buf, k), ext, &m, &why);
		(void)smtp_rcpt_params_parse(span_make(buf, k), ext, &r, &why);
		(void)smtp_xtext_check(span_make(buf, k));
		free(buf);
	}
}

static void
test_mail_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(mail_cases) / sizeof(mail_cases[0]); i++) {
		const struct mail_case *c = &mail_cases[i];
		check_mail(c->in, c->n, c->ext, c->rc, c->why, c);
		run_prefixes(c->in, c->n, c->ext);
	}
}

static void
test_rcpt_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		const struct rcpt_case *c = &rcpt_cases[i];
		check_rcpt(c->in, c->n, c->ext, c->rc, c->why, c);
		run_prefixes(c->in, c->n, c->ext);
	}
}

static void
fill(char *dst, char c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
}

/* ENVID 100, AUTH 500, ORCPT 500: at the limit and one over. */
static void
test_param_limits(void **state)
{
	char v[600], in[700];
	struct smtp_mail_params m;
	struct smtp_rcpt_params r;
	const char *why;
	int n;

	(void)state;
	fill(v, 'e', SMTP_ENVID_MAX);
	n = snprintf(in, sizeof(in), "ENVID=%s", v);
	check_mail(in, (size_t)n, ALL, OK, NULL, NULL);
	assert_int_equal(
	    smtp_mail_params_parse(span_make(in, (size_t)n), ALL, &m, &why),
	    OK);
	assert_string_equal(m.envid, v);
	fill(v, 'e', SMTP_ENVID_MAX + 1);
	n = snprintf(in, sizeof(in), "ENVID=%s", v);
	check_mail(in, (size_t)n, ALL, SYN, "ENVID too long", NULL);
	/* the limit counts encoded characters */
	fill(v, 'e', SMTP_ENVID_MAX - 3);
	n = snprintf(in, sizeof(in), "ENVID=%s+2B", v);
	check_mail(in, (size_t)n, ALL, OK, NULL, NULL);
	n = snprintf(in, sizeof(in), "ENVID=%se+2B", v);
	check_mail(in, (size_t)n, ALL, SYN, "ENVID too long", NULL);
	/* too long is reported even when the value is also bad */
	fill(v, '\\', SMTP_ENVID_MAX + 1);
	v[0] = '+';
	n = snprintf(in, sizeof(in), "ENVID=%s", v);
	check_mail(in, (size_t)n, ALL, SYN, "ENVID too long", NULL);

	fill(v, 'a', SMTP_AUTHPARAM_MAX);
	n = snprintf(in, sizeof(in), "AUTH=%s", v);
	check_mail(in, (size_t)n, ALL, OK, NULL, NULL);
	assert_int_equal(
	    smtp_mail_params_parse(span_make(in, (size_t)n), ALL, &m, &why),
	    OK);
	assert_string_equal(m.auth, v);
	fill(v, 'a', SMTP_AUTHPARAM_MAX + 1);
	n = snprintf(in, sizeof(in), "AUTH=%s", v);
	check_mail(in, (size_t)n, ALL, SYN, "AUTH value too long", NULL);

	/* ORCPT counts the whole "addr-type;xtext" value */
	fill(v, 'o', SMTP_ORCPT_MAX - 7);
	n = snprintf(in, sizeof(in), "ORCPT=rfc822;%s", v);
	check_rcpt(in, (size_t)n, ALL, OK, NULL, NULL);
	assert_int_equal(
	    smtp_rcpt_params_parse(span_make(in, (size_t)n), ALL, &r, &why),
	    OK);
	assert_int_equal(strlen(r.orcpt), SMTP_ORCPT_MAX);
	fill(v, 'o', SMTP_ORCPT_MAX - 6);
	n = snprintf(in, sizeof(in), "ORCPT=rfc822;%s", v);
	check_rcpt(in, (size_t)n, ALL, SYN, "ORCPT too long", NULL);
	fill(v, 'o', SMTP_ORCPT_MAX - 6);
	n = snprintf(in, sizeof(in), "ORCPT=utf-8;%s", v);
	check_rcpt(in, (size_t)n, ALL, OK, NULL, NULL);
	n = snprintf(in, sizeof(in), "ORCPT=utf-8;%so", v);
	check_rcpt(in, (size_t)n, ALL, SYN, "ORCPT too long", NULL);

	/* SIZE: 20 digits at most */
	fill(v, '1', 20);
	n = snprintf(in, sizeof(in), "SIZE=%s", v);
	check_mail(in, (size_t)n, ALL, OK, NULL, NULL);
	fill(v, '0', 21);
	n = snprintf(in, sizeof(in), "SIZE=%s", v);
	check_mail(in, (size_t)n, ALL, SYN, "Bad SIZE value", NULL);

	/* a NULL why is allowed */
	assert_int_equal(
	    smtp_mail_params_parse(span_cstr("FOO"), ALL, &m, NULL), UNK);
	assert_int_equal(
	    smtp_rcpt_params_parse(span_cstr("NOTIFY=x"), ALL, &r, NULL), SYN);
}

struct xtext_case {
	const char *in;
	size_t n;
	int rc;
	const char *dec; /* decoded, when rc == 0 */
	size_t dn;
};

#define XOK(in, dec)                                                           \
	{                                                                      \
		IN(in), 0, dec, sizeof(dec) - 1                                \
	}
#define XERR(in)                                                               \
	{                                                                      \
		IN(in), -1, "", 0                                              \
	}

static const struct xtext_case xtext_cases[] = {
    XOK("", ""),
    XOK("abc", "abc"),
    XOK("a+2Bb", "a+b"),
    XOK("+3D", "="),
    XOK("+2B+2B", "++"),
    XOK("!~<>\\;:", "!~<>\\;:"),
    XOK("+00", "\0"),
    XOK("+0D+0A", "\r\n"),
    XOK("+FF", "\xff"),
    XERR("+2b"),
    XERR("+"),
    XERR("+2"),
    XERR("a+"),
    XERR("+G0"),
    XERR("+ 1"),
    XERR("a=b"),
    XERR("a b"),
    XERR("a\tb"),
    XERR("\x7f"),
    XERR("\x80"),
    XERR("\xc3\xb6"),
    XERR("a\0b"),
    XERR("a\r\n"),
};

static void
test_xtext(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(xtext_cases) / sizeof(xtext_cases[0]); i++) {
		const struct xtext_case *c = &xtext_cases[i];
		char *buf = dup_exact(c->in, c->n);
		struct buf out;

		if (smtp_xtext_check(span_make(buf, c->n)) != c->rc)
			fail_msg(
			    "xtext <%s>: want %d", show(c->in, c->n), c->rc);
		buf_init(&out, 1000);
		assert_int_equal(buf_puts(&out, "pre:"), 0);
		assert_int_equal(
		    smtp_xtext_decode(span_make(buf, c->n), &out), c->rc);
		if (c->rc == 0) {
			assert_int_equal(out.len, 4 + c->dn);
			assert_memory_equal(out.data + 4, c->dec, c->dn);
		} else {
			/* nothing appended on failure */
			assert_int_equal(out.len, 4);
			assert_string_equal(buf_str(&out), "pre:");
		}
		buf_clear(&out);
		free(buf);
		run_prefixes(c->in, c->n, ALL);
	}
}

/* Decoding into a buffer that is too small fails and appends nothing. */
static void
test_xtext_decode_full(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 5);
	assert_int_equal(buf_puts(&out, "ab"), 0);
	assert_int_equal(smtp_xtext_decode(span_cstr("c+2Bd"), &out), 0);
	assert_string_equal(buf_str(&out), "abc+d");
	assert_int_equal(smtp_xtext_decode(span_cstr("e"), &out), -1);
	assert_string_equal(buf_str(&out), "abc+d");
	assert_int_equal(smtp_xtext_decode(span_cstr(""), &out), 0);
	buf_reset(&out);
	assert_int_equal(
	    smtp_xtext_decode(span_cstr("+41+42+43+44+45+46"), &out), -1);
	assert_int_equal(out.len, 0);
	assert_int_equal(
	    smtp_xtext_decode(span_cstr("+41+42+43+44+45"), &out), 0);
	assert_string_equal(buf_str(&out), "ABCDE");
	buf_clear(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mail_table),
	    cmocka_unit_test(test_rcpt_table),
	    cmocka_unit_test(test_param_limits),
	    cmocka_unit_test(test_xtext),
	    cmocka_unit_test(test_xtext_decode_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
