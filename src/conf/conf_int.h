/*
 * conf_int: helpers shared by the files of the conf module (parser, dump,
 * queries). Not for use outside src/conf/.
 */
#ifndef PETREL_CONF_CONF_INT_H
#define PETREL_CONF_CONF_INT_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"

#define CONF_LINE_MAX 4096	/* bytes in one line, without the LF */
#define CONF_PATH_MAX 4095	/* bytes in a resolved path */
#define CONF_LISTEN_MAX 64	/* listen lines */
#define CONF_DOMAIN_MAX 1000	/* domain lines */
#define CONF_RELAY_MAX 1000	/* relay-from blocks in all */
#define CONF_DELIM_CHARS "+-_."	/* allowed recipient-delimiter characters */

/*
 * Writes v as the shortest exact form with a K/M/G suffix ("50M", "1536K",
 * "100") into out. Returns out.
 */
char *conf_fmt_size(uint64_t v, char *out, size_t outsz);

/* Writes v seconds as the shortest exact form ("5m", "1d", "90s"). */
char *conf_fmt_duration(uint64_t v, char *out, size_t outsz);

/* "debug", "info", "warn", "error" for 0..3; NULL otherwise. */
const char *conf_log_level_name(int level);

/*
 * Writes a CIDR block as "192.0.2.0/24" or "2001:db8::/32" into out
 * (at least 64 bytes). Returns out.
 */
char *conf_fmt_net(const struct conf_net *n, char *out, size_t outsz);

#endif
