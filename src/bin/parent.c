/*
 * parent: the small supervising process of `petrel serve`. It reads the
 * configuration and keys, prepares the state directories, binds the
 * listening ports and STATE/submit.sock (as root, before anyone drops
 * privileges), and starts the five children, each a fresh exec of this
 * binary:
 *
 *   smtp   all network parsing; chrooted to STATE/empty as user-smtp
 *   queue  the only writer of the spool, as user-queue
 *   local  the only writer of mailboxes, as user-local
 *   auth   the only holder of password hashes; chrooted, as user-auth
 *   remote outbound delivery: DNS, SMTP client, TLS; chrooted to
 *          STATE/remote (its own records), as user-remote
 *
 * It connects them pairwise (smtp-queue, queue-local, smtp-auth, queue-remote) with
 * socketpairs it
 * hands out over each child's control channel, so a child that dies is
 * restarted alone and its peers get a fresh link. SIGHUP re-reads the
 * configuration, users, aliases and certificates and sends them to every
 * child; SIGTERM stops the children (the queue stays intact on disk). The
 * control socket (control.c) offers the same reload and hands `queue`
 * requests to the queue process.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bin/control.h"
#include "bin/imsg.h"
#include "bin/proc.h"
#include "lib/log.h"
#include "lib/xalloc.h"

enum { CH_SMTP, CH_QUEUE, CH_LOCAL, CH_AUTH, CH_REMOTE, CH_N };

struct child {
	const char *name;
	pid_t pid;
	struct ipc_chan *ch;
	time_t started;
	struct event *respawn;
	long uid, gid;		/* -1 when not root */
};

static const int parent_links[][2] = { { CH_SMTP, CH_QUEUE },
	{ CH_QUEUE, CH_LOCAL }, { CH_SMTP, CH_AUTH }, { CH_QUEUE, CH_REMOTE } };

static struct {
	struct event_base *base;
	const char *config_path;
	struct bundle bundle;
	struct bundle_conf bc;
	int *listen_fds;
	size_t nlisten;
	int submit_fd;			/* STATE/submit.sock */
	struct child child[CH_N];
	bool stopping;
	char chroot_dir[4096];
	char remote_dir[4096];	/* STATE/remote: the remote process's root
				 * (its TLS records, MTA-STS cache, TLS-RPT
				 * counts), also its working directory when
				 * petrel runs unprivileged */
} P;

static void parent_spawn(int i);
static void parent_stop_next(void);

static void
parent_recv(struct ipc_chan *ch, struct ipc_msg *m, void *arg)
{
	(void)arg;
	if (m->fd >= 0)
		close(m->fd);
	fatalx("unexpected message %u from %s", m->type, ipc_chan_peer(ch));
}

static void
parent_chan_closed(struct ipc_chan *ch, void *arg)
{
	(void)ch;
	(void)arg;
	/* SIGCHLD does the bookkeeping. */
}

static void
parent_send_conf(int i)
{
	/* Each child gets only the secrets it needs. */
	int fd = bundle_to_fd(&P.bundle, i == CH_SMTP ? BUNDLE_F_KEY :
	    i == CH_AUTH ? BUNDLE_F_SECRETS : i == CH_REMOTE ? BUNDLE_F_RELAY :
	    0);

	if (fd < 0)
		fatal("memfd");
	ipc_send(P.child[i].ch, IMSG_CONF, 0, fd, NULL);
	close(fd);
}

static void
parent_link(int a, int b)
{
	struct buf name;
	int sv[2];

	if (P.child[a].ch == NULL || P.child[b].ch == NULL)
		return;
	if (ipc_socketpair(sv) != 0)
		fatal("socketpair");
	buf_init(&name, 64);
	ipc_put_str(&name, P.child[b].name);
	ipc_send(P.child[a].ch, IMSG_PEER, 0, sv[0], &name);
	buf_reset(&name);
	ipc_put_str(&name, P.child[a].name);
	ipc_send(P.child[b].ch, IMSG_PEER, 0, sv[1], &name);
	buf_clear(&name);
	close(sv[0]);
	close(sv[1]);
}

