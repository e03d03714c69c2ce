/*
 * petrel: the command line. `petrel serve` runs the mail server,
 * `petrel check-config` validates a configuration, `petrel version` says
 * which build this is, `petrel user` edits the accounts file (cmd_user.c),
 * `petrel queue ...` and `petrel reload` ask the running server
 * (cmd_queue.c), `petrel resolve` shows the outbound route to a domain
 * (cmd_resolve.c), `petrel tls-check` explains the transport security
 * towards a destination (cmd_tlscheck.c), `petrel sendmail` submits a message on this host (also
 * run as "sendmail" through a symlink; cmd_sendmail.c). `petrel __child`
 * is how the parent starts its unprivileged processes (not for people).
 */
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bin/cmd_queue.h"
#include "bin/cmd_resolve.h"
#include "bin/cmd_sendmail.h"
#include "bin/cmd_tlscheck.h"
#include "bin/cmd_user.h"
#include "bin/proc.h"
#include "lib/log.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: petrel serve [--config FILE]\n"
	    "       petrel check-config [--config FILE] [-n]\n"
	    "       petrel queue list|flush [--config FILE]\n"
	    "       petrel queue show|delete|hold|release ID [--config FILE]\n"
	    "       petrel tls list|report|forget HOST [--config FILE]\n"
	    "       petrel reload [--config FILE]\n"
	    "       petrel resolve [--host] DOMAIN [--config FILE]\n"
	    "       petrel resolve --sts DOMAIN [--sts-cache DIR] [--config FILE]\n"
	    "       petrel tls-check DOMAIN [--config FILE]\n"
	    "       petrel tls-check --server HOST[:PORT] [--config FILE]\n"
	    "       petrel user add [--config FILE] ADDRESS [--address EXTRA]..."
	    " [--no-password]\n"
	    "       petrel user passwd|del [--config FILE] ADDRESS\n"
	    "       petrel user list [--config FILE]\n"
	    "       petrel version\n"
	    "       petrel sendmail [-t] [-i] [-f sender] [-F name] [-bs] "
	    "[recipient ...]\n"
	    "Without --config, the embedded default is used: it keeps its\n"
	    "state in ./petrel-data and listens on 127.0.0.1:2525 (mx),\n"
	    "2587 (submission) and 2465 (submissions).\n");
	exit(2);
}

static int
check_config(const char *path, bool dump)
{
	struct bundle b;
	struct bundle_conf bc;
	char err[1024];

	if (bundle_load(&b, path, false, err, sizeof(err)) != 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	if (dump) {
		struct buf out;
		if (bundle_parse(&b, &bc, err, sizeof(err)) != 0) {
			fprintf(stderr, "petrel: %s\n", err);
			return 1;
		}
		buf_init(&out, 1 << 24);
		conf_dump(&bc.conf, &out);
		fwrite(out.data, 1, out.len, stdout);
		buf_clear(&out);
		bundle_conf_free(&bc);
	} else {
		printf("%s: configuration ok\n", path ? path :
		    "(embedded default)");
	}
	bundle_free(&b);
	return 0;
}

/*
 * Drops to uid/gid (when root), chrooting first if dir is not "-".
 * Unprivileged (uid < 0), a dir other than "-" becomes the working
 * directory, so a process keeps its files in the same place either way.
 */
static void
child_drop(const char *name, const char *uid_s, const char *gid_s,
    const char *dir)
{
	long uid = strtol(uid_s, NULL, 10), gid = strtol(gid_s, NULL, 10);

	if (uid < 0) {
		if (strcmp(dir, "-") != 0 && chdir(dir) != 0)
			fatal("%s: chdir %s", name, dir);
		return;
	}
	if (strcmp(dir, "-") != 0 && (chroot(dir) != 0 || chdir("/") != 0))
		fatal("%s: chroot %s", name, dir);
	if (setgroups(0, NULL) != 0 ||
	    setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0 ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
		fatal("%s: cannot drop privileges", name);
	if (setuid(0) == 0)
		fatalx("%s: privileges not dropped", name);
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

void
proc_conf_replace(struct ipc_msg *m, struct bundle_conf *bc, bool *have)
{
	struct bundle b;
	struct bundle_conf nbc;

	proc_conf_from_msg(m, &b, &nbc);
	bundle_free(&b);
	if (*have)
		bundle_conf_free(bc);
	*bc = nbc;
	*have = true;
	log_set_level((enum log_level)bc->conf.log_level);
}

struct event_base *
proc_event_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	/*
	 * The changelist folds the add/del pairs a bufferevent makes within
	 * one loop pass into one epoll_ctl (or none): fewer system calls
	 * per SMTP reply.
	 */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		fatalx("cannot create the event loop");
	return base;
}

void
proc_signals_ready(void)
{
	sigset_t none;

	/* The parent handles SIGHUP; a terminal's hangup must not kill us. */
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static int
child_main(int argc, char **argv)
{
	if (argc != 7)
		usage();
	log_init(argv[2], LOG_LVL_INFO);
	tzset();	/* before a chroot hides /etc/localtime */
	child_drop(argv[2], argv[3], argv[4], argv[5]);
	log_set_level((enum log_level)atoi(argv[6]));
	if (strcmp(argv[2], "smtp") == 0)
		return proc_smtp_main();
	if (strcmp(argv[2], "queue") == 0)
		return proc_queue_main();
	if (strcmp(argv[2], "local") == 0)
		return proc_local_main();
	if (strcmp(argv[2], "auth") == 0)
		return proc_auth_main();
	if (strcmp(argv[2], "remote") == 0)
		return proc_remote_main();
	usage();
	return 2;
}

int
main(int argc, char **argv)
{
	const char *config = NULL, *base;
	bool dump = false;
	int i;

	/* Installed as /usr/sbin/sendmail (a symlink to petrel). */
	base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	base = base != NULL ? base + 1 : argc > 0 ? argv[0] : "";
	if (strcmp(base, "sendmail") == 0)
		return sendmail_main(argc, argv);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "sendmail") == 0)
		return sendmail_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "__child") == 0)
		return child_main(argc, argv);
	if (strcmp(argv[1], "version") == 0 ||
	    strcmp(argv[1], "--version") == 0) {
		printf("petrel %s\n", PETREL_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "queue") == 0)
		return cmd_queue_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "reload") == 0)
		return cmd_reload_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "tls") == 0)
		return cmd_tls_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "resolve") == 0)
		return cmd_resolve_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "tls-check") == 0)
		return cmd_tlscheck_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "user") == 0)
		return cmd_user_main(argc - 2, argv + 2);
	for (i = 2; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 ||
		    strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
		else if (strcmp(argv[i], "-n") == 0)
			dump = true;
		else
			usage();
	}
	log_init("parent", LOG_LVL_INFO);
	if (strcmp(argv[1], "serve") == 0 && !dump)
		return parent_main(config);
	if (strcmp(argv[1], "check-config") == 0)
		return check_config(config, dump);
	usage();
	return 2;
}
