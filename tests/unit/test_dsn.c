/*
 * test_dsn: the delivery status notification composer (src/proto/dsn.c).
 * Every report is parsed back structurally here: CRLF everywhere and no
 * line over 998 octets, the top-level header fields, the multipart/report
 * boundary and its three parts, the per-message and per-recipient fields
 * of the delivery-status part (folded lines unfolded), and the returned
 * content byte for byte. Also: xtext decoding of ORCPT and ENVID, escaping
 * of bytes that are not printable ASCII, folding of long diagnostics, a
 * boundary that must dodge the content, SMTPUTF8 reports, the RET
 * decision, dates and header-section lengths.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "proto/dsn.h"
#include "proto/smtp_param.h"

#define T_MAX    ((size_t)1 << 24)
#define T_FIELDS 64

/* ---- a small structural parser ---- */

struct t_field {
	char name[64];
	char *value; /* unfolded, malloc'ed */
};

struct t_block {
	struct t_field f[T_FIELDS];
	size_t n;
};

struct t_part {
	struct t_block hdr;
	const char *body; /* into the message */
	size_t body_len;
};

struct t_msg {
	struct t_block hdr;
	struct t_part parts[4];
	size_t nparts;
	char boundary[128];
	struct t_block ds[8]; /* delivery-status groups */
	size_t nds;
};

/* Every line ends in CRLF, no bare CR or LF, none longer than 998. */
static void
t_check_lines(const char *p, size_t n)
{
	size_t i, start = 0;

	assert_true(n >= 2);
	assert_memory_equal(p + n - 2, "\r\n", 2);
	for (i = 0; i < n; i++) {
		if (p[i] == '\r') {
			assert_true(i + 1 < n && p[i + 1] == '\n');
			assert_true(i - start <= 998);
			i++;
			start = i + 1;
		} else {
			assert_true(p[i] != '\n');
		}
	}
}

/*
 * Parses header-like lines at p (up to an empty line or the end) into b,
 * unfolding continuation lines (CRLF WSP -> the WSP). Returns the bytes
 * used, the empty line included.
 */
static size_t
t_parse_fields(const char *p, size_t n, struct t_block *b)
{
	size_t i = 0;

	memset(b, 0, sizeof(*b));
	while (i < n) {
		const char *eol = memmem(p + i, n - i, "\r\n", 2);
		size_t len = eol ? (size_t)(eol - (p + i)) : n - i;
		const char *colon;

		if (len == 0)
			return i + 2;
		if (p[i] == ' ' || p[i] == '\t') {
			struct t_field *f = &b->f[b->n - 1];
			size_t old = strlen(f->value);
			assert_true(b->n > 0);
			f->value = realloc(f->value, old + len + 1);
			memcpy(f->value + old, p + i, len);
			f->value[old + len] = '\0';
		} else {
			struct t_field *f;
			colon = memchr(p + i, ':', len);
			assert_non_null(colon);
			assert_true(b->n < T_FIELDS);
			f = &b->f[b->n++];
			assert_true(
			    (size_t)(colon - (p + i)) < sizeof(f->name));
			memcpy(f->name, p + i, (size_t)(colon - (p + i)));
			f->name[colon - (p + i)] = '\0';
			colon++;
			while (*colon == ' ')
				colon++;
			f->value =
			    strndup(colon, len - (size_t)(colon - (p + i)));
		}
		i += len + 2;
	}
	return n;
}

static void
t_block_free(struct t_block *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		free(b->f[i].value);
	b->n = 0;
}

/* The value of the only field called name, or NULL if there is none. */
static const char *
t_get(const struct t_block *b, const char *name)
{
	const char *v = NULL;
	size_t i;

	for (i = 0; i < b->n; i++) {
		if (strcasecmp(b->f[i].name, name) != 0)
			continue;
		assert_null(v); /* at most once */
		v = b->f[i].value;
	}
	return v;
}

