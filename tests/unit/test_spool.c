/*
 * test_spool: the on-disk queue (src/spool/spool.c), in a fresh mkdtemp
 * directory per test: the life of a message (create, write, commit, load,
 * open content, update, load, remove), hold and release, recovery after a
 * crash, and the damaged files that spool_load must call corrupt (-2) and
 * quarantine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "spool/spool.h"

#define T_CONTENT "Subject: hi\r\n\r\nbody line\r\n"

struct t_ctx {
	char dir[64];
	char path[96];
	struct spool s;
};

/* Removes everything below path (the tests make only files and dirs). */
static void
t_rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[512];

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			struct stat st;
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
				t_rm_rf(sub);
			else
				unlink(sub);
		}
		closedir(d);
	}
	rmdir(path);
}

static int
t_setup(void **state)
{
	struct t_ctx *c = calloc(1, sizeof(*c));

	snprintf(c->dir, sizeof(c->dir), "/tmp/petrel-spool-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->path, sizeof(c->path), "%s/spool", c->dir);
	assert_int_equal(spool_open(&c->s, c->path), 0);
	*state = c;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_ctx *c = *state;

	spool_close(&c->s);
	t_rm_rf(c->dir);
	free(c);
	return 0;
}

/* True if SPOOL/sub/name exists (without following a link). */
static bool
t_exists(struct t_ctx *c, const char *sub, const char *name)
{
	char p[1024];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s/%s", c->path, sub, name);
	return lstat(p, &st) == 0;
}

/* Number of entries in SPOOL/sub. */
static int
t_count(struct t_ctx *c, const char *sub)
{
	char p[256];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", c->path, sub);
	d = opendir(p);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
t_write_file(
    struct t_ctx *c, const char *sub, const char *name, const void *p, size_t n)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s/%s", c->path, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void
t_envelope(struct envelope *e, const char *qid)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->qid, sizeof(e->qid), "%s", qid);
	e->arrival = 1700000000;
	envelope_set_str(&e->sender, "alice@example.org");
	envelope_set_str(&e->protocol, "ESMTP");
	e->size = strlen(T_CONTENT);
	envelope_add_rcpt(e, "bob@example.net", NULL, 0, "bob@example.net",
	    true, "example.net", "bob");
	envelope_add_rcpt(
	    e, "carol@example.com", NULL, 0, NULL, false, NULL, NULL);
}

/* Creates, writes T_CONTENT and commits one message; returns its QID. */
static void
t_commit_one(struct t_ctx *c, char *qid)
{
	struct envelope e;
	int fd;

	assert_int_equal(spool_create(&c->s, qid, &fd), 0);
	assert_int_equal(write(fd, T_CONTENT, strlen(T_CONTENT)),
	    (ssize_t)strlen(T_CONTENT));
	t_envelope(&e, qid);
	assert_int_equal(spool_commit(&c->s, qid, fd, &e), 0);
	assert_int_equal(spool_sync(&c->s), 0);
	close(fd);
	envelope_clear(&e);
}

static void
test_qid_valid(void **state)
{
	(void)state;
	assert_true(spool_qid_valid("0123456789ABCDEF"));
	assert_false(spool_qid_valid("0123456789abcdef"));
	assert_false(spool_qid_valid("0123456789ABCDE"));
	assert_false(spool_qid_valid("0123456789ABCDEF0"));
	assert_false(spool_qid_valid("0123456789ABCDEG"));
	assert_false(spool_qid_valid("0123456789ABCDE."));
	assert_false(spool_qid_valid("0123456789ABCDEF.st"));
	assert_false(spool_qid_valid(""));
	assert_false(spool_qid_valid("../../etc/passwd"));
}

