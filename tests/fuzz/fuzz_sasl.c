/*
 * fuzz_sasl: libFuzzer target for proto/sasl. The first input byte
 * (modulo 5) selects what runs on the rest, which is copied into an
 * exact-size buffer so ASan sees over-reads:
 *   0  sasl_plain_parse: the three spans tile the input around two NULs,
 *      within the limits, without NULs of their own.
 *   1  sasl_scram_parse_first: spans inside the input, gs2_header and bare
 *      tile it, NUL-terminated names within limits, printable nonce; and
 *      a round trip: escaping the decoded names again reproduces the
 *      gs2_header and the start of bare byte for byte (one spelling per
 *      name), re-parsing that rebuilt message gives the same result, and
 *      sasl_scram_format_server_first() accepts the nonce.
 *   2  sasl_scram_parse_final: the message is exactly without_proof ",p="
 *      base64(proof), the c= value decodes, spans inside the input.
 *   3  "first \n final \n cbdata": both parsers, then sasl_scram_cbind_ok()
 *      and sasl_scram_nonce_ok() against a direct computation, and
 *      sasl_scram_auth_message() against the concatenation it must be.
 *   4  the formatters with arguments taken from the input (nonces, salt,
 *      iteration count, signature, error value, buffer maximum): success
 *      exactly when the arguments are valid and the output fits, output
 *      that parses back, and a failed call leaves the buffer unchanged.
 * A violated invariant aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "proto/base64.h"
#include "proto/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			(void)fprintf(stderr, "%s:%d: check failed: %s\n",     \
			    __FILE__, __LINE__, #cond);                        \
			abort();                                               \
		}                                                              \
	} while (0)

static bool
fuzz_sasl_inside(struct span s, const char *buf, size_t n)
{
	return s.n == 0 ? (s.p == NULL || (s.p >= buf && s.p <= buf + n))
			: (s.p >= buf && s.n <= n && s.p + s.n <= buf + n);
}

static bool
fuzz_sasl_printable(struct span s)
{
	size_t i;

	for (i = 0; i < s.n; i++)
		if (s.p[i] < 0x21 || s.p[i] > 0x7e || s.p[i] == ',')
			return false;
	return true;
}

static void
fuzz_sasl_plain(const char *buf, size_t n)
{
	struct span z, c, p;
	int rc = sasl_plain_parse((const uint8_t *)buf, n, &z, &c, &p);

	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc != 0) {
		FUZZ_CHECK(z.p == NULL && z.n == 0 && c.p == NULL && c.n == 0 &&
			   p.p == NULL && p.n == 0);
		return;
	}
	FUZZ_CHECK(z.p == buf && z.n <= SASL_NAME_MAX);
	FUZZ_CHECK(c.n >= 1 && c.n <= SASL_NAME_MAX);
	FUZZ_CHECK(p.n >= 1 && p.n <= SASL_NAME_MAX);
	FUZZ_CHECK(z.n + c.n + p.n + 2 == n);
	FUZZ_CHECK(buf[z.n] == '\0' && c.p == buf + z.n + 1);
	FUZZ_CHECK(buf[z.n + 1 + c.n] == '\0' && p.p == c.p + c.n + 1);
	FUZZ_CHECK(memchr(z.p, 0, z.n) == NULL && memchr(c.p, 0, c.n) == NULL &&
		   memchr(p.p, 0, p.n) == NULL);
}

/* Appends saslname-escaped name to b. */
static void
fuzz_sasl_escape(struct buf *b, const char *name)
{
	for (; *name != '\0'; name++) {
		if (*name == ',')
			FUZZ_CHECK(buf_puts(b, "=2C") == 0);
		else if (*name == '=')
			FUZZ_CHECK(buf_puts(b, "=3D") == 0);
		else
			FUZZ_CHECK(buf_putc(b, *name) == 0);
	}
}