static void
t_parse(const struct buf *out, struct t_msg *m)
{
	const char *p = out->data, *q, *end = out->data + out->len;
	const char *ct, *bp;
	char delim[140], close[140];
	size_t used, k;

	memset(m, 0, sizeof(*m));
	t_check_lines(out->data, out->len);
	used = t_parse_fields(p, out->len, &m->hdr);
	ct = t_get(&m->hdr, "Content-Type");
	assert_non_null(ct);
	bp = strstr(ct, "boundary=\"");
	assert_non_null(bp);
	bp += 10;
	q = strchr(bp, '"');
	assert_non_null(q);
	memcpy(m->boundary, bp, (size_t)(q - bp));
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", m->boundary);
	snprintf(close, sizeof(close), "\r\n--%s--\r\n", m->boundary);
	/* The close delimiter ends the message. */
	assert_true(out->len > used + strlen(close));
	assert_memory_equal(end - strlen(close), close, strlen(close));
	end -= strlen(close);
	p += used;
	q = memmem(p, (size_t)(end - p), delim, strlen(delim));
	assert_non_null(q); /* a preamble, then the first part */
	for (;;) {
		struct t_part *pt = &m->parts[m->nparts++];
		const char *next;
		assert_true(m->nparts <= 4);
		p = q + strlen(delim);
		next = memmem(p, (size_t)(end - p), delim, strlen(delim));
		if (next == NULL)
			next = end;
		used = t_parse_fields(p, (size_t)(next - p), &pt->hdr);
		pt->body = p + used;
		pt->body_len = (size_t)(next - p) - used;
		if (next == end)
			break;
		q = next;
	}
	/* The delivery-status groups: blank-line separated field blocks. */
	if (m->nparts >= 2) {
		const char *b = m->parts[1].body;
		size_t n = m->parts[1].body_len, off = 0;
		/* The body lacks its last CRLF (the delimiter's); add it. */
		char *tmp = malloc(n + 2);
		memcpy(tmp, b, n);
		memcpy(tmp + n, "\r\n", 2);
		for (k = 0; off < n + 2 && k < 8; k++)
			off +=
			    t_parse_fields(tmp + off, n + 2 - off, &m->ds[k]);
		m->nds = k;
		free(tmp);
	}
}

static void
t_msg_free(struct t_msg *m)
{
	size_t i;

	t_block_free(&m->hdr);
	for (i = 0; i < m->nparts; i++)
		t_block_free(&m->parts[i].hdr);
	for (i = 0; i < m->nds; i++)
		t_block_free(&m->ds[i]);
}

static bool
t_body_has(const struct t_part *p, const char *s)
{
	return memmem(p->body, p->body_len, s, strlen(s)) != NULL;
}

static bool
t_all_ascii(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] > 0x7e ||
		    ((unsigned char)p[i] < 0x20 && p[i] != '\r' &&
			p[i] != '\n' && p[i] != '\t'))
			return false;
	return true;
}

/* ---- fixtures ---- */

static const char t_content[] = "Received: from client.test by mx.test\r\n"
				"From: <alice@example.org>\r\n"
				"Subject: hello\r\n"
				"\r\n"
				"body line 1\r\n"
				"body line 2\r\n";

static void
t_report(
    struct dsn_report *r, enum dsn_kind kind, struct dsn_rcpt *rc, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->hostname = "mx.test";
	r->message_id = "NEWQID.ORIGQID@mx.test";
	r->qid = "ORIGQID";
	r->sender = "alice@example.org";
	r->arrival = 1700000000;
	r->now = 1700003600;
	r->rcpts = rc;
	r->nrcpts = n;
}

/* ---- tests ---- */