static void
test_open_makes_dirs(void **state)
{
	struct t_ctx *c = *state;
	struct spool again;

	assert_true(t_exists(c, "incoming", "."));
	assert_true(t_exists(c, "queue", "."));
	assert_true(t_exists(c, "corrupt", "."));
	assert_true(t_exists(c, "hold", "."));
	assert_string_equal(c->s.path, c->path);
	/* Opening an existing spool works too. */
	assert_int_equal(spool_open(&again, c->path), 0);
	spool_close(&again);
	assert_int_equal(again.queue_fd, -1);
}

static void
test_create_unique(void **state)
{
	struct t_ctx *c = *state;
	char a[SPOOL_QID_LEN + 1], b[SPOOL_QID_LEN + 1];
	int fa, fb;

	assert_int_equal(spool_create(&c->s, a, &fa), 0);
	assert_int_equal(spool_create(&c->s, b, &fb), 0);
	assert_true(spool_qid_valid(a));
	assert_true(spool_qid_valid(b));
	assert_string_not_equal(a, b);
	assert_true(t_exists(c, "incoming", a));
	assert_true(t_exists(c, "incoming", b));
	spool_abort(&c->s, a);
	assert_false(t_exists(c, "incoming", a));
	assert_true(t_exists(c, "incoming", b));
	close(fa);
	close(fb);
}

static void
test_life_cycle(void **state)
{
	struct t_ctx *c = *state;
	char qid[SPOOL_QID_LEN + 1], buf[256], st[64];
	struct envelope e, got;
	uint64_t clen;
	int fd, cfd;

	assert_int_equal(spool_create(&c->s, qid, &fd), 0);
	assert_int_equal(write(fd, T_CONTENT, strlen(T_CONTENT)),
	    (ssize_t)strlen(T_CONTENT));
	t_envelope(&e, qid);
	assert_int_equal(spool_commit(&c->s, qid, fd, &e), 0);
	assert_int_equal(spool_sync(&c->s), 0);
	close(fd);
	assert_false(t_exists(c, "incoming", qid));
	assert_true(t_exists(c, "queue", qid));

	assert_int_equal(spool_load(&c->s, qid, &got, &clen), 0);
	assert_int_equal(clen, strlen(T_CONTENT));
	assert_string_equal(got.qid, qid);
	assert_string_equal(got.sender, "alice@example.org");
	assert_int_equal(got.nrcpts, 2);
	assert_int_equal(got.rcpts[0].state, ENV_RCPT_PENDING);
	envelope_clear(&got);

	assert_int_equal(spool_open_content(&c->s, qid, &cfd), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(pread(cfd, buf, (size_t)clen, 0), (ssize_t)clen);
	assert_memory_equal(buf, T_CONTENT, clen);
	close(cfd);

	/* Update delivery state; the .st file supersedes the inner one. */
	e.rcpts[0].state = ENV_RCPT_DELIVERED;
	e.rcpts[1].attempts = 1;
	e.rcpts[1].next_try = 1700000600;
	envelope_set_str(&e.rcpts[1].last_error, "451 4.4.1 timeout");
	assert_int_equal(spool_update(&c->s, &e), 0);
	snprintf(st, sizeof(st), "%s.st", qid);
	assert_true(t_exists(c, "queue", st));
	snprintf(buf, sizeof(buf), "%s.tmp", qid);
	assert_false(t_exists(c, "queue", buf));
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), 0);
	assert_int_equal(clen, strlen(T_CONTENT));
	assert_int_equal(got.rcpts[0].state, ENV_RCPT_DELIVERED);
	assert_int_equal(got.rcpts[1].attempts, 1);
	assert_string_equal(got.rcpts[1].last_error, "451 4.4.1 timeout");
	envelope_clear(&got);

	/* A second update replaces the first. */
	e.rcpts[1].state = ENV_RCPT_FAILED;
	assert_int_equal(spool_update(&c->s, &e), 0);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), 0);
	assert_int_equal(got.rcpts[1].state, ENV_RCPT_FAILED);
	envelope_clear(&got);

	assert_int_equal(spool_remove(&c->s, qid, true), 0);
	assert_false(t_exists(c, "queue", qid));
	assert_false(t_exists(c, "queue", st));
	errno = 0;
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -1);
	assert_int_equal(errno, ENOENT);
	assert_null(got.sender);
	assert_int_equal(clen, 0);
	assert_int_equal(spool_remove(&c->s, qid, true), -1);
	assert_int_equal(errno, ENOENT);
	/* No state file for a message that is gone. */
	assert_int_equal(spool_update(&c->s, &e), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(t_exists(c, "queue", st));
	envelope_clear(&e);
}

