/*
 * session_auth: the AUTH command (RFC 4954) of a session, and what
 * authentication changes afterwards (who may be MAIL FROM).
 *
 * Mechanisms: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login),
 * SCRAM-SHA-256 (RFC 7677) and SCRAM-SHA-256-PLUS with tls-exporter
 * channel binding (RFC 9266). AUTH exists only inside TLS: never on mx
 * listeners, on submission only after STARTTLS. The session decodes the
 * SASL messages (proto/sasl.h) and asks the auth process the questions
 * that need secrets (smtpd_auth_request), so no password hash or SCRAM key
 * ever enters this process.
 *
 * Replies (RFC 4954 4 and 6): 334 challenges, 235 2.7.0 success, 535 5.7.8
 * bad credentials (after auth-fail-delay, so guessing is slow), 501 for
 * "*" and for undecodable responses, 503 for AUTH when already
 * authenticated or inside a transaction, 504 for an unknown mechanism,
 * 538 5.7.11 before TLS, 454 4.7.0 when too many failures locked the
 * client address or account, or the auth process is unavailable. The
 * third failure in one session closes it with 421.
 *
 * CRAM-MD5 and DIGEST-MD5 are not offered: they need a secret on the
 * server that is as good as the password (docs/config.md).
 */
#include "smtpd/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/base64.h"
#include "proto/sasl.h"

/* RFC 4954 4: a response line may be 12288 octets long. */
#define SMTPD_AUTH_LINE_MAX 12288
/* Failures in one session before it is closed. */
#define SMTPD_AUTH_MAX_FAILURES 3
/* tls-exporter channel binding (RFC 9266 2). */
#define SMTPD_CB_LABEL "EXPORTER-Channel-Binding"
#define SMTPD_CB_LEN 32

enum smtpd_auth_mech {
	SMTPD_MECH_PLAIN,
	SMTPD_MECH_LOGIN,
	SMTPD_MECH_SCRAM,
	SMTPD_MECH_SCRAM_PLUS,
};

static const char *const smtpd_mech_names[] = { "PLAIN", "LOGIN",
	"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS" };

enum smtpd_auth_step {
	SMTPD_A_PLAIN,		/* waiting for the PLAIN message */
	SMTPD_A_LOGIN_USER,	/* LOGIN: waiting for the user name */
	SMTPD_A_LOGIN_PASS,	/* LOGIN: waiting for the password */
	SMTPD_A_SCRAM_FIRST,	/* waiting for client-first-message */
	SMTPD_A_SCRAM_FINAL,	/* waiting for client-final-message */
	SMTPD_A_SCRAM_ACK,	/* server-final sent: waiting for "" */
	SMTPD_A_ASKED,		/* waiting for the auth process */
	SMTPD_A_DELAY,		/* failed: waiting before the reply */
};

struct smtpd_auth {
	enum smtpd_auth_mech mech;
	enum smtpd_auth_step step;
	enum smtpd_auth_kind asked;	/* the question, while ASKED */
	char user[256];			/* as the client gave it */
	struct buf first;		/* SCRAM: client-first-message */
	struct sasl_scram_first cf;	/* spans into first */
	struct buf server_first;	/* SCRAM: what we sent */
	uint8_t cbdata[SMTPD_CB_LEN];	/* SCRAM-PLUS: tls-exporter */
	char snonce[32];		/* SCRAM: our nonce */
	struct event *delay;
	const char *delay_reply;	/* the reply after the delay */
	char *ok_user, *ok_senders;	/* SCRAM: proof accepted, waiting
					 * for the client's "" */
};

/* Can this TLS connection do tls-exporter channel binding (RFC 9266 3)? */
static bool
smtpd_auth_can_bind(const struct smtpd_session *s)
{
	if (s->ssl == NULL)
		return false;
	/* TLS 1.2 only with the extended master secret (RFC 7627). */
	return SSL_version(s->ssl) >= TLS1_3_VERSION ||
	    SSL_get_extms_support(s->ssl) == 1;
}

/* Is AUTH offered on this session now? */
static bool
smtpd_auth_offered(const struct smtpd_session *s)
{
	return (s->role == CONF_ROLE_SUBMISSION ||
	    s->role == CONF_ROLE_SUBMISSIONS) && s->ssl != NULL &&
	    s->state != SMTPD_S_HANDSHAKE;
}

