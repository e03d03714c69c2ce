/*
 * test_tlsseen: remote/tlsseen, the remember-TLS record: put/get/forget,
 * names, persistence across close/open in a temporary directory, corrupt
 * lines, duplicate lines, the bound and its eviction of the oldest, the
 * listing, and the deferred write with an event base.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "remote/tlsseen.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_tlsseen.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/tls-seen", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static char *
read_file(const char *path)
{
	static char data[65536];
	FILE *fp = fopen(path, "r");
	size_t n;

	if (fp == NULL)
		return NULL;
	n = fread(data, 1, sizeof(data) - 1, fp);
	data[n] = '\0';
	fclose(fp);
	return data;
}

static void
test_put_get_forget(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct tlsseen *t = tlsseen_open(f->path, err, sizeof(err));

	assert_non_null(t);
	assert_int_equal(tlsseen_count(t), 0);
	assert_int_equal(tlsseen_get(t, "mx.example.com"), 0);
	tlsseen_put(t, "MX.Example.COM.", 1000);
	assert_int_equal(tlsseen_get(t, "mx.example.com"), 1000);
	assert_int_equal(tlsseen_get(t, "mx.example.com."), 1000);
	assert_int_equal(tlsseen_get(t, "MX.EXAMPLE.COM"), 1000);
	tlsseen_put(t, "mx.example.com", 2000);
	assert_int_equal(tlsseen_get(t, "mx.example.com"), 2000);
	/* an older time does not go back */
	tlsseen_put(t, "mx.example.com", 1500);
	assert_int_equal(tlsseen_get(t, "mx.example.com"), 2000);
	/* addresses are fine, junk is ignored */
	tlsseen_put(t, "192.0.2.1", 10);
	tlsseen_put(t, "2001:db8::1", 11);
	tlsseen_put(t, "bad host", 12);
	tlsseen_put(t, "", 12);
	tlsseen_put(t, NULL, 12);
	tlsseen_put(t, "x\n1", 12);
	tlsseen_put(t, "zero.example", 0);
	assert_int_equal(tlsseen_count(t), 3);
	assert_int_equal(tlsseen_get(t, "192.0.2.1"), 10);
	assert_int_equal(tlsseen_get(t, "bad host"), 0);
	assert_int_equal(tlsseen_forget(t, "MX.example.com"), 0);
	assert_int_equal(tlsseen_forget(t, "mx.example.com"), -1);
	assert_int_equal(tlsseen_forget(t, "bad host"), -1);
	assert_int_equal(tlsseen_get(t, "mx.example.com"), 0);
	assert_int_equal(tlsseen_count(t), 2);
	tlsseen_close(t);
}

static void
test_persist(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct tlsseen *t = tlsseen_open(f->path, err, sizeof(err));
	struct buf b;

	assert_non_null(t);
	tlsseen_put(t, "b.example", 1700000000);
	tlsseen_put(t, "a.example", 1700000001);
	tlsseen_put(t, "c.example", 1700000002);
	assert_int_equal(tlsseen_forget(t, "c.example"), 0);
	tlsseen_close(t);
	assert_string_equal(
	    read_file(f->path), "a.example 1700000001\nb.example 1700000000\n");

	t = tlsseen_open(f->path, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tlsseen_get(t, "a.example"), 1700000001);
	assert_int_equal(tlsseen_get(t, "b.example"), 1700000000);
	assert_int_equal(tlsseen_get(t, "c.example"), 0);
	buf_init(&b, 4096);
	tlsseen_list(t, &b);
	assert_string_equal(buf_str(&b),
	    "a.example 2023-11-14T22:13:21Z\nb.example 2023-11-14T22:13:20Z\n");
	buf_clear(&b);
	/* flush with nothing changed leaves the file alone */
	assert_int_equal(unlink(f->path), 0);
	tlsseen_flush(t);
	assert_null(read_file(f->path));
	tlsseen_close(t);
	assert_null(read_file(f->path));
	/* no temporary files left behind */
	{
		char cmd[160];

		snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", f->dir);
		assert_int_equal(system(cmd), 0);
	}
}

