/*
 * test_envelope: the envelope record (src/spool/envelope.c). Round trips
 * with every field set and with every optional field absent, many
 * recipients, the encoder's limits, and the decoder's strictness: every
 * truncation, every single-byte change (caught by the checksum), and every
 * single-byte change with the checksum recomputed (caught by the parser or
 * decoded to a record that re-encodes to exactly those bytes); the fields
 * added later (recipient tags 12..15, REQUIRETLS after the recipients)
 * byte by byte, and old records without them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/smtp_param.h"
#include "spool/envelope.h"

/* Same constants as envelope.c; a change of format must change both. */
#define T_HDR 16
#define T_CRC 4
/* ENVELOPE_MAX as a size_t (the header's constant is an unsigned int). */
#define T_MAX ((size_t)ENVELOPE_MAX)

static uint32_t
t_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return c ^ 0xffffffffu;
}

/* Recomputes the trailing checksum of an encoded record in place. */
static void
t_fix_crc(uint8_t *p, size_t n)
{
	uint32_t c = t_crc32c(p, n - T_CRC);

	p[n - 4] = (uint8_t)c;
	p[n - 3] = (uint8_t)(c >> 8);
	p[n - 2] = (uint8_t)(c >> 16);
	p[n - 1] = (uint8_t)(c >> 24);
}

static bool
t_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
t_assert_equal(const struct envelope *a, const struct envelope *b)
{
	size_t i;

	assert_string_equal(a->qid, b->qid);
	assert_true(a->arrival == b->arrival);
	assert_true(t_streq(a->sender, b->sender));
	assert_true(t_streq(a->helo, b->helo));
	assert_true(t_streq(a->client_addr, b->client_addr));
	assert_true(t_streq(a->client_name, b->client_name));
	assert_true(t_streq(a->protocol, b->protocol));
	assert_true(t_streq(a->envid, b->envid));
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->body, b->body);
	assert_int_equal(a->smtputf8, b->smtputf8);
	assert_int_equal(a->requiretls, b->requiretls);
	assert_true(a->size == b->size);
	assert_int_equal(a->nrcpts, b->nrcpts);
	for (i = 0; i < a->nrcpts; i++) {
		const struct env_rcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
		assert_true(t_streq(x->rcpt, y->rcpt));
		assert_true(t_streq(x->orcpt, y->orcpt));
		assert_int_equal(x->notify, y->notify);
		assert_true(t_streq(x->dest, y->dest));
		assert_int_equal(x->local, y->local);
		assert_true(t_streq(x->mbox_domain, y->mbox_domain));
		assert_true(t_streq(x->mbox_user, y->mbox_user));
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->attempts, y->attempts);
		assert_true(x->next_try == y->next_try);
		assert_true(t_streq(x->last_error, y->last_error));
		assert_true(t_streq(x->status, y->status));
		assert_true(t_streq(x->remote_mta, y->remote_mta));
		assert_int_equal(x->flags, y->flags);
		assert_true(x->last_try == y->last_try);
	}
}

/* An envelope with every field set, and a second recipient mostly NULL. */
static void
t_fill_full(struct envelope *e)
{
	struct env_rcpt *r;

	memset(e, 0, sizeof(*e));
	memcpy(e->qid, "0123456789ABCDEF", 17);
	e->arrival = 1700000000;
	envelope_set_str(&e->sender, "alice@example.org");
	envelope_set_str(&e->helo, "mail.example.org");
	envelope_set_str(&e->client_addr, "192.0.2.1");
	envelope_set_str(&e->client_name, "mail.example.org");
	envelope_set_str(&e->protocol, "ESMTPS");
	envelope_set_str(&e->envid, "QQ314159+2B");
	e->ret = SMTP_RET_HDRS;
	e->body = SMTP_BODY_8BITMIME;
	e->smtputf8 = true;
	e->requiretls = true;
	e->size = UINT64_C(0x123456789abcdef0);
	r = envelope_add_rcpt(e, "bob@example.net", "rfc822;bob@example.net",
	    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, "bob@example.net", true,
	    "example.net", "bob");
	r->state = ENV_RCPT_FAILED;
	r->attempts = 0xfffffffeu;
	r->next_try = -5; /* negative times survive too */
	envelope_set_str(&r->last_error, "550 5.1.1 no such user\r\n\x01");
	envelope_set_str(&r->status, "5.1.1");
	envelope_set_str(&r->remote_mta, "mx.example.net");
	r->flags = ENV_RF_DSN_FAILURE_SENT | ENV_RF_DIAG_SMTP | ENV_RF_EXPIRED;
	r->last_try = -7; /* any non-zero time */
	r = envelope_add_rcpt(
	    e, "carol@example.com", NULL, 0, NULL, false, NULL, NULL);
	r->state = ENV_RCPT_DELIVERED;
	r->attempts = 3;
	r->next_try = INT64_MAX;
}

