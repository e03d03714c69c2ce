/*
 * tlsrpt: RFC 8460 TXT record parser, JSON report composer, gzip and the
 * report message composer. See tlsrpt.h for the promises; the grammar of
 * each piece is quoted where it is implemented.
 */
#include "proto/tlsrpt.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define ZLIB_CONST /* next_in is const */
#include <zlib.h>

#include "lib/utf8.h"
#include "proto/base64.h"
#include "proto/dsn.h"
#include "proto/smtp_path.h"

static const char *const tlsrpt_ptype_names[] = {
    "tlsa", "sts", "no-policy-found"};

/* RFC 8460 4.3.1 and 4.3.2 (the IANA "STARTTLS Validation Result Types"). */
static const char *const tlsrpt_result_names[TLSRPT_RESULT_COUNT] = {
    "success",
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
};

const char *
tlsrpt_policy_type_name(enum tlsrpt_policy_type t)
{
	if ((unsigned)t >=
	    sizeof(tlsrpt_ptype_names) / sizeof(tlsrpt_ptype_names[0]))
		return NULL;
	return tlsrpt_ptype_names[t];
}

const char *
tlsrpt_result_name(enum tlsrpt_result r)
{
	if ((unsigned)r >= TLSRPT_RESULT_COUNT)
		return NULL;
	return tlsrpt_result_names[r];
}

static bool
tlsrpt_span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

int
tlsrpt_policy_type_parse(struct span s, enum tlsrpt_policy_type *out)
{
	unsigned i;

	*out = TLSRPT_NO_POLICY;
	for (i = 0; i < 3; i++) {
		if (tlsrpt_span_is(s, tlsrpt_ptype_names[i])) {
			*out = (enum tlsrpt_policy_type)i;
			return 0;
		}
	}
	return -1;
}

int
tlsrpt_result_parse(struct span s, enum tlsrpt_result *out)
{
	unsigned i;

	*out = TLSRPT_SUCCESS;
	for (i = 0; i < TLSRPT_RESULT_COUNT; i++) {
		if (tlsrpt_span_is(s, tlsrpt_result_names[i])) {
			*out = (enum tlsrpt_result)i;
			return 0;
		}
	}
	return -1;
}

/* ---- the TXT record ---- */

#define TLSRPT_VERSION "v=TLSRPTv1"

static bool
tlsrpt_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
tlsrpt_is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int
tlsrpt_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The characters a URI may hold (RFC 3986 2: unreserved, reserved and
 * "%" of a pct-encoded), less ",", ";" and "!", which RFC 8460 3 requires
 * to be encoded inside tlsrpt-uri (they delimit it).
 */
static bool
tlsrpt_is_urichar(char c)
{
	if (tlsrpt_is_alnum(c))
		return true;
	return c != '\0' && strchr("-._~:/?#[]@$&'()*+=%", c) != NULL;
}

bool
tlsrpt_record_is_candidate(struct span txt)
{
	size_t n = sizeof(TLSRPT_VERSION) - 1;

	return txt.n > n && memcmp(txt.p, TLSRPT_VERSION, n) == 0 &&
	       (txt.p[n] == ';' || tlsrpt_is_wsp(txt.p[n]));
}

static void
tlsrpt_rua_add(struct tlsrpt_record *out, enum tlsrpt_rua_kind kind,
    struct span uri, const char *addr)
{
	struct tlsrpt_rua *r;

	if (out->nrua == TLSRPT_RUA_MAX) {
		out->nskipped++;
		return;
	}
	r = &out->rua[out->nrua++];
	r->kind = kind;
	memcpy(r->uri, uri.p, uri.n);
	r->uri[uri.n] = '\0';
	if (addr != NULL)
		(void)snprintf(r->addr, sizeof(r->addr), "%s", addr);
}

/*
 * One mailto: address (RFC 6068 2: to = addr-spec *("," addr-spec), after
 * percent-decoding) as a plain ASCII mailbox. 0 with "local@domain" in
 * out, or -1.
 */
