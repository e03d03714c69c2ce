/*
 * fuzz_dsn: composes delivery status notifications from arbitrary
 * envelope values and checks what dsn.h promises for every output: CRLF
 * line ends only, no line over 998 octets, the header section and the
 * first two parts in printable ASCII (UTF-8 allowed in a SMTPUTF8
 * report's delivery-status part), the returned content copied unchanged,
 * and the boundary absent from it.
 *
 * Input: a control byte (kind, action, flags), then NUL-separated fields:
 * sender, envid, orcpt, rcpt, final, status, remote_mta, diagnostic,
 * content. A missing field is NULL (final: "x@y").
 * Corpus: tests/fuzz/corpus/dsn/ (replayed by replay_dsn).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_FIELDS 9

static void
fz_check_lines(const char *p, size_t n, bool whole)
{
	size_t i, start = 0;

	if (whole && (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n'))
		abort();
	for (i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			abort();
		if (p[i] == '\r') {
			if ((whole && i + 1 >= n) ||
			    (i + 1 < n && p[i + 1] != '\n') || i - start > 998)
				abort();
			start = i + 2;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy, *f[FZ_FIELDS] = {0};
	size_t flen[FZ_FIELDS] = {0}, i, k, pos;
	struct dsn_rcpt rc;
	struct dsn_report r;
	struct buf out;
	const char *part3;
	uint8_t ctl;

	if (size < 1)
		return 0;
	ctl = data[0];
	copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (k = 0, pos = 0; k < FZ_FIELDS && pos < size - 1; k++) {
		f[k] = copy + pos;
		flen[k] = strlen(f[k]);
		pos += flen[k] + 1;
	}
	memset(&rc, 0, sizeof(rc));
	rc.orcpt = f[2];
	rc.rcpt = f[3];
	rc.final = f[4] ? f[4] : "x@y";
	rc.action = (enum dsn_action)(ctl % 5);
	rc.status = f[5];
	rc.remote_mta = f[6];
	rc.diagnostic = f[7];
	rc.diag_smtp = (ctl & 0x08) != 0;
	rc.expired = (ctl & 0x10) != 0;
	rc.last_attempt = (ctl & 0x20) ? 1700000000 : 0;
	rc.retry_until = (ctl & 0x20) ? 1700400000 : 0;
	memset(&r, 0, sizeof(r));
	r.kind = (enum dsn_kind)((ctl >> 6) % 3);
	r.hostname = "mx.test";
	r.message_id = "A.B@mx.test";
	r.qid = "B";
	r.sender = f[0] ? f[0] : "";
	r.envid = f[1];
	r.arrival = 1700000000;
	r.now = 1700000100;
	r.utf8 = (ctl & 0x04) != 0;
	r.full = (ctl & 0x02) != 0;
	r.content = f[8];
	r.content_len = flen[8];
	r.rcpts = &rc;
	r.nrcpts = 1;
	buf_init(&out, (size_t)1 << 24);
	if (dsn_compose(&r, &out) != 0)
		abort();
	/* Lines are checked up to the third part (content is copied). */
	part3 = r.content != NULL && r.content_len > 0
		    ? memmem(out.data, out.len, r.content, r.content_len)
		    : NULL;
	if (r.content != NULL && r.content_len > 0 && part3 == NULL)
		abort();
	if (part3 == NULL) {
		fz_check_lines(out.data, out.len, true);
	} else {
		/* Everything before the content is ours. */
		size_t before = (size_t)(part3 - out.data);
		fz_check_lines(out.data, before, false);
		for (i = 0; i < before; i++) {
			unsigned char c = (unsigned char)out.data[i];
			if (!r.utf8 && c >= 0x80)
				abort();
			if (c < 0x20 && c != '\r' && c != '\n' && c != '\t')
				abort();
		}
	}
	buf_clear(&out);
	free(copy);
	return 0;
}
