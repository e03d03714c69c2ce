/*
 * test_maildir: delivery into a Maildir (src/deliver/maildir.c) inside a
 * fresh mkdtemp directory: directory creation, the header lines, CRLF to
 * LF conversion (including a CRLF split across the 64 KB read boundary),
 * no second copy on a repeated delivery or with check_dup after the
 * reader moved it to cur/, and paths that must fail permanently. CI runs
 * as root, where permission bits do not stop anything, so the permanent
 * failures are made with files and symlinks where directories belong.
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
#include <pthread.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "deliver/maildir.h"

#define T_CHUNK ((size_t)65536)

struct t_ctx {
	char dir[64];
	char mdir[128];
	char content[128];
};

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

	snprintf(c->dir, sizeof(c->dir), "/tmp/petrel-maildir-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->mdir, sizeof(c->mdir), "%s/vmail/example.org/bob/Maildir",
	    c->dir);
	snprintf(c->content, sizeof(c->content), "%s/content", c->dir);
	*state = c;
	return 0;
}

static int
t_teardown(void **state)
{
	struct t_ctx *c = *state;

	t_rm_rf(c->dir);
	free(c);
	return 0;
}

/* Writes the content file and returns a read-only descriptor to it. */
static int
t_content(struct t_ctx *c, const char *p, size_t n)
{
	int fd = open(c->content, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
	fd = open(c->content, O_RDONLY);
	assert_true(fd >= 0);
	return fd;
}

static void
t_msg(struct maildir_msg *m, int fd, size_t len, const char *uniq)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->len = len;
	m->return_path = "alice@example.net";
	m->delivered_to = "bob@example.org";
	m->uniq = uniq;
	m->arrival = 1700000000;
	m->hostname = "mx.example.org";
}

/* Number of entries in mdir/sub (and the last name seen, if out). */
static int
t_list(const char *mdir, const char *sub, char *out, size_t outsz)
{
	char p[256];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", mdir, sub);
	d = opendir(p);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		if (out != NULL)
			snprintf(out, outsz, "%s", de->d_name);
	}
	closedir(d);
	return n;
}

/* Reads mdir/sub/name into a malloc'ed buffer. */
static char *
t_read(const char *mdir, const char *sub, const char *name, size_t *len)
{
	char p[512];
	struct stat st;
	char *b;
	int fd;

	snprintf(p, sizeof(p), "%s/%s/%s", mdir, sub, name);
	fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	b[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	close(fd);
	return b;
}

static void
test_deliver_basic(void **state)
{
	struct t_ctx *c = *state;
	static const char in[] = "Subject: hi\r\n\r\nline one\r\nline two\r\n";
	static const char want[] = "Return-Path: <alice@example.net>\n"
				   "Delivered-To: bob@example.org\n"
				   "Subject: hi\n\nline one\nline two\n";
	struct maildir_msg m;
	char err[256], name[256];
	struct stat st;
	size_t len;
	char *got;
	int fd;

	fd = t_content(c, in, strlen(in));
	t_msg(&m, fd, strlen(in), "0123456789ABCDEF.0");
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_string_equal(err, "");
	assert_int_equal(t_list(c->mdir, "tmp", NULL, 0), 0);
	assert_int_equal(t_list(c->mdir, "cur", NULL, 0), 0);
	assert_int_equal(t_list(c->mdir, "new", name, sizeof(name)), 1);
	assert_string_equal(
	    name, "1700000000.P0123456789ABCDEF.0.mx.example.org");
	got = t_read(c->mdir, "new", name, &len);
	assert_int_equal(len, strlen(want));
	assert_string_equal(got, want);
	free(got);

	assert_int_equal(stat(c->mdir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	close(fd);
}

/* Reference conversion: CRLF to LF, everything else unchanged. */
static size_t
t_convert(const char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
			continue;
		out[o++] = in[i];
	}
	return o;
}

static void
test_crlf_across_chunk(void **state)
{
	struct t_ctx *c = *state;
	size_t n = 3 * T_CHUNK + 17, i, wantlen, len, hdrlen;
	char *in = malloc(n), *want = malloc(n), *got;
	struct maildir_msg m;
	char err[256], name[256];
	int fd;

	for (i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	for (i = 70; i < n; i += 71) {
		in[i - 1] = '\r';
		in[i] = '\n';
	}
	/* CRLF split exactly across the first boundary. */
	in[T_CHUNK - 1] = '\r';
	in[T_CHUNK] = '\n';
	/* A bare CR ending the second chunk, followed by a non-LF. */
	in[2 * T_CHUNK - 1] = '\r';
	in[2 * T_CHUNK] = 'x';
	/* A bare LF and a bare CR elsewhere pass through. */
	in[2 * T_CHUNK + 5] = '\n';
	in[2 * T_CHUNK + 9] = '\r';
	in[2 * T_CHUNK + 10] = 'y';
	/* A CR as the very last byte of the content is kept. */
	in[n - 1] = '\r';
	wantlen = t_convert(in, n, want);

	fd = t_content(c, in, n);
	t_msg(&m, fd, n, "0123456789ABCDEF.1");
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "new", name, sizeof(name)), 1);
	got = t_read(c->mdir, "new", name, &len);
	hdrlen = strlen("Return-Path: <alice@example.net>\n"
			"Delivered-To: bob@example.org\n");
	assert_int_equal(len, hdrlen + wantlen);
	assert_memory_equal(got + hdrlen, want, wantlen);
	/* The split CRLF became one LF right after the converted prefix. */
	i = t_convert(in, T_CHUNK - 1, want);
	assert_int_equal(got[hdrlen + i], '\n');
	assert_int_not_equal(got[hdrlen + i - 1], '\r');
	assert_int_equal(got[len - 1], '\r');
	free(got);
	free(in);
	free(want);
	close(fd);
}

/* Only len bytes are copied: the spool file has the envelope after it. */
static void
test_copies_only_len(void **state)
{
	struct t_ctx *c = *state;
	static const char in[] = "body\r\nENVELOPE-AND-TRAILER";
	struct maildir_msg m;
	char err[256], name[256];
	size_t len;
	char *got;
	int fd;

	fd = t_content(c, in, strlen(in));
	t_msg(&m, fd, 6, "0123456789ABCDEF.2");
	m.return_path = "";
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "new", name, sizeof(name)), 1);
	got = t_read(c->mdir, "new", name, &len);
	assert_string_equal(got, "Return-Path: <>\n"
				 "Delivered-To: bob@example.org\nbody\n");
	free(got);
	close(fd);
}

