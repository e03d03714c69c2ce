/*
 * conf: petrel's configuration, parsed from one file into an immutable
 * struct. Reload builds a new struct and swaps it; nothing edits one in
 * place. The parser is pure (text in, struct or "file:line: error" out), so
 * the parent can read the file and each child can parse the same bytes.
 *
 * Syntax (docs/config.md is the reference): one directive per line,
 * "keyword value...", '#' starts a comment, values may be double-quoted
 * ("a b", with \" and \\ escapes). Sizes take K/M/G suffixes (powers of
 * 1024), durations s/m/h/d (a bare number is seconds). Unknown keywords,
 * missing or extra values, and out-of-range numbers are errors.
 */
#ifndef PETREL_CONF_CONF_H
#define PETREL_CONF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"

enum conf_role {
	CONF_ROLE_MX,		/* port 25: mail for local domains, from anyone */
	CONF_ROLE_SUBMISSION,	/* port 587: STARTTLS, then AUTH */
	CONF_ROLE_SUBMISSIONS,	/* port 465: implicit TLS, then AUTH */
	CONF_ROLE_LOCAL,	/* STATE/submit.sock: `petrel sendmail` (not
				 * configurable; the parent always binds it) */
};

struct conf_listener {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum conf_role role;
	char text[80];		/* "127.0.0.1:2525" as written, for logs */
};

enum conf_tls_policy {		/* outbound STARTTLS, per destination */
	CONF_TLS_NONE,		/* never STARTTLS */
	CONF_TLS_MAY,		/* STARTTLS when offered, else plaintext */
	CONF_TLS_ENCRYPT,	/* TLS required, any certificate */
	CONF_TLS_VERIFY,	/* TLS required, certificate valid for the
				 * MX host name (outbound-ca-file) */
};

struct conf_tls_rule {		/* tls-policy DOMAIN POLICY */
	char *domain;		/* lower-case; ".example.com" = subdomains */
	enum conf_tls_policy policy;
};

enum conf_tls_remember {	/* tls-remember-policy */
	CONF_REMEMBER_DEFER,	/* remember: a probable downgrade defers */
	CONF_REMEMBER_WARN,	/* warn: deliver in plaintext, log a warning */
};

enum conf_dns_mode {
	CONF_DNS_RESOLVCONF,	/* forward to /etc/resolv.conf's servers */
	CONF_DNS_RECURSIVE,	/* resolve from the root ourselves */
	CONF_DNS_FORWARD,	/* forward to dns_forwarders */
};

enum conf_smarthost_tls {
	CONF_SMARTHOST_STARTTLS,	/* STARTTLS required (port 587) */
	CONF_SMARTHOST_IMPLICIT,	/* TLS from the start (port 465) */
	CONF_SMARTHOST_NONE,		/* plaintext, never AUTH (port 25) */
};

struct conf_net {		/* a CIDR block, "192.0.2.0/24", "::1/128" */
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned prefix;
};

