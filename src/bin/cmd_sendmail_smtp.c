/*
 * cmd_sendmail_smtp: the SMTP client of `petrel sendmail` for the local
 * submission socket STATE/submit.sock, and -bs.
 *
 * One transaction: greeting, EHLO (HELO if refused), MAIL with SIZE,
 * BODY=8BITMIME and SMTPUTF8 as the message needs and the server offers,
 * the RCPTs (with PIPELINING in batches of SENDMAIL_BATCH, RFC 2920),
 * DATA, the file dot-stuffed (RFC 5321 4.5.2), QUIT. The server is
 * treated like any peer: replies are parsed strictly and bounded (RFC
 * 5321 4.2: one code, 2xx-5xx, "NNN-" continuation lines), every read
 * and write has a timeout, and its text is shown with control
 * characters masked.
 *
 * -bs relays bytes between stdin/stdout and the socket unchanged: the
 * server does all the work, including refusing bare LFs. It ends when
 * the server closes; the end of stdin half-closes the socket.
 *
 * Limits: SENDMAIL_REPLY_LINE_MAX octets per reply line,
 * SENDMAIL_REPLY_LINES_MAX lines per reply, SENDMAIL_TIMEOUT_MS per read
 * and per write.
 */
#include "bin/cmd_sendmail.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "lib/fsio.h"

#define SENDMAIL_REPLY_LINE_MAX  4096
#define SENDMAIL_REPLY_LINES_MAX 100
#define SENDMAIL_CMD_MAX         1024
#define SENDMAIL_BATCH           100 /* pipelined RCPTs between reads */
#define SENDMAIL_TIMEOUT_MS      (5 * 60 * 1000)

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
	/*
	 * The timeout is set first: a connect to a server whose backlog is
	 * full blocks, and Linux bounds that wait with SO_SNDTIMEO.
	 */
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd >= 0)
		(void)setsockopt(
		    c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (c->fd < 0 ||
	    connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		sendmail_conn_fail(c, true, "cannot connect to %s: %s%s", path,
		    strerror(errno),
		    errno == ENOENT || errno == ECONNREFUSED
			? " (is petrel running?)"
			: "");
		return -1;
	}
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
			    "%s: no answer for %d seconds", c->path,
			    SENDMAIL_TIMEOUT_MS / 1000);
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
			sendmail_conn_fail(
			    c, false, "%s: malformed reply line", c->path);
			break;
		}
		code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
		if (r->code != 0 && code != r->code) {
			sendmail_conn_fail(c, false,
			    "%s: reply code changed inside a reply", c->path);
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
			sendmail_conn_fail(
			    c, false, "%s: reply with too many lines", c->path);
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
		    "sendmail: %s does not offer SMTPUTF8, which the non-ASCII "
		    "addresses need\n",
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
		fprintf(stderr,
		    "sendmail: not sent: the server refused a recipient\n");
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
			    "reading the temporary file: %s", strerror(errno));
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

int
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

int
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
				    "connection to %s lost: %s", c.path,
				    strerror(errno));
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
