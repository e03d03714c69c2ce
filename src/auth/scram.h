/*
 * scram: the SCRAM-SHA-256 arithmetic (RFC 5802 section 3, RFC 7677) and
 * the stored form of its keys. It owns no protocol state: the SASL
 * exchange (nonces, message parsing) lives in the smtp and auth
 * processes, which call here for the three things that need the keys.
 *
 *   SaltedPassword  = PBKDF2-HMAC-SHA-256(password, salt, iter)
 *   ClientKey       = HMAC(SaltedPassword, "Client Key")
 *   StoredKey       = SHA-256(ClientKey)
 *   ServerKey       = HMAC(SaltedPassword, "Server Key")
 *   ClientSignature = HMAC(StoredKey, AuthMessage)
 *   ClientProof     = ClientKey XOR ClientSignature
 *   ServerSignature = HMAC(ServerKey, AuthMessage)
 *
 * The server keeps only iter, salt, StoredKey and ServerKey: enough to
 * check a proof and to prove itself, not enough to log in as the user.
 * The password is used as the bytes given, without SASLprep (as Dovecot
 * does); for ASCII passwords the two are the same.
 *
 * Stored form (the value of the accounts file's scram-sha-256= field and
 * the data of Dovecot's {SCRAM-SHA-256} scheme):
 *   scram  = iter "," salt-b64 "," storedkey-b64 "," serverkey-b64
 *   iter   = decimal, AUTH_SCRAM_ITER_MIN..AUTH_SCRAM_ITER_MAX
 *   salt   = 1..AUTH_SCRAM_SALT_MAX bytes, strict base64 (RFC 4648 4)
 *   keys   = exactly 32 bytes each, strict base64
 *
 * Secrets (passwords, SaltedPassword, ClientKey) are wiped after use.
 * OpenSSL failing inside these functions means the library is broken
 * (no input makes HMAC or SHA-256 fail): that is fatal.
 */
#ifndef PETREL_AUTH_SCRAM_H
#define PETREL_AUTH_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_SCRAM_KEY_LEN 32		/* SHA-256 output */
#define AUTH_SCRAM_SALT_MAX 64		/* bytes of salt we store */
#define AUTH_SCRAM_SALT_NEW 16		/* bytes of salt for new keys */
#define AUTH_SCRAM_ITER_MIN 4096	/* RFC 7677 4: at least 4096 */
#define AUTH_SCRAM_ITER_MAX 10000000	/* bounds one login's CPU time */
#define AUTH_SCRAM_ITER_NEW 4096	/* iterations for new keys */
#define AUTH_PASSWORD_MAX 1024		/* bytes in a password we accept */
/* Room for the longest stored form plus NUL (8 + 3 commas + 3 base64). */
#define AUTH_SCRAM_TEXT_MAX 256

struct auth_scram_keys {
	uint32_t iter;
	size_t salt_len;
	uint8_t salt[AUTH_SCRAM_SALT_MAX];
	uint8_t stored_key[AUTH_SCRAM_KEY_LEN];
	uint8_t server_key[AUTH_SCRAM_KEY_LEN];
};

/*
 * Parses the stored form s[0..n) (see the grammar above) into *out. Pure,
 * no crypto. Returns 0, or -1 with *why_out a static description of what
 * is wrong ("bad iteration count", ...); *out is zeroed on failure.
 */
int auth_scram_keys_parse(const char *s, size_t n,
    struct auth_scram_keys *out, const char **why_out);

/*
 * Writes the stored form of k into out (outsz bytes, NUL-terminated).
 * Returns 0, or -1 when it does not fit (out is then "").
 */
int auth_scram_keys_format(const struct auth_scram_keys *k, char *out,
    size_t outsz);

/*
 * Derives StoredKey and ServerKey for password pw[0..len) with the given
 * salt (1..AUTH_SCRAM_SALT_MAX bytes) and iteration count (MIN..MAX).
 * Returns 0, or -1 when an argument is out of range (*out zeroed).
 */
int auth_scram_keys_derive(const char *pw, size_t len, const uint8_t *salt,
    size_t salt_len, uint32_t iter, struct auth_scram_keys *out);

/*
 * New keys for pw[0..len): AUTH_SCRAM_SALT_NEW random bytes of salt
 * (RAND_bytes) and AUTH_SCRAM_ITER_NEW iterations. 0, or -1 when the
 * password is longer than AUTH_PASSWORD_MAX or the random source fails.
 */
int auth_scram_keys_new(const char *pw, size_t len,
    struct auth_scram_keys *out);

/*
 * Server side: true if proof is a valid ClientProof for AuthMessage
 * authmsg[0..n) and the account's StoredKey, that is, if
 * SHA-256(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey. The
 * comparison is constant time.
 */
bool auth_scram_proof_ok(const uint8_t stored_key[AUTH_SCRAM_KEY_LEN],
    const uint8_t *authmsg, size_t n,
    const uint8_t proof[AUTH_SCRAM_KEY_LEN]);

/* Server side: ServerSignature = HMAC(ServerKey, AuthMessage) into out. */
void auth_scram_server_signature(const uint8_t server_key[AUTH_SCRAM_KEY_LEN],
    const uint8_t *authmsg, size_t n, uint8_t out[AUTH_SCRAM_KEY_LEN]);

/*
 * Client side (tests, and a future SMTP client): the ClientProof for
 * password pw[0..len), salt, iter and AuthMessage authmsg[0..n) into
 * proof_out. 0, or -1 when an argument is out of range.
 */
int auth_scram_client_proof(const char *pw, size_t len, const uint8_t *salt,
    size_t salt_len, uint32_t iter, const uint8_t *authmsg, size_t n,
    uint8_t proof_out[AUTH_SCRAM_KEY_LEN]);

#endif
