/*
 * smtp_data: incremental decoder for the message content of DATA (RFC 5321
 * 4.5.2: dot-unstuffing, CRLF.CRLF ends) and BDAT (RFC 3030: no dots, the
 * end is given by the chunk sizes). Only CR LF is a line end: a bare LF or
 * bare CR anywhere is recorded as an error and never ends the data, so SMTP
 * smuggling (CVE-2023-51764 class) cannot split one message into two. The
 * decoder keeps reading to the real end after an error so that the session
 * stays in sync and can answer with a precise reply.
 */
#ifndef PETREL_PROTO_SMTP_DATA_H
#define PETREL_PROTO_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* Error and property flags, accumulated in dec->flags. */
#define SMTP_DATA_BARE_LF 0x1	/* LF not preceded by CR */
#define SMTP_DATA_BARE_CR 0x2	/* CR not followed by LF */
#define SMTP_DATA_LONG_LINE 0x4 /* a line longer than max_line (incl CRLF) */
#define SMTP_DATA_TOO_BIG 0x8	/* more than max_size octets */
#define SMTP_DATA_8BIT 0x10	/* an octet >= 0x80 (property, not error) */
#define SMTP_DATA_OUTFULL 0x20	/* out refused an append (caller's fault) */
#define SMTP_DATA_ERRORS (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR | \
    SMTP_DATA_LONG_LINE | SMTP_DATA_TOO_BIG | SMTP_DATA_OUTFULL)

struct smtp_data_dec {
	int state;		/* private */
	bool dot;		/* DATA (true) or BDAT (false) */
	uint64_t size;		/* decoded octets so far (after unstuffing) */
	uint64_t max_size;
	size_t line_len;	/* octets in the current line so far */
	size_t max_line;	/* e.g. 1000, including CRLF */
	unsigned flags;
};

void smtp_data_init(struct smtp_data_dec *d, bool dot, uint64_t max_size,
    size_t max_line);

/*
 * Feeds n bytes. Decoded content is appended to out until an error flag is
 * set (then output stops, input is still consumed). In DATA mode returns 1
 * when the terminating CRLF "." CRLF has been consumed (*used is the number
 * of input bytes consumed, terminator included; the CRLF before the dot is
 * part of the content); otherwise returns 0 with *used = n. In BDAT mode
 * always returns 0 with *used = n.
 *
 * Details: max_line counts decoded octets including CRLF but not a leading
 * dot removed by unstuffing (RFC 5321 4.5.3.1.6); a line of exactly
 * max_line octets is fine. size may reach max_size; one more octet sets
 * SMTP_DATA_TOO_BIG. size keeps counting after an error (it is what the
 * client sent). The output holds exactly the content before the first
 * error, whatever the split of the feeds (except with OUTFULL). After the
 * terminator, further calls return 1 with *used = 0. in may be NULL when
 * n is 0.
 */
int smtp_data_feed(struct smtp_data_dec *d, const char *in, size_t n,
    size_t *used, struct buf *out);

/*
 * Ends a BDAT message (after BDAT LAST): a trailing CR without LF is a bare
 * CR. Returns the final flags. In DATA mode it only returns the flags (the
 * end is the terminator that smtp_data_feed reports).
 */
unsigned smtp_data_finish(struct smtp_data_dec *d);

#endif
