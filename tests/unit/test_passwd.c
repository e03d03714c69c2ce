/*
 * test_passwd: unit tests for src/auth/passwd and src/auth/scram. Every
 * password scheme parsed and verified with real hashes (made once with
 * libxcrypt, libargon2 and Python's hashlib for the password "secret" and
 * embedded here), every parse error with its line, the RFC 7677
 * SCRAM-SHA-256 example, new hashes and keys, lookups, and the line
 * editor `petrel user` writes the file with.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd.h"
#include "auth/scram.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "proto/base64.h"

/* Password "secret" in every scheme (cheap cost parameters). */
#define H_YESCRYPT "$y$j75$jTyDW/epwdnMidXV7jEvl1$QELNdIcVnqxKDnD3bAuX2pExleTA5LjfIZ11Y0TKYoA"
#define H_BCRYPT_2B "$2b$04$XDpkxJwWkmzbtsxiL79H2eslS/YjMLpYL7EGRxYLHu.c7WAPO8PtS"
#define H_BCRYPT_2Y "$2y$04$4vrqSCxbXru3EqNj7Zr2L.pv6usOT1ZmZGQB9HWtSzx0JvzE4fMoO"
#define H_SHA512 "$6$rounds=1000$QhTy0DlR2nv1wGCd$xJXs83SJgVAmX1k.G9LWRRZdUCSFzgGBM3NPGUXE1xTYtP84mPNhbYyv5Cv.QHC7KbMK03HYa.N5/quoK1tBJ0"
#define H_SHA512_DEF "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG."
#define H_SHA256 "$5$rounds=1000$HRmg09hT4mIuLDrK$C/pTKGsE78bnQv3EchBdf31pscDE9Wv9hjS3pipbU9D"
#define H_SHA256_DEF "$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM."
#define H_ARGON2ID "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$+v0rf6ETYAIpqJIjJyARZ3W3zqJlkf+0TRXzsLHmR6o"
#define H_ARGON2I "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$CGnMwRlC4t6fgZqms/SAxnSrO+OnnnJAx0bHMz6m8vE"
/* SCRAM-SHA-256 keys of "secret", salt "0123456789abcdef". */
#define H_SCRAM "4096,MDEyMzQ1Njc4OWFiY2RlZg==,bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=,VpYlBuxyzeCI1KnctrefdljpB1mk3Gp7sBI/t11+NkQ="
#define H_SCRAM_5000 "5000,MDEyMzQ1Njc4OWFiY2RlZg==,QyGWlo0c520mnnWTLyWVhipR6pHPi8KYFuOB0Uc8C10=,sf7LyamnZ+Ti3lxv4pgMpHvoDyHuGpdhjIx6lorKLCc="

/* Parses text through a copy without a NUL (ASan sees overreads). */
static int
parse(const char *text, struct auth_accounts **out, char *err, size_t errsz)
{
	size_t n = strlen(text);
	char *copy = xmalloc(n ? n : 1);
	int rc;

	memcpy(copy, text, n);
	rc = auth_accounts_parse("users", copy, n, out, err, errsz);
	free(copy);
	return rc;
}

static struct auth_accounts *
parse_ok(const char *text)
{
	struct auth_accounts *aa;
	char err[512];

	if (parse(text, &aa, err, sizeof(err)) != 0)
		fail_msg("parse: %s", err);
	return aa;
}

