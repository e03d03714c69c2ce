/*
 * dns: libunbound behind the event loop, single questions (dns_lookup)
 * and mail routes built from them (dns_mx, dns_host). See dns.h.
 *
 * How answers travel: ub_resolve_async() hands the question to
 * libunbound's own thread (ub_ctx_async(ctx, 1)); the answer comes back
 * through a pipe, ub_fd(), that a persistent libevent read event watches;
 * its callback runs ub_process(), which calls dns_ub_done() per answer.
 * That only parks the result in the lookup and activates the lookup's own
 * event, so user callbacks never run inside ub_process() (where starting,
 * cancelling or freeing would re-enter libunbound), and the same path
 * carries failures detected while starting a lookup.
 */
#include "remote/dns.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <unbound.h>

#include "lib/log.h"
#include "lib/xalloc.h"

struct dns {
	struct ub_ctx *ctx;
	struct event_base *base;
	struct event *ub_ev; /* ub_fd() readable: ub_process() */
	TAILQ_HEAD(, dns_lookup) lookups;
	TAILQ_HEAD(, dns_query) queries;
};

struct dns_lookup {
	TAILQ_ENTRY(dns_lookup) entry;
	struct dns *d;
	char name[DNS_NAME_MAX + 2];
	int qtype;
	bool pending; /* inside libunbound: ub_cancel() on cancel */
	int async_id;
	bool badname; /* not a host name: no question asked */
	int ub_err;   /* libunbound error (0: result is set) */
	struct ub_result *res;
	struct event *ev; /* activated when the answer is ready */
	dns_answer_cb cb;
	void *arg;
};

/* One host of a route being resolved: its A and AAAA answers. */
struct dns_hostq {
	struct dns_query *q;
	size_t idx;                 /* in q->route->hosts */
	struct dns_lookup *l4, *l6; /* running lookups, or NULL */
	bool done4, done6;
	enum dns_status st4, st6;
	char err4[DNS_ERR_MAX], err6[DNS_ERR_MAX];
	size_t n4, n6;
	unsigned char a4[DNS_HOST_ADDRS_MAX][4];
	unsigned char a6[DNS_HOST_ADDRS_MAX][16];
};

struct dns_query {
	TAILQ_ENTRY(dns_query) entry;
	struct dns *d;
	struct dns_route *route;
	struct dns_lookup *mx; /* running MX lookup, or NULL */
	struct dns_hostq hq[DNS_ROUTE_HOSTS_MAX];
	size_t npending;       /* host lookups still running */
	struct event *done_ev; /* activated when the route is complete */
	dns_route_cb cb;
	void *arg;
};

/*
 * snprintf for diagnostics: truncation is fine (every text here has a
 * bounded, documented size), so the compiler need not prove it cannot
 * happen.
 */
static void dns_fmt(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
dns_fmt(char *out, size_t outsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, outsz, fmt, ap);
	va_end(ap);
}

/* Copies printable ASCII of s (at most n bytes) into out, '?' for others. */
static void
dns_printable(char *out, size_t outsz, const char *s)
{
	size_t i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < outsz; i++)
		out[i] = s[i] >= 32 && s[i] < 127 ? s[i] : '?';
	out[outsz > 0 ? i : 0] = '\0';
}

static const char *
dns_rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	default:
		return "error";
	}
}

static const char *
dns_qtype_name(int qtype)
{
	switch (qtype) {
	case DNS_RDATA_TYPE_A:
		return "A";
	case DNS_RDATA_TYPE_AAAA:
		return "AAAA";
	case DNS_RDATA_TYPE_MX:
		return "MX";
	case DNS_RDATA_TYPE_TLSA:
		return "TLSA";
	case DNS_RDATA_TYPE_TXT:
		return "TXT";
	default:
		return "record";
	}
}

/* Copies name lower-cased without one trailing dot; false if invalid. */
static bool
dns_name_copy(char out[DNS_NAME_MAX + 1], const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0, i;

	out[0] = '\0';
	if (!dns_rdata_is_hostname(span_make(name, n)))
		return false;
	if (name[n - 1] == '.')
		n--;
	for (i = 0; i < n; i++)
		out[i] = name[i] >= 'A' && name[i] <= 'Z'
			     ? (char)(name[i] - 'A' + 'a')
			     : name[i];
	out[n] = '\0';
	return true;
}

