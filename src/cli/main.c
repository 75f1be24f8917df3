/*
 * main.c — `custody`, the command-line tool for custodyd: global options,
 * dispatch, help, and the error/exit-status conventions (docs/cli.md).
 *
 *   custody [--state DIR] [--socket PATH] [--json] COMMAND [ARGS...]
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "token/token.h"
#include "util/util.h"

static void print_usage(FILE *f)
{
    fprintf(f, "usage: custody [--state DIR] [--socket PATH] [--agent NAME [--key FILE]] "
               "[--token T] [--consent C] [--json]\n"
               "               COMMAND [ARGS...]\n"
               "       custody COMMAND --help\n");
}

static void print_help(void)
{
    print_usage(stdout);
    printf("\ncustody talks to custodyd, the custody storage gateway, over its Unix socket.\n"
           "Resources are named ROOT:/PATH (e.g. demo:/notes/a.txt).\n"
           "\nglobal options (before the command):\n"
           "  --state DIR     state directory (default: $CUSTODY_STATE, else ./var/custody);\n"
           "                  the socket is DIR/custodyd.sock\n"
           "  --socket PATH   custodyd's socket (overrides --state)\n"
           "  --agent NAME    act as agent NAME: prove its key (--key FILE, default\n"
           "                  STATE/agents/NAME.pem) and use capability tokens minted for\n"
           "                  each command (custodyd decides with its policies)\n"
           "  --key FILE      the agent's private key (PEM)\n"
           "  --token T       use this capability token (its agent is taken from the token\n"
           "                  unless --agent is given); a refusal is final, nothing broader\n"
           "                  is tried\n"
           "  --consent C     a user's consent token, recorded in the signed edit record of\n"
           "                  every change this command makes (custody mcp, mount and run\n"
           "                  included; put/rm/mv/rollback --consent overrides it)\n"
           "  --json          print custodyd's JSON answers instead of tables\n"
           "  -h, --help      this help\n"
           "  --version       print the version\n"
           "\ncommands:\n");
    for (unsigned i = 0; i < cli_ncommands; i++)
        printf("  %-12s %s\n", cli_commands[i].name, cli_commands[i].summary);
    printf("\nexit status:\n"
           "  0  success\n"
           "  1  custodyd refused or failed the operation (not found, precondition, conflict...)\n"
           "  2  usage error\n"
           "  3  cannot reach custodyd (is it running?)\n"
           "  4  local I/O error (writing stdout, reading the input file)\n"
           "\nenvironment:\n"
           "  CUSTODY_STATE   default state directory\n"
           "  CUSTODY_AGENT   default for --agent\n"
           "  CUSTODY_CONSENT default for --consent\n"
           "\nerrors are printed on stderr as: custody: <message> (<code>)\n"
           "see docs/cli.md for details and examples.\n");
}

const struct cli_command *cli_find_command(const char *name)
{
    for (unsigned i = 0; i < cli_ncommands; i++)
        if (strcmp(cli_commands[i].name, name) == 0) return &cli_commands[i];
    for (unsigned i = 0; i < cli_naudit_commands; i++)
        if (strcmp(cli_audit_commands[i].name, name) == 0) return &cli_audit_commands[i];
    for (unsigned i = 0; i < cli_nwitness_commands; i++)
        if (strcmp(cli_witness_commands[i].name, name) == 0) return &cli_witness_commands[i];
    for (unsigned i = 0; i < cli_nagent_commands; i++)
        if (strcmp(cli_agent_commands[i].name, name) == 0) return &cli_agent_commands[i];
    for (unsigned i = 0; i < cli_ntoken_commands; i++)
        if (strcmp(cli_token_commands[i].name, name) == 0) return &cli_token_commands[i];
    for (unsigned i = 0; i < cli_npolicy_commands; i++)
        if (strcmp(cli_policy_commands[i].name, name) == 0) return &cli_policy_commands[i];
    for (unsigned i = 0; i < cli_nmodel_commands; i++)
        if (strcmp(cli_model_commands[i].name, name) == 0) return &cli_model_commands[i];
    return NULL;
}

int cli_command_help(const struct cli_command *cmd)
{
    printf("usage: custody %s\n\n%s\n", cmd->synopsis, cmd->summary);
    if (cmd->details && *cmd->details) printf("\n%s", cmd->details);
    return CLI_EXIT_OK;
}

int cli_usage_error(const struct cli_command *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "custody %s: ", cmd->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fprintf(stderr, "usage: custody %s\n(see 'custody %s --help')\n", cmd->synopsis, cmd->name);
    return CLI_EXIT_USAGE;
}

int cli_local_error(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("custody: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (%s)\n", custody_err_code(rc));
    va_end(ap);
    return CLI_EXIT_LOCAL;
}

bool cli_consent_ok(const char *token)
{
    size_t n = strlen(token);
    bool ok = n > 0 && n <= CUSTODY_CONSENT_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = token[i] >= 0x20 && token[i] <= 0x7e;
    return ok;
}

const char *cli_state_dir(struct cli *cli)
{
    if (!cli->state_dir) cli->state_dir = state_dir_resolve(cli->state_arg);
    return cli->state_dir;
}

/* The socket: --socket, else listen.unix from the state's config.yaml when it
 * can be read, else STATE/custodyd.sock. */
