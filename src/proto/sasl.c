/*
 * sasl: PLAIN and SCRAM-SHA-256(-PLUS) message parsing and formatting for
 * SMTP AUTH (see sasl.h for the division of work with the caller).
 *
 * PLAIN, RFC 4616 2:
 *
 *   message   = [authzid] UTF8NUL authcid UTF8NUL passwd
 *   authcid   = 1*SAFE ; MUST accept up to 255 octets
 *   authzid   = 1*SAFE ; MUST accept up to 255 octets
 *   passwd    = 1*SAFE ; MUST accept up to 255 octets
 *   UTF8NUL   = %x00 ; UTF-8 encoded NUL character
 *   SAFE      = UTF1 / UTF2 / UTF3 / UTF4
 *               ;; any UTF-8 encoded Unicode character except NUL
 *
 * SCRAM, RFC 5802 7 (the parts a server parses or produces):
 *
 *   attr-val        = ALPHA "=" value
 *   value           = 1*value-char
 *   value-safe-char = %x01-2B / %x2D-3C / %x3E-7F /
 *                     UTF8-2 / UTF8-3 / UTF8-4
 *                     ;; UTF8-char except NUL, "=", and ",".
 *   value-char      = value-safe-char / "="
 *   printable       = %x21-2B / %x2D-7E
 *                     ;; Printable ASCII except ",".
 *   base64          = *base64-4 [base64-3 / base64-2]
 *   posit-number    = %x31-39 *DIGIT
 *   saslname        = 1*(value-safe-char / "=2C" / "=3D")
 *   authzid         = "a=" saslname
 *   cb-name         = 1*(ALPHA / DIGIT / "." / "-")
 *   gs2-cbind-flag  = ("p=" cb-name) / "n" / "y"
 *   gs2-header      = gs2-cbind-flag "," [ authzid ] ","
 *   username        = "n=" saslname
 *   reserved-mext   = "m=" 1*(value-char)
 *   channel-binding = "c=" base64
 *   proof           = "p=" base64
 *   nonce           = "r=" c-nonce [s-nonce]
 *   c-nonce         = printable
 *   s-nonce         = printable
 *   salt            = "s=" base64
 *   verifier        = "v=" base64
 *   iteration-count = "i=" posit-number
 *   client-first-message-bare =
 *                     [reserved-mext ","]
 *                     username "," nonce ["," extensions]
 *   client-first-message = gs2-header client-first-message-bare
 *   server-first-message =
 *                     [reserved-mext ","] nonce "," salt ","
 *                     iteration-count ["," extensions]
 *   client-final-message-without-proof =
 *                     channel-binding "," nonce [","
 *                     extensions]
 *   client-final-message =
 *                     client-final-message-without-proof "," proof
 *   server-error    = "e=" server-error-value
 *   server-final-message = (server-error / verifier)
 *                     ["," extensions]
 *   extensions      = attr-val *("," attr-val)
 *                     ;; All extensions are optional,
 *                     ;; i.e., unrecognized attributes
 *                     ;; not defined in this document
 *                     ;; MUST be ignored.
 *   cbind-data      = 1*OCTET
 *   cbind-input     = gs2-header [ cbind-data ]
 *                     ;; cbind-data MUST be present for
 *                     ;; gs2-cbind-flag of "p" and MUST be absent
 *                     ;; for "y" or "n".
 *
 * No attribute value, name or nonce can hold a ',', so every message is a
 * ','-separated list of attributes and is scanned field by field.
 *
 * Where this code is stricter than the grammar, on purpose:
 *   - c-nonce and s-nonce are read as 1*printable, as every implementation
 *     does (a one-character nonce in the ABNF is an erratum); a client
 *     nonce is at most SASL_SCRAM_NONCE_MAX octets.
 *   - "=2C" and "=3D" must be upper case. ABNF literals are
 *     case-insensitive, but the prose of RFC 5802 5.1 says a name with '='
 *     not followed by "2C" or "3D" MUST fail, and one spelling per name
 *     keeps logs and lookups unambiguous.
 *   - Names (authzid, username, and PLAIN's authzid and authcid) may not
 *     hold ASCII control characters. The grammar allows them, but SASLprep
 *     (RFC 4013 2.3, table C.2.1) prohibits them, so no conforming client
 *     sends one, and they have no place in an account name or a log line.
 *   - An extension may not reuse an attribute letter that RFC 5802 5.1
 *     assigns (a c e i m n p r s v). Otherwise "...,p=X,p=Y" or a second
 *     r= would give one message two readings; "m" after the nonce is not
 *     the reserved-mext position, so it is a syntax error there.
 *   - The gs2-cbind-flag and cb-name are case-sensitive ("n", "y", "p",
 *     "tls-exporter" as registered); RFC 5801's non-standard "F," prefix
 *     is not part of SCRAM and is refused.
 *   - c= must not be empty: cbind-input always starts with a gs2-header,
 *     so an empty c= can never be right.
 */