/* True if name is an IPv4 or IPv6 address written as text. */
static bool
dns_is_ip_literal(const char *name, struct dns_addr *out)
{
	struct dns_addr a;

	memset(&a, 0, sizeof(a));
	if (inet_pton(AF_INET, name, a.addr) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, name, a.addr) == 1)
		a.family = AF_INET6;
	else
		return false;
	if (out != NULL)
		*out = a;
	return true;
}

/* ---- single questions ---- */

static void
dns_lookup_release(struct dns_lookup *l)
{
	TAILQ_REMOVE(&l->d->lookups, l, entry);
	if (l->pending)
		(void)ub_cancel(l->d->ctx, l->async_id);
	if (l->res != NULL)
		ub_resolve_free(l->res);
	event_free(l->ev);
	free(l);
}

/* libunbound's callback, inside ub_process(): park and defer. */
static void
dns_ub_done(void *arg, int err, struct ub_result *res)
{
	struct dns_lookup *l = arg;

	l->pending = false;
	l->ub_err = err;
	l->res = res;
	event_active(l->ev, 0, 0);
}

/* Builds the answer of l into *a (rr storage in *rr_out, to free). */
static void
dns_answer_build(struct dns_lookup *l, struct dns_answer *a, char *canon,
    char *error, struct dns_rr **rr_out)
{
	struct ub_result *r = l->res;
	char why[160];
	size_t i, n;

	memset(a, 0, sizeof(*a));
	*rr_out = NULL;
	canon[0] = error[0] = '\0';
	a->qname = l->name;
	a->qtype = l->qtype;
	a->canon = canon;
	a->error = error;
	a->rcode = -1;
	if (l->badname) {
		a->status = DNS_PERM;
		dns_fmt(error, DNS_ERR_MAX, "invalid domain name");
		return;
	}
	if (l->ub_err != 0 || r == NULL) {
		a->status = DNS_TEMP;
		dns_fmt(error, DNS_ERR_MAX,
		    "%s lookup of %s: resolver error "
		    "(%s)",
		    dns_qtype_name(l->qtype), l->name, ub_strerror(l->ub_err));
		return;
	}
	a->rcode = r->rcode;
	/* A bogus answer has rcode NOERROR and the forged data: check
	 * bogus before anything else, and never hand its records out. */
	if (r->bogus) {
		a->status = DNS_TEMP;
		a->sec = DNS_SEC_BOGUS;
		dns_printable(why, sizeof(why), r->why_bogus);
		dns_fmt(error, DNS_ERR_MAX,
		    "%s lookup of %s: DNSSEC "
		    "validation failed%s%s",
		    dns_qtype_name(l->qtype), l->name, why[0] ? ": " : "", why);
		return;
	}
	a->sec = r->secure ? DNS_SEC_SECURE : DNS_SEC_INSECURE;
	if (r->canonname != NULL && !dns_name_copy(canon, r->canonname))
		canon[0] = '\0';
	if (strcmp(canon, l->name) == 0)
		canon[0] = '\0';
	if (r->rcode == 3 || r->nxdomain) {
		a->status = DNS_PERM;
		a->nxdomain = true;
		dns_fmt(error, DNS_ERR_MAX, "%s: no such domain (NXDOMAIN)",
		    canon[0] ? canon : l->name);
		return;
	}
	if (r->rcode != 0) {
		a->status = DNS_TEMP;
		dns_fmt(error, DNS_ERR_MAX, "%s lookup of %s: %s (rcode %d)",
		    dns_qtype_name(l->qtype), l->name, dns_rcode_name(r->rcode),
		    r->rcode);
		return;
	}
	a->status = DNS_OK;
	if (!r->havedata || r->data == NULL)
		return;
	for (n = 0; r->data[n] != NULL; n++)
		;
	if (n == 0)
		return;
	*rr_out = xcalloc(n, sizeof(**rr_out));
	for (i = 0; i < n; i++) {
		(*rr_out)[i].p = (const unsigned char *)r->data[i];
		(*rr_out)[i].n = r->len[i] > 0 ? (size_t)r->len[i] : 0;
	}
	a->rr = *rr_out;
	a->nrr = n;
}

