/*
 * tlsrpt: the TLS-RPT counts store (see tlsrpt.h): counting sessions into
 * periods, the period files, and the steps that pick what is due and
 * forget what was reported (cut, due, drop, gc). Composing and delivering
 * the reports is tlsrpt_send.c's; what the two share is in tlsrpt_int.h.
 * The store is a list of periods sorted by start; each holds its policy
 * domains sorted by name (binary search: one lookup per counted session),
 * each domain its policies, each policy its failure-details rows (linear:
 * at most TLSRPT_ROWS_MAX).
 *
 * A period file:
 *
 *   tlsrpt-period 1 START END          ; unix seconds, END exclusive
 *   D domain DONE                      ; DONE 1: reported or dropped
 *   P policy-type nsuccess nfailure    ; belongs to the last D
 *   S string                           ; a policy string of the last P
 *   F result-type count sending-ip receiving-mx receiving-ip reason
 *
 * Every string field is one token: bytes outside %x21-7E and "%" are
 * written %XX, the empty string "-" (and a lone "-" as "%2D").
 */
#include "remote/tlsrpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lib/fsio.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/dns_rdata.h"
#include "remote/curlev.h"
#include "remote/tlsrpt_int.h"

#define TLSRPT_PERIODS_MAX 64 /* periods kept at all (about 2 months) */

/* ---- small helpers ---- */

static int64_t
tlsrpt_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec + 1;
}

static int64_t
tlsrpt_day_start(int64_t t)
{
	if (t < 0)
		return 0;
	return t - t % TLSRPT_DAY;
}

/* "YYYY-MM-DD", or "YYYY-MM-DD.START" for a period not starting at 0h. */
static void
tlsrpt_period_name(int64_t start, char *out, size_t outsz)
{
	time_t tt = (time_t)start;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, outsz, "%" PRId64, start);
		return;
	}
	if (start == tlsrpt_day_start(start))
		snprintf(out, outsz, "%04d-%02d-%02d", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday);
	else
		snprintf(out, outsz, "%04d-%02d-%02d.%" PRId64,
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, start);
}

/* Lower-cased domain without trailing dot, a DNS host name. 0, or -1. */
static int
tlsrpt_canon_domain(const char *in, char out[254])
{
	size_t n = in != NULL ? strlen(in) : 0, i;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return -1;
	for (i = 0; i < n; i++)
		out[i] =
		    (in[i] >= 'A' && in[i] <= 'Z') ? (char)(in[i] + 32) : in[i];
	out[n] = '\0';
	return dns_rdata_is_hostname(span_make(out, n)) ? 0 : -1;
}

/* A copy of s cut at max octets ("" for NULL). */
static char *
tlsrpt_cut_dup(const char *s, size_t max)
{
	if (s == NULL)
		return xstrdup("");
	return xstrndup(s, strnlen(s, max));
}

/* Whether stored (already cut) equals s cut at max. */
static bool
tlsrpt_cut_eq(const char *stored, const char *s, size_t max)
{
	size_t n;

	if (s == NULL)
		s = "";
	n = strnlen(s, max);
	return strlen(stored) == n && memcmp(stored, s, n) == 0;
}

/* ---- the data ---- */

static void
tlsrpt_pol_clear(struct tlsrpt_pol *p)
{
	size_t i;

	for (i = 0; i < p->nstrings; i++)
		free(p->strings[i]);
	free(p->strings);
	for (i = 0; i < p->nrows; i++) {
		free(p->rows[i].sending_ip);
		free(p->rows[i].receiving_mx);
		free(p->rows[i].receiving_ip);
		free(p->rows[i].reason);
	}
	free(p->rows);
}

static void
tlsrpt_dom_free(struct tlsrpt_dom *d)
{
	size_t i;

	for (i = 0; i < d->npols; i++)
		tlsrpt_pol_clear(&d->pols[i]);
	free(d->pols);
	free(d->domain);
	free(d);
}

static void
tlsrpt_period_free(struct tlsrpt_period *p)
{
	size_t i;

	for (i = 0; i < p->ndoms; i++)
		tlsrpt_dom_free(p->doms[i]);
	free(p->doms);
	free(p);
}

