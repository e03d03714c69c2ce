/*
 * queue: the logic of the queue process, the only writer of the spool.
 * It creates the file each incoming message is written into, commits it
 * durably (data fsync'ed on worker threads, one directory fsync for a
 * whole batch of concurrent commits: group commit), expands recipients
 * through the aliases, and schedules deliveries to the local process with
 * retries and backoff, and to the remote process (outbound SMTP) grouped
 * per destination domain, within concurrency limits. It writes delivery
 * status notifications (RFC 3464) into the spool as new messages from <>.
 * State on disk is always enough to resume: after a crash every committed
 * message is found again by spool_recover(), and deliveries of recovered
 * messages ask the local process to look for an earlier copy first, so no
 * mailbox gets a message twice.
 *
 * The process wiring (src/bin/proc_queue.c) turns IPC messages into these
 * calls and implements struct queue_ops to send the answers.
 */
#ifndef PETREL_SCHED_QUEUE_H
#define PETREL_SCHED_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "lib/buf.h"
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

/*
 * Outbound delivery, queue side. The values mirror IMSG_R_DELIVER and
 * IMSG_R_RESULT of src/bin/imsg.h (proc_queue.c asserts they match): the
 * scheduler itself knows nothing of the IPC.
 */
#define QUEUE_REMOTE_RCPT_MAX 50	/* recipients in one delivery */
#define QUEUE_REMOTE_DIAG_MAX 512	/* diagnostic text, bytes */
enum queue_remote_code {
	QUEUE_REMOTE_OK = 0,	/* accepted by the peer */
	QUEUE_REMOTE_TEMP = 1,	/* try again later */
	QUEUE_REMOTE_PERM = 2,	/* failed for good */
};
#define QUEUE_REMOTE_F_RELAYED 0x1 /* the peer has no DSN extension */
#define QUEUE_REMOTE_F_SMTP 0x2	   /* diagnostic is the peer's reply */

/* One recipient of a remote delivery. */
struct queue_remote_rcpt {
	unsigned rcpt;		/* index in the envelope */
	const char *dest;	/* address to send RCPT TO for */
	const char *orcpt;	/* ORCPT as received (xtext), or NULL */
	unsigned notify;	/* SMTP_NOTIFY_* bits, 0 if not given */
};

/*
 * One delivery for the remote process: the recipients of one message
 * whose destination addresses share a domain (lower-case), 1 to
 * QUEUE_REMOTE_RCPT_MAX of them.
 */
struct queue_remote_delivery {
	const char *qid;
	const char *domain;	/* lower-case */
	const char *sender;	/* "" for <> */
	const char *envid;	/* xtext as received, or NULL */
	unsigned ret, body;	/* enum smtp_ret, enum smtp_body */
	bool smtputf8;
	bool requiretls;	/* RFC 8689 */
	uint64_t content_len;
	unsigned nrcpts;
	const struct queue_remote_rcpt *rcpts;
};

/* The outcome for one recipient, in the order the delivery listed them. */
struct queue_remote_result {
	unsigned rcpt;		/* index in the envelope */
	unsigned result;	/* enum queue_remote_code */
	unsigned flags;		/* QUEUE_REMOTE_F_* */
	const char *status;	/* enhanced status code, "5.1.1" */
	const char *diagnostic;	/* printable ASCII */
};

struct queue_ops {
	void (*created)(void *arg, uint64_t id, int status, const char *qid,
	    int fd);
	void (*committed)(void *arg, uint64_t id, int status);
	/* Returns false if it could not be sent (no local process). */
	bool (*deliver)(void *arg, uint64_t did, const struct queue_delivery *d,
	    int fd);
	/*
	 * Hands a delivery to the remote process (fd: the queue file, read
	 * content_len bytes from offset 0; the callee duplicates it).
	 * Returns false if it could not be sent (no remote process).
	 */
	bool (*remote_deliver)(void *arg, uint64_t did,
	    const struct queue_remote_delivery *d, int fd);
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
    bool requiretls, unsigned nrcpts);
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

/*
 * A remote delivery's outcome: n results, one per recipient in the order
 * of the delivery (remote_mta: the host the last transaction talked to,
 * or NULL). A result for an unknown delivery, a wrong count, a recipient
 * out of order or a result value out of range is a bug of the remote
 * process: fatalx. The other fields are the caller's to check.
 */
void queue_remote_result(struct queue *q, uint64_t did,
    const char *remote_mta, unsigned n,
    const struct queue_remote_result *results);
