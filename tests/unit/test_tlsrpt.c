/*
 * test_tlsrpt: proto/tlsrpt (the RFC 8460 TXT record, the JSON report,
 * gzip, the report message) and remote/tlsrpt (the counts store:
 * persistence across close/open, day rollover, bounds, and the report
 * composition without DNS), and the whole tlsrpt_send() run against a
 * local libunbound context, with https: rua POSTed to a small TLS server
 * in this file (a self-signed certificate made here). Times are passed
 * explicitly; files live in a fresh temporary directory.
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
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <strings.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "lib/buf.h"
#include "proto/base64.h"
#include "proto/tlsrpt.h"
#include "remote/dns.h"
#include "remote/tlsrpt.h"

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

/* ---- remote/tlsrpt: the counts store ---- */

#define DAY0 1459468800 /* 2016-04-01T00:00:00Z */

struct store_fixture {
	char dir[64];
	char sub[128];
};

static int
store_setup(void **state)
{
	struct store_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tlsrpt.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sub, sizeof(f->sub), "%s/tlsrpt", f->dir);
	*state = f;
	return 0;
}

static int
store_teardown(void **state)
{
	struct store_fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static bool
file_exists(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

static size_t
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void
ev_fail(struct tlsrpt_event *ev, const char *domain, enum tlsrpt_result r,
    const char *mx, const char *reason)
{
	memset(ev, 0, sizeof(*ev));
	ev->policy_domain = domain;
	ev->ptype = TLSRPT_NO_POLICY;
	ev->mx_host = mx;
	ev->sending_ip = "192.0.2.1";
	ev->receiving_ip = "";
	ev->result = r;
	ev->reason = reason;
}

static void
test_store_persist(void **state)
{
	struct store_fixture *f = *state;
	static const char *const tlsa[] = {"3 1 1 AB12"};
	struct tlsrpt_event ev;
	struct tlsrpt_due due[8];
	char err[256];
	struct tlsrpt *t = tlsrpt_open(f->sub, err, sizeof(err));
	struct buf b;

	assert_non_null(t);
	ev_fail(&ev, "B.Example.", TLSRPT_SUCCESS, "mx.b.example", NULL);
	ev.ptype = TLSRPT_TLSA;
	ev.policy_strings = tlsa;
	ev.npolicy_strings = 1;
	tlsrpt_record(t, &ev, DAY0 + 100);
	tlsrpt_record(t, &ev, DAY0 + 200);
	ev.result = TLSRPT_DANE_REQUIRED;
	ev.reason = "no STARTTLS %\n \"x\"";
	tlsrpt_record(t, &ev, DAY0 + 300);
	ev_fail(&ev, "a.example", TLSRPT_STARTTLS_NOT_SUPPORTED,
	    "mx1.a.example", NULL);
	tlsrpt_record(t, &ev, DAY0 + 400);
	/* invalid domains are not counted */
	ev_fail(&ev, "not a domain", TLSRPT_SUCCESS, "mx", NULL);
	tlsrpt_record(t, &ev, DAY0 + 400);
	ev_fail(&ev, NULL, TLSRPT_SUCCESS, "mx", NULL);
	tlsrpt_record(t, &ev, DAY0 + 400);
	/* not due before the day ends */
	assert_int_equal(tlsrpt_due(t, DAY0 + 86399, due, 8), 0);
	tlsrpt_close(t);
	assert_true(file_exists(f->sub, "2016-04-01"));

	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	ev_fail(&ev, "a.example", TLSRPT_STARTTLS_NOT_SUPPORTED,
	    "mx1.a.example", NULL);
	tlsrpt_record(t, &ev, DAY0 + 500);
	assert_int_equal(tlsrpt_due(t, DAY0 + 86400, due, 8), 2);
	assert_string_equal(due[0].domain, "a.example");
	assert_string_equal(due[1].domain, "b.example");
	assert_int_equal(due[0].start, DAY0);
	assert_int_equal(due[0].end, DAY0 + 86400);
	buf_init(&b, 65536);
	assert_int_equal(tlsrpt_report_json(t, &due[0], "mail.sender.example",
			     "postmaster@mail.sender.example", "id@x", &b),
	    0);
	assert_string_equal(b.data,
	    "{\"organization-name\":\"mail.sender.example\",\"date-range\":{"
	    "\"start-datetime\":\"2016-04-01T00:00:00Z\","
	    "\"end-datetime\":\"2016-04-01T23:59:59Z\"},"
	    "\"contact-info\":\"postmaster@mail.sender.example\","
	    "\"report-id\":\"id@x\",\"policies\":[{\"policy\":{"
	    "\"policy-type\":\"no-policy-found\","
	    "\"policy-domain\":\"a.example\"},"
	    "\"summary\":{\"total-successful-session-count\":0,"
	    "\"total-failure-session-count\":2},"
	    "\"failure-details\":[{\"result-type\":\"starttls-not-supported\","
	    "\"sending-mta-ip\":\"192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx1.a.example\","
	    "\"failed-session-count\":2}]}]}");
	buf_reset(&b);
	assert_int_equal(tlsrpt_report_json(t, &due[1], "m.example",
			     "p@m.example", "id@x", &b),
	    0);
	assert_non_null(strstr(b.data,
	    "\"policies\":[{\"policy\":{\"policy-type\":\"tlsa\","
	    "\"policy-string\":[\"3 1 1 AB12\"],"
	    "\"policy-domain\":\"b.example\"},"
	    "\"summary\":{\"total-successful-session-count\":2,"
	    "\"total-failure-session-count\":1},"
	    "\"failure-details\":[{\"result-type\":\"dane-required\","
	    "\"sending-mta-ip\":\"192.0.2.1\","
	    "\"receiving-mx-hostname\":\"mx.b.example\","
	    "\"failed-session-count\":1,"
	    "\"failure-reason-code\":\"no STARTTLS %\\n \\\"x\\\"\"}]}]}"));
	buf_clear(&b);
	tlsrpt_close(t);
}

static void
test_store_rollover(void **state)
{
	struct store_fixture *f = *state;
	struct tlsrpt_event ev;
	struct tlsrpt_due due[8];
	char err[256];
	struct tlsrpt *t = tlsrpt_open(f->sub, err, sizeof(err));

	assert_non_null(t);
	ev_fail(&ev, "a.example", TLSRPT_SUCCESS, "mx", NULL);
	tlsrpt_record(t, &ev, DAY0 + 86399);
	tlsrpt_record(t, &ev, DAY0 + 86400);
	ev.policy_domain = "c.example";
	tlsrpt_record(t, &ev, DAY0 + 86401);
	tlsrpt_flush(t);
	assert_true(file_exists(f->sub, "2016-04-01"));
	assert_true(file_exists(f->sub, "2016-04-02"));
	assert_int_equal(tlsrpt_due(t, DAY0 + 86401, due, 8), 1);
	assert_string_equal(due[0].domain, "a.example");
	assert_int_equal(due[0].start, DAY0);
	assert_int_equal(tlsrpt_due(t, DAY0 + 2 * 86400, due, 8), 3);
	assert_int_equal(due[1].start, DAY0 + 86400);
	assert_string_equal(due[1].domain, "a.example");
	assert_string_equal(due[2].domain, "c.example");
	/* max respected */
	assert_int_equal(tlsrpt_due(t, DAY0 + 2 * 86400, due, 2), 2);
	/* a period older than TLSRPT_KEEP_DAYS is dropped with its file */
	assert_int_equal(
	    tlsrpt_due(t, DAY0 + 86400 + TLSRPT_KEEP_DAYS * 86400, due, 8), 2);
	assert_false(file_exists(f->sub, "2016-04-01"));
	tlsrpt_close(t);
}

struct sent {
	size_t n;
	char sender[128];
	char rcpt[128];
	struct buf msg;
};

static void
capture(void *arg, const char *sender, const char *const *rcpts, size_t nrcpts,
    const char *msg, size_t len)
{
	struct sent *s = arg;

	assert_int_equal(nrcpts, 1);
	snprintf(s->sender, sizeof(s->sender), "%s", sender);
	snprintf(s->rcpt, sizeof(s->rcpt), "%s", rcpts[0]);
	buf_reset(&s->msg);
	assert_int_equal(buf_append(&s->msg, msg, len), 0);
	s->n++;
}

static void
test_store_report(void **state)
{
	struct store_fixture *f = *state;
	struct tlsrpt_event ev;
	struct tlsrpt_due due[8];
	struct tlsrpt_record rec;
	struct sent s = {0};
	char err[256];
	struct tlsrpt *t = tlsrpt_open(f->sub, err, sizeof(err));

	assert_non_null(t);
	buf_init(&s.msg, 1 << 20);
	ev_fail(&ev, "a.example", TLSRPT_SUCCESS, "mx", NULL);
	tlsrpt_record(t, &ev, DAY0 + 10);
	ev.policy_domain = "b.example";
	tlsrpt_record(t, &ev, DAY0 + 10);
	assert_int_equal(tlsrpt_due(t, DAY0 + 86400 + 5, due, 8), 2);
	assert_int_equal(
	    tlsrpt_record_parse(
		span_cstr("v=TLSRPTv1; rua=mailto:rpt@a.example,"
			  "https://r.a.example/x,mailto:two@a.example"),
		&rec),
	    TLSRPT_REC_OK);
	assert_int_equal(
	    tlsrpt_report(t, &due[0], &rec, "mail.sender.example",
		"tlsrpt@mail.sender.example", DAY0 + 86405, capture, &s),
	    2);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.sender, "tlsrpt@mail.sender.example");
	assert_string_equal(s.rcpt, "two@a.example");
	assert_non_null(strstr(s.msg.data, "\r\nTo: two@a.example\r\n"));
	assert_non_null(
	    strstr(s.msg.data, "Subject: Report Domain: a.example\r\n"
			       " Submitter: mail.sender.example\r\n"
			       " Report-ID: <2016-04-01.a.example."));
	assert_non_null(strstr(s.msg.data, "TLS-Report-Domain: a.example\r\n"));
	assert_non_null(strstr(s.msg.data,
	    "filename=\"mail.sender.example!a.example!1459468800!1459555199!"));
	/* reported once: not again, not after a restart */
	assert_int_equal(
	    tlsrpt_report(t, &due[0], &rec, "mail.sender.example",
		"tlsrpt@mail.sender.example", DAY0 + 86405, capture, &s),
	    -1);
	tlsrpt_close(t);
	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tlsrpt_due(t, DAY0 + 86400 + 5, due, 8), 1);
	assert_string_equal(due[0].domain, "b.example");
	/* the file stays until every domain is done */
	tlsrpt_gc(t, DAY0 + 86405);
	assert_true(file_exists(f->sub, "2016-04-01"));
	tlsrpt_drop(t, &due[0], "no TLSRPT record");
	assert_int_equal(tlsrpt_due(t, DAY0 + 86400 + 5, due, 8), 0);
	tlsrpt_gc(t, DAY0 + 86405);
	assert_false(file_exists(f->sub, "2016-04-01"));
	assert_int_equal(count_files(f->sub), 0);
	tlsrpt_close(t);
	buf_clear(&s.msg);
}

