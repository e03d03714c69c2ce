/*
 * dsn: the delivery status notification composer (see dsn.h for what it
 * promises). Grammar it writes, RFC 3464 2 (field order as listed there):
 *
 *   delivery-status-content = per-message-fields
 *                             1*( CRLF per-recipient-fields )
 *   per-message-fields = [ original-envelope-id-field CRLF ]
 *                        reporting-mta-field CRLF
 *                        [ dsn-gateway-field CRLF ]
 *                        [ received-from-mta-field CRLF ]
 *                        [ arrival-date-field CRLF ]
 *                        *( extension-field CRLF )
 *   per-recipient-fields = [ original-recipient-field CRLF ]
 *                          final-recipient-field CRLF
 *                          action-field CRLF
 *                          status-field CRLF
 *                          [ remote-mta-field CRLF ]
 *                          [ diagnostic-code-field CRLF ]
 *                          [ last-attempt-date-field CRLF ]
 *                          [ final-log-id-field CRLF ]
 *                          [ will-retry-until-field CRLF ]
 *                          *( extension-field CRLF )
 *   original-recipient-field = "Original-Recipient" ":" address-type ";"
 *                              generic-address
 *   final-recipient-field = "Final-Recipient" ":" address-type ";"
 *                           generic-address
 *   action-value = "failed" / "delayed" / "delivered" / "relayed" /
 *                  "expanded"
 *   status-code = DIGIT "." 1*3DIGIT "." 1*3DIGIT
 *   remote-mta-field = "Remote-MTA" ":" mta-name-type ";" mta-name
 *   diagnostic-code-field = "Diagnostic-Code" ":" diagnostic-type ";"
 *                           *text
 *
 * RFC 3464 2.3.1 and RFC 3461 4.2: the ORCPT value is xtext; for the
 * rfc822 address type the Original-Recipient field carries the decoded
 * address. Other types (RFC 6533 "utf-8", whose own encoding is not
 * xtext's "+XX") are copied as received. RFC 3464 2.2.1: the ENVID is
 * returned in Original-Envelope-Id, decoded from xtext the same way
 * (Postfix does too); a value that would not decode to printable ASCII is
 * returned as received.
 *
 * Lines: the fields are header-like (RFC 3464 1.3), so a long one is
 * folded at a space into CRLF SP, which unfolds to the same text. A single
 * word longer than DSN_WORD_MAX is cut into pieces joined by CRLF SP,
 * which unfolds with a space added: acceptable for a diagnostic, and the
 * 998-octet limit of RFC 5322 2.1.1 is never passed.
 */
#include "proto/dsn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lib/span.h"
#include "lib/utf8.h"
#include "proto/smtp_param.h"
#include "proto/smtp_reply.h"

#define DSN_BOUNDARY_MAX 80

/* Output with a sticky error, so the composer checks once at the end. */
struct dsn_out {
	struct buf *b;
	int err;
};

static void
dsn_raw(struct dsn_out *o, const char *p, size_t n)
{
	if (o->err == 0 && n > 0 && buf_append(o->b, p, n) < 0)
		o->err = -1;
}

static void
dsn_puts(struct dsn_out *o, const char *s)
{
	dsn_raw(o, s, strlen(s));
}

static const char dsn_hex[] = "0123456789ABCDEF";

/*
 * Appends s[0..n) made safe for a 7-bit header or text line: printable
 * ASCII stays, a well-formed UTF-8 sequence stays when utf8, anything
 * else (controls, CR, LF, TAB, other bytes) becomes \xHH.
 */
static void
dsn_clean(struct dsn_out *o, const char *s, size_t n, bool utf8)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t k;

		if (u[i] >= 0x20 && u[i] < 0x7f) {
			dsn_raw(o, s + i, 1);
			i++;
			continue;
		}
		if (utf8 && (k = utf8_seq_len(u + i, n - i)) > 0) {
			dsn_raw(o, s + i, k);
			i += k;
			continue;
		}
		{
			char esc[4] = {
			    '\\', 'x', dsn_hex[u[i] >> 4], dsn_hex[u[i] & 0xf]};
			dsn_raw(o, esc, sizeof(esc));
		}
		i++;
	}
}

/* True when s holds a byte above 127. */
static bool
dsn_has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] & 0x80)
			return true;
	return false;
}

