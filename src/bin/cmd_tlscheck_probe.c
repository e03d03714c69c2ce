/*
 * cmd_tlscheck_probe: the probe of `petrel tls-check` (cmd_tlscheck.c):
 * one SMTP conversation with one address of a host, synchronous, every
 * wait bounded by a deadline. It connects (remote-port, outbound-source),
 * reads the greeting, says EHLO (HELO when EHLO is refused with 5xx other
 * than 554), STARTTLS when offered, does the handshake as delivery sets
 * it up for the plan (tlscheck_handshake), prints the certificate chain,
 * the DANE and PKIX results, says EHLO again and QUIT; never MAIL. It
 * prints what it sees in the format documented in cmd_tlscheck.c and
 * fills the outcome at this address (struct tlscheck_out).
 *
 * The peer is untrusted: input is framed by lib/line and parsed by
 * proto/smtp_reply within TLSCHECK_IN_MAX bytes; certificate fields are
 * cut to printable ASCII (tlscheck_clean), at most TLSCHECK_CERTS_MAX
 * certificates and TLSCHECK_SANS_MAX names each are shown; input sent
 * before the handshake is discarded (RFC 3207 4.2).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bin/cmd_tlscheck_int.h"
#include "lib/line.h"
#include "lib/xalloc.h"
#include "proto/smtp_reply.h"
#include "remote/dane.h"
#include "remote/dns.h"
#include "remote/sts.h"
#include "remote/tlsdecide.h"
#include "tls/tls.h"

#define TLSCHECK_IN_MAX    (2 * (SMTP_REPLY_LINE_MAX + 2))
#define TLSCHECK_CERTS_MAX 8   /* certificates shown */
#define TLSCHECK_SANS_MAX  16  /* names shown per certificate */
#define TLSCHECK_TEXT_MAX  256 /* bytes of one peer field shown */

/* One SMTP connection of the probe (synchronous, with deadlines). */
struct tlscheck_conn {
	int fd;
	SSL *ssl;
	unsigned timeout; /* seconds per reply */
	char in[TLSCHECK_IN_MAX];
	size_t inlen;
	struct smtp_reply_parser parser;
	struct smtp_reply reply;
	char err[TLSCHECK_WHY_MAX];
};

/* Copies peer bytes as printable ASCII (others '?'), at most
 * TLSCHECK_TEXT_MAX of them, "..." marking a cut; "-" when empty. */
