/* ipc: typed messages with descriptor passing over SOCK_SEQPACKET. */
#include "lib/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define IPC_HDR 16

struct ipc_out {
	struct ipc_out *next;
	int fd;
	size_t len;
	unsigned char data[];
};

struct ipc_chan {
	int fd;
	struct event *rev, *wev;
	struct event *cev;		/* runs close_cb from the loop */
	struct ipc_out *head, **tail;
	ipc_recv_cb recv;
	ipc_close_cb close_cb;
	void *arg;
	char peer[16];
	bool dead;
};

int
ipc_socketpair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

static void
ipc_put_le(unsigned char *p, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
ipc_get_le(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * The channel is broken. The owner hears of it from the loop, never from
 * inside the ipc_send() or callback that found out: callers half-way
 * through their own work must not see the world change under them.
 */
static void
ipc_fail(struct ipc_chan *ch)
{
	if (ch->dead)
		return;
	ch->dead = true;
	event_del(ch->rev);
	event_del(ch->wev);
	event_active(ch->cev, EV_TIMEOUT, 0);
}

static void
ipc_close_fire(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_chan *ch = arg;

	(void)fd;
	(void)what;
	if (ch->close_cb)
		ch->close_cb(ch, ch->arg);
}

static void
ipc_flush(struct ipc_chan *ch)
{
	while (ch->head != NULL) {
		struct ipc_out *o = ch->head;
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = { o->data, o->len };
		struct msghdr mh;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		if (o->fd >= 0) {
			struct cmsghdr *c;
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &o->fd, sizeof(int));
		}
		n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS) {
				event_add(ch->wev, NULL);
				return;
			}
			log_warn("ipc peer=%s send failed: %s", ch->peer,
			    strerror(errno));
			ipc_fail(ch);
			return;
		}
		ch->head = o->next;
		if (ch->head == NULL)
			ch->tail = &ch->head;
		if (o->fd >= 0)
			close(o->fd);
		free(o);
	}
	event_del(ch->wev);
}

static void
ipc_write_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ipc_flush(arg);
}

static void
ipc_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_chan *ch = arg;
	static unsigned char data[IPC_MSG_MAX + 1];
	int i;

	(void)fd;
	(void)what;
	/* Bounded batch so one busy peer cannot starve the loop. */
	for (i = 0; i < 64 && !ch->dead; i++) {
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct iovec iov = { data, sizeof(data) };
		struct msghdr mh;
		struct ipc_msg m;
		struct cmsghdr *c;
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		n = recvmsg(ch->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			ipc_fail(ch);
			return;
		}
		if (n == 0) {
			ipc_fail(ch);
			return;
		}
		m.fd = -1;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL;
		     c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET &&
			    c->cmsg_type == SCM_RIGHTS &&
			    c->cmsg_len == CMSG_LEN(sizeof(int)) && m.fd < 0)
				memcpy(&m.fd, CMSG_DATA(c), sizeof(int));
			else
				fatalx("ipc peer=%s: unexpected control data",
				    ch->peer);
		}
		if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		    (size_t)n < IPC_HDR ||
		    ipc_get_le(data + 4, 4) != (uint64_t)n - IPC_HDR)
			fatalx("ipc peer=%s: malformed message", ch->peer);
		m.type = (uint32_t)ipc_get_le(data, 4);
		m.id = ipc_get_le(data + 8, 8);
		m.p = data + IPC_HDR;
		m.len = (size_t)n - IPC_HDR;
		m.off = 0;
		ch->recv(ch, &m, ch->arg);
	}
}

struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, const char *peer_name,
    ipc_recv_cb recv, ipc_close_cb close_cb, void *arg)
{
	struct ipc_chan *ch = xcalloc(1, sizeof(*ch));
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatal("ipc: fcntl");
	ch->fd = fd;
	ch->tail = &ch->head;
	ch->recv = recv;
	ch->close_cb = close_cb;
	ch->arg = arg;
	snprintf(ch->peer, sizeof(ch->peer), "%s", peer_name);
	ch->rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_read_cb, ch);
	ch->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, ipc_write_cb, ch);
	ch->cev = event_new(base, -1, 0, ipc_close_fire, ch);
	event_add(ch->rev, NULL);
	return ch;
}

static void
ipc_chan_release(evutil_socket_t fd, short what, void *arg)
{
	struct ipc_chan *ch = arg;
	struct ipc_out *o, *next;

	(void)fd;
	(void)what;
	event_free(ch->cev);
	event_free(ch->rev);
	event_free(ch->wev);
	for (o = ch->head; o != NULL; o = next) {
		next = o->next;
		if (o->fd >= 0)
			close(o->fd);
		free(o);
	}
	free(ch);
}

