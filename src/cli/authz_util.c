/*
 * authz_util.c — the small helpers shared by `custody agent`, `custody
 * token` and `custody policy` (agent_cmd.c, token_cmd.c, policy_cmd.c):
 * custodyd's JSON answers, table columns, times, and the subcommand
 * dispatcher. Declared in cli.h.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "util/util.h"

const struct cli_command *cli_find_in(const struct cli_command *tab, unsigned n, const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(tab[i].name, name) == 0) return &tab[i];
    return NULL;
}

custody_client_t *cli_client_or_exit(struct cli *cli, int *exit_rc)
{
    custody_client_t *c = cli_client(cli);
    if (!c) *exit_rc = CLI_EXIT_USAGE;
    return c;
}

/* Prints a JSON (or text) answer with a final newline. */
void cli_print_answer(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n) fputs(s, stdout);
    if (n == 0 || s[n - 1] != '\n') putchar('\n');
}

void cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (s) puts(s);
    free(s);
}

/* A malformed answer: custodyd misbehaved (exit 1). */
int cli_malformed(const char *what)
{
    fprintf(stderr, "custody: custodyd sent a malformed answer to %s (%s)\n", what,
            custody_err_code(CUSTODY_EPROTO));
    return CLI_EXIT_REFUSED;
}

/* Parses custodyd's answer as a JSON object (NULL when it is not one). */
json_t *cli_answer_object(const char *s)
{
    json_t *o = s ? json_loads(s, 0, NULL) : NULL;
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

const char *cli_jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

void cli_print_or_dash(const char *s)
{
    if (s && *s)
        cli_print_safe(s);
    else
        putchar('-');
}

/* "2026-11-26T07:14:00Z" */
void cli_fmt_time(int64_t unix_s, char out[32])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "@%" PRId64, unix_s);
}

void cli_pad(const char *s, size_t width)
{
    size_t n = s && *s ? strlen(s) : 1;
    cli_print_or_dash(s);
    for (; n < width; n++)
        putchar(' ');
}

int cli_dispatch(struct cli *cli, const char *family, const struct cli_command *tab, unsigned n,
                 const char *details, int argc, char **argv)
{
    const struct cli_command *self = cli_find_command(family);
    while (argc >= 2 && strcmp(argv[1], "--json") == 0) {
        cli->json = true;
        argc--;
        argv++;
    }
    if (argc < 2) {
        fprintf(stderr, "custody %s: missing subcommand\nusage: custody %s SUBCOMMAND\n%s", family,
                family, details);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        if (self) return cli_command_help(self);
        printf("usage: custody %s SUBCOMMAND\n\n%s", family, details);
        return CLI_EXIT_OK;
    }
    struct strbuf full = STRBUF_INIT;
    sb_printf(&full, "%s %s", family, sub);
    const struct cli_command *cmd = sub[0] != '-' ? cli_find_in(tab, n, full.buf) : NULL;
    sb_free(&full);
    if (!cmd) {
        fprintf(stderr, "custody %s: unknown subcommand '%s'\nusage: custody %s SUBCOMMAND\n%s",
                family, sub, family, details);
        return CLI_EXIT_USAGE;
    }
    return cmd->fn(cli, argc - 1, argv + 1);
}

json_t *cli_answer(struct cli *cli, int rc, char **answer, const char *resource, int *exit_rc)
{
    json_t *o = NULL;
    if (rc) {
        *exit_rc = cli_fail(cli, rc, resource);
    } else if (cli->json) {
        cli_print_answer(*answer);
        *exit_rc = CLI_EXIT_OK;
    } else {
        o = cli_answer_object(*answer);
        if (!o) *exit_rc = cli_malformed(resource ? resource : "custodyd's answer");
    }
    free(*answer);
    *answer = NULL;
    return o;
}

custody_client_t *cli_plain_command(struct cli *cli, const struct cli_command *cmd, int argc,
                                    char **argv, int *exit_rc)
{
    *exit_rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, exit_rc)) return NULL;
    if (cli_operands(cmd, argc, 0, 0, exit_rc) < 0) return NULL;
    return cli_client_or_exit(cli, exit_rc);
}
