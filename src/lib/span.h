/*
 * span: a read-only view of bytes (pointer + length). Parsers take and
 * return spans and never rely on a terminating NUL.
 */
#ifndef PETREL_LIB_SPAN_H
#define PETREL_LIB_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

struct span {
	const char *p;
	size_t n;
};

static inline struct span
span_make(const char *p, size_t n)
{
	struct span s = { p, n };
	return s;
}

static inline struct span
span_cstr(const char *s)
{
	return span_make(s, strlen(s));
}

/* True if s equals the literal lit, ASCII case-insensitively. */
static inline bool
span_eq_ci(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

/* True if s starts with the literal lit, ASCII case-insensitively. */
static inline bool
span_prefix_ci(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && strncasecmp(s.p, lit, n) == 0;
}

/* Drops the first n bytes (n <= s.n). */
static inline struct span
span_skip(struct span s, size_t n)
{
	return span_make(s.p + n, s.n - n);
}

#endif