/*
 * Appends the words of v (separated by single spaces; v is clean, see
 * dsn_clean) starting at column col. Where the next word would pass
 * DSN_LINE_WIDTH, the space before it becomes CRLF followed by cont (a
 * space for a folded field, an indent for wrapped text). A word longer
 * than DSN_WORD_MAX is split, never inside a UTF-8 sequence.
 */
static void
dsn_fold(
    struct dsn_out *o, const char *v, size_t n, size_t col, const char *cont)
{
	size_t i = 0, contlen = strlen(cont);
	bool first = true;

	while (i <= n) {
		const char *sp = memchr(v + i, ' ', n - i);
		size_t end = sp != NULL ? (size_t)(sp - v) : n;
		size_t wlen = end - i;

		if (!first) {
			if (col + 1 + wlen > DSN_LINE_WIDTH && col > contlen) {
				dsn_puts(o, "\r\n");
				dsn_puts(o, cont);
				col = contlen;
			} else {
				dsn_puts(o, " ");
				col++;
			}
		}
		first = false;
		while (wlen > DSN_WORD_MAX) {
			size_t cut = DSN_WORD_MAX;
			/* Back off over UTF-8 continuation bytes. */
			while (cut > 1 &&
			       ((unsigned char)v[i + cut] & 0xc0) == 0x80)
				cut--;
			dsn_raw(o, v + i, cut);
			dsn_puts(o, "\r\n");
			dsn_puts(o, cont);
			col = contlen;
			i += cut;
			wlen -= cut;
		}
		dsn_raw(o, v + i, wlen);
		col += wlen;
		if (sp == NULL)
			break;
		i = end + 1;
	}
}

/*
 * One field "Name: value" with value cleaned and folded, ending in CRLF.
 * pre (may be NULL) goes before value unescaped: our own type prefixes.
 */
static void
dsn_field(struct dsn_out *o, const char *name, const char *pre,
    const char *value, size_t vlen, bool utf8)
{
	struct buf tmp;
	struct dsn_out t;

	buf_init(&tmp, o->b->max);
	t.b = &tmp;
	t.err = 0;
	if (pre != NULL)
		dsn_puts(&t, pre);
	dsn_clean(&t, value, vlen, utf8);
	dsn_puts(o, name);
	dsn_puts(o, ": ");
	if (t.err != 0)
		o->err = -1;
	else
		dsn_fold(o, buf_str(&tmp), tmp.len, strlen(name) + 2, " ");
	dsn_puts(o, "\r\n");
	buf_clear(&tmp);
}

static void
dsn_field_str(struct dsn_out *o, const char *name, const char *pre,
    const char *value, bool utf8)
{
	dsn_field(o, name, pre, value, strlen(value), utf8);
}

/* A paragraph of text (already clean) wrapped, with every line indented. */
static void
dsn_para(struct dsn_out *o, const char *indent, const char *text)
{
	dsn_puts(o, indent);
	dsn_fold(o, text, strlen(text), strlen(indent), indent);
	dsn_puts(o, "\r\n");
}

/* A paragraph of untrusted text: cleaned (ASCII only), then wrapped. */
static void
dsn_para_clean(struct dsn_out *o, const char *indent, const char *prefix,
    const char *text, const char *suffix)
{
	struct buf tmp;
	struct dsn_out t;

	buf_init(&tmp, o->b->max);
	t.b = &tmp;
	t.err = 0;
	dsn_puts(&t, prefix);
	dsn_clean(&t, text, strlen(text), false);
	dsn_puts(&t, suffix);
	if (t.err != 0)
		o->err = -1;
	else
		dsn_para(o, indent, buf_str(&tmp));
	buf_clear(&tmp);
}

