/*
 * rfc5322_addr: address-list parser for To:/Cc:/Bcc: field bodies (see
 * rfc5322_addr.h for the canonical output and the lenient mode).
 *
 * Grammar (RFC 5322 3.4; lexical tokens 3.2.2-3.2.4; obsolete syntax
 * 4.1, 4.4; RFC 6532 3.2 adds UTF8-non-ascii to atext, qtext, ctext and
 * dtext):
 *
 *   address-list    = (address *("," address)) / obs-addr-list
 *   obs-addr-list   = *([CFWS] ",") address *("," [address / CFWS])
 *   address         = mailbox / group
 *   mailbox         = name-addr / addr-spec
 *   name-addr       = [display-name] angle-addr
 *   angle-addr      = [CFWS] "<" addr-spec ">" [CFWS] / obs-angle-addr
 *   obs-angle-addr  = [CFWS] "<" obs-route addr-spec ">" [CFWS]
 *   obs-route       = obs-domain-list ":"
 *   obs-domain-list = *(CFWS / ",") "@" domain
 *                     *("," [CFWS] ["@" domain])
 *   group           = display-name ":" [group-list] ";" [CFWS]
 *   group-list      = mailbox-list / CFWS / obs-group-list
 *   obs-group-list  = 1*([CFWS] ",") [CFWS]
 *   mailbox-list    = (mailbox *("," mailbox)) / obs-mbox-list
 *   obs-mbox-list   = *([CFWS] ",") mailbox *("," [mailbox / CFWS])
 *   display-name    = phrase
 *   phrase          = 1*word / obs-phrase
 *   obs-phrase      = word *(word / "." / CFWS)
 *   word            = atom / quoted-string
 *
 *   addr-spec       = local-part "@" domain
 *   local-part      = dot-atom / quoted-string / obs-local-part
 *   obs-local-part  = word *("." word)
 *   domain          = dot-atom / domain-literal / obs-domain
 *   obs-domain      = atom *("." atom)
 *   domain-literal  = [CFWS] "[" *([FWS] dtext) [FWS] "]" [CFWS]
 *   dtext           = %d33-90 / %d94-126 / obs-dtext
 *   obs-dtext       = obs-NO-WS-CTL / quoted-pair
 *
 *   atom            = [CFWS] 1*atext [CFWS]
 *   dot-atom        = [CFWS] dot-atom-text [CFWS]
 *   dot-atom-text   = 1*atext *("." 1*atext)
 *   atext           = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" /
 *                     "*" / "+" / "-" / "/" / "=" / "?" / "^" / "_" /
 *                     "`" / "{" / "|" / "}" / "~"
 *   specials        = "(" / ")" / "<" / ">" / "[" / "]" / ":" / ";" /
 *                     "@" / "\" / "," / "." / DQUOTE
 *   quoted-string   = [CFWS] DQUOTE *([FWS] qcontent) [FWS] DQUOTE [CFWS]
 *   qcontent        = qtext / quoted-pair
 *   qtext           = %d33 / %d35-91 / %d93-126 / obs-qtext
 *   obs-qtext       = obs-NO-WS-CTL
 *   quoted-pair     = ("\" (VCHAR / WSP)) / obs-qp
 *   obs-qp          = "\" (%d0 / obs-NO-WS-CTL / LF / CR)
 *   obs-NO-WS-CTL   = %d1-8 / %d11 / %d12 / %d14-31 / %d127
 *   FWS             = ([*WSP CRLF] 1*WSP) / obs-FWS
 *   obs-FWS         = 1*WSP *(CRLF 1*WSP)
 *   comment         = "(" *([FWS] ccontent) [FWS] ")"
 *   ccontent        = ctext / quoted-pair / comment
 *   ctext           = %d33-39 / %d42-91 / %d93-126 / obs-ctext
 *   CFWS            = (1*([FWS] comment) [FWS]) / FWS
 *
 * How: a lexer turns the input into RFC 822-style tokens (atom,
 * quoted-string, domain literal, one special, or a junk octet), skipping
 * CFWS; because CFWS may sit between any two tokens of the obsolete
 * forms ("john . doe @ example . com" is an obs-local-part and an
 * obs-domain), a parser over tokens accepts exactly the obsolete grammar,
 * which RFC 5322 4 says MUST be accepted. A list element starts with a
 * run of words and dots; the token after it decides what it was: '@' a
 * local part, '<' a display name, ':' a group name, ',' or the end a bare
 * local part. The run is then read again to build the local part.
 *
 * Decisions:
 *  - Line breaks: CRLF or a bare LF followed by WSP is folding; one CRLF
 *    or LF at the very end is the end of the field. Any other CR or LF
 *    is a syntax error (it would end the header field).
 *  - A quoted-pair must not escape CR or LF (obs-qp allows it, but the
 *    octet would be a line break inside an address).
 *  - NUL is refused everywhere, also where obs-qp allows it.
 *  - The CRLF of FWS inside a quoted-string is removed; the WSP stays
 *    (RFC 5322 3.2.4). Inside a domain literal all FWS is removed.
 *  - An address must be something SMTP can carry (RFC5322_ADDR_NOTSMTP
 *    otherwise): the quoted local part may hold only %d32-126 and UTF-8,
 *    a domain literal only dcontent (RFC 5321 4.1.3, %d33-90 / %d94-126),
 *    and UTF-8 must be well-formed. The domain is not checked against
 *    RFC 5321's LDH rules: an SMTP client parses it again as a path.
 *  - "<>" is not an address here (it only means something in Return-Path).
 *  - Lenient only: ';' outside a group separates addresses like ','
 *    (Outlook users type it); see rfc5322_addr.h for the rest.
 *
 * Error precedence inside one address: syntax, then too long, then not
 * SMTP, so TOOLONG and NOTSMTP mean the address was well-formed.
 */
