/*
 * cmd_resolve: `petrel resolve [--host] NAME [--config FILE]`. Reads the
 * configuration (that file only, like the other admin commands), then,
 * as the parent does for the remote process, /etc/resolv.conf and the
 * trust anchor file, builds the same resolver (remote/dns) and prints the
 * route to NAME: the MX answer's DNSSEC verdict, then each host in the
 * order delivery would try them, with preference, verdicts and
 * addresses; or the error and whether it is temporary or permanent.
 * --host asks for one host's addresses as for a smarthost (dns_host).
 *
 * --sts DOMAIN shows the MTA-STS policy of DOMAIN as the remote process
 * would get it (remote/sts: TXT _mta-sts.DOMAIN, then the HTTPS fetch
 * with the CAs of mta-sts-ca-file). Its cache: by default the daemon's
 * STATE/remote/sts is read, never written (the command may run as
 * another user than the remote process, and must not plant policies in
 * its cache), into a cache in memory that ends with the command; when
 * that directory cannot be read (not running as root or as the daemon's
 * user, or no daemon ran yet) the memory cache starts empty.
 * --sts-cache DIR uses DIR instead, read and written like the daemon's
 * (for tests and for trying a policy change). Test-only, not in the
 * usage text: --sts-port N (HTTPS port instead of 443), --sts-timeout N
 * (seconds for the fetch instead of 60).
 *
 * Output, one item a line, words separated by single spaces (tests parse
 * it; operators read it):
 *   domain NAME mx-dnssec VERDICT [canonical NAME] [implicit-mx]
 *   host PREF NAME STATUS dnssec VERDICT a VERDICT aaaa VERDICT
 *       [canonical NAME]
 *     address ADDR                  (in the order to try)
 *     error TEXT                    (why a lookup of this host failed)
 *   route ok | error temporary|permanent CODE TEXT
 *
 * With --sts:
 *   cache DIR read-only N | cache DIR read-write | cache memory [(TEXT)]
 *   mta-sts DOMAIN id ID|-
 *   policy fresh|cached fetched ISO8601 expires ISO8601
 *     LINE                          (each policy line, "version: STSv1")
 *   failure TYPE TEXT               (a fetch failed: TYPE is the RFC
 *                                    8460 result type; with "sts ok" a
 *                                    cached policy was used instead)
 *   error TEXT                      (why there is no usable record)
 *   sts ok | sts none | sts fail
 * Exit status 0 for ok and none (the domain has no policy), 1 for fail.
 */
#include "bin/cmd_resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "bin/bundle.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "remote/dns.h"
#include "remote/sts.h"

#define CMD_RESOLV_CONF      "/etc/resolv.conf"
#define CMD_RESOLVE_FILE_MAX (1024 * 1024)
#define CMD_RESOLVE_TIMEOUT  120 /* seconds; libunbound gives up sooner */

struct cmd_resolve {
	struct event_base *base;
	struct dns_route *route;
	struct sts_result *sts;
	bool timed_out;
};

static int
cmd_resolve_usage(void)
{
	fprintf(stderr, "usage: petrel resolve [--host] NAME [--config FILE]\n"
			"       petrel resolve --sts DOMAIN [--sts-cache DIR] "
			"[--config FILE]\n");
	return 2;
}

/* Reads path into b (at most CMD_RESOLVE_FILE_MAX). 0, or -1 with err. */
static int
cmd_resolve_read(
    const char *path, struct buf *b, bool missing_ok, char *err, size_t errsz)
{
	FILE *f = fopen(path, "rb");
	char chunk[4096];
	size_t n;

	buf_init(b, CMD_RESOLVE_FILE_MAX);
	if (f == NULL) {
		if (missing_ok)
			return 0;
		snprintf(err, errsz, "%s: cannot open", path);
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (buf_append(b, chunk, n) != 0) {
			snprintf(err, errsz, "%s: too large", path);
			fclose(f);
			return -1;
		}
	}
	if (ferror(f)) {
		snprintf(err, errsz, "%s: read error", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static void
cmd_resolve_done(struct dns_route *r, void *arg)
{
	struct cmd_resolve *cr = arg;

	cr->route = r;
	event_base_loopbreak(cr->base);
}

static void
cmd_resolve_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct cmd_resolve *cr = arg;

	(void)fd;
	(void)what;
	cr->timed_out = true;
	event_base_loopbreak(cr->base);
}

static void
cmd_resolve_sts_done(const struct sts_result *r, void *arg)
{
	struct cmd_resolve *cr = arg;

	cr->sts = xmalloc(sizeof(*cr->sts));
	*cr->sts = *r;
	event_base_loopbreak(cr->base);
}

/* cmd_resolve.h */
void
cmd_resolve_iso(time_t t, char *out, size_t outsz)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "%lld", (long long)t);
}

