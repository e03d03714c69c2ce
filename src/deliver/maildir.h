/*
 * maildir: delivery of one message to one Maildir (tmp, new, cur; see
 * cr.yp.to/proto/maildir.html). Blocking: the local process runs it on
 * worker threads, never on its event loop. Only the local process calls it.
 */
#ifndef PETREL_DELIVER_MAILDIR_H
#define PETREL_DELIVER_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct maildir_msg {
	int fd;			/* content, read with pread from offset 0 */
	uint64_t len;		/* content length */
	const char *return_path; /* envelope sender, "" for <> */
	const char *delivered_to; /* final recipient address */
	const char *uniq;	/* "QID.N": queue ID and recipient index */
	int64_t arrival;	/* unix time, first part of the file name */
	const char *hostname;	/* last part of the file name */
	bool check_dup;		/* after a crash: look for an earlier copy */
	bool defer_sync;	/* leave the fsync of new/ to the caller, who
				 * calls maildir_sync_new() once for a batch
				 * of deliveries before reporting them done */
};

enum maildir_result {
	MAILDIR_OK = 0,		/* delivered (or found already delivered) */
	MAILDIR_TEMPFAIL = -1,	/* try again later (disk full, I/O error) */
	MAILDIR_PERMFAIL = -2,	/* will not work (bad path, not a dir) */
};

/*
 * Delivers m into the Maildir at dir, creating dir, tmp, new and cur
 * (mode 0700) when missing. Writes "Return-Path: <...>" and
 * "Delivered-To: ..." then the content to tmp/NAME, fsyncs, links it to
 * new/NAME, unlinks tmp/NAME and fsyncs new/. NAME is
 * "ARRIVAL.P<uniq>.HOSTNAME", the same for every attempt for one
 * recipient, so an existing new/NAME (link fails with EEXIST) or, when
 * m->check_dup, a cur/NAME:2,* means it was delivered before: success, no
 * second copy. On failure writes a reason into err (errsz > 0).
 */
enum maildir_result maildir_deliver(const char *dir,
    const struct maildir_msg *m, char *err, size_t errsz);

/* fsyncs dir/new (after deliveries with defer_sync). 0 or -1/errno. */
int maildir_sync_new(const char *dir);

#endif
