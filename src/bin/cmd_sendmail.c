/*
 * cmd_sendmail: `petrel sendmail`, also run as /usr/sbin/sendmail through
 * a symlink: the sendmail-compatible command that programs (cron, mail(1),
 * mutt, git send-email, PHP's mail()) use to submit a message on this
 * host. It is a client of the server's local submission socket
 * STATE/submit.sock, where the smtp process speaks plain ESMTP, takes the
 * client's uid from SO_PEERCRED, relays for anyone, and answers 250 to
 * the end of data only once the message is durable.
 *
 * What it does, in order:
 *  1. Options, sendmail style (clustered, "-oi", "-f addr" or "-faddr");
 *     harmless options that programs pass are accepted and ignored.
 *  2. The configuration text only (--config/-C, $PETREL_CONFIG,
 *     /etc/petrel/petrel.conf, or the embedded default): the socket is
 *     STATE/submit.sock, bare user names get "@hostname". The TLS key and
 *     the accounts are never read, so any user who can read the
 *     configuration file can submit.
 *  3. The message from stdin into an unlinked temporary file (bounded
 *     memory, and no server session held open while a slow program
 *     writes): line ends made CRLF, the header buffered (at most
 *     SENDMAIL_HEADER_MAX octets) to find recipients (-t), drop Bcc:,
 *     and add From: when missing. Its size, 8-bit content and need for
 *     SMTPUTF8 are then known before MAIL FROM.
 *  4. One SMTP transaction: MAIL (SIZE, BODY=8BITMIME, SMTPUTF8 as
 *     needed), RCPT per recipient (pipelined in batches), DATA with the
 *     file dot-stuffed. Exit 0 only on 250 after the final dot.
 *
 * Decisions (docs/operations.md has the user-facing version):
 *  - -t adds the To:/Cc:/Bcc: recipients to those on the command line, as
 *    Postfix does (Sendmail 8 and Exim instead remove command-line
 *    addresses from the list). If the header has any Resent- field, the
 *    Resent-To/Cc/Bcc fields are used instead (RFC 5322 3.6.6; Postfix
 *    and Sendmail agree).
 *  - Bcc: and Resent-Bcc: are removed always, not only with -t: mutt with
 *    write_bcc and others pass a Bcc: line and rely on the MTA to drop it.
 *  - All or nothing: if the server refuses any recipient, nothing is sent
 *    and the command fails (EX_NOUSER), so a program never has to guess
 *    who got the message.
 *  - Line ends: LF, CRLF, and CR runs before an LF are one line end. A CR
 *    not followed by LF (progress meters in cron output, old Mac text) is
 *    a line end too; the server refuses bare CRs (SMTP smuggling), and
 *    losing a cron mail over it helps nobody.
 *  - Without -i/-oi a line holding only "." ends the message (also at the
 *    end of input without a newline); other lines are taken as they are,
 *    with no dot-unstuffing (Postfix's behaviour).
 *  - A first line "From " (mbox separator) is dropped, as Postfix and
 *    Sendmail do. The header ends at an empty line or at the first line
 *    that is not a header field (an empty line is then inserted, as
 *    Sendmail does).
 *  - Date: and Message-ID: are the server's to add.
 *  - Exit codes (sysexits.h): 0 queued; EX_USAGE bad options or
 *    addresses on the command line, no recipients; EX_DATAERR bad
 *    addresses in the header, header too large, message too large, 5xx
 *    to MAIL or the data; EX_NOUSER 5xx to a RCPT; EX_TEMPFAIL cannot
 *    connect, connection lost, timeouts, any 4xx, temporary file
 *    problems; EX_UNAVAILABLE 5xx greeting, SMTPUTF8 needed but not
 *    offered; EX_PROTOCOL a malformed or unexpected reply; EX_CONFIG the
 *    configuration; EX_NOUSER/EX_OSERR the invoking user has no passwd
 *    entry; EX_IOERR reading stdin or writing stdout (-bs).
 *
 * Limits: header SENDMAIL_HEADER_MAX octets; message max-message-size of
 * the configuration; recipients max-recipients; reply lines
 * SENDMAIL_REPLY_LINE_MAX octets, SENDMAIL_REPLY_LINES_MAX per reply;
 * SENDMAIL_TIMEOUT_MS for each reply and each write.
 */
#include "bin/cmd_sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/conf.h"
#include "lib/buf.h"
#include "lib/fsio.h"
#include "lib/span.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "proto/base64.h"
#include "proto/rfc5322_addr.h"
#include "proto/smtp_path.h"

#define SENDMAIL_SYSTEM_CONF     "/etc/petrel/petrel.conf"
#define SENDMAIL_SOCKET          "submit.sock"
#define SENDMAIL_CONF_MAX        (16u * 1024 * 1024)
#define SENDMAIL_HEADER_MAX      (1024u * 1024) /* octets of header held */
#define SENDMAIL_NAME_MAX        998 /* a longer "name:" is not a field */
#define SENDMAIL_FULLNAME_MAX    256 /* octets of -F or gecos name used */
#define SENDMAIL_CHUNK           65536
#define SENDMAIL_REPLY_LINE_MAX  4096
#define SENDMAIL_REPLY_LINES_MAX 100
#define SENDMAIL_CMD_MAX         1024
#define SENDMAIL_BATCH           100 /* pipelined RCPTs between reads */
#define SENDMAIL_TIMEOUT_MS      (5 * 60 * 1000)
/* "local@domain" with a bare local part completed by the hostname. */
#define SENDMAIL_ADDR_MAX                                                      \
	(RFC5322_ADDR_LOCAL_MAX + 1 + RFC5322_ADDR_DOMAIN_MAX + 1)

/* Options that take a value (sendmail's and Postfix's letters). */
#define SENDMAIL_OPTS_VALUE "ABCFLNORVXbefhopr"

struct sendmail_rcpt {
	char addr[SENDMAIL_ADDR_MAX];
	bool utf8;
};

/* A header field in the header buffer. */
struct sendmail_field {
	size_t off;       /* start of the field's first line */
	size_t name_len;  /* octets of the name */
	size_t value_off; /* just after the ':' */
};

enum sendmail_hstate {
	SENDMAIL_H_BOL,      /* at the start of a header line */
	SENDMAIL_H_NAME,     /* in a field name */
	SENDMAIL_H_NAME_WSP, /* WSP between name and ':' (obs-optional) */
	SENDMAIL_H_FIELD,    /* in a field (or continuation), kept */
	SENDMAIL_H_EMPTY_CR, /* CR at the start of a line: the empty line */
	SENDMAIL_H_SKIP,     /* the "From " line at the start, dropped */
	SENDMAIL_H_BODY,     /* the header has ended */
};

struct sendmail {
	/* Options. */
	const char *config;
	bool extract;           /* -t */
	bool ignore_dots;       /* -i, -oi */
	bool verbose;           /* -v */
	bool smtp_mode;         /* -bs */
	const char *sender_opt; /* -f, -r; NULL: the invoking user */
	const char *full_name;  /* -F; NULL: from the passwd entry */
	char **rcpt_args;
	size_t nrcpt_args;

	/* Configuration. */
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *hostname;
	uint64_t max_size;
	unsigned max_rcpts;

	/* Envelope. */
	char sender[SENDMAIL_ADDR_MAX]; /* "" for the null sender */
	bool sender_utf8;
	char *gecos_name; /* from the passwd entry, or NULL */
	struct sendmail_rcpt *rcpts;
	size_t nrcpts;

