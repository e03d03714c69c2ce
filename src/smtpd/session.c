/*
 * session: one inbound SMTP connection as a state machine (RFC 5321), in
 * the shape of OpenSMTPD's smtp_session.c: a state, a transaction that RSET
 * and EHLO discard, one input routine. Commands are read with the strict
 * CRLF line finder (lib/line.h) with a bounded length; every reply carries
 * an enhanced status code (RFC 2034, 3463); PIPELINING (RFC 2920) works
 * because replies of one read are flushed together and a command that
 * waits for the queue pauses input instead of dropping it.
 *
 * STARTTLS (RFC 3207 4.2): anything the client pipelined behind the
 * command is discarded before the handshake and never executed (the
 * CVE-2011-0411 class); afterwards the session is as new and the client
 * must say EHLO again.
 *
 * REQUIRETLS (RFC 8689): offered in the EHLO reply only on a TLS session
 * (after STARTTLS, or on an implicit-TLS listener), because the keyword
 * promises that this hop is protected; the MAIL parameter tags the
 * message (RFC 8689 4.1), and the tag travels with it through the queue.
 * Sent on a plaintext session, where it was not offered, it is refused
 * with RFC 3207's reply for a command that needs TLS, 530 5.7.0, so the
 * client knows that STARTTLS would help and must not send the message in
 * the clear (RFC 8689 2: the option "MUST only be specified in the
 * context of an SMTP session meeting the security requirements of
 * REQUIRETLS").
 */
#include "smtpd/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "lib/line.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/smtp_cmd.h"
#include "tls/tls.h"

#define SMTPD_OUT_HIGH (256u * 1024) /* stop reading while replies pile up */
#define SMTPD_IN_HIGH (512u * 1024)  /* kernel keeps the rest */

static void smtpd_read_cb(struct bufferevent *bev, void *arg);
static void smtpd_write_cb(struct bufferevent *bev, void *arg);
static void smtpd_event_cb(struct bufferevent *bev, short what, void *arg);
static void smtpd_set_timeout(struct smtpd_session *s);
static void smtpd_starttls_upgrade(struct smtpd_session *s);

const char *
smtpd_protocol(const struct smtpd_session *s)
{
	if (!s->esmtp)
		return s->ssl ? "SMTPS" : "SMTP";
	return s->ssl ? "ESMTPS" : "ESMTP";
}

static void __attribute__((format(printf, 2, 0)))
smtpd_vreply(struct smtpd_session *s, const char *fmt, va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	evbuffer_add_vprintf(out, fmt, ap);
	evbuffer_add(out, "\r\n", 2);
}

void
smtpd_reply(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtpd_vreply(s, fmt, ap);
	va_end(ap);
}

void
smtpd_reply_err(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtpd_vreply(s, fmt, ap);
	va_end(ap);
	if (++s->errors >= s->rt->conf.max_errors && s->state != SMTPD_S_CLOSING) {
		log_info("session=%llx client=%s too many errors (%u)",
		    (unsigned long long)s->id, s->addr, s->errors);
		smtpd_close(s, "421 4.7.0 %s Error: too many errors",
		    s->rt->conf.hostname);
	}
}

/*
 * Queues a last reply and closes once it is written. Input that is
 * already buffered is ignored from now on.
 */
