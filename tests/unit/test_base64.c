/*
 * test_base64: table-driven tests for proto/base64, the strict RFC 4648
 * base64 SASL and SCRAM use. The decoder must refuse every second spelling
 * of a value: missing or extra padding, non-zero pad bits, whitespace,
 * '=' anywhere but the end, the URL-safe alphabet. Inputs are copied into
 * heap buffers of exactly their length so ASan sees any over-read, and
 * every valid case is also decoded as each of its strict prefixes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/base64.h"

#define IN(s) s, sizeof(s) - 1

struct b64_case {
	const char *plain; /* decoded bytes */
	size_t plen;
	const char *enc; /* canonical encoding */
	size_t elen;
};

/* RFC 4648 section 10 test vectors (lengths 0..6) and binary edges. */
static const struct b64_case b64_cases[] = {
    {IN(""), IN("")},
    {IN("f"), IN("Zg==")},
    {IN("fo"), IN("Zm8=")},
    {IN("foo"), IN("Zm9v")},
    {IN("foob"), IN("Zm9vYg==")},
    {IN("fooba"), IN("Zm9vYmE=")},
    {IN("foobar"), IN("Zm9vYmFy")},
    {IN("\0"), IN("AA==")},
    {IN("\0\0"), IN("AAA=")},
    {IN("\0\0\0"), IN("AAAA")},
    {IN("\xff"), IN("/w==")},
    {IN("\xff\xff"), IN("//8=")},
    {IN("\xff\xff\xff"), IN("////")},
    {IN("\xfb\xff"), IN("+/8=")},
    {IN("\xfb\xef\xbe"), IN("++++")},
    {IN("n,,"), IN("biws")},
    {IN("y,,"), IN("eSws")},
};

/* Inputs the decoder must refuse. */
static const struct {
	const char *in;
	size_t n;
} b64_bad[] = {
    /* length not a multiple of 4 (unpadded) */
    {IN("Z")},
    {IN("Zg")},
    {IN("Zg=")},
    {IN("Zm8")},
    {IN("Zm9vY")},
    {IN("Zm9vYg")},
    {IN("Zm9vYg=")},
    {IN("Zm9vYmE")},
    /* too much padding */
    {IN("Zg===")},
    {IN("Z===")},
    {IN("====")},
    {IN("=Zg=")},
    {IN("Zm9vYg====")},
    /* non-zero pad bits */
    {IN("Zh==")},
    {IN("Zv==")},
    {IN("Zm9=")},
    {IN("Zm+=")},
    {IN("AB==")},
    {IN("AAB=")},
    {IN("//9=")},
    /* '=' in the middle */
    {IN("Zg==Zg==")},
    {IN("Zm8=Zm9v")},
    {IN("Z=g=")},
    {IN("Zm=v")},
    {IN("Zg=a")},
    {IN("Zm9vYg==AAAA")},
    /* whitespace and line breaks */
    {IN(" Zm9v")},
    {IN("Zm9v ")},
    {IN("Zm 9v")},
    {IN("Zm9v\r\n")},
    {IN("Zm9v\n")},
    {IN("Zm9\nv")},
    {IN("Zm\t9v")},
    {IN("Zm9vYmFy\r\n")},
    /* other alphabets and bytes */
    {IN("Zm9-")},
    {IN("Zm9_")},
    {IN("Zm9.")},
    {IN("Zm9v\0AAA")},
    {IN("Zm\0v")},
    {IN("\0\0\0\0")},
    {IN("Zm9\x80")},
    {IN("Zm9\xff")},
    {IN("Zm9v=")},
    {IN("Zm9v====")},
};

/* Copies s into a heap buffer of exactly n bytes (a unique pointer if 0). */
static char *
dup_exact(const char *s, size_t n)
{
	char *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	if (n > 0)
		memcpy(p, s, n);
	return p;
}

/* An uninitialised heap buffer of exactly n bytes (a unique pointer if 0). */
static uint8_t *
alloc_exact(size_t n)
{
	uint8_t *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	return p;
}

static void
test_base64_lengths(void **state)
{
	size_t n;

	(void)state;
	for (n = 0; n < 100; n++) {
		assert_int_equal(base64_encoded_len(n), (n + 2) / 3 * 4);
		assert_int_equal(base64_decoded_max(n), n / 4 * 3);
		assert_true(base64_decoded_max(base64_encoded_len(n)) >= n);
	}
	assert_int_equal(base64_encoded_len(0), 0);
	assert_int_equal(base64_encoded_len(1), 4);
	assert_int_equal(base64_encoded_len(3), 4);
	assert_int_equal(base64_encoded_len(4), 8);
	assert_int_equal(base64_encoded_len(32), 44);
}

static void
test_base64_encode(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		char out[64];
		size_t n;

		memset(out, 'X', sizeof(out));
		n = base64_encode(c->plain, c->plen, out);
		assert_int_equal(n, c->elen);
		assert_int_equal(n, base64_encoded_len(c->plen));
		assert_memory_equal(out, c->enc, c->elen);
		assert_int_equal(out[n], '\0');
		assert_int_equal(out[n + 1], 'X');
	}
}

