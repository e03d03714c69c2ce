/*
 * smtp_reply: the client side's reading of server replies (see
 * smtp_reply.h). Pure: no I/O, no allocation, no globals.
 *
 * RFC 5321 4.2:
 *   Reply-line     = *( Reply-code "-" [ textstring ] CRLF )
 *                    Reply-code [ SP textstring ] CRLF
 *   Reply-code     = %x32-35 %x30-35 %x30-39
 *   textstring     = 1*(%d09 / %d32-126) ; HT, SP, Printable US-ASCII
 * RFC 5321 4.2.1: "the last line will begin with the reply code, followed
 * immediately by <SP>, optionally some text, and <CRLF>. ... servers SHOULD
 * send the <SP> if subsequent text is not sent, but clients MUST be
 * prepared for it to be omitted."
 * RFC 5321 4.5.3.1.5: "The maximum total length of a reply line including
 * the reply code and the <CRLF> is 512 octets."
 *
 * RFC 3463 2 / RFC 2034 4 (enhanced status codes, at the start of the
 * text of each line, followed by SP):
 *   status-code = class "." subject "." detail
 *   class       = "2" / "4" / "5"
 *   subject     = 1*3digit
 *   detail      = 1*3digit
 *
 * RFC 5321 4.1.1.1 (EHLO reply):
 *   ehlo-ok-rsp  = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
 *                  / ( "250" "-" Domain [ SP ehlo-greet ] CRLF
 *                  *( "250" "-" ehlo-line CRLF )
 *                  "250" SP ehlo-line CRLF )
 *   ehlo-line    = ehlo-keyword *( SP ehlo-param )
 *   ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   ehlo-param   = 1*(%d33-126)
 *
 * Decisions beyond the grammar:
 *   - The code must be 200..599 but its second and third digits are not
 *     checked against %x30-35: RFC 5321 4.2 tells clients to act on the
 *     first digit of a code they do not know, so "260" is a 2xx reply
 *     rather than a broken session. A first digit outside 2..5 is an
 *     error (4.2.1: "out-of-range codes" should end the transaction).
 *   - Text bytes are sanitised rather than rejected: HT (legal in
 *     textstring) becomes SP, anything else outside 0x20..0x7e becomes
 *     '?'. Servers do send 8-bit text (localised messages); rejecting the
 *     reply would lose the code, which is what matters (4.2: clients act
 *     on the code only).
 *   - The enhanced code is taken from the first line only, and only when
 *     its class equals the code's first digit (RFC 3463 2: the class
 *     "MUST" agree with the reply code's); "5.1.1" on a 250 stays text.
 *     The same code at the start of later lines is removed from the text
 *     so the rendering does not repeat it; a different code is kept.
 *   - EHLO: multiple SPs between words are accepted; a line whose first
 *     word is not an ehlo-keyword is ignored; a truncated last line is
 *     ignored (it could be a cut "SIZE" number).
 */
#include "proto/smtp_reply.h"

#include <stdio.h>
#include <string.h>

#include "lib/numparse.h"

static void
smtp_reply_empty(struct smtp_reply *r)
{
	r->code = 0;
	r->enhanced[0] = '\0';
	r->text[0] = '\0';
	r->nlines = 0;
	r->truncated = false;
}

/* The byte a reply may show for c: printable ASCII as is, HT as SP, any
 * other byte '?'. */
static char
smtp_reply_clean(char c)
{
	unsigned char u = (unsigned char)c;

	if (u == '\t')
		return ' ';
	if (u < 0x20 || u > 0x7e)
		return '?';
	return c;
}

static bool
smtp_reply_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

void
smtp_reply_init(struct smtp_reply_parser *p)
{
	smtp_reply_empty(&p->cur);
	p->textlen = 0;
	p->pending = false;
	p->err = NULL;
}

static int
smtp_reply_fail(struct smtp_reply_parser *p, const char *why)
{
	smtp_reply_init(p);
	p->err = why;
	return -1;
}

const char *
smtp_reply_error(const struct smtp_reply_parser *p)
{
	return p->err != NULL ? p->err : "no error";
}

bool
smtp_reply_pending(const struct smtp_reply_parser *p)
{
	return p->pending;
}

/* 1 to 3 digits at s->p[*i], advancing *i; false if none. */
static bool
smtp_reply_digits13(struct span s, size_t *i)
{
	size_t start = *i;

	while (*i < s.n && *i - start < 3 && smtp_reply_isdigit(s.p[*i]))
		(*i)++;
	return *i > start;
}

