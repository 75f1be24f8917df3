/*
 * agent_cmd.c — `custody agent SUBCOMMAND`: enrolling and managing agents
 * through libcustody (the operator's job; docs/authz.md, docs/cli.md).
 *
 *   agent add|ls|show|revoke|quarantine|rm
 *
 * An agent's private key is generated here, written once (mode 0600, never
 * over an existing file) and never printed; custodyd only sees the public key.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz/authz.h"
#include "cli/cli.h"
#include "util/util.h"

#define AGENTS_DIR "agents" /* STATE/agents/NAME.pem */

#define AGENT_CMD(name) cli_find_in(cli_agent_commands, cli_nagent_commands, name)

static int check_name(const struct cli_command *cmd, const char *what, const char *s)
{
    if (authz_name_valid(s)) return CLI_EXIT_OK;
    return cli_usage_error(cmd,
                           "invalid %s '%s' (1-%d of A-Z a-z 0-9 . _ -, not starting with '.' "
                           "or '-')",
                           what, s, AUTHZ_NAME_MAX);
}

static void wipe_pem(struct strbuf *pem)
{
    if (pem->buf) OPENSSL_cleanse(pem->buf, pem->cap ? pem->cap : pem->len);
    sb_free(pem);
}

static int cmd_agent_add(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = AGENT_CMD("agent add");
    enum { O_PRINCIPAL = 256, O_GROUP, O_KEY_OUT };
    static const struct option lo[] = {{"principal", required_argument, NULL, O_PRINCIPAL},
                                       {"group", required_argument, NULL, O_GROUP},
                                       {"key-out", required_argument, NULL, O_KEY_OUT},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *principal = NULL, *key_out = NULL;
    const char *groups[AUTHZ_GROUPS_MAX];
    size_t ng = 0;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == O_PRINCIPAL) {
            if ((rc = check_name(cmd, "principal", optarg))) return rc;
            principal = optarg;
        } else if (ch == O_GROUP) {
            if ((rc = check_name(cmd, "group", optarg))) return rc;
            if (ng == AUTHZ_GROUPS_MAX)
                return cli_usage_error(cmd, "at most %d groups", AUTHZ_GROUPS_MAX);
            groups[ng++] = optarg;
        } else if (ch == O_KEY_OUT) {
            if (!*optarg) return cli_usage_error(cmd, "empty --key-out");
            key_out = optarg;
        }
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *name = argv[optind];
    if ((rc = check_name(cmd, "agent name", name))) return rc;

    /* where the private key goes: refused before anything is enrolled */
    char *path = NULL;
    if (key_out) {
        path = util_strdup(key_out);
    } else {
        char *dir = util_path_join(cli_state_dir(cli), AGENTS_DIR);
        if (util_mkdir_p(dir, 0700) != 0) {
            int e = errno;
            int x = cli_local_error(custody_err_from_errno(e), "cannot create %s: %s", dir,
                                    strerror(e));
            free(dir);
            return x;
        }
        struct strbuf p = STRBUF_INIT;
        sb_printf(&p, "%s/%s.pem", dir, name);
        path = sb_detach(&p);
        free(dir);
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        int x = cli_local_error(CUSTODY_EEXIST,
                                "%s exists: a key file is never overwritten (remove it, or "
                                "choose another with --key-out); agent %s not enrolled",
                                path, name);
        free(path);
        return x;
    } else if (errno != ENOENT) {
        int e = errno;
        int x = cli_local_error(custody_err_from_errno(e), "%s: %s", path, strerror(e));
        free(path);
        return x;
    }
    {
        /* the directory must take the file (checked before enrolling) */
        const char *slash = strrchr(path, '/');
        char *dir = slash ? util_strndup(path, slash == path ? 1 : (size_t)(slash - path))
                          : util_strdup(".");
        if (access(dir, W_OK | X_OK) != 0) {
            int e = errno;
            int x = cli_local_error(custody_err_from_errno(e),
                                    "cannot write the key file in %s: %s", dir, strerror(e));
            free(dir);
            free(path);
            return x;
        }
        free(dir);
    }
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) {
        free(path);
        return rc;
    }

    uint8_t pub[32];
    struct strbuf pem = STRBUF_INIT;
    rc = util_ed25519_keygen(pub, &pem);
    if (rc) {
        wipe_pem(&pem);
        free(path);
        return cli_local_error(rc, "cannot generate an Ed25519 key pair");
    }
    char hex[65], fp[UTIL_ED25519_FP_LEN + 1];
    util_hex_encode(pub, sizeof pub, hex);
    util_ed25519_fingerprint(pub, fp);
    char *answer = NULL;
    rc = custody_agent_add(c, name, principal, groups, ng, hex, &answer);
    if (rc) {
        wipe_pem(&pem);
        free(path);
        return cli_fail(cli, rc, NULL);
    }
    rc = util_write_file_atomic(path, pem.buf, pem.len, 0600);
    wipe_pem(&pem);
    if (rc) {
        int x = cli_local_error(rc, "cannot write the private key to %s: %s", path,
                                custody_strerror(rc));
        /* an agent whose key is lost is useless: take the enrolment back */
        if (custody_agent_remove(c, name) != 0)
            fprintf(stderr,
                    "custody: agent %s is enrolled but its key was not saved; remove it with "
                    "'custody agent rm %s'\n",
                    name, name);
        else
            fprintf(stderr, "custody: agent %s was not kept\n", name);
        free(answer);
        free(path);
        return x;
    }
    if (cli->json) {
        json_t *o = cli_answer_object(answer);
        if (o) {
            json_object_set_new(o, "key_file", json_string(path));
            cli_print_json(o);
            json_decref(o);
        } else {
            cli_print_answer(answer);
        }
    } else {
        printf("added agent %s (key %s), private key in %s\n", name, fp, path);
    }
    free(answer);
    free(path);
    return CLI_EXIT_OK;
}

