/*
 * passwd: the accounts file (the configuration's `users` file) in Dovecot
 * passwd-file format, password verification, new password hashes, and a
 * pure line editor for `petrel user`. Parsing and editing are pure (text
 * in, struct or text out); verification and hashing do the crypto.
 *
 * One account a line (docs/config.md is the reference):
 *   user@domain:PASSWORD:uid:gid:gecos:home:shell:EXTRA
 * Only the address is required. uid, gid, gecos, home and shell are
 * ignored. EXTRA is blank-separated key=value fields, of which petrel
 * reads scram-sha-256=ITER,SALT,STOREDKEY,SERVERKEY (see auth/scram.h)
 * and addresses=a@d,b@d (more envelope senders this account may use);
 * other fields are kept and ignored, so one file can serve Dovecot too.
 *
 * PASSWORD is empty (a mailbox that cannot log in), "!" followed by a
 * password (disabled), "{SCHEME}data" with SCHEME one of CRYPT,
 * BLF-CRYPT, SHA512-CRYPT, SHA256-CRYPT, ARGON2ID, ARGON2I, SCRAM-SHA-256
 * (any case), or a bare crypt string: $y$ (yescrypt), $2a$/$2b$/$2y$
 * (bcrypt), $6$ (SHA-512-crypt), $5$ (SHA-256-crypt), $argon2id$,
 * $argon2i$. Anything else (plaintext, MD5-crypt, DES, CRAM-MD5) is an
 * error: petrel does not accept weak or plaintext-equivalent secrets.
 *
 * Addresses are matched as the recipient tables match them (tables.h):
 * the account's local part is [a-z0-9._+-] in any case, the domain a
 * host name; both are kept lower-case and compared exactly after that.
 *
 * Limits: lines of AUTH_LINE_MAX bytes, a password field of
 * AUTH_HASH_MAX bytes, AUTH_ADDRESSES_MAX addresses= entries per
 * account, passwords of AUTH_PASSWORD_MAX bytes, SCRAM and argon2 cost
 * parameters bounded (scram.h, AUTH_ARGON2_*).
 */
#ifndef PETREL_AUTH_PASSWD_H
#define PETREL_AUTH_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/scram.h"
#include "lib/buf.h"

#define AUTH_LINE_MAX 65536		/* bytes in a line of the file */
#define AUTH_HASH_MAX 512		/* bytes in the PASSWORD field */
#define AUTH_ADDRESSES_MAX 100		/* entries in addresses= */
#define AUTH_ADDRESS_MAX 320		/* local@domain: 64 + 1 + 255 */
#define AUTH_ARGON2_M_MAX 1048576	/* KiB of memory: 1 GiB */
#define AUTH_ARGON2_T_MAX 100		/* passes */
#define AUTH_ARGON2_P_MAX 16		/* lanes */
#define AUTH_HASH_NEW_MAX 128		/* room for a new yescrypt hash */

enum auth_pw_kind {
	AUTH_PW_NONE,		/* empty PASSWORD: a mailbox, no login */
	AUTH_PW_DISABLED,	/* "!...": no login until re-enabled */
	AUTH_PW_CRYPT,		/* a crypt(3) string in hash */
	AUTH_PW_ARGON2,		/* an argon2 encoded string in hash */
	AUTH_PW_SCRAM,		/* {SCRAM-SHA-256} only: the keys verify */
};

enum auth_scheme {
	AUTH_SCHEME_NONE,
	AUTH_SCHEME_YESCRYPT,
	AUTH_SCHEME_BCRYPT,
	AUTH_SCHEME_SHA512_CRYPT,
	AUTH_SCHEME_SHA256_CRYPT,
	AUTH_SCHEME_ARGON2ID,
	AUTH_SCHEME_ARGON2I,
	AUTH_SCHEME_SCRAM_SHA256,
};

struct auth_account {
	char *address;		/* "local@domain", lower-case */
	enum auth_pw_kind kind;
	enum auth_scheme scheme; /* of the password; for DISABLED the one
				  * after '!' (NONE for a bare "!") */
	char *hash;		/* CRYPT, ARGON2: the string to verify
				 * against; NULL otherwise */
	bool has_scram;		/* scram holds keys; only when the account
				 * can log in (CRYPT, ARGON2, SCRAM) */
	struct auth_scram_keys scram;
	char **addresses;	/* addresses= entries, lower-case */
	size_t naddresses;
	unsigned line;		/* where the account is in the file */
};

struct auth_accounts;

/*
 * Parses the accounts file text[0..len) (need not be NUL-terminated),
 * read from the file called name. Returns 0 and *out (free with
 * auth_accounts_free), or -1 with *out NULL and "name:line: what is
 * wrong" in err (errsz > 0). No crypto is done here.
 */
