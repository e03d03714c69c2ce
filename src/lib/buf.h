/*
 * buf: a growable byte buffer with a hard maximum. The data is always
 * followed by a NUL (not counted in len) so it can be handed to C string
 * functions; appends that would pass the maximum fail and change nothing,
 * they never truncate. Compare Postfix vstring.c and OpenSSH sshbuf.h.
 */
#ifndef PETREL_LIB_BUF_H
#define PETREL_LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;	/* NUL-terminated; NULL until the first append */
	size_t len;	/* bytes in use */
	size_t cap;	/* bytes allocated, including room for the NUL */
	size_t max;	/* hard limit on len */
};

/* Initialises an empty buffer that may hold at most max bytes. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer is empty and reusable afterwards. */
void buf_clear(struct buf *b);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);
/* Appends n bytes. 0 on success, -1 if the result would exceed max. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Appends a C string. 0 or -1 as buf_append. */
int buf_puts(struct buf *b, const char *s);
/* Appends one byte. 0 or -1 as buf_append. */
int buf_putc(struct buf *b, char c);
/* Appends formatted text. 0 or -1 (over max or format error). */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Returns the data as a C string ("" when empty). */
const char *buf_str(const struct buf *b);

#endif
