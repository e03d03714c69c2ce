/*
 * test_dns: remote/dns against a real libunbound context that answers
 * from local data (dns-option local-zone/local-data, the same path an
 * operator's dns-option takes), so no network is needed: a "static" local
 * zone answers NXDOMAIN and NODATA itself. The forwarder is a dead
 * loopback port that nothing should ever reach. Also the pure helpers:
 * resolv.conf parsing and the MX ordering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <event2/event.h>

#include "remote/dns.h"

/* ---- pure helpers ---- */

static void
test_resolvconf(void **state)
{
	static const char text[] =
	    "# comment\n"
	    "; comment nameserver 9.9.9.9\n"
	    "search example.org\n"
	    "nameserver\n"
	    "nameserver not-an-address\n"
	    "nameservers 8.8.8.8\n"
	    "  nameserver\t192.0.2.1  # trailing\n"
	    "nameserver 2001:db8::53\r\n"
	    "nameserver fe80::1%eth0\n"
	    "nameserver 192.0.2.4\n"; /* fourth: ignored like glibc */
	char out[DNS_RESOLV_MAX][64];
	char *b = malloc(sizeof(text) - 1);

	(void)state;
	memcpy(b, text, sizeof(text) - 1);
	assert_int_equal(dns_resolvconf_servers(b, sizeof(text) - 1, out), 3);
	assert_string_equal(out[0], "192.0.2.1");
	assert_string_equal(out[1], "2001:db8::53");
	assert_string_equal(out[2], "fe80::1%eth0");
	/* cut in the middle of the first address line: "192.0" is no
	 * address */
	assert_int_equal(dns_resolvconf_servers(b, 130, out), 0);
	assert_int_equal(dns_resolvconf_servers(b, 0, out), 0);
	free(b);
	assert_int_equal(
	    dns_resolvconf_servers("nameserver 10.0.0.1", 19, out), 1);
	assert_string_equal(out[0], "10.0.0.1");
}

static uint32_t test_rnd_state;

static uint32_t
test_rnd(void)
{
	test_rnd_state = test_rnd_state * 1103515245u + 12345u;
	return test_rnd_state >> 8;
}

static void
test_hosts_sort(void **state)
{
	struct dns_host h[6];
	unsigned prefs[6] = {30, 10, 20, 10, 10, 0};
	bool first[6] = {false};
	size_t i, round;

	(void)state;
	for (round = 0; round < 200; round++) {
		memset(h, 0, sizeof(h));
		for (i = 0; i < 6; i++) {
			h[i].pref = prefs[i];
			snprintf(h[i].name, sizeof(h[i].name), "h%zu", i);
		}
		test_rnd_state = (uint32_t)round * 7919u;
		dns_hosts_sort(h, 6, round % 2 ? test_rnd : NULL);
		assert_string_equal(h[0].name, "h5");
		for (i = 1; i < 6; i++)
			assert_true(h[i - 1].pref <= h[i].pref);
		assert_string_equal(h[4].name, "h2");
		assert_string_equal(h[5].name, "h0");
		first[h[1].name[1] - '0'] = true;
	}
	/* each of the three preference-10 hosts came first sometimes */
	assert_true(first[1] && first[3] && first[4]);
	dns_hosts_sort(h, 0, NULL);
	dns_hosts_sort(h, 1, NULL);
}

static void
test_names(void **state)
{
	struct dns_addr a = {AF_INET6, {0}};
	struct sockaddr_storage ss;
	char buf[64];

	(void)state;
	assert_string_equal(dns_sec_name(DNS_SEC_SECURE), "secure");
	assert_string_equal(dns_sec_name(DNS_SEC_BOGUS), "bogus");
	assert_string_equal(dns_sec_name(DNS_SEC_INSECURE), "insecure");
	assert_string_equal(dns_sec_name(DNS_SEC_NONE), "none");
	assert_string_equal(dns_status_name(DNS_TEMP), "temporary");
	assert_string_equal(dns_status_name(DNS_PERM), "permanent");
	assert_string_equal(dns_status_name(DNS_OK), "ok");
	a.addr[15] = 1;
	dns_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "::1");
	assert_int_equal(
	    dns_addr_sockaddr(&a, 25, &ss), sizeof(struct sockaddr_in6));
	assert_int_equal(((struct sockaddr_in6 *)&ss)->sin6_port, htons(25));
	a.family = AF_INET;
	memcpy(a.addr, "\x7f\x00\x00\x01", 4);
	dns_addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "127.0.0.1");
	dns_addr_format(&a, buf, 4);
	assert_string_equal(buf, "");
	assert_int_equal(
	    dns_addr_sockaddr(&a, 2525, &ss), sizeof(struct sockaddr_in));
	a.family = 0;
	assert_int_equal(dns_addr_sockaddr(&a, 25, &ss), 0);
}