static const struct {
	const char *line;
	enum auth_pw_kind kind;
	enum auth_scheme scheme;
	bool scram;
	int verify;		/* of "secret" */
} scheme_cases[] = {
	{ "a@example.org", AUTH_PW_NONE, AUTH_SCHEME_NONE, false, 0 },
	{ "a@example.org:", AUTH_PW_NONE, AUTH_SCHEME_NONE, false, 0 },
	{ "a@example.org::1000:1000::/home/a:/bin/sh", AUTH_PW_NONE,
	    AUTH_SCHEME_NONE, false, 0 },
	{ "a@example.org:" H_YESCRYPT, AUTH_PW_CRYPT, AUTH_SCHEME_YESCRYPT,
	    false, 1 },
	{ "a@example.org:{CRYPT}" H_YESCRYPT, AUTH_PW_CRYPT,
	    AUTH_SCHEME_YESCRYPT, false, 1 },
	{ "a@example.org:{crypt}" H_BCRYPT_2B, AUTH_PW_CRYPT,
	    AUTH_SCHEME_BCRYPT, false, 1 },
	{ "a@example.org:" H_BCRYPT_2B, AUTH_PW_CRYPT, AUTH_SCHEME_BCRYPT,
	    false, 1 },
	{ "a@example.org:{BLF-CRYPT}" H_BCRYPT_2Y, AUTH_PW_CRYPT,
	    AUTH_SCHEME_BCRYPT, false, 1 },
	{ "a@example.org:" H_SHA512, AUTH_PW_CRYPT, AUTH_SCHEME_SHA512_CRYPT,
	    false, 1 },
	{ "a@example.org:{SHA512-CRYPT}" H_SHA512_DEF, AUTH_PW_CRYPT,
	    AUTH_SCHEME_SHA512_CRYPT, false, 1 },
	{ "a@example.org:" H_SHA256, AUTH_PW_CRYPT, AUTH_SCHEME_SHA256_CRYPT,
	    false, 1 },
	{ "a@example.org:{SHA256-CRYPT}" H_SHA256_DEF, AUTH_PW_CRYPT,
	    AUTH_SCHEME_SHA256_CRYPT, false, 1 },
	{ "a@example.org:" H_ARGON2ID, AUTH_PW_ARGON2, AUTH_SCHEME_ARGON2ID,
	    false, 1 },
	{ "a@example.org:{ARGON2ID}" H_ARGON2ID, AUTH_PW_ARGON2,
	    AUTH_SCHEME_ARGON2ID, false, 1 },
	{ "a@example.org:" H_ARGON2I, AUTH_PW_ARGON2, AUTH_SCHEME_ARGON2I,
	    false, 1 },
	{ "a@example.org:{Argon2I}" H_ARGON2I, AUTH_PW_ARGON2,
	    AUTH_SCHEME_ARGON2I, false, 1 },
	{ "a@example.org:{SCRAM-SHA-256}" H_SCRAM, AUTH_PW_SCRAM,
	    AUTH_SCHEME_SCRAM_SHA256, true, 1 },
	{ "a@example.org:{SCRAM-SHA-256}" H_SCRAM_5000, AUTH_PW_SCRAM,
	    AUTH_SCHEME_SCRAM_SHA256, true, 1 },
	{ "a@example.org:" H_YESCRYPT "::::::scram-sha-256=" H_SCRAM,
	    AUTH_PW_CRYPT, AUTH_SCHEME_YESCRYPT, true, 1 },
	{ "a@example.org:" H_YESCRYPT ":1:2:Gecos, with: colons?::"
	    ":userdb_quota_rule=*:storage=1G scram-sha-256=" H_SCRAM
	    " nopassword", AUTH_PW_CRYPT, AUTH_SCHEME_YESCRYPT, true, 1 },
	{ "a@example.org:!" H_YESCRYPT "::::::scram-sha-256=" H_SCRAM,
	    AUTH_PW_DISABLED, AUTH_SCHEME_YESCRYPT, false, 0 },
	{ "a@example.org:!", AUTH_PW_DISABLED, AUTH_SCHEME_NONE, false, 0 },
	{ "a@example.org:!{SCRAM-SHA-256}" H_SCRAM, AUTH_PW_DISABLED,
	    AUTH_SCHEME_SCRAM_SHA256, false, 0 },
	{ "a@example.org:::::::scram-sha-256=" H_SCRAM, AUTH_PW_NONE,
	    AUTH_SCHEME_NONE, false, 0 },
	{ "  A@Example.ORG :  " H_BCRYPT_2B "  \r", AUTH_PW_CRYPT,
	    AUTH_SCHEME_BCRYPT, false, 1 },
};

static void
test_schemes(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(scheme_cases) / sizeof(scheme_cases[0]); i++) {
		struct auth_accounts *aa;
		const struct auth_account *a;
		char text[1024];
		int v;

		snprintf(text, sizeof(text), "# case %zu\n%s\n", i,
		    scheme_cases[i].line);
		aa = parse_ok(text);
		assert_int_equal(auth_accounts_count(aa), 1);
		a = auth_accounts_find(aa, "a@example.org");
		if (a == NULL)
			fail_msg("case %zu: not found", i);
		assert_ptr_equal(a, auth_accounts_get(aa, 0));
		assert_string_equal(a->address, "a@example.org");
		assert_int_equal(a->line, 2);
		if (a->kind != scheme_cases[i].kind ||
		    a->scheme != scheme_cases[i].scheme ||
		    a->has_scram != scheme_cases[i].scram)
			fail_msg("case %zu: kind %d scheme %s scram %d", i,
			    a->kind, auth_scheme_name(a->scheme),
			    a->has_scram);
		assert_true((a->hash != NULL) == (a->kind == AUTH_PW_CRYPT ||
		    a->kind == AUTH_PW_ARGON2));
		v = auth_password_verify(a, "secret", 6);
		if (v != scheme_cases[i].verify)
			fail_msg("case %zu: verify(secret) = %d", i, v);
		assert_int_equal(auth_password_verify(a, "Secret", 6), 0);
		assert_int_equal(auth_password_verify(a, "secret\0", 7), 0);
		assert_int_equal(auth_password_verify(a, "secre", 5), 0);
		assert_int_equal(auth_password_verify(a, "", 0), 0);
		if (a->has_scram) {
			struct auth_scram_keys k;
			assert_int_equal(auth_scram_keys_derive("secret", 6,
			    a->scram.salt, a->scram.salt_len, a->scram.iter,
			    &k), 0);
			assert_memory_equal(k.stored_key, a->scram.stored_key,
			    32);
			assert_memory_equal(k.server_key, a->scram.server_key,
			    32);
		}
		auth_accounts_free(aa);
	}
}

