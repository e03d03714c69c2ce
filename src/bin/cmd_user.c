/*
 * cmd_user: `petrel user add|passwd|del|list [--config FILE] ADDRESS
 * [--address EXTRA]...`, which edits the accounts file (the configuration's
 * `users` file, docs/config.md) so people need not paste hashes by hand.
 *
 * What it promises:
 * - Passwords come from the terminal with echo off, asked twice, or as one
 *   line on standard input when that is not a terminal; never from argv,
 *   where every user of the machine could read them in /proc.
 * - An account's domain must be one of the configuration's `domain` lines,
 *   and the file it writes must load (auth_accounts_parse and the recipient
 *   tables, with the aliases file) or nothing is written.
 * - The file is replaced atomically: a temporary file in the same
 *   directory, with the old file's mode and owner (0600 for a new file),
 *   written, fsync'ed, renamed over the old one, and the directory
 *   fsync'ed. Concurrent `petrel user` runs are serialised with flock on
 *   the directory. Comments, other accounts and fields petrel does not
 *   know stay byte for byte (auth_accounts_edit).
 * - Loading the configuration creates nothing and reads neither the TLS
 *   key nor the spool; only the users file itself may be created.
 *
 * Exit status: 0 done, 1 failed (reason on stderr), 2 usage error.
 */
#include "bin/cmd_user.h"
#include "bin/control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/scram.h"
#include "bin/bundle.h"
#include "conf/conf.h"
#include "lib/buf.h"
#include "lib/fsio.h"
#include "lookup/tables.h"

#define CMD_USER_FILE_MAX (256u * 1024 * 1024) /* as the server reads */

enum cmd_user_op {
	CMD_USER_ADD,
	CMD_USER_PASSWD,
	CMD_USER_DEL,
	CMD_USER_LIST,
};

struct cmd_user_args {
	enum cmd_user_op op;
	const char *config;                    /* --config FILE, or NULL */
	const char *address;                   /* ADDRESS */
	const char *extra[AUTH_ADDRESSES_MAX]; /* --address EXTRA... */
	size_t nextra;
	bool no_password; /* add --no-password */
};

/* The users file and its directory, as edited. */
struct cmd_user_file {
	char path[PATH_MAX]; /* symlinks resolved */
	char dir[PATH_MAX];
	int dirfd; /* locked with flock, or -1 */
	bool exists;
	struct stat st; /* when exists */
	struct buf text;
};

static void cmd_user_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes an error message into err; a long one is cut, which is fine. */
static void
cmd_user_err(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

static int
cmd_user_usage(void)
{
	fprintf(stderr,
	    "usage: petrel user add [--config FILE] ADDRESS [--address "
	    "EXTRA]... "
	    "[--no-password]\n"
	    "       petrel user passwd [--config FILE] ADDRESS\n"
	    "       petrel user del [--config FILE] ADDRESS\n"
	    "       petrel user list [--config FILE]\n"
	    "The password is read from the terminal (twice, without echo) or "
	    "as one line\n"
	    "from standard input; never from the command line.\n");
	return 2;
}

static int
cmd_user_no_argv_password(void)
{
	fprintf(stderr, "petrel: user: passwords are not taken from the "
			"command line (other users can read it); type it when "
			"asked, or give it as one line on standard input\n");
	return 2;
}

/* Parses argv (argv[0] the verb) into a. 0, or an exit status. */
static int
cmd_user_parse_args(int argc, char **argv, struct cmd_user_args *a)
{
	int i;

	memset(a, 0, sizeof(*a));
	if (argc < 1)
		return cmd_user_usage();
	if (strcmp(argv[0], "add") == 0)
		a->op = CMD_USER_ADD;
	else if (strcmp(argv[0], "passwd") == 0)
		a->op = CMD_USER_PASSWD;
	else if (strcmp(argv[0], "del") == 0)
		a->op = CMD_USER_DEL;
	else if (strcmp(argv[0], "list") == 0)
		a->op = CMD_USER_LIST;
	else
		return cmd_user_usage();
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if ((strcmp(arg, "--config") == 0 || strcmp(arg, "-c") == 0) &&
		    i + 1 < argc) {
			a->config = argv[++i];
		} else if (strncmp(arg, "--config=", 9) == 0) {
			a->config = arg + 9;
		} else if (strcmp(arg, "--address") == 0 ||
			   strncmp(arg, "--address=", 10) == 0) {
			const char *v = arg[9] == '='  ? arg + 10
					: i + 1 < argc ? argv[++i]
						       : NULL;
			if (v == NULL || a->op != CMD_USER_ADD)
				return cmd_user_usage();
			if (a->nextra == AUTH_ADDRESSES_MAX) {
				fprintf(stderr,
				    "petrel: user: more than %u "
				    "--address\n",
				    AUTH_ADDRESSES_MAX);
				return 2;
			}
			a->extra[a->nextra++] = v;
		} else if (strcmp(arg, "--no-password") == 0 &&
			   a->op == CMD_USER_ADD) {
			a->no_password = true;
		} else if (strncmp(arg, "--pass", 6) == 0 ||
			   strncmp(arg, "-p", 2) == 0) {
			return cmd_user_no_argv_password();
		} else if (arg[0] == '-' && arg[1] != '\0') {
			return cmd_user_usage();
		} else if (a->address == NULL && a->op != CMD_USER_LIST) {
			a->address = arg;
		} else if (a->op == CMD_USER_ADD || a->op == CMD_USER_PASSWD) {
			/* "petrel user add alice@x s3cret": refuse. */
			return cmd_user_no_argv_password();
		} else {
			return cmd_user_usage();
		}
	}
	if (a->op != CMD_USER_LIST && a->address == NULL)
		return cmd_user_usage();
	return 0;
}