struct conf {
	char *hostname;		/* hostname NAME; default: the FQDN */
	char *state_dir;	/* state-dir PATH (absolute) */
	char *spool_dir;	/* spool-dir PATH; default STATE/spool */
	char *mail_dir;		/* mail-dir PATH; default STATE/mail */
	char *tls_cert;		/* tls-certificate PATH; default STATE/tls/cert.pem */
	char *tls_key;		/* tls-key PATH; default STATE/tls/key.pem */
	bool tls_generate;	/* true when both TLS paths are the defaults:
				 * a self-signed pair is made if missing */
	struct conf_listener *listeners; /* listen ADDR:PORT ROLE (repeated) */
	size_t nlisteners;
	char **domains;		/* domain NAME (repeated), lower-case */
	size_t ndomains;
	char *users_file;	/* users PATH; default STATE/users */
	char *aliases_file;	/* aliases PATH; NULL when not set */
	char delimiter[8];	/* recipient-delimiter CHARS; default "+", "" off */
	struct conf_net *relay_nets; /* relay-from CIDR... (repeated) */
	size_t nrelay_nets;
	uint64_t max_message_size; /* max-message-size SIZE; default 50M */
	unsigned max_recipients;   /* max-recipients N (>= 100); default 1000 */
	unsigned max_errors;	   /* max-errors N; default 20 */
	unsigned max_connections;  /* max-connections N; default 1000 */
	unsigned max_connections_per_ip; /* ...-per-ip N; default 100 */
	unsigned max_command_line; /* max-command-line N (>= 512); default 2048 */
	unsigned max_text_line;	   /* max-text-line N (>= 1000); default 1000 */
	unsigned timeout_command;  /* timeout-command DUR; default 5m */
	unsigned timeout_data;	   /* timeout-data DUR; default 10m */
	bool expn;		/* expn yes|no; default no */
	char *user_smtp;	/* user-smtp NAME; default "petrel" (root only) */
	char *user_queue;	/* user-queue NAME; default "petrel-queue" */
	char *user_local;	/* user-local NAME; default "petrel-mail" */
	char *user_auth;	/* user-auth NAME; default "petrel-auth" */
	unsigned auth_fail_limit_ip;   /* auth-fail-limit-ip N; default 10 */
	unsigned auth_fail_limit_user; /* auth-fail-limit-user N; default 30 */
	unsigned auth_fail_window;     /* auth-fail-window DUR; default 15m */
	unsigned auth_fail_delay;      /* auth-fail-delay DUR; default 2s */
	bool sender_check;	/* sender-check yes|no; default yes */
	bool received_client;	/* received-client yes|no; default yes:
				 * submission Received: names the client */
	unsigned retry_min;	/* retry-min DUR; default 1m */
	unsigned retry_max;	/* retry-max DUR; default 1h */
	unsigned queue_lifetime; /* queue-lifetime DUR; default 5d */
	unsigned local_concurrency; /* local-concurrency N; default 8 */
	int log_level;		/* log-level debug|info|warn|error; default info */

	/* Outbound delivery (src/remote, src/sched). */
	char *user_remote;	/* user-remote NAME; default "petrel-remote" */
	unsigned remote_concurrency; /* remote-concurrency N; default 100:
				 * outbound deliveries in flight in all */
	unsigned destination_concurrency; /* destination-concurrency N;
				 * default 20: in flight per domain */
	unsigned delay_warning;	/* delay-warning DUR; default 4h, 0 = off */
	unsigned remote_port;	/* remote-port N; default 25 (test networks
				 * use another) */
	unsigned remote_timeout_connect; /* remote-timeout-connect DUR; 30s */
	unsigned remote_timeout_command; /* remote-timeout-command DUR; 5m
				 * (RFC 5321 4.5.3.2: greeting, MAIL, RCPT,
				 * DATA; the DATA command itself 2m) */
	unsigned remote_timeout_data; /* remote-timeout-data DUR; 10m: the
				 * reply to the final dot (blocks: 3m) */
	struct sockaddr_storage source4, source6; /* outbound-source ADDR
				 * (once per family); ss_family 0 = unset */
	enum conf_tls_policy outbound_tls; /* outbound-tls POLICY; may */
	struct conf_tls_rule *tls_rules; /* tls-policy DOMAIN POLICY (rep.) */
	size_t ntls_rules;
	char *outbound_ca_file;	/* outbound-ca-file PATH; default the
				 * system's /etc/ssl/certs/ca-certificates.crt */
	char *smarthost;	/* smarthost HOST[:PORT] host part, or NULL */
	unsigned smarthost_port; /* default 587, 465 implicit, 25 none */
	enum conf_smarthost_tls smarthost_tls; /* smarthost-tls; starttls */
	bool smarthost_verify;	/* smarthost-verify yes|no; default yes */
	char *smarthost_auth;	/* smarthost-auth PATH: "user:password" */
	enum conf_dns_mode dns_mode; /* dns-resolver resolv.conf | recursive
				 * | ADDR[@PORT]...; default resolv.conf */
	char **dns_forwarders;	/* CONF_DNS_FORWARD: "ADDR" or "ADDR@PORT" */
	size_t ndns_forwarders;
	char *dns_trust_anchor;	/* dns-trust-anchor PATH|none; default
				 * /usr/share/dns/root.key; NULL = none:
				 * no DNSSEC validation */
	char **dns_options;	/* dns-option NAME VALUE (repeated): pairs
				 * for ub_ctx_set_option(NAME ":", VALUE) */
	size_t ndns_options;	/* number of pairs */

