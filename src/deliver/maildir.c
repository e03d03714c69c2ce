/*
 * maildir: writes one message into one Maildir (see maildir.h and
 * docs/queue.md for the order of writes and fsyncs).
 *
 * Owns: the file name of a delivery, the two header lines we prepend, the
 * conversion of the spooled content from SMTP wire form (CRLF) to the LF
 * line ends Maildir readers expect (as Postfix local and Dovecot LDA do;
 * a bare CR or bare LF passes through unchanged), and the mapping of
 * system errors to MAILDIR_TEMPFAIL or MAILDIR_PERMFAIL.
 *
 * Safety: tmp/, new/ and cur/ are opened with O_NOFOLLOW | O_DIRECTORY and
 * every file below them through those descriptors with O_NOFOLLOW, so a
 * symlink planted inside the Maildir is refused, never followed. The
 * Maildir directory itself may be reached through symlinks (it comes from
 * configuration). Thread-safe: no static buffers, strerror_r, everything on
 * the caller's stack or heap.
 *
 * Errno mapping (maildir_errno_result): every system error is
 * MAILDIR_TEMPFAIL. A wrong permission, a file where a directory should be
 * or a symlink we refuse to follow is a mistake a person can repair, and
 * until then the message must wait in the queue, not be thrown away; the
 * queue's lifetime turns a persistent failure into a bounce eventually.
 * MAILDIR_PERMFAIL is kept for what no repair can fix: refused arguments
 * (a CR or LF in an address, a malformed name).
 */
#include "deliver/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "lib/fsio.h"

#define MAILDIR_CHUNK 65536

/* Everything one delivery holds open, released by maildir_ctx_clear. */
struct maildir_ctx {
	const char *dir;
	char *err;
	size_t errsz;
	int dir_fd, tmp_fd, new_fd, cur_fd;
	int file_fd;      /* tmp/NAME while it is being written */
	bool tmp_created; /* tmp/NAME exists and is ours to remove */
	bool defer_sync;  /* the caller fsyncs new/ (maildir_sync_new) */
	char name[NAME_MAX + 1];
};

/* Maps errno to a result (see the top of this file): always retry. */
static enum maildir_result
maildir_errno_result(int e)
{
	(void)e;
	return MAILDIR_TEMPFAIL;
}

/*
 * Records "maildir: OP DIR[/SUB][/NAME]: strerror(e)" and returns the
 * mapped result. The message is for logs; truncating it is acceptable.
 */
static enum maildir_result
maildir_fail(struct maildir_ctx *c, const char *op, const char *sub,
    const char *name, int e)
{
	char ebuf[128];
	const char *es = strerror_r(e, ebuf, sizeof(ebuf));

	if (c->errsz > 0)
		(void)snprintf(c->err, c->errsz, "maildir: %s %s%s%s%s%s: %s",
		    op, c->dir, sub ? "/" : "", sub ? sub : "", name ? "/" : "",
		    name ? name : "", es);
	return maildir_errno_result(e);
}

/* Records a failure that has no errno. */
static enum maildir_result
maildir_fail_msg(struct maildir_ctx *c, enum maildir_result r, const char *what)
{
	if (c->errsz > 0)
		(void)snprintf(
		    c->err, c->errsz, "maildir: %s %s", what, c->dir);
	return r;
}

/* Opens the directory at path and fsyncs it. 0 or -1/errno. */
static int
maildir_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r, saved;

	if (fd < 0)
		return -1;
	r = fsio_fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/*
 * mkdir -p with mode 0700. A directory we create is made durable by
 * fsyncing its parent, or a crash could lose new/ with the mail in it.
 * 0 or -1/errno.
 */