/* An empty message body is still a message. */
static void
test_empty_content(void **state)
{
	struct t_ctx *c = *state;
	char qid[SPOOL_QID_LEN + 1];
	struct envelope e, got;
	uint64_t clen;
	int fd;

	assert_int_equal(spool_create(&c->s, qid, &fd), 0);
	t_envelope(&e, qid);
	assert_int_equal(spool_commit(&c->s, qid, fd, &e), 0);
	close(fd);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), 0);
	assert_int_equal(clen, 0);
	envelope_clear(&got);
	envelope_clear(&e);
}

static void
test_commit_refuses_mismatch(void **state)
{
	struct t_ctx *c = *state;
	char qid[SPOOL_QID_LEN + 1], other[SPOOL_QID_LEN + 1];
	struct envelope e;
	int fd, fd2;
	struct stat st;

	assert_int_equal(spool_create(&c->s, qid, &fd), 0);
	assert_int_equal(spool_create(&c->s, other, &fd2), 0);
	assert_int_equal(write(fd, "x\r\n", 3), 3);

	/* Envelope names another message. */
	t_envelope(&e, other);
	assert_int_equal(spool_commit(&c->s, qid, fd, &e), -1);
	assert_int_equal(errno, EINVAL);
	/* Descriptor belongs to another file. */
	snprintf(e.qid, sizeof(e.qid), "%s", qid);
	assert_int_equal(spool_commit(&c->s, qid, fd2, &e), -1);
	assert_int_equal(errno, EINVAL);
	/* An envelope that cannot be encoded. */
	e.ret = 99;
	assert_int_equal(spool_commit(&c->s, qid, fd, &e), -1);
	e.ret = 0;
	assert_true(t_exists(c, "incoming", qid));
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 3);
	/* And then it works. */
	assert_int_equal(spool_commit(&c->s, qid, fd, &e), 0);
	assert_true(t_exists(c, "queue", qid));
	close(fd);
	close(fd2);
	envelope_clear(&e);
}

struct t_seen {
	int n;
	char qids[8][SPOOL_QID_LEN + 1];
};

static void
t_recover_cb(const char *qid, void *arg)
{
	struct t_seen *s = arg;

	assert_true(s->n < 8);
	snprintf(s->qids[s->n++], SPOOL_QID_LEN + 1, "%s", qid);
}

static bool
t_seen_has(const struct t_seen *s, const char *qid)
{
	int i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->qids[i], qid) == 0)
			return true;
	return false;
}

