/*
 * control: the administrator's socket STATE/control.sock. The parent
 * serves it (control_listen); the command-line tools are its clients
 * (control_request). One request per connection:
 *
 *   request     = word *( SP word ) LF     ; CONTROL_REQUEST_MAX bytes at
 *   word        = 1*( %x21-7E )            ; most, LF included; no CR
 *   reply       = *data-line status-line   ; then the server closes
 *   data-line   = "+" text LF              ; text: printable ASCII (and
 *   status-line = "ok" LF                  ; TAB), at most CONTROL_LINE_MAX
 *               / "error: " text LF        ; bytes per line, LF included
 *
 * Requests (words are case-sensitive; QID is a spool queue ID, exactly
 * 16 characters 0-9 A-F):
 *
 *   reload             what SIGHUP does: re-read the configuration, users,
 *                      aliases, certificate and key; "ok" once the new
 *                      configuration has been sent to every running child
 *                      (each applies it when it reads that message, in
 *                      order with everything else the parent sends), or
 *                      "error: why" and the running configuration stays
 *   queue list         the queue, oldest first (sched/queue.h says how)
 *   queue show QID     one message: envelope, recipients, headers
 *   queue delete QID   remove it from the spool
 *   queue hold QID     keep it from delivery, across restarts
 *   queue release QID  end a hold
 *   queue flush        retry every deferred delivery now
 *   tls list           the MX hosts remembered for offering TLS (remote
 *                      process; docs/operations.md "remember-TLS")
 *   tls forget HOST    drop HOST's record (HOST: a host name)
 *   tls report         send the TLS-RPT reports now, today's included
 *
 * The parent answers `reload` and every malformed request itself and
 * hands the connection of a `queue` request to the queue process
 * (IMSG_CTL_QUEUE), of a `tls` request to the remote process
 * (IMSG_CTL_REMOTE), which writes the reply (control_reply) and closes it.
 *
 * Access: the socket is mode 0600, owned by the user running the parent,
 * and the parent also checks the peer's uid (SO_PEERCRED): root or its
 * own. A request must arrive within CONTROL_TIMEOUT seconds; at most
 * CONTROL_CONN_MAX connections wait for their request at once.
 */
#ifndef PETREL_BIN_CONTROL_H
#define PETREL_BIN_CONTROL_H

#include <stddef.h>
#include <stdio.h>

#include "lib/buf.h"
#include "spool/spool.h"

#define CONTROL_SOCKET_NAME   "control.sock"
#define CONTROL_REQUEST_MAX   4096
#define CONTROL_LINE_MAX      16384
#define CONTROL_TIMEOUT       10 /* seconds for the request to arrive */
#define CONTROL_CONN_MAX      16
#define CONTROL_REPLY_TIMEOUT 60 /* seconds without progress writing */

enum control_verb {
	CONTROL_RELOAD,
	CONTROL_QUEUE_LIST,
	CONTROL_QUEUE_SHOW,
	CONTROL_QUEUE_DELETE,
	CONTROL_QUEUE_HOLD,
	CONTROL_QUEUE_RELEASE,
	CONTROL_QUEUE_FLUSH,
	CONTROL_TLS_LIST,
	CONTROL_TLS_FORGET,
	CONTROL_TLS_REPORT,
};

#define CONTROL_HOST_MAX 253

struct control_req {
	enum control_verb verb;
	char qid[SPOOL_QID_LEN + 1]; /* "" unless the verb takes one */
	char host[CONTROL_HOST_MAX + 1]; /* tls forget: lower-case */
};

/*
 * Parses a request line of len bytes (without its LF). 0, or -1 with the
 * reason in err ("unknown request", "'x' is not a queue ID", ...).
 */
int control_parse(const char *line, size_t len, struct control_req *out,
    char *err, size_t errsz);

/* Writes req as its canonical request line (no LF) into out. */
void control_format(const struct control_req *req, char *out, size_t outsz);

/* ---- server side (the parent) ---- */

struct event_base;

struct control_ops {
	/* `reload`: 0, or -1 with the reason in err. */
	int (*reload)(char *err, size_t errsz);
	/*
	 * A `queue` request: passes fd (the caller keeps and closes its
	 * own copy) and the canonical request line to the queue process,
	 * which answers on it. 0, or -1 with the reason in err (the caller
	 * then answers the error itself).
	 */
	int (*queue)(int fd, const char *request, char *err, size_t errsz);
	/* A `tls` request: the same, for the remote process. */
	int (*remote)(int fd, const char *request, char *err, size_t errsz);
};

/*
 * Binds STATE/control.sock (removing a stale socket first; refusing when
 * another petrel answers on it), mode 0600, and serves it on base with
 * ops. 0, or -1 with the reason in err. A path too long for a unix socket
 * (sun_path, 108 bytes) is logged and returns 0 without a socket: the
 * server runs, the tools cannot reach it.
 */
int control_listen(struct event_base *base, const char *state_dir,
    const struct control_ops *ops, char *err, size_t errsz);
/* Stops serving, drops waiting connections and removes the socket. */
void control_close(void);

/*
 * The queue process's answer: sends every line of lines (each ending in
 * "\n") as a data line, then "ok" when status is 0, else "error: err",
 * without blocking the loop. Takes ownership of fd and closes it when all
 * is written, on a write error, or after CONTROL_REPLY_TIMEOUT seconds
 * without progress.
 */
void control_reply(struct event_base *base, int fd, const struct buf *lines,
    int status, const char *err);

/* ---- client side (the command-line tools) ---- */

/*
 * Writes STATE/control.sock into out. 0, or -1 when it does not fit (or is
 * too long for a unix socket address).
 */
int control_socket_path(const char *state_dir, char *out, size_t outsz);

/*
 * Sends request (one line, without LF) to the petrel whose state directory
 * is state_dir and copies the data lines of the reply, without their "+",
 * to out. Returns 0 on "ok"; 1 on "error: TEXT" (TEXT in err); -1 when the
 * server cannot be reached or the reply is cut or malformed (err says
 * why, starting "cannot reach the running petrel at PATH: " when the
 * connection could not be made).
 */
int control_request(const char *state_dir, const char *request, FILE *out,
    char *err, size_t errsz);

#endif
