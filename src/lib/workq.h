/*
 * workq: a small pool of threads for blocking file-system work (fsync,
 * rename, Maildir writes), so that the event loop never waits for a disk.
 * A job runs work(arg) on a worker thread, then done(arg) back on the event
 * loop's thread. Jobs must not touch event-loop state in work().
 */
#ifndef PETREL_LIB_WORKQ_H
#define PETREL_LIB_WORKQ_H

struct event_base;
struct workq;

typedef void (*workq_fn)(void *arg);

/* Starts nthreads workers whose completions are reported through base. */
struct workq *workq_new(struct event_base *base, int nthreads);
/* Queues a job; never blocks. */
void workq_submit(struct workq *q, workq_fn work, workq_fn done, void *arg);
/* Jobs queued or running. */
unsigned workq_pending(const struct workq *q);

#endif
