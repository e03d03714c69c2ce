/* authd: the auth process's logic (see authd.h). */
#include "auth/authd.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <event2/event.h>

#include "lib/log.h"
#include "lib/workq.h"
#include "lib/xalloc.h"

#define AUTHD_BUCKETS 4096
#define AUTHD_MAX_ENTRIES 100000	/* per table: bounded memory */
#define AUTHD_THREADS 2
#define AUTHD_FAKE_ITER 4096
/*
 * Password checks queued or running at once; more get "try later", so a
 * flood of AUTH commands cannot make real logins wait for minutes.
 */
#define AUTHD_MAX_INFLIGHT 64
/*
 * A failed password check is answered no sooner than this after the
 * question: a cheap hash (or a disabled account) must not answer faster
 * than a missing account's dummy check and so tell which accounts exist.
 */
#define AUTHD_FAIL_FLOOR_MS 250

/* Failures of one client address or one account in the window. */
struct authd_fail {
	struct authd_fail *next;
	time_t first;			/* start of the window */
	unsigned count;
	char key[];
};

struct authd_failtab {
	struct authd_fail *bucket[AUTHD_BUCKETS];
	unsigned n;
};

/* Accounts shared with the jobs on worker threads (reload-safe). */
struct authd_accts {
	unsigned refs;
	struct auth_accounts *a;
};

struct authd {
	struct event_base *base;
	authd_answer_fn answer;
	void *arg;
	const struct conf *conf;
	struct authd_accts *accts;
	struct workq *wq;
	struct authd_failtab by_ip, by_user;
	unsigned inflight;		/* password checks not answered yet */
	uint8_t secret[32];		/* for the salts of unknown users */
};

/* A password check on a worker thread. */
struct authd_job {
	struct authd *d;
	struct authd_accts *accts;
	const struct auth_account *acct;	/* NULL: unknown user */
	uint64_t tag, id;
	char user[320];
	char client[64];
	char *password;
	size_t pwlen;
	int result;			/* auth_password_verify() */
	struct timespec start;
	struct event *pad;		/* holds back a failure's answer */
};

static void
authd_accts_unref(struct authd_accts *x)
{
	if (x == NULL || --x->refs > 0)
		return;
	auth_accounts_free(x->a);
	free(x);
}

struct authd *
authd_new(struct event_base *base, authd_answer_fn answer, void *arg)
{
	struct authd *d = xcalloc(1, sizeof(*d));

	d->base = base;
	d->answer = answer;
	d->arg = arg;
	d->wq = workq_new(base, AUTHD_THREADS);
	if (RAND_bytes(d->secret, sizeof(d->secret)) != 1)
		fatalx("auth: no random bytes");
	return d;
}

void
authd_set_conf(struct authd *d, const struct conf *c,
    struct auth_accounts *accounts)
{
	struct authd_accts *x = xcalloc(1, sizeof(*x));

	x->refs = 1;
	x->a = accounts;
	authd_accts_unref(d->accts);
	d->accts = x;
	d->conf = c;
}

/* ---- failure counting ---- */

static unsigned
authd_hash(const char *s)
{
	unsigned h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h % AUTHD_BUCKETS;
}

/* The entry for key, NULL if none; drops expired entries on the way. */
static struct authd_fail *
authd_fail_find(struct authd *d, struct authd_failtab *t, const char *key)
{
	struct authd_fail **pp = &t->bucket[authd_hash(key)], *f;
	time_t now = time(NULL);

	while ((f = *pp) != NULL) {
		if (now - f->first >= (time_t)d->conf->auth_fail_window) {
			*pp = f->next;
			free(f);
			t->n--;
			continue;
		}
		if (strcmp(f->key, key) == 0)
			return f;
		pp = &f->next;
	}
	return NULL;
}

static unsigned
authd_fail_count(struct authd *d, struct authd_failtab *t, const char *key)
{
	struct authd_fail *f = authd_fail_find(d, t, key);

	return f != NULL ? f->count : 0;
}

/*
 * Makes room in a full table: drops every expired entry, then, if it is
 * still full, the first entry of key's bucket (an arbitrary one). Failing
 * open instead would let anyone who fills the table guess freely.
 */
