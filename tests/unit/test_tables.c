/*
 * test_tables: unit tests for src/lookup/tables (tables.h). Table-driven:
 * recipient classification (case, delimiters, bare aliases, postmaster),
 * alias expansion (recursion, self-reference, loops, depth, dedupe, max),
 * every load error form, and a 100k-line users file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "lib/buf.h"
#include "lib/xalloc.h"
#include "lookup/tables.h"

static const char test_conf_text[] = "hostname mx.example.org\n"
				     "domain example.org\n"
				     "domain Example.NET\n"
				     "recipient-delimiter +-\n";

static const char test_users[] =
    "# accounts\n"
    "alice@example.org:{BLF-CRYPT}$2y$05$abc:1000:1000::/home/alice\n"
    "  Bob@Example.ORG  \n"
    "carol@example.net:x:y\r\n"
    "\n"
    "dave-smith@example.org\n"
    "e.f@example.org\n"
    "a+b@example.org\n"
    "\t# indented comment\n";

static const char test_aliases[] =
    "# aliases\n"
    "info@example.org: alice@example.org, bob@example.org\n"
    "abuse: alice@example.org\n"
    "Sales@example.org : info@example.org,carol@example.net ,"
    " Ext@Remote.Example\n"
    "all: alice@example.org, bob@example.org, info@example.org,"
    " BOB@example.org\n"
    "bob@example.net: bob@example.org\n"
    "alice@example.org: alice@example.org, archive@remote.example\n"
    "pm@example.org: postmaster@example.org\n"
    "fwd@example.org: bob+x@example.org, abuse@example.net\n"
    "l1@example.org: l2@example.org\n"
    "l2@example.org: l1@example.org\n"
    "c0: c1@example.org\nc1: c2@example.org\nc2: c3@example.org\n"
    "c3: c4@example.org\nc4: c5@example.org\nc5: c6@example.org\n"
    "c6: c7@example.org\nc7: c8@example.org\nc8: c9@example.org\n"
    "c9: c10@example.org\nc10: bob@example.org\n"
    "remote@example.org: x@remote.example, y@remote.example, "
    "z@remote.example\n";

struct fixture {
	struct conf c;
	struct tables *t;
};

/* Parses conf text that must be valid. */
static void
load_conf(const char *text, struct conf *c)
{
	char err[256];

	if (conf_parse("t.conf", text, strlen(text), "/", c, err,
	    sizeof(err)) != 0)
		fail_msg("conf: %s", err);
}

/* Builds tables from copies without a trailing NUL (ASan sees overreads). */
static int
load_tables(const struct conf *c, const char *users, const char *aliases,
    struct tables **t, char *err, size_t errsz)
{
	size_t un = users ? strlen(users) : 0, an = aliases ? strlen(aliases) : 0;
	char *u = users ? xmalloc(un) : NULL, *a = aliases ? xmalloc(an) : NULL;
	int rc;

	if (u != NULL)
		memcpy(u, users, un);
	if (a != NULL)
		memcpy(a, aliases, an);
	rc = tables_new(c, "u", u, un, "a", a, an, t, err, errsz);
	free(u);
	free(a);
	return rc;
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char err[256];

