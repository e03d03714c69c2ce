/*
 * cmd_sendmail: `petrel sendmail`, also run as /usr/sbin/sendmail through
 * a symlink: the sendmail-compatible command that programs (cron, mail(1),
 * mutt, git send-email, PHP's mail()) use to submit a message on this
 * host. It is a client of the server's local submission socket
 * STATE/submit.sock, where the smtp process speaks plain ESMTP, takes the
 * client's uid from SO_PEERCRED, relays for anyone, and answers 250 to
 * the end of data only once the message is durable.
 *
 * What it does, in order (this file: options, configuration, addresses;
 * cmd_sendmail_msg.c: the message; cmd_sendmail_smtp.c: SMTP and -bs):
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

#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "bin/bundle.h"
#include "conf/conf.h"
#include "lib/xalloc.h"
#include "proto/smtp_path.h"

#define SENDMAIL_SYSTEM_CONF "/etc/petrel/petrel.conf"
#define SENDMAIL_SOCKET      "submit.sock"

/* Options that take a value (sendmail's and Postfix's letters). */
#define SENDMAIL_OPTS_VALUE "ABCFLNORVXbefhopr"

void
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

void
sendmail_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nusage: sendmail [-t] [-i] [-v] [-f sender] [-F name] [-C "
	      "file] [--] [recipient ...]\n"
	      "       sendmail -bs [-C file]\n"
	      "The message is read from standard input.\n",
	    stderr);
	exit(EX_USAGE);
}

void
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
		sendmail_usage("-I (newaliases) is not supported: petrel reads "
			       "its aliases file at start and on SIGHUP");
	case 'q':
		sendmail_usage(
		    "-q is not supported: petrel runs its queue by itself");
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
						sendmail_usage(
						    "option -%c needs a value",
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

/*
 * Finds the configuration as `petrel serve` would (see the file comment)
 * and keeps what sendmail needs from it. bundle_load_conf() reads the
 * configuration file only, none of the files it names.
 */
static void
sendmail_load_conf(struct sendmail *sm)
{
	const char *path = sm->config;
	char err[2048];
	struct conf c;
	int n;

	if (path == NULL) {
		const char *env = getenv("PETREL_CONFIG");

		if (env != NULL && *env != '\0')
			path = env;
		else if (access(SENDMAIL_SYSTEM_CONF, F_OK) == 0)
			path = SENDMAIL_SYSTEM_CONF;
	}
	if (bundle_load_conf(path, &c, err, sizeof(err)) != 0)
		sendmail_die(EX_CONFIG, "%s", err);
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
		return "address too long (RFC 5321: local part 64, domain 255, "
		       "path 256 octets)";
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
		    "too many recipients (more than %u, the max-recipients "
		    "setting)",
		    sm->max_rcpts);
	sm->rcpts = xreallocarray(sm->rcpts, sm->nrcpts + 1, sizeof(r));
	sm->rcpts[sm->nrcpts++] = r;
	return 0;
}

void
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
		    "cannot use the addresses in %s: %s: %s (at octet %zu)",
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
			    "who are you? uid %lu has no passwd entry; use -f "
			    "sender",
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
			    "cannot make a sender address of the user name "
			    "'%s'; use -f sender",
			    pw->pw_name);
	}
	sm->sender_utf8 = sendmail_has_8bit(sm->sender);
}

/* What sendmail_main() allocated (paths that exit() leave it alone). */
static void
sendmail_free(struct sendmail *sm)
{
	if (sm->fd >= 0)
		close(sm->fd);
	free(sm->rcpt_args);
	free(sm->hostname);
	free(sm->gecos_name);
	free(sm->rcpts);
	memset(sm, 0, sizeof(*sm));
	sm->fd = -1;
}

int
sendmail_main(int argc, char **argv)
{
	struct sendmail sm;
	size_t i;
	int rc;

	memset(&sm, 0, sizeof(sm));
	sm.fd = -1;
	(void)signal(SIGPIPE, SIG_IGN);
	sendmail_parse_args(&sm, argc, argv);
	sendmail_load_conf(&sm);
	if (sm.smtp_mode) {
		if (sm.nrcpt_args > 0 || sm.extract)
			sendmail_usage("-bs takes no recipients");
		rc = sendmail_relay(&sm);
		sendmail_free(&sm);
		return rc;
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
		sendmail_usage("no recipients (give them as arguments, or use "
			       "-t to take them from the message)");
	sendmail_read_message(&sm);
	if (sm.nrcpts == 0)
		sendmail_usage("no recipients: none given as arguments and "
			       "none in the To:, Cc: or Bcc: fields");
	rc = sendmail_submit(&sm);
	sendmail_free(&sm);
	return rc;
}
