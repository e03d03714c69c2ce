/*
 * test_queue_rtls: REQUIRETLS (RFC 8689) in the queue and the messages the
 * remote process hands over (IMSG_R_REPORT), with a real spool in a
 * temporary directory, a real event loop and fake queue_ops that record
 * what would go to the remote process (the harness of test_queue_remote).
 * Checks: the tag survives the commit and reaches every remote delivery
 * of the message; a failure report on a REQUIRETLS message returns only
 * the header section even with RET=FULL and is itself sent with
 * REQUIRETLS (RFC 8689 5); a report spooled by queue_report_submit is
 * durable, byte for byte, and delivered to its recipients; malformed
 * reports are refused before or while spooling and leave nothing behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/fsio.h"
#include "lookup/tables.h"
#include "sched/queue.h"
#include "sched/queue_int.h"
#include "proto/smtp_param.h"
#include "spool/spool.h"

#include "queue_harness.h"

/* The content of queued message qid, read from the spool. */
static char *
t_content(const char *qid, size_t *n_out)
{
	struct qmsg *m = t_msg(qid);
	char *p = malloc(m->content_len + 1);
	ssize_t r;
	int fd;

	assert_int_equal(spool_open_message(&T.q->spool, qid, &fd), 0);
	r = pread(fd, p, m->content_len, 0);
	assert_true(r >= 0 && (uint64_t)r == m->content_len);
	close(fd);
	p[r] = '\0';
	*n_out = (size_t)r;
	return p;
}

/* REQUIRETLS is kept in the envelope and goes with every delivery. */
static void
test_requiretls_carried(void **state)
{
	const char *r[] = {"a@x.test", "b@y.test"};
	struct envelope e;
	struct qmsg *m;
	size_t i;

	(void)state;
	queue_remote_ready(T.q);
	t_requiretls = true;
	t_queue("s@example.org", r, 2);
	t_requiretls = false;
	m = t_msg(T.qid);
	assert_true(m->env.requiretls);
	t_want_nd = 2;
	assert_true(t_run_until(t_have_nd));
	for (i = 0; i < 2; i++)
		assert_true(T.d[i].requiretls);
	/* On disk too: what a restart would find. */
	{
		uint64_t len;
		assert_int_equal(spool_load(&T.q->spool, T.qid, &e, &len), 0);
		assert_true(e.requiretls);
		envelope_clear(&e);
	}

	/* And a message without it goes without it. */
	t_queue("s@example.org", r, 1);
	t_want_nd = 3;
	assert_true(t_run_until(t_have_nd));
	assert_false(T.d[2].requiretls);
	assert_false(t_msg(T.qid)->env.requiretls);
}

/*
 * RFC 8689 5: the failure report on a REQUIRETLS message returns only the
 * header section although RET=FULL was asked for, and is sent with
 * REQUIRETLS itself (from <>).
 */
static void
test_requiretls_failure_report(void **state)
{
	const char *r[] = {"gone@z.test"};
	char qid[32], *c;
	size_t n;

	(void)state;
	queue_remote_ready(T.q);
	t_requiretls = true;
	t_ret = 1; /* SMTP_RET_FULL */
	t_queue("s@example.org", r, 1);
	t_requiretls = false;
	t_ret = 0;
	snprintf(qid, sizeof(qid), "%s", T.qid);
	t_want_nd = 1;
	assert_true(t_run_until(t_have_nd));
	assert_true(T.d[0].requiretls);
	t_result(&T.d[0], QUEUE_REMOTE_PERM, "5.7.30",
	    "550 5.7.30 REQUIRETLS support required");
	t_want_nd = 2;
	assert_true(t_run_until(t_have_nd));
	assert_string_equal(T.d[1].sender, "");
	assert_string_equal(T.d[1].dest[0], "s@example.org");
	assert_true(T.d[1].requiretls);
	assert_true(t_msg(T.d[1].qid)->env.requiretls);
	c = t_content(T.d[1].qid, &n);
	assert_non_null(strstr(c, "text/rfc822-headers"));
	assert_non_null(strstr(c, "Subject: t\r\n"));
	assert_null(strstr(c, "hello")); /* the body stays home */
	assert_null(strstr(c, "message/rfc822"));
	free(c);

	/* The same without REQUIRETLS returns it all, without the tag. */
	t_ret = 1;
	t_queue("s@example.org", r, 1);
	t_ret = 0;
	t_want_nd = 3;
	assert_true(t_run_until(t_have_nd));
	t_result(&T.d[2], QUEUE_REMOTE_PERM, "5.1.1", "550 5.1.1 gone");
	t_want_nd = 4;
	assert_true(t_run_until(t_have_nd));
	assert_false(T.d[3].requiretls);
	c = t_content(T.d[3].qid, &n);
	assert_non_null(strstr(c, "message/rfc822"));
	assert_non_null(strstr(c, "hello"));
	free(c);
}