void
smtpd_auth_ehlo(struct smtpd_session *s, struct evbuffer *out)
{
	if (!smtpd_auth_offered(s) || s->auth_user != NULL)
		return;
	evbuffer_add_printf(out, "250-AUTH PLAIN LOGIN SCRAM-SHA-256%s\r\n",
	    smtpd_auth_can_bind(s) ? " SCRAM-SHA-256-PLUS" : "");
}

void
smtpd_auth_abort(struct smtpd_session *s)
{
	struct smtpd_auth *a = s->auth;

	if (a == NULL)
		return;
	if (a->delay != NULL)
		event_free(a->delay);
	free(a->ok_user);
	free(a->ok_senders);
	buf_clear(&a->first);
	buf_clear(&a->server_first);
	OPENSSL_cleanse(a, sizeof(*a));
	free(a);
	s->auth = NULL;
	if (s->state == SMTPD_S_AUTH)
		s->state = SMTPD_S_CMD;
	if (s->wait == SMTPD_W_AUTH)
		s->wait = SMTPD_W_NONE;
}

/* Sends a 334 challenge with data (may be empty) and reads the answer. */
static void
smtpd_auth_challenge(struct smtpd_session *s, const void *p, size_t n)
{
	char *b64 = xmalloc(base64_encoded_len(n) + 1);

	base64_encode(p, n, b64);
	smtpd_reply(s, "334 %s", b64);
	free(b64);
	s->state = SMTPD_S_AUTH;
}

/* Ends the exchange with an error reply that counts as a session error. */
static void
smtpd_auth_fail_now(struct smtpd_session *s, const char *reply)
{
	smtpd_auth_abort(s);
	smtpd_reply_err(s, "%s", reply);
}

static void
smtpd_auth_log_fail(struct smtpd_session *s, const char *user,
    const char *reason)
{
	char esc[300];

	log_escape(user, strlen(user), esc, sizeof(esc));
	/* One stable line for fail2ban-style tools (docs/operations.md). */
	log_warn("session=%llx auth failed client=%s user=%s mech=%s "
	    "reason=%s", (unsigned long long)s->id, s->addr, esc,
	    s->auth != NULL ? smtpd_mech_names[s->auth->mech] : "-", reason);
}

