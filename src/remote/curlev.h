/*
 * curlev: runs libcurl easy handles on a libevent base, with one callback
 * per finished transfer. It owns one libcurl multi handle and the glue of
 * libcurl's hiperfifo example: CURLMOPT_SOCKETFUNCTION says which
 * descriptors to watch (one persistent libevent event per socket, kept as
 * the socket's curl_multi_assign() pointer), CURLMOPT_TIMERFUNCTION arms
 * one timer; both events call curl_multi_socket_action() and then hand
 * every finished transfer (curl_multi_info_read()) to its callback.
 *
 * Used by the remote process for MTA-STS policy fetches (remote/sts) and
 * TLS-RPT reports posted to https: destinations (remote/tlsrpt). The
 * caller sets every option of its easy handle (URL, CA, timeouts, ...)
 * except CURLOPT_PRIVATE, which is curlev's.
 *
 * Promises:
 * - A done callback runs from the loop (a socket or timer event), never
 *   from inside curlev_add(); it may add and remove other transfers.
 * - When done runs, the easy handle is already out of the multi handle
 *   and belongs to the caller again (read its CURLINFO, then
 *   curl_easy_cleanup() it or reuse it).
 */
#ifndef PETREL_REMOTE_CURLEV_H
#define PETREL_REMOTE_CURLEV_H

#include <stddef.h>

#include <curl/curl.h>

struct event_base;
struct curlev;
struct dns_host;

/* A transfer ended: rc is its result (CURLE_OK: an HTTP answer came,
 * whatever its status). */
typedef void (*curlev_done_fn)(CURL *easy, CURLcode rc, void *arg);

/*
 * Creates the runner on base (calls curl_global_init(); curlev_free()
 * balances it). Returns it, or NULL with a message in err.
 */
struct curlev *curlev_new(struct event_base *base, char *err, size_t errsz);

/*
 * Removes the transfers still running (their callbacks never run; their
 * easy handles stay the callers') and frees the runner. Not from inside a
 * done callback. NULL is fine.
 */
void curlev_free(struct curlev *c);

/*
 * Starts easy (fully set up by the caller) on c; done(easy, rc, arg)
 * follows from the loop. Returns 0, or -1 with libcurl's reason in err
 * (done never runs then; easy is the caller's).
 */
int curlev_add(struct curlev *c, CURL *easy, curlev_done_fn done, void *arg,
    char *err, size_t errsz);

/*
 * Stops a transfer started by curlev_add() before its callback ran (its
 * callback never runs); easy is the caller's again. Harmless for a handle
 * that is not running on c.
 */
void curlev_remove(struct curlev *c, CURL *easy);

/*
 * The CURLOPT_RESOLVE pin "HOST:PORT:ADDR[,ADDR]..." for h's addresses
 * (IPv6 in brackets): libcurl never resolves, the remote process has no
 * resolv.conf. NULL when out of memory.
 */
struct curl_slist *curlev_pin(const char *host, const char *port,
    const struct dns_host *h);

/*
 * An easy handle for one HTTPS exchange as the remote process makes them
 * (MTA-STS policies, TLS-RPT reports): url, pinned addresses, https only,
 * no redirects, no proxy, a fresh connection, TLS 1.2 or later, the
 * certificate verified against ca (PEM, copied; with none nothing
 * verifies) and for the URL's host, timeout seconds in all, libcurl's
 * messages into errbuf (CURL_ERROR_SIZE bytes). The caller adds what the
 * exchange needs (a write callback, a POST body). NULL when libcurl
 * cannot.
 */
CURL *curlev_https(const char *url, struct curl_slist *pin, const char *ca,
    size_t ca_len, long timeout, char *errbuf);

#endif