#include "proto/sasl.h"

#include <stdio.h>
#include <string.h>

#include "lib/utf8.h"
#include "proto/base64.h"

/*
 * Largest decoded c= value we look at: a gs2-header with the longest
 * escaped authzid (3 * 255) and "p=tls-exporter", plus 32 octets of
 * tls-exporter data, fits with room to spare.
 */
#define SASL_CBIND_INPUT_MAX 1024

const char *
sasl_strerror(int err)
{
	switch (err) {
	case SASL_OK:
		return "success";
	case SASL_ERR_SYNTAX:
		return "syntax error";
	case SASL_ERR_CBIND_TYPE:
		return "unsupported channel binding type";
	case SASL_ERR_MEXT:
		return "mandatory extension not supported";
	default:
		return "unknown error";
	}
}

/*
 * True if s[0..n) is well-formed UTF-8 without NUL; with name set, also
 * without ASCII control characters (%x01-1F, %x7F).
 */
static bool
sasl_utf8_ok(const unsigned char *s, size_t n, bool name)
{
	size_t i = 0;

	while (i < n) {
		if (s[i] >= 0x80) {
			size_t k = utf8_seq_len(s + i, n - i);
			if (k == 0)
				return false;
			i += k;
			continue;
		}
		if (s[i] == 0 || (name && (s[i] < 0x20 || s[i] == 0x7f)))
			return false;
		i++;
	}
	return true;
}

int
sasl_plain_parse(const uint8_t *msg, size_t n, struct span *authzid_out,
    struct span *authcid_out, struct span *passwd_out)
{
	const uint8_t *nul1, *nul2;
	size_t zlen, clen, plen;

	*authzid_out = span_make(NULL, 0);
	*authcid_out = span_make(NULL, 0);
	*passwd_out = span_make(NULL, 0);
	if (n == 0 || (nul1 = memchr(msg, 0, n)) == NULL)
		return -1;
	zlen = (size_t)(nul1 - msg);
	if ((nul2 = memchr(nul1 + 1, 0, n - zlen - 1)) == NULL)
		return -1;
	clen = (size_t)(nul2 - nul1) - 1;
	plen = n - zlen - clen - 2;
	/* A third NUL is caught by the UTF-8 check of passwd. */
	if (zlen > SASL_NAME_MAX || clen == 0 || clen > SASL_NAME_MAX ||
	    plen == 0 || plen > SASL_NAME_MAX)
		return -1;
	if (!sasl_utf8_ok(msg, zlen, true) ||
	    !sasl_utf8_ok(nul1 + 1, clen, true) ||
	    !sasl_utf8_ok(nul2 + 1, plen, false))
		return -1;
	*authzid_out = span_make((const char *)msg, zlen);
	*authcid_out = span_make((const char *)nul1 + 1, clen);
	*passwd_out = span_make((const char *)nul2 + 1, plen);
	return 0;
}

