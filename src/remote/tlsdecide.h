/*
 * tlsdecide: how outbound delivery secures its connection to one MX host,
 * as a pure function of what is known about the host and its domain. The
 * order (RFC 8461 2: DANE before MTA-STS):
 *
 *   smarthost                      -> its own settings
 *   tls-policy none | verify       -> as the operator wrote
 *   TLS-Required: No (RFC 8689)    -> DANE and MTA-STS not applied
 *   TLSA lookup failed or bogus    -> host unusable (4.7.5)
 *   usable TLSA records            -> dane
 *   secure TLSA, none usable       -> encrypt (RFC 7672 2.2)
 *   MTA-STS enforce, host unlisted -> host unusable (4.7.5)
 *   MTA-STS enforce | testing      -> mta-sts | mta-sts-testing
 *   tls-policy encrypt             -> encrypt
 *   otherwise                      -> opportunistic
 *   and REQUIRETLS without dane or mta-sts -> host unusable (5.7.30)
 *
 * remote/mta.c applies it to each host in turn; `petrel tls-check` shows
 * it. Nothing here does I/O.
 */
#ifndef PETREL_REMOTE_TLSDECIDE_H
#define PETREL_REMOTE_TLSDECIDE_H

#include <stdbool.h>

#include "conf/conf.h"
#include "proto/mta_sts.h"
#include "remote/dane.h"
#include "remote/dns.h"
#include "remote/remote.h"

enum mta_security {
	MTA_SEC_NONE,		/* tls-policy none: plaintext */
	MTA_SEC_OPPORTUNISTIC,	/* STARTTLS when offered (may) */
	MTA_SEC_ENCRYPT,	/* TLS required, not authenticated (tls-policy
				 * encrypt, or secure TLSA records of which
				 * none is usable) */
	MTA_SEC_VERIFY,		/* tls-policy verify: PKIX for the MX name */
	MTA_SEC_DANE,		/* RFC 7672: authenticated by TLSA records */
	MTA_SEC_STS,		/* MTA-STS enforce: PKIX (mta-sts-ca-file) */
	MTA_SEC_STS_TESTING,	/* MTA-STS testing: opportunistic, reported */
	MTA_SEC_SMARTHOST,	/* the smarthost's settings */
};

/* "none", "opportunistic", "encrypt", "verify", "dane", "mta-sts",
 * "mta-sts-testing", "smarthost". */
const char *mta_security_name(enum mta_security s);

struct tls_decide_in {
	const char *host;		/* the MX host name */
	const char *domain;		/* the recipient domain */
	bool smarthost;
	enum conf_tls_policy policy;	/* the domain's tls-policy */
	bool dane_on;			/* DANE in use for this route */
	enum dns_sec sec;		/* the host's addresses */
	const struct dane_host *dane;	/* its TLSA answer; NULL: none yet */
	const struct mta_sts_policy *sts; /* the domain's policy, or NULL */
	const char *sts_id;
	bool tls_optional;		/* "TLS-Required: No" */
	bool requiretls;		/* MAIL FROM ... REQUIRETLS */
};

struct tls_decision {
	enum mta_security security;
	bool skip;			/* the host is not tried */
	const char *status;		/* skip: "4.7.5" or "5.7.30" */
	const char *tlsrpt;		/* skip: RFC 8460 result type to
					 * record, or NULL */
	enum mta_security tlsrpt_sec;	/* ... under this policy */
	char why[DNS_ERR_MAX + 80];	/* for the log */
	char diag[REMOTE_DIAG_MAX + 1];	/* skip: for the deferral or DSN */
};

/* True when a TLSA lookup of the host must answer first. */
bool tls_decide_needs_dane(const struct tls_decide_in *in);
/* The decision (see the top). */
void tls_decide(const struct tls_decide_in *in, struct tls_decision *out);

#endif