/* ---- against libunbound with local data ---- */

struct fixture {
	struct event_base *base;
	struct dns *d;
	struct conf conf;
	char *opts[200];
	size_t nopts;
	char *fwd[1];
	struct dns_route *route;
	int calls;
};

static void
fx_opt(struct fixture *f, const char *name, const char *value)
{
	f->opts[f->nopts++] = strdup(name);
	f->opts[f->nopts++] = strdup(value);
}

static void
fx_local_data(struct fixture *f)
{
	char line[128];
	int i;

	fx_opt(f, "local-zone", "example. static");
	fx_opt(f, "local-data", "multi.example. MX 20 mx-c.example.");
	fx_opt(f, "local-data", "multi.example. MX 10 MX-A.Example.");
	fx_opt(f, "local-data", "multi.example. MX 10 mx-b.example.");
	fx_opt(f, "local-data", "multi.example. MX 5 192.0.2.9.");
	fx_opt(f, "local-data", "multi.example. MX 30 mx-a.example.");
	fx_opt(f, "local-data", "mx-a.example. A 192.0.2.1");
	fx_opt(f, "local-data", "mx-a.example. A 192.0.2.2");
	fx_opt(f, "local-data", "mx-a.example. AAAA 2001:db8::1");
	fx_opt(f, "local-data", "mx-b.example. A 192.0.2.3");
	fx_opt(f, "local-data", "mx-c.example. AAAA 2001:db8::3");
	fx_opt(f, "local-data", "implicit.example. A 192.0.2.10");
	fx_opt(f, "local-data", "nullmx.example. MX 0 .");
	fx_opt(f, "local-data", "nullmx.example. A 192.0.2.66");
	fx_opt(f, "local-data", "literal.example. MX 10 192.0.2.7.");
	fx_opt(f, "local-data", "nodata.example. TXT \"x\"");
	fx_opt(f, "local-data", "noaddr.example. MX 10 nowhere.example.");
	fx_opt(f, "local-data",
	    "_25._tcp.mx-a.example. TLSA 3 1 1 "
	    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	for (i = 0; i < 25; i++) {
		snprintf(line, sizeof(line),
		    "many.example. MX %d h%02d.example.", i, i);
		fx_opt(f, "local-data", line);
	}
	fx_opt(f, "local-data", "h00.example. A 192.0.2.200");
	for (i = 0; i < 12; i++) {
		snprintf(line, sizeof(line), "lots.example. A 192.0.2.%d", i);
		fx_opt(f, "local-data", line);
		snprintf(
		    line, sizeof(line), "lots.example. AAAA 2001:db8::%d", i);
		fx_opt(f, "local-data", line);
	}
}

static int
fx_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512];

	f->base = event_base_new();
	f->fwd[0] = strdup("127.0.0.1@9");
	f->conf.dns_mode = CONF_DNS_FORWARD;
	f->conf.dns_forwarders = f->fwd;
	f->conf.ndns_forwarders = 1;
	fx_local_data(f);
	f->conf.dns_options = f->opts;
	f->conf.ndns_options = f->nopts / 2;
	f->d = dns_new(f->base, &f->conf, NULL, 0, NULL, 0, err, sizeof(err));
	if (f->d == NULL)
		fail_msg("dns_new: %s", err);
	*state = f;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	dns_free(f->d);
	event_base_free(f->base);
	for (i = 0; i < f->nopts; i++)
		free(f->opts[i]);
	free(f->fwd[0]);
	dns_route_free(f->route);
	free(f);
	return 0;
}

static void
fx_route_cb(struct dns_route *r, void *arg)
{
	struct fixture *f = arg;

	f->calls++;
	dns_route_free(f->route);
	f->route = r;
	event_base_loopbreak(f->base);
}

