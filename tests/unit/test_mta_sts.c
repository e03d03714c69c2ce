/*
 * test_mta_sts: table-driven tests for proto/mta_sts: the RFC 8461 TXT
 * record (3.1) and policy (3.2) parsers with the RFC's own examples, LF
 * and CRLF, missing and repeated fields, bad max_age values, the mx line
 * limit, the 4.1 wildcard rules, and the policy lines (which must parse
 * back to the same policy). Also the parts of remote/sts that need no
 * network: its cache directory (loading, removal of expired, broken and
 * temporary files, read-only import, the operator dump) and that a
 * callback never runs inside sts_get() or after sts_cancel(). Every input is
 * copied into a heap buffer of exactly its length, so ASan reports any read
 * past the span.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <event2/event.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "proto/mta_sts.h"
#include "remote/sts.h"

static char *
dup_exact(const char *p, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);

	assert_non_null(b);
	if (n > 0)
		memcpy(b, p, n);
	return b;
}

/* ---- TXT ------------------------------------------------------------ */

struct txt_case {
	const char *in;
	int rc;
	const char *id;
};

static const struct txt_case txt_cases[] = {
    /* RFC 8461 3.1 example */
    {"v=STSv1; id=20160831085700Z;", 0, "20160831085700Z"},
    {"v=STSv1; id=20160831085700Z", 0, "20160831085700Z"},
    {"v=STSv1;id=abc", 0, "abc"},
    {"v=STSv1 ; id=abc ; ", 0, "abc"},
    {"v=STSv1;\tid=abc;\t", 0, "abc"},
    {"v=STSv1; id=12345678901234567890123456789012", 0,
	"12345678901234567890123456789012"},
    /* extensions are allowed and ignored */
    {"v=STSv1; id=1; foo=bar", 0, "1"},
    {"v=STSv1; x_y.z-1=a:b/c; id=A1", 0, "A1"},
    /* bad */
    {"", -1, NULL},
    {"v=STSv1", -1, NULL},
    {"v=STSv1;", -1, NULL},
    {"v=STSv1; ", -1, NULL},
    {"v=STSv2; id=1", -1, NULL},
    {"v=stsv1; id=1", -1, NULL},
    {" v=STSv1; id=1", -1, NULL},
    {"id=1; v=STSv1", -1, NULL},
    {"v=STSv1 id=1", -1, NULL},
    {"v=STSv1; id=", -1, NULL},
    {"v=STSv1; id=1; id=2", -1, NULL},
    {"v=STSv1; id=123456789012345678901234567890123", -1, NULL},
    {"v=STSv1; id=a-b", -1, NULL},
    {"v=STSv1; id=a b", -1, NULL},
    {"v=STSv1; ID=1", -1, NULL},
    {"v=STSv1; foo=bar", -1, NULL},
    {"v=STSv1; id=1;; ", -1, NULL},
    {"v=STSv1; id=1; _x=1", -1, NULL},
    {"v=STSv1; id=1; x=", -1, NULL},
    {"v=STSv1; id=1; x", -1, NULL},
    {"v=STSv1; id=1; x=a=b", -1, NULL},
    {"v=STSv1; id=1\x01", -1, NULL},
};

static void
test_txt(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		const struct txt_case *c = &txt_cases[i];
		size_t n = strlen(c->in);
		char *b = dup_exact(c->in, n);
		struct mta_sts_txt t;
		int rc = mta_sts_txt_parse(span_make(b, n), &t);

		if (rc != c->rc)
			fail_msg("case %zu \"%s\": rc %d", i, c->in, rc);
		assert_string_equal(t.id, c->id ? c->id : "");
		free(b);
	}
}

static void
test_txt_is_sts(void **state)
{
	(void)state;
	assert_true(mta_sts_txt_is_sts(span_cstr("v=STSv1; id=1")));
	assert_true(mta_sts_txt_is_sts(span_cstr("v=STSv1 ;id=1")));
	assert_true(mta_sts_txt_is_sts(span_cstr("v=STSv1")));
	assert_false(mta_sts_txt_is_sts(span_cstr("v=STSv10; id=1")));
	assert_false(mta_sts_txt_is_sts(span_cstr("v=spf1 -all")));
	assert_false(mta_sts_txt_is_sts(span_cstr("")));
	assert_false(mta_sts_txt_is_sts(span_make("v=STS", 5)));
}

