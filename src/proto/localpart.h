/*
 * localpart: the two shapes of local part petrel's own files accept (the
 * users and aliases files), shared by lookup/tables and auth/passwd so
 * both read the same addresses the same way. Pure.
 */
#ifndef PETREL_PROTO_LOCALPART_H
#define PETREL_PROTO_LOCALPART_H

#include <stdbool.h>
#include <stddef.h>

#define LOCALPART_MAX 64 /* RFC 5321 4.5.3.1.1 */

/*
 * An account name: 1..64 of a-z A-Z 0-9 . _ + -, not starting with '.'
 * and without "..", because it names a Maildir directory.
 */
bool localpart_is_account(const char *s, size_t n);

/*
 * An RFC 5322 dot-atom (3.2.3) of 1..64 bytes: atext runs joined by
 * single dots, no dot first or last.
 */
bool localpart_is_dot_atom(const char *s, size_t n);

#endif