const char *cli_socket(struct cli *cli)
{
    if (cli->socket) return cli->socket;
    if (cli->socket_arg) {
        cli->socket = util_strdup(cli->socket_arg);
        return cli->socket;
    }
    const char *dir = cli_state_dir(cli);
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    char *cfgpath = util_path_join(dir, CONFIG_FILE);
    if (access(cfgpath, R_OK) == 0 && config_load(dir, &cfg, &err) == 0 && cfg && cfg->unix_path &&
        *cfg->unix_path)
        cli->socket = util_strdup(cfg->unix_path);
    if (cfg) config_unref(cfg);
    free(cfgpath);
    sb_free(&err);
    if (!cli->socket) cli->socket = util_path_join(dir, CUSTODY_SOCKET_NAME);
    return cli->socket;
}

/* --agent / --token: the agent (named, or the one the token is bound to),
 * its key, and the token. */
static int act_as_agent(struct cli *cli, custody_client_t *c)
{
    char agent[CUSTODY_AGENT_NAME_MAX + 1] = "";
    if (cli->agent_arg) {
        util_strlcpy(agent, cli->agent_arg, sizeof agent);
    } else {
        struct token_info info = {0};
        struct strbuf why = STRBUF_INIT;
        int rc = token_inspect(cli->token_arg, &info, &why);
        if (!rc && info.eff.agent) util_strlcpy(agent, info.eff.agent, sizeof agent);
        token_info_free(&info);
        if (rc || !agent[0]) {
            fprintf(stderr, "custody: --token: %s (%s)\n",
                    why.buf ? why.buf : "the token names no agent", custody_err_code(rc));
            sb_free(&why);
            return rc ? rc : CUSTODY_EINVAL;
        }
        sb_free(&why);
    }
    char *key = cli->key_arg ? util_strdup(cli->key_arg) : NULL;
    if (!key) {
        struct strbuf p = STRBUF_INIT;
        sb_printf(&p, "%s/agents/%s.pem", cli_state_dir(cli), agent);
        key = sb_detach(&p);
    }
    int rc = custody_client_set_agent(c, agent, key);
    if (!rc && cli->token_arg) rc = custody_client_set_token(c, cli->token_arg);
    if (rc)
        fprintf(stderr, "custody: %s (%s)\n", custody_client_last_error(c),
                custody_err_code(rc));
    free(key);
    return rc;
}

custody_client_t *cli_client_new(struct cli *cli)
{
    const char *sock = cli_socket(cli);
    custody_client_t *c = NULL;
    int rc = custody_client_open(sock, &c);
    if (rc) {
        fprintf(stderr, "custody: cannot use socket %s: %s (%s)\n", sock, custody_strerror(rc),
                custody_err_code(rc));
        return NULL;
    }
    if ((cli->agent_arg || cli->token_arg) && act_as_agent(cli, c) != 0) {
        custody_client_close(c);
        return NULL;
    }
    if (cli->consent_arg) custody_client_set_consent(c, cli->consent_arg);
    if (cli->folder_tokens && (cli->agent_arg || cli->token_arg))
        custody_client_set_token_scope(c, CUSTODY_TOKEN_FOLDER);
    return c;
}

custody_client_t *cli_client(struct cli *cli)
{
    if (!cli->client) cli->client = cli_client_new(cli);
    return cli->client;
}

int cli_fail(struct cli *cli, int rc, const char *resource)
{
    custody_client_t *c = cli->client;
    const char *msg = c ? custody_client_last_error(c) : "";
    custody_errsrc_t src = c ? custody_client_last_error_source(c) : CUSTODY_ERRSRC_NONE;
    if (!msg || !*msg) msg = custody_strerror(rc);
    if (resource && !strstr(msg, resource))
        fprintf(stderr, "custody: %s: %s (%s)\n", resource, msg, custody_err_code(rc));
    else
        fprintf(stderr, "custody: %s (%s)\n", msg, custody_err_code(rc));
    switch (src) {
    case CUSTODY_ERRSRC_TRANSPORT:
        if (rc == CUSTODY_ECONNECT)
            fprintf(stderr, "custody: is custodyd running? start it with: custodyd --state %s\n",
                    cli_state_dir(cli));
        return CLI_EXIT_UNREACHABLE;
    case CUSTODY_ERRSRC_LOCAL:
        return CLI_EXIT_LOCAL;
    case CUSTODY_ERRSRC_ARGUMENT:
        return CLI_EXIT_USAGE;
    default:
        return CLI_EXIT_REFUSED;
    }
}

int cli_finish(int rc)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        int e = errno;
        fprintf(stderr, "custody: writing stdout: %s (%s)\n", strerror(e),
                custody_err_code(custody_err_from_errno(e)));
        return CLI_EXIT_LOCAL;
    }
    return rc;
}