/* ---- policy --------------------------------------------------------- */

struct policy_case {
	const char *in;
	int rc;
	enum mta_sts_mode mode;
	uint32_t max_age;
	const char *mx;  /* space-separated */
	const char *err; /* substring of the reason */
};

static const struct policy_case policy_cases[] = {
    /* RFC 8461 3.2 examples */
    {"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
     "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
	0, MTA_STS_ENFORCE, 604800,
	"mail.example.com *.example.net backupmx.example.com", NULL},
    {"version: STSv1\nmode: enforce\nmx: mail.example.com\n"
     "mx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800",
	0, MTA_STS_ENFORCE, 604800,
	"mail.example.com *.example.net backupmx.example.com", NULL},
    {"version: STSv1\r\nmode: testing\nmx: MX.Example.COM\r\nmax_age: 0\n", 0,
	MTA_STS_TESTING, 0, "mx.example.com", NULL},
    /* mode none needs no mx (policy invalidation, RFC 8461 5.1) */
    {"version: STSv1\nmode: none\nmax_age: 86400\n", 0, MTA_STS_NONE, 86400, "",
	NULL},
    /* trailing WSP, no WSP after ':', blank lines, unknown keys */
    {"version:STSv1 \t\nmode: enforce  \n\nmx:\tmx.x.test\n"
     "max_age: 10\nfoo: bar baz\nx.y-z_1: \xc3\xa9t\xc3\xa9\n\n\n",
	0, MTA_STS_ENFORCE, 10, "mx.x.test", NULL},
    /* any field order */
    {"max_age: 5\nmx: a.test\nmode: enforce\nversion: STSv1\n", 0,
	MTA_STS_ENFORCE, 5, "a.test", NULL},
    /* max_age: 10 digits allowed, lowered to the maximum */
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557600\n", 0,
	MTA_STS_ENFORCE, 31557600, "a.test", NULL},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 9999999999\n", 0,
	MTA_STS_ENFORCE, 31557600, "a.test", NULL},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 0000000001\n", 0,
	MTA_STS_ENFORCE, 1, "a.test", NULL},
    /* missing fields */
    {"mode: enforce\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "", "no version"},
    {"version: STSv1\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "", "no mode"},
    {"version: STSv1\nmode: enforce\nmx: a.test\n", -1, 0, 0, "", "no max_age"},
    {"version: STSv1\nmode: enforce\nmax_age: 1\n", -1, 0, 0, "", "no mx"},
    {"version: STSv1\nmode: testing\nmax_age: 1\n", -1, 0, 0, "", "no mx"},
    {"", -1, 0, 0, "", "empty"},
    {"\n\n", -1, 0, 0, "", "no version"},
    /* bad values */
    {"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "",
	"version"},
    {"version: STSv1\nmode: Enforce\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "",
	"mode"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n", -1, 0, 0, "",
	"max_age"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1d\n", -1, 0, 0, "",
	"max_age"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: \n", -1, 0, 0, "",
	"max_age"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 10000000000\n", -1, 0,
	0, "", "max_age"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1 2\n", -1, 0, 0, "",
	"max_age"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: +1\n", -1, 0, 0, "",
	"max_age"},
    /* duplicate keys */
    {"version: STSv1\nversion: STSv1\nmode: enforce\nmx: a.test\n"
     "max_age: 1\n",
	-1, 0, 0, "", "duplicate version"},
    {"version: STSv1\nmode: testing\nmode: enforce\nmx: a.test\n"
     "max_age: 1\n",
	-1, 0, 0, "", "duplicate mode"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n"
     "max_age: 2\n",
	-1, 0, 0, "", "duplicate max_age"},
    /* repeated unknown keys and mx are fine */
    {"version: STSv1\nmode: enforce\nmx: a.test\nmx: a.test\nx: 1\nx: 2\n"
     "max_age: 1\n",
	0, MTA_STS_ENFORCE, 1, "a.test a.test", NULL},
    /* bad mx values */
    {"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", -1, 0, 0, "", "mx"},
    {"version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n", -1, 0, 0, "", "mx"},
    {"version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 1\n", -1, 0, 0, "",
	"mx"},
    {"version: STSv1\nmode: enforce\nmx: **.test\nmax_age: 1\n", -1, 0, 0, "",
	"mx"},
    {"version: STSv1\nmode: enforce\nmx: mx.test.\nmax_age: 1\n", -1, 0, 0, "",
	"mx"},
    {"version: STSv1\nmode: enforce\nmx: -mx.test\nmax_age: 1\n", -1, 0, 0, "",
	"mx"},
    {"version: STSv1\nmode: enforce\nmx: mx_1.test\nmax_age: 1\n", -1, 0, 0, "",
	"mx"},
    {"version: STSv1\nmode: enforce\nmx: 192.0.2.1]\nmax_age: 1\n", -1, 0, 0,
	"", "mx"},
    {"version: STSv1\nmode: enforce\nmx: a.test b.test\nmax_age: 1\n", -1, 0, 0,
	"", "mx"},
    {"version: STSv1\nmode: enforce\nmx: \nmax_age: 1\n", -1, 0, 0, "", "mx"},
    /* syntax */
    {"version: STSv1\nmode enforce\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "",
	"line 2"},
    {" version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "",
	"line 1"},
    {"version : STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "",
	"line 1"},
    {"version: STSv1\rmode: enforce\nmx: a.test\nmax_age: 1\n", -1, 0, 0, "",
	"control"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nx: \x01\n", -1, 0,
	0, "", "line 5"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nx: \xc3\n", -1, 0,
	0, "", "line 5"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nx:\n", -1, 0, 0,
	"", "line 5"},
    /* a value of only WSP is empty (found by fuzzing: the value must not
     * start past the trimmed line end) */
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nx:   \ny: 1\n", -1,
	0, 0, "", "line 5"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\nmh: ", -1, 0, 0,
	"", "line 5"},
    {"version: STSv1\nmode: enforce\nmx: \t \nmax_age: 1\n", -1, 0, 0, "",
	"mx"},
    {"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n_x: 1\n", -1, 0, 0,
	"", "line 5"},
    {"<html><body>version: STSv1</body></html>\n", -1, 0, 0, "", "line 1"},
};