static size_t
tlsrpt_dom_index(const struct tlsrpt_period *p, const char *domain, bool *found)
{
	size_t lo = 0, hi = p->ndoms;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(p->doms[mid]->domain, domain);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct tlsrpt_dom *
tlsrpt_dom_get(struct tlsrpt_period *p, const char *domain, bool create)
{
	struct tlsrpt_dom *d;
	bool found;
	size_t i = tlsrpt_dom_index(p, domain, &found);

	if (found)
		return p->doms[i];
	if (!create)
		return NULL;
	if (p->ndoms >= TLSRPT_DOMAINS_MAX) {
		if (!p->warned)
			log_warn("tlsrpt: period=%s has %d policy domains, "
				 "more are not counted",
			    p->name, TLSRPT_DOMAINS_MAX);
		p->warned = true;
		return NULL;
	}
	if (p->ndoms == p->capdoms) {
		p->capdoms = p->capdoms ? p->capdoms * 2 : 16;
		p->doms = xreallocarray(p->doms, p->capdoms, sizeof(*p->doms));
	}
	d = xcalloc(1, sizeof(*d));
	d->domain = xstrdup(domain);
	memmove(
	    &p->doms[i + 1], &p->doms[i], (p->ndoms - i) * sizeof(*p->doms));
	p->doms[i] = d;
	p->ndoms++;
	return d;
}

static struct tlsrpt_pol *
tlsrpt_pol_add(struct tlsrpt_dom *d, enum tlsrpt_policy_type ptype)
{
	struct tlsrpt_pol *p;

	if (d->npols >= TLSRPT_POLICIES_MAX)
		return NULL;
	d->pols = xreallocarray(d->pols, d->npols + 1, sizeof(*d->pols));
	p = &d->pols[d->npols++];
	memset(p, 0, sizeof(*p));
	p->ptype = ptype;
	return p;
}

static void
tlsrpt_pol_add_string(struct tlsrpt_pol *p, const char *s)
{
	if (p->nstrings >= TLSRPT_STRINGS_MAX)
		return;
	p->strings =
	    xreallocarray(p->strings, p->nstrings + 1, sizeof(*p->strings));
	p->strings[p->nstrings++] = tlsrpt_cut_dup(s, TLSRPT_STRING_MAX);
}

static struct tlsrpt_pol *
tlsrpt_pol_get(struct tlsrpt_dom *d, const struct tlsrpt_event *ev)
{
	size_t n = ev->npolicy_strings < TLSRPT_STRINGS_MAX
		       ? ev->npolicy_strings
		       : TLSRPT_STRINGS_MAX;
	struct tlsrpt_pol *p;
	size_t i, k;

	for (i = 0; i < d->npols; i++) {
		p = &d->pols[i];
		if (p->ptype != ev->ptype || p->nstrings != n)
			continue;
		for (k = 0; k < n; k++) {
			if (!tlsrpt_cut_eq(p->strings[k], ev->policy_strings[k],
				TLSRPT_STRING_MAX))
				break;
		}
		if (k == n)
			return p;
	}
	if ((p = tlsrpt_pol_add(d, ev->ptype)) == NULL)
		return NULL;
	for (k = 0; k < n; k++)
		tlsrpt_pol_add_string(p, ev->policy_strings[k]);
	return p;
}

static struct tlsrpt_row *
tlsrpt_row_add(struct tlsrpt_pol *p, enum tlsrpt_result result, const char *sip,
    const char *mx, const char *rip, const char *reason)
{
	struct tlsrpt_row *r;

	if (p->nrows >= TLSRPT_ROWS_MAX)
		return NULL;
	p->rows = xreallocarray(p->rows, p->nrows + 1, sizeof(*p->rows));
	r = &p->rows[p->nrows++];
	r->result = result;
	r->sending_ip = tlsrpt_cut_dup(sip, TLSRPT_FIELD_MAX);
	r->receiving_mx = tlsrpt_cut_dup(mx, TLSRPT_FIELD_MAX);
	r->receiving_ip = tlsrpt_cut_dup(rip, TLSRPT_FIELD_MAX);
	r->reason = tlsrpt_cut_dup(reason, TLSRPT_FIELD_MAX);
	r->count = 0;
	return r;
}

static struct tlsrpt_row *
tlsrpt_row_get(struct tlsrpt_pol *p, const struct tlsrpt_event *ev)
{
	size_t i;

	for (i = 0; i < p->nrows; i++) {
		struct tlsrpt_row *r = &p->rows[i];

		if (r->result == ev->result &&
		    tlsrpt_cut_eq(
			r->sending_ip, ev->sending_ip, TLSRPT_FIELD_MAX) &&
		    tlsrpt_cut_eq(
			r->receiving_mx, ev->mx_host, TLSRPT_FIELD_MAX) &&
		    tlsrpt_cut_eq(
			r->receiving_ip, ev->receiving_ip, TLSRPT_FIELD_MAX) &&
		    tlsrpt_cut_eq(r->reason, ev->reason, TLSRPT_FIELD_MAX))
			return r;
	}
	return tlsrpt_row_add(p, ev->result, ev->sending_ip, ev->mx_host,
	    ev->receiving_ip, ev->reason);
}

static struct tlsrpt_period *
tlsrpt_period_find(const struct tlsrpt *t, int64_t start)
{
	size_t i;

	for (i = 0; i < t->nperiods; i++) {
		if (t->periods[i]->start == start)
			return t->periods[i];
	}
	return NULL;
}

static void
tlsrpt_period_unlink(struct tlsrpt *t, const struct tlsrpt_period *p)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", t->dir, p->name);
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("tlsrpt: cannot remove %s: %s", path, strerror(errno));
}