#include "proto/rfc5322_addr.h"

#include <string.h>

#include "lib/utf8.h"

enum rfc5322_addr_tok_type {
	RFC5322_ADDR_T_END = 0,
	RFC5322_ADDR_T_ATOM,    /* 1*atext; start..end is the run */
	RFC5322_ADDR_T_QSTR,    /* quoted-string; start..end inside quotes */
	RFC5322_ADDR_T_DLIT,    /* domain literal; start..end inside [] */
	RFC5322_ADDR_T_SPECIAL, /* one of < > : ; @ , . (in c) */
	RFC5322_ADDR_T_JUNK,    /* one octet that starts no token */
};

struct rfc5322_addr_tok {
	enum rfc5322_addr_tok_type type;
	size_t start, end; /* content span in the input */
	unsigned char c;   /* the special */
	bool bad8;         /* lenient: malformed UTF-8 in an atom or string */
};

struct rfc5322_addr_parser {
	const unsigned char *s;
	size_t n;
	size_t i; /* lexer position: just after tok */
	unsigned flags;
	struct rfc5322_addr_tok tok; /* the current (lookahead) token */
	rfc5322_addr_fn fn;
	void *arg;
	size_t emitted; /* addresses handed to fn so far */
	bool in_group;  /* inside a group's member list */
	size_t err_pos; /* set by rfc5322_addr_fail() */
	const char *err_why;
};

/* A position to come back to (the lenient second try). */
struct rfc5322_addr_mark {
	size_t i;
	struct rfc5322_addr_tok tok;
};

/* Address being built: flags collected while parsing its parts. */
struct rfc5322_addr_build {
	struct rfc5322_addr *out; /* NULL: syntax only (route domains) */
	size_t start;             /* where the address starts (errors) */
	bool toolong;
	bool notsmtp;
	size_t notsmtp_pos;
	const char *notsmtp_why;
};

static bool
rfc5322_addr_lenient(const struct rfc5322_addr_parser *p)
{
	return (p->flags & RFC5322_ADDR_F_LENIENT) != 0;
}

static int
rfc5322_addr_fail(
    struct rfc5322_addr_parser *p, int code, size_t pos, const char *why)
{
	p->err_pos = pos;
	p->err_why = why;
	return code;
}

static bool
rfc5322_addr_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* atext (RFC 5322 3.2.3), ASCII part. */
static bool
rfc5322_addr_is_atext(unsigned char c)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != 0 && memchr(specials, c, sizeof(specials) - 1) != NULL;
}

/*
 * A line break at s[i] (CR LF, or a bare LF): FWS when WSP follows, the
 * end of the field when nothing follows and end_ok. Returns the octets to
 * skip, or 0 (with the error set) when it ends the field too early or is
 * a bare CR.
 */
static size_t
rfc5322_addr_linebreak(struct rfc5322_addr_parser *p, size_t i, bool end_ok)
{
	size_t k;

	if (p->s[i] == '\r') {
		if (i + 1 >= p->n || p->s[i + 1] != '\n') {
			(void)rfc5322_addr_fail(
			    p, RFC5322_ADDR_SYNTAX, i, "bare CR");
			return 0;
		}
		k = 2;
	} else {
		k = 1;
	}
	if (i + k == p->n && end_ok)
		return k;
	if (i + k < p->n && rfc5322_addr_is_wsp(p->s[i + k]))
		return k;
	(void)rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, i,
	    i + k == p->n ? "unterminated comment, quoted string or literal"
			  : "line break not followed by white space");
	return 0;
}

/*
 * One octet >= 0x80 at s[i] inside an atom, quoted string, comment or
 * literal: a UTF-8 sequence (RFC 6532). Returns its length; in lenient
 * mode a malformed octet counts as one (and *bad8 is set), in strict mode
 * it is an error (0).
 */