static void
tlscheck_clean(const unsigned char *p, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0, max = outsz - 4;

	if (max > TLSCHECK_TEXT_MAX)
		max = TLSCHECK_TEXT_MAX;
	for (i = 0; i < n && o < max; i++)
		out[o++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	if (i < n) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	if (o == 0)
		out[o++] = '-';
	out[o] = '\0';
}

static int64_t
tlscheck_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the SMTP probe (synchronous, every wait bounded) ---- */

/* Waits for events on fd until deadline: 1 ready, 0 timeout, -1 error. */
static int
tlscheck_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - tlscheck_now_ms();
		struct pollfd p = {fd, events, 0};
		int n;

		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 1; /* errors show in the next read or write */
		if (n == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static void
tlscheck_ssl_err(const char *what, char *out, size_t outsz)
{
	unsigned long e = ERR_get_error();
	char detail[256];

	if (e == 0) {
		snprintf(out, outsz, "%s: connection closed", what);
		return;
	}
	ERR_error_string_n(e, detail, sizeof(detail));
	ERR_clear_error();
	snprintf(out, outsz, "%s: %s", what, detail);
}

/* Waits as SSL asks after a WANT_READ/WANT_WRITE. 0 ready, -1 (err). */
static int
tlscheck_ssl_wait(
    struct tlscheck_conn *c, int rc, int64_t deadline, const char *what)
{
	int e = SSL_get_error(c->ssl, rc), w;

	if (e == SSL_ERROR_WANT_READ)
		w = tlscheck_wait(c->fd, POLLIN, deadline);
	else if (e == SSL_ERROR_WANT_WRITE)
		w = tlscheck_wait(c->fd, POLLOUT, deadline);
	else if (e == SSL_ERROR_ZERO_RETURN) {
		snprintf(c->err, sizeof(c->err), "%s: connection closed", what);
		return -1;
	} else {
		tlscheck_ssl_err(what, c->err, sizeof(c->err));
		return -1;
	}
	if (w == 0)
		snprintf(c->err, sizeof(c->err), "%s: timeout", what);
	else if (w < 0)
		snprintf(
		    c->err, sizeof(c->err), "%s: %s", what, strerror(errno));
	return w == 1 ? 0 : -1;
}

/* Reads more input (some bytes) before deadline. 0, or -1 (c->err). */
static int
tlscheck_fill(struct tlscheck_conn *c, int64_t deadline)
{
	size_t room = sizeof(c->in) - c->inlen;

	if (room == 0) {
		snprintf(c->err, sizeof(c->err), "input buffer full");
		return -1;
	}
	for (;;) {
		if (c->ssl != NULL) {
			int n;

			ERR_clear_error();
			n = SSL_read(c->ssl, c->in + c->inlen,
			    room > INT32_MAX ? INT32_MAX : (int)room);
			if (n > 0) {
				c->inlen += (size_t)n;
				return 0;
			}
			if (tlscheck_ssl_wait(c, n, deadline, "reading") != 0)
				return -1;
		} else {
			ssize_t n = recv(c->fd, c->in + c->inlen, room, 0);
			int w;

			if (n > 0) {
				c->inlen += (size_t)n;
				return 0;
			}
			if (n == 0) {
				snprintf(c->err, sizeof(c->err),
				    "connection closed");
				return -1;
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				snprintf(c->err, sizeof(c->err), "read: %s",
				    strerror(errno));
				return -1;
			}
			w = tlscheck_wait(c->fd, POLLIN, deadline);
			if (w <= 0) {
				snprintf(c->err, sizeof(c->err), "%s",
				    w == 0 ? "timeout waiting for a reply"
					   : strerror(errno));
				return -1;
			}
		}
	}
}

/* Reads one reply into c->reply. 0, or -1 (c->err). */
static int
tlscheck_reply(struct tlscheck_conn *c)
{
	int64_t deadline = tlscheck_now_ms() + (int64_t)c->timeout * 1000;

	for (;;) {
		size_t len, used;
		enum line_result lr = line_find(
		    c->in, c->inlen, SMTP_REPLY_LINE_MAX, &len, &used);
		int r;

		if (lr == LINE_MORE) {
			if (tlscheck_fill(c, deadline) != 0)
				return -1;
			continue;
		}
		if (lr != LINE_OK) {
			snprintf(c->err, sizeof(c->err), "%s",
			    lr == LINE_TOOLONG ? "reply line too long"
					       : "bare CR or LF in a reply");
			return -1;
		}
		r = smtp_reply_feed(
		    &c->parser, span_make(c->in, len), &c->reply);
		memmove(c->in, c->in + used, c->inlen - used);
		c->inlen -= used;
		if (r == 1)
			return 0;
		if (r < 0) {
			snprintf(c->err, sizeof(c->err), "malformed reply: %s",
			    smtp_reply_error(&c->parser));
			return -1;
		}
	}
}

/* Sends "line\r\n". 0, or -1 (c->err). */
static int
tlscheck_send(struct tlscheck_conn *c, const char *line)
{
	int64_t deadline = tlscheck_now_ms() + (int64_t)c->timeout * 1000;
	char buf[600];
	int len = snprintf(buf, sizeof(buf), "%s\r\n", line);
	size_t off = 0, n;

	if (len < 0 || (size_t)len >= sizeof(buf)) {
		snprintf(c->err, sizeof(c->err), "command too long");
		return -1;
	}
	n = (size_t)len;
	while (off < n) {
		if (c->ssl != NULL) {
			int w;

			ERR_clear_error();
			w = SSL_write(c->ssl, buf + off, (int)(n - off));
			if (w > 0)
				off += (size_t)w;
			else if (tlscheck_ssl_wait(c, w, deadline, "writing") !=
				 0)
				return -1;
		} else {
			ssize_t w =
			    send(c->fd, buf + off, n - off, MSG_NOSIGNAL);

			if (w > 0) {
				off += (size_t)w;
				continue;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				snprintf(c->err, sizeof(c->err), "write: %s",
				    strerror(errno));
				return -1;
			}
			if (tlscheck_wait(c->fd, POLLOUT, deadline) != 1) {
				snprintf(
				    c->err, sizeof(c->err), "write: timeout");
				return -1;
			}
		}
	}
	return 0;
}

/* Prints "  key CODE text / text" for the reply just read. */
static void
tlscheck_print_reply(
    const char *key, const struct tlscheck_conn *c, char *out, size_t outsz)
{
	char line[TLSCHECK_TEXT_MAX * 2];

	smtp_reply_format(&c->reply, line, sizeof(line));
	printf("  %s %s\n", key, line);
	if (out != NULL)
		snprintf(out, outsz, "%s", line);
}

/* Sends cmd (if not NULL), reads and prints the reply as key. 0 or -1
 * (the error printed, c->err kept). */
static int
tlscheck_cmd(struct tlscheck_conn *c, const char *cmd, const char *key,
    char *text, size_t textsz)
{
	if ((cmd != NULL && tlscheck_send(c, cmd) != 0) ||
	    tlscheck_reply(c) != 0) {
		printf("  error %s: %s\n", key, c->err);
		return -1;
	}
	tlscheck_print_reply(key, c, text, textsz);
	return 0;
}

/* Connects to a (port, outbound-source) before the connect timeout. */
static int
tlscheck_connect(const struct tlscheck *tc, struct tlscheck_conn *c,
    const struct dns_addr *a)
{
	const struct conf *cf = &tc->env.conf;
	struct sockaddr_storage ss;
	socklen_t sl = dns_addr_sockaddr(a, tc->port, &ss);
	const struct sockaddr_storage *src =
	    a->family == AF_INET ? &cf->source4 : &cf->source6;
	int64_t deadline;
	int soerr = 0, w;
	socklen_t el = sizeof(soerr);

	if (sl == 0) {
		snprintf(c->err, sizeof(c->err), "unknown address family");
		return -1;
	}
	c->fd =
	    socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
		return -1;
	}
	if (src->ss_family != 0 &&
	    bind(c->fd, (const struct sockaddr *)src,
		src->ss_family == AF_INET ? sizeof(struct sockaddr_in)
					  : sizeof(struct sockaddr_in6)) != 0) {
		snprintf(c->err, sizeof(c->err), "bind to outbound-source: %s",
		    strerror(errno));
		return -1;
	}
	if (connect(c->fd, (const struct sockaddr *)&ss, sl) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		snprintf(
		    c->err, sizeof(c->err), "connect: %s", strerror(errno));
		return -1;
	}
	deadline = tlscheck_now_ms() + (int64_t)tc->t_connect * 1000;
	w = tlscheck_wait(c->fd, POLLOUT, deadline);
	if (w == 0) {
		snprintf(c->err, sizeof(c->err),
		    "connect: timeout after %u seconds", tc->t_connect);
		return -1;
	}
	if (w < 0 ||
	    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &el) != 0 ||
	    soerr != 0) {
		snprintf(c->err, sizeof(c->err), "connect: %s",
		    strerror(w < 0 || soerr == 0 ? errno : soerr));
		return -1;
	}
	return 0;
}

