/*
 * cmd_user: `petrel user add|passwd|del|list`, the accounts file editor
 * for people (cmd_user.c).
 */
#ifndef PETREL_BIN_CMD_USER_H
#define PETREL_BIN_CMD_USER_H

/*
 * Runs `petrel user`; argv[0] is the verb. Returns the exit status: 0 done,
 * 1 failed (the reason on stderr), 2 usage error.
 */
int cmd_user_main(int argc, char **argv);

#endif
