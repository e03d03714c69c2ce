/*
 * tables: the users and aliases files as two hash tables keyed by
 * lower-case "local@domain" (bare alias keys by "local"), and the
 * recipient classification and alias expansion built on them. Pure: file
 * contents in, answers out; the lookup process owns the I/O.
 *
 * users file grammar (one account a line):
 *   line   = *WSP [ user [ ":" fields ] ] *WSP     ; or "#" comment
 *   user   = local "@" domain
 *   local  = 1*64( a-z / 0-9 / "." / "_" / "+" / "-" )   ; any case in,
 *            not starting with ".", no ".."              ; lower-case kept
 *   domain = one of conf's local domains
 * The fields after ':' belong to the next layers (password hash) and are
 * not looked at here.
 *
 * aliases file grammar (one alias a line):
 *   line    = *WSP key *WSP ":" target *( "," target ) *WSP  ; or "#" ...
 *   key     = dot-atom "@" local-domain / dot-atom   ; bare: every domain
 *   target  = *WSP dot-atom "@" domain *WSP          ; RFC 5322 3.2.3
 * A target in a local domain must exist (account, alias or postmaster) when
 * the file is loaded, so a typo is found at load time instead of bouncing.
 *
 * Limits: lines of at most TABLES_LINE_MAX bytes; local parts 64 bytes
 * (RFC 5321 4.5.3.1.1); alias expansion TABLES_DEPTH_MAX levels deep.
 * Control bytes other than TAB are errors in both files.
 */
#include "lookup/tables.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xalloc.h"
#include "proto/localpart.h"

#define TABLES_LINE_MAX 65536	/* bytes in a line of either file */
#define TABLES_LOCAL_MAX 64	/* RFC 5321 4.5.3.1.1 */
#define TABLES_DOMAIN_MAX 255	/* RFC 5321 4.5.3.1.2 */
#define TABLES_DEPTH_MAX 10	/* nested alias levels */
#define TABLES_NONE ((size_t)-1)

struct tables_user {
	char *key;		/* "local@domain", lower-case */
	unsigned line;
};

struct tables_target {
	char *local;		/* as written */
	char *domain;		/* lower-case */
};

struct tables_alias {
	char *key;		/* "local@domain" or "local", lower-case */
	unsigned line;
	struct tables_target *targets;
	size_t ntargets;
};

/* Open addressing over indices; a slot holds index + 1, 0 = empty. */
struct tables_map {
	size_t *slots;
	size_t cap;		/* a power of two, or 0 */
	size_t n;
};

struct tables {
	struct tables_user *users;
	size_t nusers, users_cap;
	struct tables_map umap;
	struct tables_alias *aliases;
	size_t naliases, aliases_cap;
	struct tables_map amap;
};

/* Where errors go while a file is read. */
struct tables_ctx {
	const char *name;
	unsigned line;
	char *err;
	size_t errsz;
};

