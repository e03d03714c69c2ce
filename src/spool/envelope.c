/*
 * envelope: encoding and strict decoding of the envelope record (the format
 * is described byte by byte in docs/queue.md).
 *
 * The record is canonical: the encoder writes every field in one fixed
 * order with fixed-size integers, and the decoder accepts nothing else
 * (tags strictly ascending, each at most once, required ones present,
 * booleans 0 or 1, enums in range, no trailing bytes). So a record that
 * decodes re-encodes to exactly the same bytes, which the fuzz target
 * checks. Integers are little-endian and are read and written byte by byte;
 * the decoder never casts the input to a struct and never loads unaligned.
 *
 * Limits: ENVELOPE_MAX bytes per record, ENVELOPE_STR_MAX bytes per string,
 * ENVELOPE_RCPT_MAX recipients. The encoder refuses what the decoder would
 * refuse, so every record we write can be read back.
 */
#include "spool/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"
#include "proto/smtp_param.h"

/* At most this many recipients in one record (also bounded by length). */
#define ENVELOPE_RCPT_MAX 100000

#define ENV_MAGIC_LEN 8
#define ENV_HDR_LEN   16 /* magic, version, total length */
#define ENV_CRC_LEN   4
#define ENV_TLV_HDR   6  /* u16 tag, u32 length */
#define ENV_QID_MAX   31 /* struct envelope's qid[32] less the NUL */

_Static_assert(sizeof(((struct envelope *)0)->qid) == ENV_QID_MAX + 1,
    "ENV_QID_MAX matches struct envelope");

/* Envelope field tags, in the order they must appear. */
enum env_tag {
	ENV_T_QID = 1,         /* string, 1..31 of [0-9A-Za-z], required */
	ENV_T_ARRIVAL = 2,     /* i64, required */
	ENV_T_SENDER = 3,      /* string, required ("" for <>) */
	ENV_T_HELO = 4,        /* string, optional */
	ENV_T_CLIENT_ADDR = 5, /* string, optional */
	ENV_T_CLIENT_NAME = 6, /* string, optional */
	ENV_T_PROTOCOL = 7,    /* string, optional */
	ENV_T_ENVID = 8,       /* string, optional */
	ENV_T_RET = 9,         /* u8 enum smtp_ret, required */
	ENV_T_BODY = 10,       /* u8 enum smtp_body, required */
	ENV_T_SMTPUTF8 = 11,   /* u8 0/1, required */
	ENV_T_SIZE = 12,       /* u64, required */
	ENV_T_RCPT_COUNT = 13, /* u32, required, ends the envelope fields */
	ENV_T_RCPT = 14,       /* one recipient group, repeated count times */
	/*
	 * Fields added later follow the recipient groups, tags ascending,
	 * each optional and written only when it differs from its default:
	 * a record without them (every record written before they existed)
	 * still decodes, and re-encodes to the same bytes.
	 */
	ENV_T_REQUIRETLS = 15, /* u8 1, optional, absent when false */
	ENV_T_LAST = ENV_T_REQUIRETLS,
};

/* Recipient field tags, inside one ENV_T_RCPT group, in order. */
enum env_rtag {
	ENV_R_RCPT = 1,        /* string, 1.. bytes, required */
	ENV_R_ORCPT = 2,       /* string, optional */
	ENV_R_NOTIFY = 3,      /* u32 SMTP_NOTIFY_* bits, required */
	ENV_R_DEST = 4,        /* string, optional */
	ENV_R_LOCAL = 5,       /* u8 0/1, required */
	ENV_R_MBOX_DOMAIN = 6, /* string, optional */
	ENV_R_MBOX_USER = 7,   /* string, optional */
	ENV_R_STATE = 8,       /* u8 enum env_rcpt_state, required */
	ENV_R_ATTEMPTS = 9,    /* u32, required */
	ENV_R_NEXT_TRY = 10,   /* i64, required */
	ENV_R_LAST_ERROR = 11, /* string, optional */
	/* Added for outbound delivery; records without them still decode. */
	ENV_R_STATUS = 12,     /* string, optional */
	ENV_R_REMOTE_MTA = 13, /* string, optional */
	ENV_R_FLAGS = 14,      /* u32 ENV_RF_* bits, optional, absent if 0 */
	ENV_R_LAST_TRY = 15,   /* i64, optional, absent if 0 */
	ENV_R_LAST = ENV_R_LAST_TRY,
};

