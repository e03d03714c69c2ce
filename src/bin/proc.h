/*
 * proc: entry points of petrel's processes (parent.c, proc_smtp.c,
 * proc_queue.c, proc_local.c) and what they share.
 */
#ifndef PETREL_BIN_PROC_H
#define PETREL_BIN_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "bin/bundle.h"
#include "lib/ipc.h"

#define PROC_CTL_FD 3		/* the child's channel to the parent */

/* `petrel serve`: the supervising parent. Returns the exit status. */
int parent_main(const char *config_path);

/* The children, started by the parent as `petrel __child NAME ...`. */
int proc_smtp_main(void);
int proc_queue_main(void);
int proc_local_main(void);
int proc_auth_main(void);
int proc_remote_main(void);

struct event_base;
/* A libevent loop with the settings every petrel process uses. */
struct event_base *proc_event_base(void);

/* Child: handlers are installed; let the blocked stop signals in. */
void proc_signals_ready(void);

/*
 * Child side helper: reads the bundle of an IMSG_CONF message into *out,
 * parsed. Exits on failure (the parent validated it; it is a bug).
 */
void proc_conf_from_msg(struct ipc_msg *m, struct bundle *b,
    struct bundle_conf *out);

/*
 * Child: replaces *bc (when *have) with the configuration of an IMSG_CONF
 * message and sets the log level. Nothing may keep pointers into the old
 * one's strings.
 */
void proc_conf_replace(struct ipc_msg *m, struct bundle_conf *bc,
    bool *have);

#endif