/*
 * Field scanner over a ','-separated message. A field is the text up to
 * the next ',' or the end; sasl_next_field() consumes the separator.
 */
struct sasl_scan {
	const char *s;
	size_t n;
	size_t i; /* start of the next field; <= n */
	bool end; /* the last field has been returned */
};

static void
sasl_scan_init(struct sasl_scan *sc, const char *s, size_t n)
{
	sc->s = s;
	sc->n = n;
	sc->i = 0;
	sc->end = false;
}

/* Returns the next field in *f, or false when there is none left. */
static bool
sasl_next_field(struct sasl_scan *sc, struct span *f)
{
	const char *comma;

	if (sc->end)
		return false;
	comma = memchr(sc->s + sc->i, ',', sc->n - sc->i);
	if (comma == NULL) {
		*f = span_make(sc->s + sc->i, sc->n - sc->i);
		sc->i = sc->n;
		sc->end = true;
	} else {
		*f =
		    span_make(sc->s + sc->i, (size_t)(comma - (sc->s + sc->i)));
		sc->i += f->n + 1;
	}
	return true;
}

/* If f is "<c>=...", sets *val to the value (possibly empty); else false. */
static bool
sasl_attr(struct span f, char c, struct span *val)
{
	if (f.n < 2 || f.p[0] != c || f.p[1] != '=')
		return false;
	*val = span_skip(f, 2);
	return true;
}

/* printable = %x21-2B / %x2D-7E */
static bool
sasl_is_printable(char c)
{
	return c >= 0x21 && c <= 0x7e && c != ',';
}

/* 1*printable */
static bool
sasl_nonce_ok(struct span v)
{
	size_t i;

	if (v.n == 0)
		return false;
	for (i = 0; i < v.n; i++)
		if (!sasl_is_printable(v.p[i]))
			return false;
	return true;
}

/* value = 1*value-char: non-empty UTF-8 without NUL or ','. */
static bool
sasl_value_ok(struct span v)
{
	return v.n > 0 && memchr(v.p, ',', v.n) == NULL &&
	       sasl_utf8_ok((const unsigned char *)v.p, v.n, false);
}

/*
 * extensions = attr-val *("," attr-val); attr-val = ALPHA "=" value.
 * One attr-val, with the attribute letters SCRAM assigns refused (see the
 * top of the file).
 */