static void
fuzz_sasl_first_check(
    const struct sasl_scram_first *f, const char *buf, size_t n)
{
	static const char *const flags[] = {"n", "y", "p=tls-exporter"};
	struct sasl_scram_first g;
	size_t ul = strnlen(f->user, sizeof(f->user));
	size_t zl = strnlen(f->authzid, sizeof(f->authzid));
	struct buf b, sf;
	size_t hlen;

	FUZZ_CHECK(ul >= 1 && ul <= SASL_NAME_MAX && zl <= SASL_NAME_MAX);
	FUZZ_CHECK(f->gs2_header.p == buf && f->gs2_header.n >= 3 &&
		   f->gs2_header.n < n);
	FUZZ_CHECK(f->gs2_header.p[f->gs2_header.n - 1] == ',');
	FUZZ_CHECK(f->bare.p == buf + f->gs2_header.n &&
		   f->bare.n == n - f->gs2_header.n);
	FUZZ_CHECK(fuzz_sasl_inside(f->cnonce, f->bare.p, f->bare.n));
	FUZZ_CHECK(f->cnonce.n >= 1 && f->cnonce.n <= SASL_SCRAM_NONCE_MAX);
	FUZZ_CHECK(fuzz_sasl_printable(f->cnonce));
	FUZZ_CHECK((unsigned)f->cbind <= SASL_SCRAM_CBIND_TLS_EXPORTER);

	/* Escaping the names again gives the exact bytes received. */
	buf_init(&b, 4096);
	FUZZ_CHECK(
	    buf_puts(&b, flags[f->cbind]) == 0 && buf_putc(&b, ',') == 0);
	if (zl > 0) {
		FUZZ_CHECK(buf_puts(&b, "a=") == 0);
		fuzz_sasl_escape(&b, f->authzid);
	}
	FUZZ_CHECK(buf_putc(&b, ',') == 0);
	hlen = b.len;
	FUZZ_CHECK(hlen == f->gs2_header.n &&
		   memcmp(b.data, f->gs2_header.p, hlen) == 0);
	FUZZ_CHECK(buf_puts(&b, "n=") == 0);
	fuzz_sasl_escape(&b, f->user);
	FUZZ_CHECK(buf_puts(&b, ",r=") == 0);
	FUZZ_CHECK(buf_append(&b, f->cnonce.p, f->cnonce.n) == 0);
	FUZZ_CHECK(b.len - hlen <= f->bare.n &&
		   memcmp(b.data + hlen, f->bare.p, b.len - hlen) == 0);
	FUZZ_CHECK(f->cnonce.p + f->cnonce.n == f->bare.p + (b.len - hlen));

	/* The rebuilt message (without extensions) parses the same. */
	FUZZ_CHECK(sasl_scram_parse_first(b.data, b.len, &g) == SASL_OK);
	FUZZ_CHECK(g.cbind == f->cbind);
	FUZZ_CHECK(strcmp(g.user, f->user) == 0);
	FUZZ_CHECK(strcmp(g.authzid, f->authzid) == 0);
	FUZZ_CHECK(g.cnonce.n == f->cnonce.n &&
		   memcmp(g.cnonce.p, f->cnonce.p, f->cnonce.n) == 0);

	/* The server can answer any nonce the parser accepted. */
	buf_init(&sf, 1024);
	FUZZ_CHECK(
	    sasl_scram_format_server_first(&sf, f->cnonce,
		span_cstr("SrvNonce"), (const uint8_t *)"salt", 4, 4096) == 0);
	FUZZ_CHECK(
	    sf.len == 2 + f->cnonce.n + 8 + strlen(",s=c2FsdA==,i=4096"));
	FUZZ_CHECK(memcmp(sf.data + 2, f->cnonce.p, f->cnonce.n) == 0);
	buf_clear(&sf);
	buf_clear(&b);
}

static void
fuzz_sasl_first(const char *buf, size_t n)
{
	struct sasl_scram_first f;
	int rc = sasl_scram_parse_first(buf, n, &f);

	FUZZ_CHECK(rc == SASL_OK || rc == SASL_ERR_SYNTAX ||
		   rc == SASL_ERR_CBIND_TYPE || rc == SASL_ERR_MEXT);
	if (rc == SASL_OK)
		fuzz_sasl_first_check(&f, buf, n);
	else
		FUZZ_CHECK(f.gs2_header.p == NULL && f.bare.p == NULL &&
			   f.cnonce.p == NULL && f.user[0] == '\0' &&
			   f.authzid[0] == '\0');
}