	load_conf(test_conf_text, &f->c);
	if (load_tables(&f->c, test_users, test_aliases, &f->t, err,
	    sizeof(err)) != 0)
		fail_msg("tables: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	tables_free(f->t);
	conf_free(&f->c);
	free(f);
	return 0;
}

static const struct {
	const char *local, *domain;
	enum lookup_result res;
} rcpt_cases[] = {
	{ "alice", "example.org", LOOKUP_ALIAS },	/* alias wins */
	{ "bob", "example.org", LOOKUP_USER },
	{ "BOB", "EXAMPLE.ORG", LOOKUP_USER },
	{ "bob+tag", "example.org", LOOKUP_USER },
	{ "bob-tag", "example.org", LOOKUP_USER },
	{ "bob+a-b", "example.org", LOOKUP_USER },
	{ "bob_tag", "example.org", LOOKUP_NO_SUCH_USER },
	{ "dave-smith", "example.org", LOOKUP_USER },	/* exact first */
	{ "dave-jones", "example.org", LOOKUP_NO_SUCH_USER },
	{ "dave", "example.org", LOOKUP_NO_SUCH_USER },
	{ "a+b", "example.org", LOOKUP_USER },
	{ "a+c", "example.org", LOOKUP_NO_SUCH_USER },
	{ "e.f", "example.org", LOOKUP_USER },
	{ "e.f+x", "example.org", LOOKUP_USER },
	{ "carol", "example.net", LOOKUP_USER },
	{ "carol", "example.org", LOOKUP_NO_SUCH_USER },
	{ "info", "example.org", LOOKUP_ALIAS },
	{ "info+x", "example.org", LOOKUP_ALIAS },
	{ "Info-x", "Example.Org", LOOKUP_ALIAS },
	{ "info", "example.net", LOOKUP_NO_SUCH_USER },
	{ "abuse", "example.org", LOOKUP_ALIAS },	/* bare key */
	{ "abuse", "example.net", LOOKUP_ALIAS },
	{ "abuse+x", "example.net", LOOKUP_ALIAS },
	{ "sales", "example.org", LOOKUP_ALIAS },
	{ "bob", "example.net", LOOKUP_ALIAS },
	{ "postmaster", "example.org", LOOKUP_POSTMASTER },
	{ "PostMaster", "EXAMPLE.net", LOOKUP_POSTMASTER },
	{ "postmaster+x", "example.org", LOOKUP_POSTMASTER },
	{ "postmaster", "remote.example", LOOKUP_NOT_LOCAL },
	{ "nobody", "example.org", LOOKUP_NO_SUCH_USER },
	{ "alice", "remote.example", LOOKUP_NOT_LOCAL },
	{ "alice", "mx.example.org", LOOKUP_NOT_LOCAL },
	{ "alice", "", LOOKUP_NOT_LOCAL },
	{ "+bob", "example.org", LOOKUP_NO_SUCH_USER },
	{ "-", "example.org", LOOKUP_NO_SUCH_USER },
	{ "", "example.org", LOOKUP_NO_SUCH_USER },
	{ "bob@example.org", "example.org", LOOKUP_NO_SUCH_USER },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "example.org", LOOKUP_NO_SUCH_USER },
};

static void
test_rcpt(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(rcpt_cases) / sizeof(rcpt_cases[0]); i++) {
		enum lookup_result r = lookup_rcpt(f->t, &f->c,
		    rcpt_cases[i].local, rcpt_cases[i].domain);
		if (r != rcpt_cases[i].res)
			fail_msg("case %zu: %s@%s: got %d want %d", i,
			    rcpt_cases[i].local, rcpt_cases[i].domain, r,
			    rcpt_cases[i].res);
	}
}

/* With the delimiter off, "bob+tag" is just an unknown name. */
static void
test_rcpt_no_delimiter(void **state)
{
	struct conf c;
	struct tables *t;
	char err[256];

	(void)state;
	load_conf("hostname h.example\ndomain example.org\n"
		  "recipient-delimiter \"\"\n", &c);
	assert_int_equal(load_tables(&c, "bob@example.org\n",
			     "info: bob@example.org\n", &t, err, sizeof(err)),
	    0);
	assert_int_equal(lookup_rcpt(t, &c, "bob", "example.org"),
	    LOOKUP_USER);
	assert_int_equal(lookup_rcpt(t, &c, "bob+tag", "example.org"),
	    LOOKUP_NO_SUCH_USER);
	assert_int_equal(lookup_rcpt(t, &c, "info+tag", "example.org"),
	    LOOKUP_NO_SUCH_USER);
	tables_free(t);
	conf_free(&c);
}

