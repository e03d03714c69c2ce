/*
 * authd: the logic of the auth process, the only process that holds
 * password hashes and SCRAM keys. The smtp process decodes SASL and asks
 * three kinds of questions (smtpd.h, enum smtpd_auth_kind): is this the
 * password of that user; what are the user's SCRAM salt and iteration
 * count; is this SCRAM client proof right. Password hashes are checked on
 * worker threads (yescrypt and argon2 take tens of milliseconds on
 * purpose), so the loop keeps answering.
 *
 * Brute force: failures are counted per client address and per account in
 * a sliding window (auth-fail-window); past auth-fail-limit-ip or
 * auth-fail-limit-user an attempt is answered "locked" without being
 * checked, so guessing stops paying. Unknown users cost the same time as
 * known ones, and get a SCRAM salt derived from a per-process secret, so
 * answers do not tell which accounts exist.
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
