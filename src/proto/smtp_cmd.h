/*
 * smtp_cmd: splitting an SMTP command line into verb and arguments
 * (RFC 5321 4.1.1), and the small per-verb argument grammars that are not
 * paths or ESMTP parameters (EHLO/HELO domain, BDAT size). Pure: no I/O.
 */
#ifndef PETREL_PROTO_SMTP_CMD_H
#define PETREL_PROTO_SMTP_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/span.h"

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
};

struct smtp_cmd {
	enum smtp_verb verb;
	struct span args;	/* after the single SP that follows the verb;
				 * empty when there is none */
	bool has_args;		/* a SP followed the verb */
};

/*
 * Splits line (without CRLF). The verb is matched case-insensitively.
 * Returns 0; out->verb is SMTP_VERB_UNKNOWN for an unknown or empty verb.
 *
 * The verb is everything before the first SP (so "MAIL\tFROM:" and
 * " MAIL" are unknown verbs). args is everything after that SP with
 * trailing SP and TAB removed; it points into line. has_args is true even
 * when args ends up empty ("NOOP "), so a session can insist on no
 * arguments where the grammar has none.
 */
int smtp_cmd_parse(struct span line, struct smtp_cmd *out);

/* Upper-case name of a verb ("MAIL"), "?" for UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb v);

/*
 * Checks an EHLO/HELO argument: a domain (letters, digits, '-', '_' and
 * dots, labels of 1..63, at most 255 in all; also UTF-8 labels, see below)
 * or an address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]").
 * Returns 0 if acceptable, -1 if not.
 *
 * There is no utf8 switch: strictly well-formed UTF-8 labels (no overlong
 * forms, surrogates or C1 controls) are always accepted, since SMTPUTF8
 * is not negotiated before EHLO. Also accepted: one trailing dot, all-digit
 * labels (a bare IP address). Refused: empty labels, '-' at either end of a
 * label, General-address-literals, IPv6 zone ids, and any other byte.
 */
int smtp_helo_check(struct span arg);

/*
 * BDAT arguments (RFC 3030): chunk-size [SP "LAST"], chunk-size at most
 * max. Returns 0 and sets *size, *last; -1 on syntax error; -2 when the
 * size exceeds max.
 *
 * chunk-size is 1 to 20 digits (more is -1); "LAST" is case-insensitive
 * and must follow a single SP; nothing may follow it. On -1, *size is 0
 * and *last false: the session cannot know the chunk's length and should
 * close the connection. On -2, *size and *last are still set (*size is
 * UINT64_MAX when the number does not fit in 64 bits), so the session can
 * discard that many octets or close.
 */
int smtp_bdat_parse(struct span args, uint64_t max, uint64_t *size,
    bool *last);

#endif