/* Checks ADDRESS and the --address values against c. 0 or 1. */
static int
cmd_user_check_addresses(const struct cmd_user_args *a, const struct conf *c)
{
	const char *at;
	size_t i;

	if (!auth_address_is_valid(a->address, true)) {
		fprintf(stderr,
		    "petrel: user: '%s' is not a valid account "
		    "address (user@domain, user of a-z 0-9 . _ + -)\n",
		    a->address);
		return 1;
	}
	at = strrchr(a->address, '@');
	if (!conf_is_local_domain(c, at + 1)) {
		fprintf(stderr,
		    "petrel: user: '%s' is not a configured domain "
		    "(add a `domain %s` line to the configuration "
		    "first)\n",
		    at + 1, at + 1);
		return 1;
	}
	for (i = 0; i < a->nextra; i++) {
		if (!auth_address_is_valid(a->extra[i], false)) {
			fprintf(stderr,
			    "petrel: user: --address '%s' is not "
			    "a valid address\n",
			    a->extra[i]);
			return 1;
		}
	}
	return 0;
}

/* Terminal state while echo is off, for the signal handler. */
static struct termios cmd_user_tio;
static volatile sig_atomic_t cmd_user_tio_saved;

static void
cmd_user_on_signal(int sig)
{
	if (cmd_user_tio_saved)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &cmd_user_tio);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Reads one line from fd into pw (room for max bytes plus a NUL), without
 * its LF (or CRLF). 0 and *len_out, or -1 with err (end of input, too
 * long, a read error).
 */
static int
cmd_user_read_line(
    int fd, char *pw, size_t max, size_t *len_out, char *err, size_t errsz)
{
	size_t n = 0;
	bool eol = false;

	*len_out = 0;
	while (!eol) {
		char ch;
		ssize_t r = read(fd, &ch, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cmd_user_err(err, errsz, "reading the password: %s",
			    strerror(errno));
			return -1;
		}
		if (r == 0) {
			if (n == 0) {
				cmd_user_err(err, errsz,
				    "no password given on "
				    "standard input");
				return -1;
			}
			break;
		}
		if (ch == '\n') {
			eol = true;
			continue;
		}
		if (n == max) {
			cmd_user_err(
			    err, errsz, "password longer than %zu bytes", max);
			return -1;
		}
		pw[n++] = ch;
	}
	if (n > 0 && pw[n - 1] == '\r')
		n--;
	pw[n] = '\0';
	*len_out = n;
	return 0;
}