/* Encodes e, decodes it again and checks both agree; returns the bytes. */
static void
t_round_trip(const struct envelope *e, struct buf *out)
{
	struct envelope d;

	buf_init(out, T_MAX);
	assert_int_equal(envelope_encode(e, out), 0);
	assert_int_equal(envelope_decode(out->data, out->len, &d), 0);
	t_assert_equal(e, &d);
	envelope_clear(&d);
}

/*
 * A record written out by hand from docs/queue.md, so that a change of
 * format cannot go unnoticed. The checksum is checked independently with
 * the bitwise t_crc32c.
 */
static const uint8_t t_golden[] = {
    'P', 'T', 'R', 'L', 'E', 'N', 'V', 0,       /* magic */
    1, 0, 0, 0,                                 /* version 1 */
    159, 0, 0, 0,                               /* total length */
    1, 0, 2, 0, 0, 0, 'Q', '1',                 /* QID "Q1" */
    2, 0, 8, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1,   /* ARRIVAL */
    3, 0, 3, 0, 0, 0, 's', '@', 'x',            /* SENDER */
    9, 0, 1, 0, 0, 0, 1,                        /* RET FULL */
    10, 0, 1, 0, 0, 0, 2,                       /* BODY 8BITMIME */
    11, 0, 1, 0, 0, 0, 1,                       /* SMTPUTF8 */
    12, 0, 8, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, /* SIZE */
    13, 0, 4, 0, 0, 0, 1, 0, 0, 0,              /* RCPT_COUNT 1 */
    14, 0, 57, 0, 0, 0,                         /* RCPT group */
    1, 0, 3, 0, 0, 0, 'r', '@', 'y',            /*   RCPT */
    3, 0, 4, 0, 0, 0, 6, 0, 0, 0,               /*   NOTIFY */
    5, 0, 1, 0, 0, 0, 1,                        /*   LOCAL */
    8, 0, 1, 0, 0, 0, 1,                        /*   STATE */
    9, 0, 4, 0, 0, 0, 3, 0, 0, 0,               /*   ATTEMPTS */
    10, 0, 8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff,                   /*   NEXT_TRY -1 */
    0x06, 0xfd, 0xb0, 0xd8, /* CRC-32C */
};

static void
test_golden(void **state)
{
	struct envelope e, d;
	struct env_rcpt *r;
	struct buf b;
	uint32_t crc;

	(void)state;
	/* The standard CRC-32C check value. */
	assert_int_equal(
	    t_crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);
	crc = t_crc32c(t_golden, sizeof(t_golden) - 4);
	assert_int_equal(t_golden[sizeof(t_golden) - 4], crc & 0xff);
	assert_int_equal(t_golden[sizeof(t_golden) - 1], crc >> 24);

	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "Q1", 3);
	e.arrival = 0x0102030405060708LL;
	envelope_set_str(&e.sender, "s@x");
	e.ret = SMTP_RET_FULL;
	e.body = SMTP_BODY_8BITMIME;
	e.smtputf8 = true;
	e.size = 42;
	r = envelope_add_rcpt(&e, "r@y", NULL,
	    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE, NULL, true, NULL, NULL);
	r->state = ENV_RCPT_DELIVERED;
	r->attempts = 3;
	r->next_try = -1;
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_int_equal(b.len, sizeof(t_golden));
	assert_memory_equal(b.data, t_golden, sizeof(t_golden));
	assert_int_equal(envelope_decode(t_golden, sizeof(t_golden), &d), 0);
	t_assert_equal(&e, &d);
	envelope_clear(&d);
	buf_clear(&b);
	envelope_clear(&e);
}