/* A domain-specific alias wins over a bare one of the same name. */
static void
test_rcpt_specific_alias(void **state)
{
	struct conf c;
	struct tables *t;
	struct lookup_dest d[4];
	char err[256];

	(void)state;
	load_conf("hostname h.example\ndomain example.org\ndomain b.example\n",
	    &c);
	assert_int_equal(load_tables(&c, "x@example.org\ny@b.example\n",
			     "info: x@example.org\ninfo@b.example: "
			     "y@b.example\n", &t, err, sizeof(err)), 0);
	assert_int_equal(lookup_expand(t, &c, "info", "b.example", d, 4), 1);
	assert_string_equal(d[0].address, "y@b.example");
	assert_int_equal(lookup_expand(t, &c, "info", "example.org", d, 4),
	    1);
	assert_string_equal(d[0].address, "x@example.org");
	tables_free(t);
	conf_free(&c);
}

static const struct {
	const char *local, *domain;
	size_t max;
	const char *want;	/* addresses, "!" marks remote; NULL = -1 */
} expand_cases[] = {
	{ "bob", "example.org", 10, "bob@example.org" },
	{ "Bob+Tag", "Example.Org", 10, "bob@example.org" },
	{ "e.f-x", "example.org", 10, "e.f@example.org" },
	{ "a+b", "example.org", 10, "a+b@example.org" },
	{ "carol", "EXAMPLE.NET", 10, "carol@example.net" },
	{ "postmaster", "example.org", 10, "postmaster@example.org" },
	{ "POSTMASTER", "example.net", 10, "postmaster@example.net" },
	{ "pm", "example.org", 10, "postmaster@example.org" },
	{ "alice", "example.org", 10,
	    "alice@example.org !archive@remote.example" },
	{ "info", "example.org", 10,
	    "alice@example.org !archive@remote.example bob@example.org" },
	{ "info+list", "example.org", 10,
	    "alice@example.org !archive@remote.example bob@example.org" },
	{ "sales", "example.org", 10,
	    "alice@example.org !archive@remote.example bob@example.org "
	    "carol@example.net !Ext@remote.example" },
	{ "sales", "example.org", 5,
	    "alice@example.org !archive@remote.example bob@example.org "
	    "carol@example.net !Ext@remote.example" },
	{ "sales", "example.org", 4, NULL },
	{ "all", "example.org", 3,
	    "alice@example.org !archive@remote.example bob@example.org" },
	{ "abuse", "example.net", 10,
	    "alice@example.org !archive@remote.example" },
	{ "bob", "example.net", 10, "bob@example.org" },
	{ "fwd", "example.org", 10,
	    "bob@example.org alice@example.org !archive@remote.example" },
	{ "remote", "example.org", 3,
	    "!x@remote.example !y@remote.example !z@remote.example" },
	{ "remote", "example.org", 2, NULL },
	{ "bob", "example.org", 0, NULL },
	{ "nobody", "example.org", 10, NULL },
	{ "l1", "example.org", 10, NULL },	/* loop */
	{ "l2", "example.org", 10, NULL },
	{ "c1", "example.org", 10, "bob@example.org" }, /* 10 levels */
	{ "c0", "example.org", 10, NULL },	/* 11 levels */
	{ "Someone", "Remote.Example", 10, "!Someone@remote.example" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "remote.example", 10, NULL },
};

