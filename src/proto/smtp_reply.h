/*
 * smtp_reply: the SMTP client's parser of server replies (RFC 5321 4.2,
 * 4.5.3.1.5), of the enhanced status code at the start of the text (RFC
 * 2034, RFC 3463), and of the EHLO keyword list (RFC 5321 4.1.1.1), plus a
 * one-line rendering for logs and DSN Diagnostic-Code fields.
 *
 * The peer is hostile: every line is bounded (SMTP_REPLY_LINE_MAX), the
 * lines of one reply are counted (SMTP_REPLY_LINES_MAX), the text kept is
 * bounded (SMTP_REPLY_TEXT_MAX, the rest dropped and flagged), the code is
 * checked on every line, and no byte outside printable ASCII ever leaves
 * the parser (HT becomes SP, every other such byte '?'). Pure: no I/O, no
 * allocation, no globals; the caller frames lines (CRLF removed).
 */
#ifndef PETREL_PROTO_SMTP_REPLY_H
#define PETREL_PROTO_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/span.h"

/* Octets of one reply line without CRLF (RFC 5321 4.5.3.1.5 says 512 with
 * CRLF; tolerant but bounded). A longer line is a protocol error. */
#define SMTP_REPLY_LINE_MAX 2048
/* Lines in one reply (EHLO responses can be long). One more is an error. */
#define SMTP_REPLY_LINES_MAX 200
/* Bytes of text kept per reply, NUL included; more is dropped (truncated
 * is set), not an error. */
#define SMTP_REPLY_TEXT_MAX 8192
/* "5.999.999" plus NUL fits. */
#define SMTP_REPLY_ENHANCED_MAX 16

struct smtp_reply {
	unsigned code; /* 200..599 */
	/*
	 * "5.1.1" when the first line's text starts with a valid RFC 3463
	 * status code (class 2, 4 or 5 equal to the code's first digit,
	 * subject and detail 1 to 3 digits, as sent) followed by SP or the
	 * end of the line; else "".
	 */
	char enhanced[SMTP_REPLY_ENHANCED_MAX];
	/*
	 * Each line's text after "NNN-" / "NNN " (nothing for a bare "NNN"),
	 * lines joined by '\n', NUL-terminated. When enhanced is set, that
	 * same code and one SP after it are removed from the start of every
	 * line that carries it (RFC 2034 repeats it on each line); a different
	 * code on a later line stays in the text. Bytes outside 0x20..0x7e are
	 * replaced: HT by SP, every other byte by '?' (8-bit bytes one '?'
	 * each), so text holds only printable ASCII and '\n'.
	 */
	char text[SMTP_REPLY_TEXT_MAX];
	size_t nlines;  /* lines in the reply, 1..SMTP_REPLY_LINES_MAX */
	bool truncated; /* text was cut at SMTP_REPLY_TEXT_MAX - 1 bytes */
};

struct smtp_reply_parser {
	/* private */
	struct smtp_reply cur; /* the reply being assembled */
	size_t textlen;        /* strlen(cur.text) */
	bool pending;          /* at least one continuation line taken */
	const char *err;       /* reason of the last -1, static */
};

/* Prepares p for the first line of a reply. */
void smtp_reply_init(struct smtp_reply_parser *p);

/*
 * Feeds one line (framed by the caller, without CRLF). Returns
 *    1: the line ended a reply, which is in *out; p is reset for the next;
 *    0: a continuation line ("NNN-...") was taken, feed the next line;
 *   -1: protocol error: line longer than SMTP_REPLY_LINE_MAX, code not
 *       three digits in 200..599, code differing from the first line's,
 *       fourth byte neither '-' nor SP (a bare "250" is fine and equals
 *       "250 "), or more than SMTP_REPLY_LINES_MAX lines. The reason is
 *       smtp_reply_error(p); p is reset, but a client should close the
 *       connection since it cannot know where the next reply starts.
 * On 0 and -1, *out is an empty reply (code 0, no text). Any byte may
 * appear in line, NUL included.
 */
int smtp_reply_feed(
    struct smtp_reply_parser *p, struct span line, struct smtp_reply *out);

/* The static reason of the last -1 from smtp_reply_feed, or "no error". */
const char *smtp_reply_error(const struct smtp_reply_parser *p);

/* True when a reply has started (continuation lines taken) but not ended:
 * a connection closed now lost part of a reply. */
bool smtp_reply_pending(const struct smtp_reply_parser *p);

/*
 * Length of the RFC 3463 status code at the start of s when it is valid,
 * its class is cls ('2', '4' or '5'; 0 accepts any of them), and it is
 * followed by SP or the end of s; else 0.
 */
size_t smtp_reply_enhanced_len(struct span s, char cls);

struct smtp_ehlo {                /* RFC 5321 4.1.1.1 ehlo-line keywords */
	bool starttls;            /* RFC 3207 */
	bool pipelining;          /* RFC 2920 */
	bool eightbitmime;        /* RFC 6152 8BITMIME */
	bool smtputf8;            /* RFC 6531 */
	bool chunking;            /* RFC 3030 */
	bool dsn;                 /* RFC 3461 */
	bool enhancedstatuscodes; /* RFC 2034 */
	bool requiretls;          /* RFC 8689 */
	bool binarymime;          /* RFC 3030 */
	bool size;                /* RFC 1870 SIZE [n] */
	uint64_t size_max; /* 0 = no limit given (absent, 0, bad or huge) */
	bool auth_plain, auth_login; /* AUTH PLAIN LOGIN ..., or AUTH=... */
};

/*
 * Parses the lines after the first (the greeting domain) of a 250 reply to
 * EHLO into *out (zeroed first; all false for any other code). Keywords
 * are case-insensitive; parameters after a keyword that takes none are
 * ignored; unknown keywords and malformed lines are ignored. SIZE takes
 * its first parameter when it is 1..20 digits and fits in 64 bits, else
 * size_max stays 0 (the server then decides alone). AUTH takes every
 * parameter as a mechanism name; the pre-RFC "AUTH=PLAIN LOGIN" form is
 * read the same way.
 */
void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out);

/*
 * Writes "550 5.1.1 text / more text" to out: code, the enhanced code if
 * any, then the non-empty lines joined by " / ". Printable ASCII only
 * (bytes of a hand-built reply are replaced as the parser does), at most
 * outsz - 1 bytes, always NUL-terminated when outsz > 0. Returns the
 * length written.
 */
size_t smtp_reply_format(const struct smtp_reply *r, char *out, size_t outsz);

/* Reply classes (RFC 5321 4.2.1), by the first digit. */
static inline unsigned
smtp_reply_class(const struct smtp_reply *r)
{
	return r->code / 100;
}

static inline bool
smtp_reply_is_2xx(const struct smtp_reply *r)
{
	return smtp_reply_class(r) == 2;
}

static inline bool
smtp_reply_is_3xx(const struct smtp_reply *r)
{
	return smtp_reply_class(r) == 3;
}

static inline bool
smtp_reply_is_4xx(const struct smtp_reply *r)
{
	return smtp_reply_class(r) == 4;
}

static inline bool
smtp_reply_is_5xx(const struct smtp_reply *r)
{
	return smtp_reply_class(r) == 5;
}

#endif