static void
test_failure_two_rcpts_full(void **state)
{
	struct dsn_rcpt rc[2];
	struct dsn_report r;
	struct t_msg m;
	struct buf out;
	const struct t_part *p3;

	(void)state;
	memset(rc, 0, sizeof(rc));
	rc[0].orcpt = "rfc822;bob+2Bx@example.net";
	rc[0].rcpt = "bob+x@example.net";
	rc[0].final = "bob+x@example.net";
	rc[0].action = DSN_ACTION_FAILED;
	rc[0].status = "5.1.1";
	rc[0].remote_mta = "mx1.example.net";
	rc[0].diagnostic = "550 5.1.1 <bob+x@example.net>: no such user";
	rc[0].diag_smtp = true;
	rc[0].last_attempt = 1700003000;
	rc[1].rcpt = "team@example.test";
	rc[1].final = "carol@example.test";
	rc[1].action = DSN_ACTION_FAILED;
	rc[1].status = "4.2.0";
	rc[1].diagnostic = "maildir: open: Permission denied";
	rc[1].expired = true;
	t_report(&r, DSN_KIND_FAILURE, rc, 2);
	r.envid = "QQ314159+2Bx";
	r.full = true;
	r.content = t_content;
	r.content_len = sizeof(t_content) - 1;

	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m);

	assert_string_equal(t_get(&m.hdr, "From"),
	    "\"Mail Delivery System\" <MAILER-DAEMON@mx.test>");
	assert_string_equal(t_get(&m.hdr, "To"), "<alice@example.org>");
	assert_string_equal(
	    t_get(&m.hdr, "Subject"), "Undelivered Mail Returned to Sender");
	assert_string_equal(
	    t_get(&m.hdr, "Date"), "Tue, 14 Nov 2023 23:13:20 +0000");
	assert_string_equal(
	    t_get(&m.hdr, "Message-ID"), "<NEWQID.ORIGQID@mx.test>");
	assert_string_equal(t_get(&m.hdr, "MIME-Version"), "1.0");
	assert_string_equal(t_get(&m.hdr, "Auto-Submitted"), "auto-replied");
	assert_non_null(strstr(t_get(&m.hdr, "Content-Type"),
	    "multipart/report; report-type=delivery-status;"));
	assert_string_equal(t_get(&m.hdr, "Content-Transfer-Encoding"), "7bit");

	assert_int_equal(m.nparts, 3);
	assert_string_equal(t_get(&m.parts[0].hdr, "Content-Type"),
	    "text/plain; charset=us-ascii");
	assert_true(t_body_has(&m.parts[0], "<bob+x@example.net>:"));
	assert_true(t_body_has(&m.parts[0], "host mx1.example.net"));
	assert_true(t_body_has(&m.parts[0], "said: 550 5.1.1"));
	assert_true(t_body_has(&m.parts[0],
	    "<carol@example.test> (sent to <team@example.test>):"));
	assert_true(t_body_has(&m.parts[0], "queue lifetime"));
	assert_true(t_body_has(&m.parts[0], "Your message is attached"));
	assert_true(t_all_ascii(m.parts[0].body, m.parts[0].body_len));

	assert_string_equal(
	    t_get(&m.parts[1].hdr, "Content-Type"), "message/delivery-status");
	assert_int_equal(m.nds, 3);
	assert_string_equal(
	    t_get(&m.ds[0], "Original-Envelope-Id"), "QQ314159+x");
	assert_string_equal(t_get(&m.ds[0], "Reporting-MTA"), "dns; mx.test");
	assert_string_equal(
	    t_get(&m.ds[0], "Arrival-Date"), "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_string_equal(t_get(&m.ds[0], "X-Petrel-Queue-ID"), "ORIGQID");
	/* Original-Envelope-Id comes first (RFC 3464 2.2). */
	assert_string_equal(m.ds[0].f[0].name, "Original-Envelope-Id");

	assert_string_equal(
	    t_get(&m.ds[1], "Original-Recipient"), "rfc822;bob+x@example.net");
	assert_string_equal(
	    t_get(&m.ds[1], "Final-Recipient"), "rfc822;bob+x@example.net");
	assert_string_equal(t_get(&m.ds[1], "Action"), "failed");
	assert_string_equal(t_get(&m.ds[1], "Status"), "5.1.1");
	assert_string_equal(
	    t_get(&m.ds[1], "Remote-MTA"), "dns; mx1.example.net");
	assert_string_equal(t_get(&m.ds[1], "Diagnostic-Code"),
	    "smtp; 550 5.1.1 <bob+x@example.net>: no such user");
	assert_string_equal(t_get(&m.ds[1], "Last-Attempt-Date"),
	    "Tue, 14 Nov 2023 23:03:20 +0000");
	assert_null(t_get(&m.ds[1], "Will-Retry-Until"));
	/* Field order of RFC 3464 2.3. */
	assert_string_equal(m.ds[1].f[0].name, "Original-Recipient");
	assert_string_equal(m.ds[1].f[1].name, "Final-Recipient");
	assert_string_equal(m.ds[1].f[2].name, "Action");
	assert_string_equal(m.ds[1].f[3].name, "Status");

	assert_null(t_get(&m.ds[2], "Original-Recipient"));
	assert_string_equal(
	    t_get(&m.ds[2], "Final-Recipient"), "rfc822;carol@example.test");
	assert_string_equal(t_get(&m.ds[2], "Action"), "failed");
	assert_string_equal(t_get(&m.ds[2], "Status"), "4.2.0");
	assert_null(t_get(&m.ds[2], "Remote-MTA"));
	assert_string_equal(t_get(&m.ds[2], "Diagnostic-Code"),
	    "X-Petrel; maildir: open: Permission denied");
	assert_null(t_get(&m.ds[2], "Last-Attempt-Date"));

	p3 = &m.parts[2];
	assert_string_equal(t_get(&p3->hdr, "Content-Type"), "message/rfc822");
	assert_null(t_get(&p3->hdr, "Content-Transfer-Encoding"));
	/* The content, byte for byte (its last CRLF is the delimiter's). */
	assert_int_equal(p3->body_len, sizeof(t_content) - 1 - 2);
	assert_memory_equal(p3->body, t_content, p3->body_len);
	t_msg_free(&m);
	buf_clear(&out);
}

