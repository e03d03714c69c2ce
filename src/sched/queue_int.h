/*
 * queue_int: the queue process's state, shared by queue.c (transactions,
 * commits, scheduling) and queue_admin.c (the administrator's requests).
 * Nothing outside src/sched/ includes this.
 *
 * A committed message is a struct qmsg on q->msgs from its commit (or
 * recovery) until it is freed. Flags, in the order they win:
 *   deleted   the files are gone; the qmsg lives on only until the
 *             deliveries in flight (in_flight) are back, whose results
 *             are then dropped unrecorded;
 *   removing  every recipient is done; the files are being unlinked on a
 *             worker thread;
 *   held      the files are in hold/; nothing new is sent, a delivery in
 *             flight records its result there.
 * A deleted or held message is never on the ready list and its timer is
 * not armed.
 *
 * in_flight counts a message's deliveries in flight (local: one recipient
 * each; remote: up to QUEUE_REMOTE_RCPT_MAX recipients of one domain) and
 * its delivery status notification being written (queue_dsn.c), at most
 * one at a time. Nothing is decided about a message (queue_msg_check)
 * while in_flight > 0, so the recipients that come back together end up
 * in one report.
 *
 * The ready list holds messages whose timer fired. queue_pump walks all
 * of it; a message stays on it only while a concurrency limit keeps back
 * something that is due (any result pumps again), and leaves it when all
 * that is due was handed out or waits for a process that is not
 * connected (queue_local_ready / queue_remote_ready bring those back).
 */
#ifndef PETREL_SCHED_QUEUE_INT_H
#define PETREL_SCHED_QUEUE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "sched/queue.h"
#include "spool/spool.h"

struct workq;

#define QUEUE_BUCKETS 4096
#define QUEUE_DOMAIN_BUCKETS 1024

enum qtxn_state {
	QTXN_OPEN,		/* content being written by the session */
	QTXN_DIRECT,		/* delivering before the commit */
	QTXN_COMMITTING,	/* being made durable in the spool */
};

struct qtxn {
	struct qtxn *hnext, *bnext;	/* id table; commit batch */
	struct queue *q;
	uint64_t id;
	enum qtxn_state state;
	bool orphan;			/* the session went away: answer nobody */
	bool maybe_done;		/* a direct delivery's outcome is unknown */
	unsigned direct_left;		/* direct deliveries in flight */
	int fd;
	int status;			/* commit result (errno) */
	unsigned nrcpts_expected;
	struct envelope env;
	struct envelope raw;		/* recipients as given */
};

struct qmsg {
	struct qmsg *next, *prev;	/* all messages */
	struct qmsg *rnext;		/* ready list */
	struct queue *q;
	struct envelope env;
	uint64_t content_len;
	unsigned in_flight;
	bool ready;			/* on the ready list */
	bool check_dup;			/* recovered: look for earlier copies */
	bool dirty;			/* state changed since last saved */
	bool *busy;			/* per recipient: delivery in flight */
	bool has_state;			/* a QID.st may exist */
	bool removing;			/* being unlinked: hands off */
	bool held;			/* in hold/: never scheduled */
	bool deleted;			/* gone from the spool; freed when
					 * its deliveries in flight are back */
	int remove_errno;
	int64_t dsn_retry;		/* a report failed: not before this */
	struct event *timer;
};

/* Remote deliveries in flight to one destination domain. */
struct qdomain {
	struct qdomain *next;
	unsigned in_flight;
	char name[256];			/* lower-case */
};

struct qdelivery {
	struct qdelivery *hnext;
	uint64_t did;
	struct qmsg *m;			/* a queued message's delivery, or */
	struct qtxn *t;			/* a delivery before the commit */
	unsigned rcpt;			/* local: the recipient */
	bool remote;			/* a remote delivery: */
	unsigned nrcpts;		/*   its recipients, in order */
	unsigned *rcpts;
	struct qdomain *dom;		/*   its destination */
	struct timespec started;
};

struct queue {
	struct event_base *base;
	const struct conf *conf;
	const struct tables *tables;
	const struct queue_ops *ops;
	void *arg;
	struct spool spool;
	struct workq *wq;
	struct qtxn *txns[QUEUE_BUCKETS];
	struct qdelivery *deliveries[QUEUE_BUCKETS];
	struct qmsg *msgs;
	struct qmsg *ready_head, **ready_tail;
	struct qtxn *batch_head, **batch_tail; /* committed, await dir sync */
	struct qtxn *syncing;		/* the batch being synced */
	int sync_status;
	unsigned in_flight;		/* local deliveries */
	unsigned remote_in_flight;	/* remote deliveries */
	struct qdomain *domains[QUEUE_DOMAIN_BUCKETS];
	uint64_t next_did;
	bool local_up;
	bool remote_up;
};

/* Schedules m (its timer fires at once and puts it on the ready list). */
void queue_msg_ready(struct qmsg *m);
/* Takes m off the ready list, if it is on it. */
void queue_ready_unlink(struct queue *q, struct qmsg *m);
/*
 * After a change: removes a finished message, saves state, arms the retry
 * timer of one that waits (unless held).
 */
void queue_msg_check(struct qmsg *m);
/* Unlinks m from q->msgs and frees it. */
void queue_msg_free(struct qmsg *m);
/* Retry delay after attempts failed attempts, in seconds. */
unsigned queue_backoff(const struct conf *c, uint32_t attempts);
/* Sends what is due, within the limits (queue.c). */
void queue_pump(struct queue *q);
/* Adds the destinations of r (aliases expanded) to e (queue.c). */
void queue_expand(struct queue *q, struct envelope *e,
    const struct env_rcpt *r);
/* A committed message (its envelope is taken over) is scheduled. */
struct qmsg *queue_msg_add(struct queue *q, struct envelope *env,
    uint64_t content_len, bool check_dup);
/* Adds qd to the table of deliveries in flight / takes it out. */
void queue_delivery_put(struct queue *q, struct qdelivery *qd);
struct qdelivery *queue_delivery_take(struct queue *q, uint64_t did);

/*
 * Remote scheduling (queue_remote.c). queue_remote_pump hands out the due
 * remote recipients of m; it returns true when a concurrency limit kept
 * back something that is due (m then stays on the ready list).
 */
bool queue_remote_pump(struct queue *q, struct qmsg *m, int64_t now);
/* True if r waits for the remote process. */
bool queue_rcpt_remote_pending(const struct env_rcpt *r);

/*
 * Delivery status notifications (queue_dsn.c). queue_dsn_start writes the
 * next report due for m, if any (and m->dsn_retry allows it), on a worker
 * thread; it returns true when it started one (m->in_flight counts it).
 * queue_dsn_pending says whether any report is due (then m must not be
 * removed). queue_dsn_next is the earliest time after now a report may
 * come due without any delivery happening (a delay warning, a report to
 * retry), or 0.
 */
bool queue_dsn_start(struct qmsg *m, int64_t now);
bool queue_dsn_pending(const struct qmsg *m, int64_t now);
int64_t queue_dsn_next(const struct qmsg *m, int64_t now);
/*
 * Sets r->status from the enhanced code that starts text, else to dflt
 * (local deliveries report text only).
 */
void queue_rcpt_set_status(struct env_rcpt *r, const char *text,
    const char *dflt);

#endif
