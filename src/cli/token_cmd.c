/*
 * token_cmd.c — `custody token SUBCOMMAND`: capability tokens
 * (docs/tokens.md, docs/authz.md, docs/cli.md).
 *
 *   token mint|revoke          through libcustody
 *   token inspect|attenuate    offline (src/token, no key needed)
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "token/token.h"
#include "util/util.h"

#define STDIN_TOKEN_MAX (TOKEN_MAX_LEN + 4096)

#define TOKEN_CMD(name) cli_find_in(cli_token_commands, cli_ntoken_commands, name)

static uint64_t now_s(void)
{
    return util_now_ns() / 1000000000ull;
}

/* Trims surrounding whitespace in place. */
static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* A token operand: the argument, or stdin for "-"; whitespace trimmed.
 * *out is allocated. The exit status. */
static int read_token_arg(const char *arg, char **out)
{
    *out = NULL;
    struct strbuf sb = STRBUF_INIT;
    if (strcmp(arg, "-") == 0) {
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
            sb_append(&sb, buf, n);
            if (sb.len > STDIN_TOKEN_MAX) {
                sb_free(&sb);
                return cli_local_error(CUSTODY_ETOOBIG, "the token on stdin is over %u bytes",
                                       (unsigned)TOKEN_MAX_LEN);
            }
        }
        if (ferror(stdin)) {
            int e = errno;
            sb_free(&sb);
            return cli_local_error(custody_err_from_errno(e), "reading stdin: %s", strerror(e));
        }
    } else {
        sb_puts(&sb, arg);
    }
    char *all = sb_detach(&sb);
    char *t = trim(all);
    if (!*t) {
        free(all);
        return cli_local_error(CUSTODY_EINVAL, "no token given");
    }
    *out = util_strdup(t);
    free(all);
    return CLI_EXIT_OK;
}

static bool range_valid(const char *s)
{
    const char *dash = strchr(s, '-');
    uint64_t a, b;
    return dash && util_parse_u64(s, (size_t)(dash - s), &a) == 0 &&
           util_parse_u64(dash + 1, strlen(dash + 1), &b) == 0 && a <= b;
}

static int cmd_token_mint(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = TOKEN_CMD("token mint");
    enum { O_AGENT = 256, O_ACTION, O_RESOURCE, O_TTL, O_RANGE };
    static const struct option lo[] = {{"agent", required_argument, NULL, O_AGENT},
                                       {"action", required_argument, NULL, O_ACTION},
                                       {"resource", required_argument, NULL, O_RESOURCE},
                                       {"ttl", required_argument, NULL, O_TTL},
                                       {"range", required_argument, NULL, O_RANGE},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *agent = NULL, *resource = NULL, *range = NULL;
    struct strbuf actions = STRBUF_INIT;
    uint64_t ttl = 0;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) goto out;
        if (ch == O_AGENT) {
            agent = optarg;
        } else if (ch == O_ACTION) {
            for (const char *p = optarg; *p;) { /* each name must be known */
                const char *comma = strchr(p, ',');
                size_t n = comma ? (size_t)(comma - p) : strlen(p);
                if (n && !token_action_from_name(p, n)) {
                    rc = cli_usage_error(cmd, "unknown action '%.*s'", (int)n, p);
                    goto out;
                }
                p += n + (comma ? 1 : 0);
            }
            sb_printf(&actions, "%s%s", actions.len ? "," : "", optarg);
        } else if (ch == O_RESOURCE) {
            resource = optarg;
        } else if (ch == O_TTL) {
            if (util_parse_u64(optarg, strlen(optarg), &ttl) != 0 || ttl == 0) {
                rc = cli_usage_error(cmd, "invalid ttl '%s' (seconds, > 0)", optarg);
                goto out;
            }
        } else if (ch == O_RANGE) {
            if (!range_valid(optarg)) {
                rc = cli_usage_error(cmd, "invalid range '%s' (FIRST-LAST, bytes inclusive)",
                                     optarg);
                goto out;
            }
            range = optarg;
        }
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) goto out;
    if (!actions.len) {
        rc = cli_usage_error(cmd, "missing --action");
        goto out;
    }
    if (!resource) {
        rc = cli_usage_error(cmd, "missing --resource");
        goto out;
    }
    char *root = NULL, *path = NULL;
    if (custody_resource_parse(resource, &root, &path) != 0) {
        rc = cli_usage_error(cmd, "invalid resource '%s' (ROOT:/PATH, or ROOT:/DIR/ for a prefix)",
                             resource);
        goto out;
    }
    free(root);
    free(path);
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) goto out;
    char *answer = NULL;
    rc = custody_token_mint(c, agent, actions.buf, resource, ttl, range, &answer);
    if (rc) {
        rc = cli_fail(cli, rc, NULL);
        goto out;
    }
    if (cli->json) {
        cli_print_answer(answer);
    } else {
        json_t *o = cli_answer_object(answer);
        const char *tok = cli_jstr(o, "token");
        if (tok)
            puts(tok);
        else
            rc = cli_malformed("/v1/tokens");
        json_decref(o);
    }
    free(answer);