/* Writes "name:line: " and the message into ctx->err. Returns -1. */
static int
tables_error(struct tables_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
tables_error(struct tables_ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (x->errsz == 0)
		return -1;
	n = snprintf(x->err, x->errsz, "%s:%u: ", x->name ? x->name : "?",
	    x->line);
	if (n < 0 || (size_t)n >= x->errsz)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(x->err + n, x->errsz - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Copies n bytes of s for an error message into out (64 bytes): at most
 * 60 bytes then "...", anything but printable ASCII as '?'. Returns out.
 */
static const char *
tables_clip(const char *s, size_t n, char out[64])
{
	size_t i;

	for (i = 0; i < n && i < 60; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (i < n) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* FNV-1a over a NUL-terminated string. */
static uint64_t
tables_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * Finds key in m, where keys[i] is the key of index i (the stride lets
 * the same code serve users and aliases). Returns the index or
 * TABLES_NONE.
 */
static size_t
tables_map_find(const struct tables_map *m, const void *base, size_t stride,
    const char *key)
{
	size_t i;

	if (m->cap == 0)
		return TABLES_NONE;
	for (i = tables_hash(key) & (m->cap - 1); m->slots[i] != 0;
	    i = (i + 1) & (m->cap - 1)) {
		size_t idx = m->slots[i] - 1;
		const char *k = *(char *const *)(const void *)((const char *)
		    base + idx * stride);
		if (strcmp(k, key) == 0)
			return idx;
	}
	return TABLES_NONE;
}

/* Inserts index idx whose key is key (not already present). */
static void
tables_map_insert(struct tables_map *m, const void *base, size_t stride,
    const char *key, size_t idx)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		struct tables_map bigger;
		size_t j;

		bigger.cap = m->cap ? m->cap * 2 : 64;
		bigger.slots = xcalloc(bigger.cap, sizeof(*bigger.slots));
		bigger.n = 0;
		for (j = 0; j < m->cap; j++) {
			size_t e = m->slots[j];
			const char *k;
			if (e == 0)
				continue;
			k = *(char *const *)(const void *)((const char *)base +
			    (e - 1) * stride);
			i = tables_hash(k) & (bigger.cap - 1);
			while (bigger.slots[i] != 0)
				i = (i + 1) & (bigger.cap - 1);
			bigger.slots[i] = e;
			bigger.n++;
		}
		free(m->slots);
		*m = bigger;
	}
	for (i = tables_hash(key) & (m->cap - 1); m->slots[i] != 0;
	    i = (i + 1) & (m->cap - 1))
		;
	m->slots[i] = idx + 1;
	m->n++;
}

/* Lower-cases ASCII letters of s (n bytes) in place. */
static void
tables_lower(char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
}

/* Trims spaces and tabs at both ends of *s (*n bytes). */
static void
tables_trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/*
 * Calls fn for every line of text that is not blank or a comment, with
 * the line trimmed. Checks length and control bytes first. 0 or -1.
 */
static int
tables_each_line(struct tables_ctx *x, const char *text, size_t len,
    int (*fn)(struct tables_ctx *, const char *, size_t, void *), void *arg)
{
	size_t pos = 0, i;

	x->line = 0;
	while (pos < len) {
		const char *s = text + pos;
		const char *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;

		pos += n + (nl != NULL);
		x->line++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n > TABLES_LINE_MAX)
			return tables_error(x, "line too long (more than %u "
					       "bytes)", TABLES_LINE_MAX);
		for (i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)s[i];
			if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
				return tables_error(x,
				    "control character 0x%02x in line", ch);
		}
		tables_trim(&s, &n);
		if (n == 0 || s[0] == '#')
			continue;
		if (fn(x, s, n, arg) < 0)
			return -1;
	}
	return 0;
}

/* State for reading the files. */
struct tables_load {
	struct tables *t;
	const struct conf *c;
};

/*
 * Checks that dom (n bytes) is a local domain and copies it lower-case
 * into out (256 bytes). 0 or -1 with the error set.
 */
static int
tables_local_domain(struct tables_ctx *x, const struct conf *c,
    const char *dom, size_t n, char *out)
{
	char clip[64];

	if (!conf_domain_is_valid(dom, n))
		return tables_error(x, "invalid domain '%s'",
		    tables_clip(dom, n, clip));
	memcpy(out, dom, n);
	out[n] = '\0';
	tables_lower(out, n);
	if (!conf_is_local_domain(c, out))
		return tables_error(x, "domain '%s' is not a local domain",
		    out);
	return 0;
}

/* One line of the users file. */
static int
tables_user_line(struct tables_ctx *x, const char *s, size_t n, void *arg)
{
	struct tables_load *ld = arg;
	struct tables *t = ld->t;
	const char *colon = memchr(s, ':', n), *at;
	char clip[64], dom[TABLES_DOMAIN_MAX + 1], *key;
	size_t kn = colon ? (size_t)(colon - s) : n, ln, idx;

	tables_trim(&s, &kn);
	at = memrchr(s, '@', kn);
	if (at == NULL)
		return tables_error(x, "'%s' is not user@domain",
		    tables_clip(s, kn, clip));
	ln = (size_t)(at - s);
	if (!localpart_is_account(s, ln))
		return tables_error(x, "invalid user name '%s' (allowed: "
				       "a-z 0-9 . _ + -)",
		    tables_clip(s, ln, clip));
	if (tables_local_domain(x, ld->c, at + 1, kn - ln - 1, dom) < 0)
		return -1;
	key = xmalloc(kn + 1);
	memcpy(key, s, ln + 1);
	memcpy(key + ln + 1, dom, kn - ln);	/* with the NUL */
	tables_lower(key, ln);
	idx = tables_map_find(&t->umap, t->users, sizeof(*t->users), key);
	if (idx != TABLES_NONE) {
		int rc = tables_error(x, "duplicate user '%s' (first on line "
					 "%u)", key, t->users[idx].line);
		free(key);
		return rc;
	}
	if (t->nusers == t->users_cap) {
		t->users_cap = t->users_cap ? t->users_cap * 2 : 64;
		t->users = xreallocarray(t->users, t->users_cap,
		    sizeof(*t->users));
	}
	t->users[t->nusers].key = key;
	t->users[t->nusers].line = x->line;
	tables_map_insert(&t->umap, t->users, sizeof(*t->users), key,
	    t->nusers);
	t->nusers++;
	return 0;
}

/* Parses one target "local@domain" (n bytes, trimmed) into tg. 0 or -1. */
static int
tables_target_parse(struct tables_ctx *x, const char *s, size_t n,
    struct tables_target *tg)
{
	const char *at = memrchr(s, '@', n);
	char clip[64];
	size_t ln;

	if (n == 0)
		return tables_error(x, "empty alias target");
	if (at == NULL)
		return tables_error(x,
		    "alias target '%s' is not local@domain",
		    tables_clip(s, n, clip));
	ln = (size_t)(at - s);
	if (!localpart_is_dot_atom(s, ln) ||
	    !conf_domain_is_valid(at + 1, n - ln - 1))
		return tables_error(x, "invalid alias target '%s'",
		    tables_clip(s, n, clip));
	tg->local = xstrndup(s, ln);
	tg->domain = xstrndup(at + 1, n - ln - 1);
	tables_lower(tg->domain, n - ln - 1);
	return 0;
}

/* Frees one alias's storage. */
static void
tables_alias_clear(struct tables_alias *a)
{
	size_t i;

	for (i = 0; i < a->ntargets; i++) {
		free(a->targets[i].local);
		free(a->targets[i].domain);
	}
	free(a->targets);
	free(a->key);
}

/* One line of the aliases file. */
static int
tables_alias_line(struct tables_ctx *x, const char *s, size_t n, void *arg)
{
	struct tables_load *ld = arg;
	struct tables *t = ld->t;
	const char *colon = memchr(s, ':', n), *at, *p, *end;
	char clip[64], dom[TABLES_DOMAIN_MAX + 1];
	struct tables_alias a;
	size_t kn, ln, idx;

	memset(&a, 0, sizeof(a));
	if (colon == NULL)
		return tables_error(x, "missing ':' after the alias key");
	kn = (size_t)(colon - s);
	tables_trim(&s, &kn);
	at = memrchr(s, '@', kn);
	ln = at ? (size_t)(at - s) : kn;
	if (!localpart_is_dot_atom(s, ln))
		return tables_error(x, "invalid alias key '%s'",
		    tables_clip(s, kn, clip));
	if (at != NULL) {
		if (tables_local_domain(x, ld->c, at + 1, kn - ln - 1,
		    dom) < 0)
			return -1;
		a.key = xmalloc(kn + 1);
		memcpy(a.key, s, ln + 1);
		memcpy(a.key + ln + 1, dom, kn - ln);
	} else {
		a.key = xstrndup(s, kn);
	}
	tables_lower(a.key, ln);
	idx = tables_map_find(&t->amap, t->aliases, sizeof(*t->aliases),
	    a.key);
	if (idx != TABLES_NONE) {
		int rc = tables_error(x,
		    "duplicate alias '%s' (first on line %u)", a.key,
		    t->aliases[idx].line);
		free(a.key);
		return rc;
	}
	a.line = x->line;

	end = s + n;
	for (p = colon + 1;; p++) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *te = comma ? comma : end;
		const char *ts = p;
		size_t tn = (size_t)(te - ts);

		tables_trim(&ts, &tn);
		if (tn == 0 && comma == NULL && a.ntargets == 0) {
			int rc = tables_error(x, "alias '%s' has no targets",
			    a.key);
			tables_alias_clear(&a);
			return rc;
		}
		a.targets = xreallocarray(a.targets, a.ntargets + 1,
		    sizeof(*a.targets));
		if (tables_target_parse(x, ts, tn, &a.targets[a.ntargets]) <
		    0) {
			tables_alias_clear(&a);
			return -1;
		}
		a.ntargets++;
		if (comma == NULL)
			break;
		p = comma;
	}
	if (t->naliases == t->aliases_cap) {
		t->aliases_cap = t->aliases_cap ? t->aliases_cap * 2 : 16;
		t->aliases = xreallocarray(t->aliases, t->aliases_cap,
		    sizeof(*t->aliases));
	}
	t->aliases[t->naliases] = a;
	tables_map_insert(&t->amap, t->aliases, sizeof(*t->aliases), a.key,
	    t->naliases);
	t->naliases++;
	return 0;
}