static size_t
rfc5322_addr_utf8(struct rfc5322_addr_parser *p, size_t i, bool *bad8)
{
	size_t k = utf8_seq_len(p->s + i, p->n - i);

	if (k > 0)
		return k;
	if (rfc5322_addr_lenient(p)) {
		*bad8 = true;
		return 1;
	}
	(void)rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, i, "malformed UTF-8");
	return 0;
}

/*
 * quoted-pair at s[i] ('\'): returns the octets it takes, or 0 on error.
 * VCHAR, WSP, obs-qp except NUL, CR, LF; in strict mode a following
 * non-ASCII character must be well-formed UTF-8.
 */
static size_t
rfc5322_addr_qpair(struct rfc5322_addr_parser *p, size_t i, bool *bad8)
{
	unsigned char c;
	size_t k;

	if (i + 1 >= p->n) {
		(void)rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, i,
		    "unterminated comment, quoted string or literal");
		return 0;
	}
	c = p->s[i + 1];
	if (c == '\0' || c == '\r' || c == '\n') {
		(void)rfc5322_addr_fail(
		    p, RFC5322_ADDR_SYNTAX, i + 1, "'\\' before NUL, CR or LF");
		return 0;
	}
	if (c < 0x80)
		return 2;
	k = rfc5322_addr_utf8(p, i + 1, bad8);
	return k == 0 ? 0 : 1 + k;
}

/*
 * comment at s[i] ('('), nested comments included. Returns the index
 * after the closing ')', or 0 on error.
 */
static size_t
rfc5322_addr_comment(struct rfc5322_addr_parser *p, size_t i)
{
	size_t start = i, depth = 0, k;
	bool bad8 = false;

	while (i < p->n) {
		unsigned char c = p->s[i];

		if (c == '(') {
			depth++;
			k = 1;
		} else if (c == ')') {
			if (--depth == 0)
				return i + 1;
			k = 1;
		} else if (c == '\\') {
			k = rfc5322_addr_qpair(p, i, &bad8);
		} else if (c == '\r' || c == '\n') {
			k = rfc5322_addr_linebreak(p, i, false);
		} else if (c >= 0x80) {
			k = rfc5322_addr_utf8(p, i, &bad8);
		} else if (c == '\0') {
			(void)rfc5322_addr_fail(
			    p, RFC5322_ADDR_SYNTAX, i, "NUL in a comment");
			k = 0;
		} else {
			/* ctext, obs-ctext, WSP. */
			k = 1;
		}
		if (k == 0)
			return 0;
		i += k;
	}
	(void)rfc5322_addr_fail(
	    p, RFC5322_ADDR_SYNTAX, start, "unterminated comment");
	return 0;
}

/*
 * The content of a quoted-string (close '"') or a domain literal (close
 * ']') starting at s[i], just after the opening octet. Returns the index
 * of the closing octet, or 0 on error.
 */
static size_t
rfc5322_addr_quoted(
    struct rfc5322_addr_parser *p, size_t i, unsigned char close, bool *bad8)
{
	size_t start = i - 1, k;

	while (i < p->n) {
		unsigned char c = p->s[i];

		if (c == close)
			return i;
		if (c == '\\') {
			k = rfc5322_addr_qpair(p, i, bad8);
		} else if (c == '\r' || c == '\n') {
			k = rfc5322_addr_linebreak(p, i, false);
		} else if (c >= 0x80) {
			k = rfc5322_addr_utf8(p, i, bad8);
		} else if (c == '\0') {
			(void)rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, i,
			    "NUL in a quoted string or literal");
			k = 0;
		} else if (close == ']' && c == '[') {
			(void)rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, i,
			    "'[' inside a domain literal");
			k = 0;
		} else {
			k = 1;
		}
		if (k == 0)
			return 0;
		i += k;
	}
	(void)rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, start,
	    close == '"' ? "unterminated quoted string"
			 : "unterminated domain literal");
	return 0;
}

/* Skips CFWS at p->i. 0, or -1 on error. */
static int
rfc5322_addr_skip_cfws(struct rfc5322_addr_parser *p)
{
	size_t k;

	while (p->i < p->n) {
		unsigned char c = p->s[p->i];

		if (rfc5322_addr_is_wsp(c)) {
			p->i++;
		} else if (c == '\r' || c == '\n') {
			if ((k = rfc5322_addr_linebreak(p, p->i, true)) == 0)
				return -1;
			p->i += k;
		} else if (c == '(') {
			if ((k = rfc5322_addr_comment(p, p->i)) == 0)
				return -1;
			p->i = k;
		} else {
			break;
		}
	}
	return 0;
}