out:
    sb_free(&actions);
    return rc;
}

static int cmd_token_revoke(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = TOKEN_CMD("token revoke");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *id = argv[optind];
    size_t l = strlen(id);
    bool hex = l == TOKEN_ID_HEX_LEN;
    for (size_t i = 0; hex && i < l; i++)
        hex = util_hexval(id[i]) >= 0;
    if (!hex)
        return cli_usage_error(cmd, "a token id is %d hex digits (see 'custody token inspect')",
                               TOKEN_ID_HEX_LEN);
    custody_client_t *c = cli_client_or_exit(cli, &rc);
    if (!c) return rc;
    rc = custody_token_revoke(c, id);
    if (rc) return cli_fail(cli, rc, NULL);
    if (cli->json)
        cli_print_last_json(cli);
    else
        printf("revoked token %s\n", id);
    return CLI_EXIT_OK;
}

static void actions_text(uint32_t actions, struct strbuf *out)
{
    if (actions == TOKEN_ACT_ALL) {
        sb_puts(out, "any");
        return;
    }
    for (uint32_t bit = 1; bit <= TOKEN_ACT_ALL; bit <<= 1)
        if (actions & bit) sb_printf(out, "%s%s", out->len ? "," : "", token_action_name(bit));
    if (!out->len) sb_puts(out, "none");
}

static json_t *effective_json(const struct token_info *info, uint64_t now)
{
    const struct token_effective *e = &info->eff;
    json_t *o = json_object();
    if (e->agent) json_object_set_new(o, "agent", json_string(e->agent));
    if (e->agent_key) json_object_set_new(o, "agent_key", json_string(e->agent_key));
    json_t *acts = json_array();
    for (uint32_t bit = 1; bit <= TOKEN_ACT_ALL; bit <<= 1)
        if (e->actions & bit) json_array_append_new(acts, json_string(token_action_name(bit)));
    json_object_set_new(o, "actions", acts);
    if (e->resource) {
        json_object_set_new(o, "resource", json_string(e->resource));
        json_object_set_new(o, "resource_prefix", json_boolean(e->resource_prefix));
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_RANGE))
        json_object_set_new(o, "range",
                            json_pack("{s:I, s:I}", "first", (json_int_t)e->range_first, "last",
                                      (json_int_t)e->range_last));
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_EXPIRES)) {
        char t[32];
        cli_fmt_time((int64_t)e->expires, t);
        json_object_set_new(o, "expires", json_string(t));
        json_object_set_new(o, "expires_unix", json_integer((json_int_t)e->expires));
        json_object_set_new(o, "remaining", json_integer((json_int_t)e->expires - (json_int_t)now));
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_ISSUED)) {
        char t[32];
        cli_fmt_time((int64_t)e->issued, t);
        json_object_set_new(o, "issued", json_string(t));
        json_object_set_new(o, "issued_unix", json_integer((json_int_t)e->issued));
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_EPOCH))
        json_object_set_new(o, "epoch", json_integer((json_int_t)e->epoch));
    json_t *pols = json_array();
    for (size_t i = 0; i < e->npolicies; i++)
        json_array_append_new(pols, json_string(e->policies[i]));
    json_object_set_new(o, "policies", pols);
    if (e->attest) json_object_set_new(o, "attest", json_string(e->attest));
    json_t *conf = json_array();
    for (int k = 0; k < TOKEN_CAV_COUNT; k++)
        if (e->conflicts & TOKEN_CAV_BIT(k))
            json_array_append_new(conf,
                                  json_string(token_caveat_key_name((enum token_caveat_key)k)));
    json_object_set_new(o, "conflicts", conf);
    return o;
}

