/* numparse: bounded decimal parsing (see numparse.h). */
#include "lib/numparse.h"

int
numparse_u64(struct span s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;
	int range = 0;

	*out = 0;
	if (s.n == 0)
		return -1;
	for (i = 0; i < s.n; i++) {
		unsigned d;
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		d = (unsigned)(s.p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			range = 1;
		else
			v = v * 10 + d;
	}
	if (range || v < min || v > max)
		return -2;
	*out = v;
	return 0;
}