/* Prompts on the terminal with echo off and reads one line. 0 or -1. */
static int
cmd_user_prompt(const char *prompt, char *pw, size_t max, size_t *len_out,
    char *err, size_t errsz)
{
	struct termios off;
	int rc;

	if (tcgetattr(STDIN_FILENO, &cmd_user_tio) != 0) {
		cmd_user_err(err, errsz, "terminal: %s", strerror(errno));
		return -1;
	}
	cmd_user_tio_saved = 1;
	signal(SIGINT, cmd_user_on_signal);
	signal(SIGTERM, cmd_user_on_signal);
	signal(SIGHUP, cmd_user_on_signal);
	signal(SIGQUIT, cmd_user_on_signal);
	off = cmd_user_tio;
	off.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	/*
	 * Echo goes off (dropping typeahead) before the prompt appears: what
	 * is typed after the prompt must be neither echoed nor discarded.
	 */
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &off) != 0) {
		cmd_user_err(err, errsz, "terminal: %s", strerror(errno));
		rc = -1;
	} else {
		fputs(prompt, stderr);
		fflush(stderr);
		rc = cmd_user_read_line(
		    STDIN_FILENO, pw, max, len_out, err, errsz);
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &cmd_user_tio);
	}
	cmd_user_tio_saved = 0;
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGQUIT, SIG_DFL);
	fputc('\n', stderr);
	return rc;
}

/*
 * Gets the new password for address into pw (AUTH_PASSWORD_MAX + 1
 * bytes): asked twice on a terminal, else one line of standard input.
 * 0 and *len_out, or -1 with err.
 */
static int
cmd_user_get_password(
    const char *address, char *pw, size_t *len_out, char *err, size_t errsz)
{
	char again[AUTH_PASSWORD_MAX + 1], prompt[AUTH_ADDRESS_MAX + 32];
	size_t alen;
	int rc;

	if (!isatty(STDIN_FILENO)) {
		rc = cmd_user_read_line(
		    STDIN_FILENO, pw, AUTH_PASSWORD_MAX, len_out, err, errsz);
	} else {
		snprintf(
		    prompt, sizeof(prompt), "New password for %s: ", address);
		rc = cmd_user_prompt(
		    prompt, pw, AUTH_PASSWORD_MAX, len_out, err, errsz);
		if (rc == 0)
			rc = cmd_user_prompt("Retype the password: ", again,
			    AUTH_PASSWORD_MAX, &alen, err, errsz);
		if (rc == 0 &&
		    (alen != *len_out || memcmp(again, pw, alen) != 0)) {
			cmd_user_err(err, errsz, "the passwords do not match");
			rc = -1;
		}
		explicit_bzero(again, sizeof(again));
	}
	if (rc == 0 && *len_out == 0) {
		cmd_user_err(err, errsz,
		    "empty password (use `petrel user add "
		    "--no-password` for a mailbox without "
		    "login)");
		rc = -1;
	}
	/* SASL PLAIN carries at most 255 octets (RFC 4616 2). */
	if (rc == 0 && *len_out > 255) {
		cmd_user_err(err, errsz, "the password is longer than 255 "
		    "bytes, the most SMTP AUTH PLAIN can carry");
		rc = -1;
	}
	if (rc == 0 && memchr(pw, '\0', *len_out) != NULL) {
		cmd_user_err(err, errsz, "the password contains a NUL byte");
		rc = -1;
	}
	if (rc != 0)
		explicit_bzero(pw, AUTH_PASSWORD_MAX + 1);
	return rc;
}

/*
 * Makes the PASSWORD field (a yescrypt hash) and the scram-sha-256=
 * value for pw. 0 or -1.
 */
static int
cmd_user_hash(const char *pw, size_t len, char hash[AUTH_HASH_NEW_MAX],
    char scram[AUTH_SCRAM_TEXT_MAX])
{
	struct auth_scram_keys k;
	int rc = -1;

	if (auth_password_hash(pw, len, hash, AUTH_HASH_NEW_MAX) == 0 &&
	    auth_scram_keys_new(pw, len, &k) == 0 &&
	    auth_scram_keys_format(&k, scram, AUTH_SCRAM_TEXT_MAX) == 0)
		rc = 0;
	explicit_bzero(&k, sizeof(k));
	return rc;
}