static void
fuzz_sasl_final_check(
    const struct sasl_scram_final *f, const char *buf, size_t n)
{
	uint8_t cb[2048];
	char enc[64];
	size_t len;

	FUZZ_CHECK(f->without_proof.p == buf && f->without_proof.n < n);
	FUZZ_CHECK(fuzz_sasl_inside(f->cbind, buf, f->without_proof.n));
	FUZZ_CHECK(fuzz_sasl_inside(f->nonce, buf, f->without_proof.n));
	FUZZ_CHECK(f->cbind.p == buf + 2 && f->cbind.n > 0);
	FUZZ_CHECK(f->nonce.n > 0 && fuzz_sasl_printable(f->nonce));
	FUZZ_CHECK(
	    base64_decode(f->cbind.p, f->cbind.n, cb, sizeof(cb), &len) == 0);
	FUZZ_CHECK(len > 0 && len <= 1024);
	FUZZ_CHECK(base64_encode(f->proof, sizeof(f->proof), enc) == 44);
	FUZZ_CHECK(n == f->without_proof.n + 3 + 44);
	FUZZ_CHECK(memcmp(buf + f->without_proof.n, ",p=", 3) == 0);
	FUZZ_CHECK(memcmp(buf + f->without_proof.n + 3, enc, 44) == 0);
}

static void
fuzz_sasl_final(const char *buf, size_t n)
{
	struct sasl_scram_final f;
	int rc = sasl_scram_parse_final(buf, n, &f);

	FUZZ_CHECK(rc == SASL_OK || rc == SASL_ERR_SYNTAX);
	if (rc == SASL_OK)
		fuzz_sasl_final_check(&f, buf, n);
	else
		FUZZ_CHECK(f.cbind.p == NULL && f.nonce.p == NULL &&
			   f.without_proof.p == NULL);
}