	/* Input normaliser (stdin -> CRLF lines). */
	bool at_bol; /* at the start of an input line */
	bool cr;     /* CRs seen, their line end not yet emitted */
	bool dot;    /* the line so far is exactly "." (held back) */
	bool done;   /* a lone "." line ended the input */

	/* Header. */
	enum sendmail_hstate hstate;
	struct buf hdr;
	size_t line_start; /* offset in hdr of the current line */
	bool first_line;   /* still on the first line of the input */
	struct sendmail_field *fields;
	size_t nfields, fields_cap;
	bool hdr_8bit; /* non-ASCII in the header sent */

	/* The message as it will be sent (not dot-stuffed). */
	int fd;
	struct buf out;
	uint64_t size;
	bool eightbit;
};

/* One SMTP connection to the submission socket. */
struct sendmail_conn {
	int fd;
	bool verbose;
	const char *path;
	struct buf in;  /* received, not yet parsed */
	struct buf out; /* to send */
	bool lost;      /* failure was the connection, not the protocol */
	char why[512];
};

struct sendmail_reply {
	int code;
	struct buf text; /* the lines' text after "NNN-", '\n' between */
};

static void sendmail_die(int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

static void
sendmail_die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void sendmail_usage(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));

static void
sendmail_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: sendmail [-t] [-i] [-v] [-f sender] [-F name] "
	      "[-C file] [--] [recipient ...]\n"
	      "       sendmail -bs [-C file]\n"
	      "The message is read from standard input.\n",
	    stderr);
	exit(EX_USAGE);
}

/* Writes s to stderr with control characters shown as '?'. */
static void
sendmail_put_safe(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(c < 32 || c == 127 ? '?' : c, stderr);
	}
}

/* ---------------------------------------------------------------------
 * Options
 */

/* A -o option: only -oi means something; the rest are Sendmail tuning. */
static void
sendmail_opt_o(struct sendmail *sm, const char *v)
{
	if (strcmp(v, "i") == 0)
		sm->ignore_dots = true;
}

static void
sendmail_opt_value(struct sendmail *sm, char c, const char *v)
{
	switch (c) {
	case 'b':
		if (strcmp(v, "m") == 0)
			sm->smtp_mode = false;
		else if (strcmp(v, "s") == 0)
			sm->smtp_mode = true;
		else
			sendmail_usage("-b%s is not supported: only -bm (the "
				       "default) and -bs",
			    v);
		break;
	case 'C':
		sm->config = v;
		break;
	case 'F':
		sm->full_name = v;
		break;
	case 'f':
	case 'r': /* -r is the old name of -f */
		sm->sender_opt = v;
		break;
	case 'o':
		sendmail_opt_o(sm, v);
		break;
	case 'e':
		/* -e[mepqw]: old spelling of -oe, error reporting: ignored. */
	case 'A': /* -Am/-Ac: which sendmail.cf (Sendmail) */
	case 'B': /* body type: 8-bit content is detected instead */
	case 'h': /* hop count */
	case 'L': /* syslog label */
	case 'N': /* DSN NOTIFY: not passed on (yet) */
	case 'O': /* long option=value */
	case 'p': /* protocol[:host] */
	case 'R': /* DSN RET */
	case 'V': /* DSN ENVID */
	case 'X': /* traffic log file: never written */
		break;
	default:
		sendmail_usage("unknown option -%c", c);
	}
}

static void
sendmail_opt_flag(struct sendmail *sm, char c)
{
	switch (c) {
	case 't':
		sm->extract = true;
		break;
	case 'i':
		sm->ignore_dots = true;
		break;
	case 'v':
		sm->verbose = true;
		break;
	case 'G': /* gateway submission */
	case 'm': /* also send to me: always so */
	case 'n': /* no aliasing */
	case 'U': /* initial user submission */
		break;
	case 'I':
		sendmail_usage("-I (newaliases) is not supported: petrel "
			       "reads its aliases file at start and on "
			       "SIGHUP");
	case 'q':
		sendmail_usage("-q is not supported: petrel runs its queue "
			       "by itself");
	default:
		sendmail_usage("unknown option -%c", c);
	}
}

/*
 * Options and recipients, in any order (like GNU getopt's permutation,
 * which Postfix's sendmail gets); "--" ends the options.
 */
static void
sendmail_parse_args(struct sendmail *sm, int argc, char **argv)
{
	int i;

	sm->rcpt_args = xcalloc((size_t)argc + 1, sizeof(char *));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *p;

		if (strcmp(a, "--") == 0) {
			while (++i < argc)
				sm->rcpt_args[sm->nrcpt_args++] = argv[i];
			break;
		}
		if (strcmp(a, "--config") == 0) {
			if (i + 1 >= argc)
				sendmail_usage("--config needs a file name");
			sm->config = argv[++i];
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0) {
			sm->config = a + 9;
			continue;
		}
		if (a[0] != '-') {
			sm->rcpt_args[sm->nrcpt_args++] = argv[i];
			continue;
		}
		if (a[1] == '\0' || a[1] == '-')
			sendmail_usage("unknown option %s", a);
		for (p = a + 1; *p != '\0'; p++) {
			if (strchr(SENDMAIL_OPTS_VALUE, *p) != NULL) {
				const char *v = p + 1;

				if (*v == '\0') {
					if (i + 1 >= argc)
						sendmail_usage("option -%c "
							       "needs a value",
						    *p);
					v = argv[++i];
				}
				sendmail_opt_value(sm, *p, v);
				break;
			}
			sendmail_opt_flag(sm, *p);
		}
	}
}

/* ---------------------------------------------------------------------
 * Configuration: the text only.
 */

static void
sendmail_read_file(const char *path, struct buf *b)
{
	char chunk[SENDMAIL_CHUNK];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		sendmail_die(EX_CONFIG, "cannot read the configuration %s: %s",
		    path, strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sendmail_die(EX_CONFIG, "cannot read %s: %s", path,
			    strerror(errno));
		if (buf_append(b, chunk, (size_t)n) != 0)
			sendmail_die(EX_CONFIG, "%s: file too large", path);
	}
	close(fd);
}

/*
 * Finds the configuration as `petrel serve` would (see the file comment)
 * and keeps what sendmail needs from it.
 */
static void
sendmail_load_conf(struct sendmail *sm)
{
	const char *path = sm->config;
	char base[PATH_MAX], err[1024];
	const char *name, *text;
	struct buf file;
	struct conf c;
	size_t len;
	int n;

	if (path == NULL) {
		const char *env = getenv("PETREL_CONFIG");

		if (env != NULL && *env != '\0')
			path = env;
		else if (access(SENDMAIL_SYSTEM_CONF, F_OK) == 0)
			path = SENDMAIL_SYSTEM_CONF;
	}
	buf_init(&file, SENDMAIL_CONF_MAX);
	if (path != NULL) {
		char resolved[PATH_MAX];

		sendmail_read_file(path, &file);
		if (realpath(path, resolved) == NULL)
			sendmail_die(
			    EX_CONFIG, "%s: %s", path, strerror(errno));
		if (snprintf(base, sizeof(base), "%s", dirname(resolved)) >=
		    (int)sizeof(base))
			sendmail_die(EX_CONFIG, "%s: path too long", path);
		name = path;
		text = buf_str(&file);
		len = file.len;
	} else {
		if (getcwd(base, sizeof(base)) == NULL)
			sendmail_die(EX_CONFIG, "getcwd: %s", strerror(errno));
		name = "(embedded default)";
		text = conf_default_text();
		len = strlen(text);
	}
	if (conf_parse(name, text, len, base, &c, err, sizeof(err)) != 0)
		sendmail_die(EX_CONFIG, "%s", err);
	buf_clear(&file);

	n = snprintf(sm->sock_path, sizeof(sm->sock_path), "%s/%s", c.state_dir,
	    SENDMAIL_SOCKET);
	if (n < 0 || (size_t)n >= sizeof(sm->sock_path))
		sendmail_die(EX_CONFIG, "%s/%s: path too long for a socket",
		    c.state_dir, SENDMAIL_SOCKET);
	sm->hostname = xstrdup(c.hostname);
	sm->max_size = c.max_message_size;
	sm->max_rcpts = c.max_recipients;
	conf_free(&c);
}

