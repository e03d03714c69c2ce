/*
 * proc_auth: wiring of the auth process, the only holder of password
 * hashes and SCRAM keys (src/auth/authd.c has the logic). It gets the
 * full users file from the parent, questions from the smtp process, and
 * answers each one on the link it came from: an answer for a replaced
 * smtp process is dropped, so it can never reach a new session that
 * happens to have the same id.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "auth/authd.h"
#include "bin/imsg.h"
#include "bin/proc.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "proto/base64.h"

static struct {
	struct event_base *base;
	struct authd *authd;
	struct bundle_conf bc;
	bool have_conf;
	struct ipc_chan *smtp;
	uint64_t gen;			/* counts smtp links */
} A;

static void
auth_answer(void *arg, uint64_t tag, uint64_t id,
    const struct smtpd_auth_answer *a)
{
	char salt[128], sig[64];
	struct buf b;

	(void)arg;
	if (tag != A.gen || A.smtp == NULL)
		return;
	buf_init(&b, IPC_MSG_MAX - 64);
	ipc_put_u32(&b, (uint32_t)a->status);
	ipc_put_str(&b, a->user);
	ipc_put_str(&b, a->senders);
	if (a->salt != NULL && a->saltlen > 64)
		fatalx("auth: salt of %zu bytes", a->saltlen);
	if (a->salt != NULL)
		base64_encode(a->salt, a->saltlen, salt);
	ipc_put_str(&b, a->salt != NULL ? salt : NULL);
	ipc_put_u32(&b, a->iter);
	if (a->server_sig != NULL)
		base64_encode(a->server_sig, 32, sig);
	ipc_put_str(&b, a->server_sig != NULL ? sig : NULL);
	ipc_send(A.smtp, IMSG_A_ANSWER, id, -1, &b);
	buf_clear(&b);
}

static void
auth_smtp_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	struct smtpd_auth_req req;
	char *client, *mech, *user, *password, *authmsg, *proof;
	uint8_t proofb[32];
	size_t n = 0;
	uint32_t kind;

	(void)ch;
	(void)arg;
	if (m->type != IMSG_A_REQUEST)
		fatalx("smtp: unexpected message %u", m->type);
	kind = ipc_get_u32(m);
	client = ipc_get_str(m);
	mech = ipc_get_str(m);
	user = ipc_get_str(m);
	password = ipc_get_str(m);
	authmsg = ipc_get_str(m);
	proof = ipc_get_str(m);
	ipc_get_end(m);
	if (kind > SMTPD_AUTH_SCRAM_PROOF || client == NULL || mech == NULL ||
	    user == NULL ||
	    (kind == SMTPD_AUTH_PASSWORD && password == NULL) ||
	    (kind == SMTPD_AUTH_SCRAM_PROOF && (authmsg == NULL ||
	    proof == NULL || base64_decode(proof, strlen(proof), proofb,
	    sizeof(proofb), &n) != 0 || n != sizeof(proofb))))
		fatalx("smtp: malformed auth request");
	memset(&req, 0, sizeof(req));
	req.id = m->id;
	req.kind = (enum smtpd_auth_kind)kind;
	req.client_addr = client;
	req.mech = mech;
	req.user = user;
	req.password = password;
	req.authmsg = authmsg;
	req.proof = kind == SMTPD_AUTH_SCRAM_PROOF ? proofb : NULL;
	authd_request(A.authd, A.gen, &req);
	if (password != NULL) {
		OPENSSL_cleanse(password, strlen(password));
		free(password);
	}
	free(client);
	free(mech);
	free(user);
	free(authmsg);
	free(proof);
}

static void
auth_smtp_closed(struct ipc_chan *ch, void *arg)
{
	(void)arg;
	if (ch != A.smtp)
		return;
	ipc_chan_free(A.smtp);
	A.smtp = NULL;
	A.gen++;
}

static void
auth_conf(struct ipc_msg *m)
{
	struct bundle b;
	struct bundle_conf nbc;
	struct auth_accounts *accts = NULL;
	char err[1024];

	proc_conf_from_msg(m, &b, &nbc);
	if (auth_accounts_parse(nbc.conf.users_file,
	    b.part[BUNDLE_USERS].data != NULL ? b.part[BUNDLE_USERS].data : "",
	    b.part[BUNDLE_USERS].len, &accts, err, sizeof(err)) != 0)
		fatalx("accounts: %s", err);
	OPENSSL_cleanse(b.part[BUNDLE_USERS].data, b.part[BUNDLE_USERS].len);
	bundle_free(&b);
	if (A.have_conf)
		bundle_conf_free(&A.bc);
	A.bc = nbc;
	A.have_conf = true;
	log_set_level((enum log_level)A.bc.conf.log_level);
	authd_set_conf(A.authd, &A.bc.conf, accts);
}

static void
auth_parent_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	char name[16];

	(void)ch;
	(void)arg;
	switch (m->type) {
	case IMSG_CONF:
		auth_conf(m);
		break;
	case IMSG_PEER:
		ipc_get_strn(m, name, sizeof(name));
		ipc_get_end(m);
		if (m->fd < 0 || strcmp(name, "smtp") != 0)
			fatalx("parent: bad peer message");
		if (A.smtp != NULL)
			ipc_chan_free(A.smtp);
		A.gen++;
		A.smtp = ipc_chan_new(A.base, m->fd, "smtp", auth_smtp_recv,
		    auth_smtp_closed, NULL);
		break;
	default:
		fatalx("parent: unexpected message %u", m->type);
	}
}

static void
auth_parent_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	fatalx("lost the parent process");
}

static void
auth_sigterm(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopexit(A.base, NULL);
}

int
proc_auth_main(void)
{
	struct event *term, *intr;

	signal(SIGPIPE, SIG_IGN);
	/* No core dumps or ptrace of the process that holds the hashes. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	A.base = proc_event_base();
	A.authd = authd_new(A.base, auth_answer, NULL);
	ipc_chan_new(A.base, PROC_CTL_FD, "parent", auth_parent_recv,
	    auth_parent_closed, NULL);
	term = evsignal_new(A.base, SIGTERM, auth_sigterm, NULL);
	intr = evsignal_new(A.base, SIGINT, auth_sigterm, NULL);
	event_add(term, NULL);
	event_add(intr, NULL);
	proc_signals_ready();
	event_base_dispatch(A.base);
	return 0;
}
