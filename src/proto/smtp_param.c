/*
 * smtp_param: the ESMTP parameters after MAIL FROM:<...> and RCPT TO:<...>
 * (see smtp_param.h). Pure: no I/O, no allocation except in
 * smtp_xtext_decode's caller-owned buf.
 *
 * RFC 5321 4.1.2:
 *   Mail-parameters  = esmtp-param *(SP esmtp-param)
 *   Rcpt-parameters  = esmtp-param *(SP esmtp-param)
 *   esmtp-param    = esmtp-keyword ["=" esmtp-value]
 *   esmtp-keyword  = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
 *   esmtp-value    = 1*(%d33-60 / %d62-126)
 * RFC 6531 3.3:
 *   esmtp-value    =/ UTF8-non-ascii
 *
 * Leniency: more than one SP between parameters, and SP before the first
 * or after the last, are accepted (Postfix does the same). Keywords and the
 * keyword-like values (BODY, RET, NOTIFY, ORCPT addr-type) are matched
 * case-insensitively, as ABNF literals are (RFC 5234 2.3).
 *
 * The values, per extension:
 *   RFC 1870 4:  size-param ::= "SIZE=" size-value
 *                size-value ::= 1*20DIGIT
 *   RFC 6152 2:  body-value ::= "7BIT" / "8BITMIME"
 *   RFC 6531 3.4: "SMTPUTF8" with no value
 *   RFC 3461 4.1: notify-esmtp-value  = "NEVER" / 1#notify-list-element
 *                 notify-list-element = "SUCCESS" / "FAILURE" / "DELAY"
 *   RFC 3461 4.2: orcpt-parameter = "ORCPT=" original-recipient-address
 *                 original-recipient-address = addr-type ";" xtext
 *                 addr-type = atom
 *   RFC 3461 4.3: ret-value = "FULL" / "HDRS"
 *   RFC 3461 4.4: envid-parameter = "ENVID=" xtext
 *   RFC 3461 4:   xtext = *( xchar / hexchar )
 *                 xchar = any ASCII CHAR between "!" (33) and "~" (126)
 *                         inclusive, except for "+" and "=".
 *                 hexchar = ASCII "+" immediately followed by two upper
 *                           case hexadecimal digits
 *   RFC 4954 5:   auth-param = "AUTH=" xtext   ; an addr-spec, or "<>"
 *   RFC 8689 2:   "REQUIRETLS" with no value ("One optional parameter,
 *                 REQUIRETLS, is added to the MAIL FROM command ... No
 *                 value is associated with this parameter"); it adds 11
 *                 octets to the MAIL command line, well within the
 *                 session's command line limit.
 *   RFC 6533 3 (ORCPT with addr-type "utf-8"):
 *     utf-8-addr-xtext    = 1*(QCHAR / EmbeddedUnicodeChar)
 *     utf-8-addr-unitext  = 1*(QUCHAR / EmbeddedUnicodeChar)
 *     QCHAR               = %x21-2a / %x2c-3c / %x3e-5b / %x5d-7e
 *     QUCHAR              = QCHAR / UTF8-2 / UTF8-3 / UTF8-4
 *     EmbeddedUnicodeChar = %x5C.78 "{" HEXPOINT "}"
 *
 * Decisions beyond the grammar, each stricter than it:
 *   - SIZE: 1..20 digits; a 20-digit value above 2^64-1 is stored as
 *     UINT64_MAX (the session refuses it as too big, which is the truth).
 *   - ENVID, AUTH and rfc822 ORCPT: the "+XX" escapes must decode to
 *     printable ASCII (32..126). RFC 3461 4.2 and 4.4 require printable
 *     US-ASCII for ORCPT and ENVID once decoded; a "+0D+0A" would otherwise
 *     reach a DSN header when the value is decoded there.
 *   - ORCPT: addr-type must be "rfc822" or "utf-8"; the address part must
 *     not be empty. For "utf-8", HEXPOINT may only name SP, '+', '=', '\'
 *     (two digits: 20, 2B, 3D, 5C) or a non-ASCII scalar value written
 *     without leading zeros (80..FF, then 100..10FFFF minus surrogates);
 *     RFC 6533 also lets it name control characters, but no Mailbox can
 *     hold those. Hex digits may be either case there (ABNF HEXDIG).
 *     Raw UTF-8 (utf-8-addr-unitext) only when ext has SMTP_EXT_SMTPUTF8.
 *   - A malformed UTF-8 sequence in any value is a syntax error.
 */
