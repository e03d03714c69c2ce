/* bundle: configuration files read by the parent, passed as a memfd. */
#include "bin/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "tls/tls.h"
#include "lib/fsio.h"

#define BUNDLE_FILE_MAX (256u * 1024 * 1024)

static const char bundle_demo_users[] =
    "# petrel accounts: one address a line (created on first start)\n"
    "postmaster@localhost\n"
    "demo@localhost\n";

/* Reads a whole file into b. 0, or -1 with "path: reason" in err. */
static int
bundle_read_file(struct buf *b, const char *path, char *err, size_t errsz)
{
	char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	buf_reset(b);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (buf_append(b, chunk, (size_t)n) < 0) {
			snprintf(err, errsz, "%s: file too large", path);
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

static int
bundle_mkdirs(const char *path, char *err, size_t errsz)
{
	char tmp[PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		snprintf(err, errsz, "%s: path too long", path);
		return -1;
	}
	for (p = tmp + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
				snprintf(err, errsz, "%s: %s", tmp,
				    strerror(errno));
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

static int
bundle_write_new(const char *path, const char *text, char *err, size_t errsz)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

void
bundle_free(struct bundle *b)
{
	int i;

	for (i = 0; i < BUNDLE_NPARTS; i++) {
		if (i == BUNDLE_KEY && b->part[i].data != NULL)
			explicit_bzero(b->part[i].data, b->part[i].len);
		buf_clear(&b->part[i]);
	}
}

static void
bundle_init(struct bundle *b)
{
	int i;

	for (i = 0; i < BUNDLE_NPARTS; i++)
		buf_init(&b->part[i], BUNDLE_FILE_MAX);
	b->embedded = false;
}

/*
 * Reads the configuration file (NULL: the embedded default, based in the
 * current directory) into b and parses it into *c. 0 or -1 with err.
 */
static int
bundle_read_conf(struct bundle *b, const char *path, struct conf *c,
    char *err, size_t errsz)
{
	char dir[PATH_MAX];

	if (path != NULL) {
		char resolved[PATH_MAX];
		if (bundle_read_file(&b->part[BUNDLE_CONF], path, err,
		    errsz) != 0)
			return -1;
		if (realpath(path, resolved) == NULL) {
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
			return -1;
		}
		buf_puts(&b->part[BUNDLE_CONF_NAME], path);
		buf_puts(&b->part[BUNDLE_BASE_DIR], dirname(resolved));
	} else {
		b->embedded = true;
		buf_puts(&b->part[BUNDLE_CONF], conf_default_text());
		buf_puts(&b->part[BUNDLE_CONF_NAME], "(embedded default)");
		if (getcwd(dir, sizeof(dir)) == NULL) {
			snprintf(err, errsz, "getcwd: %s", strerror(errno));
			return -1;
		}
		buf_puts(&b->part[BUNDLE_BASE_DIR], dir);
	}
	return conf_parse(buf_str(&b->part[BUNDLE_CONF_NAME]),
	    b->part[BUNDLE_CONF].data, b->part[BUNDLE_CONF].len,
	    buf_str(&b->part[BUNDLE_BASE_DIR]), c, err, errsz);
}

int
bundle_load_conf(const char *path, struct conf *out, char *err, size_t errsz)
{
	struct bundle b;
	int r;

	memset(out, 0, sizeof(*out));
	bundle_init(&b);
	r = bundle_read_conf(&b, path, out, err, errsz);
	bundle_free(&b);
	return r;
}

int
bundle_load(struct bundle *b, const char *path, bool prepare, char *err,
    size_t errsz)
{
	struct bundle_conf bc;
	struct conf c;
	struct stat st;

	bundle_init(b);
	if (bundle_read_conf(b, path, &c, err, errsz) != 0)
		goto fail;

	if (prepare && bundle_mkdirs(c.state_dir, err, errsz) != 0)
		goto fail_conf;
	if (prepare && b->embedded && stat(c.users_file, &st) != 0 &&
	    errno == ENOENT) {
		if (bundle_write_new(c.users_file, bundle_demo_users, err,
		    errsz) != 0)
			goto fail_conf;
		log_info("created %s with the accounts postmaster@localhost "
		    "and demo@localhost", c.users_file);
	}
	if (bundle_read_file(&b->part[BUNDLE_USERS], c.users_file, err,
	    errsz) != 0) {
		if (!(b->embedded && !prepare))
			goto fail_conf;
	}
	if (c.aliases_file != NULL && bundle_read_file(&b->part[BUNDLE_ALIASES],
	    c.aliases_file, err, errsz) != 0)
		goto fail_conf;
	if (prepare && c.tls_generate && (stat(c.tls_cert, &st) != 0 ||
	    stat(c.tls_key, &st) != 0)) {
		if (tls_generate_selfsigned(c.tls_cert, c.tls_key, c.hostname,
		    err, errsz) != 0)
			goto fail_conf;
		log_info("generated a self-signed certificate for %s: %s",
		    c.hostname, c.tls_cert);
	}
	if (bundle_read_file(&b->part[BUNDLE_CERT], c.tls_cert, err,
	    errsz) != 0 || bundle_read_file(&b->part[BUNDLE_KEY], c.tls_key,
	    err, errsz) != 0) {
		/* Before the first start the pair may not exist yet. */
		if (prepare || !c.tls_generate)
			goto fail_conf;
		buf_reset(&b->part[BUNDLE_CERT]);
		buf_reset(&b->part[BUNDLE_KEY]);
	}
	conf_free(&c);
	if (bundle_parse(b, &bc, err, errsz) != 0)
		goto fail;
	bundle_conf_free(&bc);
	return 0;
fail_conf:
	conf_free(&c);
fail:
	bundle_free(b);
	return -1;
}

int
bundle_parse(const struct bundle *b, struct bundle_conf *out, char *err,
    size_t errsz)
{
	const struct buf *users = &b->part[BUNDLE_USERS];
	const struct buf *aliases = &b->part[BUNDLE_ALIASES];

	memset(out, 0, sizeof(*out));
	if (conf_parse(buf_str(&b->part[BUNDLE_CONF_NAME]),
	    buf_str(&b->part[BUNDLE_CONF]), b->part[BUNDLE_CONF].len,
	    buf_str(&b->part[BUNDLE_BASE_DIR]), &out->conf, err, errsz) != 0)
		return -1;
	if (tables_new(&out->conf, out->conf.users_file, buf_str(users),
	    users->len, out->conf.aliases_file,
	    out->conf.aliases_file ? buf_str(aliases) : NULL, aliases->len,
	    &out->tables, err, errsz) != 0) {
		conf_free(&out->conf);
		return -1;
	}
	return 0;
}

void
bundle_conf_free(struct bundle_conf *bc)
{
	conf_free(&bc->conf);
	tables_free(bc->tables);
	bc->tables = NULL;
}

int
bundle_to_fd(const struct bundle *b)
{
	int fd = memfd_create("petrel-bundle", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	int i;

	if (fd < 0)
		return -1;
	for (i = 0; i < BUNDLE_NPARTS; i++) {
		uint64_t len = b->part[i].len;
		unsigned char hdr[8];
		int k;

		for (k = 0; k < 8; k++)
			hdr[k] = (unsigned char)(len >> (8 * k));
		if (fsio_write_all(fd, hdr, 8) != 0 ||
		    fsio_write_all(fd, buf_str(&b->part[i]), len) != 0) {
			close(fd);
			return -1;
		}
	}
	(void)fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW |
	    F_SEAL_SHRINK | F_SEAL_SEAL);
	return fd;
}

int
bundle_from_fd(int fd, struct bundle *b)
{
	off_t off = 0;
	int i;

	bundle_init(b);
	for (i = 0; i < BUNDLE_NPARTS; i++) {
		unsigned char hdr[8];
		uint64_t len = 0, done = 0;
		int k;

		if (pread(fd, hdr, 8, off) != 8)
			goto fail;
		off += 8;
		for (k = 0; k < 8; k++)
			len |= (uint64_t)hdr[k] << (8 * k);
		if (len > BUNDLE_FILE_MAX)
			goto fail;
		while (done < len) {
			char chunk[65536];
			size_t want = len - done < sizeof(chunk) ?
			    (size_t)(len - done) : sizeof(chunk);
			ssize_t n = pread(fd, chunk, want, off);
			if (n <= 0 || buf_append(&b->part[i], chunk,
			    (size_t)n) != 0)
				goto fail;
			off += n;
			done += (uint64_t)n;
		}
	}
	return 0;
fail:
	bundle_free(b);
	return -1;
}