/* l's event: the answer (or a failure) is ready. */
static void
dns_lookup_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dns_lookup *l = arg;
	char canon[DNS_NAME_MAX + 1], error[DNS_ERR_MAX];
	struct dns_answer a;
	struct dns_rr *rr;

	(void)fd;
	(void)what;
	dns_answer_build(l, &a, canon, error, &rr);
	l->cb(&a, l->arg);
	free(rr);
	dns_lookup_release(l);
}

struct dns_lookup *
dns_lookup(
    struct dns *d, const char *name, int qtype, dns_answer_cb cb, void *arg)
{
	struct dns_lookup *l = xcalloc(1, sizeof(*l));
	int rc;

	l->d = d;
	l->qtype = qtype;
	l->cb = cb;
	l->arg = arg;
	l->ev = event_new(d->base, -1, 0, dns_lookup_deliver, l);
	if (l->ev == NULL)
		fatalx("dns: cannot create an event");
	TAILQ_INSERT_TAIL(&d->lookups, l, entry);
	if (!dns_name_copy(l->name, name) || dns_is_ip_literal(l->name, NULL)) {
		dns_printable(l->name, sizeof(l->name), name);
		l->badname = true;
		event_active(l->ev, 0, 0);
		return l;
	}
	rc = ub_resolve_async(
	    d->ctx, l->name, qtype, 1 /* IN */, l, dns_ub_done, &l->async_id);
	if (rc != 0) {
		l->ub_err = rc;
		event_active(l->ev, 0, 0);
		return l;
	}
	l->pending = true;
	return l;
}

void
dns_lookup_cancel(struct dns_lookup *l)
{
	if (l != NULL)
		dns_lookup_release(l);
}

/* ub_fd() is readable: answers for dns_ub_done(). */
static void
dns_ub_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dns *d = arg;
	int rc;

	(void)fd;
	(void)what;
	if ((rc = ub_process(d->ctx)) != 0)
		log_warn("dns: ub_process: %s", ub_strerror(rc));
}

/* ---- routes ---- */

static uint32_t
dns_arc4random(void)
{
	return arc4random();
}

struct dns_sort_key {
	unsigned pref;
	uint32_t rnd;
	size_t idx;
};

