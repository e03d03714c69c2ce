/*
 * smtp_cmd: SMTP command line split, EHLO/HELO argument check and BDAT
 * arguments (see smtp_cmd.h). Pure functions over spans: no I/O, no
 * allocation, no NUL terminators needed. The caller has already taken the
 * line with lib/line (CRLF only, length capped).
 */
#include "proto/smtp_cmd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "lib/numparse.h"
#include "lib/utf8.h"

/* Longest IPv6 text inet_pton can accept, without the NUL. */
#define SMTP_CMD_IPV6_MAX (INET6_ADDRSTRLEN - 1)
/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2: label and domain size limits. */
#define SMTP_CMD_LABEL_MAX  63
#define SMTP_CMD_DOMAIN_MAX 255
/* A chunk-size of more than 20 digits cannot be a 64-bit number. */
#define SMTP_CMD_BDAT_DIGITS_MAX 20

/* Indexed by enum smtp_verb. */
/* clang-format off */
static const char *const smtp_cmd_verbs[] = {
	[SMTP_VERB_UNKNOWN] = "?",
	[SMTP_VERB_HELO] = "HELO",
	[SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_MAIL] = "MAIL",
	[SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",
	[SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_RSET] = "RSET",
	[SMTP_VERB_NOOP] = "NOOP",
	[SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_VRFY] = "VRFY",
	[SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_STARTTLS] = "STARTTLS",
	[SMTP_VERB_AUTH] = "AUTH",
};
/* clang-format on */

#define SMTP_CMD_NVERBS (sizeof(smtp_cmd_verbs) / sizeof(smtp_cmd_verbs[0]))

/*
 * RFC 5321 4.1.1: "SMTP commands are character strings terminated by
 * <CRLF>. The commands themselves are alphabetic characters terminated by
 * <SP> if parameters follow and <CRLF> otherwise. ... verbs ... are not
 * case sensitive". 4.1.2 lets "SP" be exactly one space, so we split at the
 * first one and leave the rest to the per-verb grammar; trailing white
 * space is dropped because many clients send it ("MAIL FROM:<a@b> ").
 */
int
smtp_cmd_parse(struct span line, struct smtp_cmd *out)
{
	const char *sp = NULL;
	struct span verb;
	size_t i;

	out->verb = SMTP_VERB_UNKNOWN;
	out->args = span_make("", 0);
	out->has_args = false;

	if (line.n > 0)
		sp = memchr(line.p, ' ', line.n);
	if (sp != NULL) {
		size_t off = (size_t)(sp - line.p);
		struct span a = span_make(sp + 1, line.n - off - 1);

		while (a.n > 0 && (a.p[a.n - 1] == ' ' || a.p[a.n - 1] == '\t'))
			a.n--;
		verb = span_make(line.p, off);
		out->has_args = true;
		if (a.n > 0)
			out->args = a;
	} else {
		verb = line;
	}
	for (i = 1; i < SMTP_CMD_NVERBS; i++) {
		if (span_eq_ci(verb, smtp_cmd_verbs[i])) {
			out->verb = (enum smtp_verb)i;
			break;
		}
	}
	return 0;
}

const char *
smtp_verb_name(enum smtp_verb v)
{
	if ((unsigned)v >= SMTP_CMD_NVERBS)
		return smtp_cmd_verbs[SMTP_VERB_UNKNOWN];
	return smtp_cmd_verbs[v];
}

/*
 * Length of the well-formed UTF-8 sequence at p[0..n) that encodes a
 * character >= U+00A0, or 0. Strict per RFC 3629 4: no overlong forms, no
 * surrogates (U+D800..U+DFFF), nothing above U+10FFFF; C1 controls
 * (U+0080..U+009F) are refused too, they have no place in a host name.
 *
 *   UTF8-2 = %xC2-DF UTF8-tail
 *   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *            %xF4 %x80-8F 2( UTF8-tail )
 */
static size_t
smtp_cmd_utf8_len(const unsigned char *p, size_t n)
{
	size_t len = utf8_seq_len(p, n);

	if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;	/* U+0080..U+009F: C1 controls */
	return len;
}

static bool
smtp_cmd_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

/*
 * RFC 5321 4.1.2:
 *   Domain     = sub-domain *("." sub-domain)
 *   sub-domain = Let-dig [Ldh-str]
 *   Let-dig    = ALPHA / DIGIT
 *   Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
 * RFC 6531 3.3 (SMTPUTF8) extends sub-domain with U-labels:
 *   sub-domain =/ U-label
 *
 * Leniency, as production servers have learnt (Postfix valid_hostname()):
 * '_' is accepted anywhere in a label (common in Windows host names), one
 * trailing dot is accepted, all-digit labels are accepted (so a bare IP
 * address passes as a domain). Still refused: empty labels, a '-' at the
 * start or end of a label, labels over 63 octets, names over 255 octets,
 * and every other byte (space, controls, '<', '>', '@', '[', ...). UTF-8 is
 * checked strictly (smtp_cmd_utf8_len); whether the client may use it
 * (SMTPUTF8) is not known at EHLO time, so it is always accepted here.
 */
static int
smtp_cmd_check_domain(struct span d)
{
	const unsigned char *p = (const unsigned char *)d.p;
	size_t i = 0, label = 0;

	if (d.n > 1 && p[d.n - 1] == '.')
		d.n--; /* "host.example." names the root explicitly */
	if (d.n == 0 || d.n > SMTP_CMD_DOMAIN_MAX)
		return -1;
	while (i < d.n) {
		size_t len = 1;

		if (p[i] == '.') {
			if (label == 0 || p[i - 1] == '-')
				return -1;
			label = 0;
			i++;
			continue;
		}
		if (p[i] == '-') {
			if (label == 0)
				return -1;
		} else if (p[i] >= 0x80) {
			len = smtp_cmd_utf8_len(p + i, d.n - i);
			if (len == 0)
				return -1;
		} else if (!smtp_cmd_is_alnum(p[i]) && p[i] != '_') {
			return -1;
		}
		label += len;
		if (label > SMTP_CMD_LABEL_MAX)
			return -1;
		i += len;
	}
	if (label == 0 || p[d.n - 1] == '-')
		return -1;
	return 0;
}

/*
 * RFC 5321 4.1.3:
 *   IPv4-address-literal = Snum 3("."  Snum)
 *   Snum = 1*3DIGIT ; representing a decimal integer value in the range
 *                   ; 0 through 255
 */
static int
smtp_cmd_check_ipv4(struct span s)
{
	size_t i = 0, part;

	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		if (part > 0) {
			if (i >= s.n || s.p[i] != '.')
				return -1;
			i++;
		}
		while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
			if (++digits > 3)
				return -1;
			v = v * 10 + (unsigned)(s.p[i] - '0');
			i++;
		}
		if (digits == 0 || v > 255)
			return -1;
	}
	return i == s.n ? 0 : -1;
}

