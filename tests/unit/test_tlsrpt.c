/*
 * test_tlsrpt: proto/tlsrpt (the RFC 8460 TXT record, the JSON report,
 * gzip, the report message) and remote/tlsrpt (the counts store:
 * persistence across close/open, day rollover, bounds, and the report
 * composition without DNS). Times are passed explicitly; files live in a
 * fresh temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "lib/buf.h"
#include "proto/base64.h"
#include "proto/tlsrpt.h"

#define S(lit) span_make(lit, sizeof(lit) - 1)

/* ---- the TXT record ---- */

static void
test_record_rfc_examples(void **state)
{
	struct tlsrpt_record r;

	(void)state;
	/* RFC 8460 3.1 */
	assert_int_equal(
	    tlsrpt_record_parse(
		S("v=TLSRPTv1;rua=mailto:reports@example.com"), &r),
	    TLSRPT_REC_OK);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.rua[0].kind, TLSRPT_RUA_MAILTO);
	assert_string_equal(r.rua[0].addr, "reports@example.com");
	assert_string_equal(r.rua[0].uri, "mailto:reports@example.com");

	assert_int_equal(
	    tlsrpt_record_parse(
		S("v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt"),
		&r),
	    TLSRPT_REC_OK);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.rua[0].kind, TLSRPT_RUA_HTTPS);
	assert_string_equal(
	    r.rua[0].uri, "https://reporting.example.com/v1/tlsrpt");
	assert_string_equal(r.rua[0].addr, "");
}

static void
test_record_several(void **state)
{
	struct tlsrpt_record r;

	(void)state;
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1 ; rua=mailto:a@example.com , "
				  "https://r.example/x,mailto:B@Example.COM ; "
				  "rua=mailto:c%2Bx@example.net ;"),
		&r),
	    TLSRPT_REC_OK);
	assert_int_equal(r.nrua, 4);
	assert_string_equal(r.rua[0].addr, "a@example.com");
	assert_int_equal(r.rua[1].kind, TLSRPT_RUA_HTTPS);
	assert_string_equal(r.rua[1].uri, "https://r.example/x");
	/* domain lower-cased, local part kept */
	assert_string_equal(r.rua[2].addr, "B@example.com");
	assert_string_equal(r.rua[3].addr, "c+x@example.net");
	assert_int_equal(r.nskipped, 0);
	/* "%40" decodes to '@': "c@x@example.net" is no mailbox, skipped */
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1;rua=mailto:c%40x@example.net,"
				  "mailto:d@example.net"),
		&r),
	    TLSRPT_REC_OK);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.nskipped, 1);
	assert_string_equal(r.rua[0].addr, "d@example.net");
	/* hfields ignored; encoded comma gives two addresses */
	assert_int_equal(tlsrpt_record_parse(
			     S("v=TLSRPTv1;rua=mailto:a@x.example%2Cb@y.example"
			       "?subject=hi"),
			     &r),
	    TLSRPT_REC_OK);
	assert_int_equal(r.nrua, 2);
	assert_string_equal(r.rua[0].addr, "a@x.example");
	assert_string_equal(r.rua[1].addr, "b@y.example");
	assert_string_equal(r.rua[0].uri, r.rua[1].uri);
	/* tabs as WSP */
	assert_int_equal(tlsrpt_record_parse(
			     S("v=TLSRPTv1\t;\trua=mailto:a@b.example\t"), &r),
	    TLSRPT_REC_OK);
}

