/*
 * smtp_path: strict parsing of the RFC 5321 4.1.2 paths in MAIL FROM and
 * RCPT TO, and formatting them back (see smtp_path.h).
 *
 * Grammar implemented (RFC 5321 4.1.2, 4.1.3; RFC 6531 3.3 additions
 * marked "=/"):
 *
 *   Reverse-path   = Path / "<>"
 *   Forward-path   = Path
 *   Path           = "<" [ A-d-l ":" ] Mailbox ">"
 *   A-d-l          = At-domain *( "," At-domain )
 *                  ; Note that this form, the so-called "source
 *                  ; route", MUST BE accepted, SHOULD NOT be
 *                  ; generated, and SHOULD be ignored.
 *   At-domain      = "@" Domain
 *   Domain         = sub-domain *("." sub-domain)
 *   sub-domain     = Let-dig [Ldh-str]
 *   sub-domain     =/ U-label
 *   Let-dig        = ALPHA / DIGIT
 *   Ldh-str        = *( ALPHA / DIGIT / "-" ) Let-dig
 *   address-literal  = "[" ( IPv4-address-literal /
 *                      IPv6-address-literal /
 *                      General-address-literal ) "]"
 *   Mailbox        = Local-part "@" ( Domain / address-literal )
 *   Local-part     = Dot-string / Quoted-string
 *   Dot-string     = Atom *("."  Atom)
 *   Atom           = 1*atext
 *   atext          =/ UTF8-non-ascii
 *   Quoted-string  = DQUOTE *QcontentSMTP DQUOTE
 *   QcontentSMTP   = qtextSMTP / quoted-pairSMTP
 *   quoted-pairSMTP  = %d92 %d32-126
 *   qtextSMTP      = %d32-33 / %d35-91 / %d93-126
 *   qtextSMTP      =/ UTF8-non-ascii
 *
 *   IPv4-address-literal  = Snum 3("."  Snum)
 *   IPv6-address-literal  = "IPv6:" IPv6-addr
 *   General-address-literal  = Standardized-tag ":" 1*dcontent
 *   dcontent       = %d33-90 / %d94-126
 *   Snum           = 1*3DIGIT  ; 0 through 255
 *
 *   RFC 5321 4.1.1.3:
 *   "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path
 *
 * Where this parser is stricter than the grammar, on purpose:
 *   - An empty Quoted-string local part ("" @ domain) is refused: no
 *     mailbox has an empty name, and it would look like the null path in
 *     logs and lookups.
 *   - Snum with a leading zero ("010") is refused: other software reads it
 *     as octal, so the literal would not mean one address to everybody.
 *   - General-address-literal (any tag but IPv6) is refused as syntax: no
 *     other tag is registered with IANA.
 *   - A U-label is checked only for well-formed UTF-8 and the LDH rules
 *     for its ASCII part (no leading or trailing '-'); full IDNA2008
 *     validation would need libidn2. Label and domain limits count octets
 *     as received, so a U-label may be refused at 64 octets even though
 *     its A-label would fit.
 *   - Source-route domains must be plain Domains (no address literals),
 *     as the grammar says; they are checked, then dropped (RFC 5321
 *     appendix C).
 *
 * Limits (RFC 5321 4.5.3.1): local part 64 octets counted as received
 * (quotes and backslashes included), domain 255 octets, label 63 octets,
 * path 256 octets from '<' to '>' inclusive, source route included.
 *
 * Error precedence: a syntax error anywhere wins over an element that is
 * too long, which wins over non-ASCII without SMTPUTF8; so a peer that
 * gets SMTP_PATH_NEEDUTF8 knows the address itself was fine.
 */
#include "proto/smtp_path.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "lib/utf8.h"

#define SMTP_PATH_LABEL_MAX 63 /* octets, RFC 1035 2.3.4 */

/* Scanner over the input; i only ever moves forward and stays <= n. */
struct smtp_path_scan {
	const unsigned char *s;
	size_t n;
	size_t i;
	bool nonascii; /* a byte >= 0x80 anywhere in the path */
	bool toolong;  /* some label or domain is over its limit */
};

static bool
smtp_path_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/*
 * RFC 5322 3.2.3:
 *   atext = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" /
 *           "+" / "-" / "/" / "=" / "?" / "^" / "_" / "`" / "{" / "|" /
 *           "}" / "~"
 */
