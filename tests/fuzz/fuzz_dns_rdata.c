/*
 * fuzz_dns_rdata: libFuzzer target for proto/dns_rdata. The input is fed
 * whole, in an exact-size buffer (ASan sees over-reads), to every decoder.
 * Beyond not crashing, it checks:
 *   - a decoded name is lower-case [a-z0-9_.-] text of at most 253
 *     octets, and dns_rdata_is_hostname() agrees with it (or it is the
 *     root, "");
 *   - *used stays inside the input, and re-encoding the text gives back
 *     exactly the consumed wire octets, case-folded (round trip);
 *   - MX, A, AAAA and TLSA results are consistent with the input length.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dns_rdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
			abort();                                               \
		}                                                              \
	} while (0)

/* Checks text against the wire octets w[0..used). */
static void
fuzz_dns_rdata_name_check(const char *text, const uint8_t *w, size_t used)
{
	size_t n = strlen(text), i, off = 0, start = 0;

	FUZZ_CHECK(n <= DNS_RDATA_NAME_MAX);
	FUZZ_CHECK(used >= 1 && used <= DNS_RDATA_WIRE_MAX);
	for (i = 0; i < n; i++)
		FUZZ_CHECK((text[i] >= 'a' && text[i] <= 'z') ||
			   (text[i] >= '0' && text[i] <= '9') ||
			   text[i] == '-' || text[i] == '_' || text[i] == '.');
	if (n == 0) {
		FUZZ_CHECK(used == 1 && w[0] == 0);
		return;
	}
	FUZZ_CHECK(dns_rdata_is_hostname(span_make(text, n)));
	FUZZ_CHECK(used == n + 2);
	/* re-encode and compare, case-insensitively */
	for (i = 0; i <= n; i++) {
		if (i == n || text[i] == '.') {
			size_t len = i - start, k;

			FUZZ_CHECK(w[off] == len);
			for (k = 0; k < len; k++) {
				uint8_t ch = w[off + 1 + k];

				if (ch >= 'A' && ch <= 'Z')
					ch = (uint8_t)(ch - 'A' + 'a');
				FUZZ_CHECK(ch == (uint8_t)text[start + k]);
			}
			off += 1 + len;
			start = i + 1;
		}
	}
	FUZZ_CHECK(w[off] == 0 && off + 1 == used);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	char name[DNS_RDATA_NAME_MAX + 1];
	struct dns_rdata_mx mx;
	struct dns_rdata_tlsa t;
	unsigned char a[16];
	struct span in;
	size_t used;
	int rc;

	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	in = span_make(buf, size);

	rc = dns_rdata_name(in, name, &used);
	FUZZ_CHECK(rc == DNS_RDATA_OK || rc == DNS_RDATA_SHORT ||
		   rc == DNS_RDATA_BADNAME);
	if (rc == DNS_RDATA_OK) {
		FUZZ_CHECK(used <= size);
		fuzz_dns_rdata_name_check(name, data, used);
	} else {
		FUZZ_CHECK(used == 0 && name[0] == '\0');
	}

	rc = dns_rdata_mx(in, &mx);
	FUZZ_CHECK(rc == DNS_RDATA_OK || rc == DNS_RDATA_SHORT ||
		   rc == DNS_RDATA_BADNAME);
	if (rc == DNS_RDATA_OK) {
		FUZZ_CHECK(size >= 3);
		FUZZ_CHECK(mx.pref == (data[0] << 8 | data[1]));
		FUZZ_CHECK(mx.null == (mx.host[0] == '\0'));
		fuzz_dns_rdata_name_check(mx.host, data + 2, size - 2);
	} else {
		FUZZ_CHECK(mx.host[0] == '\0' && mx.pref == 0 && !mx.null);
	}

	rc = dns_rdata_a(in, a);
	FUZZ_CHECK(rc == (size == 4 ? DNS_RDATA_OK : DNS_RDATA_SHORT));
	rc = dns_rdata_aaaa(in, a);
	FUZZ_CHECK(rc == (size == 16 ? DNS_RDATA_OK : DNS_RDATA_SHORT));
	if (rc == DNS_RDATA_OK)
		FUZZ_CHECK(memcmp(a, data, 16) == 0);

	rc = dns_rdata_tlsa(in, &t);
	FUZZ_CHECK(rc == DNS_RDATA_OK || rc == DNS_RDATA_SHORT ||
		   rc == DNS_RDATA_BADTLSA);
	if (rc == DNS_RDATA_OK) {
		FUZZ_CHECK(
		    size >= 4 && t.data.n == size - 3 && t.data.p == buf + 3);
		FUZZ_CHECK(t.mtype != 1 || t.data.n == 32);
		FUZZ_CHECK(t.mtype != 2 || t.data.n == 64);
	} else {
		FUZZ_CHECK(t.data.n == 0 && t.data.p == NULL);
	}

	FUZZ_CHECK(!dns_rdata_is_hostname(in) || size > 0);
	free(buf);
	return 0;
}