void
cmd_resolve_sts_print(const char *domain, const struct sts_result *r)
{
	char lines[MTA_STS_MX_MAX + 3][MTA_STS_STRING_MAX];
	char f[32], x[32];
	size_t n, i;

	printf("mta-sts %s id %s\n", r->domain[0] ? r->domain : domain,
	    r->id[0] ? r->id : "-");
	if (r->status == STS_OK) {
		cmd_resolve_iso(r->fetched, f, sizeof(f));
		cmd_resolve_iso(r->expires, x, sizeof(x));
		printf("policy %s fetched %s expires %s\n",
		    r->cached ? "cached" : "fresh", f, x);
		n = mta_sts_policy_strings(
		    &r->policy, lines, MTA_STS_MX_MAX + 3);
		for (i = 0; i < n; i++)
			printf("  %s\n", lines[i]);
	}
	if (r->failure != NULL)
		printf("failure %s %s\n", r->failure, r->error);
	else if (r->error[0] != '\0')
		printf("error %s\n", r->error);
	printf("sts %s\n", r->status == STS_OK     ? "ok"
			   : r->status == STS_NONE ? "none"
						   : "fail");
}

/* cmd_resolve.h */
long
cmd_resolve_num(const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < min || n > max)
		return -1;
	return n;
}

void
cmd_resolve_print(const struct dns_route *r, bool host_mode)
{
	char addr[64];
	size_t i, j;

	if (!host_mode)
		printf("domain %s mx-dnssec %s%s%s%s\n", r->domain,
		    dns_sec_name(r->mx_sec),
		    r->mx_canon[0] ? " canonical " : "", r->mx_canon,
		    r->implicit ? " implicit-mx" : "");
	for (i = 0; i < r->nhosts; i++) {
		const struct dns_host *h = &r->hosts[i];

		printf("host %u %s %s dnssec %s a %s aaaa %s%s%s\n", h->pref,
		    h->name, dns_status_name(h->status), dns_sec_name(h->sec),
		    dns_sec_name(h->sec_a), dns_sec_name(h->sec_aaaa),
		    h->canon[0] ? " canonical " : "", h->canon);
		for (j = 0; j < h->naddrs; j++) {
			dns_addr_format(&h->addrs[j], addr, sizeof(addr));
			printf("  address %s\n", addr);
		}
		if (h->error[0] != '\0')
			printf("  error %s\n", h->error);
	}
	if (r->status == DNS_OK)
		printf("route ok\n");
	else
		printf("route error %s %s %s\n", dns_status_name(r->status),
		    r->enhanced, r->error);
}

/* The fetcher for --sts (cmd_resolve.h). */
struct sts *
cmd_resolve_sts_open(
    const struct conf *c, struct event_base *base, const char *cache_dir)
{
	char err[512], dir[4096];
	struct sts *s;
	int n;

	s = sts_new(base, cache_dir, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, "petrel: %s\n", err);
		return NULL;
	}
	if (cache_dir != NULL) {
		printf("cache %s read-write\n", cache_dir);
		return s;
	}
	if (snprintf(dir, sizeof(dir), "%s/remote/sts", c->state_dir) >=
	    (int)sizeof(dir)) {
		printf("cache memory\n");
		return s;
	}
	n = sts_cache_import(s, dir, err, sizeof(err));
	if (n < 0)
		printf("cache memory (%s)\n", err);
	else
		printf("cache %s read-only %d\n", dir, n);
	return s;
}

int
cmd_resolve_env_open(
    struct cmd_resolve_env *e, const char *config, unsigned flags)
{
	struct conf *c = &e->conf;
	char err[2048];

	memset(e, 0, sizeof(*e));
	buf_init(&e->resolv, CMD_RESOLVE_FILE_MAX);
	buf_init(&e->ta, CMD_RESOLVE_FILE_MAX);
	buf_init(&e->ca, CMD_RESOLVE_FILE_MAX);
	buf_init(&e->sts_ca, CMD_RESOLVE_FILE_MAX);
	if (bundle_load_conf(config, c, err, sizeof(err)) != 0)
		goto fail;
	if ((c->dns_mode == CONF_DNS_RESOLVCONF &&
		cmd_resolve_read(CMD_RESOLV_CONF, &e->resolv, true, err,
		    sizeof(err)) != 0) ||
	    (c->dns_trust_anchor != NULL &&
		cmd_resolve_read(
		    c->dns_trust_anchor, &e->ta, false, err, sizeof(err)) != 0))
		goto fail;
	if ((flags & (CMD_RESOLVE_ENV_STS_CA | CMD_RESOLVE_ENV_CA)) != 0 &&
	    c->sts_ca_file != NULL &&
	    cmd_resolve_read(
		c->sts_ca_file, &e->sts_ca, true, err, sizeof(err)) != 0)
		goto fail;
	if ((flags & CMD_RESOLVE_ENV_CA) != 0 && c->outbound_ca_file != NULL &&
	    cmd_resolve_read(
		c->outbound_ca_file, &e->ca, true, err, sizeof(err)) != 0)
		goto fail;
	if ((e->base = event_base_new()) == NULL) {
		snprintf(err, sizeof(err), "cannot create the event loop");
		goto fail;
	}
	e->dns = dns_new(e->base, c, e->resolv.data, e->resolv.len, e->ta.data,
	    e->ta.len, err, sizeof(err));
	if (e->dns == NULL)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "petrel: %s\n", err);
	cmd_resolve_env_close(e);
	return -1;
}

