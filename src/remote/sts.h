/*
 * sts: MTA-STS policy discovery, fetching and caching for the remote
 * process (RFC 8461 3.3, 3.4, 5, 10), on its libevent loop.
 *
 *   sts_get(DOMAIN)
 *     ──> TXT _mta-sts.DOMAIN (remote/dns): records not starting with
 *         "v=STSv1" are dropped; not exactly one left, or it does not
 *         parse: no usable record (a cached unexpired policy still
 *         applies, RFC 8461 3.1 and 5.1), else STS_NONE
 *     ──> the id equals that of a cached unexpired policy fetched less
 *         than STS_REFRESH ago: the cached policy (no fetch)
 *     ──> else A/AAAA of mta-sts.DOMAIN (remote/dns, dns_host), then
 *         GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt through
 *         libcurl's multi interface driven by the same loop
 *         (curl_multi_socket_action). The addresses come from our
 *         resolver and are pinned with CURLOPT_RESOLVE: libcurl never
 *         resolves (the process is chrooted and has no resolv.conf).
 *         HTTPS only, TLS 1.2 or later, the certificate must chain to
 *         the CA PEM given and be valid for mta-sts.DOMAIN; no redirects
 *         (RFC 8461 3.3: "HTTP 3xx redirects MUST NOT be followed"), no
 *         proxy, no connection reuse, status 200 only, Content-Type
 *         text/plain (parameters ignored), at most MTA_STS_POLICY_MAX
 *         bytes, a total timeout (60 s; RFC 8461 3.3 and 10 suggest
 *         limits of this size).
 *     ──> success: the policy replaces the cached one (memory and
 *         cache_dir), expiring at fetch time + max_age;
 *         failure: an unexpired cached policy is used; without one the
 *         result is STS_FAIL, which delivery treats as a domain without
 *         any policy (RFC 8461 3.3: a TXT record whose policy cannot be
 *         fetched, and nothing cached, must not stop delivery).
 *
 * The cache: one file per domain in cache_dir (relative to the working
 * directory, i.e. STATE/remote/sts in the chroot), named after the
 * lower-case domain, written to a temporary file and renamed over the old
 * one, read at sts_new() (expired and unreadable files are removed). The
 * files are not fsync'ed: the cache is an optimisation, and a file a
 * crash truncated fails to parse and is dropped, which only costs a
 * fetch. At most STS_CACHE_MAX domains are kept (expired ones go first,
 * then those expiring soonest).
 *
 * Not here: what to do with a policy (remote/tlspol, RFC 8461 4.2), the
 * PKIX check of MX certificates, TLS-RPT reports (the failure strings
 * are handed over for them). Concurrent sts_get() calls for one domain
 * each fetch on their own.
 */
#ifndef PETREL_REMOTE_STS_H
#define PETREL_REMOTE_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto/mta_sts.h"

struct event_base;
struct dns;
struct buf;

#define STS_CACHE_MAX 10000 /* domains kept in the cache */
#define STS_REFRESH                                                            \
	86400          /* a cached policy with the TXT id is                   \
			* fetched again after a day (RFC 8461 10.2:            \
			* "senders SHOULD ... refresh cached                   \
			* policies"); a failed refresh keeps it */
#define STS_TIMEOUT 60 /* seconds for one HTTPS fetch */
#define STS_ERR_MAX 256

struct sts;

/*
 * Creates the fetcher on base. cache_dir: the cache directory (created
 * 0700 if missing, read now); NULL keeps the cache in memory only. A
 * cache directory that cannot be created or read is logged and the cache
 * kept in memory. Returns NULL with err only when libcurl cannot be set
 * up.
 */
struct sts *sts_new(
    struct event_base *base, const char *cache_dir, char *err, size_t errsz);

/*
 * Stops every query (their callbacks are never called) and frees s. Not
 * from inside an sts callback. NULL is fine.
 */
void sts_free(struct sts *s);

/*
 * Reads the policies cached in dir (another process's cache directory,
 * e.g. the daemon's, for `petrel resolve --sts`) into s's memory cache,
 * without changing dir (expired files are skipped, not removed).
 * Returns the number of policies read, or -1 with err when dir cannot be
 * opened.
 */
int sts_cache_import(struct sts *s, const char *dir, char *err, size_t errsz);

enum sts_status {
	STS_NONE, /* no usable _mta-sts TXT record and nothing cached: no
		   * policy */
	STS_OK,   /* a policy (fresh or from the cache) */
	STS_FAIL, /* a TXT record says there is a policy, none could be
		   * fetched and none is cached */
};

struct sts_result {
	enum sts_status status;
	char domain[254];             /* as asked, lower-case, no trailing
				       * dot ("" if it was not a domain) */
	struct mta_sts_policy policy; /* STS_OK */
	char id[MTA_STS_ID_MAX + 1];  /* STS_OK: the policy's id (the TXT
				       * id it was fetched under); else the
				       * TXT id, or "" */
	bool cached;                  /* STS_OK: served from the cache */
	time_t fetched, expires;      /* STS_OK: when the policy was fetched
				       * and when it expires */
	char error[STS_ERR_MAX];      /* why discovery or a fetch failed
				       * (also set when a cached policy was
				       * used despite a failed refresh, or
				       * the TXT record was unusable); ""
				       * otherwise */
	const char *failure;          /* RFC 8460 result type of a failed
				       * fetch, even when a cached policy was
				       * used: "sts-policy-fetch-error"
				       * (DNS, connection, HTTP status,
				       * Content-Type, size, timeout,
				       * redirect), "sts-policy-invalid"
				       * (the body does not parse),
				       * "sts-webpki-invalid" (certificate);
				       * NULL when nothing was fetched or
				       * the fetch succeeded */
};

/* Called once, from the loop; r lives only until the callback returns. */
typedef void (*sts_cb)(const struct sts_result *r, void *arg);

struct sts_query;

/*
 * The MTA-STS policy for domain (a host name, any case, optional
 * trailing dot), as the header comment describes; TXT and addresses
 * through dns, policy certificates checked against ca_pem (ca_len
 * bytes of PEM, copied). The callback always runs later from the loop,
 * never inside sts_get (also for an invalid domain: STS_NONE). The
 * handle is valid until the callback runs or sts_cancel().
 */
struct sts_query *sts_get(struct sts *s, struct dns *dns, const char *ca_pem,
    size_t ca_len, const char *domain, sts_cb cb, void *arg);

/* Stops q before its callback ran; the callback is never called. */
void sts_cancel(struct sts_query *q);

/* Tests: the HTTPS port instead of 443. */
void sts_set_port(struct sts *s, unsigned port);
/* Tests: the total fetch timeout in seconds instead of STS_TIMEOUT. */
void sts_set_timeout(struct sts *s, unsigned seconds);

/*
 * The operator view of the cache: one line per unexpired policy,
 *   DOMAIN id ID mode MODE max_age N fetched ISO8601 expires ISO8601
 *       mx PATTERN,PATTERN...
 * sorted by domain, appended to out (stops quietly when out is full).
 * Returns the number of lines.
 */
size_t sts_cache_dump(struct sts *s, struct buf *out);

#endif