static void
test_delay_headers(void **state)
{
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct t_msg m;
	struct buf out;
	size_t hl = dsn_header_len(t_content, sizeof(t_content) - 1);

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.final = "demo@localhost";
	rc.action = DSN_ACTION_DELAYED;
	rc.status = "4.2.0";
	rc.diagnostic = "maildir: open /x/y: Permission denied";
	rc.last_attempt = 1700003000;
	rc.retry_until = 1700432000;
	t_report(&r, DSN_KIND_DELAY, &rc, 1);
	r.content = t_content;
	r.content_len = hl;
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m);
	assert_string_equal(
	    t_get(&m.hdr, "Subject"), "Delayed Mail (still being retried)");
	assert_true(t_body_has(&m.parts[0], "warning only"));
	assert_true(t_body_has(&m.parts[0], "It will keep trying until"));
	assert_int_equal(m.nds, 2);
	assert_null(t_get(&m.ds[0], "Original-Envelope-Id"));
	assert_string_equal(t_get(&m.ds[1], "Action"), "delayed");
	assert_string_equal(t_get(&m.ds[1], "Status"), "4.2.0");
	assert_string_equal(t_get(&m.ds[1], "Will-Retry-Until"),
	    "Sun, 19 Nov 2023 22:13:20 +0000");
	assert_string_equal(
	    t_get(&m.parts[2].hdr, "Content-Type"), "text/rfc822-headers");
	assert_int_equal(m.parts[2].body_len, hl - 2);
	assert_memory_equal(m.parts[2].body, t_content, hl - 2);
	t_msg_free(&m);
	buf_clear(&out);
}

static void
test_success_delivered_relayed(void **state)
{
	struct dsn_rcpt rc[2];
	struct dsn_report r;
	struct t_msg m;
	struct buf out;

	(void)state;
	memset(rc, 0, sizeof(rc));
	rc[0].final = "a@example.net";
	rc[0].action = DSN_ACTION_DELIVERED;
	rc[0].status = "2.0.0";
	rc[0].remote_mta = "mx.example.net";
	rc[0].diagnostic = "250 2.0.0 ok";
	rc[0].diag_smtp = true;
	rc[1].final = "b@example.org";
	rc[1].action = DSN_ACTION_RELAYED;
	rc[1].status = "5.0.0"; /* wrong class: replaced by 2.0.0 */
	rc[1].remote_mta = "mx.example.org";
	t_report(&r, DSN_KIND_SUCCESS, rc, 2);
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m);
	assert_string_equal(
	    t_get(&m.hdr, "Subject"), "Successful Mail Delivery Report");
	assert_int_equal(m.nparts, 2); /* no content given: two parts */
	assert_string_equal(t_get(&m.ds[1], "Action"), "delivered");
	assert_string_equal(t_get(&m.ds[2], "Action"), "relayed");
	assert_string_equal(t_get(&m.ds[2], "Status"), "2.0.0");
	assert_true(t_body_has(&m.parts[0], "relayed to host mx.example.org"));
	t_msg_free(&m);
	buf_clear(&out);
}

