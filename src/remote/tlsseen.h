/*
 * tlsseen: remember-TLS, the remote process's record of which MX hosts
 * offered STARTTLS and completed a TLS handshake, and when they last did
 * (issue 5, "remember who offered TLS"). mta.c asks tlsseen_get() before
 * it accepts a plaintext session with an opportunistic host and calls
 * tlsseen_put() after every completed handshake.
 *
 * The file ("tls-seen" in the remote process's directory) is text, one
 * "host epoch" line per host, sorted by host. It is rewritten whole,
 * atomically (a temporary file in the same directory, then rename), at
 * most once per TLSSEEN_SAVE_INTERVAL seconds while changes come in (a
 * timer writes the last ones when an event base is attached, otherwise
 * the next change after the interval or tlsseen_flush/close does). It is
 * not fsync'ed: losing the last changes to a power cut only forgets that
 * some hosts had TLS, which weakens the downgrade check for them until
 * their next handshake; it never blocks a delivery.
 *
 * Bounded: at most TLSSEEN_MAX hosts (tlsseen_set_limit for tests); when
 * a new host would pass it, the oldest 1% (at least one) are dropped.
 * Host names are lower-cased and must be DNS host names or IP addresses;
 * others are ignored.
 */
#ifndef PETREL_REMOTE_TLSSEEN_H
#define PETREL_REMOTE_TLSSEEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct event_base;
struct tlsseen;

#define TLSSEEN_MAX           100000              /* hosts remembered */
#define TLSSEEN_SAVE_INTERVAL 1                   /* seconds between rewrites */
#define TLSSEEN_FILE_MAX      (64u * 1024 * 1024) /* bytes read at open */

/*
 * Opens the record at path. A missing file is an empty record; a line
 * that is not "host epoch" (epoch > 0) is skipped with a warning; a host
 * listed twice keeps its latest time. Returns the record, or NULL with a
 * message in err when the file exists but cannot be read (or is larger
 * than TLSSEEN_FILE_MAX).
 */
struct tlsseen *tlsseen_open(const char *path, char *err, size_t errsz);

/*
 * Lets the record write pending changes from a timer on base (at most
 * TLSSEEN_SAVE_INTERVAL seconds after a change). NULL detaches. Optional;
 * call before the loop runs.
 */
void tlsseen_set_base(struct tlsseen *t, struct event_base *base);

/* Writes pending changes and frees the record. NULL is fine. */
void tlsseen_close(struct tlsseen *t);
/* Frees the record without writing anything (readers such as
 * `petrel tls-check`, which must not change STATE). NULL is fine. */
void tlsseen_discard(struct tlsseen *t);

/*
 * The last time (unix seconds) host offered STARTTLS and completed a
 * handshake, or 0 for never (or an invalid name). Case-insensitive; a
 * trailing dot is ignored.
 */
int64_t tlsseen_get(const struct tlsseen *t, const char *host);

/* Records that host completed a TLS handshake at now (> 0). */
void tlsseen_put(struct tlsseen *t, const char *host, int64_t now);

/* Forgets host (`petrel tls forget`). 0 removed, -1 not there. */
int tlsseen_forget(struct tlsseen *t, const char *host);

/*
 * Appends "host 2024-01-31T12:00:00Z\n" for every host, sorted by host,
 * to out (`petrel tls list`). Stops quietly when out is full.
 */
void tlsseen_list(const struct tlsseen *t, struct buf *out);

/* The number of hosts remembered. */
size_t tlsseen_count(const struct tlsseen *t);

/* Writes pending changes now (errors are logged, the changes stay
 * pending). */
void tlsseen_flush(struct tlsseen *t);

/* Sets the bound (tests); at least 1. Takes effect at the next put. */
void tlsseen_set_limit(struct tlsseen *t, size_t max);

#endif
