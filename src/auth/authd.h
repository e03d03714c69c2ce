/*
 * authd: the logic of the auth process, the only process that holds
 * password hashes and SCRAM keys. The smtp process decodes SASL and asks
 * three kinds of questions (smtpd.h, enum smtpd_auth_kind): is this the
 * password of that user; what are the user's SCRAM salt and iteration
 * count; is this SCRAM client proof right. Password hashes are checked on
 * worker threads (yescrypt and argon2 take tens of milliseconds on
 * purpose), so the loop keeps answering.
 *
 * Brute force: failures are counted per client address (IPv6: per /64)
 * and per account, in a window of auth-fail-window from the first one;
 * past auth-fail-limit-ip or auth-fail-limit-user an attempt is answered
 * "locked" without being checked, so guessing stops paying. A password
 * check counts as a failure from the moment it is asked (taken back when
 * it succeeds), so parallel connections gain nothing; at most
 * AUTHD_MAX_INFLIGHT checks wait at once, more are told to try later; the
 * counting tables are bounded and evict rather than stop counting.
 *
 * Accounts should not show through answers: a missing account costs a
 * dummy yescrypt, every failed check is answered no sooner than
 * AUTHD_FAIL_FLOOR_MS after the question (cheap hashes and disabled
 * accounts would otherwise answer faster), and SCRAM gives a missing
 * account a salt derived from a per-process secret. Known limit: that
 * salt changes when the auth process restarts, and a hash costlier than
 * the floor still answers later.
 */
#ifndef PETREL_AUTH_AUTHD_H
#define PETREL_AUTH_AUTHD_H

#include <stdint.h>

#include "auth/passwd.h"
#include "conf/conf.h"
#include "smtpd/smtpd.h"

struct event_base;
struct authd;

/*
 * Sends one answer back to session id. tag is the caller's value given
 * with the request (the process wiring uses it to drop answers meant for
 * an smtp process that has since been replaced).
 */
typedef void (*authd_answer_fn)(void *arg, uint64_t tag, uint64_t id,
    const struct smtpd_auth_answer *a);

struct authd *authd_new(struct event_base *base, authd_answer_fn answer,
    void *arg);
/*
 * Installs a configuration and accounts (a reload). Takes ownership of
 * accounts; c must stay valid until the next call.
 */
void authd_set_conf(struct authd *d, const struct conf *c,
    struct auth_accounts *accounts);
/* A question from the smtp process; answered once, maybe later. */
void authd_request(struct authd *d, uint64_t tag,
    const struct smtpd_auth_req *req);

#endif