static void
authd_fail_evict(struct authd *d, struct authd_failtab *t, const char *key)
{
	time_t now = time(NULL);
	unsigned i;

	for (i = 0; i < AUTHD_BUCKETS; i++) {
		struct authd_fail **pp = &t->bucket[i], *f;

		while ((f = *pp) != NULL) {
			if (now - f->first >= (time_t)d->conf->auth_fail_window) {
				*pp = f->next;
				free(f);
				t->n--;
			} else {
				pp = &f->next;
			}
		}
	}
	for (i = authd_hash(key); t->n >= AUTHD_MAX_ENTRIES;
	    i = (i + 1) % AUTHD_BUCKETS) {
		struct authd_fail *f = t->bucket[i];

		if (f != NULL) {
			t->bucket[i] = f->next;
			free(f);
			t->n--;
		}
	}
}

/* Counts a failure; returns the new count. */
static unsigned
authd_fail_add(struct authd *d, struct authd_failtab *t, const char *key)
{
	struct authd_fail *f = authd_fail_find(d, t, key);
	size_t n;

	if (f != NULL)
		return ++f->count;
	if (t->n >= AUTHD_MAX_ENTRIES)
		authd_fail_evict(d, t, key);
	n = strlen(key) + 1;
	f = xmalloc(sizeof(*f) + n);
	memcpy(f->key, key, n);
	f->first = time(NULL);
	f->count = 1;
	f->next = t->bucket[authd_hash(key)];
	t->bucket[authd_hash(key)] = f;
	t->n++;
	return 1;
}

static void
authd_fail_clear(struct authd *d, struct authd_failtab *t, const char *key)
{
	struct authd_fail *f = authd_fail_find(d, t, key);

	if (f != NULL)
		f->count = 0;
}

/* Takes back one failure counted in advance. */
static void
authd_fail_refund(struct authd *d, struct authd_failtab *t, const char *key)
{
	struct authd_fail *f = authd_fail_find(d, t, key);

	if (f != NULL && f->count > 0)
		f->count--;
}

/* Is the client or the account over its limit? Logs when it is. */
static bool
authd_locked(struct authd *d, const char *client, const char *user)
{
	const struct conf *c = d->conf;

	if (authd_fail_count(d, &d->by_ip, client) >= c->auth_fail_limit_ip ||
	    authd_fail_count(d, &d->by_user, user) >= c->auth_fail_limit_user)
		return true;
	return false;
}

static void
authd_failed(struct authd *d, const char *client, const char *user)
{
	const struct conf *c = d->conf;
	unsigned ni = authd_fail_add(d, &d->by_ip, client);
	unsigned nu = authd_fail_add(d, &d->by_user, user);
	char esc[400];

	log_escape(user, strlen(user), esc, sizeof(esc));
	if (ni == c->auth_fail_limit_ip)
		log_warn("auth lockout client=%s failures=%u window=%us",
		    client, ni, c->auth_fail_window);
	if (nu == c->auth_fail_limit_user)
		log_warn("auth lockout user=%s failures=%u window=%us", esc,
		    nu, c->auth_fail_window);
}

/* ---- answers ---- */

static void
authd_reply(struct authd *d, uint64_t tag, uint64_t id, enum smtpd_auth_status st)
{
	struct smtpd_auth_answer a;

	memset(&a, 0, sizeof(a));
	a.status = st;
	d->answer(d->arg, tag, id, &a);
}

/* "a@b,c@d": the addresses the account may send as besides its own. */
static char *
authd_senders(const struct auth_account *acct)
{
	struct buf b;
	char *s;
	size_t i;

	buf_init(&b, 64 * 1024);
	for (i = 0; i < acct->naddresses; i++) {
		if (i > 0)
			(void)buf_putc(&b, ',');
		(void)buf_puts(&b, acct->addresses[i]);
	}
	s = xstrdup(b.data != NULL ? b.data : "");
	buf_clear(&b);
	return s;
}

