/*
 * fuzz_mta_sts: libFuzzer target for proto/mta_sts. The input is fed
 * whole, in an exact-size buffer (ASan sees over-reads), to the TXT
 * record parser and to the policy parser. Beyond not crashing, it checks:
 *   - a parsed id is 1..32 letters and digits, and the record starts with
 *     "v=STSv1" (mta_sts_txt_is_sts agrees);
 *   - a parsed policy has 0..MTA_STS_MX_MAX lower-case mx patterns of
 *     LDH text with an optional leading "*.", at least one unless the
 *     mode is none, and max_age <= MTA_STS_MAX_AGE_MAX;
 *   - its policy lines parse back to the very same policy (round trip),
 *     and every mx pattern matches a host built from it;
 *   - a failed parse leaves a zeroed policy and a non-empty reason.
 * A first line "h: NAME" (an extension field to the parser) is also
 * tried as an MX host name against the policy (must not crash).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mta_sts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
			abort();                                               \
		}                                                              \
	} while (0)

static void
fuzz_mta_sts_check_policy(const struct mta_sts_policy *p)
{
	char lines[MTA_STS_MX_MAX + 3][MTA_STS_STRING_MAX];
	char *joined, host[MTA_STS_MX_LEN + 8];
	struct mta_sts_policy q;
	size_t n, i, k, len = 0;

	FUZZ_CHECK(p->nmx <= MTA_STS_MX_MAX);
	FUZZ_CHECK(p->mode == MTA_STS_NONE || p->nmx > 0);
	FUZZ_CHECK(p->mode == MTA_STS_NONE || p->mode == MTA_STS_TESTING ||
		   p->mode == MTA_STS_ENFORCE);
	FUZZ_CHECK(p->max_age <= MTA_STS_MAX_AGE_MAX);
	for (i = 0; i < p->nmx; i++) {
		const char *m = p->mx[i];
		size_t mn = strnlen(m, MTA_STS_MX_LEN);

		FUZZ_CHECK(mn > 0 && mn < MTA_STS_MX_LEN);
		for (k = 0; k < mn; k++)
			FUZZ_CHECK((m[k] >= 'a' && m[k] <= 'z') ||
				   (m[k] >= '0' && m[k] <= '9') ||
				   m[k] == '-' || m[k] == '.' ||
				   (k == 0 && m[k] == '*'));
		if (m[0] == '*') {
			FUZZ_CHECK(m[1] == '.');
			(void)snprintf(host, sizeof(host), "x%s", m + 1);
		} else {
			(void)snprintf(host, sizeof(host), "%s", m);
		}
		FUZZ_CHECK(mta_sts_mx_match(p, host));
	}
	n = mta_sts_policy_strings(p, lines, MTA_STS_MX_MAX + 3);
	FUZZ_CHECK(n == p->nmx + 3);
	joined = malloc(n * MTA_STS_STRING_MAX);
	FUZZ_CHECK(joined != NULL);
	for (i = 0; i < n; i++) {
		size_t ln = strlen(lines[i]);

		memcpy(joined + len, lines[i], ln);
		len += ln;
		joined[len++] = '\n';
	}
	FUZZ_CHECK(
	    mta_sts_policy_parse(span_make(joined, len), &q, NULL, 0) == 0);
	FUZZ_CHECK(memcmp(p, &q, sizeof(q)) == 0);
	free(joined);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	struct mta_sts_policy p;
	struct mta_sts_txt t;
	char err[128], host[300];
	const char *nl;
	size_t i, hn;

	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);

	if (mta_sts_txt_parse(span_make(buf, size), &t) == 0) {
		size_t idn = strlen(t.id);

		FUZZ_CHECK(idn >= 1 && idn <= MTA_STS_ID_MAX);
		for (i = 0; i < idn; i++)
			FUZZ_CHECK((t.id[i] >= 'a' && t.id[i] <= 'z') ||
				   (t.id[i] >= 'A' && t.id[i] <= 'Z') ||
				   (t.id[i] >= '0' && t.id[i] <= '9'));
		FUZZ_CHECK(mta_sts_txt_is_sts(span_make(buf, size)));
	} else {
		FUZZ_CHECK(t.id[0] == '\0');
	}

	if (mta_sts_policy_parse(span_make(buf, size), &p, err, sizeof(err)) ==
	    0) {
		FUZZ_CHECK(err[0] == '\0');
		fuzz_mta_sts_check_policy(&p);
		if (size > 3 && memcmp(buf, "h: ", 3) == 0) {
			nl = memchr(buf, '\n', size);
			hn = (nl != NULL ? (size_t)(nl - buf) : size) - 3;
			if (hn >= sizeof(host))
				hn = sizeof(host) - 1;
			memcpy(host, buf + 3, hn);
			host[hn] = '\0';
			(void)mta_sts_mx_match(&p, host);
		}
	} else {
		struct mta_sts_policy zero;

		memset(&zero, 0, sizeof(zero));
		FUZZ_CHECK(memcmp(&p, &zero, sizeof(p)) == 0);
		FUZZ_CHECK(err[0] != '\0');
	}
	free(buf);
	return 0;
}
