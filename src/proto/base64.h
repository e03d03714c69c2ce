/*
 * base64: RFC 4648 section 4 encoding, as SASL (RFC 4954 4) and SCRAM use
 * it. The decoder is strict, because these strings come from the network
 * and a lenient decoder would let two spellings mean one secret: no
 * whitespace, no line breaks, padding required to a multiple of 4, and the
 * unused bits of the last symbol must be zero. Pure, no allocation.
 */
#ifndef PETREL_PROTO_BASE64_H
#define PETREL_PROTO_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* The encoded length of n bytes (without a NUL): 4 * ceil(n / 3). */
size_t base64_encoded_len(size_t n);

/*
 * Encodes in[0..n) into out, which must hold base64_encoded_len(n) + 1
 * bytes; out is NUL-terminated. Returns the encoded length.
 */
size_t base64_encode(const void *in, size_t n, char *out);

/* The largest decoded length of an n-byte encoding: 3 * (n / 4). */
size_t base64_decoded_max(size_t n);

/*
 * Decodes in[0..n) into out (room for outsz bytes). Returns 0 and the
 * length in *len_out, or -1 when in is not strict base64 or out is too
 * small (*len_out is then 0). The empty string decodes to zero bytes.
 */
int base64_decode(const char *in, size_t n, uint8_t *out, size_t outsz,
    size_t *len_out);

#endif