/* Reads the next token into p->tok. 0, or -1 with the error set. */
static int
rfc5322_addr_next(struct rfc5322_addr_parser *p)
{
	struct rfc5322_addr_tok *t = &p->tok;
	unsigned char c;
	size_t k;

	memset(t, 0, sizeof(*t));
	if (rfc5322_addr_skip_cfws(p) != 0)
		return -1;
	t->start = t->end = p->i;
	if (p->i >= p->n) {
		t->type = RFC5322_ADDR_T_END;
		return 0;
	}
	c = p->s[p->i];
	if (c == '"' || c == '[') {
		k = rfc5322_addr_quoted(
		    p, p->i + 1, c == '"' ? '"' : ']', &t->bad8);
		if (k == 0)
			return -1;
		t->type = c == '"' ? RFC5322_ADDR_T_QSTR : RFC5322_ADDR_T_DLIT;
		t->start = p->i + 1;
		t->end = k;
		p->i = k + 1;
		return 0;
	}
	if (rfc5322_addr_is_atext(c) || c >= 0x80) {
		while (p->i < p->n) {
			c = p->s[p->i];
			if (rfc5322_addr_is_atext(c)) {
				k = 1;
			} else if (c >= 0x80) {
				if ((k = rfc5322_addr_utf8(
					 p, p->i, &t->bad8)) == 0)
					return -1;
			} else {
				break;
			}
			p->i += k;
		}
		t->type = RFC5322_ADDR_T_ATOM;
		t->end = p->i;
		return 0;
	}
	if (c == '\0') {
		(void)rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, p->i, "NUL");
		return -1;
	}
	t->end = ++p->i;
	t->c = c;
	t->type = memchr("<>:;@,.", c, 7) != NULL ? RFC5322_ADDR_T_SPECIAL
						  : RFC5322_ADDR_T_JUNK;
	return 0;
}

static bool
rfc5322_addr_is(const struct rfc5322_addr_parser *p, unsigned char c)
{
	return p->tok.type == RFC5322_ADDR_T_SPECIAL && p->tok.c == c;
}

static bool
rfc5322_addr_is_word(const struct rfc5322_addr_parser *p)
{
	return p->tok.type == RFC5322_ADDR_T_ATOM ||
	       p->tok.type == RFC5322_ADDR_T_QSTR;
}

static void
rfc5322_addr_mark(
    const struct rfc5322_addr_parser *p, struct rfc5322_addr_mark *m)
{
	m->i = p->i;
	m->tok = p->tok;
}

static void
rfc5322_addr_reset(
    struct rfc5322_addr_parser *p, const struct rfc5322_addr_mark *m)
{
	p->i = m->i;
	p->tok = m->tok;
}

/* A description of the current token for "unexpected ..." errors. */
static int
rfc5322_addr_unexpected(struct rfc5322_addr_parser *p)
{
	const char *why;

	switch (p->tok.type) {
	case RFC5322_ADDR_T_END:
		why = "unexpected end of the list";
		break;
	case RFC5322_ADDR_T_ATOM:
	case RFC5322_ADDR_T_QSTR:
		why = "unexpected word";
		break;
	case RFC5322_ADDR_T_DLIT:
		why = "unexpected domain literal";
		break;
	case RFC5322_ADDR_T_SPECIAL:
		switch (p->tok.c) {
		case '<':
			why = "unexpected '<'";
			break;
		case '>':
			why = "unexpected '>'";
			break;
		case ':':
			why = "unexpected ':'";
			break;
		case ';':
			why = "unexpected ';'";
			break;
		case '@':
			why = "unexpected '@'";
			break;
		case ',':
			why = "unexpected ','";
			break;
		default:
			why = "unexpected '.'";
			break;
		}
		break;
	default:
		why = "character not allowed here";
		break;
	}
	/* An opening quote or bracket is one before the content. */
	return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
	    p->tok.type == RFC5322_ADDR_T_QSTR ||
		    p->tok.type == RFC5322_ADDR_T_DLIT
		? p->tok.start - 1
		: p->tok.start,
	    why);
}

/* Advances; -1 (SYNTAX) on a lexer error. */
static int
rfc5322_addr_advance(struct rfc5322_addr_parser *p)
{
	return rfc5322_addr_next(p) == 0 ? 0 : RFC5322_ADDR_SYNTAX;
}

static void
rfc5322_addr_notsmtp(struct rfc5322_addr_build *b, size_t pos, const char *why)
{
	if (!b->notsmtp) {
		b->notsmtp = true;
		b->notsmtp_pos = pos;
		b->notsmtp_why = why;
	}
}

/* Appends the decoded content of a quoted-string token to dst. */
static size_t
rfc5322_addr_decode_qstr(const struct rfc5322_addr_parser *p,
    const struct rfc5322_addr_tok *t, unsigned char *dst, size_t len,
    size_t max, bool *over)
{
	size_t i = t->start;

	while (i < t->end) {
		unsigned char c = p->s[i];

		if (c == '\r' || c == '\n') {
			i++; /* the CRLF of FWS is invisible */
			continue;
		}
		if (c == '\\')
			c = p->s[++i];
		i++;
		if (len < max)
			dst[len++] = c;
		else
			*over = true;
	}
	return len;
}

