/*
 * dane: DANE for SMTP (RFC 7672, RFC 7671) in the remote process. For an
 * MX host whose addresses are DNSSEC-secure it looks up the TLSA records
 * at _25._tcp.HOST (after the CNAME-expanded name first, RFC 7672 2.2.2),
 * judges them, and later hands the usable ones to OpenSSL's DANE
 * verifier for the connection (SSL_dane_enable, SSL_dane_tlsa_add).
 *
 * What a lookup means (RFC 7672 2.2):
 *   secure TLSA records, some usable   -> DANE_USABLE: authenticated TLS
 *                                         is mandatory for this host
 *   secure TLSA records, none usable   -> DANE_ENCRYPT: TLS mandatory,
 *                                         without authentication
 *   no records (secure or insecure     -> DANE_NONE: the destination's
 *     denial), insecure records           normal policy applies
 *   bogus answer or a failed lookup    -> DANE_FAIL: the host is unusable
 *                                         (try the next MX)
 * Usable: DANE-TA(2) and DANE-EE(3) with a selector and matching type
 * OpenSSL knows; PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC
 * 7672 3.1.3), as are records of the wrong length (proto/dns_rdata).
 *
 * Names (RFC 7672 3.2.2): DANE-EE ignores names and expiry; DANE-TA
 * chains must name the TLSA base domain or the original MX host name.
 * SNI is the TLSA base domain (RFC 7672 8.1).
 */
#ifndef PETREL_REMOTE_DANE_H
#define PETREL_REMOTE_DANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "remote/dns.h"

#define DANE_TLSA_MAX 16	/* records kept per host */
#define DANE_DATA_MAX 4096	/* association data kept per record */

enum dane_state {
	DANE_NONE,	/* no DANE for this host */
	DANE_USABLE,	/* usable records: authenticate with them */
	DANE_ENCRYPT,	/* secure records, none usable: TLS, no auth */
	DANE_FAIL,	/* bogus or failed lookup: host unusable */
};

struct dane_tlsa {
	uint8_t usage, selector, mtype;
	size_t len;
	unsigned char *data;	/* owned */
};

struct dane_host {
	enum dane_state state;
	char base[DNS_NAME_MAX + 1];	/* TLSA base domain (the name the
					 * records were found at, without
					 * _25._tcp.) */
	char mx[DNS_NAME_MAX + 1];	/* the MX host name as in the MX RR */
	size_t n;			/* usable records */
	struct dane_tlsa rr[DANE_TLSA_MAX];
	size_t nall;			/* records in the RRset */
	char why[DNS_ERR_MAX];		/* a sentence for logs and DSNs */
};

/* Frees h and its records. NULL is fine. */
void dane_host_free(struct dane_host *h);

/* Called once with the result (which belongs to the callee: keep it or
 * free it with dane_host_free). */
typedef void (*dane_cb)(struct dane_host *h, void *arg);
struct dane_query;

/*
 * Looks up the TLSA records of MX host mx, whose address lookup followed
 * a CNAME to canon ("" if none). The callback always runs later from the
 * event loop.
 */
struct dane_query *dane_lookup(struct dns *d, const char *mx,
    const char *canon, dane_cb cb, void *arg);
void dane_cancel(struct dane_query *q);

/*
 * Prepares ssl (from a context that went through dane_ctx_enable) to
 * verify the peer with h's records: SNI, reference names, records. 0, or
 * -1 with a reason in err.
 */
int dane_apply(SSL *ssl, const struct dane_host *h, char *err, size_t errsz);
/* After the handshake: true if a TLSA record matched; why says how. */
bool dane_verified(SSL *ssl, char *why, size_t whysz);
/* Once per SSL_CTX that may carry DANE connections. 0 or -1. */
int dane_ctx_enable(SSL_CTX *ctx);

/* "3 1 1 <hex>" of record i (hex shortened past 64 digits) for logs and
 * TLS-RPT policy strings. */
void dane_tlsa_text(const struct dane_tlsa *t, char *out, size_t outsz);
/* "dane", "dane-encrypt", "none", "fail". */
const char *dane_state_name(enum dane_state s);

#endif