/* Asks the auth process; the answer comes to smtpd_session_auth_answer. */
static void
smtpd_auth_ask(struct smtpd_session *s, struct smtpd_auth_req *req)
{
	struct smtpd_auth *a = s->auth;

	req->id = s->id;
	req->client_addr = s->addr;
	req->mech = smtpd_mech_names[a->mech];
	req->user = a->user;
	a->asked = req->kind;
	a->step = SMTPD_A_ASKED;
	s->state = SMTPD_S_CMD;
	if (!smtpd_auth_request(req)) {
		smtpd_auth_log_fail(s, a->user, "no-auth-process");
		smtpd_auth_abort(s);
		smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	s->wait = SMTPD_W_AUTH;
}

static void
smtpd_auth_check_password(struct smtpd_session *s, const char *pw)
{
	struct smtpd_auth_req req = { .kind = SMTPD_AUTH_PASSWORD,
		.password = pw };

	smtpd_auth_ask(s, &req);
}

/* PLAIN (RFC 4616 2): [authzid] NUL authcid NUL passwd. */
static void
smtpd_auth_plain(struct smtpd_session *s, const uint8_t *msg, size_t n)
{
	struct span authzid, authcid, passwd;
	char pw[256];

	if (sasl_plain_parse(msg, n, &authzid, &authcid, &passwd) != 0) {
		smtpd_auth_fail_now(s, "501 5.5.2 Invalid PLAIN message");
		return;
	}
	memcpy(s->auth->user, authcid.p, authcid.n);
	s->auth->user[authcid.n] = '\0';
	/* No proxy authorization: an authzid must name the same user. */
	if (authzid.n > 0 && (authzid.n != authcid.n ||
	    strncasecmp(authzid.p, authcid.p, authcid.n) != 0)) {
		smtpd_auth_log_fail(s, s->auth->user, "authzid");
		smtpd_auth_fail_now(s, "535 5.7.8 Authorization identity "
		    "not allowed");
		return;
	}
	memcpy(pw, passwd.p, passwd.n);
	pw[passwd.n] = '\0';
	smtpd_auth_check_password(s, pw);
	OPENSSL_cleanse(pw, sizeof(pw));
}

/* SCRAM client-first-message (RFC 5802 7). */
static void
smtpd_auth_scram_first(struct smtpd_session *s, const uint8_t *msg,
    size_t n)
{
	struct smtpd_auth *a = s->auth;
	bool plus = a->mech == SMTPD_MECH_SCRAM_PLUS;
	struct smtpd_auth_req req = { .kind = SMTPD_AUTH_SCRAM_START };
	int r;

	buf_reset(&a->first);
	if (buf_append(&a->first, msg, n) != 0) {
		smtpd_auth_fail_now(s, "501 5.5.2 Invalid SCRAM message");
		return;
	}
	r = sasl_scram_parse_first(a->first.data, a->first.len, &a->cf);
	if (r != 0) {
		smtpd_auth_fail_now(s, r == SASL_ERR_CBIND_TYPE ?
		    "535 5.7.8 Channel binding type not supported" :
		    r == SASL_ERR_MEXT ?
		    "535 5.7.8 SCRAM extension not supported" :
		    "501 5.5.2 Invalid SCRAM message");
		return;
	}
	/*
	 * RFC 5802 6: -PLUS needs binding data; the plain mechanism must
	 * not carry any; and "y" (the client could bind but thinks we
	 * cannot) while we offer -PLUS means someone removed it: fail.
	 */
	if ((plus && a->cf.cbind != SASL_SCRAM_CBIND_TLS_EXPORTER) ||
	    (!plus && a->cf.cbind == SASL_SCRAM_CBIND_TLS_EXPORTER) ||
	    (!plus && a->cf.cbind == SASL_SCRAM_CBIND_UNOFFERED &&
	    smtpd_auth_can_bind(s))) {
		snprintf(a->user, sizeof(a->user), "%s", a->cf.user);
		smtpd_auth_log_fail(s, a->user, "channel-binding");
		smtpd_auth_fail_now(s, "535 5.7.8 Channel binding mismatch");
		return;
	}
	if (a->cf.authzid[0] != '\0' &&
	    strcasecmp(a->cf.authzid, a->cf.user) != 0) {
		snprintf(a->user, sizeof(a->user), "%s", a->cf.user);
		smtpd_auth_log_fail(s, a->user, "authzid");
		smtpd_auth_fail_now(s, "535 5.7.8 Authorization identity "
		    "not allowed");
		return;
	}
	if (plus && SSL_export_keying_material(s->ssl, a->cbdata,
	    sizeof(a->cbdata), SMTPD_CB_LABEL, strlen(SMTPD_CB_LABEL), NULL,
	    0, 0) != 1) {
		smtpd_auth_fail_now(s, "454 4.7.0 Temporary authentication "
		    "failure");
		return;
	}
	snprintf(a->user, sizeof(a->user), "%s", a->cf.user);
	smtpd_auth_ask(s, &req);
}

/* The auth process gave the salt: send server-first-message. */
static void
smtpd_auth_scram_salt(struct smtpd_session *s,
    const struct smtpd_auth_answer *ans)
{
	struct smtpd_auth *a = s->auth;
	uint8_t rnd[18];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		smtpd_auth_fail_now(s, "454 4.7.0 Temporary authentication "
		    "failure");
		return;
	}
	/* 18 random bytes: 24 base64 symbols, never ',' (RFC 5802 5.1). */
	base64_encode(rnd, sizeof(rnd), a->snonce);
	buf_reset(&a->server_first);
	if (sasl_scram_format_server_first(&a->server_first, a->cf.cnonce,
	    span_cstr(a->snonce), ans->salt, ans->saltlen, ans->iter) != 0) {
		smtpd_auth_fail_now(s, "454 4.7.0 Temporary authentication "
		    "failure");
		return;
	}
	a->step = SMTPD_A_SCRAM_FINAL;
	smtpd_auth_challenge(s, a->server_first.data, a->server_first.len);
}