static void
test_no_duplicate(void **state)
{
	struct t_ctx *c = *state;
	static const char in[] = "x\r\n";
	struct maildir_msg m;
	char err[256], name[256], from[512], to[512];
	int fd;

	fd = t_content(c, in, 3);
	t_msg(&m, fd, 3, "0123456789ABCDEF.0");
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	/* Same recipient again (the queue lost our answer): no copy. */
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "new", name, sizeof(name)), 1);
	assert_int_equal(t_list(c->mdir, "tmp", NULL, 0), 0);

	/* The reader moved it to cur/ and set the Seen flag. */
	snprintf(from, sizeof(from), "%s/new/%s", c->mdir, name);
	snprintf(to, sizeof(to), "%s/cur/%s:2,S", c->mdir, name);
	assert_int_equal(rename(from, to), 0);
	m.check_dup = true;
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "new", NULL, 0), 0);
	assert_int_equal(t_list(c->mdir, "cur", NULL, 0), 1);
	assert_int_equal(t_list(c->mdir, "tmp", NULL, 0), 0);

	/* A cur/ entry that only shares a prefix is not a copy. */
	m.uniq = "0123456789ABCDEF.1";
	snprintf(to, sizeof(to), "%s/cur/1700000000.P%s.mx.example.orgX:2,S",
	    c->mdir, m.uniq);
	close(open(to, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "new", NULL, 0), 1);

	/* Without check_dup a cur/ copy is not looked for (the contract). */
	m.uniq = "0123456789ABCDEF.0";
	m.check_dup = false;
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "new", NULL, 0), 2);
	close(fd);
}

/* A tmp/NAME left by a crash mid-write is replaced. */
static void
test_stale_tmp(void **state)
{
	struct t_ctx *c = *state;
	static const char in[] = "fresh\r\n";
	struct maildir_msg m;
	char err[256], p[512], name[256];
	size_t len;
	char *got;
	int fd;

	snprintf(p, sizeof(p), "%s/tmp", c->mdir);
	fd = t_content(c, in, strlen(in));
	t_msg(&m, fd, strlen(in), "0123456789ABCDEF.3");
	/* Create the Maildir by delivering something else first. */
	m.uniq = "0123456789ABCDEF.4";
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	m.uniq = "0123456789ABCDEF.3";
	snprintf(p, sizeof(p), "%s/tmp/1700000000.P%s.mx.example.org", c->mdir,
	    m.uniq);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "tmp", NULL, 0), 0);
	snprintf(name, sizeof(name), "1700000000.P%s.mx.example.org", m.uniq);
	got = t_read(c->mdir, "new", name, &len);
	assert_non_null(strstr(got, "\nfresh\n"));
	free(got);
	close(fd);
}

static void
test_hostname_escaped(void **state)
{
	struct t_ctx *c = *state;
	struct maildir_msg m;
	char err[256], name[256];
	int fd;

	fd = t_content(c, "x", 1);
	t_msg(&m, fd, 1, "0123456789ABCDEF.0");
	m.hostname = "a/b:c";
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_OK);
	assert_int_equal(t_list(c->mdir, "new", name, sizeof(name)), 1);
	assert_string_equal(
	    name, "1700000000.P0123456789ABCDEF.0.a\\057b\\072c");
	close(fd);
}