size_t
smtp_reply_enhanced_len(struct span s, char cls)
{
	size_t i = 0;

	if (s.n < 5)
		return 0;
	if (s.p[0] != '2' && s.p[0] != '4' && s.p[0] != '5')
		return 0;
	if (cls != 0 && s.p[0] != cls)
		return 0;
	i = 1;
	if (s.p[i++] != '.')
		return 0;
	if (!smtp_reply_digits13(s, &i))
		return 0;
	if (i >= s.n || s.p[i++] != '.')
		return 0;
	if (!smtp_reply_digits13(s, &i))
		return 0;
	if (i < s.n && s.p[i] != ' ')
		return 0;
	return i;
}

/* Appends the bytes of s to the text, as many as fit, cleaned unless raw
 * (the '\n' between lines). */
static void
smtp_reply_append(struct smtp_reply_parser *p, struct span s, bool raw)
{
	size_t len = p->textlen;
	size_t room = sizeof(p->cur.text) - 1 - len;
	size_t n = s.n, i;

	if (n > room) {
		n = room;
		p->cur.truncated = true;
	}
	for (i = 0; i < n; i++)
		p->cur.text[len + i] = raw ? s.p[i] : smtp_reply_clean(s.p[i]);
	p->cur.text[len + n] = '\0';
	p->textlen = len + n;
}

int
smtp_reply_feed(
    struct smtp_reply_parser *p, struct span line, struct smtp_reply *out)
{
	struct smtp_reply *cur = &p->cur;
	struct span text = span_make(line.p, 0);
	unsigned code;
	bool last;
	size_t elen;

	smtp_reply_empty(out);
	p->err = NULL;
	if (line.n > SMTP_REPLY_LINE_MAX)
		return smtp_reply_fail(p, "reply line too long");
	if (line.n < 3 || !smtp_reply_isdigit(line.p[0]) ||
	    !smtp_reply_isdigit(line.p[1]) || !smtp_reply_isdigit(line.p[2]))
		return smtp_reply_fail(p, "reply does not start with a code");
	code = (unsigned)(line.p[0] - '0') * 100 +
	       (unsigned)(line.p[1] - '0') * 10 + (unsigned)(line.p[2] - '0');
	if (code < 200 || code > 599)
		return smtp_reply_fail(p, "reply code out of range");
	if (line.n == 3)
		last = true;
	else if (line.p[3] == ' ' || line.p[3] == '-') {
		last = line.p[3] == ' ';
		text = span_skip(line, 4);
	} else
		return smtp_reply_fail(p, "no SP or '-' after the reply code");

	if (cur->nlines == 0) {
		cur->code = code;
		elen = smtp_reply_enhanced_len(text, line.p[0]);
		if (elen > 0) {
			memcpy(cur->enhanced, text.p, elen);
			cur->enhanced[elen] = '\0';
		}
	} else if (code != cur->code)
		return smtp_reply_fail(p, "reply code differs between lines");
	if (cur->nlines >= SMTP_REPLY_LINES_MAX)
		return smtp_reply_fail(p, "too many lines in one reply");

	/* The reply's own enhanced code, repeated on this line, is not text. */
	elen = strlen(cur->enhanced);
	if (elen > 0 && text.n >= elen &&
	    memcmp(text.p, cur->enhanced, elen) == 0 &&
	    (text.n == elen || text.p[elen] == ' '))
		text = span_skip(text, text.n == elen ? elen : elen + 1);

	if (cur->nlines > 0)
		smtp_reply_append(p, span_make("\n", 1), true);
	smtp_reply_append(p, text, false);
	cur->nlines++;
	if (!last) {
		p->pending = true;
		return 0;
	}
	*out = *cur;
	smtp_reply_init(p);
	return 1;
}

/* The next word of *s (SP-separated, SPs skipped), advancing *s. */
static struct span
smtp_ehlo_word(struct span *s)
{
	struct span w;
	size_t i = 0;

	while (i < s->n && s->p[i] == ' ')
		i++;
	*s = span_skip(*s, i);
	i = 0;
	while (i < s->n && s->p[i] != ' ')
		i++;
	w = span_make(s->p, i);
	*s = span_skip(*s, i);
	return w;
}

static bool
smtp_ehlo_is_keyword(struct span w)
{
	size_t i;

	if (w.n == 0 || w.p[0] == '-')
		return false;
	for (i = 0; i < w.n; i++) {
		char c = w.p[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			smtp_reply_isdigit(c) || c == '-'))
			return false;
	}
	return true;
}