void
ipc_chan_free(struct ipc_chan *ch)
{
	if (ch == NULL)
		return;
	/*
	 * Callers may be inside one of ch's callbacks: stop it now, release
	 * the memory from the loop later.
	 */
	event_del(ch->rev);
	event_del(ch->wev);
	event_del(ch->cev);	/* the owner knows: no close_cb any more */
	ch->dead = true;
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
	event_base_once(event_get_base(ch->rev), -1, EV_TIMEOUT,
	    ipc_chan_release, ch, NULL);
}

const char *
ipc_chan_peer(const struct ipc_chan *ch)
{
	return ch->peer;
}

int
ipc_send(struct ipc_chan *ch, uint32_t type, uint64_t id, int fd,
    const struct buf *payload)
{
	size_t plen = payload ? payload->len : 0;
	struct ipc_out *o;

	if (ch->dead)
		return -1;
	if (plen > IPC_MSG_MAX - IPC_HDR)
		fatalx("ipc: message type %u too large (%zu)", type, plen);
	o = xmalloc(sizeof(*o) + IPC_HDR + plen);
	o->next = NULL;
	o->len = IPC_HDR + plen;
	o->fd = -1;
	if (fd >= 0 && (o->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		fatal("ipc: dup");
	ipc_put_le(o->data, type, 4);
	ipc_put_le(o->data + 4, plen, 4);
	ipc_put_le(o->data + 8, id, 8);
	if (plen)
		memcpy(o->data + IPC_HDR, payload->data, plen);
	*ch->tail = o;
	ch->tail = &o->next;
	if (ch->head == o)
		ipc_flush(ch);
	return ch->dead ? -1 : 0;
}

void
ipc_put_bytes(struct buf *b, const void *p, size_t n)
{
	if (buf_append(b, p, n) < 0)
		fatalx("ipc: payload too large");
}

void
ipc_put_u32(struct buf *b, uint32_t v)
{
	unsigned char p[4];

	ipc_put_le(p, v, 4);
	ipc_put_bytes(b, p, 4);
}

void
ipc_put_u64(struct buf *b, uint64_t v)
{
	unsigned char p[8];

	ipc_put_le(p, v, 8);
	ipc_put_bytes(b, p, 8);
}

void
ipc_put_str(struct buf *b, const char *s)
{
	size_t n;

	if (s == NULL) {
		ipc_put_u32(b, UINT32_MAX);
		return;
	}
	n = strlen(s);
	if (n >= UINT32_MAX)
		fatalx("ipc: string too long");
	ipc_put_u32(b, (uint32_t)n);
	ipc_put_bytes(b, s, n);
}

static const unsigned char *
ipc_take(struct ipc_msg *m, size_t n)
{
	const unsigned char *p;

	if (n > m->len - m->off)
		fatalx("ipc: truncated message type %u", m->type);
	p = m->p + m->off;
	m->off += n;
	return p;
}

uint32_t
ipc_get_u32(struct ipc_msg *m)
{
	return (uint32_t)ipc_get_le(ipc_take(m, 4), 4);
}

uint64_t
ipc_get_u64(struct ipc_msg *m)
{
	return ipc_get_le(ipc_take(m, 8), 8);
}

char *
ipc_get_str(struct ipc_msg *m)
{
	uint32_t n = ipc_get_u32(m);
	const unsigned char *p;

	if (n == UINT32_MAX)
		return NULL;
	p = ipc_take(m, n);
	if (memchr(p, '\0', n) != NULL)
		fatalx("ipc: NUL inside string in message type %u", m->type);
	return xstrndup((const char *)p, n);
}

void
ipc_get_strn(struct ipc_msg *m, char *out, size_t outsz)
{
	uint32_t n = ipc_get_u32(m);
	const unsigned char *p;

	if (n == UINT32_MAX || n >= outsz)
		fatalx("ipc: bad string in message type %u", m->type);
	p = ipc_take(m, n);
	if (memchr(p, '\0', n) != NULL)
		fatalx("ipc: NUL inside string in message type %u", m->type);
	memcpy(out, p, n);
	out[n] = '\0';
}

void
ipc_get_end(struct ipc_msg *m)
{
	if (m->off != m->len)
		fatalx("ipc: %zu trailing bytes in message type %u",
		    m->len - m->off, m->type);
}