static void
parent_spawn(int i)
{
	struct child *c = &P.child[i];
	char uid[32], gid[32], lvl[8];
	const char *dir = i == CH_REMOTE ? P.remote_dir :
	    (i == CH_SMTP || i == CH_AUTH) && c->uid >= 0 ? P.chroot_dir : "-";
	int sv[2];
	size_t k;
	pid_t pid;
	sigset_t stop, old;

	if (ipc_socketpair(sv) != 0)
		fatal("socketpair");
	snprintf(uid, sizeof(uid), "%ld", c->uid);
	snprintf(gid, sizeof(gid), "%ld", c->gid);
	snprintf(lvl, sizeof(lvl), "%d", P.bc.conf.log_level);
	/*
	 * Stop signals wait (blocked) until the child has its handlers:
	 * proc_signals_ready() unblocks them. They are blocked before the
	 * fork, so that a SIGTERM sent before the child ran cannot reach
	 * the parent's handler inherited by the copy (and be lost there).
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop, &old);
	pid = fork();
	if (pid < 0)
		fatal("fork");
	if (pid == 0) {
		char a0[] = "petrel", a1[] = "__child", name[16], d[4096];
		char *argv[] = { a0, a1, name, uid, gid, d, lvl, NULL };

		snprintf(name, sizeof(name), "%s", c->name);
		snprintf(d, sizeof(d), "%s", dir);
		sigprocmask(SIG_SETMASK, &stop, NULL);
		if (dup2(sv[1], PROC_CTL_FD) < 0)
			_exit(127);
		closefrom(PROC_CTL_FD + 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	c->pid = pid;
	c->started = time(NULL);
	c->ch = ipc_chan_new(P.base, sv[0], c->name, parent_recv,
	    parent_chan_closed, NULL);
	log_info("started %s pid=%d", c->name, (int)pid);
	parent_send_conf(i);
	if (i == CH_SMTP) {
		for (k = 0; k < P.nlisten; k++) {
			struct buf idx;
			buf_init(&idx, 16);
			ipc_put_u32(&idx, (uint32_t)k);
			ipc_send(c->ch, IMSG_LISTENER, 0, P.listen_fds[k],
			    &idx);
			buf_clear(&idx);
		}
		if (P.submit_fd >= 0) {
			struct buf idx;
			buf_init(&idx, 16);
			ipc_put_u32(&idx, IMSG_LISTENER_LOCAL);
			ipc_send(c->ch, IMSG_LISTENER, 0, P.submit_fd, &idx);
			buf_clear(&idx);
		}
	}
	for (k = 0; k < sizeof(parent_links) / sizeof(parent_links[0]); k++) {
		if (parent_links[k][0] == i || parent_links[k][1] == i)
			parent_link(parent_links[k][0], parent_links[k][1]);
	}
}

static void
parent_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	if (!P.stopping)
		parent_spawn((int)(intptr_t)arg);
}

static void
parent_sigchld(evutil_socket_t sig, short what, void *arg)
{
	int status, i, alive = 0;
	pid_t pid;

	(void)sig;
	(void)what;
	(void)arg;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < CH_N; i++) {
			struct child *c = &P.child[i];
			struct timeval tv = { 0, 0 };

			if (c->pid != pid)
				continue;
			if (WIFSIGNALED(status))
				log_warn("%s pid=%d killed by signal %d",
				    c->name, (int)pid, WTERMSIG(status));
			else if (!P.stopping || WEXITSTATUS(status) != 0)
				log_warn("%s pid=%d exited with status %d",
				    c->name, (int)pid, WEXITSTATUS(status));
			c->pid = 0;
			ipc_chan_free(c->ch);
			c->ch = NULL;
			if (P.stopping)
				continue;
			/* A child that keeps dying is restarted slowly. */
			if (time(NULL) - c->started < 5)
				tv.tv_sec = 2;
			log_info("restarting %s in %ld s", c->name,
			    (long)tv.tv_sec);
			evtimer_add(c->respawn, &tv);
		}
	}
	for (i = 0; i < CH_N; i++)
		alive += P.child[i].pid != 0;
	if (P.stopping && alive == 0)
		event_base_loopexit(P.base, NULL);
	else if (P.stopping)
		parent_stop_next();
}

static void
parent_kill_all(evutil_socket_t fd, short what, void *arg)
{
	int i;

	(void)fd;
	(void)what;
	(void)arg;
	for (i = 0; i < CH_N; i++)
		if (P.child[i].pid != 0) {
			log_warn("%s did not stop in time; killing it",
			    P.child[i].name);
			kill(P.child[i].pid, SIGKILL);
		}
}

/*
 * Stops the children in order: smtp first, so that sessions waiting for a
 * commit get their answer from a queue that is still there; then the
 * queue and local.
 */
static void
parent_stop_next(void)
{
	int i;

	if (P.child[CH_SMTP].pid != 0) {
		kill(P.child[CH_SMTP].pid, SIGTERM);
		return;
	}
	for (i = 0; i < CH_N; i++)
		if (P.child[i].pid != 0)
			kill(P.child[i].pid, SIGTERM);
}

