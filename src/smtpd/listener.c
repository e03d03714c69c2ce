/*
 * listener: the smtp process's accepting side: listening sockets, the
 * limits on concurrent connections (in total and per client address), the
 * table that finds a session by id when the queue answers, and the shared
 * runtime (configuration, tables, TLS context) that reloads swap.
 */
#include "smtpd/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/xalloc.h"

#define SMTPD_IP_BUCKETS 1024

struct smtpd_listener {
	struct smtpd_listener *next;
	struct smtpd_server *srv;
	struct conf_listener cl;
	int fd;
	struct event *ev;
};

struct smtpd_ipcount {
	struct smtpd_ipcount *next;
	char addr[INET6_ADDRSTRLEN];
	unsigned n;
};

void
smtpd_rt_ref(struct smtpd_rt *rt)
{
	rt->refs++;
}

void
smtpd_rt_unref(struct smtpd_rt *rt)
{
	if (rt == NULL || --rt->refs > 0)
		return;
	conf_free(&rt->conf);
	tables_free(rt->tables);
	SSL_CTX_free(rt->tls);
	free(rt);
}

struct smtpd_server *
smtpd_server_new(struct event_base *base)
{
	struct smtpd_server *srv = xcalloc(1, sizeof(*srv));

	srv->base = base;
	srv->table_size = 4096;
	srv->table = xcalloc(srv->table_size, sizeof(*srv->table));
	srv->ipcounts = xcalloc(SMTPD_IP_BUCKETS, sizeof(*srv->ipcounts));
	return srv;
}

void
smtpd_server_set_rt(struct smtpd_server *srv, struct smtpd_rt *rt)
{
	struct smtpd_rt *old = srv->rt;

	srv->rt = rt;
	smtpd_rt_unref(old);
}

static unsigned
smtpd_ip_hash(const char *addr)
{
	unsigned h = 5381;

	while (*addr)
		h = h * 33 + (unsigned char)*addr++;
	return h % SMTPD_IP_BUCKETS;
}

static struct smtpd_ipcount **
smtpd_ip_find(struct smtpd_server *srv, const char *addr)
{
	struct smtpd_ipcount **pp = &srv->ipcounts[smtpd_ip_hash(addr)];

	while (*pp != NULL && strcmp((*pp)->addr, addr) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
smtpd_register(struct smtpd_server *srv, struct smtpd_session *s)
{
	struct smtpd_session **b = &srv->table[s->id % srv->table_size];
	struct smtpd_ipcount **pp = smtpd_ip_find(srv, s->addr);

	s->hnext = *b;
	*b = s;
	srv->nsessions++;
	if (*pp == NULL) {
		*pp = xcalloc(1, sizeof(**pp));
		memcpy((*pp)->addr, s->addr, sizeof((*pp)->addr));
	}
	(*pp)->n++;
}

void
smtpd_server_unregister(struct smtpd_server *srv, struct smtpd_session *s)
{
	struct smtpd_session **b = &srv->table[s->id % srv->table_size];
	struct smtpd_ipcount **pp = smtpd_ip_find(srv, s->addr);

	while (*b != NULL && *b != s)
		b = &(*b)->hnext;
	if (*b == NULL)
		return;
	*b = s->hnext;
	srv->nsessions--;
	if (*pp != NULL && --(*pp)->n == 0) {
		struct smtpd_ipcount *dead = *pp;
		*pp = dead->next;
		free(dead);
	}
}

struct smtpd_session *
smtpd_server_find(struct smtpd_server *srv, uint64_t id)
{
	struct smtpd_session *s = srv->table[id % srv->table_size];

	while (s != NULL && s->id != id)
		s = s->hnext;
	return s;
}

unsigned
smtpd_server_sessions(const struct smtpd_server *srv)
{
	return srv->nsessions;
}

/* Refuses a connection over a limit with a 421 written straight away. */
static void
smtpd_refuse(int fd, const char *reply)
{
	ssize_t n = write(fd, reply, strlen(reply));

	(void)n;
	close(fd);
}

static void
smtpd_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	struct smtpd_listener *l = arg;
	struct smtpd_server *srv = l->srv;
	const struct conf *cf = &srv->rt->conf;
	int i;

	(void)what;
	for (i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct smtpd_ipcount **pp;
		struct smtpd_session *s;
		char addr[INET6_ADDRSTRLEN] = "";
		int fd;

		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				log_warn("listener=%s accept: %s", l->cl.text,
				    strerror(errno));
			return;
		}
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
			if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
				inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12],
				    addr, sizeof(addr));
			else
				inet_ntop(AF_INET6, &a6->sin6_addr, addr,
				    sizeof(addr));
		} else if (ss.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, addr, sizeof(addr));
		} else if (ss.ss_family == AF_UNIX) {
			snprintf(addr, sizeof(addr), "local");
		} else {
			close(fd);
			continue;
		}
		if (srv->nsessions >= cf->max_connections) {
			log_warn("listener=%s client=%s refused: %u "
			    "connections", l->cl.text, addr, srv->nsessions);
			smtpd_refuse(fd, "421 4.7.0 Error: too many "
			    "connections\r\n");
			continue;
		}
		pp = smtpd_ip_find(srv, addr);
		if (*pp != NULL && (*pp)->n >= cf->max_connections_per_ip) {
			log_warn("listener=%s client=%s refused: %u "
			    "connections from this address", l->cl.text, addr,
			    (*pp)->n);
			smtpd_refuse(fd, "421 4.7.0 Error: too many "
			    "connections from your address\r\n");
			continue;
		}
		s = smtpd_session_new(srv, fd, addr, &l->cl);
		if (s != NULL)
			smtpd_register(srv, s);
	}
}