/* Removes periods[i] (and its file when unlink_file) and frees it. */
static void
tlsrpt_period_remove(struct tlsrpt *t, size_t i, bool unlink_file)
{
	struct tlsrpt_period *p = t->periods[i];

	if (unlink_file)
		tlsrpt_period_unlink(t, p);
	memmove(&t->periods[i], &t->periods[i + 1],
	    (t->nperiods - i - 1) * sizeof(*t->periods));
	t->nperiods--;
	tlsrpt_period_free(p);
}

/* Adds p to the list, keeping it sorted by start. */
static void
tlsrpt_period_add(struct tlsrpt *t, struct tlsrpt_period *p)
{
	size_t i;

	if (t->nperiods >= TLSRPT_PERIODS_MAX) {
		log_warn("tlsrpt: period=%s dropped unreported: too many "
			 "periods",
		    t->periods[0]->name);
		tlsrpt_period_remove(t, 0, true);
	}
	for (i = 0; i < t->nperiods && t->periods[i]->start < p->start; i++)
		;
	t->periods =
	    xreallocarray(t->periods, t->nperiods + 1, sizeof(*t->periods));
	memmove(&t->periods[i + 1], &t->periods[i],
	    (t->nperiods - i) * sizeof(*t->periods));
	t->periods[i] = p;
	t->nperiods++;
}

/* Inserts a new empty period [start, end). */
static struct tlsrpt_period *
tlsrpt_period_insert(struct tlsrpt *t, int64_t start, int64_t end)
{
	struct tlsrpt_period *p = xcalloc(1, sizeof(*p));

	p->start = start;
	p->end = end;
	tlsrpt_period_name(start, p->name, sizeof(p->name));
	tlsrpt_period_add(t, p);
	return p;
}

/*
 * The period holding now, created when there is none: it spans the rest
 * of now's UTC day not covered by other periods (after a cut: from the
 * cut).
 */
static struct tlsrpt_period *
tlsrpt_period_at(struct tlsrpt *t, int64_t now)
{
	int64_t start = tlsrpt_day_start(now), end = start + TLSRPT_DAY;
	size_t i;

	for (i = 0; i < t->nperiods; i++) {
		struct tlsrpt_period *p = t->periods[i];

		if (p->start <= now && now < p->end)
			return p;
		if (p->end <= now && p->end > start)
			start = p->end;
		if (p->start > now && p->start < end)
			end = p->start;
	}
	return tlsrpt_period_insert(t, start, end);
}

/* ---- files ---- */