static void
test_store_cut(void **state)
{
	struct store_fixture *f = *state;
	struct tlsrpt_event ev;
	struct tlsrpt_due due[8];
	char err[256];
	struct tlsrpt *t = tlsrpt_open(f->sub, err, sizeof(err));

	assert_non_null(t);
	/* nothing counted: nothing cut */
	tlsrpt_cut(t, DAY0 + 100);
	assert_int_equal(tlsrpt_due(t, DAY0 + 100, due, 8), 0);
	ev_fail(&ev, "a.example", TLSRPT_SUCCESS, "mx", NULL);
	tlsrpt_record(t, &ev, DAY0 + 36000);
	tlsrpt_cut(t, DAY0 + 43200);
	assert_int_equal(tlsrpt_due(t, DAY0 + 43200, due, 8), 1);
	assert_int_equal(due[0].start, DAY0);
	assert_int_equal(due[0].end, DAY0 + 43200);
	assert_true(file_exists(f->sub, "2016-04-01.1459512000"));
	tlsrpt_drop(t, &due[0], "test");
	tlsrpt_gc(t, DAY0 + 43200);
	assert_false(file_exists(f->sub, "2016-04-01"));
	assert_true(file_exists(f->sub, "2016-04-01.1459512000"));
	/* later sessions of the day go into a new period from the cut */
	tlsrpt_record(t, &ev, DAY0 + 50000);
	tlsrpt_close(t);
	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	assert_true(file_exists(f->sub, "2016-04-01.1459512000"));
	assert_int_equal(tlsrpt_due(t, DAY0 + 86399, due, 8), 0);
	assert_int_equal(tlsrpt_due(t, DAY0 + 86400, due, 8), 1);
	assert_int_equal(due[0].start, DAY0 + 43200);
	assert_int_equal(due[0].end, DAY0 + 86400);
	tlsrpt_close(t);
}