/* The handshake on c->fd, set up by petrel's rules for the plan. */
static int
tlscheck_handshake(const struct tlscheck *tc, struct tlscheck_conn *c,
    const struct tlscheck_plan *p, const struct dane_host *dh, const char *name)
{
	SSL_CTX *ctx =
	    p->sec == MTA_SEC_STS || p->sec == MTA_SEC_STS_TESTING
		? tc->ctx_sts
		: tc->ctx;
	int64_t deadline = tlscheck_now_ms() + (int64_t)c->timeout * 1000;
	char why[256];

	c->ssl = SSL_new(ctx);
	if (c->ssl == NULL ||
	    (p->sec == MTA_SEC_DANE && dh != NULL
		    ? dane_apply(c->ssl, dh, why, sizeof(why))
		    : tls_client_prepare(c->ssl, name)) != 0 ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		ERR_clear_error();
		snprintf(c->err, sizeof(c->err), "TLS set-up failed");
		return -1;
	}
	for (;;) {
		int r;

		ERR_clear_error();
		r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		if (tlscheck_ssl_wait(c, r, deadline, "handshake") != 0)
			return -1;
	}
}

/* ---- what the handshake showed ---- */

static void
tlscheck_print_dn(size_t i, const char *key, const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, out[TLSCHECK_TEXT_MAX + 8];
	long len;

	if (b == NULL)
		return;
	(void)X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
	len = BIO_get_mem_data(b, &p);
	tlscheck_clean((const unsigned char *)p, len > 0 ? (size_t)len : 0, out,
	    sizeof(out));
	printf("  cert %zu %s %s\n", i, key, out);
	BIO_free(b);
}

