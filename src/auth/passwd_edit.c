/*
 * passwd_edit: the line editor `petrel user` rewrites the accounts file
 * with: add, change the password of, or delete one account, keeping every
 * other byte of the file as it was.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd_int.h"
#include "lib/buf.h"

/*
 * True if s can be written into a field: no ':', blanks or control bytes
 * (and no ',' when no_comma).
 */
static bool
auth_value_is_fit(const char *s, bool no_comma)
{
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch == 0x7f || ch == ' ' || ch == ':' ||
		    (no_comma && ch == ','))
			return false;
	}
	return true;
}

int
auth_account_line_format(struct buf *out, const char *address,
    const char *password, const char *scram, const char *const *addresses,
    size_t naddresses)
{
	char key[AUTH_ADDRESS_MAX + 1];
	size_t len = out->len, n = strlen(address), i;
	const char *why;
	bool extra = scram != NULL || naddresses > 0;
	int rc = 0;

	if (password == NULL)
		password = "";
	if (n > AUTH_ADDRESS_MAX ||
	    auth_address_norm(address, n, true, key, &why) != 0 ||
	    !auth_value_is_fit(password, false) ||
	    strlen(password) > AUTH_HASH_MAX ||
	    (scram != NULL && !auth_value_is_fit(scram, false)) ||
	    naddresses > AUTH_ADDRESSES_MAX)
		return -1;
	for (i = 0; i < naddresses; i++) {
		n = strlen(addresses[i]);
		if (n > AUTH_ADDRESS_MAX ||
		    auth_address_norm(addresses[i], n, false, key, &why) != 0)
			return -1;
	}
	rc |= buf_puts(out, address);
	if (password[0] != '\0' || extra)
		rc |= buf_printf(out, ":%s", password);
	if (extra)
		rc |= buf_puts(out, "::::::");
	if (scram != NULL)
		rc |= buf_printf(out, "scram-sha-256=%s", scram);
	for (i = 0; i < naddresses; i++)
		rc |= buf_printf(out, "%s%s",
		    i > 0           ? ","
		    : scram != NULL ? " addresses="
				    : "addresses=",
		    addresses[i]);
	rc |= buf_putc(out, '\n');
	if (rc != 0) {
		out->len = len;
		if (out->data != NULL)
			out->data[len] = '\0';
		return -1;
	}
	return 0;
}

/*
 * The extra fields of a PASSWD edit: old (the 8th field, or NULL) with
 * its scram-sha-256= token replaced by scram, dropped when scram is NULL,
 * added at the end when missing. Other tokens and their blanks are kept.
 */
static int
auth_edit_extra(struct buf *nx, const struct span *old, const char *scram)
{
	struct span v = old ? *old : span_make("", 0);
	bool done = false, kept = false;
	size_t idx;
	int rc = 0;

	for (idx = 0; v.n > 0; idx++) {
		struct span sep, tok;
		bool repl = false;
		size_t k = 0;

		while (k < v.n && auth_is_blank(v.p[k]))
			k++;
		sep = span_make(v.p, k);
		v = span_skip(v, k);
		for (k = 0; k < v.n && !auth_is_blank(v.p[k]); k++)
			;
		tok = span_make(v.p, k);
		v = span_skip(v, k);
		if (tok.n >= 14 && memcmp(tok.p, "scram-sha-256=", 14) == 0) {
			if (scram == NULL || done)
				continue; /* drop it and its blanks */
			done = true;
			repl = true;
		}
		/* The blanks before the first field stay only if it does. */
		if (kept || idx == 0)
			rc |= buf_append(nx, sep.p, sep.n);
		if (repl)
			rc |= buf_printf(nx, "scram-sha-256=%s", scram);
		else
			rc |= buf_append(nx, tok.p, tok.n);
		kept = true;
	}
	if (scram != NULL && !done)
		rc |= buf_printf(
		    nx, "%sscram-sha-256=%s", nx->len > 0 ? " " : "", scram);
	return rc;
}

