/*
 * conf_int: helpers shared by the files of the conf module (parser, dump,
 * queries). Not for use outside src/conf/.
 */
#ifndef PETREL_CONF_CONF_INT_H
#define PETREL_CONF_CONF_INT_H

#include <stdbool.h>
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

/* ---- the parser's state, shared by conf_parse.c and conf_outbound.c ---- */

struct conf_parser;
struct conf_keyword;

/* A keyword handler: acts on p->argv[1..argc-1]; 0 or -1 (error set). */
typedef int (*conf_keyword_fn)(struct conf_parser *p,
    const struct conf_keyword *kw);

struct conf_keyword {
	const char *name;
	conf_keyword_fn fn;
	size_t off;		/* offset of the field in struct conf */
	uint64_t min, max;	/* for numbers, sizes and durations */
	bool repeated;		/* may appear on several lines */
};

/* Values the parser needs beyond struct conf itself. */
struct conf_parser {
	const char *name;	/* file name for messages */
	unsigned line;		/* current line, 1-based; 0 after the end */
	const char *base_dir;	/* for relative paths; may be NULL */
	struct conf *c;
	char *err;
	size_t errsz;
	char *tok;		/* decoded words of the current line, each
				 * NUL-terminated */
	char **argv;		/* argc words in tok */
	size_t argc;
	unsigned *seen;		/* first line of each keyword, 0 = unseen */
	unsigned *listen_lines;	/* line of each listener */
	unsigned *domain_lines;	/* line of each domain */
};

/* The first line of the keyword called name, 0 when it was not given. */
unsigned conf_seen_line(const struct conf_parser *p, const char *name);
/*
 * Writes "name:line: " and the formatted message into p->err (just
 * "name: " when p->line is 0). Returns -1 so callers can return it.
 */
int conf_parse_error(struct conf_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Copies a value into out for an error message: at most 60 bytes, then
 * "...", bytes outside printable ASCII as '?'. Returns out.
 */
const char *conf_clip(const char *s, char *out, size_t outsz);
/* Checks that kw got exactly one value. 0 or -1. */
int conf_want_one(struct conf_parser *p, const struct conf_keyword *kw);
/* Lower-cases ASCII letters of s in place. */
void conf_lower(char *s);
/* A path keyword (resolved against the base directory). 0 or -1. */
int conf_do_path(struct conf_parser *p, const struct conf_keyword *kw);

/* conf_outbound.c: the outbound delivery keywords (src/remote). */
int conf_do_source(struct conf_parser *, const struct conf_keyword *);
int conf_do_tls(struct conf_parser *, const struct conf_keyword *);
int conf_do_tls_rule(struct conf_parser *, const struct conf_keyword *);
int conf_do_smarthost(struct conf_parser *, const struct conf_keyword *);
int conf_do_smarthost_tls(struct conf_parser *,
    const struct conf_keyword *);
int conf_do_dns_resolver(struct conf_parser *, const struct conf_keyword *);
int conf_do_remember(struct conf_parser *, const struct conf_keyword *);
int conf_do_tlsrpt_contact(struct conf_parser *,
    const struct conf_keyword *);
int conf_do_trust_anchor(struct conf_parser *, const struct conf_keyword *);
int conf_do_dns_option(struct conf_parser *, const struct conf_keyword *);
/* Their defaults, before the first line. */
void conf_outbound_defaults(struct conf *c);
/* After the last line: derived values and checks. 0 or -1. */
int conf_outbound_finish(struct conf_parser *p);

#endif