static void
authd_reply_ok(struct authd *d, uint64_t tag, uint64_t id, const struct auth_account *acct,
    const uint8_t *server_sig)
{
	struct smtpd_auth_answer a;
	char *senders = authd_senders(acct);

	memset(&a, 0, sizeof(a));
	a.status = SMTPD_AUTH_OK;
	a.user = acct->address;
	a.senders = senders;
	a.server_sig = server_sig;
	d->answer(d->arg, tag, id, &a);
	free(senders);
}

/*
 * The account name a client gave: lower-cased; a name without '@' is in
 * the first configured domain. 0, or -1 if it cannot be an account.
 */
static int
authd_normalize(const struct conf *c, const char *in, char *out,
    size_t outsz)
{
	size_t i, n = strlen(in);
	int w;

	if (n == 0 || n >= outsz)
		return -1;
	if (strchr(in, '@') == NULL)
		w = snprintf(out, outsz, "%s@%s", in, c->domains[0]);
	else
		w = snprintf(out, outsz, "%s", in);
	if (w < 0 || (size_t)w >= outsz)
		return -1;
	for (i = 0; out[i] != '\0'; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return 0;
}

/* ---- password checks on worker threads ---- */

static void
authd_job_work(void *arg)
{
	struct authd_job *j = arg;

	if (j->acct != NULL)
		j->result = auth_password_verify(j->acct, j->password,
		    j->pwlen);
	else {
		auth_password_dummy(j->password, j->pwlen);
		j->result = 0;
	}
}

static void
authd_job_free(struct authd_job *j)
{
	j->d->inflight--;
	if (j->pad != NULL)
		event_free(j->pad);
	OPENSSL_cleanse(j->password, j->pwlen);
	free(j->password);
	authd_accts_unref(j->accts);
	free(j);
}

/* The held-back answer of a failed check. */
static void
authd_job_pad_cb(evutil_socket_t fd, short what, void *arg)
{
	struct authd_job *j = arg;

	(void)fd;
	(void)what;
	authd_reply(j->d, j->tag, j->id, SMTPD_AUTH_FAILED);
	authd_job_free(j);
}

static void
authd_job_done(void *arg)
{
	struct authd_job *j = arg;
	struct authd *d = j->d;
	struct timespec now;
	long ms;

	if (j->result == 1) {
		/* The failure counted in advance was not one. */
		authd_fail_refund(d, &d->by_ip, j->client);
		authd_fail_clear(d, &d->by_user, j->user);
		authd_reply_ok(d, j->tag, j->id, j->acct, NULL);
		authd_job_free(j);
		return;
	}
	if (j->result < 0)
		log_warn("auth user=%s: password check error (unsupported "
		    "hash?)", j->user);
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - j->start.tv_sec) * 1000 +
	    (now.tv_nsec - j->start.tv_nsec) / 1000000;
	if (ms < AUTHD_FAIL_FLOOR_MS) {
		struct timeval tv = { 0, (AUTHD_FAIL_FLOOR_MS - ms) * 1000 };

		j->pad = evtimer_new(d->base, authd_job_pad_cb, j);
		evtimer_add(j->pad, &tv);
		return;
	}
	authd_reply(d, j->tag, j->id, SMTPD_AUTH_FAILED);
	authd_job_free(j);
}

static void
authd_password(struct authd *d, uint64_t tag,
    const struct smtpd_auth_req *req, const char *client, const char *user)
{
	struct authd_job *j;

	if (d->inflight >= AUTHD_MAX_INFLIGHT) {
		log_warn("auth: %u password checks waiting; answering "
		    "\"try later\"", d->inflight);
		authd_reply(d, tag, req->id, SMTPD_AUTH_TEMPFAIL);
		return;
	}
	/*
	 * Counted as a failure now, taken back if the password is right:
	 * checks that are still running must count, or one client could
	 * have as many guesses in flight as it has connections.
	 */
	authd_failed(d, client, user);
	j = xcalloc(1, sizeof(*j));
	d->inflight++;
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	j->d = d;
	j->accts = d->accts;
	j->accts->refs++;
	j->acct = auth_accounts_find(d->accts->a, user);
	j->tag = tag;
	j->id = req->id;
	snprintf(j->user, sizeof(j->user), "%s", user);
	snprintf(j->client, sizeof(j->client), "%s", client);
	j->pwlen = strlen(req->password);
	j->password = xmalloc(j->pwlen + 1);
	memcpy(j->password, req->password, j->pwlen + 1);
	workq_submit(d->wq, authd_job_work, authd_job_done, j);
}