/* The outcome of classifying one address. */
struct tables_res {
	size_t alias;			/* LOOKUP_ALIAS: its index */
	char user[TABLES_LOCAL_MAX + 1]; /* LOOKUP_USER/POSTMASTER: mailbox */
	char domain[TABLES_DOMAIN_MAX + 1]; /* lower-case */
};

/*
 * Tries one form of the local part (lower-case, n bytes) in domain dom:
 * the domain's alias, the bare alias (if aliases), the account, then
 * postmaster. Returns the result or LOOKUP_NO_SUCH_USER.
 */
static enum lookup_result
tables_try(const struct tables *t, const char *lk, size_t n, const char *dom,
    bool aliases, struct tables_res *r)
{
	char key[TABLES_LOCAL_MAX + 1 + TABLES_DOMAIN_MAX + 1];
	size_t idx;

	memcpy(key, lk, n);
	key[n] = '\0';
	if (aliases) {
		(void)snprintf(key + n, sizeof(key) - n, "@%s", dom);
		idx = tables_map_find(&t->amap, t->aliases,
		    sizeof(*t->aliases), key);
		if (idx == TABLES_NONE) {
			key[n] = '\0';
			idx = tables_map_find(&t->amap, t->aliases,
			    sizeof(*t->aliases), key);
		}
		if (idx != TABLES_NONE) {
			r->alias = idx;
			return LOOKUP_ALIAS;
		}
	}
	(void)snprintf(key + n, sizeof(key) - n, "@%s", dom);
	memcpy(r->user, lk, n);
	r->user[n] = '\0';
	if (tables_map_find(&t->umap, t->users, sizeof(*t->users), key) !=
	    TABLES_NONE)
		return LOOKUP_USER;
	if (n == 10 && memcmp(lk, "postmaster", 10) == 0)
		return LOOKUP_POSTMASTER;
	return LOOKUP_NO_SUCH_USER;
}