static void
smtp_ehlo_auth(struct span mechs, struct smtp_ehlo *out)
{
	struct span w;

	while ((w = smtp_ehlo_word(&mechs)).n > 0) {
		if (span_eq_ci(w, "PLAIN"))
			out->auth_plain = true;
		else if (span_eq_ci(w, "LOGIN"))
			out->auth_login = true;
	}
}

static void
smtp_ehlo_line(struct span line, struct smtp_ehlo *out)
{
	struct span kw = smtp_ehlo_word(&line);
	struct span arg;
	uint64_t v;

	/* Pre-RFC 2554 servers announce "AUTH=PLAIN LOGIN". */
	if (span_prefix_ci(kw, "AUTH=")) {
		smtp_ehlo_auth(span_skip(kw, 5), out);
		smtp_ehlo_auth(line, out);
		return;
	}
	if (!smtp_ehlo_is_keyword(kw))
		return;
	if (span_eq_ci(kw, "STARTTLS"))
		out->starttls = true;
	else if (span_eq_ci(kw, "PIPELINING"))
		out->pipelining = true;
	else if (span_eq_ci(kw, "8BITMIME"))
		out->eightbitmime = true;
	else if (span_eq_ci(kw, "SMTPUTF8"))
		out->smtputf8 = true;
	else if (span_eq_ci(kw, "CHUNKING"))
		out->chunking = true;
	else if (span_eq_ci(kw, "DSN"))
		out->dsn = true;
	else if (span_eq_ci(kw, "ENHANCEDSTATUSCODES"))
		out->enhancedstatuscodes = true;
	else if (span_eq_ci(kw, "REQUIRETLS"))
		out->requiretls = true;
	else if (span_eq_ci(kw, "BINARYMIME"))
		out->binarymime = true;
	else if (span_eq_ci(kw, "AUTH"))
		smtp_ehlo_auth(line, out);
	else if (span_eq_ci(kw, "SIZE")) {
		/* RFC 1870 4: size-param ::= [1*DIGIT]; 0 = no fixed limit */
		out->size = true;
		arg = smtp_ehlo_word(&line);
		if (arg.n > 0 && numparse_u64(arg, 0, UINT64_MAX, &v) == 0)
			out->size_max = v;
	}
}

void
smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out)
{
	size_t len = strnlen(r->text, sizeof(r->text));
	struct span rest = span_make(r->text, len);
	bool first = true;

	memset(out, 0, sizeof(*out));
	if (r->code != 250)
		return;
	while (rest.n > 0 || first) {
		const char *nl = memchr(rest.p, '\n', rest.n);
		size_t n = nl != NULL ? (size_t)(nl - rest.p) : rest.n;
		struct span line = span_make(rest.p, n);
		bool end = nl == NULL;

		rest = end ? span_skip(rest, n) : span_skip(rest, n + 1);
		if (!first && !(end && r->truncated))
			smtp_ehlo_line(line, out);
		first = false;
		if (end)
			break;
	}
}

struct smtp_reply_out {
	char *p;
	size_t len, cap; /* cap excludes the NUL */
};

static void
smtp_reply_put(struct smtp_reply_out *o, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && o->len < o->cap; i++)
		o->p[o->len++] = smtp_reply_clean(s[i]);
}

size_t
smtp_reply_format(const struct smtp_reply *r, char *out, size_t outsz)
{
	struct smtp_reply_out o = {out, 0, outsz > 0 ? outsz - 1 : 0};
	size_t tlen = strnlen(r->text, sizeof(r->text));
	size_t elen = strnlen(r->enhanced, sizeof(r->enhanced));
	size_t i = 0, start;
	bool first = true;
	char code[24];
	int n;

	if (outsz == 0)
		return 0;
	n = snprintf(code, sizeof(code), "%03u", r->code);
	if (n > 0)
		smtp_reply_put(&o, code,
		    (size_t)n < sizeof(code) ? (size_t)n : sizeof(code) - 1);
	if (elen > 0) {
		smtp_reply_put(&o, " ", 1);
		smtp_reply_put(&o, r->enhanced, elen);
	}
	while (i < tlen) {
		start = i;
		while (i < tlen && r->text[i] != '\n')
			i++;
		if (i > start) {
			smtp_reply_put(&o, first ? " " : " / ", first ? 1 : 3);
			smtp_reply_put(&o, r->text + start, i - start);
			first = false;
		}
		i++; /* the '\n' */
	}
	out[o.len] = '\0';
	return o.len;
}
