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

#include "auth/passwd.h"
#include "auth/scram.h"
#include "lib/log.h"
#include "tls/tls.h"
#include "lib/fsio.h"

#define BUNDLE_FILE_MAX (256u * 1024 * 1024)

/*
 * The accounts of the embedded default's first start: demo@localhost
 * with the password "demo" and postmaster@localhost, a mailbox without
 * one. The hash and the SCRAM keys are made here, with fresh salts, so no
 * two installations share them. 0, or -1 with err.
 */
static int
bundle_demo_users(struct buf *out, char *err, size_t errsz)
{
	static const char pw[] = "demo";
	char hash[AUTH_HASH_NEW_MAX], scram[AUTH_SCRAM_TEXT_MAX];
	struct auth_scram_keys k;
	int rc;

	if (auth_password_hash(pw, sizeof(pw) - 1, hash, sizeof(hash)) != 0 ||
	    auth_scram_keys_new(pw, sizeof(pw) - 1, &k) != 0 ||
	    auth_scram_keys_format(&k, scram, sizeof(scram)) != 0) {
		snprintf(err, errsz, "cannot hash the demo password");
		return -1;
	}
	explicit_bzero(&k, sizeof(k));
	rc = buf_puts(out, "# petrel accounts, created on first start "
			   "(docs/config.md, \"The users file\").\n"
			   "# user@domain:PASSWORD:uid:gid:gecos:home:shell:"
			   "EXTRA; manage them with `petrel user`.\n"
			   "# demo@localhost's password is \"demo\".\n");
	if (rc != 0 || auth_account_line_format(out, "postmaster@localhost",
	    NULL, NULL, NULL, 0) != 0 || auth_account_line_format(out,
	    "demo@localhost", hash, scram, NULL, 0) != 0) {
		snprintf(err, errsz, "cannot format the demo accounts");
		return -1;
	}
	return 0;
}

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