/*
 * Classifies local@domain as lookup_rcpt() describes; with aliases false
 * the alias table is skipped (an alias that names itself means the
 * account underneath). Fills r for the result.
 */
static enum lookup_result
tables_resolve(const struct tables *t, const struct conf *c,
    const char *local, const char *domain, bool aliases, struct tables_res *r)
{
	char lk[TABLES_LOCAL_MAX + 1];
	size_t n = strlen(local), dn = strlen(domain), cut;
	enum lookup_result res;

	memset(r, 0, sizeof(*r));
	r->alias = TABLES_NONE;
	if (dn > TABLES_DOMAIN_MAX || !conf_is_local_domain(c, domain))
		return LOOKUP_NOT_LOCAL;
	memcpy(r->domain, domain, dn + 1);
	tables_lower(r->domain, dn);
	if (n == 0 || n > TABLES_LOCAL_MAX)
		return LOOKUP_NO_SUCH_USER;
	memcpy(lk, local, n + 1);
	tables_lower(lk, n);
	res = tables_try(t, lk, n, r->domain, aliases, r);
	if (res != LOOKUP_NO_SUCH_USER)
		return res;
	cut = c->delimiter[0] != '\0' ? strcspn(lk, c->delimiter) : n;
	if (cut == 0 || cut == n)
		return LOOKUP_NO_SUCH_USER;
	return tables_try(t, lk, cut, r->domain, aliases, r);
}