static void
test_recover(void **state)
{
	struct t_ctx *c = *state;
	char a[SPOOL_QID_LEN + 1], b[SPOOL_QID_LEN + 1];
	char in[SPOOL_QID_LEN + 1], name[64];
	struct t_seen seen;
	struct envelope e;
	int fd;

	t_commit_one(c, a);
	t_commit_one(c, b);
	t_envelope(&e, b);
	assert_int_equal(spool_update(&c->s, &e), 0);
	envelope_clear(&e);

	/* A message being received when we crashed. */
	assert_int_equal(spool_create(&c->s, in, &fd), 0);
	assert_int_equal(write(fd, "partial", 7), 7);
	close(fd);
	/* An update interrupted before its rename. */
	snprintf(name, sizeof(name), "%s.tmp", a);
	t_write_file(c, "queue", name, "junk", 4);
	/* An orphan state file: spool_remove stopped between unlinks. */
	t_write_file(c, "queue", "00000000000000AA.st", "junk", 4);
	/* Something that is not ours. */
	t_write_file(c, "queue", "README", "hello", 5);
	t_write_file(c, "queue", "0123456789abcdef", "lower", 5);

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_recover(&c->s, t_recover_cb, &seen), 2);
	assert_int_equal(seen.n, 2);
	assert_true(t_seen_has(&seen, a));
	assert_true(t_seen_has(&seen, b));
	assert_int_equal(t_count(c, "incoming"), 0);
	assert_false(t_exists(c, "queue", name));
	assert_false(t_exists(c, "queue", "00000000000000AA.st"));
	snprintf(name, sizeof(name), "%s.st", b);
	assert_true(t_exists(c, "queue", name));
	assert_true(t_exists(c, "corrupt", "README"));
	assert_true(t_exists(c, "corrupt", "0123456789abcdef"));
	assert_int_equal(t_count(c, "queue"), 3);

	/* Idempotent, and a NULL callback just counts. */
	assert_int_equal(spool_recover(&c->s, NULL, NULL), 2);
}

/* Hold moves QID and QID.st to hold/; everything still finds it there. */
static void
test_hold_release(void **state)
{
	struct t_ctx *c = *state;
	char qid[SPOOL_QID_LEN + 1], st[64];
	struct envelope e, got;
	uint64_t clen;
	int fd;

	t_commit_one(c, qid);
	t_envelope(&e, qid);
	e.rcpts[0].state = ENV_RCPT_DELIVERED;
	assert_int_equal(spool_update(&c->s, &e), 0);
	snprintf(st, sizeof(st), "%s.st", qid);

	assert_int_equal(spool_hold(&c->s, qid), 0);
	assert_false(t_exists(c, "queue", qid));
	assert_false(t_exists(c, "queue", st));
	assert_true(t_exists(c, "hold", qid));
	assert_true(t_exists(c, "hold", st));
	/* Held: no delivery, but inspection, state and loading work. */
	assert_int_equal(spool_open_content(&c->s, qid, &fd), -1);
	assert_int_equal(spool_open_message(&c->s, qid, &fd), 0);
	close(fd);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), 0);
	assert_int_equal(got.rcpts[0].state, ENV_RCPT_DELIVERED);
	assert_int_equal(clen, strlen(T_CONTENT));
	envelope_clear(&got);
	e.rcpts[1].attempts = 7;
	assert_int_equal(spool_update(&c->s, &e), 0);
	assert_true(t_exists(c, "hold", st));
	assert_false(t_exists(c, "queue", st));
	/* Twice is an error that changes nothing. */
	assert_int_equal(spool_hold(&c->s, qid), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(t_exists(c, "hold", qid));

	assert_int_equal(spool_release(&c->s, qid), 0);
	assert_true(t_exists(c, "queue", qid));
	assert_true(t_exists(c, "queue", st));
	assert_false(t_exists(c, "hold", qid));
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), 0);
	assert_int_equal(got.rcpts[1].attempts, 7);
	envelope_clear(&got);
	assert_int_equal(spool_release(&c->s, qid), -1);

	/* Delete works in both places. */
	assert_int_equal(spool_hold(&c->s, qid), 0);
	assert_int_equal(spool_delete(&c->s, qid), 0);
	assert_int_equal(t_count(c, "hold"), 0);
	assert_int_equal(t_count(c, "queue"), 0);
	assert_int_equal(spool_delete(&c->s, qid), -1);
	assert_int_equal(errno, ENOENT);
	envelope_clear(&e);
}