/* An argon2 hash without a version field is old-style (v=16): shape ok. */
static void
test_argon2_shapes(void **state)
{
	struct auth_accounts *aa;

	(void)state;
	aa = parse_ok("a@example.org:$argon2id$m=65536,t=3,p=4$"
		      "c2FsdHNhbHRzYWx0c2FsdA$+v0rf6ETYAIpqJIjJyARZ3W3zqJlkf+0TRXz"
		      "sLHmR6o\n"
		      "b@example.org:$argon2i$v=16$m=8,t=1,p=1$c2FsdHNhbHRzYWx0c2F"
		      "sdA$AAAAAAAA\n");
	assert_int_equal(auth_accounts_get(aa, 0)->scheme,
	    AUTH_SCHEME_ARGON2ID);
	assert_int_equal(auth_accounts_get(aa, 1)->scheme, AUTH_SCHEME_ARGON2I);
	auth_accounts_free(aa);
}

static const struct {
	const char *text;
	const char *err;
} error_cases[] = {
	{ "a@example.org:{PLAIN}secret\n",
	    "users:1: password: unsupported scheme {PLAIN} (supported: CRYPT "
	    "BLF-CRYPT SHA512-CRYPT SHA256-CRYPT ARGON2ID ARGON2I "
	    "SCRAM-SHA-256)" },
	{ "a@example.org:{CRAM-MD5}abc\n",
	    "users:1: password: unsupported scheme {CRAM-MD5}" },
	{ "a@example.org:secret\n",
	    "users:1: password: neither {SCHEME}data nor a $id$ crypt string "
	    "(plaintext passwords are not accepted)" },
	{ "a@example.org:{SHA512-CRYPT\n", "users:1: password: '{' without '}'" },
	{ "a@example.org:$1$abcdefgh$HzsC0ADqgQCbq.y8Mg0qV/\n",
	    "users:1: password: unsupported crypt hash (supported: $y$ $2b$ "
	    "$2y$ $2a$ $6$ $5$ $argon2id$ $argon2i$)" },
	{ "a@example.org:abJnggxhB/yWI\n", "users:1: password: neither" },
	{ "\n\na@example.org:$y$j9T$abc\n",
	    "users:3: password: malformed yescrypt hash" },
	{ "a@example.org:" H_YESCRYPT "x\n",
	    "users:1: password: malformed yescrypt hash" },
	{ "a@example.org:$2b$03$XDpkxJwWkmzbtsxiL79H2eslS/YjMLpYL7EGRxYLHu."
	  "c7WAPO8PtS\n", "users:1: password: malformed bcrypt hash" },
	{ "a@example.org:$2x$04$XDpkxJwWkmzbtsxiL79H2eslS/YjMLpYL7EGRxYLHu."
	  "c7WAPO8PtS\n", "users:1: password: unsupported crypt hash" },
	{ "a@example.org:$6$rounds=999$QhTy0DlR2nv1wGCd$xJXs83SJgVAmX1k.G9LW"
	  "RRZdUCSFzgGBM3NPGUXE1xTYtP84mPNhbYyv5Cv.QHC7KbMK03HYa.N5/quoK1tBJ"
	  "0\n", "users:1: password: malformed SHA512-CRYPT hash" },
	{ "a@example.org:$5$abcdefgh$short\n",
	    "users:1: password: malformed SHA256-CRYPT hash" },
	{ "a@example.org:$argon2id$v=19$m=2097152,t=1,p=1$c2FsdHNhbHRzYWx0c"
	  "2FsdA$+v0rf6ETYAIpqJIjJyARZ3W3zqJlkf+0TRXzsLHmR6o\n",
	    "users:1: password: malformed or too costly argon2id hash" },
	{ "a@example.org:$argon2id$v=19$m=64,t=1,p=16$c2FsdHNhbHRzYWx0c2FsdA"
	  "$+v0rf6ETYAIpqJIjJyARZ3W3zqJlkf+0TRXzsLHmR6o\n",
	    "users:1: password: malformed or too costly argon2id hash" },
	{ "a@example.org:$argon2i$v=19$t=1,m=64,p=1$c2FsdHNhbHRzYWx0c2FsdA"
	  "$CGnMwRlC4t6fgZqms/SAxnSrO+OnnnJAx0bHMz6m8vE\n",
	    "users:1: password: malformed or too costly argon2i hash" },
	{ "a@example.org:{BLF-CRYPT}" H_SHA512 "\n",
	    "users:1: password: a sha512-crypt hash under {BLF-CRYPT}" },
	{ "a@example.org:{CRYPT}" H_ARGON2ID "\n",
	    "users:1: password: a argon2id hash under {CRYPT}" },
	{ "a@example.org:{ARGON2I}" H_ARGON2ID "\n",
	    "users:1: password: a argon2id hash under {ARGON2I}" },
	{ "a@example.org:{BLF-CRYPT}\n",
	    "users:1: password: {BLF-CRYPT} wants a $id$ crypt string" },
	{ "a@example.org:!!" H_YESCRYPT "\n",
	    "users:1: password: more than one '!'" },
	{ "a@example.org:$y$ j75$x\n",
	    "users:1: blank inside the password field" },
	{ "a@example.org:{SCRAM-SHA-256}4095,MDEyMzQ1Njc4OWFiY2RlZg==,"
	  "bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=,VpYlBuxyzeCI1Knctref"
	  "dljpB1mk3Gp7sBI/t11+NkQ=\n",
	    "users:1: password: malformed {SCRAM-SHA-256} value: iteration "
	    "count not in 4096..10000000" },
	{ "a@example.org:{SCRAM-SHA-256}10000001,MDEy,"
	  "bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=,VpYlBuxyzeCI1Knctref"
	  "dljpB1mk3Gp7sBI/t11+NkQ=\n",
	    "users:1: password: malformed {SCRAM-SHA-256} value: iteration" },
	{ "a@example.org:{SCRAM-SHA-256}4096,MDEy,bpSY\n",
	    "users:1: password: malformed {SCRAM-SHA-256} value: want "
	    "ITER,SALT,STOREDKEY,SERVERKEY" },
	{ "a@example.org:" H_YESCRYPT "::::::scram-sha-256=4096,MDE,"
	  "bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=,VpYlBuxyzeCI1Knctref"
	  "dljpB1mk3Gp7sBI/t11+NkQ=\n",
	    "users:1: malformed scram-sha-256= value: salt is not base64 of "
	    "1..64 bytes" },
	{ "a@example.org:" H_YESCRYPT "::::::scram-sha-256=4096,,"
	  "bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=,VpYlBuxyzeCI1Knctref"
	  "dljpB1mk3Gp7sBI/t11+NkQ=\n",
	    "users:1: malformed scram-sha-256= value: salt" },
	{ "a@example.org:" H_YESCRYPT "::::::scram-sha-256=4096,MDEy,"
	  "bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9p==,VpYlBuxyzeCI1Knctref"
	  "dljpB1mk3Gp7sBI/t11+NkQ=\n",
	    "users:1: malformed scram-sha-256= value: StoredKey is not base64 "
	    "of 32 bytes" },
	{ "a@example.org:" H_YESCRYPT "::::::scram-sha-256=4096,MDEy,"
	  "bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqVu9pE=,VpYlBuxyzeCI1Knctref"
	  "dljpB1mk3Gp7sBI/t11+NkQ\n",
	    "users:1: malformed scram-sha-256= value: ServerKey is not base64 "
	    "of 32 bytes" },
	{ "a@example.org:" H_YESCRYPT "::::::scram-sha-256=" H_SCRAM
	  " scram-sha-256=" H_SCRAM "\n",
	    "users:1: scram-sha-256= given twice" },
	{ "a@example.org:{SCRAM-SHA-256}" H_SCRAM "::::::scram-sha-256="
	  H_SCRAM "\n", "users:1: scram-sha-256= given twice (or with a "
			"{SCRAM-SHA-256} password)" },
	{ "a@example.org:::::::addresses=b@example.org addresses=c@x.org\n",
	    "users:1: addresses= given twice" },
	{ "a@example.org:::::::addresses=bad\n",
	    "users:1: addresses=: 'bad' is not user@domain" },
	{ "a@example.org:::::::addresses=b@example.org,,c@x.org\n",
	    "users:1: addresses=: empty address" },
	{ "a@example.org:::::::addresses=\n",
	    "users:1: addresses=: empty address" },
	{ "a@example.org:::::::addresses=b@-x.org\n",
	    "users:1: addresses=: 'b@-x.org' has an invalid domain" },
	{ "a@example.org:::::::addresses=.b@x.org\n",
	    "users:1: addresses=: '.b@x.org' has an invalid local part" },
	{ "a@example.org:::::::addresses=b@x.org,B@X.org\n",
	    "users:1: addresses=: 'b@x.org' given twice" },
	{ "a@example.org\nb@example.org\nA@EXAMPLE.ORG:" H_YESCRYPT "\n",
	    "users:3: duplicate account 'a@example.org' (first on line 1)" },
	{ "# x\nbad\n", "users:2: 'bad' is not user@domain" },
	{ "a/b@example.org\n",
	    "users:1: 'a/b@example.org' has an invalid user name (allowed: "
	    "a-z 0-9 . _ + -)" },
	{ "a..b@example.org\n", "users:1: 'a..b@example.org' has an invalid "
				"user name" },
	{ "a@example..org\n", "users:1: 'a@example..org' has an invalid "
			      "domain" },
	{ "@example.org\n", "users:1: '@example.org' has an invalid user" },
	{ ":" H_YESCRYPT "\n", "users:1: '' is not user@domain" },
	{ "a@example.org\x01\n", "users:1: control character 0x01 in line" },
	{ "a@example.org\n\rb@example.org\n",
	    "users:2: control character 0x0d in line" },
	{ "a@example.org:\x7f\n", "users:1: control character 0x7f in line" },
};