#define ENV_REQUIRED                                                           \
	((1u << ENV_T_QID) | (1u << ENV_T_ARRIVAL) | (1u << ENV_T_SENDER) |    \
	    (1u << ENV_T_RET) | (1u << ENV_T_BODY) | (1u << ENV_T_SMTPUTF8) |  \
	    (1u << ENV_T_SIZE))
#define ENV_R_REQUIRED                                                         \
	((1u << ENV_R_RCPT) | (1u << ENV_R_NOTIFY) | (1u << ENV_R_LOCAL) |     \
	    (1u << ENV_R_STATE) | (1u << ENV_R_ATTEMPTS) |                     \
	    (1u << ENV_R_NEXT_TRY))

#define ENV_NOTIFY_MASK                                                        \
	(SMTP_NOTIFY_NEVER | SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE |       \
	    SMTP_NOTIFY_DELAY)

/* The smallest possible recipient group: its header and six required
 * fields, each at least a TLV header. Bounds the count by the length. */
#define ENV_RCPT_MIN_LEN ((size_t)ENV_TLV_HDR * 7)

/* ENVELOPE_MAX as a size_t (the header's constant is an unsigned int). */
#define ENV_MAX ((size_t)ENVELOPE_MAX)

static const uint8_t envelope_magic[ENV_MAGIC_LEN] = {
    'P', 'T', 'R', 'L', 'E', 'N', 'V', '\0'};

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as in iSCSI and
 * ext4; table generated from the polynomial. */
/* clang-format off */
static const uint32_t envelope_crc_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
	0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
	0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
	0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
	0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
	0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
	0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
	0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
	0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
	0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
	0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
	0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
	0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
	0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
	0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
	0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
	0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
	0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
	0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};
/* clang-format on */

/* CRC-32C of n bytes at p (initial value and final xor all ones). */
static uint32_t
envelope_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	while (n-- > 0)
		c = envelope_crc_table[(c ^ *p++) & 0xffu] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static uint16_t
envelope_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
envelope_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static void
envelope_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* True if s is a queue ID we can store: 1..31 of [0-9A-Za-z]. */
static bool
envelope_qid_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > ENV_QID_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
			(c >= 'a' && c <= 'z')))
			return false;
	}
	return true;
}

/* ---- encoding ---- */

/*
 * The encoder appends to a private buffer limited to ENVELOPE_MAX; every
 * append can fail on that limit, so the helpers keep a sticky error and
 * the caller checks once at the end.
 */
struct envelope_enc {
	struct buf b;
	int err;
};

static void
envelope_enc_raw(struct envelope_enc *w, const void *p, size_t n)
{
	if (w->err == 0 && buf_append(&w->b, p, n) < 0)
		w->err = -1;
}

static void
envelope_enc_hdr(struct envelope_enc *w, uint16_t tag, uint32_t len)
{
	uint8_t h[ENV_TLV_HDR];

	h[0] = (uint8_t)tag;
	h[1] = (uint8_t)(tag >> 8);
	envelope_put32(h + 2, len);
	envelope_enc_raw(w, h, sizeof(h));
}

/* Writes an unsigned integer field of n (1, 4 or 8) bytes. */
static void
envelope_enc_uint(struct envelope_enc *w, uint16_t tag, uint64_t v, size_t n)
{
	uint8_t b[8];
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	envelope_enc_hdr(w, tag, (uint32_t)n);
	envelope_enc_raw(w, b, n);
}

/* Writes a string field; NULL means absent and writes nothing. */
static void
envelope_enc_str(struct envelope_enc *w, uint16_t tag, const char *s)
{
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	if (n > ENVELOPE_STR_MAX) {
		w->err = -1;
		return;
	}
	envelope_enc_hdr(w, tag, (uint32_t)n);
	envelope_enc_raw(w, s, n);
}