void
cmd_resolve_env_close(struct cmd_resolve_env *e)
{
	dns_free(e->dns);
	e->dns = NULL;
	if (e->base != NULL)
		event_base_free(e->base);
	e->base = NULL;
	buf_clear(&e->resolv);
	buf_clear(&e->ta);
	buf_clear(&e->ca);
	buf_clear(&e->sts_ca);
	conf_free(&e->conf);
}

int
cmd_resolve_main(int argc, char **argv)
{
	const char *config = NULL, *name = NULL, *sts_cache = NULL;
	long sts_port = 443, sts_timeout = STS_TIMEOUT;
	struct cmd_resolve_env e;
	struct sts *sts = NULL;
	bool sts_mode = false;
	struct cmd_resolve cr;
	struct timeval tv = {CMD_RESOLVE_TIMEOUT, 0};
	struct event *timer;
	bool host_mode = false;
	int i, rc = 1;

	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 ||
			strcmp(argv[i], "-c") == 0) &&
		    i + 1 < argc)
			config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
		else if (strcmp(argv[i], "--host") == 0)
			host_mode = true;
		else if (strcmp(argv[i], "--sts") == 0)
			sts_mode = true;
		else if (strcmp(argv[i], "--sts-cache") == 0 && i + 1 < argc)
			sts_cache = argv[++i];
		else if (strcmp(argv[i], "--sts-port") == 0 && i + 1 < argc) {
			if ((sts_port = cmd_resolve_num(argv[++i], 1, 65535)) <
			    0)
				return cmd_resolve_usage();
		} else if (strcmp(argv[i], "--sts-timeout") == 0 &&
			   i + 1 < argc) {
			if ((sts_timeout =
				    cmd_resolve_num(argv[++i], 1, 3600)) < 0)
				return cmd_resolve_usage();
		} else if (argv[i][0] == '-' || name != NULL)
			return cmd_resolve_usage();
		else
			name = argv[i];
	}
	if (name == NULL || (sts_mode && host_mode))
		return cmd_resolve_usage();
	if (cmd_resolve_env_open(
		&e, config, sts_mode ? CMD_RESOLVE_ENV_STS_CA : 0) != 0)
		return 1;
	memset(&cr, 0, sizeof(cr));
	cr.base = e.base;
	timer = evtimer_new(cr.base, cmd_resolve_timeout, &cr);
	if (timer == NULL || evtimer_add(timer, &tv) != 0) {
		fprintf(stderr, "petrel: cannot arm a timer\n");
		exit(1);
	}
	if (sts_mode) {
		sts = cmd_resolve_sts_open(&e.conf, cr.base, sts_cache);
		if (sts == NULL)
			exit(1);
		sts_set_port(sts, (unsigned)sts_port);
		sts_set_timeout(sts, (unsigned)sts_timeout);
		(void)sts_get(sts, e.dns, e.sts_ca.data, e.sts_ca.len, name,
		    cmd_resolve_sts_done, &cr);
	} else if (host_mode)
		(void)dns_host(e.dns, name, cmd_resolve_done, &cr);
	else
		(void)dns_mx(e.dns, name, cmd_resolve_done, &cr);
	(void)event_base_dispatch(cr.base);
	if (sts_mode) {
		if (cr.sts != NULL) {
			cmd_resolve_sts_print(name, cr.sts);
			rc = cr.sts->status == STS_FAIL ? 1 : 0;
			free(cr.sts);
		} else {
			printf("error no answer within %d seconds\nsts fail\n",
			    CMD_RESOLVE_TIMEOUT);
		}
		sts_free(sts);
	} else if (cr.route != NULL) {
		cmd_resolve_print(cr.route, host_mode);
		rc = cr.route->status == DNS_OK ? 0 : 1;
		dns_route_free(cr.route);
	} else {
		printf("route error temporary 4.4.3 no answer within %d "
		       "seconds\n",
		    CMD_RESOLVE_TIMEOUT);
	}
	event_free(timer);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "petrel: cannot write the output\n");
		rc = 1;
	}
	cmd_resolve_env_close(&e);
	return rc;
}
