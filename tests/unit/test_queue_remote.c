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

#define T_MAXD 64

struct t_delivery {
	uint64_t did;
	char qid[32];
	char domain[256];
	char sender[64];
	unsigned n;
	unsigned rcpt[QUEUE_REMOTE_RCPT_MAX];
	char dest[QUEUE_REMOTE_RCPT_MAX][64];
};

static struct {
	struct event_base *base;
	struct conf conf;
	struct tables *tables;
	struct queue *q;
	char dir[64];
	int fd;
	char qid[32];
	int committed; /* -1 waiting, else status */
	struct t_delivery d[T_MAXD];
	size_t nd;
	bool remote_ok; /* the fake remote channel accepts */
} T;

/*
 * The queue has no free function (the process exits instead): every
 * test's queue, configuration and tables stay reachable from here, so
 * LeakSanitizer does not count them.
 */
static struct {
	struct queue *q;
	struct conf *conf;
	struct tables *tables;
	struct event_base *base;
} t_keep[16];
static size_t t_nkeep;

static void
t_created(void *arg, uint64_t id, int status, const char *qid, int fd)
{
	(void)arg;
	(void)id;
	assert_int_equal(status, 0);
	T.fd = dup(fd);
	snprintf(T.qid, sizeof(T.qid), "%s", qid);
}

static void
t_committed(void *arg, uint64_t id, int status)
{
	(void)arg;
	(void)id;
	T.committed = status;
}

static bool
t_deliver(void *arg, uint64_t did, const struct queue_delivery *d, int fd)
{
	(void)arg;
	(void)did;
	(void)d;
	(void)fd;
	return false; /* no local process in these tests */
}

static bool
t_remote_deliver(
    void *arg, uint64_t did, const struct queue_remote_delivery *d, int fd)
{
	struct t_delivery *x;
	unsigned i;

	(void)arg;
	assert_true(fd >= 0);
	if (!T.remote_ok)
		return false;
	assert_true(T.nd < T_MAXD);
	assert_true(d->nrcpts >= 1 && d->nrcpts <= QUEUE_REMOTE_RCPT_MAX);
	x = &T.d[T.nd++];
	memset(x, 0, sizeof(*x));
	x->did = did;
	snprintf(x->qid, sizeof(x->qid), "%s", d->qid);
	snprintf(x->domain, sizeof(x->domain), "%s", d->domain);
	snprintf(x->sender, sizeof(x->sender), "%s", d->sender);
	x->n = d->nrcpts;
	for (i = 0; i < d->nrcpts; i++) {
		x->rcpt[i] = d->rcpts[i].rcpt;
		snprintf(
		    x->dest[i], sizeof(x->dest[i]), "%s", d->rcpts[i].dest);
	}
	return true;
}

static const struct queue_ops t_ops = {
    t_created, t_committed, t_deliver, t_remote_deliver};

/* Runs the loop until cond() or about two seconds have passed. */
static bool
t_run_until(bool (*cond)(void))
{
	int i;

	for (i = 0; i < 200 && !cond(); i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(T.base, &tv);
		event_base_dispatch(T.base);
	}
	return cond();
}

static bool
t_is_committed(void)
{
	return T.committed >= 0;
}

static size_t t_want_nd;

static bool
t_have_nd(void)
{
	return T.nd >= t_want_nd;
}

static int
t_setup(void **state)
{
	static const char users[] = "demo@localhost\n";
	char text[1024], err[256];

	(void)state;
	memset(&T, 0, sizeof(T));
	snprintf(T.dir, sizeof(T.dir), "/tmp/petrel-tq-XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(text, sizeof(text),
	    "hostname mx.test\nstate-dir %s\ndomain localhost\n"
	    "remote-concurrency 3\ndestination-concurrency 2\n"
	    "retry-min 60s\nretry-max 1h\n",
	    T.dir);
	if (conf_parse("t.conf", text, strlen(text), T.dir, &T.conf, err,
		sizeof(err)) != 0)
		fail_msg("conf: %s", err);
	if (tables_new(&T.conf, "users", users, sizeof(users) - 1, NULL, NULL,
		0, &T.tables, err, sizeof(err)) != 0)
		fail_msg("tables: %s", err);
	T.base = event_base_new();
	/* The queue keeps a pointer to its configuration: a copy that
	 * outlives T. */
	assert_true(t_nkeep < sizeof(t_keep) / sizeof(t_keep[0]));
	t_keep[t_nkeep].conf = malloc(sizeof(T.conf));
	memcpy(t_keep[t_nkeep].conf, &T.conf, sizeof(T.conf));
	T.q = queue_new(T.base, t_keep[t_nkeep].conf, T.tables, &t_ops, NULL);
	assert_non_null(T.q);
	t_keep[t_nkeep].q = T.q;
	t_keep[t_nkeep].tables = T.tables;
	t_keep[t_nkeep].base = T.base;
	t_nkeep++;
	T.remote_ok = true;
	return 0;
}

static int
t_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", T.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Queues one message from sender to the n addresses rcpts. */
static void
t_queue(const char *sender, const char **rcpts, size_t n)
{
	static const char body[] = "Subject: t\r\n\r\nhello\r\n";
	static uint64_t id = 1;
	size_t i;

	T.committed = -1;
	T.fd = -1;
	queue_txn_create(T.q, id, sender, "client.test", "192.0.2.1", "ESMTP",
	    NULL, 0, 0, false, false, (unsigned)n);
	assert_true(T.fd >= 0);
	assert_int_equal(fsio_write_all(T.fd, body, sizeof(body) - 1), 0);
	close(T.fd);
	for (i = 0; i < n; i++)
		queue_txn_rcpt(T.q, id, rcpts[i], NULL, 0);
	queue_txn_commit(T.q, id);
	id++;
	assert_true(t_run_until(t_is_committed));
	assert_int_equal(T.committed, 0);
}

static struct qmsg *
t_msg(const char *qid)
{
	struct qmsg *m;

	for (m = T.q->msgs; m != NULL; m = m->next)
		if (strcmp(m->env.qid, qid) == 0)
			return m;
	print_error("no message %s in the queue\n", qid);
	abort();
}

static void
t_result(const struct t_delivery *x, unsigned result, const char *status,
    const char *diag)
{
	struct queue_remote_result res[QUEUE_REMOTE_RCPT_MAX];
	unsigned i;

	for (i = 0; i < x->n; i++) {
		res[i].rcpt = x->rcpt[i];
		res[i].result = result;
		res[i].flags = QUEUE_REMOTE_F_SMTP;
		res[i].status = status;
		res[i].diagnostic = diag;
	}
	queue_remote_result(T.q, x->did, "mx.example.net", x->n, res);
}

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