static void
test_expand(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++) {
		struct lookup_dest d[16];
		struct buf got;
		int n, j;

		memset(d, 0x5a, sizeof(d));
		n = lookup_expand(f->t, &f->c, expand_cases[i].local,
		    expand_cases[i].domain, d, expand_cases[i].max);
		if (expand_cases[i].want == NULL) {
			if (n != -1)
				fail_msg("case %zu: %s@%s: got %d, want -1",
				    i, expand_cases[i].local,
				    expand_cases[i].domain, n);
			continue;
		}
		if (n < 1)
			fail_msg("case %zu: %s@%s: got %d", i,
			    expand_cases[i].local, expand_cases[i].domain, n);
		buf_init(&got, 4096);
		for (j = 0; j < n; j++) {
			char want[340];
			if (j > 0)
				buf_putc(&got, ' ');
			buf_printf(&got, "%s%s", d[j].local ? "" : "!",
			    d[j].address);
			/* user and domain agree with address */
			snprintf(want, sizeof(want), "%s@%s", d[j].user,
			    d[j].domain);
			assert_string_equal(want, d[j].address);
		}
		if (strcmp(buf_str(&got), expand_cases[i].want) != 0)
			fail_msg("case %zu: %s@%s:\n got  %s\n want %s", i,
			    expand_cases[i].local, expand_cases[i].domain,
			    buf_str(&got), expand_cases[i].want);
		buf_clear(&got);
	}
}

/*
 * A wide diamond 10 levels deep: every alias names both aliases of the
 * next level twice, 4^10 paths but one destination. The done set keeps
 * this linear; without it the test would not finish.
 */
static void
test_expand_fan_in(void **state)
{
	struct conf c;
	struct tables *t;
	struct lookup_dest d[4];
	struct buf al;
	char err[256];
	int lvl;

	(void)state;
	load_conf("hostname h.example\ndomain example.org\n", &c);
	buf_init(&al, 1 << 20);
	for (lvl = 0; lvl < 9; lvl++) {
		buf_printf(&al, "d%da: d%da@example.org, d%db@example.org, "
				"d%da@example.org, d%db@example.org\n",
		    lvl, lvl + 1, lvl + 1, lvl + 1, lvl + 1);
		buf_printf(&al, "d%db: d%da@example.org, d%db@example.org, "
				"d%db@example.org, d%da@example.org\n",
		    lvl, lvl + 1, lvl + 1, lvl + 1, lvl + 1);
	}
	buf_puts(&al, "d9a: u@example.org\nd9b: u@example.org\n");
	assert_int_equal(load_tables(&c, "u@example.org\n", buf_str(&al), &t,
			     err, sizeof(err)), 0);
	assert_int_equal(lookup_expand(t, &c, "d0a", "example.org", d, 4), 1);
	assert_string_equal(d[0].address, "u@example.org");
	assert_true(d[0].local);
	assert_string_equal(d[0].user, "u");
	assert_string_equal(d[0].domain, "example.org");
	tables_free(t);
	buf_clear(&al);
	conf_free(&c);
}