static void print_claim(const char *label, const char *value)
{
    printf("  %-11s", label);
    cli_print_or_dash(value);
    putchar('\n');
}

static void print_inspection(const struct token_info *info, uint64_t now)
{
    const struct token_effective *e = &info->eff;
    printf("id:         %s\n", info->id);
    printf("location:   ");
    cli_print_or_dash(info->location);
    printf("\nform:       %s\n", info->json ? "JSON" : "base64url");
    printf("caveats:\n");
    for (size_t i = 0; i < info->ncaveats; i++) {
        printf("  ");
        cli_print_safe(info->caveats[i]);
        putchar('\n');
    }
    printf("effective claims (not verified: only custodyd holds the key):\n");
    if (e->agent) print_claim("agent:", e->agent);
    if (e->agent_key) print_claim("agent key:", e->agent_key);
    struct strbuf sb = STRBUF_INIT;
    actions_text(e->actions, &sb);
    print_claim("actions:", sb.buf);
    sb_reset(&sb);
    if (e->resource) {
        sb_printf(&sb, "%s%s", e->resource, e->resource_prefix ? " [prefix]" : "");
        print_claim("resource:", sb.buf);
        sb_reset(&sb);
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_RANGE)) {
        sb_printf(&sb, "%" PRIu64 "-%" PRIu64, e->range_first, e->range_last);
        print_claim("range:", sb.buf);
        sb_reset(&sb);
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_EXPIRES)) {
        char t[32];
        cli_fmt_time((int64_t)e->expires, t);
        if (e->expires > now)
            sb_printf(&sb, "%s (in %" PRIu64 " s)", t, e->expires - now);
        else
            sb_printf(&sb, "%s (expired %" PRIu64 " s ago)", t, now - e->expires);
        print_claim("expires:", sb.buf);
        sb_reset(&sb);
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_ISSUED)) {
        char t[32];
        cli_fmt_time((int64_t)e->issued, t);
        print_claim("issued:", t);
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_EPOCH)) {
        sb_printf(&sb, "%" PRIu64, e->epoch);
        print_claim("epoch:", sb.buf);
        sb_reset(&sb);
    }
    if (e->npolicies) {
        for (size_t i = 0; i < e->npolicies; i++)
            sb_printf(&sb, "%s%s", i ? ", " : "", e->policies[i]);
        print_claim("policies:", sb.buf);
        sb_reset(&sb);
    }
    if (e->attest) print_claim("attest:", e->attest);
    if (e->conflicts) {
        for (int k = 0; k < TOKEN_CAV_COUNT; k++)
            if (e->conflicts & TOKEN_CAV_BIT(k))
                sb_printf(&sb, "%s%s", sb.len ? ", " : "",
                          token_caveat_key_name((enum token_caveat_key)k));
        sb_puts(&sb, " (contradictory caveats: this token allows nothing)");
        print_claim("conflicts:", sb.buf);
    }
    sb_free(&sb);
}

static int cmd_token_inspect(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = TOKEN_CMD("token inspect");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    char *tok = NULL;
    if ((rc = read_token_arg(argv[optind], &tok)) != 0) return rc;
    struct token_info info = {0};
    struct strbuf why = STRBUF_INIT;
    rc = token_inspect(tok, &info, &why);
    if (rc) {
        int x =
            cli_local_error(rc, "not a valid token: %s", why.buf ? why.buf : custody_strerror(rc));
        token_info_free(&info);
        sb_free(&why);
        free(tok);
        return x;
    }
    uint64_t now = now_s();
    if (cli->json) {
        struct strbuf tj = STRBUF_INIT;
        sb_reset(&why);
        json_t *mac = NULL;
        if (token_to_json(tok, &tj, &why) == 0) mac = json_loadb(tj.buf, tj.len, 0, NULL);
        json_t *cav = json_array();
        for (size_t i = 0; i < info.ncaveats; i++)
            json_array_append_new(cav, json_string(info.caveats[i]));
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", info.id, "location", info.location,
                              "form", info.json ? "json" : "base64url", "caveats", cav, "effective",
                              effective_json(&info, now));
        if (mac) json_object_set_new(o, "macaroon", mac);
        cli_print_json(o);
        json_decref(o);
        sb_free(&tj);
    } else {
        print_inspection(&info, now);
    }
    token_info_free(&info);
    sb_free(&why);
    free(tok);
    return CLI_EXIT_OK;
}

