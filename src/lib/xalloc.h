/*
 * xalloc: allocation that aborts on failure. petrel caps every size a peer
 * can influence before it allocates, so running out of memory here is an
 * operating-system condition, not a peer's doing; we log and abort.
 */
#ifndef PETREL_LIB_XALLOC_H
#define PETREL_LIB_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Overflow-checked realloc of an array of nmemb elements of size bytes. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Overwrites n bytes at p in a way the compiler does not remove. */
void xwipe(void *p, size_t n);

#endif
