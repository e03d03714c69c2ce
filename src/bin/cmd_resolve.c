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
 * Output, one item a line, words separated by single spaces (tests parse
 * it; operators read it):
 *   domain NAME mx-dnssec VERDICT [canonical NAME] [implicit-mx]
 *   host PREF NAME STATUS dnssec VERDICT a VERDICT aaaa VERDICT
 *       [canonical NAME]
 *     address ADDR                  (in the order to try)
 *     error TEXT                    (why a lookup of this host failed)
 *   route ok | error temporary|permanent CODE TEXT
 */
#include "bin/cmd_resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bin/bundle.h"
#include "lib/buf.h"
#include "remote/dns.h"

#define CMD_RESOLV_CONF      "/etc/resolv.conf"
#define CMD_RESOLVE_FILE_MAX (1024 * 1024)
#define CMD_RESOLVE_TIMEOUT  120 /* seconds; libunbound gives up sooner */

struct cmd_resolve {
	struct event_base *base;
	struct dns_route *route;
	bool timed_out;
};

static int
cmd_resolve_usage(void)
{
	fprintf(
	    stderr, "usage: petrel resolve [--host] NAME [--config FILE]\n");
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

int
cmd_resolve_main(int argc, char **argv)
{
	const char *config = NULL, *name = NULL;
	struct buf resolv, ta;
	struct cmd_resolve cr;
	struct timeval tv = {CMD_RESOLVE_TIMEOUT, 0};
	struct event *timer;
	struct dns *d;
	struct conf c;
	char err[2048];
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
		else if (argv[i][0] == '-' || name != NULL)
			return cmd_resolve_usage();
		else
			name = argv[i];
	}
	if (name == NULL)
		return cmd_resolve_usage();
	if (bundle_load_conf(config, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	buf_init(&resolv, CMD_RESOLVE_FILE_MAX);
	buf_init(&ta, CMD_RESOLVE_FILE_MAX);
	if ((c.dns_mode == CONF_DNS_RESOLVCONF &&
		cmd_resolve_read(
		    CMD_RESOLV_CONF, &resolv, true, err, sizeof(err)) != 0) ||
	    (c.dns_trust_anchor != NULL &&
		cmd_resolve_read(
		    c.dns_trust_anchor, &ta, false, err, sizeof(err)) != 0)) {
		fprintf(stderr, "petrel: %s\n", err);
		goto out;
	}
	memset(&cr, 0, sizeof(cr));
	if ((cr.base = event_base_new()) == NULL) {
		fprintf(stderr, "petrel: cannot create the event loop\n");
		goto out;
	}
	d = dns_new(cr.base, &c, resolv.data, resolv.len, ta.data, ta.len, err,
	    sizeof(err));
	if (d == NULL) {
		fprintf(stderr, "petrel: %s\n", err);
		event_base_free(cr.base);
		goto out;
	}
	timer = evtimer_new(cr.base, cmd_resolve_timeout, &cr);
	if (timer == NULL || evtimer_add(timer, &tv) != 0) {
		fprintf(stderr, "petrel: cannot arm a timer\n");
		exit(1);
	}
	if (host_mode)
		(void)dns_host(d, name, cmd_resolve_done, &cr);
	else
		(void)dns_mx(d, name, cmd_resolve_done, &cr);
	(void)event_base_dispatch(cr.base);
	if (cr.route != NULL) {
		cmd_resolve_print(cr.route, host_mode);
		rc = cr.route->status == DNS_OK ? 0 : 1;
		dns_route_free(cr.route);
	} else {
		printf("route error temporary 4.4.3 no answer within %d "
		       "seconds\n",
		    CMD_RESOLVE_TIMEOUT);
	}
	event_free(timer);
	dns_free(d);
	event_base_free(cr.base);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "petrel: cannot write the output\n");
		rc = 1;
	}
out:
	buf_clear(&resolv);
	buf_clear(&ta);
	conf_free(&c);
	return rc;
}