/*
 * local-part at the current token, up to (not including) the token after
 * it, which the caller checks. Words are joined by dots; see the file
 * comment for the canonical form. Writes the local part to b->out->addr.
 */
static int
rfc5322_addr_local(struct rfc5322_addr_parser *p, struct rfc5322_addr_build *b)
{
	unsigned char buf[RFC5322_ADDR_LOCAL_MAX];
	size_t len = 0, words = 0, i, o;
	size_t start = p->tok.type == RFC5322_ADDR_T_QSTR ? p->tok.start - 1
							  : p->tok.start;
	bool over = false, all_atoms = true, strict = true, want_word = true;
	struct rfc5322_addr *out = b->out;

	for (;;) {
		if (rfc5322_addr_is_word(p)) {
			const struct rfc5322_addr_tok *t = &p->tok;

			if (!want_word)
				return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
				    t->type == RFC5322_ADDR_T_QSTR
					? t->start - 1
					: t->start,
				    "two words without '.' between them");
			if (t->bad8)
				rfc5322_addr_notsmtp(b, t->start,
				    "malformed UTF-8 in an address");
			if (t->type == RFC5322_ADDR_T_QSTR) {
				all_atoms = false;
				len = rfc5322_addr_decode_qstr(
				    p, t, buf, len, sizeof(buf), &over);
			} else {
				for (i = t->start; i < t->end; i++) {
					if (len < sizeof(buf))
						buf[len++] = p->s[i];
					else
						over = true;
				}
			}
			words++;
			want_word = false;
		} else if (rfc5322_addr_is(p, '.')) {
			if (want_word) {
				if (!rfc5322_addr_lenient(p))
					return rfc5322_addr_fail(p,
					    RFC5322_ADDR_SYNTAX, p->tok.start,
					    "'.' without a word before it");
				strict = false;
			}
			if (len < sizeof(buf))
				buf[len++] = '.';
			else
				over = true;
			want_word = true;
		} else {
			break;
		}
		if (rfc5322_addr_advance(p) != 0)
			return RFC5322_ADDR_SYNTAX;
	}
	if (words == 0)
		return rfc5322_addr_fail(
		    p, RFC5322_ADDR_SYNTAX, start, "missing local part");
	if (want_word) {
		if (!rfc5322_addr_lenient(p))
			return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
			    p->tok.start, "local part ends with '.'");
		strict = false;
	}
	if (over) {
		b->toolong = true;
		return RFC5322_ADDR_OK;
	}

	/* Now the content is known: write it, quoted if it must be. */
	if (all_atoms && strict) {
		memcpy(out->addr, buf, len);
		o = len;
	} else {
		size_t enc = len + 2;

		for (i = 0; i < len; i++)
			if (buf[i] == '"' || buf[i] == '\\')
				enc++;
		if (enc > RFC5322_ADDR_LOCAL_MAX) {
			b->toolong = true;
			return RFC5322_ADDR_OK;
		}
		if (len == 0)
			rfc5322_addr_notsmtp(b, start, "empty local part");
		/* RFC 5321 4.1.2: qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
		out->quoted = true;
		o = 0;
		out->addr[o++] = '"';
		for (i = 0; i < len; i++) {
			unsigned char c = buf[i];

			if (c == '"' || c == '\\')
				out->addr[o++] = '\\';
			else if (c < 32 || c == 127)
				rfc5322_addr_notsmtp(b, start,
				    "control character or TAB in a quoted "
				    "local part");
			out->addr[o++] = (char)c;
		}
		out->addr[o++] = '"';
	}
	/* Decoded content must be well-formed UTF-8 (RFC 6532). */
	for (i = 0; i < len;) {
		size_t k = 1;

		if (buf[i] >= 0x80) {
			out->utf8 = true;
			k = utf8_seq_len(buf + i, len - i);
			if (k == 0) {
				rfc5322_addr_notsmtp(
				    b, start, "malformed UTF-8 in an address");
				break;
			}
		}
		i += k;
	}
	out->local_len = o;
	out->len = o;
	out->addr[o] = '\0';
	return RFC5322_ADDR_OK;
}

/* Appends n octets to the domain part of b->out, or marks it too long. */
static void
rfc5322_addr_domain_put(struct rfc5322_addr_build *b, size_t *dlen,
    const unsigned char *s, size_t n)
{
	struct rfc5322_addr *out = b->out;

	if (out == NULL || b->toolong)
		return;
	if (RFC5322_ADDR_DOMAIN_MAX - *dlen < n) {
		b->toolong = true;
		return;
	}
	memcpy(out->addr + out->len + 1 + *dlen, s, n);
	*dlen += n;
}