/* ---------------------------------------------------------------------
 * Addresses
 */

/*
 * Is addr ("local@domain" or "" with null_ok) a path the server takes?
 * The same strict parser as the server's (RFC 5321 4.1.2), so what passes
 * here is not refused for syntax there.
 */
static const char *
sendmail_addr_check(const char *addr, bool null_ok)
{
	char path[SENDMAIL_ADDR_MAX + 2];
	struct smtp_path sp;
	struct span rest;
	int n, r;

	n = snprintf(path, sizeof(path), "<%s>", addr);
	if (n < 0 || (size_t)n >= sizeof(path))
		return "address too long";
	r = smtp_path_parse(span_make(path, (size_t)n),
	    SMTP_PATH_F_UTF8 | (null_ok ? SMTP_PATH_F_NULL : 0), &sp, &rest);
	if (r == SMTP_PATH_TOOLONG)
		return "address too long (RFC 5321: local part 64, domain "
		       "255, path 256 octets)";
	if (r != SMTP_PATH_OK || rest.n != 0)
		return "not a valid SMTP address";
	return NULL;
}

/* "local@domain" from a parsed address; bare ones get "@hostname". */
static void
sendmail_addr_full(const struct sendmail *sm, const struct rfc5322_addr *a,
    char *out, size_t outsz)
{
	int n;

	if (a->no_domain)
		n = snprintf(out, outsz, "%s@%s", a->addr, sm->hostname);
	else
		n = snprintf(out, outsz, "%s", a->addr);
	if (n < 0 || (size_t)n >= outsz)
		out[0] = '\0'; /* refused by sendmail_addr_check() */
}

static bool
sendmail_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* Where recipients come from, for messages and exit codes. */
struct sendmail_source {
	struct sendmail *sm;
	const char *what; /* "argument 'x'", "the To: field" */
	int code;         /* exit code for bad addresses */
};

static int
sendmail_rcpt_add(const struct rfc5322_addr *a, void *arg)
{
	struct sendmail_source *src = arg;
	struct sendmail *sm = src->sm;
	struct sendmail_rcpt r;
	const char *why;
	size_t i, at;

	memset(&r, 0, sizeof(r));
	sendmail_addr_full(sm, a, r.addr, sizeof(r.addr));
	if ((why = sendmail_addr_check(r.addr, false)) != NULL)
		sendmail_die(src->code, "bad recipient %s in %s: %s", a->addr,
		    src->what, why);
	r.utf8 = sendmail_has_8bit(r.addr);

	/* The same mailbox twice gets one copy (domains in any case). */
	at = strrchr(r.addr, '@') - r.addr;
	for (i = 0; i < sm->nrcpts; i++) {
		const char *o = sm->rcpts[i].addr;

		if (strncmp(o, r.addr, at + 1) == 0 &&
		    strcasecmp(o + at + 1, r.addr + at + 1) == 0)
			return 0;
	}
	if (sm->nrcpts >= sm->max_rcpts)
		sendmail_die(src->code,
		    "too many recipients (more than %u, "
		    "the max-recipients setting)",
		    sm->max_rcpts);
	sm->rcpts = xreallocarray(sm->rcpts, sm->nrcpts + 1, sizeof(r));
	sm->rcpts[sm->nrcpts++] = r;
	return 0;
}

/* Adds the addresses of one address list (argument or field body). */
static void
sendmail_rcpt_list(
    struct sendmail *sm, struct span list, const char *what, int code)
{
	struct sendmail_source src = {sm, what, code};
	struct rfc5322_addr_error err;
	int r;

	r = rfc5322_addr_parse(list,
	    RFC5322_ADDR_F_LENIENT | RFC5322_ADDR_F_BARE_LOCAL,
	    sendmail_rcpt_add, &src, &err);
	if (r != RFC5322_ADDR_OK)
		sendmail_die(code,
		    "cannot use the addresses in %s: %s: %s "
		    "(at octet %zu)",
		    what, rfc5322_addr_strerror(r), err.why, err.pos);
}

static int
sendmail_sender_one(const struct rfc5322_addr *a, void *arg)
{
	struct sendmail *sm = arg;

	if (sm->sender[0] != '\0')
		sendmail_usage("-f takes one address");
	sendmail_addr_full(sm, a, sm->sender, sizeof(sm->sender));
	if (sm->sender[0] == '\0')
		sendmail_usage("-f: address too long");
	return 0;
}

/* A login name as a local part: a dot-atom as it is, else quoted. */
static void
sendmail_login_local(const char *login, struct buf *b)
{
	size_t n = strlen(login), i;
	bool atom = n > 0 && login[0] != '.' && login[n - 1] != '.' &&
		    strstr(login, "..") == NULL;

	for (i = 0; i < n && atom; i++) {
		unsigned char c = (unsigned char)login[i];

		atom = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		       (c >= '0' && c <= '9') ||
		       strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
	}
	if (atom) {
		(void)buf_puts(b, login);
		return;
	}
	(void)buf_putc(b, '"');
	for (i = 0; i < n; i++) {
		if (login[i] == '"' || login[i] == '\\')
			(void)buf_putc(b, '\\');
		(void)buf_putc(b, login[i]);
	}
	(void)buf_putc(b, '"');
}

/*
 * The envelope sender: -f (one address, "" or "<>" for the null sender),
 * else the invoking user's login name at the hostname. Also keeps the
 * gecos full name for an added From:.
 */
static void
sendmail_set_sender(struct sendmail *sm)
{
	struct passwd *pw;
	const char *why;

	errno = 0;
	pw = getpwuid(getuid());
	if (pw != NULL && pw->pw_gecos != NULL && pw->pw_gecos[0] != '\0')
		sm->gecos_name =
		    xstrndup(pw->pw_gecos, strcspn(pw->pw_gecos, ","));

	if (sm->sender_opt != NULL) {
		struct rfc5322_addr_error err;
		const char *f = sm->sender_opt;
		int r;

		if (f[0] == '\0' || strcmp(f, "<>") == 0)
			return; /* the null sender */
		r = rfc5322_addr_parse(span_cstr(f),
		    RFC5322_ADDR_F_LENIENT | RFC5322_ADDR_F_BARE_LOCAL,
		    sendmail_sender_one, sm, &err);
		if (r != RFC5322_ADDR_OK)
			sendmail_usage("bad sender address '%s': %s: %s", f,
			    rfc5322_addr_strerror(r), err.why);
		if (sm->sender[0] == '\0')
			sendmail_usage("-f '%s' holds no address", f);
		if ((why = sendmail_addr_check(sm->sender, false)) != NULL)
			sendmail_usage("bad sender address '%s': %s", f, why);
	} else {
		struct buf b;
		int n;

		if (pw == NULL)
			sendmail_die(EX_NOUSER,
			    "who are you? uid %lu has no "
			    "passwd entry; use -f sender",
			    (unsigned long)getuid());
		buf_init(&b, SENDMAIL_ADDR_MAX);
		sendmail_login_local(pw->pw_name, &b);
		n = snprintf(sm->sender, sizeof(sm->sender), "%s@%s",
		    buf_str(&b), sm->hostname);
		if (n < 0 || (size_t)n >= sizeof(sm->sender))
			sm->sender[0] = '\0';
		buf_clear(&b);
		if (sm->sender[0] == '\0' ||
		    sendmail_addr_check(sm->sender, false) != NULL)
			sendmail_die(EX_USAGE,
			    "cannot make a sender address "
			    "of the user name '%s'; use -f "
			    "sender",
			    pw->pw_name);
	}
	sm->sender_utf8 = sendmail_has_8bit(sm->sender);
}