/* A crash between the two renames of hold or release is repaired. */
static void
test_recover_hold(void **state)
{
	struct t_ctx *c = *state;
	char a[SPOOL_QID_LEN + 1], b[SPOOL_QID_LEN + 1], h[SPOOL_QID_LEN + 1];
	char sa[64], sb[64], p1[512], p2[512];
	struct t_seen seen, held;
	struct envelope e, got;
	uint64_t clen;

	t_commit_one(c, a);
	t_commit_one(c, b);
	t_commit_one(c, h);
	t_envelope(&e, a);
	e.rcpts[0].state = ENV_RCPT_DELIVERED;
	assert_int_equal(spool_update(&c->s, &e), 0);
	envelope_clear(&e);
	t_envelope(&e, b);
	e.rcpts[0].state = ENV_RCPT_FAILED;
	assert_int_equal(spool_update(&c->s, &e), 0);
	envelope_clear(&e);
	assert_int_equal(spool_hold(&c->s, h), 0);
	snprintf(sa, sizeof(sa), "%s.st", a);
	snprintf(sb, sizeof(sb), "%s.st", b);
	/* a: a hold that moved QID but not yet QID.st. */
	snprintf(p1, sizeof(p1), "%s/queue/%s", c->path, a);
	snprintf(p2, sizeof(p2), "%s/hold/%s", c->path, a);
	assert_int_equal(rename(p1, p2), 0);
	/* b: a release that moved QID but not yet QID.st. */
	assert_int_equal(spool_hold(&c->s, b), 0);
	snprintf(p1, sizeof(p1), "%s/hold/%s", c->path, b);
	snprintf(p2, sizeof(p2), "%s/queue/%s", c->path, b);
	assert_int_equal(rename(p1, p2), 0);
	assert_true(t_exists(c, "hold", sb));
	/* Junk in hold/ and an orphan state file. */
	t_write_file(c, "hold", "notes.txt", "x", 1);
	t_write_file(c, "hold", "00000000000000CC.st", "x", 1);
	t_write_file(c, "hold", "00000000000000CC.tmp", "x", 1);

	memset(&seen, 0, sizeof(seen));
	memset(&held, 0, sizeof(held));
	assert_int_equal(spool_recover(&c->s, t_recover_cb, &seen), 1);
	assert_true(t_seen_has(&seen, b));
	assert_int_equal(spool_recover_held(&c->s, t_recover_cb, &held), 2);
	assert_true(t_seen_has(&held, a));
	assert_true(t_seen_has(&held, h));
	assert_true(t_exists(c, "hold", sa));
	assert_false(t_exists(c, "queue", sa));
	assert_true(t_exists(c, "queue", sb));
	assert_false(t_exists(c, "hold", sb));
	assert_false(t_exists(c, "hold", "00000000000000CC.st"));
	assert_false(t_exists(c, "hold", "00000000000000CC.tmp"));
	assert_true(t_exists(c, "corrupt", "notes.txt"));
	/* The state went with the message. */
	assert_int_equal(spool_load(&c->s, a, &got, &clen), 0);
	assert_int_equal(got.rcpts[0].state, ENV_RCPT_DELIVERED);
	envelope_clear(&got);
	assert_int_equal(spool_load(&c->s, b, &got, &clen), 0);
	assert_int_equal(got.rcpts[0].state, ENV_RCPT_FAILED);
	envelope_clear(&got);
}