static void
test_record_extensions(void **state)
{
	struct tlsrpt_record r;

	(void)state;
	assert_int_equal(tlsrpt_record_parse(
			     S("v=TLSRPTv1; foo=bar; rua=mailto:a@b.example; "
			       "x_1.y-z=%21-:<>~"),
			     &r),
	    TLSRPT_REC_OK);
	assert_int_equal(r.nrua, 1);
	/* ext-name at most 32 characters */
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:a@b.example; "
				  "abcdefghijabcdefghijabcdefghijab=1"),
		&r),
	    TLSRPT_REC_OK);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:a@b.example; "
				  "abcdefghijabcdefghijabcdefghijabc=1"),
		&r),
	    TLSRPT_REC_SYNTAX);
	/* ext-value without '=' and ';' and spaces; empty value */
	assert_int_equal(
	    tlsrpt_record_parse(
		S("v=TLSRPTv1; rua=mailto:a@b.example; x=a=b"), &r),
	    TLSRPT_REC_SYNTAX);
	assert_int_equal(tlsrpt_record_parse(
			     S("v=TLSRPTv1; rua=mailto:a@b.example; x="), &r),
	    TLSRPT_REC_SYNTAX);
	assert_int_equal(
	    tlsrpt_record_parse(
		S("v=TLSRPTv1; rua=mailto:a@b.example; x=a b"), &r),
	    TLSRPT_REC_SYNTAX);
	/* "RUA=" is an extension (the names are case-sensitive) */
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; RUA=mailto:a@b.example"), &r),
	    TLSRPT_REC_NORUA);
}

static void
test_record_bad(void **state)
{
	struct tlsrpt_record r;
	char big[TLSRPT_TXT_MAX + 64];
	size_t n;

	(void)state;
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv2; rua=mailto:a@b.c"), &r),
	    TLSRPT_REC_NOTRPT);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=tlsrptv1; rua=mailto:a@b.c"), &r),
	    TLSRPT_REC_NOTRPT);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1"), &r), TLSRPT_REC_NOTRPT);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv10;rua=mailto:a@b.c"), &r),
	    TLSRPT_REC_NOTRPT);
	assert_int_equal(
	    tlsrpt_record_parse(S(" v=TLSRPTv1;rua=mailto:a@b.c"), &r),
	    TLSRPT_REC_NOTRPT);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=spf1 -all"), &r), TLSRPT_REC_NOTRPT);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1;"), &r), TLSRPT_REC_NORUA);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; x=y"), &r), TLSRPT_REC_NORUA);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1;;rua=mailto:a@b.c"), &r),
	    TLSRPT_REC_SYNTAX);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua="), &r), TLSRPT_REC_SYNTAX);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=a@b.example"), &r),
	    TLSRPT_REC_SYNTAX); /* no scheme */
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:a@b.c,"), &r),
	    TLSRPT_REC_SYNTAX);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:a@b.c x"), &r),
	    TLSRPT_REC_SYNTAX);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:a!@b.c"), &r),
	    TLSRPT_REC_SYNTAX); /* '!' must be encoded */
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:a%4@b.c"), &r),
	    TLSRPT_REC_SYNTAX);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:a@b.c%"), &r),
	    TLSRPT_REC_SYNTAX);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:\xc3\xa9@b.c"), &r),
	    TLSRPT_REC_SYNTAX);
	/* usable scheme missing */
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=http://x.example/"), &r),
	    TLSRPT_REC_NOURI);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:nobody"), &r),
	    TLSRPT_REC_NOURI);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=mailto:%0a@b.c"), &r),
	    TLSRPT_REC_NOURI);
	assert_int_equal(
	    tlsrpt_record_parse(S("v=TLSRPTv1; rua=https:///x"), &r),
	    TLSRPT_REC_NOURI);
	assert_int_equal(r.nrua, 0);
	/* too long */
	n = (size_t)snprintf(
	    big, sizeof(big), "v=TLSRPTv1; rua=mailto:a@b.c; x=");
	memset(big + n, 'y', sizeof(big) - n);
	assert_int_equal(
	    tlsrpt_record_parse(span_make(big, TLSRPT_TXT_MAX), &r),
	    TLSRPT_REC_OK);
	assert_int_equal(
	    tlsrpt_record_parse(span_make(big, TLSRPT_TXT_MAX + 1), &r),
	    TLSRPT_REC_TOOLONG);
	assert_string_equal(
	    tlsrpt_rec_strerror(TLSRPT_REC_TOOLONG), "TLSRPT record too long");
}

