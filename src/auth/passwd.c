/*
 * passwd: the accounts file parser (Dovecot passwd-file format) and the
 * account table. Password checks are in passwd_verify.c, the line editor
 * of `petrel user` in passwd_edit.c. See passwd.h for the format.
 *
 * Grammar (one account a line; blank lines and '#' comments ignored,
 * blanks around the line trimmed, CRLF accepted, no control bytes but TAB):
 *   line     = address [ ":" password [ ":" uid ":" gid ":" gecos ":"
 *              home ":" shell ":" extra ] ]      ; fewer fields are fine
 *   address  = local "@" domain     ; local: 1*64 (a-z 0-9 . _ + -), not
 *                                   ; starting with "." and without ".."
 *   password = "" / "!" password-value / password-value
 *   password-value = "{" scheme "}" data / crypt-string
 *   extra    = *( *WSP field )      ; everything after the 7th ':'
 *   field    = key [ "=" value ]    ; no blanks inside
 * Dovecot joins everything after the seventh ':' into the extra fields,
 * so a value there may contain ':'; we do the same.
 *
 * Crypt strings are checked for shape here (a truncated paste is an error
 * at load, not a login that can never succeed); crypt(3) and libargon2
 * check them again when verifying. Hashes and keys are wiped on free.
 */
#include "auth/passwd.h"
#include "auth/passwd_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "conf/conf.h"
#include "lib/numparse.h"
#include "lib/span.h"
#include "lib/xalloc.h"
#include "proto/localpart.h"


struct auth_accounts {
	struct auth_account *acc;
	size_t n, cap;
	size_t *slots; /* open addressing: index + 1, 0 = empty */
	size_t nslots; /* a power of two, or 0 */
};