/* SCRAM client-final-message (RFC 5802 7). */
static void
smtpd_auth_scram_final(struct smtpd_session *s, const uint8_t *msg,
    size_t n)
{
	struct smtpd_auth *a = s->auth;
	struct smtpd_auth_req req = { .kind = SMTPD_AUTH_SCRAM_PROOF };
	struct sasl_scram_final f;
	struct buf authmsg;

	if (sasl_scram_parse_final((const char *)msg, n, &f) != 0) {
		smtpd_auth_fail_now(s, "501 5.5.2 Invalid SCRAM message");
		return;
	}
	if (!sasl_scram_nonce_ok(&f, a->cf.cnonce, span_cstr(a->snonce))) {
		smtpd_auth_log_fail(s, a->user, "nonce");
		smtpd_auth_fail_now(s, "535 5.7.8 Authentication credentials "
		    "invalid");
		return;
	}
	if (!sasl_scram_cbind_ok(&f, &a->cf, a->cbdata,
	    a->mech == SMTPD_MECH_SCRAM_PLUS ? sizeof(a->cbdata) : 0)) {
		smtpd_auth_log_fail(s, a->user, "channel-binding");
		smtpd_auth_fail_now(s, "535 5.7.8 Channel binding mismatch");
		return;
	}
	buf_init(&authmsg, 3 * SMTPD_AUTH_LINE_MAX);
	if (sasl_scram_auth_message(&authmsg, a->cf.bare,
	    span_make(a->server_first.data, a->server_first.len),
	    f.without_proof) != 0) {
		buf_clear(&authmsg);
		smtpd_auth_fail_now(s, "501 5.5.2 Invalid SCRAM message");
		return;
	}
	req.authmsg = authmsg.data;
	req.proof = f.proof;
	smtpd_auth_ask(s, &req);
	buf_clear(&authmsg);
}

/* Remembers who the client is from now on. */
static void
smtpd_auth_set_user(struct smtpd_session *s, const char *user,
    const char *senders)
{
	free(s->auth_user);
	free(s->auth_senders);
	s->auth_user = xstrdup(user);
	s->auth_senders = xstrdup(senders != NULL ? senders : "");
}

/* Authenticated: say so. */
static void
smtpd_auth_success(struct smtpd_session *s)
{
	char esc[300];

	log_escape(s->auth_user, strlen(s->auth_user), esc, sizeof(esc));
	log_info("session=%llx auth ok client=%s user=%s mech=%s",
	    (unsigned long long)s->id, s->addr, esc,
	    smtpd_mech_names[s->auth->mech]);
	smtpd_auth_abort(s);
	smtpd_reply(s, "235 2.7.0 Authentication successful");
}

/* The pause after a failure is over: reply, maybe close. */
static void
smtpd_auth_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;
	const char *reply = s->auth->delay_reply;

	(void)fd;
	(void)what;
	smtpd_auth_abort(s);
	if (s->state == SMTPD_S_CLOSING)
		return;
	if (++s->auth_failures >= SMTPD_AUTH_MAX_FAILURES) {
		smtpd_reply(s, "%s", reply);
		smtpd_close(s, "421 4.7.0 %s Error: too many failed "
		    "authentication attempts", s->rt->conf.hostname);
		return;
	}
	smtpd_reply_err(s, "%s", reply);
	if (s->state != SMTPD_S_CLOSING)
		smtpd_session_input(s);
}

/* A failed attempt: log now, reply after auth-fail-delay. */
static void
smtpd_auth_failed(struct smtpd_session *s, const char *reason,
    const char *reply)
{
	struct smtpd_auth *a = s->auth;
	struct timeval tv = { s->rt->conf.auth_fail_delay, 0 };

	smtpd_auth_log_fail(s, a->user, reason);
	a->step = SMTPD_A_DELAY;
	a->delay_reply = reply;
	s->wait = SMTPD_W_AUTH;
	a->delay = evtimer_new(s->srv->base, smtpd_auth_delay_cb, s);
	evtimer_add(a->delay, &tv);
}

