/*
 * tlsrpt_int: what remote/tlsrpt.c (the counts store and its period
 * files) and remote/tlsrpt_send.c (composing and delivering the reports)
 * share: the store's structures and the few store functions the sending
 * side calls. Nothing else includes this.
 *
 * Ownership: the periods, domains, policies and rows belong to the store;
 * the sending side reads them and sets a domain's done flag only through
 * tlsrpt_period_save() (or tlsrpt_drop()). The run, refused, ca and curl
 * fields of struct tlsrpt are the sending side's state, kept in the store
 * so that tlsrpt_set_base() and tlsrpt_close() can reach them.
 */
#ifndef PETREL_REMOTE_TLSRPT_INT_H
#define PETREL_REMOTE_TLSRPT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remote/tlsrpt.h"

struct curlev;
struct event;
struct event_base;

#define TLSRPT_DAY      86400
#define TLSRPT_NAME_MAX 40

struct tlsrpt_row {
	enum tlsrpt_result result;
	char *sending_ip, *receiving_mx, *receiving_ip, *reason;
	uint64_t count;
};

struct tlsrpt_pol {
	enum tlsrpt_policy_type ptype;
	char **strings;
	size_t nstrings;
	uint64_t nsuccess, nfailure;
	struct tlsrpt_row *rows;
	size_t nrows;
};

struct tlsrpt_dom {
	char *domain;
	bool done; /* reported or dropped */
	struct tlsrpt_pol *pols;
	size_t npols;
};

struct tlsrpt_period {
	int64_t start, end; /* end exclusive */
	char name[TLSRPT_NAME_MAX];
	struct tlsrpt_dom **doms; /* sorted by domain */
	size_t ndoms, capdoms;
	bool dirty;
	bool warned; /* the domain bound was logged */
};

struct tlsrpt_run;

struct tlsrpt {
	char *dir;
	struct tlsrpt_period **periods; /* sorted by start */
	size_t nperiods;
	int64_t saved; /* monotonic seconds of the last write, 0 never */
	struct event_base *base;
	struct event *timer;
	struct tlsrpt_run *run;     /* the run in progress */
	struct tlsrpt_run *refused; /* refused runs waiting for their done() */
	char *ca;                   /* CA PEM for https: rua (tlsrpt_set_ca) */
	size_t ca_len;
	struct curlev *curl; /* https: POSTs, made at the first one */
};

/* Writes p's file atomically (fdatasync'ed when sync) and clears
 * p->dirty: 0, or -1 (logged; p->dirty unchanged). */
int tlsrpt_period_save(struct tlsrpt *t, struct tlsrpt_period *p, bool sync);

/* The domain of a due pair and, in *pp, its period; NULL when either is
 * gone (*pp untouched then). */
struct tlsrpt_dom *tlsrpt_due_dom(const struct tlsrpt *t,
    const struct tlsrpt_due *due, struct tlsrpt_period **pp);

/* Frees the run in progress and the refused runs (tlsrpt_close()): their
 * lookups and POSTs are cancelled, their done() never called. */
void tlsrpt_send_abandon(struct tlsrpt *t);

#endif