static void
test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct auth_accounts *aa = (struct auth_accounts *)1;
		char err[512];

		if (parse(error_cases[i].text, &aa, err, sizeof(err)) == 0)
			fail_msg("case %zu parsed: %s", i, error_cases[i].text);
		assert_null(aa);
		if (strncmp(err, error_cases[i].err,
		    strlen(error_cases[i].err)) != 0)
			fail_msg("case %zu: got '%s' want '%s'", i, err,
			    error_cases[i].err);
	}
}

/* Lengths: a long line, a long password field, 100 vs 101 addresses. */
static void
test_limits(void **state)
{
	struct auth_accounts *aa;
	struct buf b;
	char err[256];
	int i;

	(void)state;
	buf_init(&b, 1 << 20);
	buf_puts(&b, "a@example.org:::::::x=");
	while (b.len < AUTH_LINE_MAX)
		buf_putc(&b, 'y');
	assert_int_equal(parse(b.data, &aa, err, sizeof(err)), 0);
	auth_accounts_free(aa);
	buf_putc(&b, 'y');
	assert_int_equal(parse(b.data, &aa, err, sizeof(err)), -1);
	assert_string_equal(err, "users:1: line too long (more than 65536 "
				 "bytes)");

	buf_reset(&b);
	buf_puts(&b, "a@example.org:$y$");
	while (b.len < 14 + AUTH_HASH_MAX + 1)
		buf_putc(&b, 'y');
	assert_int_equal(parse(b.data, &aa, err, sizeof(err)), -1);
	assert_string_equal(err, "users:1: password field longer than 512 "
				 "bytes");

	buf_reset(&b);
	buf_puts(&b, "a@example.org:::::::addresses=");
	for (i = 0; i < AUTH_ADDRESSES_MAX; i++)
		buf_printf(&b, "%sx%d@example.net", i ? "," : "", i);
	assert_int_equal(parse(b.data, &aa, err, sizeof(err)), 0);
	assert_int_equal(auth_accounts_get(aa, 0)->naddresses,
	    AUTH_ADDRESSES_MAX);
	auth_accounts_free(aa);
	buf_puts(&b, ",one@more.example");
	assert_int_equal(parse(b.data, &aa, err, sizeof(err)), -1);
	assert_string_equal(err, "users:1: addresses=: more than 100 "
				 "addresses");
	buf_clear(&b);
}