/*
 * domain at the current token: a domain literal, or atom *("." atom).
 * With b->out NULL only the syntax is checked (route domains); otherwise
 * "@domain" is appended to b->out->addr.
 */
static int
rfc5322_addr_domain(struct rfc5322_addr_parser *p, struct rfc5322_addr_build *b)
{
	size_t dlen = 0, i;

	if (p->tok.type == RFC5322_ADDR_T_DLIT) {
		const struct rfc5322_addr_tok *t = &p->tok;
		static const unsigned char open = '[', close = ']';

		rfc5322_addr_domain_put(b, &dlen, &open, 1);
		for (i = t->start; i < t->end; i++) {
			unsigned char c = p->s[i];

			if (rfc5322_addr_is_wsp(c) || c == '\r' || c == '\n')
				continue;
			/* RFC 5321 4.1.3: dcontent = %d33-90 / %d94-126 */
			if (c < 33 || c > 126 || c == '\\')
				rfc5322_addr_notsmtp(b, i,
				    "domain literal with a character SMTP "
				    "does not allow");
			rfc5322_addr_domain_put(b, &dlen, p->s + i, 1);
		}
		rfc5322_addr_domain_put(b, &dlen, &close, 1);
		if (b->out != NULL)
			b->out->literal = true;
		if (rfc5322_addr_advance(p) != 0)
			return RFC5322_ADDR_SYNTAX;
	} else {
		static const unsigned char dot = '.';

		for (;;) {
			const struct rfc5322_addr_tok *t = &p->tok;

			if (t->type != RFC5322_ADDR_T_ATOM)
				return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
				    t->start,
				    dlen == 0 ? "missing domain"
					      : "empty label in the domain");
			if (t->bad8)
				rfc5322_addr_notsmtp(b, t->start,
				    "malformed UTF-8 in an address");
			for (i = t->start; i < t->end && b->out != NULL; i++)
				if (p->s[i] >= 0x80)
					b->out->utf8 = true;
			rfc5322_addr_domain_put(
			    b, &dlen, p->s + t->start, t->end - t->start);
			if (rfc5322_addr_advance(p) != 0)
				return RFC5322_ADDR_SYNTAX;
			if (!rfc5322_addr_is(p, '.'))
				break;
			rfc5322_addr_domain_put(b, &dlen, &dot, 1);
			if (rfc5322_addr_advance(p) != 0)
				return RFC5322_ADDR_SYNTAX;
		}
	}
	if (b->out != NULL && !b->toolong) {
		b->out->addr[b->out->len] = '@';
		b->out->len += 1 + dlen;
		b->out->addr[b->out->len] = '\0';
	}
	return RFC5322_ADDR_OK;
}

/*
 * A built address: its problems in precedence order (the syntax was
 * fine), or hands it to the callback.
 */
static int
rfc5322_addr_emit(struct rfc5322_addr_parser *p, struct rfc5322_addr_build *b)
{
	if (b->toolong)
		return rfc5322_addr_fail(p, RFC5322_ADDR_TOOLONG, b->start,
		    "local part or domain too long");
	if (b->notsmtp)
		return rfc5322_addr_fail(
		    p, RFC5322_ADDR_NOTSMTP, b->notsmtp_pos, b->notsmtp_why);
	b->out->in_group = p->in_group;
	p->emitted++;
	if (p->fn(b->out, p->arg) != 0)
		return rfc5322_addr_fail(p, RFC5322_ADDR_STOPPED, p->tok.start,
		    "stopped by the caller");
	return RFC5322_ADDR_OK;
}

/* Starts building an address into out at the current token. */
static void
rfc5322_addr_build_init(const struct rfc5322_addr_parser *p,
    struct rfc5322_addr_build *b, struct rfc5322_addr *out)
{
	memset(out, 0, sizeof(*out));
	memset(b, 0, sizeof(*b));
	b->out = out;
	b->start = p->tok.type == RFC5322_ADDR_T_QSTR ? p->tok.start - 1
						      : p->tok.start;
}

/* addr-spec at the current token, built into b. */
static int
rfc5322_addr_spec(struct rfc5322_addr_parser *p, struct rfc5322_addr_build *b)
{
	int r;

	if ((r = rfc5322_addr_local(p, b)) != 0)
		return r;
	if (!rfc5322_addr_is(p, '@'))
		return rfc5322_addr_fail(
		    p, RFC5322_ADDR_SYNTAX, p->tok.start, "missing '@'");
	if ((r = rfc5322_addr_advance(p)) != 0)
		return r;
	return rfc5322_addr_domain(p, b);
}

/*
 * angle-addr / obs-angle-addr at '<', built into b; leaves the token
 * after '>' current.
 */
