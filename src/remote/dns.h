/*
 * dns: the outbound DNS layer of the remote process. It owns one
 * libunbound context (DNSSEC-validating, asynchronous on a libunbound
 * thread whose answers the libevent loop picks up through ub_fd()), and
 * turns a destination domain into a delivery route (RFC 5321 5.1):
 *
 *   MX lookup ──> hosts by preference (random among equal ones), or the
 *                 domain itself when there is no MX (implicit MX), or an
 *                 error (null MX, NXDOMAIN: permanent; SERVFAIL, timeout,
 *                 DNSSEC failure: temporary)
 *             ──> A and AAAA of every host, all in parallel
 *             ──> struct dns_route: each host with its addresses, its
 *                 DNSSEC verdicts and, if lookups failed, why.
 *
 * Promises:
 * - Every callback runs from the event loop, never from inside the call
 *   that started the lookup, and exactly once unless cancelled first.
 * - Data from a bogus answer (DNSSEC validation failed) is never used: a
 *   bogus MX answer is a temporary error, never a reason to fall back to
 *   A records; a host with a bogus A or AAAA answer gets no addresses.
 * - Every name in a result is lower-case LDH text without trailing dot
 *   (proto/dns_rdata), every error text printable ASCII, so both may go
 *   into logs and DSNs as they are.
 * - Bounded: at most DNS_ROUTE_HOSTS_MAX hosts per route (the most
 *   preferred ones) and DNS_HOST_ADDRS_MAX addresses per host.
 *
 * Not here: loop detection (an MX that is this host: the caller compares
 * the addresses with its own), connection attempts, TLSA (issue 5; build
 * it on dns_lookup() below).
 *
 * The remote process is chrooted, so nothing here opens a file: the parent
 * reads resolv.conf and the trust anchor and passes their text.
 */
#ifndef PETREL_REMOTE_DNS_H
#define PETREL_REMOTE_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "proto/dns_rdata.h"

struct event_base;
struct dns;

#define DNS_NAME_MAX        DNS_RDATA_NAME_MAX /* 253: text, no trailing dot */
#define DNS_ROUTE_HOSTS_MAX 20                 /* MX hosts kept per route */
#define DNS_HOST_ADDRS_MAX  16                 /* addresses kept per host */
#define DNS_ERR_MAX         512                /* error text, NUL included */
#define DNS_RESOLV_MAX      3 /* resolv.conf servers used (glibc MAXNS) */

/* The outcome of a lookup or of a whole route. */
enum dns_status {
	DNS_OK = 0,
	DNS_TEMP = 1, /* try again later: SERVFAIL, timeout, no
		       * answer, DNSSEC validation failure */
	DNS_PERM = 2, /* will not change: NXDOMAIN, null MX, no
		       * address for the domain */
};

/* The DNSSEC verdict of one answer (RFC 4035 4.3). */
enum dns_sec {
	DNS_SEC_NONE = 0, /* no answer to judge (the lookup failed,
			   * or was not made) */
	DNS_SEC_INSECURE, /* not signed, or validation is off */
	DNS_SEC_SECURE,   /* validated from the trust anchor */
	DNS_SEC_BOGUS,    /* signed, but validation failed: never
			   * use its data */
};

struct dns_addr {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network order; 4 bytes for AF_INET */
};

struct dns_host {
	char name[DNS_NAME_MAX + 1];  /* the MX exchange, or the domain for
				       * an implicit MX or dns_host() */
	unsigned pref;                /* MX preference (0 for implicit MX) */
	enum dns_status status;       /* DNS_OK: naddrs > 0. DNS_TEMP: no
				       * address because a lookup failed (or was
				       * bogus); DNS_PERM: the host does not
				       * exist or has no A/AAAA records */
	char error[DNS_ERR_MAX];      /* why, when status != DNS_OK; also set
				       * when one family failed but the other gave
				       * addresses (status DNS_OK then) */
	enum dns_sec sec;             /* both answers combined: BOGUS if either
				       * is, SECURE if both are, NONE if neither
				       * answered, else INSECURE */
	enum dns_sec sec_a, sec_aaaa; /* each answer's own verdict */
	char
	    canon[DNS_NAME_MAX + 1]; /* the canonical name if the A or
				      * AAAA lookup followed a CNAME, else "" */
	size_t naddrs;
	struct dns_addr
	    addrs[DNS_HOST_ADDRS_MAX]; /* interleaved IPv6,
					* IPv4, IPv6, ... starting with IPv6
					* (the happy-eyeballs order of RFC 8305
					* 4: one broken family costs one
					* attempt, not all of them); each family
					* in answer order */
};