/* Writes one recipient group; its length is patched in afterwards. */
static void
envelope_enc_rcpt(struct envelope_enc *w, const struct env_rcpt *r)
{
	size_t start = w->b.len;

	if (r->rcpt == NULL || r->rcpt[0] == '\0' ||
	    (r->notify & ~(unsigned)ENV_NOTIFY_MASK) != 0 ||
	    r->state > ENV_RCPT_FAILED || (r->flags & ~ENV_RF_MASK) != 0) {
		w->err = -1;
		return;
	}
	envelope_enc_hdr(w, ENV_T_RCPT, 0);
	envelope_enc_str(w, ENV_R_RCPT, r->rcpt);
	envelope_enc_str(w, ENV_R_ORCPT, r->orcpt);
	envelope_enc_uint(w, ENV_R_NOTIFY, r->notify, 4);
	envelope_enc_str(w, ENV_R_DEST, r->dest);
	envelope_enc_uint(w, ENV_R_LOCAL, r->local ? 1 : 0, 1);
	envelope_enc_str(w, ENV_R_MBOX_DOMAIN, r->mbox_domain);
	envelope_enc_str(w, ENV_R_MBOX_USER, r->mbox_user);
	envelope_enc_uint(w, ENV_R_STATE, r->state, 1);
	envelope_enc_uint(w, ENV_R_ATTEMPTS, r->attempts, 4);
	envelope_enc_uint(w, ENV_R_NEXT_TRY, (uint64_t)r->next_try, 8);
	envelope_enc_str(w, ENV_R_LAST_ERROR, r->last_error);
	envelope_enc_str(w, ENV_R_STATUS, r->status);
	envelope_enc_str(w, ENV_R_REMOTE_MTA, r->remote_mta);
	/* Zero is written as absence, so each value has one encoding. */
	if (r->flags != 0)
		envelope_enc_uint(w, ENV_R_FLAGS, r->flags, 4);
	if (r->last_try != 0)
		envelope_enc_uint(w, ENV_R_LAST_TRY, (uint64_t)r->last_try, 8);
	if (w->err == 0)
		envelope_put32((uint8_t *)w->b.data + start + 2,
		    (uint32_t)(w->b.len - start - ENV_TLV_HDR));
}

int
envelope_encode(const struct envelope *e, struct buf *out)
{
	struct envelope_enc w;
	uint8_t hdr[ENV_HDR_LEN], crc[ENV_CRC_LEN];
	size_t qlen, i;
	int r = -1;

	qlen = strnlen(e->qid, sizeof(e->qid));
	if (!envelope_qid_ok(e->qid, qlen) || e->sender == NULL ||
	    e->ret > SMTP_RET_HDRS || e->body > SMTP_BODY_8BITMIME ||
	    e->nrcpts > ENVELOPE_RCPT_MAX)
		return -1;

	buf_init(&w.b, ENV_MAX);
	w.err = 0;
	memcpy(hdr, envelope_magic, ENV_MAGIC_LEN);
	envelope_put32(hdr + 8, ENVELOPE_VERSION);
	envelope_put32(hdr + 12, 0); /* total length, patched below */
	envelope_enc_raw(&w, hdr, sizeof(hdr));

	envelope_enc_hdr(&w, ENV_T_QID, (uint32_t)qlen);
	envelope_enc_raw(&w, e->qid, qlen);
	envelope_enc_uint(&w, ENV_T_ARRIVAL, (uint64_t)e->arrival, 8);
	envelope_enc_str(&w, ENV_T_SENDER, e->sender);
	envelope_enc_str(&w, ENV_T_HELO, e->helo);
	envelope_enc_str(&w, ENV_T_CLIENT_ADDR, e->client_addr);
	envelope_enc_str(&w, ENV_T_CLIENT_NAME, e->client_name);
	envelope_enc_str(&w, ENV_T_PROTOCOL, e->protocol);
	envelope_enc_str(&w, ENV_T_ENVID, e->envid);
	envelope_enc_uint(&w, ENV_T_RET, e->ret, 1);
	envelope_enc_uint(&w, ENV_T_BODY, e->body, 1);
	envelope_enc_uint(&w, ENV_T_SMTPUTF8, e->smtputf8 ? 1 : 0, 1);
	envelope_enc_uint(&w, ENV_T_SIZE, e->size, 8);
	envelope_enc_uint(&w, ENV_T_RCPT_COUNT, e->nrcpts, 4);
	for (i = 0; i < e->nrcpts && w.err == 0; i++)
		envelope_enc_rcpt(&w, &e->rcpts[i]);
	if (e->requiretls)
		envelope_enc_uint(&w, ENV_T_REQUIRETLS, 1, 1);

	/* Room for the checksum must remain within ENVELOPE_MAX. */
	if (w.err != 0 || w.b.len > ENV_MAX - ENV_CRC_LEN)
		goto out;
	envelope_put32(
	    (uint8_t *)w.b.data + 12, (uint32_t)(w.b.len + ENV_CRC_LEN));
	envelope_put32(
	    crc, envelope_crc32c((const uint8_t *)w.b.data, w.b.len));
	envelope_enc_raw(&w, crc, sizeof(crc));
	if (w.err == 0 && buf_append(out, w.b.data, w.b.len) == 0)
		r = 0;
out:
	buf_clear(&w.b);
	return r;
}