/* Long diagnostics fold at spaces (unfolding gives the text back) and a
 * word without spaces is split; no line passes 998 octets. */
static void
test_long_diagnostics(void **state)
{
	struct dsn_rcpt rc[2];
	struct dsn_report r;
	struct t_msg m;
	struct buf out;
	char words[3000], word[2501];
	size_t i;

	(void)state;
	for (i = 0; i + 6 < sizeof(words); i += 6)
		memcpy(words + i, "abcde ", 6);
	words[i - 1] = '\0';
	memset(word, 'w', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	memset(rc, 0, sizeof(rc));
	rc[0].final = "a@example.net";
	rc[0].action = DSN_ACTION_FAILED;
	rc[0].diagnostic = words;
	rc[0].diag_smtp = true;
	rc[1].final = "b@example.net";
	rc[1].action = DSN_ACTION_FAILED;
	rc[1].diagnostic = word;
	t_report(&r, DSN_KIND_FAILURE, rc, 2);
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m); /* checks the line lengths */
	{
		const char *v = t_get(&m.ds[1], "Diagnostic-Code");
		if (v == NULL)
			fail();
		assert_memory_equal(v, "smtp; ", 6);
		assert_string_equal(v + 6, words);
	}
	{
		/* Split into pieces: the same w's with spaces added. */
		const char *v = t_get(&m.ds[2], "Diagnostic-Code");
		size_t ws = 0;
		if (v == NULL)
			fail();
		for (i = 0; v[i] != '\0'; i++)
			ws += v[i] == 'w';
		assert_int_equal(ws, sizeof(word) - 1);
	}
	/* Folded lines stay near the width where spaces allow. */
	{
		const char *p = m.parts[1].body;
		size_t n = m.parts[1].body_len, start = 0, j;
		for (j = 0; j + 1 < n; j++) {
			if (p[j] != '\r')
				continue;
			if (memchr(p + start, 'w', j - start) == NULL)
				assert_true(j - start <= DSN_LINE_WIDTH);
			start = j + 2;
		}
	}
	t_msg_free(&m);
	buf_clear(&out);
}

/* Bytes outside printable ASCII in diagnostics and addresses: \xHH. */
static void
test_escaping(void **state)
{
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct t_msg m;
	struct buf out;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.final = "b\x01@example.net";
	rc.rcpt = "b\xc3\xa9@example.net";
	rc.action = DSN_ACTION_FAILED;
	rc.diagnostic = "550 bad\r\nInjected: yes\t\xc3\xa9\x7f";
	rc.diag_smtp = true;
	rc.remote_mta = "mx\r\n.example.net";
	t_report(&r, DSN_KIND_FAILURE, &rc, 1);
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	assert_true(t_all_ascii(out.data, out.len));
	t_parse(&out, &m);
	assert_string_equal(t_get(&m.ds[1], "Diagnostic-Code"),
	    "smtp; 550 bad\\x0D\\x0AInjected: yes\\x09\\xC3\\xA9\\x7F");
	assert_null(t_get(&m.ds[1], "Injected"));
	assert_string_equal(
	    t_get(&m.ds[1], "Final-Recipient"), "rfc822;b\\x01@example.net");
	assert_string_equal(
	    t_get(&m.ds[1], "Remote-MTA"), "dns; mx\\x0D\\x0A.example.net");
	assert_true(t_body_has(&m.parts[0], "b\\xC3\\xA9@example.net"));
	t_msg_free(&m);
	buf_clear(&out);
}

