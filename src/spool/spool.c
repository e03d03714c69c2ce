/*
 * spool: the queue directories on disk (layout, commit protocol and
 * recovery in docs/queue.md). Owns the file names under SPOOL/ and the
 * order of writes, fsyncs and renames that makes an accepted message
 * survive a crash.
 *
 * Every path is resolved relative to a directory descriptor opened once
 * with O_DIRECTORY (openat, renameat, unlinkat), and no file under the
 * spool is opened through a symlink (O_NOFOLLOW), so replacing a directory
 * or planting a link after start-up cannot redirect a write. There is no
 * global state; a struct spool may be used from several threads as long as
 * two threads never work on the same queue ID at once. Nothing here logs:
 * callers get -1/errno (the system said no) or -2 (the file is damaged and
 * belongs in corrupt/).
 */
#include "spool/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "lib/fsio.h"

/* ENVELOPE_MAX as a size_t (the header's constant is an unsigned int). */
#define SPOOL_ENV_MAX          ((size_t)ENVELOPE_MAX)
#define SPOOL_TRAILER_MAGIC    "PTRLTAIL"
#define SPOOL_TRAILER_LEN      16
#define SPOOL_CREATE_TRIES     64
#define SPOOL_QUARANTINE_TRIES 100
/* Room for "QID.tmp" and "QID.st" and quarantine suffixes. */
#define SPOOL_NAME_MAX 64

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* Writes all n bytes at offset off, retrying on EINTR and short writes. */
static int
spool_pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

/*
 * Reads exactly n bytes at offset off. 0, -1/errno, or -2 when the file
 * ends first (it is shorter than its own trailer says: damaged).
 */