/* ---------------------------------------------------------------------
 * The added From: field
 */

/* The full name made safe for a header: no controls, trimmed, bounded. */
static void
sendmail_clean_name(const char *in, struct buf *out)
{
	size_t n = strlen(in), i, end;

	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	for (i = 0; i < n && (in[i] == ' ' || in[i] == '\t'); i++)
		;
	end = n;
	if (end - i > SENDMAIL_FULLNAME_MAX)
		end = i + SENDMAIL_FULLNAME_MAX;
	while (i < end) {
		unsigned char c = (unsigned char)in[i];
		size_t k = 1;

		if (c >= 0x80) {
			k = utf8_seq_len(
			    (const unsigned char *)in + i, end - i);
			if (k == 0) {
				(void)buf_putc(out, '?');
				i++;
				continue;
			}
			(void)buf_append(out, in + i, k);
		} else {
			(void)buf_putc(out, c < 32 || c == 127 ? ' ' : (char)c);
		}
		i += k;
	}
}

/*
 * A display name (RFC 5322 3.4 phrase): atoms as they are, other ASCII as
 * a quoted-string, non-ASCII as RFC 2047 "B" encoded words of at most 45
 * octets each (75 characters), folded between words.
 */
static void
sendmail_put_phrase(struct buf *out, const char *name)
{
	size_t n = strlen(name), i;
	bool atoms = true, ascii = true;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x80)
			ascii = false;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == ' ' ||
			     strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL))
			atoms = false;
	}
	if (ascii && atoms) {
		(void)buf_puts(out, name);
	} else if (ascii) {
		(void)buf_putc(out, '"');
		for (i = 0; i < n; i++) {
			if (name[i] == '"' || name[i] == '\\')
				(void)buf_putc(out, '\\');
			(void)buf_putc(out, name[i]);
		}
		(void)buf_putc(out, '"');
	} else {
		char enc[64];

		for (i = 0; i < n;) {
			size_t k = 0;

			/* Whole UTF-8 characters, 45 octets at most. */
			while (i + k < n) {
				size_t c =
				    (unsigned char)name[i + k] < 0x80
					? 1
					: utf8_seq_len(
					      (const unsigned char *)name + i +
						  k,
					      n - i - k);
				if (c == 0)
					c = 1;
				if (k + c > 45)
					break;
				k += c;
			}
			if (k == 0)
				break; /* cannot happen: a character is <= 4 */
			if (i > 0)
				(void)buf_puts(out, "\r\n ");
			(void)base64_encode(name + i, k, enc);
			(void)buf_printf(out, "=?UTF-8?B?%s?=", enc);
			i += k;
		}
	}
}

/* "From: NAME <sender>\r\n" (see the file comment for NAME). */
static void
sendmail_from_field(struct sendmail *sm, struct buf *out)
{
	const char *raw =
	    sm->full_name != NULL ? sm->full_name : sm->gecos_name;
	struct buf name;
	char null_from[SENDMAIL_ADDR_MAX];
	const char *addr = sm->sender;

	if (addr[0] == '\0') {
		if (snprintf(null_from, sizeof(null_from), "MAILER-DAEMON@%s",
			sm->hostname) >= (int)sizeof(null_from))
			null_from[0] = '\0';
		addr = null_from;
	}
	buf_init(&name, 4 * SENDMAIL_FULLNAME_MAX);
	if (raw != NULL)
		sendmail_clean_name(raw, &name);
	(void)buf_puts(out, "From: ");
	if (name.len > 0) {
		sendmail_put_phrase(out, buf_str(&name));
		(void)buf_printf(out, " <%s>\r\n", addr);
	} else {
		(void)buf_printf(out, "%s\r\n", addr);
	}
	buf_clear(&name);
}

/* ---------------------------------------------------------------------
 * The message: stdin -> normaliser -> header -> temporary file
 */

static int
sendmail_tmpfile(void)
{
	const char *dir = getenv("TMPDIR");
	char path[PATH_MAX];
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
		sendmail_die(EX_TEMPFAIL,
		    "cannot create a temporary file in "
		    "%s: %s",
		    dir, strerror(errno));
	/* No O_TMPFILE here: a named file, unlinked at once. */
	if (snprintf(path, sizeof(path), "%s/petrel-sendmail.XXXXXX", dir) >=
	    (int)sizeof(path))
		sendmail_die(EX_TEMPFAIL, "%s: path too long", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) < 0)
		sendmail_die(EX_TEMPFAIL,
		    "cannot create a temporary file in "
		    "%s: %s",
		    dir, strerror(errno));
	(void)unlink(path);
	return fd;
}

static void
sendmail_out_flush(struct sendmail *sm)
{
	if (sm->out.len == 0)
		return;
	if (fsio_write_all(sm->fd, sm->out.data, sm->out.len) != 0)
		sendmail_die(EX_TEMPFAIL, "cannot write the temporary file: %s",
		    strerror(errno));
	buf_reset(&sm->out);
}

/* Appends to the message as it will be sent. */
static void
sendmail_out(struct sendmail *sm, const char *p, size_t n)
{
	if (sm->max_size - sm->size < n)
		sendmail_die(EX_DATAERR,
		    "message too large: more than %llu "
		    "octets (max-message-size)",
		    (unsigned long long)sm->max_size);
	sm->size += n;
	if (buf_append(&sm->out, p, n) != 0) {
		sendmail_out_flush(sm);
		if (n >= SENDMAIL_CHUNK) {
			if (fsio_write_all(sm->fd, p, n) != 0)
				sendmail_die(EX_TEMPFAIL,
				    "cannot write the "
				    "temporary file: %s",
				    strerror(errno));
			return;
		}
		(void)buf_append(&sm->out, p, n);
	}
	if (sm->out.len >= SENDMAIL_CHUNK)
		sendmail_out_flush(sm);
}

static bool
sendmail_name_is(
    const struct sendmail *sm, const struct sendmail_field *f, const char *lit)
{
	return span_eq_ci(span_make(sm->hdr.data + f->off, f->name_len), lit);
}

/*
 * The header is complete (hdr holds whole field lines): take recipients
 * (-t), write it without Bcc:, add From:, and the empty line when blank.
 */
