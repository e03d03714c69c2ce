/*
 * cmd_resolve: `petrel resolve`, the operator's view of outbound routing:
 * what remote/dns makes of a destination domain with this configuration.
 */
#ifndef PETREL_BIN_CMD_RESOLVE_H
#define PETREL_BIN_CMD_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "conf/conf.h"
#include "lib/buf.h"

struct event_base;
struct dns;
struct dns_route;
struct sts;
struct sts_result;

/*
 * `petrel resolve [--host] NAME [--config FILE]`, argv[0] being "resolve".
 * Prints the route; returns the exit status: 0 route found, 1 error
 * (temporary or permanent, printed), 2 usage.
 */
int cmd_resolve_main(int argc, char **argv);

/*
 * What an admin command needs to look at outbound routing as the remote
 * process would (shared with `petrel tls-check`, cmd_tlscheck.c): the
 * configuration, the files the parent would read for the remote process
 * (/etc/resolv.conf, the trust anchor and, with CMD_RESOLVE_ENV_CA, the
 * outbound-ca-file and mta-sts-ca-file PEM), an event loop and the same
 * resolver (remote/dns) built from them.
 */
struct cmd_resolve_env {
	struct conf conf;
	struct buf resolv; /* /etc/resolv.conf (dns-resolver resolv.conf) */
	struct buf ta;     /* dns-trust-anchor; empty: no validation */
	struct buf ca;     /* outbound-ca-file (CMD_RESOLVE_ENV_CA) */
	struct buf sts_ca; /* mta-sts-ca-file (CMD_RESOLVE_ENV_CA or
			    * CMD_RESOLVE_ENV_STS_CA) */
	struct event_base *base;
	struct dns *dns;
};

#define CMD_RESOLVE_ENV_STS_CA 0x1u /* read mta-sts-ca-file */
#define CMD_RESOLVE_ENV_CA     0x2u /* both CA files */

/*
 * Fills e for the configuration file config (NULL: the embedded
 * default). A CA file that is missing is read as empty (nothing
 * verifies). 0, or -1 after printing why on stderr (e is then cleared).
 */
int cmd_resolve_env_open(
    struct cmd_resolve_env *e, const char *config, unsigned flags);
/* Frees everything cmd_resolve_env_open made. */
void cmd_resolve_env_close(struct cmd_resolve_env *e);

/*
 * The MTA-STS fetcher of `petrel resolve --sts` on base: a read-write
 * cache in cache_dir, or (cache_dir NULL) a memory cache filled from the
 * daemon's STATE/remote/sts when it is readable, never written. Prints
 * the "cache ..." line. NULL after printing why it failed.
 */
struct sts *cmd_resolve_sts_open(
    const struct conf *c, struct event_base *base, const char *cache_dir);

/* Prints the "mta-sts", "policy", policy lines, "failure"/"error" and
 * "sts ok|none|fail" lines of an MTA-STS result (format above). */
void cmd_resolve_sts_print(const char *domain, const struct sts_result *r);

/* Prints the "domain" (not in host_mode), "host", "address", "error" and
 * "route" lines of a route (format above). */
void cmd_resolve_print(const struct dns_route *r, bool host_mode);

/* Helpers shared with `petrel tls-check`: */

/* Writes t as "YYYY-MM-DDTHH:MM:SSZ" (UTC), or as the plain number when it
 * cannot be formatted, into out. */
void cmd_resolve_iso(time_t t, char *out, size_t outsz);

/* Parses a decimal option value in [min, max]; -1 if it is not one. */
long cmd_resolve_num(const char *v, long min, long max);

#endif
