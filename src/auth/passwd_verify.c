/*
 * passwd_verify: password checks against an account (libxcrypt crypt_rn,
 * libargon2, SCRAM keys), the dummy check for missing accounts, and new
 * yescrypt hashes. Thread-safe: the auth process runs these on workers.
 */
#include <argon2.h>
#include <crypt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/passwd_int.h"
#include "auth/scram.h"
#include "lib/xalloc.h"

/*
 * crypt_rn of the password (copied to a NUL-terminated buffer) with
 * setting; the result, NUL-terminated, into a heap struct crypt_data the
 * caller wipes and frees. NULL when crypt refuses.
 */
static const char *
auth_crypt_run(
    const char *pw, size_t len, const char *setting, struct crypt_data **cd_out)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char *p = xmalloc(len + 1);
	const char *r;

	memcpy(p, pw, len);
	p[len] = '\0';
	r = crypt_rn(p, setting, cd, (int)sizeof(*cd));
	OPENSSL_cleanse(p, len + 1);
	free(p);
	*cd_out = cd;
	if (r == NULL || r[0] == '*')
		return NULL;
	return r;
}

static void
auth_crypt_done(struct crypt_data *cd)
{
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
}

/* Verifies against a crypt(3) hash. 1, 0 or -1. */
static int
auth_verify_crypt(const char *hash, const char *pw, size_t len)
{
	struct crypt_data *cd;
	const char *r;
	size_t hl = strlen(hash);
	int rc;

	r = auth_crypt_run(pw, len, hash, &cd);
	if (r == NULL)
		rc = -1;
	else
		rc = strlen(r) == hl && CRYPTO_memcmp(r, hash, hl) == 0;
	auth_crypt_done(cd);
	return rc;
}

/* Verifies against an argon2 encoded hash. 1, 0 or -1. */
static int
auth_verify_argon2(const struct auth_account *a, const char *pw, size_t len)
{
	int rc = argon2_verify(a->hash, pw, len,
	    a->scheme == AUTH_SCHEME_ARGON2ID ? Argon2_id : Argon2_i);

	if (rc == ARGON2_OK)
		return 1;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return 0;
	return -1;
}

/* Verifies against the SCRAM keys alone. 1 or 0. */
static int
auth_verify_scram(const struct auth_account *a, const char *pw, size_t len)
{
	struct auth_scram_keys k;
	int rc;

	if (auth_scram_keys_derive(pw, len, a->scram.salt, a->scram.salt_len,
		a->scram.iter, &k) != 0)
		return -1;
	rc = CRYPTO_memcmp(
		 k.stored_key, a->scram.stored_key, AUTH_SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(&k, sizeof(k));
	return rc;
}

int
auth_password_verify(const struct auth_account *a, const char *pw, size_t len)
{
	if (a == NULL || !auth_account_can_login(a) || len > AUTH_PASSWORD_MAX)
		return 0;
	/* crypt(3) stops at a NUL; such a password never matches. */
	if (memchr(pw, '\0', len) != NULL)
		return 0;
	switch (a->kind) {
	case AUTH_PW_CRYPT:
		return auth_verify_crypt(a->hash, pw, len);
	case AUTH_PW_ARGON2:
		return auth_verify_argon2(a, pw, len);
	case AUTH_PW_SCRAM:
		return auth_verify_scram(a, pw, len);
	case AUTH_PW_NONE:
	case AUTH_PW_DISABLED:
		break;
	}
	return 0;
}

void
auth_password_dummy(const char *pw, size_t len)
{
	struct crypt_data *cd;

	if (len > AUTH_PASSWORD_MAX)
		len = AUTH_PASSWORD_MAX;
	(void)auth_crypt_run(pw, strnlen(pw, len), AUTH_DUMMY_SETTING, &cd);
	auth_crypt_done(cd);
}

int
auth_password_hash(const char *pw, size_t len, char *out, size_t outsz)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *r;
	int n, rc = -1;

	if (outsz == 0)
		return -1;
	out[0] = '\0';
	if (len > AUTH_PASSWORD_MAX || memchr(pw, '\0', len) != NULL)
		return -1;
	/* No random bytes given: libxcrypt reads the OS random source. */
	if (crypt_gensalt_rn(
		"$y$", 0, NULL, 0, setting, (int)sizeof(setting)) == NULL)
		return -1;
	r = auth_crypt_run(pw, len, setting, &cd);
	if (r != NULL && strncmp(r, "$y$", 3) == 0) {
		n = snprintf(out, outsz, "%s", r);
		if (n >= 0 && (size_t)n < outsz)
			rc = 0;
		else
			out[0] = '\0';
	}
	auth_crypt_done(cd);
	return rc;
}
