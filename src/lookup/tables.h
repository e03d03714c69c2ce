/*
 * tables: the users and aliases that decide which recipients exist and
 * where their mail goes. Pure: built from file contents, no I/O.
 *
 * users file: one account a line, "user@domain" optionally followed by
 * ":" and fields the next layers use (a password hash in Dovecot
 * passwd-file style); blank lines and '#' comments ignored. The domain must
 * be a local domain; the local part is restricted to [a-z0-9._+-] (stored
 * lower-case, not starting with '.', no "..") because it names a directory.
 *
 * aliases file: "key: target, target, ..." a line. The key is
 * "local@domain" or a bare "local" (meaning that local part in every local
 * domain). Targets are full addresses, local or remote.
 */
#ifndef PETREL_LOOKUP_TABLES_H
#define PETREL_LOOKUP_TABLES_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

struct tables;

/*
 * Builds tables from the users and aliases file contents (aliases_text may
 * be NULL). Returns 0 and *out, or -1 with "name:line: what" in err.
 */
int tables_new(const struct conf *c, const char *users_name,
    const char *users_text, size_t users_len, const char *aliases_name,
    const char *aliases_text, size_t aliases_len, struct tables **out,
    char *err, size_t errsz);
void tables_free(struct tables *t);

enum lookup_result {
	LOOKUP_NOT_LOCAL,	/* domain is not one of ours */
	LOOKUP_NO_SUCH_USER,	/* our domain, nobody by that name */
	LOOKUP_USER,		/* an account (after the delimiter is cut) */
	LOOKUP_ALIAS,		/* an alias */
	LOOKUP_POSTMASTER,	/* postmaster with no account or alias: it
				 * still exists (RFC 5321 4.5.1) */
};

/*
 * Classifies the recipient local@domain. Matching is ASCII
 * case-insensitive. An exact alias wins, then an exact account, then the
 * same after cutting the local part at the first recipient delimiter
 * character ("user+tag" -> "user").
 */
enum lookup_result lookup_rcpt(const struct tables *t, const struct conf *c,
    const char *local, const char *domain);

struct lookup_dest {
	bool local;		/* a mailbox of ours */
	char domain[256];	/* the mailbox's domain (local) */
	char user[65];		/* the mailbox's local part (local) */
	char address[320];	/* the final address, "user@domain" */
};

/*
 * Expands local@domain into final destinations: aliases recursively (depth
 * at most 10; a loop ends at the depth limit with an error), duplicates
 * removed, at most max entries written to out. Accounts and postmaster
 * become local mailboxes; addresses in other domains remote destinations.
 * Returns the number of entries (>= 1), or -1 when the recipient does not
 * exist, the expansion loops or exceeds max.
 */
int lookup_expand(const struct tables *t, const struct conf *c,
    const char *local, const char *domain, struct lookup_dest *out,
    size_t max);

#endif
