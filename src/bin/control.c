/*
 * control: the control socket (protocol in control.h). The parent's side
 * accepts, checks the peer's uid, reads one bounded request line with a
 * deadline, answers `reload` and malformed requests itself and passes
 * `queue` requests with their connection to the queue process. The queue
 * process writes its reply with control_reply(). The client side is what
 * the command-line tools call.
 *
 * The parent never blocks on a control connection: reads are
 * non-blocking, and its own replies are one short status line written
 * once into an empty socket buffer (best effort: a client that cannot
 * take a few hundred bytes gets nothing).
 */
#include "bin/control.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lib/log.h"
#include "lib/span.h"
#include "proto/dns_rdata.h"
#include "lib/xalloc.h"

#define CONTROL_CLIENT_TIMEOUT 60 /* seconds the client waits */
#define CONTROL_ACCEPT_BATCH   16 /* connections per accept callback */

/* ---- requests ---- */

static const struct {
	const char *word;
	enum control_verb verb;
	bool qid;
} control_queue_verbs[] = {
    {"list", CONTROL_QUEUE_LIST, false},
    {"show", CONTROL_QUEUE_SHOW, true},
    {"delete", CONTROL_QUEUE_DELETE, true},
    {"hold", CONTROL_QUEUE_HOLD, true},
    {"release", CONTROL_QUEUE_RELEASE, true},
    {"flush", CONTROL_QUEUE_FLUSH, false},
};

static bool
control_word_is(struct span w, const char *lit)
{
	return w.n == strlen(lit) && memcmp(w.p, lit, w.n) == 0;
}

int
control_parse(const char *line, size_t len, struct control_req *out, char *err,
    size_t errsz)
{
	struct span w[4];
	size_t nw = 0, i, start = 0;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	for (i = 0; i <= len; i++) {
		if (i == len || line[i] == ' ') {
			if (i == start) {
				snprintf(err, errsz,
				    "malformed request "
				    "(empty word)");
				return -1;
			}
			if (nw == sizeof(w) / sizeof(w[0])) {
				snprintf(err, errsz,
				    "unknown request (too "
				    "many words)");
				return -1;
			}
			w[nw++] = span_make(line + start, i - start);
			start = i + 1;
		} else if ((unsigned char)line[i] < 0x21 ||
			   (unsigned char)line[i] > 0x7e) {
			snprintf(err, errsz, "malformed request (byte 0x%02X)",
			    (unsigned char)line[i]);
			return -1;
		}
	}
	if (nw == 1 && control_word_is(w[0], "reload")) {
		out->verb = CONTROL_RELOAD;
		return 0;
	}
	if (nw >= 2 && control_word_is(w[0], "queue")) {
		for (i = 0; i < sizeof(control_queue_verbs) /
				    sizeof(control_queue_verbs[0]);
		     i++) {
			if (!control_word_is(w[1], control_queue_verbs[i].word))
				continue;
			out->verb = control_queue_verbs[i].verb;
			if (!control_queue_verbs[i].qid) {
				if (nw == 2)
					return 0;
				break;
			}
			if (nw != 3)
				break;
			if (w[2].n == SPOOL_QID_LEN) {
				memcpy(out->qid, w[2].p, SPOOL_QID_LEN);
				out->qid[SPOOL_QID_LEN] = '\0';
				if (spool_qid_valid(out->qid))
					return 0;
			}
			out->qid[0] = '\0';
			snprintf(err, errsz,
			    "'%.*s' is not a queue ID (16 "
			    "characters 0-9 A-F)",
			    w[2].n > 64 ? 64 : (int)w[2].n, w[2].p);
			return -1;
		}
	}
	if (nw >= 2 && control_word_is(w[0], "tls")) {
		if (nw == 2 && control_word_is(w[1], "list")) {
			out->verb = CONTROL_TLS_LIST;
			return 0;
		}
		if (nw == 2 && control_word_is(w[1], "report")) {
			out->verb = CONTROL_TLS_REPORT;
			return 0;
		}
		if (nw == 3 && control_word_is(w[1], "forget")) {
			if (!dns_rdata_is_hostname(w[2])) {
				snprintf(err, errsz, "'%.*s' is not a host name",
				    w[2].n > 64 ? 64 : (int)w[2].n, w[2].p);
				return -1;
			}
			out->verb = CONTROL_TLS_FORGET;
			if (w[2].p[w[2].n - 1] == '.')
				w[2].n--;	/* one trailing dot */
			for (i = 0; i < w[2].n; i++)
				out->host[i] = (char)tolower(
				    (unsigned char)w[2].p[i]);
			out->host[i] = '\0';
			return 0;
		}
	}
	snprintf(err, errsz, "unknown request '%.*s'", len > 64 ? 64 : (int)len,
	    line);
	return -1;
}

