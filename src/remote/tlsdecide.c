/*
 * tlsdecide: the per-host security decision of outbound delivery (see
 * tlsdecide.h).
 */
#include "remote/tlsdecide.h"

#include <stdio.h>
#include <string.h>

const char *
mta_security_name(enum mta_security s)
{
	static const char *const names[] = { "none", "opportunistic",
		"encrypt", "verify", "dane", "mta-sts", "mta-sts-testing",
		"smarthost" };

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

bool
tls_decide_needs_dane(const struct tls_decide_in *in)
{
	return in->dane_on && in->dane == NULL && in->sec == DNS_SEC_SECURE;
}

/* The host is not tried: why, and what goes into the deferral. */
static void
tls_decide_skip(struct tls_decision *out, const char *status,
    const char *tlsrpt, enum mta_security sec)
{
	out->skip = true;
	out->status = status;
	out->tlsrpt = tlsrpt;
	out->tlsrpt_sec = sec;
}

void
tls_decide(const struct tls_decide_in *in, struct tls_decision *out)
{
	const struct dane_host *dh = in->dane;
	const struct mta_sts_policy *sts = in->sts != NULL &&
	    in->sts->mode != MTA_STS_NONE ? in->sts : NULL;

	memset(out, 0, sizeof(*out));
	out->security = MTA_SEC_OPPORTUNISTIC;
	if (in->smarthost) {
		out->security = MTA_SEC_SMARTHOST;
		snprintf(out->why, sizeof(out->why), "smarthost");
	} else if (in->policy == CONF_TLS_NONE) {
		out->security = MTA_SEC_NONE;
		snprintf(out->why, sizeof(out->why), "tls-policy none");
	} else if (in->policy == CONF_TLS_VERIFY) {
		out->security = MTA_SEC_VERIFY;
		snprintf(out->why, sizeof(out->why), "tls-policy verify");
	} else if (in->tls_optional && ((dh != NULL &&
	    dh->state != DANE_NONE) || sts != NULL)) {
		snprintf(out->why, sizeof(out->why), "TLS-Required: No (RFC "
		    "8689 5): %s not applied", dh != NULL && dh->state !=
		    DANE_NONE ? "DANE" : "MTA-STS");
	} else if (dh != NULL && dh->state == DANE_FAIL) {
		tls_decide_skip(out, "4.7.5", strstr(dh->why, "DNSSEC") !=
		    NULL ? "dnssec-invalid" : "tlsa-invalid", MTA_SEC_DANE);
		snprintf(out->why, sizeof(out->why), "host unusable: %s",
		    dh->why);
		snprintf(out->diag, sizeof(out->diag), "MX %.200s: %.280s "
		    "(RFC 7672 2.2)", in->host, dh->why);
	} else if (dh != NULL && dh->state == DANE_USABLE) {
		out->security = MTA_SEC_DANE;
		snprintf(out->why, sizeof(out->why), "%s", dh->why);
	} else if (dh != NULL && dh->state == DANE_ENCRYPT) {
		out->security = MTA_SEC_ENCRYPT;
		snprintf(out->why, sizeof(out->why), "%s: TLS without "
		    "authentication", dh->why);
	} else if (sts != NULL && sts->mode == MTA_STS_ENFORCE &&
	    !mta_sts_mx_match(sts, in->host)) {
		/* RFC 8461 4.2: not a host the policy names. */
		tls_decide_skip(out, "4.7.5", "validation-failure",
		    MTA_SEC_STS);
		snprintf(out->why, sizeof(out->why), "not in the MTA-STS "
		    "policy (id %s)", in->sts_id);
		snprintf(out->diag, sizeof(out->diag), "MX %.200s is not "
		    "listed in the MTA-STS policy of %.200s", in->host,
		    in->domain);
	} else if (sts != NULL) {
		out->security = sts->mode == MTA_STS_ENFORCE ? MTA_SEC_STS :
		    MTA_SEC_STS_TESTING;
		snprintf(out->why, sizeof(out->why), "MTA-STS policy id %s "
		    "mode %s", in->sts_id, mta_sts_mode_name(sts->mode));
	} else if (in->policy == CONF_TLS_ENCRYPT) {
		out->security = MTA_SEC_ENCRYPT;
		snprintf(out->why, sizeof(out->why), "tls-policy encrypt");
	} else {
		snprintf(out->why, sizeof(out->why), "%s", dh != NULL ?
		    dh->why : !in->dane_on ? "DANE not in use" :
		    in->sec == DNS_SEC_SECURE ? "no DANE" :
		    "addresses not DNSSEC-signed");
	}
	if (!out->skip && in->requiretls && out->security != MTA_SEC_DANE &&
	    out->security != MTA_SEC_STS) {
		/* RFC 8689 4.2.1: only DANE or MTA-STS authenticated TLS. */
		tls_decide_skip(out, "5.7.30", NULL, out->security);
		snprintf(out->diag, sizeof(out->diag), "REQUIRETLS: MX %.200s "
		    "has no DANE or MTA-STS policy", in->host);
		snprintf(out->why, sizeof(out->why), "REQUIRETLS needs DANE "
		    "or MTA-STS");
	}
}
