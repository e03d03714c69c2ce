/*
 * mta_session: the SMTP client side of one connection (RFC 5321 3-4):
 * greeting, EHLO (HELO fallback), STARTTLS (RFC 3207), AUTH PLAIN/LOGIN
 * towards a smarthost (RFC 4954), then transactions: MAIL, RCPT and DATA
 * pipelined when the peer offers PIPELINING (RFC 2920), the content with
 * BDAT when it offers CHUNKING (RFC 3030) or dot-stuffed DATA, and DSN
 * parameters (RFC 3461 5) when it offers DSN.
 *
 * The peer is untrusted: replies are framed by the strict CRLF finder with
 * a length cap (lib/line) and parsed by proto/smtp_reply (code checks,
 * bounded line count and text), so an endless multi-line reply or a huge
 * line ends the session instead of growing memory; reply text is reduced
 * to printable ASCII before it is logged or passed to the queue.
 *
 * STARTTLS: whatever the peer sent after its 220 and before the TLS
 * handshake is thrown away (the client side of CVE-2011-0411): such bytes
 * would otherwise be read as replies inside the TLS session.
 *
 * Timeouts (RFC 5321 4.5.3.2): greeting, MAIL, RCPT and other commands
 * remote-timeout-command (5 min), the DATA command 2 min, each block of
 * content 3 min, the final reply remote-timeout-data (10 min).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "lib/line.h"
#include "lib/log.h"
#include "proto/base64.h"
#include "proto/smtp_param.h"
#include "remote/mta_int.h"
#include "remote/dane.h"
#include "tls/tls.h"

#define MTA_CHUNK (64u * 1024)		/* content read per step */
#define MTA_OUT_LOW (128u * 1024)	/* refill below this */

static void mta_read_cb(struct bufferevent *bev, void *arg);
static void mta_write_cb(struct bufferevent *bev, void *arg);
static void mta_event_cb(struct bufferevent *bev, short what, void *arg);
static void mta_send_ehlo(struct mta_conn *c);

static void __attribute__((format(printf, 2, 3)))
mta_send(struct mta_conn *c, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\r\n", 2);
}