/* The boundary never occurs in the content. */
static void
test_boundary_dodges_content(void **state)
{
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct t_msg m;
	struct buf out;
	const char *content =
	    "Subject: x\r\n\r\n--=_petrel_NEWQIDORIGQIDmxtest_0"
	    "\r\n=_petrel_NEWQIDORIGQIDmxtest_1\r\n";

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.final = "b@example.net";
	rc.action = DSN_ACTION_FAILED;
	t_report(&r, DSN_KIND_FAILURE, &rc, 1);
	r.full = true;
	r.content = content;
	r.content_len = strlen(content);
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m);
	assert_string_equal(m.boundary, "=_petrel_NEWQIDORIGQIDmxtest_2");
	assert_int_equal(m.nparts, 3);
	assert_int_equal(m.parts[2].body_len, strlen(content) - 2);
	t_msg_free(&m);
	buf_clear(&out);
}

/* 8-bit content: the part and the whole report say 8bit. */
static void
test_8bit_content(void **state)
{
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct t_msg m;
	struct buf out;
	const char *content = "Subject: x\r\n\r\ncaf\xc3\xa9\r\nno final crlf";

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.final = "b@example.net";
	rc.action = DSN_ACTION_FAILED;
	t_report(&r, DSN_KIND_FAILURE, &rc, 1);
	r.full = true;
	r.content = content;
	r.content_len = strlen(content);
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m);
	assert_string_equal(t_get(&m.hdr, "Content-Transfer-Encoding"), "8bit");
	assert_string_equal(
	    t_get(&m.parts[2].hdr, "Content-Transfer-Encoding"), "8bit");
	assert_string_equal(
	    t_get(&m.parts[1].hdr, "Content-Type"), "message/delivery-status");
	assert_int_equal(m.parts[2].body_len, strlen(content));
	t_msg_free(&m);
	buf_clear(&out);
}

/* SMTPUTF8: global types, utf-8 address type, raw UTF-8 kept. */
static void
test_utf8_report(void **state)
{
	struct dsn_rcpt rc[2];
	struct dsn_report r;
	struct t_msg m;
	struct buf out;

	(void)state;
	memset(rc, 0, sizeof(rc));
	rc[0].final = "j\xc3\xb6rg@example.net";
	rc[0].orcpt = "utf-8;j\\x{F6}rg@example.net";
	rc[0].action = DSN_ACTION_FAILED;
	rc[1].final = "plain@example.net";
	rc[1].action = DSN_ACTION_FAILED;
	t_report(&r, DSN_KIND_FAILURE, rc, 2);
	r.utf8 = true;
	r.sender = "\xc3\xa5sa@example.org";
	r.content = t_content;
	r.content_len = dsn_header_len(t_content, strlen(t_content));
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m);
	assert_non_null(strstr(t_get(&m.hdr, "Content-Type"),
	    "report-type=global-delivery-status;"));
	assert_string_equal(t_get(&m.hdr, "To"), "<\xc3\xa5sa@example.org>");
	assert_string_equal(t_get(&m.parts[1].hdr, "Content-Type"),
	    "message/global-delivery-status");
	assert_string_equal(
	    t_get(&m.parts[1].hdr, "Content-Transfer-Encoding"), "8bit");
	assert_string_equal(t_get(&m.hdr, "Content-Transfer-Encoding"), "8bit");
	assert_string_equal(t_get(&m.ds[1], "Final-Recipient"),
	    "utf-8;j\xc3\xb6rg@example.net");
	assert_string_equal(t_get(&m.ds[1], "Original-Recipient"),
	    "utf-8;j\\x{F6}rg@example.net");
	assert_string_equal(
	    t_get(&m.ds[2], "Final-Recipient"), "rfc822;plain@example.net");
	assert_string_equal(
	    t_get(&m.parts[2].hdr, "Content-Type"), "message/global-headers");
	/* The text part stays ASCII. */
	assert_true(t_all_ascii(m.parts[0].body, m.parts[0].body_len));
	t_msg_free(&m);
	buf_clear(&out);
}