static int
rfc5322_addr_angle(struct rfc5322_addr_parser *p, struct rfc5322_addr_build *b)
{
	size_t lt = p->tok.start;
	int r;

	if ((r = rfc5322_addr_advance(p)) != 0)
		return r;
	if (rfc5322_addr_is(p, '>'))
		return rfc5322_addr_fail(
		    p, RFC5322_ADDR_SYNTAX, lt, "empty address <>");
	if (rfc5322_addr_is(p, '@') || rfc5322_addr_is(p, ',')) {
		/* obs-route: checked, then ignored (RFC 5322 4.4). */
		struct rfc5322_addr_build skip;
		bool domains = false;

		memset(&skip, 0, sizeof(skip));
		for (;;) {
			if (rfc5322_addr_is(p, ',')) {
				if ((r = rfc5322_addr_advance(p)) != 0)
					return r;
			} else if (rfc5322_addr_is(p, '@')) {
				if ((r = rfc5322_addr_advance(p)) != 0 ||
				    (r = rfc5322_addr_domain(p, &skip)) != 0)
					return r;
				domains = true;
			} else if (rfc5322_addr_is(p, ':') && domains) {
				if ((r = rfc5322_addr_advance(p)) != 0)
					return r;
				break;
			} else {
				return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
				    p->tok.start, "malformed source route");
			}
		}
	}
	b->start = p->tok.type == RFC5322_ADDR_T_QSTR ? p->tok.start - 1
						      : p->tok.start;
	if ((r = rfc5322_addr_spec(p, b)) != 0)
		return r;
	if (!rfc5322_addr_is(p, '>'))
		return rfc5322_addr_fail(
		    p, RFC5322_ADDR_SYNTAX, p->tok.start, "missing '>'");
	return rfc5322_addr_advance(p);
}

/* Does the current token end a list element? */
static bool
rfc5322_addr_at_element_end(const struct rfc5322_addr_parser *p)
{
	if (p->tok.type == RFC5322_ADDR_T_END || rfc5322_addr_is(p, ','))
		return true;
	/* In a group ';' ends it; outside, lenient mode takes ';' as ','. */
	return rfc5322_addr_is(p, ';') &&
	       (p->in_group || rfc5322_addr_lenient(p));
}

static int rfc5322_addr_element(struct rfc5322_addr_parser *p);

/* The member list of a group, after its ':'; consumes the ';'. */
static int
rfc5322_addr_group(struct rfc5322_addr_parser *p)
{
	int r;

	p->in_group = true;
	for (;;) {
		while (rfc5322_addr_is(p, ','))
			if ((r = rfc5322_addr_advance(p)) != 0)
				return r;
		if (rfc5322_addr_is(p, ';'))
			break;
		if (p->tok.type == RFC5322_ADDR_T_END) {
			if (rfc5322_addr_lenient(p))
				break;
			return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
			    p->tok.start, "group without its closing ';'");
		}
		if ((r = rfc5322_addr_element(p)) != 0)
			return r;
	}
	p->in_group = false;
	if (p->tok.type == RFC5322_ADDR_T_END)
		return RFC5322_ADDR_OK;
	return rfc5322_addr_advance(p); /* the ';' */
}

/*
 * One element by the grammar: a run of words and dots, then what follows
 * it decides. A mailbox is built into b (*built set), a group's members
 * are emitted as they come. Leaves the token after the element current;
 * the caller checks that it ends the element.
 */
static int
rfc5322_addr_element_strict(
    struct rfc5322_addr_parser *p, struct rfc5322_addr_build *b, bool *built)
{
	struct rfc5322_addr_mark start;
	size_t words = 0, items = 0;
	bool dot_first = false;
	int r;

	rfc5322_addr_mark(p, &start);
	while (rfc5322_addr_is_word(p) || rfc5322_addr_is(p, '.')) {
		if (items == 0 && rfc5322_addr_is(p, '.'))
			dot_first = true;
		if (rfc5322_addr_is_word(p))
			words++;
		items++;
		if ((r = rfc5322_addr_advance(p)) != 0)
			return r;
	}
	if (rfc5322_addr_is(p, '@')) {
		rfc5322_addr_reset(p, &start);
		*built = true;
		if ((r = rfc5322_addr_spec(p, b)) != 0)
			return r;
		if (rfc5322_addr_is(p, '<'))
			return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
			    p->tok.start, "an address before '<'");
		return RFC5322_ADDR_OK;
	}
	if (rfc5322_addr_is(p, '<')) {
		/* display-name = phrase: 1*word / word *(word / "."). */
		if (dot_first)
			return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
			    start.tok.start, "display name starts with '.'");
		*built = true;
		return rfc5322_addr_angle(p, b);
	}
	if (rfc5322_addr_is(p, ':')) {
		if (p->in_group)
			return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
			    p->tok.start, "group inside a group");
		if (words == 0 || dot_first)
			return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
			    p->tok.start, "group without a name");
		if ((r = rfc5322_addr_advance(p)) != 0)
			return r;
		return rfc5322_addr_group(p);
	}
	if (items > 0 && rfc5322_addr_at_element_end(p)) {
		if (!(p->flags & RFC5322_ADDR_F_BARE_LOCAL))
			return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX,
			    start.tok.start, "address without '@'");
		rfc5322_addr_reset(p, &start);
		*built = true;
		if ((r = rfc5322_addr_local(p, b)) != 0)
			return r;
		b->out->no_domain = true;
		return RFC5322_ADDR_OK;
	}
	return rfc5322_addr_unexpected(p);
}

