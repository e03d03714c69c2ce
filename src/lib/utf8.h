/*
 * utf8: strict UTF-8 validation (RFC 3629 section 4) for the parsers that
 * accept internationalised text (SMTPUTF8 paths, EHLO names, utf-8 ORCPT).
 */
#ifndef PETREL_LIB_UTF8_H
#define PETREL_LIB_UTF8_H

#include <stddef.h>

/*
 * Length (2..4) of the well-formed multi-byte UTF-8 sequence at s[0..n),
 * or 0 when s[0] is ASCII, the sequence is malformed or truncated: no
 * overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF.
 *
 *   UTF8-2 = %xC2-DF UTF8-tail
 *   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *            %xF4 %x80-8F 2( UTF8-tail )
 */
size_t utf8_seq_len(const unsigned char *s, size_t n);

#endif
