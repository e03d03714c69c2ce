/*
 * queue_report: messages that petrel composes outside the queue and hands
 * to it whole (IMSG_R_REPORT from the remote process: TLS-RPT reports, RFC
 * 8460). Owns their checks and the order of the writes that spools them;
 * from then on they are ordinary queued messages, scheduled and retried
 * like any other (a remote recipient goes the usual remote way, a local
 * one through the aliases to a mailbox).
 *
 * The queue is still the only writer of the spool: the remote process
 * passes a descriptor of a regular file (a memfd) holding the message, and
 * the queue copies it into a new spool file of its own.
 *
 * Checks, all before anything is written: the sender is "" or a plain
 * ASCII mailbox, each recipient a plain ASCII mailbox (RFC 5321 4.1.2,
 * parsed as in RCPT TO, source routes refused); 1..QUEUE_REMOTE_RCPT_MAX
 * recipients; the file is regular, 1..QUEUE_REPORT_MAX bytes; on the
 * worker thread, the content: CRLF line ends only (no bare CR or LF, the
 * same rule as for SMTP content), no NUL, lines of at most 998 octets
 * (RFC 5322 2.1.1), the last line ended, and a header section that ends
 * with an empty line before the body. A report that fails a check is
 * logged and dropped: the remote process gets no answer (IMSG_R_REPORT
 * has none), and a report is not mail that anyone is waiting for.
 *
 * No Received: field is added. The message did not arrive over SMTP; it
 * was composed on this host, like the delivery status notifications the
 * queue writes itself (queue_dsn.c), which carry none either. Its
 * envelope says protocol "REPORT" and has no client.
 *
 * Durability: on a worker thread, create incoming/QID, write, spool_commit
 * (fdatasync, rename into queue/) and spool_sync; only then, back on the
 * loop, is it scheduled. A crash before the rename leaves an incoming file
 * that recovery drops: the report is lost, which is the price of having
 * no acknowledgement, and the remote process sends the next day's report
 * anyway.
 */
#include "sched/queue.h"
#include "sched/queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xalloc.h"
#include "proto/smtp_param.h"
#include "proto/smtp_path.h"

#define QUEUE_REPORT_LINE_MAX 998 /* octets before CRLF, RFC 5322 2.1.1 */

struct qreport {
	struct queue *q;
	int fd;               /* the remote process's file */
	uint64_t len;         /* its size when submitted */
	struct envelope nenv; /* the new message's envelope */
	/* results of the work */
	int err;          /* errno, 0 when durable */
	const char *what; /* the step that failed */
	bool committed;   /* in queue/ (maybe not synced) */
	char newqid[SPOOL_QID_LEN + 1];
};

/*
 * Parses addr as the mailbox of a path ("<" addr ">", no source route, no
 * UTF-8) into the normalised form smtp_path_format writes. null allows "".
 * 0 or -1.
 */
static int
queue_report_addr(const char *addr, bool null, char *out, size_t outsz)
{
	char path[SMTP_PATH_MAX + 8];
	struct smtp_path p;
	struct span rest;
	size_t n = strlen(addr);
	int r;

	if (n == 0 && null) {
		out[0] = '\0';
		return 0;
	}
	if (n == 0 || n > SMTP_PATH_MAX - 2 || addr[0] == '@')
		return -1;
	r = snprintf(path, sizeof(path), "<%s>", addr);
	if (r < 0 || (size_t)r >= sizeof(path))
		return -1;
	if (smtp_path_parse(span_make(path, (size_t)r), 0, &p, &rest) !=
		SMTP_PATH_OK ||
	    rest.n != 0 || p.null || p.domain[0] == '\0')
		return -1;
	return smtp_path_format(&p, out, outsz);
}

/*
 * The content rules (see the top): 0, or -1 with *why set. *eight_bit_out
 * says whether any octet has the high bit set (BODY=8BITMIME).
 */
int
queue_report_check_content(
    const char *p, size_t n, bool *eight_bit_out, const char **why)
{
	size_t i, line = 0;
	bool header_end = false, eight = false;

	*eight_bit_out = false;
	*why = NULL;
	if (n == 0 || n > QUEUE_REPORT_MAX) {
		*why = "size out of range";
		return -1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\r') {
			if (i + 1 >= n || p[i + 1] != '\n') {
				*why = "bare CR";
				return -1;
			}
			if (line == 0 && i > 0 && !header_end)
				header_end = true;
			line = 0;
			i++;
			continue;
		}
		if (c == '\n') {
			*why = "bare LF";
			return -1;
		}
		if (c == '\0') {
			*why = "NUL";
			return -1;
		}
		if (c & 0x80)
			eight = true;
		if (++line > QUEUE_REPORT_LINE_MAX) {
			*why = "line too long";
			return -1;
		}
	}
	if (line != 0) {
		*why = "last line not ended by CRLF";
		return -1;
	}
	if (!header_end) {
		*why = "no end of the header section";
		return -1;
	}
	*eight_bit_out = eight;
	return 0;
}

