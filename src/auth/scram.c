/*
 * scram: SCRAM-SHA-256 key derivation, proof check and server signature
 * (RFC 5802 section 3, RFC 7677) on OpenSSL 3, and the stored form of the
 * keys (see scram.h for the formulas and the grammar).
 */
#include "auth/scram.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lib/log.h"
#include "lib/numparse.h"
#include "proto/base64.h"

/* HMAC-SHA-256(key, msg) into out; OpenSSL failing here is a bug. */
static void
auth_scram_hmac(const uint8_t *key, size_t keylen, const void *msg, size_t n,
    uint8_t out[AUTH_SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;

	if (keylen > INT_MAX ||
	    HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &outlen) ==
	    NULL || outlen != AUTH_SCRAM_KEY_LEN)
		fatalx("scram: HMAC-SHA-256 failed");
}

/* SHA-256(msg) into out. */
static void
auth_scram_sha256(const void *msg, size_t n, uint8_t out[AUTH_SCRAM_KEY_LEN])
{
	unsigned int outlen = 0;

	if (EVP_Digest(msg, n, out, &outlen, EVP_sha256(), NULL) != 1 ||
	    outlen != AUTH_SCRAM_KEY_LEN)
		fatalx("scram: SHA-256 failed");
}

/* True if the arguments of a derivation are in range. */
static bool
auth_scram_args_are_valid(size_t len, size_t salt_len, uint32_t iter)
{
	return len <= AUTH_PASSWORD_MAX && salt_len >= 1 &&
	    salt_len <= AUTH_SCRAM_SALT_MAX && iter >= AUTH_SCRAM_ITER_MIN &&
	    iter <= AUTH_SCRAM_ITER_MAX;
}

/*
 * SaltedPassword and ClientKey for pw, salt and iter (checked by the
 * caller). The caller wipes both.
 */
static void
auth_scram_client_key(const char *pw, size_t len, const uint8_t *salt,
    size_t salt_len, uint32_t iter, uint8_t salted[AUTH_SCRAM_KEY_LEN],
    uint8_t client_key[AUTH_SCRAM_KEY_LEN])
{
	/* An empty password is passed as "" so OpenSSL sees a pointer. */
	if (PKCS5_PBKDF2_HMAC(len > 0 ? pw : "", (int)len, salt,
	    (int)salt_len, (int)iter, EVP_sha256(), AUTH_SCRAM_KEY_LEN,
	    salted) != 1)
		fatalx("scram: PBKDF2 failed");
	auth_scram_hmac(salted, AUTH_SCRAM_KEY_LEN, "Client Key", 10,
	    client_key);
}

