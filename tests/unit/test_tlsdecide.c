/*
 * test_tlsdecide: the per-host security decision of outbound delivery
 * (remote/tlsdecide): each rule of the order in tlsdecide.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "remote/tlsdecide.h"

static struct tls_decide_in
base_in(void)
{
	struct tls_decide_in in;

	memset(&in, 0, sizeof(in));
	in.host = "mx1.example.test";
	in.domain = "example.test";
	in.policy = CONF_TLS_MAY;
	in.dane_on = true;
	in.sec = DNS_SEC_SECURE;
	in.sts_id = "1";
	return in;
}

static struct dane_host *
dane(enum dane_state st)
{
	static struct dane_host h;

	memset(&h, 0, sizeof(h));
	h.state = st;
	snprintf(h.why, sizeof(h.why), "%s",
	    st == DANE_FAIL ? "TLSA lookup: DNSSEC validation failed" : "x");
	return &h;
}

static struct mta_sts_policy *
sts(enum mta_sts_mode mode)
{
	static struct mta_sts_policy p;

	memset(&p, 0, sizeof(p));
	p.mode = mode;
	p.max_age = 86400;
	p.nmx = 1;
	snprintf(p.mx[0], sizeof(p.mx[0]), "*.example.test");
	return &p;
}

static void
test_needs_dane(void **state)
{
	struct tls_decide_in in = base_in();

	(void)state;
	assert_true(tls_decide_needs_dane(&in));
	in.sec = DNS_SEC_INSECURE;
	assert_false(tls_decide_needs_dane(&in));
	in.sec = DNS_SEC_SECURE;
	in.dane = dane(DANE_NONE);
	assert_false(tls_decide_needs_dane(&in));
	in.dane = NULL;
	in.dane_on = false;
	assert_false(tls_decide_needs_dane(&in));
}

static void
test_order(void **state)
{
	struct tls_decide_in in = base_in();
	struct tls_decision d;

	(void)state;
	/* Nothing known: opportunistic. */
	in.dane = dane(DANE_NONE);
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_OPPORTUNISTIC);
	assert_false(d.skip);
	/* DANE wins over MTA-STS (RFC 8461 2). */
	in.dane = dane(DANE_USABLE);
	in.sts = sts(MTA_STS_ENFORCE);
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_DANE);
	/* Secure but unusable records: TLS without authentication. */
	in.dane = dane(DANE_ENCRYPT);
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_ENCRYPT);
	/* A failed TLSA lookup makes the host unusable. */
	in.dane = dane(DANE_FAIL);
	tls_decide(&in, &d);
	assert_true(d.skip);
	assert_string_equal(d.status, "4.7.5");
	assert_string_equal(d.tlsrpt, "dnssec-invalid");
	/* MTA-STS enforce: listed host, unlisted host; testing. */
	in.dane = dane(DANE_NONE);
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_STS);
	in.host = "mx.elsewhere.test";
	tls_decide(&in, &d);
	assert_true(d.skip);
	assert_string_equal(d.tlsrpt, "validation-failure");
	assert_non_null(strstr(d.diag, "not listed in the MTA-STS policy"));
	in.sts = sts(MTA_STS_TESTING);
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_STS_TESTING);
	assert_false(d.skip);
	/* mode none is no policy. */
	in.sts = sts(MTA_STS_NONE);
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_OPPORTUNISTIC);
	/* tls-policy encrypt when nothing else applies. */
	in.policy = CONF_TLS_ENCRYPT;
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_ENCRYPT);
}

static void
test_operator_and_header(void **state)
{
	struct tls_decide_in in = base_in();
	struct tls_decision d;

	(void)state;
	in.dane = dane(DANE_USABLE);
	in.policy = CONF_TLS_NONE;
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_NONE);
	in.policy = CONF_TLS_VERIFY;
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_VERIFY);
	in.policy = CONF_TLS_MAY;
	in.smarthost = true;
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_SMARTHOST);
	in.smarthost = false;
	/* TLS-Required: No: neither DANE nor MTA-STS, not even a failure. */
	in.tls_optional = true;
	tls_decide(&in, &d);
	assert_int_equal(d.security, MTA_SEC_OPPORTUNISTIC);
	in.dane = dane(DANE_FAIL);
	tls_decide(&in, &d);
	assert_false(d.skip);
	in.dane = dane(DANE_NONE);
	in.sts = sts(MTA_STS_ENFORCE);
	in.host = "mx.elsewhere.test";
	tls_decide(&in, &d);
	assert_false(d.skip);
	assert_int_equal(d.security, MTA_SEC_OPPORTUNISTIC);
}

static void
test_requiretls(void **state)
{
	struct tls_decide_in in = base_in();
	struct tls_decision d;

	(void)state;
	in.requiretls = true;
	in.dane = dane(DANE_USABLE);
	tls_decide(&in, &d);
	assert_false(d.skip);
	in.dane = dane(DANE_NONE);
	in.sts = sts(MTA_STS_ENFORCE);
	tls_decide(&in, &d);
	assert_false(d.skip);
	in.sts = sts(MTA_STS_TESTING);
	tls_decide(&in, &d);
	assert_true(d.skip);
	assert_string_equal(d.status, "5.7.30");
	assert_null(d.tlsrpt);
	in.sts = NULL;
	in.dane = dane(DANE_ENCRYPT);
	tls_decide(&in, &d);
	assert_true(d.skip);
	assert_string_equal(mta_security_name(MTA_SEC_STS_TESTING),
	    "mta-sts-testing");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_needs_dane),
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_operator_and_header),
	    cmocka_unit_test(test_requiretls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