static void
parent_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tv = { 30, 0 };
	int i, alive = 0;

	(void)what;
	(void)arg;
	if (P.stopping)
		return;
	log_info("signal %d: stopping", (int)sig);
	P.stopping = true;
	for (i = 0; i < CH_N; i++) {
		evtimer_del(P.child[i].respawn);
		alive += P.child[i].pid != 0;
	}
	if (alive == 0)
		event_base_loopexit(P.base, NULL);
	parent_stop_next();
	event_base_once(P.base, -1, EV_TIMEOUT, parent_kill_all, NULL, &tv);
}

/*
 * SIGHUP and the control socket's `reload`: re-reads everything and sends
 * it to every running child. 0, or -1 with the reason in err (the running
 * configuration stays).
 */
static int
parent_reload(char *err, size_t errsz)
{
	struct bundle nb;
	struct bundle_conf nbc;
	int i;

	if (P.stopping) {
		snprintf(err, errsz, "petrel is stopping");
		return -1;
	}
	if (bundle_load(&nb, P.config_path, true, err, errsz) != 0 ||
	    bundle_parse(&nb, &nbc, err, errsz) != 0) {
		log_err("reload failed, keeping the running configuration: %s",
		    err);
		return -1;
	}
	bundle_free(&P.bundle);
	bundle_conf_free(&P.bc);
	P.bundle = nb;
	P.bc = nbc;
	for (i = 0; i < CH_N; i++)
		if (P.child[i].ch != NULL)
			parent_send_conf(i);
	log_info("configuration reloaded (listeners and users to run as "
	    "change only on restart)");
	return 0;
}

static void
parent_sighup(evutil_socket_t sig, short what, void *arg)
{
	char err[1024];

	(void)sig;
	(void)what;
	(void)arg;
	(void)parent_reload(err, sizeof(err));
}

/* The control socket's `queue ...`: the queue process answers on fd. */
static int
parent_control_queue(int fd, const char *request, char *err, size_t errsz)
{
	struct buf b;
	int r;

	if (P.stopping || P.child[CH_QUEUE].ch == NULL) {
		snprintf(err, errsz, "the queue process is not running (%s)",
		    P.stopping ? "petrel is stopping" : "being restarted");
		return -1;
	}
	buf_init(&b, CONTROL_REQUEST_MAX + 64);
	ipc_put_str(&b, request);
	r = ipc_send(P.child[CH_QUEUE].ch, IMSG_CTL_QUEUE, 0, fd, &b);
	buf_clear(&b);
	if (r != 0)
		snprintf(err, errsz, "the queue process is not reachable");
	return r;
}

/* A `tls` request: the remote process answers it. */
static int
parent_control_remote(int fd, const char *request, char *err, size_t errsz)
{
	struct buf b;
	int r;

	if (P.stopping || P.child[CH_REMOTE].ch == NULL) {
		snprintf(err, errsz, "the remote process is not running (%s)",
		    P.stopping ? "petrel is stopping" : "being restarted");
		return -1;
	}
	buf_init(&b, CONTROL_REQUEST_MAX + 64);
	ipc_put_str(&b, request);
	r = ipc_send(P.child[CH_REMOTE].ch, IMSG_CTL_REMOTE, 0, fd, &b);
	buf_clear(&b);
	if (r != 0)
		snprintf(err, errsz, "the remote process is not reachable");
	return r;
}

static const struct control_ops parent_control_ops = { parent_reload,
	parent_control_queue, parent_control_remote };

/* Makes dir (one level) with owner and mode; fatal on failure. */
static void
parent_dir(const char *dir, long uid, long gid, mode_t mode)
{
	if (mkdir(dir, mode) != 0 && errno != EEXIST)
		fatal("mkdir %s", dir);
	if (uid >= 0 && chown(dir, (uid_t)uid, (gid_t)gid) != 0)
		fatal("chown %s", dir);
	if (chmod(dir, mode) != 0)
		fatal("chmod %s", dir);
}

static void
parent_users(void)
{
	const struct conf *c = &P.bc.conf;
	const char *names[CH_N] = { c->user_smtp, c->user_queue,
		c->user_local, c->user_auth, c->user_remote };
	int i;

	for (i = 0; i < CH_N; i++) {
		struct passwd *pw;

		P.child[i].uid = P.child[i].gid = -1;
		if (geteuid() != 0)
			continue;
		if ((pw = getpwnam(names[i])) == NULL)
			fatalx("user %s (for the %s process) does not exist; "
			    "create it (tools/deps.sh does) or set user-%s",
			    names[i], P.child[i].name, P.child[i].name);
		if (pw->pw_uid == 0)
			fatalx("user %s must not be root", names[i]);
		P.child[i].uid = (long)pw->pw_uid;
		P.child[i].gid = (long)pw->pw_gid;
	}
}