/* ---- SCRAM ---- */

static void
authd_scram_start(struct authd *d, uint64_t tag,
    const struct smtpd_auth_req *req,
    const char *user)
{
	const struct auth_account *acct = auth_accounts_find(d->accts->a,
	    user);
	struct smtpd_auth_answer a;
	uint8_t fake[32];
	unsigned len = sizeof(fake);

	memset(&a, 0, sizeof(a));
	a.status = SMTPD_AUTH_OK;
	if (acct != NULL && acct->has_scram) {
		a.salt = acct->scram.salt;
		a.saltlen = acct->scram.salt_len;
		a.iter = acct->scram.iter;
	} else {
		/* The same made-up salt every time for this name. */
		HMAC(EVP_sha256(), d->secret, sizeof(d->secret),
		    (const unsigned char *)user, strlen(user), fake, &len);
		a.salt = fake;
		a.saltlen = 16;
		a.iter = AUTHD_FAKE_ITER;
	}
	d->answer(d->arg, tag, req->id, &a);
}

static void
authd_scram_proof(struct authd *d, uint64_t tag,
    const struct smtpd_auth_req *req, const char *client, const char *user)
{
	const struct auth_account *acct = auth_accounts_find(d->accts->a,
	    user);
	const uint8_t *msg = (const uint8_t *)req->authmsg;
	size_t n = strlen(req->authmsg);
	uint8_t sig[32];

	if (acct == NULL || !acct->has_scram || !auth_account_can_login(acct) ||
	    !auth_scram_proof_ok(acct->scram.stored_key, msg, n, req->proof)) {
		authd_failed(d, client, user);
		authd_reply(d, tag, req->id, SMTPD_AUTH_FAILED);
		return;
	}
	authd_fail_clear(d, &d->by_user, user);
	auth_scram_server_signature(acct->scram.server_key, msg, n, sig);
	authd_reply_ok(d, tag, req->id, acct, sig);
}

/*
 * The key failures of a client address are counted under: the address,
 * or for IPv6 its /64, since one end site usually has a whole /64.
 */
static void
authd_client_key(const char *addr, char *out, size_t outsz)
{
	struct in6_addr a6;
	char s[INET6_ADDRSTRLEN];

	if (inet_pton(AF_INET6, addr, &a6) == 1) {
		memset(&a6.s6_addr[8], 0, 8);
		if (inet_ntop(AF_INET6, &a6, s, sizeof(s)) != NULL) {
			snprintf(out, outsz, "%s/64", s);
			return;
		}
	}
	snprintf(out, outsz, "%s", addr);
}

void
authd_request(struct authd *d, uint64_t tag, const struct smtpd_auth_req *req)
{
	char user[320], client[64];

	if (d->conf == NULL || d->accts == NULL) {
		authd_reply(d, tag, req->id, SMTPD_AUTH_TEMPFAIL);
		return;
	}
	authd_client_key(req->client_addr, client, sizeof(client));
	if (authd_normalize(d->conf, req->user, user, sizeof(user)) != 0) {
		/* Not even a possible name: a failure like any other. */
		snprintf(user, sizeof(user), "%s", "-");
		if (req->kind == SMTPD_AUTH_SCRAM_START) {
			authd_scram_start(d, tag, req, user);
			return;
		}
		authd_failed(d, client, user);
		authd_reply(d, tag, req->id, SMTPD_AUTH_FAILED);
		return;
	}
	if (authd_locked(d, client, user)) {
		authd_reply(d, tag, req->id, SMTPD_AUTH_LOCKED);
		return;
	}
	switch (req->kind) {
	case SMTPD_AUTH_PASSWORD:
		authd_password(d, tag, req, client, user);
		break;
	case SMTPD_AUTH_SCRAM_START:
		authd_scram_start(d, tag, req, user);
		break;
	case SMTPD_AUTH_SCRAM_PROOF:
		authd_scram_proof(d, tag, req, client, user);
		break;
	}
}
