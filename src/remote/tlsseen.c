/*
 * tlsseen: remember-TLS records (see tlsseen.h). In memory a sorted array
 * of (host, time): lookups are binary searches, a new host costs one
 * memmove (new hosts are rare next to lookups), and the file and the
 * listing come out sorted without extra work.
 */
#include "remote/tlsseen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/dns_rdata.h"

#define TLSSEEN_HOST_MAX 253

struct tlsseen_ent {
	char *host;
	int64_t t;
};

struct tlsseen {
	char *path;
	struct tlsseen_ent *v; /* sorted by host, unique */
	size_t n, cap, max;
	bool dirty;
	int64_t saved; /* monotonic seconds of the last write, 0 never */
	struct event *timer;
};

static int64_t
tlsseen_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec + 1; /* never 0 */
}

/*
 * The canonical form of host: lower case, no trailing dot; a DNS host
 * name (dns_rdata_is_hostname) or an IPv4/IPv6 address. 0, or -1.
 */
static int
tlsseen_canon(const char *host, char out[TLSSEEN_HOST_MAX + 1])
{
	size_t n = host != NULL ? strlen(host) : 0, i;
	unsigned char a[16];

	if (n > 0 && host[n - 1] == '.')
		n--;
	if (n == 0 || n > TLSSEEN_HOST_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		char c = host[i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	if (dns_rdata_is_hostname(span_make(out, n)) ||
	    inet_pton(AF_INET, out, a) == 1 || inet_pton(AF_INET6, out, a) == 1)
		return 0;
	return -1;
}

/* Index of host, or where it would go (*found false). */
static size_t
tlsseen_find(const struct tlsseen *t, const char *host, bool *found)
{
	size_t lo = 0, hi = t->n;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].host, host);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
tlsseen_cmp_time(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Drops the oldest 1% (at least one) of the hosts. */
static void
tlsseen_evict(struct tlsseen *t)
{
	size_t k = t->n / 100, i, j, dropped = 0;
	int64_t *times, limit;

	if (t->n == 0)
		return;
	if (k == 0)
		k = 1;
	times = xreallocarray(NULL, t->n, sizeof(*times));
	for (i = 0; i < t->n; i++)
		times[i] = t->v[i].t;
	qsort(times, t->n, sizeof(*times), tlsseen_cmp_time);
	limit = times[k - 1];
	free(times);
	/* everything older than the limit, then hosts at the limit until k
	 * are gone */
	for (i = j = 0; i < t->n; i++) {
		if (t->v[i].t < limit || (t->v[i].t == limit && dropped < k)) {
			free(t->v[i].host);
			dropped++;
			continue;
		}
		t->v[j++] = t->v[i];
	}
	t->n = j;
	log_info("tls-seen: bound of %zu hosts reached, dropped the %zu "
		 "oldest",
	    t->max, dropped);
}

/* Inserts or updates host (canonical) with time tm; keeps the later. */
static void
tlsseen_set(struct tlsseen *t, const char *host, int64_t tm)
{
	bool found;
	size_t i = tlsseen_find(t, host, &found);

	if (found) {
		if (tm > t->v[i].t) {
			t->v[i].t = tm;
			t->dirty = true;
		}
		return;
	}
	if (t->n >= t->max) {
		tlsseen_evict(t);
		i = tlsseen_find(t, host, &found);
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
	t->v[i].host = xstrdup(host);
	t->v[i].t = tm;
	t->n++;
	t->dirty = true;
}

/* Parses "host epoch" (one line, no newline). 0, or -1. */
static int
tlsseen_parse_line(
    const char *p, size_t n, char host[TLSSEEN_HOST_MAX + 1], int64_t *tm)
{
	char word[TLSSEEN_HOST_MAX + 1];
	const char *sp = memchr(p, ' ', n);
	size_t hn, i;
	int64_t v = 0;

	if (sp == NULL)
		return -1;
	hn = (size_t)(sp - p);
	if (hn == 0 || hn > TLSSEEN_HOST_MAX)
		return -1;
	memcpy(word, p, hn);
	word[hn] = '\0';
	if (tlsseen_canon(word, host) != 0 || strcmp(word, host) != 0)
		return -1;
	i = hn + 1;
	if (i == n || n - i > 18)
		return -1;
	for (; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v <= 0)
		return -1;
	*tm = v;
	return 0;
}

static int
tlsseen_load(struct tlsseen *t, char *err, size_t errsz)
{
	char host[TLSSEEN_HOST_MAX + 1];
	struct stat st;
	char *data;
	size_t off = 0, len, lineno = 0, bad = 0;
	ssize_t r;
	int fd;
	int64_t tm;

	fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errsz, "%s: %s", t->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > TLSSEEN_FILE_MAX) {
		snprintf(err, errsz, "%s: %s", t->path,
		    st.st_size > 0 ? "file too large" : strerror(errno));
		close(fd);
		return -1;
	}
	len = (size_t)st.st_size;
	data = xmalloc(len + 1);
	while (off < len) {
		r = read(fd, data + off, len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	len = off;
	off = 0;
	while (off < len) {
		const char *p = data + off;
		const char *nl = memchr(p, '\n', len - off);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - off;

		lineno++;
		off += n + (nl != NULL);
		if (tlsseen_parse_line(p, n, host, &tm) != 0) {
			if (bad++ < 5)
				log_warn("tls-seen: %s line %zu skipped: not "
					 "\"host epoch\"",
				    t->path, lineno);
			continue;
		}
		tlsseen_set(t, host, tm);
	}
	if (bad > 5)
		log_warn(
		    "tls-seen: %s: %zu corrupt lines skipped", t->path, bad);
	free(data);
	/* loading alone is no change, unless lines were dropped */
	t->dirty = bad > 0;
	return 0;
}

static void
tlsseen_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tlsseen_flush(arg);
}

struct tlsseen *
tlsseen_open(const char *path, char *err, size_t errsz)
{
	struct tlsseen *t = xcalloc(1, sizeof(*t));

	if (errsz > 0)
		err[0] = '\0';
	t->path = xstrdup(path);
	t->max = TLSSEEN_MAX;
	if (tlsseen_load(t, err, errsz) != 0) {
		tlsseen_close(t);
		return NULL;
	}
	return t;
}

void
tlsseen_set_base(struct tlsseen *t, struct event_base *base)
{
	if (t->timer != NULL) {
		event_free(t->timer);
		t->timer = NULL;
	}
	if (base != NULL)
		t->timer = evtimer_new(base, tlsseen_timer_cb, t);
}

void
tlsseen_discard(struct tlsseen *t)
{
	if (t != NULL)
		t->dirty = false;
	tlsseen_close(t);
}

void
tlsseen_close(struct tlsseen *t)
{
	size_t i;

	if (t == NULL)
		return;
	if (t->dirty)
		tlsseen_flush(t);
	if (t->timer != NULL)
		event_free(t->timer);
	for (i = 0; i < t->n; i++)
		free(t->v[i].host);
	free(t->v);
	free(t->path);
	free(t);
}

int64_t
tlsseen_get(const struct tlsseen *t, const char *host)
{
	char h[TLSSEEN_HOST_MAX + 1];
	bool found;
	size_t i;

	if (tlsseen_canon(host, h) != 0)
		return 0;
	i = tlsseen_find(t, h, &found);
	return found ? t->v[i].t : 0;
}

/* After a change: write now if the interval has passed, else later. */
static void
tlsseen_changed(struct tlsseen *t)
{
	struct timeval tv = {TLSSEEN_SAVE_INTERVAL, 0};

	if (!t->dirty)
		return;
	if (t->saved == 0 || tlsseen_mono() - t->saved >= TLSSEEN_SAVE_INTERVAL)
		tlsseen_flush(t);
	else if (t->timer != NULL && !evtimer_pending(t->timer, NULL))
		evtimer_add(t->timer, &tv);
}

void
tlsseen_put(struct tlsseen *t, const char *host, int64_t now)
{
	char h[TLSSEEN_HOST_MAX + 1];

	if (now <= 0 || tlsseen_canon(host, h) != 0)
		return;
	tlsseen_set(t, h, now);
	tlsseen_changed(t);
}

int
tlsseen_forget(struct tlsseen *t, const char *host)
{
	char h[TLSSEEN_HOST_MAX + 1];
	bool found;
	size_t i;

	if (tlsseen_canon(host, h) != 0)
		return -1;
	i = tlsseen_find(t, h, &found);
	if (!found)
		return -1;
	free(t->v[i].host);
	memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
	t->n--;
	t->dirty = true;
	tlsseen_changed(t);
	return 0;
}

void
tlsseen_list(const struct tlsseen *t, struct buf *out)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		time_t tt = (time_t)t->v[i].t;
		struct tm tm;
		char when[32];

		if (gmtime_r(&tt, &tm) == NULL ||
		    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) ==
			0)
			snprintf(
			    when, sizeof(when), "%lld", (long long)t->v[i].t);
		if (buf_printf(out, "%s %s\n", t->v[i].host, when) != 0)
			return;
	}
}