static void
sendmail_header_done(struct sendmail *sm, bool blank)
{
	static const char *const plain[] = {"to", "cc", "bcc"};
	static const char *const resent[] = {
	    "resent-to", "resent-cc", "resent-bcc"};
	const char *const *want = plain;
	bool has_from = false, is_resent = false;
	size_t i, k;

	sm->hstate = SENDMAIL_H_BODY;
	for (i = 0; i < sm->nfields; i++) {
		const struct sendmail_field *f = &sm->fields[i];

		if (span_prefix_ci(
			span_make(sm->hdr.data + f->off, f->name_len),
			"resent-"))
			is_resent = true;
		if (sendmail_name_is(sm, f, "from"))
			has_from = true;
	}
	if (is_resent)
		want = resent;
	for (i = 0; i < sm->nfields; i++) {
		const struct sendmail_field *f = &sm->fields[i];
		size_t end =
		    i + 1 < sm->nfields ? sm->fields[i + 1].off : sm->hdr.len;
		bool bcc = sendmail_name_is(sm, f, "bcc") ||
			   sendmail_name_is(sm, f, "resent-bcc");

		for (k = 0; k < 3 && sm->extract; k++) {
			char what[64];

			if (!sendmail_name_is(sm, f, want[k]))
				continue;
			(void)snprintf(what, sizeof(what), "the %.*s: field",
			    (int)f->name_len, sm->hdr.data + f->off);
			sendmail_rcpt_list(sm,
			    span_make(sm->hdr.data + f->value_off,
				end - f->value_off),
			    what, EX_DATAERR);
		}
		if (bcc)
			continue;
		for (k = f->off; k < end && !sm->hdr_8bit; k++)
			if ((unsigned char)sm->hdr.data[k] >= 0x80)
				sm->hdr_8bit = true;
		sendmail_out(sm, sm->hdr.data + f->off, end - f->off);
	}
	if (!has_from) {
		struct buf from;

		buf_init(&from, 8192);
		sendmail_from_field(sm, &from);
		sendmail_out(sm, from.data, from.len);
		buf_clear(&from);
	}
	if (blank)
		sendmail_out(sm, "\r\n", 2);
	buf_clear(&sm->hdr);
}

/* Drops the current line from the header buffer. */
static void
sendmail_hdr_cut(struct sendmail *sm)
{
	if (sm->hdr.data != NULL) {
		sm->hdr.len = sm->line_start;
		sm->hdr.data[sm->hdr.len] = '\0'; /* keep buf's invariant */
	}
}

/*
 * The current line is not a header field: the header ends before it and
 * the line so far (hdr from line_start) plus c starts the body.
 */
static void
sendmail_header_not_field(struct sendmail *sm, unsigned char c)
{
	char part[SENDMAIL_NAME_MAX + 8];
	size_t n = sm->hdr.len - sm->line_start;

	if (n > sizeof(part))
		abort(); /* names and their WSP are capped below that */
	if (n > 0)
		memcpy(part, sm->hdr.data + sm->line_start, n);
	sendmail_hdr_cut(sm);
	sendmail_header_done(sm, true);
	sendmail_out(sm, part, n);
	sendmail_out(sm, (const char *)&c, 1);
}

static void
sendmail_hdr_put(struct sendmail *sm, unsigned char c)
{
	if (buf_putc(&sm->hdr, (char)c) != 0)
		sendmail_die(EX_DATAERR,
		    "message header too large (more than "
		    "%u octets)",
		    SENDMAIL_HEADER_MAX);
}

static bool
sendmail_is_ftext(unsigned char c)
{
	/* ftext = %d33-57 / %d59-126 (RFC 5322 3.6.8) */
	return c >= 33 && c <= 126 && c != ':';
}

/* A ':' after a name: one more field. */
static void
sendmail_field_start(struct sendmail *sm, size_t name_len)
{
	struct sendmail_field *f;

	if (sm->nfields == sm->fields_cap) {
		sm->fields_cap = sm->fields_cap ? 2 * sm->fields_cap : 32;
		sm->fields = xreallocarray(
		    sm->fields, sm->fields_cap, sizeof(*sm->fields));
	}
	f = &sm->fields[sm->nfields++];
	f->off = sm->line_start;
	f->name_len = name_len;
	f->value_off = sm->hdr.len;
}

/* One octet of the normalised message (CRLF line ends). */
static void
sendmail_byte(struct sendmail *sm, unsigned char c)
{
	size_t line;

	if (c >= 0x80)
		sm->eightbit = true;
	switch (sm->hstate) {
	case SENDMAIL_H_BODY:
		sendmail_out(sm, (const char *)&c, 1);
		return;
	case SENDMAIL_H_BOL:
		sm->line_start = sm->hdr.len;
		if (c == '\r') {
			sm->hstate = SENDMAIL_H_EMPTY_CR;
		} else if ((c == ' ' || c == '\t') && sm->nfields > 0) {
			sendmail_hdr_put(sm, c); /* folded field */
			sm->hstate = SENDMAIL_H_FIELD;
		} else if (sendmail_is_ftext(c)) {
			sendmail_hdr_put(sm, c);
			sm->hstate = SENDMAIL_H_NAME;
		} else {
			sendmail_header_not_field(sm, c);
		}
		return;
	case SENDMAIL_H_EMPTY_CR:
		/* The normaliser always sends CR LF. */
		sendmail_header_done(sm, true);
		return;
	case SENDMAIL_H_NAME:
		line = sm->hdr.len - sm->line_start;
		if (c == ':') {
			sendmail_hdr_put(sm, c);
			sendmail_field_start(sm, line);
			sm->hstate = SENDMAIL_H_FIELD;
		} else if (c == ' ' && sm->first_line && line == 4 &&
			   memcmp(sm->hdr.data + sm->line_start, "From", 4) ==
			       0) {
			/* The mbox "From " line: dropped. */
			sendmail_hdr_cut(sm);
			sm->hstate = SENDMAIL_H_SKIP;
		} else if (sendmail_is_ftext(c) && line < SENDMAIL_NAME_MAX) {
			sendmail_hdr_put(sm, c);
		} else if ((c == ' ' || c == '\t') &&
			   line < SENDMAIL_NAME_MAX) {
			sendmail_hdr_put(sm, c);
			sm->hstate = SENDMAIL_H_NAME_WSP;
		} else {
			sendmail_header_not_field(sm, c);
		}
		return;
	case SENDMAIL_H_NAME_WSP:
		line = sm->hdr.len - sm->line_start;
		if (c == ':') {
			size_t name = line;

			while (
			    name > 0 &&
			    (sm->hdr.data[sm->line_start + name - 1] == ' ' ||
				sm->hdr.data[sm->line_start + name - 1] ==
				    '\t'))
				name--;
			sendmail_hdr_put(sm, c);
			sendmail_field_start(sm, name);
			sm->hstate = SENDMAIL_H_FIELD;
		} else if ((c == ' ' || c == '\t') &&
			   line < SENDMAIL_NAME_MAX) {
			sendmail_hdr_put(sm, c);
		} else {
			sendmail_header_not_field(sm, c);
		}
		return;
	case SENDMAIL_H_FIELD:
		sendmail_hdr_put(sm, c);
		if (c == '\n') {
			sm->hstate = SENDMAIL_H_BOL;
			sm->first_line = false;
		}
		return;
	case SENDMAIL_H_SKIP:
		if (c == '\n') {
			sm->hstate = SENDMAIL_H_BOL;
			sm->first_line = false;
		}
		return;
	}
}

/* A line end of the input: CRLF out, or the end at a lone ".". */
static void
sendmail_line_end(struct sendmail *sm)
{
	if (sm->dot) {
		sm->dot = false;
		sm->done = true;
		return;
	}
	sendmail_byte(sm, '\r');
	sendmail_byte(sm, '\n');
	sm->at_bol = true;
}

