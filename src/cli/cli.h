/*
 * cli.h — shared state of the `custody` command-line tool (src/cli).
 *
 * main.c parses the global options and dispatches; commands.c holds one
 * function per command. Every command returns the process exit status.
 */
#ifndef CUSTODY_CLI_H
#define CUSTODY_CLI_H

#include <stdbool.h>

#include "custody/client.h"

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1,     /* custodyd refused or failed the operation */
    CLI_EXIT_USAGE = 2,       /* bad command line */
    CLI_EXIT_UNREACHABLE = 3, /* custodyd cannot be reached */
    CLI_EXIT_LOCAL = 4,       /* local I/O error (stdout, the input file, a local path) */
};

struct cli {
    const char *state_arg;  /* --state (global) */
    const char *socket_arg; /* --socket */
    bool json;              /* --json (global or per command) */
    char *state_dir;        /* resolved lazily */
    char *socket;           /* resolved lazily */
    custody_client_t *client;
};

struct cli_command {
    const char *name; /* "cat", "root add" */
    int (*fn)(struct cli *cli, int argc, char **argv);
    const char *synopsis; /* after "custody " */
    const char *summary;  /* one line for `custody --help` */
    const char *details;  /* options and examples for `custody CMD --help` */
};

extern const struct cli_command cli_commands[];
extern const unsigned cli_ncommands;

/* The state directory (--state, $CUSTODY_STATE, ./var/custody). */
const char *cli_state_dir(struct cli *cli);
/* The client (opened on first use); NULL after printing an error. */
custody_client_t *cli_client(struct cli *cli);

/* Prints "custody: <message> (<code>)" for a failed SDK call (with the
 * resource id when the message lacks it, and the start hint when custodyd is
 * unreachable) and returns the matching exit status. */
int cli_fail(struct cli *cli, int rc, const char *resource);
/* "custody: <message> (<code>)" for a local error; returns CLI_EXIT_LOCAL. */
int cli_local_error(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "custody CMD: <message>" + the command's usage on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the command's full help on stdout; returns CLI_EXIT_OK. */
int cli_command_help(const struct cli_command *cmd);
const struct cli_command *cli_find_command(const char *name);
/* Flushes stdout; CLI_EXIT_LOCAL (with a message) when that fails, else rc. */
int cli_finish(int rc);
/* Prints custodyd's last JSON answer (with a final newline). */
void cli_print_last_json(struct cli *cli);

#endif
