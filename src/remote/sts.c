/*
 * sts: MTA-STS discovery, HTTPS fetch (libcurl multi on libevent) and the
 * policy cache (see sts.h for the steps and the promises).
 *
 * One query walks: TXT lookup -> (cache hit: done) -> address lookup of
 * mta-sts.DOMAIN -> curl transfer -> done. Every result, success or not,
 * is put into q->result and handed to the caller from q->done_ev, a
 * manually activated event, so the callback never runs inside sts_get()
 * nor inside libcurl's or libunbound's own call chains, and the caller may
 * start or cancel other queries from it.
 *
 * The transfers run on the event loop through remote/curlev (libcurl's
 * multi interface driven by libevent), one callback per finished fetch.
 */
#include "remote/sts.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "lib/buf.h"
#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/dns_rdata.h"
#include "remote/curlev.h"
#include "remote/dns.h"

#define STS_TXT_MAX    1024  /* TXT text we look at; an STS record is short */
#define STS_FILE_MAX   16384 /* a cache file: header + canonical policy */
#define STS_FILE_MAGIC "petrel-sts-cache 1"

struct sts_entry {
	char domain[DNS_NAME_MAX + 1];
	char id[MTA_STS_ID_MAX + 1];
	time_t fetched, expires;
	struct mta_sts_policy policy;
};

struct sts_query {
	struct sts *s;
	TAILQ_ENTRY(sts_query) entry;
	char domain[DNS_NAME_MAX + 1];
	char host[DNS_NAME_MAX + 16]; /* mta-sts.DOMAIN (DOMAIN is short
				       * enough for the name to fit 253) */
	struct dns *dns;
	char *ca;
	size_t ca_len;
	sts_cb cb;
	void *arg;
	struct dns_lookup *txt;
	struct dns_query *addr;
	CURL *easy;
	struct curl_slist *resolve;
	struct buf body;
	bool too_big;
	char curl_err[CURL_ERROR_SIZE];
	struct event *done_ev;
	struct sts_result result;
};

struct sts {
	struct event_base *base;
	char *cache_dir; /* NULL: memory only */
	struct curlev *curl;
	unsigned port, timeout;
	struct sts_entry *cache;
	size_t ncache, capcache;
	TAILQ_HEAD(, sts_query) queries;
};

/* ---- the cache ------------------------------------------------------ */

static struct sts_entry *
sts_cache_find(struct sts *s, const char *domain)
{
	size_t i;

	for (i = 0; i < s->ncache; i++)
		if (strcmp(s->cache[i].domain, domain) == 0)
			return &s->cache[i];
	return NULL;
}

/* The unexpired cached policy of domain, or NULL. */
static struct sts_entry *
sts_cache_live(struct sts *s, const char *domain, time_t now)
{
	struct sts_entry *e = sts_cache_find(s, domain);

	return e != NULL && e->expires > now ? e : NULL;
}

static void
sts_cache_remove_at(struct sts *s, size_t i)
{
	s->cache[i] = s->cache[--s->ncache];
}

/* Stores e in memory (replacing the domain's entry), bounded. */
static void
sts_cache_put(struct sts *s, const struct sts_entry *e, time_t now)
{
	struct sts_entry *old = sts_cache_find(s, e->domain);
	size_t i, victim;

	if (old != NULL) {
		*old = *e;
		return;
	}
	if (s->ncache == STS_CACHE_MAX) {
		for (i = 0; i < s->ncache;) {
			if (s->cache[i].expires <= now)
				sts_cache_remove_at(s, i);
			else
				i++;
		}
	}
	if (s->ncache == STS_CACHE_MAX) {
		victim = 0;
		for (i = 1; i < s->ncache; i++)
			if (s->cache[i].expires < s->cache[victim].expires)
				victim = i;
		if (s->cache_dir != NULL) {
			char path[4096];

			if (snprintf(path, sizeof(path), "%s/%s", s->cache_dir,
				s->cache[victim].domain) < (int)sizeof(path))
				(void)unlink(path);
		}
		sts_cache_remove_at(s, victim);
	}
	if (s->ncache == s->capcache) {
		s->capcache = s->capcache ? s->capcache * 2 : 16;
		s->cache =
		    xreallocarray(s->cache, s->capcache, sizeof(*s->cache));
	}
	s->cache[s->ncache++] = *e;
}