#include "proto/smtp_param.h"

#include <string.h>

#include "lib/numparse.h"
#include "lib/utf8.h"

/* Which command a keyword belongs to. */
enum smtp_param_cmd {
	SMTP_PARAM_CMD_MAIL,
	SMTP_PARAM_CMD_RCPT
};

enum smtp_param_kw {
	SMTP_PARAM_KW_SIZE,
	SMTP_PARAM_KW_BODY,
	SMTP_PARAM_KW_SMTPUTF8,
	SMTP_PARAM_KW_RET,
	SMTP_PARAM_KW_ENVID,
	SMTP_PARAM_KW_AUTH,
	SMTP_PARAM_KW_NOTIFY,
	SMTP_PARAM_KW_ORCPT,
	SMTP_PARAM_KW_REQUIRETLS,
};

static const struct smtp_param_def {
	const char *name;
	enum smtp_param_kw kw;
	enum smtp_param_cmd cmd;
	unsigned ext;
} smtp_param_defs[] = {
    {"SIZE", SMTP_PARAM_KW_SIZE, SMTP_PARAM_CMD_MAIL, SMTP_EXT_SIZE},
    {"BODY", SMTP_PARAM_KW_BODY, SMTP_PARAM_CMD_MAIL, SMTP_EXT_8BITMIME},
    {"SMTPUTF8", SMTP_PARAM_KW_SMTPUTF8, SMTP_PARAM_CMD_MAIL,
	SMTP_EXT_SMTPUTF8},
    {"RET", SMTP_PARAM_KW_RET, SMTP_PARAM_CMD_MAIL, SMTP_EXT_DSN},
    {"ENVID", SMTP_PARAM_KW_ENVID, SMTP_PARAM_CMD_MAIL, SMTP_EXT_DSN},
    {"AUTH", SMTP_PARAM_KW_AUTH, SMTP_PARAM_CMD_MAIL, SMTP_EXT_AUTH},
    {"NOTIFY", SMTP_PARAM_KW_NOTIFY, SMTP_PARAM_CMD_RCPT, SMTP_EXT_DSN},
    {"ORCPT", SMTP_PARAM_KW_ORCPT, SMTP_PARAM_CMD_RCPT, SMTP_EXT_DSN},
    {"REQUIRETLS", SMTP_PARAM_KW_REQUIRETLS, SMTP_PARAM_CMD_MAIL,
	SMTP_EXT_REQUIRETLS},
};

/* One "KEY[=VALUE]" taken from the input. */
struct smtp_param_item {
	const struct smtp_param_def *def;
	struct span key;
	struct span value;
	bool has_value;
};

/* Reasons for the reply text. */
static const char smtp_param_why_malformed[] = "Malformed parameter";
static const char smtp_param_why_unknown[] = "Unsupported parameter";
static const char smtp_param_why_dup[] = "Duplicate parameter";

