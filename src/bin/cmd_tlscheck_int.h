/*
 * cmd_tlscheck_int: what the two files of `petrel tls-check` share:
 * cmd_tlscheck.c (the command: set-up, lookups, plan, verdicts, output)
 * and cmd_tlscheck_probe.c (the SMTP/TLS probe of one address). Nothing
 * else includes this.
 *
 * struct tlscheck is filled by cmd_tlscheck.c before any probe runs and
 * only read by the probe.
 */
#ifndef PETREL_BIN_CMD_TLSCHECK_INT_H
#define PETREL_BIN_CMD_TLSCHECK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "bin/cmd_resolve.h"
#include "remote/dns.h"
#include "remote/sts.h"
#include "remote/tlsdecide.h"

#define TLSCHECK_WHY_MAX 640

struct dane_host;
struct dane_query;
struct tlsseen;

struct tlscheck_plan {
	enum mta_security sec; /* remote/tlsdecide.h */
	bool skip;             /* unusable: delivery does not try it */
	const char *label;     /* how reasons name the security */
	char why[TLSCHECK_WHY_MAX];
};

enum tlscheck_action {
	TLSCHECK_UNSET,
	TLSCHECK_DELIVER,
	TLSCHECK_DEFER,
};

struct tlscheck_out {
	enum tlscheck_action action;
	char why[TLSCHECK_WHY_MAX];
};

struct tlscheck;

struct tlscheck_slot {
	struct tlscheck *tc;
	size_t i;
};

struct tlscheck {
	struct cmd_resolve_env env;
	const char *domain;            /* DOMAIN, or NULL for --server */
	char server[DNS_NAME_MAX + 1]; /* --server HOST */
	unsigned port;
	enum conf_tls_policy policy;
	bool dane_on, sts_on;
	unsigned t_connect, t_command; /* seconds */
	SSL_CTX *ctx;                  /* outbound-ca-file, DANE enabled */
	SSL_CTX *ctx_sts;              /* mta-sts-ca-file */
	struct tlsseen *seen; /* the daemon's remember-TLS, read only */
	char seen_err[256];
	struct sts *sts;
	/* the lookups */
	unsigned pending;
	bool timed_out;
	struct dns_query *dnsq;
	struct dns_route *route;
	struct sts_query *stsq;
	bool sts_done;
	struct sts_result sts_res;
	struct tlscheck_slot slots[DNS_ROUTE_HOSTS_MAX];
	struct dane_query *daneq[DNS_ROUTE_HOSTS_MAX];
	struct dane_host *dane[DNS_ROUTE_HOSTS_MAX];
	bool dane_asked[DNS_ROUTE_HOSTS_MAX];
};

/* cmd_tlscheck.c */

/* Sets o's action and reason unless an earlier call set them: the first
 * verdict reached stands. */
void tlscheck_set(struct tlscheck_out *o, enum tlscheck_action a,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Whether the plan's security requires TLS (no plaintext fallback). */
bool tlscheck_required(const struct tlscheck_plan *p);

/*
 * remember-TLS for an opportunistic host that offers no STARTTLS now or
 * fails the handshake (what: why, for the reason). Returns true and fills
 * o when petrel would defer; false (note then holds "" or a warning to
 * append to the reason) when it goes on in plaintext.
 */
bool tlscheck_downgrade(const struct tlscheck *tc, const char *host,
    const char *what, struct tlscheck_out *o, char *note, size_t notesz);

/* cmd_tlscheck_probe.c */

/*
 * Probes address a of host name under plan p (dh: its TLSA records or
 * NULL; dane_absent: why DANE does not apply, printed when it does not);
 * prints the conversation and the "outcome" line and fills o. Returns
 * true when petrel would deliver there.
 */
bool tlscheck_probe(const struct tlscheck *tc, const char *name,
    const struct dns_addr *a, const struct tlscheck_plan *p,
    const struct dane_host *dh, const char *dane_absent,
    struct tlscheck_out *o);

#endif