/* Formats e as a cache file into b. */
static int
sts_entry_format(const struct sts_entry *e, struct buf *b)
{
	char lines[MTA_STS_MX_MAX + 3][MTA_STS_STRING_MAX];
	size_t n, i;
	int rc;

	rc = buf_printf(b,
	    "%s\ndomain %s\nid %s\nfetched %lld\nexpires %lld\n\n",
	    STS_FILE_MAGIC, e->domain, e->id, (long long)e->fetched,
	    (long long)e->expires);
	n = mta_sts_policy_strings(&e->policy, lines, MTA_STS_MX_MAX + 3);
	for (i = 0; i < n && rc == 0; i++)
		rc = buf_printf(b, "%s\n", lines[i]);
	return rc;
}

/*
 * Writes e to cache_dir/DOMAIN through a temporary file and rename(), so
 * a reader sees the old file or the new one. Failures are logged only.
 */
static void
sts_cache_write(struct sts *s, const struct sts_entry *e)
{
	char tmp[4096], path[4096];
	struct buf b;
	int fd;

	if (s->cache_dir == NULL)
		return;
	if (snprintf(path, sizeof(path), "%s/%s", s->cache_dir, e->domain) >=
	    (int)sizeof(path))
		return;
	buf_init(&b, STS_FILE_MAX);
	if (sts_entry_format(e, &b) != 0) {
		buf_clear(&b);
		return;
	}
	fd = fsio_mktemp(s->cache_dir, ".tmp-", tmp, sizeof(tmp));
	if (fd < 0) {
		log_warn("mta-sts cache: %s: cannot create a file: %s",
		    s->cache_dir, strerror(errno));
		buf_clear(&b);
		return;
	}
	if (fsio_write_all(fd, b.data, b.len) != 0 || close(fd) != 0) {
		log_warn("mta-sts cache: %s: write failed: %s", tmp,
		    strerror(errno));
		(void)unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		log_warn("mta-sts cache: %s: rename failed: %s", path,
		    strerror(errno));
		(void)unlink(tmp);
	}
	buf_clear(&b);
}

/* Reads "KEY VALUE\n" at *p into val (valsz); false if it is not there. */
static bool
sts_file_field(struct span *p, const char *key, char *val, size_t valsz)
{
	size_t kn = strlen(key), i;
	const char *nl;

	if (p->n <= kn || memcmp(p->p, key, kn) != 0 || p->p[kn] != ' ')
		return false;
	nl = memchr(p->p, '\n', p->n);
	if (nl == NULL)
		return false;
	i = (size_t)(nl - p->p) - kn - 1;
	if (i == 0 || i >= valsz)
		return false;
	memcpy(val, p->p + kn + 1, i);
	val[i] = '\0';
	*p = span_skip(*p, (size_t)(nl - p->p) + 1);
	return true;
}

static bool
sts_parse_time(const char *v, time_t *out)
{
	char *end;
	long long t;

	errno = 0;
	t = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || t < 0 || end == v)
		return false;
	*out = (time_t)t;
	return true;
}

/*
 * Parses a cache file (text, n bytes) for domain into *e. 0 or -1 (the
 * file is not ours, truncated, or for another domain).
 */
static int
sts_entry_parse(
    const char *text, size_t n, const char *domain, struct sts_entry *e)
{
	struct span p = span_make(text, n);
	char v[DNS_NAME_MAX + 1];
	size_t ml = strlen(STS_FILE_MAGIC);
	struct mta_sts_txt t;
	char idrec[MTA_STS_ID_MAX + 16];

	memset(e, 0, sizeof(*e));
	if (p.n <= ml || memcmp(p.p, STS_FILE_MAGIC, ml) != 0 ||
	    p.p[ml] != '\n')
		return -1;
	p = span_skip(p, ml + 1);
	if (!sts_file_field(&p, "domain", e->domain, sizeof(e->domain)) ||
	    strcmp(e->domain, domain) != 0)
		return -1;
	if (!sts_file_field(&p, "id", e->id, sizeof(e->id)))
		return -1;
	/* the id must be one the TXT grammar allows */
	(void)snprintf(idrec, sizeof(idrec), "v=STSv1; id=%s", e->id);
	if (mta_sts_txt_parse(span_cstr(idrec), &t) != 0)
		return -1;
	if (!sts_file_field(&p, "fetched", v, sizeof(v)) ||
	    !sts_parse_time(v, &e->fetched))
		return -1;
	if (!sts_file_field(&p, "expires", v, sizeof(v)) ||
	    !sts_parse_time(v, &e->expires))
		return -1;
	if (p.n < 1 || p.p[0] != '\n')
		return -1;
	p = span_skip(p, 1);
	if (mta_sts_policy_parse(p, &e->policy, NULL, 0) != 0)
		return -1;
	/* never trust an expiry beyond what max_age allows */
	if (e->expires > e->fetched + (time_t)e->policy.max_age)
		e->expires = e->fetched + (time_t)e->policy.max_age;
	return 0;
}