int
auth_scram_keys_derive(const char *pw, size_t len, const uint8_t *salt,
    size_t salt_len, uint32_t iter, struct auth_scram_keys *out)
{
	uint8_t salted[AUTH_SCRAM_KEY_LEN], client_key[AUTH_SCRAM_KEY_LEN];

	memset(out, 0, sizeof(*out));
	if (!auth_scram_args_are_valid(len, salt_len, iter))
		return -1;
	auth_scram_client_key(pw, len, salt, salt_len, iter, salted,
	    client_key);
	auth_scram_sha256(client_key, sizeof(client_key), out->stored_key);
	auth_scram_hmac(salted, sizeof(salted), "Server Key", 10,
	    out->server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	out->iter = iter;
	out->salt_len = salt_len;
	memcpy(out->salt, salt, salt_len);
	return 0;
}

int
auth_scram_keys_new(const char *pw, size_t len, struct auth_scram_keys *out)
{
	uint8_t salt[AUTH_SCRAM_SALT_NEW];

	memset(out, 0, sizeof(*out));
	if (len > AUTH_PASSWORD_MAX ||
	    RAND_bytes(salt, (int)sizeof(salt)) != 1)
		return -1;
	return auth_scram_keys_derive(pw, len, salt, sizeof(salt),
	    AUTH_SCRAM_ITER_NEW, out);
}

int
auth_scram_client_proof(const char *pw, size_t len, const uint8_t *salt,
    size_t salt_len, uint32_t iter, const uint8_t *authmsg, size_t n,
    uint8_t proof_out[AUTH_SCRAM_KEY_LEN])
{
	uint8_t salted[AUTH_SCRAM_KEY_LEN], client_key[AUTH_SCRAM_KEY_LEN];
	uint8_t stored[AUTH_SCRAM_KEY_LEN], sig[AUTH_SCRAM_KEY_LEN];
	size_t i;

	memset(proof_out, 0, AUTH_SCRAM_KEY_LEN);
	if (!auth_scram_args_are_valid(len, salt_len, iter))
		return -1;
	auth_scram_client_key(pw, len, salt, salt_len, iter, salted,
	    client_key);
	auth_scram_sha256(client_key, sizeof(client_key), stored);
	auth_scram_hmac(stored, sizeof(stored), authmsg, n, sig);
	for (i = 0; i < AUTH_SCRAM_KEY_LEN; i++)
		proof_out[i] = client_key[i] ^ sig[i];
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(sig, sizeof(sig));
	return 0;
}

bool
auth_scram_proof_ok(const uint8_t stored_key[AUTH_SCRAM_KEY_LEN],
    const uint8_t *authmsg, size_t n, const uint8_t proof[AUTH_SCRAM_KEY_LEN])
{
	uint8_t sig[AUTH_SCRAM_KEY_LEN], client_key[AUTH_SCRAM_KEY_LEN];
	uint8_t check[AUTH_SCRAM_KEY_LEN];
	bool ok;
	size_t i;

	auth_scram_hmac(stored_key, AUTH_SCRAM_KEY_LEN, authmsg, n, sig);
	for (i = 0; i < AUTH_SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ sig[i];
	auth_scram_sha256(client_key, sizeof(client_key), check);
	ok = CRYPTO_memcmp(check, stored_key, AUTH_SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(check, sizeof(check));
	return ok;
}

void
auth_scram_server_signature(const uint8_t server_key[AUTH_SCRAM_KEY_LEN],
    const uint8_t *authmsg, size_t n, uint8_t out[AUTH_SCRAM_KEY_LEN])
{
	auth_scram_hmac(server_key, AUTH_SCRAM_KEY_LEN, authmsg, n, out);
}

/*
 * Splits the next comma-separated field off *s (*n bytes): the field in
 * *f, *s and *n past it and its comma. Returns false at the end.
 */
static bool
auth_scram_next_field(const char **s, size_t *n, struct span *f, bool last)
{
	const char *comma = memchr(*s, ',', *n);

	if (last) {
		if (comma != NULL)
			return false;
		*f = span_make(*s, *n);
		*s += *n;
		*n = 0;
		return true;
	}
	if (comma == NULL)
		return false;
	*f = span_make(*s, (size_t)(comma - *s));
	*n -= f->n + 1;
	*s = comma + 1;
	return true;
}

int
auth_scram_keys_parse(const char *s, size_t n, struct auth_scram_keys *out,
    const char **why_out)
{
	struct span f[4];
	uint64_t iter;
	size_t len, i;

	memset(out, 0, sizeof(*out));
	*why_out = NULL;
	for (i = 0; i < 4; i++)
		if (!auth_scram_next_field(&s, &n, &f[i], i == 3)) {
			*why_out = "want ITER,SALT,STOREDKEY,SERVERKEY";
			return -1;
		}
	if (numparse_u64(f[0], AUTH_SCRAM_ITER_MIN, AUTH_SCRAM_ITER_MAX,
	    &iter) != 0) {
		*why_out = "iteration count not in 4096..10000000";
		return -1;
	}
	if (base64_decode(f[1].p, f[1].n, out->salt, sizeof(out->salt),
	    &len) != 0 || len == 0) {
		*why_out = "salt is not base64 of 1..64 bytes";
		goto fail;
	}
	out->salt_len = len;
	if (base64_decode(f[2].p, f[2].n, out->stored_key,
	    sizeof(out->stored_key), &len) != 0 || len != AUTH_SCRAM_KEY_LEN) {
		*why_out = "StoredKey is not base64 of 32 bytes";
		goto fail;
	}
	if (base64_decode(f[3].p, f[3].n, out->server_key,
	    sizeof(out->server_key), &len) != 0 || len != AUTH_SCRAM_KEY_LEN) {
		*why_out = "ServerKey is not base64 of 32 bytes";
		goto fail;
	}
	out->iter = (uint32_t)iter;
	return 0;
fail:
	OPENSSL_cleanse(out, sizeof(*out));
	return -1;
}

int
auth_scram_keys_format(const struct auth_scram_keys *k, char *out,
    size_t outsz)
{
	char salt[AUTH_SCRAM_TEXT_MAX], stored[64], server[64];
	int n;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (k->salt_len == 0 || k->salt_len > AUTH_SCRAM_SALT_MAX)
		return -1;
	(void)base64_encode(k->salt, k->salt_len, salt);
	(void)base64_encode(k->stored_key, AUTH_SCRAM_KEY_LEN, stored);
	(void)base64_encode(k->server_key, AUTH_SCRAM_KEY_LEN, server);
	n = snprintf(out, outsz, "%u,%s,%s,%s", (unsigned)k->iter, salt, stored,
	    server);
	if (n < 0 || (size_t)n >= outsz) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
