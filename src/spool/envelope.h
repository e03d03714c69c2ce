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
};

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
	uint64_t size;		/* content size in octets */
	struct env_rcpt *rcpts;
	size_t nrcpts;
};

/* Appends one recipient (strings copied; NULL allowed where documented). */
struct env_rcpt *envelope_add_rcpt(struct envelope *e, const char *rcpt,
    const char *orcpt, unsigned notify, const char *dest, bool local,
    const char *mbox_domain, const char *mbox_user);

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
