/*
 * cmd_tlscheck: `petrel tls-check`, the operator's view of transport
 * security towards one destination: what DNS, DANE and MTA-STS say, what
 * each MX host offers and presents, and what petrel would do when
 * sending there (the output format is documented in cmd_tlscheck.c).
 */
#ifndef PETREL_BIN_CMD_TLSCHECK_H
#define PETREL_BIN_CMD_TLSCHECK_H

/*
 * `petrel tls-check DOMAIN [--config FILE]` or
 * `petrel tls-check --server HOST[:PORT] [--config FILE]`, argv[0] being
 * "tls-check". Prints the report; returns the exit status: 0 petrel would
 * deliver to at least one host, 1 to none (or the check could not run),
 * 2 usage.
 */
int cmd_tlscheck_main(int argc, char **argv);

#endif