void
smtpd_session_auth_answer(struct smtpd_session *s,
    const struct smtpd_auth_answer *ans)
{
	struct smtpd_auth *a = s->auth;

	if (a == NULL || a->step != SMTPD_A_ASKED || s->wait != SMTPD_W_AUTH)
		return;		/* stale: the session moved on */
	s->wait = SMTPD_W_NONE;
	if (s->state == SMTPD_S_CLOSING) {
		smtpd_auth_abort(s);
		return;
	}
	switch (ans->status) {
	case SMTPD_AUTH_OK:
		/* What each question's OK must carry (else: a bug there). */
		if ((a->asked == SMTPD_AUTH_SCRAM_START && (ans->salt == NULL ||
		    ans->iter == 0)) || (a->asked != SMTPD_AUTH_SCRAM_START &&
		    ans->user == NULL) || (a->asked == SMTPD_AUTH_SCRAM_PROOF &&
		    ans->server_sig == NULL)) {
			smtpd_auth_log_fail(s, a->user, "bad-answer");
			smtpd_auth_abort(s);
			smtpd_reply(s, "454 4.7.0 Temporary authentication "
			    "failure");
			break;
		}
		if (a->asked == SMTPD_AUTH_SCRAM_START) {
			smtpd_auth_scram_salt(s, ans);
			break;
		}
		if (a->asked == SMTPD_AUTH_SCRAM_PROOF) {
			/* RFC 4954 4: additional data goes in a 334. */
			struct buf fin;

			buf_init(&fin, 256);
			if (sasl_scram_format_server_final(&fin,
			    ans->server_sig) != 0) {
				buf_clear(&fin);
				smtpd_auth_fail_now(s, "454 4.7.0 Temporary "
				    "authentication failure");
				break;
			}
			/* In force once the client acknowledges with "". */
			a->ok_user = xstrdup(ans->user);
			a->ok_senders = xstrdup(ans->senders != NULL ?
			    ans->senders : "");
			a->step = SMTPD_A_SCRAM_ACK;
			smtpd_auth_challenge(s, fin.data, fin.len);
			buf_clear(&fin);
			break;
		}
		smtpd_auth_set_user(s, ans->user, ans->senders);
		smtpd_auth_success(s);
		break;
	case SMTPD_AUTH_FAILED:
		smtpd_auth_failed(s, "bad-credentials", "535 5.7.8 "
		    "Authentication credentials invalid");
		break;
	case SMTPD_AUTH_LOCKED:
		smtpd_auth_failed(s, "too-many-failures", "454 4.7.0 Too "
		    "many failed authentication attempts; try again later");
		break;
	case SMTPD_AUTH_TEMPFAIL:
	default:
		smtpd_auth_log_fail(s, a->user, "tempfail");
		smtpd_auth_abort(s);
		smtpd_reply(s, "454 4.7.0 Temporary authentication failure");
		break;
	}
	if (s->wait == SMTPD_W_NONE && s->state != SMTPD_S_CLOSING)
		smtpd_session_input(s);
}

/* Decodes and handles one client response (or initial response). */
static void
smtpd_auth_response(struct smtpd_session *s, struct span line)
{
	struct smtpd_auth *a = s->auth;
	size_t cap = base64_decoded_max(line.n) + 1, n = 0;
	uint8_t *msg;

	if (line.n == 1 && line.p[0] == '*') {
		smtpd_auth_fail_now(s, "501 5.0.0 Authentication cancelled");
		return;
	}
	msg = xmalloc(cap);
	if (base64_decode(line.p, line.n, msg, cap, &n) != 0) {
		free(msg);
		smtpd_auth_fail_now(s, "501 5.5.2 Cannot decode response");
		return;
	}
	switch (a->step) {
	case SMTPD_A_PLAIN:
		smtpd_auth_plain(s, msg, n);
		break;
	case SMTPD_A_LOGIN_USER:
		if (n == 0 || n >= sizeof(a->user) || memchr(msg, 0, n)) {
			smtpd_auth_fail_now(s, "501 5.5.2 Invalid user name");
			break;
		}
		memcpy(a->user, msg, n);
		a->user[n] = '\0';
		a->step = SMTPD_A_LOGIN_PASS;
		smtpd_auth_challenge(s, "Password:", 9);
		break;
	case SMTPD_A_LOGIN_PASS:
		if (n == 0 || n > 255 || memchr(msg, 0, n)) {
			smtpd_auth_fail_now(s, "501 5.5.2 Invalid password");
			break;
		}
		msg[n] = '\0';
		smtpd_auth_check_password(s, (const char *)msg);
		break;
	case SMTPD_A_SCRAM_FIRST:
		smtpd_auth_scram_first(s, msg, n);
		break;
	case SMTPD_A_SCRAM_FINAL:
		smtpd_auth_scram_final(s, msg, n);
		break;
	case SMTPD_A_SCRAM_ACK:
		if (n != 0) {
			smtpd_auth_fail_now(s, "501 5.5.2 Expected an empty "
			    "response");
			break;
		}
		smtpd_auth_set_user(s, a->ok_user, a->ok_senders);
		smtpd_auth_success(s);
		break;
	default:
		smtpd_auth_fail_now(s, "503 5.5.1 Error: unexpected response");
		break;
	}
	OPENSSL_cleanse(msg, cap);
	free(msg);
}

