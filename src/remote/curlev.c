/*
 * curlev: libcurl's multi interface on a libevent loop (see curlev.h).
 * Each running transfer has a struct curlev_xfer (its callback), kept as
 * the easy handle's CURLOPT_PRIVATE and on a list for curlev_free().
 */
#include "remote/curlev.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "lib/buf.h"
#include "lib/xalloc.h"
#include "remote/dns.h"

struct curlev_xfer {
	struct curlev *c;
	CURL *easy;
	curlev_done_fn done;
	void *arg;
	TAILQ_ENTRY(curlev_xfer) entry;
};

struct curlev_sock {
	curl_socket_t fd;
	struct event *ev;
};

struct curlev {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	TAILQ_HEAD(, curlev_xfer) xfers;
};

/* Takes x's handle out of the multi handle and frees x. */
static void
curlev_xfer_drop(struct curlev_xfer *x)
{
	struct curlev *c = x->c;

	(void)curl_multi_remove_handle(c->multi, x->easy);
	(void)curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
	TAILQ_REMOVE(&c->xfers, x, entry);
	free(x);
}

/* Hands every finished transfer to its callback. */
static void
curlev_check(struct curlev *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		struct curlev_xfer *x = NULL;
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		curlev_done_fn done;
		void *arg;

		if (m->msg != CURLMSG_DONE)
			continue;
		(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &x);
		if (x == NULL || x->c != c)
			continue;
		done = x->done;
		arg = x->arg;
		curlev_xfer_drop(x); /* m is invalid from here on */
		done(easy, rc, arg);
	}
}

static void
curlev_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *c = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	(void)curl_multi_socket_action(c->multi, fd, flags, &running);
	curlev_check(c);
	if (running <= 0 && TAILQ_EMPTY(&c->xfers))
		(void)evtimer_del(c->timer);
}

static void
curlev_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *c = arg;
	int running;

	(void)fd;
	(void)what;
	(void)curl_multi_socket_action(
	    c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlev_check(c);
}

/* CURLMOPT_TIMERFUNCTION: ms < 0 stops the timer. */
static int
curlev_curl_timer(CURLM *multi, long ms, void *arg)
{
	struct curlev *c = arg;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		(void)evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(c->timer, &tv) == 0 ? 0 : -1;
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what (sockp: our curlev_sock). */
static int
curlev_curl_socket(
    CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct curlev *c = arg;
	struct curlev_sock *k = sockp;
	short ev = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (k != NULL) {
			event_free(k->ev);
			free(k);
		}
		return 0;
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev |= EV_READ;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev |= EV_WRITE;
	if (k == NULL) {
		k = xcalloc(1, sizeof(*k));
		k->fd = fd;
		(void)curl_multi_assign(c->multi, fd, k);
	} else {
		event_free(k->ev);
	}
	k->ev = event_new(c->base, fd, ev, curlev_sock_event, c);
	if (k->ev == NULL || event_add(k->ev, NULL) != 0)
		return -1;
	return 0;
}

struct curlev *
curlev_new(struct event_base *base, char *err, size_t errsz)
{
	struct curlev *c;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errsz, "libcurl initialisation failed");
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	TAILQ_INIT(&c->xfers);
	if ((c->multi = curl_multi_init()) == NULL ||
	    (c->timer = evtimer_new(base, curlev_timer_event, c)) == NULL) {
		snprintf(err, errsz, "cannot set up libcurl's multi handle");
		curlev_free(c);
		return NULL;
	}
	(void)curl_multi_setopt(
	    c->multi, CURLMOPT_SOCKETFUNCTION, curlev_curl_socket);
	(void)curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	(void)curl_multi_setopt(
	    c->multi, CURLMOPT_TIMERFUNCTION, curlev_curl_timer);
	(void)curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

void
curlev_free(struct curlev *c)
{
	if (c == NULL)
		return;
	while (!TAILQ_EMPTY(&c->xfers))
		curlev_xfer_drop(TAILQ_FIRST(&c->xfers));
	if (c->multi != NULL)
		(void)curl_multi_cleanup(c->multi);
	if (c->timer != NULL)
		event_free(c->timer);
	free(c);
	curl_global_cleanup();
}

int
curlev_add(struct curlev *c, CURL *easy, curlev_done_fn done, void *arg,
    char *err, size_t errsz)
{
	struct curlev_xfer *x = xcalloc(1, sizeof(*x));
	CURLMcode mrc;

	x->c = c;
	x->easy = easy;
	x->done = done;
	x->arg = arg;
	TAILQ_INSERT_TAIL(&c->xfers, x, entry);
	(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	mrc = curl_multi_add_handle(c->multi, easy);
	if (mrc != CURLM_OK) {
		(void)curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		TAILQ_REMOVE(&c->xfers, x, entry);
		free(x);
		snprintf(err, errsz, "libcurl: %s", curl_multi_strerror(mrc));
		return -1;
	}
	return 0;
}

void
curlev_remove(struct curlev *c, CURL *easy)
{
	struct curlev_xfer *x = NULL;

	if (c == NULL || easy == NULL)
		return;
	(void)curl_easy_getinfo(easy, CURLINFO_PRIVATE, &x);
	if (x != NULL && x->c == c && x->easy == easy)
		curlev_xfer_drop(x);
}

struct curl_slist *
curlev_pin(const char *host, const char *port, const struct dns_host *h)
{
	struct curl_slist *pin;
	struct buf b;
	size_t i;

	buf_init(&b, 4096);
	(void)buf_printf(&b, "%s:%s:", host, port);
	for (i = 0; i < h->naddrs; i++) {
		char a[64];

		dns_addr_format(&h->addrs[i], a, sizeof(a));
		(void)buf_printf(&b, h->addrs[i].family == AF_INET6 ?
		    "%s[%s]" : "%s%s", i ? "," : "", a);
	}
	pin = curl_slist_append(NULL, buf_str(&b));
	buf_clear(&b);
	return pin;
}

CURL *
curlev_https(const char *url, struct curl_slist *pin, const char *ca,
    size_t ca_len, long timeout, char *errbuf)
{
	struct curl_blob blob;
	CURL *e = curl_easy_init();

	if (e == NULL)
		return NULL;
	blob.data = (void *)(uintptr_t)ca;	/* copied: never written */
	blob.len = ca_len;
	blob.flags = CURL_BLOB_COPY;
	(void)curl_easy_setopt(e, CURLOPT_URL, url);
	(void)curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	(void)curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	(void)curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	(void)curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	(void)curl_easy_setopt(e, CURLOPT_MAXREDIRS, 0L);
	(void)curl_easy_setopt(e, CURLOPT_RESOLVE, pin);
	(void)curl_easy_setopt(e, CURLOPT_PROXY, "");
	(void)curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	(void)curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	(void)curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	if (ca_len > 0)
		(void)curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
	(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	(void)curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	(void)curl_easy_setopt(e, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2);
	(void)curl_easy_setopt(e, CURLOPT_TIMEOUT, timeout);
	(void)curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	(void)curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	(void)curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	(void)curl_easy_setopt(e, CURLOPT_USERAGENT, "petrel/" PETREL_VERSION);
	return e;
}