static void
test_record_bounds(void **state)
{
	struct tlsrpt_record r;
	struct buf b;
	int i;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(buf_puts(&b, "v=TLSRPTv1; rua="), 0);
	for (i = 0; i < TLSRPT_RUA_MAX + 3; i++)
		assert_int_equal(
		    buf_printf(&b, "%smailto:r%d@x.example", i ? "," : "", i),
		    0);
	assert_int_equal(
	    tlsrpt_record_parse(span_make(b.data, b.len), &r), TLSRPT_REC_OK);
	assert_int_equal(r.nrua, TLSRPT_RUA_MAX);
	assert_int_equal(r.nskipped, 3);
	assert_string_equal(r.rua[TLSRPT_RUA_MAX - 1].addr, "r7@x.example");
	/* an over-long URI is skipped, the record stays usable */
	buf_reset(&b);
	assert_int_equal(buf_puts(&b, "v=TLSRPTv1; rua=https://x.example/"), 0);
	for (i = 0; i < TLSRPT_URI_MAX; i++)
		assert_int_equal(buf_putc(&b, 'a'), 0);
	assert_int_equal(buf_puts(&b, ",mailto:a@b.example"), 0);
	assert_int_equal(
	    tlsrpt_record_parse(span_make(b.data, b.len), &r), TLSRPT_REC_OK);
	assert_int_equal(r.nrua, 1);
	assert_int_equal(r.nskipped, 1);
	buf_clear(&b);
}

static void
test_record_select(void **state)
{
	struct tlsrpt_record r;
	struct span one[] = {S("v=spf1 -all"),
	    S("v=TLSRPTv1; rua=mailto:a@b.example"), S("hello")};
	struct span two[] = {S("v=TLSRPTv1; rua=mailto:a@b.example"),
	    S("v=TLSRPTv1;rua=mailto:c@d.example")};
	struct span none[] = {S("v=TLSRPTv2; rua=mailto:a@b.example")};
	struct span bad[] = {S("v=TLSRPTv1; rua=")};

	(void)state;
	assert_int_equal(tlsrpt_record_select(one, 3, &r), TLSRPT_REC_OK);
	assert_string_equal(r.rua[0].addr, "a@b.example");
	assert_int_equal(tlsrpt_record_select(two, 2, &r), TLSRPT_REC_MULTIPLE);
	assert_int_equal(r.nrua, 0);
	assert_int_equal(tlsrpt_record_select(none, 1, &r), TLSRPT_REC_NOTRPT);
	assert_int_equal(tlsrpt_record_select(NULL, 0, &r), TLSRPT_REC_NOTRPT);
	assert_int_equal(tlsrpt_record_select(bad, 1, &r), TLSRPT_REC_SYNTAX);
}

/* ---- names ---- */

static void
test_names(void **state)
{
	enum tlsrpt_result res;
	enum tlsrpt_policy_type pt;

	(void)state;
	assert_string_equal(tlsrpt_result_name(TLSRPT_STARTTLS_NOT_SUPPORTED),
	    "starttls-not-supported");
	assert_string_equal(tlsrpt_result_name(TLSRPT_STS_WEBPKI_INVALID),
	    "sts-webpki-invalid");
	assert_null(tlsrpt_result_name((enum tlsrpt_result)99));
	assert_string_equal(
	    tlsrpt_policy_type_name(TLSRPT_NO_POLICY), "no-policy-found");
	assert_int_equal(tlsrpt_result_parse(S("dane-required"), &res), 0);
	assert_int_equal(res, TLSRPT_DANE_REQUIRED);
	assert_int_equal(tlsrpt_result_parse(S("dane-require"), &res), -1);
	assert_int_equal(tlsrpt_policy_type_parse(S("sts"), &pt), 0);
	assert_int_equal(pt, TLSRPT_STS);
	assert_int_equal(tlsrpt_policy_type_parse(S("STS"), &pt), -1);
}

/* ---- JSON ---- */

static void
test_json_string(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 1024);
	assert_int_equal(
	    tlsrpt_json_string(&b, "a\"b\\c/\x01\n\r\t\b\f\x7f", 13), 0);
	assert_string_equal(
	    b.data, "\"a\\\"b\\\\c/\\u0001\\n\\r\\t\\b\\f\\u007f\"");
	buf_reset(&b);
	/* valid UTF-8 kept, invalid replaced by U+FFFD, NUL escaped */
	assert_int_equal(tlsrpt_json_string(&b, "\xc3\xa9\xff\xc3", 4), 0);
	assert_string_equal(b.data, "\"\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\"");
	buf_reset(&b);
	assert_int_equal(tlsrpt_json_string(&b, "a\0b", 3), 0);
	assert_string_equal(b.data, "\"a\\u0000b\"");
	buf_clear(&b);
	/* full buffer fails */
	buf_init(&b, 3);
	assert_int_equal(tlsrpt_json_string(&b, "abcd", 4), -1);
	buf_clear(&b);
}