static void
test_round_trip_full(void **state)
{
	struct envelope e;
	struct buf b;

	(void)state;
	t_fill_full(&e);
	t_round_trip(&e, &b);
	assert_memory_equal(b.data, "PTRLENV\0\1\0\0\0", 12);
	assert_int_equal(
	    (uint8_t)b.data[12] | ((uint8_t)b.data[13] << 8), b.len);
	buf_clear(&b);
	envelope_clear(&e);
	assert_null(e.rcpts);
	assert_int_equal(e.nrcpts, 0);
}

static void
test_round_trip_minimal(void **state)
{
	struct envelope e;
	struct buf b;

	(void)state;
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "A", 2);
	envelope_set_str(&e.sender, ""); /* <> */
	t_round_trip(&e, &b);
	buf_clear(&b);
	envelope_clear(&e);
}

/* "" and NULL are different and both survive. */
static void
test_empty_vs_null(void **state)
{
	struct envelope e, d;
	struct buf b;

	(void)state;
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "Q1", 3);
	envelope_set_str(&e.sender, "");
	envelope_set_str(&e.helo, "");
	envelope_add_rcpt(&e, "x@y", "", 0, "", false, "", NULL);
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_int_equal(envelope_decode(b.data, b.len, &d), 0);
	assert_string_equal(d.helo, "");
	assert_null(d.client_addr);
	assert_string_equal(d.rcpts[0].orcpt, "");
	assert_string_equal(d.rcpts[0].dest, "");
	assert_string_equal(d.rcpts[0].mbox_domain, "");
	assert_null(d.rcpts[0].mbox_user);
	envelope_clear(&d);
	buf_clear(&b);
	envelope_clear(&e);
}

static void
test_many_recipients(void **state)
{
	struct envelope e;
	struct buf b;
	char addr[64];
	size_t i;

	(void)state;
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "00000000000000FF", 17);
	envelope_set_str(&e.sender, "list@example.org");
	for (i = 0; i < 5000; i++) {
		struct env_rcpt *r;
		snprintf(addr, sizeof(addr), "user%zu@example.net", i);
		r = envelope_add_rcpt(&e, addr, NULL, SMTP_NOTIFY_NEVER, addr,
		    i % 2 == 0, i % 2 == 0 ? "example.net" : NULL,
		    i % 2 == 0 ? addr : NULL);
		r->attempts = (uint32_t)i;
		r->next_try = (int64_t)i * 60;
		r->state = (uint8_t)(i % 3);
	}
	assert_int_equal(e.nrcpts, 5000);
	assert_string_equal(e.rcpts[4999].rcpt, "user4999@example.net");
	t_round_trip(&e, &b);
	buf_clear(&b);
	envelope_clear(&e);
}

/* The encoder refuses what the decoder would refuse. */
static void
test_encode_limits(void **state)
{
	struct envelope e;
	struct buf b;
	char *big;

	(void)state;
	buf_init(&b, T_MAX);
	t_fill_full(&e);

	big = malloc(ENVELOPE_STR_MAX + 2);
	memset(big, 'a', ENVELOPE_STR_MAX + 1);
	big[ENVELOPE_STR_MAX + 1] = '\0';
	envelope_set_str(&e.helo, big);
	assert_int_equal(envelope_encode(&e, &b), -1);
	assert_int_equal(b.len, 0);
	big[ENVELOPE_STR_MAX] = '\0'; /* exactly the maximum is fine */
	envelope_set_str(&e.helo, big);
	assert_int_equal(envelope_encode(&e, &b), 0);
	buf_reset(&b);
	free(big);

	e.ret = 3;
	assert_int_equal(envelope_encode(&e, &b), -1);
	e.ret = SMTP_RET_NONE;
	e.body = 7;
	assert_int_equal(envelope_encode(&e, &b), -1);
	e.body = SMTP_BODY_NONE;
	e.rcpts[0].state = 3;
	assert_int_equal(envelope_encode(&e, &b), -1);
	e.rcpts[0].state = ENV_RCPT_PENDING;
	e.rcpts[0].notify = 0x10;
	assert_int_equal(envelope_encode(&e, &b), -1);
	e.rcpts[0].notify = 0;
	memcpy(e.qid, "bad/qid", 8);
	assert_int_equal(envelope_encode(&e, &b), -1);
	e.qid[0] = '\0';
	assert_int_equal(envelope_encode(&e, &b), -1);
	memcpy(e.qid, "GOODQID", 8);
	free(e.sender);
	e.sender = NULL;
	assert_int_equal(envelope_encode(&e, &b), -1);
	envelope_set_str(&e.sender, "");
	assert_int_equal(b.len, 0);
	assert_int_equal(envelope_encode(&e, &b), 0);

	/* The output buffer's own maximum is honoured, nothing appended. */
	buf_clear(&b);
	buf_init(&b, 10);
	assert_int_equal(envelope_encode(&e, &b), -1);
	assert_int_equal(b.len, 0);
	buf_clear(&b);
	envelope_clear(&e);
}

