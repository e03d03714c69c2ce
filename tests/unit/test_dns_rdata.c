/*
 * test_dns_rdata: table-driven tests for proto/dns_rdata (MX, A, AAAA,
 * TLSA rdata and wire names). Every input is copied into a heap buffer of
 * exactly its length, so ASan reports a read past the span; every case is
 * also fed as each of its strict prefixes, which must fail cleanly (a
 * truncated record never decodes as a shorter valid one, except TLSA
 * data, checked separately).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/dns_rdata.h"

#define IN(s) s, sizeof(s) - 1

static char *
dup_exact(const char *p, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);

	assert_non_null(b);
	if (n > 0)
		memcpy(b, p, n);
	return b;
}

struct mx_case {
	const char *in;
	size_t n;
	int rc;
	unsigned pref;
	const char *host;
};

static const struct mx_case mx_cases[] = {
    {IN("\x00\x0a\x02mx\x07"
	"example\x03"
	"com\x00"),
	DNS_RDATA_OK, 10, "mx.example.com"},
    {IN("\xff\xff\x02MX\x07"
	"ExAmPlE\x03"
	"COM\x00"),
	DNS_RDATA_OK, 65535, "mx.example.com"},
    {IN("\x00\x00\x00"), DNS_RDATA_OK, 0, ""}, /* null MX */
    {IN("\x00\x05\x01x\x00"), DNS_RDATA_OK, 5, "x"},
    {IN("\x01\x00\x05"
	"a-b_c\x01"
	"0\x00"),
	DNS_RDATA_OK, 256, "a-b_c.0"},
    /* truncated or padded */
    {IN(""), DNS_RDATA_SHORT, 0, NULL},
    {IN("\x00"), DNS_RDATA_SHORT, 0, NULL},
    {IN("\x00\x0a"), DNS_RDATA_SHORT, 0, NULL},
    {IN("\x00\x0a\x02mx"), DNS_RDATA_SHORT, 0, NULL},
    {IN("\x00\x0a\x05mx\x00"), DNS_RDATA_SHORT, 0, NULL},
    {IN("\x00\x0a\x02mx\x00\x00"), DNS_RDATA_SHORT, 0, NULL},
    {IN("\x00\x0a\x00junk"), DNS_RDATA_SHORT, 0, NULL},
    /* compression pointer, extended label types */
    {IN("\x00\x0a\xc0\x0c"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x02mx\xc0\x0c"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x40x\x00"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x80x\x00"), DNS_RDATA_BADNAME, 0, NULL},
    /* bytes outside [A-Za-z0-9_-] */
    {IN("\x00\x0a\x03m.x\x00"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x03m x\x00"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x03m\x00x\x00"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x03m\rx\x00"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x02\xc3\xa9\x00"), DNS_RDATA_BADNAME, 0, NULL},
    {IN("\x00\x0a\x03m@x\x00"), DNS_RDATA_BADNAME, 0, NULL},
};

static void
check_mx(const char *in, size_t n, int want_rc, unsigned pref, const char *host)
{
	struct dns_rdata_mx mx;
	char *b = dup_exact(in, n);
	int rc = dns_rdata_mx(span_make(b, n), &mx);

	assert_int_equal(rc, want_rc);
	if (rc == DNS_RDATA_OK) {
		assert_int_equal(mx.pref, pref);
		assert_string_equal(mx.host, host);
		assert_int_equal(mx.null, host[0] == '\0');
	} else {
		assert_int_equal(mx.pref, 0);
		assert_string_equal(mx.host, "");
		assert_false(mx.null);
	}
	free(b);
}

static void
test_mx_table(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(mx_cases) / sizeof(mx_cases[0]); i++) {
		const struct mx_case *c = &mx_cases[i];

		check_mx(c->in, c->n, c->rc, c->pref, c->host);
		if (c->rc != DNS_RDATA_OK)
			continue;
		for (k = 0; k < c->n; k++) {
			struct dns_rdata_mx mx;
			char *b = dup_exact(c->in, k);

			assert_int_not_equal(
			    dns_rdata_mx(span_make(b, k), &mx), DNS_RDATA_OK);
			assert_string_equal(mx.host, "");
			free(b);
		}
	}
}

/* Builds a wire name of nlabels labels of len octets ('a'..), + root. */
static size_t
make_name(unsigned char *w, size_t nlabels, size_t len)
{
	size_t off = 0, i;

	for (i = 0; i < nlabels; i++) {
		w[off++] = (unsigned char)len;
		memset(w + off, 'a' + (int)(i % 26), len);
		off += len;
	}
	w[off++] = 0;
	return off;
}