void
smtpd_server_listen(struct smtpd_server *srv, int fd,
    const struct conf_listener *cl)
{
	struct smtpd_listener *l = xcalloc(1, sizeof(*l));

	l->srv = srv;
	l->cl = *cl;
	l->fd = fd;
	l->ev = event_new(srv->base, fd, EV_READ | EV_PERSIST,
	    smtpd_accept_cb, l);
	event_add(l->ev, NULL);
	l->next = srv->listeners;
	srv->listeners = l;
}

void
smtpd_server_stop_listening(struct smtpd_server *srv)
{
	struct smtpd_listener *l, *next;

	for (l = srv->listeners; l != NULL; l = next) {
		next = l->next;
		event_free(l->ev);
		close(l->fd);
		free(l);
	}
	srv->listeners = NULL;
}

static void
smtpd_server_each(struct smtpd_server *srv,
    void (*fn)(struct smtpd_session *s))
{
	unsigned i;

	for (i = 0; i < srv->table_size; i++) {
		struct smtpd_session *s = srv->table[i], *next;
		for (; s != NULL; s = next) {
			next = s->hnext;
			fn(s);
		}
	}
}

static void
smtpd_shutdown_one(struct smtpd_session *s)
{
	/* A session waiting for its commit gets the answer first. */
	if (s->wait == SMTPD_W_COMMIT)
		return;
	smtpd_close(s, "421 4.3.2 %s Service shutting down",
	    s->rt->conf.hostname);
}

void
smtpd_server_shutdown(struct smtpd_server *srv)
{
	srv->stopping = true;
	smtpd_server_each(srv, smtpd_shutdown_one);
}

void
smtpd_session_queue_failed(struct smtpd_session *s)
{
	if (s->wait == SMTPD_W_CREATE)
		smtpd_session_created(s, EIO, "", -1);
	else if (s->wait == SMTPD_W_COMMIT)
		smtpd_session_committed(s, EIO);
	else if (s->fd >= 0) {
		/* Mid-content: the file is gone with the queue. */
		s->write_errno = EIO;
	}
}

static void
smtpd_auth_lost_one(struct smtpd_session *s)
{
	struct smtpd_auth_answer a = { .status = SMTPD_AUTH_TEMPFAIL };

	if (s->wait == SMTPD_W_AUTH)
		smtpd_session_auth_answer(s, &a);
}

void
smtpd_server_auth_lost(struct smtpd_server *srv)
{
	smtpd_server_each(srv, smtpd_auth_lost_one);
}

void
smtpd_server_queue_lost(struct smtpd_server *srv)
{
	smtpd_server_each(srv, smtpd_session_queue_failed);
}