static int
tlsrpt_put_token(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return buf_putc(b, '-');
	if (strcmp(s, "-") == 0)
		return buf_puts(b, "%2D");
	for (; *p != '\0'; p++) {
		int rc;

		if (*p < 0x21 || *p > 0x7e || *p == '%')
			rc = buf_printf(b, "%%%02X", (unsigned)*p);
		else
			rc = buf_putc(b, (char)*p);
		if (rc != 0)
			return -1;
	}
	return 0;
}

static int
tlsrpt_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes a token in place. 0, or -1 (a bad escape or a NUL). */
static int
tlsrpt_get_token(char *s)
{
	char *o = s, *p = s;

	if (strcmp(s, "-") == 0) {
		s[0] = '\0';
		return 0;
	}
	while (*p != '\0') {
		if (*p == '%') {
			int hi = tlsrpt_hex(p[1]), lo;

			if (hi < 0 || (lo = tlsrpt_hex(p[2])) < 0 ||
			    (hi == 0 && lo == 0))
				return -1;
			*o++ = (char)(hi * 16 + lo);
			p += 3;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return 0;
}

static int
tlsrpt_period_text(const struct tlsrpt_period *p, struct buf *b)
{
	size_t i, k, r;

	if (buf_printf(b, "tlsrpt-period 1 %" PRId64 " %" PRId64 "\n", p->start,
		p->end) != 0)
		return -1;
	for (i = 0; i < p->ndoms; i++) {
		const struct tlsrpt_dom *d = p->doms[i];

		if (buf_printf(b, "D %s %d\n", d->domain, d->done ? 1 : 0) != 0)
			return -1;
		for (k = 0; k < d->npols; k++) {
			const struct tlsrpt_pol *pl = &d->pols[k];

			if (buf_printf(b, "P %s %" PRIu64 " %" PRIu64 "\n",
				tlsrpt_policy_type_name(pl->ptype),
				pl->nsuccess, pl->nfailure) != 0)
				return -1;
			for (r = 0; r < pl->nstrings; r++) {
				if (buf_puts(b, "S ") != 0 ||
				    tlsrpt_put_token(b, pl->strings[r]) != 0 ||
				    buf_putc(b, '\n') != 0)
					return -1;
			}
			for (r = 0; r < pl->nrows; r++) {
				const struct tlsrpt_row *w = &pl->rows[r];

				if (buf_printf(b, "F %s %" PRIu64 " ",
					tlsrpt_result_name(w->result),
					w->count) != 0 ||
				    tlsrpt_put_token(b, w->sending_ip) != 0 ||
				    buf_putc(b, ' ') != 0 ||
				    tlsrpt_put_token(b, w->receiving_mx) != 0 ||
				    buf_putc(b, ' ') != 0 ||
				    tlsrpt_put_token(b, w->receiving_ip) != 0 ||
				    buf_putc(b, ' ') != 0 ||
				    tlsrpt_put_token(b, w->reason) != 0 ||
				    buf_putc(b, '\n') != 0)
					return -1;
			}
		}
	}
	return 0;
}

/* Writes p's file atomically (fdatasync'ed when sync). 0, or -1. */
int
tlsrpt_period_save(struct tlsrpt *t, struct tlsrpt_period *p, bool sync)
{
	char tmp[4200], path[4200];
	struct buf b;
	int fd, rc = -1;

	buf_init(&b, TLSRPT_FILE_MAX);
	if (tlsrpt_period_text(p, &b) != 0) {
		log_err("tlsrpt: period=%s too large to write", p->name);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", t->dir, p->name);
	if ((fd = fsio_mktemp(t->dir, ".tlsrpt.", tmp, sizeof(tmp))) < 0) {
		log_warn("tlsrpt: cannot create a file in %s: %s", t->dir,
		    strerror(errno));
		goto out;
	}
	if (fsio_write_all(fd, b.data, b.len) != 0 ||
	    (sync && fsio_fdatasync(fd) != 0)) {
		(void)close(fd);
		fd = -1;
	}
	if (fd < 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		log_warn("tlsrpt: cannot write %s: %s", path, strerror(errno));
		(void)unlink(tmp);
		goto out;
	}
	p->dirty = false;
	rc = 0;
out:
	buf_clear(&b);
	return rc;
}

static bool
tlsrpt_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0' || strlen(s) > 19)
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

/* Splits line into at most max space-separated words; returns count. */
static size_t
tlsrpt_split(char *line, char **w, size_t max)
{
	size_t n = 0;
	char *save = NULL, *tok;

	for (tok = strtok_r(line, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save)) {
		if (n == max)
			return max + 1;
		w[n++] = tok;
	}
	return n;
}

/* Parses one period file's text (NUL-terminated, modified). */
static struct tlsrpt_period *
tlsrpt_period_parse(char *text, const char *name)
{
	struct tlsrpt_period *p = NULL;
	struct tlsrpt_dom *d = NULL;
	struct tlsrpt_pol *pl = NULL;
	char *line, *save = NULL, *w[8];
	size_t n, lineno = 0, bad = 0;
	uint64_t a, b;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		n = tlsrpt_split(line, w, 7);
		if (p == NULL) {
			if (n != 4 || strcmp(w[0], "tlsrpt-period") != 0 ||
			    strcmp(w[1], "1") != 0 || !tlsrpt_u64(w[2], &a) ||
			    !tlsrpt_u64(w[3], &b) || b <= a ||
			    a > (uint64_t)INT64_MAX / 2 ||
			    b > (uint64_t)INT64_MAX / 2)
				return NULL;
			p = xcalloc(1, sizeof(*p));
			p->start = (int64_t)a;
			p->end = (int64_t)b;
			tlsrpt_period_name(p->start, p->name, sizeof(p->name));
			if (strcmp(p->name, name) != 0) {
				tlsrpt_period_free(p);
				return NULL;
			}
			continue;
		}
		if (n == 3 && strcmp(w[0], "D") == 0) {
			char dom[254];

			pl = NULL;
			d = NULL;
			if (tlsrpt_canon_domain(w[1], dom) != 0 ||
			    strcmp(dom, w[1]) != 0 ||
			    (strcmp(w[2], "0") != 0 &&
				strcmp(w[2], "1") != 0) ||
			    tlsrpt_dom_get(p, dom, false) != NULL ||
			    (d = tlsrpt_dom_get(p, dom, true)) == NULL)
				goto bad;
			d->done = w[2][0] == '1';
		} else if (n == 4 && strcmp(w[0], "P") == 0 && d != NULL) {
			enum tlsrpt_policy_type pt;

			pl = NULL;
			if (tlsrpt_policy_type_parse(span_cstr(w[1]), &pt) !=
				0 ||
			    !tlsrpt_u64(w[2], &a) || !tlsrpt_u64(w[3], &b) ||
			    (pl = tlsrpt_pol_add(d, pt)) == NULL)
				goto bad;
			pl->nsuccess = a;
			pl->nfailure = b;
		} else if (n == 2 && strcmp(w[0], "S") == 0 && pl != NULL) {
			if (tlsrpt_get_token(w[1]) != 0)
				goto bad;
			tlsrpt_pol_add_string(pl, w[1]);
		} else if (n == 7 && strcmp(w[0], "F") == 0 && pl != NULL) {
			enum tlsrpt_result res;
			struct tlsrpt_row *r;

			if (tlsrpt_result_parse(span_cstr(w[1]), &res) != 0 ||
			    res == TLSRPT_SUCCESS || !tlsrpt_u64(w[2], &a) ||
			    tlsrpt_get_token(w[3]) != 0 ||
			    tlsrpt_get_token(w[4]) != 0 ||
			    tlsrpt_get_token(w[5]) != 0 ||
			    tlsrpt_get_token(w[6]) != 0 ||
			    (r = tlsrpt_row_add(
				 pl, res, w[3], w[4], w[5], w[6])) == NULL)
				goto bad;
			r->count = a;
		} else {
			goto bad;
		}
		continue;
bad:
		if (bad++ < 5)
			log_warn("tlsrpt: %s line %zu skipped", name, lineno);
	}
	return p;
}

/* True for "YYYY-MM-DD" or "YYYY-MM-DD.DIGITS". */
static bool
tlsrpt_is_period_name(const char *s)
{
	static const char shape[] = "dddd-dd-dd";
	size_t i;

	for (i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9')
				    : s[i] != shape[i])
			return false;
	}
	if (s[i] == '\0')
		return true;
	if (s[i] != '.' || s[i + 1] == '\0')
		return false;
	for (i++; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

static void
tlsrpt_load_file(struct tlsrpt *t, const char *name)
{
	char path[4200];
	struct tlsrpt_period *p;
	struct stat st;
	char *data;
	size_t off = 0;
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", t->dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > TLSRPT_FILE_MAX) {
		log_warn("tlsrpt: %s skipped: %s", path,
		    fd < 0 ? strerror(errno)
			   : "not a regular file or too large");
		if (fd >= 0)
			close(fd);
		return;
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		r = read(fd, data + off, (size_t)st.st_size - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	data[off] = '\0';
	if (memchr(data, '\0', off) != NULL ||
	    (p = tlsrpt_period_parse(data, name)) == NULL) {
		log_warn("tlsrpt: %s skipped: not a period file", path);
		free(data);
		return;
	}
	free(data);
	if (tlsrpt_period_find(t, p->start) != NULL) {
		tlsrpt_period_free(p);
		return;
	}
	tlsrpt_period_add(t, p);
}

struct tlsrpt *
tlsrpt_open(const char *dir, char *err, size_t errsz)
{
	struct tlsrpt *t;
	struct dirent *de;
	DIR *dp;

	if (errsz > 0)
		err[0] = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	if ((dp = opendir(dir)) == NULL) {
		snprintf(err, errsz, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->dir = xstrdup(dir);
	while ((de = readdir(dp)) != NULL) {
		if (strncmp(de->d_name, ".tlsrpt.", 8) == 0) {
			char path[4200];

			/* a temporary file of a write that did not finish */
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(void)unlink(path);
		} else if (tlsrpt_is_period_name(de->d_name)) {
			tlsrpt_load_file(t, de->d_name);
		}
	}
	closedir(dp);
	return t;
}

static void
tlsrpt_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tlsrpt_flush(arg);
}

void
tlsrpt_set_base(struct tlsrpt *t, struct event_base *base)
{
	if (t->timer != NULL) {
		event_free(t->timer);
		t->timer = NULL;
	}
	if (t->curl != NULL && base != t->base && t->run == NULL) {
		curlev_free(t->curl); /* made again on the new base */
		t->curl = NULL;
	}
	t->base = base;
	if (base != NULL)
		t->timer = evtimer_new(base, tlsrpt_timer_cb, t);
}

void
tlsrpt_flush(struct tlsrpt *t)
{
	size_t i;

	t->saved = tlsrpt_mono();
	if (t->timer != NULL)
		evtimer_del(t->timer);
	for (i = 0; i < t->nperiods; i++) {
		if (t->periods[i]->dirty)
			(void)tlsrpt_period_save(t, t->periods[i], false);
	}
}

static void
tlsrpt_changed(struct tlsrpt *t)
{
	struct timeval tv = {TLSRPT_SAVE_INTERVAL, 0};

	if (t->saved == 0 || tlsrpt_mono() - t->saved >= TLSRPT_SAVE_INTERVAL)
		tlsrpt_flush(t);
	else if (t->timer != NULL && !evtimer_pending(t->timer, NULL))
		evtimer_add(t->timer, &tv);
}

void
tlsrpt_record(struct tlsrpt *t, const struct tlsrpt_event *ev, int64_t now)
{
	char dom[254];
	struct tlsrpt_period *p;
	struct tlsrpt_dom *d;
	struct tlsrpt_pol *pl;
	struct tlsrpt_row *r;

	if (tlsrpt_canon_domain(ev->policy_domain, dom) != 0 || now < 0 ||
	    tlsrpt_policy_type_name(ev->ptype) == NULL ||
	    tlsrpt_result_name(ev->result) == NULL ||
	    (ev->npolicy_strings > 0 && ev->policy_strings == NULL))
		return;
	p = tlsrpt_period_at(t, now);
	if ((d = tlsrpt_dom_get(p, dom, true)) == NULL || d->done ||
	    (pl = tlsrpt_pol_get(d, ev)) == NULL)
		return;
	if (ev->result == TLSRPT_SUCCESS) {
		pl->nsuccess++;
	} else {
		pl->nfailure++;
		if ((r = tlsrpt_row_get(pl, ev)) != NULL)
			r->count++;
	}
	p->dirty = true;
	tlsrpt_changed(t);
}

/* ---- reporting ---- */

void
tlsrpt_cut(struct tlsrpt *t, int64_t now)
{
	size_t i;

	for (i = 0; i < t->nperiods; i++) {
		struct tlsrpt_period *p = t->periods[i];

		if (p->start <= now && now < p->end) {
			int64_t end = p->end;

			if (p->ndoms == 0 || now == p->start)
				return;
			p->end = now;
			(void)tlsrpt_period_save(t, p, false);
			/* the successor, written even while empty: it keeps
			 * the cut when the reported period is gone */
			p = tlsrpt_period_insert(t, now, end);
			(void)tlsrpt_period_save(t, p, false);
			return;
		}
	}
}

size_t
tlsrpt_due(struct tlsrpt *t, int64_t now, struct tlsrpt_due *out, size_t max)
{
	size_t i, k, n = 0;

	for (i = 0; i < t->nperiods;) {
		struct tlsrpt_period *p = t->periods[i];

		if (p->end <= now - (int64_t)TLSRPT_KEEP_DAYS * TLSRPT_DAY) {
			log_warn("tlsrpt: period=%s dropped unreported: older "
				 "than %d days",
			    p->name, TLSRPT_KEEP_DAYS);
			tlsrpt_period_remove(t, i, true);
			continue;
		}
		i++;
	}
	for (i = 0; i < t->nperiods; i++) {
		struct tlsrpt_period *p = t->periods[i];

		if (p->end > now)
			continue;
		for (k = 0; k < p->ndoms; k++) {
			if (p->doms[k]->done)
				continue;
			if (n == max)
				return n;
			out[n].start = p->start;
			out[n].end = p->end;
			snprintf(out[n].domain, sizeof(out[n].domain), "%s",
			    p->doms[k]->domain);
			n++;
		}
	}
	return n;
}

struct tlsrpt_dom *
tlsrpt_due_dom(const struct tlsrpt *t, const struct tlsrpt_due *due,
    struct tlsrpt_period **pp)
{
	struct tlsrpt_period *p = tlsrpt_period_find(t, due->start);
	bool found;
	size_t i;

	if (p == NULL)
		return NULL;
	i = tlsrpt_dom_index(p, due->domain, &found);
	if (!found)
		return NULL;
	*pp = p;
	return p->doms[i];
}

void
tlsrpt_drop(struct tlsrpt *t, const struct tlsrpt_due *due, const char *why)
{
	struct tlsrpt_period *p;
	struct tlsrpt_dom *d = tlsrpt_due_dom(t, due, &p);

	if (d == NULL || d->done)
		return;
	log_info("tlsrpt: domain=%s period=%s action=dropped reason=\"%s\"",
	    d->domain, p->name, why);
	d->done = true;
	p->dirty = true;
	tlsrpt_changed(t);
}

void
tlsrpt_gc(struct tlsrpt *t, int64_t now)
{
	size_t i, k;

	for (i = 0; i < t->nperiods;) {
		struct tlsrpt_period *p = t->periods[i];

		for (k = 0; k < p->ndoms && p->doms[k]->done; k++)
			;
		/* an empty period that has not ended waits for counts */
		if ((p->ndoms > 0 && k == p->ndoms) ||
		    (p->ndoms == 0 && p->end <= now)) {
			tlsrpt_period_remove(t, i, true);
			continue;
		}
		i++;
	}
}

void
tlsrpt_close(struct tlsrpt *t)
{
	size_t i;

	if (t == NULL)
		return;
	tlsrpt_send_abandon(t);
	tlsrpt_flush(t);
	for (i = 0; i < t->nperiods; i++)
		tlsrpt_period_free(t->periods[i]);
	free(t->periods);
	if (t->timer != NULL)
		event_free(t->timer);
	curlev_free(t->curl); /* after the runs: their POSTs are on it */
	free(t->ca);
	free(t->dir);
	free(t);
}
