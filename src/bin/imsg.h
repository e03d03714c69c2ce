/*
 * imsg: the message types petrel's processes exchange (lib/ipc.h frames
 * them). Each type lists its payload fields in order; the reader of each
 * type checks that exactly these fields are present.
 */
#ifndef PETREL_BIN_IMSG_H
#define PETREL_BIN_IMSG_H

enum imsg_type {
	/* parent -> child */
	IMSG_CONF = 1,		/* fd: configuration bundle (bundle.h) */
	IMSG_LISTENER,		/* fd: listening socket; u32 listener index,
				 * IMSG_LISTENER_LOCAL for submit.sock */
	IMSG_PEER,		/* fd: socket to a sibling; str peer name */
	IMSG_FLUSH,		/* queue: retry every deferred message now */
	IMSG_CTL_QUEUE,		/* queue: fd: a control connection to answer
				 * (bin/control.h); str request, a valid
				 * "queue ..." line */
	IMSG_CTL_REMOTE,	/* remote: the same for a "tls ..." line */

	/* smtp -> queue; id = session id */
	IMSG_Q_CREATE = 100,	/* str sender, str helo, str client_addr,
				 * str protocol, str envid (or NULL), u32 ret,
				 * u32 body, u32 smtputf8, u32 nrcpts,
				 * u32 requiretls (RFC 8689 MAIL FROM
				 * parameter, given over TLS: 0/1) */
	IMSG_Q_RCPT,		/* str rcpt, str orcpt (or NULL), u32 notify */
	IMSG_Q_COMMIT,		/* (empty) */
	IMSG_Q_ABORT,		/* (empty) */
	/* queue -> smtp */
	IMSG_Q_CREATED,		/* fd: file (status 0); u32 status, str qid */
	IMSG_Q_COMMITTED,	/* u32 status */

	/* smtp -> auth; id = session id */
	IMSG_A_REQUEST = 300,	/* u32 kind (enum smtpd_auth_kind), str
				 * client_addr, str mech, str user, str
				 * password (or NULL), str authmsg (or NULL),
				 * str proof in base64 (or NULL) */
	/* auth -> smtp */
	IMSG_A_ANSWER,		/* u32 status (enum smtpd_auth_status), str
				 * user, str senders, str salt in base64,
				 * u32 iter, str server signature in base64
				 * (each NULL when not part of the answer) */

	/* queue -> local; id = delivery id */
	IMSG_L_DELIVER = 200,	/* fd: content; str qid, u32 rcpt index,
				 * str mbox_domain, str mbox_user, str sender,
				 * str dest, u64 arrival, u64 content length,
				 * u32 check_dup */
	/* local -> queue */
	IMSG_L_RESULT,		/* u32 result (enum maildir_result negated),
				 * str error text */

	/* queue -> remote; id = delivery id */
	IMSG_R_DELIVER = 400,	/* fd: queue file (read content_len bytes
				 * from offset 0); str qid, str domain
				 * (lower-case destination), str sender ("" for
				 * <>), str envid (or NULL), u32 ret, u32 body,
				 * u32 smtputf8, u32 requiretls (RFC 8689 MAIL
				 * FROM parameter: 0/1), u64 content_len, u32 nrcpts
				 * (1..REMOTE_RCPT_MAX), then nrcpts times:
				 * u32 rcpt index, str dest, str orcpt (or
				 * NULL), u32 notify */
	/* remote -> queue */
	IMSG_R_RESULT,		/* str remote_mta (host name the last
				 * transaction talked to, or NULL), u32 nrcpts
				 * (as asked), then nrcpts times, in the order
				 * asked: u32 rcpt index, u32 result
				 * (REMOTE_OK/REMOTE_TEMP/REMOTE_PERM), u32
				 * flags (REMOTE_F_*), str status ("5.1.1"),
				 * str diagnostic (printable ASCII, at most
				 * REMOTE_DIAG_MAX bytes) */
	IMSG_R_REPORT,		/* id 0; fd: a message the remote process
				 * composed (a TLS-RPT report, RFC 8460): RFC
				 * 5322 text with CRLF line ends, read to EOF,
				 * at most REMOTE_REPORT_MAX bytes; str sender
				 * ("" for <>), u32 nrcpts (1..REMOTE_RCPT_MAX),
				 * then nrcpts times str rcpt. The queue spools
				 * it as a new message from the local host */
};

#define IMSG_LISTENER_LOCAL 0xffffffffu

/* REMOTE_RCPT_MAX, REMOTE_DIAG_MAX, enum remote_result, REMOTE_F_*. */
#include "remote/remote.h"

#endif