/*
 * Lenient second try of an element: whatever precedes the first '<'
 * before the end of the element is a display name.
 */
static int
rfc5322_addr_element_lenient(
    struct rfc5322_addr_parser *p, struct rfc5322_addr_build *b)
{
	int r;

	while (!rfc5322_addr_is(p, '<')) {
		if (rfc5322_addr_at_element_end(p))
			return RFC5322_ADDR_SYNTAX;
		if ((r = rfc5322_addr_advance(p)) != 0)
			return r;
	}
	if ((r = rfc5322_addr_angle(p, b)) != 0)
		return r;
	if (!rfc5322_addr_at_element_end(p))
		return rfc5322_addr_fail(
		    p, RFC5322_ADDR_SYNTAX, p->tok.start, "text after '>'");
	return RFC5322_ADDR_OK;
}

/* One address-list (or group member list) element; emits its addresses. */
static int
rfc5322_addr_element(struct rfc5322_addr_parser *p)
{
	struct rfc5322_addr_mark start;
	struct rfc5322_addr out;
	struct rfc5322_addr_build b;
	size_t emitted = p->emitted, pos;
	const char *why;
	bool in_group = p->in_group, built = false;
	int r;

	rfc5322_addr_mark(p, &start);
	rfc5322_addr_build_init(p, &b, &out);
	r = rfc5322_addr_element_strict(p, &b, &built);
	if (r == RFC5322_ADDR_OK && !built && rfc5322_addr_lenient(p))
		return r; /* a group; lenient: anything may follow its ';' */
	if (r == RFC5322_ADDR_OK && !rfc5322_addr_at_element_end(p))
		r = rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, p->tok.start,
		    p->in_group ? "expected ',' or ';'" : "expected ','");
	if (r == RFC5322_ADDR_OK)
		return built ? rfc5322_addr_emit(p, &b) : r;
	if (r == RFC5322_ADDR_STOPPED || !rfc5322_addr_lenient(p) ||
	    p->emitted != emitted)
		return r;

	/* Keep the first error: it says more than the second try's. */
	pos = p->err_pos;
	why = p->err_why;
	rfc5322_addr_reset(p, &start);
	p->in_group = in_group;
	rfc5322_addr_build_init(p, &b, &out);
	r = rfc5322_addr_element_lenient(p, &b);
	if (r == RFC5322_ADDR_OK)
		return rfc5322_addr_emit(p, &b);
	if (r == RFC5322_ADDR_STOPPED || p->emitted != emitted)
		return r;
	return rfc5322_addr_fail(p, RFC5322_ADDR_SYNTAX, pos, why);
}

int
rfc5322_addr_parse(struct span in, unsigned flags, rfc5322_addr_fn fn,
    void *arg, struct rfc5322_addr_error *err)
{
	struct rfc5322_addr_parser p;
	int r = RFC5322_ADDR_OK;

	if (err != NULL) {
		err->pos = 0;
		err->why = NULL;
	}
	memset(&p, 0, sizeof(p));
	p.s = (const unsigned char *)in.p;
	p.n = in.p != NULL ? in.n : 0;
	p.flags = flags;
	p.fn = fn;
	p.arg = arg;
	if (rfc5322_addr_next(&p) != 0)
		r = RFC5322_ADDR_SYNTAX;
	while (r == RFC5322_ADDR_OK) {
		if (rfc5322_addr_is(&p, ',') ||
		    (rfc5322_addr_is(&p, ';') && rfc5322_addr_lenient(&p))) {
			r = rfc5322_addr_advance(&p);
			continue;
		}
		if (p.tok.type == RFC5322_ADDR_T_END)
			break;
		r = rfc5322_addr_element(&p);
	}
	if (r != RFC5322_ADDR_OK && err != NULL) {
		err->pos = p.err_pos;
		err->why = p.err_why != NULL ? p.err_why : "syntax error";
	}
	return r;
}

const char *
rfc5322_addr_strerror(int err)
{
	switch (err) {
	case RFC5322_ADDR_OK:
		return "ok";
	case RFC5322_ADDR_SYNTAX:
		return "syntax error in address list";
	case RFC5322_ADDR_TOOLONG:
		return "address too long";
	case RFC5322_ADDR_NOTSMTP:
		return "address cannot be used with SMTP";
	case RFC5322_ADDR_STOPPED:
		return "stopped";
	default:
		return "unknown error";
	}
}