static const struct {
	const char *users, *aliases;
	const char *err;	/* NULL: loads */
} load_cases[] = {
	{ "", NULL, NULL },
	{ NULL, NULL, NULL },
	{ "\n\n# x\n   \n", "\n#\n", NULL },
	{ "x@example.org", "y: x@example.org", NULL },	/* no final LF */
	{ "x@example.org\r\n", "y: x@example.org\r\n", NULL },
	{ "X.Y_Z+W-1@EXAMPLE.ORG:", NULL, NULL },
	{ "x.@example.org", NULL, NULL },
	/* users */
	{ "alice", NULL, "u:1: 'alice' is not user@domain" },
	{ "alice:x@example.org", NULL, "u:1: 'alice' is not user@domain" },
	{ "\nal ice@example.org", NULL,
	    "u:2: invalid user name 'al ice' (allowed: a-z 0-9 . _ + -)" },
	{ ".a@example.org", NULL,
	    "u:1: invalid user name '.a' (allowed: a-z 0-9 . _ + -)" },
	{ "a..b@example.org", NULL,
	    "u:1: invalid user name 'a..b' (allowed: a-z 0-9 . _ + -)" },
	{ "a/b@example.org", NULL,
	    "u:1: invalid user name 'a/b' (allowed: a-z 0-9 . _ + -)" },
	{ "../x@example.org", NULL,
	    "u:1: invalid user name '../x' (allowed: a-z 0-9 . _ + -)" },
	{ "@example.org", NULL,
	    "u:1: invalid user name '' (allowed: a-z 0-9 . _ + -)" },
	{ "a@b@example.org", NULL,
	    "u:1: invalid user name 'a@b' (allowed: a-z 0-9 . _ + -)" },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	  "@example.org", NULL,
	    "u:1: invalid user name "
	    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'"
	    " (allowed: a-z 0-9 . _ + -)" },
	{ "a@example.com", NULL,
	    "u:1: domain 'example.com' is not a local domain" },
	{ "a@Sub.Example.ORG", NULL,
	    "u:1: domain 'sub.example.org' is not a local domain" },
	{ "a@exa_mple.org", NULL, "u:1: invalid domain 'exa_mple.org'" },
	{ "a@", NULL, "u:1: invalid domain ''" },
	{ "a@example.org\n\nA@EXAMPLE.ORG:pw", NULL,
	    "u:3: duplicate user 'a@example.org' (first on line 1)" },
	{ "a@example.org\x01", NULL, "u:1: control character 0x01 in line" },
	/* aliases */
	{ "b@example.org", "foo bar", "a:1: missing ':' after the alias key" },
	{ "b@example.org", "fo o: b@example.org",
	    "a:1: invalid alias key 'fo o'" },
	{ "b@example.org", ": b@example.org", "a:1: invalid alias key ''" },
	{ "b@example.org", "a.: b@example.org",
	    "a:1: invalid alias key 'a.'" },
	{ "b@example.org", "x@example.com: b@example.org",
	    "a:1: domain 'example.com' is not a local domain" },
	{ "b@example.org", "x@: b@example.org", "a:1: invalid domain ''" },
	{ "b@example.org", "x:", "a:1: alias 'x' has no targets" },
	{ "b@example.org", "x:   ", "a:1: alias 'x' has no targets" },
	{ "b@example.org", "x: ,", "a:1: empty alias target" },
	{ "b@example.org", "x: b@example.org,", "a:1: empty alias target" },
	{ "b@example.org", "x: b@example.org,,b@example.org",
	    "a:1: empty alias target" },
	{ "b@example.org", "x: b",
	    "a:1: alias target 'b' is not local@domain" },
	{ "b@example.org", "x: b@@example.org",
	    "a:1: invalid alias target 'b@@example.org'" },
	{ "b@example.org", "x: .b@example.org",
	    "a:1: invalid alias target '.b@example.org'" },
	{ "b@example.org", "x: b@exa mple.org",
	    "a:1: invalid alias target 'b@exa mple.org'" },
	{ "b@example.org", "x: b@[192.0.2.1]",
	    "a:1: invalid alias target 'b@[192.0.2.1]'" },
	{ "b@example.org", "x: \"b c\"@example.org",
	    "a:1: invalid alias target '\"b c\"@example.org'" },
	{ "b@example.org", "x: nobody@example.org",
	    "a:1: alias target 'nobody@example.org' does not exist" },
	{ "b@example.org", "\n\nx: b@example.org, nobody@EXAMPLE.org",
	    "a:3: alias target 'nobody@example.org' does not exist" },
	{ "b@example.org", "x: b@example.org\nX: b@example.org",
	    "a:2: duplicate alias 'x' (first on line 1)" },
	{ "b@example.org", "x@example.org: b@example.org\nx: b@example.org",
	    NULL },	/* different keys */
	{ "b@example.org", "list@example.org: list@example.org, "
			   "b@example.org",
	    "a:1: alias target 'list@example.org' does not exist" },
	{ "b@example.org", "b@example.org: b@example.org, c@remote.example",
	    NULL },
	{ "b@example.org", "x: y@example.org\ny: b@example.org", NULL },
	{ "b@example.org", "x: b+tag@example.org, postmaster@example.org, "
			   "anything@remote.example", NULL },
	{ "b@example.org", "x: b@example.org\x7f",
	    "a:1: control character 0x7f in line" },
	{ "b@example.org", "o'brien: b@example.org", NULL },
};