static void
test_corrupt_trailer(void **state)
{
	struct t_ctx *c = *state;
	char qid[SPOOL_QID_LEN + 1], path[256];
	struct envelope got;
	uint64_t clen;
	struct stat st;
	int fd;

	t_commit_one(c, qid);
	snprintf(path, sizeof(path), "%s/queue/%s", c->path, qid);
	assert_int_equal(stat(path, &st), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);

	/* Trailer magic. */
	assert_int_equal(pwrite(fd, "X", 1, st.st_size - 16), 1);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);
	assert_null(got.sender);
	assert_int_equal(clen, 0);
	assert_int_equal(pwrite(fd, "P", 1, st.st_size - 16), 1);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), 0);
	envelope_clear(&got);

	/* Envelope length larger than the file. */
	assert_int_equal(pwrite(fd, "\xff\xff\x00\x00", 4, st.st_size - 8), 4);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);
	/* Reserved word not zero. */
	assert_int_equal(pwrite(fd, "\x01", 1, st.st_size - 1), 1);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);

	/* One flipped byte in the inner envelope: the checksum. */
	close(fd);
	spool_quarantine(&c->s, qid);
	t_commit_one(c, qid);
	snprintf(path, sizeof(path), "%s/queue/%s", c->path, qid);
	assert_int_equal(stat(path, &st), 0);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "Z", 1, st.st_size - 30), 1);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);

	/* Truncated below the trailer size. */
	assert_int_equal(ftruncate(fd, 10), 0);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);
	close(fd);

	/* Quarantine moves it out of the way. */
	spool_quarantine(&c->s, qid);
	assert_false(t_exists(c, "queue", qid));
	assert_true(t_exists(c, "corrupt", qid));
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_corrupt_state_file(void **state)
{
	struct t_ctx *c = *state;
	char qid[SPOOL_QID_LEN + 1], other[SPOOL_QID_LEN + 1], name[64];
	char path[256], opath[256];
	struct envelope e, got;
	uint64_t clen;

	t_commit_one(c, qid);
	snprintf(name, sizeof(name), "%s.st", qid);
	t_write_file(c, "queue", name, "not an envelope", 15);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);

	/* A valid state file, but of another message. */
	t_commit_one(c, other);
	t_envelope(&e, other);
	assert_int_equal(spool_update(&c->s, &e), 0);
	envelope_clear(&e);
	snprintf(path, sizeof(path), "%s/queue/%s.st", c->path, other);
	snprintf(opath, sizeof(opath), "%s/queue/%s.st", c->path, qid);
	assert_int_equal(rename(path, opath), 0);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);

	/* A symlink is never followed. */
	assert_int_equal(unlink(opath), 0);
	assert_int_equal(symlink("/etc/passwd", opath), 0);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);

	/* Quarantine takes both; a second one with the same name gets .1. */
	spool_quarantine(&c->s, qid);
	assert_true(t_exists(c, "corrupt", qid));
	assert_true(t_exists(c, "corrupt", name));
	assert_false(t_exists(c, "queue", name));
	t_write_file(c, "queue", qid, "again", 5);
	spool_quarantine(&c->s, qid);
	snprintf(name, sizeof(name), "%s.1", qid);
	assert_true(t_exists(c, "corrupt", name));
}

/* The envelope inside must name the file it is in. */
static void
test_wrong_qid_inside(void **state)
{
	struct t_ctx *c = *state;
	char qid[SPOOL_QID_LEN + 1], path[256], to[256];
	struct envelope got;
	uint64_t clen;

	t_commit_one(c, qid);
	snprintf(path, sizeof(path), "%s/queue/%s", c->path, qid);
	snprintf(to, sizeof(to), "%s/queue/00000000000000BB", c->path);
	assert_int_equal(rename(path, to), 0);
	assert_int_equal(
	    spool_load(&c->s, "00000000000000BB", &got, &clen), -2);
	/* A symlink or a directory in place of the message. */
	assert_int_equal(symlink(to, path), 0);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(spool_load(&c->s, qid, &got, &clen), -2);
	/* Not a queue ID at all. */
	assert_int_equal(spool_load(&c->s, "../x", &got, &clen), -1);
	assert_int_equal(errno, EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_qid_valid),
	    cmocka_unit_test_setup_teardown(
		test_open_makes_dirs, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_create_unique, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_life_cycle, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_empty_content, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_commit_refuses_mismatch, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_recover, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_hold_release, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_recover_hold, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_corrupt_trailer, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_corrupt_state_file, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_wrong_qid_inside, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
