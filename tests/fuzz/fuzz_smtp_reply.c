/*
 * fuzz_smtp_reply: libFuzzer target for proto/smtp_reply. The first input
 * byte is the buffer size given to smtp_reply_format; the rest is split at
 * LF (a CR before the LF is dropped, as a CRLF framer would) and each line
 * is fed, from an exact-size heap copy, to smtp_reply_feed. Checks:
 *   - the return is 1, 0 or -1; on 0 and -1 *out is empty; on -1 there is
 *     a reason;
 *   - a complete reply has a code in 200..599, 1..SMTP_REPLY_LINES_MAX
 *     lines, a NUL-terminated text of printable ASCII and '\n' only, one
 *     '\n' per line break unless truncated, and an enhanced code that is
 *     valid and of the code's class;
 *   - smtp_reply_format's output is NUL-terminated, printable, within the
 *     size, of the returned length, and a prefix of the full rendering;
 *   - smtp_ehlo_parse never reports a SIZE limit without SIZE.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_reply.h"

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
fuzz_smtp_reply_check_empty(const struct smtp_reply *r)
{
	FUZZ_CHECK(r->code == 0 && r->nlines == 0 && !r->truncated);
	FUZZ_CHECK(r->text[0] == '\0' && r->enhanced[0] == '\0');
}

static void
fuzz_smtp_reply_check(const struct smtp_reply *r, size_t outsz)
{
	static char full[SMTP_REPLY_TEXT_MAX * 2];
	static char out[256];
	size_t len, i, nl = 0, elen, n, fn;
	struct smtp_ehlo e;

	FUZZ_CHECK(r->code >= 200 && r->code <= 599);
	FUZZ_CHECK(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX);
	len = strnlen(r->text, sizeof(r->text));
	FUZZ_CHECK(len < sizeof(r->text));
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)r->text[i];
		FUZZ_CHECK(c == '\n' || (c >= 0x20 && c <= 0x7e));
		if (c == '\n')
			nl++;
	}
	FUZZ_CHECK(nl <= r->nlines - 1);
	FUZZ_CHECK(r->truncated || nl == r->nlines - 1);
	FUZZ_CHECK(!r->truncated || len == sizeof(r->text) - 1);
	elen = strnlen(r->enhanced, sizeof(r->enhanced));
	FUZZ_CHECK(elen < sizeof(r->enhanced));
	if (elen > 0)
		FUZZ_CHECK(smtp_reply_enhanced_len(span_make(r->enhanced, elen),
			       (char)('0' + r->code / 100)) == elen);

	fn = smtp_reply_format(r, full, sizeof(full));
	FUZZ_CHECK(fn < sizeof(full) && full[fn] == '\0' && strlen(full) == fn);
	for (i = 0; i < fn; i++)
		FUZZ_CHECK(full[i] >= 0x20 && full[i] <= 0x7e);
	if (outsz > sizeof(out))
		outsz = sizeof(out);
	n = smtp_reply_format(r, out, outsz);
	if (outsz == 0)
		FUZZ_CHECK(n == 0);
	else {
		FUZZ_CHECK(n <= outsz - 1 && out[n] == '\0');
		FUZZ_CHECK(n == (fn < outsz - 1 ? fn : outsz - 1));
		FUZZ_CHECK(memcmp(out, full, n) == 0);
	}

	smtp_ehlo_parse(r, &e);
	FUZZ_CHECK(e.size || e.size_max == 0);
	FUZZ_CHECK(r->code == 250 || !(e.starttls || e.size || e.auth_plain));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_reply_parser p;
	static struct smtp_reply r;
	size_t outsz, start = 0, i;

	if (size < 1)
		return 0;
	outsz = data[0];
	data++;
	size--;
	smtp_reply_init(&p);
	for (i = 0; i <= size; i++) {
		size_t n;
		char *line;
		int rc;

		if (i < size && data[i] != '\n')
			continue;
		n = i - start;
		if (n > 0 && i < size && data[i - 1] == '\r')
			n--;
		line = malloc(n > 0 ? n : 1);
		if (line == NULL)
			return 0;
		if (n > 0)
			memcpy(line, data + start, n);
		rc = smtp_reply_feed(&p, span_make(line, n), &r);
		free(line);
		FUZZ_CHECK(rc == 1 || rc == 0 || rc == -1);
		if (rc == 1) {
			FUZZ_CHECK(!smtp_reply_pending(&p));
			fuzz_smtp_reply_check(&r, outsz);
		} else {
			fuzz_smtp_reply_check_empty(&r);
			FUZZ_CHECK(rc == -1 || smtp_reply_pending(&p));
		}
		if (rc == -1) {
			FUZZ_CHECK(!smtp_reply_pending(&p));
			FUZZ_CHECK(
			    strcmp(smtp_reply_error(&p), "no error") != 0);
		}
		start = i + 1;
	}
	return 0;
}