static int agent_name_cmp(const void *a, const void *b)
{
    const char *x = cli_jstr(*(json_t *const *)a, "name"),
               *y = cli_jstr(*(json_t *const *)b, "name");
    return strcmp(x ? x : "", y ? y : "");
}

/* "g1,g2" or "-" (allocated) */
static char *groups_text(json_t *agent)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(agent, "groups"), i, g)
    {
        const char *s = json_string_value(g);
        if (s) sb_printf(&sb, "%s%s", sb.len ? "," : "", s);
    }
    if (!sb.len) sb_puts(&sb, "-");
    return sb_detach(&sb);
}

static int cmd_agent_ls(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = AGENT_CMD("agent ls");
    int rc;
    custody_client_t *c = cli_plain_command(cli, cmd, argc, argv, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_agent_list(c, &answer);
    json_t *o = cli_answer(cli, rc, &answer, NULL, &rc);
    if (!o) return rc;
    json_t *arr = json_object_get(o, "agents");
    if (!json_is_array(arr)) {
        json_decref(o);
        return cli_malformed("/v1/agents");
    }
    size_t n = json_array_size(arr);
    if (n == 0) {
        printf("no agents (enroll one with 'custody agent add NAME')\n");
        json_decref(o);
        return CLI_EXIT_OK;
    }
    json_t **v = util_calloc(n, sizeof *v);
    char **groups = util_calloc(n, sizeof *groups);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(arr, i);
    qsort(v, n, sizeof *v, agent_name_cmp);
    size_t wn = 4, wp = 9, wg = 6;
    for (size_t i = 0; i < n; i++) {
        const char *nm = cli_jstr(v[i], "name"), *pr = cli_jstr(v[i], "principal");
        groups[i] = groups_text(v[i]);
        wn = UTIL_MAX(wn, nm ? strlen(nm) : 1);
        wp = UTIL_MAX(wp, pr && *pr ? strlen(pr) : 1);
        wg = UTIL_MAX(wg, strlen(groups[i]));
    }
    cli_pad("NAME", wn + 2);
    cli_pad("PRINCIPAL", wp + 2);
    cli_pad("GROUPS", wg + 2);
    printf("EPOCH  QUARANTINED  KEY\n");
    for (size_t i = 0; i < n; i++) {
        cli_pad(cli_jstr(v[i], "name"), wn + 2);
        cli_pad(cli_jstr(v[i], "principal"), wp + 2);
        cli_pad(groups[i], wg + 2);
        printf("%-5" JSON_INTEGER_FORMAT "  %-11s  ",
               json_integer_value(json_object_get(v[i], "epoch")),
               json_is_true(json_object_get(v[i], "quarantined")) ? "yes" : "no");
        cli_print_or_dash(cli_jstr(v[i], "key_fingerprint"));
        putchar('\n');
        free(groups[i]);
    }
    free(groups);
    free(v);
    json_decref(o);
    return CLI_EXIT_OK;
}

static void show_agent(json_t *a)
{
    char *groups = groups_text(a);
    printf("%-13s", "name:");
    cli_print_or_dash(cli_jstr(a, "name"));
    printf("\n%-13s", "principal:");
    cli_print_or_dash(cli_jstr(a, "principal"));
    printf("\n%-13s%s\n", "groups:", groups);
    printf("%-13s%" JSON_INTEGER_FORMAT "\n",
           "epoch:", json_integer_value(json_object_get(a, "epoch")));
    printf("%-13s%s\n",
           "quarantined:", json_is_true(json_object_get(a, "quarantined")) ? "yes" : "no");
    printf("%-13s", "key:");
    cli_print_or_dash(cli_jstr(a, "key_fingerprint"));
    printf("\n%-13s", "public key:");
    cli_print_or_dash(cli_jstr(a, "public_key"));
    putchar('\n');
    json_t *cr = json_object_get(a, "created");
    if (json_is_integer(cr)) {
        char t[32];
        cli_fmt_time(json_integer_value(cr), t);
        printf("%-13s%s\n", "created:", t);
    }
    free(groups);
}

/* The common shape of show/revoke/rm: one NAME operand, a client. */
static custody_client_t *one_agent(struct cli *cli, const struct cli_command *cmd, int argc,
                                   char **argv, const char **name, int *exit_rc)
{
    if (cli_operands(cmd, argc, 1, 1, exit_rc) < 0) return NULL;
    *name = argv[optind];
    if ((*exit_rc = check_name(cmd, "agent name", *name)) != 0) return NULL;
    return cli_client_or_exit(cli, exit_rc);
}

static int cmd_agent_show(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = AGENT_CMD("agent show");
    int rc = 0;
    const char *name;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    custody_client_t *c = one_agent(cli, cmd, argc, argv, &name, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_agent_show(c, name, &answer);
    json_t *o = cli_answer(cli, rc, &answer, name, &rc);
    if (!o) return rc;
    show_agent(o);
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_agent_revoke(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = AGENT_CMD("agent revoke");
    int rc = 0;
    const char *name;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    custody_client_t *c = one_agent(cli, cmd, argc, argv, &name, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_agent_revoke(c, name, &answer);
    json_t *o = cli_answer(cli, rc, &answer, name, &rc);
    if (!o) return rc;
    json_t *ep = json_object_get(o, "epoch");
    if (!json_is_integer(ep)) {
        json_decref(o);
        return cli_malformed("/v1/agents/NAME/revoke");
    }
    printf("revoked agent %s: epoch %" JSON_INTEGER_FORMAT "; every token minted before is dead\n",
           name, json_integer_value(ep));
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_agent_quarantine(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = AGENT_CMD("agent quarantine");
    static const struct option lo[] = {
        {"release", no_argument, NULL, 'r'}, OPT_HELP, OPT_JSON, OPT_END};
    bool release = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'r') release = true;
    }
    const char *name;
    custody_client_t *c = one_agent(cli, cmd, argc, argv, &name, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_agent_quarantine(c, name, release ? 0 : 1, &answer);
    if (rc) return cli_fail(cli, rc, name);
    if (cli->json)
        cli_print_answer(answer);
    else if (release)
        printf("agent %s released from quarantine\n", name);
    else
        printf("agent %s quarantined: every request it makes is refused (release with "
               "'custody agent quarantine %s --release')\n",
               name, name);
    free(answer);
    return CLI_EXIT_OK;
}

static int cmd_agent_rm(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = AGENT_CMD("agent rm");
    int rc = 0;
    const char *name;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    custody_client_t *c = one_agent(cli, cmd, argc, argv, &name, &rc);
    if (!c) return rc;
    rc = custody_agent_remove(c, name);
    if (rc) return cli_fail(cli, rc, name);
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:b}", "name", name, "removed", 1);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("removed agent %s\n", name);
    }
    return CLI_EXIT_OK;
}

/* ---- table and dispatch ---- */

const char cli_agent_details[] =
    "subcommands:\n"
    "  add NAME [--principal P] [--group G]... [--key-out FILE]\n"
    "                      enroll an agent with a new Ed25519 key (written to FILE)\n"
    "  ls                  the agents: principal, groups, epoch, quarantine, key\n"
    "  show NAME           one agent\n"
    "  revoke NAME         bump its epoch: every token minted before is dead\n"
    "  quarantine NAME [--release]\n"
    "                      refuse (or accept again) all its requests\n"
    "  rm NAME             remove it\n"
    "\nManaging agents is for the operator (custodyd's own user on its socket).\n"
    "see 'custody agent SUBCOMMAND --help' and docs/authz.md.\n";

const struct cli_command cli_agent_commands[] = {
    {"agent add", cmd_agent_add,
     "agent add NAME [--principal P] [--group G]... [--key-out FILE] [--json]",
     "Enroll an agent: a new Ed25519 key pair, the public half sent to custodyd.",
     "The private key is written to FILE (default STATE/agents/NAME.pem, mode 0600)\n"
     "and never printed; an existing file is never overwritten (refused before the\n"
     "agent is enrolled).\n"
     "options:\n"
     "  --principal P   the person (User::\"P\") the agent acts for\n"
     "  --group G       a group (Group::\"G\"); repeatable, at most 8\n"
     "  --key-out FILE  where to write the private key (PEM, PKCS#8)\n"
     "  --json          print custodyd's answer (and key_file)\n"
     "\nexample:\n  custody agent add demo --principal alice --group analysts\n"},
    {"agent ls", cmd_agent_ls, "agent ls [--json]", "List the agents.",
     "columns: NAME PRINCIPAL GROUPS EPOCH QUARANTINED KEY (the key's fingerprint)\n"
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"agent show", cmd_agent_show, "agent show NAME [--json]", "Show one agent.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"agent revoke", cmd_agent_revoke, "agent revoke NAME [--json]",
     "Revoke an agent's tokens: its epoch moves on and every token minted before dies.",
     "The agent stays enrolled and may mint new tokens (quarantine or remove it to\n"
     "stop it altogether).\n"
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"agent quarantine", cmd_agent_quarantine, "agent quarantine NAME [--release] [--json]",
     "Refuse every request of an agent (or, with --release, accept them again).",
     "options:\n"
     "  --release   end the quarantine\n"
     "  --json      print custodyd's JSON answer\n"},
    {"agent rm", cmd_agent_rm, "agent rm NAME [--json]",
     "Remove an agent (its key file, if any, is left where it is).",
     "options:\n  --json   print {name, removed}\n"},
};
const unsigned cli_nagent_commands = UTIL_ARRAY_LEN(cli_agent_commands);

int cli_cmd_agent(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "agent", cli_agent_commands, cli_nagent_commands, cli_agent_details,
                        argc, argv);
}