static void
test_store_bounds(void **state)
{
	struct store_fixture *f = *state;
	struct tlsrpt_event ev;
	struct tlsrpt_due due[4];
	char err[256], mx[64], str[16];
	const char *strs[1] = {str};
	struct tlsrpt *t = tlsrpt_open(f->sub, err, sizeof(err));
	struct buf b;
	int i;

	assert_non_null(t);
	for (i = 0; i < TLSRPT_ROWS_MAX + 50; i++) {
		snprintf(mx, sizeof(mx), "mx%d.a.example", i);
		ev_fail(&ev, "a.example", TLSRPT_CERTIFICATE_EXPIRED, mx, NULL);
		tlsrpt_record(t, &ev, DAY0 + i);
	}
	/* policies beyond the bound are not counted */
	for (i = 0; i < TLSRPT_POLICIES_MAX + 2; i++) {
		snprintf(str, sizeof(str), "3 1 1 %02X", i);
		ev_fail(&ev, "b.example", TLSRPT_SUCCESS, "mx", NULL);
		ev.ptype = TLSRPT_TLSA;
		ev.policy_strings = strs;
		ev.npolicy_strings = 1;
		tlsrpt_record(t, &ev, DAY0 + 10);
	}
	tlsrpt_close(t);
	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tlsrpt_due(t, DAY0 + 86400, due, 4), 2);
	buf_init(&b, 1 << 20);
	assert_int_equal(tlsrpt_report_json(t, &due[0], "m.example",
			     "p@m.example", "id@x", &b),
	    0);
	assert_non_null(strstr(b.data, "\"total-failure-session-count\":150}"));
	assert_non_null(strstr(b.data, "\"mx99.a.example\""));
	assert_null(strstr(b.data, "\"mx100.a.example\""));
	buf_reset(&b);
	assert_int_equal(tlsrpt_report_json(t, &due[1], "m.example",
			     "p@m.example", "id@x", &b),
	    0);
	assert_non_null(strstr(b.data, "3 1 1 03"));
	assert_null(strstr(b.data, "3 1 1 04"));
	buf_clear(&b);
	tlsrpt_close(t);
}

