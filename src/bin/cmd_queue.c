/*
 * cmd_queue: `petrel queue list|show|delete|hold|release|flush`,
 * `petrel tls list|forget HOST|report` and `petrel reload`. Each finds the state directory in the configuration
 * (reading that file only: no keys, no users, nothing created) and sends
 * one request over STATE/control.sock; the running server does the work,
 * so the spool is only ever changed by its queue process.
 */
#include "bin/cmd_queue.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "bin/bundle.h"
#include "bin/control.h"

static int
cmd_queue_usage(void)
{
	fprintf(stderr,
	    "usage: petrel queue list [--config FILE]\n"
	    "       petrel queue show|delete|hold|release ID [--config FILE]\n"
	    "       petrel queue flush [--config FILE]\n"
	    "       petrel tls list|report [--config FILE]\n"
	    "       petrel tls forget HOST [--config FILE]\n"
	    "       petrel reload [--config FILE]\n");
	return 2;
}

/*
 * Splits argv[1..] into --config FILE and up to maxpos positional words.
 * Returns the number of positional words, or -1 on a usage error.
 */
static int
cmd_queue_args(
    int argc, char **argv, const char **config, const char **pos, int maxpos)
{
	int i, n = 0;

	*config = NULL;
	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--config") == 0 ||
			strcmp(argv[i], "-c") == 0) &&
		    i + 1 < argc)
			*config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			*config = argv[i] + 9;
		else if (argv[i][0] == '-' || n == maxpos)
			return -1;
		else
			pos[n++] = argv[i];
	}
	return n;
}

/* Sends request to the server of config; prints the reply. Exit status. */
static int
cmd_queue_send(const char *config, const char *request)
{
	struct conf c;
	char err[2048];
	int r;

	if (bundle_load_conf(config, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	r = control_request(c.state_dir, request, stdout, err, sizeof(err));
	conf_free(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "petrel: cannot write the output\n");
		return 1;
	}
	if (r != 0) {
		fprintf(stderr, "petrel: %s\n", err);
		return 1;
	}
	return 0;
}

int
cmd_queue_main(int argc, char **argv)
{
	static const struct {
		const char *verb;
		bool id;
	} verbs[] = {{"list", false}, {"show", true}, {"delete", true},
	    {"hold", true}, {"release", true}, {"flush", false}};
	const char *config, *pos[2];
	char request[128], err[256];
	struct control_req req;
	size_t i;
	int n;

	if ((n = cmd_queue_args(argc, argv, &config, pos, 2)) < 1)
		return cmd_queue_usage();
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(pos[0], verbs[i].verb) == 0)
			break;
	if (i == sizeof(verbs) / sizeof(verbs[0]) || n != (verbs[i].id ? 2 : 1))
		return cmd_queue_usage();
	if (snprintf(request, sizeof(request), "queue %s%s%s", pos[0],
		n == 2 ? " " : "",
		n == 2 ? pos[1] : "") >= (int)sizeof(request) ||
	    control_parse(request, strlen(request), &req, err, sizeof(err)) !=
		0) {
		/* Only the ID can be wrong here. */
		fprintf(stderr,
		    "petrel: '%.64s' is not a queue ID (16 "
		    "characters 0-9 A-F)\n",
		    pos[1]);
		return 2;
	}
	return cmd_queue_send(config, request);
}

int
cmd_tls_main(int argc, char **argv)
{
	const char *config, *pos[2];
	char request[CONTROL_REQUEST_MAX], err[256];
	struct control_req req;
	int n;

	if ((n = cmd_queue_args(argc, argv, &config, pos, 2)) < 1 ||
	    (n == 1) != (strcmp(pos[0], "list") == 0 ||
	    strcmp(pos[0], "report") == 0) ||
	    (n == 2 && strcmp(pos[0], "forget") != 0))
		return cmd_queue_usage();
	if (snprintf(request, sizeof(request), "tls %s%s%s", pos[0],
	    n == 2 ? " " : "", n == 2 ? pos[1] : "") >= (int)sizeof(request) ||
	    control_parse(request, strlen(request), &req, err, sizeof(err)) !=
	    0) {
		fprintf(stderr, "petrel: '%.64s' is not a host name\n", pos[1]);
		return 2;
	}
	return cmd_queue_send(config, request);
}

int
cmd_reload_main(int argc, char **argv)
{
	const char *config, *pos[1];
	int r;

	if (cmd_queue_args(argc, argv, &config, pos, 0) != 0)
		return cmd_queue_usage();
	if ((r = cmd_queue_send(config, "reload")) == 0)
		printf("configuration reloaded\n");
	return r;
}