static void
fx_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Runs the loop until a callback breaks it or seconds pass. */
static void
fx_run(struct fixture *f, int seconds)
{
	struct timeval tv = {seconds, 0};
	struct event *t = evtimer_new(f->base, fx_timeout, f->base);

	evtimer_add(t, &tv);
	event_base_dispatch(f->base);
	event_free(t);
}

static struct dns_route *
fx_mx(struct fixture *f, const char *domain)
{
	f->calls = 0;
	(void)dns_mx(f->d, domain, fx_route_cb, f);
	assert_int_equal(f->calls, 0); /* never from inside the call */
	fx_run(f, 10);
	assert_int_equal(f->calls, 1);
	return f->route;
}

static void
addr_is(const struct dns_addr *a, const char *text)
{
	char buf[64];

	dns_addr_format(a, buf, sizeof(buf));
	assert_string_equal(buf, text);
}

static void
test_mx_order(void **state)
{
	struct fixture *f = *state;
	bool afirst = false, bfirst = false;
	int i;

	for (i = 0; i < 40 && !(afirst && bfirst); i++) {
		struct dns_route *r = fx_mx(f, "Multi.Example.");

		assert_int_equal(r->status, DNS_OK);
		assert_string_equal(r->domain, "multi.example");
		assert_string_equal(r->error, "");
		assert_string_equal(r->enhanced, "");
		assert_false(r->implicit);
		assert_int_equal(r->mx_sec, DNS_SEC_INSECURE);
		assert_string_equal(r->mx_canon, "");
		/* the IP literal is skipped; mx-a once, at preference 10 */
		assert_int_equal(r->nhosts, 3);
		assert_int_equal(r->hosts[0].pref, 10);
		assert_int_equal(r->hosts[1].pref, 10);
		assert_int_equal(r->hosts[2].pref, 20);
		assert_string_equal(r->hosts[2].name, "mx-c.example");
		if (strcmp(r->hosts[0].name, "mx-a.example") == 0)
			afirst = true;
		else if (strcmp(r->hosts[0].name, "mx-b.example") == 0)
			bfirst = true;
		else
			fail_msg("first host %s", r->hosts[0].name);
		for (size_t k = 0; k < 3; k++) {
			const struct dns_host *h = &r->hosts[k];

			assert_int_equal(h->status, DNS_OK);
			assert_int_equal(h->sec, DNS_SEC_INSECURE);
			if (strcmp(h->name, "mx-a.example") == 0) {
				assert_int_equal(h->naddrs, 3);
				addr_is(&h->addrs[0], "2001:db8::1");
				assert_int_equal(h->addrs[1].family, AF_INET);
				assert_int_equal(h->addrs[2].family, AF_INET);
			} else if (strcmp(h->name, "mx-b.example") == 0) {
				assert_int_equal(h->naddrs, 1);
				addr_is(&h->addrs[0], "192.0.2.3");
			} else {
				assert_int_equal(h->naddrs, 1);
				addr_is(&h->addrs[0], "2001:db8::3");
			}
		}
	}
	assert_true(afirst && bfirst);
}

static void
test_implicit_mx(void **state)
{
	struct fixture *f = *state;
	struct dns_route *r = fx_mx(f, "implicit.example");

	assert_int_equal(r->status, DNS_OK);
	assert_true(r->implicit);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "implicit.example");
	assert_int_equal(r->hosts[0].pref, 0);
	assert_int_equal(r->hosts[0].naddrs, 1);
	addr_is(&r->hosts[0].addrs[0], "192.0.2.10");
}

static void
test_null_mx(void **state)
{
	struct fixture *f = *state;
	struct dns_route *r = fx_mx(f, "nullmx.example");

	assert_int_equal(r->status, DNS_PERM);
	assert_string_equal(r->enhanced, "5.1.10");
	assert_string_equal(
	    r->error, "nullmx.example: domain does not accept mail (null MX)");
	assert_int_equal(r->nhosts, 0);
}

static void
test_nxdomain(void **state)
{
	struct fixture *f = *state;
	struct dns_route *r = fx_mx(f, "nope.example");

	assert_int_equal(r->status, DNS_PERM);
	assert_string_equal(r->enhanced, "5.1.2");
	assert_string_equal(r->error, "nope.example: no such domain");
	assert_int_equal(r->nhosts, 0);
}