/* "first \n final \n cbdata" */
static void
fuzz_sasl_pair(const char *buf, size_t n)
{
	const char *nl1, *nl2, *cbd;
	size_t n1, n2, ncb, len;
	struct sasl_scram_first f1;
	struct sasl_scram_final f2;
	uint8_t in[2048];
	struct buf am;
	bool want, cb_ok;

	if ((nl1 = memchr(buf, '\n', n)) == NULL)
		return;
	n1 = (size_t)(nl1 - buf);
	if ((nl2 = memchr(nl1 + 1, '\n', n - n1 - 1)) == NULL)
		return;
	n2 = (size_t)(nl2 - nl1) - 1;
	cbd = nl2 + 1;
	ncb = n - n1 - n2 - 2;
	if (sasl_scram_parse_first(buf, n1, &f1) != SASL_OK)
		return;
	fuzz_sasl_first_check(&f1, buf, n1);
	if (sasl_scram_parse_final(nl1 + 1, n2, &f2) != SASL_OK)
		return;
	fuzz_sasl_final_check(&f2, nl1 + 1, n2);

	/* channel binding, computed directly */
	FUZZ_CHECK(
	    base64_decode(f2.cbind.p, f2.cbind.n, in, sizeof(in), &len) == 0);
	if (f1.cbind == SASL_SCRAM_CBIND_TLS_EXPORTER)
		want = ncb > 0 && len == f1.gs2_header.n + ncb &&
		       memcmp(in, f1.gs2_header.p, f1.gs2_header.n) == 0 &&
		       memcmp(in + f1.gs2_header.n, cbd, ncb) == 0;
	else
		want = len == f1.gs2_header.n &&
		       memcmp(in, f1.gs2_header.p, len) == 0;
	cb_ok = sasl_scram_cbind_ok(&f2, &f1, (const uint8_t *)cbd, ncb);
	FUZZ_CHECK(cb_ok == want);
	if (f1.cbind != SASL_SCRAM_CBIND_TLS_EXPORTER)
		FUZZ_CHECK(sasl_scram_cbind_ok(&f2, &f1, NULL, 0) == want);
	else
		FUZZ_CHECK(!sasl_scram_cbind_ok(&f2, &f1, NULL, 0));

	/* nonce: the final one is cnonce + snonce for exactly one snonce */
	want = f2.nonce.n > f1.cnonce.n &&
	       memcmp(f2.nonce.p, f1.cnonce.p, f1.cnonce.n) == 0;
	FUZZ_CHECK(sasl_scram_nonce_ok(&f2, f1.cnonce,
		       span_make(f2.nonce.p + (want ? f1.cnonce.n : 0),
			   want ? f2.nonce.n - f1.cnonce.n : 1)) == want);
	FUZZ_CHECK(!sasl_scram_nonce_ok(&f2, f1.cnonce, span_make("", 0)));

	/* AuthMessage, with the cbdata standing in for the server-first */
	buf_init(&am, 8192);
	FUZZ_CHECK(sasl_scram_auth_message(&am, f1.bare, span_make(cbd, ncb),
		       f2.without_proof) == 0);
	FUZZ_CHECK(am.len == f1.bare.n + 1 + ncb + 1 + f2.without_proof.n);
	FUZZ_CHECK(memcmp(am.data, f1.bare.p, f1.bare.n) == 0);
	FUZZ_CHECK(
	    am.data[f1.bare.n] == ',' && am.data[f1.bare.n + 1 + ncb] == ',');
	FUZZ_CHECK(ncb == 0 || memcmp(am.data + f1.bare.n + 1, cbd, ncb) == 0);
	FUZZ_CHECK(memcmp(am.data + f1.bare.n + 2 + ncb, f2.without_proof.p,
		       f2.without_proof.n) == 0);
	/* one octet too few: refused, buffer unchanged */
	buf_reset(&am);
	am.max = f1.bare.n + ncb + f2.without_proof.n + 1;
	FUZZ_CHECK(sasl_scram_auth_message(&am, f1.bare, span_make(cbd, ncb),
		       f2.without_proof) == -1);
	FUZZ_CHECK(am.len == 0);
	buf_clear(&am);
}

/* Takes up to want octets from the input cursor. */
static struct span
fuzz_sasl_take(const char **p, size_t *n, size_t want)
{
	struct span s;

	if (want > *n)
		want = *n;
	s = span_make(*p, want);
	*p += want;
	*n -= want;
	return s;
}

