/*
 * line: the one strict CRLF line finder that every protocol petrel speaks
 * uses (SMTP now; LMTP, IMAP and POP3 later). A line ends only at CR LF; a
 * bare LF or a CR followed by anything but LF is an error, never a line end
 * (SMTP smuggling, CVE-2023-51764 class). The scan is bounded by max, so a
 * peer cannot make a line grow without limit (libevent's readln has no cap).
 */
#ifndef PETREL_LIB_LINE_H
#define PETREL_LIB_LINE_H

#include <stddef.h>

enum line_result {
	LINE_OK = 1,		/* a line: *len bytes, then CRLF; *used = len+2 */
	LINE_MORE = 0,		/* no complete line yet; *used = 0 */
	LINE_TOOLONG = -1,	/* no CRLF in the first max+2 bytes */
	LINE_BARELF = -2,	/* LF without CR at offset *len */
	LINE_BARECR = -3,	/* CR not followed by LF at offset *len */
};

/*
 * Looks for a line of at most max bytes (CRLF not counted) at the start of
 * p[0..n). For the errors, *used is the number of bytes the caller should
 * drop to resynchronise: through the offending LF (BARELF), the CR (BARECR),
 * or all n bytes (TOOLONG; keep dropping until a CRLF is found).
 *
 * Precisely: only the first max+1 bytes are searched for CR or LF (plus
 * the byte after a CR found there). A line of exactly max bytes followed by
 * CRLF is LINE_OK. LINE_TOOLONG is returned as soon as n >= max+1 and none
 * of p[0..max] is CR or LF: then no CRLF can end within the first max+2
 * bytes. The first offending byte decides: a bare LF or CR is reported at
 * its offset (*len) even if a valid CRLF follows later, and a CR that is the
 * last byte of the input gives LINE_MORE (its LF may still come). So the
 * result for a prefix that is not LINE_MORE is the result for every longer
 * input: callers may feed in any split. *len is 0 for MORE and TOOLONG.
 */
enum line_result line_find(const char *p, size_t n, size_t max, size_t *len,
    size_t *used);

/*
 * Resynchronisation after LINE_TOOLONG: finds the first CRLF in p[0..n).
 * Returns 1 with *used the offset just past its LF (the rest of the
 * over-long line and its CRLF), or 0 with *used the bytes that may be
 * dropped now: all n, or n-1 when the last byte is a CR whose LF may come
 * next. Bare CR and LF are not errors here; they are part of the line being
 * thrown away. Callers that keep pipelined input after an over-long line
 * should call this on the same bytes instead of dropping all n at once.
 */
int line_skip(const char *p, size_t n, size_t *used);

#endif