/* ORCPT and ENVID that do not decode to printable ASCII stay as given. */
static void
test_xtext_fallback(void **state)
{
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct t_msg m;
	struct buf out;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.final = "b@example.net";
	rc.orcpt = "RFC822;b+0D+0A@example.net";
	rc.action = DSN_ACTION_FAILED;
	t_report(&r, DSN_KIND_FAILURE, &rc, 1);
	r.envid = "bad+zz";
	buf_init(&out, T_MAX);
	assert_int_equal(dsn_compose(&r, &out), 0);
	t_parse(&out, &m);
	assert_string_equal(t_get(&m.ds[0], "Original-Envelope-Id"), "bad+zz");
	assert_string_equal(t_get(&m.ds[1], "Original-Recipient"),
	    "RFC822;b+0D+0A@example.net");
	t_msg_free(&m);
	buf_clear(&out);
}

static void
test_bad_arguments(void **state)
{
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct buf out;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rc.final = "b@example.net";
	rc.action = DSN_ACTION_FAILED;
	buf_init(&out, T_MAX);
	assert_int_equal(buf_puts(&out, "keep"), 0);
	t_report(&r, DSN_KIND_FAILURE, &rc, 0);
	assert_int_equal(dsn_compose(&r, &out), -1);
	t_report(&r, DSN_KIND_FAILURE, &rc, 1);
	r.hostname = NULL;
	assert_int_equal(dsn_compose(&r, &out), -1);
	t_report(&r, DSN_KIND_FAILURE, &rc, 1);
	r.sender = NULL;
	assert_int_equal(dsn_compose(&r, &out), -1);
	rc.final = NULL;
	t_report(&r, DSN_KIND_FAILURE, &rc, 1);
	assert_int_equal(dsn_compose(&r, &out), -1);
	assert_int_equal(out.len, 4);
	assert_string_equal(out.data, "keep");
	buf_clear(&out);

	/* Out of room: nothing appended. */
	rc.final = "b@example.net";
	buf_init(&out, 300);
	assert_int_equal(buf_puts(&out, "keep"), 0);
	assert_int_equal(dsn_compose(&r, &out), -1);
	assert_int_equal(out.len, 4);
	buf_clear(&out);
}

static void
test_return_full(void **state)
{
	(void)state;
	assert_true(dsn_return_full(SMTP_RET_NONE, DSN_KIND_FAILURE));
	assert_true(dsn_return_full(SMTP_RET_FULL, DSN_KIND_FAILURE));
	assert_false(dsn_return_full(SMTP_RET_HDRS, DSN_KIND_FAILURE));
	assert_false(dsn_return_full(SMTP_RET_FULL, DSN_KIND_DELAY));
	assert_false(dsn_return_full(SMTP_RET_NONE, DSN_KIND_DELAY));
	assert_false(dsn_return_full(SMTP_RET_FULL, DSN_KIND_SUCCESS));
}

static void
test_header_len(void **state)
{
	(void)state;
	assert_int_equal(dsn_header_len("A: b\r\n\r\nbody", 12), 6);
	assert_int_equal(dsn_header_len("\r\nbody", 6), 0);
	assert_int_equal(dsn_header_len("A: b\r\nC: d\r\n", 12), 12);
	assert_int_equal(dsn_header_len("", 0), 0);
	assert_int_equal(dsn_header_len("A: b\r\n\r\n", 8), 6);
}

static void
test_date(void **state)
{
	char d[64];

	(void)state;
	assert_int_equal(dsn_date(0, d, sizeof(d)), 0);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_int_equal(dsn_date(1700000000, d, sizeof(d)), 0);
	assert_string_equal(d, "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_int_equal(dsn_date(951782400, d, sizeof(d)), 0);
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 +0000");
	assert_int_equal(dsn_date(0, d, 10), -1);
	assert_string_equal(d, "");
	assert_int_equal(dsn_date(INT64_MAX, d, sizeof(d)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_failure_two_rcpts_full),
	    cmocka_unit_test(test_delay_headers),
	    cmocka_unit_test(test_success_delivered_relayed),
	    cmocka_unit_test(test_long_diagnostics),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_boundary_dodges_content),
	    cmocka_unit_test(test_8bit_content),
	    cmocka_unit_test(test_utf8_report),
	    cmocka_unit_test(test_xtext_fallback),
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_return_full),
	    cmocka_unit_test(test_header_len),
	    cmocka_unit_test(test_date),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