static int cmd_token_attenuate(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = TOKEN_CMD("token attenuate");
    enum { O_CAVEAT = 256, O_ACTION, O_RESOURCE, O_TTL };
    static const struct option lo[] = {{"caveat", required_argument, NULL, O_CAVEAT},
                                       {"action", required_argument, NULL, O_ACTION},
                                       {"resource", required_argument, NULL, O_RESOURCE},
                                       {"ttl", required_argument, NULL, O_TTL},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    char *cav[TOKEN_MAX_CAVEATS];
    size_t n = 0;
    uint64_t ttl = 0;
    bool has_ttl = false;
    char *tok = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) goto out;
        if (ch == O_TTL) {
            if (util_parse_u64(optarg, strlen(optarg), &ttl) != 0 || ttl == 0) {
                rc = cli_usage_error(cmd, "invalid ttl '%s' (seconds, > 0)", optarg);
                goto out;
            }
            has_ttl = true;
            continue;
        }
        if (n == TOKEN_MAX_CAVEATS) {
            rc = cli_usage_error(cmd, "too many caveats (at most %d)", TOKEN_MAX_CAVEATS);
            goto out;
        }
        struct strbuf sb = STRBUF_INIT;
        if (ch == O_CAVEAT) {
            sb_puts(&sb, optarg);
        } else if (ch == O_ACTION) {
            sb_printf(&sb, "action in %s", optarg);
        } else if (ch == O_RESOURCE) {
            size_t l = strlen(optarg);
            sb_printf(&sb, "%s = %s", l && optarg[l - 1] == '/' ? "resource_prefix" : "resource",
                      optarg);
        }
        cav[n++] = sb_detach(&sb);
        struct strbuf why = STRBUF_INIT;
        if (token_caveat_check(cav[n - 1], strlen(cav[n - 1]), &why) != 0) {
            rc = cli_usage_error(cmd, "invalid caveat '%s': %s", cav[n - 1],
                                 why.buf ? why.buf : "not in the caveat grammar");
            sb_free(&why);
            goto out;
        }
        sb_free(&why);
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) goto out;
    if ((rc = read_token_arg(argv[optind], &tok)) != 0) goto out;
    if (has_ttl) {
        /* expires < now+ttl, unless the token already expires sooner */
        struct token_info info = {0};
        uint64_t want = now_s() + ttl;
        bool sooner = token_inspect(tok, &info, NULL) == 0 &&
                      (info.eff.present & TOKEN_CAV_BIT(TOKEN_CAV_EXPIRES)) &&
                      info.eff.expires <= want;
        token_info_free(&info);
        if (sooner) {
            fprintf(stderr,
                    "custody: the token expires within %" PRIu64 " s already; --ttl "
                    "adds nothing\n",
                    ttl);
        } else if (n == TOKEN_MAX_CAVEATS) {
            rc = cli_usage_error(cmd, "too many caveats (at most %d)", TOKEN_MAX_CAVEATS);
            goto out;
        } else {
            struct strbuf sb = STRBUF_INIT;
            sb_printf(&sb, "expires < %" PRIu64, want);
            cav[n++] = sb_detach(&sb);
        }
    }
    if (n == 0 && !has_ttl) {
        rc = cli_usage_error(cmd, "nothing to add: give --caveat, --action, --resource or --ttl");
        goto out;
    }
    struct strbuf res = STRBUF_INIT, why = STRBUF_INIT;
    if (n == 0) {
        sb_puts(&res, tok); /* nothing narrower to add */
    } else {
        rc = token_attenuate(tok, (const char *const *)cav, n, &res, &why);
        if (rc) {
            int x = cli_local_error(rc, "cannot attenuate the token: %s",
                                    why.buf ? why.buf : custody_strerror(rc));
            sb_free(&res);
            sb_free(&why);
            rc = x;
            goto out;
        }
    }
    if (cli->json) {
        json_t *o = json_pack("{s:s}", "token", res.buf ? res.buf : "");
        cli_print_json(o);
        json_decref(o);
    } else {
        puts(res.buf ? res.buf : "");
    }
    sb_free(&res);
    sb_free(&why);
    rc = CLI_EXIT_OK;
