/*
 * ipc: typed request/reply messages between petrel's processes over
 * SOCK_SEQPACKET socketpairs, each message optionally carrying one file
 * descriptor (SCM_RIGHTS). A message is a 16-byte header (u32 type, u32
 * payload length, u64 request id) and a payload of fields written with the
 * ipc_put_* functions and read back with ipc_get_*. Readers are strict: a
 * field that does not decode is a bug in petrel, so the process exits
 * (OpenSMTPD mproc.c does the same).
 */
#ifndef PETREL_LIB_IPC_H
#define PETREL_LIB_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define IPC_MSG_MAX (64u * 1024)	/* header + payload */

struct event_base;
struct ipc_chan;

struct ipc_msg {
	uint32_t type;
	uint64_t id;
	int fd;			/* -1, or a descriptor the receiver now owns */
	const unsigned char *p;	/* payload */
	size_t len;
	size_t off;		/* read position */
};

typedef void (*ipc_recv_cb)(struct ipc_chan *ch, struct ipc_msg *m,
    void *arg);
/*
 * Called once, from the event loop, when the peer closed the channel or a
 * send failed (not from inside ipc_send or another callback of ch).
 */
typedef void (*ipc_close_cb)(struct ipc_chan *ch, void *arg);

/* Creates a SOCK_SEQPACKET socketpair (close-on-exec). 0 or -1/errno. */
int ipc_socketpair(int sv[2]);

/* Wraps fd (non-blocking is set) in a channel driven by base. */
struct ipc_chan *ipc_chan_new(struct event_base *base, int fd,
    const char *peer_name, ipc_recv_cb recv, ipc_close_cb close_cb,
    void *arg);
/*
 * Closes the channel and drops queued messages. Safe inside the channel's
 * own callbacks: the memory is released from the event loop later.
 */
void ipc_chan_free(struct ipc_chan *ch);
const char *ipc_chan_peer(const struct ipc_chan *ch);

/*
 * Queues a message (payload may be NULL; fd -1 for none; the fd is
 * duplicated, the caller keeps its own). Never blocks: messages wait in
 * memory while the socket is full. 0, or -1 if the channel is broken (its
 * close callback then follows from the loop).
 */
int ipc_send(struct ipc_chan *ch, uint32_t type, uint64_t id, int fd,
    const struct buf *payload);

/* Payload writers: append to b (fatal if b overflows: a petrel bug). */
void ipc_put_u32(struct buf *b, uint32_t v);
void ipc_put_u64(struct buf *b, uint64_t v);
/* A string (NULL allowed) as u32 length (0xffffffff for NULL) + bytes. */
void ipc_put_str(struct buf *b, const char *s);
void ipc_put_bytes(struct buf *b, const void *p, size_t n);

/* Payload readers: fatal on a short or malformed field. */
uint32_t ipc_get_u32(struct ipc_msg *m);
uint64_t ipc_get_u64(struct ipc_msg *m);
/*
 * Returns a freshly allocated copy (NULL if NULL was sent); strings with a
 * NUL inside are malformed.
 */
char *ipc_get_str(struct ipc_msg *m);
/* Copies a string into out (size outsz); fatal if it does not fit. */
void ipc_get_strn(struct ipc_msg *m, char *out, size_t outsz);
/* Fatal unless the whole payload has been read. */
void ipc_get_end(struct ipc_msg *m);

#endif