int auth_accounts_parse(const char *name, const char *text, size_t len,
    struct auth_accounts **out, char *err, size_t errsz);

/* Frees the accounts (wiping the hashes and keys); NULL is fine. */
void auth_accounts_free(struct auth_accounts *aa);

/*
 * The account whose address is address ("local@domain", any case), or
 * NULL. No recipient-delimiter cutting: a login name is exact.
 */
const struct auth_account *auth_accounts_find(const struct auth_accounts *aa,
    const char *address);

/* The number of accounts, and the i-th (0 <= i < count) in file order. */
size_t auth_accounts_count(const struct auth_accounts *aa);
const struct auth_account *auth_accounts_get(const struct auth_accounts *aa,
    size_t i);

/* True if the account has a password it can log in with. */
bool auth_account_can_login(const struct auth_account *a);

/*
 * True if the account may use address (any case) as its envelope sender:
 * its own address or one of addresses=.
 */
bool auth_account_may_send_as(const struct auth_account *a,
    const char *address);

/*
 * True if s is an address the file accepts: with account, an account's
 * (local part of a-z 0-9 . _ + - in any case, not starting with '.', no
 * ".."; a host name domain); without, an addresses= entry (a dot-atom
 * local part of at most 64 bytes and a host name domain).
 */
bool auth_address_is_valid(const char *s, bool account);

/* "yescrypt", "bcrypt", "sha512-crypt", ..., "none". */
const char *auth_scheme_name(enum auth_scheme s);

/*
 * Checks password pw[0..len) against the account. Returns 1 when it
 * matches, 0 when it does not or the account cannot log in (no password,
 * disabled, a password with a NUL or longer than AUTH_PASSWORD_MAX), -1
 * on an internal error (crypt or argon2 refusing a stored hash). Slow on
 * purpose (milliseconds); thread-safe, for the auth process's workers.
 * Compares in constant time.
 */
int auth_password_verify(const struct auth_account *a, const char *pw,
    size_t len);

/*
 * Work comparable to verifying a password against a new-style (yescrypt)
 * hash, for a login name that has no account, so that the answer's
 * timing does not tell which accounts exist. Thread-safe.
 */
void auth_password_dummy(const char *pw, size_t len);

/*
 * A new yescrypt hash of pw[0..len) (libxcrypt's default cost, salt from
 * the OS random source) into out (outsz bytes, AUTH_HASH_NEW_MAX is
 * enough). Returns 0, or -1 (the password contains a NUL or is longer
 * than AUTH_PASSWORD_MAX, out is too small, or libxcrypt failed); out is
 * "" on failure.
 */
int auth_password_hash(const char *pw, size_t len, char *out, size_t outsz);

/* What auth_accounts_edit() does. */
enum auth_edit_op {
	AUTH_EDIT_ADD,		/* append a new account line */
	AUTH_EDIT_PASSWD,	/* replace PASSWORD and scram-sha-256= */
	AUTH_EDIT_DEL,		/* remove the account's line */
};

struct auth_edit {
	enum auth_edit_op op;
	const char *address;	/* the account, "local@domain", any case */
	const char *password;	/* ADD, PASSWD: the new PASSWORD field
				 * ("" or NULL: none) */
	const char *scram;	/* ADD, PASSWD: the new scram-sha-256=
				 * value; NULL: none (PASSWD drops an old
				 * one) */
	const char *const *addresses; /* ADD: addresses= entries */
	size_t naddresses;
};

/*
 * Appends one account line (with its LF) to out:
 *   address[:password[::::::EXTRA]]
 * EXTRA being "scram-sha-256=V" and "addresses=a,b" as given. The values
 * must not contain ':', blanks or control bytes (and addresses no ',').
 * Returns 0, or -1 (a value is unfit, or out is full; out unchanged).
 */
int auth_account_line_format(struct buf *out, const char *address,
    const char *password, const char *scram, const char *const *addresses,
    size_t naddresses);

/*
 * Applies e to the accounts file text[0..len) and appends the new text to
 * out. Every line but the account's stays byte for byte (comments, blank
 * lines, CRLF ends, other accounts); PASSWD keeps the account's address,
 * uid..shell fields and every other EXTRA field as written; ADD appends at
 * the end (adding a missing final LF first). The account line is found as
 * auth_accounts_parse() finds it (lines that do not parse are left
 * alone). Returns 0, or -1 with the reason in err: ADD of an existing
 * account, PASSWD or DEL of a missing one, a value auth_account_line_format
 * refuses, out full.
 */
int auth_accounts_edit(const char *text, size_t len, const struct auth_edit *e,
    struct buf *out, char *err, size_t errsz);

#endif
