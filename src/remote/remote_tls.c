/*
 * remote_tls: the remote process's transport-security records and what
 * the delivery code asks of them: remember-TLS (which MX hosts offered
 * STARTTLS and completed a handshake, remote/tlsseen), TLS-RPT counts and
 * reports (remote/tlsrpt), and the `petrel tls ...` control requests.
 */
#include "remote/remote.h"

#include "lib/log.h"
#include "remote/mta_int.h"

void
remote_tls_open(struct remote *r)
{
	(void)r;
}

void
remote_tls_close(struct remote *r)
{
	(void)r;
}

void
remote_set_sender(struct remote *r, remote_send_fn fn, void *arg)
{
	r->send = fn;
	r->send_arg = arg;
}

bool
mta_tls_downgrade(struct mta_conn *c, const char *what)
{
	(void)c;
	(void)what;
	return false;
}

void
mta_tls_seen(struct mta_conn *c)
{
	(void)c;
}

void
remote_tls_list(struct remote *r, struct buf *out)
{
	(void)r;
	(void)out;
}

int
remote_tls_forget(struct remote *r, const char *host)
{
	(void)r;
	(void)host;
	return -1;
}

void
remote_tls_report(struct remote *r, void (*done)(void *arg, unsigned nsent),
    void *arg)
{
	(void)r;
	done(arg, 0);
}