int
dsn_date(int64_t t, char *out, size_t outsz)
{
	static const char days[7][4] = {
	    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	int n;

	if (outsz > 0)
		out[0] = '\0';
	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL || tm.tm_wday < 0 ||
	    tm.tm_wday > 6 || tm.tm_mon < 0 || tm.tm_mon > 11 ||
	    tm.tm_year + 1900 < 1900 || tm.tm_year + 1900 > 9999)
		return -1;
	n = snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (n < 0 || (size_t)n >= outsz) {
		if (outsz > 0)
			out[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * Which content a report returns. RFC 3461 4.3: RET=FULL asks for the
 * whole message and RET=HDRS for its headers, and RET concerns only DSNs
 * that report a failure; a delay or success notice returns the headers
 * (the sender has the message, and for a success it would only double
 * the traffic). When MAIL had no RET the MTA may choose (RFC 3461 4.3);
 * the multipart/report specification (RFC 3462 2, now RFC 6522 3) says
 * that in the absence of an explicit request the full message should be
 * returned, and the mailers people know (Postfix, Exim) do so for
 * bounces. So: a failure returns the whole message unless RET=HDRS.
 * (The caller still falls back to the headers for a message too large to
 * return and says so in the text: dsn_report.cut.)
 */
bool
dsn_return_full(unsigned ret, enum dsn_kind kind)
{
	return kind == DSN_KIND_FAILURE && ret != SMTP_RET_HDRS;
}

size_t
dsn_header_len(const char *p, size_t n)
{
	size_t i;

	if (n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	for (i = 0; i + 3 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return i + 2;
	return n;
}

/*
 * status-code = class "." subject "." detail (RFC 3463 2; the grammar is
 * proto/smtp_reply's), with a class that fits the action: 4 or 5 for a
 * failure (an expired recipient keeps its last 4.x.x), 4 for a delay, 2
 * for the others.
 */
static bool
dsn_status_ok(const char *s, enum dsn_action a)
{
	struct span sp;

	if (s == NULL)
		return false;
	sp = span_cstr(s);
	if (smtp_reply_enhanced_len(sp, 0) != sp.n)
		return false;
	switch (a) {
	case DSN_ACTION_FAILED:
		return s[0] == '5' || s[0] == '4';
	case DSN_ACTION_DELAYED:
		return s[0] == '4';
	default:
		return s[0] == '2';
	}
}

static const char *
dsn_status(const struct dsn_rcpt *rc)
{
	if (dsn_status_ok(rc->status, rc->action))
		return rc->status;
	switch (rc->action) {
	case DSN_ACTION_FAILED:
		return "5.0.0";
	case DSN_ACTION_DELAYED:
		return "4.0.0";
	default:
		return "2.0.0";
	}
}

static const char *
dsn_action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_ACTION_FAILED:
		return "failed";
	case DSN_ACTION_DELAYED:
		return "delayed";
	case DSN_ACTION_DELIVERED:
		return "delivered";
	case DSN_ACTION_RELAYED:
		return "relayed";
	default:
		return "expanded";
	}
}

/*
 * xtext decoded into out when every decoded byte is printable ASCII;
 * otherwise the value as received. Returns the span to write.
 */
static struct span
dsn_xtext(const char *s, size_t n, struct buf *out)
{
	size_t i;

	buf_reset(out);
	if (smtp_xtext_decode(span_make(s, n), out) == 0) {
		for (i = 0; i < out->len; i++)
			if (out->data[i] < 0x20 || out->data[i] > 0x7e)
				break;
		if (i == out->len)
			return span_make(buf_str(out), out->len);
	}
	return span_make(s, n);
}

static bool
dsn_is_ascii(const char *s)
{
	return !dsn_has_8bit(s, strlen(s));
}

/* The second part: message/(global-)delivery-status. */
static void
dsn_status_part(struct dsn_out *o, const struct dsn_report *r)
{
	struct buf dec;
	char date[64];
	size_t i;

	buf_init(&dec, 1024);
	if (r->envid != NULL) {
		struct span v = dsn_xtext(r->envid, strlen(r->envid), &dec);
		dsn_field(o, "Original-Envelope-Id", NULL, v.p, v.n, false);
	}
	dsn_field_str(o, "Reporting-MTA", "dns; ", r->hostname, false);
	if (dsn_date(r->arrival, date, sizeof(date)) == 0)
		dsn_field_str(o, "Arrival-Date", NULL, date, false);
	if (r->qid != NULL)
		dsn_field_str(o, "X-Petrel-Queue-ID", NULL, r->qid, false);
	for (i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		dsn_puts(o, "\r\n");
		if (rc->orcpt != NULL) {
			const char *semi = strchr(rc->orcpt, ';');
			if (semi != NULL && semi > rc->orcpt) {
				size_t tlen = (size_t)(semi - rc->orcpt);
				struct span v;
				struct buf pre;
				struct dsn_out p = {&pre, 0};

				buf_init(&pre, o->b->max);
				dsn_clean(&p, rc->orcpt, tlen, false);
				dsn_puts(&p, ";");
				if (span_eq_ci(
					span_make(rc->orcpt, tlen), "rfc822"))
					v = dsn_xtext(
					    semi + 1, strlen(semi + 1), &dec);
				else
					v = span_cstr(semi + 1);
				if (p.err == 0)
					dsn_field(o, "Original-Recipient",
					    buf_str(&pre), v.p, v.n, r->utf8);
				else
					o->err = -1;
				buf_clear(&pre);
			}
		}
		dsn_field_str(o, "Final-Recipient",
		    r->utf8 && !dsn_is_ascii(rc->final) ? "utf-8;" : "rfc822;",
		    rc->final, r->utf8);
		dsn_field_str(
		    o, "Action", NULL, dsn_action_name(rc->action), false);
		dsn_field_str(o, "Status", NULL, dsn_status(rc), false);
		if (rc->remote_mta != NULL && rc->remote_mta[0] != '\0')
			dsn_field_str(
			    o, "Remote-MTA", "dns; ", rc->remote_mta, false);
		if (rc->diagnostic != NULL && rc->diagnostic[0] != '\0')
			dsn_field_str(o, "Diagnostic-Code",
			    rc->diag_smtp ? "smtp; " : "X-Petrel; ",
			    rc->diagnostic, false);
		if (rc->last_attempt != 0 &&
		    dsn_date(rc->last_attempt, date, sizeof(date)) == 0)
			dsn_field_str(
			    o, "Last-Attempt-Date", NULL, date, false);
		if (rc->action == DSN_ACTION_DELAYED && rc->retry_until != 0 &&
		    dsn_date(rc->retry_until, date, sizeof(date)) == 0)
			dsn_field_str(o, "Will-Retry-Until", NULL, date, false);
	}
	buf_clear(&dec);
}

/* One recipient's paragraph in the text part. */
static void
dsn_text_rcpt(struct dsn_out *o, const struct dsn_rcpt *rc)
{
	const char *mta = rc->remote_mta != NULL && rc->remote_mta[0] != '\0'
			      ? rc->remote_mta
			      : NULL;
	const char *diag = rc->diagnostic != NULL && rc->diagnostic[0] != '\0'
			       ? rc->diagnostic
			       : NULL;
	struct buf who;
	struct dsn_out w = {&who, 0};

	buf_init(&who, o->b->max);
	dsn_puts(&w, "<");
	dsn_clean(&w, rc->final, strlen(rc->final), false);
	dsn_puts(&w, ">");
	if (rc->rcpt != NULL && strcasecmp(rc->rcpt, rc->final) != 0) {
		dsn_puts(&w, " (sent to <");
		dsn_clean(&w, rc->rcpt, strlen(rc->rcpt), false);
		dsn_puts(&w, ">)");
	}
	dsn_puts(&w, ":");
	if (w.err != 0)
		o->err = -1;
	else
		dsn_para(o, "", buf_str(&who));
	buf_clear(&who);

	switch (rc->action) {
	case DSN_ACTION_FAILED:
	case DSN_ACTION_DELAYED:
		if (rc->expired)
			dsn_para(o, "    ",
			    "The message stayed in the queue "
			    "longer than the queue lifetime allows, so the "
			    "mail "
			    "system gave up. The last attempt failed:");
		if (diag != NULL && rc->diag_smtp && mta != NULL)
			dsn_para_clean(o, "    ", "host ", mta, "");
		if (diag != NULL && rc->diag_smtp)
			dsn_para_clean(o, "    ", "said: ", diag, "");
		else if (diag != NULL)
			dsn_para_clean(o, "    ", "", diag, "");
		else
			dsn_para(o, "    ", "(no further details)");
		break;
	case DSN_ACTION_DELIVERED:
		if (mta != NULL)
			dsn_para_clean(
			    o, "    ", "delivered; accepted by host ", mta, "");
		else
			dsn_para(o, "    ", "delivered to the mailbox");
		break;
	case DSN_ACTION_RELAYED:
		if (mta != NULL)
			dsn_para_clean(o, "    ", "relayed to host ", mta, "");
		dsn_para(o, "    ",
		    "The receiving system does not send "
		    "delivery notifications, so this is the last notice you "
		    "will get for this recipient.");
		break;
	default:
		dsn_para(o, "    ",
		    "expanded by an alias; each of its "
		    "destinations reports separately");
		break;
	}
}

/* The first part: text/plain for people. */
static void
dsn_text_part(struct dsn_out *o, const struct dsn_report *r)
{
	char date[64];
	size_t i;

	dsn_para_clean(
	    o, "", "This is the mail delivery system at ", r->hostname, ".");
	dsn_puts(o, "\r\n");
	switch (r->kind) {
	case DSN_KIND_FAILURE:
		dsn_para(o, "",
		    "Your message could not be delivered to the "
		    "recipients listed below. The mail system has given up; "
		    "these errors are permanent.");
		break;
	case DSN_KIND_DELAY:
		dsn_para(o, "",
		    "This is a warning only; you do not need to "
		    "send the message again. Delivery to the recipients listed "
		    "below has been delayed, and the mail system is still "
		    "trying.");
		if (r->rcpts[0].retry_until != 0 &&
		    dsn_date(r->rcpts[0].retry_until, date, sizeof(date)) ==
			0) {
			dsn_puts(o, "\r\n");
			dsn_para_clean(
			    o, "", "It will keep trying until ", date, ".");
		}
		break;
	default:
		dsn_para(o, "",
		    "Your message was delivered to the "
		    "recipients listed below, as you asked.");
		break;
	}
	if (r->content != NULL) {
		dsn_puts(o, "\r\n");
		if (r->full)
			dsn_para(o, "", "Your message is attached below.");
		else if (r->cut)
			dsn_para(o, "",
			    "Your message was too large to be "
			    "returned in full; its header section is attached "
			    "below.");
		else
			dsn_para(o, "",
			    "The header section of your message "
			    "is attached below.");
	}
	for (i = 0; i < r->nrcpts; i++) {
		dsn_puts(o, "\r\n");
		dsn_text_rcpt(o, &r->rcpts[i]);
	}
}

/* Picks a boundary that occurs in none of the parts. */
static int
dsn_boundary(const struct dsn_report *r, const struct buf *text,
    const struct buf *status, char *out, size_t outsz)
{
	char seed[48];
	size_t i, k = 0;
	unsigned n;

	for (i = 0; r->message_id[i] != '\0' && k + 1 < sizeof(seed); i++) {
		char c = r->message_id[i];
		if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z'))
			seed[k++] = c;
	}
	seed[k] = '\0';
	for (n = 0; n < 1000; n++) {
		int len = snprintf(out, outsz, "=_petrel_%s_%u", seed, n);
		size_t blen;

		if (len < 0 || (size_t)len >= outsz)
			return -1;
		blen = (size_t)len;
		if (memmem(text->data ? text->data : "", text->len, out,
			blen) == NULL &&
		    memmem(status->data ? status->data : "", status->len, out,
			blen) == NULL &&
		    (r->content == NULL ||
			memmem(r->content, r->content_len, out, blen) == NULL))
			return 0;
	}
	return -1;
}

/* A part body without its final CRLF: the delimiter supplies it. */
static void
dsn_body(struct dsn_out *o, const char *p, size_t n)
{
	if (n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n')
		n -= 2;
	dsn_raw(o, p, n);
}

static const char *
dsn_subject(enum dsn_kind k)
{
	switch (k) {
	case DSN_KIND_FAILURE:
		return "Undelivered Mail Returned to Sender";
	case DSN_KIND_DELAY:
		return "Delayed Mail (still being retried)";
	default:
		return "Successful Mail Delivery Report";
	}
}

int
dsn_compose(const struct dsn_report *r, struct buf *out)
{
	struct buf text, status;
	struct dsn_out o = {out, 0}, t = {&text, 0}, s = {&status, 0};
	char boundary[DSN_BOUNDARY_MAX], date[64], *to;
	size_t start = out->len, i, to_len;
	bool eight, status8;

	if (r->hostname == NULL || r->message_id == NULL || r->sender == NULL ||
	    r->rcpts == NULL || r->nrcpts == 0 ||
	    (r->content == NULL && r->content_len != 0) ||
	    dsn_date(r->now, date, sizeof(date)) != 0)
		return -1;
	for (i = 0; i < r->nrcpts; i++)
		if (r->rcpts[i].final == NULL)
			return -1;
	buf_init(&text, out->max);
	buf_init(&status, out->max);
	dsn_text_part(&t, r);
	dsn_status_part(&s, r);
	if (t.err != 0 || s.err != 0 ||
	    dsn_boundary(r, &text, &status, boundary, sizeof(boundary)) != 0) {
		o.err = -1;
		goto done;
	}
	status8 = dsn_has_8bit(status.data ? status.data : "", status.len);
	eight = r->content != NULL && dsn_has_8bit(r->content, r->content_len);

	dsn_puts(&o, "From: \"Mail Delivery System\" <MAILER-DAEMON@");
	dsn_clean(&o, r->hostname, strlen(r->hostname), false);
	dsn_puts(&o, ">\r\n");
	/* Folded like the others: an escaped path may pass 998 octets. */
	to_len = strlen(r->sender) + 3;
	to = malloc(to_len);
	if (to == NULL) {
		o.err = -1;
		goto done;
	}
	(void)snprintf(to, to_len, "<%s>", r->sender);
	dsn_field_str(&o, "To", NULL, to, r->utf8);
	free(to);
	dsn_field_str(&o, "Subject", NULL, dsn_subject(r->kind), false);
	dsn_field_str(&o, "Date", NULL, date, false);
	dsn_puts(&o, "Message-ID: <");
	dsn_clean(&o, r->message_id, strlen(r->message_id), false);
	dsn_puts(&o, ">\r\nMIME-Version: 1.0\r\n"
		     "Auto-Submitted: auto-replied\r\n"
		     "Content-Type: multipart/report; report-type=");
	dsn_puts(&o, r->utf8 ? "global-delivery-status" : "delivery-status");
	dsn_puts(&o, ";\r\n\tboundary=\"");
	dsn_puts(&o, boundary);
	dsn_puts(&o, "\"\r\nContent-Transfer-Encoding: ");
	dsn_puts(&o, eight || status8 ? "8bit" : "7bit");
	dsn_puts(&o, "\r\n\r\nThis is a MIME-encapsulated message.\r\n");

	dsn_puts(&o, "\r\n--");
	dsn_puts(&o, boundary);
	dsn_puts(&o, "\r\nContent-Description: Notification\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n"
		     "Content-Transfer-Encoding: 7bit\r\n\r\n");
	dsn_body(&o, text.data, text.len);

	dsn_puts(&o, "\r\n--");
	dsn_puts(&o, boundary);
	dsn_puts(&o, "\r\nContent-Description: Delivery report\r\n"
		     "Content-Type: ");
	dsn_puts(&o, r->utf8 ? "message/global-delivery-status"
			     : "message/delivery-status");
	dsn_puts(&o, "\r\n");
	if (status8)
		dsn_puts(&o, "Content-Transfer-Encoding: 8bit\r\n");
	dsn_puts(&o, "\r\n");
	dsn_body(&o, status.data, status.len);

	if (r->content != NULL) {
		dsn_puts(&o, "\r\n--");
		dsn_puts(&o, boundary);
		dsn_puts(&o, "\r\nContent-Description: ");
		dsn_puts(&o, r->full ? (r->kind == DSN_KIND_FAILURE
					       ? "Undelivered Message"
					       : "Message")
				     : "Message Headers");
		dsn_puts(&o, "\r\nContent-Type: ");
		if (r->full)
			dsn_puts(
			    &o, r->utf8 ? "message/global" : "message/rfc822");
		else
			dsn_puts(&o, r->utf8 ? "message/global-headers"
					     : "text/rfc822-headers");
		dsn_puts(&o, "\r\n");
		if (eight)
			dsn_puts(&o, "Content-Transfer-Encoding: 8bit\r\n");
		dsn_puts(&o, "\r\n");
		dsn_body(&o, r->content, r->content_len);
	}
	dsn_puts(&o, "\r\n--");
	dsn_puts(&o, boundary);
	dsn_puts(&o, "--\r\n");
done:
	buf_clear(&text);
	buf_clear(&status);
	if (o.err != 0) {
		/* Leave out as it was. */
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}
