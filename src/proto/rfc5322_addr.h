/*
 * rfc5322_addr: parser for the address lists of the To:, Cc:, Bcc: (and
 * Resent-) header fields, RFC 5322 3.4 with the obsolete syntax of 4.4,
 * and the RFC 6532 UTF-8 additions. It turns a field body into the
 * addr-specs an SMTP client can put into RCPT TO: display names, comments
 * and groups are dropped, source routes are ignored, and each address is
 * written in one canonical form:
 *
 *   "Joe Q. Public" <john.q.public@example.com>  -> john.q.public@example.com
 *   Undisclosed recipients:;                     -> (nothing)
 *   team: a@b.example, c@d.example;              -> a@b.example, c@d.example
 *   john (comment) . doe @ example (x) . com     -> john.doe@example.com
 *   <@relay.example,@r2.example:x@y.example>     -> x@y.example
 *   "john doe"@example.com                       -> "john doe"@example.com
 *   "a".b@example.com                            -> "a.b"@example.com
 *
 * Canonical form: the local part is a dot-string when every word of it
 * was an atom, otherwise one SMTP Quoted-string (RFC 5321 4.1.2) holding
 * the decoded words joined by '.', with '"' and '\' escaped and nothing
 * else; the domain is its atoms joined by '.' or the domain literal with
 * white space removed. Case is kept. CFWS (including the CRLF of folded
 * lines) is never part of an address.
 *
 * Lenient mode (RFC5322_ADDR_F_LENIENT) accepts what real mail programs
 * write although RFC 5322 does not allow it:
 *   - anything before a '<' in a list element is a display name, so
 *     "a@b.example <c@d.example>" and "Mr. X [work] <x@y>" give the angle
 *     address; the text in front of it is not looked at;
 *   - dots anywhere in an unquoted local part ("john..doe@x", ".a@x",
 *     "a.@x"); the result is quoted ("john..doe"@x) so that SMTP can
 *     carry it;
 *   - a group without its closing ';' at the end of the input;
 *   - control and non-UTF-8 octets in comments and display names.
 * Comments, quoted strings and domain literals must still be closed, and
 * an address itself must still be well-formed.
 *
 * With RFC5322_ADDR_F_BARE_LOCAL a list element that is just a local part
 * ("root", as in "To: root") is an address without a domain; the caller
 * adds one (sendmail's "@myorigin"). Without it, such an element is a
 * syntax error. Beware: an unquoted comma in a display name then makes a
 * bare local part of the text before it ("Doe, John <jd@x>" gives "Doe"
 * and "jd@x"), as in Postfix and sendmail; the grammar cannot tell.
 *
 * Limits: an address is at most RFC5322_ADDR_LOCAL_MAX octets of local
 * part (quotes and backslashes included, as SMTP counts them) and
 * RFC5322_ADDR_DOMAIN_MAX octets of domain. The parser is pure (no I/O,
 * no allocation, no globals, no recursion deeper than a group), works in
 * time linear in the input (each octet is lexed at most twice, four times
 * in lenient mode) and never needs a terminating NUL. The number of
 * addresses is the caller's to limit (the callback can stop the parse).
 */
#ifndef PETREL_PROTO_RFC5322_ADDR_H
#define PETREL_PROTO_RFC5322_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/span.h"

#define RFC5322_ADDR_LOCAL_MAX  64  /* octets, RFC 5321 4.5.3.1.1 */
#define RFC5322_ADDR_DOMAIN_MAX 255 /* octets, RFC 5321 4.5.3.1.2 */

/* Flags for rfc5322_addr_parse(). */
#define RFC5322_ADDR_F_LENIENT    0x1 /* accept common malformations */
#define RFC5322_ADDR_F_BARE_LOCAL 0x2 /* accept "root" without a domain */

enum rfc5322_addr_err {
	RFC5322_ADDR_OK = 0,
	RFC5322_ADDR_SYNTAX = -1,  /* not an address list */
	RFC5322_ADDR_TOOLONG = -2, /* local part or domain over its limit */
	RFC5322_ADDR_NOTSMTP = -3, /* valid RFC 5322 that SMTP cannot carry:
				    * a control octet, TAB or DEL in a quoted
				    * local part, an empty local part, a
				    * malformed UTF-8 sequence */
	RFC5322_ADDR_STOPPED = -4, /* the callback returned non-zero */
};

/* One address, valid only during the callback. */
struct rfc5322_addr {
	/* "local@domain", or just "local" when no_domain; NUL-terminated. */
	char addr[RFC5322_ADDR_LOCAL_MAX + 1 + RFC5322_ADDR_DOMAIN_MAX + 1];
	size_t len;       /* strlen(addr) */
	size_t local_len; /* octets of the local part at the start of addr */
	bool quoted;      /* the local part is written as a Quoted-string */
	bool utf8;        /* non-ASCII octets in local part or domain */
	bool literal;     /* the domain is a domain literal "[...]" */
	bool no_domain;   /* F_BARE_LOCAL: "root" (no '@' in addr) */
	bool in_group;    /* the mailbox was a member of a group */
};

/*
 * Called once per address, in input order. Returns 0 to go on, anything
 * else to stop the parse (rfc5322_addr_parse then returns
 * RFC5322_ADDR_STOPPED).
 */
typedef int (*rfc5322_addr_fn)(const struct rfc5322_addr *a, void *arg);

/* Where and why a parse failed. */
struct rfc5322_addr_error {
	size_t pos;      /* offset into the input of the offending octet
			  * (in.n when the input ended too early) */
	const char *why; /* static English text, e.g. "missing '>'" */
};

/*
 * Parses the field body in (the text after "To:", unfolded or still
 * folded with CRLF or LF followed by WSP; one final CRLF or LF is
 * allowed) and calls fn for every address in it. An empty list (only
 * CFWS and commas) is not an error: fn is never called and the result is
 * RFC5322_ADDR_OK.
 *
 * address-list elements are parsed in order and fn has seen every
 * address before the first error; a caller that wants all-or-nothing
 * collects the addresses and uses them only on RFC5322_ADDR_OK.
 *
 * Returns RFC5322_ADDR_OK or a negative enum rfc5322_addr_err. err may be
 * NULL; otherwise it is filled on every error (for STOPPED, pos is just
 * after the address the callback stopped on).
 */
int rfc5322_addr_parse(struct span in, unsigned flags, rfc5322_addr_fn fn,
    void *arg, struct rfc5322_addr_error *err);

/* A short description of an enum rfc5322_addr_err value. */
const char *rfc5322_addr_strerror(int err);

#endif