/* Appends the PASSWD-edited form of line l (fields fs) to out. */
static int
auth_edit_line(struct buf *out, const struct auth_line *l,
    const struct auth_fields *fs, const struct auth_edit *e)
{
	const char *pw = e->password ? e->password : "";
	struct buf nx;
	size_t i;
	int rc = 0;

	buf_init(&nx, AUTH_LINE_MAX);
	rc |= auth_edit_extra(&nx, fs->nf == 8 ? &fs->f[7] : NULL, e->scram);
	rc |= buf_append(out, l->raw, (size_t)(l->s - l->raw));
	rc |= buf_append(out, fs->f[0].p, fs->f[0].n);
	if (pw[0] != '\0' || fs->nf >= 2 || nx.len > 0)
		rc |= buf_printf(out, ":%s", pw);
	for (i = 2; i < 7; i++) {
		if (i < fs->nf) {
			rc |= buf_putc(out, ':');
			rc |= buf_append(out, fs->f[i].p, fs->f[i].n);
		} else if (nx.len > 0) {
			rc |= buf_putc(out, ':');
		}
	}
	if (fs->nf == 8 || nx.len > 0) {
		rc |= buf_putc(out, ':');
		rc |= buf_append(out, nx.data ? nx.data : "", nx.len);
	}
	/* Trailing blanks and the line end as they were. */
	rc |= buf_append(out, l->s + l->n,
	    l->raw_n - (size_t)(l->s - l->raw) - l->n + l->end_n);
	buf_clear(&nx);
	return rc;
}

int
auth_accounts_edit(const char *text, size_t len, const struct auth_edit *e,
    struct buf *out, char *err, size_t errsz)
{
	char want[AUTH_ADDRESS_MAX + 1], key[AUTH_ADDRESS_MAX + 1];
	struct auth_line l, hit;
	struct auth_fields fs, hitfs;
	struct auth_ctx x;
	unsigned line = 0, hitline = 0;
	size_t pos = 0, n = strlen(e->address), start = out->len;
	struct span addr;
	const char *why;
	int rc = 0;

	if (errsz > 0)
		err[0] = '\0';
	if (n > AUTH_ADDRESS_MAX ||
	    auth_address_norm(e->address, n, true, want, &why) != 0)
		return auth_error_plain(err, errsz, "invalid account address");
	if (e->op != AUTH_EDIT_DEL &&
	    ((e->password && (!auth_value_is_fit(e->password, false) ||
				 strlen(e->password) > AUTH_HASH_MAX)) ||
		(e->scram && !auth_value_is_fit(e->scram, false))))
		return auth_error_plain(err, errsz, "invalid password field");
	memset(&hit, 0, sizeof(hit));
	memset(&hitfs, 0, sizeof(hitfs));
	x.name = NULL;
	x.err = err;
	x.errsz = errsz;
	while (auth_next_line(text, len, &pos, &l)) {
		x.line = ++line;
		if (auth_line_check(&x, &l) != 0) {
			/* Not ours to judge: the line stays as it is. */
			if (errsz > 0)
				err[0] = '\0';
			continue;
		}
		if (auth_line_is_empty(&l))
			continue;
		auth_fields_split(l.s, l.n, &fs);
		if (auth_line_key(&fs, key, &addr, &why) != 0 ||
		    strcmp(key, want) != 0)
			continue;
		if (hitline != 0)
			return auth_error_plain(err, errsz,
			    "account '%s' is on lines %u and %u", want, hitline,
			    line);
		hit = l;
		hitfs = fs;
		hitline = line;
	}
	if (e->op == AUTH_EDIT_ADD && hitline != 0)
		return auth_error_plain(err, errsz,
		    "account '%s' already exists (line %u)", want, hitline);
	if (e->op != AUTH_EDIT_ADD && hitline == 0)
		return auth_error_plain(err, errsz, "no account '%s'", want);

	if (e->op == AUTH_EDIT_ADD) {
		rc |= buf_append(out, text, len);
		if (len > 0 && text[len - 1] != '\n')
			rc |= buf_putc(out, '\n');
		if (rc == 0 &&
		    auth_account_line_format(out, e->address, e->password,
			e->scram, e->addresses, e->naddresses) != 0) {
			out->len = start;
			if (out->data != NULL)
				out->data[start] = '\0';
			return auth_error_plain(
			    err, errsz, "invalid account line");
		}
	} else {
		size_t before = (size_t)(hit.raw - text);
		size_t after = before + hit.raw_n + hit.end_n;

		rc |= buf_append(out, text, before);
		if (e->op == AUTH_EDIT_PASSWD)
			rc |= auth_edit_line(out, &hit, &hitfs, e);
		rc |= buf_append(out, text + after, len - after);
	}
	if (rc != 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return auth_error_plain(err, errsz, "accounts file too large");
	}
	return 0;
}