static int
tlsrpt_mailbox(struct span a, char *out, size_t outsz)
{
	char path[TLSRPT_ADDR_MAX + 3];
	struct smtp_path sp;
	struct span rest;

	if (a.n == 0 || a.n > TLSRPT_ADDR_MAX)
		return -1;
	path[0] = '<';
	memcpy(path + 1, a.p, a.n);
	path[a.n + 1] = '>';
	if (smtp_path_parse(span_make(path, a.n + 2), 0, &sp, &rest) !=
		SMTP_PATH_OK ||
	    rest.n != 0 || sp.domain[0] == '\0')
		return -1;
	return smtp_path_format(&sp, out, outsz);
}

/*
 * A mailto: URI (RFC 6068 2):
 *   mailtoURI = "mailto:" [ to ] [ hfields ]
 *   to        = addr-spec *("," addr-spec)   ; percent-encoded
 * Each address becomes its own destination; hfields ("?subject=...") are
 * ignored, since the report's headers are fixed by RFC 8460 5.3. A URI
 * whose "to" does not decode to printable ASCII addresses is skipped.
 */
static void
tlsrpt_mailto(struct tlsrpt_record *out, struct span uri)
{
	char dec[TLSRPT_URI_MAX + 1], addr[TLSRPT_ADDR_MAX + 1];
	size_t i = 7, n = 0, start;
	int hi, lo;

	while (i < uri.n && uri.p[i] != '?') {
		char c = uri.p[i];

		if (c == '%') {
			/* the URI scanner checked the two hex digits */
			hi = tlsrpt_hexval(uri.p[i + 1]);
			lo = tlsrpt_hexval(uri.p[i + 2]);
			c = (char)(hi * 16 + lo);
			i += 3;
		} else {
			i++;
		}
		if ((unsigned char)c < 0x21 || (unsigned char)c > 0x7e) {
			out->nskipped++;
			return;
		}
		dec[n++] = c;
	}
	if (n == 0) {
		out->nskipped++;
		return;
	}
	start = 0;
	for (i = 0; i <= n; i++) {
		if (i < n && dec[i] != ',')
			continue;
		if (tlsrpt_mailbox(span_make(dec + start, i - start), addr,
			sizeof(addr)) == 0)
			tlsrpt_rua_add(out, TLSRPT_RUA_MAILTO, uri, addr);
		else
			out->nskipped++;
		start = i + 1;
	}
}

/*
 * One tlsrpt-uri at *pos. It must have a scheme (RFC 3986 3.1: ALPHA
 * *( ALPHA / DIGIT / "+" / "-" / "." ) ":") and only URI characters with
 * well-formed percent escapes, else the record is SYNTAX. Kept when it is
 * mailto: or https: and fits TLSRPT_URI_MAX; skipped otherwise.
 */
static int
tlsrpt_uri(struct span txt, size_t *pos, struct tlsrpt_record *out)
{
	size_t i = *pos, start = *pos, colon = 0;
	struct span uri;

	while (i < txt.n && tlsrpt_is_urichar(txt.p[i])) {
		if (txt.p[i] == '%') {
			if (i + 2 >= txt.n || tlsrpt_hexval(txt.p[i + 1]) < 0 ||
			    tlsrpt_hexval(txt.p[i + 2]) < 0)
				return TLSRPT_REC_SYNTAX;
			i += 2;
		} else if (txt.p[i] == ':' && colon == 0) {
			colon = i;
		}
		i++;
	}
	if (i == start || colon == 0)
		return TLSRPT_REC_SYNTAX;
	for (size_t k = start; k < colon; k++) {
		char c = txt.p[k];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(k > start && ((c >= '0' && c <= '9') || c == '+' ||
					  c == '-' || c == '.'))))
			return TLSRPT_REC_SYNTAX;
	}
	*pos = i;
	uri = span_make(txt.p + start, i - start);
	if (uri.n > TLSRPT_URI_MAX)
		out->nskipped++;
	else if (span_prefix_ci(uri, "mailto:"))
		tlsrpt_mailto(out, uri);
	else if (span_prefix_ci(uri, "https://") && uri.n > 8 &&
		 uri.p[8] != '/')
		tlsrpt_rua_add(out, TLSRPT_RUA_HTTPS, uri, NULL);
	else
		out->nskipped++;
	return TLSRPT_REC_OK;
}