static void
test_no_address(void **state)
{
	struct fixture *f = *state;
	struct dns_route *r = fx_mx(f, "nodata.example");

	assert_int_equal(r->status, DNS_PERM);
	assert_string_equal(r->enhanced, "5.4.4");
	assert_true(r->implicit);
	assert_int_equal(r->nhosts, 1);
	assert_int_equal(r->hosts[0].status, DNS_PERM);

	r = fx_mx(f, "noaddr.example");
	assert_int_equal(r->status, DNS_PERM);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(
	    r->hosts[0].error, "nowhere.example: no such host (NXDOMAIN)");

	/* only an IP literal as MX target: nothing usable, temporary */
	r = fx_mx(f, "literal.example");
	assert_int_equal(r->status, DNS_TEMP);
	assert_string_equal(r->enhanced, "4.4.3");
	assert_int_equal(r->nhosts, 0);
}

static void
test_caps(void **state)
{
	struct fixture *f = *state;
	struct dns_route *r = fx_mx(f, "many.example");
	size_t i;

	assert_int_equal(r->status, DNS_OK); /* h00 has an address */
	assert_int_equal(r->nhosts, DNS_ROUTE_HOSTS_MAX);
	for (i = 0; i < r->nhosts; i++)
		assert_int_equal(r->hosts[i].pref, i);
	assert_int_equal(r->hosts[0].status, DNS_OK);
	assert_int_equal(r->hosts[1].status, DNS_PERM);

	f->calls = 0;
	(void)dns_host(f->d, "lots.example", fx_route_cb, f);
	fx_run(f, 10);
	r = f->route;
	assert_int_equal(f->calls, 1);
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->hosts[0].naddrs, DNS_HOST_ADDRS_MAX);
	for (i = 0; i < DNS_HOST_ADDRS_MAX; i++)
		assert_int_equal(
		    r->hosts[0].addrs[i].family, i % 2 ? AF_INET : AF_INET6);
}

static void
test_invalid_names(void **state)
{
	struct fixture *f = *state;
	struct dns_route *r;

	r = fx_mx(f, "bad..example");
	assert_int_equal(r->status, DNS_PERM);
	assert_string_equal(r->enhanced, "5.1.2");
	r = fx_mx(f, "192.0.2.1");
	assert_int_equal(r->status, DNS_PERM);
	r = fx_mx(f, "");
	assert_int_equal(r->status, DNS_PERM);
	r = fx_mx(f, "with space.example\r\n");
	assert_int_equal(r->status, DNS_PERM);
	assert_null(strchr(r->error, '\r'));

	f->calls = 0;
	(void)dns_host(f->d, "2001:db8::25", fx_route_cb, f);
	fx_run(f, 10);
	r = f->route;
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->hosts[0].naddrs, 1);
	addr_is(&r->hosts[0].addrs[0], "2001:db8::25");
	f->calls = 0;
	(void)dns_host(f->d, "-bad name", fx_route_cb, f);
	fx_run(f, 10);
	assert_int_equal(f->route->status, DNS_PERM);
}

static int cancel_calls;

static void
cancel_cb(struct dns_route *r, void *arg)
{
	(void)arg;
	cancel_calls++;
	dns_route_free(r);
}

static void
test_cancel(void **state)
{
	struct fixture *f = *state;
	struct dns_query *q[4];
	size_t i;

	cancel_calls = 0;
	q[0] = dns_mx(f->d, "multi.example", cancel_cb, NULL);
	q[1] = dns_mx(f->d, "bad..example", cancel_cb, NULL);
	q[2] = dns_host(f->d, "mx-a.example", cancel_cb, NULL);
	q[3] = dns_mx(f->d, "implicit.example", cancel_cb, NULL);
	for (i = 0; i < 3; i++)
		dns_cancel(q[i]);
	f->calls = 0;
	(void)dns_mx(f->d, "nullmx.example", fx_route_cb, f);
	fx_run(f, 2);
	fx_run(f, 1); /* anything left over would arrive now */
	assert_int_equal(cancel_calls, 1); /* only q[3] */
	assert_int_equal(f->calls, 1);
	/* cancel after the MX answer, while addresses are pending */
	q[0] = dns_mx(f->d, "multi.example", cancel_cb, NULL);
	event_base_loop(f->base, EVLOOP_ONCE);
	dns_cancel(q[0]);
	fx_run(f, 1);
	assert_int_equal(cancel_calls, 1);
	/* left running: dns_free (teardown) must release it */
	(void)dns_mx(f->d, "multi.example", cancel_cb, NULL);
}