static void
test_lookup(void **state)
{
	struct auth_accounts *aa;
	const struct auth_account *a;

	(void)state;
	aa = parse_ok("# accounts\n"
		      "Alice@Example.ORG:" H_YESCRYPT "::::::addresses=Sales@"
		      "Example.org,info@other.example\n"
		      "\n"
		      "  bob@example.org  \n"
		      "carol+x@example.net:!" H_BCRYPT_2B "\r\n");
	assert_int_equal(auth_accounts_count(aa), 3);
	assert_null(auth_accounts_get(aa, 3));
	a = auth_accounts_find(aa, "ALICE@example.org");
	assert_non_null(a);
	assert_string_equal(a->address, "alice@example.org");
	assert_int_equal(a->line, 2);
	assert_true(auth_account_can_login(a));
	assert_int_equal(a->naddresses, 2);
	assert_string_equal(a->addresses[0], "sales@example.org");
	assert_string_equal(a->addresses[1], "info@other.example");
	assert_true(auth_account_may_send_as(a, "alice@EXAMPLE.org"));
	assert_true(auth_account_may_send_as(a, "SALES@example.org"));
	assert_true(auth_account_may_send_as(a, "info@Other.Example"));
	assert_false(auth_account_may_send_as(a, "bob@example.org"));
	assert_false(auth_account_may_send_as(a, "alice+x@example.org"));
	assert_false(auth_account_may_send_as(a, ""));
	a = auth_accounts_find(aa, "bob@example.org");
	assert_non_null(a);
	assert_int_equal(a->line, 4);
	assert_false(auth_account_can_login(a));
	assert_true(auth_account_may_send_as(a, "Bob@example.org"));
	a = auth_accounts_find(aa, "carol+x@example.net");
	assert_non_null(a);
	assert_int_equal(a->kind, AUTH_PW_DISABLED);
	assert_int_equal(a->scheme, AUTH_SCHEME_BCRYPT);
	assert_null(a->hash);
	assert_int_equal(auth_password_verify(a, "secret", 6), 0);
	assert_null(auth_accounts_find(aa, "carol@example.net"));
	assert_null(auth_accounts_find(aa, "alice"));
	assert_null(auth_accounts_find(aa, ""));
	assert_int_equal(auth_password_verify(NULL, "secret", 6), 0);
	auth_accounts_free(aa);

	aa = parse_ok("");
	assert_int_equal(auth_accounts_count(aa), 0);
	assert_null(auth_accounts_find(aa, "a@example.org"));
	auth_accounts_free(aa);
}

/* Every prefix of a valid file parses or fails with a line number. */
static void
test_prefixes(void **state)
{
	static const char text[] =
	    "# x\r\na@example.org:" H_BCRYPT_2B ":1:2::/h:/s:scram-sha-256="
	    H_SCRAM " addresses=b@c.example,d@e.example\n"
	    "b@example.org:{ARGON2ID}" H_ARGON2ID "\n";
	size_t n;

	(void)state;
	for (n = 0; n <= sizeof(text) - 1; n++) {
		struct auth_accounts *aa;
		char *copy = xmalloc(n + 1), err[512];

		memcpy(copy, text, n);
		if (auth_accounts_parse("users", copy, n, &aa, err,
		    sizeof(err)) == 0)
			auth_accounts_free(aa);
		else if (strncmp(err, "users:", 6) != 0)
			fail_msg("prefix %zu: %s", n, err);
		free(copy);
	}
}

/*
 * RFC 7677 section 3: user "user", password "pencil". The keys derived
 * from the salt and iteration count must give the ClientProof and the
 * ServerSignature of the example.
 */