static int
dns_sort_cmp(const void *x, const void *y)
{
	const struct dns_sort_key *a = x, *b = y;

	if (a->pref != b->pref)
		return a->pref < b->pref ? -1 : 1;
	if (a->rnd != b->rnd)
		return a->rnd < b->rnd ? -1 : 1;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void
dns_hosts_sort(struct dns_host *h, size_t n, uint32_t (*rnd)(void))
{
	struct dns_sort_key *k;
	struct dns_host *tmp;
	size_t i;

	if (n < 2)
		return;
	if (rnd == NULL)
		rnd = dns_arc4random;
	k = xcalloc(n, sizeof(*k));
	for (i = 0; i < n; i++) {
		k[i].pref = h[i].pref;
		k[i].rnd = rnd();
		k[i].idx = i;
	}
	qsort(k, n, sizeof(*k), dns_sort_cmp);
	tmp = xcalloc(n, sizeof(*tmp));
	for (i = 0; i < n; i++)
		tmp[i] = h[k[i].idx];
	memcpy(h, tmp, n * sizeof(*h));
	free(tmp);
	free(k);
}

void
dns_route_free(struct dns_route *r)
{
	free(r);
}

static void dns_route_fail(struct dns_route *r, enum dns_status st,
    const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
dns_route_fail(struct dns_route *r, enum dns_status st, const char *enh,
    const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	dns_fmt(r->enhanced, sizeof(r->enhanced), "%s", enh);
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
}

/* Every lookup of q is done: the route's overall verdict, then deliver. */
static void
dns_query_complete(struct dns_query *q)
{
	struct dns_route *r = q->route;
	const struct dns_host *temp = NULL, *perm = NULL;
	size_t i;

	if (r->nhosts > 0 && r->status == DNS_OK) {
		for (i = 0; i < r->nhosts; i++) {
			const struct dns_host *h = &r->hosts[i];

			if (h->status == DNS_OK)
				break;
			if (h->status == DNS_TEMP && temp == NULL)
				temp = h;
			if (h->status == DNS_PERM && perm == NULL)
				perm = h;
		}
		if (i == r->nhosts && temp != NULL)
			dns_route_fail(r, DNS_TEMP, "4.4.3", "%s%s",
			    r->nhosts > 1 ? "no MX host has a usable "
					    "address; first failure: "
					  : "",
			    temp->error);
		else if (i == r->nhosts && r->implicit && perm != NULL)
			dns_route_fail(r, DNS_PERM, "5.4.4",
			    "%s has no MX "
			    "and no address records",
			    r->domain);
		else if (i == r->nhosts && perm != NULL)
			dns_route_fail(r, DNS_PERM, "5.4.4", "%s%s",
			    r->nhosts > 1 ? "no MX host has an address; "
					    "first: "
					  : "",
			    perm->error);
	}
	event_active(q->done_ev, 0, 0);
}

static void
dns_query_release(struct dns_query *q)
{
	size_t i;

	TAILQ_REMOVE(&q->d->queries, q, entry);
	dns_lookup_cancel(q->mx);
	for (i = 0; i < DNS_ROUTE_HOSTS_MAX; i++) {
		dns_lookup_cancel(q->hq[i].l4);
		dns_lookup_cancel(q->hq[i].l6);
	}
	event_free(q->done_ev);
	dns_route_free(q->route);
	free(q);
}

static void
dns_query_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct dns_query *q = arg;
	struct dns_route *r = q->route;

	(void)fd;
	(void)what;
	q->route = NULL;
	q->cb(r, q->arg);
	dns_query_release(q);
}

void
dns_cancel(struct dns_query *q)
{
	if (q != NULL)
		dns_query_release(q);
}

/* Both address answers of hq are in: fill its host. */
static void
dns_host_finish(struct dns_hostq *hq)
{
	struct dns_host *h = &hq->q->route->hosts[hq->idx];
	size_t i4 = 0, i6 = 0;

	if (h->sec_a == DNS_SEC_BOGUS || h->sec_aaaa == DNS_SEC_BOGUS)
		h->sec = DNS_SEC_BOGUS;
	else if (h->sec_a == DNS_SEC_SECURE && h->sec_aaaa == DNS_SEC_SECURE)
		h->sec = DNS_SEC_SECURE;
	else if (h->sec_a == DNS_SEC_NONE && h->sec_aaaa == DNS_SEC_NONE)
		h->sec = DNS_SEC_NONE;
	else
		h->sec = DNS_SEC_INSECURE;
	if (h->sec == DNS_SEC_BOGUS) {
		/* Never connect on forged data, even of the other family. */
		h->status = DNS_TEMP;
		dns_fmt(h->error, sizeof(h->error), "%s",
		    h->sec_a == DNS_SEC_BOGUS ? hq->err4 : hq->err6);
		return;
	}
	while (h->naddrs < DNS_HOST_ADDRS_MAX && (i4 < hq->n4 || i6 < hq->n6)) {
		struct dns_addr *a = &h->addrs[h->naddrs];
		/* IPv6 first, then alternate while both last */
		bool v6 = i6 < hq->n6 && (i4 >= hq->n4 || i6 <= i4);

		memset(a, 0, sizeof(*a));
		if (v6) {
			a->family = AF_INET6;
			memcpy(a->addr, hq->a6[i6++], 16);
		} else {
			a->family = AF_INET;
			memcpy(a->addr, hq->a4[i4++], 4);
		}
		h->naddrs++;
	}
	if (hq->st4 == DNS_TEMP || hq->st6 == DNS_TEMP)
		dns_fmt(h->error, sizeof(h->error), "%s",
		    hq->st6 == DNS_TEMP ? hq->err6 : hq->err4);
	if (h->naddrs > 0)
		h->status = DNS_OK;
	else if (hq->st4 == DNS_TEMP || hq->st6 == DNS_TEMP)
		h->status = DNS_TEMP;
	else {
		h->status = DNS_PERM;
		if (hq->st4 == DNS_PERM && hq->st6 == DNS_PERM)
			dns_fmt(h->error, sizeof(h->error),
			    "%s: no such "
			    "host (NXDOMAIN)",
			    h->name);
		else
			dns_fmt(h->error, sizeof(h->error),
			    "%s has no A or "
			    "AAAA records",
			    h->name);
	}
}

/* An A or AAAA answer for one host. */
static void
dns_host_answer(const struct dns_answer *a, void *arg)
{
	struct dns_hostq *hq = arg;
	struct dns_query *q = hq->q;
	struct dns_host *h = &q->route->hosts[hq->idx];
	bool v6 = a->qtype == DNS_RDATA_TYPE_AAAA;
	size_t i, *n = v6 ? &hq->n6 : &hq->n4;

	if (v6) {
		hq->l6 = NULL;
		hq->done6 = true;
		hq->st6 = a->status;
		h->sec_aaaa = a->sec;
		dns_fmt(hq->err6, sizeof(hq->err6), "%s", a->error);
	} else {
		hq->l4 = NULL;
		hq->done4 = true;
		hq->st4 = a->status;
		h->sec_a = a->sec;
		dns_fmt(hq->err4, sizeof(hq->err4), "%s", a->error);
	}
	if (a->canon[0] != '\0' && h->canon[0] == '\0')
		dns_fmt(h->canon, sizeof(h->canon), "%s", a->canon);
	for (i = 0; i < a->nrr && *n < DNS_HOST_ADDRS_MAX; i++) {
		struct span rd =
		    span_make((const char *)a->rr[i].p, a->rr[i].n);

		if (v6 ? dns_rdata_aaaa(rd, hq->a6[*n]) == DNS_RDATA_OK
		       : dns_rdata_a(rd, hq->a4[*n]) == DNS_RDATA_OK)
			(*n)++;
	}
	if (hq->done4 && hq->done6) {
		dns_host_finish(hq);
		if (--q->npending == 0)
			dns_query_complete(q);
	}
}

/* Starts the address lookups of every host of q's route. */
static void
dns_query_hosts(struct dns_query *q)
{
	struct dns_route *r = q->route;
	size_t i;

	for (i = 0; i < r->nhosts; i++) {
		struct dns_hostq *hq = &q->hq[i];
		struct dns_addr lit;

		hq->q = q;
		hq->idx = i;
		if (dns_is_ip_literal(r->hosts[i].name, &lit)) {
			/* only dns_host() gets here: MX targets that are
			 * literals were skipped */
			r->hosts[i].addrs[0] = lit;
			r->hosts[i].naddrs = 1;
			r->hosts[i].status = DNS_OK;
			continue;
		}
		q->npending++;
		hq->l4 = dns_lookup(q->d, r->hosts[i].name, DNS_RDATA_TYPE_A,
		    dns_host_answer, hq);
		hq->l6 = dns_lookup(q->d, r->hosts[i].name, DNS_RDATA_TYPE_AAAA,
		    dns_host_answer, hq);
	}
	if (q->npending == 0)
		dns_query_complete(q);
}

/*
 * The MX answer. RFC 5321 5.1: "[...] the SMTP client [...] MUST
 * determine its preference order [...] if there are multiple destinations
 * with the same preference and there is no clear reason to favor one
 * [...], the SMTP client SHOULD pick one at random [...]. If an empty
 * list of MXs is returned, the address is treated as if it was associated
 * with an implicit MX RR, with a preference of 0, pointing to that host."
 * RFC 7505 3: a null MX is a single MX RR whose exchange is "." and
 * whose preference is 0 (any preference accepted here); 4.1: the domain
 * accepts no mail, so a sender fails at once (5.1.10), without trying the
 * domain's address records.
 */
static void
dns_mx_answer(const struct dns_answer *a, void *arg)
{
	struct dns_query *q = arg;
	struct dns_route *r = q->route;
	struct dns_host *all;
	size_t i, j, n = 0, nnull = 0, bad = 0;

	q->mx = NULL;
	r->mx_sec = a->sec;
	dns_fmt(r->mx_canon, sizeof(r->mx_canon), "%s", a->canon);
	if (a->status == DNS_PERM) {
		dns_route_fail(
		    r, DNS_PERM, "5.1.2", "%s: no such domain", r->domain);
		dns_query_complete(q);
		return;
	}
	if (a->status != DNS_OK) {
		dns_route_fail(r, DNS_TEMP, "4.4.3", "%s", a->error);
		dns_query_complete(q);
		return;
	}
	if (a->nrr == 0) {
		r->implicit = true;
		r->nhosts = 1;
		dns_fmt(r->hosts[0].name, sizeof(r->hosts[0].name), "%s",
		    r->domain);
		dns_query_hosts(q);
		return;
	}
	all = xcalloc(a->nrr, sizeof(*all));
	for (i = 0; i < a->nrr; i++) {
		struct dns_rdata_mx mx;

		if (dns_rdata_mx(
			span_make((const char *)a->rr[i].p, a->rr[i].n), &mx) !=
		    DNS_RDATA_OK) {
			bad++;
			continue;
		}
		if (mx.null) {
			nnull++;
			continue;
		}
		if (dns_is_ip_literal(mx.host, NULL)) {
			bad++;
			continue;
		}
		all[n].pref = mx.pref;
		memcpy(all[n].name, mx.host, sizeof(all[n].name));
		n++;
	}
	if (nnull > 0 && n == 0 && bad == 0) {
		free(all);
		dns_route_fail(r, DNS_PERM, "5.1.10",
		    "%s: domain does not "
		    "accept mail (null MX)",
		    r->domain);
		dns_query_complete(q);
		return;
	}
	dns_hosts_sort(all, n, NULL);
	for (i = 0; i < n && r->nhosts < DNS_ROUTE_HOSTS_MAX; i++) {
		for (j = 0; j < r->nhosts; j++)
			if (strcmp(r->hosts[j].name, all[i].name) == 0)
				break;
		if (j == r->nhosts) /* the first (best) of duplicates */
			r->hosts[r->nhosts++] = all[i];
	}
	free(all);
	if (r->nhosts == 0) {
		dns_route_fail(r, DNS_TEMP, "4.4.3",
		    "%s: no usable MX host "
		    "(%zu invalid records)",
		    r->domain, bad + nnull);
		dns_query_complete(q);
		return;
	}
	dns_query_hosts(q);
}

static struct dns_query *
dns_query_new(struct dns *d, const char *name, dns_route_cb cb, void *arg)
{
	struct dns_query *q = xcalloc(1, sizeof(*q));

	q->d = d;
	q->cb = cb;
	q->arg = arg;
	q->route = xcalloc(1, sizeof(*q->route));
	q->done_ev = event_new(d->base, -1, 0, dns_query_deliver, q);
	if (q->done_ev == NULL)
		fatalx("dns: cannot create an event");
	TAILQ_INSERT_TAIL(&d->queries, q, entry);
	if (!dns_name_copy(q->route->domain, name))
		dns_printable(q->route->domain, sizeof(q->route->domain), name);
	return q;
}

struct dns_query *
dns_mx(struct dns *d, const char *domain, dns_route_cb cb, void *arg)
{
	struct dns_query *q = dns_query_new(d, domain, cb, arg);
	char tmp[DNS_NAME_MAX + 1];

	if (!dns_name_copy(tmp, domain) || dns_is_ip_literal(tmp, NULL)) {
		dns_route_fail(q->route, DNS_PERM, "5.1.2",
		    "invalid "
		    "destination domain '%s'",
		    q->route->domain);
		dns_query_complete(q);
		return q;
	}
	q->mx = dns_lookup(
	    d, q->route->domain, DNS_RDATA_TYPE_MX, dns_mx_answer, q);
	return q;
}

struct dns_query *
dns_host(struct dns *d, const char *hostname, dns_route_cb cb, void *arg)
{
	struct dns_query *q = dns_query_new(d, hostname, cb, arg);
	struct dns_host *h = &q->route->hosts[0];
	struct dns_addr lit;

	q->route->nhosts = 1;
	if (hostname != NULL && dns_is_ip_literal(hostname, &lit)) {
		dns_printable(h->name, sizeof(h->name), hostname);
		dns_printable(
		    q->route->domain, sizeof(q->route->domain), hostname);
	} else if (!dns_name_copy(h->name, hostname)) {
		q->route->nhosts = 0;
		dns_route_fail(q->route, DNS_PERM, "5.1.2",
		    "invalid host "
		    "name '%s'",
		    q->route->domain);
		dns_query_complete(q);
		return q;
	}
	dns_query_hosts(q);
	return q;
}

/* ---- the resolver ---- */

size_t
dns_resolvconf_servers(const char *text, size_t n, char out[DNS_RESOLV_MAX][64])
{
	size_t pos = 0, count = 0;

	while (pos < n && count < DNS_RESOLV_MAX) {
		const char *line = text + pos,
			   *nl = memchr(line, '\n', n - pos);
		size_t len = nl != NULL ? (size_t)(nl - line) : n - pos;
		size_t i = 0, w;
		char word[64];
		struct dns_addr a;
		char *pct;

		pos += len + (nl != NULL);
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (len - i < 11 || memcmp(line + i, "nameserver", 10) != 0 ||
		    (line[i + 10] != ' ' && line[i + 10] != '\t'))
			continue;
		i += 10;
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		for (w = 0; i < len && line[i] != ' ' && line[i] != '\t' &&
			    line[i] != '\r' && line[i] != '#' && line[i] != ';';
		     i++) {
			if (w + 1 >= sizeof(word))
				break;
			word[w++] = line[i];
		}
		if (w == 0 || w + 1 >= sizeof(word))
			continue;
		word[w] = '\0';
		memcpy(out[count], word, w + 1);
		if ((pct = strchr(word, '%')) != NULL)
			*pct = '\0'; /* fe80::1%eth0: check the address */
		if (!dns_is_ip_literal(word, &a))
			continue;
		count++;
	}
	return count;
}

/* Adds the trust anchor lines of text; 0, or -1 with err. */
static int
dns_add_trust_anchors(struct ub_ctx *ctx, const char *text, size_t n,
    size_t *added, char *err, size_t errsz)
{
	size_t pos = 0, lineno = 0;

	*added = 0;
	while (text != NULL && pos < n) {
		const char *line = text + pos,
			   *nl = memchr(line, '\n', n - pos);
		size_t len = nl != NULL ? (size_t)(nl - line) : n - pos;
		size_t i = 0;
		char *s;
		int rc;

		pos += len + (nl != NULL);
		lineno++;
		while (
		    len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
				   line[len - 1] == '\t'))
			len--;
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len || line[i] == ';' || line[i] == '#')
			continue;
		if (memchr(line, '\0', len) != NULL) {
			dns_fmt(err, errsz,
			    "trust anchor line %zu: NUL "
			    "byte",
			    lineno);
			return -1;
		}
		s = xstrndup(line + i, len - i);
		rc = ub_ctx_add_ta(ctx, s);
		free(s);
		if (rc != 0) {
			dns_fmt(err, errsz, "trust anchor line %zu: %s", lineno,
			    ub_strerror(rc));
			return -1;
		}
		(*added)++;
	}
	return 0;
}