static void
test_json_small(void **state)
{
	static const char *const tlsa[] = {"3 1 1 ABCD"};
	static const char *const sts[] = {"version: STSv1", "mode: testing",
	    "mx: *.mail.example", "mx:mx2.example ", "max_age: 86400"};
	struct tlsrpt_failure f[] = {
	    {TLSRPT_CERTIFICATE_EXPIRED, "192.0.2.1", "mx1.mail.example", "",
		NULL, 100},
	    {TLSRPT_VALIDATION_FAILURE, "", "mx2.example", "203.0.113.5",
		"X509 \"bad\"", 3},
	};
	struct tlsrpt_policy p[] = {
	    {TLSRPT_TLSA, "a.example", tlsa, 1, 7, 0, NULL, 0},
	    {TLSRPT_STS, "b.example", sts, 5, 5326, 103, f, 2},
	};
	struct tlsrpt_report r = {"Company-X", "sts-reporting@x.example",
	    "2016-04-01.b.example.0123@x.example", 1459468800, 1459555199, p,
	    0};
	struct buf b;

	(void)state;
	buf_init(&b, 65536);
	assert_int_equal(tlsrpt_json(&r, &b), 0);
	assert_string_equal(b.data,
	    "{\"organization-name\":\"Company-X\",\"date-range\":{"
	    "\"start-datetime\":\"2016-04-01T00:00:00Z\","
	    "\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
	    "\"contact-info\":\"sts-reporting@x.example\","
	    "\"report-id\":\"2016-04-01.b.example.0123@x.example\","
	    "\"policies\":[]}");
	buf_reset(&b);
	r.npolicies = 2;
	assert_int_equal(tlsrpt_json(&r, &b), 0);
	assert_string_equal(b.data,
	    "{\"organization-name\":\"Company-X\",\"date-range\":{"
	    "\"start-datetime\":\"2016-04-01T00:00:00Z\","
	    "\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
	    "\"contact-info\":\"sts-reporting@x.example\","
	    "\"report-id\":\"2016-04-01.b.example.0123@x.example\","
	    "\"policies\":["
	    "{\"policy\":{\"policy-type\":\"tlsa\","
	    "\"policy-string\":[\"3 1 1 ABCD\"],"
	    "\"policy-domain\":\"a.example\"},"
	    "\"summary\":{\"total-successful-session-count\":7,"
	    "\"total-failure-session-count\":0}},"
	    "{\"policy\":{\"policy-type\":\"sts\","
	    "\"policy-string\":[\"version: STSv1\",\"mode: testing\","
	    "\"mx: *.mail.example\",\"mx:mx2.example \",\"max_age: 86400\"],"
	    "\"policy-domain\":\"b.example\","
	    "\"mx-host\":[\"*.mail.example\",\"mx2.example\"]},"
	    "\"summary\":{\"total-successful-session-count\":5326,"
	    "\"total-failure-session-count\":103},"
	    "\"failure-details\":["
	    "{\"result-type\":\"certificate-expired\","
	    "\"sending-mta-ip\":\"192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx1.mail.example\","
	    "\"failed-session-count\":100},"
	    "{\"result-type\":\"validation-failure\","
	    "\"receiving-mx-hostname\":\"mx2.example\","
	    "\"receiving-ip\":\"203.0.113.5\","
	    "\"failed-session-count\":3,"
	    "\"failure-reason-code\":\"X509 \\\"bad\\\"\"}]}]}");
	buf_clear(&b);
	/* too small: fails and leaves the buffer as it was */
	buf_init(&b, 100);
	assert_int_equal(buf_puts(&b, "x"), 0);
	assert_int_equal(tlsrpt_json(&r, &b), -1);
	assert_string_equal(b.data, "x");
	buf_clear(&b);
	/* a success row is no failure detail */
	f[0].result = TLSRPT_SUCCESS;
	buf_init(&b, 65536);
	assert_int_equal(tlsrpt_json(&r, &b), -1);
	buf_clear(&b);
}