void
smtpd_close(struct smtpd_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->state == SMTPD_S_CLOSING)
		return;
	if (fmt != NULL) {
		va_start(ap, fmt);
		smtpd_vreply(s, fmt, ap);
		va_end(ap);
	}
	s->state = SMTPD_S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	/*
	 * Never free here: callers are inside the session's own input loop.
	 * The write callback frees the session once the reply is out; make
	 * sure it runs even when there is nothing left to write.
	 */
	bufferevent_enable(s->bev, EV_WRITE);
	bufferevent_trigger(s->bev, EV_WRITE,
	    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
smtpd_txn_reset(struct smtpd_session *s)
{
	if (s->wait == SMTPD_W_NONE)
		smtpd_data_release(s);
	free(s->txn.rcpts);
	memset(&s->txn, 0, sizeof(s->txn));
	s->has_txn = false;
}

/* ---- commands ---- */

static void
smtpd_cmd_helo(struct smtpd_session *s, const struct smtp_cmd *c)
{
	const struct conf *cf = &s->rt->conf;
	bool ehlo = c->verb == SMTP_VERB_EHLO;
	struct evbuffer *out;

	if (!c->has_args || smtp_helo_check(c->args) != 0 ||
	    c->args.n > SMTP_DOMAIN_MAX) {
		smtpd_reply_err(s, "501 5.5.4 Syntax: %s hostname",
		    ehlo ? "EHLO" : "HELO");
		return;
	}
	smtpd_txn_reset(s);
	memcpy(s->helo, c->args.p, c->args.n);
	s->helo[c->args.n] = '\0';
	s->esmtp = ehlo;
	if (!ehlo) {
		smtpd_reply(s, "250 %s", cf->hostname);
		return;
	}
	out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "250-%s\r\n", cf->hostname);
	evbuffer_add_printf(out, "250-PIPELINING\r\n");
	evbuffer_add_printf(out, "250-SIZE %llu\r\n",
	    (unsigned long long)cf->max_message_size);
	if (s->ssl == NULL && s->rt->tls != NULL && s->role != CONF_ROLE_LOCAL)
		evbuffer_add_printf(out, "250-STARTTLS\r\n");
	smtpd_auth_ehlo(s, out);
	evbuffer_add_printf(out, "250-ENHANCEDSTATUSCODES\r\n");
	evbuffer_add_printf(out, "250-8BITMIME\r\n");
	evbuffer_add_printf(out, "250-DSN\r\n");
	evbuffer_add_printf(out, "250-SMTPUTF8\r\n");
	if (s->ssl != NULL)
		evbuffer_add_printf(out, "250-REQUIRETLS\r\n");
	evbuffer_add_printf(out, "250-LIMITS RCPTMAX=%u\r\n",
	    cf->max_recipients);
	evbuffer_add_printf(out, "250 CHUNKING\r\n");
}

/*
 * Extensions whose parameters this session may use. For RCPT, SMTPUTF8
 * counts only when the transaction's MAIL asked for it (it allows UTF-8
 * in a utf-8 ORCPT, RFC 6533).
 */
static unsigned
smtpd_ext(const struct smtpd_session *s, bool rcpt)
{
	/*
	 * REQUIRETLS is parsed on every ESMTP session so that a plaintext
	 * one can answer with a reason (smtpd_cmd_mail); it is accepted
	 * only over TLS.
	 */
	unsigned ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN |
	    SMTP_EXT_REQUIRETLS;

	if (!s->esmtp)
		return 0;
	if (!rcpt || s->txn.params.smtputf8)
		ext |= SMTP_EXT_SMTPUTF8;
	/* RFC 4954 5: MAIL takes AUTH= where AUTH is offered. */
	if (!rcpt && (s->role == CONF_ROLE_SUBMISSION ||
	    s->role == CONF_ROLE_SUBMISSIONS))
		ext |= SMTP_EXT_AUTH;
	return ext;
}

static void
smtpd_path_error(struct smtpd_session *s, int err, bool sender)
{
	switch (err) {
	case SMTP_PATH_NEEDUTF8:
		smtpd_reply_err(s, "553 5.6.7 Non-ASCII address requires "
		    "SMTPUTF8");
		break;
	case SMTP_PATH_TOOLONG:
		smtpd_reply_err(s, "501 %s Address too long",
		    sender ? "5.1.7" : "5.1.3");
		break;
	default:
		smtpd_reply_err(s, "501 %s Bad %s address syntax",
		    sender ? "5.1.7" : "5.1.3",
		    sender ? "sender" : "recipient");
		break;
	}
}