static void
tlscheck_print_sans(size_t i, X509 *x)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char out[TLSCHECK_TEXT_MAX + 8];
	int j, n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;

	if (n <= 0)
		printf("  cert %zu san none\n", i);
	for (j = 0; j < n && j < TLSCHECK_SANS_MAX; j++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, j);

		if (g->type == GEN_DNS) {
			tlscheck_clean(ASN1_STRING_get0_data(g->d.dNSName),
			    (size_t)ASN1_STRING_length(g->d.dNSName), out,
			    sizeof(out));
			printf("  cert %zu san DNS:%s\n", i, out);
		} else if (g->type == GEN_IPADD &&
			   (ASN1_STRING_length(g->d.iPAddress) == 4 ||
			       ASN1_STRING_length(g->d.iPAddress) == 16)) {
			int len = ASN1_STRING_length(g->d.iPAddress);

			if (inet_ntop(len == 4 ? AF_INET : AF_INET6,
				ASN1_STRING_get0_data(g->d.iPAddress), out,
				sizeof(out)) == NULL)
				snprintf(out, sizeof(out), "?");
			printf("  cert %zu san IP:%s\n", i, out);
		} else {
			printf("  cert %zu san other\n", i);
		}
	}
	if (n > TLSCHECK_SANS_MAX)
		printf("  cert %zu san-more %d\n", i, n - TLSCHECK_SANS_MAX);
	GENERAL_NAMES_free(gens);
}

static void
tlscheck_print_chain(SSL *ssl)
{
	STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
	int n = chain != NULL ? sk_X509_num(chain) : 0;
	size_t i;

	printf("  chain %d\n", n);
	for (i = 0; i < (size_t)n && i < TLSCHECK_CERTS_MAX; i++) {
		X509 *x = sk_X509_value(chain, (int)i);
		struct tm tm;
		char iso[32];

		tlscheck_print_dn(i, "subject", X509_get_subject_name(x));
		tlscheck_print_dn(i, "issuer", X509_get_issuer_name(x));
		tlscheck_print_sans(i, x);
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1 &&
		    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
			printf("  cert %zu not-after %s%s\n", i, iso,
			    X509_cmp_current_time(X509_get0_notAfter(x)) < 0
				? " expired"
				: "");
	}
}

/*
 * PKIX of the peer's chain against ctx's CAs for name, outside the
 * handshake (the other CA file than the one the handshake used): the
 * checks of tls_client_prepare (host name, no partial wildcards, an IP
 * address literal against IP names) and of the handshake (purpose
 * ssl_server). *code gets the X509_V_ERR code.
 */