static void
test_store_corrupt(void **state)
{
	struct store_fixture *f = *state;
	struct tlsrpt_due due[4];
	char err[256], path[256];
	struct tlsrpt *t;
	FILE *fp;

	assert_int_equal(mkdir(f->sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/2016-04-01", f->sub);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("tlsrpt-period 1 1459468800 1459555200\n"
	      "D a.example 0\n"
	      "P no-policy-found 3 1\n"
	      "F starttls-not-supported 1 192.0.2.1 mx - -\n"
	      "F bogus-type 1 - - - -\n"
	      "X junk\n"
	      "D BAD.example 0\n"
	      "P sts 1 0\n"
	      "D b.example 2\n",
	    fp);
	fclose(fp);
	/* a file whose header does not match its name is skipped */
	snprintf(path, sizeof(path), "%s/2016-04-02", f->sub);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("tlsrpt-period 1 1459468800 1459555200\n", fp);
	fclose(fp);
	/* a stale temporary file is removed */
	snprintf(path, sizeof(path), "%s/.tlsrpt.abcdef", f->sub);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fclose(fp);
	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	assert_false(file_exists(f->sub, ".tlsrpt.abcdef"));
	assert_int_equal(tlsrpt_due(t, DAY0 + 86400, due, 4), 1);
	assert_string_equal(due[0].domain, "a.example");
	tlsrpt_close(t);
}

static unsigned done_calls, done_nsent;

static void
done_cb(void *arg, unsigned nsent)
{
	(void)arg;
	done_calls++;
	done_nsent = nsent;
}

/* ---- https: destinations ---- */

static void
test_https_target(void **state)
{
	char host[64], port[8];

	(void)state;
	assert_int_equal(tlsrpt_https_target("https://r.example/v1/tlsrpt",
			     host, sizeof(host), port, sizeof(port)),
	    0);
	assert_string_equal(host, "r.example");
	assert_string_equal(port, "443");
	assert_int_equal(tlsrpt_https_target("https://R.example:8443/x?y=1",
			     host, sizeof(host), port, sizeof(port)),
	    0);
	assert_string_equal(port, "8443");
	assert_int_equal(tlsrpt_https_target("https://[2001:db8::1]:9/", host,
			     sizeof(host), port, sizeof(port)),
	    0);
	assert_string_equal(host, "[2001:db8::1]");
	assert_string_equal(port, "9");
	/* not https, no host, too long for the buffer */
	assert_int_equal(tlsrpt_https_target("http://r.example/", host,
			     sizeof(host), port, sizeof(port)),
	    -1);
	assert_int_equal(tlsrpt_https_target("mailto:a@b.example", host,
			     sizeof(host), port, sizeof(port)),
	    -1);
	assert_int_equal(tlsrpt_https_target("https://", host, sizeof(host),
			     port, sizeof(port)),
	    -1);
	assert_int_equal(tlsrpt_https_target("https://r.example/", host, 4,
			     port, sizeof(port)),
	    -1);
}

/*
 * A one-request-per-connection HTTPS server on 127.0.0.1 (a free port)
 * on the test's event base: it reads one request (headers and a
 * Content-Length body), records it and answers `status`.
 */
struct hsrv {
	struct event_base *base;
	SSL_CTX *ctx;
	struct evconnlistener *l;
	unsigned port;
	int status;
	unsigned nreq;
	char path[8][128];
	char ctype[8][128];
	struct buf body[8];
	struct bufferevent *conns[16]; /* open connections */
};

/* Closes one connection of h. */
static void
hsrv_free_conn(struct hsrv *h, struct bufferevent *bev)
{
	size_t i;

	for (i = 0; i < 16; i++) {
		if (h->conns[i] == bev)
			h->conns[i] = NULL;
	}
	bufferevent_free(bev);
}

static void
hsrv_close(struct bufferevent *bev, short what, void *arg)
{
	if (what & BEV_EVENT_CONNECTED)
		return; /* the handshake is done */
	hsrv_free_conn(arg, bev);
}

static void
hsrv_flushed(struct bufferevent *bev, void *arg)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		hsrv_free_conn(arg, bev);
}

