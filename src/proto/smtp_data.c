/*
 * smtp_data: incremental DATA/BDAT content decoder (see smtp_data.h).
 *
 * The decoder is a byte-at-a-time state machine, so the result (flags,
 * size, output, bytes used) is the same however the input is split into
 * feeds; the only exception is SMTP_DATA_OUTFULL, which depends on how much
 * the caller's buffer accepted per append. It keeps no pointer into the
 * input between calls.
 *
 * Decisions, for the session that uses it:
 *  - Only CR LF ends a line. A bare LF or bare CR is content that sets an
 *    error flag; it never starts a new line, so "\n.\n", "\r\n.\n",
 *    "\n.\r\n" and "\r.\r\n" never end DATA (SMTP smuggling).
 *  - Line length is counted in decoded octets including CRLF, that is
 *    without the leading dot added for transparency, as RFC 5321 4.5.3.1.6
 *    says: "The maximum total length of a text line including the <CRLF>
 *    is 1000 octets (not counting the leading dot duplicated for
 *    transparency)." A bare CR or LF does not end a line for this count.
 *  - size counts every decoded octet, also after an error, so the session
 *    can log how big the rejected message was. It saturates at UINT64_MAX.
 *  - Output is every decoded octet before the first error; the octet that
 *    raised an error and everything after it are not appended.
 */
#include "proto/smtp_data.h"

#include <stdint.h>
#include <stdlib.h>

enum smtp_data_state {
	SMTP_DATA_S_BOL = 0, /* at the beginning of a line */
	SMTP_DATA_S_MID,     /* inside a line */
	SMTP_DATA_S_CR,      /* after a CR inside a line (LF expected) */
	SMTP_DATA_S_DOT,     /* DATA: after "." at the beginning of a line */
	SMTP_DATA_S_DOTCR,   /* DATA: after "." CR at the beginning of a line */
	SMTP_DATA_S_DONE,    /* DATA: the terminator has been consumed */
};

/* Decoded octets are collected here and appended to out in one go. */
struct smtp_data_stage {
	struct smtp_data_dec *d;
	struct buf *out;
	size_t n;
	char b[1024];
};

/* Appends what was staged; a refused append sets OUTFULL. */
static void
smtp_data_flush(struct smtp_data_stage *st)
{
	if (st->n == 0)
		return;
	if ((st->d->flags & SMTP_DATA_ERRORS) == 0 &&
	    buf_append(st->out, st->b, st->n) != 0)
		st->d->flags |= SMTP_DATA_OUTFULL;
	st->n = 0;
}

/*
 * Records an error. The content before it is still appended, so the output
 * does not depend on where the feeds were split.
 */
static void
smtp_data_error(struct smtp_data_stage *st, unsigned flag)
{
	if ((st->d->flags & SMTP_DATA_ERRORS) == 0)
		smtp_data_flush(st);
	st->d->flags |= flag;
}

/* One decoded octet: count it, check the limits, stage it while clean. */
static void
smtp_data_emit(struct smtp_data_stage *st, char c)
{
	struct smtp_data_dec *d = st->d;

	if ((unsigned char)c >= 0x80)
		d->flags |= SMTP_DATA_8BIT;
	if (d->size < UINT64_MAX)
		d->size++;
	if (d->size > d->max_size)
		smtp_data_error(st, SMTP_DATA_TOO_BIG);
	if (d->line_len < SIZE_MAX)
		d->line_len++;
	if (d->line_len > d->max_line)
		smtp_data_error(st, SMTP_DATA_LONG_LINE);
	if ((d->flags & SMTP_DATA_ERRORS) != 0)
		return;
	st->b[st->n++] = c;
	if (st->n == sizeof(st->b))
		smtp_data_flush(st);
}

void
smtp_data_init(
    struct smtp_data_dec *d, bool dot, uint64_t max_size, size_t max_line)
{
	d->state = SMTP_DATA_S_BOL;
	d->dot = dot;
	d->size = 0;
	d->max_size = max_size;
	d->line_len = 0;
	d->max_line = max_line;
	d->flags = 0;
}

/*
 * RFC 5321 4.1.1.4: "The mail data are terminated by a line containing
 * only a period, that is, the character sequence "<CRLF>.<CRLF>", where
 * the first <CRLF> is actually the terminator of the previous line."
 *
 * RFC 5321 4.5.2: "When a line of mail text is received by the SMTP
 * server, it checks the line. If the line is composed of a single period,
 * it is treated as the end of mail indicator. If the first character is a
 * period and there are other characters on the line, the first character
 * is deleted."
 *
 * RFC 3030 2: BDAT chunks carry the octets as they are; no dot-stuffing
 * and no end-of-data line. We still insist on CRLF line ends, since we do
 * not offer BINARYMIME.
 */
int
smtp_data_feed(struct smtp_data_dec *d, const char *in, size_t n, size_t *used,
    struct buf *out)
{
	struct smtp_data_stage st;
	size_t i = 0;
	int done = 0;

	*used = 0;
	if (d->state == SMTP_DATA_S_DONE)
		return 1;
	st.d = d;
	st.out = out;
	st.n = 0;
	while (i < n) {
		char c = in[i];

		switch (d->state) {
		case SMTP_DATA_S_BOL:
			if (d->dot && c == '.') {
				/* Stuffing dot or terminator: never content. */
				d->state = SMTP_DATA_S_DOT;
				i++;
				continue;
			}
			d->state = SMTP_DATA_S_MID;
			continue; /* the byte again, as inside a line */
		case SMTP_DATA_S_DOT:
			if (c == '\r') {
				d->state = SMTP_DATA_S_DOTCR;
				i++;
				continue;
			}
			/* The dot is dropped; ".." gives ".". */
			d->state = SMTP_DATA_S_MID;
			continue;
		case SMTP_DATA_S_DOTCR:
			if (c == '\n') {
				d->state = SMTP_DATA_S_DONE;
				i++;
				done = 1;
				break;
			}
			/* "." CR x: a dropped dot, then a bare CR. */
			smtp_data_error(&st, SMTP_DATA_BARE_CR);
			smtp_data_emit(&st, '\r');
			d->state = SMTP_DATA_S_MID;
			continue;
		case SMTP_DATA_S_MID:
			if (c == '\r') {
				d->state = SMTP_DATA_S_CR;
			} else {
				if (c == '\n')
					smtp_data_error(&st, SMTP_DATA_BARE_LF);
				smtp_data_emit(&st, c);
			}
			i++;
			continue;
		case SMTP_DATA_S_CR:
			if (c == '\n') {
				smtp_data_emit(&st, '\r');
				smtp_data_emit(&st, '\n');
				d->line_len = 0;
				d->state = SMTP_DATA_S_BOL;
				i++;
				continue;
			}
			smtp_data_error(&st, SMTP_DATA_BARE_CR);
			smtp_data_emit(&st, '\r');
			d->state = SMTP_DATA_S_MID;
			continue;
		default:
			abort(); /* the caller overwrote the private state */
		}
		break;
	}
	smtp_data_flush(&st);
	*used = i;
	return done;
}

unsigned
smtp_data_finish(struct smtp_data_dec *d)
{
	if (!d->dot && d->state == SMTP_DATA_S_CR) {
		/* The chunks ended with CR and no LF will come. */
		d->flags |= SMTP_DATA_BARE_CR;
		if (d->size < UINT64_MAX)
			d->size++;
		if (d->size > d->max_size)
			d->flags |= SMTP_DATA_TOO_BIG;
		d->state = SMTP_DATA_S_MID;
	}
	return d->flags;
}