static bool
tlscheck_pkix_offline(SSL_CTX *ctx, SSL *ssl, const char *name, char *why,
    size_t whysz, long *code)
{
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *sc;
	X509_VERIFY_PARAM *vp;
	bool ok;

	*code = X509_V_OK;
	if (leaf == NULL) {
		snprintf(why, whysz, "no certificate");
		return false;
	}
	sc = X509_STORE_CTX_new();
	if (sc == NULL || X509_STORE_CTX_init(sc, SSL_CTX_get_cert_store(ctx),
			      leaf, SSL_get_peer_cert_chain(ssl)) != 1) {
		X509_STORE_CTX_free(sc);
		ERR_clear_error();
		snprintf(why, whysz, "cannot verify");
		return false;
	}
	(void)X509_STORE_CTX_set_default(sc, "ssl_server");
	vp = X509_STORE_CTX_get0_param(sc);
	X509_VERIFY_PARAM_set_hostflags(
	    vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1)
		(void)X509_VERIFY_PARAM_set1_host(vp, name, 0);
	ok = X509_verify_cert(sc) == 1;
	*code = ok ? X509_V_OK : X509_STORE_CTX_get_error(sc);
	snprintf(
	    why, whysz, "%s", ok ? "ok" : X509_verify_cert_error_string(*code));
	X509_STORE_CTX_free(sc);
	ERR_clear_error();
	return ok;
}

/* Strips a leading "DANE: " (dane_verified's reasons carry one). */
static const char *
tlscheck_undane(const char *s)
{
	return strncmp(s, "DANE: ", 6) == 0 ? s + 6 : s;
}

/*
 * After the handshake: the chain, the DANE and PKIX results, and the
 * verdict of petrel's policy for the plan.
 */
static void
tlscheck_verify(const struct tlscheck *tc, struct tlscheck_conn *c,
    const struct tlscheck_plan *p, const char *dane_absent, const char *name,
    struct tlscheck_out *o)
{
	bool sts_ctx =
	    p->sec == MTA_SEC_STS || p->sec == MTA_SEC_STS_TESTING;
	bool has_policy = tc->sts_done && tc->sts_res.status == STS_OK;
	bool ok_ca = false, ok_sts = false, ok;
	long code_ca = X509_V_OK, code_sts = X509_V_OK, code;
	char why[256], why_ca[256], why_sts[256];

	printf("  tls %s cipher %s\n", SSL_get_version(c->ssl),
	    SSL_get_cipher_name(c->ssl));
	tlscheck_print_chain(c->ssl);
	if (p->sec == MTA_SEC_DANE) {
		uint8_t u = 0, s = 0, m = 0;

		int depth;

		ok = dane_verified(c->ssl, why, sizeof(why));
		depth = ok ? SSL_get0_dane_tlsa(c->ssl, &u, &s, &m, NULL, NULL)
			   : -1;
		if (depth >= 0) {
			printf("  dane ok TLSA %u %u %u matched at depth %d\n",
			    u, s, m, depth);
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "DANE: TLSA %u %u %u matched", u, s, m);
		} else {
			printf("  dane fail %s\n", tlscheck_undane(why));
			tlscheck_set(o, TLSCHECK_DEFER, "DANE: %s: would defer",
			    tlscheck_undane(why));
		}
	} else {
		printf("  dane none %s\n", dane_absent);
	}
	/* The handshake's own PKIX result where it was set up for it. */
	if (p->sec != MTA_SEC_DANE && !sts_ctx) {
		ok_ca = tls_client_verified(c->ssl, why_ca, sizeof(why_ca));
		code_ca = SSL_get_verify_result(c->ssl);
	} else {
		ok_ca = tlscheck_pkix_offline(
		    tc->ctx, c->ssl, name, why_ca, sizeof(why_ca), &code_ca);
	}
	printf("  pkix outbound-ca-file %s %s\n", ok_ca ? "ok" : "fail",
	    ok_ca ? name : why_ca);
	if (has_policy || sts_ctx) {
		if (sts_ctx) {
			ok_sts = tls_client_verified(
			    c->ssl, why_sts, sizeof(why_sts));
			code_sts = SSL_get_verify_result(c->ssl);
		} else {
			ok_sts = tlscheck_pkix_offline(tc->ctx_sts, c->ssl,
			    name, why_sts, sizeof(why_sts), &code_sts);
		}
		printf("  pkix mta-sts-ca-file %s %s\n", ok_sts ? "ok" : "fail",
		    ok_sts ? name : why_sts);
	}
	switch (p->sec) {
	case MTA_SEC_STS:
	case MTA_SEC_STS_TESTING:
	case MTA_SEC_VERIFY:
		ok = sts_ctx ? ok_sts : ok_ca;
		code = sts_ctx ? code_sts : code_ca;
		snprintf(why, sizeof(why), "%s", sts_ctx ? why_sts : why_ca);
		if (ok)
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: certificate valid for %s", p->label, name);
		else if (p->sec == MTA_SEC_STS_TESTING)
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: certificate not valid for %s (%s): would "
			    "deliver anyway, reported by TLS-RPT",
			    p->label, name, why);
		else if (code == X509_V_ERR_HOSTNAME_MISMATCH ||
			 code == X509_V_ERR_IP_ADDRESS_MISMATCH)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: certificate does not match %s: would defer",
			    p->label, name);
		else
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: certificate not valid for %s (%s): would "
			    "defer",
			    p->label, name, why);
		break;
	case MTA_SEC_ENCRYPT:
		tlscheck_set(o, TLSCHECK_DELIVER,
		    "%s: over TLS, certificate not checked", p->label);
		break;
	case MTA_SEC_OPPORTUNISTIC:
		tlscheck_set(o, TLSCHECK_DELIVER,
		    "opportunistic: over TLS, certificate not checked");
		break;
	default:
		break;
	}
}