struct dns_route {
	char domain[DNS_NAME_MAX + 1]; /* as asked, lower-case */
	enum dns_status status;        /* DNS_OK: at least one host has an
					* address; else why not in error */
	char error[DNS_ERR_MAX];       /* "" when DNS_OK */
	char enhanced[8];              /* RFC 3463 code for a failure: "5.1.10"
					* null MX (RFC 7505), "5.1.2" no such
					* domain, "4.4.3" DNS failure (temporary,
					* incl. DNSSEC), "5.4.4" no address (unable
					* to route); "" when DNS_OK */
	bool implicit;                 /* no MX records: hosts[0] is the domain
					* itself, preference 0 (RFC 5321 5.1) */
	enum dns_sec mx_sec;           /* verdict of the MX answer (NONE for
					* dns_host() routes) */
	char mx_canon[DNS_NAME_MAX + 1]; /* canonical name when the MX
					  * lookup followed a CNAME, else "" */
	size_t nhosts;                   /* 0 when the MX step failed */
	struct dns_host hosts[DNS_ROUTE_HOSTS_MAX]; /* in the order to try */
};

/*
 * Called once with the finished route, which now belongs to the callee:
 * keep it, or release it with dns_route_free(). The handle that started
 * it is gone by then (do not cancel it).
 */
typedef void (*dns_route_cb)(struct dns_route *route, void *arg);

/*
 * Creates the resolver on base, configured by conf:
 * - conf->dns_mode CONF_DNS_RESOLVCONF: forwards to the nameserver lines
 *   of resolv_text (resolv_len bytes; the parent read /etc/resolv.conf),
 *   127.0.0.1 when there are none (as the C library does);
 *   CONF_DNS_RECURSIVE: resolves from the root itself;
 *   CONF_DNS_FORWARD: forwards to conf->dns_forwarders.
 * - ta_text (ta_len bytes): trust anchors, one DS or DNSKEY record a line
 *   in zone-file format (/usr/share/dns/root.key, ldns-key2ds output);
 *   ';' and '#' lines are comments. NULL or no record: no validation, so
 *   every answer is DNS_SEC_INSECURE.
 * - conf->dns_options: each pair goes to ub_ctx_set_option(NAME ":",
 *   VALUE) after petrel's defaults, so an operator can override them.
 * The configuration is applied at once (libunbound "finalised"), so any
 * mistake is reported here. Returns the resolver, or NULL with a message
 * naming the culprit (option, forwarder, trust anchor line) in err.
 */
struct dns *dns_new(struct event_base *base, const struct conf *conf,
    const char *resolv_text, size_t resolv_len, const char *ta_text,
    size_t ta_len, char *err, size_t errsz);

/*
 * Stops every lookup still running (their callbacks are never called and
 * their handles become invalid) and frees the resolver. Must not be called
 * from inside one of its callbacks. NULL is fine.
 */
void dns_free(struct dns *d);

/* A running route lookup (dns_mx, dns_host). */
struct dns_query;

/*
 * The route to domain (lower-case, optional trailing dot) for mail, as
 * RFC 5321 5.1, RFC 7505 and the header comment describe. Returns the
 * handle; cb always follows later, even for an invalid name (DNS_PERM,
 * "5.1.2") or a resolver failure (DNS_TEMP).
 */
struct dns_query *dns_mx(
    struct dns *d, const char *domain, dns_route_cb cb, void *arg);

