/*
 * envelope: what petrel knows about a queued message besides its content:
 * sender, recipients and their delivery state, DSN parameters, where it came
 * from. Stored in a versioned, length-prefixed, checksummed binary record,
 * never as lines of peer text, so that no CR, LF or other byte smuggled
 * through a parameter can forge a record (Exim 21Nails, OpenSMTPD
 * CVE-2020-8794). docs/queue.md describes the format.
 */
#ifndef PETREL_SPOOL_ENVELOPE_H
#define PETREL_SPOOL_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define ENVELOPE_VERSION 1
#define ENVELOPE_MAX ((size_t)4 << 20) /* a decoder refuses more */
#define ENVELOPE_STR_MAX 4096		/* any one string field */

enum env_rcpt_state {
	ENV_RCPT_PENDING = 0,	/* to be delivered */
	ENV_RCPT_DELIVERED = 1,	/* done */
	ENV_RCPT_FAILED = 2,	/* permanently failed (bounce due) */
};

struct env_rcpt {
	char *rcpt;		/* address as given in RCPT TO */
	char *orcpt;		/* ORCPT parameter (xtext form) or NULL */
	unsigned notify;	/* SMTP_NOTIFY_* bits */
	char *dest;		/* final address after alias expansion */
	bool local;		/* dest is a local mailbox */
	char *mbox_domain;	/* local: mailbox domain; else NULL */
	char *mbox_user;	/* local: mailbox user; else NULL */
	uint8_t state;		/* enum env_rcpt_state */
	uint32_t attempts;	/* delivery attempts so far */
	int64_t next_try;	/* unix time of the next attempt */
	char *last_error;	/* last failure text, or NULL */
	char *status;		/* enhanced status code of the last attempt
				 * ("4.4.1"), or NULL */
	char *remote_mta;	/* host the last remote attempt talked to,
				 * or NULL */
	uint32_t flags;		/* ENV_RF_* */
	int64_t last_try;	/* unix time of the last attempt, 0 never */
};

/*
 * Per-recipient flags (env_rcpt.flags). The DSN_*_SENT bits are set only
 * after the report they stand for is committed to the spool, so a crash
 * may repeat a report but never lose one.
 */
#define ENV_RF_DSN_FAILURE_SENT 0x01u /* failure report committed */
#define ENV_RF_DSN_DELAY_SENT	0x02u /* delay warning committed */
#define ENV_RF_DSN_SUCCESS_SENT 0x04u /* success report committed */
#define ENV_RF_RELAYED		0x08u /* accepted by a peer without DSN */
#define ENV_RF_DIAG_SMTP	0x10u /* last_error is the peer's SMTP reply */
#define ENV_RF_EXPIRED		0x20u /* failed because the queue lifetime
				       * passed (status is the last one) */
#define ENV_RF_MASK		0x3fu

struct envelope {
	char qid[32];		/* queue ID */
	int64_t arrival;	/* unix time the 250 was sent */
	char *sender;		/* reverse path, "" for <> */
	char *helo;		/* client's EHLO/HELO argument, or NULL */
	char *client_addr;	/* client IP, or NULL (local submission) */
	char *client_name;	/* reverse DNS name, or NULL */
	char *protocol;		/* "ESMTP", "ESMTPS", ... */
	char *envid;		/* ENVID (xtext) or NULL */
	uint8_t ret;		/* enum smtp_ret */
	uint8_t body;		/* enum smtp_body */
	bool smtputf8;
	bool requiretls;	/* RFC 8689 REQUIRETLS: relay only over TLS
				 * the next hop is authenticated for (DANE,
				 * MTA-STS) to a server offering REQUIRETLS */
	uint64_t size;		/* content size in octets */
	struct env_rcpt *rcpts;
	size_t nrcpts;
};

/* Appends one recipient (strings copied; NULL allowed where documented). */
struct env_rcpt *envelope_add_rcpt(struct envelope *e, const char *rcpt,
    const char *orcpt, unsigned notify, const char *dest, bool local,
    const char *mbox_domain, const char *mbox_user);

/* Appends a deep copy of r (every field, state included) to e. */
struct env_rcpt *envelope_copy_rcpt(struct envelope *e,
    const struct env_rcpt *r);

/* Appends the record for e to out. 0, or -1 when it would exceed limits. */
int envelope_encode(const struct envelope *e, struct buf *out);

/*
 * Decodes exactly len bytes. Every length, tag, count and the checksum are
 * checked; any doubt is an error. Returns 0 and fills *e (release with
 * envelope_clear), or -1 with *e empty.
 */
int envelope_decode(const void *p, size_t len, struct envelope *e);

/* Frees everything e owns and zeroes it. */
void envelope_clear(struct envelope *e);

/* Sets a string field: frees the old value, copies s (NULL allowed). */
void envelope_set_str(char **field, const char *s);

#endif