static void
test_name_limits(void **state)
{
	unsigned char w[600];
	char out[DNS_RDATA_NAME_MAX + 1];
	size_t n, used;
	char *b;

	(void)state;
	/* 63-octet labels: 3 of them + a 61-octet one = 255 wire octets */
	n = make_name(w, 3, 63);
	w[n - 1] = 61;
	memset(w + n, 'z', 61);
	n += 61;
	w[n++] = 0;
	assert_int_equal(n, 255);
	b = dup_exact((const char *)w, n);
	assert_int_equal(
	    dns_rdata_name(span_make(b, n), out, &used), DNS_RDATA_OK);
	assert_int_equal(used, 255);
	assert_int_equal(strlen(out), DNS_RDATA_NAME_MAX);
	assert_true(dns_rdata_is_hostname(span_make(out, strlen(out))));
	free(b);

	/* one more octet: 256 */
	n = make_name(w, 3, 63);
	w[n - 1] = 62;
	memset(w + n, 'z', 62);
	n += 62;
	w[n++] = 0;
	b = dup_exact((const char *)w, n);
	assert_int_equal(
	    dns_rdata_name(span_make(b, n), out, &used), DNS_RDATA_BADNAME);
	assert_int_equal(used, 0);
	assert_string_equal(out, "");
	free(b);

	/* 64-octet label */
	n = make_name(w, 1, 64);
	b = dup_exact((const char *)w, n);
	assert_int_equal(
	    dns_rdata_name(span_make(b, n), out, &used), DNS_RDATA_BADNAME);
	free(b);

	/* 127 one-octet labels: 255 wire octets, ok; 128 are too many */
	n = make_name(w, 127, 1);
	assert_int_equal(n, 255);
	b = dup_exact((const char *)w, n);
	assert_int_equal(
	    dns_rdata_name(span_make(b, n), out, &used), DNS_RDATA_OK);
	assert_int_equal(strlen(out), 253);
	free(b);
	n = make_name(w, 128, 1);
	b = dup_exact((const char *)w, n);
	assert_int_equal(
	    dns_rdata_name(span_make(b, n), out, &used), DNS_RDATA_BADNAME);
	free(b);

	/* a name followed by more data: used stops at the root octet */
	memcpy(w,
	    "\x01"
	    "a\x00rest",
	    7);
	b = dup_exact((const char *)w, 7);
	assert_int_equal(
	    dns_rdata_name(span_make(b, 7), out, &used), DNS_RDATA_OK);
	assert_int_equal(used, 3);
	assert_string_equal(out, "a");
	free(b);

	/* the empty span */
	assert_int_equal(
	    dns_rdata_name(span_make(NULL, 0), out, &used), DNS_RDATA_SHORT);
}

static void
test_a_aaaa(void **state)
{
	unsigned char a[4], a6[16];
	char *b;
	size_t n;

	(void)state;
	b = dup_exact(IN("\xc0\x00\x02\x01"));
	assert_int_equal(dns_rdata_a(span_make(b, 4), a), DNS_RDATA_OK);
	assert_memory_equal(a, "\xc0\x00\x02\x01", 4);
	free(b);
	for (n = 0; n < 20; n++) {
		b = dup_exact("0123456789abcdefghij", n);
		if (n != 4) {
			assert_int_equal(
			    dns_rdata_a(span_make(b, n), a), DNS_RDATA_SHORT);
			assert_memory_equal(a, "\0\0\0\0", 4);
		}
		if (n != 16) {
			assert_int_equal(dns_rdata_aaaa(span_make(b, n), a6),
			    DNS_RDATA_SHORT);
		} else {
			assert_int_equal(
			    dns_rdata_aaaa(span_make(b, n), a6), DNS_RDATA_OK);
			assert_memory_equal(a6, "0123456789abcdef", 16);
		}
		free(b);
	}
}

