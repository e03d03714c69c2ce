/*
 * mta_sts: pure parsers for SMTP MTA Strict Transport Security (RFC 8461):
 * the `_mta-sts.DOMAIN` TXT record (3.1), the policy body served at
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt (3.2), MX host matching
 * against a policy's mx patterns (4.1), and the policy as text lines for
 * TLS-RPT's "policy-string" (RFC 8460 4.3).
 *
 * No I/O, no allocation, no globals. Every input is a span checked byte by
 * byte; nothing is read past it. What comes out is safe to log and to
 * compare: an id is 1..32 letters and digits, an mx pattern lower-case LDH
 * text with an optional leading "*.".
 *
 * The fetching, caching and the decision what to do with a policy live in
 * remote/sts (fetch, cache) and remote/tlspol (application, RFC 8461 4.2).
 */
#ifndef PETREL_PROTO_MTA_STS_H
#define PETREL_PROTO_MTA_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/span.h"

#define MTA_STS_ID_MAX      32       /* sts-id: 1*32(ALPHA / DIGIT) */
#define MTA_STS_MX_MAX      20       /* mx lines we accept in a policy */
#define MTA_STS_POLICY_MAX  65536    /* bytes of a policy body we accept */
#define MTA_STS_MAX_AGE_MAX 31557600 /* RFC 8461 3.2: about a year */
#define MTA_STS_MX_LEN                                                         \
	254                    /* an mx pattern, "*." included, is             \
				* at most 253 octets; + NUL */
#define MTA_STS_STRING_MAX 300 /* one line of mta_sts_policy_strings */

struct mta_sts_txt {
	char id[MTA_STS_ID_MAX + 1];
};

/*
 * Parses one TXT record (its character-strings already concatenated, RFC
 * 8461 3.1) as
 *
 *   sts-text-record = sts-version 1*(sts-field-delim sts-field)
 *                     [sts-field-delim]
 *   sts-field       = sts-id / sts-extension
 *   sts-field-delim = *WSP ";" *WSP
 *   sts-version     = %s"v=STSv1"
 *   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 *   sts-extension   = sts-ext-name "=" sts-ext-value
 *   sts-ext-name    = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
 *   sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 *
 * The id field is required exactly once; extensions are checked against
 * the grammar and otherwise ignored. Returns 0 with out->id set, or -1
 * (out->id "") for anything else.
 */
int mta_sts_txt_parse(struct span txt, struct mta_sts_txt *out);

/*
 * True if a TXT record looks like it is meant for MTA-STS: it begins with
 * "v=STSv1" followed by ";" or WSP or its end. RFC 8461 3.1 discards
 * other records before counting ("If the number of resulting records is
 * not one ... senders MUST assume the recipient domain does not have an
 * available MTA-STS policy").
 */
bool mta_sts_txt_is_sts(struct span txt);

enum mta_sts_mode {
	MTA_STS_NONE,
	MTA_STS_TESTING,
	MTA_STS_ENFORCE,
};

struct mta_sts_policy {
	enum mta_sts_mode mode;
	uint32_t max_age; /* seconds, <= MTA_STS_MAX_AGE_MAX */
	size_t nmx;
	char mx[MTA_STS_MX_MAX][MTA_STS_MX_LEN]; /* lower-case, file order */
};

/*
 * Parses a policy body (RFC 8461 3.2, with erratum 6253: LF or CRLF):
 *
 *   sts-policy-record  = sts-policy-field *WSP
 *                        *(sts-policy-term sts-policy-field *WSP)
 *                        [sts-policy-term]
 *   sts-policy-field   = sts-policy-version / sts-policy-mode /
 *                        sts-policy-max-age / sts-policy-mx /
 *                        sts-policy-extension
 *   sts-policy-field-delim = ":" *WSP
 *   sts-policy-version = %s"version" sts-policy-field-delim %s"STSv1"
 *   sts-policy-mode    = %s"mode" sts-policy-field-delim
 *                        (%s"testing" / %s"enforce" / %s"none")
 *   sts-policy-mx      = %s"mx" sts-policy-field-delim ["*."] Domain
 *   sts-policy-max-age = %s"max_age" sts-policy-field-delim 1*10(DIGIT)
 *   sts-policy-extension = sts-policy-ext-name sts-policy-field-delim
 *                        sts-policy-ext-value
 *   sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" /
 *                        ".")
 *   sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar)
 *                        sts-policy-vchar]
 *   sts-policy-vchar   = %x21-7E / UTF8-2 / UTF8-3 / UTF8-4
 *   sts-policy-term    = LF / CRLF
 *
 * Domain is RFC 5321's (letters, digits, hyphens; no trailing dot).
 * version, mode and max_age are required exactly once (a repeated one is
 * an error: two modes leave the intent unclear); mx at least once unless
 * the mode is none, at most MTA_STS_MX_MAX times. Unknown keys are
 * ignored (RFC 8461 3.2: "unknown fields SHOULD be ignored") but must
 * still follow the grammar. Empty lines are skipped (a common trailing
 * blank line; the grammar has none, but nothing is lost). A max_age
 * above MTA_STS_MAX_AGE_MAX (10 digits are allowed) is lowered to it, so
 * a policy never lives longer than the RFC's maximum. The body must be at
 * most MTA_STS_POLICY_MAX bytes, without NUL.
 *
 * Returns 0 with *out filled, or -1 with out zeroed and a short printable
 * reason in err (errsz bytes; NULL/0 allowed).
 */
int mta_sts_policy_parse(
    struct span body, struct mta_sts_policy *out, char *err, size_t errsz);

/*
 * RFC 8461 4.1: true if host (an MX host name, ASCII; matched
 * case-insensitively, one trailing dot ignored) matches one of p's mx
 * patterns. A pattern "*.example.com" covers exactly one label more to
 * the left: "mx.example.com", not "example.com" nor "a.b.example.com".
 */
bool mta_sts_mx_match(const struct mta_sts_policy *p, const char *host);

/* "none", "testing", "enforce". */
const char *mta_sts_mode_name(enum mta_sts_mode m);

/*
 * The policy as text lines in the canonical order version, mode, mx...,
 * max_age ("version: STSv1", "mode: enforce", "mx: mail.example.com",
 * "max_age: 604800"), one per out[] entry, for TLS-RPT's policy-string
 * and for petrel's cache file. The lines, joined with LF, parse back to
 * the same policy. Returns the number of lines written (at most max).
 */
size_t mta_sts_policy_strings(
    const struct mta_sts_policy *p, char out[][MTA_STS_STRING_MAX], size_t max);

#endif
