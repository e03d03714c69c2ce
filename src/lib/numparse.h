/*
 * numparse: bounded decimal parsing. Every number that comes from a peer,
 * a file or the configuration goes through here with an explicit range.
 */
#ifndef PETREL_LIB_NUMPARSE_H
#define PETREL_LIB_NUMPARSE_H

#include <stdint.h>

#include "lib/span.h"

/*
 * Parses s as an unsigned decimal number of at most 20 digits, no sign, no
 * spaces, no leading '+'. Returns 0 and sets *out when min <= value <= max,
 * -1 on syntax error (empty, non-digit), -2 when out of range or overflow.
 */
int numparse_u64(struct span s, uint64_t min, uint64_t max, uint64_t *out);

#endif