static void
test_tlsa(void **state)
{
	struct dns_rdata_tlsa t;
	unsigned char w[80];
	char *b;
	size_t n;

	(void)state;
	/* 3 1 1 + 32 octets */
	w[0] = 3;
	w[1] = 1;
	w[2] = 1;
	memset(w + 3, 0xab, 64);
	b = dup_exact((const char *)w, 35);
	assert_int_equal(dns_rdata_tlsa(span_make(b, 35), &t), DNS_RDATA_OK);
	assert_int_equal(t.usage, 3);
	assert_int_equal(t.selector, 1);
	assert_int_equal(t.mtype, 1);
	assert_int_equal(t.data.n, 32);
	assert_ptr_equal(t.data.p, b + 3);
	free(b);
	/* SHA-256 with 31 or 33 octets, SHA-512 with 32 */
	for (n = 34; n <= 36; n += 2) {
		b = dup_exact((const char *)w, n);
		assert_int_equal(
		    dns_rdata_tlsa(span_make(b, n), &t), DNS_RDATA_BADTLSA);
		assert_int_equal(t.data.n, 0);
		free(b);
	}
	w[2] = 2;
	b = dup_exact((const char *)w, 35);
	assert_int_equal(
	    dns_rdata_tlsa(span_make(b, 35), &t), DNS_RDATA_BADTLSA);
	free(b);
	b = dup_exact((const char *)w, 67);
	assert_int_equal(dns_rdata_tlsa(span_make(b, 67), &t), DNS_RDATA_OK);
	assert_int_equal(t.data.n, 64);
	free(b);
	/* full certificate (mtype 0): any length >= 1 */
	w[2] = 0;
	b = dup_exact((const char *)w, 4);
	assert_int_equal(dns_rdata_tlsa(span_make(b, 4), &t), DNS_RDATA_OK);
	assert_int_equal(t.data.n, 1);
	free(b);
	/* no data */
	for (n = 0; n < 4; n++) {
		b = dup_exact((const char *)w, n);
		assert_int_equal(
		    dns_rdata_tlsa(span_make(b, n), &t), DNS_RDATA_SHORT);
		free(b);
	}
}

struct hostname_case {
	const char *s;
	bool ok;
};

static const struct hostname_case hostname_cases[] = {
    {"example.com", true},
    {"example.com.", true},
    {"a", true},
    {"MX-1.Example_x.COM", true},
    {"192.0.2.1", true}, /* shape only: the caller rejects IP literals */
    {"", false},
    {".", false},
    {"..", false},
    {".example.com", false},
    {"example..com", false},
    {"example.com..", false},
    {"exa mple.com", false},
    {"example.com/", false},
    {"ex\xc3\xa9.com", false},
    {"[192.0.2.1]", false},
};

static void
test_is_hostname(void **state)
{
	char big[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(hostname_cases) / sizeof(hostname_cases[0]);
	     i++) {
		const char *s = hostname_cases[i].s;
		char *b = dup_exact(s, strlen(s));

		if (dns_rdata_is_hostname(span_make(b, strlen(s))) !=
		    hostname_cases[i].ok)
			fail_msg("dns_rdata_is_hostname(\"%s\")", s);
		free(b);
	}
	memset(big, 'a', sizeof(big));
	assert_true(dns_rdata_is_hostname(span_make(big, 63)));
	assert_false(dns_rdata_is_hostname(span_make(big, 64)));
	for (i = 63; i < 253; i += 64)
		big[i] = '.';
	assert_true(dns_rdata_is_hostname(span_make(big, 253)));
	assert_false(dns_rdata_is_hostname(span_make(big, 254)));
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(dns_rdata_strerror(DNS_RDATA_OK), "ok");
	assert_non_null(dns_rdata_strerror(DNS_RDATA_SHORT));
	assert_non_null(dns_rdata_strerror(DNS_RDATA_BADNAME));
	assert_non_null(dns_rdata_strerror(DNS_RDATA_BADTLSA));
	assert_non_null(dns_rdata_strerror(-99));
}

static void
test_txt(void **state)
{
	static const unsigned char two[] = "\x09v=STSv1; \x06id=123";
	static const unsigned char bad[] = "\x05" "abc";
	char out[64];
	size_t len = 99;

	(void)state;
	assert_int_equal(dns_rdata_txt(span_make((const char *)two, sizeof(two) - 1), out,
	    sizeof(out), &len), DNS_RDATA_OK);
	assert_string_equal(out, "v=STSv1; id=123");
	assert_int_equal(len, 15);
	/* An empty string is a valid record with no text. */
	assert_int_equal(dns_rdata_txt(span_make("\0", 1), out, sizeof(out),
	    &len), DNS_RDATA_OK);
	assert_int_equal(len, 0);
	assert_int_equal(dns_rdata_txt(span_make((const char *)bad, sizeof(bad) - 1), out,
	    sizeof(out), &len), DNS_RDATA_SHORT);
	assert_string_equal(out, "");
	assert_int_equal(dns_rdata_txt(span_make((const char *)two, 0), out, sizeof(out),
	    &len), DNS_RDATA_SHORT);
	assert_int_equal(dns_rdata_txt(span_make((const char *)two, sizeof(two) - 1), out,
	    15, &len), DNS_RDATA_TOOLONG);
	assert_string_equal(out, "");
	assert_int_equal(dns_rdata_txt(span_make((const char *)two, sizeof(two) - 1), out,
	    16, &len), DNS_RDATA_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mx_table),
	    cmocka_unit_test(test_name_limits),
	    cmocka_unit_test(test_a_aaaa),
	    cmocka_unit_test(test_tlsa),
	    cmocka_unit_test(test_txt),
	    cmocka_unit_test(test_is_hostname),
	    cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