static void
check_policy_case(
    size_t idx, const struct policy_case *c, const char *in, size_t n)
{
	char *b = dup_exact(in, n);
	struct mta_sts_policy p;
	char err[128], mx[MTA_STS_MX_MAX * MTA_STS_MX_LEN];
	size_t i;
	int rc;

	memset(&p, 0x5a, sizeof(p));
	rc = mta_sts_policy_parse(span_make(b, n), &p, err, sizeof(err));
	if (rc != c->rc)
		fail_msg("case %zu: rc %d (%s)", idx, rc, err);
	mx[0] = '\0';
	for (i = 0; i < p.nmx; i++) {
		if (i > 0)
			strcat(mx, " ");
		strcat(mx, p.mx[i]);
	}
	if (rc == 0) {
		assert_int_equal(p.mode, c->mode);
		assert_int_equal(p.max_age, c->max_age);
		assert_string_equal(mx, c->mx);
		assert_string_equal(err, "");
	} else {
		assert_int_equal(p.nmx, 0);
		assert_int_equal(p.max_age, 0);
		if (c->err != NULL && strstr(err, c->err) == NULL)
			fail_msg("case %zu: err \"%s\", want \"%s\"", idx, err,
			    c->err);
	}
	free(b);
}

static void
test_policy(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++)
		check_policy_case(i, &policy_cases[i], policy_cases[i].in,
		    strlen(policy_cases[i].in));
}

static void
test_policy_nul(void **state)
{
	static const char in[] =
	    "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n\0\n";
	struct mta_sts_policy p;
	char err[64];

	(void)state;
	assert_int_equal(mta_sts_policy_parse(span_make(in, sizeof(in) - 1), &p,
			     err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "control"));
	/* NULL err is fine */
	assert_int_equal(
	    mta_sts_policy_parse(span_make(in, sizeof(in) - 1), &p, NULL, 0),
	    -1);
}

static void
test_policy_mx_limit(void **state)
{
	char body[4096];
	struct mta_sts_policy p;
	char err[64];
	size_t n, i;

	(void)state;
	for (int want = MTA_STS_MX_MAX; want <= MTA_STS_MX_MAX + 1; want++) {
		n = (size_t)snprintf(body, sizeof(body),
		    "version: STSv1\nmode: enforce\nmax_age: 60\n");
		for (i = 0; i < (size_t)want; i++)
			n += (size_t)snprintf(body + n, sizeof(body) - n,
			    "mx: mx%zu.example.com\n", i);
		if (want == MTA_STS_MX_MAX) {
			assert_int_equal(
			    mta_sts_policy_parse(
				span_make(body, n), &p, err, sizeof(err)),
			    0);
			assert_int_equal(p.nmx, MTA_STS_MX_MAX);
			assert_string_equal(p.mx[19], "mx19.example.com");
		} else {
			assert_int_equal(
			    mta_sts_policy_parse(
				span_make(body, n), &p, err, sizeof(err)),
			    -1);
			assert_non_null(strstr(err, "too many mx"));
		}
	}
}

