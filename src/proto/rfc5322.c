/*
 * rfc5322: incremental header scanner (see rfc5322.h for the grammar,
 * RFC 5322 2.2 and 3.6, and the decisions on malformed input).
 *
 * One state per position inside a header line; the only memory carried
 * between feeds is the state and the (bounded) field name, so any
 * chunking gives the same result. Each line is classified by its first
 * octets: CR (maybe the empty line), WSP (continuation), ftext (a name,
 * then optional WSP, then ':'), anything else (malformed). Whatever
 * follows the classification up to CR LF is skipped.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/rfc5322.h"

enum rfc5322_state {
	RFC5322_LINE_START = 0, /* at the start of a header line */
	RFC5322_EMPTY_CR,       /* CR at the start of a line: empty line? */
	RFC5322_NAME,           /* in 1*ftext at the start of a line */
	RFC5322_NAME_WSP,       /* *WSP after the name (obs-optional) */
	RFC5322_REST,           /* rest of a line, ignored up to CR LF */
	RFC5322_REST_CR,        /* CR in the rest of a line */
	RFC5322_BODY,           /* after the empty line: ignore everything */
};

/* Field names matched, compared ASCII case-insensitively. */
#define RFC5322_RECEIVED   "received"
#define RFC5322_DATE       "date"
#define RFC5322_MESSAGE_ID "message-id"
#define RFC5322_FROM       "from"

static bool
rfc5322_is_ftext(unsigned char c)
{
	/* ftext = %d33-57 / %d59-126 (RFC 5322 3.6.8) */
	return c >= 33 && c <= 126 && c != ':';
}

static bool
rfc5322_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned
rfc5322_inc(unsigned v)
{
	return v < UINT_MAX ? v + 1 : v;
}

/* Is the current name, of known length, lit (lowercase ASCII)? */
static bool
rfc5322_name_is(const struct rfc5322_scan *s, const char *lit)
{
	size_t i, len = strlen(lit);

	if (s->name_len != len)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s->name[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)lit[i])
			return false;
	}
	return true;
}

/* The ':' after a name: one more field, maybe one we look for. */
static void
rfc5322_field_done(struct rfc5322_scan *s)
{
	s->fields = rfc5322_inc(s->fields);
	if (rfc5322_name_is(s, RFC5322_RECEIVED))
		s->received = rfc5322_inc(s->received);
	else if (rfc5322_name_is(s, RFC5322_DATE))
		s->has_date = true;
	else if (rfc5322_name_is(s, RFC5322_MESSAGE_ID))
		s->has_message_id = true;
	else if (rfc5322_name_is(s, RFC5322_FROM))
		s->has_from = true;
}

void
rfc5322_scan_init(struct rfc5322_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->state = RFC5322_LINE_START;
}

void
rfc5322_scan_feed(struct rfc5322_scan *s, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && s->state != RFC5322_BODY) {
		unsigned char c = (unsigned char)p[i];

		switch (s->state) {
		case RFC5322_LINE_START:
			if (c == '\r') {
				s->state = RFC5322_EMPTY_CR;
			} else if (rfc5322_is_wsp(c)) {
				/* Folding: belongs to the previous line. */
				s->state = RFC5322_REST;
			} else if (rfc5322_is_ftext(c)) {
				s->name[0] = (char)c;
				s->name_len = 1;
				s->state = RFC5322_NAME;
			} else {
				/* ':' (empty name), CTL, LF, 8-bit. */
				s->state = RFC5322_REST;
			}
			i++;
			break;
		case RFC5322_EMPTY_CR:
			if (c == '\n') {
				s->in_body = true;
				s->state = RFC5322_BODY;
				/* The CR was the octet before this LF. */
				s->header_len = s->fed + i - 1;
			} else if (c == '\r') {
				/* Bare CR at line start: a malformed line. */
				s->state = RFC5322_REST_CR;
			} else {
				s->state = RFC5322_REST;
			}
			i++;
			break;
		case RFC5322_NAME:
			if (rfc5322_is_ftext(c)) {
				if (s->name_len < sizeof(s->name))
					s->name[s->name_len] = (char)c;
				if (s->name_len <= sizeof(s->name))
					s->name_len++;
			} else if (c == ':') {
				rfc5322_field_done(s);
				s->state = RFC5322_REST;
			} else if (rfc5322_is_wsp(c)) {
				s->state = RFC5322_NAME_WSP;
			} else if (c == '\r') {
				/* No colon on this line: malformed. */
				s->state = RFC5322_REST_CR;
			} else {
				s->state = RFC5322_REST;
			}
			i++;
			break;
		case RFC5322_NAME_WSP:
			if (c == ':') {
				rfc5322_field_done(s);
				s->state = RFC5322_REST;
			} else if (c == '\r') {
				s->state = RFC5322_REST_CR;
			} else if (!rfc5322_is_wsp(c)) {
				/* "From foo": a space inside the name. */
				s->state = RFC5322_REST;
			}
			i++;
			break;
		case RFC5322_REST: {
			/* Skip to the next CR in one step. */
			const char *cr = memchr(p + i, '\r', n - i);

			if (cr == NULL) {
				i = n;
			} else {
				i = (size_t)(cr - p) + 1;
				s->state = RFC5322_REST_CR;
			}
			break;
		}
		case RFC5322_REST_CR:
			if (c == '\n')
				s->state = RFC5322_LINE_START;
			else if (c != '\r')
				s->state = RFC5322_REST;
			i++;
			break;
		default:
			abort(); /* the caller overwrote the private state */
		}
	}
	if (!s->in_body)
		s->fed += n;
}

/* The end of the line starting at i (the index of its CR LF, or n). */
static size_t
rfc5322_eol(const char *msg, size_t n, size_t i)
{
	while (i < n && !(msg[i] == '\r' && i + 1 < n && msg[i + 1] == '\n'))
		i++;
	return i;
}

bool
rfc5322_field_value(const char *msg, size_t n, const char *name, char *out,
    size_t outsz)
{
	size_t nl = strlen(name), i = 0, o = 0;

	if (outsz == 0)
		return false;
	out[0] = '\0';
	while (i < n) {
		size_t e = rfc5322_eol(msg, n, i), k = i;

		if (e == i)
			return false;	/* the empty line: end of the header */
		while (k < e && msg[k] != ':' && msg[k] != ' ' &&
		    msg[k] != '\t')
			k++;
		if (k - i == nl && strncasecmp(msg + i, name, nl) == 0) {
			while (k < e && (msg[k] == ' ' || msg[k] == '\t'))
				k++;
			if (k < e && msg[k] == ':')
				break;
		}
		i = e + 2;
	}
	if (i >= n)
		return false;
	/* Copy the value and its continuation lines, unfolded. */
	i = (size_t)((const char *)memchr(msg + i, ':', n - i) - msg) + 1;
	for (;;) {
		size_t e = rfc5322_eol(msg, n, i);

		for (; i < e; i++) {
			if (o + 1 >= outsz) {
				out[0] = '\0';
				return false;
			}
			out[o++] = msg[i];
		}
		if (e + 2 < n && (msg[e + 2] == ' ' || msg[e + 2] == '\t')) {
			i = e + 2;
			continue;
		}
		break;
	}
	while (o > 0 && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	out[o] = '\0';
	for (i = 0; out[i] == ' ' || out[i] == '\t'; i++)
		;
	memmove(out, out + i, o - i + 1);
	return true;
}