static bool
smtp_path_is_atext(unsigned char c)
{
	static const char specials[] = "!#$%&'*+-/=?^_`{|}~";

	return smtp_path_is_alnum(c) ||
	       (c != 0 && memchr(specials, c, sizeof(specials) - 1) != NULL);
}

/* RFC 5321 4.1.2: qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
static bool
smtp_path_is_qtext(unsigned char c)
{
	return c >= 32 && c <= 126 && c != '"' && c != '\\';
}

/* RFC 5321 4.1.3: dcontent = %d33-90 / %d94-126 */
static bool
smtp_path_is_dcontent(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '[' && c != '\\' && c != ']';
}

/* Consumes one UTF8-non-ascii character; 0, or -1 if malformed. */
static int
smtp_path_scan_utf8(struct smtp_path_scan *sc)
{
	size_t k = utf8_seq_len(sc->s + sc->i, sc->n - sc->i);

	if (k == 0)
		return -1;
	sc->i += k;
	sc->nonascii = true;
	return 0;
}

/*
 * Domain (with U-labels) at sc->i. Stops at the first byte that cannot
 * continue it; the caller checks that byte. Over-long labels or domain set
 * sc->toolong rather than failing, so that syntax errors take precedence.
 */
static int
smtp_path_scan_domain(struct smtp_path_scan *sc)
{
	size_t start = sc->i, label;

	for (;;) {
		label = sc->i;
		while (sc->i < sc->n) {
			unsigned char c = sc->s[sc->i];
			if (smtp_path_is_alnum(c) || c == '-')
				sc->i++;
			else if (c >= 0x80) {
				if (smtp_path_scan_utf8(sc) < 0)
					return -1;
			} else
				break;
		}
		if (sc->i == label)
			return -1; /* empty label */
		if (sc->s[label] == '-' || sc->s[sc->i - 1] == '-')
			return -1;
		if (sc->i - label > SMTP_PATH_LABEL_MAX)
			sc->toolong = true;
		if (sc->i < sc->n && sc->s[sc->i] == '.') {
			sc->i++;
			continue;
		}
		break;
	}
	if (sc->i - start > SMTP_DOMAIN_MAX)
		sc->toolong = true;
	return 0;
}

/* IPv4-address-literal = Snum 3("."  Snum), without leading zeros. */
static int
smtp_path_check_ipv4(const unsigned char *s, size_t n)
{
	size_t i = 0;
	int part;

	for (part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;

		if (part > 0) {
			if (i >= n || s[i] != '.')
				return -1;
			start = ++i;
		}
		while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255)
			return -1;
		if (s[start] == '0' && i - start > 1)
			return -1;
	}
	return i == n ? 0 : -1;
}

/* "IPv6:" IPv6-addr, the address part checked with inet_pton(3). */
static int
smtp_path_check_ipv6(const unsigned char *s, size_t n)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(AF_INET6, tmp, &a) == 1 ? 0 : -1;
}

/* address-literal at sc->i, which holds '['. */
static int
smtp_path_scan_literal(struct smtp_path_scan *sc)
{
	size_t start = ++sc->i;
	const unsigned char *c;
	size_t n;

	while (sc->i < sc->n && smtp_path_is_dcontent(sc->s[sc->i]))
		sc->i++;
	if (sc->i >= sc->n || sc->s[sc->i] != ']')
		return -1;
	c = sc->s + start;
	n = sc->i - start;
	sc->i++;
	if (n >= 5 && strncasecmp((const char *)c, "IPv6:", 5) == 0)
		return smtp_path_check_ipv6(c + 5, n - 5);
	if (memchr(c, ':', n) != NULL)
		return -1; /* General-address-literal: not supported */
	return smtp_path_check_ipv4(c, n);
}

/* Quoted-string at sc->i, which holds '"'. */
static int
smtp_path_scan_quoted(struct smtp_path_scan *sc)
{
	size_t start = ++sc->i;

	while (sc->i < sc->n) {
		unsigned char c = sc->s[sc->i];
		if (c == '"') {
			if (sc->i == start)
				return -1; /* empty: refused on purpose */
			sc->i++;
			return 0;
		}
		if (c == '\\') {
			if (sc->i + 1 >= sc->n || sc->s[sc->i + 1] < 32 ||
			    sc->s[sc->i + 1] > 126)
				return -1;
			sc->i += 2;
		} else if (smtp_path_is_qtext(c))
			sc->i++;
		else if (c >= 0x80) {
			if (smtp_path_scan_utf8(sc) < 0)
				return -1;
		} else
			return -1;
	}
	return -1; /* unterminated */
}