/*
 * The remote process went away / a new one is connected. Deliveries in
 * flight when it went away have an unknown outcome: their recipients stay
 * pending, no attempt is counted, and they are sent again once a remote
 * process is back (so a recipient may get the message twice when remote
 * died after the peer's final 250 and before the result reached us).
 */
void queue_remote_lost(struct queue *q);
void queue_remote_ready(struct queue *q);

/*
 * A message composed elsewhere on this host (IMSG_R_REPORT from the
 * remote process: a TLS-RPT report), spooled as a new message from sender
 * ("" for <>) to the n addresses rcpts (1..QUEUE_REMOTE_RCPT_MAX, plain
 * ASCII mailboxes; expanded through the aliases) and then delivered like
 * any other. fd is a regular file (a memfd) of 1..QUEUE_REPORT_MAX bytes,
 * read from offset 0 to its end; it is taken over (closed in every case).
 * The content must be RFC 5322 text with CRLF line ends
 * (queue_report_check_content). Copying and committing happen on a worker
 * thread; the message is scheduled once it is durable, and a report that
 * fails a later check or cannot be written is logged and dropped (nobody
 * is told). Returns 0 when the work was started, -1 with errno EINVAL when
 * an argument or the file's size or type is unacceptable (nothing
 * spooled). queue_report.c has the details.
 */
#define QUEUE_REPORT_MAX (1024 * 1024)
int queue_report_submit(struct queue *q, int fd, const char *sender,
    const char *const *rcpts, unsigned n);
/*
 * The content rules for such a message: 1..QUEUE_REPORT_MAX bytes, CRLF
 * line ends only, no NUL, lines of at most 998 octets, the last line
 * ended, a non-empty header section ended by an empty line. 0, or -1 with
 * a static reason in *why. *eight_bit_out: some octet is above 127.
 */
int queue_report_check_content(const char *p, size_t n, bool *eight_bit_out,
    const char **why);

/*
 * Retries every deferred delivery now (held messages stay held). Returns
 * the number of messages that had a delivery waiting for its retry time.
 */
unsigned queue_flush(struct queue *q);

/*
 * Administration: the control socket's "queue ..." requests
 * (src/bin/control.h), in src/sched/queue_admin.c. Each appends text lines
 * to out, every one ending in "\n", none longer than QUEUE_ADMIN_LINE_MAX
 * bytes; text from the envelope or the message is escaped (bytes outside
 * printable ASCII and the backslash as \xHH), so no line holds a control
 * character. Each returns 0, or -1 with a one-line reason in err (e.g.
 * "no message 0123456789ABCDEF in the queue"). out should allow
 * QUEUE_ADMIN_OUT_MAX bytes; a listing that does not fit is an error.
 * Only committed messages are known: a message still being received or
 * delivered before its acknowledgement is not in the queue.
 */
#define QUEUE_ADMIN_LINE_MAX 8192
#define QUEUE_ADMIN_OUT_MAX ((size_t)256 << 20)

/*
 * Every message, oldest first: a line "QID AGE SIZE <sender>[ held]", then
 * for each recipient a line "  STATE <dest>[ (for <rcpt>)][: last error]"
 * with STATE one of pending (never tried), deferred (tried, will be
 * retried), delivered, failed, held (pending, message on hold); the last
 * error of a remote recipient ends in " (status S, remote HOST)" with
 * what the error text does not say already; last a line "N messages, M
 * held".
 */
int queue_admin_list(struct queue *q, struct buf *out, char *err,
    size_t errsz);
/* The envelope of qid in full, then its header section ("headers:"). */
int queue_admin_show(struct queue *q, const char *qid, struct buf *out,
    char *err, size_t errsz);
/*
 * Deletes qid from the spool (durably) and forgets it. Deliveries already
 * in flight may still complete; their results are dropped unrecorded.
 */
int queue_admin_delete(struct queue *q, const char *qid, struct buf *out,
    char *err, size_t errsz);
/*
 * Puts qid on hold (its files move to hold/; durable before it returns 0).
 * Nothing new is sent for it; a delivery in flight still records its
 * result. A restart keeps it held.
 */
int queue_admin_hold(struct queue *q, const char *qid, struct buf *out,
    char *err, size_t errsz);
/* Releases a held message (back into queue/) and schedules it. */
int queue_admin_release(struct queue *q, const char *qid, struct buf *out,
    char *err, size_t errsz);
/* queue_flush, with a line saying how many messages it concerned. */
int queue_admin_flush(struct queue *q, struct buf *out, char *err,
    size_t errsz);

#endif