void
control_format(const struct control_req *req, char *out, size_t outsz)
{
	size_t i;

	if (req->verb == CONTROL_RELOAD) {
		snprintf(out, outsz, "reload");
		return;
	}
	if (req->verb == CONTROL_TLS_LIST || req->verb == CONTROL_TLS_REPORT) {
		snprintf(out, outsz, "tls %s", req->verb == CONTROL_TLS_LIST ?
		    "list" : "report");
		return;
	}
	if (req->verb == CONTROL_TLS_FORGET) {
		snprintf(out, outsz, "tls forget %s", req->host);
		return;
	}
	for (i = 0;
	     i < sizeof(control_queue_verbs) / sizeof(control_queue_verbs[0]);
	     i++) {
		if (control_queue_verbs[i].verb != req->verb)
			continue;
		snprintf(out, outsz, "queue %s%s%s",
		    control_queue_verbs[i].word,
		    control_queue_verbs[i].qid ? " " : "",
		    control_queue_verbs[i].qid ? req->qid : "");
		return;
	}
	fatalx("control: unknown verb %d", (int)req->verb);
}

/*
 * Appends the status line: "ok\n", or "error: TEXT\n" with TEXT cut to
 * printable ASCII (anything else becomes '?'), so the reply stays framed.
 */
static void
control_put_status(struct buf *b, int status, const char *err)
{
	const char *p;

	if (status == 0) {
		(void)buf_puts(b, "ok\n");
		return;
	}
	(void)buf_puts(b, "error: ");
	for (p = err != NULL && *err ? err : "failed"; *p; p++) {
		unsigned char c = (unsigned char)*p;
		(void)buf_putc(b, c >= 0x20 && c < 0x7f ? (char)c : '?');
	}
	(void)buf_putc(b, '\n');
}

/* ---- the parent's side ---- */

struct control_conn {
	struct control_conn *next, *prev;
	int fd;
	long uid;
	struct event *ev;
	struct timespec deadline;
	size_t len;
	char buf[CONTROL_REQUEST_MAX];
};

static struct {
	struct event_base *base;
	const struct control_ops *ops;
	int fd;
	struct event *ev;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct control_conn *conns;
	unsigned nconns;
} control_srv = {.fd = -1};