static void
hsrv_read(struct bufferevent *bev, void *arg)
{
	struct hsrv *h = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in), hlen, clen = 0;
	char *p, *end, *cl, *ct, head[4096];

	p = (char *)evbuffer_pullup(in, -1);
	if (p == NULL || (end = memmem(p, len, "\r\n\r\n", 4)) == NULL)
		return;
	hlen = (size_t)(end - p) + 4;
	assert_true(hlen < sizeof(head));
	memcpy(head, p, hlen);
	head[hlen] = '\0';
	if ((cl = strcasestr(head, "\r\nContent-Length:")) != NULL)
		clen = strtoul(cl + 17, NULL, 10);
	if (len < hlen + clen)
		return;
	assert_true(h->nreq < 8);
	assert_int_equal(
	    sscanf(head, "POST %127s HTTP/1.1", h->path[h->nreq]), 1);
	if ((ct = strcasestr(head, "\r\nContent-Type: ")) != NULL)
		sscanf(ct + 16, "%127[^\r]", h->ctype[h->nreq]);
	buf_init(&h->body[h->nreq], 1 << 20);
	assert_int_equal(buf_append(&h->body[h->nreq], p + hlen, clen), 0);
	h->nreq++;
	evbuffer_drain(in, hlen + clen);
	evbuffer_add_printf(bufferevent_get_output(bev),
	    "HTTP/1.1 %d Test\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n",
	    h->status);
	bufferevent_setcb(bev, NULL, hsrv_flushed, hsrv_close, h);
}

static void
hsrv_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct hsrv *h = arg;
	struct bufferevent *bev;
	size_t i;

	(void)l;
	(void)sa;
	(void)salen;
	bev = bufferevent_openssl_socket_new(h->base, fd, SSL_new(h->ctx),
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(bev);
	for (i = 0; i < 16 && h->conns[i] != NULL; i++)
		;
	assert_true(i < 16);
	h->conns[i] = bev;
	bufferevent_setcb(bev, hsrv_read, NULL, hsrv_close, h);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* A self-signed P-256 certificate for name (also its own CA). */
static void
make_cert(const char *name, EVP_PKEY **key, X509 **cert)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	char san[128];
	X509 *x;

	*key = EVP_EC_gen("P-256");
	assert_non_null(*key);
	x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, *key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)name, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	snprintf(san, sizeof(san), "DNS:%s", name);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(
	    NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, *key, EVP_sha256()) > 0);
	*cert = x;
}