/*
 * Loads every cache file of dir. writable: expired and unparsable files
 * are removed (our own directory). Returns the number loaded, or -1.
 */
static int
sts_cache_load(
    struct sts *s, const char *dir, bool writable, char *err, size_t errsz)
{
	time_t now = time(NULL);
	struct dirent *de;
	DIR *d;
	int count = 0;

	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		char path[4096], text[STS_FILE_MAX];
		struct sts_entry e;
		struct stat st;
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.') {
			/* a temporary file left by a crash */
			if (writable && strncmp(de->d_name, ".tmp-", 5) == 0 &&
			    snprintf(path, sizeof(path), "%s/%s", dir,
				de->d_name) < (int)sizeof(path))
				(void)unlink(path);
			continue;
		}
		if (!dns_rdata_is_hostname(span_cstr(de->d_name)) ||
		    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
			(int)sizeof(path))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size >= (off_t)sizeof(text)) {
			(void)close(fd);
			continue;
		}
		n = read(fd, text, sizeof(text));
		(void)close(fd);
		if (n < 0 ||
		    sts_entry_parse(text, (size_t)n, de->d_name, &e) != 0 ||
		    e.expires <= now) {
			if (writable)
				(void)unlink(path);
			continue;
		}
		sts_cache_put(s, &e, now);
		count++;
	}
	(void)closedir(d);
	return count;
}

int
sts_cache_import(struct sts *s, const char *dir, char *err, size_t errsz)
{
	return sts_cache_load(s, dir, false, err, errsz);
}

static int
sts_entry_cmp(const void *a, const void *b)
{
	const struct sts_entry *const *x = a, *const *y = b;

	return strcmp((*x)->domain, (*y)->domain);
}

static void
sts_iso(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, outsz, "%lld", (long long)t);
}

size_t
sts_cache_dump(struct sts *s, struct buf *out)
{
	time_t now = time(NULL);
	const struct sts_entry **v;
	size_t n = 0, i, j;

	if (s->ncache == 0)
		return 0;
	v = xcalloc(s->ncache, sizeof(*v));
	for (i = 0; i < s->ncache; i++)
		if (s->cache[i].expires > now)
			v[n++] = &s->cache[i];
	qsort(v, n, sizeof(*v), sts_entry_cmp);
	for (i = 0; i < n; i++) {
		char f[32], x[32];

		sts_iso(v[i]->fetched, f, sizeof(f));
		sts_iso(v[i]->expires, x, sizeof(x));
		(void)buf_printf(out,
		    "%s id %s mode %s max_age %u fetched %s expires %s mx ",
		    v[i]->domain, v[i]->id,
		    mta_sts_mode_name(v[i]->policy.mode),
		    (unsigned)v[i]->policy.max_age, f, x);
		for (j = 0; j < v[i]->policy.nmx; j++)
			(void)buf_printf(
			    out, "%s%s", j ? "," : "", v[i]->policy.mx[j]);
		(void)buf_puts(out, v[i]->policy.nmx ? "\n" : "-\n");
	}
	free(v);
	return n;
}

/* ---- queries: delivery ---------------------------------------------- */

static void
sts_query_free(struct sts_query *q)
{
	if (q->txt != NULL)
		dns_lookup_cancel(q->txt);
	if (q->addr != NULL)
		dns_cancel(q->addr);
	if (q->easy != NULL) {
		curlev_remove(q->s->curl, q->easy);
		curl_easy_cleanup(q->easy);
	}
	curl_slist_free_all(q->resolve);
	buf_clear(&q->body);
	if (q->ca != NULL)
		free(q->ca);
	event_free(q->done_ev);
	TAILQ_REMOVE(&q->s->queries, q, entry);
	free(q);
}

static void
sts_query_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct sts_query *q = arg;
	struct sts_result r;
	sts_cb cb = q->cb;
	void *cbarg = q->arg;

	(void)fd;
	(void)what;
	r = q->result;
	sts_query_free(q);
	cb(&r, cbarg);
}

