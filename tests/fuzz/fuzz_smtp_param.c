/*
 * fuzz_smtp_param: libFuzzer target for proto/smtp_param. The first input
 * byte selects the SMTP_EXT_* bits, the rest is fed (exact-size buffer) to
 * the MAIL and RCPT parameter parsers and to the xtext functions. Checks:
 *   - results are within their limits and hold no control bytes;
 *   - *why is set exactly on failure;
 *   - stored ENVID/AUTH are xtext and parse again to the same value;
 *   - smtp_xtext_check and smtp_xtext_decode agree, and decoding the
 *     canonical re-encoding gives the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/smtp_param.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			    __LINE__, #cond);                                  \
			abort();                                               \
		}                                                              \
	} while (0)

/* True if s has only bytes 33..126 (or >= 0x80 when utf8). */
static bool
fuzz_smtp_param_clean(const char *s, bool utf8)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 0x80 ? !utf8 : (c < 33 || c > 126))
			return false;
	}
	return true;
}

/* Re-parses "KEY=value" alone and checks the stored copy comes back. */
static void
fuzz_smtp_param_reparse(const char *key, const char *value, unsigned ext)
{
	char in[700];
	struct smtp_mail_params m;
	const char *why;
	int n = snprintf(in, sizeof(in), "%s=%s", key, value);

	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(in));
	FUZZ_CHECK(smtp_mail_params_parse(span_make(in, (size_t)n), ext, &m,
		       &why) == SMTP_PARAM_OK);
	FUZZ_CHECK(strcmp(key, "ENVID") == 0 ? strcmp(m.envid, value) == 0
					     : strcmp(m.auth, value) == 0);
}

static void
fuzz_smtp_param_xtext(struct span in)
{
	struct buf dec, enc, dec2;
	int ck = smtp_xtext_check(in);
	size_t i;

	buf_init(&dec, 1u << 20);
	FUZZ_CHECK(smtp_xtext_decode(in, &dec) == ck);
	if (ck == 0) {
		FUZZ_CHECK(dec.len <= in.n);
		/* canonical encoding, then decode again */
		buf_init(&enc, 1u << 22);
		for (i = 0; i < dec.len; i++) {
			unsigned char c = (unsigned char)dec.data[i];
			if (c >= 33 && c <= 126 && c != '+' && c != '=')
				FUZZ_CHECK(buf_putc(&enc, (char)c) == 0);
			else
				FUZZ_CHECK(buf_printf(&enc, "+%02X", c) == 0);
		}
		FUZZ_CHECK(smtp_xtext_check(span_make(enc.data, enc.len)) == 0);
		buf_init(&dec2, 1u << 20);
		FUZZ_CHECK(smtp_xtext_decode(
			       span_make(enc.data, enc.len), &dec2) == 0);
		FUZZ_CHECK(dec2.len == dec.len);
		FUZZ_CHECK(
		    dec.len == 0 || memcmp(dec.data, dec2.data, dec.len) == 0);
		buf_clear(&dec2);
		buf_clear(&enc);
	} else
		FUZZ_CHECK(dec.len == 0);
	buf_clear(&dec);
	/* a buffer one byte too small fails and stays empty */
	if (ck == 0 && in.n > 0) {
		struct buf small;
		buf_init(&small, 0);
		FUZZ_CHECK(smtp_xtext_decode(in, &small) == -1);
		FUZZ_CHECK(small.len == 0);
		buf_clear(&small);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_mail_params m;
	struct smtp_rcpt_params r;
	struct span in;
	const char *why;
	unsigned ext;
	char *buf;
	int rc;

	if (size < 1)
		return 0;
	ext = data[0] & 0x3fu;
	data++;
	size--;
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	in = span_make(buf, size);

	why = "stale";
	rc = smtp_mail_params_parse(in, ext, &m, &why);
	FUZZ_CHECK(rc == SMTP_PARAM_OK || rc == SMTP_PARAM_SYNTAX ||
		   rc == SMTP_PARAM_UNKNOWN);
	FUZZ_CHECK((rc == SMTP_PARAM_OK) == (why == NULL));
	if (rc == SMTP_PARAM_OK) {
		FUZZ_CHECK(strlen(m.envid) <= SMTP_ENVID_MAX);
		FUZZ_CHECK(strlen(m.auth) <= SMTP_AUTHPARAM_MAX);
		FUZZ_CHECK(fuzz_smtp_param_clean(m.envid, false));
		FUZZ_CHECK(fuzz_smtp_param_clean(m.auth, false));
		FUZZ_CHECK(smtp_xtext_check(span_cstr(m.envid)) == 0);
		FUZZ_CHECK(smtp_xtext_check(span_cstr(m.auth)) == 0);
		FUZZ_CHECK(!m.has_size || (ext & SMTP_EXT_SIZE));
		FUZZ_CHECK(
		    m.body == SMTP_BODY_NONE || (ext & SMTP_EXT_8BITMIME));
		FUZZ_CHECK(!m.smtputf8 || (ext & SMTP_EXT_SMTPUTF8));
		FUZZ_CHECK((m.ret == SMTP_RET_NONE && m.envid[0] == '\0') ||
			   (ext & SMTP_EXT_DSN));
		FUZZ_CHECK(m.auth[0] == '\0' || (ext & SMTP_EXT_AUTH));
		if (m.envid[0] != '\0')
			fuzz_smtp_param_reparse("ENVID", m.envid, ext);
		if (m.auth[0] != '\0')
			fuzz_smtp_param_reparse("AUTH", m.auth, ext);
	} else {
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(
		    !m.has_size && m.envid[0] == '\0' && m.auth[0] == '\0');
	}

	why = "stale";
	rc = smtp_rcpt_params_parse(in, ext, &r, &why);
	FUZZ_CHECK(rc == SMTP_PARAM_OK || rc == SMTP_PARAM_SYNTAX ||
		   rc == SMTP_PARAM_UNKNOWN);
	FUZZ_CHECK((rc == SMTP_PARAM_OK) == (why == NULL));
	if (rc == SMTP_PARAM_OK) {
		FUZZ_CHECK(strlen(r.orcpt) <= SMTP_ORCPT_MAX);
		FUZZ_CHECK(fuzz_smtp_param_clean(
		    r.orcpt, (ext & SMTP_EXT_SMTPUTF8) != 0));
		FUZZ_CHECK(r.orcpt[0] == '\0' || strchr(r.orcpt, ';') != NULL);
		FUZZ_CHECK((r.notify & SMTP_NOTIFY_NEVER) == 0 ||
			   r.notify == SMTP_NOTIFY_NEVER);
		FUZZ_CHECK((r.notify == 0 && r.orcpt[0] == '\0') ||
			   (ext & SMTP_EXT_DSN));
	} else {
		FUZZ_CHECK(why[0] != '\0');
		FUZZ_CHECK(r.notify == 0 && r.orcpt[0] == '\0');
	}

	fuzz_smtp_param_xtext(in);
	free(buf);
	return 0;
}
