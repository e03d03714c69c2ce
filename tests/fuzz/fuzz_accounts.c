/*
 * fuzz_accounts: libFuzzer target for the accounts file parser and the
 * line editor (auth/passwd.h). No crypto runs here: parsing and editing
 * are pure. Accepted files are enumerated and every account looked up by
 * its own address; then the editor must keep the file valid: changing
 * the first account's password, deleting it and adding a new account all
 * give text that parses again, with the expected effect.
 * Corpus: tests/fuzz/corpus/accounts/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/passwd.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ACCOUNTS_HASH                                                   \
	"$y$j75$jTyDW/epwdnMidXV7jEvl1$QELNdIcVnqxKDnD3bAuX2pExleTA5LjfIZ11Y0T" \
	"KYoA"
#define FUZZ_ACCOUNTS_SCRAM                                                  \
	"4096,MDEyMzQ1Njc4OWFiY2RlZg==,bpSY5Ze9NUH+I35LC3gVq+DpBfK46iXBxvhAKqV" \
	"u9pE=,VpYlBuxyzeCI1KnctrefdljpB1mk3Gp7sBI/t11+NkQ="

/* Applies e to text and parses the result; aborts when that fails. */
static struct auth_accounts *
fuzz_accounts_edit(const char *text, size_t len, const struct auth_edit *e,
    int want_rc)
{
	struct auth_accounts *aa = NULL;
	struct buf out;
	char err[512];
	int rc;

	buf_init(&out, 2 * len + 4096);
	rc = auth_accounts_edit(text, len, e, &out, err, sizeof(err));
	if (rc != want_rc)
		abort();
	if (rc == 0 && auth_accounts_parse("edited", out.data ? out.data : "",
	    out.len, &aa, err, sizeof(err)) != 0)
		abort();
	buf_clear(&out);
	return aa;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	const struct auth_account *first = NULL, *a;
	struct auth_accounts *aa, *ea;
	struct auth_edit e;
	char err[512], addr[AUTH_ADDRESS_MAX + 1];
	size_t i, n;

	if (auth_accounts_parse("users", text, size, &aa, err,
	    sizeof(err)) != 0) {
		if (aa != NULL || memchr(err, '\0', sizeof(err)) == NULL ||
		    strncmp(err, "users:", 6) != 0)
			abort();
		return 0;
	}
	n = auth_accounts_count(aa);
	for (i = 0; i < n; i++) {
		a = auth_accounts_get(aa, i);
		if (auth_accounts_find(aa, a->address) != a ||
		    !auth_account_may_send_as(a, a->address))
			abort();
		if (auth_account_can_login(a) !=
		    (a->kind == AUTH_PW_CRYPT || a->kind == AUTH_PW_ARGON2 ||
		    a->kind == AUTH_PW_SCRAM))
			abort();
		if ((a->hash != NULL) != (a->kind == AUTH_PW_CRYPT ||
		    a->kind == AUTH_PW_ARGON2))
			abort();
		if (a->has_scram && !auth_account_can_login(a))
			abort();
		if (i == 0)
			first = a;
	}
	(void)auth_accounts_find(aa, "fuzz@example.org");

	/* Edits grow a line by a few hundred bytes: stay clear of the cap. */
	if (size > AUTH_LINE_MAX - 1024) {
		auth_accounts_free(aa);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	e.address = "fuzz-new@example.org";
	e.op = AUTH_EDIT_ADD;
	e.password = FUZZ_ACCOUNTS_HASH;
	e.scram = FUZZ_ACCOUNTS_SCRAM;
	ea = fuzz_accounts_edit(text, size, &e,
	    auth_accounts_find(aa, e.address) ? -1 : 0);
	if (ea != NULL && (auth_accounts_count(ea) != n + 1 ||
	    auth_accounts_find(ea, e.address) == NULL))
		abort();
	auth_accounts_free(ea);
	if (first != NULL) {
		memcpy(addr, first->address, strlen(first->address) + 1);
		e.address = addr;
		e.op = AUTH_EDIT_PASSWD;
		ea = fuzz_accounts_edit(text, size, &e, 0);
		a = auth_accounts_find(ea, addr);
		if (auth_accounts_count(ea) != n || a == NULL ||
		    a->scheme != AUTH_SCHEME_YESCRYPT || !a->has_scram ||
		    a->naddresses != first->naddresses)
			abort();
		auth_accounts_free(ea);
		e.op = AUTH_EDIT_DEL;
		ea = fuzz_accounts_edit(text, size, &e, 0);
		if (auth_accounts_count(ea) != n - 1 ||
		    auth_accounts_find(ea, addr) != NULL)
			abort();
		auth_accounts_free(ea);
	}
	auth_accounts_free(aa);
	return 0;
}