/* ---- gzip ---- */

static size_t
gunzip(const void *in, size_t n, char *out, size_t outsz)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)outsz;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.avail_in, 0);
	n = outsz - z.avail_out;
	inflateEnd(&z);
	return n;
}

static void
test_gzip(void **state)
{
	static char in[200000], back[200001];
	struct buf b;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)("abcdefgh{}\":,"[(i * 7 + i / 13) % 13]);
	buf_init(&b, 1 << 20);
	assert_int_equal(tlsrpt_gzip(in, sizeof(in), &b), 0);
	assert_true(b.len > 18 && b.len < sizeof(in));
	assert_int_equal((unsigned char)b.data[0], 0x1f);
	assert_int_equal((unsigned char)b.data[1], 0x8b);
	n = gunzip(b.data, b.len, back, sizeof(back));
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(back, in, n);
	/* empty input */
	buf_reset(&b);
	assert_int_equal(tlsrpt_gzip("", 0, &b), 0);
	assert_int_equal(gunzip(b.data, b.len, back, sizeof(back)), 0);
	buf_clear(&b);
	/* no room: fails, buffer unchanged */
	buf_init(&b, 30);
	assert_int_equal(buf_puts(&b, "keep"), 0);
	assert_int_equal(tlsrpt_gzip(in, sizeof(in), &b), -1);
	assert_string_equal(b.data, "keep");
	buf_clear(&b);
}

/* ---- the message ---- */

static const char *
find_line(const char *msg, const char *prefix)
{
	const char *p = msg;
	size_t n = strlen(prefix);

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, n) == 0)
			return p;
		p = strstr(p, "\r\n");
		if (p != NULL)
			p += 2;
	}
	return NULL;
}

