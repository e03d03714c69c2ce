/*
 * queue: the logic of the queue process, the only writer of the spool.
 * It creates the file each incoming message is written into, commits it
 * durably (data fsync'ed on worker threads, one directory fsync for a
 * whole batch of concurrent commits: group commit), expands recipients
 * through the aliases, and schedules deliveries to the local process with
 * retries and backoff. State on disk is always enough to resume: after a
 * crash every committed message is found again by spool_recover(), and
 * deliveries of recovered messages ask the local process to look for an
 * earlier copy first, so no mailbox gets a message twice.
 *
 * The process wiring (src/bin/proc_queue.c) turns IPC messages into these
 * calls and implements struct queue_ops to send the answers.
 */
#ifndef PETREL_SCHED_QUEUE_H
#define PETREL_SCHED_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "lookup/tables.h"

struct event_base;
struct queue;

/* One delivery for the local process. */
struct queue_delivery {
	const char *qid;
	unsigned rcpt;		/* index in the envelope */
	const char *mbox_domain, *mbox_user;
	const char *sender;	/* "" for <> */
	const char *dest;	/* final address */
	int64_t arrival;
	uint64_t content_len;
	bool check_dup;
};

struct queue_ops {
	void (*created)(void *arg, uint64_t id, int status, const char *qid,
	    int fd);
	void (*committed)(void *arg, uint64_t id, int status);
	/* Returns false if it could not be sent (no local process). */
	bool (*deliver)(void *arg, uint64_t did, const struct queue_delivery *d,
	    int fd);
};

/* Opens the spool of c and recovers it. NULL with errno on failure. */
struct queue *queue_new(struct event_base *base, const struct conf *c,
    const struct tables *t, const struct queue_ops *ops, void *arg);
/* A reload: c and t must stay valid until the next call. */
void queue_set_conf(struct queue *q, const struct conf *c,
    const struct tables *t);

/* Incoming transactions (id = the smtp session's id). */
void queue_txn_create(struct queue *q, uint64_t id, const char *sender,
    const char *helo, const char *client_addr, const char *protocol,
    const char *envid, unsigned ret, unsigned body, bool smtputf8,
    unsigned nrcpts);
void queue_txn_rcpt(struct queue *q, uint64_t id, const char *rcpt,
    const char *orcpt, unsigned notify);
void queue_txn_commit(struct queue *q, uint64_t id);
void queue_txn_abort(struct queue *q, uint64_t id);
/* The smtp process went away: drop its open transactions. */
void queue_smtp_lost(struct queue *q);

/* A delivery's outcome: 0 delivered, -1 try later, -2 failed for good. */
void queue_delivery_result(struct queue *q, uint64_t did, int result,
    const char *error);
/* The local process went away / a new one is connected. */
void queue_local_lost(struct queue *q);
void queue_local_ready(struct queue *q);
/* Retries every deferred delivery now. */
void queue_flush(struct queue *q);

#endif