/*
 * One octet of stdin. Line ends: CR* LF, and CR+ before anything else
 * (see the file comment). Without -i a line "." ends the input; its dot
 * is held back until the next octet shows whether it is alone.
 */
static void
sendmail_input(struct sendmail *sm, unsigned char c)
{
	if (sm->cr) {
		if (c == '\r')
			return;
		sm->cr = false;
		sendmail_line_end(sm);
		if (c == '\n' || sm->done)
			return;
	}
	if (c == '\r') {
		sm->cr = true;
		return;
	}
	if (c == '\n') {
		sendmail_line_end(sm);
		return;
	}
	if (sm->at_bol && c == '.' && !sm->ignore_dots) {
		sm->at_bol = false;
		sm->dot = true;
		return;
	}
	if (sm->dot) {
		sm->dot = false;
		sendmail_byte(sm, '.');
	}
	sm->at_bol = false;
	sendmail_byte(sm, c);
}

/* Reads the whole message from stdin into the temporary file. */
static void
sendmail_read_message(struct sendmail *sm)
{
	char chunk[SENDMAIL_CHUNK];
	ssize_t n, i;

	sm->fd = sendmail_tmpfile();
	buf_init(&sm->out, 2 * SENDMAIL_CHUNK);
	buf_init(&sm->hdr, SENDMAIL_HEADER_MAX);
	sm->hstate = SENDMAIL_H_BOL;
	sm->at_bol = true;
	sm->first_line = true;
	while (!sm->done) {
		n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sendmail_die(EX_IOERR, "reading the message: %s",
			    strerror(errno));
		if (n == 0)
			break;
		for (i = 0; i < n && !sm->done; i++)
			sendmail_input(sm, (unsigned char)chunk[i]);
	}
	/* End of input: pending CRs are a line end, "." alone ends it. */
	if (!sm->done && sm->cr) {
		sm->cr = false;
		sendmail_line_end(sm);
	}
	if (!sm->done && sm->dot) {
		sm->dot = false; /* "." at the very end, no line end */
		sm->done = true;
	}
	if (!sm->at_bol)
		sendmail_line_end(sm); /* a final CRLF when missing */
	if (sm->hstate != SENDMAIL_H_BODY)
		sendmail_header_done(sm, false);
	sendmail_out_flush(sm);
	buf_clear(&sm->out);
	free(sm->fields);
	sm->fields = NULL;
}

/* ---------------------------------------------------------------------
 * SMTP over the submission socket
 */

static void sendmail_conn_fail(struct sendmail_conn *c, bool lost,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
sendmail_conn_fail(struct sendmail_conn *c, bool lost, const char *fmt, ...)
{
	va_list ap;

	c->lost = lost;
	va_start(ap, fmt);
	(void)vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

static int
sendmail_conn_open(struct sendmail_conn *c, const char *path, bool verbose)
{
	struct sockaddr_un sun;
	struct timeval tv = {SENDMAIL_TIMEOUT_MS / 1000, 0};

	memset(c, 0, sizeof(*c));
	c->path = path;
	c->verbose = verbose;
	buf_init(&c->in, 2 * SENDMAIL_CHUNK);
	buf_init(&c->out, 4 * SENDMAIL_CHUNK);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1); /* length checked */
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		sendmail_conn_fail(c, true, "cannot connect to %s: %s%s", path,
		    strerror(errno),
		    errno == ENOENT || errno == ECONNREFUSED
			? " (is petrel running?)"
			: "");
		return -1;
	}
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (verbose)
		fprintf(stderr, "connected to %s\n", path);
	return 0;
}

static void
sendmail_conn_close(struct sendmail_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_clear(&c->in);
	buf_clear(&c->out);
}