void cli_print_last_json(struct cli *cli)
{
    const char *j = cli->client ? custody_client_last_json(cli->client) : "";
    size_t n = strlen(j);
    fputs(j, stdout);
    if (n == 0 || j[n - 1] != '\n') fputc('\n', stdout);
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    log_set_level(LOG_WARN); /* the library's info lines would repeat what we print */
    static const struct option opts[] = {
        {"state", required_argument, NULL, 's'}, {"socket", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},     {"agent", required_argument, NULL, 'a'},
        {"key", required_argument, NULL, 'k'},   {"token", required_argument, NULL, 't'},
        {"consent", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int ch;
    /* "+": stop at the command; its own options are parsed by the command */
    while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            cli.state_arg = optarg;
            break;
        case 'S':
            cli.socket_arg = optarg;
            break;
        case 'j':
            cli.json = true;
            break;
        case 'a':
            cli.agent_arg = optarg;
            break;
        case 'k':
            cli.key_arg = optarg;
            break;
        case 't':
            cli.token_arg = optarg;
            break;
        case 'C':
            cli.consent_arg = optarg;
            break;
        case 'h':
            print_help();
            return cli_finish(CLI_EXIT_OK);
        case 'V':
            printf("custody %s (libcustody %s)\n", CUSTODY_VERSION_STRING, custody_version());
            return cli_finish(CLI_EXIT_OK);
        default:
            if (optopt && !strchr("sSaktC", optopt))
                fprintf(stderr, "custody: unknown option '-%c'\n", optopt);
            else if (optopt)
                fprintf(stderr, "custody: option '%s' needs an argument\n", argv[optind - 1]);
            else
                fprintf(stderr, "custody: unknown option '%s'\n", argv[optind - 1]);
            print_usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (!cli.agent_arg && getenv("CUSTODY_AGENT") && *getenv("CUSTODY_AGENT"))
        cli.agent_arg = getenv("CUSTODY_AGENT");
    if (!cli.consent_arg && getenv("CUSTODY_CONSENT") && *getenv("CUSTODY_CONSENT"))
        cli.consent_arg = getenv("CUSTODY_CONSENT");
    if (cli.consent_arg && !cli_consent_ok(cli.consent_arg)) {
        fprintf(stderr, "custody: invalid --consent / CUSTODY_CONSENT (1 to %d bytes of printable "
                        "ASCII)\n",
                CUSTODY_CONSENT_MAX);
        return CLI_EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "custody: missing command\n");
        print_usage(stderr);
        fprintf(stderr, "(see 'custody --help')\n");
        return CLI_EXIT_USAGE;
    }
    int cargc = argc - optind;
    char **cargv = argv + optind;
    const char *name = cargv[0];

    if (strcmp(name, "help") == 0) {
        if (cargc == 1) {
            print_help();
            return cli_finish(CLI_EXIT_OK);
        }
        struct strbuf full = STRBUF_INIT;
        sb_puts(&full, cargv[1]);
        if (cargc > 2) sb_printf(&full, " %s", cargv[2]);
        const struct cli_command *hc = cli_find_command(full.buf);
        if (!hc) hc = cli_find_command(cargv[1]);
        sb_free(&full);
        if (!hc) {
            fprintf(stderr, "custody: unknown command '%s'\n", cargv[1]);
            return CLI_EXIT_USAGE;
        }
        return cli_finish(cli_command_help(hc));
    }

    const struct cli_command *cmd = NULL;
    if (strcmp(name, "root") == 0) {
        if (cargc < 2 || cargv[1][0] == '-') {
            if (cargc >= 2 && (strcmp(cargv[1], "--help") == 0 || strcmp(cargv[1], "-h") == 0)) {
                printf("usage: custody root add NAME PATH [--label KEY=VALUE]...\n"
                       "       custody root ls\n");
                return cli_finish(CLI_EXIT_OK);
            }
            fprintf(stderr, "custody root: missing subcommand (add, ls)\n"
                            "usage: custody root add NAME PATH [--label KEY=VALUE]...\n"
                            "       custody root ls\n");
            return CLI_EXIT_USAGE;
        }
        struct strbuf full = STRBUF_INIT;
        sb_printf(&full, "root %s", cargv[1]);
        cmd = cli_find_command(full.buf);
        sb_free(&full);
        if (!cmd) {
            fprintf(stderr, "custody root: unknown subcommand '%s' (add, ls)\n", cargv[1]);
            return CLI_EXIT_USAGE;
        }
        cargc--;
        cargv++;
    } else {
        cmd = cli_find_command(name);
    }
    if (!cmd) {
        fprintf(stderr, "custody: unknown command '%s'\n", name);
        print_usage(stderr);
        fprintf(stderr, "(see 'custody --help')\n");
        return CLI_EXIT_USAGE;
    }

    int rc = cmd->fn(&cli, cargc, cargv);
    rc = cli_finish(rc);
    custody_client_close(cli.client);
    free(cli.state_dir);
    free(cli.socket);
    return rc;
}
