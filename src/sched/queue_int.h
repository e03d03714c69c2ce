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
	struct event *timer;
};

struct qdelivery {
	struct qdelivery *hnext;
	uint64_t did;
	struct qmsg *m;			/* a queued message's delivery, or */
	struct qtxn *t;			/* a delivery before the commit */
	unsigned rcpt;
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
	unsigned in_flight;
	uint64_t next_did;
	bool local_up;
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

#endif