static void
parent_bind(void)
{
	const struct conf *c = &P.bc.conf;
	size_t i;

	P.nlisten = c->nlisteners;
	P.listen_fds = xcalloc(c->nlisteners, sizeof(int));
	for (i = 0; i < c->nlisteners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		int fd, one = 1;

		fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			fatal("listen %s: socket", l->text);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (l->addr.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, (const struct sockaddr *)&l->addr,
		    l->addrlen) != 0 || listen(fd, 1024) != 0)
			fatal("listen %s (%s)", l->text,
			    conf_role_name(l->role));
		P.listen_fds[i] = fd;
		log_info("listening on %s role=%s", l->text,
		    conf_role_name(l->role));
	}
}

/*
 * STATE/submit.sock: local submission for `petrel sendmail`, open to
 * every local user (the smtp process learns who from SO_PEERCRED).
 */
static void
parent_bind_submit(void)
{
	struct sockaddr_un sun;
	int fd, n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/submit.sock",
	    P.bc.conf.state_dir);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		log_warn("state-dir %s is too long for a socket path: no "
		    "local submission (petrel sendmail)", P.bc.conf.state_dir);
		return;
	}
	(void)unlink(sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(sun.sun_path, 0666) != 0 || listen(fd, 128) != 0)
		fatal("listen %s", sun.sun_path);
	P.submit_fd = fd;
	log_info("listening on %s role=local", sun.sun_path);
}

int
parent_main(const char *config_path)
{
	const struct conf *c;
	struct event *ev[5];
	struct rlimit rl;
	char err[1024];
	int i;

	P.config_path = config_path;
	if (bundle_load(&P.bundle, config_path, true, err, sizeof(err)) != 0 ||
	    bundle_parse(&P.bundle, &P.bc, err, sizeof(err)) != 0) {
		log_err("%s", err);
		return 1;
	}
	c = &P.bc.conf;
	log_set_level((enum log_level)c->log_level);
	if (P.bundle.embedded)
		log_info("no configuration file given: using the embedded "
		    "default, state in %s", c->state_dir);
	P.child[CH_SMTP].name = "smtp";
	P.child[CH_QUEUE].name = "queue";
	P.child[CH_LOCAL].name = "local";
	P.child[CH_AUTH].name = "auth";
	P.child[CH_REMOTE].name = "remote";
	P.submit_fd = -1;
	parent_users();

	/* Many sessions need many descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	snprintf(P.chroot_dir, sizeof(P.chroot_dir), "%s/empty", c->state_dir);
	parent_dir(P.chroot_dir, -1, -1, 0755);
	snprintf(P.remote_dir, sizeof(P.remote_dir), "%s/remote",
	    c->state_dir);
	parent_dir(P.remote_dir, P.child[CH_REMOTE].uid,
	    P.child[CH_REMOTE].gid, 0700);
	parent_dir(c->spool_dir, P.child[CH_QUEUE].uid, P.child[CH_QUEUE].gid,
	    0700);
	parent_dir(c->mail_dir, P.child[CH_LOCAL].uid, P.child[CH_LOCAL].gid,
	    0700);
	parent_bind();
	parent_bind_submit();

	signal(SIGPIPE, SIG_IGN);
	P.base = proc_event_base();
	if (P.base == NULL)
		fatalx("event_base_new");
	ev[0] = evsignal_new(P.base, SIGCHLD, parent_sigchld, NULL);
	ev[1] = evsignal_new(P.base, SIGTERM, parent_sigterm, NULL);
	ev[2] = evsignal_new(P.base, SIGINT, parent_sigterm, NULL);
	ev[3] = evsignal_new(P.base, SIGHUP, parent_sighup, NULL);
	ev[4] = NULL;
	for (i = 0; ev[i] != NULL; i++)
		event_add(ev[i], NULL);
	for (i = 0; i < CH_N; i++)
		P.child[i].respawn = evtimer_new(P.base, parent_respawn_cb,
		    (void *)(intptr_t)i);
	if (control_listen(P.base, c->state_dir, &parent_control_ops, err,
	    sizeof(err)) != 0)
		fatalx("%s", err);
	/* The queue first, so the others find it when they start. */
	parent_spawn(CH_QUEUE);
	parent_spawn(CH_LOCAL);
	parent_spawn(CH_AUTH);
	parent_spawn(CH_REMOTE);
	parent_spawn(CH_SMTP);
	log_info("petrel %s ready hostname=%s", PETREL_VERSION, c->hostname);
	event_base_dispatch(P.base);
	log_info("stopped");
	control_close();
	for (i = 0; ev[i] != NULL; i++)
		event_free(ev[i]);
	for (i = 0; i < CH_N; i++)
		event_free(P.child[i].respawn);
	event_base_free(P.base);
	bundle_free(&P.bundle);
	bundle_conf_free(&P.bc);
	free(P.listen_fds);
	return 0;
}