enum lookup_result
lookup_rcpt(const struct tables *t, const struct conf *c, const char *local,
    const char *domain)
{
	struct tables_res r;

	return tables_resolve(t, c, local, domain, true, &r);
}

/*
 * Classifies alias target tg of alias self, treating a target that comes
 * back to self as the account underneath.
 */
static enum lookup_result
tables_resolve_target(const struct tables *t, const struct conf *c,
    const struct tables_target *tg, size_t self, struct tables_res *r)
{
	enum lookup_result res;

	res = tables_resolve(t, c, tg->local, tg->domain, true, r);
	if (res == LOOKUP_ALIAS && r->alias == self)
		res = tables_resolve(t, c, tg->local, tg->domain, false, r);
	return res;
}

/* Checks that every target in a local domain exists. 0 or -1. */
static int
tables_check_targets(struct tables_ctx *x, const struct tables *t,
    const struct conf *c)
{
	struct tables_res r;
	size_t i, j;

	for (i = 0; i < t->naliases; i++) {
		const struct tables_alias *a = &t->aliases[i];
		for (j = 0; j < a->ntargets; j++) {
			const struct tables_target *tg = &a->targets[j];
			if (tables_resolve_target(t, c, tg, i, &r) !=
			    LOOKUP_NO_SUCH_USER)
				continue;
			x->line = a->line;
			return tables_error(x,
			    "alias target '%s@%s' does not exist", tg->local,
			    tg->domain);
		}
	}
	return 0;
}

int
tables_new(const struct conf *c, const char *users_name,
    const char *users_text, size_t users_len, const char *aliases_name,
    const char *aliases_text, size_t aliases_len, struct tables **out,
    char *err, size_t errsz)
{
	struct tables_load ld;
	struct tables_ctx x;
	struct tables *t;

	*out = NULL;
	if (errsz > 0)
		err[0] = '\0';
	t = xcalloc(1, sizeof(*t));
	ld.t = t;
	ld.c = c;
	x.err = err;
	x.errsz = errsz;
	x.name = users_name;
	if (users_text != NULL && tables_each_line(&x, users_text, users_len,
	    tables_user_line, &ld) < 0)
		goto fail;
	x.name = aliases_name;
	if (aliases_text != NULL) {
		if (tables_each_line(&x, aliases_text, aliases_len,
		    tables_alias_line, &ld) < 0)
			goto fail;
		if (tables_check_targets(&x, t, c) < 0)
			goto fail;
	}
	*out = t;
	return 0;
fail:
	tables_free(t);
	return -1;
}

void
tables_free(struct tables *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nusers; i++)
		free(t->users[i].key);
	free(t->users);
	free(t->umap.slots);
	for (i = 0; i < t->naliases; i++)
		tables_alias_clear(&t->aliases[i]);
	free(t->aliases);
	free(t->amap.slots);
	free(t);
}

/* State of one lookup_expand() call. */
struct tables_exp {
	const struct tables *t;
	const struct conf *c;
	struct lookup_dest *out;
	size_t max, n;
	size_t path[TABLES_DEPTH_MAX];	/* aliases being expanded */
	size_t depth;
	struct tables_map done;		/* aliases fully expanded; the
					 * slots hold index + 1 directly */
};

/* True if alias idx is in the done set. */
static bool
tables_exp_is_done(const struct tables_exp *e, size_t idx)
{
	size_t i;

	if (e->done.cap == 0)
		return false;
	for (i = (idx * 0x9e3779b97f4a7c15ULL) & (e->done.cap - 1);
	    e->done.slots[i] != 0; i = (i + 1) & (e->done.cap - 1))
		if (e->done.slots[i] == idx + 1)
			return true;
	return false;
}

