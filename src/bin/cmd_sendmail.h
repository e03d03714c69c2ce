/*
 * cmd_sendmail: `petrel sendmail`, the sendmail-compatible local
 * submission command (also run as "sendmail" through a symlink). See
 * cmd_sendmail.c and docs/operations.md.
 */
#ifndef PETREL_BIN_CMD_SENDMAIL_H
#define PETREL_BIN_CMD_SENDMAIL_H

/*
 * Runs the command; argv[0] is the command name ("sendmail"), the options
 * and recipients follow. Returns the exit status (0, or a sysexits.h
 * code); also exits directly on errors.
 */
int sendmail_main(int argc, char **argv);

#endif