/* Dot-string at sc->i. */
static int
smtp_path_scan_dotstring(struct smtp_path_scan *sc)
{
	for (;;) {
		size_t atom = sc->i;
		while (sc->i < sc->n) {
			unsigned char c = sc->s[sc->i];
			if (smtp_path_is_atext(c))
				sc->i++;
			else if (c >= 0x80) {
				if (smtp_path_scan_utf8(sc) < 0)
					return -1;
			} else
				break;
		}
		if (sc->i == atom)
			return -1; /* empty atom: leading, double or end dot */
		if (sc->i < sc->n && sc->s[sc->i] == '.') {
			sc->i++;
			continue;
		}
		return 0;
	}
}

static bool
smtp_path_has_nonascii(const unsigned char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return true;
	return false;
}

int
smtp_path_parse(
    struct span in, unsigned flags, struct smtp_path *out, struct span *rest)
{
	struct smtp_path_scan sc;
	size_t lstart, lend, dstart, dend, k, o;
	bool quoted = false, literal = false;

	memset(out, 0, sizeof(*out));
	*rest = span_make(in.p, 0);

	sc.s = (const unsigned char *)in.p;
	sc.n = in.n;
	sc.i = 0;
	sc.nonascii = false;
	sc.toolong = false;

	if (sc.n < 2 || sc.s[0] != '<')
		return SMTP_PATH_SYNTAX;
	sc.i = 1;

	if (sc.s[1] == '>') {
		if (!(flags & SMTP_PATH_F_NULL))
			return SMTP_PATH_SYNTAX;
		out->null = true;
		*rest = span_skip(in, 2);
		return SMTP_PATH_OK;
	}

	/* RFC 5321 4.1.1.3: "<Postmaster>", case-insensitive, no domain. */
	if ((flags & SMTP_PATH_F_POSTMASTER) && sc.n >= 12 &&
	    strncasecmp(in.p + 1, "postmaster>", 11) == 0) {
		memcpy(out->local, in.p + 1, 10);
		out->local[10] = '\0';
		*rest = span_skip(in, 12);
		return SMTP_PATH_OK;
	}

	/* A-d-l ":" -- checked, then dropped (RFC 5321 appendix C). */
	if (sc.s[sc.i] == '@') {
		for (;;) {
			if (sc.i >= sc.n || sc.s[sc.i] != '@')
				return SMTP_PATH_SYNTAX;
			sc.i++;
			if (smtp_path_scan_domain(&sc) < 0)
				return SMTP_PATH_SYNTAX;
			if (sc.i < sc.n && sc.s[sc.i] == ',') {
				sc.i++;
				continue;
			}
			if (sc.i < sc.n && sc.s[sc.i] == ':') {
				sc.i++;
				break;
			}
			return SMTP_PATH_SYNTAX;
		}
	}

	/* Local-part "@" */
	lstart = sc.i;
	if (sc.i < sc.n && sc.s[sc.i] == '"') {
		if (smtp_path_scan_quoted(&sc) < 0)
			return SMTP_PATH_SYNTAX;
		quoted = true;
	} else if (smtp_path_scan_dotstring(&sc) < 0)
		return SMTP_PATH_SYNTAX;
	lend = sc.i;
	if (sc.i >= sc.n || sc.s[sc.i] != '@')
		return SMTP_PATH_SYNTAX;
	sc.i++;

	/* ( Domain / address-literal ) ">" */
	dstart = sc.i;
	if (sc.i < sc.n && sc.s[sc.i] == '[') {
		if (smtp_path_scan_literal(&sc) < 0)
			return SMTP_PATH_SYNTAX;
		literal = true;
	} else if (smtp_path_scan_domain(&sc) < 0)
		return SMTP_PATH_SYNTAX;
	dend = sc.i;
	if (sc.i >= sc.n || sc.s[sc.i] != '>')
		return SMTP_PATH_SYNTAX;
	sc.i++;

	if (sc.toolong || lend - lstart > SMTP_LOCAL_MAX ||
	    dend - dstart > SMTP_DOMAIN_MAX || sc.i > SMTP_PATH_MAX)
		return SMTP_PATH_TOOLONG;
	if (sc.nonascii && !(flags & SMTP_PATH_F_UTF8))
		return SMTP_PATH_NEEDUTF8;