/*
 * A route with exactly one host, hostname (pref 0), as for a smarthost:
 * its A and AAAA records, no MX lookup (mx_sec DNS_SEC_NONE). A
 * hostname that is an IPv4 or IPv6 address literal (no brackets) is
 * returned as the single address, without a lookup (sec NONE).
 */
struct dns_query *dns_host(
    struct dns *d, const char *hostname, dns_route_cb cb, void *arg);

/* Stops q; its callback is never called. Only before the callback ran. */
void dns_cancel(struct dns_query *q);

/* Frees a route handed to a dns_route_cb. NULL is fine. */
void dns_route_free(struct dns_route *r);

/*
 * One question, the building block of the above (and of TLSA lookups for
 * DANE later). status: DNS_OK for NOERROR (with records or NODATA),
 * DNS_PERM for NXDOMAIN, DNS_TEMP for anything else and for a bogus
 * answer, whose records are then withheld (nrr 0).
 */
struct dns_rr {
	const unsigned char *p; /* rdata, uncompressed; decode with
				 * proto/dns_rdata */
	size_t n;
};

struct dns_answer {
	const char *qname; /* as asked */
	int qtype;
	enum dns_status status;
	enum dns_sec sec;
	int rcode; /* DNS RCODE (0 NOERROR, 2 SERVFAIL, 3
		    * NXDOMAIN), -1 when the resolver failed */
	bool nxdomain;
	const char *canon; /* canonical name (lower-case, no trailing
			    * dot) when CNAMEs were followed, else "" */
	const char *error; /* "" when DNS_OK, else printable text */
	size_t nrr;
	const struct dns_rr *rr;
};

/* Called once; the answer lives only until the callback returns. */
typedef void (*dns_answer_cb)(const struct dns_answer *a, void *arg);

struct dns_lookup;

/*
 * Asks for qtype records (DNS_RDATA_TYPE_*) of name. Returns the handle;
 * cb always follows later (a name that is not a host name, or is an IP
 * address, gives DNS_PERM "invalid domain name" with nrr 0 and no
 * question asked; a resolver failure DNS_TEMP). Callbacks may start and
 * cancel other lookups, but must not call dns_free().
 */
struct dns_lookup *dns_lookup(
    struct dns *d, const char *name, int qtype, dns_answer_cb cb, void *arg);

/* Stops l before its callback ran; the callback is never called. */
void dns_lookup_cancel(struct dns_lookup *l);

/*
 * The nameserver addresses of resolv.conf text (n bytes): the first word
 * after "nameserver" on each line, kept when it is an IPv4 or IPv6
 * address (an IPv6 zone "%eth0" allowed), at most DNS_RESOLV_MAX of them
 * (the C library ignores the rest), in file order. Lines starting with
 * '#' or ';' are comments. out[i] gets NUL-terminated text. Returns the
 * number found (0..DNS_RESOLV_MAX).
 */
size_t dns_resolvconf_servers(
    const char *text, size_t n, char out[DNS_RESOLV_MAX][64]);

/*
 * Puts the RFC 5321 5.1 ordering into h[0..n): ascending preference,
 * random order among equal preferences (rnd() supplies the randomness;
 * NULL uses arc4random). Exposed for tests.
 */
void dns_hosts_sort(struct dns_host *h, size_t n, uint32_t (*rnd)(void));

/* "none", "insecure", "secure", "bogus". */
const char *dns_sec_name(enum dns_sec s);
/* "ok", "temporary", "permanent". */
const char *dns_status_name(enum dns_status s);

/*
 * Fills *ss with a's address and port (network order done here); returns
 * the length for connect(), or 0 for an unknown family.
 */
socklen_t dns_addr_sockaddr(
    const struct dns_addr *a, unsigned port, struct sockaddr_storage *ss);
/* Writes a's address as text (inet_ntop) into out; "" if it does not fit. */
void dns_addr_format(const struct dns_addr *a, char *out, size_t outsz);

#endif
