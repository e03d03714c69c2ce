/*
 * test_queue_remote: the queue side of outbound delivery (src/sched/
 * queue_remote.c, queue_dsn.c) with a real spool in a temporary directory,
 * a real event loop and fake queue_ops that record what would go to the
 * remote process. Checks grouping per lower-cased domain, the split at
 * QUEUE_REMOTE_RCPT_MAX, destination-concurrency and remote-concurrency,
 * per-recipient results (delivered, deferred, failed), the failure report
 * written from <> for a remote sender (itself a remote delivery), and
 * the retry without a counted attempt after the remote process is lost.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "lib/fsio.h"
#include "lookup/tables.h"
#include "sched/queue.h"
#include "sched/queue_int.h"

#include "queue_harness.h"

/* Nothing goes out before a remote process is connected. */
static void
test_waits_for_remote(void **state)
{
	const char *r[] = {"a@x.test"};

	(void)state;
	t_queue("s@example.org", r, 1);
	t_want_nd = 1;
	assert_false(t_run_until(t_have_nd));
	queue_remote_ready(T.q);
	assert_true(t_run_until(t_have_nd));
	assert_string_equal(T.d[0].domain, "x.test");
	assert_string_equal(T.d[0].sender, "s@example.org");
}

/* One delivery per lower-cased domain, recipients in envelope order. */
static void
test_grouping(void **state)
{
	const char *r[] = {"a@x.test", "b@y.test", "c@X.TEST", "d@x.test"};

	(void)state;
	queue_remote_ready(T.q);
	t_queue("s@example.org", r, 4);
	t_want_nd = 2;
	assert_true(t_run_until(t_have_nd));
	assert_int_equal(T.nd, 2);
	assert_string_equal(T.d[0].domain, "x.test");
	assert_int_equal(T.d[0].n, 3);
	assert_int_equal(T.d[0].rcpt[0], 0);
	assert_int_equal(T.d[0].rcpt[1], 2);
	assert_int_equal(T.d[0].rcpt[2], 3);
	assert_string_equal(T.d[0].dest[1], "c@x.test"); /* expanded */
	assert_string_equal(T.d[1].domain, "y.test");
	assert_int_equal(T.d[1].n, 1);
	assert_int_equal(T.d[1].rcpt[0], 1);
}

/*
 * 120 recipients at one domain: deliveries of 50, at most two in flight
 * (destination-concurrency 2); the rest goes when one comes back.
 */
static void
test_split_and_destination_limit(void **state)
{
	static char addrs[120][32];
	const char *r[120];
	size_t i;

	(void)state;
	for (i = 0; i < 120; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "u%zu@big.test", i);
		r[i] = addrs[i];
	}
	queue_remote_ready(T.q);
	t_queue("s@example.org", r, 120);
	t_want_nd = 3;
	assert_false(t_run_until(t_have_nd));
	assert_int_equal(T.nd, 2);
	assert_int_equal(T.d[0].n, 50);
	assert_int_equal(T.d[1].n, 50);
	assert_int_equal(T.d[1].rcpt[0], 50);
	t_result(&T.d[0], QUEUE_REMOTE_OK, "2.0.0", "250 ok");
	assert_true(t_run_until(t_have_nd));
	assert_int_equal(T.d[2].n, 20);
	assert_int_equal(T.d[2].rcpt[19], 119);
}

/* remote-concurrency 3 over four domains. */
static void
test_remote_limit(void **state)
{
	const char *r[] = {"a@d1.test", "a@d2.test", "a@d3.test", "a@d4.test"};

	(void)state;
	queue_remote_ready(T.q);
	t_queue("s@example.org", r, 4);
	t_want_nd = 4;
	assert_false(t_run_until(t_have_nd));
	assert_int_equal(T.nd, 3);
	t_result(&T.d[1], QUEUE_REMOTE_OK, "2.0.0", "250 ok");
	assert_true(t_run_until(t_have_nd));
	assert_string_equal(T.d[3].domain, "d4.test");
}

static size_t t_want_dsn_domain;

/*
 * Results: OK delivered, TEMP deferred with status and remote MTA kept,
 * PERM failed and reported to the (remote) sender in one report, which
 * is itself a remote delivery from <>.
 */