/* ---- one address ---- */

/* cmd_tlscheck_int.h */
bool
tlscheck_probe(const struct tlscheck *tc, const char *name,
    const struct dns_addr *a, const struct tlscheck_plan *p,
    const struct dane_host *dh, const char *dane_absent, struct tlscheck_out *o)
{
	struct tlscheck_conn *c = xcalloc(1, sizeof(*c));
	bool required = tlscheck_required(p), tls = false, ehlo_ok = false;
	struct smtp_ehlo ehlo;
	int r;
	char addr[64], text[TLSCHECK_TEXT_MAX * 2], cmd[DNS_NAME_MAX + 16];
	char note[200];

	memset(o, 0, sizeof(*o));
	memset(&ehlo, 0, sizeof(ehlo));
	c->fd = -1;
	c->timeout = tc->t_command;
	smtp_reply_init(&c->parser);
	dns_addr_format(a, addr, sizeof(addr));
	printf("connect %s %s port %u\n", name, addr, tc->port);
	if (tlscheck_connect(tc, c, a) != 0) {
		printf("  error %s\n", c->err);
		tlscheck_set(o, TLSCHECK_DEFER, "%s: next address", c->err);
		goto close;
	}
	if (tlscheck_cmd(c, NULL, "greeting", text, sizeof(text)) != 0) {
		tlscheck_set(o, TLSCHECK_DEFER, "greeting: %s", c->err);
		goto close;
	}
	if (c->reply.code != 220) {
		tlscheck_set(o, TLSCHECK_DEFER, "greeting %s: next host", text);
		goto quit;
	}
	snprintf(cmd, sizeof(cmd), "EHLO %s", tc->env.conf.hostname);
	if (tlscheck_cmd(c, cmd, "ehlo", text, sizeof(text)) != 0) {
		tlscheck_set(o, TLSCHECK_DEFER, "EHLO: %s", c->err);
		goto close;
	}
	if (c->reply.code == 250) {
		smtp_ehlo_parse(&c->reply, &ehlo);
	} else if (c->reply.code >= 500 && c->reply.code != 554) {
		/* RFC 5321 3.2: an old server; HELO (no extensions). */
		snprintf(cmd, sizeof(cmd), "HELO %s", tc->env.conf.hostname);
		if (tlscheck_cmd(c, cmd, "helo", text, sizeof(text)) != 0) {
			tlscheck_set(o, TLSCHECK_DEFER, "HELO: %s", c->err);
			goto close;
		}
		if (c->reply.code != 250) {
			tlscheck_set(o, TLSCHECK_DEFER,
			    "EHLO and HELO refused (%s): next host", text);
			goto quit;
		}
	} else {
		tlscheck_set(
		    o, TLSCHECK_DEFER, "EHLO refused (%s): next host", text);
		goto quit;
	}
	ehlo_ok = true;
	printf("  starttls %s\n", ehlo.starttls ? "offered" : "not-offered");
	if (p->sec == MTA_SEC_NONE)
		tlscheck_set(o, TLSCHECK_DELIVER,
		    "tls-policy none: would deliver in plaintext (no "
		    "STARTTLS)");
	if (!ehlo.starttls) {
		if (required)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: STARTTLS not offered: would defer", p->label);
		else if (p->sec == MTA_SEC_OPPORTUNISTIC &&
			 tlscheck_downgrade(tc, name, "STARTTLS not offered", o,
			     note, sizeof(note)))
			;
		else
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: STARTTLS not offered: would deliver in "
			    "plaintext%s",
			    p->label, p->sec == MTA_SEC_OPPORTUNISTIC ? note : "");
		goto quit;
	}
	if (tlscheck_cmd(c, "STARTTLS", "starttls-reply", text, sizeof(text)) !=
	    0) {
		tlscheck_set(o, TLSCHECK_DEFER, "STARTTLS: %s", c->err);
		goto close;
	}
	if (c->reply.code != 220) {
		if (required)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: STARTTLS refused (%s): would defer", p->label,
			    text);
		else
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: STARTTLS refused (%s): would deliver in "
			    "plaintext",
			    p->label, text);
		goto quit;
	}
	/* RFC 3207 4.2, CVE-2011-0411: nothing said before TLS counts. */
	if (c->inlen > 0)
		printf("  discarded %zu bytes sent before the TLS handshake\n",
		    c->inlen);
	c->inlen = 0;
	smtp_reply_init(&c->parser);
	if (tlscheck_handshake(tc, c, p, dh, name) != 0) {
		printf("  tls failed %s\n", c->err);
		if (required)
			tlscheck_set(o, TLSCHECK_DEFER,
			    "%s: TLS %s: would defer", p->label, c->err);
		else if (p->sec == MTA_SEC_OPPORTUNISTIC &&
			 tlscheck_downgrade(
			     tc, name, c->err, o, note, sizeof(note)))
			;
		else
			tlscheck_set(o, TLSCHECK_DELIVER,
			    "%s: TLS %s: would retry in plaintext%s", p->label,
			    c->err, p->sec == MTA_SEC_OPPORTUNISTIC ? note : "");
		/* The TLS state is unknown: no QUIT. */
		SSL_free(c->ssl);
		c->ssl = NULL;
		goto close;
	}
	tls = true;
	tlscheck_verify(tc, c, p, dane_absent, name, o);
	/* RFC 3207 4.2: EHLO again; REQUIRETLS is offered only now. */
	memset(&ehlo, 0, sizeof(ehlo));
	r = tlscheck_cmd(c, cmd, "ehlo-tls", text, sizeof(text));
	if (r != 0 || c->reply.code != 250) {
		if (o->action == TLSCHECK_DELIVER &&
		    p->sec != MTA_SEC_NONE) {
			o->action = TLSCHECK_DEFER;
			snprintf(o->why, sizeof(o->why),
			    "EHLO after STARTTLS failed: next address");
		}
		if (r != 0)
			goto close;
		goto quit;
	}
	smtp_ehlo_parse(&c->reply, &ehlo);
quit:
	if (ehlo_ok)
		printf("  requiretls %s%s\n",
		    ehlo.requiretls ? "offered" : "not-offered",
		    tls || ehlo.requiretls ? "" : " (only after TLS)");
	c->timeout = c->timeout > 10 ? 10 : c->timeout;
	(void)tlscheck_cmd(c, "QUIT", "quit", NULL, 0);
	if (c->ssl != NULL)
		(void)SSL_shutdown(c->ssl); /* once, without waiting */
close:
	ERR_clear_error();
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	tlscheck_set(o, TLSCHECK_DEFER, "no verdict");
	printf("  outcome %s %s\n",
	    o->action == TLSCHECK_DELIVER ? "deliver" : "defer", o->why);
	free(c);
	return o->action == TLSCHECK_DELIVER;
}
