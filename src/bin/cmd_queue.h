/*
 * cmd_queue: the administrator's commands that talk to the running server
 * over its control socket (bin/control.h): `petrel queue ...` and
 * `petrel reload`.
 */
#ifndef PETREL_BIN_CMD_QUEUE_H
#define PETREL_BIN_CMD_QUEUE_H

/*
 * `petrel queue VERB [ID] [--config FILE]`, argv[0] being "queue". Returns
 * the exit status: 0 done, 1 error (message on stderr), 2 usage.
 */
int cmd_queue_main(int argc, char **argv);

/* `petrel tls list|report|forget HOST [--config FILE]`, argv[0] "tls". */
int cmd_tls_main(int argc, char **argv);

/* `petrel reload [--config FILE]`, argv[0] being "reload"; as above. */
int cmd_reload_main(int argc, char **argv);

#endif