	/* All lengths are checked; now copy. */
	out->quoted = quoted;
	out->literal = literal;
	o = 0;
	if (quoted) {
		for (k = lstart + 1; k < lend - 1; k++) {
			if (sc.s[k] == '\\')
				k++;
			out->local[o++] = (char)sc.s[k];
		}
	} else {
		memcpy(out->local, sc.s + lstart, lend - lstart);
		o = lend - lstart;
	}
	out->local[o] = '\0';
	for (k = dstart; k < dend; k++) {
		unsigned char c = sc.s[k];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		out->domain[k - dstart] = (char)c;
	}
	out->domain[dend - dstart] = '\0';
	out->utf8 = smtp_path_has_nonascii(sc.s + lstart, dend - lstart);
	*rest = span_skip(in, sc.i);
	return SMTP_PATH_OK;
}

/* Shared tail of MAIL and RCPT: verb keyword, optional SP, path, params. */
static int
smtp_path_parse_cmd(struct span args, const char *kw, unsigned flags,
    struct smtp_path *out, struct span *params)
{
	struct span rest;
	size_t i;
	int rc;

	*params = span_make(args.p, 0);
	if (!span_prefix_ci(args, kw)) {
		memset(out, 0, sizeof(*out));
		return SMTP_PATH_SYNTAX;
	}
	args = span_skip(args, strlen(kw));
	/* Postfix and Exim accept "MAIL FROM: <a@b>"; so do we. */
	for (i = 0; i < args.n && args.p[i] == ' '; i++)
		;
	rc = smtp_path_parse(span_skip(args, i), flags, out, &rest);
	if (rc != SMTP_PATH_OK)
		return rc;
	if (rest.n > 0 && rest.p[0] != ' ') {
		memset(out, 0, sizeof(*out));
		return SMTP_PATH_SYNTAX; /* "<a@b>x" */
	}
	for (i = 0; i < rest.n && rest.p[i] == ' '; i++)
		;
	*params = span_skip(rest, i);
	return SMTP_PATH_OK;
}

int
smtp_path_parse_mail(
    struct span args, bool utf8, struct smtp_path *out, struct span *params)
{
	unsigned flags = SMTP_PATH_F_NULL | (utf8 ? SMTP_PATH_F_UTF8 : 0u);

	return smtp_path_parse_cmd(args, "FROM:", flags, out, params);
}

int
smtp_path_parse_rcpt(
    struct span args, bool utf8, struct smtp_path *out, struct span *params)
{
	unsigned flags =
	    SMTP_PATH_F_POSTMASTER | (utf8 ? SMTP_PATH_F_UTF8 : 0u);

	return smtp_path_parse_cmd(args, "TO:", flags, out, params);
}

/*
 * True if s can be written as a Dot-string, bytes >= 0x80 counted as atext
 * (the parser only ever stores well-formed UTF-8).
 */
static bool
smtp_path_is_dotstring(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (s[i - 1] == '.')
				return false;
		} else if (!smtp_path_is_atext(c) && c < 0x80)
			return false;
	}
	return true;
}

/* Appends n bytes at *o, keeping out NUL-terminated; -1 if no room. */
static int
smtp_path_put(char *out, size_t outsz, size_t *o, const char *s, size_t n)
{
	if (n >= outsz - *o)
		return -1;
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
	return 0;
}

int
smtp_path_format(const struct smtp_path *p, char *out, size_t outsz)
{
	size_t o = 0, i, ln, dn;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (p->null)
		return 0;
	ln = strnlen(p->local, sizeof(p->local));
	dn = strnlen(p->domain, sizeof(p->domain));
	if (ln == sizeof(p->local) || dn == sizeof(p->domain))
		goto fail; /* not a struct smtp_path_parse() made */
	if (smtp_path_is_dotstring(p->local, ln)) {
		if (smtp_path_put(out, outsz, &o, p->local, ln) < 0)
			goto fail;
	} else {
		if (smtp_path_put(out, outsz, &o, "\"", 1) < 0)
			goto fail;
		for (i = 0; i < ln; i++) {
			char c = p->local[i];
			if ((c == '"' || c == '\\') &&
			    smtp_path_put(out, outsz, &o, "\\", 1) < 0)
				goto fail;
			if (smtp_path_put(out, outsz, &o, &c, 1) < 0)
				goto fail;
		}
		if (smtp_path_put(out, outsz, &o, "\"", 1) < 0)
			goto fail;
	}
	if (dn > 0 && (smtp_path_put(out, outsz, &o, "@", 1) < 0 ||
			  smtp_path_put(out, outsz, &o, p->domain, dn) < 0))
		goto fail;
	return 0;
fail:
	out[0] = '\0';
	return -1;
}