static void
test_results_and_failure_report(void **state)
{
	const char *r[] = {
	    "ok@x.test", "temp@y.test", "perm1@z.test", "perm2@z.test"};
	struct qmsg *m;
	char qid[32];
	size_t i;

	(void)state;
	(void)t_want_dsn_domain;
	queue_remote_ready(T.q);
	t_queue("s@example.org", r, 4);
	snprintf(qid, sizeof(qid), "%s", T.qid);
	t_want_nd = 3;
	assert_true(t_run_until(t_have_nd));
	for (i = 0; i < 3; i++) {
		if (strcmp(T.d[i].domain, "x.test") == 0)
			t_result(&T.d[i], QUEUE_REMOTE_OK, "2.0.0", "250 ok");
		else if (strcmp(T.d[i].domain, "y.test") == 0)
			t_result(&T.d[i], QUEUE_REMOTE_TEMP, "4.2.2",
			    "452 4.2.2 mailbox full");
		else
			t_result(&T.d[i], QUEUE_REMOTE_PERM, "5.1.1",
			    "550 5.1.1 no such user");
	}
	m = t_msg(qid);
	assert_int_equal(m->env.rcpts[0].state, ENV_RCPT_DELIVERED);
	assert_int_equal(m->env.rcpts[1].state, ENV_RCPT_PENDING);
	assert_int_equal(m->env.rcpts[1].attempts, 1);
	assert_string_equal(m->env.rcpts[1].status, "4.2.2");
	assert_string_equal(m->env.rcpts[1].remote_mta, "mx.example.net");
	assert_true(m->env.rcpts[1].flags & ENV_RF_DIAG_SMTP);
	assert_true(m->env.rcpts[1].next_try > m->env.rcpts[1].last_try);
	assert_int_equal(m->env.rcpts[2].state, ENV_RCPT_FAILED);
	assert_int_equal(m->env.rcpts[3].state, ENV_RCPT_FAILED);

	/* One report for both failures, on its way to example.org. */
	t_want_nd = 4;
	assert_true(t_run_until(t_have_nd));
	assert_string_equal(T.d[3].domain, "example.org");
	assert_string_equal(T.d[3].sender, "");
	assert_int_equal(T.d[3].n, 1);
	assert_string_equal(T.d[3].dest[0], "s@example.org");
	assert_true(m->env.rcpts[2].flags & ENV_RF_DSN_FAILURE_SENT);
	assert_true(m->env.rcpts[3].flags & ENV_RF_DSN_FAILURE_SENT);
	assert_false(m->env.rcpts[1].flags & ENV_RF_DSN_FAILURE_SENT);

	/* A report that fails is not reported on: it is simply dropped. */
	t_result(&T.d[3], QUEUE_REMOTE_PERM, "5.1.1", "550 5.1.1 gone");
	m = t_msg(T.d[3].qid);
	assert_true(m->removing);
}

/* Lost with the remote process: due again, no attempt counted. */
static void
test_remote_lost(void **state)
{
	const char *r[] = {"a@x.test", "b@x.test"};
	struct qmsg *m;

	(void)state;
	queue_remote_ready(T.q);
	t_queue("s@example.org", r, 2);
	t_want_nd = 1;
	assert_true(t_run_until(t_have_nd));
	m = t_msg(T.qid);
	assert_int_equal(m->in_flight, 1);
	assert_true(m->busy[0] && m->busy[1]);
	queue_remote_lost(T.q);
	assert_int_equal(m->in_flight, 0);
	assert_false(m->busy[0] || m->busy[1]);
	assert_int_equal(m->env.rcpts[0].attempts, 0);
	assert_int_equal(T.q->remote_in_flight, 0);
	t_want_nd = 2;
	assert_false(t_run_until(t_have_nd));
	queue_remote_ready(T.q);
	assert_true(t_run_until(t_have_nd));
	assert_int_equal(T.d[1].n, 2);
}

/* A broken channel: nothing in flight, retried once remote is back. */
static void
test_channel_refuses(void **state)
{
	const char *r[] = {"a@x.test"};

	(void)state;
	queue_remote_ready(T.q);
	T.remote_ok = false;
	t_queue("s@example.org", r, 1);
	t_want_nd = 1;
	assert_false(t_run_until(t_have_nd));
	assert_int_equal(T.q->remote_in_flight, 0);
	T.remote_ok = true;
	queue_remote_ready(T.q);
	assert_true(t_run_until(t_have_nd));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_waits_for_remote, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_grouping, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_split_and_destination_limit, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_remote_limit, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_results_and_failure_report, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_remote_lost, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_channel_refuses, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
