/*
 * dane: TLSA lookup and OpenSSL DANE set-up for MX hosts (see dane.h).
 */
#include "remote/dane.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "lib/xalloc.h"
#include "proto/dns_rdata.h"

struct dane_query {
	struct dns *dns;
	struct dns_lookup *l;
	dane_cb cb;
	void *arg;
	char mx[DNS_NAME_MAX + 1];
	char canon[DNS_NAME_MAX + 1];
	bool at_canon;		/* the current lookup is at canon */
};

const char *
dane_state_name(enum dane_state s)
{
	switch (s) {
	case DANE_USABLE:
		return "dane";
	case DANE_ENCRYPT:
		return "dane-encrypt";
	case DANE_FAIL:
		return "fail";
	default:
		return "none";
	}
}

static void dane_answer(const struct dns_answer *a, void *arg);

static void
dane_ask(struct dane_query *q, const char *name)
{
	char qname[DNS_NAME_MAX + 16];

	snprintf(qname, sizeof(qname), "_25._tcp.%s", name);
	q->l = dns_lookup(q->dns, qname, DNS_RDATA_TYPE_TLSA, dane_answer, q);
}

/* A usable record for SMTP (RFC 7672 3.1): DANE-TA or DANE-EE, a selector
 * and matching type that exist (RFC 6698 2.1.2, 2.1.3). */
static bool
dane_usable(const struct dns_rdata_tlsa *t)
{
	return (t->usage == 2 || t->usage == 3) && t->selector <= 1 &&
	    t->mtype <= 2;
}

static void
dane_answer(const struct dns_answer *a, void *arg)
{
	struct dane_query *q = arg;
	struct dane_host *h = xcalloc(1, sizeof(*h));
	const char *base = q->at_canon ? q->canon : q->mx;
	size_t i;

	q->l = NULL;
	snprintf(h->mx, sizeof(h->mx), "%s", q->mx);
	snprintf(h->base, sizeof(h->base), "%s", base);
	if (a->status == DNS_TEMP) {
		/* RFC 7672 2.2: a failed or bogus lookup for a host with
		 * secure addresses makes the host unusable. */
		h->state = DANE_FAIL;
		snprintf(h->why, sizeof(h->why), "%s", a->error);
	} else if (a->sec != DNS_SEC_SECURE && a->nrr > 0) {
		h->state = DANE_NONE;
		snprintf(h->why, sizeof(h->why), "TLSA records at _25._tcp.%s "
		    "are not DNSSEC-signed: ignored", base);
	} else if (a->nrr == 0) {
		if (q->at_canon) {
			/* RFC 7672 2.2.2: then at the name before the
			 * CNAME expansion. */
			free(h);
			q->at_canon = false;
			dane_ask(q, q->mx);
			return;
		}
		h->state = DANE_NONE;
		snprintf(h->why, sizeof(h->why), "no TLSA records at "
		    "_25._tcp.%s", base);
	} else {
		for (i = 0; i < a->nrr; i++) {
			struct dns_rdata_tlsa t;
			struct dane_tlsa *d;

			h->nall++;
			if (dns_rdata_tlsa(span_make((const char *)a->rr[i].p,
			    a->rr[i].n), &t) != DNS_RDATA_OK || !dane_usable(&t) ||
			    t.data.n > DANE_DATA_MAX || h->n == DANE_TLSA_MAX)
				continue;
			d = &h->rr[h->n++];
			d->usage = t.usage;
			d->selector = t.selector;
			d->mtype = t.mtype;
			d->len = t.data.n;
			d->data = xmalloc(t.data.n);
			memcpy(d->data, t.data.p, t.data.n);
		}
		h->state = h->n > 0 ? DANE_USABLE : DANE_ENCRYPT;
		snprintf(h->why, sizeof(h->why), "%zu usable of %zu secure "
		    "TLSA records at _25._tcp.%s", h->n, h->nall, base);
	}
	q->cb(h, q->arg);
	free(q);
}

void
dane_host_free(struct dane_host *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++)
		free(h->rr[i].data);
	free(h);
}

struct dane_query *
dane_lookup(struct dns *d, const char *mx, const char *canon, dane_cb cb,
    void *arg)
{
	struct dane_query *q = xcalloc(1, sizeof(*q));

	q->dns = d;
	q->cb = cb;
	q->arg = arg;
	snprintf(q->mx, sizeof(q->mx), "%s", mx);
	snprintf(q->canon, sizeof(q->canon), "%s", canon ? canon : "");
	q->at_canon = q->canon[0] != '\0' && strcmp(q->canon, q->mx) != 0;
	dane_ask(q, q->at_canon ? q->canon : q->mx);
	return q;
}

void
dane_cancel(struct dane_query *q)
{
	if (q == NULL)
		return;
	if (q->l != NULL)
		dns_lookup_cancel(q->l);
	free(q);
}

int
dane_ctx_enable(SSL_CTX *ctx)
{
	return SSL_CTX_dane_enable(ctx) > 0 ? 0 : -1;
}

int
dane_apply(SSL *ssl, const struct dane_host *h, char *err, size_t errsz)
{
	size_t i, added = 0;
	char sni[DNS_NAME_MAX + 1];	/* the macro casts const away */

	snprintf(sni, sizeof(sni), "%s", h->base);
	if (SSL_set_tlsext_host_name(ssl, sni) != 1 ||
	    SSL_dane_enable(ssl, h->base) <= 0) {
		snprintf(err, errsz, "DANE set-up failed");
		return -1;
	}
	/* DANE-TA: the base domain (set above) or the MX name. */
	if (strcmp(h->mx, h->base) != 0 && SSL_add1_host(ssl, h->mx) != 1) {
		snprintf(err, errsz, "DANE set-up failed (names)");
		return -1;
	}
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	/* DANE-EE: names and validity dates do not matter (RFC 7672 3.1.1). */
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (i = 0; i < h->n; i++) {
		const struct dane_tlsa *t = &h->rr[i];
		if (SSL_dane_tlsa_add(ssl, t->usage, t->selector, t->mtype,
		    t->data, t->len) > 0)
			added++;
	}
	if (added == 0) {
		snprintf(err, errsz, "no TLSA record usable by OpenSSL");
		return -1;
	}
	return 0;
}

bool
dane_verified(SSL *ssl, char *why, size_t whysz)
{
	uint8_t usage, selector, mtype;
	long r = SSL_get_verify_result(ssl);
	int depth;

	if (SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(why, whysz, "no certificate");
		return false;
	}
	if (r != X509_V_OK) {
		snprintf(why, whysz, "DANE: %s",
		    X509_verify_cert_error_string(r));
		return false;
	}
	depth = SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL,
	    NULL);
	if (depth < 0) {
		snprintf(why, whysz, "DANE: no TLSA record matched");
		return false;
	}
	snprintf(why, whysz, "ok (TLSA %u %u %u matched at depth %d)",
	    usage, selector, mtype, depth);
	return true;
}

void
dane_tlsa_text(const struct dane_tlsa *t, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o;
	int n = snprintf(out, outsz, "%u %u %u ", t->usage, t->selector,
	    t->mtype);

	if (n < 0 || (size_t)n >= outsz)
		return;
	o = (size_t)n;
	for (i = 0; i < t->len && o + 3 < outsz; i++) {
		if (i == 32 && t->len > 33) {
			snprintf(out + o, outsz - o, "...");
			return;
		}
		out[o++] = hex[t->data[i] >> 4];
		out[o++] = hex[t->data[i] & 15];
	}
	out[o] = '\0';
}
