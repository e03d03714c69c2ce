/* fsio: whole writes and syncs (see fsio.h). */
#include "lib/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
fsio_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int
fsio_fsync(int fd)
{
	while (fsync(fd) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int
fsio_fdatasync(int fd)
{
	while (fdatasync(fd) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

int
fsio_mktemp(const char *dir, const char *prefix, char *path, size_t pathsz)
{
	/* mkostemp() replaces the last six bytes, which must all be 'X'. */
	static const size_t suffix = 6;
	int n = snprintf(path, pathsz, "%s/%s", strcmp(dir, "/") == 0 ? "" :
	    dir, prefix);

	if (n < 0 || (size_t)n + suffix >= pathsz) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(path + n, 'X', suffix);
	path[(size_t)n + suffix] = '\0';
	return mkostemp(path, O_CLOEXEC);
}