/*
 * RFC 5321 4.1.3:
 *   IPv6-address-literal = "IPv6:" IPv6-addr
 * The IPv6-addr grammar there is what inet_pton(AF_INET6) accepts (full,
 * compressed, and with a trailing IPv4 part); zone ids are refused.
 */
static int
smtp_cmd_check_ipv6(struct span s)
{
	char text[SMTP_CMD_IPV6_MAX + 1];
	struct in6_addr a;

	if (s.n == 0 || s.n > SMTP_CMD_IPV6_MAX || memchr(s.p, '\0', s.n))
		return -1;
	memcpy(text, s.p, s.n);
	text[s.n] = '\0';
	return inet_pton(AF_INET6, text, &a) == 1 ? 0 : -1;
}

/*
 * RFC 5321 4.1.1.1:
 *   ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
 *   helo = "HELO" SP Domain CRLF
 * RFC 5321 4.1.3:
 *   address-literal = "[" ( IPv4-address-literal /
 *                     IPv6-address-literal /
 *                     General-address-literal ) "]"
 * A General-address-literal (a registered tag other than IPv6) is refused:
 * none is registered that we could check. HELO with an address literal is
 * accepted too, as every production server does.
 */
int
smtp_helo_check(struct span arg)
{
	struct span in;

	if (arg.n == 0)
		return -1;
	if (arg.p[0] != '[')
		return smtp_cmd_check_domain(arg);
	if (arg.n < 2 || arg.p[arg.n - 1] != ']')
		return -1;
	in = span_make(arg.p + 1, arg.n - 2);
	if (span_prefix_ci(in, "IPv6:"))
		return smtp_cmd_check_ipv6(span_skip(in, 5));
	return smtp_cmd_check_ipv4(in);
}

/*
 * RFC 3030 2:
 *   bdat-cmd   ::= "BDAT" SP chunk-size [ SP end-marker ] CR LF
 *   chunk-size ::= 1*DIGIT
 *   end-marker ::= "LAST"
 * chunk-size is limited to 20 digits (anything longer is a syntax error).
 * On -2, *size holds the requested size (UINT64_MAX if it does not fit in
 * 64 bits) and *last the end marker, so the session can discard the chunk
 * or close the connection.
 */
int
smtp_bdat_parse(struct span args, uint64_t max, uint64_t *size, bool *last)
{
	const char *sp = NULL;
	struct span num = args;
	bool lastv = false;
	uint64_t v;
	size_t i;
	int r;

	*size = 0;
	*last = false;
	if (args.n > 0)
		sp = memchr(args.p, ' ', args.n);
	if (sp != NULL) {
		size_t off = (size_t)(sp - args.p);

		num = span_make(args.p, off);
		if (!span_eq_ci(span_skip(args, off + 1), "LAST"))
			return -1;
		lastv = true;
	}
	if (num.n == 0 || num.n > SMTP_CMD_BDAT_DIGITS_MAX)
		return -1;
	for (i = 0; i < num.n; i++)
		if (num.p[i] < '0' || num.p[i] > '9')
			return -1;
	r = numparse_u64(num, 0, UINT64_MAX, &v);
	if (r == -1)
		return -1;
	if (r != 0)
		v = UINT64_MAX; /* 20 digits above 2^64-1 */
	*size = v;
	*last = lastv;
	if (r != 0 || v > max)
		return -2;
	return 0;
}
