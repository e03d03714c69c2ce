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
 *   SPOOL/hold/QID       a message an administrator put on hold, with its
 *   SPOOL/hold/QID.st    QID.st: never delivered until released (moved
 *                        back into queue/); the scheduler never sees it
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
	int hold_fd;		/* SPOOL/hold */
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
 * Loads the current envelope of queue/QID or hold/QID (QID.st next to it if
 * present, else the one inside QID) and the content length. 0, -1/errno
 * (missing), -2 corrupt.
 */
int spool_load(struct spool *s, const char *qid, struct envelope *e,
    uint64_t *content_len);

/*
 * Opens queue/QID read-only for delivery (never a held message). 0 or
 * -1/errno.
 */
int spool_open_content(struct spool *s, const char *qid, int *fd_out);
/*
 * Opens the message file read-only wherever it is (queue/ or hold/), to
 * show it to an administrator. 0 or -1/errno.
 */
int spool_open_message(struct spool *s, const char *qid, int *fd_out);
/* Opens incoming/QID read-only (delivery before commit). 0 or -1/errno. */
int spool_open_incoming(struct spool *s, const char *qid, int *fd_out);

/*
 * Writes e as QID.st next to QID (in queue/ or hold/) atomically (tmp,
 * fsync, rename, dir fsync). -1/ENOENT when the message is in neither.
 */
int spool_update(struct spool *s, const struct envelope *e);

/*
 * Removes QID, and QID.st when has_state (the caller knows whether it ever
 * wrote one; pass true when unsure), from queue/ or hold/. No directory
 * sync: a removal lost in a crash brings the message back. 0 or -1/errno.
 */
int spool_remove(struct spool *s, const char *qid, bool has_state);

/*
 * An administrator's delete: spool_remove (queue/ or hold/), then fsync of
 * that directory. 0; -1/errno when nothing was removed; -2/errno when the
 * message is gone but the directory sync failed (a crash may bring it
 * back).
 */
int spool_delete(struct spool *s, const char *qid);

/*
 * Puts a message on hold: queue/QID -> hold/QID, then queue/QID.st ->
 * hold/QID.st when there is one, then fsync of hold/ and queue/. Only 0
 * promises that the hold survives a crash; a crash between the renames
 * leaves the two files apart and spool_recover() reunites them next to
 * QID. On -1/errno the renames are undone: the message stays in queue/.
 */
int spool_hold(struct spool *s, const char *qid);
/* The reverse of spool_hold (hold/ -> queue/), with the same promises. */
int spool_release(struct spool *s, const char *qid);

/* Moves QID (and .st) from queue/ or hold/ to corrupt/. */
void spool_quarantine(struct spool *s, const char *qid);

/*
 * Start-up recovery: empties incoming/ (never acknowledged), removes stray
 * QID.tmp files, moves a QID.st separated from its QID by a crash during
 * spool_hold/spool_release back next to it, and calls cb for every
 * committed QID in queue/ (not the held ones: spool_recover_held).
 * Returns the number of messages found, or -1/errno.
 */
int spool_recover(struct spool *s, void (*cb)(const char *qid, void *arg),
    void *arg);

/*
 * Calls cb for every held message (hold/QID); call it after
 * spool_recover(), which tidies hold/. Returns the number found, or
 * -1/errno.
 */
int spool_recover_held(struct spool *s,
    void (*cb)(const char *qid, void *arg), void *arg);

/* True if name is a well-formed queue ID. */
bool spool_qid_valid(const char *name);

#endif