static void
test_bad_arguments(void **state)
{
	struct t_ctx *c = *state;
	struct maildir_msg m;
	char err[256];
	int fd;

	fd = t_content(c, "x", 1);
	t_msg(&m, fd, 1, "0123456789ABCDEF.0");
	m.delivered_to = "bob@example.org\r\nX-Injected: yes";
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_PERMFAIL);
	assert_true(strncmp(err, "maildir: ", 9) == 0);
	m.delivered_to = "bob@example.org";
	m.return_path = "a\n@b";
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_PERMFAIL);
	m.return_path = "";
	m.uniq = "../../etc/x";
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_PERMFAIL);
	m.uniq = "";
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_PERMFAIL);
	/* Nothing was created for a refused message. */
	assert_int_equal(t_list(c->mdir, "new", NULL, 0), -1);
	/* errsz 0: no write into err at all. */
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, NULL, 0), MAILDIR_PERMFAIL);
	close(fd);
}

/* Where a directory should be, a file or a symlink: permanent. */
static void
test_not_a_directory(void **state)
{
	struct t_ctx *c = *state;
	struct maildir_msg m;
	char err[256], p[512], other[256];
	int fd;

	fd = t_content(c, "x\r\n", 3);
	t_msg(&m, fd, 3, "0123456789ABCDEF.0");

	/* A path component is a regular file. */
	snprintf(p, sizeof(p), "%s/vmail", c->dir);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_TEMPFAIL);
	assert_true(strncmp(err, "maildir: ", 9) == 0);
	assert_non_null(strstr(err, c->mdir));
	assert_non_null(strstr(err, "Not a directory"));
	unlink(p);

	/* The Maildir itself is a regular file. */
	snprintf(p, sizeof(p), "%s/md-file", c->dir);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(
	    maildir_deliver(p, &m, err, sizeof(err)), MAILDIR_TEMPFAIL);

	/* tmp is a regular file. */
	snprintf(p, sizeof(p), "%s/md1", c->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(other, sizeof(other), "%s/md1/tmp", c->dir);
	close(open(other, O_WRONLY | O_CREAT, 0600));
	assert_int_equal(
	    maildir_deliver(p, &m, err, sizeof(err)), MAILDIR_TEMPFAIL);
	assert_non_null(strstr(err, "/tmp"));

	/* new is a symlink to a directory elsewhere: never followed. */
	snprintf(p, sizeof(p), "%s/md2", c->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(other, sizeof(other), "%s/elsewhere", c->dir);
	assert_int_equal(mkdir(other, 0700), 0);
	snprintf(err, sizeof(err), "%s/md2/new", c->dir);
	assert_int_equal(symlink(other, err), 0);
	assert_int_equal(
	    maildir_deliver(p, &m, err, sizeof(err)), MAILDIR_TEMPFAIL);
	assert_int_equal(t_list(c->dir, "elsewhere", NULL, 0), 0);
	assert_int_equal(t_list(p, "tmp", NULL, 0), 0);
	close(fd);
}

/* The content is shorter than promised, or unreadable: retry later. */
static void
test_content_errors(void **state)
{
	struct t_ctx *c = *state;
	struct maildir_msg m;
	char err[256];
	int fd;

	fd = t_content(c, "short", 5);
	t_msg(&m, fd, 100, "0123456789ABCDEF.0");
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_TEMPFAIL);
	assert_true(strncmp(err, "maildir: ", 9) == 0);
	assert_int_equal(t_list(c->mdir, "tmp", NULL, 0), 0);
	assert_int_equal(t_list(c->mdir, "new", NULL, 0), 0);
	close(fd);

	m.fd = -1;
	assert_int_equal(
	    maildir_deliver(c->mdir, &m, err, sizeof(err)), MAILDIR_TEMPFAIL);
	assert_int_equal(t_list(c->mdir, "tmp", NULL, 0), 0);
}

struct t_thread {
	const char *mdir;
	struct maildir_msg m;
	char uniq[32];
	enum maildir_result r;
};

static void *
t_thread_main(void *arg)
{
	struct t_thread *t = arg;
	char err[256];
	int i;

	for (i = 0; i < 20; i++) {
		t->r = maildir_deliver(t->mdir, &t->m, err, sizeof(err));
		if (t->r != MAILDIR_OK)
			break;
	}
	return NULL;
}

/* Several threads delivering into one (new) Maildir at once. */
static void
test_threads(void **state)
{
	struct t_ctx *c = *state;
	struct t_thread t[4];
	pthread_t tid[4];
	int fd, i;

	fd = t_content(c, "x\r\ny\r\n", 6);
	for (i = 0; i < 4; i++) {
		t[i].mdir = c->mdir;
		snprintf(
		    t[i].uniq, sizeof(t[i].uniq), "0123456789ABCDEF.%d", i);
		t_msg(&t[i].m, fd, 6, t[i].uniq);
		assert_int_equal(
		    pthread_create(&tid[i], NULL, t_thread_main, &t[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(t[i].r, MAILDIR_OK);
	}
	assert_int_equal(t_list(c->mdir, "new", NULL, 0), 4);
	assert_int_equal(t_list(c->mdir, "tmp", NULL, 0), 0);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_deliver_basic, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_crlf_across_chunk, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_copies_only_len, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_no_duplicate, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_stale_tmp, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_hostname_escaped, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_bad_arguments, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_not_a_directory, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(
		test_content_errors, t_setup, t_teardown),
	    cmocka_unit_test_setup_teardown(test_threads, t_setup, t_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