static void
smtpd_cmd_mail(struct smtpd_session *s, const struct smtp_cmd *c)
{
	const struct conf *cf = &s->rt->conf;
	struct smtp_path path;
	struct smtp_mail_params mp;
	struct span params;
	const char *why = "";
	int r;

	if (s->helo[0] == '\0') {
		smtpd_reply_err(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->has_txn) {
		smtpd_reply_err(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if ((s->role == CONF_ROLE_SUBMISSION ||
	    s->role == CONF_ROLE_SUBMISSIONS) && s->auth_user == NULL) {
		/* RFC 6409 4.3 / RFC 4954 6: submission needs AUTH first. */
		smtpd_reply_err(s, "530 5.7.0 Authentication required");
		return;
	}
	r = smtp_path_parse_mail(c->args, s->esmtp, &path, &params);
	if (r != SMTP_PATH_OK) {
		smtpd_path_error(s, r, true);
		return;
	}
	r = smtp_mail_params_parse(params, smtpd_ext(s, false), &mp, &why);
	if (r == SMTP_PARAM_UNKNOWN) {
		smtpd_reply_err(s, "555 5.5.4 %s", why);
		return;
	} else if (r != SMTP_PARAM_OK) {
		smtpd_reply_err(s, "501 5.5.4 %s", why);
		return;
	}
	if (mp.requiretls && s->ssl == NULL &&
	    s->role == CONF_ROLE_LOCAL) {
		/* No STARTTLS here (petrel sendmail's socket). */
		smtpd_reply_err(s, "555 5.5.4 REQUIRETLS is not offered here");
		return;
	}
	if (mp.requiretls && s->ssl == NULL) {
		log_info("session=%llx client=%s reject code=530 "
		    "reason=requiretls-without-tls", (unsigned long long)s->id,
		    s->addr);
		smtpd_reply_err(s, "530 5.7.0 Must issue a STARTTLS command "
		    "first (REQUIRETLS needs TLS)");
		return;
	}
	if (path.utf8 && !mp.smtputf8) {
		smtpd_path_error(s, SMTP_PATH_NEEDUTF8, true);
		return;
	}
	if (mp.has_size && mp.size > cf->max_message_size) {
		smtpd_reply_err(s, "552 5.3.4 Message size exceeds fixed "
		    "limit");
		return;
	}
	memset(&s->txn, 0, sizeof(s->txn));
	s->txn.from = path;
	s->txn.params = mp;
	if (smtp_path_format(&path, s->txn.from_addr,
	    sizeof(s->txn.from_addr)) != 0) {
		smtpd_reply_err(s, "501 5.1.7 Address too long");
		return;
	}
	/*
	 * RFC 6409 8.1 lets an MSA check the sender: an authenticated user
	 * sends as one of the account's addresses (or <>, for a client's
	 * own notifications).
	 */
	if (s->auth_user != NULL && cf->sender_check &&
	    s->txn.from_addr[0] != '\0' &&
	    !smtpd_auth_may_send_as(s, s->txn.from_addr)) {
		char esc[300], user[300];

		log_escape(s->txn.from_addr, strlen(s->txn.from_addr), esc,
		    sizeof(esc));
		log_escape(s->auth_user, strlen(s->auth_user), user,
		    sizeof(user));
		log_info("session=%llx client=%s reject from=<%s> user=%s "
		    "code=553 reason=sender-not-owned",
		    (unsigned long long)s->id, s->addr, esc, user);
		smtpd_reply_err(s, "553 5.7.1 <%s>: Sender address not owned "
		    "by user %s", s->txn.from_addr, s->auth_user);
		return;
	}
	s->has_txn = true;
	smtpd_reply(s, "250 2.1.0 Ok");
}

/* Decides whether a recipient is acceptable here; replies if not. */
static bool
smtpd_rcpt_check(struct smtpd_session *s, const struct smtp_path *p,
    const char *addr)
{
	const struct conf *cf = &s->rt->conf;
	char esc[300];

	log_escape(addr, strlen(addr), esc, sizeof(esc));
	if (p->domain[0] != '\0' && !p->literal) {
		switch (lookup_rcpt(s->rt->tables, cf, p->local, p->domain)) {
		case LOOKUP_USER:
		case LOOKUP_ALIAS:
		case LOOKUP_POSTMASTER:
			return true;
		case LOOKUP_NO_SUCH_USER:
			log_info("session=%llx client=%s reject to=<%s> "
			    "code=550 reason=unknown-user",
			    (unsigned long long)s->id, s->addr, esc);
			smtpd_reply_err(s, "550 5.1.1 <%s>: Recipient address "
			    "rejected: User unknown", addr);
			return false;
		case LOOKUP_NOT_LOCAL:
			break;
		}
	}
	/*
	 * Not ours (an address literal is never ours): relaying, for
	 * authenticated users, local programs (`petrel sendmail`) and
	 * relay-from networks only.
	 */
	if (s->auth_user != NULL || s->role == CONF_ROLE_LOCAL)
		return true;
	if (s->role == CONF_ROLE_MX && cf->nrelay_nets > 0) {
		struct sockaddr_storage ss;
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		memset(&ss, 0, sizeof(ss));
		if (inet_pton(AF_INET, s->addr, &sin->sin_addr) == 1)
			ss.ss_family = AF_INET;
		else if (inet_pton(AF_INET6, s->addr, &sin6->sin6_addr) == 1)
			ss.ss_family = AF_INET6;
		if (ss.ss_family != 0 &&
		    conf_may_relay(cf, (struct sockaddr *)&ss))
			return true;
	}
	log_info("session=%llx client=%s reject to=<%s> code=554 "
	    "reason=relay-denied", (unsigned long long)s->id, s->addr, esc);
	smtpd_reply_err(s, "554 5.7.1 <%s>: Relay access denied", addr);
	return false;
}

static void
smtpd_cmd_rcpt(struct smtpd_session *s, const struct smtp_cmd *c)
{
	const struct conf *cf = &s->rt->conf;
	struct smtp_path path;
	struct smtp_rcpt_params rp;
	struct smtpd_rcpt *r;
	struct span params;
	const char *why = "";
	char addr[sizeof(r->addr)];
	int e;

	if (!s->has_txn) {
		smtpd_reply_err(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	e = smtp_path_parse_rcpt(c->args, s->txn.params.smtputf8, &path,
	    &params);
	if (e != SMTP_PATH_OK) {
		smtpd_path_error(s, e, false);
		return;
	}
	e = smtp_rcpt_params_parse(params, smtpd_ext(s, true), &rp, &why);
	if (e == SMTP_PARAM_UNKNOWN) {
		smtpd_reply_err(s, "555 5.5.4 %s", why);
		return;
	} else if (e != SMTP_PARAM_OK) {
		smtpd_reply_err(s, "501 5.5.4 %s", why);
		return;
	}
	if (s->txn.nrcpts >= cf->max_recipients) {
		/* RFC 5321 4.5.3.1.10: 452 and the client sends the rest. */
		smtpd_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (path.domain[0] == '\0') {
		/* RCPT TO:<Postmaster> (RFC 5321 4.1.1.3): our postmaster. */
		snprintf(path.local, sizeof(path.local), "postmaster");
		snprintf(path.domain, sizeof(path.domain), "%s",
		    cf->ndomains ? cf->domains[0] : cf->hostname);
	}
	if (smtp_path_format(&path, addr, sizeof(addr)) != 0) {
		smtpd_reply_err(s, "501 5.1.3 Address too long");
		return;
	}
	if (!smtpd_rcpt_check(s, &path, addr))
		return;
	if (s->txn.nrcpts == s->txn.rcpts_cap) {
		s->txn.rcpts_cap = s->txn.rcpts_cap ? s->txn.rcpts_cap * 2 : 4;
		s->txn.rcpts = xreallocarray(s->txn.rcpts, s->txn.rcpts_cap,
		    sizeof(*s->txn.rcpts));
	}
	r = &s->txn.rcpts[s->txn.nrcpts++];
	memcpy(r->addr, addr, sizeof(r->addr));
	r->params = rp;
	smtpd_reply(s, "250 2.1.5 Ok");
}

static void
smtpd_cmd_starttls(struct smtpd_session *s, const struct smtp_cmd *c)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t junk;

	if (c->has_args) {
		smtpd_reply_err(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->ssl != NULL) {
		smtpd_reply_err(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	if (s->rt->tls == NULL) {
		smtpd_reply_err(s, "454 4.7.0 TLS not available");
		return;
	}
	/*
	 * RFC 3207 4.2 and CVE-2011-0411: whatever follows STARTTLS in the
	 * plaintext stream was not protected and must never be executed.
	 * Drop it now; bytes arriving later go into the TLS handshake.
	 */
	junk = evbuffer_get_length(in);
	if (junk > 0) {
		log_info("session=%llx client=%s discarded %zu bytes "
		    "pipelined after STARTTLS", (unsigned long long)s->id,
		    s->addr, junk);
		evbuffer_drain(in, junk);
	}
	smtpd_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 4.2: forget everything said before; EHLO comes again. */
	smtpd_txn_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	/*
	 * Read nothing more in plaintext. Once the 220 is out (write
	 * callback), the socket is handed to OpenSSL directly.
	 */
	s->state = SMTPD_S_STARTTLS_WAIT;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	bufferevent_enable(s->bev, EV_WRITE);
}

/* The 220 has been written: switch the socket to TLS. */
static void
smtpd_starttls_upgrade(struct smtpd_session *s)
{
	int fd = bufferevent_getfd(s->bev);

	s->ssl = SSL_new(s->rt->tls);
	if (s->ssl == NULL) {
		log_warn("session=%llx client=%s SSL_new failed",
		    (unsigned long long)s->id, s->addr);
		smtpd_session_free(s);
		return;
	}
	/* The plaintext bufferevent does not own the socket. */
	bufferevent_free(s->bev);
	s->plain_fd = -1;
	s->bev = bufferevent_openssl_socket_new(s->srv->base, fd, s->ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	s->state = SMTPD_S_STARTTLS;
	bufferevent_setcb(s->bev, smtpd_read_cb, smtpd_write_cb,
	    smtpd_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_IN_HIGH);
	smtpd_set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
smtpd_cmd_expn(struct smtpd_session *s, const struct smtp_cmd *c)
{
	const struct conf *cf = &s->rt->conf;
	struct lookup_dest dest[32];
	struct smtp_path p;
	struct span rest;
	char buf[SMTP_PATH_MAX + 3];
	int n, i;

	if (!cf->expn) {
		smtpd_reply_err(s, "502 5.5.1 Error: EXPN not enabled");
		return;
	}
	/* Accept "EXPN <a@b>" and "EXPN a@b". */
	if (!c->has_args || c->args.n > SMTP_PATH_MAX) {
		smtpd_reply_err(s, "501 5.5.4 Syntax: EXPN address");
		return;
	}
	if (c->args.p[0] == '<') {
		memcpy(buf, c->args.p, c->args.n);
		buf[c->args.n] = '\0';
	} else {
		snprintf(buf, sizeof(buf), "<%.*s>", (int)c->args.n,
		    c->args.p);
	}
	if (smtp_path_parse(span_cstr(buf), SMTP_PATH_F_UTF8, &p, &rest) !=
	    SMTP_PATH_OK || rest.n != 0 || p.domain[0] == '\0') {
		smtpd_reply_err(s, "501 5.5.4 Syntax: EXPN address");
		return;
	}
	n = lookup_expand(s->rt->tables, cf, p.local, p.domain, dest, 32);
	if (n <= 0) {
		smtpd_reply_err(s, "550 5.1.1 No such user or list");
		return;
	}
	for (i = 0; i < n; i++)
		smtpd_reply(s, "250%c2.1.5 <%s>", i + 1 < n ? '-' : ' ',
		    dest[i].address);
}

static void
smtpd_execute(struct smtpd_session *s, struct span line)
{
	struct smtp_cmd c;

	smtp_cmd_parse(line, &c);
	switch (c.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		smtpd_cmd_helo(s, &c);
		break;
	case SMTP_VERB_MAIL:
		smtpd_cmd_mail(s, &c);
		break;
	case SMTP_VERB_RCPT:
		smtpd_cmd_rcpt(s, &c);
		break;
	case SMTP_VERB_DATA:
		smtpd_cmd_data(s, &c.args);
		break;
	case SMTP_VERB_BDAT:
		smtpd_cmd_bdat(s, &c.args);
		break;
	case SMTP_VERB_RSET:
		if (c.has_args) {
			smtpd_reply_err(s, "501 5.5.4 Syntax: RSET");
			break;
		}
		smtpd_txn_reset(s);
		smtpd_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		smtpd_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		smtpd_close(s, "221 2.0.0 Bye");
		break;
	case SMTP_VERB_VRFY:
		if (!c.has_args) {
			smtpd_reply_err(s, "501 5.5.4 Syntax: VRFY address");
			break;
		}
		/* RFC 5321 3.5.3: 252 discloses nothing. */
		smtpd_reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		break;
	case SMTP_VERB_EXPN:
		smtpd_cmd_expn(s, &c);
		break;
	case SMTP_VERB_HELP:
		smtpd_reply(s, "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA "
		    "BDAT RSET NOOP QUIT VRFY EXPN HELP STARTTLS AUTH");
		smtpd_reply(s, "214 2.0.0 See RFC 5321");
		break;
	case SMTP_VERB_STARTTLS:
		smtpd_cmd_starttls(s, &c);
		break;
	case SMTP_VERB_AUTH:
		if (!c.has_args) {
			smtpd_reply_err(s, "501 5.5.4 Syntax: AUTH mechanism "
			    "[initial-response]");
			break;
		}
		smtpd_cmd_auth(s, &c.args);
		break;
	case SMTP_VERB_UNKNOWN:
	default:
		smtpd_reply_err(s, "500 5.5.2 Error: command not recognized");
		break;
	}
}

/* Drops the rest of an over-long command line; false when more is needed. */
static bool
smtpd_skip_input(struct smtpd_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in), used = 0;
	size_t want = avail < 65536 ? avail : 65536;
	const char *p;

	if (avail == 0)
		return false;
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
	if (line_skip(p, want, &used) == 1) {
		evbuffer_drain(in, used);
		s->skip_line = false;
		if (s->auth != NULL) {
			smtpd_auth_abort(s);
			smtpd_reply_err(s, "500 5.5.6 Error: authentication "
			    "exchange line too long");
			return true;
		}
		smtpd_reply_err(s, "500 5.5.2 Error: line too long");
		return true;
	}
	evbuffer_drain(in, used);
	return used > 0 && evbuffer_get_length(in) > 1;
}

/* Reads and executes one command line; false when more input is needed. */
static bool
smtpd_cmd_input(struct smtpd_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t avail = evbuffer_get_length(in);
	/* RFC 4954 4: SASL responses may be up to 12288 octets. */
	size_t max = s->state == SMTPD_S_AUTH ? 12288 :
	    s->rt->conf.max_command_line;
	size_t want, len = 0, used = 0;
	const char *p;
	char *line;

	if (s->skip_line)
		return smtpd_skip_input(s);
	if (avail == 0)
		return false;
	want = avail < max + 2 ? avail : max + 2;
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
	switch (line_find(p, want, max, &len, &used)) {
	case LINE_OK:
		/* Copy: executing may change the input buffer. */
		line = xmalloc(len + 1);
		memcpy(line, p, len);
		line[len] = '\0';
		evbuffer_drain(in, used);
		if (s->state == SMTPD_S_AUTH)
			smtpd_auth_line(s, span_make(line, len));
		else
			smtpd_execute(s, span_make(line, len));
		/* The line may have held a password. */
		explicit_bzero(line, len);
		free(line);
		return true;
	case LINE_MORE:
		return false;
	case LINE_TOOLONG:
		/* Drop through the CRLF that ends it, then answer once. */
		s->skip_line = true;
		return true;
	case LINE_BARELF:
	case LINE_BARECR:
	default:
		/*
		 * A bare CR or LF never ends a line: what came before it is
		 * refused at once (a person typing into nc sees why) and
		 * never executed; reading goes on after it.
		 */
		evbuffer_drain(in, used);
		smtpd_auth_abort(s);
		smtpd_reply_err(s, "500 5.5.2 Error: bare CR or LF received; "
		    "lines must end with CRLF");
		return true;
	}
}

void
smtpd_session_input(struct smtpd_session *s)
{
	for (;;) {
		bool more;

		if (s->wait != SMTPD_W_NONE)
			return;
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    SMTPD_OUT_HIGH) {
			/* The client does not read its replies: wait. */
			bufferevent_disable(s->bev, EV_READ);
			bufferevent_setwatermark(s->bev, EV_WRITE,
			    SMTPD_OUT_HIGH / 2, 0);
			return;
		}
		switch (s->state) {
		case SMTPD_S_CMD:
		case SMTPD_S_AUTH:
			more = smtpd_cmd_input(s);
			break;
		case SMTPD_S_DATA:
			more = smtpd_data_input(s);
			break;
		case SMTPD_S_BDAT:
			more = smtpd_bdat_input(s);
			break;
		default:
			return;
		}
		if (!more) {
			if (s->eof && s->state != SMTPD_S_CLOSING)
				smtpd_close(s, NULL);
			return;
		}
	}
}

static void
smtpd_set_timeout(struct smtpd_session *s)
{
	const struct conf *cf = &s->rt->conf;
	struct timeval tv = { cf->timeout_command, 0 };

	if (s->state == SMTPD_S_DATA || s->state == SMTPD_S_BDAT)
		tv.tv_sec = cf->timeout_data;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
smtpd_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	(void)bev;
	smtpd_session_input(s);
	if (s->state != SMTPD_S_CLOSING)
		smtpd_set_timeout(s);
}

static void
smtpd_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	if (s->state == SMTPD_S_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			smtpd_session_free(s);
		return;
	}
	if (s->state == SMTPD_S_STARTTLS_WAIT) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			smtpd_starttls_upgrade(s);
		return;
	}
	/* Replies drained below the watermark: read again. */
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	bufferevent_enable(bev, EV_READ);
	smtpd_session_input(s);
}

static void
smtpd_tls_up(struct smtpd_session *s)
{
	tls_describe(s->ssl, s->tlsinfo, sizeof(s->tlsinfo));
	log_info("session=%llx client=%s tls=%s", (unsigned long long)s->id,
	    s->addr, s->tlsinfo);
	if (s->state == SMTPD_S_HANDSHAKE)
		smtpd_reply(s, "220 %s ESMTP petrel", s->rt->conf.hostname);
	s->state = SMTPD_S_CMD;
	smtpd_set_timeout(s);
	smtpd_session_input(s);
}

static void
smtpd_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_session *s = arg;
	unsigned long e;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		smtpd_tls_up(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		log_info("session=%llx client=%s timeout state=%d",
		    (unsigned long long)s->id, s->addr, (int)s->state);
		if (s->state == SMTPD_S_CLOSING) {
			smtpd_session_free(s);
			return;
		}
		if (s->state == SMTPD_S_HANDSHAKE ||
		    s->state == SMTPD_S_STARTTLS ||
		    s->state == SMTPD_S_STARTTLS_WAIT) {
			smtpd_session_free(s);
			return;
		}
		/* RFC 5321 4.5.3.2: tell the client before closing. */
		smtpd_close(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->rt->conf.hostname);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    (s->state == SMTPD_S_CMD || s->state == SMTPD_S_DATA ||
	    s->state == SMTPD_S_BDAT || s->state == SMTPD_S_AUTH)) {
		/*
		 * A half-close: the client may have pipelined a whole
		 * transaction and QUIT before it. Answer what it sent, then
		 * close.
		 */
		s->eof = true;
		smtpd_session_input(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		while ((e = bufferevent_get_openssl_error(bev)) != 0) {
			char msg[256];
			ERR_error_string_n(e, msg, sizeof(msg));
			log_info("session=%llx client=%s tls error: %s",
			    (unsigned long long)s->id, s->addr, msg);
		}
	}
	log_info("session=%llx client=%s disconnect state=%d",
	    (unsigned long long)s->id, s->addr, (int)s->state);
	smtpd_session_free(s);
}

struct smtpd_session *
smtpd_session_new(struct smtpd_server *srv, int fd, const char *addr,
    const struct conf_listener *cl)
{
	struct smtpd_session *s = xcalloc(1, sizeof(*s));
	const struct conf *cf;

	s->srv = srv;
	s->rt = srv->rt;
	smtpd_rt_ref(s->rt);
	cf = &s->rt->conf;
	s->role = cl->role;
	s->id = ++srv->next_id;
	s->fd = -1;
	s->plain_fd = -1;
	buf_init(&s->out, 256 * 1024);
	s->peer_uid = -1;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	if (cl->role == CONF_ROLE_LOCAL) {
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			s->peer_uid = (long)cred.uid;
	}
	if (cl->role == CONF_ROLE_SUBMISSIONS) {
		if (s->rt->tls == NULL || (s->ssl = SSL_new(s->rt->tls)) ==
		    NULL) {
			log_warn("listener=%s no TLS context; closing",
			    cl->text);
			close(fd);
			smtpd_rt_unref(s->rt);
			free(s);
			return NULL;
		}
		s->bev = bufferevent_openssl_socket_new(srv->base, fd, s->ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		s->state = SMTPD_S_HANDSHAKE;
	} else {
		/* Not CLOSE_ON_FREE: STARTTLS hands the socket on. */
		s->bev = bufferevent_socket_new(srv->base, fd, 0);
		s->plain_fd = fd;
		s->state = SMTPD_S_CMD;
	}
	bufferevent_setcb(s->bev, smtpd_read_cb, smtpd_write_cb,
	    smtpd_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_IN_HIGH);
	smtpd_set_timeout(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (s->peer_uid >= 0)
		log_info("session=%llx connect client=local uid=%ld",
		    (unsigned long long)s->id, s->peer_uid);
	else
		log_info("session=%llx connect client=%s listener=%s",
		    (unsigned long long)s->id, s->addr, cl->text);
	if (s->state == SMTPD_S_CMD)
		smtpd_reply(s, "220 %s ESMTP petrel", cf->hostname);
	return s;
}

void
smtpd_session_free(struct smtpd_session *s)
{
	if (s->wait == SMTPD_W_CREATE || s->wait == SMTPD_W_COMMIT)
		smtpd_queue_abort(s->id);
	smtpd_auth_abort(s);
	s->wait = SMTPD_W_NONE;
	free(s->auth_user);
	free(s->auth_senders);
	smtpd_txn_reset(s);
	buf_clear(&s->out);
	smtpd_server_unregister(s->srv, s);
	log_info("session=%llx close client=%s messages=%u",
	    (unsigned long long)s->id, s->addr, s->messages);
	if (s->ssl != NULL && s->state == SMTPD_S_CLOSING)
		(void)SSL_shutdown(s->ssl);	/* best effort close_notify */
	/* A TLS bufferevent frees the SSL object and closes the socket. */
	bufferevent_free(s->bev);
	if (s->plain_fd >= 0)
		close(s->plain_fd);
	smtpd_rt_unref(s->rt);
	free(s);
}