struct tlsa_result {
	struct event_base *base;
	int status;
	size_t n;
	struct dns_rdata_tlsa t;
	unsigned char data[64];
};

static void
tlsa_cb(const struct dns_answer *a, void *arg)
{
	struct tlsa_result *tr = arg;

	tr->status = a->status;
	tr->n = a->nrr;
	if (a->nrr == 1 &&
	    dns_rdata_tlsa(span_make((const char *)a->rr[0].p, a->rr[0].n),
		&tr->t) == DNS_RDATA_OK)
		memcpy(tr->data, tr->t.data.p, tr->t.data.n);
	event_base_loopbreak(tr->base);
}

static void
test_generic_lookup(void **state)
{
	struct fixture *f = *state;
	struct tlsa_result tr = {f->base, -1, 0, {0}, {0}};

	(void)dns_lookup(
	    f->d, "_25._tcp.mx-a.example", DNS_RDATA_TYPE_TLSA, tlsa_cb, &tr);
	fx_run(f, 10);
	assert_int_equal(tr.status, DNS_OK);
	assert_int_equal(tr.n, 1);
	assert_int_equal(tr.t.usage, 3);
	assert_int_equal(tr.t.selector, 1);
	assert_int_equal(tr.t.mtype, 1);
	assert_int_equal(tr.t.data.n, 32);
	assert_int_equal(tr.data[0], 0x01);
	assert_int_equal(tr.data[31], 0xef);

	tr.status = -1;
	(void)dns_lookup(
	    f->d, "_25._tcp.mx-b.example", DNS_RDATA_TYPE_TLSA, tlsa_cb, &tr);
	fx_run(f, 10);
	assert_int_equal(tr.status, DNS_PERM);
	assert_int_equal(tr.n, 0);
}

/* ---- dns_new errors ---- */

static void
test_new_errors(void **state)
{
	struct event_base *base = event_base_new();
	struct conf c;
	char o0[] = "no-such-option", o1[] = "1", f0[] = "not an address";
	char *opts[2] = {o0, o1};
	char *fwd[1] = {f0};
	char err[512];
	struct dns *d;
	static const char ta_bad[] = "; comment\n\n. IN DS 1 2 3 zz\n";
	static const char ta_good[] =
	    ". IN DS 20326 8 2 "
	    "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D"
	    " ; root KSK-2017\n";

	(void)state;
	memset(&c, 0, sizeof(c));
	c.dns_mode = CONF_DNS_RECURSIVE;
	c.dns_options = opts;
	c.ndns_options = 1;
	d = dns_new(base, &c, NULL, 0, NULL, 0, err, sizeof(err));
	assert_null(d);
	assert_non_null(strstr(err, "dns-option no-such-option"));

	c.ndns_options = 0;
	c.dns_mode = CONF_DNS_FORWARD;
	c.dns_forwarders = fwd;
	c.ndns_forwarders = 1;
	d = dns_new(base, &c, NULL, 0, NULL, 0, err, sizeof(err));
	assert_null(d);
	assert_non_null(strstr(err, "not an address"));

	c.dns_mode = CONF_DNS_RESOLVCONF;
	d = dns_new(base, &c, "nameserver 192.0.2.53\n", 22, ta_bad,
	    sizeof(ta_bad) - 1, err, sizeof(err));
	assert_null(d);
	assert_string_equal(
	    err, "trust anchor line 3 is not a valid DS or DNSKEY record");

	d = dns_new(
	    base, &c, NULL, 0, ta_good, sizeof(ta_good) - 1, err, sizeof(err));
	assert_non_null(d);
	dns_free(d);
	dns_free(NULL);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_resolvconf),
	    cmocka_unit_test(test_hosts_sort),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test_setup_teardown(
		test_mx_order, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_implicit_mx, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_null_mx, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_nxdomain, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_no_address, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_caps, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_invalid_names, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(
		test_generic_lookup, fx_setup, fx_teardown),
	    cmocka_unit_test(test_new_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
