/*
 * smtp_path: RFC 5321 4.1.2 paths in MAIL FROM and RCPT TO, parsed
 * strictly. Relay tricks must come out as harmless local parts:
 *   user%other@local     -> local part "user%other", domain "local"
 *   "user@other"@local   -> local part "user@other" (quoted), domain "local"
 *   other!user@local     -> local part "other!user", domain "local"
 *   <@local:user@other>  -> source route dropped (RFC 5321 appendix C):
 *                           local part "user", domain "other"
 * so routing decisions look only at the domain. With SMTPUTF8 (RFC 6531)
 * local part and domain may hold UTF-8, which must be well-formed.
 */
#ifndef PETREL_PROTO_SMTP_PATH_H
#define PETREL_PROTO_SMTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/span.h"

#define SMTP_LOCAL_MAX 64	/* octets, RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX 255	/* octets, RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX 256	/* octets incl. "<>", RFC 5321 4.5.3.1.3 */

struct smtp_path {
	bool null;		/* the null path "<>" */
	bool utf8;		/* non-ASCII octets present (needs SMTPUTF8) */
	bool quoted;		/* the local part was a quoted-string */
	bool literal;		/* the domain is an address literal */
	char local[SMTP_LOCAL_MAX + 1];	  /* decoded: quotes and \ removed */
	char domain[SMTP_DOMAIN_MAX + 1]; /* ASCII lower-cased; "" for a bare
					   * "Postmaster" recipient */
};

enum smtp_path_err {
	SMTP_PATH_OK = 0,
	SMTP_PATH_SYNTAX = -1,	 /* 501 5.1.3 / 5.1.7 */
	SMTP_PATH_TOOLONG = -2,	 /* 501 5.1.3 (local part, domain or path) */
	SMTP_PATH_NEEDUTF8 = -3, /* 553 5.6.7: non-ASCII without SMTPUTF8 */
};

/* Flags for smtp_path_parse(). */
#define SMTP_PATH_F_NULL 0x1	   /* accept "<>" (MAIL FROM) */
#define SMTP_PATH_F_UTF8 0x2	   /* SMTPUTF8 given in this transaction */
#define SMTP_PATH_F_POSTMASTER 0x4 /* accept "<Postmaster>" (RCPT TO) */

/*
 * Parses a path at the start of in: "<" [A-d-l ":"] Mailbox ">" (or "<>"
 * with F_NULL). *rest is set to what follows '>' (parameters, with their
 * leading SP). Returns SMTP_PATH_OK or a negative enum smtp_path_err.
 *
 * On any error *out is all zeros and *rest is empty. When several things
 * are wrong, SYNTAX wins over TOOLONG, which wins over NEEDUTF8; so
 * NEEDUTF8 means the address is otherwise fine. Malformed UTF-8 is SYNTAX
 * with or without F_UTF8. out->utf8 is set only for non-ASCII in the
 * local part or domain (a non-ASCII source route, dropped, still needs
 * F_UTF8). An address literal is lower-cased like a domain:
 * "[IPv6:2001:DB8::1]" is stored as "[ipv6:2001:db8::1]". Stricter than
 * the grammar (see smtp_path.c): empty quoted local part, IPv4 literal
 * octets with leading zeros, and General-address-literals are SYNTAX.
 */
int smtp_path_parse(struct span in, unsigned flags, struct smtp_path *out,
    struct span *rest);

/*
 * The arguments of MAIL ("FROM:" path params) and RCPT ("TO:" path
 * params), "FROM:"/"TO:" matched case-insensitively; spaces between the
 * colon and '<' are tolerated as Postfix and Exim do. *params is the rest
 * after the path with leading spaces removed. A byte other than SP right
 * after '>' is SMTP_PATH_SYNTAX. MAIL accepts "<>", RCPT accepts
 * "<Postmaster>"; utf8 sets SMTP_PATH_F_UTF8. Since MAIL's SMTPUTF8 comes
 * after the path, a caller parses MAIL with utf8 = (SMTPUTF8 advertised)
 * and then refuses out->utf8 without the SMTPUTF8 parameter itself.
 */
int smtp_path_parse_mail(struct span args, bool utf8, struct smtp_path *out,
    struct span *params);
int smtp_path_parse_rcpt(struct span args, bool utf8, struct smtp_path *out,
    struct span *params);

/*
 * Writes the address "local@domain" (or "" for the null path, "local" for
 * a bare postmaster), quoting the local part again when it needs it, into
 * out. Returns 0, or -1 when outsz is too small.
 */
int smtp_path_format(const struct smtp_path *p, char *out, size_t outsz);

#endif
