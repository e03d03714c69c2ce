/*
 * fuzz_envelope: feeds arbitrary bytes to envelope_decode. The record
 * format is canonical, so whatever decodes must encode back to exactly the
 * bytes it came from, and decode again; anything else aborts.
 *
 * A random mutation almost never carries a valid CRC-32C, so the parser
 * behind the checksum would go unexplored. Each input is therefore decoded
 * twice: as given, and as a copy whose total-length field and checksum the
 * harness has made consistent (with its own bitwise CRC-32C), which takes
 * the fuzzer straight to the field parser without weakening the decoder.
 * Corpus: tests/fuzz/corpus/envelope/ (replayed by replay_envelope).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CRC-32C, bit by bit: an independent check of the decoder's table. */
static uint32_t
fuzz_envelope_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return c ^ 0xffffffffu;
}

static void
fuzz_envelope_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Decodes; if that works, checks the canonical round trip. */
static void
fuzz_envelope_one(const uint8_t *data, size_t size)
{
	struct envelope e, again;
	struct buf b;

	if (envelope_decode(data, size, &e) < 0) {
		/* A failed decode leaves nothing allocated. */
		if (e.sender != NULL || e.rcpts != NULL || e.nrcpts != 0)
			abort();
		return;
	}
	buf_init(&b, (size_t)ENVELOPE_MAX);
	if (envelope_encode(&e, &b) < 0 || b.len != size ||
	    memcmp(b.data, data, size) != 0)
		abort();
	if (envelope_decode(b.data, b.len, &again) < 0 ||
	    strcmp(again.qid, e.qid) != 0 || again.nrcpts != e.nrcpts)
		abort();
	envelope_clear(&again);
	buf_clear(&b);
	envelope_clear(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	fuzz_envelope_one(data, size);
	if (size < 20 || size > (size_t)ENVELOPE_MAX)
		return 0;
	fixed = malloc(size);
	if (fixed == NULL)
		return 0;
	memcpy(fixed, data, size);
	fuzz_envelope_put32(fixed + 12, (uint32_t)size);
	fuzz_envelope_put32(
	    fixed + size - 4, fuzz_envelope_crc32c(fixed, size - 4));
	fuzz_envelope_one(fixed, size);
	free(fixed);
	return 0;
}