/* Checks the wire form: CRLF only, lines < 998, printable ASCII. */
static void
check_wire(const char *m, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (m[i] == '\r') {
			assert_true(i + 1 < n && m[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(m[i] != '\n');
		assert_true(m[i] == '\t' || ((unsigned char)m[i] >= 0x20 &&
						(unsigned char)m[i] < 0x7f));
		assert_true(++col < 998);
	}
	assert_int_equal(col, 0);
}

static void
test_mail(void **state)
{
	static char json[3000], back[4000];
	struct tlsrpt_mail m = {0};
	struct buf gz, msg, b64;
	const char *p, *q, *body;
	char fname[700], boundary[64], delim[80];
	size_t i, n;
	uint8_t dec[4000];

	(void)state;
	for (i = 0; i < sizeof(json) - 1; i++)
		json[i] = (char)('a' + (i * 31 + i / 7) % 26);
	buf_init(&gz, 1 << 20);
	assert_int_equal(tlsrpt_gzip(json, strlen(json), &gz), 0);
	m.from = "postmaster@mail.sender.example";
	m.to = "tlsrpt@example.net";
	m.policy_domain = "example.net";
	m.submitter = "mail.sender.example";
	m.report_id = "2016-04-01.example.net.abc123@mail.sender.example";
	m.message_id = "tlsrpt.abc123.1@mail.sender.example";
	m.now = 1459555300;
	m.start = 1459468800;
	m.end = 1459555199;
	m.unique_id = "abc123";
	m.gz = gz.data;
	m.gzlen = gz.len;
	assert_int_equal(tlsrpt_filename(&m, fname, sizeof(fname)), 0);
	assert_string_equal(fname, "mail.sender.example!example.net!1459468800!"
				   "1459555199!abc123.json.gz");
	buf_init(&msg, 1 << 20);
	assert_int_equal(tlsrpt_mail_compose(&m, &msg), 0);
	check_wire(msg.data, msg.len);
	assert_non_null(
	    find_line(msg.data, "From: postmaster@mail.sender.example\r\n"));
	assert_non_null(find_line(msg.data, "To: tlsrpt@example.net\r\n"));
	assert_non_null(
	    find_line(msg.data, "Date: Sat, 02 Apr 2016 00:01:40 +0000\r\n"));
	assert_non_null(find_line(msg.data,
	    "Subject: Report Domain: example.net\r\n"
	    " Submitter: mail.sender.example\r\n"
	    " Report-ID: "
	    "<2016-04-01.example.net.abc123@mail.sender.example>\r\n"));
	assert_non_null(find_line(
	    msg.data, "Message-ID: <tlsrpt.abc123.1@mail.sender.example>\r\n"));
	assert_non_null(
	    find_line(msg.data, "TLS-Report-Domain: example.net\r\n"));
	assert_non_null(find_line(
	    msg.data, "TLS-Report-Submitter: mail.sender.example\r\n"));
	assert_non_null(find_line(msg.data, "MIME-Version: 1.0\r\n"));
	p = find_line(msg.data,
	    "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
	    "\tboundary=\"");
	assert_non_null(p);
	p = strstr(p, "boundary=\"") + 10;
	q = strchr(p, '"');
	assert_true(q > p && (size_t)(q - p) < sizeof(boundary));
	memcpy(boundary, p, (size_t)(q - p));
	boundary[q - p] = '\0';
	/* headers end before the first boundary */
	body = strstr(msg.data, "\r\n\r\n");
	assert_non_null(body);
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", boundary);
	p = strstr(body, delim);
	assert_non_null(p);
	assert_non_null(strstr(p, "Content-Type: text/plain"));
	p = strstr(p + 1, delim);
	assert_non_null(p);
	assert_null(strstr(p + 1, delim)); /* exactly two parts */
	p += strlen(delim);
	assert_ptr_equal(
	    p, find_line(p, "Content-Type: application/tlsrpt+gzip\r\n"
			    "Content-Transfer-Encoding: base64\r\n"
			    "Content-Disposition: attachment;\r\n"
			    "\tfilename=\""));
	assert_non_null(strstr(p, fname));
	p = strstr(p, "\r\n\r\n") + 4;
	/* base64 lines of at most 76, then the close delimiter */
	buf_init(&b64, 1 << 20);
	while (strncmp(p, "\r\n--", 4) != 0 && *p != '\0') {
		q = strstr(p, "\r\n");
		assert_non_null(q);
		assert_true(q - p <= 76 && q > p);
		assert_int_equal(buf_append(&b64, p, (size_t)(q - p)), 0);
		p = q + 2;
	}
	snprintf(delim, sizeof(delim), "\r\n--%s--\r\n", boundary);
	assert_string_equal(p, delim);
	assert_int_equal(
	    base64_decode(b64.data, b64.len, dec, sizeof(dec), &n), 0);
	assert_int_equal(n, gz.len);
	assert_memory_equal(dec, gz.data, n);
	n = gunzip(dec, n, back, sizeof(back));
	assert_int_equal(n, strlen(json));
	assert_memory_equal(back, json, n);
	buf_clear(&b64);

	/* bad fields */
	buf_reset(&msg);
	m.to = "a b@example.net";
	assert_int_equal(tlsrpt_mail_compose(&m, &msg), -1);
	m.to = "tlsrpt@example.net";
	m.report_id = "no-at-sign";
	assert_int_equal(tlsrpt_mail_compose(&m, &msg), -1);
	m.report_id = "a@b";
	m.policy_domain = "exa\"mple.net";
	assert_int_equal(tlsrpt_mail_compose(&m, &msg), -1);
	m.policy_domain = "example.net";
	m.unique_id = "a-b";
	assert_int_equal(tlsrpt_filename(&m, fname, sizeof(fname)), -1);
	m.unique_id = NULL;
	assert_int_equal(tlsrpt_filename(&m, fname, sizeof(fname)), 0);
	assert_string_equal(fname, "mail.sender.example!example.net!1459468800!"
				   "1459555199.json.gz");
	assert_int_equal(msg.len, 0);
	buf_clear(&msg);
	buf_clear(&gz);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_rfc_examples),
	    cmocka_unit_test(test_record_several),
	    cmocka_unit_test(test_record_extensions),
	    cmocka_unit_test(test_record_bad),
	    cmocka_unit_test(test_record_bounds),
	    cmocka_unit_test(test_record_select),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_json_string),
	    cmocka_unit_test(test_json_small),
	    cmocka_unit_test(test_gzip),
	    cmocka_unit_test(test_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