static int auth_error(struct auth_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes "name:line: " and the message into x->err. Returns -1. */
static int
auth_error(struct auth_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->errsz == 0)
		return -1;
	if (x->name != NULL)
		n = snprintf(x->err, x->errsz, "%s:%u: ", x->name, x->line);
	else
		n = snprintf(x->err, x->errsz, "line %u: ", x->line);
	if (n < 0 || (size_t)n >= x->errsz)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(x->err + n, x->errsz - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Writes a message without a line into err. Returns -1. */
int
auth_error_plain(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errsz == 0)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Copies n bytes of s for an error message into out (64 bytes): at most
 * 60 bytes then "...", anything but printable ASCII as '?'. Never used on
 * password fields.
 */
static const char *
auth_clip(const char *s, size_t n, char out[64])
{
	size_t i;

	for (i = 0; i < n && i < 60; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (i < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

bool
auth_is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Trims blanks at both ends of *sp. */
struct span
auth_trim(struct span sp)
{
	while (sp.n > 0 && auth_is_blank(sp.p[0])) {
		sp.p++;
		sp.n--;
	}
	while (sp.n > 0 && auth_is_blank(sp.p[sp.n - 1]))
		sp.n--;
	return sp;
}

static void
auth_lower(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}

/* FNV-1a over a NUL-terminated string. */
static uint64_t
auth_hash_key(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * Reads the next line of text[0..len) at *pos into l. Returns false at
 * the end. A CR before the LF (or at the very end) is not part of the
 * line; the caller checks what is left for control bytes.
 */
bool
auth_next_line(const char *text, size_t len, size_t *pos, struct auth_line *l)
{
	const char *s, *nl;
	size_t n;

	if (*pos >= len)
		return false;
	s = text + *pos;
	nl = memchr(s, '\n', len - *pos);
	n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += n + (nl != NULL);
	l->raw = s;
	l->end_n = nl != NULL;
	if (n > 0 && s[n - 1] == '\r') {
		n--;
		l->end_n++;
	}
	l->raw_n = n;
	return true;
}

/*
 * Checks a line's length and bytes and trims it into l->s, l->n. 0, or
 * -1 with the error set.
 */
int
auth_line_check(struct auth_ctx *x, struct auth_line *l)
{
	struct span t;
	size_t i;

	if (l->raw_n > AUTH_LINE_MAX)
		return auth_error(
		    x, "line too long (more than %u bytes)", AUTH_LINE_MAX);
	for (i = 0; i < l->raw_n; i++) {
		unsigned char ch = (unsigned char)l->raw[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return auth_error(
			    x, "control character 0x%02x in line", ch);
	}
	t = auth_trim(span_make(l->raw, l->raw_n));
	l->s = t.p;
	l->n = t.n;
	return 0;
}

/* True if the trimmed line is blank or a comment. */
bool
auth_line_is_empty(const struct auth_line *l)
{
	return l->n == 0 || l->s[0] == '#';
}

/* Splits s[0..n) at its first seven colons. */
void
auth_fields_split(const char *s, size_t n, struct auth_fields *fs)
{
	size_t i;

	memset(fs, 0, sizeof(*fs));
	for (i = 0; i < 7; i++) {
		const char *colon = memchr(s, ':', n);
		if (colon == NULL)
			break;
		fs->f[i] = span_make(s, (size_t)(colon - s));
		n -= fs->f[i].n + 1;
		s = colon + 1;
	}
	fs->f[i] = span_make(s, n);
	fs->nf = i + 1;
}

/*
 * Checks that s (n bytes) is local@domain, the local part an account name
 * (account) or any dot-atom (!account), and writes it lower-case into key
 * (AUTH_ADDRESS_MAX + 1 bytes). 0, or -1 with *why_out set.
 */
int
auth_address_norm(
    const char *s, size_t n, bool account, char *key, const char **why_out)
{
	const char *at = n > 0 ? memrchr(s, '@', n) : NULL;
	size_t ln;

	*why_out = NULL;
	key[0] = '\0';
	if (at == NULL) {
		*why_out = "is not user@domain";
		return -1;
	}
	ln = (size_t)(at - s);
	if (account ? !localpart_is_account(s, ln)
		    : !localpart_is_dot_atom(s, ln)) {
		*why_out = account ? "has an invalid user name (allowed: a-z "
				     "0-9 . _ + -)"
				   : "has an invalid local part";
		return -1;
	}
	if (!conf_domain_is_valid(at + 1, n - ln - 1)) {
		*why_out = "has an invalid domain";
		return -1;
	}
	memcpy(key, s, n);
	key[n] = '\0';
	auth_lower(key, n);
	return 0;
}

/* Normalises a NUL-terminated lookup address into key; false if none. */
static bool
auth_lookup_key(const char *address, char key[AUTH_ADDRESS_MAX + 1])
{
	size_t n = strnlen(address, AUTH_ADDRESS_MAX + 1);

	if (n > AUTH_ADDRESS_MAX || n == 0)
		return false;
	memcpy(key, address, n);
	key[n] = '\0';
	auth_lower(key, n);
	return true;
}

static size_t
auth_map_find(const struct auth_accounts *aa, const char *key)
{
	size_t i;

	if (aa->nslots == 0)
		return AUTH_NONE;
	for (i = auth_hash_key(key) & (aa->nslots - 1); aa->slots[i] != 0;
	     i = (i + 1) & (aa->nslots - 1))
		if (strcmp(aa->acc[aa->slots[i] - 1].address, key) == 0)
			return aa->slots[i] - 1;
	return AUTH_NONE;
}

/* Inserts account idx (its key not present yet). */
static void
auth_map_insert(struct auth_accounts *aa, size_t idx)
{
	size_t i, j;

	if ((aa->n + 1) * 2 > aa->nslots) {
		size_t ncap = aa->nslots ? aa->nslots * 2 : 64;
		size_t *slots = xcalloc(ncap, sizeof(*slots));
		for (j = 0; j < aa->nslots; j++) {
			size_t e = aa->slots[j];
			if (e == 0)
				continue;
			for (i = auth_hash_key(aa->acc[e - 1].address) &
				 (ncap - 1);
			     slots[i] != 0; i = (i + 1) & (ncap - 1))
				;
			slots[i] = e;
		}
		free(aa->slots);
		aa->slots = slots;
		aa->nslots = ncap;
	}
	for (i = auth_hash_key(aa->acc[idx].address) & (aa->nslots - 1);
	     aa->slots[i] != 0; i = (i + 1) & (aa->nslots - 1))
		;
	aa->slots[i] = idx + 1;
}

/* True if ch is in crypt(3)'s base64 alphabet ./0-9A-Za-z. */
static bool
auth_is_crypt64(char ch)
{
	return ch == '.' || ch == '/' || (ch >= '0' && ch <= '9') ||
	       (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

/* True if s is min..max bytes, all of them crypt64. */
static bool
auth_crypt64_span(struct span s, size_t min, size_t max)
{
	size_t i;

	if (s.n < min || s.n > max)
		return false;
	for (i = 0; i < s.n; i++)
		if (!auth_is_crypt64(s.p[i]))
			return false;
	return true;
}

/* True if s is min..max bytes of unpadded RFC 4648 base64. */
static bool
auth_b64_nopad_span(struct span s, size_t min, size_t max)
{
	size_t i;

	if (s.n < min || s.n > max || s.n % 4 == 1)
		return false;
	for (i = 0; i < s.n; i++) {
		char ch = s.p[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
			(ch >= '0' && ch <= '9') || ch == '+' || ch == '/'))
			return false;
	}
	return true;
}

/*
 * Splits s at '$' into at most max parts. Returns the number of parts,
 * or max + 1 when there are more.
 */
static size_t
auth_split_dollar(struct span s, struct span *parts, size_t max)
{
	size_t k = 0;

	for (;;) {
		const char *d = memchr(s.p, '$', s.n);
		if (k == max)
			return max + 1;
		if (d == NULL) {
			parts[k++] = s;
			return k;
		}
		parts[k++] = span_make(s.p, (size_t)(d - s.p));
		s = span_skip(s, (size_t)(d - s.p) + 1);
	}
}

/*
 * yescrypt: "$y$" params "$" salt "$" hash, all crypt64, the hash 43
 * characters (256 bits).
 */
static bool
auth_yescrypt_is_valid(struct span s)
{
	struct span p[3];

	return auth_split_dollar(span_skip(s, 3), p, 3) == 3 &&
	       auth_crypt64_span(p[0], 1, 32) &&
	       auth_crypt64_span(p[1], 1, 86) &&
	       auth_crypt64_span(p[2], 43, 43);
}

/* bcrypt: "$2a$" / "$2b$" / "$2y$", cost 04..31, "$", 53 crypt64. */
static bool
auth_bcrypt_is_valid(struct span s)
{
	uint64_t cost;

	return s.n == 60 && s.p[6] == '$' &&
	       numparse_u64(span_make(s.p + 4, 2), 4, 31, &cost) == 0 &&
	       auth_crypt64_span(span_make(s.p + 7, 53), 53, 53);
}

/*
 * SHA-crypt: "$5$" / "$6$", optional "rounds=" 1000..999999999 "$",
 * salt of 1..16 crypt64, "$", hash of hashlen crypt64.
 */
static bool
auth_shacrypt_is_valid(struct span s, size_t hashlen)
{
	struct span p[3];
	size_t k = auth_split_dollar(span_skip(s, 3), p, 3), i = 0;
	uint64_t rounds;

	if (k == 3) {
		if (p[0].n < 7 || memcmp(p[0].p, "rounds=", 7) != 0 ||
		    numparse_u64(
			span_skip(p[0], 7), 1000, 999999999, &rounds) != 0)
			return false;
		i = 1;
	} else if (k != 2) {
		return false;
	}
	return auth_crypt64_span(p[i], 1, 16) &&
	       auth_crypt64_span(p[i + 1], hashlen, hashlen);
}

/*
 * Parses "m=M,t=T,p=P" (libargon2's order) within the bounds. True if
 * valid.
 */
static bool
auth_argon2_params_are_valid(struct span s)
{
	static const char *const keys[3] = {"m=", "t=", "p="};
	static const uint64_t min[3] = {8, 1, 1};
	static const uint64_t max[3] = {
	    AUTH_ARGON2_M_MAX, AUTH_ARGON2_T_MAX, AUTH_ARGON2_P_MAX};
	uint64_t v[3];
	size_t i;

	for (i = 0; i < 3; i++) {
		const char *comma = memchr(s.p, ',', s.n);
		struct span f = span_make(
		    s.p, comma && i < 2 ? (size_t)(comma - s.p) : s.n);

		if ((i < 2) != (comma != NULL) || f.n < 2 ||
		    memcmp(f.p, keys[i], 2) != 0 ||
		    numparse_u64(span_skip(f, 2), min[i], max[i], &v[i]) != 0)
			return false;
		if (i < 2)
			s = span_skip(s, f.n + 1);
	}
	return v[0] >= 8 * v[2];
}

/*
 * argon2: "$argon2id$" or "$argon2i$" (prefix plen bytes), then
 * ["v=16" / "v=19" "$"] "m=M,t=T,p=P" "$" salt "$" hash, salt and hash
 * unpadded base64 (salt 8..64 bytes, hash 4..256 bytes).
 */
static bool
auth_argon2_is_valid(struct span s, size_t plen)
{
	struct span p[4];
	size_t k = auth_split_dollar(span_skip(s, plen), p, 4), i = 0;

	if (k == 4) {
		if (!(p[0].n == 4 && (memcmp(p[0].p, "v=16", 4) == 0 ||
					 memcmp(p[0].p, "v=19", 4) == 0)))
			return false;
		i = 1;
	} else if (k != 3) {
		return false;
	}
	return auth_argon2_params_are_valid(p[i]) &&
	       auth_b64_nopad_span(p[i + 1], 11, 86) &&
	       auth_b64_nopad_span(p[i + 2], 6, 342);
}

/*
 * Classifies a bare crypt string. Returns its scheme, or AUTH_SCHEME_NONE
 * with *why_out set.
 */
static enum auth_scheme
auth_crypt_classify(struct span s, const char **why_out)
{
	*why_out = NULL;
	if (s.n >= 3 && memcmp(s.p, "$y$", 3) == 0) {
		if (auth_yescrypt_is_valid(s))
			return AUTH_SCHEME_YESCRYPT;
		*why_out = "malformed yescrypt hash";
	} else if (s.n >= 4 && memcmp(s.p, "$2", 2) == 0 && s.p[3] == '$' &&
		   (s.p[2] == 'a' || s.p[2] == 'b' || s.p[2] == 'y')) {
		if (auth_bcrypt_is_valid(s))
			return AUTH_SCHEME_BCRYPT;
		*why_out = "malformed bcrypt hash";
	} else if (s.n >= 3 && memcmp(s.p, "$6$", 3) == 0) {
		if (auth_shacrypt_is_valid(s, 86))
			return AUTH_SCHEME_SHA512_CRYPT;
		*why_out = "malformed SHA512-CRYPT hash";
	} else if (s.n >= 3 && memcmp(s.p, "$5$", 3) == 0) {
		if (auth_shacrypt_is_valid(s, 43))
			return AUTH_SCHEME_SHA256_CRYPT;
		*why_out = "malformed SHA256-CRYPT hash";
	} else if (s.n >= 10 && memcmp(s.p, "$argon2id$", 10) == 0) {
		if (auth_argon2_is_valid(s, 10))
			return AUTH_SCHEME_ARGON2ID;
		*why_out = "malformed or too costly argon2id hash";
	} else if (s.n >= 9 && memcmp(s.p, "$argon2i$", 9) == 0) {
		if (auth_argon2_is_valid(s, 9))
			return AUTH_SCHEME_ARGON2I;
		*why_out = "malformed or too costly argon2i hash";
	} else {
		*why_out = "unsupported crypt hash (supported: $y$ $2b$ $2y$ "
			   "$2a$ $6$ $5$ $argon2id$ $argon2i$)";
	}
	return AUTH_SCHEME_NONE;
}

/* The {SCHEME} names we accept and what their data must be. */
static const struct {
	const char *name;
	enum auth_scheme want; /* NONE: any crypt(3) scheme (CRYPT) */
} auth_schemes[] = {
    {"CRYPT", AUTH_SCHEME_NONE},
    {"BLF-CRYPT", AUTH_SCHEME_BCRYPT},
    {"SHA512-CRYPT", AUTH_SCHEME_SHA512_CRYPT},
    {"SHA256-CRYPT", AUTH_SCHEME_SHA256_CRYPT},
    {"ARGON2ID", AUTH_SCHEME_ARGON2ID},
    {"ARGON2I", AUTH_SCHEME_ARGON2I},
    {"SCRAM-SHA-256", AUTH_SCHEME_SCRAM_SHA256},
};

/*
 * Parses a password value (no leading '!'): sets a->kind, a->scheme,
 * a->hash or a->scram. 0, or -1 with the error set. Error messages never
 * quote the value itself.
 */
static int
auth_password_value(struct auth_ctx *x, struct span v, struct auth_account *a)
{
	enum auth_scheme sch, want;
	const char *why;
	char clip[64];
	size_t i;

	if (v.n > 0 && v.p[0] == '{') {
		const char *close = memchr(v.p, '}', v.n);
		struct span name;

		if (close == NULL)
			return auth_error(x, "password: '{' without '}'");
		name = span_make(v.p + 1, (size_t)(close - v.p - 1));
		for (i = 0; i < sizeof(auth_schemes) / sizeof(auth_schemes[0]);
		     i++)
			if (span_eq_ci(name, auth_schemes[i].name))
				break;
		if (i == sizeof(auth_schemes) / sizeof(auth_schemes[0]))
			return auth_error(x,
			    "password: unsupported scheme {%s} (supported: "
			    "CRYPT BLF-CRYPT SHA512-CRYPT SHA256-CRYPT "
			    "ARGON2ID ARGON2I SCRAM-SHA-256)",
			    auth_clip(name.p, name.n, clip));
		want = auth_schemes[i].want;
		v = span_skip(v, name.n + 2);
		if (want == AUTH_SCHEME_SCRAM_SHA256) {
			if (auth_scram_keys_parse(v.p, v.n, &a->scram, &why) !=
			    0)
				return auth_error(x,
				    "password: malformed "
				    "{SCRAM-SHA-256} value: %s",
				    why);
			a->has_scram = true;
			a->kind = AUTH_PW_SCRAM;
			a->scheme = AUTH_SCHEME_SCRAM_SHA256;
			return 0;
		}
		if (v.n == 0 || v.p[0] != '$')
			return auth_error(x,
			    "password: {%s} wants a $id$ "
			    "crypt string",
			    auth_schemes[i].name);
		sch = auth_crypt_classify(v, &why);
		if (sch == AUTH_SCHEME_NONE)
			return auth_error(x, "password: %s", why);
		if (want == AUTH_SCHEME_NONE ? (sch == AUTH_SCHEME_ARGON2ID ||
						   sch == AUTH_SCHEME_ARGON2I)
					     : sch != want)
			return auth_error(x, "password: a %s hash under {%s}",
			    auth_scheme_name(sch), auth_schemes[i].name);
	} else if (v.n > 0 && v.p[0] == '$') {
		sch = auth_crypt_classify(v, &why);
		if (sch == AUTH_SCHEME_NONE)
			return auth_error(x, "password: %s", why);
	} else {
		return auth_error(x, "password: neither {SCHEME}data nor a "
				     "$id$ crypt string (plaintext passwords "
				     "are not accepted)");
	}
	a->scheme = sch;
	a->kind = sch == AUTH_SCHEME_ARGON2ID || sch == AUTH_SCHEME_ARGON2I
		      ? AUTH_PW_ARGON2
		      : AUTH_PW_CRYPT;
	a->hash = xstrndup(v.p, v.n);
	return 0;
}

/* Parses the PASSWORD field (trimmed) into a. 0 or -1. */
static int
auth_password_field(struct auth_ctx *x, struct span v, struct auth_account *a)
{
	size_t i;

	if (v.n > AUTH_HASH_MAX)
		return auth_error(
		    x, "password field longer than %u bytes", AUTH_HASH_MAX);
	for (i = 0; i < v.n; i++)
		if (auth_is_blank(v.p[i]))
			return auth_error(x, "blank inside the password field");
	if (v.n == 0) {
		a->kind = AUTH_PW_NONE;
		return 0;
	}
	if (v.p[0] != '!')
		return auth_password_value(x, v, a);
	v = span_skip(v, 1);
	if (v.n > 0) {
		if (v.p[0] == '!')
			return auth_error(x, "password: more than one '!'");
		if (auth_password_value(x, v, a) != 0)
			return -1;
	}
	a->kind = AUTH_PW_DISABLED;
	return 0;
}

/* Parses the value of addresses= into a. 0 or -1. */
static int
auth_addresses_field(struct auth_ctx *x, struct span v, struct auth_account *a)
{
	char key[AUTH_ADDRESS_MAX + 1], clip[64];
	const char *why;
	size_t i;

	if (a->addresses != NULL)
		return auth_error(x, "addresses= given twice");
	a->addresses = xcalloc(AUTH_ADDRESSES_MAX, sizeof(*a->addresses));
	for (;;) {
		const char *comma = memchr(v.p, ',', v.n);
		struct span e =
		    span_make(v.p, comma ? (size_t)(comma - v.p) : v.n);

		if (e.n == 0)
			return auth_error(x, "addresses=: empty address");
		if (e.n > AUTH_ADDRESS_MAX ||
		    auth_address_norm(e.p, e.n, false, key, &why) != 0)
			return auth_error(x, "addresses=: '%s' %s",
			    auth_clip(e.p, e.n, clip),
			    e.n > AUTH_ADDRESS_MAX ? "is too long" : why);
		for (i = 0; i < a->naddresses; i++)
			if (strcmp(a->addresses[i], key) == 0)
				return auth_error(
				    x, "addresses=: '%s' given twice", key);
		if (a->naddresses == AUTH_ADDRESSES_MAX)
			return auth_error(x,
			    "addresses=: more than %u "
			    "addresses",
			    AUTH_ADDRESSES_MAX);
		a->addresses[a->naddresses++] = xstrdup(key);
		if (comma == NULL)
			return 0;
		v = span_skip(v, e.n + 1);
	}
}

/*
 * Parses the extra fields: scram-sha-256= and addresses=; the rest is
 * skipped. 0 or -1.
 */
static int
auth_extra_field(struct auth_ctx *x, struct span v, struct auth_account *a)
{
	bool scram_seen = false;
	const char *why;

	while (v.n > 0) {
		struct span tok;
		size_t k = 0;

		while (k < v.n && auth_is_blank(v.p[k]))
			k++;
		v = span_skip(v, k);
		for (k = 0; k < v.n && !auth_is_blank(v.p[k]); k++)
			;
		tok = span_make(v.p, k);
		v = span_skip(v, k);
		if (tok.n >= 14 && memcmp(tok.p, "scram-sha-256=", 14) == 0) {
			if (scram_seen || a->kind == AUTH_PW_SCRAM)
				return auth_error(x,
				    "scram-sha-256= given "
				    "twice (or with a "
				    "{SCRAM-SHA-256} password)");
			scram_seen = true;
			if (auth_scram_keys_parse(
				tok.p + 14, tok.n - 14, &a->scram, &why) != 0)
				return auth_error(x,
				    "malformed scram-sha-256= value: %s", why);
			a->has_scram = true;
		} else if (tok.n >= 10 &&
			   memcmp(tok.p, "addresses=", 10) == 0) {
			if (auth_addresses_field(x, span_skip(tok, 10), a) != 0)
				return -1;
		}
	}
	return 0;
}

/* Frees what one account owns, wiping the secrets. */
static void
auth_account_clear(struct auth_account *a)
{
	size_t i;

	free(a->address);
	if (a->hash != NULL) {
		OPENSSL_cleanse(a->hash, strlen(a->hash));
		free(a->hash);
	}
	OPENSSL_cleanse(&a->scram, sizeof(a->scram));
	for (i = 0; i < a->naddresses; i++)
		free(a->addresses[i]);
	free(a->addresses);
	memset(a, 0, sizeof(*a));
}

/*
 * The account key (lower-case address) of a trimmed line, from its first
 * field. 0, or -1 with *why_out set (and the address span in *addr).
 */
int
auth_line_key(const struct auth_fields *fs, char *key, struct span *addr,
    const char **why_out)
{
	*addr = auth_trim(fs->f[0]);
	if (addr->n > AUTH_ADDRESS_MAX) {
		*why_out = "is too long";
		key[0] = '\0';
		return -1;
	}
	return auth_address_norm(addr->p, addr->n, true, key, why_out);
}

/* One account line. 0 or -1. */
static int
auth_parse_line(
    struct auth_ctx *x, struct auth_accounts *aa, const struct auth_line *l)
{
	char key[AUTH_ADDRESS_MAX + 1], clip[64];
	struct auth_fields fs;
	struct auth_account a;
	struct span addr;
	const char *why;
	size_t idx;

	memset(&a, 0, sizeof(a));
	auth_fields_split(l->s, l->n, &fs);
	if (auth_line_key(&fs, key, &addr, &why) != 0)
		return auth_error(
		    x, "'%s' %s", auth_clip(addr.p, addr.n, clip), why);
	idx = auth_map_find(aa, key);
	if (idx != AUTH_NONE)
		return auth_error(x,
		    "duplicate account '%s' (first on line "
		    "%u)",
		    key, aa->acc[idx].line);
	if (fs.nf >= 2 && auth_password_field(x, auth_trim(fs.f[1]), &a) != 0)
		goto fail;
	if (fs.nf == 8 && auth_extra_field(x, fs.f[7], &a) != 0)
		goto fail;
	if (!auth_account_can_login(&a)) {
		/* Keys of an account that cannot log in are never used. */
		a.has_scram = false;
		OPENSSL_cleanse(&a.scram, sizeof(a.scram));
		if (a.hash != NULL) {
			OPENSSL_cleanse(a.hash, strlen(a.hash));
			free(a.hash);
			a.hash = NULL;
		}
	}
	a.address = xstrdup(key);
	a.line = x->line;
	if (aa->n == aa->cap) {
		aa->cap = aa->cap ? aa->cap * 2 : 16;
		aa->acc = xreallocarray(aa->acc, aa->cap, sizeof(*aa->acc));
	}
	aa->acc[aa->n] = a;
	auth_map_insert(aa, aa->n);
	aa->n++;
	return 0;
fail:
	auth_account_clear(&a);
	return -1;
}

int
auth_accounts_parse(const char *name, const char *text, size_t len,
    struct auth_accounts **out, char *err, size_t errsz)
{
	struct auth_accounts *aa;
	struct auth_ctx x;
	struct auth_line l;
	size_t pos = 0;

	*out = NULL;
	if (errsz > 0)
		err[0] = '\0';
	x.name = name;
	x.line = 0;
	x.err = err;
	x.errsz = errsz;
	aa = xcalloc(1, sizeof(*aa));
	while (auth_next_line(text, len, &pos, &l)) {
		x.line++;
		if (auth_line_check(&x, &l) != 0)
			goto fail;
		if (auth_line_is_empty(&l))
			continue;
		if (auth_parse_line(&x, aa, &l) != 0)
			goto fail;
	}
	*out = aa;
	return 0;
fail:
	auth_accounts_free(aa);
	return -1;
}

void
auth_accounts_free(struct auth_accounts *aa)
{
	size_t i;

	if (aa == NULL)
		return;
	for (i = 0; i < aa->n; i++)
		auth_account_clear(&aa->acc[i]);
	free(aa->acc);
	free(aa->slots);
	free(aa);
}

const struct auth_account *
auth_accounts_find(const struct auth_accounts *aa, const char *address)
{
	char key[AUTH_ADDRESS_MAX + 1];
	size_t idx;

	if (!auth_lookup_key(address, key))
		return NULL;
	idx = auth_map_find(aa, key);
	return idx == AUTH_NONE ? NULL : &aa->acc[idx];
}

size_t
auth_accounts_count(const struct auth_accounts *aa)
{
	return aa->n;
}

const struct auth_account *
auth_accounts_get(const struct auth_accounts *aa, size_t i)
{
	return i < aa->n ? &aa->acc[i] : NULL;
}

bool
auth_account_can_login(const struct auth_account *a)
{
	return a->kind == AUTH_PW_CRYPT || a->kind == AUTH_PW_ARGON2 ||
	       a->kind == AUTH_PW_SCRAM;
}

bool
auth_account_may_send_as(const struct auth_account *a, const char *address)
{
	char key[AUTH_ADDRESS_MAX + 1];
	size_t i;

	if (!auth_lookup_key(address, key))
		return false;
	if (strcmp(a->address, key) == 0)
		return true;
	for (i = 0; i < a->naddresses; i++)
		if (strcmp(a->addresses[i], key) == 0)
			return true;
	return false;
}

bool
auth_address_is_valid(const char *s, bool account)
{
	char key[AUTH_ADDRESS_MAX + 1];
	size_t n = strnlen(s, AUTH_ADDRESS_MAX + 1);
	const char *why;

	return n <= AUTH_ADDRESS_MAX &&
	       auth_address_norm(s, n, account, key, &why) == 0;
}

const char *
auth_scheme_name(enum auth_scheme s)
{
	switch (s) {
	case AUTH_SCHEME_NONE:
		return "none";
	case AUTH_SCHEME_YESCRYPT:
		return "yescrypt";
	case AUTH_SCHEME_BCRYPT:
		return "bcrypt";
	case AUTH_SCHEME_SHA512_CRYPT:
		return "sha512-crypt";
	case AUTH_SCHEME_SHA256_CRYPT:
		return "sha256-crypt";
	case AUTH_SCHEME_ARGON2ID:
		return "argon2id";
	case AUTH_SCHEME_ARGON2I:
		return "argon2i";
	case AUTH_SCHEME_SCRAM_SHA256:
		return "scram-sha-256";
	}
	return "?";
}