/* Appending to a non-empty buffer keeps what was there. */
static void
test_encode_appends(void **state)
{
	struct envelope e, d;
	struct buf b;

	(void)state;
	t_fill_full(&e);
	buf_init(&b, T_MAX);
	assert_int_equal(buf_puts(&b, "prefix"), 0);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_memory_equal(b.data, "prefix", 6);
	assert_int_equal(envelope_decode(b.data + 6, b.len - 6, &d), 0);
	t_assert_equal(&e, &d);
	envelope_clear(&d);
	buf_clear(&b);
	envelope_clear(&e);
}

static void
test_truncations(void **state)
{
	struct envelope e, d;
	struct buf b;
	size_t n;

	(void)state;
	t_fill_full(&e);
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	for (n = 0; n < b.len; n++) {
		/* A fresh copy of exactly n bytes, so ASan sees overreads. */
		uint8_t *p = malloc(n ? n : 1);
		memcpy(p, b.data, n);
		assert_int_equal(envelope_decode(p, n, &d), -1);
		assert_null(d.sender);
		assert_null(d.rcpts);
		free(p);
	}
	buf_clear(&b);
	envelope_clear(&e);
}

/* Trailing bytes: rejected, also with the length and checksum fixed. */
static void
test_trailing_bytes(void **state)
{
	struct envelope e, d;
	struct buf b;
	uint8_t *p;
	size_t n;

	(void)state;
	t_fill_full(&e);
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_int_equal(buf_putc(&b, 0), 0);
	assert_int_equal(envelope_decode(b.data, b.len, &d), -1);

	/* Insert a zero byte before the checksum and make it look valid. */
	n = b.len;
	p = malloc(n);
	memcpy(p, b.data, n - 5);
	p[n - 5] = 0;
	p[12] = (uint8_t)n;
	p[13] = (uint8_t)(n >> 8);
	t_fix_crc(p, n);
	assert_int_equal(envelope_decode(p, n, &d), -1);
	free(p);
	buf_clear(&b);
	envelope_clear(&e);
}

/* Every single-byte change of every byte is caught by the checksum. */
static void
test_every_byte_flip(void **state)
{
	struct envelope e, d;
	struct buf b;
	uint8_t *p;
	size_t i;
	unsigned v;

	(void)state;
	t_fill_full(&e);
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	p = malloc(b.len);
	memcpy(p, b.data, b.len);
	for (i = 0; i < b.len; i++) {
		for (v = 1; v < 256; v++) {
			p[i] ^= (uint8_t)v;
			assert_int_equal(envelope_decode(p, b.len, &d), -1);
			p[i] ^= (uint8_t)v;
		}
	}
	assert_int_equal(envelope_decode(p, b.len, &d), 0);
	envelope_clear(&d);
	free(p);
	buf_clear(&b);
	envelope_clear(&e);
}

/*
 * Every single-byte change with a valid checksum: the parser itself must
 * either reject it or accept a record that re-encodes to those very bytes
 * (the format is canonical). Exercises every length and tag check.
 */
static void
test_every_byte_change_fixed_crc(void **state)
{
	struct envelope e, d;
	struct buf b, re;
	uint8_t *p;
	size_t i, accepted = 0;
	unsigned v;

	(void)state;
	t_fill_full(&e);
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	p = malloc(b.len);
	for (i = 0; i < b.len - T_CRC; i++) {
		for (v = 0; v < 256; v++) {
			memcpy(p, b.data, b.len);
			if (p[i] == v)
				continue;
			p[i] = (uint8_t)v;
			t_fix_crc(p, b.len);
			if (envelope_decode(p, b.len, &d) < 0) {
				assert_null(d.sender);
				continue;
			}
			accepted++;
			buf_init(&re, T_MAX);
			assert_int_equal(envelope_encode(&d, &re), 0);
			assert_int_equal(re.len, b.len);
			assert_memory_equal(re.data, p, b.len);
			buf_clear(&re);
			envelope_clear(&d);
		}
	}
	/* String bytes and integers may change; structure may not. */
	assert_true(accepted > 0);
	free(p);
	buf_clear(&b);
	envelope_clear(&e);
}

