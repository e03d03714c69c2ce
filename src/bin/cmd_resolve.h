/*
 * cmd_resolve: `petrel resolve`, the operator's view of outbound routing:
 * what remote/dns makes of a destination domain with this configuration.
 */
#ifndef PETREL_BIN_CMD_RESOLVE_H
#define PETREL_BIN_CMD_RESOLVE_H

/*
 * `petrel resolve [--host] NAME [--config FILE]`, argv[0] being "resolve".
 * Prints the route; returns the exit status: 0 route found, 1 error
 * (temporary or permanent, printed), 2 usage.
 */
int cmd_resolve_main(int argc, char **argv);

#endif
