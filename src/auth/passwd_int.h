/*
 * passwd_int: what the accounts file's parser (passwd.c), its password
 * checks (passwd_verify.c) and its line editor (passwd_edit.c) share. Not
 * for use outside src/auth/passwd*.c.
 */
#ifndef PETREL_AUTH_PASSWD_INT_H
#define PETREL_AUTH_PASSWD_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/passwd.h"
#include "lib/span.h"

#define AUTH_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define AUTH_NONE       ((size_t)-1)

/*
 * A setting (not a hash) at libxcrypt's default yescrypt cost, for
 * auth_password_dummy(). Public by design: it only decides how much work
 * the dummy does.
 */
#define AUTH_DUMMY_SETTING "$y$j9T$/WmIU4olIpawNcZy.i0Yx0"

/* Where errors go while the file is read. */
struct auth_ctx {
	const char *name;
	unsigned line;
	char *err;
	size_t errsz;
};

/* One line of the file. */
struct auth_line {
	const char *raw; /* the line, without its end */
	size_t raw_n;
	size_t end_n;  /* bytes of the line end: 0, 1 or 2 */
	const char *s; /* the content, trimmed */
	size_t n;
};

/* The colon-separated fields of a line: address, password, ..., extra. */
struct auth_fields {
	struct span f[8];
	size_t nf; /* 1..8 */
};

/* Writes a message without a line into err. Returns -1. */
int auth_error_plain(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool auth_is_blank(char ch);
/* Trims blanks at both ends. */
struct span auth_trim(struct span sp);
/* The next line of text[0..len) at *pos (false at the end). */
bool auth_next_line(const char *text, size_t len, size_t *pos,
    struct auth_line *l);
/* Checks a line's length and bytes and trims it. 0, or -1 (x's error). */
int auth_line_check(struct auth_ctx *x, struct auth_line *l);
/* True if the trimmed line is blank or a comment. */
bool auth_line_is_empty(const struct auth_line *l);
/* Splits s[0..n) at its first seven colons. */
void auth_fields_split(const char *s, size_t n, struct auth_fields *fs);
/*
 * Checks local@domain (an account name when account) and writes it
 * lower-case into key (AUTH_ADDRESS_MAX + 1). 0, or -1 with *why_out.
 */
int auth_address_norm(const char *s, size_t n, bool account, char *key,
    const char **why_out);
/* The account key of a line's first field. 0, or -1 with *why_out. */
int auth_line_key(const struct auth_fields *fs, char *key, struct span *addr,
    const char **why_out);

#endif