/* Hand-made records with a valid checksum but invalid content. */
static void
test_strict_fields(void **state)
{
	struct envelope e, d;
	struct buf b;
	uint8_t *p;
	size_t n, off;

	(void)state;
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "ABC", 4);
	envelope_set_str(&e.sender, "s@x");
	envelope_add_rcpt(&e, "r@x", NULL, 0, NULL, false, NULL, NULL);
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	n = b.len;
	p = malloc(n);

	/* Wrong version. */
	memcpy(p, b.data, n);
	p[8] = 2;
	t_fix_crc(p, n);
	assert_int_equal(envelope_decode(p, n, &d), -1);

	/* A NUL inside the sender "s@x" (first field after QID, ARRIVAL). */
	memcpy(p, b.data, n);
	off = T_HDR + (6 + 3) + (6 + 8);
	assert_int_equal(p[off], 3); /* ENV_T_SENDER */
	p[off + 6 + 1] = '\0';
	t_fix_crc(p, n);
	assert_int_equal(envelope_decode(p, n, &d), -1);

	/* An unknown tag in place of the sender tag. */
	memcpy(p, b.data, n);
	p[off] = 0x7f;
	t_fix_crc(p, n);
	assert_int_equal(envelope_decode(p, n, &d), -1);

	/* A field out of order: ARRIVAL tag where SENDER should be. */
	memcpy(p, b.data, n);
	p[off] = 2;
	t_fix_crc(p, n);
	assert_int_equal(envelope_decode(p, n, &d), -1);

	/* A magic that differs in the NUL. */
	memcpy(p, b.data, n);
	p[7] = 'X';
	t_fix_crc(p, n);
	assert_int_equal(envelope_decode(p, n, &d), -1);

	/* Unchanged: fine. */
	memcpy(p, b.data, n);
	assert_int_equal(envelope_decode(p, n, &d), 0);
	envelope_clear(&d);

	free(p);
	buf_clear(&b);
	envelope_clear(&e);
}

/* A recipient count far above what the length allows is refused early. */
static void
test_huge_count(void **state)
{
	struct envelope e, d;
	struct buf b;
	uint8_t *p;
	size_t n, off;

	(void)state;
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "ABC", 4);
	envelope_set_str(&e.sender, "");
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	n = b.len;
	p = malloc(n);
	memcpy(p, b.data, n);
	/* The count is the last field: its value ends 4 bytes before CRC. */
	off = n - T_CRC - 4;
	assert_int_equal(p[off - 6], 13); /* ENV_T_RCPT_COUNT */
	p[off] = 0xff;
	p[off + 1] = 0xff;
	p[off + 2] = 0xff;
	p[off + 3] = 0x7f;
	t_fix_crc(p, n);
	assert_int_equal(envelope_decode(p, n, &d), -1);
	free(p);
	buf_clear(&b);
	envelope_clear(&e);
}

/*
 * The recipient fields added for outbound delivery (tags 12..15), byte by
 * byte: STATUS, REMOTE_MTA, FLAGS, LAST_TRY follow LAST_ERROR. Records
 * written before them (t_golden) still decode, as the test above shows.
 */