/* ---- decoding ---- */

/* A cursor over the bytes still to be decoded. */
struct envelope_dec {
	const uint8_t *p;
	size_t n;
};

/*
 * Takes one TLV off d: its tag and its value as a sub-cursor. -1 when the
 * header or the value would run past the end.
 */
static int
envelope_dec_tlv(
    struct envelope_dec *d, uint16_t *tag_out, struct envelope_dec *val_out)
{
	uint32_t len;

	*tag_out = 0;
	val_out->p = NULL;
	val_out->n = 0;
	if (d->n < ENV_TLV_HDR)
		return -1;
	*tag_out = envelope_get16(d->p);
	len = envelope_get32(d->p + 2);
	if (len > d->n - ENV_TLV_HDR)
		return -1;
	val_out->p = d->p + ENV_TLV_HDR;
	val_out->n = len;
	d->p += ENV_TLV_HDR + (size_t)len;
	d->n -= ENV_TLV_HDR + (size_t)len;
	return 0;
}

/* Reads an unsigned integer value that must be exactly n bytes. */
static int
envelope_dec_uint(const struct envelope_dec *v, size_t n, uint64_t *out)
{
	size_t i;

	*out = 0;
	if (v->n != n)
		return -1;
	for (i = 0; i < n; i++)
		*out |= (uint64_t)v->p[i] << (8 * i);
	return 0;
}

/* Reads a boolean: one byte, 0 or 1. */
static int
envelope_dec_bool(const struct envelope_dec *v, bool *out)
{
	uint64_t x;

	*out = false;
	if (envelope_dec_uint(v, 1, &x) < 0 || x > 1)
		return -1;
	*out = x == 1;
	return 0;
}

/* Copies a string value: at most ENVELOPE_STR_MAX bytes, no NUL. */
static int
envelope_dec_str(const struct envelope_dec *v, char **out)
{
	char *s;

	if (v->n > ENVELOPE_STR_MAX || memchr(v->p, '\0', v->n) != NULL)
		return -1;
	s = xmalloc(v->n + 1);
	if (v->n > 0)
		memcpy(s, v->p, v->n);
	s[v->n] = '\0';
	free(*out); /* NULL: tags are unique */
	*out = s;
	return 0;
}

/* Decodes the fields of one recipient group into r. */
static int
envelope_dec_rcpt(struct envelope_dec *g, struct env_rcpt *r)
{
	struct envelope_dec v;
	uint16_t tag;
	uint32_t seen = 0;
	uint64_t x;
	int last = 0;

	while (g->n > 0) {
		if (envelope_dec_tlv(g, &tag, &v) < 0 || tag <= last ||
		    tag > ENV_R_LAST)
			return -1;
		last = tag;
		seen |= 1u << tag;
		switch (tag) {
		case ENV_R_RCPT:
			if (v.n == 0 || envelope_dec_str(&v, &r->rcpt) < 0)
				return -1;
			break;
		case ENV_R_ORCPT:
			if (envelope_dec_str(&v, &r->orcpt) < 0)
				return -1;
			break;
		case ENV_R_NOTIFY:
			if (envelope_dec_uint(&v, 4, &x) < 0 ||
			    (x & ~(uint64_t)ENV_NOTIFY_MASK) != 0)
				return -1;
			r->notify = (unsigned)x;
			break;
		case ENV_R_DEST:
			if (envelope_dec_str(&v, &r->dest) < 0)
				return -1;
			break;
		case ENV_R_LOCAL:
			if (envelope_dec_bool(&v, &r->local) < 0)
				return -1;
			break;
		case ENV_R_MBOX_DOMAIN:
			if (envelope_dec_str(&v, &r->mbox_domain) < 0)
				return -1;
			break;
		case ENV_R_MBOX_USER:
			if (envelope_dec_str(&v, &r->mbox_user) < 0)
				return -1;
			break;
		case ENV_R_STATE:
			if (envelope_dec_uint(&v, 1, &x) < 0 ||
			    x > ENV_RCPT_FAILED)
				return -1;
			r->state = (uint8_t)x;
			break;
		case ENV_R_ATTEMPTS:
			if (envelope_dec_uint(&v, 4, &x) < 0)
				return -1;
			r->attempts = (uint32_t)x;
			break;
		case ENV_R_NEXT_TRY:
			if (envelope_dec_uint(&v, 8, &x) < 0)
				return -1;
			r->next_try = (int64_t)x;
			break;
		case ENV_R_LAST_ERROR:
			if (envelope_dec_str(&v, &r->last_error) < 0)
				return -1;
			break;
		case ENV_R_STATUS:
			if (envelope_dec_str(&v, &r->status) < 0)
				return -1;
			break;
		case ENV_R_REMOTE_MTA:
			if (envelope_dec_str(&v, &r->remote_mta) < 0)
				return -1;
			break;
		case ENV_R_FLAGS:
			/* Present means non-zero (canonical form). */
			if (envelope_dec_uint(&v, 4, &x) < 0 || x == 0 ||
			    (x & ~(uint64_t)ENV_RF_MASK) != 0)
				return -1;
			r->flags = (uint32_t)x;
			break;
		case ENV_R_LAST_TRY:
			if (envelope_dec_uint(&v, 8, &x) < 0 || x == 0)
				return -1;
			r->last_try = (int64_t)x;
			break;
		default:
			return -1;
		}
	}
	return (seen & ENV_R_REQUIRED) == ENV_R_REQUIRED ? 0 : -1;
}