static void
test_load_errors(void **state)
{
	struct conf c;
	size_t i;

	(void)state;
	load_conf(test_conf_text, &c);
	for (i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
		struct tables *t = (struct tables *)&c;	/* poisoned */
		char err[256];
		int rc;

		rc = load_tables(&c, load_cases[i].users,
		    load_cases[i].aliases, &t, err, sizeof(err));
		if (load_cases[i].err == NULL) {
			if (rc != 0)
				fail_msg("case %zu: unexpected error %s", i,
				    err);
			tables_free(t);
			continue;
		}
		if (rc != -1)
			fail_msg("case %zu: loaded", i);
		assert_null(t);
		if (strcmp(err, load_cases[i].err) != 0)
			fail_msg("case %zu:\n got  %s\n want %s", i, err,
			    load_cases[i].err);
	}
	{
		/* A NUL inside the text is a control character. */
		struct tables *t;
		char err[256];
		assert_int_equal(tables_new(&c, "u", "a@ex\0ample.org", 14,
				     "a", NULL, 0, &t, err, sizeof(err)), -1);
		assert_string_equal(err, "u:1: control character 0x00 in line");
		assert_null(t);
	}
	conf_free(&c);
}

/* Lines longer than 65536 bytes are refused; one that long is fine. */
static void
test_long_lines(void **state)
{
	struct conf c;
	struct tables *t;
	struct buf b;
	struct lookup_dest d[2];
	char err[256];

	(void)state;
	load_conf(test_conf_text, &c);
	buf_init(&b, 1 << 20);
	buf_puts(&b, "x: b@example.org");
	while (b.len + 16 <= 65536)
		buf_puts(&b, ", b@example.org");
	while (b.len < 65536)
		buf_putc(&b, ' ');
	assert_int_equal(load_tables(&c, "b@example.org\n", buf_str(&b), &t,
			     err, sizeof(err)), 0);
	assert_int_equal(lookup_expand(t, &c, "x", "example.org", d, 1), 1);
	tables_free(t);
	buf_putc(&b, ' ');
	assert_int_equal(load_tables(&c, "b@example.org\n", buf_str(&b), &t,
			     err, sizeof(err)), -1);
	assert_string_equal(err, "a:1: line too long (more than 65536 bytes)");
	buf_clear(&b);
	conf_free(&c);
}

/* 100k accounts load quickly and every one is found. */
static void
test_many_users(void **state)
{
	struct conf c;
	struct tables *t;
	struct buf b;
	char err[256], name[32];
	clock_t t0;
	double secs;
	unsigned i;

	(void)state;
	load_conf(test_conf_text, &c);
	buf_init(&b, 1 << 26);
	for (i = 0; i < 100000; i++)
		buf_printf(&b, "user%u@example.%s:$y$j9T$salt$hashhashhash\n",
		    i, i % 2 ? "org" : "net");
	t0 = clock();
	assert_int_equal(tables_new(&c, "u", b.data, b.len, NULL, NULL, 0, &t,
			     err, sizeof(err)), 0);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	print_message("100000 users loaded in %.3f s\n", secs);
	assert_true(secs < 5.0);	/* generous: ASan, slow CI */
	for (i = 0; i < 100000; i += 997) {
		snprintf(name, sizeof(name), "User%u", i);
		assert_int_equal(lookup_rcpt(t, &c, name,
				     i % 2 ? "example.org" : "example.net"),
		    LOOKUP_USER);
		assert_int_equal(lookup_rcpt(t, &c, name,
				     i % 2 ? "example.net" : "example.org"),
		    LOOKUP_NO_SUCH_USER);
	}
	tables_free(t);
	buf_clear(&b);
	conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rcpt, setup, teardown),
		cmocka_unit_test(test_rcpt_no_delimiter),
		cmocka_unit_test(test_rcpt_specific_alias),
		cmocka_unit_test_setup_teardown(test_expand, setup, teardown),
		cmocka_unit_test(test_expand_fan_in),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_many_users),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