static void
test_corrupt(void **state)
{
	struct fixture *f = *state;
	char err[256];
	struct tlsseen *t;

	write_file(f->path, "good.example 100\n"
			    "\n"
			    "no-time.example\n"
			    "neg.example -5\n"
			    "zero.example 0\n"
			    "UPPER.example 7\n"
			    "sp ace.example 8\n"
			    "trail.example 9 \n"
			    "big.example 99999999999999999999\n"
			    "dup.example 5\n"
			    "dup.example 50\n"
			    "dup.example 20\n"
			    "x.example 12a\n"
			    "last.example 300");
	t = tlsseen_open(f->path, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(tlsseen_count(t), 3);
	assert_int_equal(tlsseen_get(t, "good.example"), 100);
	assert_int_equal(tlsseen_get(t, "dup.example"), 50);
	assert_int_equal(tlsseen_get(t, "last.example"), 300);
	assert_int_equal(tlsseen_get(t, "upper.example"), 0);
	/* the corrupt lines are dropped from the file at the next write */
	tlsseen_close(t);
	assert_string_equal(read_file(f->path),
	    "dup.example 50\ngood.example 100\nlast.example 300\n");
	/* an unreadable path is an error */
	t = tlsseen_open(f->dir, err, sizeof(err));
	if (t != NULL) { /* reading a directory: EISDIR, or empty */
		tlsseen_set_limit(t, 1);
		tlsseen_close(t);
	} else {
		assert_true(strlen(err) > 0);
	}
}

static void
test_bound(void **state)
{
	struct fixture *f = *state;
	char err[256], host[64];
	struct tlsseen *t = tlsseen_open(f->path, err, sizeof(err));
	int i;

	assert_non_null(t);
	tlsseen_set_limit(t, 200);
	for (i = 0; i < 200; i++) {
		snprintf(host, sizeof(host), "h%03d.example", i);
		/* times out of name order: h000 is the newest */
		tlsseen_put(t, host, 10000 - i);
	}
	assert_int_equal(tlsseen_count(t), 200);
	/* refreshing an existing host never evicts */
	tlsseen_put(t, "h150.example", 20000);
	assert_int_equal(tlsseen_count(t), 200);
	/* a new host drops the oldest 1% (2 hosts: h199, h198) */
	tlsseen_put(t, "new.example", 30000);
	assert_int_equal(tlsseen_count(t), 199);
	assert_int_equal(tlsseen_get(t, "h199.example"), 0);
	assert_int_equal(tlsseen_get(t, "h198.example"), 0);
	assert_int_equal(tlsseen_get(t, "h197.example"), 10000 - 197);
	assert_int_equal(tlsseen_get(t, "h150.example"), 20000);
	assert_int_equal(tlsseen_get(t, "new.example"), 30000);
	/* the real bound with the real count, in bounded time */
	tlsseen_set_limit(t, TLSSEEN_MAX);
	for (i = 0; i < TLSSEEN_MAX + 10; i++) {
		snprintf(host, sizeof(host), "m%06d.example", i);
		tlsseen_put(t, host, 40000 + i);
	}
	assert_true(tlsseen_count(t) <= TLSSEEN_MAX);
	assert_true(tlsseen_count(t) >= TLSSEEN_MAX - TLSSEEN_MAX / 100);
	assert_int_equal(tlsseen_get(t, "m100009.example"), 40000 + 100009);
	assert_int_equal(tlsseen_get(t, "new.example"), 0);
	tlsseen_close(t);
	t = tlsseen_open(f->path, err, sizeof(err));
	assert_non_null(t);
	assert_true(tlsseen_count(t) <= TLSSEEN_MAX);
	assert_int_equal(tlsseen_get(t, "m100009.example"), 40000 + 100009);
	tlsseen_close(t);
}

static void
stop_loop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

static void
test_timer(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	struct timeval tv = {2, 500000};
	struct event *stop;
	char err[256];
	struct tlsseen *t = tlsseen_open(f->path, err, sizeof(err));

	assert_non_null(base);
	assert_non_null(t);
	tlsseen_set_base(t, base);
	/* the first change is written at once */
	tlsseen_put(t, "a.example", 100);
	assert_string_equal(read_file(f->path), "a.example 100\n");
	/* the next within the interval waits for the timer */
	tlsseen_put(t, "b.example", 200);
	assert_string_equal(read_file(f->path), "a.example 100\n");
	stop = evtimer_new(base, stop_loop, base);
	evtimer_add(stop, &tv);
	event_base_dispatch(base);
	assert_string_equal(
	    read_file(f->path), "a.example 100\nb.example 200\n");
	event_free(stop);
	tlsseen_close(t);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_put_get_forget, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