/* Best effort: the status line into a fresh socket's empty buffer. */
static void
control_answer_now(int fd, int status, const char *err)
{
	struct buf b;
	size_t off = 0;

	buf_init(&b, 2048);
	control_put_status(&b, status, err);
	while (off < b.len) {
		ssize_t n = send(
		    fd, b.data + off, b.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf_clear(&b);
}

static void
control_conn_free(struct control_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		control_srv.conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	control_srv.nconns--;
	event_free(c->ev);
	close(c->fd);
	free(c);
}

static void
control_handle(struct control_conn *c, size_t linelen)
{
	struct control_req req;
	char err[1024], line[64], esc[1200];

	if (control_parse(c->buf, linelen, &req, err, sizeof(err)) != 0) {
		log_warn("control: uid=%ld refused: %s", c->uid,
		    log_escape(err, strlen(err), esc, sizeof(esc)));
		control_answer_now(c->fd, -1, err);
		return;
	}
	control_format(&req, line, sizeof(line));
	/* Changes are logged for the record; looking only at debug level. */
	log_msg(req.verb == CONTROL_QUEUE_LIST || req.verb == CONTROL_QUEUE_SHOW
		|| req.verb == CONTROL_TLS_LIST ? LOG_LVL_DEBUG
		    : LOG_LVL_INFO,
	    "control: uid=%ld request=\"%s\"", c->uid, line);
	if (req.verb == CONTROL_RELOAD) {
		int r = control_srv.ops->reload(err, sizeof(err));
		control_answer_now(c->fd, r, err);
		return;
	}
	/* The queue (remote) process answers on its copy of the descriptor. */
	if ((req.verb == CONTROL_TLS_LIST || req.verb == CONTROL_TLS_FORGET ||
	    req.verb == CONTROL_TLS_REPORT ? control_srv.ops->remote :
	    control_srv.ops->queue)(c->fd, line, err, sizeof(err)) != 0)
		control_answer_now(c->fd, -1, err);
}

static void
control_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control_conn *c = arg;
	struct timespec now;
	char *lf;
	ssize_t n;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((what & EV_TIMEOUT) || now.tv_sec > c->deadline.tv_sec) {
		control_answer_now(c->fd, -1,
		    "no request within the time "
		    "limit");
		control_conn_free(c);
		return;
	}
	n = read(fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (n < 0 &&
	    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		/* Gone before a whole request: nobody to answer. */
		control_conn_free(c);
		return;
	}
	lf = memchr(c->buf + c->len, '\n', (size_t)n);
	c->len += (size_t)n;
	if (lf != NULL)
		control_handle(c, (size_t)(lf - c->buf));
	else if (c->len < sizeof(c->buf))
		return;
	else
		control_answer_now(c->fd, -1, "request too long");
	control_conn_free(c);
}

static void
control_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	int i;

	(void)what;
	(void)arg;
	for (i = 0; i < CONTROL_ACCEPT_BATCH; i++) {
		struct timeval tv = {CONTROL_TIMEOUT, 0};
		struct control_conn *c;
		struct ucred cr;
		socklen_t crlen = sizeof(cr);
		int fd;

		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn(
				    "control: accept: %s", strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0 ||
		    crlen != sizeof(cr) ||
		    (cr.uid != 0 && cr.uid != geteuid())) {
			log_warn("control: refused a client uid=%ld",
			    crlen == sizeof(cr) ? (long)cr.uid : -1L);
			close(fd);
			continue;
		}
		if (control_srv.nconns >= CONTROL_CONN_MAX) {
			control_answer_now(fd, -1,
			    "too many control "
			    "connections; try again");
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->uid = (long)cr.uid;
		clock_gettime(CLOCK_MONOTONIC, &c->deadline);
		c->deadline.tv_sec += CONTROL_TIMEOUT;
		c->ev = event_new(control_srv.base, fd, EV_READ | EV_PERSIST,
		    control_read_cb, c);
		event_add(c->ev, &tv);
		c->next = control_srv.conns;
		if (c->next != NULL)
			c->next->prev = c;
		control_srv.conns = c;
		control_srv.nconns++;
	}
}

int
control_socket_path(const char *state_dir, char *out, size_t outsz)
{
	struct sockaddr_un sa;
	int n = snprintf(out, outsz, "%s/%s", state_dir, CONTROL_SOCKET_NAME);

	if (n < 0 || (size_t)n >= outsz || (size_t)n >= sizeof(sa.sun_path))
		return -1;
	return 0;
}

/*
 * Connects to path (a unix stream socket). The descriptor, or -1/errno.
 * With probe, the socket is non-blocking and a full backlog (EAGAIN)
 * counts as an answer too.
 */
static int
control_connect(const char *path, bool probe)
{
	struct sockaddr_un sa;
	int fd, saved;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX,
	    SOCK_STREAM | SOCK_CLOEXEC | (probe ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    !(probe && errno == EAGAIN)) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
control_listen(struct event_base *base, const char *state_dir,
    const struct control_ops *ops, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd;

	if (control_socket_path(
		state_dir, control_srv.path, sizeof(control_srv.path)) != 0) {
		/* An optional feature must not keep the mail server down. */
		log_err("%s/%s: path too long for a unix socket; the control "
			"socket is disabled (petrel queue and petrel reload "
			"cannot reach this server)",
		    state_dir, CONTROL_SOCKET_NAME);
		return 0;
	}
	/* A live socket means another petrel uses this state directory. */
	if ((fd = control_connect(control_srv.path, true)) >= 0) {
		close(fd);
		snprintf(err, errsz,
		    "%s: another petrel is running with this "
		    "state directory",
		    control_srv.path);
		return -1;
	}
	if (unlink(control_srv.path) != 0 && errno != ENOENT) {
		snprintf(
		    err, errsz, "%s: %s", control_srv.path, strerror(errno));
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "control socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, control_srv.path, strlen(control_srv.path));
	/* Never reachable by others, not even for a moment. */
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		snprintf(
		    err, errsz, "%s: %s", control_srv.path, strerror(errno));
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(control_srv.path, 0600) != 0 || listen(fd, 64) != 0) {
		snprintf(
		    err, errsz, "%s: %s", control_srv.path, strerror(errno));
		(void)unlink(control_srv.path);
		close(fd);
		return -1;
	}
	control_srv.base = base;
	control_srv.ops = ops;
	control_srv.fd = fd;
	control_srv.ev =
	    event_new(base, fd, EV_READ | EV_PERSIST, control_accept_cb, NULL);
	event_add(control_srv.ev, NULL);
	log_info("control socket %s", control_srv.path);
	return 0;
}

void
control_close(void)
{
	if (control_srv.fd < 0)
		return;
	while (control_srv.conns != NULL)
		control_conn_free(control_srv.conns);
	event_free(control_srv.ev);
	control_srv.ev = NULL;
	close(control_srv.fd);
	control_srv.fd = -1;
	(void)unlink(control_srv.path);
}

/* ---- the queue process's reply ---- */

static void
control_reply_written(struct bufferevent *bev, void *arg)
{
	(void)arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_free(bev);
}

static void
control_reply_event(struct bufferevent *bev, short what, void *arg)
{
	(void)what;
	(void)arg;
	/* A write error, or a client that stopped reading. */
	bufferevent_free(bev);
}

void
control_reply(struct event_base *base, int fd, const struct buf *lines,
    int status, const char *err)
{
	struct timeval tv = {CONTROL_REPLY_TIMEOUT, 0};
	struct bufferevent *bev;
	struct evbuffer *o;
	struct buf st;
	size_t off = 0;

	if (evutil_make_socket_nonblocking(fd) != 0 ||
	    (bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) ==
		NULL) {
		close(fd);
		return;
	}
	o = bufferevent_get_output(bev);
	while (lines != NULL && off < lines->len) {
		const char *p = lines->data + off;
		const char *nl = memchr(p, '\n', lines->len - off);
		size_t n = nl != NULL ? (size_t)(nl - p) : lines->len - off;

		if (evbuffer_add(o, "+", 1) != 0 ||
		    evbuffer_add(o, p, n) != 0 || evbuffer_add(o, "\n", 1) != 0)
			fatalx("control: out of memory");
		off += n + 1;
	}
	buf_init(&st, 2048);
	control_put_status(&st, status, err);
	if (evbuffer_add(o, st.data, st.len) != 0)
		fatalx("control: out of memory");
	buf_clear(&st);
	bufferevent_setcb(
	    bev, NULL, control_reply_written, control_reply_event, NULL);
	bufferevent_set_timeouts(bev, NULL, &tv);
	bufferevent_enable(bev, EV_WRITE);
}

/* ---- the client's side ---- */

/*
 * One line of the reply (without LF). 0 to go on, 1 for the status line
 * (*status set, text in err), -1 when malformed.
 */
static int
control_client_line(
    const char *p, size_t n, FILE *out, int *status, char *err, size_t errsz)
{
	if (n >= 1 && p[0] == '+') {
		(void)fwrite(p + 1, 1, n - 1, out);
		(void)fputc('\n', out);
		return 0;
	}
	if (n == 2 && memcmp(p, "ok", 2) == 0) {
		*status = 0;
		return 1;
	}
	if (n >= 7 && memcmp(p, "error: ", 7) == 0) {
		*status = 1;
		snprintf(err, errsz, "%.*s", (int)(n - 7), p + 7);
		return 1;
	}
	return -1;
}

int
control_request(const char *state_dir, const char *request, FILE *out,
    char *err, size_t errsz)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char chunk[16384];
	struct buf in, req;
	int fd, status = -1, r = -1;
	bool done = false;
	size_t off = 0;

	err[0] = '\0';
	if (control_socket_path(state_dir, path, sizeof(path)) != 0) {
		snprintf(err, errsz,
		    "cannot reach the running petrel at "
		    "%s/%s: path too long for a socket",
		    state_dir, CONTROL_SOCKET_NAME);
		return -1;
	}
	if ((fd = control_connect(path, false)) < 0) {
		snprintf(err, errsz,
		    "cannot reach the running petrel at %s: "
		    "%s",
		    path, strerror(errno));
		return -1;
	}
	buf_init(&req, CONTROL_REQUEST_MAX);
	if (buf_puts(&req, request) != 0 || buf_putc(&req, '\n') != 0) {
		snprintf(err, errsz, "request too long");
		goto out_req;
	}
	while (off < req.len) {
		ssize_t n =
		    send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errsz,
			    "cannot reach the running petrel "
			    "at %s: send: %s",
			    path, strerror(errno));
			goto out_req;
		}
		off += (size_t)n;
	}
	buf_init(&in, CONTROL_LINE_MAX);
	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		char *lf;
		ssize_t n;
		int pr = poll(&pfd, 1, CONTROL_CLIENT_TIMEOUT * 1000);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			snprintf(err, errsz, "%s: no reply within %d s", path,
			    CONTROL_CLIENT_TIMEOUT);
			goto out;
		}
		/* Never more than a line's room: in.len < CONTROL_LINE_MAX. */
		n = read(fd, chunk,
		    sizeof(chunk) < CONTROL_LINE_MAX - in.len
			? sizeof(chunk)
			: CONTROL_LINE_MAX - in.len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(
			    err, errsz, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (done) {
			snprintf(
			    err, errsz, "%s: data after the status line", path);
			goto out;
		}
		if (buf_append(&in, chunk, (size_t)n) != 0) {
			snprintf(err, errsz, "%s: reply line too long", path);
			goto out;
		}
		while (!done && (lf = memchr(in.data, '\n', in.len)) != NULL) {
			size_t len = (size_t)(lf - in.data);
			int k = control_client_line(
			    in.data, len, out, &status, err, errsz);
			if (k < 0) {
				snprintf(
				    err, errsz, "%s: malformed reply", path);
				goto out;
			}
			done = k == 1;
			buf_consume(&in, len + 1);
		}
		if (done && in.len > 0) {
			snprintf(
			    err, errsz, "%s: data after the status line", path);
			goto out;
		}
		if (in.len == CONTROL_LINE_MAX) {
			snprintf(err, errsz, "%s: reply line too long", path);
			goto out;
		}
	}
	if (!done || in.len > 0) {
		snprintf(err, errsz,
		    "%s: the connection closed before the "
		    "reply was complete (did a petrel process restart?)",
		    path);
		goto out;
	}
	r = status;
out:
	buf_clear(&in);
out_req:
	buf_clear(&req);
	close(fd);
	return r;
}