static const char t_report[] = "From: reports@mx.test\r\n"
			       "To: tlsrpt@example.net\r\n"
			       "Subject: Report Domain: mx.test\r\n"
			       "MIME-Version: 1.0\r\n"
			       "Content-Type: text/plain\r\n"
			       "\r\n"
			       "{\"organization-name\":\"mx.test\"}\r\n";

/* A memfd holding n bytes of p, its offset left at the end. */
static int
t_memfd(const char *p, size_t n)
{
	int fd = memfd_create("report", 0);

	assert_true(fd >= 0);
	assert_int_equal(fsio_write_all(fd, p, n), 0);
	return fd;
}

static size_t t_nmsgs_want;

static size_t
t_nmsgs(void)
{
	const struct qmsg *m;
	size_t n = 0;

	for (m = T.q->msgs; m != NULL; m = m->next)
		n++;
	return n;
}

static bool
t_have_nmsgs(void)
{
	return t_nmsgs() >= t_nmsgs_want;
}

/* Spooled byte for byte from <> and sent to its two domains. */
static void
test_report_spooled(void **state)
{
	const char *rc[] = {"tlsrpt@Example.NET", "rua@other.test"};
	const struct qmsg *m;
	struct envelope e;
	uint64_t len;
	char *c;
	size_t n;
	int fd;

	(void)state;
	queue_remote_ready(T.q);
	fd = t_memfd(t_report, sizeof(t_report) - 1);
	assert_int_equal(queue_report_submit(T.q, fd, "", rc, 2), 0);
	t_want_nd = 2;
	assert_true(t_run_until(t_have_nd));
	assert_string_equal(T.d[0].sender, "");
	assert_string_equal(T.d[0].qid, T.d[1].qid);
	assert_string_equal(T.d[0].dest[0], "tlsrpt@example.net");
	assert_string_equal(T.d[0].domain, "example.net");
	assert_string_equal(T.d[1].dest[0], "rua@other.test");
	assert_false(T.d[0].requiretls);
	m = t_msg(T.d[0].qid);
	assert_int_equal(m->content_len, sizeof(t_report) - 1);
	assert_string_equal(m->env.protocol, "REPORT");
	assert_null(m->env.client_addr);
	assert_int_equal(m->env.body, SMTP_BODY_7BIT);
	c = t_content(T.d[0].qid, &n);
	assert_int_equal(n, sizeof(t_report) - 1);
	assert_memory_equal(c, t_report, n); /* no Received: added */
	free(c);
	/* Committed: the envelope is in queue/ for a restart to find. */
	assert_int_equal(spool_load(&T.q->spool, T.d[0].qid, &e, &len), 0);
	assert_int_equal(e.nrcpts, 2);
	assert_string_equal(e.sender, "");
	envelope_clear(&e);
}

/* A named sender, and a local recipient goes to its mailbox way. */
static void
test_report_sender_and_local(void **state)
{
	const char *rc[] = {"demo@localhost"};
	const struct qmsg *m;
	int fd;

	(void)state;
	fd = t_memfd(t_report, sizeof(t_report) - 1);
	t_nmsgs_want = 1;
	assert_int_equal(
	    queue_report_submit(T.q, fd, "postmaster@mx.test", rc, 1), 0);
	assert_true(t_run_until(t_have_nmsgs));
	m = T.q->msgs;
	assert_string_equal(m->env.sender, "postmaster@mx.test");
	assert_int_equal(m->env.nrcpts, 1);
	assert_true(m->env.rcpts[0].local);
	assert_int_equal(T.nd, 0);
}

