/*
 * line: strict, bounded CRLF line finder (see line.h).
 *
 * Invariants: a line ends only at CR LF; the scan never looks at more than
 * max+2 bytes; the result for any input that does not end in the middle of
 * a decision (LINE_MORE) is the same for every extension of that input, so
 * the caller may receive its bytes in any split.
 */
#include "lib/line.h"

#include <string.h>

/*
 * RFC 5321 2.3.8: "Lines consist of zero or more data characters terminated
 * by the sequence ASCII character "CR" (hex value 0D) followed immediately
 * by ASCII character "LF" (hex value 0A). ... In addition, the appearance of
 * "bare" "CR" or "LF" characters in text (i.e., either without the other)
 * has a long history of causing problems in mail implementations and
 * applications that use the mail system as a tool. SMTP client
 * implementations MUST NOT transmit these characters except when they are
 * intended as line terminators and then MUST, as indicated above, transmit
 * them only as a <CRLF> sequence."
 */
enum line_result
line_find(const char *p, size_t n, size_t max, size_t *len, size_t *used)
{
	size_t i, lim;

	*len = 0;
	*used = 0;

	/* Positions 0..max may hold the CR; max < n keeps max+1 in range. */
	lim = n;
	if (max < n)
		lim = max + 1;
	for (i = 0; i < lim; i++) {
		if (p[i] == '\n') {
			*len = i;
			*used = i + 1;
			return LINE_BARELF;
		}
		if (p[i] != '\r')
			continue;
		if (i + 1 == n)
			return LINE_MORE; /* the LF may be next */
		if (p[i + 1] == '\n') {
			*len = i;
			*used = i + 2;
			return LINE_OK;
		}
		*len = i;
		*used = i + 1;
		return LINE_BARECR;
	}
	if (n > max) {
		/* max+1 bytes without a line end: more than max bytes. */
		*used = n;
		return LINE_TOOLONG;
	}
	return LINE_MORE;
}

/*
 * Throws away the rest of an over-long line. Anything up to the next CRLF
 * belongs to that line, including stray CR or LF bytes.
 */
int
line_skip(const char *p, size_t n, size_t *used)
{
	const char *cr;
	size_t off = 0;

	*used = 0;
	while (off < n && (cr = memchr(p + off, '\r', n - off)) != NULL) {
		size_t i = (size_t)(cr - p);

		if (i + 1 == n) {
			*used = i; /* keep the CR: its LF may come next */
			return 0;
		}
		if (p[i + 1] == '\n') {
			*used = i + 2;
			return 1;
		}
		off = i + 1;
	}
	*used = n;
	return 0;
}