/* Sends what is queued in c->out. */
static int
sendmail_conn_flush(struct sendmail_conn *c)
{
	size_t off = 0;

	while (off < c->out.len) {
		ssize_t n = send(
		    c->fd, c->out.data + off, c->out.len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sendmail_conn_fail(c, true, "connection to %s lost: %s",
			    c->path,
			    errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	buf_reset(&c->out);
	return 0;
}

/* Queues one command line (CRLF added); -v shows it. */
static int sendmail_conn_cmd(struct sendmail_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
sendmail_conn_cmd(struct sendmail_conn *c, const char *fmt, ...)
{
	char line[SENDMAIL_CMD_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		abort(); /* addresses are bounded far below */
	if (c->verbose)
		fprintf(stderr, ">>> %s\n", line);
	if (buf_append(&c->out, line, (size_t)n) != 0 ||
	    buf_append(&c->out, "\r\n", 2) != 0) {
		if (sendmail_conn_flush(c) != 0)
			return -1;
		(void)buf_append(&c->out, line, (size_t)n);
		(void)buf_append(&c->out, "\r\n", 2);
	}
	return 0;
}

/* Reads one line (without CRLF) into line; bounded. */
static int
sendmail_conn_line(struct sendmail_conn *c, struct buf *line)
{
	for (;;) {
		const char *crlf =
		    c->in.len > 0 ? memmem(c->in.data, c->in.len, "\r\n", 2)
				  : NULL;
		struct pollfd pfd = {c->fd, POLLIN, 0};
		char chunk[SENDMAIL_CHUNK];
		ssize_t n;
		int pr;

		if (crlf != NULL) {
			size_t len = (size_t)(crlf - c->in.data);

			if (len > SENDMAIL_REPLY_LINE_MAX)
				break;
			buf_reset(line);
			(void)buf_append(line, c->in.data, len);
			buf_consume(&c->in, len + 2);
			return 0;
		}
		if (c->in.len > SENDMAIL_REPLY_LINE_MAX)
			break;
		pr = poll(&pfd, 1, SENDMAIL_TIMEOUT_MS);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0) {
			sendmail_conn_fail(c, true,
			    "%s: no answer for %d "
			    "seconds",
			    c->path, SENDMAIL_TIMEOUT_MS / 1000);
			return -1;
		}
		n = read(c->fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sendmail_conn_fail(c, true, "connection to %s lost: %s",
			    c->path,
			    n == 0 ? "closed by the server" : strerror(errno));
			return -1;
		}
		if (buf_append(&c->in, chunk, (size_t)n) != 0)
			break;
	}
	sendmail_conn_fail(c, false, "%s: reply line too long", c->path);
	return -1;
}

/*
 * One reply (RFC 5321 4.2): lines "NNN-text", the last "NNN text" or
 * "NNN"; one code throughout, 2xx-5xx.
 */
static int
sendmail_conn_reply(struct sendmail_conn *c, struct sendmail_reply *r)
{
	struct buf line;
	unsigned nlines = 0;
	int rc = -1;

	r->code = 0;
	buf_reset(&r->text);
	buf_init(&line, SENDMAIL_REPLY_LINE_MAX + 1);
	for (;;) {
		const char *s;
		int code;

		if (sendmail_conn_line(c, &line) != 0)
			break;
		s = buf_str(&line);
		if (c->verbose) {
			fputs("<<< ", stderr);
			sendmail_put_safe(s, line.len);
			fputc('\n', stderr);
		}
		if (line.len < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' ||
		    s[1] > '9' || s[2] < '0' || s[2] > '9' ||
		    (line.len > 3 && s[3] != ' ' && s[3] != '-')) {
			sendmail_conn_fail(c, false,
			    "%s: malformed reply "
			    "line",
			    c->path);
			break;
		}
		code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
		if (r->code != 0 && code != r->code) {
			sendmail_conn_fail(c, false,
			    "%s: reply code changed "
			    "inside a reply",
			    c->path);
			break;
		}
		r->code = code;
		if (nlines++ > 0)
			(void)buf_putc(&r->text, '\n');
		if (line.len > 4)
			(void)buf_append(&r->text, s + 4, line.len - 4);
		if (line.len == 3 || s[3] == ' ') {
			rc = 0;
			break;
		}
		if (nlines >= SENDMAIL_REPLY_LINES_MAX) {
			sendmail_conn_fail(c, false,
			    "%s: reply with too many "
			    "lines",
			    c->path);
			break;
		}
	}
	buf_clear(&line);
	return rc;
}

/* Prints "sendmail: WHAT: CODE TEXT" for each line of a reply. */
static void
sendmail_print_reply(const char *what, const struct sendmail_reply *r)
{
	const char *p = buf_str(&r->text), *nl;

	do {
		nl = strchr(p, '\n');
		fprintf(stderr, "sendmail: %s: %d ", what, r->code);
		sendmail_put_safe(p, nl != NULL ? (size_t)(nl - p) : strlen(p));
		fputc('\n', stderr);
		p = nl + 1;
	} while (nl != NULL);
}

/* The transaction state during submission. */
struct sendmail_smtp {
	struct sendmail *sm;
	struct sendmail_conn c;
	struct sendmail_reply r;
	bool pipelining, eightbitmime, smtputf8, size;
};

static void sendmail_smtp_die(struct sendmail_smtp *t, int code)
    __attribute__((noreturn));

/* The connection broke or the server made no sense: say so, exit. */
static void
sendmail_smtp_die(struct sendmail_smtp *t, int code)
{
	fprintf(stderr, "sendmail: %s\n", t->c.why);
	sendmail_conn_close(&t->c);
	exit(t->c.lost ? EX_TEMPFAIL : code);
}

/*
 * Ends the session politely (QUIT) and exits: EX_TEMPFAIL for a 4xx
 * code, perm for a 5xx code, EX_PROTOCOL for anything else.
 */
static void sendmail_smtp_exit(struct sendmail_smtp *t, int code, int perm)
    __attribute__((noreturn));

static void
sendmail_smtp_exit(struct sendmail_smtp *t, int code, int perm)
{
	if (sendmail_conn_cmd(&t->c, "QUIT") == 0 &&
	    sendmail_conn_flush(&t->c) == 0)
		(void)sendmail_conn_reply(&t->c, &t->r);
	sendmail_conn_close(&t->c);
	if (code >= 400 && code < 500)
		exit(EX_TEMPFAIL);
	exit(code >= 500 && code < 600 ? perm : EX_PROTOCOL);
}

/* The server refused: print its reply and exit (sendmail_smtp_exit). */
static void sendmail_smtp_refused(struct sendmail_smtp *t, const char *what,
    int perm) __attribute__((noreturn));

static void
sendmail_smtp_refused(struct sendmail_smtp *t, const char *what, int perm)
{
	sendmail_print_reply(what, &t->r);
	sendmail_smtp_exit(t, t->r.code, perm);
}

static void
sendmail_smtp_read(struct sendmail_smtp *t)
{
	if (sendmail_conn_reply(&t->c, &t->r) != 0)
		sendmail_smtp_die(t, EX_PROTOCOL);
}

static void
sendmail_smtp_send(struct sendmail_smtp *t)
{
	if (sendmail_conn_flush(&t->c) != 0)
		sendmail_smtp_die(t, EX_PROTOCOL);
}

/* Greeting and EHLO (HELO if EHLO is refused); notes the extensions. */
static void
sendmail_smtp_hello(struct sendmail_smtp *t)
{
	const char *p;

	sendmail_smtp_read(t);
	if (t->r.code != 220)
		sendmail_smtp_refused(t, "greeting", EX_UNAVAILABLE);
	if (sendmail_conn_cmd(&t->c, "EHLO %s", t->sm->hostname) != 0)
		sendmail_smtp_die(t, EX_PROTOCOL);
	sendmail_smtp_send(t);
	sendmail_smtp_read(t);
	if (t->r.code >= 500 && t->r.code < 600) {
		if (sendmail_conn_cmd(&t->c, "HELO %s", t->sm->hostname) != 0)
			sendmail_smtp_die(t, EX_PROTOCOL);
		sendmail_smtp_send(t);
		sendmail_smtp_read(t);
		if (t->r.code != 250)
			sendmail_smtp_refused(t, "HELO", EX_UNAVAILABLE);
		return;
	}
	if (t->r.code != 250)
		sendmail_smtp_refused(t, "EHLO", EX_UNAVAILABLE);
	/* The first line is the server's name; keywords follow. */
	p = strchr(buf_str(&t->r.text), '\n');
	while (p != NULL) {
		struct span kw;
		const char *nl;

		p++;
		nl = strchr(p, '\n');
		kw = span_make(p, strcspn(p, " \n"));
		if (span_eq_ci(kw, "PIPELINING"))
			t->pipelining = true;
		else if (span_eq_ci(kw, "8BITMIME"))
			t->eightbitmime = true;
		else if (span_eq_ci(kw, "SMTPUTF8"))
			t->smtputf8 = true;
		else if (span_eq_ci(kw, "SIZE"))
			t->size = true;
		p = nl;
	}
}

/*
 * MAIL and the RCPTs; with PIPELINING, MAIL and the RCPTs go in batches
 * (RFC 2920) and every reply is read before the next batch. All or
 * nothing: one refused recipient and nothing is sent.
 */
static void
sendmail_smtp_envelope(struct sendmail_smtp *t)
{
	struct sendmail *sm = t->sm;
	char size[40] = "", what[SENDMAIL_ADDR_MAX + 8];
	bool utf8 = sm->sender_utf8;
	int mail = 0, temp = 0, perm = 0;
	size_t i, sent, got;

	for (i = 0; i < sm->nrcpts; i++)
		if (sm->rcpts[i].utf8)
			utf8 = true;
	if (utf8 && !t->smtputf8) {
		fprintf(stderr,
		    "sendmail: %s does not offer SMTPUTF8, which "
		    "the non-ASCII addresses need\n",
		    t->c.path);
		sendmail_smtp_exit(t, 0, EX_UNAVAILABLE);
	}
	if (t->size)
		(void)snprintf(size, sizeof(size), " SIZE=%llu",
		    (unsigned long long)sm->size);
	if (sendmail_conn_cmd(&t->c, "MAIL FROM:<%s>%s%s%s", sm->sender, size,
		sm->eightbit && t->eightbitmime ? " BODY=8BITMIME" : "",
		utf8 || (sm->hdr_8bit && t->smtputf8) ? " SMTPUTF8" : "") != 0)
		sendmail_smtp_die(t, EX_PROTOCOL);
	if (!t->pipelining) {
		sendmail_smtp_send(t);
		sendmail_smtp_read(t);
		if (t->r.code != 250)
			sendmail_smtp_refused(t, "MAIL FROM", EX_DATAERR);
		mail = 250;
	}
	for (sent = 0, got = 0; got < sm->nrcpts;) {
		size_t batch = t->pipelining ? SENDMAIL_BATCH : 1;

		for (i = 0; i < batch && sent < sm->nrcpts; i++, sent++)
			if (sendmail_conn_cmd(&t->c, "RCPT TO:<%s>",
				sm->rcpts[sent].addr) != 0)
				sendmail_smtp_die(t, EX_PROTOCOL);
		sendmail_smtp_send(t);
		if (mail == 0) {
			sendmail_smtp_read(t);
			mail = t->r.code;
			if (mail != 250)
				sendmail_print_reply("MAIL FROM", &t->r);
		}
		for (; got < sent; got++) {
			sendmail_smtp_read(t);
			if (t->r.code / 100 == 2 || mail != 250)
				continue;
			(void)snprintf(
			    what, sizeof(what), "<%s>", sm->rcpts[got].addr);
			sendmail_print_reply(what, &t->r);
			if (t->r.code / 100 == 4)
				temp = t->r.code;
			else
				perm = t->r.code;
		}
		if (mail != 250 || temp != 0 || perm != 0)
			break;
	}
	if (mail != 250)
		sendmail_smtp_exit(t, mail, EX_DATAERR);
	if (temp != 0 || perm != 0) {
		fprintf(stderr, "sendmail: not sent: the server refused a "
				"recipient\n");
		sendmail_smtp_exit(t, perm != 0 ? perm : temp, EX_NOUSER);
	}
}

/* DATA, the file dot-stuffed (RFC 5321 4.5.2), the final dot. */
static void
sendmail_smtp_data(struct sendmail_smtp *t)
{
	struct sendmail *sm = t->sm;
	char chunk[SENDMAIL_CHUNK];
	bool bol = true;
	off_t off = 0;

	if (sendmail_conn_cmd(&t->c, "DATA") != 0)
		sendmail_smtp_die(t, EX_PROTOCOL);
	sendmail_smtp_send(t);
	sendmail_smtp_read(t);
	if (t->r.code != 354)
		sendmail_smtp_refused(t, "DATA", EX_DATAERR);
	if (sm->verbose)
		fprintf(stderr, ">>> (message: %llu octets)\n",
		    (unsigned long long)sm->size);
	for (;;) {
		ssize_t n = pread(sm->fd, chunk, sizeof(chunk), off);
		size_t i = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sendmail_die(EX_TEMPFAIL,
			    "reading the temporary file: "
			    "%s",
			    strerror(errno));
		if (n == 0)
			break;
		off += n;
		while (i < (size_t)n) {
			const char *lf = memchr(chunk + i, '\n', (size_t)n - i);
			size_t len = lf != NULL ? (size_t)(lf - chunk) + 1 - i
						: (size_t)n - i;

			if (bol && chunk[i] == '.')
				(void)buf_putc(&t->c.out, '.');
			if (buf_append(&t->c.out, chunk + i, len) != 0) {
				if (sendmail_conn_flush(&t->c) != 0)
					goto lost;
				(void)buf_append(&t->c.out, chunk + i, len);
			}
			bol = lf != NULL;
			i += len;
		}
		if (t->c.out.len >= SENDMAIL_CHUNK &&
		    sendmail_conn_flush(&t->c) != 0)
			goto lost;
	}
	if (sm->verbose)
		fprintf(stderr, ">>> .\n");
	(void)buf_append(&t->c.out, ".\r\n", 3);
	if (sendmail_conn_flush(&t->c) != 0)
		goto lost;
	sendmail_smtp_read(t);
	if (t->r.code != 250)
		sendmail_smtp_refused(t, "message not accepted", EX_DATAERR);
	return;
lost:
	/* The server may have answered before it closed: show that. */
	buf_reset(&t->c.out);
	if (sendmail_conn_reply(&t->c, &t->r) == 0)
		sendmail_smtp_refused(t, "message not accepted", EX_DATAERR);
	sendmail_smtp_die(t, EX_PROTOCOL);
}

static int
sendmail_submit(struct sendmail *sm)
{
	struct sendmail_smtp t;

	memset(&t, 0, sizeof(t));
	t.sm = sm;
	buf_init(&t.r.text,
	    SENDMAIL_REPLY_LINES_MAX * (SENDMAIL_REPLY_LINE_MAX + 1));
	if (sendmail_conn_open(&t.c, sm->sock_path, sm->verbose) != 0)
		sendmail_smtp_die(&t, EX_TEMPFAIL);
	sendmail_smtp_hello(&t);
	sendmail_smtp_envelope(&t);
	sendmail_smtp_data(&t);
	/* Queued. A failing QUIT changes nothing any more. */
	if (sendmail_conn_cmd(&t.c, "QUIT") == 0 &&
	    sendmail_conn_flush(&t.c) == 0)
		(void)sendmail_conn_reply(&t.c, &t.r);
	sendmail_conn_close(&t.c);
	buf_clear(&t.r.text);
	return EX_OK;
}

/*
 * -bs: SMTP on stdin/stdout, relayed byte for byte to the socket (the
 * server does all the work, including refusing bare LFs). Ends when the
 * server closes; the end of stdin half-closes the socket.
 */
static int
sendmail_relay(struct sendmail *sm)
{
	struct sendmail_conn c;
	bool in_open = true;
	char chunk[SENDMAIL_CHUNK];

	if (sendmail_conn_open(&c, sm->sock_path, false) != 0)
		sendmail_die(EX_TEMPFAIL, "%s", c.why);
	for (;;) {
		struct pollfd pfd[2] = {{c.fd, POLLIN, 0},
		    {in_open ? STDIN_FILENO : -1, POLLIN, 0}};
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			sendmail_die(EX_OSERR, "poll: %s", strerror(errno));
		}
		if (pfd[0].revents != 0) {
			n = read(c.fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				sendmail_die(EX_TEMPFAIL,
				    "connection to %s "
				    "lost: %s",
				    c.path, strerror(errno));
			if (n == 0)
				break;
			if (fsio_write_all(STDOUT_FILENO, chunk, (size_t)n) !=
			    0)
				sendmail_die(EX_IOERR, "writing to stdout: %s",
				    strerror(errno));
		}
		if (pfd[1].revents != 0) {
			n = read(STDIN_FILENO, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				sendmail_die(EX_IOERR, "reading stdin: %s",
				    strerror(errno));
			if (n == 0) {
				in_open = false;
				(void)shutdown(c.fd, SHUT_WR);
				continue;
			}
			buf_reset(&c.out);
			(void)buf_append(&c.out, chunk, (size_t)n);
			if (sendmail_conn_flush(&c) != 0)
				sendmail_die(EX_TEMPFAIL, "%s", c.why);
		}
	}
	sendmail_conn_close(&c);
	return EX_OK;
}

int
sendmail_main(int argc, char **argv)
{
	struct sendmail sm;
	size_t i;

	memset(&sm, 0, sizeof(sm));
	sm.fd = -1;
	(void)signal(SIGPIPE, SIG_IGN);
	sendmail_parse_args(&sm, argc, argv);
	sendmail_load_conf(&sm);
	if (sm.smtp_mode) {
		if (sm.nrcpt_args > 0 || sm.extract)
			sendmail_usage("-bs takes no recipients");
		return sendmail_relay(&sm);
	}
	sendmail_set_sender(&sm);
	for (i = 0; i < sm.nrcpt_args; i++) {
		char what[300];

		(void)snprintf(what, sizeof(what), "the argument '%.200s'",
		    sm.rcpt_args[i]);
		sendmail_rcpt_list(
		    &sm, span_cstr(sm.rcpt_args[i]), what, EX_USAGE);
	}
	if (!sm.extract && sm.nrcpts == 0)
		sendmail_usage("no recipients (give them as arguments, or "
			       "use -t to take them from the message)");
	sendmail_read_message(&sm);
	if (sm.nrcpts == 0)
		sendmail_usage("no recipients: none given as arguments and "
			       "none in the To:, Cc: or Bcc: fields");
	return sendmail_submit(&sm);
}