static size_t
tlsrpt_skip_wsp(struct span txt, size_t i)
{
	while (i < txt.n && tlsrpt_is_wsp(txt.p[i]))
		i++;
	return i;
}

int
tlsrpt_record_parse(struct span txt, struct tlsrpt_record *out)
{
	size_t i, name, ver = sizeof(TLSRPT_VERSION) - 1;
	bool have_rua = false;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!tlsrpt_record_is_candidate(txt))
		return TLSRPT_REC_NOTRPT;
	if (txt.n > TLSRPT_TXT_MAX)
		return TLSRPT_REC_TOOLONG;
	i = ver;
	for (;;) {
		/* field-delim = *WSP ";" *WSP, or the end (trailing WSP
		 * tolerated) */
		i = tlsrpt_skip_wsp(txt, i);
		if (i == txt.n)
			break;
		if (txt.p[i] != ';') {
			rc = TLSRPT_REC_SYNTAX;
			goto fail;
		}
		i = tlsrpt_skip_wsp(txt, i + 1);
		if (i == txt.n)
			break; /* [field-delim] at the end */
		/* tlsrpt-ext-name = (ALPHA / DIGIT)
		 *                   *31(ALPHA / DIGIT / "_" / "-" / ".") */
		name = i;
		if (!tlsrpt_is_alnum(txt.p[i])) {
			rc = TLSRPT_REC_SYNTAX;
			goto fail;
		}
		i++;
		while (i < txt.n && i - name < 32 &&
		       (tlsrpt_is_alnum(txt.p[i]) || txt.p[i] == '_' ||
			   txt.p[i] == '-' || txt.p[i] == '.'))
			i++;
		if (i == txt.n || txt.p[i] != '=') {
			rc = TLSRPT_REC_SYNTAX;
			goto fail;
		}
		if (i - name == 3 && memcmp(txt.p + name, "rua", 3) == 0) {
			/* tlsrpt-rua = %s"rua=" tlsrpt-uri
			 *              *(*WSP "," *WSP tlsrpt-uri) */
			i++;
			have_rua = true;
			for (;;) {
				if ((rc = tlsrpt_uri(txt, &i, out)) != 0)
					goto fail;
				name = tlsrpt_skip_wsp(txt, i);
				if (name == txt.n || txt.p[name] != ',')
					break;
				i = tlsrpt_skip_wsp(txt, name + 1);
			}
		} else {
			/* tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E) */
			size_t v = ++i;

			while (i < txt.n && (unsigned char)txt.p[i] >= 0x21 &&
			       (unsigned char)txt.p[i] <= 0x7e &&
			       txt.p[i] != ';' && txt.p[i] != '=')
				i++;
			if (i == v) {
				rc = TLSRPT_REC_SYNTAX;
				goto fail;
			}
		}
	}
	if (!have_rua) {
		rc = TLSRPT_REC_NORUA;
		goto fail;
	}
	if (out->nrua == 0) {
		rc = TLSRPT_REC_NOURI;
		goto fail;
	}
	return TLSRPT_REC_OK;
fail:
	memset(out, 0, sizeof(*out));
	return rc;
}

int
tlsrpt_record_select(
    const struct span *txts, size_t n, struct tlsrpt_record *out)
{
	size_t i, found = n;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++) {
		if (!tlsrpt_record_is_candidate(txts[i]))
			continue;
		if (found != n)
			return TLSRPT_REC_MULTIPLE;
		found = i;
	}
	if (found == n)
		return TLSRPT_REC_NOTRPT;
	return tlsrpt_record_parse(txts[found], out);
}