static void
mta_timeout(struct mta_conn *c, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* The reply as one printable line, "550 5.1.1 text / more". */
static void
mta_reply_text(const struct mta_conn *c, char *out, size_t outsz)
{
	smtp_reply_format(&c->reply, out, outsz);
}

/*
 * The enhanced code of the reply (the parser keeps only one whose class
 * matches the reply's), or dflt with the reply's class: 2, 5, and 4 for
 * everything else (a 3xx where none belongs is a temporary problem).
 */
static void
mta_reply_status(const struct mta_conn *c, const char *dflt, char *out,
    size_t outsz)
{
	unsigned cls = c->reply.code / 100;

	if (c->reply.enhanced[0] != '\0')
		snprintf(out, outsz, "%s", c->reply.enhanced);
	else
		snprintf(out, outsz, "%c%s", cls == 2 ? '2' : cls == 5 ? '5' :
		    '4', dflt + 1);
}

void
mta_rcpt_result(struct remote_rcpt *rc, enum remote_result res,
    const char *status, const char *diag, unsigned flags)
{
	rc->done = true;
	rc->result = res;
	rc->flags = flags;
	snprintf(rc->status, sizeof(rc->status), "%s", status);
	snprintf(rc->diag, sizeof(rc->diag), "%s", diag);
}

/*
 * The peer's reply ended the use of this connection for the job: a
 * reply-caused host failure ("host X said: 421 ..."). perm only for 5xx.
 */
static void
mta_fail_reply(struct mta_conn *c, const char *when)
{
	char text[REMOTE_DIAG_MAX + 1], diag[REMOTE_DIAG_MAX + 1];
	char status[16];

	mta_reply_text(c, text, sizeof(text));
	mta_reply_status(c, "4.0.0", status, sizeof(status));
	snprintf(diag, sizeof(diag), "%s", text);
	log_info("relay=%s %s: %s", c->relay, when, text);
	mta_host_failed(c, status, diag, true);
}

static void
mta_fail(struct mta_conn *c, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
mta_fail(struct mta_conn *c, const char *status, const char *fmt, ...)
{
	char msg[256], diag[REMOTE_DIAG_MAX + 400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(diag, sizeof(diag), "%s: %s", c->relay, msg);
	log_info("relay=%s %s", c->relay, msg);
	mta_host_failed(c, status, diag, false);
}

/* ---- connection set-up ---- */

void
mta_session_start(struct mta_conn *c)
{
	c->bev = bufferevent_socket_new(c->base, c->fd, 0);
	if (c->bev == NULL) {
		mta_fail(c, "4.3.0", "cannot set up the connection");
		return;
	}
	c->state = MTA_S_CONNECTING;
	smtp_reply_init(&c->parser);
	bufferevent_setcb(c->bev, mta_read_cb, mta_write_cb, mta_event_cb, c);
	mta_timeout(c, c->cfg->env.conf->remote_timeout_connect);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&c->sa,
	    (int)c->salen) != 0)
		mta_fail(c, "4.4.1", "connect: %s", strerror(errno));
}

/* ---- TLS ---- */

static void
mta_tls_start(struct mta_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t junk = evbuffer_get_length(in);
	char why[128];

	/*
	 * RFC 3207 4.2 / CVE-2011-0411: nothing said before TLS counts.
	 * The plain bufferevent goes, and its input with it.
	 */
	if (junk > 0)
		log_warn("relay=%s discarded %zu bytes sent before the TLS "
		    "handshake", c->relay, junk);
	c->ssl = SSL_new(c->security == MTA_SEC_STS ||
	    c->security == MTA_SEC_STS_TESTING ? c->cfg->tls_sts :
	    c->cfg->tls);
	if (c->ssl == NULL || (c->dane != NULL ? dane_apply(c->ssl, c->dane,
	    why, sizeof(why)) : tls_client_prepare(c->ssl, c->host)) != 0) {
		ERR_clear_error();
		mta_fail(c, "4.7.5", "TLS set-up failed%s%s", c->dane ?
		    ": " : "", c->dane ? why : "");
		return;
	}
	bufferevent_free(c->bev);
	c->bev = bufferevent_openssl_socket_new(c->base, c->fd, c->ssl,
	    BUFFEREVENT_SSL_CONNECTING, 0);
	if (c->bev == NULL) {
		mta_fail(c, "4.7.5", "TLS set-up failed");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, mta_read_cb, mta_write_cb, mta_event_cb, c);
	c->state = MTA_S_TLS;
	mta_timeout(c, c->cfg->env.conf->remote_timeout_command);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* The handshake finished: check the certificate against the policy. */
static void
mta_tls_done(struct mta_conn *c)
{
	char why[100], desc[90];

	c->verify_name_ok = c->dane != NULL ?
	    dane_verified(c->ssl, why, sizeof(why)) :
	    tls_client_verified(c->ssl, why, sizeof(why));
	tls_describe(c->ssl, desc, sizeof(desc));
	snprintf(c->tls_info, sizeof(c->tls_info), "%s verify=%s", desc,
	    why);
	log_info("relay=%s tls=%s security=%s", c->relay, c->tls_info,
	    mta_security_name(c->security));
	if ((c->policy == CONF_TLS_VERIFY || c->dane != NULL ||
	    c->security == MTA_SEC_STS_TESTING) && !c->verify_name_ok) {
		long v = SSL_get_verify_result(c->ssl);

		mta_tls_report_conn(c, c->dane != NULL ? "validation-failure" :
		    v == X509_V_ERR_HOSTNAME_MISMATCH ?
		    "certificate-host-mismatch" :
		    v == X509_V_ERR_CERT_HAS_EXPIRED ? "certificate-expired" :
		    "certificate-not-trusted", why);
		if (c->security != MTA_SEC_STS_TESTING) {
			mta_fail(c, "4.7.5", "%s verification failed: %s",
			    c->dane != NULL ? "DANE" : "certificate", why);
			return;
		}
	} else {
		mta_tls_report_conn(c, NULL, NULL);
	}
	c->dane = NULL;		/* only the handshake needed it */
	if (!c->smarthost)
		mta_tls_seen(c);
	c->esmtp = false;
	memset(&c->ehlo, 0, sizeof(c->ehlo));
	if (c->implicit_tls) {
		/* RFC 8314 3: the greeting comes inside TLS. */
		c->state = MTA_S_GREETING;
		return;
	}
	/* RFC 3207 4.2: start again with EHLO. */
	mta_send_ehlo(c);
}

/* ---- greeting, EHLO, AUTH ---- */

static void
mta_send_ehlo(struct mta_conn *c)
{
	c->state = MTA_S_EHLO;
	mta_send(c, "EHLO %s", c->cfg->env.conf->hostname);
	mta_timeout(c, c->cfg->env.conf->remote_timeout_command);
}

static bool
mta_tls_required(const struct mta_conn *c)
{
	return c->policy == CONF_TLS_ENCRYPT || c->policy == CONF_TLS_VERIFY;
}

/* After EHLO/HELO (and TLS, AUTH): the connection is ready for MAIL. */
static void
mta_ready(struct mta_conn *c)
{
	c->state = MTA_S_READY;
	mta_session_txn(c);
}

static void
mta_auth_start(struct mta_conn *c)
{
	const struct mta_cfg *cfg = c->cfg;
	char plain[520], b64[720];
	size_t ul = strlen(cfg->relay_user), pl = strlen(cfg->relay_pass);

	if (c->ssl == NULL) {
		/* Never a password in plaintext (conf refuses it too). */
		mta_fail(c, "4.7.0", "not sending credentials without TLS");
		return;
	}
	if (c->ehlo.auth_plain) {
		plain[0] = '\0';
		memcpy(plain + 1, cfg->relay_user, ul);
		plain[1 + ul] = '\0';
		memcpy(plain + 2 + ul, cfg->relay_pass, pl);
		b64[base64_encode(plain, 2 + ul + pl, b64)] = '\0';
		explicit_bzero(plain, sizeof(plain));
		c->state = MTA_S_AUTH;
		mta_send(c, "AUTH PLAIN %s", b64);
		explicit_bzero(b64, sizeof(b64));
	} else if (c->ehlo.auth_login) {
		c->state = MTA_S_AUTH_USER;
		mta_send(c, "AUTH LOGIN");
	} else {
		mta_fail(c, "4.7.0", "offers no AUTH PLAIN or LOGIN");
		return;
	}
	mta_timeout(c, c->cfg->env.conf->remote_timeout_command);
}

static void
mta_after_ehlo(struct mta_conn *c)
{
	const struct conf *cf = c->cfg->env.conf;

	if (c->ssl == NULL && c->policy != CONF_TLS_NONE &&
	    c->ehlo.starttls && !c->no_tls) {
		c->state = MTA_S_STARTTLS;
		mta_send(c, "STARTTLS");
		mta_timeout(c, cf->remote_timeout_command);
		return;
	}
	if (c->ssl == NULL && !c->ehlo.starttls && !c->no_tls &&
	    c->policy != CONF_TLS_NONE)
		mta_tls_report_conn(c, "starttls-not-supported", NULL);
	if (c->ssl == NULL && mta_tls_required(c)) {
		/* DANE and MTA-STS hosts: RFC 7672 2.2, RFC 8461 4.2. */
		bool auth = c->security == MTA_SEC_DANE ||
		    c->security == MTA_SEC_STS;
		mta_fail(c, auth ? "4.7.5" : "4.7.4", "TLS is required "
		    "(security=%s) but %s", mta_security_name(c->security),
		    c->ehlo.starttls ? "the handshake failed before" :
		    "STARTTLS is not offered");
		return;
	}
	if (c->ssl == NULL && !c->ehlo.starttls && !c->no_tls &&
	    c->security == MTA_SEC_OPPORTUNISTIC &&
	    mta_tls_downgrade(c, "STARTTLS not offered")) {
		mta_fail(c, "4.7.5", "probable STARTTLS downgrade: the host "
		    "had TLS before and now offers no STARTTLS");
		return;
	}
	if (c->ssl == NULL)
		snprintf(c->tls_info, sizeof(c->tls_info), "none");
	if (c->smarthost && c->cfg->relay_auth) {
		mta_auth_start(c);
		return;
	}
	mta_ready(c);
}

static void
mta_on_greeting(struct mta_conn *c)
{
	if (c->reply.code != 220) {
		mta_fail_reply(c, "greeting");
		return;
	}
	mta_send_ehlo(c);
}

static void
mta_on_ehlo(struct mta_conn *c)
{
	if (c->reply.code == 250) {
		c->esmtp = true;
		smtp_ehlo_parse(&c->reply, &c->ehlo);
		mta_after_ehlo(c);
		return;
	}
	if (c->reply.code >= 500 && c->reply.code != 554 && c->ssl == NULL) {
		/* RFC 5321 3.2: an old server; try HELO. */
		c->state = MTA_S_HELO;
		mta_send(c, "HELO %s", c->cfg->env.conf->hostname);
		return;
	}
	mta_fail_reply(c, "EHLO");
}

static void
mta_on_helo(struct mta_conn *c)
{
	if (c->reply.code != 250) {
		mta_fail_reply(c, "HELO");
		return;
	}
	memset(&c->ehlo, 0, sizeof(c->ehlo));
	mta_after_ehlo(c);
}

static void
mta_on_starttls(struct mta_conn *c)
{
	if (c->reply.code == 220) {
		mta_tls_start(c);
		return;
	}
	if (mta_tls_required(c)) {
		mta_fail_reply(c, "STARTTLS");
		return;
	}
	/* "may": go on in plaintext, as if it had not been offered. */
	log_info("relay=%s STARTTLS refused (%u); continuing without TLS",
	    c->relay, c->reply.code);
	c->ehlo.starttls = false;
	mta_after_ehlo(c);
}

static void
mta_on_auth(struct mta_conn *c)
{
	const struct mta_cfg *cfg = c->cfg;
	char b64[720], text[REMOTE_DIAG_MAX + 1];

	if ((c->state == MTA_S_AUTH_USER || c->state == MTA_S_AUTH_PASS) &&
	    c->reply.code == 334) {
		const char *v = c->state == MTA_S_AUTH_USER ? cfg->relay_user :
		    cfg->relay_pass;
		b64[base64_encode(v, strlen(v), b64)] = '\0';
		mta_send(c, "%s", b64);
		explicit_bzero(b64, sizeof(b64));
		c->state = c->state == MTA_S_AUTH_USER ? MTA_S_AUTH_PASS :
		    MTA_S_AUTH;
		return;
	}
	if (c->state == MTA_S_AUTH && c->reply.code == 235) {
		log_info("relay=%s authenticated as %s", c->relay,
		    cfg->relay_user);
		mta_ready(c);
		return;
	}
	/* A refused login is a configuration problem: keep the mail. */
	mta_reply_text(c, text, sizeof(text));
	mta_fail(c, "4.7.0", "authentication failed: %s", text);
}

/* ---- transactions ---- */

/* True if s holds a byte outside ASCII. */
static bool
mta_has_8bit(const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* True if the first n bytes of the queue file hold a byte >= 0x80. */
static int
mta_content_has_8bit(int fd, uint64_t n)
{
	char chunk[MTA_CHUNK];
	uint64_t off = 0;

	while (off < n) {
		size_t want = n - off < sizeof(chunk) ? (size_t)(n - off) :
		    sizeof(chunk);
		ssize_t k = pread(fd, chunk, want, (off_t)off);
		size_t i;

		if (k <= 0)
			return -1;
		for (i = 0; i < (size_t)k; i++)
			if ((unsigned char)chunk[i] >= 0x80)
				return 1;
		off += (uint64_t)k;
	}
	return 0;
}

/* Every recipient not yet done gets this result. */
static void
mta_rest_result(struct remote_job *j, enum remote_result res,
    const char *status, const char *diag, unsigned flags)
{
	size_t i;

	for (i = 0; i < j->nrcpts; i++)
		if (!j->rcpts[i].done)
			mta_rcpt_result(&j->rcpts[i], res, status, diag, flags);
}

/*
 * What the message needs that the peer may lack (RFC 6152 3, RFC 6531
 * 3.4). false when the job was finished here (every recipient bounced).
 */
static bool
mta_check_needs(struct mta_conn *c)
{
	struct remote_job *j = c->job;
	char diag[REMOTE_DIAG_MAX + 1];
	size_t i;
	bool utf8_env = mta_has_8bit(j->sender);

	for (i = 0; i < j->nrcpts; i++)
		utf8_env = utf8_env || mta_has_8bit(j->rcpts[i].dest);
	c->send_utf8 = j->smtputf8 && c->ehlo.smtputf8;
	if (j->smtputf8 && !c->ehlo.smtputf8 && utf8_env) {
		snprintf(diag, sizeof(diag), "%s does not support SMTPUTF8, "
		    "which this message's non-ASCII addresses need",
		    c->relay);
		mta_rest_result(j, REMOTE_PERM, "5.6.7", diag, 0);
		return false;
	}
	c->send_8bit = j->body == SMTP_BODY_8BITMIME && c->ehlo.eightbitmime;
	if (j->body == SMTP_BODY_8BITMIME && !c->ehlo.eightbitmime &&
	    mta_content_has_8bit(j->fd, j->content_len) != 0) {
		/* RFC 6152 3: no conversion here; return it. */
		snprintf(diag, sizeof(diag), "%s does not support 8BITMIME, "
		    "which this message's 8-bit content needs", c->relay);
		mta_rest_result(j, REMOTE_PERM, "5.6.3", diag, 0);
		return false;
	}
	if (c->ehlo.size && c->ehlo.size_max > 0 &&
	    j->content_len > c->ehlo.size_max) {
		snprintf(diag, sizeof(diag), "message size %llu exceeds the "
		    "limit of %s (%llu)", (unsigned long long)j->content_len,
		    c->relay, (unsigned long long)c->ehlo.size_max);
		mta_rest_result(j, REMOTE_PERM, "5.3.4", diag, 0);
		return false;
	}
	return true;
}

static const char *
mta_ret_name(unsigned ret)
{
	return ret == SMTP_RET_FULL ? "FULL" : "HDRS";
}

/* Appends command k of the current transaction (c->expect[k]). */
static void
mta_send_cmd(struct mta_conn *c, size_t k)
{
	static const char *const notify[] = { "NEVER", "SUCCESS", "FAILURE",
		"DELAY" };
	struct remote_job *j = c->job;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	bool dsn = c->ehlo.dsn;
	struct remote_rcpt *rc;
	const char *sep = " NOTIFY=";
	unsigned b;

	switch (c->expect[k]) {
	case MTA_X_MAIL:
		evbuffer_add_printf(out, "MAIL FROM:<%s>", j->sender);
		if (j->requiretls)
			evbuffer_add_printf(out, " REQUIRETLS");
		if (c->ehlo.size)
			evbuffer_add_printf(out, " SIZE=%llu",
			    (unsigned long long)j->content_len);
		if (c->send_8bit)
			evbuffer_add_printf(out, " BODY=8BITMIME");
		if (c->send_utf8)
			evbuffer_add_printf(out, " SMTPUTF8");
		if (dsn && j->ret != SMTP_RET_NONE)
			evbuffer_add_printf(out, " RET=%s",
			    mta_ret_name(j->ret));
		if (dsn && j->envid != NULL)
			evbuffer_add_printf(out, " ENVID=%s", j->envid);
		break;
	case MTA_X_RCPT:
		rc = &j->rcpts[c->rcpt_map[k]];
		evbuffer_add_printf(out, "RCPT TO:<%s>", rc->dest);
		for (b = 0; dsn && b < 4; b++) {
			if (!(rc->notify & (1u << b)))
				continue;
			evbuffer_add_printf(out, "%s%s", sep, notify[b]);
			sep = ",";
		}
		if (dsn && rc->orcpt != NULL)
			evbuffer_add_printf(out, " ORCPT=%s", rc->orcpt);
		break;
	case MTA_X_DATA:
		evbuffer_add_printf(out, "DATA");
		break;
	}
	evbuffer_add(out, "\r\n", 2);
}

/* Starts MAIL, RCPT... and DATA (all at once with PIPELINING). */
void
mta_session_txn(struct mta_conn *c)
{
	struct remote_job *j = c->job;
	size_t i, k;

	if (j->requiretls && (c->ssl == NULL || !c->ehlo.requiretls ||
	    (c->security != MTA_SEC_DANE && c->security != MTA_SEC_STS))) {
		/* RFC 8689 4.2.1: this host cannot take it; maybe another. */
		mta_fail(c, "5.7.30", "REQUIRETLS impossible: %s",
		    c->ssl == NULL ? "no TLS" : !c->ehlo.requiretls ?
		    "the peer does not offer REQUIRETLS" :
		    "TLS not authenticated by DANE or MTA-STS");
		return;
	}
	if (!mta_check_needs(c)) {
		mta_txn_done(c, true);
		return;
	}
	c->state = MTA_S_TXN;
	c->nexpect = c->iexpect = 0;
	c->accepted = 0;
	c->mail_failed = false;
	c->data_sent = false;
	c->use_bdat = c->ehlo.chunking;
	c->expect[c->nexpect++] = MTA_X_MAIL;
	for (i = 0; i < j->nrcpts; i++) {
		j->rcpts[i].accepted = false;
		if (j->rcpts[i].done)
			continue;
		c->rcpt_map[c->nexpect] = i;
		c->expect[c->nexpect++] = MTA_X_RCPT;
	}
	if (!c->use_bdat)
		c->expect[c->nexpect++] = MTA_X_DATA;
	for (k = 0; k < (c->ehlo.pipelining ? c->nexpect : 1); k++)
		mta_send_cmd(c, k);
	mta_timeout(c, c->cfg->env.conf->remote_timeout_command);
}

/* ---- content ---- */

/*
 * Fills the output with the next piece of content: raw for BDAT, with
 * dot-stuffing for DATA (RFC 5321 4.5.2; the spool holds CRLF lines).
 * At the end: the final CRLF.CRLF (DATA) and the wait for the reply.
 */
static void
mta_content_fill(struct mta_conn *c)
{
	struct remote_job *j = c->job;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char chunk[MTA_CHUNK];

	while (evbuffer_get_length(out) < MTA_OUT_LOW &&
	    c->off < j->content_len) {
		uint64_t left = j->content_len - c->off;
		size_t want = left < sizeof(chunk) ? (size_t)left :
		    sizeof(chunk);
		ssize_t n = pread(j->fd, chunk, want, (off_t)c->off);
		size_t i, start = 0;

		if (n <= 0) {
			log_warn("qid=%s reading the queue file: %s", j->qid,
			    n < 0 ? strerror(errno) : "short file");
			mta_fail(c, "4.3.0", "cannot read the queue file");
			return;
		}
		if (c->use_bdat) {
			evbuffer_add(out, chunk, (size_t)n);
		} else {
			for (i = 0; i < (size_t)n; i++) {
				if (c->bol && chunk[i] == '.') {
					evbuffer_add(out, chunk + start,
					    i - start);
					evbuffer_add(out, ".", 1);
					start = i;
				}
				c->bol = chunk[i] == '\n';
			}
			evbuffer_add(out, chunk + start, (size_t)n - start);
		}
		c->last_crlf = chunk[n - 1] == '\n' && (n >= 2 ?
		    chunk[n - 2] == '\r' : c->last_cr);
		c->last_cr = chunk[n - 1] == '\r';
		c->off += (uint64_t)n;
	}
	if (c->off < j->content_len || c->state != MTA_S_CONTENT)
		return;
	if (!c->use_bdat)
		evbuffer_add_printf(out, "%s.\r\n", c->last_crlf || c->off ==
		    0 ? "" : "\r\n");
	c->state = MTA_S_DOT;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	mta_timeout(c, c->cfg->env.conf->remote_timeout_data);
}

static void
mta_content_start(struct mta_conn *c)
{
	struct remote_job *j = c->job;

	c->state = MTA_S_CONTENT;
	c->off = 0;
	c->bol = true;
	c->last_crlf = c->last_cr = false;
	/* Refill before the kernel runs dry. */
	bufferevent_setwatermark(c->bev, EV_WRITE, MTA_OUT_LOW / 2, 0);
	c->data_sent = true;
	if (c->use_bdat)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "BDAT %llu LAST\r\n", (unsigned long long)j->content_len);
	/* RFC 5321 4.5.3.2.5: 3 minutes per block sent. */
	mta_timeout(c, 180);
	mta_content_fill(c);
}

/* ---- replies of a transaction ---- */

/* Every reply of the MAIL/RCPT/DATA group is in. */
static void
mta_group_done(struct mta_conn *c, bool data_ok)
{
	if (c->accepted > 0 && !c->mail_failed && (c->use_bdat || data_ok)) {
		mta_content_start(c);
		return;
	}
	if (data_ok) {
		/* 354 without a recipient (RFC 2920 3.1): send nothing. */
		evbuffer_add_printf(bufferevent_get_output(c->bev), ".\r\n");
		c->state = MTA_S_RSET;	/* its reply is ignored, then RSET */
		c->rset_after_dot = true;
		return;
	}
	c->state = MTA_S_RSET;
	mta_send(c, "RSET");
}

static void
mta_on_txn_reply(struct mta_conn *c)
{
	struct remote_job *j = c->job;
	char text[REMOTE_DIAG_MAX + 1], status[16];
	enum remote_result res = c->reply.code >= 500 ? REMOTE_PERM :
	    REMOTE_TEMP;
	enum mta_expect x = c->expect[c->iexpect];
	struct remote_rcpt *rc;
	bool data_ok = false;
	size_t i;

	if (c->reply.code == 421) {
		mta_fail_reply(c, "transaction");
		return;
	}
	mta_reply_text(c, text, sizeof(text));
	switch (x) {
	case MTA_X_MAIL:
		if (c->reply.code / 100 == 2)
			break;
		mta_reply_status(c, "4.0.0", status, sizeof(status));
		c->mail_failed = true;
		for (i = 0; i < j->nrcpts; i++)
			if (!j->rcpts[i].done)
				mta_rcpt_result(&j->rcpts[i], res, status,
				    text, REMOTE_F_SMTP);
		break;
	case MTA_X_RCPT:
		rc = &j->rcpts[c->rcpt_map[c->iexpect]];
		if (c->mail_failed)
			break;
		if (c->reply.code / 100 == 2) {
			rc->accepted = true;
			c->accepted++;
			break;
		}
		mta_reply_status(c, "4.0.0", status, sizeof(status));
		mta_rcpt_result(rc, res, status, text, REMOTE_F_SMTP);
		break;
	case MTA_X_DATA:
		if (c->reply.code == 354) {
			data_ok = true;
			break;
		}
		if (c->mail_failed || c->accepted == 0)
			break;
		mta_reply_status(c, "4.0.0", status, sizeof(status));
		for (i = 0; i < j->nrcpts; i++)
			if (j->rcpts[i].accepted)
				mta_rcpt_result(&j->rcpts[i], res, status,
				    text, REMOTE_F_SMTP);
		c->accepted = 0;
		break;
	}
	c->iexpect++;
	if (c->iexpect < c->nexpect) {
		if (!c->ehlo.pipelining) {
			if (c->mail_failed) {
				c->state = MTA_S_RSET;
				mta_send(c, "RSET");
				return;
			}
			mta_send_cmd(c, c->iexpect);
		}
		return;
	}
	mta_group_done(c, data_ok);
}

/* The reply to the end of the content. */
static void
mta_on_dot(struct mta_conn *c)
{
	struct remote_job *j = c->job;
	char text[REMOTE_DIAG_MAX + 1], status[16];
	enum remote_result res;
	unsigned flags = REMOTE_F_SMTP;
	size_t i;

	if (c->reply.code == 421) {
		mta_fail_reply(c, "end of data");
		return;
	}
	mta_reply_text(c, text, sizeof(text));
	mta_reply_status(c, "2.0.0", status, sizeof(status));
	res = c->reply.code / 100 == 2 ? REMOTE_OK : c->reply.code >= 500 ?
	    REMOTE_PERM : REMOTE_TEMP;
	if (res == REMOTE_OK && !c->ehlo.dsn)
		flags |= REMOTE_F_RELAYED;
	for (i = 0; i < j->nrcpts; i++)
		if (j->rcpts[i].accepted && !j->rcpts[i].done)
			mta_rcpt_result(&j->rcpts[i], res, status, text,
			    flags);
	c->txns++;
	mta_txn_done(c, true);
}

static void
mta_on_rset(struct mta_conn *c)
{
	if (c->rset_after_dot) {
		c->rset_after_dot = false;
		mta_send(c, "RSET");
		return;
	}
	mta_txn_done(c, c->reply.code == 250);
}

/* One complete reply in c->reply: act by state. */
static void
mta_on_reply(struct mta_conn *c)
{
	switch (c->state) {
	case MTA_S_GREETING:
		mta_on_greeting(c);
		break;
	case MTA_S_EHLO:
		mta_on_ehlo(c);
		break;
	case MTA_S_HELO:
		mta_on_helo(c);
		break;
	case MTA_S_STARTTLS:
		mta_on_starttls(c);
		break;
	case MTA_S_AUTH:
	case MTA_S_AUTH_USER:
	case MTA_S_AUTH_PASS:
		mta_on_auth(c);
		break;
	case MTA_S_TXN:
		mta_on_txn_reply(c);
		break;
	case MTA_S_DOT:
		mta_on_dot(c);
		break;
	case MTA_S_RSET:
		mta_on_rset(c);
		break;
	case MTA_S_QUIT:
		mta_conn_free(c);
		break;
	default:
		/* A reply nobody asked for (idle, mid-content, TLS). */
		mta_fail(c, "4.5.0", "unexpected reply %u in state %d",
		    c->reply.code, (int)c->state);
		break;
	}
}

/*
 * Frames and parses replies, several per read when the peer answers a
 * pipelined group. A handler may end the connection: mta_conn_free()
 * only marks it dead while c->in_cb is set, and it is freed here.
 */
static void
mta_read_cb(struct bufferevent *bev, void *arg)
{
	struct mta_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->in_cb = true;
	while (!c->dead) {
		size_t avail = evbuffer_get_length(in), len, used;
		size_t want = avail < SMTP_REPLY_LINE_MAX + 2 ? avail :
		    SMTP_REPLY_LINE_MAX + 2;
		const char *p;
		enum line_result lr;
		int r;

		if (avail == 0)
			break;
		if (c->state == MTA_S_READY && c->job == NULL) {
			/* Idle: the peer may say 421 and leave. */
			mta_conn_free(c);
			break;
		}
		/* No reply is due now: judge it once one is. */
		if (c->state == MTA_S_CONNECTING || c->state == MTA_S_TLS ||
		    c->state == MTA_S_READY)
			break;
		p = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
		lr = line_find(p, want, SMTP_REPLY_LINE_MAX, &len, &used);
		if (lr == LINE_MORE)
			break;
		if (lr != LINE_OK) {
			mta_fail(c, "4.5.0", "%s in a reply",
			    lr == LINE_TOOLONG ? "over-long line" :
			    "bare CR or LF");
			break;
		}
		r = smtp_reply_feed(&c->parser, span_make(p, len), &c->reply);
		evbuffer_drain(in, used);
		if (r < 0) {
			mta_fail(c, "4.5.0", "malformed reply: %s",
			    smtp_reply_error(&c->parser));
			break;
		}
		if (r == 0)
			continue;
		if (c->state == MTA_S_CONTENT) {
			/* An early answer (e.g. 552 while we send). */
			c->state = MTA_S_DOT;
		}
		mta_on_reply(c);
		if (c->state == MTA_S_TLS)
			break;	/* the plain buffer is gone */
	}
	c->in_cb = false;
	if (c->dead)
		mta_conn_free(c);
}

static void
mta_write_cb(struct bufferevent *bev, void *arg)
{
	struct mta_conn *c = arg;

	(void)bev;
	if (c->state != MTA_S_CONTENT)
		return;
	c->in_cb = true;
	mta_content_fill(c);
	c->in_cb = false;
	if (c->dead)
		mta_conn_free(c);
}

static void
mta_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mta_conn *c = arg;
	unsigned long e;
	char detail[160] = "";

	(void)bev;
	c->in_cb = true;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == MTA_S_CONNECTING && c->implicit_tls) {
			mta_tls_start(c);
		} else if (c->state == MTA_S_CONNECTING) {
			c->state = MTA_S_GREETING;
			mta_timeout(c,
			    c->cfg->env.conf->remote_timeout_command);
		} else if (c->state == MTA_S_TLS) {
			mta_tls_done(c);
		}
	} else if (c->job == NULL) {
		/* An idle connection went away or timed out. */
		mta_conn_free(c);
	} else if (what & BEV_EVENT_TIMEOUT) {
		mta_fail(c, "4.4.2", "timeout %s", c->state ==
		    MTA_S_CONNECTING ? "connecting" : c->state == MTA_S_DOT ?
		    "waiting for the reply to the end of data" : c->state ==
		    MTA_S_CONTENT ? "sending the message" :
		    "waiting for a reply");
	} else if (c->state == MTA_S_TLS) {
		e = bufferevent_get_openssl_error(c->bev);
		if (e != 0)
			ERR_error_string_n(e, detail, sizeof(detail));
		c->tls_failed = true;
		mta_tls_report_conn(c, "validation-failure", detail[0] ?
		    detail : "TLS handshake failed");
		if (c->security == MTA_SEC_OPPORTUNISTIC) {
			char what_s[300];

			snprintf(what_s, sizeof(what_s), "handshake failed%s%s",
			    detail[0] ? ": " : "", detail);
			/* No plaintext retry for a probable downgrade. */
			c->downgrade = mta_tls_downgrade(c, what_s);
		}
		mta_fail(c, "4.7.5", "TLS handshake failed%s%s%s",
		    detail[0] ? ": " : "", detail, c->downgrade ?
		    " (probable downgrade: the host had TLS before)" : "");
	} else if (c->state == MTA_S_CONNECTING) {
		mta_fail(c, "4.4.1", "connect: %s",
		    strerror(EVUTIL_SOCKET_ERROR()));
	} else {
		mta_fail(c, "4.4.2", "connection lost%s",
		    c->state == MTA_S_DOT || c->state == MTA_S_CONTENT ?
		    " during the message" : "");
	}
	c->in_cb = false;
	if (c->dead)
		mta_conn_free(c);
}

void
mta_session_quit(struct mta_conn *c)
{
	if (c->bev != NULL && c->state != MTA_S_CONNECTING &&
	    c->state != MTA_S_TLS) {
		c->state = MTA_S_QUIT;
		mta_send(c, "QUIT");
		bufferevent_flush(c->bev, EV_WRITE, BEV_FLUSH);
	}
	mta_conn_free(c);
}