static void
test_rfc7677(void **state)
{
	static const char authmsg[] =
	    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	static const char proof_b64[] =
	    "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
	static const char sig_b64[] =
	    "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	uint8_t salt[16], proof[32], want[32], sig[32];
	struct auth_scram_keys k, k2;
	const char *why;
	char text[AUTH_SCRAM_TEXT_MAX], b64[64];
	size_t n;

	(void)state;
	assert_int_equal(base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt,
	    sizeof(salt), &n), 0);
	assert_int_equal(n, 16);
	assert_int_equal(auth_scram_keys_derive("pencil", 6, salt, 16, 4096,
	    &k), 0);

	assert_int_equal(auth_scram_client_proof("pencil", 6, salt, 16, 4096,
	    (const uint8_t *)authmsg, strlen(authmsg), proof), 0);
	base64_encode(proof, 32, b64);
	assert_string_equal(b64, proof_b64);
	assert_int_equal(base64_decode(proof_b64, strlen(proof_b64), want,
	    sizeof(want), &n), 0);
	assert_true(auth_scram_proof_ok(k.stored_key,
	    (const uint8_t *)authmsg, strlen(authmsg), want));
	want[31] ^= 1;
	assert_false(auth_scram_proof_ok(k.stored_key,
	    (const uint8_t *)authmsg, strlen(authmsg), want));
	want[31] ^= 1;
	assert_false(auth_scram_proof_ok(k.stored_key,
	    (const uint8_t *)authmsg, strlen(authmsg) - 1, want));

	auth_scram_server_signature(k.server_key, (const uint8_t *)authmsg,
	    strlen(authmsg), sig);
	base64_encode(sig, 32, b64);
	assert_string_equal(b64, sig_b64);

	/* The stored form round-trips. */
	assert_int_equal(auth_scram_keys_format(&k, text, sizeof(text)), 0);
	assert_string_equal(text, "4096,W22ZaJ0SNY7soEsUEjb6gQ==,"
				  "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=,"
				  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	assert_int_equal(auth_scram_keys_parse(text, strlen(text), &k2, &why),
	    0);
	assert_memory_equal(&k, &k2, sizeof(k));
	assert_int_equal(auth_scram_keys_format(&k, text, 100), -1);
	assert_string_equal(text, "");

	/* Out-of-range derivations. */
	assert_int_equal(auth_scram_keys_derive("pencil", 6, salt, 16, 4095,
	    &k), -1);
	assert_int_equal(auth_scram_keys_derive("pencil", 6, salt, 0, 4096,
	    &k), -1);
	assert_int_equal(auth_scram_keys_derive("pencil", 6, salt, 65, 4096,
	    &k), -1);
}

