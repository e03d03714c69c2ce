/*
 * smtp_param: ESMTP parameters of MAIL and RCPT (RFC 5321 4.1.2
 * esmtp-param): SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531),
 * RET/ENVID (MAIL) and NOTIFY/ORCPT (RCPT) from RFC 3461, AUTH (RFC 4954),
 * REQUIRETLS (MAIL, RFC 8689).
 * Keywords are case-insensitive; each may appear once. xtext values are
 * validated and stored as received (still xtext-encoded), so that no CR,
 * LF or other control byte from a peer ever reaches the queue or a log.
 */
#ifndef PETREL_PROTO_SMTP_PARAM_H
#define PETREL_PROTO_SMTP_PARAM_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/span.h"

enum smtp_body { SMTP_BODY_NONE, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NEVER 0x1
#define SMTP_NOTIFY_SUCCESS 0x2
#define SMTP_NOTIFY_FAILURE 0x4
#define SMTP_NOTIFY_DELAY 0x8

#define SMTP_ENVID_MAX 100	/* RFC 3461 4.4 */
#define SMTP_ORCPT_MAX 500	/* RFC 3461 4.2 */
#define SMTP_AUTHPARAM_MAX 500

struct smtp_mail_params {
	bool has_size;
	uint64_t size;
	enum smtp_body body;
	bool smtputf8;
	enum smtp_ret ret;
	char envid[SMTP_ENVID_MAX + 1];	/* xtext; "" if absent */
	char auth[SMTP_AUTHPARAM_MAX + 1]; /* xtext or "<>"; "" if absent */
	bool requiretls;	/* RFC 8689 2: REQUIRETLS given */
};

struct smtp_rcpt_params {
	unsigned notify;	/* SMTP_NOTIFY_* bits; 0 if absent */
	char orcpt[SMTP_ORCPT_MAX + 1]; /* "addr-type;xtext"; "" if absent */
};

enum smtp_param_err {
	SMTP_PARAM_OK = 0,
	SMTP_PARAM_SYNTAX = -1,	 /* 501 5.5.4: malformed, duplicate, bad value */
	SMTP_PARAM_UNKNOWN = -2, /* 555 5.5.4: unrecognised or not enabled */
};

/* Extensions enabled on this session, for the ext argument below. */
#define SMTP_EXT_SIZE 0x1
#define SMTP_EXT_8BITMIME 0x2
#define SMTP_EXT_SMTPUTF8 0x4
#define SMTP_EXT_DSN 0x8
#define SMTP_EXT_AUTH 0x10
#define SMTP_EXT_REQUIRETLS 0x20

/*
 * Parses the parameters after the path (SP-separated "KEY[=VALUE]").
 * Values are checked: SIZE digits (at most 20), BODY 7BIT|8BITMIME,
 * SMTPUTF8 and REQUIRETLS no value, RET FULL|HDRS, ENVID/ORCPT xtext within their
 * maximum, NOTIFY NEVER alone or a list of SUCCESS, FAILURE, DELAY,
 * ORCPT "addr-type;xtext" with an atom addr-type (rfc822 or utf-8).
 * On error returns a negative enum smtp_param_err and points *why at a
 * short static reason for the reply text.
 *
 * Details (smtp_param.c has the grammar): the first bad parameter decides
 * the result; *why is NULL on success and may itself be NULL; *out is
 * zeroed on error. A keyword of the other command, or one whose extension
 * bit is missing from ext, is SMTP_PARAM_UNKNOWN. A 20-digit SIZE above
 * UINT64_MAX is stored as UINT64_MAX. In ENVID, AUTH and rfc822 ORCPT,
 * "+XX" must decode to printable ASCII (32..126). A "utf-8" ORCPT is RFC
 * 6533 utf-8-addr-xtext; raw UTF-8 in it (utf-8-addr-unitext) is accepted
 * only when ext has SMTP_EXT_SMTPUTF8, so for RCPT pass that bit only when
 * the transaction's MAIL carried SMTPUTF8.
 */
int smtp_mail_params_parse(struct span params, unsigned ext,
    struct smtp_mail_params *out, const char **why);
int smtp_rcpt_params_parse(struct span params, unsigned ext,
    struct smtp_rcpt_params *out, const char **why);

/*
 * xtext (RFC 3461 4): chars 33..126 except '+' and '=', and "+XX" with two
 * upper-case hex digits. smtp_xtext_check returns 0 when in is valid xtext,
 * -1 otherwise. smtp_xtext_decode appends the decoded bytes to out and
 * returns 0, or -1 when invalid or out is full (then out is unchanged).
 * The decoded bytes may be anything, NUL and CR LF included ("+00",
 * "+0D+0A"); use out->len, not strlen, and escape before logging.
 */
int smtp_xtext_check(struct span in);
int smtp_xtext_decode(struct span in, struct buf *out);

#endif