/* Finishes q: its callback follows from the loop. */
static void
sts_query_done(struct sts_query *q)
{
	if (q->easy != NULL) {
		curlev_remove(q->s->curl, q->easy);
		curl_easy_cleanup(q->easy);
		q->easy = NULL;
	}
	event_active(q->done_ev, 0, 0);
}

static void
sts_result_cached(struct sts_query *q, const struct sts_entry *e)
{
	q->result.status = STS_OK;
	q->result.cached = true;
	q->result.policy = e->policy;
	(void)snprintf(q->result.id, sizeof(q->result.id), "%s", e->id);
	q->result.fetched = e->fetched;
	q->result.expires = e->expires;
}

/*
 * No usable TXT record (why: error text): the cached policy if there is
 * one (RFC 8461 5.1: the absence of a record does not remove it), else no
 * policy.
 */
static void
sts_query_no_record(struct sts_query *q, const char *why)
{
	struct sts_entry *e = sts_cache_live(q->s, q->domain, time(NULL));

	(void)snprintf(q->result.error, sizeof(q->result.error), "%s", why);
	if (e != NULL)
		sts_result_cached(q, e);
	else
		q->result.status = STS_NONE;
	sts_query_done(q);
}

/* A fetch failed: the cached policy if there is one, else STS_FAIL. */
static void sts_query_fetch_failed(struct sts_query *q, const char *failure,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
sts_query_fetch_failed(
    struct sts_query *q, const char *failure, const char *fmt, ...)
{
	struct sts_entry *e = sts_cache_live(q->s, q->domain, time(NULL));
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(q->result.error, sizeof(q->result.error), fmt, ap);
	va_end(ap);
	q->result.failure = failure;
	log_info("mta-sts domain=%s policy fetch failed (%s): %s%s", q->domain,
	    failure, q->result.error,
	    e != NULL ? "; using the cached policy" : "");
	if (e != NULL)
		sts_result_cached(q, e);
	else
		q->result.status = STS_FAIL; /* result.id: the TXT id */
	sts_query_done(q);
}

/* ---- queries: the HTTPS fetch --------------------------------------- */

static size_t
sts_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sts_query *q = arg;
	size_t n = size * nmemb;

	if (q->body.len + n > MTA_STS_POLICY_MAX ||
	    buf_append(&q->body, p, n) != 0) {
		q->too_big = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	return n;
}

/* RFC 8461 3.2: media type text/plain, parameters ignored. */
static bool
sts_is_text_plain(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, "text/plain", 10) != 0)
		return false;
	n = 10;
	while (ct[n] == ' ' || ct[n] == '\t')
		n++;
	return ct[n] == '\0' || ct[n] == ';';
}

/* A transfer ended with code rc. */
static void
sts_fetch_finished(struct sts_query *q, CURLcode rc)
{
	time_t now = time(NULL);
	struct mta_sts_policy p;
	struct sts_entry e;
	char err[128];
	long status = 0;
	char *ct = NULL;

	(void)curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		const char *why =
		    q->curl_err[0] ? q->curl_err : curl_easy_strerror(rc);

		switch (rc) {
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			sts_query_fetch_failed(q, "sts-webpki-invalid",
			    "https://%s/: certificate: %s", q->host, why);
			return;
		case CURLE_WRITE_ERROR:
		case CURLE_FILESIZE_EXCEEDED:
			if (q->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
				sts_query_fetch_failed(q,
				    "sts-policy-fetch-error",
				    "https://%s/: policy larger than %d bytes",
				    q->host, MTA_STS_POLICY_MAX);
				return;
			}
			break;
		default:
			break;
		}
		sts_query_fetch_failed(q, "sts-policy-fetch-error",
		    "https://%s/: %s", q->host, why);
		return;
	}
	if (status != 200) {
		sts_query_fetch_failed(q, "sts-policy-fetch-error",
		    "https://%s/: HTTP status %ld%s", q->host, status,
		    status >= 300 && status < 400 ? " (redirects are not "
						    "followed)"
						  : "");
		return;
	}
	(void)curl_easy_getinfo(q->easy, CURLINFO_CONTENT_TYPE, &ct);
	if (!sts_is_text_plain(ct)) {
		char safe[64];

		(void)log_escape(
		    ct ? ct : "none", ct ? strlen(ct) : 4, safe, sizeof(safe));
		sts_query_fetch_failed(q, "sts-policy-fetch-error",
		    "https://%s/: Content-Type %s, not text/plain", q->host,
		    safe);
		return;
	}
	if (mta_sts_policy_parse(
		span_make(q->body.data ? q->body.data : "", q->body.len), &p,
		err, sizeof(err)) != 0) {
		sts_query_fetch_failed(q, "sts-policy-invalid",
		    "https://%s/: invalid policy: %s", q->host, err);
		return;
	}
	memset(&e, 0, sizeof(e));
	memcpy(e.domain, q->domain, sizeof(e.domain));
	memcpy(e.id, q->result.id, sizeof(e.id));
	e.fetched = now;
	e.expires = now + (time_t)p.max_age;
	e.policy = p;
	sts_cache_put(q->s, &e, now);
	sts_cache_write(q->s, &e);
	log_info("mta-sts domain=%s id=%s mode=%s max_age=%u mx=%zu fetched",
	    q->domain, e.id, mta_sts_mode_name(p.mode), (unsigned)p.max_age,
	    p.nmx);
	q->result.status = STS_OK;
	q->result.cached = false;
	q->result.policy = p;
	q->result.fetched = e.fetched;
	q->result.expires = e.expires;
	sts_query_done(q);
}