static int
maildir_mkdir_p(const char *dir)
{
	char *p = xstrdup(dir);
	char *s = p;
	int r = -1;

	for (;;) {
		char *slash;
		while (*s == '/')
			s++;
		if (*s == '\0')
			break;
		slash = strchr(s, '/');
		if (slash != NULL)
			*slash = '\0';
		if (mkdir(p, 0700) == 0) {
			/* The parent is the path up to this component. */
			char saved = *s;
			*s = '\0';
			if (maildir_fsync_path(s == p ? "." : p) < 0) {
				*s = saved;
				goto out;
			}
			*s = saved;
		} else if (errno != EEXIST) {
			goto out;
		}
		if (slash == NULL)
			break;
		*slash = '/';
		s = slash + 1;
	}
	r = 0;
out:
	free(p);
	return r;
}

/*
 * Opens (creating when missing) the subdirectory name of the Maildir
 * without following a symlink. *created tells the caller to fsync dir.
 */
static enum maildir_result
maildir_subdir(struct maildir_ctx *c, const char *name, bool *created)
{
	int fd;

	/* Usually it exists: open first, create only when missing. */
	fd = openat(
	    c->dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mkdirat(c->dir_fd, name, 0700) == 0)
			*created = true;
		else if (errno != EEXIST)
			return maildir_fail(c, "mkdir", name, NULL, errno);
		fd = openat(c->dir_fd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return maildir_fail(c, "open", name, NULL, errno);
	if (strcmp(name, "tmp") == 0)
		c->tmp_fd = fd;
	else if (strcmp(name, "new") == 0)
		c->new_fd = fd;
	else
		c->cur_fd = fd;
	return MAILDIR_OK;
}

/* Creates dir and dir/{tmp,new,cur} as needed and opens them. */
static enum maildir_result
maildir_open_dirs(struct maildir_ctx *c, bool want_cur)
{
	static const char *const subdirs[] = {"tmp", "new", "cur"};
	enum maildir_result r;
	bool created = false;
	size_t i;

	c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->dir_fd < 0 && errno == ENOENT) {
		if (maildir_mkdir_p(c->dir) < 0)
			return maildir_fail(c, "mkdir", NULL, NULL, errno);
		c->dir_fd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (c->dir_fd < 0)
		return maildir_fail(c, "open", NULL, NULL, errno);
	for (i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		/* cur/ is only read for duplicates, or made with the rest. */
		if (i == 2 && !want_cur && !created)
			break;
		if ((r = maildir_subdir(c, subdirs[i], &created)) != MAILDIR_OK)
			return r;
	}
	if (created && fsio_fsync(c->dir_fd) < 0)
		return maildir_fail(c, "fsync", NULL, NULL, errno);
	return MAILDIR_OK;
}

/*
 * Builds NAME = "ARRIVAL.P<uniq>.HOSTNAME". uniq must be [0-9A-Za-z.]
 * (it is "QID.N"); in the host name '/' and ':' are written as \057 and
 * \072 as the Maildir specification asks.
 */
static enum maildir_result
maildir_make_name(struct maildir_ctx *c, const struct maildir_msg *m)
{
	struct buf b;
	const char *h;
	int r;

	if (m->uniq == NULL || m->uniq[0] == '\0' || m->hostname == NULL ||
	    m->hostname[0] == '\0')
		return maildir_fail_msg(
		    c, MAILDIR_PERMFAIL, "empty name part for");
	if (strspn(m->uniq, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "abcdefghijklmnopqrstuvwxyz.") != strlen(m->uniq))
		return maildir_fail_msg(c, MAILDIR_PERMFAIL, "bad uniq for");
	buf_init(&b, NAME_MAX);
	r = buf_printf(&b, "%lld.P%s.", (long long)m->arrival, m->uniq);
	for (h = m->hostname; r == 0 && *h != '\0'; h++) {
		if (*h == '/')
			r = buf_puts(&b, "\\057");
		else if (*h == ':')
			r = buf_puts(&b, "\\072");
		else
			r = buf_putc(&b, *h);
	}
	if (r == 0)
		memcpy(c->name, b.data, b.len + 1);
	buf_clear(&b);
	if (r != 0)
		return maildir_fail_msg(
		    c, MAILDIR_PERMFAIL, "file name too long for");
	return MAILDIR_OK;
}

/* True if cur/ holds NAME or NAME:<info> (the reader moved it there). */
static bool
maildir_in_cur(struct maildir_ctx *c, int *err_out)
{
	size_t n = strlen(c->name);
	struct dirent *de;
	bool found = false;
	DIR *d;
	int fd;

	*err_out = 0;
	fd = openat(c->cur_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*err_out = errno;
		return false;
	}
	if ((d = fdopendir(fd)) == NULL) {
		*err_out = errno;
		close(fd);
		return false;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, c->name, n) == 0 &&
		    (de->d_name[n] == '\0' || de->d_name[n] == ':')) {
			found = true;
			break;
		}
	}
	if (!found && errno != 0)
		*err_out = errno;
	closedir(d);
	return found;
}