const char *
tlsrpt_rec_strerror(int err)
{
	switch (err) {
	case TLSRPT_REC_OK:
		return "ok";
	case TLSRPT_REC_NOTRPT:
		return "no TLSRPT record";
	case TLSRPT_REC_SYNTAX:
		return "TLSRPT record syntax error";
	case TLSRPT_REC_NORUA:
		return "TLSRPT record without rua";
	case TLSRPT_REC_TOOLONG:
		return "TLSRPT record too long";
	case TLSRPT_REC_NOURI:
		return "no usable rua URI (mailto: or https:)";
	case TLSRPT_REC_MULTIPLE:
		return "more than one TLSRPT record";
	default:
		return "unknown error";
	}
}

/* ---- JSON ---- */

/*
 * RFC 8259 7:
 *   char = unescaped / escape ( %x22 / %x5C / %x2F / %x62 / %x66 /
 *          %x6E / %x72 / %x74 / %x75 4HEXDIG )
 *   unescaped = %x20-21 / %x23-5B / %x5D-10FFFF
 * DEL is escaped too (harmless, and keeps logs clean); ill-formed UTF-8
 * becomes U+FFFD so the document stays valid.
 */
int
tlsrpt_json_string(struct buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	int rc = buf_putc(out, '"');

	while (rc == 0 && i < n) {
		unsigned char c = p[i];

		if (c >= 0x80) {
			k = utf8_seq_len(p + i, n - i);
			if (k == 0) {
				rc = buf_puts(out, "\xef\xbf\xbd");
				i++;
			} else {
				rc = buf_append(out, p + i, k);
				i += k;
			}
			continue;
		}
		i++;
		switch (c) {
		case '"':
			rc = buf_puts(out, "\\\"");
			break;
		case '\\':
			rc = buf_puts(out, "\\\\");
			break;
		case '\b':
			rc = buf_puts(out, "\\b");
			break;
		case '\f':
			rc = buf_puts(out, "\\f");
			break;
		case '\n':
			rc = buf_puts(out, "\\n");
			break;
		case '\r':
			rc = buf_puts(out, "\\r");
			break;
		case '\t':
			rc = buf_puts(out, "\\t");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				rc = buf_printf(out, "\\u%04x", (unsigned)c);
			else
				rc = buf_putc(out, (char)c);
		}
	}
	if (rc == 0)
		rc = buf_putc(out, '"');
	return rc;
}

static int
tlsrpt_json_cstr(struct buf *out, const char *s)
{
	return tlsrpt_json_string(out, s, strlen(s));
}

/* Appends ",\"name\":" (the comma unless first). */
static int
tlsrpt_json_key(struct buf *out, bool first, const char *name)
{
	if (!first && buf_putc(out, ',') != 0)
		return -1;
	if (tlsrpt_json_cstr(out, name) != 0)
		return -1;
	return buf_putc(out, ':');
}

static int
tlsrpt_json_opt(struct buf *out, const char *name, const char *val)
{
	if (val == NULL || val[0] == '\0')
		return 0;
	if (tlsrpt_json_key(out, false, name) != 0)
		return -1;
	return tlsrpt_json_cstr(out, val);
}

