/* log: key=value event lines on stderr (see log.h). */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_proc = "petrel";
static enum log_level log_min = LOG_LVL_INFO;

void
log_init(const char *procname, enum log_level min)
{
	log_proc = procname;
	log_min = min;
	setvbuf(stderr, NULL, _IOLBF, 0);
}

void
log_set_level(enum log_level min)
{
	log_min = min;
}

static void __attribute__((format(printf, 2, 0)))
log_vline(enum log_level lvl, const char *fmt, va_list ap, const char *suffix)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	char line[4096], stamp[32];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		n = 0;
	fprintf(stderr, "%s.%03ldZ petrel[%s]: %s %s%s%s\n", stamp,
	    ts.tv_nsec / 1000000, log_proc, names[lvl], line,
	    suffix ? ": " : "", suffix ? suffix : "");
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_vline(lvl, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LVL_ERR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(LOG_LVL_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

char *
log_escape(const char *in, size_t n, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		size_t need = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
		    ? 4 : 1;
		if (o + need + 4 > outsz) {
			if (outsz >= 4) {
				o = o < outsz - 4 ? o : outsz - 4;
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 4) {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o < outsz ? o : outsz - 1] = '\0';
	return out;
}
