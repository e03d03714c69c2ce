/*
 * fsio: the small file-system helpers every disk writer needs (the spool,
 * Maildir delivery, the parent's state files): whole writes and syncs that
 * retry on EINTR. All return 0, or -1 with errno set.
 */
#ifndef PETREL_LIB_FSIO_H
#define PETREL_LIB_FSIO_H

#include <stddef.h>

/* Writes all n bytes (short writes and EINTR retried; 0 written = EIO). */
int fsio_write_all(int fd, const void *p, size_t n);
/* fsync / fdatasync, retried on EINTR. */
int fsio_fsync(int fd);
int fsio_fdatasync(int fd);
/*
 * Creates a new file dir/prefix + a unique random suffix (mkostemp, mode
 * 0600, O_CLOEXEC) and writes its path into path (pathsz bytes). Returns
 * the descriptor, or -1 with errno (ENAMETOOLONG when the path does not
 * fit).
 */
int fsio_mktemp(const char *dir, const char *prefix, char *path,
    size_t pathsz);

#endif