/* Refused at once: nothing spooled, the descriptor closed. */
static void
test_report_bad_arguments(void **state)
{
	const char *ok[] = {"a@x.test"};
	const char *bad[][1] = {{"a"}, {"@x.test"}, {"a@"}, {"<a@x.test>"},
	    {"a@x.test\r\nRCPT TO:<b@y.test>"}, {"j\xc3\xb6rg@x.test"},
	    {"a b@x.test"}, {""}, {"@r.test:a@x.test"}};
	const char *many[QUEUE_REMOTE_RCPT_MAX + 1];
	int fds[2], fd;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = t_memfd(t_report, sizeof(t_report) - 1);
		errno = 0;
		assert_int_equal(
		    queue_report_submit(T.q, fd, "", bad[i], 1), -1);
		assert_int_equal(errno, EINVAL);
		assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
	}
	fd = t_memfd(t_report, sizeof(t_report) - 1);
	assert_int_equal(queue_report_submit(T.q, fd, "x", ok, 1), -1);
	fd = t_memfd(t_report, sizeof(t_report) - 1);
	assert_int_equal(queue_report_submit(T.q, fd, "", ok, 0), -1);
	for (i = 0; i <= QUEUE_REMOTE_RCPT_MAX; i++)
		many[i] = "a@x.test";
	fd = t_memfd(t_report, sizeof(t_report) - 1);
	assert_int_equal(
	    queue_report_submit(T.q, fd, "", many, QUEUE_REMOTE_RCPT_MAX + 1),
	    -1);
	/* Empty, too big, not a regular file. */
	fd = t_memfd("", 0);
	assert_int_equal(queue_report_submit(T.q, fd, "", ok, 1), -1);
	fd = memfd_create("big", 0);
	assert_int_equal(ftruncate(fd, QUEUE_REPORT_MAX + 1), 0);
	assert_int_equal(queue_report_submit(T.q, fd, "", ok, 1), -1);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(queue_report_submit(T.q, fds[0], "", ok, 1), -1);
	close(fds[1]);
	/* A report of exactly the maximum passes this stage. */
	fd = memfd_create("max", 0);
	assert_int_equal(ftruncate(fd, QUEUE_REPORT_MAX), 0);
	assert_int_equal(queue_report_submit(T.q, fd, "", ok, 1), 0);
	t_nmsgs_want = 1;
	assert_false(t_run_until(t_have_nmsgs)); /* all NUL: dropped */
	assert_int_equal(t_nmsgs(), 0);
}

/* The content rules, directly. */
static void
test_report_content_rules(void **state)
{
	static const struct {
		const char *in;
		bool ok, eight;
	} cases[] = {
	    {"A: b\r\n\r\n", true, false},
	    {"A: b\r\n\r\nbody\r\n", true, false},
	    {"A: b\r\n c\r\n\r\n\r\n\r\n", true, false},
	    {"A: \xc3\xa9\r\n\r\nx\r\n", true, true},
	    {"A: b\r\n\r\nx", false, false},   /* last line open */
	    {"A: b\n\r\nx\r\n", false, false}, /* bare LF */
	    {"A: b\r\r\n\r\n", false, false},  /* bare CR */
	    {"A: b\r\n\r\nx\ry\r\n", false, false},
	    {"A: b\r\nc: d\r\n", false, false}, /* no end of headers */
	    {"\r\nbody\r\n", false, false},     /* no header section */
	    {"", false, false},
	};
	char line[1200];
	const char *why;
	bool eight;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = queue_report_check_content(
		    cases[i].in, strlen(cases[i].in), &eight, &why);
		if ((r == 0) != cases[i].ok)
			fail_msg("case %zu: %d (%s)", i, r, why ? why : "-");
		if (r == 0) {
			assert_null(why);
			assert_int_equal(eight, cases[i].eight);
		} else {
			assert_non_null(why);
			assert_false(eight);
		}
	}
	assert_int_equal(
	    queue_report_check_content("A: b\r\n\r\n\0\r\n", 10, &eight, &why),
	    -1);
	assert_string_equal(why, "NUL");
	/* 998 octets per line, not 999. */
	memcpy(line, "A: b\r\n\r\n", 8);
	memset(line + 8, 'x', 998);
	memcpy(line + 8 + 998, "\r\n", 2);
	assert_int_equal(
	    queue_report_check_content(line, 8 + 1000, &eight, &why), 0);
	memset(line + 8, 'x', 999);
	memcpy(line + 8 + 999, "\r\n", 2);
	assert_int_equal(
	    queue_report_check_content(line, 8 + 1001, &eight, &why), -1);
	assert_string_equal(why, "line too long");
}

/* A malformed content found on the worker: logged, nothing spooled. */
static void
test_report_bad_content_dropped(void **state)
{
	static const char bare_lf[] = "From: a@b\nSubject: x\n\nhello\n";
	const char *rc[] = {"a@x.test"};
	char cmd[256];
	int fd;

	(void)state;
	queue_remote_ready(T.q);
	fd = t_memfd(bare_lf, sizeof(bare_lf) - 1);
	assert_int_equal(queue_report_submit(T.q, fd, "", rc, 1), 0);
	t_nmsgs_want = 1;
	assert_false(t_run_until(t_have_nmsgs));
	assert_int_equal(T.nd, 0);
	/* And no file left behind in incoming/ or queue/. */
	snprintf(cmd, sizeof(cmd),
	    "cd %s/spool && test -d incoming && test -d queue && "
	    "test -z \"$(find incoming queue -type f)\"",
	    T.dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_requiretls_carried, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_requiretls_failure_report, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_report_spooled, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_report_sender_and_local, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_report_bad_arguments, t_setup, t_teardown),
	    cmocka_unit_test(test_report_content_rules),
	    cmocka_unit_test_setup_teardown(
		test_report_bad_content_dropped, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