int
tlsrpt_datetime(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;
	int n;

	if (outsz > 0)
		out[0] = '\0';
	if ((int64_t)tt != t || t < 0 || gmtime_r(&tt, &tm) == NULL ||
	    tm.tm_year + 1900 > 9999)
		return -1;
	n = snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
	if (n < 0 || (size_t)n >= outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * The value of an MTA-STS "mx:" line (RFC 8461 3.2: sts-policy-mx-field =
 * "mx" *WSP ":" *WSP sts-policy-mx-value), or an empty span.
 */
static struct span
tlsrpt_sts_mx(const char *line)
{
	struct span s = span_cstr(line);
	size_t i = 2;

	if (s.n < 3 || memcmp(s.p, "mx", 2) != 0)
		return span_make(s.p, 0);
	while (i < s.n && tlsrpt_is_wsp(s.p[i]))
		i++;
	if (i == s.n || s.p[i] != ':')
		return span_make(s.p, 0);
	i++;
	while (i < s.n && tlsrpt_is_wsp(s.p[i]))
		i++;
	s = span_skip(s, i);
	while (s.n > 0 && (tlsrpt_is_wsp(s.p[s.n - 1]) ||
			      s.p[s.n - 1] == '\r' || s.p[s.n - 1] == '\n'))
		s.n--;
	return s;
}

static int
tlsrpt_json_policy(struct buf *o, const struct tlsrpt_policy *p)
{
	const char *type = tlsrpt_policy_type_name(p->ptype);
	size_t i;
	bool first;

	if (type == NULL || p->domain == NULL)
		return -1;
	if (buf_puts(o, "{\"policy\":{") != 0 ||
	    tlsrpt_json_key(o, true, "policy-type") != 0 ||
	    tlsrpt_json_cstr(o, type) != 0)
		return -1;
	if (p->nstrings > 0) {
		if (tlsrpt_json_key(o, false, "policy-string") != 0 ||
		    buf_putc(o, '[') != 0)
			return -1;
		for (i = 0; i < p->nstrings; i++) {
			if ((i > 0 && buf_putc(o, ',') != 0) ||
			    tlsrpt_json_cstr(o, p->strings[i]) != 0)
				return -1;
		}
		if (buf_putc(o, ']') != 0)
			return -1;
	}
	if (tlsrpt_json_key(o, false, "policy-domain") != 0 ||
	    tlsrpt_json_cstr(o, p->domain) != 0)
		return -1;
	if (p->ptype == TLSRPT_STS) {
		first = true;
		for (i = 0; i < p->nstrings; i++) {
			struct span mx = tlsrpt_sts_mx(p->strings[i]);

			if (mx.n == 0)
				continue;
			if (first &&
			    (tlsrpt_json_key(o, false, "mx-host") != 0 ||
				buf_putc(o, '[') != 0))
				return -1;
			if ((!first && buf_putc(o, ',') != 0) ||
			    tlsrpt_json_string(o, mx.p, mx.n) != 0)
				return -1;
			first = false;
		}
		if (!first && buf_putc(o, ']') != 0)
			return -1;
	}
	if (buf_printf(o,
		"},\"summary\":{\"total-successful-session-count\":%llu,"
		"\"total-failure-session-count\":%llu}",
		(unsigned long long)p->nsuccess,
		(unsigned long long)p->nfailure) != 0)
		return -1;
	if (p->nfailures > 0) {
		if (buf_puts(o, ",\"failure-details\":[") != 0)
			return -1;
		for (i = 0; i < p->nfailures; i++) {
			const struct tlsrpt_failure *f = &p->failures[i];
			const char *rt = tlsrpt_result_name(f->result);

			if (rt == NULL || f->result == TLSRPT_SUCCESS)
				return -1;
			if ((i > 0 && buf_putc(o, ',') != 0) ||
			    buf_putc(o, '{') != 0 ||
			    tlsrpt_json_key(o, true, "result-type") != 0 ||
			    tlsrpt_json_cstr(o, rt) != 0 ||
			    tlsrpt_json_opt(
				o, "sending-mta-ip", f->sending_ip) != 0 ||
			    tlsrpt_json_opt(o, "receiving-mx-hostname",
				f->receiving_mx) != 0 ||
			    tlsrpt_json_opt(
				o, "receiving-ip", f->receiving_ip) != 0 ||
			    buf_printf(o, ",\"failed-session-count\":%llu",
				(unsigned long long)f->count) != 0 ||
			    tlsrpt_json_opt(
				o, "failure-reason-code", f->reason) != 0 ||
			    buf_putc(o, '}') != 0)
				return -1;
		}
		if (buf_putc(o, ']') != 0)
			return -1;
	}
	return buf_putc(o, '}');
}

int
tlsrpt_json(const struct tlsrpt_report *r, struct buf *out)
{
	char start[32], end[32];
	struct buf o;
	size_t i;
	int rc = -1;

	if (r->org_name == NULL || r->contact == NULL || r->report_id == NULL ||
	    tlsrpt_datetime(r->start, start, sizeof(start)) != 0 ||
	    tlsrpt_datetime(r->end, end, sizeof(end)) != 0 ||
	    out->len > out->max)
		return -1;
	buf_init(&o, out->max - out->len);
	if (buf_putc(&o, '{') != 0 ||
	    tlsrpt_json_key(&o, true, "organization-name") != 0 ||
	    tlsrpt_json_cstr(&o, r->org_name) != 0 ||
	    buf_printf(&o,
		",\"date-range\":{\"start-datetime\":\"%s\","
		"\"end-datetime\":\"%s\"}",
		start, end) != 0 ||
	    tlsrpt_json_key(&o, false, "contact-info") != 0 ||
	    tlsrpt_json_cstr(&o, r->contact) != 0 ||
	    tlsrpt_json_key(&o, false, "report-id") != 0 ||
	    tlsrpt_json_cstr(&o, r->report_id) != 0 ||
	    buf_puts(&o, ",\"policies\":[") != 0)
		goto out;
	for (i = 0; i < r->npolicies; i++) {
		if ((i > 0 && buf_putc(&o, ',') != 0) ||
		    tlsrpt_json_policy(&o, &r->policies[i]) != 0)
			goto out;
	}
	if (buf_puts(&o, "]}") != 0)
		goto out;
	rc = buf_append(out, o.data, o.len);
out:
	buf_clear(&o);
	return rc;
}

/* ---- gzip ---- */

int
tlsrpt_gzip(const void *in, size_t n, struct buf *out)
{
	unsigned char chunk[16384];
	z_stream z;
	size_t save = out->len;
	int zr, flush;

	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip wrapper instead of zlib's (zlib.h) */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
		Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (const Bytef *)in;
	do {
		/* feed at most UINT_MAX at a time (avail_in is a uInt) */
		size_t left = n - (size_t)((const unsigned char *)z.next_in -
					   (const unsigned char *)in);
		uInt take = left > 0x40000000u ? 0x40000000u : (uInt)left;

		z.avail_in = take;
		flush = take == left ? Z_FINISH : Z_NO_FLUSH;
		do {
			z.next_out = chunk;
			z.avail_out = sizeof(chunk);
			zr = deflate(&z, flush);
			if (zr == Z_STREAM_ERROR ||
			    buf_append(
				out, chunk, sizeof(chunk) - z.avail_out) != 0) {
				(void)deflateEnd(&z);
				goto fail;
			}
		} while (z.avail_out == 0);
	} while (flush != Z_FINISH);
	if (zr != Z_STREAM_END || deflateEnd(&z) != Z_OK)
		goto fail;
	return 0;
fail:
	out->len = save;
	if (out->data != NULL)
		out->data[save] = '\0';
	return -1;
}

/* ---- the message ---- */

/* A DNS name as petrel writes them: LDH plus '_' and '.', 1..253. */
static bool
tlsrpt_is_domain(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		if (!tlsrpt_is_alnum(s[i]) && s[i] != '-' && s[i] != '.' &&
		    s[i] != '_')
			return false;
	}
	return true;
}

/* Printable ASCII, no space, none of the bytes in bad, 1..max octets. */
static bool
tlsrpt_is_word(const char *s, const char *bad, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    strchr(bad, s[i]) != NULL)
			return false;
	}
	return true;
}