static bool
sasl_extension_ok(struct span f)
{
	char c;

	if (f.n < 2 || f.p[1] != '=')
		return false;
	c = f.p[0];
	if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		return false;
	if (strchr("acemnprsvi", c) != NULL)
		return false;
	return sasl_value_ok(span_skip(f, 2));
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
static bool
sasl_cbname_ok(struct span v)
{
	size_t i;

	if (v.n == 0)
		return false;
	for (i = 0; i < v.n; i++) {
		char c = v.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/*
 * saslname = 1*(value-safe-char / "=2C" / "=3D"), decoded into out
 * (SASL_NAME_MAX + 1 octets, NUL-terminated). Refuses an empty name, '='
 * not followed by "2C" or "3D", ',', NUL, control characters, malformed
 * UTF-8 and a decoded length over SASL_NAME_MAX. 0 or -1 (out is "").
 */
static int
sasl_saslname_decode(struct span v, char out[SASL_NAME_MAX + 1])
{
	const unsigned char *s = (const unsigned char *)v.p;
	size_t i = 0, o = 0;

	out[0] = '\0';
	if (v.n == 0)
		return -1;
	while (i < v.n) {
		size_t k = 1;
		char d;

		if (s[i] == '=') {
			if (v.n - i < 3)
				goto fail;
			if (s[i + 1] == '2' && s[i + 2] == 'C')
				d = ',';
			else if (s[i + 1] == '3' && s[i + 2] == 'D')
				d = '=';
			else
				goto fail;
			if (o + 1 > SASL_NAME_MAX)
				goto fail;
			out[o++] = d;
			i += 3;
			continue;
		}
		if (s[i] >= 0x80) {
			if ((k = utf8_seq_len(s + i, v.n - i)) == 0)
				goto fail;
		} else if (s[i] < 0x20 || s[i] == 0x7f || s[i] == ',')
			goto fail;
		if (o + k > SASL_NAME_MAX)
			goto fail;
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return 0;
fail:
	memset(out, 0, SASL_NAME_MAX + 1);
	return -1;
}

int
sasl_scram_parse_first(const char *msg, size_t n, struct sasl_scram_first *out)
{
	struct sasl_scan sc;
	struct span f, v;
	bool badtype = false, mext = false;
	size_t hdr;

	memset(out, 0, sizeof(*out));
	sasl_scan_init(&sc, msg, n);

	/* gs2-cbind-flag = ("p=" cb-name) / "n" / "y" */
	if (!sasl_next_field(&sc, &f))
		goto syntax;
	if (f.n == 1 && f.p[0] == 'n')
		out->cbind = SASL_SCRAM_CBIND_NONE;
	else if (f.n == 1 && f.p[0] == 'y')
		out->cbind = SASL_SCRAM_CBIND_UNOFFERED;
	else if (sasl_attr(f, 'p', &v) && sasl_cbname_ok(v)) {
		out->cbind = SASL_SCRAM_CBIND_TLS_EXPORTER;
		if (v.n != strlen(SASL_SCRAM_CBIND_NAME) ||
		    memcmp(v.p, SASL_SCRAM_CBIND_NAME, v.n) != 0)
			badtype = true;
	} else
		goto syntax;

	/* "," [ authzid ] "," with authzid = "a=" saslname */
	if (!sasl_next_field(&sc, &f) || sc.end)
		goto syntax;
	if (f.n > 0 && (!sasl_attr(f, 'a', &v) ||
			   sasl_saslname_decode(v, out->authzid) < 0))
		goto syntax;
	hdr = sc.i;

	/* [reserved-mext ","] username: reserved-mext = "m=" 1*(value-char) */
	if (!sasl_next_field(&sc, &f))
		goto syntax;
	if (sasl_attr(f, 'm', &v)) {
		if (!sasl_value_ok(v) || !sasl_next_field(&sc, &f))
			goto syntax;
		mext = true;
	}
	if (!sasl_attr(f, 'n', &v) || sasl_saslname_decode(v, out->user) < 0)
		goto syntax;

	/* "," nonce, where the client sends only c-nonce */
	if (!sasl_next_field(&sc, &f) || !sasl_attr(f, 'r', &v) ||
	    !sasl_nonce_ok(v) || v.n > SASL_SCRAM_NONCE_MAX)
		goto syntax;
	out->cnonce = v;

	/* ["," extensions] */
	while (sasl_next_field(&sc, &f))
		if (!sasl_extension_ok(f))
			goto syntax;

	if (badtype || mext) {
		memset(out, 0, sizeof(*out));
		return badtype ? SASL_ERR_CBIND_TYPE : SASL_ERR_MEXT;
	}
	out->gs2_header = span_make(msg, hdr);
	out->bare = span_make(msg + hdr, n - hdr);
	return SASL_OK;
syntax:
	memset(out, 0, sizeof(*out));
	return SASL_ERR_SYNTAX;
}

int
sasl_scram_parse_final(const char *msg, size_t n, struct sasl_scram_final *out)
{
	uint8_t cbuf[SASL_CBIND_INPUT_MAX];
	struct sasl_scan sc;
	struct span f, v;
	size_t len;

	memset(out, 0, sizeof(*out));
	sasl_scan_init(&sc, msg, n);

	/* channel-binding = "c=" base64 */
	if (!sasl_next_field(&sc, &f) || !sasl_attr(f, 'c', &v) || v.n == 0 ||
	    base64_decode(v.p, v.n, cbuf, sizeof(cbuf), &len) < 0)
		goto syntax;
	out->cbind = v;

	/* "," nonce */
	if (!sasl_next_field(&sc, &f) || !sasl_attr(f, 'r', &v) ||
	    !sasl_nonce_ok(v))
		goto syntax;
	out->nonce = v;

	/* ["," extensions] "," proof, with proof = "p=" base64 last */
	for (;;) {
		size_t start = sc.i;

		if (!sasl_next_field(&sc, &f))
			goto syntax; /* no proof */
		if (sasl_attr(f, 'p', &v)) {
			if (!sc.end)
				goto syntax; /* p= is not last */
			if (base64_decode(v.p, v.n, out->proof,
				sizeof(out->proof), &len) < 0 ||
			    len != sizeof(out->proof))
				goto syntax;
			/* start - 1 is the ',' before "p=". */
			out->without_proof = span_make(msg, start - 1);
			return SASL_OK;
		}
		if (!sasl_extension_ok(f))
			goto syntax;
	}
syntax:
	memset(out, 0, sizeof(*out));
	return SASL_ERR_SYNTAX;
}

/* True if a[0..n) equals b[0..n), in time that depends on n only. */
static bool
sasl_mem_eq(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned char)(x[i] ^ y[i]);
	return d == 0;
}

bool
sasl_scram_nonce_ok(
    const struct sasl_scram_final *f, struct span cnonce, struct span snonce)
{
	if (cnonce.n == 0 || snonce.n == 0 || f->nonce.n < cnonce.n ||
	    f->nonce.n - cnonce.n != snonce.n)
		return false;
	return memcmp(f->nonce.p, cnonce.p, cnonce.n) == 0 &&
	       memcmp(f->nonce.p + cnonce.n, snonce.p, snonce.n) == 0;
}

bool
sasl_scram_cbind_ok(const struct sasl_scram_final *f,
    const struct sasl_scram_first *first, const uint8_t *cbdata, size_t cblen)
{
	uint8_t in[SASL_CBIND_INPUT_MAX];
	size_t len, hlen = first->gs2_header.n;
	bool ok;

	if (hlen == 0 || f->cbind.n == 0)
		return false;
	if (first->cbind != SASL_SCRAM_CBIND_TLS_EXPORTER)
		cblen = 0;
	else if (cbdata == NULL || cblen == 0)
		return false;
	if (base64_decode(f->cbind.p, f->cbind.n, in, sizeof(in), &len) < 0)
		return false;
	ok = len == hlen + cblen &&
	     sasl_mem_eq(in, first->gs2_header.p, hlen) &&
	     (cblen == 0 || sasl_mem_eq(in + hlen, cbdata, cblen));
	memset(in, 0, sizeof(in));
	return ok;
}

/* True if b can take need more octets without passing its maximum. */
static bool
sasl_buf_room(const struct buf *b, size_t need)
{
	return b->len <= b->max && need <= b->max - b->len;
}

/* Drops everything after the first len octets (undoes appends). */
static void
sasl_buf_truncate(struct buf *b, size_t len)
{
	if (b->data != NULL && len <= b->len) {
		b->len = len;
		b->data[len] = '\0';
	}
}

/*
 * Appends the n spans to b, all or nothing. 0 or -1 (b unchanged).
 */
static int
sasl_buf_append_all(struct buf *b, const struct span *parts, size_t n)
{
	size_t i, need = 0, old = b->len;

	for (i = 0; i < n; i++) {
		if (parts[i].n > (size_t)-1 - need)
			return -1;
		need += parts[i].n;
	}
	if (!sasl_buf_room(b, need))
		return -1;
	for (i = 0; i < n; i++) {
		if (buf_append(b, parts[i].p, parts[i].n) < 0) {
			sasl_buf_truncate(b, old);
			return -1;
		}
	}
	return 0;
}

int
sasl_scram_format_server_first(struct buf *out, struct span cnonce,
    struct span snonce, const uint8_t *salt, size_t saltlen, unsigned iter)
{
	char salt64[(SASL_SCRAM_SALT_MAX + 2) / 3 * 4 + 1];
	char num[16];
	struct span parts[7];
	size_t slen;
	int k;

	if (!sasl_nonce_ok(cnonce) || cnonce.n > SASL_SCRAM_NONCE_MAX ||
	    !sasl_nonce_ok(snonce) || salt == NULL || saltlen == 0 ||
	    saltlen > SASL_SCRAM_SALT_MAX || iter == 0)
		return -1;
	slen = base64_encode(salt, saltlen, salt64);
	k = snprintf(num, sizeof(num), "%u", iter);
	if (k <= 0 || (size_t)k >= sizeof(num))
		return -1;
	parts[0] = span_make("r=", 2);
	parts[1] = cnonce;
	parts[2] = snonce;
	parts[3] = span_make(",s=", 3);
	parts[4] = span_make(salt64, slen);
	parts[5] = span_make(",i=", 3);
	parts[6] = span_make(num, (size_t)k);
	return sasl_buf_append_all(out, parts, 7);
}

int
sasl_scram_auth_message(struct buf *out, struct span bare,
    struct span server_first, struct span final_without_proof)
{
	struct span parts[5];

	parts[0] = bare;
	parts[1] = span_make(",", 1);
	parts[2] = server_first;
	parts[3] = span_make(",", 1);
	parts[4] = final_without_proof;
	return sasl_buf_append_all(out, parts, 5);
}

int
sasl_scram_format_server_final(
    struct buf *out, const uint8_t sig[SASL_SCRAM_SHA256_LEN])
{
	char sig64[(SASL_SCRAM_SHA256_LEN + 2) / 3 * 4 + 1];
	struct span parts[2];
	size_t len;

	len = base64_encode(sig, SASL_SCRAM_SHA256_LEN, sig64);
	parts[0] = span_make("v=", 2);
	parts[1] = span_make(sig64, len);
	return sasl_buf_append_all(out, parts, 2);
}

/* server-error-value names, indexed by enum sasl_scram_error. */
static const char *const sasl_scram_error_names[] = {
    [SASL_SCRAM_E_INVALID_ENCODING] = "invalid-encoding",
    [SASL_SCRAM_E_EXTENSIONS_NOT_SUPPORTED] = "extensions-not-supported",
    [SASL_SCRAM_E_INVALID_PROOF] = "invalid-proof",
    [SASL_SCRAM_E_CHANNEL_BINDINGS_DONT_MATCH] = "channel-bindings-dont-match",
    [SASL_SCRAM_E_SERVER_DOES_SUPPORT_CHANNEL_BINDING] =
	"server-does-support-channel-binding",
    [SASL_SCRAM_E_CHANNEL_BINDING_NOT_SUPPORTED] =
	"channel-binding-not-supported",
    [SASL_SCRAM_E_UNSUPPORTED_CHANNEL_BINDING_TYPE] =
	"unsupported-channel-binding-type",
    [SASL_SCRAM_E_UNKNOWN_USER] = "unknown-user",
    [SASL_SCRAM_E_INVALID_USERNAME_ENCODING] = "invalid-username-encoding",
    [SASL_SCRAM_E_NO_RESOURCES] = "no-resources",
    [SASL_SCRAM_E_OTHER_ERROR] = "other-error",
};

int
sasl_scram_format_server_error(struct buf *out, enum sasl_scram_error e)
{
	struct span parts[2];
	size_t i = (size_t)e;

	if (i >= sizeof(sasl_scram_error_names) /
		     sizeof(sasl_scram_error_names[0]) ||
	    sasl_scram_error_names[i] == NULL)
		return -1;
	parts[0] = span_make("e=", 2);
	parts[1] = span_cstr(sasl_scram_error_names[i]);
	return sasl_buf_append_all(out, parts, 2);
}