static void
hsrv_start(struct hsrv *h, struct event_base *base, EVP_PKEY *key,
    X509 *cert, int status)
{
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);

	memset(h, 0, sizeof(*h));
	h->base = base;
	h->status = status;
	h->ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(h->ctx);
	assert_int_equal(SSL_CTX_use_certificate(h->ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(h->ctx, key), 1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->l = evconnlistener_new_bind(base, hsrv_accept, h,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(h->l);
	assert_int_equal(getsockname(evconnlistener_get_fd(h->l),
			     (struct sockaddr *)&sin, &slen),
	    0);
	h->port = ntohs(sin.sin_port);
}

static void
hsrv_stop(struct hsrv *h)
{
	unsigned i;

	for (i = 0; i < 16; i++) {
		if (h->conns[i] != NULL)
			hsrv_free_conn(h, h->conns[i]);
	}
	evconnlistener_free(h->l);
	SSL_CTX_free(h->ctx);
	for (i = 0; i < h->nreq; i++)
		buf_clear(&h->body[i]);
}

/* The gunzipped body of request i of h, as a C string. */
static void
gunzip_body(const struct hsrv *h, unsigned i, char *out, size_t outsz)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
	z.next_in = (Bytef *)h->body[i].data;
	z.avail_in = (uInt)h->body[i].len;
	z.next_out = (Bytef *)out;
	z.avail_out = (uInt)outsz - 1;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	out[z.total_out] = '\0';
	inflateEnd(&z);
}

static void
test_send_nothing(void **state)
{
	struct store_fixture *f = *state;
	static char host[] = "mail.sender.example";
	struct conf conf;
	char err[256];
	struct tlsrpt *t = tlsrpt_open(f->sub, err, sizeof(err));
	struct sent s = {0};

	assert_non_null(t);
	memset(&conf, 0, sizeof(conf));
	conf.hostname = host;
	done_calls = 0;
	done_nsent = 99;
	/* no base, nothing due: done at once, no DNS needed */
	tlsrpt_send(t, NULL, &conf, true, capture, done_cb, &s);
	assert_int_equal(done_calls, 1);
	assert_int_equal(done_nsent, 0);
	assert_int_equal(s.n, 0);
	tlsrpt_close(t);
}

/*
 * The whole tlsrpt_send() path against a real libunbound context that
 * answers from local data (as test_dns does): no network.
 */
struct send_fx {
	struct event_base *base;
	struct dns *dns;
	struct conf conf;
	char *opts[200];
	size_t nopts;
	char *fwd[1];
	struct sent s;
	unsigned ndone, nsent;
	char rcpts[64][64];
};

static void
send_opt(struct send_fx *x, const char *name, const char *value)
{
	x->opts[x->nopts++] = strdup(name);
	x->opts[x->nopts++] = strdup(value);
}

static void
capture_many(void *arg, const char *sender, const char *const *rcpts,
    size_t nrcpts, const char *msg, size_t len)
{
	struct send_fx *x = arg;

	assert_true(x->s.n < 64);
	snprintf(x->rcpts[x->s.n], sizeof(x->rcpts[0]), "%s", rcpts[0]);
	capture(&x->s, sender, rcpts, nrcpts, msg, len);
}

static void
send_done(void *arg, unsigned nsent)
{
	struct send_fx *x = arg;

	x->ndone++;
	x->nsent = nsent;
	event_base_loopbreak(x->base);
}

static void
send_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
send_run(struct send_fx *x, struct tlsrpt *t, bool force)
{
	struct timeval tv = {10, 0};
	struct event *to = evtimer_new(x->base, send_timeout, x->base);
	unsigned before = x->ndone;

	evtimer_add(to, &tv);
	tlsrpt_send(t, x->dns, &x->conf, force, capture_many, send_done, x);
	/* done() never comes from inside tlsrpt_send() */
	assert_int_equal(x->ndone, before);
	event_base_dispatch(x->base);
	event_free(to);
	assert_int_equal(x->ndone, before + 1);
}

static void
test_send_dns(void **state)
{
	static char host[] = "mail.sender.example";
	static char contact[] = "tlsrpt@mail.sender.example";
	struct store_fixture *f = *state;
	struct send_fx *x = calloc(1, sizeof(*x));
	struct tlsrpt_event ev;
	struct tlsrpt *t;
	char err[512], line[160], dom[64];
	int64_t now = (int64_t)time(NULL);
	size_t i;
	int k;

	/* the runs below read the clock again: stay clear of midnight UTC */
	if (now % 86400 > 86400 - 15) {
		sleep((unsigned)(86400 - now % 86400 + 1));
		now = (int64_t)time(NULL);
	}
	assert_non_null(x);
	x->base = event_base_new();
	x->fwd[0] = strdup("127.0.0.1@9");
	x->conf.dns_mode = CONF_DNS_FORWARD;
	x->conf.dns_forwarders = x->fwd;
	x->conf.ndns_forwarders = 1;
	send_opt(x, "local-zone", "example. static");
	send_opt(x, "local-data",
	    "_smtp._tls.a.example. TXT \"v=TLSRPTv1; "
	    "rua=mailto:rpt@a.example\"");
	send_opt(x, "local-data", "_smtp._tls.b.example. TXT \"v=spf1 -all\"");
	send_opt(x, "local-data",
	    "_smtp._tls.d.example. TXT \"v=TLSRPTv1;\" "
	    "\"rua=mailto:x@d.example,https://r.d.example/\"");
	send_opt(x, "local-data",
	    "_smtp._tls.m.example. TXT \"v=TLSRPTv1; rua=mailto:1@m.example\"");
	send_opt(x, "local-data",
	    "_smtp._tls.m.example. TXT \"v=TLSRPTv1; rua=mailto:2@m.example\"");
	/* more domains than TLSRPT_LOOKUPS_MAX */
	for (k = 0; k < 40; k++) {
		snprintf(line, sizeof(line),
		    "_smtp._tls.e%02d.example. TXT \"v=TLSRPTv1; "
		    "rua=mailto:r@e%02d.example\"",
		    k, k);
		send_opt(x, "local-data", line);
	}
	x->conf.dns_options = x->opts;
	x->conf.ndns_options = x->nopts / 2;
	x->dns = dns_new(x->base, &x->conf, NULL, 0, NULL, 0, err, sizeof(err));
	if (x->dns == NULL)
		fail_msg("dns_new: %s", err);
	x->conf.hostname = host;
	x->conf.tlsrpt_contact = contact;
	buf_init(&x->s.msg, 1 << 20);

	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	tlsrpt_set_base(t, x->base);
	ev_fail(&ev, "a.example", TLSRPT_SUCCESS, "mx", NULL);
	tlsrpt_record(t, &ev, now - 86400);
	const char *doms[] = {
	    "b.example", "c.example", "d.example", "m.example"};
	for (i = 0; i < 4; i++) {
		ev.policy_domain = doms[i];
		tlsrpt_record(t, &ev, now - 86400);
	}
	for (k = 0; k < 40; k++) {
		snprintf(dom, sizeof(dom), "e%02d.example", k);
		ev.policy_domain = dom;
		tlsrpt_record(t, &ev, now - 86400);
	}
	/* today's counts wait for the day to end */
	ev.policy_domain = "a.example";
	tlsrpt_record(t, &ev, now);

	send_run(x, t, false);
	/* a (1), d (1 mailto, https skipped), e00..e39; b: no record, c:
	 * NXDOMAIN, m: two records: all three dropped */
	assert_int_equal(x->nsent, 42);
	assert_int_equal(x->s.n, 42);
	for (i = 0; i < x->s.n; i++) {
		if (strcmp(x->rcpts[i], "rpt@a.example") == 0)
			break;
	}
	assert_true(i < x->s.n);
	assert_string_equal(x->s.sender, "tlsrpt@mail.sender.example");

	/* nothing left from yesterday: a second run sends nothing */
	send_run(x, t, false);
	assert_int_equal(x->nsent, 0);
	tlsrpt_close(t);

	/* after a restart, forced: today's a.example goes out now */
	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	tlsrpt_set_base(t, x->base);
	send_run(x, t, true);
	assert_int_equal(x->nsent, 1);
	assert_string_equal(x->s.rcpt, "rpt@a.example");
	assert_non_null(strstr(x->s.msg.data, "TLS-Report-Domain: a.example"));
	/* and not again */
	send_run(x, t, true);
	assert_int_equal(x->nsent, 0);
	tlsrpt_close(t);

	buf_clear(&x->s.msg);
	dns_free(x->dns);
	event_base_free(x->base);
	for (i = 0; i < x->nopts; i++)
		free(x->opts[i]);
	free(x->fwd[0]);
	free(x);
}

/*
 * https: rua through the whole run: the URL's host from DNS, the URL's
 * port, certificate checked against the CA of tlsrpt_set_ca(); a 2xx
 * answer counts, another status does not; mailto: and https: of one
 * record both get the report.
 */
static void
test_send_https(void **state)
{
	static char host[] = "mail.sender.example";
	static char contact[] = "tlsrpt@mail.sender.example";
	struct store_fixture *f = *state;
	struct send_fx *x = calloc(1, sizeof(*x));
	struct hsrv ok, bad;
	struct tlsrpt_event ev;
	struct tlsrpt *t;
	EVP_PKEY *key;
	X509 *cert;
	BIO *pem;
	char *ca, err[512], line[300], json[8192];
	long calen;
	int64_t now = (int64_t)time(NULL);
	unsigned i, nh = 0, ng = 0;

	/* the runs below read the clock again: stay clear of midnight UTC */
	if (now % 86400 > 86400 - 15) {
		sleep((unsigned)(86400 - now % 86400 + 1));
		now = (int64_t)time(NULL);
	}
	assert_non_null(x);
	x->base = event_base_new();
	make_cert("rpt.x.example", &key, &cert);
	hsrv_start(&ok, x->base, key, cert, 200);
	hsrv_start(&bad, x->base, key, cert, 500);
	x->fwd[0] = strdup("127.0.0.1@9");
	x->conf.dns_mode = CONF_DNS_FORWARD;
	x->conf.dns_forwarders = x->fwd;
	x->conf.ndns_forwarders = 1;
	send_opt(x, "local-zone", "example. static");
	send_opt(x, "local-data", "rpt.x.example. A 127.0.0.1");
	snprintf(line, sizeof(line),
	    "_smtp._tls.h.example. TXT \"v=TLSRPTv1; "
	    "rua=https://rpt.x.example:%u/v1/h\"",
	    ok.port);
	send_opt(x, "local-data", line);
	snprintf(line, sizeof(line),
	    "_smtp._tls.f.example. TXT \"v=TLSRPTv1; "
	    "rua=https://rpt.x.example:%u/v1/f\"",
	    bad.port);
	send_opt(x, "local-data", line);
	snprintf(line, sizeof(line),
	    "_smtp._tls.g.example. TXT \"v=TLSRPTv1; "
	    "rua=mailto:r@g.example,https://rpt.x.example:%u/v1/g\"",
	    ok.port);
	send_opt(x, "local-data", line);
	x->conf.dns_options = x->opts;
	x->conf.ndns_options = x->nopts / 2;
	x->dns = dns_new(x->base, &x->conf, NULL, 0, NULL, 0, err, sizeof(err));
	if (x->dns == NULL)
		fail_msg("dns_new: %s", err);
	x->conf.hostname = host;
	x->conf.tlsrpt_contact = contact;
	buf_init(&x->s.msg, 1 << 20);

	t = tlsrpt_open(f->sub, err, sizeof(err));
	assert_non_null(t);
	tlsrpt_set_base(t, x->base);
	pem = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(pem, cert), 1);
	calen = BIO_get_mem_data(pem, &ca);
	tlsrpt_set_ca(t, ca, (size_t)calen);
	BIO_free(pem);
	ev_fail(&ev, "h.example", TLSRPT_SUCCESS, "mx", NULL);
	tlsrpt_record(t, &ev, now - 86400);
	ev.policy_domain = "f.example";
	tlsrpt_record(t, &ev, now - 86400);
	ev.policy_domain = "g.example";
	tlsrpt_record(t, &ev, now - 86400);

	send_run(x, t, false);
	/* h: posted; f: 500, not counted; g: mailed and posted */
	assert_int_equal(x->nsent, 3);
	assert_int_equal(x->s.n, 1);
	assert_string_equal(x->s.rcpt, "r@g.example");
	assert_int_equal(ok.nreq, 2);
	assert_int_equal(bad.nreq, 1);
	for (i = 0; i < ok.nreq; i++) {
		assert_string_equal(ok.ctype[i], "application/tlsrpt+gzip");
		gunzip_body(&ok, i, json, sizeof(json));
		if (strcmp(ok.path[i], "/v1/h") == 0) {
			nh++;
			assert_non_null(
			    strstr(json, "\"policy-domain\":\"h.example\""));
		} else {
			assert_string_equal(ok.path[i], "/v1/g");
			ng++;
			assert_non_null(
			    strstr(json, "\"policy-domain\":\"g.example\""));
		}
		assert_non_null(strstr(json, "\"total-successful-session-"
					     "count\":1"));
	}
	assert_int_equal(nh, 1);
	assert_int_equal(ng, 1);
	assert_string_equal(bad.path[0], "/v1/f");
	assert_string_equal(bad.ctype[0], "application/tlsrpt+gzip");
	/* not retried: nothing left to send */
	send_run(x, t, false);
	assert_int_equal(x->nsent, 0);
	assert_int_equal(bad.nreq, 1);

	/* without the CA the certificate is not trusted: nothing posted */
	tlsrpt_set_ca(t, NULL, 0);
	ev.policy_domain = "h.example";
	tlsrpt_record(t, &ev, now);
	send_run(x, t, true);
	assert_int_equal(x->nsent, 0);
	assert_int_equal(ok.nreq, 2);
	tlsrpt_close(t);

	hsrv_stop(&ok);
	hsrv_stop(&bad);
	EVP_PKEY_free(key);
	X509_free(cert);
	buf_clear(&x->s.msg);
	dns_free(x->dns);
	event_base_free(x->base);
	for (i = 0; i < x->nopts; i++)
		free(x->opts[i]);
	free(x->fwd[0]);
	free(x);
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
	    cmocka_unit_test(test_https_target),
	    cmocka_unit_test_setup_teardown(
		test_store_persist, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_store_rollover, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_store_report, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_store_cut, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_store_bounds, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_store_corrupt, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_send_nothing, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_send_dns, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(
		test_send_https, store_setup, store_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
