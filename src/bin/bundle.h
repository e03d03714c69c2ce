/*
 * bundle: everything a child process needs to configure itself, read by
 * the parent (which may open the files) and passed to the children as one
 * sealed memfd: the configuration text and where it came from, the users
 * and aliases files, the TLS certificate and key, and what outbound
 * delivery reads (resolv.conf, the DNSSEC trust anchor, the CA file, the
 * smarthost password).
 */
#ifndef PETREL_BIN_BUNDLE_H
#define PETREL_BIN_BUNDLE_H

#include <stdbool.h>

#include "conf/conf.h"
#include "lib/buf.h"
#include "lookup/tables.h"

enum bundle_part {
	BUNDLE_CONF_NAME,	/* file name used in error messages */
	BUNDLE_BASE_DIR,	/* directory for relative paths */
	BUNDLE_CONF,
	BUNDLE_USERS,
	BUNDLE_ALIASES,
	BUNDLE_CERT,
	BUNDLE_KEY,
	BUNDLE_RESOLV,		/* /etc/resolv.conf (remote's DNS servers) */
	BUNDLE_TRUST_ANCHOR,	/* dns-trust-anchor file, or empty */
	BUNDLE_CA,		/* outbound-ca-file, or empty */
	BUNDLE_RELAY_AUTH,	/* smarthost-auth file, or empty */
	BUNDLE_STS_CA,		/* mta-sts-ca-file, or empty when it is
				 * outbound-ca-file */
	BUNDLE_NPARTS
};

struct bundle {
	struct buf part[BUNDLE_NPARTS];
	bool embedded;		/* the built-in default configuration */
};

/* What a process builds from a bundle. */
struct bundle_conf {
	struct conf conf;
	struct tables *tables;
};

/*
 * Parent: reads the configuration file (NULL: the embedded default, with
 * base_dir the current directory) and the files it names. With prepare,
 * creates the state directories' missing pieces that a first start needs
 * (the demo users file, a self-signed certificate). 0, or -1 with
 * "file:line: reason" or "path: reason" in err.
 */
int bundle_load(struct bundle *b, const char *path, bool prepare, char *err,
    size_t errsz);
void bundle_free(struct bundle *b);
/*
 * Reads and parses only the configuration file (NULL: the embedded
 * default, relative to the current directory) and none of the files it
 * names, creating nothing: for the admin tools, which need the state
 * directory and must work without access to the TLS key. 0 (release *out
 * with conf_free), or -1 with err.
 */
int bundle_load_conf(const char *path, struct conf *out, char *err,
    size_t errsz);
/* Parses the configuration and tables of b. 0 or -1 with err. */
int bundle_parse(const struct bundle *b, struct bundle_conf *out, char *err,
    size_t errsz);
void bundle_conf_free(struct bundle_conf *bc);

/*
 * Writes b into a new sealed memfd; returns it, or -1/errno. Secrets only
 * go to the process that needs them: BUNDLE_F_SECRETS keeps the users
 * file whole (password hashes, SCRAM keys: the auth process), else each
 * line is cut at its first ':'; BUNDLE_F_KEY keeps the TLS private key
 * (the smtp process), else it is empty; BUNDLE_F_RELAY keeps the
 * smarthost password (the remote process), else it is empty.
 */
#define BUNDLE_F_SECRETS 0x1u
#define BUNDLE_F_KEY 0x2u
#define BUNDLE_F_RELAY 0x4u
int bundle_to_fd(const struct bundle *b, unsigned flags);
/* Reads a bundle from fd (position 0). 0 or -1. */
int bundle_from_fd(int fd, struct bundle *b);

#endif
