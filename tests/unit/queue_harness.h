/*
 * queue_harness: what the queue's unit tests share (test_queue_remote,
 * test_queue_rtls): a real queue on a spool in a temporary directory and a
 * real event loop, with fake queue_ops that record what would go to the
 * remote process; helpers to queue a message, run the loop until a
 * condition holds, find a message and answer a delivery. Included by one
 * test file each (its functions are static), after cmocka.h, libevent
 * and sched/queue_int.h.
 */
#ifndef PETREL_TESTS_QUEUE_HARNESS_H
#define PETREL_TESTS_QUEUE_HARNESS_H

#define T_MAXD 64

struct t_delivery {
	uint64_t did;
	bool requiretls;
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
	x->requiretls = d->requiretls;
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
static bool t_requiretls; /* the next message has REQUIRETLS */
static unsigned t_ret;    /* and this RET */

static void
t_queue(const char *sender, const char **rcpts, size_t n)
{
	static const char body[] = "Subject: t\r\n\r\nhello\r\n";
	static uint64_t id = 1;
	size_t i;

	T.committed = -1;
	T.fd = -1;
	queue_txn_create(T.q, id, sender, "client.test", "192.0.2.1", "ESMTP",
	    NULL, t_ret, 0, false, t_requiretls, (unsigned)n);
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

#endif
