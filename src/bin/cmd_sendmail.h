/*
 * cmd_sendmail: `petrel sendmail`, the sendmail-compatible local
 * submission command (also run as "sendmail" through a symlink). The
 * command is three files: cmd_sendmail.c (options, configuration,
 * addresses; the overview and the decisions are there),
 * cmd_sendmail_msg.c (the message from stdin into a temporary file) and
 * cmd_sendmail_smtp.c (the SMTP client for STATE/submit.sock, and -bs).
 * Everything below sendmail_main() is internal to those files.
 */
#ifndef PETREL_BIN_CMD_SENDMAIL_H
#define PETREL_BIN_CMD_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "lib/buf.h"
#include "lib/span.h"
#include "proto/rfc5322_addr.h"

/*
 * Runs the command; argv[0] is the command name ("sendmail"), the options
 * and recipients follow. Returns the exit status (0, or a sysexits.h
 * code); exits directly on errors.
 */
int sendmail_main(int argc, char **argv);

/* Internal to cmd_sendmail*.c. */

#define SENDMAIL_CHUNK 65536 /* read and write size */
/* "local@domain" with a bare local part completed by the hostname. */
#define SENDMAIL_ADDR_MAX                                                      \
	(RFC5322_ADDR_LOCAL_MAX + 1 + RFC5322_ADDR_DOMAIN_MAX + 1)

struct sendmail_rcpt {
	char addr[SENDMAIL_ADDR_MAX];
	bool utf8;
};

/* A header field in the header buffer. */
struct sendmail_field {
	size_t off;       /* start of the field's first line */
	size_t name_len;  /* octets of the name */
	size_t value_off; /* just after the ':' */
};

enum sendmail_hstate {
	SENDMAIL_H_BOL,      /* at the start of a header line */
	SENDMAIL_H_NAME,     /* in a field name */
	SENDMAIL_H_NAME_WSP, /* WSP between name and ':' (obs-optional) */
	SENDMAIL_H_FIELD,    /* in a field (or continuation), kept */
	SENDMAIL_H_EMPTY_CR, /* CR at the start of a line: the empty line */
	SENDMAIL_H_SKIP,     /* the "From " line at the start, dropped */
	SENDMAIL_H_BODY,     /* the header has ended */
};

struct sendmail {
	/* Options. */
	const char *config;
	bool extract;           /* -t */
	bool ignore_dots;       /* -i, -oi */
	bool verbose;           /* -v */
	bool smtp_mode;         /* -bs */
	const char *sender_opt; /* -f, -r; NULL: the invoking user */
	const char *full_name;  /* -F; NULL: from the passwd entry */
	char **rcpt_args;
	size_t nrcpt_args;

	/* Configuration. */
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *hostname;
	uint64_t max_size;
	unsigned max_rcpts;

	/* Envelope. */
	char sender[SENDMAIL_ADDR_MAX]; /* "" for the null sender */
	bool sender_utf8;
	char *gecos_name; /* from the passwd entry, or NULL */
	struct sendmail_rcpt *rcpts;
	size_t nrcpts;

	/* Input normaliser (stdin -> CRLF lines). */
	bool at_bol; /* at the start of an input line */
	bool cr;     /* CRs seen, their line end not yet emitted */
	bool dot;    /* the line so far is exactly "." (held back) */
	bool done;   /* a lone "." line ended the input */

	/* Header. */
	enum sendmail_hstate hstate;
	struct buf hdr;
	size_t line_start; /* offset in hdr of the current line */
	bool first_line;   /* still on the first line of the input */
	struct sendmail_field *fields;
	size_t nfields, fields_cap;
	bool hdr_8bit; /* non-ASCII in the header sent */

	/* The message as it will be sent (not dot-stuffed). */
	int fd;
	struct buf out;
	uint64_t size;
	bool eightbit;
};

/* "sendmail: " + message on stderr, then exit(code). */
void sendmail_die(int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
/* The same with the usage text, exit(EX_USAGE). */
void sendmail_usage(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
/* Writes n octets of s to stderr, control characters shown as '?'. */
void sendmail_put_safe(const char *s, size_t n);
/*
 * Adds the recipients of an address list (an argument or a To:/Cc:/Bcc:
 * field body); bad addresses exit with code, naming what.
 */
void sendmail_rcpt_list(
    struct sendmail *sm, struct span list, const char *what, int code);

/* cmd_sendmail_msg.c: reads stdin into sm->fd (sm->size octets). */
void sendmail_read_message(struct sendmail *sm);

/* cmd_sendmail_smtp.c: the transaction; returns 0 once queued. */
int sendmail_submit(struct sendmail *sm);
/* cmd_sendmail_smtp.c: -bs, stdin/stdout relayed to the socket. */
int sendmail_relay(struct sendmail *sm);

#endif