static void
test_policy_size_limit(void **state)
{
	static const char head[] =
	    "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1\n";
	size_t n = MTA_STS_POLICY_MAX + 1, i;
	char *b = malloc(n);
	struct mta_sts_policy p;
	char err[64];

	(void)state;
	assert_non_null(b);
	memcpy(b, head, sizeof(head) - 1);
	/* pad with a long extension line, then with LFs */
	memcpy(b + sizeof(head) - 1, "pad: ", 5);
	for (i = sizeof(head) - 1 + 5; i < n; i++)
		b[i] = 'x';
	assert_int_equal(
	    mta_sts_policy_parse(span_make(b, n), &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too large"));
	assert_int_equal(
	    mta_sts_policy_parse(span_make(b, n - 1), &p, err, sizeof(err)), 0);
	free(b);
}

/* mx patterns of the longest kind still fit */
static void
test_policy_long_mx(void **state)
{
	char body[1024], name[260];
	struct mta_sts_policy p;
	size_t n, i;

	(void)state;
	/* 63.63.63.61 = 253 octets */
	for (i = 0; i < 253; i++)
		name[i] = (i % 64 == 63) ? '.' : 'a';
	name[253] = '\0';
	n = (size_t)snprintf(body, sizeof(body),
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: %s\n", name);
	assert_int_equal(
	    mta_sts_policy_parse(span_make(body, n), &p, NULL, 0), 0);
	assert_string_equal(p.mx[0], name);
	/* "*." + 251 = 253 fits */
	n = (size_t)snprintf(body, sizeof(body),
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: *.%s\n", name + 2);
	assert_int_equal(
	    mta_sts_policy_parse(span_make(body, n), &p, NULL, 0), 0);
	/* "*." + 253 does not */
	n = (size_t)snprintf(body, sizeof(body),
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: *.%s\n", name);
	assert_int_equal(
	    mta_sts_policy_parse(span_make(body, n), &p, NULL, 0), -1);
	/* a 64-octet label does not */
	n = (size_t)snprintf(body, sizeof(body),
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: %.64s.test\n",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "a");
	assert_int_equal(
	    mta_sts_policy_parse(span_make(body, n), &p, NULL, 0), -1);
}

/* ---- MX matching ---------------------------------------------------- */

static void
test_mx_match(void **state)
{
	static const char body[] = "version: STSv1\nmode: enforce\n"
				   "mx: mail.example.com\nmx: *.example.net\n"
				   "max_age: 86400\n";
	struct mta_sts_policy p;

	(void)state;
	assert_int_equal(mta_sts_policy_parse(
			     span_make(body, sizeof(body) - 1), &p, NULL, 0),
	    0);
	assert_true(mta_sts_mx_match(&p, "mail.example.com"));
	assert_true(mta_sts_mx_match(&p, "MAIL.Example.COM"));
	assert_true(mta_sts_mx_match(&p, "mail.example.com."));
	assert_false(mta_sts_mx_match(&p, "mail.example.com.."));
	assert_false(mta_sts_mx_match(&p, "example.com"));
	assert_false(mta_sts_mx_match(&p, "x.mail.example.com"));
	assert_false(mta_sts_mx_match(&p, "mail.example.co"));
	assert_false(mta_sts_mx_match(&p, "ail.example.com"));
	/* RFC 8461 4.1 wildcard: exactly one leftmost label */
	assert_true(mta_sts_mx_match(&p, "mx1.example.net"));
	assert_true(mta_sts_mx_match(&p, "MX1.EXAMPLE.NET."));
	assert_false(mta_sts_mx_match(&p, "example.net"));
	assert_false(mta_sts_mx_match(&p, "a.b.example.net"));
	assert_false(mta_sts_mx_match(&p, ".example.net"));
	assert_false(mta_sts_mx_match(&p, "xexample.net"));
	assert_false(mta_sts_mx_match(&p, "*.example.net.x"));
	assert_false(mta_sts_mx_match(&p, ""));
	assert_false(mta_sts_mx_match(&p, "."));
}

static void
test_mx_match_wildcard_com(void **state)
{
	static const char body[] = "version: STSv1\nmode: testing\n"
				   "mx: *.example.com\nmax_age: 1\n";
	struct mta_sts_policy p;

	(void)state;
	assert_int_equal(mta_sts_policy_parse(
			     span_make(body, sizeof(body) - 1), &p, NULL, 0),
	    0);
	assert_true(mta_sts_mx_match(&p, "mx.example.com"));
	assert_false(mta_sts_mx_match(&p, "example.com"));
	assert_false(mta_sts_mx_match(&p, "a.b.example.com"));
	/* the empty policy matches nothing */
	memset(&p, 0, sizeof(p));
	assert_false(mta_sts_mx_match(&p, "mx.example.com"));
}

/* ---- policy lines --------------------------------------------------- */

static void
test_policy_strings(void **state)
{
	static const char full[] =
	    "x: y\nversion: STSv1\nmode: testing\nmx: *.A.test\nmx: b.test\n"
	    "max_age: 604800\n";
	char lines[MTA_STS_MX_MAX + 4][MTA_STS_STRING_MAX];
	char joined[8192];
	struct mta_sts_policy p, q;
	size_t n, i, len = 0;

	(void)state;
	assert_int_equal(mta_sts_policy_parse(
			     span_make(full, sizeof(full) - 1), &p, NULL, 0),
	    0);
	n = mta_sts_policy_strings(&p, lines, MTA_STS_MX_MAX + 4);
	assert_int_equal(n, 5);
	assert_string_equal(lines[0], "version: STSv1");
	assert_string_equal(lines[1], "mode: testing");
	assert_string_equal(lines[2], "mx: *.a.test");
	assert_string_equal(lines[3], "mx: b.test");
	assert_string_equal(lines[4], "max_age: 604800");
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(
		    joined + len, sizeof(joined) - len, "%s\n", lines[i]);
	assert_int_equal(
	    mta_sts_policy_parse(span_make(joined, len), &q, NULL, 0), 0);
	assert_memory_equal(&p, &q, sizeof(p));
	/* bounded by max */
	assert_int_equal(mta_sts_policy_strings(&p, lines, 2), 2);
	assert_int_equal(mta_sts_policy_strings(&p, lines, 0), 0);
	assert_string_equal(mta_sts_mode_name(MTA_STS_ENFORCE), "enforce");
	assert_string_equal(mta_sts_mode_name(MTA_STS_NONE), "none");
}

/* ---- remote/sts without network ------------------------------------- */

struct sts_seen {
	int calls;
	struct sts_result r;
};

static void
sts_seen_cb(const struct sts_result *r, void *arg)
{
	struct sts_seen *seen = arg;

	seen->calls++;
	seen->r = *r;
}

static void
test_sts_invalid_domain_later(void **state)
{
	struct event_base *base = event_base_new();
	struct sts_seen seen, seen2;
	struct sts_query *q;
	struct sts *s;
	char err[128];

	(void)state;
	memset(&seen, 0, sizeof(seen));
	memset(&seen2, 0, sizeof(seen2));
	assert_non_null(base);
	s = sts_new(base, NULL, err, sizeof(err));
	assert_non_null(s);
	/* never inside sts_get, even when the answer is known at once */
	(void)sts_get(s, NULL, NULL, 0, "not a domain", sts_seen_cb, &seen);
	q = sts_get(s, NULL, NULL, 0, "", sts_seen_cb, &seen2);
	assert_int_equal(seen.calls, 0);
	sts_cancel(q);
	assert_int_equal(event_base_dispatch(base), 1); /* no events left */
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen2.calls, 0);
	assert_int_equal(seen.r.status, STS_NONE);
	assert_string_equal(seen.r.error, "invalid domain name");
	assert_null(seen.r.failure);
	sts_free(s);
	event_base_free(base);
}

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static bool
file_exists(const char *dir, const char *name)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static void
fill_cache_dir(const char *dir)
{
	long long now = (long long)time(NULL);
	char text[1024];

	snprintf(text, sizeof(text),
	    "petrel-sts-cache 1\ndomain good.test\nid 42\nfetched %lld\n"
	    "expires %lld\n\nversion: STSv1\nmode: enforce\n"
	    "mx: mx.good.test\nmx: *.good.test\nmax_age: 86400\n",
	    now - 10, now + 86390);
	write_file(dir, "good.test", text);
	snprintf(text, sizeof(text),
	    "petrel-sts-cache 1\ndomain old.test\nid 1\nfetched %lld\n"
	    "expires %lld\n\nversion: STSv1\nmode: enforce\n"
	    "mx: mx.old.test\nmax_age: 10\n",
	    now - 100, now - 90);
	write_file(dir, "old.test", text);
	/* expires lies beyond fetched + max_age: expired in truth */
	snprintf(text, sizeof(text),
	    "petrel-sts-cache 1\ndomain liar.test\nid 1\nfetched %lld\n"
	    "expires %lld\n\nversion: STSv1\nmode: enforce\n"
	    "mx: mx.liar.test\nmax_age: 10\n",
	    now - 100, now + 100000);
	write_file(dir, "liar.test", text);
	/* the file of another domain, a truncated one, a bad id */
	snprintf(text, sizeof(text),
	    "petrel-sts-cache 1\ndomain good.test\nid 42\nfetched %lld\n"
	    "expires %lld\n\nversion: STSv1\nmode: none\nmax_age: 100\n",
	    now, now + 100);
	write_file(dir, "moved.test", text);
	write_file(dir, "cut.test", "petrel-sts-cache 1\ndomain cut.test\n");
	snprintf(text, sizeof(text),
	    "petrel-sts-cache 1\ndomain badid.test\nid a-b\nfetched %lld\n"
	    "expires %lld\n\nversion: STSv1\nmode: none\nmax_age: 100\n",
	    now, now + 100);
	write_file(dir, "badid.test", text);
	write_file(dir, ".tmp-abc", "partial");
}

static void
test_sts_cache_dir(void **state)
{
	static const char *gone[] = {"old.test", "liar.test", "moved.test",
	    "cut.test", "badid.test", ".tmp-abc"};
	char dir[] = "/tmp/test_sts_XXXXXX", ro[] = "/tmp/test_sts_ro_XXXXXX";
	char sub[128], err[256], cmd[256];
	struct event_base *base = event_base_new();
	struct buf out;
	struct sts *s;
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(ro));
	snprintf(sub, sizeof(sub), "%s/sts", dir);

	/* a missing cache directory is created */
	s = sts_new(base, sub, err, sizeof(err));
	assert_non_null(s);
	sts_free(s);
	assert_true(file_exists(dir, "sts"));

	/* read-write: only the good file survives */
	fill_cache_dir(sub);
	s = sts_new(base, sub, err, sizeof(err));
	assert_non_null(s);
	buf_init(&out, 65536);
	assert_int_equal(sts_cache_dump(s, &out), 1);
	assert_non_null(strstr(buf_str(&out),
	    "good.test id 42 mode enforce max_age 86400 fetched "));
	assert_non_null(
	    strstr(buf_str(&out), " mx mx.good.test,*.good.test\n"));
	buf_clear(&out);
	sts_free(s);
	assert_true(file_exists(sub, "good.test"));
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		if (file_exists(sub, gone[i]))
			fail_msg("%s was not removed", gone[i]);

	/* read-only import: the same policy, nothing removed */
	fill_cache_dir(ro);
	s = sts_new(base, NULL, err, sizeof(err));
	assert_non_null(s);
	assert_int_equal(sts_cache_import(s, ro, err, sizeof(err)), 1);
	buf_init(&out, 65536);
	assert_int_equal(sts_cache_dump(s, &out), 1);
	assert_non_null(strstr(buf_str(&out), "good.test id 42 "));
	buf_clear(&out);
	for (i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		assert_true(file_exists(ro, gone[i]));
	assert_int_equal(
	    sts_cache_import(s, "/nonexistent/x", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/x"));
	sts_free(s);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", dir, ro);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_txt_is_sts),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_policy_nul),
	    cmocka_unit_test(test_policy_mx_limit),
	    cmocka_unit_test(test_policy_size_limit),
	    cmocka_unit_test(test_policy_long_mx),
	    cmocka_unit_test(test_mx_match),
	    cmocka_unit_test(test_mx_match_wildcard_com),
	    cmocka_unit_test(test_policy_strings),
	    cmocka_unit_test(test_sts_invalid_domain_later),
	    cmocka_unit_test(test_sts_cache_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