/*
 * After a failed finalisation: which trust anchor line is wrong? Tries
 * each alone in a scratch context. Writes the message into err.
 */
static void
dns_blame_trust_anchor(const char *text, size_t n, char *err, size_t errsz)
{
	size_t pos = 0, lineno = 0;

	while (text != NULL && pos < n) {
		const char *line = text + pos,
			   *nl = memchr(line, '\n', n - pos);
		size_t len = nl != NULL ? (size_t)(nl - line) : n - pos, added;
		char dummy[64];
		struct ub_ctx *t;

		pos += len + (nl != NULL);
		lineno++;
		if ((t = ub_ctx_create()) == NULL)
			return;
		if (dns_add_trust_anchors(
			t, line, len, &added, dummy, sizeof(dummy)) != 0 ||
		    (added > 0 && ub_ctx_zone_remove(
				      t, "petrel-finalize.invalid.") != 0)) {
			dns_fmt(err, errsz,
			    "trust anchor line %zu is not a "
			    "valid DS or DNSKEY record",
			    lineno);
			ub_ctx_delete(t);
			return;
		}
		ub_ctx_delete(t);
	}
}

struct dns *
dns_new(struct event_base *base, const struct conf *conf,
    const char *resolv_text, size_t resolv_len, const char *ta_text,
    size_t ta_len, char *err, size_t errsz)
{
	struct dns *d = xcalloc(1, sizeof(*d));
	char servers[DNS_RESOLV_MAX][64], opt[80];
	size_t i, n, nta;
	int rc;

	err[0] = '\0';
	d->base = base;
	TAILQ_INIT(&d->lookups);
	TAILQ_INIT(&d->queries);
	if ((d->ctx = ub_ctx_create()) == NULL) {
		dns_fmt(err, errsz, "cannot create the DNS resolver");
		goto fail;
	}
	/* Answers come back through a thread, not a forked process: the
	 * remote process is small and chrooted, a fork would copy it. */
	if ((rc = ub_ctx_async(d->ctx, 1)) != 0) {
		dns_fmt(err, errsz, "DNS resolver: %s", ub_strerror(rc));
		goto fail;
	}
	switch (conf->dns_mode) {
	case CONF_DNS_RESOLVCONF:
		n = dns_resolvconf_servers(
		    resolv_text != NULL ? resolv_text : "",
		    resolv_text != NULL ? resolv_len : 0, servers);
		if (n == 0) { /* resolv.conf(5): "the local machine" */
			memcpy(servers[0], "127.0.0.1", 10);
			n = 1;
		}
		for (i = 0; i < n; i++)
			if ((rc = ub_ctx_set_fwd(d->ctx, servers[i])) != 0) {
				dns_fmt(err, errsz,
				    "resolv.conf nameserver "
				    "%s: %s",
				    servers[i], ub_strerror(rc));
				goto fail;
			}
		break;
	case CONF_DNS_FORWARD:
		for (i = 0; i < conf->ndns_forwarders; i++)
			if ((rc = ub_ctx_set_fwd(
				 d->ctx, conf->dns_forwarders[i])) != 0) {
				dns_fmt(err, errsz, "dns-resolver %s: %s",
				    conf->dns_forwarders[i], ub_strerror(rc));
				goto fail;
			}
		break;
	case CONF_DNS_RECURSIVE:
		break;
	}
	if (dns_add_trust_anchors(d->ctx, ta_text, ta_len, &nta, err, errsz) !=
	    0)
		goto fail;
	for (i = 0; i < conf->ndns_options; i++) {
		const char *name = conf->dns_options[2 * i];
		const char *val = conf->dns_options[2 * i + 1];

		rc = (size_t)snprintf(opt, sizeof(opt), "%s:", name) >=
			     sizeof(opt)
			 ? UB_SYNTAX
			 : ub_ctx_set_option(d->ctx, opt, val);
		if (rc != 0) {
			dns_fmt(err, errsz,
			    "dns-option %s \"%.80s\": unbound "
			    "rejects it (%s)",
			    name, val, ub_strerror(rc));
			goto fail;
		}
	}
	/*
	 * libunbound applies its configuration lazily, at the first
	 * question. Removing a zone that does not exist forces that step
	 * now (it is all the call does), so a broken trust anchor or
	 * option value fails here instead of every lookup later.
	 */
	if ((rc = ub_ctx_zone_remove(d->ctx, "petrel-finalize.invalid.")) !=
	    0) {
		dns_fmt(err, errsz, "DNS resolver configuration: %s",
		    ub_strerror(rc));
		if (nta > 0)
			dns_blame_trust_anchor(ta_text, ta_len, err, errsz);
		goto fail;
	}
	d->ub_ev = event_new(
	    base, ub_fd(d->ctx), EV_READ | EV_PERSIST, dns_ub_readable, d);
	if (d->ub_ev == NULL || event_add(d->ub_ev, NULL) != 0) {
		dns_fmt(err, errsz, "DNS resolver: cannot watch its pipe");
		goto fail;
	}
	return d;
fail:
	dns_free(d);
	return NULL;
}