out:
    for (size_t i = 0; i < n; i++)
        free(cav[i]);
    free(tok);
    return rc;
}

/* ---- table and dispatch ---- */

const char cli_token_details[] =
    "subcommands:\n"
    "  mint --agent A --action X[,Y] --resource R [--ttl S] [--range F-L]\n"
    "                      a capability token, after a policy decision\n"
    "  inspect TOKEN|-     its id, caveats and effective claims (offline)\n"
    "  attenuate TOKEN|- --caveat C...\n"
    "                      a narrower token (offline, no key needed)\n"
    "  revoke ID           revoke one token by its id\n"
    "\nsee 'custody token SUBCOMMAND --help', docs/tokens.md and docs/authz.md.\n";

const struct cli_command cli_token_commands[] = {
    {"token mint", cmd_token_mint,
     "token mint --agent A --action X[,Y] --resource R [--ttl S] [--range F-L] [--json]",
     "Mint a capability token for an agent after a policy decision.",
     "The token (base64url) is printed alone on one line: T=$(custody token mint ...).\n"
     "options:\n"
     "  --agent A      the agent (the operator must name one)\n"
     "  --action X,Y   actions: read write list stat mkdir move delete rollback versions\n"
     "                 (repeatable)\n"
     "  --resource R   ROOT:/PATH, or ROOT:/DIR/ for everything under DIR\n"
     "  --ttl S        lifetime in seconds (default 300; capped by custodyd)\n"
     "  --range F-L    only bytes F..L (inclusive)\n"
     "  --json         print custodyd's whole answer (token, id, expires, policies)\n"
     "\nexample:\n"
     "  T=$(custody token mint --agent demo --action read --resource demo:/hello.txt)\n"},
    {"token inspect", cmd_token_inspect, "token inspect TOKEN|- [--json]",
     "Show a token's id, caveats and effective claims (offline, nothing verified).",
     "'-' reads the token from stdin.\n"
     "options:\n"
     "  --json   {id, location, form, caveats, effective, macaroon (the V1 JSON form)}\n"},
    {"token attenuate", cmd_token_attenuate,
     "token attenuate TOKEN|- [--caveat C]... [--action X] [--resource R] [--ttl S] [--json]",
     "Add caveats to a token offline: the result can only do less.",
     "'-' reads the token from stdin. A caveat that would widen the token is refused.\n"
     "options:\n"
     "  --caveat C     a caveat, e.g. 'action in read', 'resource = demo:/a.txt',\n"
     "                 'resource_prefix = demo:/dir/', 'range = 0-4095',\n"
     "                 'expires < UNIX_SECONDS' (repeatable; docs/tokens.md)\n"
     "  --action X     the same as --caveat 'action in X'\n"
     "  --resource R   'resource = R' ('resource_prefix = R' when R ends with '/')\n"
     "  --ttl S        'expires < now+S'\n"
     "  --json         print {token}\n"
     "\nexample:\n"
     "  custody token attenuate \"$T\" --resource demo:/notes/a.txt --ttl 60\n"},
    {"token revoke", cmd_token_revoke, "token revoke ID [--json]",
     "Revoke one token by its id (see 'custody token inspect').",
     "options:\n  --json   print custodyd's JSON answer\n"},
};
const unsigned cli_ntoken_commands = UTIL_ARRAY_LEN(cli_token_commands);

int cli_cmd_token(struct cli *cli, int argc, char **argv)
{
    return cli_dispatch(cli, "token", cli_token_commands, cli_ntoken_commands, cli_token_details,
                        argc, argv);
}
