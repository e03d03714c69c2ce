/*
 * mta_sts: the RFC 8461 TXT record and policy parsers, MX matching and
 * policy lines (see mta_sts.h for the grammar and the promises).
 */
#include "proto/mta_sts.h"

#include <stdio.h>
#include <string.h>

#include "lib/numparse.h"
#include "lib/utf8.h"

static bool
mta_sts_is_alpha(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool
mta_sts_is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool
mta_sts_is_wsp(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

static char
mta_sts_lower(unsigned char ch)
{
	return (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
}

static unsigned char
mta_sts_at(struct span s, size_t i)
{
	return (unsigned char)s.p[i];
}

/*
 * sts-ext-name / sts-policy-ext-name = (ALPHA / DIGIT)
 *     *31(ALPHA / DIGIT / "_" / "-" / ".")
 */
static bool
mta_sts_is_ext_name(struct span s)
{
	size_t i;

	if (s.n < 1 || s.n > 32)
		return false;
	if (!mta_sts_is_alpha(mta_sts_at(s, 0)) &&
	    !mta_sts_is_digit(mta_sts_at(s, 0)))
		return false;
	for (i = 1; i < s.n; i++) {
		unsigned char ch = mta_sts_at(s, i);

		if (!mta_sts_is_alpha(ch) && !mta_sts_is_digit(ch) &&
		    ch != '_' && ch != '-' && ch != '.')
			return false;
	}
	return true;
}

/*
 * RFC 5321 4.1.2:
 *   Domain    = sub-domain *("." sub-domain)
 *   sub-domain = Let-dig [Ldh-str]
 *   Ldh-str   = *( ALPHA / DIGIT / "-" ) Let-dig
 * with the RFC 1035 limits: labels of at most 63 octets, at most 253 in
 * all (text form, no trailing dot).
 */
static bool
mta_sts_is_domain(struct span s)
{
	size_t i, label = 0;

	if (s.n < 1 || s.n > 253)
		return false;
	for (i = 0; i < s.n; i++) {
		unsigned char ch = mta_sts_at(s, i);

		if (ch == '.') {
			if (label == 0 || mta_sts_at(s, i - 1) == '-')
				return false;
			label = 0;
			continue;
		}
		if (mta_sts_is_alpha(ch) || mta_sts_is_digit(ch))
			;
		else if (ch == '-') {
			if (label == 0)
				return false;
		} else {
			return false;
		}
		if (++label > 63)
			return false;
	}
	return label > 0 && mta_sts_at(s, s.n - 1) != '-';
}

/* ---- TXT record (RFC 8461 3.1) ------------------------------------- */

bool
mta_sts_txt_is_sts(struct span txt)
{
	static const char v[] = "v=STSv1";
	size_t n = sizeof(v) - 1;

	if (txt.n < n || memcmp(txt.p, v, n) != 0)
		return false;
	return txt.n == n || txt.p[n] == ';' ||
	       mta_sts_is_wsp(mta_sts_at(txt, n));
}

/* Skips *WSP from *i. */
static void
mta_sts_skip_wsp(struct span s, size_t *i)
{
	while (*i < s.n && mta_sts_is_wsp(mta_sts_at(s, *i)))
		(*i)++;
}

/*
 * sts-field-delim = *WSP ";" *WSP. Returns true and moves *i past it, or
 * false and leaves *i alone.
 */
static bool
mta_sts_txt_delim(struct span s, size_t *i)
{
	size_t j = *i;

	mta_sts_skip_wsp(s, &j);
	if (j >= s.n || s.p[j] != ';')
		return false;
	j++;
	mta_sts_skip_wsp(s, &j);
	*i = j;
	return true;
}

/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E) */
static bool
mta_sts_is_ext_value_char(unsigned char ch)
{
	return ch >= 0x21 && ch <= 0x7e && ch != ';' && ch != '=';
}

int
mta_sts_txt_parse(struct span txt, struct mta_sts_txt *out)
{
	static const char v[] = "v=STSv1";
	size_t i = sizeof(v) - 1, nfields = 0;
	bool have_id = false;

	memset(out, 0, sizeof(*out));
	if (txt.n < i || memcmp(txt.p, v, i) != 0)
		return -1;
	while (i < txt.n) {
		size_t name, eq, val;

		/* 1*(sts-field-delim sts-field) [sts-field-delim] */
		if (!mta_sts_txt_delim(txt, &i))
			goto bad;
		if (i == txt.n)
			break; /* the optional trailing delimiter */
		name = i;
		while (i < txt.n && txt.p[i] != '=' && txt.p[i] != ';' &&
		       !mta_sts_is_wsp(mta_sts_at(txt, i)))
			i++;
		if (i >= txt.n || txt.p[i] != '=')
			goto bad;
		eq = i++;
		val = i;
		while (
		    i < txt.n && mta_sts_is_ext_value_char(mta_sts_at(txt, i)))
			i++;
		if (i == val)
			goto bad;
		nfields++;
		if (eq - name == 2 && memcmp(txt.p + name, "id", 2) == 0) {
			/* sts-id = %s"id=" 1*32(ALPHA / DIGIT) */
			size_t k;

			if (have_id || i - val > MTA_STS_ID_MAX)
				goto bad;
			for (k = val; k < i; k++)
				if (!mta_sts_is_alpha(mta_sts_at(txt, k)) &&
				    !mta_sts_is_digit(mta_sts_at(txt, k)))
					goto bad;
			memcpy(out->id, txt.p + val, i - val);
			out->id[i - val] = '\0';
			have_id = true;
		} else if (!mta_sts_is_ext_name(
			       span_make(txt.p + name, eq - name))) {
			goto bad;
		}
	}
	if (nfields == 0 || !have_id)
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}

/* ---- policy (RFC 8461 3.2) ----------------------------------------- */

static void
mta_sts_err(char *err, size_t errsz, const char *msg, size_t line)
{
	if (err == NULL || errsz == 0)
		return;
	if (line > 0)
		(void)snprintf(err, errsz, "line %zu: %s", line, msg);
	else
		(void)snprintf(err, errsz, "%s", msg);
}

/*
 * sts-policy-ext-value = sts-policy-vchar [*(%x20 / sts-policy-vchar)
 * sts-policy-vchar]: visible ASCII or UTF-8, inner spaces only (trailing
 * WSP was already cut by the caller).
 */
static bool
mta_sts_is_ext_value(struct span s)
{
	size_t i = 0;

	if (s.n == 0)
		return false;
	while (i < s.n) {
		unsigned char ch = mta_sts_at(s, i);
		size_t k;

		if (ch >= 0x21 && ch <= 0x7e) {
			i++;
		} else if (ch == ' ') {
			if (i == 0)
				return false;
			i++;
		} else if ((k = utf8_seq_len(
				(const unsigned char *)s.p + i, s.n - i)) > 0) {
			i += k;
		} else {
			return false;
		}
	}
	return true;
}

static bool
mta_sts_is_mx_value(struct span v)
{
	if (v.n >= 2 && v.p[0] == '*' && v.p[1] == '.')
		v = span_skip(v, 2);
	return mta_sts_is_domain(v);
}

int
mta_sts_policy_parse(
    struct span body, struct mta_sts_policy *out, char *err, size_t errsz)
{
	bool have_version = false, have_mode = false, have_age = false;
	size_t i = 0, line = 0;

	memset(out, 0, sizeof(*out));
	if (err != NULL && errsz > 0)
		err[0] = '\0';
	if (body.n > MTA_STS_POLICY_MAX) {
		mta_sts_err(err, errsz, "policy too large", 0);
		goto bad;
	}
	if (body.n == 0) {
		mta_sts_err(err, errsz, "empty policy", 0);
		goto bad;
	}
	while (i < body.n) {
		size_t start = i, end, colon;
		struct span key, val;

		line++;
		/* sts-policy-term = LF / CRLF; a bare CR is no line end */
		while (i < body.n && body.p[i] != '\n')
			i++;
		end = i;
		if (i < body.n)
			i++; /* the LF */
		if (end > start && body.p[end - 1] == '\r')
			end--;
		if (memchr(body.p + start, '\0', end - start) != NULL ||
		    memchr(body.p + start, '\r', end - start) != NULL) {
			mta_sts_err(err, errsz, "control character", line);
			goto bad;
		}
		/* trailing *WSP */
		while (end > start && mta_sts_is_wsp(mta_sts_at(body, end - 1)))
			end--;
		if (end == start)
			continue; /* empty line: skipped (see mta_sts.h) */
		colon = start;
		while (colon < end && body.p[colon] != ':')
			colon++;
		if (colon == end) {
			mta_sts_err(err, errsz, "no ':' after the key", line);
			goto bad;
		}
		key = span_make(body.p + start, colon - start);
		{
			/* sts-policy-field-delim = ":" *WSP */
			size_t v = colon + 1;

			while (v < end && mta_sts_is_wsp(mta_sts_at(body, v)))
				v++;
			val = span_make(body.p + v, end - v);
		}
		if (key.n == 7 && memcmp(key.p, "version", 7) == 0) {
			if (have_version) {
				mta_sts_err(
				    err, errsz, "duplicate version", line);
				goto bad;
			}
			if (val.n != 5 || memcmp(val.p, "STSv1", 5) != 0) {
				mta_sts_err(
				    err, errsz, "version is not STSv1", line);
				goto bad;
			}
			have_version = true;
		} else if (key.n == 4 && memcmp(key.p, "mode", 4) == 0) {
			if (have_mode) {
				mta_sts_err(err, errsz, "duplicate mode", line);
				goto bad;
			}
			if (val.n == 7 && memcmp(val.p, "testing", 7) == 0)
				out->mode = MTA_STS_TESTING;
			else if (val.n == 7 && memcmp(val.p, "enforce", 7) == 0)
				out->mode = MTA_STS_ENFORCE;
			else if (val.n == 4 && memcmp(val.p, "none", 4) == 0)
				out->mode = MTA_STS_NONE;
			else {
				mta_sts_err(err, errsz,
				    "mode is not enforce, testing or none",
				    line);
				goto bad;
			}
			have_mode = true;
		} else if (key.n == 7 && memcmp(key.p, "max_age", 7) == 0) {
			uint64_t age;

			if (have_age) {
				mta_sts_err(
				    err, errsz, "duplicate max_age", line);
				goto bad;
			}
			/* 1*10(DIGIT): numparse alone would take 20 */
			if (val.n < 1 || val.n > 10 ||
			    numparse_u64(val, 0, 9999999999ULL, &age) != 0) {
				mta_sts_err(err, errsz,
				    "max_age is not 1 to 10 digits", line);
				goto bad;
			}
			out->max_age = (uint32_t)(age > MTA_STS_MAX_AGE_MAX
						      ? MTA_STS_MAX_AGE_MAX
						      : age);
			have_age = true;
		} else if (key.n == 2 && memcmp(key.p, "mx", 2) == 0) {
			size_t k;

			if (val.n >= MTA_STS_MX_LEN ||
			    !mta_sts_is_mx_value(val)) {
				mta_sts_err(err, errsz,
				    "mx is not a domain or *.domain", line);
				goto bad;
			}
			if (out->nmx == MTA_STS_MX_MAX) {
				mta_sts_err(
				    err, errsz, "too many mx lines", line);
				goto bad;
			}
			for (k = 0; k < val.n; k++)
				out->mx[out->nmx][k] =
				    mta_sts_lower(mta_sts_at(val, k));
			out->mx[out->nmx][val.n] = '\0';
			out->nmx++;
		} else if (!mta_sts_is_ext_name(key) ||
			   !mta_sts_is_ext_value(val)) {
			mta_sts_err(err, errsz, "malformed field", line);
			goto bad;
		}
	}
	if (!have_version) {
		mta_sts_err(err, errsz, "no version field", 0);
		goto bad;
	}
	if (!have_mode) {
		mta_sts_err(err, errsz, "no mode field", 0);
		goto bad;
	}
	if (!have_age) {
		mta_sts_err(err, errsz, "no max_age field", 0);
		goto bad;
	}
	if (out->nmx == 0 && out->mode != MTA_STS_NONE) {
		mta_sts_err(err, errsz, "no mx field", 0);
		goto bad;
	}
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}

/* ---- MX matching (RFC 8461 4.1) ------------------------------------ */

/* host (hn octets) equals pattern (already lower-case), ignoring case. */
static bool
mta_sts_name_eq(const char *host, size_t hn, const char *pattern)
{
	size_t i;

	if (strlen(pattern) != hn)
		return false;
	for (i = 0; i < hn; i++)
		if (mta_sts_lower((unsigned char)host[i]) != pattern[i])
			return false;
	return true;
}

bool
mta_sts_mx_match(const struct mta_sts_policy *p, const char *host)
{
	size_t hn = strlen(host), i;
	const char *dot;

	if (hn > 0 && host[hn - 1] == '.')
		hn--;
	if (hn == 0)
		return false;
	dot = memchr(host, '.', hn);
	for (i = 0; i < p->nmx && i < MTA_STS_MX_MAX; i++) {
		const char *pat = p->mx[i];

		if (pat[0] == '*' && pat[1] == '.') {
			/*
			 * "the wildcard character '*' ... matches only the
			 * left-most label": one non-empty label, then the
			 * rest must equal the pattern after "*.".
			 */
			if (dot == NULL || dot == host)
				continue;
			if (mta_sts_name_eq(dot + 1,
				hn - (size_t)(dot + 1 - host), pat + 2))
				return true;
		} else if (mta_sts_name_eq(host, hn, pat)) {
			return true;
		}
	}
	return false;
}

const char *
mta_sts_mode_name(enum mta_sts_mode m)
{
	switch (m) {
	case MTA_STS_TESTING:
		return "testing";
	case MTA_STS_ENFORCE:
		return "enforce";
	case MTA_STS_NONE:
		break;
	}
	return "none";
}

size_t
mta_sts_policy_strings(
    const struct mta_sts_policy *p, char out[][MTA_STS_STRING_MAX], size_t max)
{
	size_t n = 0, i;

	if (n < max)
		(void)snprintf(out[n++], MTA_STS_STRING_MAX, "version: STSv1");
	if (n < max)
		(void)snprintf(out[n++], MTA_STS_STRING_MAX, "mode: %s",
		    mta_sts_mode_name(p->mode));
	for (i = 0; i < p->nmx && i < MTA_STS_MX_MAX && n < max; i++)
		(void)snprintf(
		    out[n++], MTA_STS_STRING_MAX, "mx: %s", p->mx[i]);
	if (n < max)
		(void)snprintf(out[n++], MTA_STS_STRING_MAX, "max_age: %u",
		    (unsigned)p->max_age);
	return n;
}
