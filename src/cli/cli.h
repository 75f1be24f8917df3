/*
 * cli.h — shared state of the `custody` command-line tool (src/cli).
 *
 * main.c parses the global options and dispatches; commands.c holds one
 * function per command. Every command returns the process exit status.
 */
#ifndef CUSTODY_CLI_H
#define CUSTODY_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custody/client.h"

struct policy_set;
struct strbuf;

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_REFUSED = 1,     /* custodyd refused or failed the operation */
    CLI_EXIT_USAGE = 2,       /* bad command line */
    CLI_EXIT_UNREACHABLE = 3, /* custodyd cannot be reached */
    CLI_EXIT_LOCAL = 4,       /* local I/O error (stdout, the input file, a local path) */
};

struct cli {
    const char *state_arg;   /* --state (global) */
    const char *socket_arg;  /* --socket */
    const char *agent_arg;   /* --agent NAME: act as this agent */
    const char *key_arg;     /* --key FILE: its private key (default STATE/agents/NAME.pem) */
    const char *token_arg;   /* --token T: use this capability (implies its agent) */
    const char *consent_arg; /* --consent C / CUSTODY_CONSENT: sent with every change */
    bool json;               /* --json (global or per command) */
    bool folder_tokens;      /* agent clients mint per folder (custody_client_set_token_scope):
                                set by the surfaces holding the key (mcp, mount, run) */
    char *state_dir;         /* resolved lazily */
    char *socket;            /* resolved lazily */
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

/* `custody audit SUBCOMMAND` (audit.c): its own table, searched by
 * cli_find_command ("audit tail"), and the dispatcher registered as
 * "audit" in cli_commands. */
extern const struct cli_command cli_audit_commands[];
extern const unsigned cli_naudit_commands;
int cli_cmd_audit(struct cli *cli, int argc, char **argv);
/* `custody witness SUBCOMMAND` (witness.c), the same way. */
extern const struct cli_command cli_witness_commands[];
extern const unsigned cli_nwitness_commands;
extern const char cli_witness_details[];
int cli_cmd_witness(struct cli *cli, int argc, char **argv);
/* The subcommand list shown by `custody audit --help`. */
#define CLI_AUDIT_DETAILS                                                                          \
    "subcommands:\n"                                                                               \
    "  status        the log's origin, size, checkpoint size and health\n"                         \
    "  key           the log's verifier key (--offline: from the state directory)\n"               \
    "  checkpoint    the latest signed checkpoint\n"                                               \
    "  show INDEX    one event\n"                                                                  \
    "  tail          the last events (-n N), or follow new ones (-f)\n"                            \
    "  search        events by agent, principal, resource, action, decision, time, sha256\n"       \
    "  hash VALUE    the pseudonym the log records for VALUE\n"                                    \
    "  proof INDEX   a C2SP tlog-proof of one event (--entry FILE: its exact bytes)\n"             \
    "  consistency OLD [NEW]   a consistency proof between two tree sizes\n"                       \
    "  verify        check a ledger directory offline (no daemon needed)\n"                        \
    "\nsee 'custody audit SUBCOMMAND --help' and docs/cli.md.\n"

/* The state directory (--state, $CUSTODY_STATE, ./var/custody). */
const char *cli_state_dir(struct cli *cli);
/* A consent token custodyd accepts: 1..CUSTODY_CONSENT_MAX printable ASCII. */
bool cli_consent_ok(const char *token);
/* custodyd's socket: --socket, else listen.unix from the state's config.yaml,
 * else STATE/custodyd.sock. */
const char *cli_socket(struct cli *cli);
/* The client (opened on first use); NULL after printing an error. */
custody_client_t *cli_client(struct cli *cli);
/* Another client configured the same way (agent, key, token), for a
 * thread of its own; NULL after printing an error. */
custody_client_t *cli_client_new(struct cli *cli);

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

/* ---- option parsing shared by the command files (commands.c) ---- */

#define OPT_HELP                                                                                   \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define OPT_JSON                                                                                   \
    {                                                                                              \
        "json", no_argument, NULL, 'j'                                                             \
    }
#define OPT_END                                                                                    \
    {                                                                                              \
        NULL, 0, NULL, 0                                                                           \
    }

enum { OPT_DONE = -1, OPT_EXIT = -2 };

struct option;
/* Starts parsing a command's argv (argv[0] is the command name). */
void cli_opts_begin(void);
/* Next option of a command: its value, OPT_DONE at the operands, or OPT_EXIT
 * with *exit_rc set (--help printed, or a usage error). --help and --json
 * are handled here. shortopts must start with ':'. */
int cli_next_opt(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                 const char *shortopts, const struct option *longopts, int *exit_rc);
/* Parses the options of a command that takes only --help and --json.
 * False (with *exit_rc set) when the command should end here. */
bool cli_common_opts(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                     int *exit_rc);
/* Number of operands after the options (min..max), or -1 with *exit_rc set. */
int cli_operands(const struct cli_command *cmd, int argc, int min, int max, int *exit_rc);
/* Prints s with control characters escaped as \xNN. */
void cli_print_safe(const char *s);

/* `custody agent|token|policy SUBCOMMAND` (agent_cmd.c, token_cmd.c,
 * policy_cmd.c): their own tables, searched by cli_find_command ("agent
 * add"), and the dispatchers registered as "agent", "token" and "policy" in
 * cli_commands. */
extern const struct cli_command cli_agent_commands[];
extern const unsigned cli_nagent_commands;
extern const char cli_agent_details[];
int cli_cmd_agent(struct cli *cli, int argc, char **argv);
extern const struct cli_command cli_token_commands[];
extern const unsigned cli_ntoken_commands;
extern const char cli_token_details[];
int cli_cmd_token(struct cli *cli, int argc, char **argv);
extern const struct cli_command cli_policy_commands[];
extern const unsigned cli_npolicy_commands;
extern const char cli_policy_details[];
int cli_cmd_policy(struct cli *cli, int argc, char **argv);
extern const struct cli_command cli_model_commands[];
extern const unsigned cli_nmodel_commands;
extern const char cli_model_details[];
int cli_cmd_model(struct cli *cli, int argc, char **argv);
/* `custody mcp` (mcp_cmd.c) */
int cli_cmd_mcp(struct cli *cli, int argc, char **argv);
/* Starts custodyd on the state directory (detached, like gpg-agent) when it
 * does not answer on c; 0 once it answers (mcp_cmd.c). */
int cli_daemon_ensure(struct cli *cli, custody_client_t *c);
int cli_cmd_mount(struct cli *cli, int argc, char **argv);
/* `custody history` (history.c): a path's edit records from the audit log. */
int cli_cmd_history(struct cli *cli, int argc, char **argv);
int cli_cmd_run(struct cli *cli, int argc, char **argv);

/* ---- helpers shared by those three files (authz_util.c) ---- */

struct json_t; /* jansson's json_t */

/* The command named name in tab[0..n), or NULL. */
const struct cli_command *cli_find_in(const struct cli_command *tab, unsigned n, const char *name);
/* Runs `custody FAMILY SUBCOMMAND ...` from tab (argv[0] is FAMILY): a
 * missing or unknown subcommand is a usage error listing details. */
int cli_dispatch(struct cli *cli, const char *family, const struct cli_command *tab, unsigned n,
                 const char *details, int argc, char **argv);
/* cli_client, with *exit_rc set when it fails. */
custody_client_t *cli_client_or_exit(struct cli *cli, int *exit_rc);
/* Prints a JSON (or text) answer with a final newline. */
void cli_print_answer(const char *s);
/* Prints a JSON value, compact, on one line. */
void cli_print_json(struct json_t *v);
/* "custodyd sent a malformed answer to WHAT"; returns CLI_EXIT_REFUSED. */
int cli_malformed(const char *what);
/* custodyd's answer as a JSON object (NULL when it is not one). */
struct json_t *cli_answer_object(const char *s);
/* The tail of an SDK call that answered JSON: on failure prints it
 * (cli_fail), with --json prints the answer; either way returns NULL with
 * *exit_rc set. Otherwise returns the answer as an object (NULL and a
 * malformed-answer error when it is not one). Frees *answer. */
struct json_t *cli_answer(struct cli *cli, int rc, char **answer, const char *resource,
                          int *exit_rc);
/* Policy files for the policy commands (policy_cmd.c): a set from a
 * directory (its .cedar files, as custodyd reads them; a missing one is an
 * empty set when missing_ok) or from one file, errors as FILE:LINE:COLUMN. */
int cli_policy_load(const char *path, bool missing_ok, struct policy_set **out, size_t *nfiles,
                    struct strbuf *err);
/* Puts dir in front of the bare file names authz_policy_load_dir reports. */
void cli_policy_error_paths(const char *dir, struct strbuf *err);
void cli_policy_print_errors(const struct strbuf *err, int rc);
char *cli_policy_default_dir(struct cli *cli); /* STATE/policy */
int cli_cmd_policy_replay(struct cli *cli, int argc, char **argv);
/* A command that takes only --help/--json and no operands: its client,
 * or NULL with *exit_rc set. */
custody_client_t *cli_plain_command(struct cli *cli, const struct cli_command *cmd, int argc,
                                    char **argv, int *exit_rc);
/* The string member key of o, or NULL. */
const char *cli_jstr(struct json_t *o, const char *key);
/* s (escaped as cli_print_safe does), or "-" when NULL or empty. */
void cli_print_or_dash(const char *s);
/* cli_print_or_dash, then spaces up to width columns. */
void cli_pad(const char *s, size_t width);
/* "2026-11-26T07:14:00Z" (UTC). */
void cli_fmt_time(int64_t unix_s, char out[32]);

#endif