static void
test_base64_decode(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];
		char *in = dup_exact(c->enc, c->elen);
		uint8_t *out = alloc_exact(c->plen);
		size_t len = 99;

		/* an out buffer of exactly the decoded length is enough */
		assert_int_equal(
		    base64_decode(in, c->elen, out, c->plen, &len), 0);
		assert_int_equal(len, c->plen);
		if (c->plen > 0)
			assert_memory_equal(out, c->plain, c->plen);
		/* one byte less is not */
		if (c->plen > 0) {
			len = 99;
			assert_int_equal(
			    base64_decode(in, c->elen, out, c->plen - 1, &len),
			    -1);
			assert_int_equal(len, 0);
		}
		/* strict prefixes: only whole quanta without padding decode */
		for (k = 0; k < c->elen; k++) {
			char *pre = dup_exact(c->enc, k);
			uint8_t buf[64];
			int rc;

			len = 99;
			rc = base64_decode(pre, k, buf, sizeof(buf), &len);
			if (k % 4 == 0) {
				assert_int_equal(rc, 0);
				assert_int_equal(len, k / 4 * 3);
				assert_memory_equal(buf, c->plain, len);
			} else {
				assert_int_equal(rc, -1);
				assert_int_equal(len, 0);
			}
			free(pre);
		}
		free(out);
		free(in);
	}
}

static void
test_base64_reject(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(b64_bad) / sizeof(b64_bad[0]); i++) {
		char *in = dup_exact(b64_bad[i].in, b64_bad[i].n);
		uint8_t out[64];
		size_t len = 99;

		if (base64_decode(in, b64_bad[i].n, out, sizeof(out), &len) !=
		    -1)
			fail_msg("accepted bad base64 #%zu", i);
		assert_int_equal(len, 0);
		free(in);
	}
}

/* Out buffers that are too small fail without writing past them. */
static void
test_base64_small_out(void **state)
{
	static const char enc[] = "Zm9vYmFy"; /* "foobar" */
	size_t sz;

	(void)state;
	for (sz = 0; sz <= 6; sz++) {
		uint8_t *out = alloc_exact(sz);
		size_t len = 99;
		int rc = base64_decode(enc, 8, out, sz, &len);

		assert_int_equal(rc, sz == 6 ? 0 : -1);
		assert_int_equal(len, sz == 6 ? 6 : 0);
		free(out);
	}
	/* the empty string needs no room at all */
	{
		size_t len = 99;
		assert_int_equal(base64_decode("", 0, NULL, 0, &len), 0);
		assert_int_equal(len, 0);
	}
}

/* Every byte string of length 0..2, and patterns of length 3..6. */
static void
test_base64_roundtrip(void **state)
{
	uint8_t in[6], out[6];
	char enc[16];
	size_t n, len;
	unsigned v, seed = 1;

	(void)state;
	for (v = 0; v < 256 + 65536; v++) {
		n = v < 256 ? 1 : 2;
		in[0] = (uint8_t)(v & 0xff);
		in[1] = (uint8_t)(v >> 8);
		assert_int_equal(base64_encode(in, n, enc), 4);
		assert_int_equal(base64_decode(enc, 4, out, n, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(in, out, n);
	}
	for (v = 0; v < 20000; v++) {
		size_t i, e;

		n = v % 7;
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			in[i] = (uint8_t)(seed >> 16);
		}
		e = base64_encode(in, n, enc);
		assert_int_equal(e, base64_encoded_len(n));
		assert_int_equal(base64_decode(enc, e, out, n, &len), 0);
		assert_int_equal(len, n);
		if (n > 0)
			assert_memory_equal(in, out, n);
	}
}

/*
 * Exhaustive over the final quantum's shapes "XY==" and "XYZ=": accepted
 * exactly when the pad bits are zero, and then it is the canonical
 * encoding of what it decodes to (one spelling per value).
 */
static void
test_base64_pad_bits(void **state)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t a, b, c, len;
	char q[5], back[8];
	uint8_t out[3];

	(void)state;
	for (a = 0; a < 64; a++) {
		for (b = 0; b < 64; b++) {
			int rc;

			q[0] = alpha[a];
			q[1] = alpha[b];
			q[2] = '=';
			q[3] = '=';
			rc = base64_decode(q, 4, out, sizeof(out), &len);
			assert_int_equal(rc, (b & 15) == 0 ? 0 : -1);
			if (rc == 0) {
				assert_int_equal(len, 1);
				base64_encode(out, 1, back);
				assert_memory_equal(back, q, 4);
			}
			for (c = 0; c < 64; c++) {
				q[2] = alpha[c];
				q[3] = '=';
				rc =
				    base64_decode(q, 4, out, sizeof(out), &len);
				assert_int_equal(rc, (c & 3) == 0 ? 0 : -1);
				if (rc == 0) {
					assert_int_equal(len, 2);
					base64_encode(out, 2, back);
					assert_memory_equal(back, q, 4);
				}
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64_lengths),
	    cmocka_unit_test(test_base64_encode),
	    cmocka_unit_test(test_base64_decode),
	    cmocka_unit_test(test_base64_reject),
	    cmocka_unit_test(test_base64_small_out),
	    cmocka_unit_test(test_base64_roundtrip),
	    cmocka_unit_test(test_base64_pad_bits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
