/*
 * fuzz_tlsrpt: libFuzzer target for proto/tlsrpt's TXT record parser. The
 * input is fed whole, in an exact-size buffer (ASan sees over-reads), to
 * tlsrpt_record_parse(), and split at its newlines into several records
 * for tlsrpt_record_select(). Beyond not crashing, it checks:
 *   - success means at least one and at most TLSRPT_RUA_MAX destinations;
 *     failure leaves the result zeroed;
 *   - every kept URI is printable ASCII without spaces, ",", ";" or "!",
 *     begins with mailto: or https:, and fits TLSRPT_URI_MAX;
 *   - every mailto: address is printable ASCII with an "@", and every
 *     https: destination has no address;
 *   - the JSON escaping of the input is valid: no raw control bytes or
 *     unescaped quotes inside the string.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/buf.h"
#include "proto/tlsrpt.h"

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
check_record(int rc, const struct tlsrpt_record *r)
{
	static const struct tlsrpt_record zero;
	size_t i, k;

	if (rc != TLSRPT_REC_OK) {
		FUZZ_CHECK(rc < 0 && rc >= TLSRPT_REC_MULTIPLE);
		FUZZ_CHECK(memcmp(r, &zero, sizeof(zero)) == 0);
		FUZZ_CHECK(strlen(tlsrpt_rec_strerror(rc)) > 0);
		return;
	}
	FUZZ_CHECK(r->nrua >= 1 && r->nrua <= TLSRPT_RUA_MAX);
	for (i = 0; i < r->nrua; i++) {
		const struct tlsrpt_rua *u = &r->rua[i];
		size_t n = strlen(u->uri);

		FUZZ_CHECK(n > 0 && n <= TLSRPT_URI_MAX);
		for (k = 0; k < n; k++) {
			unsigned char c = (unsigned char)u->uri[k];

			FUZZ_CHECK(c > 0x20 && c < 0x7f && c != ',' &&
				   c != ';' && c != '!');
		}
		if (u->kind == TLSRPT_RUA_MAILTO) {
			FUZZ_CHECK(strncasecmp(u->uri, "mailto:", 7) == 0);
			n = strlen(u->addr);
			FUZZ_CHECK(n >= 3 && n <= TLSRPT_ADDR_MAX);
			FUZZ_CHECK(strchr(u->addr, '@') != NULL);
			for (k = 0; k < n; k++)
				FUZZ_CHECK((unsigned char)u->addr[k] > 0x20 &&
					   (unsigned char)u->addr[k] < 0x7f);
		} else {
			FUZZ_CHECK(u->kind == TLSRPT_RUA_HTTPS);
			FUZZ_CHECK(strncasecmp(u->uri, "https://", 8) == 0);
			FUZZ_CHECK(u->addr[0] == '\0');
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsrpt_record r;
	struct span parts[8];
	struct buf b;
	char *copy = malloc(size > 0 ? size : 1);
	size_t n = 0, start = 0, i;
	int rc;

	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	rc = tlsrpt_record_parse(span_make(copy, size), &r);
	check_record(rc, &r);
	if (rc == TLSRPT_REC_OK)
		FUZZ_CHECK(tlsrpt_record_is_candidate(span_make(copy, size)));

	for (i = 0; i <= size && n < 8; i++) {
		if (i < size && copy[i] != '\n')
			continue;
		parts[n++] = span_make(copy + start, i - start);
		start = i + 1;
	}
	rc = tlsrpt_record_select(parts, n, &r);
	check_record(rc, &r);

	buf_init(&b, 8 * size + 16);
	FUZZ_CHECK(tlsrpt_json_string(&b, copy, size) == 0);
	FUZZ_CHECK(b.len >= 2 && b.data[0] == '"' && b.data[b.len - 1] == '"');
	for (i = 1; i + 1 < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f);
		if (c == '\\')
			i++; /* the escaped character */
		else
			FUZZ_CHECK(c != '"');
	}
	buf_clear(&b);
	free(copy);
	return 0;
}