void
smtpd_auth_line(struct smtpd_session *s, struct span line)
{
	s->state = SMTPD_S_CMD;
	if (s->auth == NULL) {
		smtpd_reply_err(s, "503 5.5.1 Error: no AUTH in progress");
		return;
	}
	smtpd_auth_response(s, line);
}

void
smtpd_cmd_auth(struct smtpd_session *s, const struct span *args)
{
	struct span mech = *args, ir = { NULL, 0 };
	const char *sp;
	bool has_ir = false;
	int m;

	if (s->role == CONF_ROLE_MX || s->role == CONF_ROLE_LOCAL) {
		smtpd_reply_err(s, "503 5.5.1 Error: authentication not "
		    "enabled");
		return;
	}
	if (s->ssl == NULL) {
		smtpd_reply_err(s, "538 5.7.11 Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	if (s->helo[0] == '\0' || !s->esmtp) {
		smtpd_reply_err(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->auth_user != NULL) {
		smtpd_reply_err(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->has_txn) {
		smtpd_reply_err(s, "503 5.5.1 Error: AUTH not permitted "
		    "during a mail transaction");
		return;
	}
	/* AUTH mechanism [initial-response] (RFC 4954 4). */
	if ((sp = memchr(args->p, ' ', args->n)) != NULL) {
		mech.n = (size_t)(sp - args->p);
		ir = span_make(sp + 1, args->n - mech.n - 1);
		has_ir = true;
	}
	for (m = 0; m < 4; m++)
		if (span_eq_ci(mech, smtpd_mech_names[m]))
			break;
	if (m == 4 || (m == SMTPD_MECH_SCRAM_PLUS && !smtpd_auth_can_bind(s))) {
		smtpd_reply_err(s, "504 5.5.4 Authentication mechanism not "
		    "supported");
		return;
	}
	if (has_ir && (ir.n == 0 || memchr(ir.p, ' ', ir.n) != NULL)) {
		smtpd_reply_err(s, "501 5.5.4 Syntax: AUTH mechanism "
		    "[initial-response]");
		return;
	}
	s->auth = xcalloc(1, sizeof(*s->auth));
	s->auth->mech = (enum smtpd_auth_mech)m;
	buf_init(&s->auth->first, SMTPD_AUTH_LINE_MAX);
	buf_init(&s->auth->server_first, SMTPD_AUTH_LINE_MAX);
	switch (s->auth->mech) {
	case SMTPD_MECH_PLAIN:
		s->auth->step = SMTPD_A_PLAIN;
		break;
	case SMTPD_MECH_LOGIN:
		s->auth->step = SMTPD_A_LOGIN_USER;
		if (!has_ir) {
			smtpd_auth_challenge(s, "Username:", 9);
			return;
		}
		break;
	default:
		s->auth->step = SMTPD_A_SCRAM_FIRST;
		break;
	}
	if (!has_ir) {
		smtpd_auth_challenge(s, "", 0);
		return;
	}
	/* "=" is an empty initial response (RFC 4954 4). */
	if (ir.n == 1 && ir.p[0] == '=')
		ir.n = 0;
	smtpd_auth_response(s, ir);
}

/* Is addr (local@domain) the account or one of its addresses? */
bool
smtpd_auth_may_send_as(const struct smtpd_session *s, const char *addr)
{
	const struct conf *cf = &s->rt->conf;
	const char *at = strrchr(addr, '@'), *p, *end;
	char base[SMTP_LOCAL_MAX * 4 + SMTP_DOMAIN_MAX + 8];
	size_t local;

	if (s->auth_user == NULL || at == NULL)
		return false;
	/* user+tag@domain is user@domain's (recipient-delimiter). */
	local = strcspn(addr, cf->delimiter[0] ? cf->delimiter : "@");
	if (local > (size_t)(at - addr))
		local = (size_t)(at - addr);
	snprintf(base, sizeof(base), "%.*s%s", (int)local, addr, at);
	if (strcasecmp(addr, s->auth_user) == 0 ||
	    strcasecmp(base, s->auth_user) == 0)
		return true;
	for (p = s->auth_senders; p != NULL && *p != '\0'; p = end) {
		size_t n;

		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if ((strlen(addr) == n && strncasecmp(addr, p, n) == 0) ||
		    (strlen(base) == n && strncasecmp(base, p, n) == 0))
			return true;
		if (end != NULL)
			end++;
	}
	return false;
}