int
tlsrpt_filename(const struct tlsrpt_mail *m, char *out, size_t outsz)
{
	int n;

	if (outsz > 0)
		out[0] = '\0';
	if (m->submitter == NULL || m->policy_domain == NULL ||
	    !tlsrpt_is_domain(m->submitter) ||
	    !tlsrpt_is_domain(m->policy_domain) || m->start < 0 ||
	    m->end < m->start)
		return -1;
	if (m->unique_id != NULL) {
		for (const char *p = m->unique_id; *p != '\0'; p++) {
			if (!tlsrpt_is_alnum(*p))
				return -1;
		}
	}
	if (m->unique_id != NULL && m->unique_id[0] != '\0')
		n = snprintf(out, outsz, "%s!%s!%lld!%lld!%s.json.gz",
		    m->submitter, m->policy_domain, (long long)m->start,
		    (long long)m->end, m->unique_id);
	else
		n = snprintf(out, outsz, "%s!%s!%lld!%lld.json.gz",
		    m->submitter, m->policy_domain, (long long)m->start,
		    (long long)m->end);
	if (n < 0 || (size_t)n >= outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/* FNV-1a, to derive a boundary from the Message-ID without randomness. */
static uint32_t
tlsrpt_fnv(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

#define TLSRPT_B64_LINE 57 /* input octets per 76-character base64 line */

int
tlsrpt_mail_compose(const struct tlsrpt_mail *m, struct buf *out)
{
	/* specials, quotes and brackets cannot be in an addr-spec we write
	 * bare, nor in a msg-id */
	static const char addr_bad[] = "\"()<>[]\\,;:";
	static const char id_bad[] = "\"()<>[]\\,;: ";
	char fname[700], date[64], start[32], end[32], boundary[40];
	const unsigned char *gz = m->gz;
	struct buf o;
	size_t i;
	int rc = -1;

	if (!tlsrpt_is_word(m->from, addr_bad, TLSRPT_ADDR_MAX) ||
	    !tlsrpt_is_word(m->to, addr_bad, TLSRPT_ADDR_MAX) ||
	    !tlsrpt_is_word(m->report_id, id_bad, 256) ||
	    strchr(m->report_id, '@') == NULL ||
	    !tlsrpt_is_word(m->message_id, id_bad, 256) ||
	    tlsrpt_filename(m, fname, sizeof(fname)) != 0 ||
	    dsn_date(m->now, date, sizeof(date)) != 0 ||
	    tlsrpt_datetime(m->start, start, sizeof(start)) != 0 ||
	    tlsrpt_datetime(m->end, end, sizeof(end)) != 0 ||
	    (m->gz == NULL && m->gzlen > 0) || out->len > out->max)
		return -1;
	/* base64 never holds "=_", nor does anything else written here */
	(void)snprintf(boundary, sizeof(boundary), "=_tlsrpt_%08x_%08x",
	    tlsrpt_fnv(m->message_id), tlsrpt_fnv(m->report_id));
	buf_init(&o, out->max - out->len);
	if (buf_printf(&o,
		"From: %s\r\n"
		"To: %s\r\n"
		"Date: %s\r\n"
		"Subject: Report Domain: %s\r\n"
		" Submitter: %s\r\n"
		" Report-ID: <%s>\r\n"
		"Message-ID: <%s>\r\n"
		"TLS-Report-Domain: %s\r\n"
		"TLS-Report-Submitter: %s\r\n"
		"Auto-Submitted: auto-generated\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
		"\tboundary=\"%s\"\r\n"
		"\r\n"
		"This is a multipart message in MIME format.\r\n"
		"\r\n"
		"--%s\r\n"
		"Content-Type: text/plain; charset=\"us-ascii\"\r\n"
		"Content-Transfer-Encoding: 7bit\r\n"
		"\r\n"
		"This is an aggregate TLS report (RFC 8460) from\r\n"
		"%s\r\n"
		"for the policy domain\r\n"
		"%s\r\n"
		"covering %s to %s.\r\n"
		"\r\n"
		"--%s\r\n"
		"Content-Type: application/tlsrpt+gzip\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"Content-Disposition: attachment;\r\n"
		"\tfilename=\"%s\"\r\n"
		"\r\n",
		m->from, m->to, date, m->policy_domain, m->submitter,
		m->report_id, m->message_id, m->policy_domain, m->submitter,
		boundary, boundary, m->submitter, m->policy_domain, start, end,
		boundary, fname) != 0)
		goto out;
	for (i = 0; i < m->gzlen; i += TLSRPT_B64_LINE) {
		char line[80];
		size_t k = m->gzlen - i < TLSRPT_B64_LINE ? m->gzlen - i
							  : TLSRPT_B64_LINE;
		size_t len = base64_encode(gz + i, k, line);

		if (buf_append(&o, line, len) != 0 || buf_puts(&o, "\r\n") != 0)
			goto out;
	}
	if (buf_printf(&o, "\r\n--%s--\r\n", boundary) != 0)
		goto out;
	rc = buf_append(out, o.data, o.len);
out:
	buf_clear(&o);
	return rc;
}