static const uint8_t t_golden_ext[] = {
    'P', 'T', 'R', 'L', 'E', 'N', 'V', 0,       /* magic */
    1, 0, 0, 0,                                 /* version 1 */
    198, 0, 0, 0,                               /* total length */
    1, 0, 2, 0, 0, 0, 'Q', '2',                 /* QID "Q2" */
    2, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,   /* ARRIVAL 1 */
    3, 0, 0, 0, 0, 0,                           /* SENDER "" */
    9, 0, 1, 0, 0, 0, 0,                        /* RET */
    10, 0, 1, 0, 0, 0, 0,                       /* BODY */
    11, 0, 1, 0, 0, 0, 0,                       /* SMTPUTF8 */
    12, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /* SIZE */
    13, 0, 4, 0, 0, 0, 1, 0, 0, 0,              /* RCPT_COUNT 1 */
    14, 0, 99, 0, 0, 0,                         /* RCPT group */
    1, 0, 3, 0, 0, 0, 'r', '@', 'z',            /*   RCPT */
    3, 0, 4, 0, 0, 0, 0, 0, 0, 0,               /*   NOTIFY */
    5, 0, 1, 0, 0, 0, 0,                        /*   LOCAL */
    8, 0, 1, 0, 0, 0, 0,                        /*   STATE */
    9, 0, 4, 0, 0, 0, 1, 0, 0, 0,               /*   ATTEMPTS */
    10, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  /*   NEXT_TRY */
    12, 0, 5, 0, 0, 0, '4', '.', '4', '.', '1', /*   STATUS */
    13, 0, 1, 0, 0, 0, 'm',                     /*   REMOTE_MTA */
    14, 0, 4, 0, 0, 0, 0x0a, 0, 0, 0,           /*   FLAGS */
    15, 0, 8, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,  /*   LAST_TRY 2 */
    0, 0, 0, 0,                                 /* CRC-32C (computed) */
};

/* Offset of the first byte of recipient tag tag in an encoded record. */
static size_t
t_find_rtag(const uint8_t *p, size_t n, uint8_t tag, size_t vlen)
{
	size_t i;

	for (i = T_HDR; i + 6 + vlen <= n - T_CRC; i++)
		if (p[i] == tag && p[i + 1] == 0 && p[i + 2] == vlen &&
		    p[i + 3] == 0 && p[i + 4] == 0 && p[i + 5] == 0)
			return i;
	fail_msg("tag %u not found", tag);
	return 0;
}

static void
test_golden_ext(void **state)
{
	struct envelope e, d;
	struct env_rcpt *r;
	struct buf b;
	uint8_t g[sizeof(t_golden_ext)];

	(void)state;
	memcpy(g, t_golden_ext, sizeof(g));
	t_fix_crc(g, sizeof(g));
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "Q2", 3);
	e.arrival = 1;
	envelope_set_str(&e.sender, "");
	r = envelope_add_rcpt(&e, "r@z", NULL, 0, NULL, false, NULL, NULL);
	r->attempts = 1;
	envelope_set_str(&r->status, "4.4.1");
	envelope_set_str(&r->remote_mta, "m");
	r->flags = ENV_RF_DSN_DELAY_SENT | ENV_RF_RELAYED;
	r->last_try = 2;
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), 0);
	assert_int_equal(b.len, sizeof(g));
	assert_memory_equal(b.data, g, sizeof(g));
	assert_int_equal(envelope_decode(g, sizeof(g), &d), 0);
	t_assert_equal(&e, &d);
	envelope_clear(&d);
	buf_clear(&b);
	envelope_clear(&e);
}

/*
 * FLAGS and LAST_TRY are written only when non-zero, so a present zero is
 * not canonical and is refused; unknown flag bits are refused both ways.
 */
static void
test_ext_strict(void **state)
{
	struct envelope d;
	uint8_t g[sizeof(t_golden_ext)];
	size_t off;

	(void)state;
	memcpy(g, t_golden_ext, sizeof(g));
	t_fix_crc(g, sizeof(g));
	assert_int_equal(envelope_decode(g, sizeof(g), &d), 0);
	envelope_clear(&d);

	off = t_find_rtag(g, sizeof(g), 14, 4); /* FLAGS */
	g[off + 6] = 0;
	t_fix_crc(g, sizeof(g));
	assert_int_equal(envelope_decode(g, sizeof(g), &d), -1);
	g[off + 6] = 0x40; /* unknown bit */
	t_fix_crc(g, sizeof(g));
	assert_int_equal(envelope_decode(g, sizeof(g), &d), -1);
	g[off + 6] = 0x3f; /* every known bit */
	t_fix_crc(g, sizeof(g));
	assert_int_equal(envelope_decode(g, sizeof(g), &d), 0);
	assert_int_equal(d.rcpts[0].flags, ENV_RF_MASK);
	envelope_clear(&d);

	memcpy(g, t_golden_ext, sizeof(g));
	off = t_find_rtag(g, sizeof(g), 15, 8); /* LAST_TRY */
	g[off + 6] = 0;
	t_fix_crc(g, sizeof(g));
	assert_int_equal(envelope_decode(g, sizeof(g), &d), -1);

	/* Tags after LAST_TRY are unknown. */
	memcpy(g, t_golden_ext, sizeof(g));
	g[off] = 16;
	t_fix_crc(g, sizeof(g));
	assert_int_equal(envelope_decode(g, sizeof(g), &d), -1);
}