static void
fuzz_sasl_formatters(const char *buf, size_t n)
{
	const char *p = buf;
	struct span cn, sn, salt, sig;
	uint8_t sigb[SASL_SCRAM_SHA256_LEN] = {0}, dec[256];
	unsigned iter = 0, max, errv;
	struct buf b;
	bool valid;
	int rc;
	size_t i, len, need = 0, lens[4];

	if (n < 8)
		return;
	for (i = 0; i < 4; i++)
		lens[i] = (unsigned char)p[i];
	max = (unsigned)(unsigned char)p[4] * 4u;
	errv = (unsigned char)p[5];
	p += 6;
	n -= 6;
	/* bit 7 of the error byte makes the client nonce 200 longer */
	cn = fuzz_sasl_take(&p, &n, lens[0] + (errv & 0x80u ? 200u : 0u));
	errv &= 0x7fu;
	sn = fuzz_sasl_take(&p, &n, lens[1]);
	salt = fuzz_sasl_take(&p, &n, lens[2] % 160);
	sig = fuzz_sasl_take(&p, &n, lens[3] % 40);
	if (n >= 4) {
		iter = (unsigned)(unsigned char)p[0] << 24 |
		       (unsigned)(unsigned char)p[1] << 16 |
		       (unsigned)(unsigned char)p[2] << 8 |
		       (unsigned)(unsigned char)p[3];
	}

	/* server-first: "r=" cn sn ",s=" b64 ",i=" iter */
	valid = cn.n >= 1 && cn.n <= SASL_SCRAM_NONCE_MAX &&
		fuzz_sasl_printable(cn) && sn.n >= 1 &&
		fuzz_sasl_printable(sn) && salt.n >= 1 &&
		salt.n <= SASL_SCRAM_SALT_MAX && iter > 0;
	buf_init(&b, 4096);
	FUZZ_CHECK(buf_puts(&b, "pre") == 0);
	rc = sasl_scram_format_server_first(
	    &b, cn, sn, (const uint8_t *)salt.p, salt.n, iter);
	FUZZ_CHECK(rc == (valid ? 0 : -1));
	if (rc == 0) {
		char tail[64];
		const char *s = b.data + 3;
		size_t elen = base64_encoded_len(salt.n);
		int k = snprintf(tail, sizeof(tail), ",i=%u", iter);

		FUZZ_CHECK(k > 0 && (size_t)k < sizeof(tail));
		FUZZ_CHECK(b.len == 3 + 2 + cn.n + sn.n + 3 + elen + (size_t)k);
		FUZZ_CHECK(memcmp(s, "r=", 2) == 0);
		FUZZ_CHECK(memcmp(s + 2, cn.p, cn.n) == 0);
		FUZZ_CHECK(memcmp(s + 2 + cn.n, sn.p, sn.n) == 0);
		s += 2 + cn.n + sn.n;
		FUZZ_CHECK(memcmp(s, ",s=", 3) == 0);
		FUZZ_CHECK(
		    base64_decode(s + 3, elen, dec, sizeof(dec), &len) == 0);
		FUZZ_CHECK(len == salt.n && memcmp(dec, salt.p, len) == 0);
		FUZZ_CHECK(memcmp(s + 3 + elen, tail, (size_t)k) == 0);
		need = b.len - 3;
	} else
		FUZZ_CHECK(b.len == 3 && strcmp(b.data, "pre") == 0);
	buf_clear(&b);

	/* the same with a maximum from the input: all or nothing */
	buf_init(&b, max);
	rc = sasl_scram_format_server_first(
	    &b, cn, sn, (const uint8_t *)salt.p, salt.n, iter);
	FUZZ_CHECK(rc == (valid && need <= max ? 0 : -1));
	FUZZ_CHECK(b.len == (rc == 0 ? need : 0));
	buf_clear(&b);

	/* server-final: v= round trip */
	if (sig.n > 0)
		memcpy(
		    sigb, sig.p, sig.n < sizeof(sigb) ? sig.n : sizeof(sigb));
	buf_init(&b, max);
	rc = sasl_scram_format_server_final(&b, sigb);
	FUZZ_CHECK(rc == (max >= 46 ? 0 : -1));
	if (rc == 0) {
		FUZZ_CHECK(b.len == 46 && memcmp(b.data, "v=", 2) == 0);
		FUZZ_CHECK(
		    base64_decode(b.data + 2, 44, dec, sizeof(dec), &len) == 0);
		FUZZ_CHECK(len == 32 && memcmp(dec, sigb, 32) == 0);
	} else
		FUZZ_CHECK(b.len == 0);
	buf_clear(&b);

	/* server-error */
	buf_init(&b, max);
	rc = sasl_scram_format_server_error(&b, (enum sasl_scram_error)errv);
	if (errv > SASL_SCRAM_E_OTHER_ERROR)
		FUZZ_CHECK(rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(b.len > 2 && memcmp(b.data, "e=", 2) == 0);
		for (i = 2; i < b.len; i++)
			FUZZ_CHECK((b.data[i] >= 'a' && b.data[i] <= 'z') ||
				   b.data[i] == '-');
	} else
		FUZZ_CHECK(b.len == 0);
	buf_clear(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned sel;
	char *buf;

	if (size < 1)
		return 0;
	sel = data[0] % 5u;
	data++;
	size--;
	buf = malloc(size > 0 ? size : 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	switch (sel) {
	case 0:
		fuzz_sasl_plain(buf, size);
		break;
	case 1:
		fuzz_sasl_first(buf, size);
		break;
	case 2:
		fuzz_sasl_final(buf, size);
		break;
	case 3:
		fuzz_sasl_pair(buf, size);
		break;
	default:
		fuzz_sasl_formatters(buf, size);
		break;
	}
	free(buf);
	return 0;
}