static int
spool_pread_all(int fd, void *p, size_t n, off_t off)
{
	char *c = p;

	while (n > 0) {
		ssize_t r = pread(fd, c, n, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			return -2;
		c += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* close() that keeps the caller's errno. */
static void
spool_close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

/*
 * Renames without replacing an existing target. Falls back to a plain
 * renameat on file systems without RENAME_NOREPLACE; callers have checked
 * for the target beforehand in that case.
 */
static int
spool_rename_noreplace(int from_fd, const char *from, int to_fd, const char *to)
{
	if (renameat2(from_fd, from, to_fd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	return renameat(from_fd, from, to_fd, to);
}

/* Formats "QID" + suffix into out (SPOOL_NAME_MAX bytes). */
static void
spool_name(char *out, const char *qid, const char *suffix)
{
	int n = snprintf(out, SPOOL_NAME_MAX, "%s%s", qid, suffix);

	/* Callers pass a valid 16-digit QID and a short suffix. */
	if (n < 0 || n >= SPOOL_NAME_MAX)
		abort();
}

bool
spool_qid_valid(const char *name)
{
	size_t i;

	for (i = 0; i < SPOOL_QID_LEN; i++) {
		char c = name[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return name[SPOOL_QID_LEN] == '\0';
}

/* Creates (if missing) and opens the directory name below dfd. */
static int
spool_open_subdir(int dfd, const char *name, bool *created)
{
	if (mkdirat(dfd, name, 0700) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -1;
	return openat(
	    dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int
spool_open(struct spool *s, const char *path)
{
	bool created = false;
	int saved;

	s->path = NULL;
	s->dir_fd = s->incoming_fd = s->queue_fd = s->corrupt_fd = -1;
	s->hold_fd = -1;
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -1;
	s->dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0)
		return -1;
	s->path = xstrdup(path);
	if ((s->incoming_fd =
		    spool_open_subdir(s->dir_fd, "incoming", &created)) < 0 ||
	    (s->queue_fd = spool_open_subdir(s->dir_fd, "queue", &created)) <
		0 ||
	    (s->corrupt_fd =
		    spool_open_subdir(s->dir_fd, "corrupt", &created)) < 0 ||
	    (s->hold_fd = spool_open_subdir(s->dir_fd, "hold", &created)) < 0)
		goto fail;
	if (created && fsio_fsync(s->dir_fd) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	spool_close(s);
	errno = saved;
	return -1;
}

void
spool_close(struct spool *s)
{
	if (s->hold_fd >= 0)
		close(s->hold_fd);
	if (s->corrupt_fd >= 0)
		close(s->corrupt_fd);
	if (s->queue_fd >= 0)
		close(s->queue_fd);
	if (s->incoming_fd >= 0)
		close(s->incoming_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->path);
	s->path = NULL;
	s->dir_fd = s->incoming_fd = s->queue_fd = s->corrupt_fd = -1;
	s->hold_fd = -1;
}

/*
 * The directory (queue/ or hold/) that holds the message file QID, or -1
 * with errno (ENOENT: in neither). The caller has checked the QID.
 */
static int
spool_locate(struct spool *s, const char *qid)
{
	struct stat st;

	if (fstatat(s->queue_fd, qid, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return s->queue_fd;
	if (errno != ENOENT)
		return -1;
	if (fstatat(s->hold_fd, qid, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return s->hold_fd;
	return -1;
}

/*
 * QID: 10 hex digits of the time in microseconds (the low 40 bits, which
 * wrap every 12.7 days) and 6 random hex digits. Uniqueness comes from
 * O_EXCL in incoming/ plus the check against queue/ (and RENAME_NOREPLACE
 * at commit), not from the digits; the time part only spreads IDs out.
 */
int
spool_create(struct spool *s, char *qid_out, int *fd_out)
{
	int tries;

	qid_out[0] = '\0';
	*fd_out = -1;
	for (tries = 0; tries < SPOOL_CREATE_TRIES; tries++) {
		struct timespec ts;
		struct stat st;
		unsigned char rnd[3];
		uint64_t usec;
		ssize_t r;
		int fd;

		if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
			return -1;
		do {
			r = getrandom(rnd, sizeof(rnd), 0);
		} while (r < 0 && errno == EINTR);
		if (r != (ssize_t)sizeof(rnd)) {
			if (r >= 0)
				errno = EIO;
			return -1;
		}
		usec = (uint64_t)ts.tv_sec * 1000000u +
		       (uint64_t)ts.tv_nsec / 1000u;
		(void)snprintf(qid_out, SPOOL_QID_LEN + 1,
		    "%010llX%02X%02X%02X",
		    (unsigned long long)(usec & 0xFFFFFFFFFFull), rnd[0],
		    rnd[1], rnd[2]);

		if (fstatat(s->queue_fd, qid_out, &st, AT_SYMLINK_NOFOLLOW) ==
		    0)
			continue;
		if (errno != ENOENT)
			goto fail;
		fd = openat(s->incoming_fd, qid_out,
		    O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			*fd_out = fd;
			return 0;
		}
		if (errno != EEXIST && errno != EINTR)
			goto fail;
	}
	errno = EEXIST;
fail:
	qid_out[0] = '\0';
	return -1;
}

void
spool_abort(struct spool *s, const char *qid)
{
	if (spool_qid_valid(qid))
		(void)unlinkat(s->incoming_fd, qid, 0);
}

/*
 * The record goes after the content, then the trailer that points back at
 * it. A reader trusts the file only when the trailer is intact, so a
 * commit torn by a crash is never mistaken for a message: it is still in
 * incoming/ and recovery deletes it.
 */
int
spool_commit(struct spool *s, const char *qid, int fd, const struct envelope *e)
{
	struct buf rec;
	struct stat st, named;
	unsigned char tr[SPOOL_TRAILER_LEN];
	size_t envlen;
	int saved;

	if (!spool_qid_valid(qid) || strcmp(e->qid, qid) != 0) {
		errno = EINVAL;
		return -1;
	}
	/* The descriptor must be incoming/QID itself. */
	if (fstat(fd, &st) < 0 ||
	    fstatat(s->incoming_fd, qid, &named, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISREG(st.st_mode) || st.st_dev != named.st_dev ||
	    st.st_ino != named.st_ino) {
		errno = EINVAL;
		return -1;
	}

	buf_init(&rec, SPOOL_ENV_MAX + SPOOL_TRAILER_LEN);
	if (envelope_encode(e, &rec) < 0) {
		buf_clear(&rec);
		errno = EINVAL;
		return -1;
	}
	envlen = rec.len;
	memcpy(tr, SPOOL_TRAILER_MAGIC, 8);
	tr[8] = (unsigned char)envlen;
	tr[9] = (unsigned char)(envlen >> 8);
	tr[10] = (unsigned char)(envlen >> 16);
	tr[11] = (unsigned char)(envlen >> 24);
	memset(tr + 12, 0, 4);
	if (buf_append(&rec, tr, sizeof(tr)) < 0)
		abort(); /* the buffer was sized for it */

	if (spool_pwrite_all(fd, rec.data, rec.len, st.st_size) < 0 ||
	    fsio_fdatasync(fd) < 0 ||
	    spool_rename_noreplace(s->incoming_fd, qid, s->queue_fd, qid) < 0) {
		saved = errno;
		/*
		 * Leave incoming/QID as it was, so that a retry appends to
		 * the content alone. If even this fails, a retry would count
		 * the first record as content: callers should spool_abort
		 * after a failed commit rather than retry.
		 */
		if (ftruncate(fd, st.st_size) < 0)
			errno = saved;
		buf_clear(&rec);
		errno = saved;
		return -1;
	}
	buf_clear(&rec);
	return 0;
}

int
spool_sync(struct spool *s)
{
	return fsio_fsync(s->queue_fd);
}

/*
 * Reads an envelope of len bytes at off in fd and decodes it, checking
 * that it belongs to qid. 0, -1/errno or -2.
 */
static int
spool_read_envelope(
    int fd, off_t off, size_t len, const char *qid, struct envelope *e)
{
	char *p;
	int r;

	if (len > SPOOL_ENV_MAX)
		return -2;
	p = xmalloc(len ? len : 1);
	r = spool_pread_all(fd, p, len, off);
	if (r == 0) {
		if (envelope_decode(p, len, e) < 0)
			r = -2;
		else if (strcmp(e->qid, qid) != 0) {
			envelope_clear(e);
			r = -2;
		}
	}
	free(p);
	return r;
}

/* Maps an open() failure on a spool file: a symlink is damage. */
static int
spool_open_error(void)
{
	return errno == ELOOP ? -2 : -1;
}

int
spool_load(
    struct spool *s, const char *qid, struct envelope *e, uint64_t *content_len)
{
	char stname[SPOOL_NAME_MAX];
	unsigned char tr[SPOOL_TRAILER_LEN];
	struct stat st;
	uint64_t size, envlen;
	int dfd, fd, stfd, r;

	memset(e, 0, sizeof(*e));
	*content_len = 0;
	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = spool_locate(s, qid)) < 0)
		return -1;
	/* O_NONBLOCK: a planted FIFO must not hang us; no effect on files. */
	fd = openat(dfd, qid, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return spool_open_error();
	if (fstat(fd, &st) < 0) {
		r = -1;
		goto out;
	}
	r = -2;
	if (!S_ISREG(st.st_mode) || st.st_size < SPOOL_TRAILER_LEN)
		goto out;
	size = (uint64_t)st.st_size;
	if ((r = spool_pread_all(
		 fd, tr, sizeof(tr), (off_t)(size - SPOOL_TRAILER_LEN))) < 0)
		goto out;
	envlen = (uint64_t)tr[8] | ((uint64_t)tr[9] << 8) |
		 ((uint64_t)tr[10] << 16) | ((uint64_t)tr[11] << 24);
	r = -2;
	if (memcmp(tr, SPOOL_TRAILER_MAGIC, 8) != 0 || tr[12] != 0 ||
	    tr[13] != 0 || tr[14] != 0 || tr[15] != 0 ||
	    envlen > SPOOL_ENV_MAX || envlen > size - SPOOL_TRAILER_LEN)
		goto out;

	spool_name(stname, qid, ".st");
	stfd =
	    openat(dfd, stname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (stfd >= 0) {
		struct stat sst;
		if (fstat(stfd, &sst) < 0)
			r = -1;
		else if (!S_ISREG(sst.st_mode) ||
			 (uint64_t)sst.st_size > SPOOL_ENV_MAX)
			r = -2;
		else
			r = spool_read_envelope(
			    stfd, 0, (size_t)sst.st_size, qid, e);
		spool_close_keep_errno(stfd);
	} else if (errno == ENOENT) {
		r = spool_read_envelope(fd,
		    (off_t)(size - SPOOL_TRAILER_LEN - envlen), (size_t)envlen,
		    qid, e);
	} else {
		r = spool_open_error();
	}
	if (r == 0)
		*content_len = size - SPOOL_TRAILER_LEN - envlen;
out:
	spool_close_keep_errno(fd);
	return r;
}

static int spool_open_ro(int dirfd, const char *qid, int *fd_out);

int
spool_open_content(struct spool *s, const char *qid, int *fd_out)
{
	return spool_open_ro(s->queue_fd, qid, fd_out);
}

int
spool_open_incoming(struct spool *s, const char *qid, int *fd_out)
{
	return spool_open_ro(s->incoming_fd, qid, fd_out);
}

int
spool_open_message(struct spool *s, const char *qid, int *fd_out)
{
	int dfd;

	*fd_out = -1;
	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = spool_locate(s, qid)) < 0)
		return -1;
	return spool_open_ro(dfd, qid, fd_out);
}

/* Opens dirfd/qid read-only, a regular file only. 0 or -1/errno. */
static int
spool_open_ro(int dirfd, const char *qid, int *fd_out)
{
	struct stat st;
	int fd;

	*fd_out = -1;
	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(dirfd, qid, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0) {
		spool_close_keep_errno(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	*fd_out = fd;
	return 0;
}

int
spool_update(struct spool *s, const struct envelope *e)
{
	char tmp[SPOOL_NAME_MAX], stname[SPOOL_NAME_MAX];
	struct buf rec;
	int dfd, fd, saved;

	if (!spool_qid_valid(e->qid)) {
		errno = EINVAL;
		return -1;
	}
	/* No state file for a message that is not (or no longer) queued. */
	if ((dfd = spool_locate(s, e->qid)) < 0)
		return -1;
	buf_init(&rec, SPOOL_ENV_MAX);
	if (envelope_encode(e, &rec) < 0) {
		buf_clear(&rec);
		errno = EINVAL;
		return -1;
	}
	spool_name(tmp, e->qid, ".tmp");
	spool_name(stname, e->qid, ".st");
	/* A stale QID.tmp is left by a crash during an earlier update. */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		goto fail;
	fd = openat(dfd, tmp,
	    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (spool_pwrite_all(fd, rec.data, rec.len, 0) < 0 ||
	    fsio_fsync(fd) < 0) {
		spool_close_keep_errno(fd);
		goto fail_unlink;
	}
	if (close(fd) < 0)
		goto fail_unlink;
	if (renameat(dfd, tmp, dfd, stname) < 0)
		goto fail_unlink;
	buf_clear(&rec);
	return fsio_fsync(dfd);
fail_unlink:
	saved = errno;
	(void)unlinkat(dfd, tmp, 0);
	errno = saved;
fail:
	saved = errno;
	buf_clear(&rec);
	errno = saved;
	return -1;
}

/*
 * QID goes first: a crash between the two unlinks leaves an orphan QID.st,
 * which recovery deletes. The other order would leave QID with its
 * original envelope and send the message again to recipients already done.
 */
static int
spool_remove_at(int dfd, const char *qid, bool has_state)
{
	char stname[SPOOL_NAME_MAX];
	int r = 0, saved = 0;

	if (unlinkat(dfd, qid, 0) < 0) {
		saved = errno;
		r = -1;
	}
	spool_name(stname, qid, ".st");
	if (has_state && unlinkat(dfd, stname, 0) < 0 && errno != ENOENT &&
	    r == 0) {
		saved = errno;
		r = -1;
	}
	errno = saved;
	return r;
}

int
spool_remove(struct spool *s, const char *qid, bool has_state)
{
	int dfd;

	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = spool_locate(s, qid)) < 0)
		return -1;
	return spool_remove_at(dfd, qid, has_state);
}

int
spool_delete(struct spool *s, const char *qid)
{
	int dfd;

	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = spool_locate(s, qid)) < 0)
		return -1;
	if (spool_remove_at(dfd, qid, true) < 0) {
		/* Only a failed unlink of QID itself leaves it in place. */
		if (spool_locate(s, qid) >= 0)
			return -1;
		return -2;
	}
	return fsio_fsync(dfd) < 0 ? -2 : 0;
}

/*
 * Moves the message QID from directory from to directory to: QID first
 * (it decides where the message is), then QID.st, then syncs both
 * directories. On failure every rename done is undone, best effort.
 */
static int
spool_move_msg(const char *qid, int from, int to)
{
	char stname[SPOOL_NAME_MAX];
	bool moved_st = false;
	int saved;

	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if (spool_rename_noreplace(from, qid, to, qid) < 0)
		return -1;
	spool_name(stname, qid, ".st");
	if (spool_rename_noreplace(from, stname, to, stname) == 0)
		moved_st = true;
	else if (errno != ENOENT)
		goto undo;
	if (fsio_fsync(to) < 0 || fsio_fsync(from) < 0)
		goto undo;
	return 0;
undo:
	saved = errno;
	if (moved_st)
		(void)spool_rename_noreplace(to, stname, from, stname);
	(void)spool_rename_noreplace(to, qid, from, qid);
	(void)fsio_fsync(from);
	(void)fsio_fsync(to);
	errno = saved;
	return -1;
}

int
spool_hold(struct spool *s, const char *qid)
{
	return spool_move_msg(qid, s->queue_fd, s->hold_fd);
}

int
spool_release(struct spool *s, const char *qid)
{
	return spool_move_msg(qid, s->hold_fd, s->queue_fd);
}

/*
 * Moves queue/name to corrupt/name, or corrupt/name.N if that is taken, so
 * that an earlier damaged file is never overwritten. 0 or -1/errno.
 */
static int
spool_move_corrupt(struct spool *s, int dfd, const char *name)
{
	char to[NAME_MAX + 1];
	int i, n;

	if (renameat2(dfd, name, s->corrupt_fd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	for (i = 1; i < SPOOL_QUARANTINE_TRIES; i++) {
		n = snprintf(to, sizeof(to), "%s.%d", name, i);
		if (n < 0 || (size_t)n >= sizeof(to)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (renameat2(dfd, name, s->corrupt_fd, to, RENAME_NOREPLACE) ==
		    0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

void
spool_quarantine(struct spool *s, const char *qid)
{
	char stname[SPOOL_NAME_MAX];
	int dfd;

	if (!spool_qid_valid(qid))
		return;
	if ((dfd = spool_locate(s, qid)) < 0)
		dfd = s->queue_fd;
	spool_name(stname, qid, ".st");
	(void)spool_move_corrupt(s, dfd, qid);
	(void)spool_move_corrupt(s, dfd, stname);
	(void)fsio_fsync(s->corrupt_fd);
	(void)fsio_fsync(dfd);
}

/* Opens a fresh directory stream on dfd (its own file offset). */
static DIR *
spool_opendir(int dfd)
{
	DIR *d;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		spool_close_keep_errno(fd);
	return d;
}

/* True if name is "<valid QID>" followed by exactly suffix. */
static bool
spool_name_is(const char *name, const char *suffix)
{
	char qid[SPOOL_QID_LEN + 1];

	if (strlen(name) != SPOOL_QID_LEN + strlen(suffix) ||
	    strcmp(name + SPOOL_QID_LEN, suffix) != 0)
		return false;
	memcpy(qid, name, SPOOL_QID_LEN);
	qid[SPOOL_QID_LEN] = '\0';
	return spool_qid_valid(qid);
}

/* Deletes every entry of incoming/: none was ever acknowledged. */
static int
spool_recover_incoming(struct spool *s)
{
	struct dirent *de;
	DIR *d = spool_opendir(s->incoming_fd);

	if (d == NULL)
		return -1;
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		(void)unlinkat(s->incoming_fd, de->d_name, 0);
	}
	if (errno != 0) {
		int saved = errno;
		closedir(d);
		errno = saved;
		return -1;
	}
	closedir(d);
	return 0;
}

/*
 * Walks one message directory (queue/ or hold/; other is the other one):
 * calls cb for each QID, deletes stray QID.tmp files, moves a QID.st whose
 * QID is in the other directory over there (a crash between the renames
 * of spool_hold or spool_release), deletes any other orphan QID.st (a
 * crash inside spool_remove) and moves names we never write to corrupt/.
 * With skip_dups, a QID also present in other is not reported (it cannot
 * happen with atomic renames; the copy in other wins). Returns the number
 * of QIDs reported, or -1/errno.
 */
static int
spool_recover_dir(struct spool *s, int dfd, int other, bool skip_dups,
    void (*cb)(const char *qid, void *arg), void *arg)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int count = 0, saved;

	if ((d = spool_opendir(dfd)) == NULL)
		return -1;
	while ((errno = 0, de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		char qid[SPOOL_QID_LEN + 1];

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (spool_qid_valid(name)) {
			if (skip_dups &&
			    fstatat(other, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			count++;
			if (cb != NULL)
				cb(name, arg);
		} else if (spool_name_is(name, ".tmp")) {
			/* An update that never reached its rename. */
			(void)unlinkat(dfd, name, 0);
		} else if (spool_name_is(name, ".st")) {
			memcpy(qid, name, SPOOL_QID_LEN);
			qid[SPOOL_QID_LEN] = '\0';
			if (fstatat(dfd, qid, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
			    errno != ENOENT)
				continue;
			/* Separated from its QID by a crash: reunite. */
			if (fstatat(other, qid, &st, AT_SYMLINK_NOFOLLOW) ==
				0 &&
			    spool_rename_noreplace(dfd, name, other, name) ==
				0) {
				(void)fsio_fsync(other);
				continue;
			}
			/* Orphan: spool_remove stopped between unlinks. */
			(void)unlinkat(dfd, name, 0);
		} else {
			/* Not ours: keep it for a person, out of the way. */
			(void)spool_move_corrupt(s, dfd, name);
		}
	}
	saved = errno;
	closedir(d);
	if (saved != 0) {
		errno = saved;
		return -1;
	}
	return count;
}

int
spool_recover(
    struct spool *s, void (*cb)(const char *qid, void *arg), void *arg)
{
	if (spool_recover_incoming(s) < 0)
		return -1;
	/* hold/ first, so a QID.st it returns to queue/ is there for cb. */
	if (spool_recover_dir(s, s->hold_fd, s->queue_fd, true, NULL, NULL) < 0)
		return -1;
	return spool_recover_dir(s, s->queue_fd, s->hold_fd, false, cb, arg);
}

int
spool_recover_held(
    struct spool *s, void (*cb)(const char *qid, void *arg), void *arg)
{
	return spool_recover_dir(s, s->hold_fd, s->queue_fd, true, cb, arg);
}