size_t
tlsseen_count(const struct tlsseen *t)
{
	return t->n;
}

void
tlsseen_set_limit(struct tlsseen *t, size_t max)
{
	t->max = max > 0 ? max : 1;
}

/* The directory part of path ("." for a bare name). */
static void
tlsseen_dirname(const char *path, char *out, size_t outsz)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(out, outsz, ".");
	else if (slash == path)
		snprintf(out, outsz, "/");
	else
		snprintf(out, outsz, "%.*s", (int)(slash - path), path);
}

void
tlsseen_flush(struct tlsseen *t)
{
	char dir[4096], tmp[4200];
	struct buf b;
	size_t i;
	int fd;

	if (!t->dirty)
		return;
	t->saved = tlsseen_mono();
	if (t->timer != NULL)
		evtimer_del(t->timer);
	buf_init(&b, (size_t)TLSSEEN_FILE_MAX);
	for (i = 0; i < t->n; i++) {
		if (buf_printf(&b, "%s %lld\n", t->v[i].host,
			(long long)t->v[i].t) != 0)
			break;
	}
	tlsseen_dirname(t->path, dir, sizeof(dir));
	fd = fsio_mktemp(dir, ".tls-seen.", tmp, sizeof(tmp));
	if (fd < 0) {
		log_warn("tls-seen: cannot create a file in %s: %s", dir,
		    strerror(errno));
		buf_clear(&b);
		return;
	}
	if (fsio_write_all(fd, b.data != NULL ? b.data : "", b.len) != 0) {
		(void)close(fd);
		fd = -1;
	}
	if (fd < 0 || close(fd) != 0 || rename(tmp, t->path) != 0) {
		log_warn(
		    "tls-seen: cannot write %s: %s", t->path, strerror(errno));
		(void)unlink(tmp);
	} else {
		t->dirty = false;
	}
	buf_clear(&b);
}