static bool
smtp_param_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int
smtp_param_hexval(unsigned char c, bool lower_ok)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (lower_ok && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Walks xtext; with printable set, also requires every "+XX" to decode to
 * 32..126. Returns the decoded length, or -1 if invalid.
 */
static long
smtp_param_xtext_scan(struct span in, bool printable)
{
	const unsigned char *s = (const unsigned char *)in.p;
	size_t i = 0;
	long n = 0;

	while (i < in.n) {
		if (s[i] == '+') {
			int hi, lo, v;
			if (in.n - i < 3)
				return -1;
			hi = smtp_param_hexval(s[i + 1], false);
			lo = smtp_param_hexval(s[i + 2], false);
			if (hi < 0 || lo < 0)
				return -1;
			v = hi * 16 + lo;
			if (printable && (v < 32 || v > 126))
				return -1;
			i += 3;
		} else if (s[i] >= 33 && s[i] <= 126 && s[i] != '=')
			i++;
		else
			return -1;
		n++;
	}
	return n;
}

int
smtp_xtext_check(struct span in)
{
	return smtp_param_xtext_scan(in, false) < 0 ? -1 : 0;
}

int
smtp_xtext_decode(struct span in, struct buf *out)
{
	const unsigned char *s = (const unsigned char *)in.p;
	size_t i, start = out->len;
	long n = smtp_param_xtext_scan(in, false);

	if (n < 0 || (size_t)n > out->max || out->len > out->max - (size_t)n)
		return -1;
	for (i = 0; i < in.n; i++) {
		char c = (char)s[i];
		if (s[i] == '+') {
			c = (char)(smtp_param_hexval(s[i + 1], false) * 16 +
				   smtp_param_hexval(s[i + 2], false));
			i += 2;
		}
		if (buf_putc(out, c) < 0) {
			/* Cannot happen after the check above; undo anyway. */
			out->len = start;
			if (out->data != NULL)
				out->data[start] = '\0';
			return -1;
		}
	}
	return 0;
}

/*
 * RFC 6533 utf-8-addr-xtext, or utf-8-addr-unitext when utf8 is set; see
 * the comment at the top for the HEXPOINT values accepted.
 */
static int
smtp_param_check_utf8_addr(struct span in, bool utf8)
{
	const unsigned char *s = (const unsigned char *)in.p;
	size_t i = 0;

	if (in.n == 0)
		return -1;
	while (i < in.n) {
		unsigned char c = s[i];
		if (c == '\\') {
			size_t d = 0;
			unsigned long v = 0;
			if (in.n - i < 3 || s[i + 1] != 'x' || s[i + 2] != '{')
				return -1;
			i += 3;
			while (i < in.n && s[i] != '}') {
				int h = smtp_param_hexval(s[i], true);
				if (h < 0 || ++d > 6)
					return -1;
				v = v * 16 + (unsigned long)h;
				i++;
			}
			if (i >= in.n || d < 2)
				return -1;
			i++; /* '}' */
			if (d == 2) {
				if (v != 0x20 && v != 0x2b && v != 0x3d &&
				    v != 0x5c && v < 0x80)
					return -1;
			} else if (v < 0x100 || v > 0x10ffff ||
				   (v >= 0xd800 && v <= 0xdfff) ||
				   s[i - 1 - d] == '0')
				return -1;
		} else if (c >= 0x80) {
			size_t k;
			if (!utf8)
				return -1;
			k = utf8_seq_len(s + i, in.n - i);
			if (k == 0)
				return -1;
			i += k;
		} else if (c >= 0x21 && c <= 0x7e && c != '+' && c != '=')
			i++;
		else
			return -1;
	}
	return 0;
}

/* SIZE=1*20DIGIT; see the top comment for values above 2^64-1. */
static int
smtp_param_do_size(struct span v, uint64_t *out)
{
	int rc;

	if (v.n == 0 || v.n > 20)
		return -1;
	rc = numparse_u64(v, 0, UINT64_MAX, out);
	if (rc == -2) {
		*out = UINT64_MAX;
		return 0;
	}
	return rc;
}

/* NOTIFY: "NEVER" alone, or a comma list without repeats. */
static int
smtp_param_do_notify(struct span v, unsigned *out)
{
	unsigned bits = 0;
	size_t i = 0;

	*out = 0;
	for (;;) {
		size_t start = i;
		struct span el;
		unsigned bit;

		while (i < v.n && v.p[i] != ',')
			i++;
		el = span_make(v.p + start, i - start);
		if (span_eq_ci(el, "NEVER"))
			bit = SMTP_NOTIFY_NEVER;
		else if (span_eq_ci(el, "SUCCESS"))
			bit = SMTP_NOTIFY_SUCCESS;
		else if (span_eq_ci(el, "FAILURE"))
			bit = SMTP_NOTIFY_FAILURE;
		else if (span_eq_ci(el, "DELAY"))
			bit = SMTP_NOTIFY_DELAY;
		else
			return -1; /* also empty elements */
		if (bits & bit)
			return -1;
		bits |= bit;
		if (i == v.n)
			break;
		i++; /* ',' */
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return -1;
	*out = bits;
	return 0;
}

/* ORCPT=addr-type;xtext (length already checked). */
static int
smtp_param_do_orcpt(struct span v, unsigned ext)
{
	const char *semi = memchr(v.p, ';', v.n);
	struct span type, addr;

	if (semi == NULL)
		return -1;
	type = span_make(v.p, (size_t)(semi - v.p));
	addr = span_skip(v, type.n + 1);
	if (span_eq_ci(type, "rfc822"))
		return addr.n > 0 && smtp_param_xtext_scan(addr, true) >= 0
			   ? 0
			   : -1;
	if (span_eq_ci(type, "utf-8"))
		return smtp_param_check_utf8_addr(
		    addr, (ext & SMTP_EXT_SMTPUTF8) != 0);
	return -1;
}

/* Copies a span that is known to fit (n < dstsz) and NUL-terminates it. */
static void
smtp_param_copy(char *dst, size_t dstsz, struct span v)
{
	if (v.n >= dstsz) { /* callers check first; never truncate */
		dst[0] = '\0';
		return;
	}
	memcpy(dst, v.p, v.n);
	dst[v.n] = '\0';
}

/*
 * Takes the next parameter from *in. Returns 1 with *it filled, 0 at the
 * end, or a negative enum smtp_param_err with *why set.
 */
static int
smtp_param_next(struct span *in, enum smtp_param_cmd cmd, unsigned ext,
    struct smtp_param_item *it, const char **why)
{
	const unsigned char *s = (const unsigned char *)in->p;
	size_t i = 0, k, vstart;

	memset(it, 0, sizeof(*it));
	while (i < in->n && s[i] == ' ')
		i++;
	if (i == in->n) {
		*in = span_skip(*in, i);
		return 0;
	}
	/* esmtp-keyword */
	if (!smtp_param_is_alnum(s[i])) {
		*why = smtp_param_why_malformed;
		return SMTP_PARAM_SYNTAX;
	}
	it->key.p = in->p + i;
	while (i < in->n && (smtp_param_is_alnum(s[i]) || s[i] == '-'))
		i++;
	it->key.n = (size_t)(in->p + i - it->key.p);
	/* ["=" esmtp-value] */
	if (i < in->n && s[i] == '=') {
		vstart = ++i;
		while (i < in->n) {
			if (s[i] >= 0x80) {
				size_t u =
				    utf8_seq_len(s + i, in->n - i);
				if (u == 0) {
					*why = smtp_param_why_malformed;
					return SMTP_PARAM_SYNTAX;
				}
				i += u;
			} else if (s[i] >= 33 && s[i] <= 126 && s[i] != '=')
				i++;
			else
				break;
		}
		if (i == vstart) {
			*why = smtp_param_why_malformed;
			return SMTP_PARAM_SYNTAX;
		}
		it->value = span_make(in->p + vstart, i - vstart);
		it->has_value = true;
	}
	if (i < in->n && s[i] != ' ') {
		*why = smtp_param_why_malformed;
		return SMTP_PARAM_SYNTAX;
	}
	*in = span_skip(*in, i);

	for (k = 0; k < sizeof(smtp_param_defs) / sizeof(smtp_param_defs[0]);
	     k++) {
		const struct smtp_param_def *d = &smtp_param_defs[k];
		if (d->cmd == cmd && span_eq_ci(it->key, d->name)) {
			if (!(ext & d->ext))
				break;
			it->def = d;
			return 1;
		}
	}
	*why = smtp_param_why_unknown;
	return SMTP_PARAM_UNKNOWN;
}

/* Refuses a second occurrence of a keyword. */
static int
smtp_param_check_dup(unsigned *seen, enum smtp_param_kw kw, const char **why)
{
	unsigned bit = 1u << (unsigned)kw;

	if (*seen & bit) {
		*why = smtp_param_why_dup;
		return -1;
	}
	*seen |= bit;
	return 0;
}

int
smtp_mail_params_parse(struct span params, unsigned ext,
    struct smtp_mail_params *out, const char **why)
{
	struct smtp_param_item it;
	const char *dummy;
	unsigned seen = 0;
	int rc;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	memset(out, 0, sizeof(*out));

	while ((rc = smtp_param_next(
		    &params, SMTP_PARAM_CMD_MAIL, ext, &it, why)) > 0) {
		struct span v = it.value;

		if (smtp_param_check_dup(&seen, it.def->kw, why) < 0)
			goto fail_syntax;
		switch (it.def->kw) {
		case SMTP_PARAM_KW_SIZE:
			if (!it.has_value ||
			    smtp_param_do_size(v, &out->size) < 0) {
				*why = "Bad SIZE value";
				goto fail_syntax;
			}
			out->has_size = true;
			break;
		case SMTP_PARAM_KW_BODY:
			if (it.has_value && span_eq_ci(v, "7BIT"))
				out->body = SMTP_BODY_7BIT;
			else if (it.has_value && span_eq_ci(v, "8BITMIME"))
				out->body = SMTP_BODY_8BITMIME;
			else {
				*why = "Bad BODY value";
				goto fail_syntax;
			}
			break;
		case SMTP_PARAM_KW_SMTPUTF8:
			if (it.has_value) {
				*why = "SMTPUTF8 takes no value";
				goto fail_syntax;
			}
			out->smtputf8 = true;
			break;
		case SMTP_PARAM_KW_REQUIRETLS:
			if (it.has_value) {
				*why = "REQUIRETLS takes no value";
				goto fail_syntax;
			}
			out->requiretls = true;
			break;
		case SMTP_PARAM_KW_RET:
			if (it.has_value && span_eq_ci(v, "FULL"))
				out->ret = SMTP_RET_FULL;
			else if (it.has_value && span_eq_ci(v, "HDRS"))
				out->ret = SMTP_RET_HDRS;
			else {
				*why = "Bad RET value";
				goto fail_syntax;
			}
			break;
		case SMTP_PARAM_KW_ENVID:
			if (v.n > SMTP_ENVID_MAX) {
				*why = "ENVID too long";
				goto fail_syntax;
			}
			if (!it.has_value ||
			    smtp_param_xtext_scan(v, true) < 0) {
				*why = "Bad ENVID value";
				goto fail_syntax;
			}
			smtp_param_copy(out->envid, sizeof(out->envid), v);
			break;
		case SMTP_PARAM_KW_AUTH:
			if (v.n > SMTP_AUTHPARAM_MAX) {
				*why = "AUTH value too long";
				goto fail_syntax;
			}
			if (!it.has_value ||
			    smtp_param_xtext_scan(v, true) < 0) {
				*why = "Bad AUTH value";
				goto fail_syntax;
			}
			smtp_param_copy(out->auth, sizeof(out->auth), v);
			break;
		case SMTP_PARAM_KW_NOTIFY:
		case SMTP_PARAM_KW_ORCPT:
		default:
			/* smtp_param_next() never returns RCPT keywords here */
			*why = smtp_param_why_unknown;
			memset(out, 0, sizeof(*out));
			return SMTP_PARAM_UNKNOWN;
		}
	}
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return SMTP_PARAM_OK;
fail_syntax:
	memset(out, 0, sizeof(*out));
	return SMTP_PARAM_SYNTAX;
}

int
smtp_rcpt_params_parse(struct span params, unsigned ext,
    struct smtp_rcpt_params *out, const char **why)
{
	struct smtp_param_item it;
	const char *dummy;
	unsigned seen = 0;
	int rc;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	memset(out, 0, sizeof(*out));

	while ((rc = smtp_param_next(
		    &params, SMTP_PARAM_CMD_RCPT, ext, &it, why)) > 0) {
		struct span v = it.value;

		if (smtp_param_check_dup(&seen, it.def->kw, why) < 0)
			goto fail_syntax;
		switch (it.def->kw) {
		case SMTP_PARAM_KW_NOTIFY:
			if (!it.has_value ||
			    smtp_param_do_notify(v, &out->notify) < 0) {
				*why = "Bad NOTIFY value";
				goto fail_syntax;
			}
			break;
		case SMTP_PARAM_KW_ORCPT:
			if (v.n > SMTP_ORCPT_MAX) {
				*why = "ORCPT too long";
				goto fail_syntax;
			}
			if (!it.has_value || smtp_param_do_orcpt(v, ext) < 0) {
				*why = "Bad ORCPT value";
				goto fail_syntax;
			}
			smtp_param_copy(out->orcpt, sizeof(out->orcpt), v);
			break;
		case SMTP_PARAM_KW_SIZE:
		case SMTP_PARAM_KW_BODY:
		case SMTP_PARAM_KW_SMTPUTF8:
		case SMTP_PARAM_KW_RET:
		case SMTP_PARAM_KW_ENVID:
		case SMTP_PARAM_KW_AUTH:
		case SMTP_PARAM_KW_REQUIRETLS:
		default:
			/* smtp_param_next() never returns MAIL keywords here */
			*why = smtp_param_why_unknown;
			memset(out, 0, sizeof(*out));
			return SMTP_PARAM_UNKNOWN;
		}
	}
	if (rc < 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return SMTP_PARAM_OK;
fail_syntax:
	memset(out, 0, sizeof(*out));
	return SMTP_PARAM_SYNTAX;
}