/* curlev's callback: the fetch of q ended. */
static void
sts_fetch_done(CURL *easy, CURLcode rc, void *arg)
{
	(void)easy;
	sts_fetch_finished(arg, rc);
}

/* The addresses of mta-sts.DOMAIN arrived: start the transfer. */
static void
sts_addr_done(struct dns_route *r, void *arg)
{
	struct sts_query *q = arg;
	struct sts *s = q->s;
	const struct dns_host *h;
	struct buf url;
	char cerr[256], port[8];

	q->addr = NULL;
	h = r->nhosts > 0 ? &r->hosts[0] : NULL;
	if (h == NULL || h->naddrs == 0) {
		sts_query_fetch_failed(q, "sts-policy-fetch-error",
		    "no address: %s",
		    h != NULL && h->error[0] ? h->error : r->error);
		dns_route_free(r);
		return;
	}
	snprintf(port, sizeof(port), "%u", s->port);
	q->resolve = curlev_pin(q->host, port, h);
	dns_route_free(r);
	buf_init(&url, 1024);
	if (s->port == 443)
		(void)buf_printf(
		    &url, "https://%s/.well-known/mta-sts.txt", q->host);
	else
		(void)buf_printf(&url, "https://%s:%u/.well-known/mta-sts.txt",
		    q->host, s->port);
	q->easy = q->resolve == NULL ? NULL : curlev_https(buf_str(&url),
	    q->resolve, q->ca, q->ca_len, (long)s->timeout, q->curl_err);
	buf_clear(&url);
	if (q->easy == NULL) {
		sts_query_fetch_failed(
		    q, "sts-policy-fetch-error", "cannot set up libcurl");
		return;
	}
	(void)curl_easy_setopt(
	    q->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MTA_STS_POLICY_MAX);
	(void)curl_easy_setopt(q->easy, CURLOPT_WRITEFUNCTION, sts_write_cb);
	(void)curl_easy_setopt(q->easy, CURLOPT_WRITEDATA, q);
	if (curlev_add(s->curl, q->easy, sts_fetch_done, q, cerr,
		sizeof(cerr)) != 0) {
		curl_easy_cleanup(q->easy);
		q->easy = NULL;
		sts_query_fetch_failed(
		    q, "sts-policy-fetch-error", "%s", cerr);
	}
}

/* ---- queries: discovery --------------------------------------------- */

static void
sts_txt_done(const struct dns_answer *a, void *arg)
{
	struct sts_query *q = arg;
	struct sts *s = q->s;
	struct mta_sts_txt t;
	struct sts_entry *e;
	char text[STS_TXT_MAX], found[STS_TXT_MAX];
	size_t i, n, nsts = 0, foundlen = 0;
	time_t now = time(NULL);

	q->txt = NULL;
	if (a->status != DNS_OK) {
		char why[600];

		(void)snprintf(why, sizeof(why), "_mta-sts.%s TXT: %s",
		    q->domain, a->nxdomain ? "no such name" : a->error);
		sts_query_no_record(q, why);
		return;
	}
	for (i = 0; i < a->nrr; i++) {
		if (dns_rdata_txt(
			span_make((const char *)a->rr[i].p, a->rr[i].n), text,
			sizeof(text), &n) != DNS_RDATA_OK)
			continue;
		if (!mta_sts_txt_is_sts(span_make(text, n)))
			continue;
		if (nsts++ == 0) {
			memcpy(found, text, n);
			foundlen = n;
		}
	}
	if (nsts != 1) {
		sts_query_no_record(q, nsts == 0 ? ""
						 : "several v=STSv1 TXT "
						   "records");
		return;
	}
	if (mta_sts_txt_parse(span_make(found, foundlen), &t) != 0) {
		char why[600], safe[128];

		(void)log_escape(found, foundlen, safe, sizeof(safe));
		(void)snprintf(why, sizeof(why),
		    "_mta-sts.%s TXT: invalid record \"%s\"", q->domain, safe);
		sts_query_no_record(q, why);
		return;
	}
	memcpy(q->result.id, t.id, sizeof(t.id));
	e = sts_cache_live(s, q->domain, now);
	if (e != NULL && strcmp(e->id, t.id) == 0 &&
	    now - e->fetched < STS_REFRESH && now >= e->fetched) {
		sts_result_cached(q, e);
		sts_query_done(q);
		return;
	}
	q->addr = dns_host(q->dns, q->host, sts_addr_done, q);
}