static void
test_ext_encode_refuses_bad_flags(void **state)
{
	struct envelope e;
	struct buf b;

	(void)state;
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "Q3", 3);
	envelope_set_str(&e.sender, "");
	envelope_add_rcpt(&e, "r@z", NULL, 0, NULL, false, NULL, NULL);
	e.rcpts[0].flags = 0x80;
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&e, &b), -1);
	e.rcpts[0].flags = 0;
	assert_int_equal(envelope_encode(&e, &b), 0);
	buf_clear(&b);
	envelope_clear(&e);
}

/*
 * REQUIRETLS (RFC 8689), the first field after the recipient groups (tag
 * 15, u8 1, absent when false): t_golden with it appended, byte by byte.
 */
static void
t_golden_requiretls(uint8_t *g, size_t *n_out)
{
	size_t n = sizeof(t_golden) - T_CRC;
	static const uint8_t tlv[] = {15, 0, 1, 0, 0, 0, 1};

	memcpy(g, t_golden, n);
	memcpy(g + n, tlv, sizeof(tlv));
	n += sizeof(tlv) + T_CRC;
	g[12] = (uint8_t)n;
	g[13] = (uint8_t)(n >> 8);
	t_fix_crc(g, n);
	*n_out = n;
}

static void
test_requiretls(void **state)
{
	uint8_t g[sizeof(t_golden) + 16];
	struct envelope e, d;
	struct buf b;
	size_t n;

	(void)state;
	t_golden_requiretls(g, &n);
	assert_int_equal(n, sizeof(t_golden) + 7);
	assert_int_equal(envelope_decode(g, n, &d), 0);
	assert_true(d.requiretls);
	assert_string_equal(d.qid, "Q1");
	assert_int_equal(d.nrcpts, 1);
	assert_string_equal(d.rcpts[0].rcpt, "r@y");
	/* It re-encodes to exactly those bytes; without it, to t_golden. */
	buf_init(&b, T_MAX);
	assert_int_equal(envelope_encode(&d, &b), 0);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, g, n);
	d.requiretls = false;
	buf_reset(&b);
	assert_int_equal(envelope_encode(&d, &b), 0);
	assert_int_equal(b.len, sizeof(t_golden));
	assert_memory_equal(b.data, t_golden, sizeof(t_golden));
	envelope_clear(&d);
	buf_clear(&b);

	/* Records written before the field existed read as false. */
	assert_int_equal(envelope_decode(t_golden, sizeof(t_golden), &d), 0);
	assert_false(d.requiretls);
	envelope_clear(&d);

	/* With no recipients it directly follows RCPT_COUNT. */
	memset(&e, 0, sizeof(e));
	memcpy(e.qid, "Q4", 3);
	envelope_set_str(&e.sender, "");
	e.requiretls = true;
	t_round_trip(&e, &b);
	assert_int_equal(b.len, (size_t)T_HDR + 8 + 14 + 6 + 7 * 3 + 14 + 10 + 7 +
	    T_CRC);
	assert_memory_equal(b.data + b.len - T_CRC - 7,
	    "\x0f\x00\x01\x00\x00\x00\x01", 7);
	buf_clear(&b);
	envelope_clear(&e);
}