	/* Transport security (src/remote: mta.c, tlsdecide.c, dane.c, sts.c,
	 * tlsrpt*.c, remote_tls.c). */
	bool dane;		/* dane yes|no; default yes: DANE (RFC 7672)
				 * wherever DNSSEC validation is available */
	bool mta_sts;		/* mta-sts yes|no; default yes (RFC 8461) */
	char *sts_ca_file;	/* mta-sts-ca-file PATH; default
				 * outbound-ca-file: the CAs for MTA-STS policy
				 * fetches and MX certificates (PKIX) */
	unsigned tls_remember;	/* tls-remember DUR; default 30d, 0 = off:
				 * how long a host that offered STARTTLS and
				 * completed a handshake is expected to */
	enum conf_tls_remember tls_remember_policy; /* tls-remember-policy
				 * remember|warn; default remember */
	bool tlsrpt;		/* tlsrpt yes|no; default yes: record results
				 * and send daily RFC 8460 reports */
	char *tlsrpt_contact;	/* tlsrpt-contact ADDR; default
				 * postmaster@HOSTNAME: contact-info of the
				 * reports and the sender of their mail */
};

/*
 * Parses text (len bytes, need not be NUL-terminated) read from the file
 * called name. Relative paths in the file are resolved against base_dir
 * (the directory of the file; with NULL, relative paths are errors). On success returns 0 and fills *out, which
 * the caller releases with conf_free(). On failure returns -1, leaves *out
 * empty and writes "name:line: what is wrong" into err (errsz > 0).
 */
int conf_parse(const char *name, const char *text, size_t len,
    const char *base_dir, struct conf *out, char *err, size_t errsz);

/*
 * The embedded default used when petrel runs without a configuration file:
 * 127.0.0.1 ports 2525 (mx), 2587 (submission), 2465 (submissions), domain
 * localhost, hostname localhost, everything under state_dir. Returns the
 * configuration text (static storage) to pass to conf_parse().
 */
const char *conf_default_text(void);

/* Frees everything c owns and zeroes it; safe on a zeroed struct. */
void conf_free(struct conf *c);

/* True if domain (any case) is one of c->domains. */
bool conf_is_local_domain(const struct conf *c, const char *domain);
/* True if the address (AF_INET/AF_INET6 sockaddr) is in relay_nets. */
bool conf_may_relay(const struct conf *c, const struct sockaddr *sa);
/* The outbound TLS policy for a destination domain (tls-policy rules:
 * an exact match wins, then the longest ".suffix", then outbound-tls). */
enum conf_tls_policy conf_tls_policy_for(const struct conf *c,
    const char *domain);
/* "none", "may", "encrypt", "verify". */
const char *conf_tls_policy_name(enum conf_tls_policy p);
/* "remember", "warn". */
const char *conf_tls_remember_name(enum conf_tls_remember p);
/* "mx", "submission", "submissions". */
const char *conf_role_name(enum conf_role r);
/* Writes the effective configuration, one directive a line, every option
 * with its value (defaults included), for `petrel check-config -n`.
 * conf_parse() of the output yields an equal struct. Options without a
 * value (aliases, relay-from) and the derived TLS paths of a generated
 * pair appear as comments. out should have a generous maximum (64K is
 * plenty for a normal file); text that does not fit is dropped. */
void conf_dump(const struct conf *c, struct buf *out);

/*
 * True if s (n bytes) is a host or domain name: dot-separated labels of
 * letters, digits and '-' (not first or last in a label), each 1..63
 * bytes, 253 bytes at most, no trailing dot. Any case.
 */
bool conf_domain_is_valid(const char *s, size_t n);

/*
 * Where the default hostname comes from. conf_system_hostname() asks
 * gethostname() and then getaddrinfo(AI_CANONNAME) for the FQDN, falling
 * back to the plain host name; it writes a NUL-terminated name into out
 * and returns 0, or -1 when there is none. Tests (and fuzzers) install a
 * fixed function with conf_set_hostname_fn(); NULL restores the default.
 */
typedef int (*conf_hostname_fn)(char *out, size_t outsz);
int conf_system_hostname(char *out, size_t outsz);
void conf_set_hostname_fn(conf_hostname_fn fn);

#endif