/* Checks new/ and cur/ for an earlier copy. 1 found, 0 not, <0 failure. */
static int
maildir_find_dup(struct maildir_ctx *c, enum maildir_result *res)
{
	struct stat st;
	int e;

	if (fstatat(c->new_fd, c->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	if (errno != ENOENT) {
		*res = maildir_fail(c, "stat", "new", c->name, errno);
		return -1;
	}
	if (maildir_in_cur(c, &e))
		return 1;
	if (e != 0) {
		*res = maildir_fail(c, "read", "cur", NULL, e);
		return -1;
	}
	return 0;
}

/* True if s could break out of a header line. */
static bool
maildir_bad_header(const char *s)
{
	return s == NULL || strpbrk(s, "\r\n") != NULL;
}

/*
 * Copies len bytes of content from fd to out, turning each CRLF into LF.
 * A CR at the end of a chunk is held back until the next byte is known,
 * so a CRLF split across chunks converts too. 0, or -1 with errno set and
 * *op_out naming a failed read of the content (NULL: the write failed).
 */
static int
maildir_copy(int in, uint64_t len, int out, const char **op_out)
{
	char *ibuf = xmalloc(MAILDIR_CHUNK);
	char *obuf = xmalloc(MAILDIR_CHUNK + 1);
	uint64_t off = 0;
	bool cr = false;
	int r = -1;

	*op_out = NULL;
	while (off < len) {
		size_t want = len - off < MAILDIR_CHUNK ? (size_t)(len - off)
							: MAILDIR_CHUNK;
		size_t i, o = 0;
		ssize_t got = pread(in, ibuf, want, (off_t)off);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			*op_out = "read content for";
			goto out;
		}
		if (got == 0) {
			/* The spool file is shorter than its envelope says. */
			*op_out = "short content for";
			errno = EIO;
			goto out;
		}
		for (i = 0; i < (size_t)got; i++) {
			char ch = ibuf[i];
			if (cr && ch != '\n')
				obuf[o++] = '\r';
			cr = ch == '\r';
			if (!cr)
				obuf[o++] = ch;
		}
		if (fsio_write_all(out, obuf, o) < 0) {
			goto out;
		}
		off += (uint64_t)got;
	}
	if (cr && fsio_write_all(out, "\r", 1) < 0)
		goto out;
	r = 0;
out:
	free(ibuf);
	free(obuf);
	return r;
}

/* Writes the header lines and the content into tmp/NAME and fsyncs it. */
static enum maildir_result
maildir_write_tmp(struct maildir_ctx *c, const struct maildir_msg *m)
{
	struct buf hdr;
	const char *op;
	int tries;

	for (tries = 0; tries < 2; tries++) {
		c->file_fd = openat(c->tmp_fd, c->name,
		    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (c->file_fd >= 0 || errno != EEXIST)
			break;
		/*
		 * The name is the same on every attempt for this recipient,
		 * so this is ours, left by a crash mid-write.
		 */
		if (unlinkat(c->tmp_fd, c->name, 0) < 0 && errno != ENOENT)
			return maildir_fail(c, "unlink", "tmp", c->name, errno);
	}
	if (c->file_fd < 0)
		return maildir_fail(c, "create", "tmp", c->name, errno);
	c->tmp_created = true;

	buf_init(&hdr, (size_t)1 << 20);
	if (buf_printf(&hdr, "Return-Path: <%s>\nDelivered-To: %s\n",
		m->return_path, m->delivered_to) < 0) {
		buf_clear(&hdr);
		return maildir_fail_msg(
		    c, MAILDIR_PERMFAIL, "header too long for");
	}
	if (fsio_write_all(c->file_fd, hdr.data, hdr.len) < 0) {
		int e = errno;
		buf_clear(&hdr);
		return maildir_fail(c, "write", "tmp", c->name, e);
	}
	buf_clear(&hdr);
	if (maildir_copy(m->fd, m->len, c->file_fd, &op) < 0) {
		if (op == NULL)
			return maildir_fail(c, "write", "tmp", c->name, errno);
		return maildir_fail(c, op, NULL, NULL, errno);
	}
	if (fsio_fsync(c->file_fd) < 0)
		return maildir_fail(c, "fsync", "tmp", c->name, errno);
	if (close(c->file_fd) < 0) {
		c->file_fd = -1;
		return maildir_fail(c, "close", "tmp", c->name, errno);
	}
	c->file_fd = -1;
	return MAILDIR_OK;
}

/* Moves tmp/NAME to new/NAME and makes it durable. */
static enum maildir_result
maildir_publish(struct maildir_ctx *c)
{
	/*
	 * link, not rename: rename would silently replace a new/NAME left
	 * by an earlier attempt that the reader may already have changed;
	 * link fails with EEXIST instead, which means delivered.
	 */
	if (linkat(c->tmp_fd, c->name, c->new_fd, c->name, 0) < 0 &&
	    errno != EEXIST)
		return maildir_fail(c, "link", "new", c->name, errno);
	(void)unlinkat(c->tmp_fd, c->name, 0);
	c->tmp_created = false;
	if (!c->defer_sync && fsio_fsync(c->new_fd) < 0)
		return maildir_fail(c, "fsync", "new", NULL, errno);
	return MAILDIR_OK;
}

int
maildir_sync_new(const char *dir)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/new", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return maildir_fsync_path(path);
}

static void
maildir_ctx_clear(struct maildir_ctx *c)
{
	if (c->file_fd >= 0)
		close(c->file_fd);
	if (c->tmp_created)
		(void)unlinkat(c->tmp_fd, c->name, 0);
	if (c->cur_fd >= 0)
		close(c->cur_fd);
	if (c->new_fd >= 0)
		close(c->new_fd);
	if (c->tmp_fd >= 0)
		close(c->tmp_fd);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
}

enum maildir_result
maildir_deliver(
    const char *dir, const struct maildir_msg *m, char *err, size_t errsz)
{
	struct maildir_ctx c;
	enum maildir_result r;
	int dup;

	if (errsz > 0)
		err[0] = '\0';
	memset(&c, 0, sizeof(c));
	c.dir = dir;
	c.defer_sync = m->defer_sync;
	c.err = err;
	c.errsz = errsz;
	c.dir_fd = c.tmp_fd = c.new_fd = c.cur_fd = c.file_fd = -1;

	if (dir == NULL || dir[0] == '\0')
		return maildir_fail_msg(&c, MAILDIR_PERMFAIL, "empty path");
	if (maildir_bad_header(m->return_path) ||
	    maildir_bad_header(m->delivered_to))
		return maildir_fail_msg(
		    &c, MAILDIR_PERMFAIL, "bad header value for");
	if ((r = maildir_make_name(&c, m)) != MAILDIR_OK)
		return r;
	if ((r = maildir_open_dirs(&c, m->check_dup)) != MAILDIR_OK)
		goto out;
	if (m->check_dup) {
		dup = maildir_find_dup(&c, &r);
		if (dup < 0)
			goto out;
		if (dup > 0) {
			/* Make sure the earlier copy is durable too. */
			r = fsio_fsync(c.new_fd) < 0
				? maildir_fail(&c, "fsync", "new", NULL, errno)
				: MAILDIR_OK;
			goto out;
		}
	}
	if ((r = maildir_write_tmp(&c, m)) != MAILDIR_OK)
		goto out;
	r = maildir_publish(&c);
out:
	maildir_ctx_clear(&c);
	return r;
}