void
dns_free(struct dns *d)
{
	struct dns_query *q;
	struct dns_lookup *l;

	if (d == NULL)
		return;
	while ((q = TAILQ_FIRST(&d->queries)) != NULL)
		dns_query_release(q);
	while ((l = TAILQ_FIRST(&d->lookups)) != NULL)
		dns_lookup_release(l);
	if (d->ub_ev != NULL)
		event_free(d->ub_ev);
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);
	free(d);
}

/* ---- small helpers ---- */

const char *
dns_sec_name(enum dns_sec s)
{
	switch (s) {
	case DNS_SEC_INSECURE:
		return "insecure";
	case DNS_SEC_SECURE:
		return "secure";
	case DNS_SEC_BOGUS:
		return "bogus";
	case DNS_SEC_NONE:
	default:
		return "none";
	}
}

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_TEMP:
		return "temporary";
	case DNS_PERM:
	default:
		return "permanent";
	}
}

socklen_t
dns_addr_sockaddr(
    const struct dns_addr *a, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, a->addr, 4);
		return sizeof(*sin);
	}
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, a->addr, 16);
		return sizeof(*sin6);
	}
	return 0;
}

void
dns_addr_format(const struct dns_addr *a, char *out, size_t outsz)
{
	if (outsz == 0)
		return;
	if ((a->family != AF_INET && a->family != AF_INET6) ||
	    inet_ntop(a->family, a->addr, out, (socklen_t)outsz) == NULL)
		out[0] = '\0';
}
