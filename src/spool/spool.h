/*
 * spool: the durable queue on disk. Only the queue process calls this.
 *
 *   SPOOL/incoming/QID   content being received (the smtp process writes it
 *                        through a descriptor the queue hands it)
 *   SPOOL/queue/QID      a committed message: content, then the envelope
 *                        record, then a 16-byte trailer (magic "PTRLTAIL",
 *                        u32 envelope length, u32 reserved), so a commit
 *                        is one append, one fdatasync and one rename
 *   SPOOL/queue/QID.st   the newest envelope once delivery state changed
 *                        (written to QID.tmp, fsync'ed, renamed); it
 *                        supersedes the envelope inside QID
 *   SPOOL/corrupt/       files that could not be read, kept for a person
 *
 * Durability: spool_commit() fdatasyncs the file and renames it into
 * queue/; the caller then calls spool_sync() (fsync of queue/) once for a
 * whole batch of commits (group commit) before answering 250 to any of them.
 */
#ifndef PETREL_SPOOL_SPOOL_H
#define PETREL_SPOOL_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "spool/envelope.h"

#define SPOOL_QID_LEN 16

struct spool {
	char *path;
	int dir_fd;		/* SPOOL */
	int incoming_fd;	/* SPOOL/incoming */
	int queue_fd;		/* SPOOL/queue */
	int corrupt_fd;		/* SPOOL/corrupt */
};

/* Opens (creating as needed, mode 0700) the spool at path. 0 or -1/errno. */
int spool_open(struct spool *s, const char *path);
void spool_close(struct spool *s);

/*
 * Makes a new queue ID (16 upper-case hex digits: time in microseconds and
 * randomness, unique on this host) into qid_out (SPOOL_QID_LEN + 1 bytes)
 * and creates incoming/QID exclusively, returning a read-write descriptor.
 * 0 or -1/errno.
 */
int spool_create(struct spool *s, char *qid_out, int *fd_out);

/* Removes incoming/QID (a transaction that was not accepted). */
void spool_abort(struct spool *s, const char *qid);

/*
 * Appends e's record and the trailer to fd (incoming/QID, content already
 * written), fdatasyncs it and renames it into queue/. Blocking: run it off
 * the event loop. 0 or -1/errno (the file stays in incoming/).
 */
int spool_commit(struct spool *s, const char *qid, int fd,
    const struct envelope *e);

/* fsyncs queue/ (makes earlier renames durable). 0 or -1/errno. */
int spool_sync(struct spool *s);

/*
 * Loads the current envelope of queue/QID (QID.st if present, else the one
 * inside QID) and the content length. 0, -1/errno (missing), -2 corrupt.
 */
int spool_load(struct spool *s, const char *qid, struct envelope *e,
    uint64_t *content_len);

/* Opens queue/QID read-only for delivery. 0 or -1/errno. */
int spool_open_content(struct spool *s, const char *qid, int *fd_out);
/* Opens incoming/QID read-only (delivery before commit). 0 or -1/errno. */
int spool_open_incoming(struct spool *s, const char *qid, int *fd_out);

/* Writes e as queue/QID.st atomically (tmp, fsync, rename, dir fsync). */
int spool_update(struct spool *s, const struct envelope *e);

/*
 * Removes queue/QID, and queue/QID.st when has_state (the caller knows
 * whether it ever wrote one; pass true when unsure). 0 or -1/errno.
 */
int spool_remove(struct spool *s, const char *qid, bool has_state);

/* Moves queue/QID (and .st) to corrupt/. */
void spool_quarantine(struct spool *s, const char *qid);

/*
 * Start-up recovery: empties incoming/ (never acknowledged), removes stray
 * QID.tmp files, and calls cb for every committed QID in queue/.
 * Returns the number of messages found, or -1/errno.
 */
int spool_recover(struct spool *s, void (*cb)(const char *qid, void *arg),
    void *arg);

/* True if name is a well-formed queue ID. */
bool spool_qid_valid(const char *name);

#endif