/* New hashes and keys verify; two of them differ (random salts). */
static void
test_new_hash(void **state)
{
	char h1[AUTH_HASH_NEW_MAX], h2[AUTH_HASH_NEW_MAX], small[20];
	char sc[AUTH_SCRAM_TEXT_MAX], line[1024];
	struct auth_scram_keys k1, k2;
	struct auth_accounts *aa;
	const struct auth_account *a;

	(void)state;
	assert_int_equal(auth_password_hash("hunter2", 7, h1, sizeof(h1)), 0);
	assert_int_equal(auth_password_hash("hunter2", 7, h2, sizeof(h2)), 0);
	assert_true(strncmp(h1, "$y$", 3) == 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(auth_password_hash("hunter2", 7, small,
	    sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(auth_password_hash("a\0b", 3, h2, sizeof(h2)), -1);

	assert_int_equal(auth_scram_keys_new("hunter2", 7, &k1), 0);
	assert_int_equal(auth_scram_keys_new("hunter2", 7, &k2), 0);
	assert_int_equal(k1.iter, 4096);
	assert_int_equal(k1.salt_len, 16);
	assert_memory_not_equal(k1.salt, k2.salt, 16);
	assert_int_equal(auth_scram_keys_format(&k1, sc, sizeof(sc)), 0);

	snprintf(line, sizeof(line), "u@example.org:%s::::::scram-sha-256=%s\n"
				     "v@example.org:{SCRAM-SHA-256}%s\n",
	    h1, sc, sc);
	aa = parse_ok(line);
	a = auth_accounts_find(aa, "u@example.org");
	assert_int_equal(a->scheme, AUTH_SCHEME_YESCRYPT);
	assert_true(a->has_scram);
	assert_memory_equal(a->scram.stored_key, k1.stored_key, 32);
	assert_int_equal(auth_password_verify(a, "hunter2", 7), 1);
	assert_int_equal(auth_password_verify(a, "hunter3", 7), 0);
	a = auth_accounts_find(aa, "v@example.org");
	assert_int_equal(auth_password_verify(a, "hunter2", 7), 1);
	assert_int_equal(auth_password_verify(a, "hunter", 6), 0);
	auth_accounts_free(aa);

	/* The dummy does its work and returns. */
	auth_password_dummy("whatever", 8);
	auth_password_dummy("", 0);
}

/* A stored hash crypt(3) refuses at verify time is an internal error. */
static void
test_verify_internal_error(void **state)
{
	char bad_crypt[] = "$y$!!";
	char bad_argon2[] = "$argon2id$v=19$m=64,t=1,p=1$@@$@@";
	struct auth_account a;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.kind = AUTH_PW_CRYPT;
	a.scheme = AUTH_SCHEME_YESCRYPT;
	a.hash = bad_crypt;
	assert_int_equal(auth_password_verify(&a, "x", 1), -1);
	a.kind = AUTH_PW_ARGON2;
	a.scheme = AUTH_SCHEME_ARGON2ID;
	a.hash = bad_argon2;
	assert_int_equal(auth_password_verify(&a, "x", 1), -1);
}

/* Runs one edit and compares the result. */
static void
edit_case(const char *text, const struct auth_edit *e, const char *want,
    const char *want_err)
{
	struct buf out;
	char err[256];
	int rc;

	buf_init(&out, 1 << 20);
	buf_puts(&out, "[");
	rc = auth_accounts_edit(text, strlen(text), e, &out, err, sizeof(err));
	if (want != NULL) {
		if (rc != 0)
			fail_msg("edit failed: %s", err);
		assert_string_equal(out.data + 1, want);
	} else {
		assert_int_equal(rc, -1);
		assert_string_equal(err, want_err);
		assert_string_equal(out.data, "[");
	}
	buf_clear(&out);
}

static const char edit_text[] =
    "# accounts\r\n"
    "alice@example.org:$y$old:1000:1000:Alice A:/home/a:/bin/sh:quota=1G "
    " scram-sha-256=OLD\tx=y\n"
    "\n"
    "  Bob@Example.org  \n"
    "carol@example.org:{BLF-CRYPT}$2y$old\r\n"
    "dave@example.org::::::scram-sha-256=OLD\n"
    "this line is not an account\n"
    "# carol@example.org:commented out\n"
    "erin@example.org:!$y$old:1:2\n"
    "frank@example.org:$y$old:::::";

static void
test_edit_passwd(void **state)
{
	struct auth_edit e;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.op = AUTH_EDIT_PASSWD;
	e.password = "$y$new";
	e.scram = "NEW";

	/* Other extra fields and their blanks stay; the scram one changes. */
	e.address = "ALICE@example.org";
	edit_case(edit_text, &e,
	    "# accounts\r\n"
	    "alice@example.org:$y$new:1000:1000:Alice A:/home/a:/bin/sh:"
	    "quota=1G  scram-sha-256=NEW\tx=y\n"
	    "\n"
	    "  Bob@Example.org  \n"
	    "carol@example.org:{BLF-CRYPT}$2y$old\r\n"
	    "dave@example.org::::::scram-sha-256=OLD\n"
	    "this line is not an account\n"
	    "# carol@example.org:commented out\n"
	    "erin@example.org:!$y$old:1:2\n"
	    "frank@example.org:$y$old:::::", NULL);

	/* An address-only line grows the fields it needs; blanks stay. */
	e.address = "bob@example.org";
	edit_case("x@example.org\n  Bob@Example.org  \n", &e,
	    "x@example.org\n  Bob@Example.org:$y$new::::::scram-sha-256=NEW  "
	    "\n", NULL);
	/* CRLF kept; a password field replaced, padding added. */
	e.address = "carol@example.org";
	edit_case("carol@example.org:{BLF-CRYPT}$2y$old\r\n", &e,
	    "carol@example.org:$y$new::::::scram-sha-256=NEW\r\n", NULL);
	/* Fewer than 8 fields: uid/gid kept, the rest padded. */
	e.address = "erin@example.org";
	edit_case("erin@example.org:!$y$old:1:2", &e,
	    "erin@example.org:$y$new:1:2::::scram-sha-256=NEW", NULL);
	/* Exactly 8 fields with an empty extra. */
	e.address = "frank@example.org";
	edit_case("frank@example.org:$y$old::::::\n", &e,
	    "frank@example.org:$y$new::::::scram-sha-256=NEW\n", NULL);
	/* A value with ':' in the extra stays whole. */
	edit_case("frank@example.org:x::::::a=b:c scram-sha-256=O d\n", &e,
	    "frank@example.org:$y$new::::::a=b:c scram-sha-256=NEW d\n", NULL);

	/* No scram: an old one is dropped with its blanks. */
	e.scram = NULL;
	e.address = "alice@example.org";
	edit_case("alice@example.org:$y$old::::::scram-sha-256=OLD  x=y\n", &e,
	    "alice@example.org:$y$new::::::x=y\n", NULL);
	edit_case("alice@example.org:$y$old::::::x=y scram-sha-256=OLD\n", &e,
	    "alice@example.org:$y$new::::::x=y\n", NULL);
	edit_case("alice@example.org:$y$old\n", &e,
	    "alice@example.org:$y$new\n", NULL);
	edit_case("alice@example.org\n", &e, "alice@example.org:$y$new\n",
	    NULL);
	/* No password and no scram: the account becomes mailbox-only. */
	e.password = NULL;
	edit_case("alice@example.org:$y$old:::::: scram-sha-256=O\n", &e,
	    "alice@example.org:::::::\n", NULL);

	/* Errors. */
	e.password = "$y$new";
	e.address = "nobody@example.org";
	edit_case(edit_text, &e, NULL, "no account 'nobody@example.org'");
	e.address = "carol@example.org";
	edit_case("carol@example.org\nCarol@example.org:x\n", &e, NULL,
	    "account 'carol@example.org' is on lines 1 and 2");
	e.address = "not an address";
	edit_case(edit_text, &e, NULL, "invalid account address");
	e.address = "alice@example.org";
	e.password = "$y$a:b";
	edit_case(edit_text, &e, NULL, "invalid password field");
	e.password = "$y$ab";
	e.scram = "a b";
	edit_case(edit_text, &e, NULL, "invalid password field");
}

static void
test_edit_add_del(void **state)
{
	static const char *const addrs[] = { "sales@example.org",
		"x@other.example" };
	struct auth_edit e;
	struct buf b;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.op = AUTH_EDIT_ADD;
	e.address = "New@example.org";
	e.password = "$y$new";
	e.scram = "NEW";
	edit_case("a@example.org\n", &e,
	    "a@example.org\nNew@example.org:$y$new::::::scram-sha-256=NEW\n",
	    NULL);
	/* A missing final LF is added first. */
	edit_case("a@example.org", &e,
	    "a@example.org\nNew@example.org:$y$new::::::scram-sha-256=NEW\n",
	    NULL);
	edit_case("", &e, "New@example.org:$y$new::::::scram-sha-256=NEW\n",
	    NULL);
	e.addresses = addrs;
	e.naddresses = 2;
	edit_case("", &e, "New@example.org:$y$new::::::scram-sha-256=NEW "
			  "addresses=sales@example.org,x@other.example\n",
	    NULL);
	e.scram = NULL;
	edit_case("", &e, "New@example.org:$y$new::::::"
			  "addresses=sales@example.org,x@other.example\n",
	    NULL);
	e.password = NULL;
	e.naddresses = 0;
	edit_case("", &e, "New@example.org\n", NULL);
	e.password = "$y$new";
	edit_case("# c\n", &e, "# c\nNew@example.org:$y$new\n", NULL);
	/* Exists (any case). */
	edit_case("x@y.example\r\n NEW@EXAMPLE.ORG:$y$old\r\n", &e, NULL,
	    "account 'new@example.org' already exists (line 2)");
	/* Unfit values. */
	e.address = "bad/name@example.org";
	edit_case("", &e, NULL, "invalid account address");
	e.address = "new@example.org";
	e.addresses = (const char *const[]){ "not-an-address" };
	e.naddresses = 1;
	edit_case("", &e, NULL, "invalid account line");

	/* Delete: the line and its end go, everything else stays. */
	memset(&e, 0, sizeof(e));
	e.op = AUTH_EDIT_DEL;
	e.address = "bob@example.org";
	edit_case(edit_text, &e,
	    "# accounts\r\n"
	    "alice@example.org:$y$old:1000:1000:Alice A:/home/a:/bin/sh:quota=1G "
	    " scram-sha-256=OLD\tx=y\n"
	    "\n"
	    "carol@example.org:{BLF-CRYPT}$2y$old\r\n"
	    "dave@example.org::::::scram-sha-256=OLD\n"
	    "this line is not an account\n"
	    "# carol@example.org:commented out\n"
	    "erin@example.org:!$y$old:1:2\n"
	    "frank@example.org:$y$old:::::", NULL);
	e.address = "frank@example.org";
	edit_case("a@example.org\nfrank@example.org", &e, "a@example.org\n",
	    NULL);
	e.address = "carol@example.org";
	edit_case("carol@example.org:x\r\n", &e, "", NULL);
	edit_case("carol@example.org\x01\n", &e, NULL,
	    "no account 'carol@example.org'");
	edit_case("# carol@example.org\n", &e, NULL,
	    "no account 'carol@example.org'");

	/* The output buffer's maximum is respected. */
	buf_init(&b, 8);
	e.op = AUTH_EDIT_ADD;
	{
		char err[128];
		assert_int_equal(auth_accounts_edit("", 0, &e, &b, err,
		    sizeof(err)), -1);
		assert_int_equal(b.len, 0);
	}
	buf_clear(&b);
}

/* The line formatter on its own. */
static void
test_line_format(void **state)
{
	static const char *const addrs[] = { "a@b.example" };
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(auth_account_line_format(&b, "x@example.org", NULL,
	    NULL, NULL, 0), 0);
	assert_int_equal(auth_account_line_format(&b, "y@example.org", "$y$h",
	    "S", addrs, 1), 0);
	assert_string_equal(b.data, "x@example.org\n"
				    "y@example.org:$y$h::::::scram-sha-256=S "
				    "addresses=a@b.example\n");
	assert_int_equal(auth_account_line_format(&b, "y@example.org",
	    "$y$h h", NULL, NULL, 0), -1);
	assert_int_equal(auth_account_line_format(&b, "y@example.org",
	    "$y$h\n", NULL, NULL, 0), -1);
	assert_int_equal(auth_account_line_format(&b, "y@example.org", NULL,
	    "a:b", NULL, 0), -1);
	assert_int_equal(auth_account_line_format(&b, "y", NULL, NULL, NULL,
	    0), -1);
	assert_int_equal(b.len, 14 + 62);
	buf_clear(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schemes),
		cmocka_unit_test(test_argon2_shapes),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_rfc7677),
		cmocka_unit_test(test_new_hash),
		cmocka_unit_test(test_verify_internal_error),
		cmocka_unit_test(test_edit_passwd),
		cmocka_unit_test(test_edit_add_del),
		cmocka_unit_test(test_line_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