/* Reads the whole file (from offset 0) into a malloc'ed buffer. */
static int
queue_report_read(struct qreport *j, char **p_out)
{
	size_t got = 0, want = (size_t)j->len;
	char *p = xmalloc(want + 1);
	char extra;

	*p_out = NULL;
	while (got < want) {
		ssize_t r = pread(j->fd, p + got, want - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : EIO; /* it shrank */
			free(p);
			errno = err;
			return -1;
		}
		got += (size_t)r;
	}
	/* It must not have grown either: that is not the size we checked. */
	if (pread(j->fd, &extra, 1, (off_t)got) != 0) {
		free(p);
		errno = EFBIG;
		return -1;
	}
	*p_out = p;
	return 0;
}

/* On a worker thread: touches only j and the spool's descriptors. */
static void
queue_report_work(void *arg)
{
	struct qreport *j = arg;
	struct spool *sp = &j->q->spool;
	const char *why;
	char *content;
	bool eight;
	int fd = -1;

	j->err = 0;
	if (queue_report_read(j, &content) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "reading the report";
		return;
	}
	if (queue_report_check_content(content, (size_t)j->len, &eight, &why) !=
	    0) {
		j->err = EINVAL;
		j->what = why;
		free(content);
		return;
	}
	j->nenv.body = eight ? SMTP_BODY_8BITMIME : SMTP_BODY_7BIT;
	j->nenv.size = j->len;
	if (spool_create(sp, j->newqid, &fd) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "creating the queue file";
		free(content);
		return;
	}
	memcpy(j->nenv.qid, j->newqid, sizeof(j->newqid));
	if (fsio_write_all(fd, content, (size_t)j->len) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "writing the queue file";
		goto fail;
	}
	if (spool_commit(sp, j->newqid, fd, &j->nenv) != 0) {
		j->err = errno ? errno : EIO;
		j->what = "committing";
		goto fail;
	}
	j->committed = true;
	if (spool_sync(sp) != 0) {
		/* In queue/ but maybe not durable; deliver it all the same. */
		j->err = errno ? errno : EIO;
		j->what = "syncing the spool";
	}
	close(fd);
	free(content);
	return;
fail:
	close(fd);
	spool_abort(sp, j->newqid);
	free(content);
}

/* Back on the loop. */
static void
queue_report_done(void *arg)
{
	struct qreport *j = arg;
	char from[SMTP_PATH_MAX * 4];

	close(j->fd);
	log_escape(j->nenv.sender, strlen(j->nenv.sender), from, sizeof(from));
	if (j->err != 0)
		log_err("report from=<%s> nrcpt=%zu not queued: %s: %s", from,
		    j->nenv.nrcpts, j->what,
		    j->err == EINVAL ? "malformed" : strerror(j->err));
	if (j->committed) {
		log_info("qid=%s from=<%s> size=%llu nrcpt=%zu queued (report)",
		    j->newqid, from, (unsigned long long)j->len,
		    j->nenv.nrcpts);
		queue_msg_add(j->q, &j->nenv, j->len, false);
		memset(&j->nenv, 0, sizeof(j->nenv));
	}
	envelope_clear(&j->nenv);
	free(j);
}

int
queue_report_submit(struct queue *q, int fd, const char *sender,
    const char *const *rcpts, unsigned n)
{
	char addr[SMTP_PATH_MAX * 4];
	struct envelope raw;
	struct qreport *j;
	struct stat st;
	unsigned i;

	if (n == 0 || n > QUEUE_REMOTE_RCPT_MAX || sender == NULL ||
	    queue_report_addr(sender, true, addr, sizeof(addr)) != 0)
		goto invalid;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > QUEUE_REPORT_MAX)
		goto invalid;
	j = xcalloc(1, sizeof(*j));
	j->q = q;
	j->fd = fd;
	j->len = (uint64_t)st.st_size;
	memset(&raw, 0, sizeof(raw));
	for (i = 0; i < n; i++) {
		if (rcpts[i] == NULL || queue_report_addr(rcpts[i], false, addr,
					    sizeof(addr)) != 0) {
			envelope_clear(&raw);
			envelope_clear(&j->nenv);
			free(j);
			goto invalid;
		}
		envelope_add_rcpt(&raw, addr, NULL, 0, addr, false, NULL, NULL);
	}
	(void)queue_report_addr(sender, true, addr, sizeof(addr));
	envelope_set_str(&j->nenv.sender, addr);
	envelope_set_str(&j->nenv.protocol, "REPORT");
	j->nenv.arrival = (int64_t)time(NULL);
	/* Through the aliases like any recipient (duplicates dropped). */
	for (i = 0; i < raw.nrcpts; i++)
		queue_expand(q, &j->nenv, &raw.rcpts[i]);
	envelope_clear(&raw);
	workq_submit(q->wq, queue_report_work, queue_report_done, j);
	return 0;
invalid:
	close(fd);
	errno = EINVAL;
	return -1;
}