/* Size of the rcpts array for n recipients (see envelope_add_rcpt). */
static size_t
envelope_rcpt_cap(size_t n)
{
	size_t cap = 4;

	while (cap < n)
		cap *= 2;
	return cap;
}

/* Decodes the fields after the header; e is zeroed and owns what it gets. */
static int
envelope_dec_body(struct envelope_dec *d, struct envelope *e)
{
	struct envelope_dec v;
	uint16_t tag;
	uint32_t seen = 0;
	uint64_t x, count;
	size_t i;
	int last = 0;

	for (;;) {
		if (envelope_dec_tlv(d, &tag, &v) < 0 || tag <= last ||
		    tag > ENV_T_RCPT_COUNT)
			return -1;
		last = tag;
		seen |= 1u << tag;
		if (tag == ENV_T_RCPT_COUNT)
			break;
		switch (tag) {
		case ENV_T_QID:
			if (!envelope_qid_ok((const char *)v.p, v.n))
				return -1;
			memcpy(e->qid, v.p, v.n);
			e->qid[v.n] = '\0';
			break;
		case ENV_T_ARRIVAL:
			if (envelope_dec_uint(&v, 8, &x) < 0)
				return -1;
			e->arrival = (int64_t)x;
			break;
		case ENV_T_SENDER:
			if (envelope_dec_str(&v, &e->sender) < 0)
				return -1;
			break;
		case ENV_T_HELO:
			if (envelope_dec_str(&v, &e->helo) < 0)
				return -1;
			break;
		case ENV_T_CLIENT_ADDR:
			if (envelope_dec_str(&v, &e->client_addr) < 0)
				return -1;
			break;
		case ENV_T_CLIENT_NAME:
			if (envelope_dec_str(&v, &e->client_name) < 0)
				return -1;
			break;
		case ENV_T_PROTOCOL:
			if (envelope_dec_str(&v, &e->protocol) < 0)
				return -1;
			break;
		case ENV_T_ENVID:
			if (envelope_dec_str(&v, &e->envid) < 0)
				return -1;
			break;
		case ENV_T_RET:
			if (envelope_dec_uint(&v, 1, &x) < 0 ||
			    x > SMTP_RET_HDRS)
				return -1;
			e->ret = (uint8_t)x;
			break;
		case ENV_T_BODY:
			if (envelope_dec_uint(&v, 1, &x) < 0 ||
			    x > SMTP_BODY_8BITMIME)
				return -1;
			e->body = (uint8_t)x;
			break;
		case ENV_T_SMTPUTF8:
			if (envelope_dec_bool(&v, &e->smtputf8) < 0)
				return -1;
			break;
		case ENV_T_SIZE:
			if (envelope_dec_uint(&v, 8, &e->size) < 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	if ((seen & ENV_REQUIRED) != ENV_REQUIRED ||
	    envelope_dec_uint(&v, 4, &count) < 0 || count > ENVELOPE_RCPT_MAX ||
	    count > d->n / ENV_RCPT_MIN_LEN)
		return -1;
	if (count > 0)
		e->rcpts = xcalloc(
		    envelope_rcpt_cap((size_t)count), sizeof(*e->rcpts));
	for (i = 0; i < count; i++) {
		/* Count it first so that envelope_clear frees a partial one. */
		e->nrcpts++;
		if (envelope_dec_tlv(d, &tag, &v) < 0 || tag != ENV_T_RCPT ||
		    envelope_dec_rcpt(&v, &e->rcpts[i]) < 0)
			return -1;
	}
	/* The fields that follow the recipients (see enum env_tag). */
	last = ENV_T_RCPT;
	while (d->n > 0) {
		if (envelope_dec_tlv(d, &tag, &v) < 0 || tag <= last ||
		    tag > ENV_T_LAST)
			return -1;
		last = tag;
		switch (tag) {
		case ENV_T_REQUIRETLS:
			/* Present means true (canonical form). */
			if (envelope_dec_uint(&v, 1, &x) < 0 || x != 1)
				return -1;
			e->requiretls = true;
			break;
		default:
			return -1;
		}
	}
	return 0;
}

int
envelope_decode(const void *p, size_t len, struct envelope *e)
{
	const uint8_t *b = p;
	struct envelope_dec d;

	memset(e, 0, sizeof(*e));
	if (len < ENV_HDR_LEN + ENV_CRC_LEN || len > ENV_MAX ||
	    memcmp(b, envelope_magic, ENV_MAGIC_LEN) != 0 ||
	    envelope_get32(b + 8) != ENVELOPE_VERSION ||
	    envelope_get32(b + 12) != len ||
	    envelope_get32(b + len - ENV_CRC_LEN) !=
		envelope_crc32c(b, len - ENV_CRC_LEN))
		return -1;
	d.p = b + ENV_HDR_LEN;
	d.n = len - ENV_HDR_LEN - ENV_CRC_LEN;
	if (envelope_dec_body(&d, e) < 0) {
		envelope_clear(e);
		return -1;
	}
	return 0;
}

/* ---- building and freeing ---- */

void
envelope_set_str(char **field, const char *s)
{
	char *n = s != NULL ? xstrdup(s) : NULL;

	free(*field);
	*field = n;
}

/*
 * The rcpts array grows by doubling: its capacity is always at least
 * envelope_rcpt_cap(nrcpts), so a new slot is needed only when nrcpts is a
 * power of two of 4 or more. envelope_decode allocates the same way.
 */
struct env_rcpt *
envelope_add_rcpt(struct envelope *e, const char *rcpt, const char *orcpt,
    unsigned notify, const char *dest, bool local, const char *mbox_domain,
    const char *mbox_user)
{
	struct env_rcpt *r;
	size_t n = e->nrcpts;

	if (n == 0 || (n >= 4 && (n & (n - 1)) == 0))
		e->rcpts = xreallocarray(
		    e->rcpts, envelope_rcpt_cap(n + 1), sizeof(*e->rcpts));
	r = &e->rcpts[n];
	memset(r, 0, sizeof(*r));
	envelope_set_str(&r->rcpt, rcpt);
	envelope_set_str(&r->orcpt, orcpt);
	r->notify = notify;
	envelope_set_str(&r->dest, dest);
	r->local = local;
	envelope_set_str(&r->mbox_domain, mbox_domain);
	envelope_set_str(&r->mbox_user, mbox_user);
	r->state = ENV_RCPT_PENDING;
	e->nrcpts = n + 1;
	return r;
}

struct env_rcpt *
envelope_copy_rcpt(struct envelope *e, const struct env_rcpt *r)
{
	struct env_rcpt *n = envelope_add_rcpt(e, r->rcpt, r->orcpt,
	    r->notify, r->dest, r->local, r->mbox_domain, r->mbox_user);

	n->state = r->state;
	n->attempts = r->attempts;
	n->next_try = r->next_try;
	envelope_set_str(&n->last_error, r->last_error);
	envelope_set_str(&n->status, r->status);
	envelope_set_str(&n->remote_mta, r->remote_mta);
	n->flags = r->flags;
	n->last_try = r->last_try;
	return n;
}

void
envelope_clear(struct envelope *e)
{
	size_t i;

	for (i = 0; i < e->nrcpts; i++) {
		struct env_rcpt *r = &e->rcpts[i];
		free(r->rcpt);
		free(r->orcpt);
		free(r->dest);
		free(r->mbox_domain);
		free(r->mbox_user);
		free(r->last_error);
		free(r->status);
		free(r->remote_mta);
	}
	free(e->rcpts);
	free(e->sender);
	free(e->helo);
	free(e->client_addr);
	free(e->client_name);
	free(e->protocol);
	free(e->envid);
	memset(e, 0, sizeof(*e));
}