/* Only the canonical form of REQUIRETLS decodes. */
static void
test_requiretls_strict(void **state)
{
	uint8_t g[sizeof(t_golden) + 32], h[sizeof(t_golden) + 32];
	struct envelope d;
	size_t n, at, m;

	(void)state;
	t_golden_requiretls(g, &n);
	at = n - T_CRC - 7; /* the TLV */
	/* Value 0 (absence is the encoding of false) and 2. */
	g[at + 6] = 0;
	t_fix_crc(g, n);
	assert_int_equal(envelope_decode(g, n, &d), -1);
	g[at + 6] = 2;
	t_fix_crc(g, n);
	assert_int_equal(envelope_decode(g, n, &d), -1);
	/* An unknown tag after it, or in its place. */
	t_golden_requiretls(g, &n);
	g[at] = 16;
	t_fix_crc(g, n);
	assert_int_equal(envelope_decode(g, n, &d), -1);
	g[at] = 14; /* a RCPT group beyond RCPT_COUNT */
	t_fix_crc(g, n);
	assert_int_equal(envelope_decode(g, n, &d), -1);

	/* Twice. */
	t_golden_requiretls(g, &n);
	memcpy(h, g, n - T_CRC);
	memcpy(h + n - T_CRC, g + at, 7);
	m = n + 7;
	h[12] = (uint8_t)m;
	h[13] = (uint8_t)(m >> 8);
	t_fix_crc(h, m);
	assert_int_equal(envelope_decode(h, m, &d), -1);

	/* Two bytes long. */
	memcpy(h, g, at);
	memcpy(h + at, "\x0f\x00\x02\x00\x00\x00\x01\x00", 8);
	m = at + 8 + T_CRC;
	h[12] = (uint8_t)m;
	h[13] = (uint8_t)(m >> 8);
	t_fix_crc(h, m);
	assert_int_equal(envelope_decode(h, m, &d), -1);

	/* Among the envelope fields, before RCPT_COUNT: out of order. */
	memcpy(h, t_golden, 16 + 8 + 14 + 9 + 21 + 14);
	m = 16 + 8 + 14 + 9 + 21 + 14; /* up to SIZE */
	memcpy(h + m, "\x0f\x00\x01\x00\x00\x00\x01", 7);
	memcpy(h + m + 7, t_golden + m, sizeof(t_golden) - m);
	m = sizeof(t_golden) + 7;
	h[12] = (uint8_t)m;
	h[13] = (uint8_t)(m >> 8);
	t_fix_crc(h, m);
	assert_int_equal(envelope_decode(h, m, &d), -1);
}

/* envelope_copy_rcpt copies every field, deeply. */
static void
test_copy_rcpt(void **state)
{
	struct envelope e, c;
	size_t i;

	(void)state;
	t_fill_full(&e);
	memset(&c, 0, sizeof(c));
	memcpy(c.qid, e.qid, sizeof(c.qid));
	c.arrival = e.arrival;
	envelope_set_str(&c.sender, e.sender);
	envelope_set_str(&c.helo, e.helo);
	envelope_set_str(&c.client_addr, e.client_addr);
	envelope_set_str(&c.client_name, e.client_name);
	envelope_set_str(&c.protocol, e.protocol);
	envelope_set_str(&c.envid, e.envid);
	c.ret = e.ret;
	c.body = e.body;
	c.smtputf8 = e.smtputf8;
	c.requiretls = e.requiretls;
	c.size = e.size;
	for (i = 0; i < e.nrcpts; i++)
		envelope_copy_rcpt(&c, &e.rcpts[i]);
	t_assert_equal(&e, &c);
	assert_ptr_not_equal(c.rcpts[0].status, e.rcpts[0].status);
	envelope_clear(&e);
	envelope_clear(&c);
}

static void
test_set_str(void **state)
{
	char *s = NULL;

	(void)state;
	envelope_set_str(&s, "one");
	assert_string_equal(s, "one");
	envelope_set_str(&s, "two");
	assert_string_equal(s, "two");
	envelope_set_str(&s, NULL);
	assert_null(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),
	    cmocka_unit_test(test_round_trip_full),
	    cmocka_unit_test(test_round_trip_minimal),
	    cmocka_unit_test(test_empty_vs_null),
	    cmocka_unit_test(test_many_recipients),
	    cmocka_unit_test(test_encode_limits),
	    cmocka_unit_test(test_encode_appends),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_trailing_bytes),
	    cmocka_unit_test(test_every_byte_flip),
	    cmocka_unit_test(test_every_byte_change_fixed_crc),
	    cmocka_unit_test(test_strict_fields),
	    cmocka_unit_test(test_huge_count),
	    cmocka_unit_test(test_set_str),
	    cmocka_unit_test(test_golden_ext),
	    cmocka_unit_test(test_ext_strict),
	    cmocka_unit_test(test_ext_encode_refuses_bad_flags),
	    cmocka_unit_test(test_copy_rcpt),
	    cmocka_unit_test(test_requiretls),
	    cmocka_unit_test(test_requiretls_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