/* Reads path into b; *exists false (and b empty) when it is missing. */
static int
cmd_user_read_file(
    const char *path, struct buf *b, bool *exists, char *err, size_t errsz)
{
	char chunk[65536];
	ssize_t n;
	int fd;

	*exists = false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		cmd_user_err(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	*exists = true;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(b, chunk, (size_t)n) != 0) {
			cmd_user_err(err, errsz, "%s: %s", path,
			    n < 0 ? strerror(errno) : "file too large");
			explicit_bzero(chunk, sizeof(chunk));
			close(fd);
			return -1;
		}
	}
	explicit_bzero(chunk, sizeof(chunk));
	close(fd);
	return 0;
}

/*
 * Finds the users file of c (following a symlink to the file it names),
 * locks its directory when lock, and reads it. 0 or -1 with err.
 */
static int
cmd_user_open(const struct conf *c, bool lock, struct cmd_user_file *f,
    char *err, size_t errsz)
{
	char *slash;

	memset(f, 0, sizeof(*f));
	f->dirfd = -1;
	buf_init(&f->text, CMD_USER_FILE_MAX);
	if (realpath(c->users_file, f->path) == NULL) {
		if (errno != ENOENT) {
			cmd_user_err(err, errsz, "%s: %s", c->users_file,
			    strerror(errno));
			return -1;
		}
		if (snprintf(f->path, sizeof(f->path), "%s", c->users_file) >=
		    (int)sizeof(f->path)) {
			cmd_user_err(
			    err, errsz, "%s: path too long", c->users_file);
			return -1;
		}
	}
	memcpy(f->dir, f->path, sizeof(f->dir));
	slash = strrchr(f->dir, '/');
	if (slash == NULL) { /* conf paths are absolute */
		cmd_user_err(err, errsz, "%s: not an absolute path", f->path);
		return -1;
	}
	if (slash == f->dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (lock) {
		f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (f->dirfd < 0) {
			cmd_user_err(err, errsz, "%s: %s%s", f->dir,
			    strerror(errno),
			    errno == ENOENT
				? " (create it, or start petrel once)"
				: "");
			return -1;
		}
		if (flock(f->dirfd, LOCK_EX) != 0) {
			cmd_user_err(err, errsz, "%s: lock: %s", f->dir,
			    strerror(errno));
			return -1;
		}
	}
	if (cmd_user_read_file(f->path, &f->text, &f->exists, err, errsz) != 0)
		return -1;
	if (f->exists && stat(f->path, &f->st) != 0) {
		cmd_user_err(err, errsz, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	return 0;
}

static void
cmd_user_close(struct cmd_user_file *f)
{
	if (f->dirfd >= 0)
		close(f->dirfd); /* releases the lock */
	f->dirfd = -1;
	if (f->text.data != NULL)
		explicit_bzero(f->text.data, f->text.len);
	buf_clear(&f->text);
}

/*
 * Checks that text (the users file) loads: as accounts, and as the
 * recipient tables together with the aliases file. Returns the accounts
 * (when out is not NULL), 0, or -1 with err.
 */
static int
cmd_user_validate(const struct conf *c, const char *name,
    const struct buf *text, struct auth_accounts **out, char *err, size_t errsz)
{
	struct auth_accounts *aa;
	struct tables *t;
	struct buf aliases;
	bool have_aliases = false;
	int rc;

	if (auth_accounts_parse(
		name, buf_str(text), text->len, &aa, err, errsz) != 0)
		return -1;
	buf_init(&aliases, CMD_USER_FILE_MAX);
	rc = 0;
	if (c->aliases_file != NULL)
		rc = cmd_user_read_file(
		    c->aliases_file, &aliases, &have_aliases, err, errsz);
	if (rc == 0 && c->aliases_file != NULL && !have_aliases) {
		cmd_user_err(
		    err, errsz, "%s: %s", c->aliases_file, strerror(ENOENT));
		rc = -1;
	}
	if (rc == 0) {
		rc = tables_new(c, name, buf_str(text), text->len,
		    c->aliases_file, have_aliases ? buf_str(&aliases) : NULL,
		    aliases.len, &t, err, errsz);
		if (rc == 0)
			tables_free(t);
	}
	buf_clear(&aliases);
	if (rc != 0 || out == NULL)
		auth_accounts_free(aa);
	else
		*out = aa;
	return rc;
}

/*
 * Replaces f->path with text atomically (see the top of the file). 0 or
 * -1 with err; on failure the old file is untouched.
 */
static int
cmd_user_write(
    struct cmd_user_file *f, const struct buf *text, char *err, size_t errsz)
{
	char tmp[PATH_MAX];
	const char *base = strrchr(f->path, '/') + 1;
	mode_t mode = f->exists ? (f->st.st_mode & 07777) : 0600;
	int fd;

	char prefix[NAME_MAX + 3];

	snprintf(prefix, sizeof(prefix), ".%s.", base);
	fd = fsio_mktemp(f->dir, prefix, tmp, sizeof(tmp));
	if (fd < 0) {
		cmd_user_err(err, errsz, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, mode) != 0 ||
	    (f->exists && fchown(fd, f->st.st_uid, f->st.st_gid) != 0) ||
	    fsio_write_all(fd, buf_str(text), text->len) != 0 ||
	    fsio_fsync(fd) != 0) {
		cmd_user_err(err, errsz, "%s: %s", tmp, strerror(errno));
		close(fd);
		(void)unlink(tmp);
		return -1;
	}
	if (close(fd) != 0 || rename(tmp, f->path) != 0) {
		cmd_user_err(err, errsz, "%s: %s", f->path, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	if (fsio_fsync(f->dirfd) != 0) {
		cmd_user_err(
		    err, errsz, "%s: fsync: %s", f->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* `petrel user list`: one line per account, never a hash. */
static int
cmd_user_list(const struct conf *c)
{
	struct auth_accounts *aa;
	struct cmd_user_file f;
	char err[1024];
	size_t i, j, n;

	if (cmd_user_open(c, false, &f, err, sizeof(err)) != 0 ||
	    auth_accounts_parse(f.path, buf_str(&f.text), f.text.len, &aa, err,
		sizeof(err)) != 0) {
		fprintf(stderr, "petrel: user: %s\n", err);
		cmd_user_close(&f);
		return 1;
	}
	n = auth_accounts_count(aa);
	for (i = 0; i < n; i++) {
		const struct auth_account *a = auth_accounts_get(aa, i);

		printf("%s login=%s scheme=%s scram=%s addresses=", a->address,
		    a->kind == AUTH_PW_DISABLED ? "disabled"
		    : auth_account_can_login(a) ? "yes"
						: "no",
		    auth_scheme_name(a->scheme), a->has_scram ? "yes" : "no");
		for (j = 0; j < a->naddresses; j++)
			printf("%s%s", j ? "," : "", a->addresses[j]);
		printf("%s\n", a->naddresses == 0 ? "-" : "");
	}
	auth_accounts_free(aa);
	cmd_user_close(&f);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* add, passwd, del. */
/*
 * Tells a running server to re-read the file now (control socket): the
 * change is in force when this returns. No server running is fine.
 */
static int
cmd_user_reload(const struct conf *c)
{
	char err[1024];

	switch (control_request(c->state_dir, "reload", stdout, err,
	    sizeof(err))) {
	case 0:
		printf("the running petrel has reloaded its accounts\n");
		return 0;
	case 1:
		fprintf(stderr, "petrel: user: the running petrel did not "
		    "reload: %s\n", err);
		return 1;
	default:
		printf("no running petrel reached (%s): the change applies "
		    "when it starts\n", err);
		return 0;
	}
}

static int
cmd_user_edit(const struct cmd_user_args *args, const struct conf *c)
{
	char pw[AUTH_PASSWORD_MAX + 1], hash[AUTH_HASH_NEW_MAX];
	char scram[AUTH_SCRAM_TEXT_MAX], err[1024];
	const struct auth_account *acc;
	struct auth_accounts *aa = NULL;
	struct cmd_user_file f;
	struct auth_edit e;
	struct buf out;
	size_t len;
	int rc = 1;

	memset(&e, 0, sizeof(e));
	buf_init(&out, CMD_USER_FILE_MAX);
	if (cmd_user_open(c, true, &f, err, sizeof(err)) != 0)
		goto fail;
	if (cmd_user_validate(c, f.path, &f.text, &aa, err, sizeof(err)) != 0) {
		fprintf(stderr,
		    "petrel: user: the file does not load; fix it "
		    "first: %s\n",
		    err);
		goto done;
	}
	acc = auth_accounts_find(aa, args->address);
	if (args->op == CMD_USER_ADD && acc != NULL) {
		cmd_user_err(err, sizeof(err),
		    "%s: account %s already exists "
		    "(line %u)",
		    f.path, acc->address, acc->line);
		goto fail;
	}
	if (args->op != CMD_USER_ADD && acc == NULL) {
		cmd_user_err(err, sizeof(err), "%s: no account %s", f.path,
		    args->address);
		goto fail;
	}

	e.address = args->address;
	e.addresses = args->extra;
	e.naddresses = args->nextra;
	if (args->op == CMD_USER_ADD)
		e.op = AUTH_EDIT_ADD;
	else if (args->op == CMD_USER_PASSWD)
		e.op = AUTH_EDIT_PASSWD;
	else
		e.op = AUTH_EDIT_DEL;
	if (e.op != AUTH_EDIT_DEL && !args->no_password) {
		if (cmd_user_get_password(
			args->address, pw, &len, err, sizeof(err)) != 0)
			goto fail;
		rc = cmd_user_hash(pw, len, hash, scram);
		explicit_bzero(pw, sizeof(pw));
		if (rc != 0) {
			cmd_user_err(
			    err, sizeof(err), "cannot hash the password");
			rc = 1;
			goto fail;
		}
		rc = 1;
		e.password = hash;
		e.scram = scram;
	}
	if (auth_accounts_edit(
		buf_str(&f.text), f.text.len, &e, &out, err, sizeof(err)) != 0)
		goto fail;
	if (cmd_user_validate(c, f.path, &out, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr,
		    "petrel: user: not written: the result would "
		    "not load: %s\n",
		    err);
		goto done;
	}
	if (cmd_user_write(&f, &out, err, sizeof(err)) != 0)
		goto fail;
	printf("%s %s in %s\n", args->op == CMD_USER_ADD ? "added" :
	    args->op == CMD_USER_PASSWD ? "changed the password of" :
	    "deleted", args->address, f.path);
	rc = cmd_user_reload(c);
	if (fflush(stdout) != 0)
		rc = 1;
	goto done;
fail:
	fprintf(stderr, "petrel: user: %s\n", err);
done:
	explicit_bzero(hash, sizeof(hash));
	explicit_bzero(scram, sizeof(scram));
	if (out.data != NULL)
		explicit_bzero(out.data, out.len);
	buf_clear(&out);
	auth_accounts_free(aa);
	cmd_user_close(&f);
	return rc;
}

int
cmd_user_main(int argc, char **argv)
{
	struct cmd_user_args args;
	char err[1024], address[AUTH_ADDRESS_MAX + 1];
	struct conf c;
	int rc;

	rc = cmd_user_parse_args(argc, argv, &args);
	if (rc != 0)
		return rc;
	/* Accounts are kept lower-case, as the tables compare them. */
	if (args.address != NULL) {
		size_t i, n = strnlen(args.address, AUTH_ADDRESS_MAX + 1);

		if (n > AUTH_ADDRESS_MAX) {
			fprintf(stderr, "petrel: user: address too long\n");
			return 1;
		}
		memcpy(address, args.address, n + 1);
		for (i = 0; i < n; i++)
			if (address[i] >= 'A' && address[i] <= 'Z')
				address[i] = (char)(address[i] - 'A' + 'a');
		args.address = address;
	}
	if (bundle_load_conf(args.config, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	if (args.op == CMD_USER_LIST)
		rc = cmd_user_list(&c);
	else
		rc = cmd_user_check_addresses(&args, &c);
	if (rc == 0 && args.op != CMD_USER_LIST)
		rc = cmd_user_edit(&args, &c);
	conf_free(&c);
	return rc;
}
