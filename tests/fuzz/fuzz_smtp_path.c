/*
 * fuzz_smtp_path: libFuzzer target for proto/smtp_path. The first input
 * byte selects the SMTP_PATH_F_* flags, the rest is the path (and, behind
 * "FROM:" or "TO:", the MAIL or RCPT arguments), copied into an exact-size
 * buffer so ASan sees over-reads. Beyond not crashing, it checks:
 *   - a successful parse has a sane result (lengths, no control bytes,
 *     lower-case ASCII domain, rest inside the input);
 *   - round trip: smtp_path_format() then parsing "<" formatted ">" with
 *     the same flags gives the same address (the quoted flag may differ,
 *     since "plain"@x comes back as plain@x), and formatting that again
 *     gives the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_path.h"

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
fuzz_smtp_path_check(const struct smtp_path *p, unsigned flags)
{
	size_t i, ln = strnlen(p->local, sizeof(p->local));
	size_t dn = strnlen(p->domain, sizeof(p->domain));
	char out[600], out2[600], wrapped[610];
	struct smtp_path q;
	struct span rest;
	int n;

	FUZZ_CHECK(ln <= SMTP_LOCAL_MAX && dn <= SMTP_DOMAIN_MAX);
	for (i = 0; i < ln; i++)
		FUZZ_CHECK(
		    (unsigned char)p->local[i] >= 32 && p->local[i] != 127);
	for (i = 0; i < dn; i++)
		FUZZ_CHECK((unsigned char)p->domain[i] > 32 &&
			   p->domain[i] != 127 &&
			   !(p->domain[i] >= 'A' && p->domain[i] <= 'Z'));
	FUZZ_CHECK(p->null ? ln == 0 && dn == 0 : ln > 0);
	FUZZ_CHECK(!p->utf8 || (flags & SMTP_PATH_F_UTF8));
	FUZZ_CHECK(dn > 0 || p->null || (flags & SMTP_PATH_F_POSTMASTER));

	FUZZ_CHECK(smtp_path_format(p, out, sizeof(out)) == 0);
	n = snprintf(wrapped, sizeof(wrapped), "<%s>", out);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(wrapped));
	FUZZ_CHECK(smtp_path_parse(span_make(wrapped, (size_t)n), flags, &q,
		       &rest) == SMTP_PATH_OK);
	FUZZ_CHECK(rest.n == 0);
	FUZZ_CHECK(
	    q.null == p->null && q.utf8 == p->utf8 && q.literal == p->literal);
	FUZZ_CHECK(strcmp(q.local, p->local) == 0);
	FUZZ_CHECK(strcmp(q.domain, p->domain) == 0);
	FUZZ_CHECK(smtp_path_format(&q, out2, sizeof(out2)) == 0);
	FUZZ_CHECK(strcmp(out, out2) == 0);
	/* too small a buffer fails cleanly */
	if (out[0] != '\0')
		FUZZ_CHECK(smtp_path_format(p, out2, strlen(out)) == -1 &&
			   out2[0] == '\0');
}

/* Runs MAIL or RCPT argument parsing on kw + input. */
static void
fuzz_smtp_path_cmd(
    const char *kw, const uint8_t *data, size_t size, bool utf8, bool rcpt)
{
	size_t kn = strlen(kw);
	char *buf = malloc(kn + size);
	struct smtp_path p;
	struct span args, params;
	int rc;

	if (buf == NULL)
		return;
	memcpy(buf, kw, kn);
	if (size > 0)
		memcpy(buf + kn, data, size);
	args = span_make(buf, kn + size);
	if (rcpt)
		rc = smtp_path_parse_rcpt(args, utf8, &p, &params);
	else
		rc = smtp_path_parse_mail(args, utf8, &p, &params);
	FUZZ_CHECK(rc == SMTP_PATH_OK || rc == SMTP_PATH_SYNTAX ||
		   rc == SMTP_PATH_TOOLONG || rc == SMTP_PATH_NEEDUTF8);
	if (rc == SMTP_PATH_OK) {
		FUZZ_CHECK(params.p + params.n == buf + kn + size);
		FUZZ_CHECK(params.n == 0 || params.p[0] != ' ');
		fuzz_smtp_path_check(
		    &p, (rcpt ? SMTP_PATH_F_POSTMASTER : SMTP_PATH_F_NULL) |
			    (utf8 ? SMTP_PATH_F_UTF8 : 0u));
	} else
		FUZZ_CHECK(params.n == 0 && p.local[0] == '\0');
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_path p;
	struct span rest;
	unsigned flags;
	char *buf;
	int rc;

	if (size < 1)
		return 0;
	flags = data[0] & 7u;
	data++;
	size--;

	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	rc = smtp_path_parse(span_make(buf, size), flags, &p, &rest);
	FUZZ_CHECK(rc == SMTP_PATH_OK || rc == SMTP_PATH_SYNTAX ||
		   rc == SMTP_PATH_TOOLONG || rc == SMTP_PATH_NEEDUTF8);
	if (rc == SMTP_PATH_OK) {
		FUZZ_CHECK(rest.p >= buf && rest.p + rest.n == buf + size);
		fuzz_smtp_path_check(&p, flags);
	} else {
		FUZZ_CHECK(rest.n == 0 && !p.null && p.local[0] == '\0' &&
			   p.domain[0] == '\0');
	}
	free(buf);

	fuzz_smtp_path_cmd("FROM:", data, size, (flags & 2u) != 0, false);
	fuzz_smtp_path_cmd("TO:", data, size, (flags & 2u) != 0, true);
	fuzz_smtp_path_cmd(
	    "", data, size, (flags & 2u) != 0, (flags & 4u) != 0);
	return 0;
}