struct sts_query *
sts_get(struct sts *s, struct dns *dns, const char *ca_pem, size_t ca_len,
    const char *domain, sts_cb cb, void *arg)
{
	struct sts_query *q = xcalloc(1, sizeof(*q));
	size_t n = strlen(domain), i;
	char name[DNS_NAME_MAX + 16];

	q->s = s;
	q->dns = dns;
	q->cb = cb;
	q->arg = arg;
	buf_init(&q->body, MTA_STS_POLICY_MAX);
	q->done_ev = event_new(s->base, -1, 0, sts_query_deliver, q);
	if (q->done_ev == NULL)
		abort(); /* out of memory */
	TAILQ_INSERT_TAIL(&s->queries, q, entry);
	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX - 9 ||
	    !dns_rdata_is_hostname(span_make(domain, n))) {
		(void)snprintf(q->result.error, sizeof(q->result.error),
		    "invalid domain name");
		q->result.status = STS_NONE;
		sts_query_done(q);
		return q;
	}
	for (i = 0; i < n; i++)
		q->domain[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z'
					  ? domain[i] - 'A' + 'a'
					  : domain[i]);
	q->domain[n] = '\0';
	memcpy(q->result.domain, q->domain, sizeof(q->result.domain));
	(void)snprintf(q->host, sizeof(q->host), "mta-sts.%s", q->domain);
	if (ca_len > 0) {
		q->ca = xmalloc(ca_len);
		memcpy(q->ca, ca_pem, ca_len);
		q->ca_len = ca_len;
	}
	(void)snprintf(name, sizeof(name), "_mta-sts.%s", q->domain);
	q->txt = dns_lookup(dns, name, DNS_RDATA_TYPE_TXT, sts_txt_done, q);
	return q;
}

void
sts_cancel(struct sts_query *q)
{
	if (q != NULL)
		sts_query_free(q);
}

/* ---- the fetcher ---------------------------------------------------- */

struct sts *
sts_new(struct event_base *base, const char *cache_dir, char *err, size_t errsz)
{
	struct sts *s;
	char lerr[512];

	s = xcalloc(1, sizeof(*s));
	s->base = base;
	s->port = 443;
	s->timeout = STS_TIMEOUT;
	TAILQ_INIT(&s->queries);
	if ((s->curl = curlev_new(base, err, errsz)) == NULL) {
		sts_free(s);
		return NULL;
	}
	if (cache_dir != NULL) {
		if (mkdir(cache_dir, 0700) != 0 && errno != EEXIST) {
			log_warn("mta-sts cache: %s: %s; policies are kept in "
				 "memory only",
			    cache_dir, strerror(errno));
		} else if (sts_cache_load(
			       s, cache_dir, true, lerr, sizeof(lerr)) < 0) {
			log_warn("mta-sts cache: %s; policies are kept in "
				 "memory only",
			    lerr);
		} else {
			s->cache_dir = xstrdup(cache_dir);
		}
	}
	return s;
}

void
sts_free(struct sts *s)
{
	if (s == NULL)
		return;
	while (!TAILQ_EMPTY(&s->queries))
		sts_query_free(TAILQ_FIRST(&s->queries));
	curlev_free(s->curl);
	free(s->cache);
	free(s->cache_dir);
	free(s);
}

void
sts_set_port(struct sts *s, unsigned port)
{
	s->port = port;
}

void
sts_set_timeout(struct sts *s, unsigned seconds)
{
	s->timeout = seconds;
}