/* Adds alias idx to the done set. */
static void
tables_exp_mark_done(struct tables_exp *e, size_t idx)
{
	struct tables_map *m = &e->done;
	size_t i, j;

	if ((m->n + 1) * 2 > m->cap) {
		size_t *old = m->slots, oldcap = m->cap;
		m->cap = m->cap ? m->cap * 2 : 16;
		m->slots = xcalloc(m->cap, sizeof(*m->slots));
		m->n = 0;
		for (j = 0; j < oldcap; j++) {
			if (old[j] == 0)
				continue;
			for (i = ((old[j] - 1) * 0x9e3779b97f4a7c15ULL) &
			    (m->cap - 1); m->slots[i] != 0;
			    i = (i + 1) & (m->cap - 1))
				;
			m->slots[i] = old[j];
			m->n++;
		}
		free(old);
	}
	for (i = (idx * 0x9e3779b97f4a7c15ULL) & (m->cap - 1);
	    m->slots[i] != 0; i = (i + 1) & (m->cap - 1))
		;
	m->slots[i] = idx + 1;
	m->n++;
}

/* Adds a destination unless already present. 0, or -1 when over max. */
static int
tables_exp_add(struct tables_exp *e, bool local, const char *user,
    const char *domain)
{
	char addr[sizeof(e->out->address)];
	struct lookup_dest *d;
	size_t i;
	int n;

	n = snprintf(addr, sizeof(addr), "%s@%s", user, domain);
	if (n < 0 || (size_t)n >= sizeof(addr) ||
	    strlen(user) >= sizeof(d->user) ||
	    strlen(domain) >= sizeof(d->domain))
		return -1;
	for (i = 0; i < e->n; i++)
		if (strcmp(e->out[i].address, addr) == 0)
			return 0;
	if (e->n == e->max)
		return -1;
	d = &e->out[e->n++];
	d->local = local;
	(void)snprintf(d->user, sizeof(d->user), "%s", user);
	(void)snprintf(d->domain, sizeof(d->domain), "%s", domain);
	memcpy(d->address, addr, (size_t)n + 1);
	return 0;
}

/*
 * Expands one address whose classification is res (r filled). Aliases
 * recurse; an alias already on the path is a loop, one already expanded
 * adds nothing new and is skipped (this keeps fan-in linear). 0 or -1.
 */
static int
tables_exp_res(struct tables_exp *e, enum lookup_result res,
    const struct tables_res *r, const char *local, const char *domain)
{
	const struct tables_alias *a;
	size_t i;

	switch (res) {
	case LOOKUP_NOT_LOCAL: {
		char dom[TABLES_DOMAIN_MAX + 1];
		size_t dn = strlen(domain);
		if (dn > TABLES_DOMAIN_MAX)
			return -1;
		memcpy(dom, domain, dn + 1);
		tables_lower(dom, dn);
		return tables_exp_add(e, false, local, dom);
	}
	case LOOKUP_NO_SUCH_USER:
		return -1;
	case LOOKUP_USER:
	case LOOKUP_POSTMASTER:
		return tables_exp_add(e, true,
		    res == LOOKUP_USER ? r->user : "postmaster", r->domain);
	case LOOKUP_ALIAS:
		break;
	}
	for (i = 0; i < e->depth; i++)
		if (e->path[i] == r->alias)
			return -1;	/* a loop */
	if (tables_exp_is_done(e, r->alias))
		return 0;
	if (e->depth == TABLES_DEPTH_MAX)
		return -1;
	e->path[e->depth++] = r->alias;
	a = &e->t->aliases[r->alias];
	for (i = 0; i < a->ntargets; i++) {
		struct tables_res tr;
		enum lookup_result tres;

		tres = tables_resolve_target(e->t, e->c, &a->targets[i],
		    r->alias, &tr);
		if (tables_exp_res(e, tres, &tr, a->targets[i].local,
		    a->targets[i].domain) < 0)
			return -1;
	}
	e->depth--;
	tables_exp_mark_done(e, r->alias);
	return 0;
}

int
lookup_expand(const struct tables *t, const struct conf *c,
    const char *local, const char *domain, struct lookup_dest *out,
    size_t max)
{
	struct tables_exp e;
	struct tables_res r;
	enum lookup_result res;
	int rc;

	memset(&e, 0, sizeof(e));
	e.t = t;
	e.c = c;
	e.out = out;
	e.max = max;
	res = tables_resolve(t, c, local, domain, true, &r);
	rc = tables_exp_res(&e, res, &r, local, domain);
	free(e.done.slots);
	if (rc < 0 || e.n == 0)
		return -1;
	return (int)e.n;
}
