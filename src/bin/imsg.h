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
	IMSG_LISTENER,		/* fd: listening socket; u32 listener index */
	IMSG_PEER,		/* fd: socket to a sibling; str peer name */
	IMSG_FLUSH,		/* queue: retry every deferred message now */
	IMSG_CTL_QUEUE,		/* queue: fd: a control connection to answer
				 * (bin/control.h); str request, a valid
				 * "queue ..." line */

	/* smtp -> queue; id = session id */
	IMSG_Q_CREATE = 100,	/* str sender, str helo, str client_addr,
				 * str protocol, str envid (or NULL), u32 ret,
				 * u32 body, u32 smtputf8, u32 nrcpts */
	IMSG_Q_RCPT,		/* str rcpt, str orcpt (or NULL), u32 notify */
	IMSG_Q_COMMIT,		/* (empty) */
	IMSG_Q_ABORT,		/* (empty) */
	/* queue -> smtp */
	IMSG_Q_CREATED,		/* fd: file (status 0); u32 status, str qid */
	IMSG_Q_COMMITTED,	/* u32 status */

	/* queue -> local; id = delivery id */
	IMSG_L_DELIVER = 200,	/* fd: content; str qid, u32 rcpt index,
				 * str mbox_domain, str mbox_user, str sender,
				 * str dest, u64 arrival, u64 content length,
				 * u32 check_dup */
	/* local -> queue */
	IMSG_L_RESULT,		/* u32 result (enum maildir_result negated),
				 * str error text */
};

#endif