/* Creates path (mode 0600: it holds password hashes) with text. */
static int
bundle_write_new(const char *path, const struct buf *text, char *err,
    size_t errsz)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0 || fsio_write_all(fd, buf_str(text), text->len) != 0 ||
	    fsio_fsync(fd) != 0) {
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
		if ((i == BUNDLE_KEY || i == BUNDLE_RELAY_AUTH) &&
		    b->part[i].data != NULL)
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

/*
 * Reads an optional file: one the configuration names explicitly must
 * exist; a default that is missing (no dns-root-data, no ca-certificates)
 * leaves the part empty with a warning.
 */
static int
bundle_read_optional(struct buf *part, const char *path, const char *dflt,
    const char *what, char *err, size_t errsz)
{
	struct stat st;

	if (path == NULL)
		return 0;
	if (strcmp(path, dflt) == 0 && stat(path, &st) != 0 &&
	    errno == ENOENT) {
		log_warn("%s: %s is missing", what, path);
		return 0;
	}
	return bundle_read_file(part, path, err, errsz);
}

/* The files of outbound delivery (the remote process is chrooted). */
static int
bundle_load_outbound(struct bundle *b, const struct conf *c, char *err,
    size_t errsz)
{
	struct stat st;

	/* No resolv.conf: remote/dns asks 127.0.0.1, like the C library. */
	if (c->dns_mode == CONF_DNS_RESOLVCONF &&
	    bundle_read_file(&b->part[BUNDLE_RESOLV], "/etc/resolv.conf", err,
	    errsz) != 0)
		buf_reset(&b->part[BUNDLE_RESOLV]);
	if (bundle_read_optional(&b->part[BUNDLE_TRUST_ANCHOR],
	    c->dns_trust_anchor, "/usr/share/dns/root.key",
	    "dns-trust-anchor (no DNSSEC validation)", err, errsz) != 0 ||
	    bundle_read_optional(&b->part[BUNDLE_CA], c->outbound_ca_file,
	    "/etc/ssl/certs/ca-certificates.crt",
	    "outbound-ca-file (no certificate can be verified)", err,
	    errsz) != 0)
		return -1;
	if (strcmp(c->sts_ca_file, c->outbound_ca_file) != 0 &&
	    bundle_read_optional(&b->part[BUNDLE_STS_CA], c->sts_ca_file,
	    "/etc/ssl/certs/ca-certificates.crt",
	    "mta-sts-ca-file (no MTA-STS policy can be verified)", err,
	    errsz) != 0)
		return -1;
	if (c->smarthost_auth == NULL)
		return 0;
	if (stat(c->smarthost_auth, &st) == 0 && (st.st_mode & 0077) != 0)
		log_warn("smarthost-auth: %s can be read by others "
		    "(chmod 600 it)", c->smarthost_auth);
	return bundle_read_file(&b->part[BUNDLE_RELAY_AUTH],
	    c->smarthost_auth, err, errsz);
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
		struct buf demo;
		int rc;

		buf_init(&demo, 65536);
		rc = bundle_demo_users(&demo, err, errsz);
		if (rc == 0)
			rc = bundle_write_new(c.users_file, &demo, err, errsz);
		if (demo.data != NULL)
			explicit_bzero(demo.data, demo.len);
		buf_clear(&demo);
		if (rc != 0)
			goto fail_conf;
		log_info("created %s with the accounts postmaster@localhost "
		    "and demo@localhost (password \"demo\")", c.users_file);
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
	if (bundle_load_outbound(b, &c, err, errsz) != 0)
		goto fail_conf;
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
	struct auth_accounts *accounts = NULL;

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
	/*
	 * The password fields too (the parent has them; children get the
	 * file without them): a bad line is refused here, at start or
	 * reload, never in the auth process.
	 */
	if (auth_accounts_parse(out->conf.users_file, buf_str(users),
	    users->len, &accounts, err, errsz) != 0) {
		bundle_conf_free(out);
		return -1;
	}
	auth_accounts_free(accounts);
	return 0;
}

void
bundle_conf_free(struct bundle_conf *bc)
{
	conf_free(&bc->conf);
	tables_free(bc->tables);
	bc->tables = NULL;
}

/*
 * The users file without secrets: each line cut at its first ':' (the
 * password and everything after it), so line numbers stay the same.
 */
static void
bundle_users_public(const struct buf *in, struct buf *out)
{
	const char *p = in->data, *end = in->data + in->len;

	while (p != NULL && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl != NULL ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));

		(void)buf_append(out, p, (size_t)((colon ? colon : eol) - p));
		if (nl != NULL)
			(void)buf_putc(out, '\n');
		p = nl != NULL ? nl + 1 : NULL;
	}
}

int
bundle_to_fd(const struct bundle *b, unsigned flags)
{
	int fd = memfd_create("petrel-bundle", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING);
	struct buf users;
	int i;

	if (fd < 0)
		return -1;
	buf_init(&users, BUNDLE_FILE_MAX);
	if (!(flags & BUNDLE_F_SECRETS))
		bundle_users_public(&b->part[BUNDLE_USERS], &users);
	for (i = 0; i < BUNDLE_NPARTS; i++) {
		const struct buf *part = &b->part[i];
		uint64_t len;
		unsigned char hdr[8];
		int k;

		if (i == BUNDLE_USERS && !(flags & BUNDLE_F_SECRETS))
			part = &users;
		len = (i == BUNDLE_KEY && !(flags & BUNDLE_F_KEY)) ||
		    (i == BUNDLE_RELAY_AUTH && !(flags & BUNDLE_F_RELAY)) ? 0 :
		    part->len;
		for (k = 0; k < 8; k++)
			hdr[k] = (unsigned char)(len >> (8 * k));
		if (fsio_write_all(fd, hdr, 8) != 0 ||
		    fsio_write_all(fd, buf_str(part), len) != 0) {
			buf_clear(&users);
			close(fd);
			return -1;
		}
	}
	buf_clear(&users);
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
