/*
 * authz.c — `custody agent|token|policy SUBCOMMAND`: agents, capability
 * tokens and the Cedar policy set (docs/authz.md, docs/cli.md).
 *
 *   agent add|ls|show|revoke|quarantine|rm   through libcustody (operator)
 *   token mint|revoke                        through libcustody
 *   token inspect|attenuate                  offline (src/token, no key needed)
 *   policy show|reload|explain               through libcustody
 *   policy check|test                        offline (src/policy, src/authz)
 *   policy replay                            the audit ledger's decisions, re-decided
 *                                            offline under a candidate policy set
 *
 * An agent's private key is generated here, written once (mode 0600, never
 * over an existing file) and never printed; custodyd only sees the public key.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "authz/authz.h"
#include "cli/cli.h"
#include "config/config.h"
#include "policy/policy.h"
#include "token/token.h"
#include "util/util.h"

#define AGENTS_DIR "agents"       /* STATE/agents/NAME.pem */
#define TEST_FILE_MAX (16u << 20) /* a `policy test` file */
#define STDIN_TOKEN_MAX (TOKEN_MAX_LEN + 4096)
#define REPLAY_PAGE 10000 /* custodyd's cap on /v1/audit/search?limit= */
#define PSEUDONYM_PREFIX "hmac-sha256:"

/* ---- helpers ---- */

static const struct cli_command *find_in(const struct cli_command *tab, unsigned n,
                                         const char *name)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(tab[i].name, name) == 0) return &tab[i];
    return NULL;
}

#define AGENT_CMD(name) find_in(cli_agent_commands, cli_nagent_commands, name)
#define TOKEN_CMD(name) find_in(cli_token_commands, cli_ntoken_commands, name)
#define POLICY_CMD(name) find_in(cli_policy_commands, cli_npolicy_commands, name)

static custody_client_t *client_or_exit(struct cli *cli, int *exit_rc)
{
    custody_client_t *c = cli_client(cli);
    if (!c) *exit_rc = CLI_EXIT_USAGE;
    return c;
}

/* Prints a JSON (or text) answer with a final newline. */
static void print_answer(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n) fputs(s, stdout);
    if (n == 0 || s[n - 1] != '\n') putchar('\n');
}

static void print_json_value(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT);
    if (s) puts(s);
    free(s);
}

/* A malformed answer: custodyd misbehaved (exit 1). */
static int malformed(const char *what)
{
    fprintf(stderr, "custody: custodyd sent a malformed answer to %s (%s)\n", what,
            custody_err_code(CUSTODY_EPROTO));
    return CLI_EXIT_REFUSED;
}

/* Parses custodyd's answer as a JSON object (NULL when it is not one). */
static json_t *answer_object(const char *s)
{
    json_t *o = s ? json_loads(s, 0, NULL) : NULL;
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    return o;
}

static const char *jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void print_or_dash(const char *s)
{
    if (s && *s)
        cli_print_safe(s);
    else
        putchar('-');
}

/* "2026-11-26T07:14:00Z" */
static void fmt_time(int64_t unix_s, char out[32])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "@%" PRId64, unix_s);
}

/* RFC 3339 (fraction and offset optional parts) to unix seconds. */
static bool parse_rfc3339(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n < 19)
        return false;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5) return false;
        off = (long)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 1 + m;
    } else {
        return false;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    *out = (int64_t)t - off;
    return true;
}

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

/* Appends one id to a comma-separated list unless it is there. */
static void id_list_add(struct strbuf *sb, const char *id)
{
    size_t l = strlen(id);
    for (const char *p = sb->buf ? sb->buf : ""; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == l && memcmp(p, id, l) == 0) return;
        p += n + (c ? 1 : 0);
    }
    sb_printf(sb, "%s%s", sb->len ? "," : "", id);
}

/* A JSON array of strings from a comma-separated list. */
static json_t *id_list_json(const char *list)
{
    json_t *arr = json_array();
    for (const char *p = list ? list : ""; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n) json_array_append_new(arr, json_stringn(p, n));
        p += n + (c ? 1 : 0);
    }
    return arr;
}

/* ---- policy sets from files ---- */

/* authz_policy_load_dir names files by their base name in errors: put the
 * directory in front so that editors can jump to the line. */
static void dir_error_path(const char *dir, struct strbuf *err)
{
    if (!err->buf || !err->len) return;
    const char *colon = strchr(err->buf, ':');
    if (!colon || colon == err->buf || memchr(err->buf, '/', (size_t)(colon - err->buf))) return;
    char *name = util_strndup(err->buf, (size_t)(colon - err->buf));
    char *path = util_path_join(dir, name);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
        struct strbuf fixed = STRBUF_INIT;
        sb_printf(&fixed, "%s%s", path, colon);
        sb_free(err);
        *err = fixed;
    }
    free(name);
    free(path);
}

/* A policy set from a directory (its *.cedar files, as custodyd reads
 * them; a missing directory is an empty set when missing_ok) or from one
 * file. err gets "FILE:LINE:COLUMN: message" lines. */
static int load_policies(const char *path, bool missing_ok, struct policy_set **out, size_t *nfiles,
                         struct strbuf *err)
{
    struct stat st;
    *out = NULL;
    *nfiles = 0;
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e == ENOENT && missing_ok) return authz_policy_load_dir(path, out, nfiles, err);
        return sb_fail(err, custody_err_from_errno(e), "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        int rc = authz_policy_load_dir(path, out, nfiles, err);
        if (rc) dir_error_path(path, err);
        return rc;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = util_read_file(path, POLICY_MAX_TEXT, &text, &len);
    if (rc) return sb_fail(err, rc, "%s: %s", path, custody_strerror(rc));
    struct policy_opts po = {.id_annotation = true};
    rc = policy_set_parse(text, len, path, &po, out, err);
    free(text);
    if (!rc) *nfiles = 1;
    return rc;
}

static void print_error_lines(const struct strbuf *err, int rc)
{
    if (err->buf && err->len) {
        fputs(err->buf, stderr);
        if (err->buf[err->len - 1] != '\n') fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s\n", custody_strerror(rc));
    }
}

/* STATE/policy */
static char *default_policy_dir(struct cli *cli)
{
    return util_path_join(cli_state_dir(cli), AUTHZ_POLICY_DIR);
}

/* ================================================================ agent */

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
    custody_client_t *c = client_or_exit(cli, &rc);
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
        json_t *o = answer_object(answer);
        if (o) {
            json_object_set_new(o, "key_file", json_string(path));
            print_json_value(o);
            json_decref(o);
        } else {
            print_answer(answer);
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
    const char *x = jstr(*(json_t *const *)a, "name"), *y = jstr(*(json_t *const *)b, "name");
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

static void pad(const char *s, size_t width)
{
    size_t n = s && *s ? strlen(s) : 1;
    print_or_dash(s);
    for (; n < width; n++)
        putchar(' ');
}

static int cmd_agent_ls(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = AGENT_CMD("agent ls");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_agent_list(c, &answer);
    if (rc) return cli_fail(cli, rc, NULL);
    if (cli->json) {
        print_answer(answer);
        free(answer);
        return CLI_EXIT_OK;
    }
    json_t *o = answer_object(answer);
    free(answer);
    json_t *arr = json_object_get(o, "agents");
    if (!json_is_array(arr)) {
        json_decref(o);
        return malformed("/v1/agents");
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
        const char *nm = jstr(v[i], "name"), *pr = jstr(v[i], "principal");
        groups[i] = groups_text(v[i]);
        wn = UTIL_MAX(wn, nm ? strlen(nm) : 1);
        wp = UTIL_MAX(wp, pr && *pr ? strlen(pr) : 1);
        wg = UTIL_MAX(wg, strlen(groups[i]));
    }
    pad("NAME", wn + 2);
    pad("PRINCIPAL", wp + 2);
    pad("GROUPS", wg + 2);
    printf("EPOCH  QUARANTINED  KEY\n");
    for (size_t i = 0; i < n; i++) {
        pad(jstr(v[i], "name"), wn + 2);
        pad(jstr(v[i], "principal"), wp + 2);
        pad(groups[i], wg + 2);
        printf("%-5" JSON_INTEGER_FORMAT "  %-11s  ",
               json_integer_value(json_object_get(v[i], "epoch")),
               json_is_true(json_object_get(v[i], "quarantined")) ? "yes" : "no");
        print_or_dash(jstr(v[i], "key_fingerprint"));
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
    print_or_dash(jstr(a, "name"));
    printf("\n%-13s", "principal:");
    print_or_dash(jstr(a, "principal"));
    printf("\n%-13s%s\n", "groups:", groups);
    printf("%-13s%" JSON_INTEGER_FORMAT "\n",
           "epoch:", json_integer_value(json_object_get(a, "epoch")));
    printf("%-13s%s\n",
           "quarantined:", json_is_true(json_object_get(a, "quarantined")) ? "yes" : "no");
    printf("%-13s", "key:");
    print_or_dash(jstr(a, "key_fingerprint"));
    printf("\n%-13s", "public key:");
    print_or_dash(jstr(a, "public_key"));
    putchar('\n');
    json_t *cr = json_object_get(a, "created");
    if (json_is_integer(cr)) {
        char t[32];
        fmt_time(json_integer_value(cr), t);
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
    return client_or_exit(cli, exit_rc);
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
    if (rc) return cli_fail(cli, rc, name);
    if (cli->json) {
        print_answer(answer);
        free(answer);
        return CLI_EXIT_OK;
    }
    json_t *o = answer_object(answer);
    free(answer);
    if (!o) return malformed("/v1/agents/NAME");
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
    if (rc) return cli_fail(cli, rc, name);
    if (cli->json) {
        print_answer(answer);
        free(answer);
        return CLI_EXIT_OK;
    }
    json_t *o = answer_object(answer);
    free(answer);
    json_t *ep = json_object_get(o, "epoch");
    if (!json_is_integer(ep)) {
        json_decref(o);
        return malformed("/v1/agents/NAME/revoke");
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
        print_answer(answer);
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
        print_json_value(o);
        json_decref(o);
    } else {
        printf("removed agent %s\n", name);
    }
    return CLI_EXIT_OK;
}

/* ================================================================ token */

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
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) goto out;
    char *answer = NULL;
    rc = custody_token_mint(c, agent, actions.buf, resource, ttl, range, &answer);
    if (rc) {
        rc = cli_fail(cli, rc, NULL);
        goto out;
    }
    if (cli->json) {
        print_answer(answer);
    } else {
        json_t *o = answer_object(answer);
        const char *tok = jstr(o, "token");
        if (tok)
            puts(tok);
        else
            rc = malformed("/v1/tokens");
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
    custody_client_t *c = client_or_exit(cli, &rc);
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
        fmt_time((int64_t)e->expires, t);
        json_object_set_new(o, "expires", json_string(t));
        json_object_set_new(o, "expires_unix", json_integer((json_int_t)e->expires));
        json_object_set_new(o, "remaining", json_integer((json_int_t)e->expires - (json_int_t)now));
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_ISSUED)) {
        char t[32];
        fmt_time((int64_t)e->issued, t);
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
    print_or_dash(value);
    putchar('\n');
}

static void print_inspection(const struct token_info *info, uint64_t now)
{
    const struct token_effective *e = &info->eff;
    printf("id:         %s\n", info->id);
    printf("location:   ");
    print_or_dash(info->location);
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
        fmt_time((int64_t)e->expires, t);
        if (e->expires > now)
            sb_printf(&sb, "%s (in %" PRIu64 " s)", t, e->expires - now);
        else
            sb_printf(&sb, "%s (expired %" PRIu64 " s ago)", t, now - e->expires);
        print_claim("expires:", sb.buf);
        sb_reset(&sb);
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_ISSUED)) {
        char t[32];
        fmt_time((int64_t)e->issued, t);
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
        print_json_value(o);
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
        print_json_value(o);
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

/* ================================================================ policy */

static int cmd_policy_check(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy check");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    int nops = argc - optind;
    char *def = nops == 0 ? default_policy_dir(cli) : NULL;
    int nargs = nops ? nops : 1;
    bool bad = false;
    json_t *results = json_array();
    for (int i = 0; i < nargs; i++) {
        const char *path = nops ? argv[optind + i] : def;
        struct policy_set *set = NULL;
        size_t nfiles = 0;
        struct strbuf err = STRBUF_INIT;
        rc = load_policies(path, nops == 0, &set, &nfiles, &err);
        if (rc) {
            bad = true;
            print_error_lines(&err, rc);
            json_array_append_new(results, json_pack("{s:s, s:b, s:s}", "path", path, "ok", 0,
                                                     "error", err.buf ? err.buf : ""));
        } else {
            char hash[UTIL_SHA256_HEX_LEN + 1];
            policy_set_hash(set, hash);
            size_t np = policy_set_count(set);
            json_array_append_new(results, json_pack("{s:s, s:b, s:I, s:I, s:s+}", "path", path,
                                                     "ok", 1, "policies", (json_int_t)np, "files",
                                                     (json_int_t)nfiles, "hash", "sha256:", hash));
            if (!cli->json) {
                printf("ok: %zu polic%s in %zu file%s (sha256:%s)", np, np == 1 ? "y" : "ies",
                       nfiles, nfiles == 1 ? "" : "s", hash);
                if (nargs > 1) printf(": %s", path);
                putchar('\n');
                if (nfiles == 0)
                    fprintf(stderr,
                            "custody: no .cedar files in %s: custodyd would deny "
                            "everything\n",
                            path);
            }
            policy_set_free(set);
        }
        sb_free(&err);
    }
    if (cli->json) {
        json_t *o = json_pack("{s:b, s:o}", "ok", !bad, "results", results);
        print_json_value(o);
        json_decref(o);
    } else {
        json_decref(results);
    }
    free(def);
    return bad ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
}

static int cmd_policy_show(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy show");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_policy_show(c, &answer);
    if (rc) return cli_fail(cli, rc, NULL);
    if (cli->json) {
        print_answer(answer);
        free(answer);
        return CLI_EXIT_OK;
    }
    json_t *o = answer_object(answer);
    free(answer);
    json_t *arr = json_object_get(o, "policies");
    const char *hash = jstr(o, "hash");
    if (!json_is_array(arr) || !hash) {
        json_decref(o);
        return malformed("/v1/policy");
    }
    size_t wid = 2, i;
    json_t *p;
    json_array_foreach(arr, i, p)
    {
        const char *id = jstr(p, "id");
        wid = UTIL_MAX(wid, id ? strlen(id) : 1);
    }
    if (json_array_size(arr)) {
        pad("ID", wid + 2);
        printf("EFFECT  FILE:LINE\n");
    }
    json_array_foreach(arr, i, p)
    {
        pad(jstr(p, "id"), wid + 2);
        printf("%-6s  ", jstr(p, "effect") ? jstr(p, "effect") : "-");
        print_or_dash(jstr(p, "file"));
        printf(":%" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(p, "line")));
    }
    json_int_t np = json_integer_value(json_object_get(o, "count"));
    json_int_t nf = json_integer_value(json_object_get(o, "files"));
    printf("policy set sha256:%s (%" JSON_INTEGER_FORMAT " polic%s in %" JSON_INTEGER_FORMAT
           " file%s)\n",
           hash, np, np == 1 ? "y" : "ies", nf, nf == 1 ? "" : "s");
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_policy_reload(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy reload");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) return rc;
    char *answer = NULL;
    rc = custody_policy_reload(c, &answer);
    if (rc) return cli_fail(cli, rc, NULL);
    if (cli->json) {
        print_answer(answer);
        free(answer);
        return CLI_EXIT_OK;
    }
    json_t *o = answer_object(answer);
    free(answer);
    const char *hash = jstr(o, "hash"), *prev = jstr(o, "previous");
    if (!hash) {
        json_decref(o);
        return malformed("/v1/policy/reload");
    }
    json_int_t np = json_integer_value(json_object_get(o, "count"));
    printf("policy set sha256:%s (%" JSON_INTEGER_FORMAT " polic%s)", hash, np,
           np == 1 ? "y" : "ies");
    if (!json_is_true(json_object_get(o, "changed")))
        printf(", unchanged\n");
    else if (prev && *prev)
        printf(", was sha256:%s\n", prev);
    else
        putchar('\n');
    json_decref(o);
    return CLI_EXIT_OK;
}

static int cmd_policy_explain(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy explain");
    enum { O_AGENT = 256, O_ACTION, O_RESOURCE, O_DEST, O_CONTEXT, O_DIR };
    static const struct option lo[] = {{"agent", required_argument, NULL, O_AGENT},
                                       {"action", required_argument, NULL, O_ACTION},
                                       {"resource", required_argument, NULL, O_RESOURCE},
                                       {"destination", required_argument, NULL, O_DEST},
                                       {"context", required_argument, NULL, O_CONTEXT},
                                       {"dir", no_argument, NULL, O_DIR},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *agent = NULL, *action = NULL, *resource = NULL, *dest = NULL;
    json_t *context = NULL;
    bool dir = false;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) goto out;
        if (ch == O_AGENT) agent = optarg;
        if (ch == O_ACTION) action = optarg;
        if (ch == O_RESOURCE) resource = optarg;
        if (ch == O_DEST) dest = optarg;
        if (ch == O_DIR) dir = true;
        if (ch == O_CONTEXT) {
            json_error_t jerr;
            json_decref(context);
            context = json_loads(optarg, 0, &jerr);
            if (!json_is_object(context)) {
                rc = cli_usage_error(cmd, "--context must be a JSON object%s%s",
                                     context ? "" : ": ", context ? "" : jerr.text);
                goto out;
            }
        }
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) goto out;
    if (!action || !resource) {
        rc = cli_usage_error(cmd, "missing --%s", action ? "resource" : "action");
        goto out;
    }
    if (!authz_action_known(action)) {
        rc = cli_usage_error(cmd, "unknown action '%s'", action);
        goto out;
    }
    json_t *req = json_pack("{s:s, s:s, s:s}", "action", action, "resource", resource, "format",
                            cli->json ? "json" : "text");
    if (agent) json_object_set_new(req, "agent", json_string(agent));
    if (dest) json_object_set_new(req, "destination", json_string(dest));
    if (dir) json_object_set_new(req, "dir", json_true());
    if (context) json_object_set(req, "context", context);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body) {
        rc = cli_usage_error(cmd, "the arguments are not UTF-8");
        goto out;
    }
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) {
        free(body);
        goto out;
    }
    char *answer = NULL;
    rc = custody_policy_explain(c, body, &answer);
    free(body);
    if (rc) {
        rc = cli_fail(cli, rc, NULL);
        goto out;
    }
    print_answer(answer); /* an explanation: exit 0 whatever the decision */
    free(answer);
    rc = CLI_EXIT_OK;
out:
    json_decref(context);
    return rc;
}

/* ---- policy test ---- */

/* An entity uid from {"type", "id"}, {"__entity": {...}} or "Type::\"id\"".
 * The strings point into v (or into *scratch, to free). */
static bool parse_uid(json_t *v, struct policy_uid *out, char **scratch)
{
    *scratch = NULL;
    if (json_is_object(v) && json_object_get(v, "__entity")) v = json_object_get(v, "__entity");
    if (json_is_object(v)) {
        json_t *t = json_object_get(v, "type"), *i = json_object_get(v, "id");
        if (!json_is_string(t) || !json_is_string(i)) return false;
        policy_uid_init(out, json_string_value(t), json_string_length(t), json_string_value(i),
                        json_string_length(i));
        return true;
    }
    const char *s = json_string_value(v);
    const char *sep = s ? strstr(s, "::\"") : NULL;
    size_t l = s ? strlen(s) : 0;
    if (!sep || sep == s || l < 2 || s[l - 1] != '"' || (size_t)(sep - s) + 3 > l - 1) return false;
    *scratch = util_strdup(s);
    size_t tl = (size_t)(sep - s);
    policy_uid_init(out, *scratch, tl, *scratch + tl + 3, l - 1 - (tl + 3));
    return true;
}

static void uid_text(struct strbuf *sb, const struct policy_uid *u)
{
    sb_printf(sb, "%.*s::\"%.*s\"", (int)u->type_len, u->type, (int)u->id_len, u->id);
}

/* Compares the determining ids with a JSON array of expected ids (as sets). */
static bool ids_match(const struct policy_set *set, const struct policy_response *resp,
                      json_t *want)
{
    size_t nw = json_array_size(want);
    for (size_t i = 0; i < nw; i++) {
        const char *w = json_string_value(json_array_get(want, i));
        bool found = false;
        for (size_t k = 0; w && k < resp->nreasons && !found; k++)
            found = strcmp(policy_set_info(set, resp->reasons[k])->id, w) == 0;
        if (!found) return false;
    }
    for (size_t k = 0; k < resp->nreasons; k++) {
        const char *id = policy_set_info(set, resp->reasons[k])->id;
        bool found = false;
        for (size_t i = 0; i < nw && !found; i++) {
            const char *w = json_string_value(json_array_get(want, i));
            found = w && strcmp(w, id) == 0;
        }
        if (!found) return false;
    }
    return true;
}

static void reasons_text(const struct policy_set *set, const struct policy_response *resp,
                         struct strbuf *sb)
{
    for (size_t k = 0; k < resp->nreasons; k++)
        sb_printf(sb, "%s%s", k ? ", " : "", policy_set_info(set, resp->reasons[k])->id);
    if (!resp->nreasons) sb_puts(sb, "none");
}

struct test_run {
    const char *file;
    const struct policy_set *set;
    const struct policy_entities *es;
    struct policy_response resp;
    size_t passed, failed;
    json_t *results;
    bool json;
};

/* One test: 0 when it ran (passed or failed), else the exit status. */
static int run_test(struct test_run *tr, size_t idx, json_t *t)
{
    const char *name = jstr(t, "name");
    char fallback[32];
    if (!name) {
        snprintf(fallback, sizeof fallback, "test %zu", idx + 1);
        name = fallback;
    }
    const char *expect = jstr(t, "expect");
    json_t *want_ids = json_object_get(t, "policies");
    struct policy_request pr = {0};
    char *s1 = NULL, *s2 = NULL, *s3 = NULL;
    struct policy_doc *ctx = NULL;
    struct strbuf err = STRBUF_INIT;
    int rc = 0;
    if (!json_is_object(t) || !expect ||
        (strcmp(expect, "allow") != 0 && strcmp(expect, "deny") != 0)) {
        rc = cli_local_error(CUSTODY_EINVAL, "%s: %s: \"expect\" must be \"allow\" or \"deny\"",
                             tr->file, name);
        goto out;
    }
    if (want_ids && !json_is_array(want_ids)) {
        rc = cli_local_error(CUSTODY_EINVAL, "%s: %s: \"policies\" must be an array of ids",
                             tr->file, name);
        goto out;
    }
    if (!parse_uid(json_object_get(t, "principal"), &pr.principal, &s1) ||
        !parse_uid(json_object_get(t, "action"), &pr.action, &s2) ||
        !parse_uid(json_object_get(t, "resource"), &pr.resource, &s3)) {
        rc = cli_local_error(CUSTODY_EINVAL,
                             "%s: %s: principal, action and resource must be entity uids "
                             "({\"type\": T, \"id\": I} or \"T::\\\"I\\\"\")",
                             tr->file, name);
        goto out;
    }
    json_t *c = json_object_get(t, "context");
    if (c) {
        char *text = json_is_object(c) ? json_dumps(c, JSON_COMPACT) : NULL;
        int prc = text ? policy_doc_parse(text, strlen(text), 0, &ctx, &err) : CUSTODY_EINVAL;
        free(text);
        if (prc || policy_doc_value(ctx)->type != POLICY_RECORD) {
            rc = cli_local_error(CUSTODY_EINVAL, "%s: %s: \"context\" must be a JSON object%s%s",
                                 tr->file, name, err.len ? ": " : "", err.len ? err.buf : "");
            goto out;
        }
        pr.context = policy_doc_value(ctx);
    }
    int arc = policy_authorize(tr->set, tr->es, &pr, &tr->resp);
    bool allow = arc == 0 && tr->resp.decision == POLICY_ALLOW;
    bool want_allow = strcmp(expect, "allow") == 0;
    bool ok =
        arc == 0 && allow == want_allow && (!want_ids || ids_match(tr->set, &tr->resp, want_ids));
    struct strbuf det = STRBUF_INIT, errs = STRBUF_INIT;
    if (arc == 0) {
        reasons_text(tr->set, &tr->resp, &det);
        for (size_t k = 0; k < tr->resp.nerrors; k++)
            sb_printf(&errs, "%s%s", k ? "; " : "", tr->resp.errors[k].message);
    } else {
        sb_printf(&errs, "the decision failed: %s", custody_strerror(arc));
    }
    if (ok)
        tr->passed++;
    else
        tr->failed++;
    if (tr->json) {
        json_t *dj = json_array();
        for (size_t k = 0; arc == 0 && k < tr->resp.nreasons; k++)
            json_array_append_new(dj,
                                  json_string(policy_set_info(tr->set, tr->resp.reasons[k])->id));
        json_t *ej = json_array();
        for (size_t k = 0; arc == 0 && k < tr->resp.nerrors; k++)
            json_array_append_new(ej, json_string(tr->resp.errors[k].message));
        if (arc) json_array_append_new(ej, json_string(errs.buf));
        json_array_append_new(tr->results,
                              json_pack("{s:s, s:b, s:s, s:s, s:o, s:o}", "name", name, "ok", ok,
                                        "decision", allow ? "allow" : "deny", "expect", expect,
                                        "determining", dj, "errors", ej));
    } else if (ok) {
        printf("ok ");
        cli_print_safe(name);
        putchar('\n');
    } else {
        struct strbuf req = STRBUF_INIT;
        uid_text(&req, &pr.principal);
        sb_puts(&req, " ");
        uid_text(&req, &pr.action);
        sb_puts(&req, " ");
        uid_text(&req, &pr.resource);
        printf("FAIL ");
        cli_print_safe(name);
        printf(": got %s (determining: ", allow ? "allow" : "deny");
        cli_print_safe(det.buf);
        if (errs.len) {
            printf("; errors: ");
            cli_print_safe(errs.buf);
        }
        printf(") want %s", expect);
        if (want_ids) {
            printf(" (determining: ");
            for (size_t k = 0; k < json_array_size(want_ids); k++) {
                const char *w = json_string_value(json_array_get(want_ids, k));
                printf("%s", k ? ", " : "");
                cli_print_safe(w ? w : "?");
            }
            if (!json_array_size(want_ids)) printf("none");
            printf(")");
        }
        printf(" [");
        cli_print_safe(req.buf);
        printf("]\n");
        sb_free(&req);
    }
    sb_free(&det);
    sb_free(&errs);
out:
    free(s1);
    free(s2);
    free(s3);
    policy_doc_free(ctx);
    sb_free(&err);
    return rc;
}

static int cmd_policy_test(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy test");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *file = argv[optind];
    char *text = NULL;
    size_t len = 0;
    rc = util_read_file(file, TEST_FILE_MAX, &text, &len);
    if (rc) return cli_local_error(rc, "cannot read %s: %s", file, custody_strerror(rc));
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    free(text);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return cli_local_error(CUSTODY_EINVAL, "%s:%d:%d: not a JSON object%s%s", file, jerr.line,
                               jerr.column, doc ? "" : ": ", doc ? "" : jerr.text);
    }
    json_t *tests = json_object_get(doc, "tests");
    json_t *pol = json_object_get(doc, "policies");
    json_t *ents = json_object_get(doc, "entities");
    struct policy_set *set = NULL;
    struct policy_entities *es = NULL;
    struct strbuf err = STRBUF_INIT;
    char *ppath = NULL;
    if (!json_is_array(tests) || (pol && !json_is_string(pol)) || (ents && !json_is_array(ents))) {
        rc = cli_local_error(CUSTODY_EINVAL,
                             "%s: want {\"policies\"?: PATH, \"entities\"?: [...], \"tests\": "
                             "[...]}",
                             file);
        goto out;
    }
    if (pol) {
        const char *p = json_string_value(pol);
        const char *slash = strrchr(file, '/');
        if (p[0] == '/' || !slash) {
            ppath = util_strdup(p);
        } else {
            char *dir = util_strndup(file, (size_t)(slash - file));
            ppath = util_path_join(dir, p);
            free(dir);
        }
    } else {
        ppath = default_policy_dir(cli);
    }
    size_t nfiles = 0;
    rc = load_policies(ppath, !pol, &set, &nfiles, &err);
    if (rc) {
        print_error_lines(&err, rc);
        rc = CLI_EXIT_REFUSED;
        goto out;
    }
    es = policy_entities_new();
    if (ents) {
        char *etext = json_dumps(ents, JSON_COMPACT);
        rc = etext ? policy_entities_load_json(es, etext, strlen(etext), 0, &err) : CUSTODY_EINVAL;
        free(etext);
    } else {
        rc = policy_entities_freeze(es, &err);
    }
    if (rc) {
        rc =
            cli_local_error(rc, "%s: entities: %s", file, err.len ? err.buf : custody_strerror(rc));
        goto out;
    }
    struct test_run tr = {
        .file = file, .set = set, .es = es, .json = cli->json, .results = json_array()};
    policy_response_init(&tr.resp);
    size_t i;
    json_t *t;
    json_array_foreach(tests, i, t)
    {
        if ((rc = run_test(&tr, i, t)) != 0) break;
    }
    policy_response_free(&tr.resp);
    if (rc) {
        json_decref(tr.results);
        goto out;
    }
    if (cli->json) {
        json_t *o = json_pack("{s:I, s:I, s:o}", "passed", (json_int_t)tr.passed, "failed",
                              (json_int_t)tr.failed, "results", tr.results);
        print_json_value(o);
        json_decref(o);
    } else {
        json_decref(tr.results);
        printf("%zu passed, %zu failed\n", tr.passed, tr.failed);
    }
    rc = tr.failed ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
out:
    policy_entities_free(es);
    policy_set_free(set);
    sb_free(&err);
    free(ppath);
    json_decref(doc);
    return rc;
}

/* ---- policy replay ---- */

/* custody's action hierarchy (src/authz/map.c, docs/authz.md) */
static const struct {
    const char *name, *parent;
} g_actions[] = {
    {"readwrite", ""},          {"readonly", "readwrite"}, {"admin", ""},
    {"read", "readonly"},       {"list", "readonly"},      {"stat", "readonly"},
    {"versions", "readonly"},   {"write", "readwrite"},    {"mkdir", "readwrite"},
    {"move", "readwrite"},      {"delete", "readwrite"},   {"rollback", "readwrite"},
    {"token.mint", "admin"},    {"token.revoke", "admin"}, {"agent.add", "admin"},
    {"agent.remove", "admin"},  {"agent.revoke", "admin"}, {"agent.quarantine", "admin"},
    {"policy.reload", "admin"}, {"model.load", ""},
};

/* The data-plane actions whose decisions are re-decided. */
static bool replayable_action(const char *a)
{
    static const char *const acts[] = {"read", "write",  "list",     "stat",    "mkdir",
                                       "move", "delete", "rollback", "versions"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(acts); i++)
        if (strcmp(acts[i], a) == 0) return true;
    return false;
}

static int add_entity(struct policy_entities *es, const char *type, const char *id,
                      const struct policy_uid *parents, size_t np, struct strbuf *err)
{
    struct policy_uid u = policy_uid_make(type, id);
    int rc = policy_entities_add(es, &u, NULL, parents, np, NULL);
    if (rc == CUSTODY_EEXIST) return 0;
    if (rc) return sb_fail(err, rc, "cannot map %s::\"%s\": %s", type, id, custody_strerror(rc));
    return 0;
}

static bool label_sensitive(const char *label, const custody_root_t *r)
{
    if (!label || !*label) return false;
    for (size_t i = 0; i < r->nlabels; i++)
        if (strcasecmp(r->labels[i].key, label) == 0 || strcasecmp(r->labels[i].value, label) == 0)
            return true;
    return false;
}

/* The entity store custodyd would build (src/authz/map.c): actions, the
 * operator, roots (from custodyd) and agents (from custodyd). */
static int replay_entities(const custody_root_t *roots, size_t nroots, json_t *agents,
                           const char *sensitive_label, struct policy_entities **out,
                           struct strbuf *err)
{
    struct policy_entities *es = policy_entities_new();
    int rc = 0;
    for (size_t i = 0; !rc && i < UTIL_ARRAY_LEN(g_actions); i++) {
        struct policy_uid p = policy_uid_make("Action", g_actions[i].parent);
        rc = add_entity(es, "Action", g_actions[i].name, &p, g_actions[i].parent[0] ? 1 : 0, err);
    }
    if (!rc) rc = add_entity(es, "Operator", AUTHZ_OPERATOR_ID, NULL, 0, err);
    for (size_t i = 0; !rc && i < nroots; i++) {
        json_t *labels = json_object();
        for (size_t k = 0; k < roots[i].nlabels; k++)
            if (!json_object_get(labels, roots[i].labels[k].key))
                json_object_set_new(labels, roots[i].labels[k].key,
                                    json_string(roots[i].labels[k].value));
        json_t *attrs = json_pack("{s:o, s:s, s:b}", "labels", labels, "name", roots[i].name,
                                  "sensitive", label_sensitive(sensitive_label, &roots[i]));
        char *text = attrs ? json_dumps(attrs, JSON_COMPACT) : NULL;
        json_decref(attrs);
        struct policy_uid u = policy_uid_make("Root", roots[i].name);
        rc = text ? policy_entities_add_json(es, &u, text, strlen(text), NULL, 0, err)
                  : CUSTODY_EINVAL;
        if (rc == CUSTODY_EEXIST) rc = 0;
        free(text);
    }
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a)
    {
        if (rc) break;
        const char *name = jstr(a, "name"), *principal = jstr(a, "principal");
        if (!name) continue;
        struct policy_uid parents[AUTHZ_GROUPS_MAX + 1];
        size_t np = 0, k;
        json_t *g, *groups = json_array();
        json_array_foreach(json_object_get(a, "groups"), k, g)
        {
            const char *gs = json_string_value(g);
            if (!gs || np == AUTHZ_GROUPS_MAX) continue;
            if ((rc = add_entity(es, "Group", gs, NULL, 0, err))) break;
            parents[np++] = policy_uid_make("Group", gs);
            json_array_append_new(groups, json_string(gs));
        }
        if (!rc && principal && *principal) {
            rc = add_entity(es, "User", principal, NULL, 0, err);
            parents[np++] = policy_uid_make("User", principal);
        }
        json_t *attrs = json_pack("{s:o, s:s, s:s, s:s, s:b}", "groups", groups, "key",
                                  jstr(a, "key_fingerprint") ? jstr(a, "key_fingerprint") : "",
                                  "name", name, "principal", principal ? principal : "",
                                  "quarantined", json_is_true(json_object_get(a, "quarantined")));
        char *text = attrs ? json_dumps(attrs, JSON_COMPACT) : NULL;
        json_decref(attrs);
        struct policy_uid u = policy_uid_make("Agent", name);
        if (!rc)
            rc = text ? policy_entities_add_json(es, &u, text, strlen(text), parents, np, err)
                      : CUSTODY_EINVAL;
        if (rc == CUSTODY_EEXIST) rc = 0;
        free(text);
    }
    if (!rc) rc = policy_entities_freeze(es, err);
    if (rc) {
        if (!err->len) sb_printf(err, "cannot build the entities: %s", custody_strerror(rc));
        policy_entities_free(es);
        return rc;
    }
    *out = es;
    return 0;
}

/* One resource as a request entity (src/authz/map.c, authz_res_map). */
struct rmap {
    char *id; /* "root:/path" */
    struct policy_uid uid, root;
    struct policy_uid *parents;
    size_t np;
    bool is_root, sensitive;
    const struct policy_value *labels;
    struct policy_attr attrs[5];
    struct policy_value rec;
    struct policy_req_entity given;
};

static const struct policy_value g_empty_record = {.type = POLICY_RECORD};

static void rmap_free(struct rmap *r)
{
    free(r->id);
    free(r->parents);
    memset(r, 0, sizeof *r);
}

static int rmap_init(struct rmap *r, const struct policy_entities *es, const char *resource_id,
                     bool dir)
{
    memset(r, 0, sizeof *r);
    char *root = NULL, *path = NULL;
    int rc = custody_resource_parse(resource_id, &root, &path);
    if (rc) return rc;
    size_t rl = strlen(root), pl = strlen(path);
    struct strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s:%s", root, path);
    r->id = sb_detach(&sb);
    free(root);
    free(path);
    policy_uid_init(&r->root, "Root", 4, r->id, rl);
    const struct policy_value *ra = policy_entities_attrs(es, &r->root);
    const struct policy_value *lab = ra ? policy_record_get(ra, "labels", 6) : NULL;
    const struct policy_value *sen = ra ? policy_record_get(ra, "sensitive", 9) : NULL;
    r->labels = lab ? lab : &g_empty_record;
    r->sensitive = sen && sen->type == POLICY_BOOL && sen->u.b;
    if (pl == 1) { /* the root itself: the store's entity */
        r->uid = r->root;
        r->is_root = true;
        return 0;
    }
    const char *p = r->id + rl + 1;
    size_t depth = 0;
    for (size_t i = 1; i < pl; i++)
        if (p[i] == '/') depth++;
    r->parents = util_calloc(depth + 1, sizeof *r->parents);
    for (size_t i = pl - 1; i > 0; i--)
        if (p[i] == '/') policy_uid_init(&r->parents[r->np++], "Folder", 6, r->id, rl + 1 + i);
    r->parents[r->np++] = r->root;
    policy_uid_init(&r->uid, dir ? "Folder" : "File", dir ? 6 : 4, r->id, rl + 1 + pl);
    const char *name = strrchr(p, '/') + 1;
    r->attrs[0] = (struct policy_attr){"labels", 6, *r->labels};
    r->attrs[1] = (struct policy_attr){"name", 4, policy_string(name, strlen(name))};
    r->attrs[2] = (struct policy_attr){"path", 4, policy_string(p, pl)};
    r->attrs[3] = (struct policy_attr){"root", 4, policy_string(r->id, rl)};
    r->attrs[4] = (struct policy_attr){"sensitive", 9, policy_bool(r->sensitive)};
    rc = policy_value_record_of(r->attrs, 5, &r->rec);
    if (rc) {
        rmap_free(r);
        return rc;
    }
    r->given = (struct policy_req_entity){&r->rec, r->parents, r->np};
    return 0;
}

struct replay {
    struct policy_set *set;
    struct policy_entities *es;
    struct policy_response resp;
    bool json;
    size_t redecided, changed, skipped_pseudo, skipped_other, failed;
    json_t *changes;
};

/* One policy decision; ids gets the determining policies. <0: it failed. */
static int replay_one(struct replay *rp, const struct policy_uid *principal, const char *action,
                      const struct rmap *r, const struct policy_value *ctx, bool *allow,
                      struct strbuf *ids)
{
    struct policy_request pr = {
        .principal = *principal,
        .action = policy_uid_make("Action", action),
        .resource = r->uid,
        .context = ctx,
        .resource_entity = r->is_root ? NULL : &r->given,
    };
    int rc = policy_authorize(rp->set, rp->es, &pr, &rp->resp);
    if (rc) return rc;
    for (size_t i = 0; i < rp->resp.nreasons; i++)
        id_list_add(ids, policy_set_info(rp->set, rp->resp.reasons[i])->id);
    *allow = rp->resp.decision == POLICY_ALLOW;
    return 0;
}

static bool pseudonymous(const char *s)
{
    return s && strncmp(s, PSEUDONYM_PREFIX, strlen(PSEUDONYM_PREFIX)) == 0;
}

/* A deny decided by the policy set (not by a token, a quarantine, the
 * session or the store): custodyd's reasons (src/authz/engine.c). */
static bool policy_deny_reason(const char *reason)
{
    return reason && (strncmp(reason, "forbidden by policy", 19) == 0 ||
                      strncmp(reason, "no policy permits", 17) == 0);
}

static void replay_event(struct replay *rp, json_t *item)
{
    json_t *ev = json_object_get(item, "event");
    const char *action = jstr(ev, "action"), *decision = jstr(ev, "decision");
    const char *resource = jstr(ev, "resource_id"), *dest = jstr(ev, "destination_id");
    const char *agent = jstr(ev, "agent_id"), *reason = jstr(ev, "reason");
    const char *ts = jstr(ev, "timestamp");
    json_int_t status = json_integer_value(json_object_get(ev, "status"));
    if (!action || !decision || !replayable_action(action)) return;
    bool was_allow;
    if (strcmp(decision, "allow") == 0) {
        was_allow = true;
    } else if (strcmp(decision, "deny") == 0 ||
               (strcmp(decision, "error") == 0 && (status == 401 || status == 403))) {
        was_allow = false;
    } else {
        return; /* an error after (or before) the decision: nothing to compare */
    }
    if (pseudonymous(agent) || pseudonymous(resource) || pseudonymous(dest)) {
        rp->skipped_pseudo++;
        return;
    }
    if (!resource || (!was_allow && !policy_deny_reason(reason))) {
        rp->skipped_other++;
        return;
    }
    int64_t t = 0;
    if (!parse_rfc3339(ts, &t)) {
        rp->skipped_other++;
        return;
    }
    bool dir = strcmp(action, "list") == 0 || strcmp(action, "mkdir") == 0;
    struct rmap r, r2;
    bool has_r2 = false;
    if (rmap_init(&r, rp->es, resource, dir) != 0) {
        rp->skipped_other++;
        return;
    }
    if (dest) {
        if (rmap_init(&r2, rp->es, dest, false) != 0) {
            rmap_free(&r);
            rp->skipped_other++;
            return;
        }
        has_r2 = true;
    }
    /* the context custodyd built (src/authz/engine.c, ctx_build) */
    struct policy_attr a[5], d[4];
    struct policy_value drec, ctx;
    size_t n = 0;
    int rc = 0;
    a[n++] = (struct policy_attr){"attested", 8, policy_bool(false)};
    if (has_r2) {
        const char *p2 = r2.id + r2.root.id_len + 1;
        d[0] = (struct policy_attr){"labels", 6, *r2.labels};
        d[1] = (struct policy_attr){"path", 4, policy_string(p2, strlen(p2))};
        d[2] = (struct policy_attr){"root", 4, policy_string(r2.id, r2.root.id_len)};
        d[3] = (struct policy_attr){"sensitive", 9, policy_bool(r2.sensitive)};
        rc = policy_value_record_of(d, 4, &drec);
        a[n++] = (struct policy_attr){"destination", 11, drec};
    }
    json_t *uid = json_object_get(ev, "peer_uid");
    if (json_is_integer(uid))
        a[n++] = (struct policy_attr){"peer_uid", 8, policy_long(json_integer_value(uid))};
    json_t *len = json_object_get(json_object_get(ev, "byte_range"), "length");
    if (json_is_integer(len))
        a[n++] = (struct policy_attr){"range_length", 12, policy_long(json_integer_value(len))};
    a[n++] = (struct policy_attr){"time", 4, policy_long(t)};
    if (!rc) rc = policy_value_record_of(a, n, &ctx);

    struct policy_uid principal =
        agent ? policy_uid_make("Agent", agent) : policy_uid_make("Operator", AUTHZ_OPERATOR_ID);
    struct strbuf now_ids = STRBUF_INIT;
    bool now_allow = false;
    if (!rc) rc = replay_one(rp, &principal, action, &r, &ctx, &now_allow, &now_ids);
    if (!rc && now_allow && has_r2)
        rc = replay_one(rp, &principal, action, &r2, &ctx, &now_allow, &now_ids);
    if (rc) {
        now_allow = false; /* custodyd refuses when a decision fails */
        rp->failed++;
    }
    rp->redecided++;
    if (now_allow != was_allow) {
        rp->changed++;
        struct strbuf was_ids = STRBUF_INIT;
        size_t k;
        json_t *p;
        json_array_foreach(json_object_get(ev, "policy_ids"), k, p)
        {
            if (json_is_string(p)) id_list_add(&was_ids, json_string_value(p));
        }
        json_int_t index = json_integer_value(json_object_get(item, "index"));
        if (rp->json) {
            json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "index",
                                  (json_int_t)index, "timestamp", ts, "agent",
                                  agent ? agent : "operator", "action", action, "resource",
                                  resource, "was", was_allow ? "allow" : "deny", "was_policies",
                                  id_list_json(was_ids.buf), "now", now_allow ? "allow" : "deny",
                                  "now_policies", id_list_json(now_ids.buf));
            if (dest) json_object_set_new(o, "destination", json_string(dest));
            if (rc) json_object_set_new(o, "error", json_string(custody_strerror(rc)));
            json_array_append_new(rp->changes, o);
        } else {
            printf("%" JSON_INTEGER_FORMAT " %s %s %s ", index, ts, agent ? agent : "operator",
                   action);
            cli_print_safe(resource);
            if (dest) {
                printf(" -> ");
                cli_print_safe(dest);
            }
            printf(": was %s (", was_allow ? "allow" : "deny");
            cli_print_safe(was_ids.len ? was_ids.buf : "none");
            printf(") -> now %s (", now_allow ? "allow" : "deny");
            cli_print_safe(now_ids.len ? now_ids.buf : rc ? custody_strerror(rc) : "none");
            printf(")\n");
        }
        sb_free(&was_ids);
    }
    sb_free(&now_ids);
    rmap_free(&r);
    if (has_r2) rmap_free(&r2);
}

/* The sensitive label of custodyd's configuration ("phi" by default). */
static char *sensitive_label(struct cli *cli)
{
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    char *label = NULL;
    if (config_load(cli_state_dir(cli), &cfg, &err) == 0 && cfg && cfg->audit_sensitive_label)
        label = util_strdup(cfg->audit_sensitive_label);
    if (cfg) config_unref(cfg);
    sb_free(&err);
    return label ? label : util_strdup("phi");
}

static bool since_valid(const char *s)
{
    int64_t t;
    uint64_t u;
    return parse_rfc3339(s, &t) || util_parse_u64(s, strlen(s), &u) == 0;
}

static int cmd_policy_replay(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = POLICY_CMD("policy replay");
    enum { O_SINCE = 256, O_POLICY };
    static const struct option lo[] = {{"since", required_argument, NULL, O_SINCE},
                                       {"policy", required_argument, NULL, O_POLICY},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *since = NULL, *pdir = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == O_SINCE) {
            if (!since_valid(optarg))
                return cli_usage_error(cmd,
                                       "invalid time '%s' (RFC 3339, e.g. "
                                       "2026-11-26T07:00:00Z, or unix seconds)",
                                       optarg);
            since = optarg;
        }
        if (ch == O_POLICY) pdir = optarg;
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;

    struct replay rp = {.json = cli->json, .changes = json_array()};
    policy_response_init(&rp.resp);
    struct strbuf err = STRBUF_INIT, q = STRBUF_INIT;
    char *path = pdir ? util_strdup(pdir) : default_policy_dir(cli);
    char *label = NULL, *agents_text = NULL;
    custody_root_t *roots = NULL;
    size_t nroots = 0;
    json_t *agents = NULL;
    size_t nfiles = 0;
    rc = load_policies(path, !pdir, &rp.set, &nfiles, &err);
    if (rc) {
        print_error_lines(&err, rc);
        rc = CLI_EXIT_REFUSED;
        goto out;
    }
    custody_client_t *c = client_or_exit(cli, &rc);
    if (!c) goto out;
    if ((rc = custody_root_list(c, &roots, &nroots)) != 0 ||
        (rc = custody_agent_list(c, &agents_text)) != 0) {
        rc = cli_fail(cli, rc, NULL);
        goto out;
    }
    agents = answer_object(agents_text);
    if (!json_is_array(json_object_get(agents, "agents"))) {
        rc = malformed("/v1/agents");
        goto out;
    }
    label = sensitive_label(cli);
    rc = replay_entities(roots, nroots, json_object_get(agents, "agents"), label, &rp.es, &err);
    if (rc) {
        rc = cli_local_error(rc, "%s", err.buf ? err.buf : custody_strerror(rc));
        goto out;
    }

    /* every event since `since`, a page at a time */
    bool has_after = false;
    uint64_t after = 0;
    for (;;) {
        sb_reset(&q);
        if (since) {
            char *e = curl_easy_escape(NULL, since, 0);
            if (!e) {
                rc = cli_local_error(CUSTODY_ENOMEM, "cannot encode the query");
                goto out;
            }
            sb_printf(&q, "since=%s&", e);
            curl_free(e);
        }
        sb_printf(&q, "limit=%d", REPLAY_PAGE);
        if (has_after) sb_printf(&q, "&after=%" PRIu64, after);
        char *body = NULL;
        size_t blen = 0;
        rc = custody_audit_get(c, "search", q.buf, &body, &blen);
        if (rc) {
            rc = cli_fail(cli, rc, NULL);
            goto out;
        }
        json_t *o = json_loadb(body, blen, 0, NULL);
        free(body);
        json_t *arr = json_object_get(o, "results");
        if (!json_is_array(arr)) {
            json_decref(o);
            rc = malformed("/v1/audit/search");
            goto out;
        }
        size_t i, got = json_array_size(arr);
        json_t *item;
        uint64_t last = after;
        json_array_foreach(arr, i, item)
        {
            replay_event(&rp, item);
            json_int_t idx = json_integer_value(json_object_get(item, "index"));
            if (idx >= 0 && (!has_after || (uint64_t)idx > last)) last = (uint64_t)idx;
        }
        json_decref(o);
        if (got < REPLAY_PAGE || (has_after && last <= after)) break;
        after = last;
        has_after = true;
    }

    char hash[UTIL_SHA256_HEX_LEN + 1];
    policy_set_hash(rp.set, hash);
    if (rp.json) {
        json_t *o = json_pack("{s:s+, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "policy_hash",
                              "sha256:", hash, "policy_path", path, "redecided",
                              (json_int_t)rp.redecided, "changed", (json_int_t)rp.changed,
                              "skipped_pseudonymized", (json_int_t)rp.skipped_pseudo,
                              "skipped_not_policy", (json_int_t)rp.skipped_other, "failed",
                              (json_int_t)rp.failed, "changes", rp.changes);
        rp.changes = NULL;
        print_json_value(o);
        json_decref(o);
    } else {
        printf("%zu event%s re-decided, %zu would change (candidate policy set sha256:%s, "
               "%zu polic%s)\n",
               rp.redecided, rp.redecided == 1 ? "" : "s", rp.changed, hash,
               policy_set_count(rp.set), policy_set_count(rp.set) == 1 ? "y" : "ies");
        if (rp.skipped_pseudo)
            printf("%zu skipped: pseudonymized identifiers cannot be re-decided\n",
                   rp.skipped_pseudo);
        if (rp.skipped_other)
            printf("%zu skipped: refused before the policy decision (token, quarantine, "
                   "session, path)\n",
                   rp.skipped_other);
        if (rp.failed)
            printf("%zu decisions failed under the candidate set (counted as deny)\n", rp.failed);
    }
    rc = CLI_EXIT_OK;
out:
    json_decref(rp.changes);
    policy_response_free(&rp.resp);
    policy_entities_free(rp.es);
    policy_set_free(rp.set);
    custody_roots_free(roots, nroots);
    json_decref(agents);
    free(agents_text);
    free(label);
    free(path);
    sb_free(&err);
    sb_free(&q);
    return rc;
}

/* ================================================================ tables */

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

const char cli_token_details[] =
    "subcommands:\n"
    "  mint --agent A --action X[,Y] --resource R [--ttl S] [--range F-L]\n"
    "                      a capability token, after a policy decision\n"
    "  inspect TOKEN|-     its id, caveats and effective claims (offline)\n"
    "  attenuate TOKEN|- --caveat C...\n"
    "                      a narrower token (offline, no key needed)\n"
    "  revoke ID           revoke one token by its id\n"
    "\nsee 'custody token SUBCOMMAND --help', docs/tokens.md and docs/authz.md.\n";

const char cli_policy_details[] =
    "subcommands:\n"
    "  check [DIR|FILE...]  parse policies offline (default STATE/policy)\n"
    "  show                 the set in force: ids, effects, files, hash\n"
    "  reload               re-read STATE/policy in custodyd (atomic)\n"
    "  explain --action X --resource R [--agent A] [--destination R2] [--context JSON]\n"
    "                       why a request would be allowed or refused\n"
    "  test FILE            run policy tests (JSON) offline, for CI\n"
    "  replay [--since T] [--policy DIR]\n"
    "                       re-decide the audit log's decisions under candidate policies\n"
    "\nsee 'custody policy SUBCOMMAND --help', docs/policy.md and docs/authz.md.\n";

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

const struct cli_command cli_policy_commands[] = {
    {"policy check", cmd_policy_check, "policy check [DIR|FILE...] [--json]",
     "Parse policies offline, as custodyd would (default: STATE/policy).",
     "A directory is read like custodyd reads STATE/policy (its *.cedar files in name\n"
     "order, @id annotations as ids). Errors are printed as FILE:LINE:COLUMN: message\n"
     "and the exit status is 1.\n"
     "options:\n  --json   {ok, results: [{path, ok, policies, files, hash | error}]}\n"},
    {"policy show", cmd_policy_show, "policy show [--json]",
     "Show the policy set in force: ids, effects, files and its hash.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"policy reload", cmd_policy_reload, "policy reload [--json]",
     "Make custodyd re-read STATE/policy; on an error the running set stays.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"policy explain", cmd_policy_explain,
     "policy explain [--agent A] --action X --resource R [--destination R2] [--dir]\n"
     "                      [--context JSON] [--json]",
     "Explain, policy by policy, why custodyd would allow or refuse a request.",
     "The exit status is 0 whatever the decision.\n"
     "options:\n"
     "  --agent A          the agent asking (default: the operator)\n"
     "  --action X         read, write, list, stat, mkdir, move, delete, ...\n"
     "  --resource R       ROOT:/PATH\n"
     "  --destination R2   a move's destination\n"
     "  --dir              the resource is a directory (Folder)\n"
     "  --context JSON     extra context attributes, e.g. '{\"attested\": true}'\n"
     "  --json             custodyd's explanation as JSON\n"
     "\nexample:\n"
     "  custody policy explain --agent demo --action read --resource demo:/hello.txt\n"},
    {"policy test", cmd_policy_test, "policy test FILE [--json]",
     "Run policy tests offline: expected decisions for given requests (for CI).",
     "FILE is JSON:\n"
     "  {\"policies\": \"DIR or FILE (relative to FILE; default STATE/policy)\",\n"
     "   \"entities\": [Cedar JSON entities, with Action hierarchies if needed],\n"
     "   \"tests\": [{\"name\": \"...\", \"principal\": {\"type\": \"Agent\", \"id\": \"demo\"},\n"
     "              \"action\": {\"type\": \"Action\", \"id\": \"read\"},\n"
     "              \"resource\": {\"type\": \"File\", \"id\": \"demo:/a.txt\"},\n"
     "              \"context\": {...}, \"expect\": \"allow\" | \"deny\",\n"
     "              \"policies\": [\"expected determining ids\"]}]}\n"
     "Prints 'ok NAME' or 'FAIL NAME: ...' per test and 'N passed, M failed';\n"
     "the exit status is 1 when a test failed.\n"
     "options:\n  --json   {passed, failed, results}\n"},
    {"policy replay", cmd_policy_replay, "policy replay [--since T] [--policy DIR] [--json]",
     "Re-decide the audit log's decisions under candidate policies; list the changes.",
     "Each data-plane event (read, write, list, stat, mkdir, move, delete, rollback,\n"
     "versions) decided allow or deny by policy is decided again with the candidate\n"
     "set over today's agents and roots; each decision that would change is printed:\n"
     "  INDEX TIME AGENT ACTION RESOURCE: was allow (POLICIES) -> now deny (POLICIES)\n"
     "Events with pseudonymized identifiers cannot be re-decided and are counted as\n"
     "skipped, as are refusals that came before the policy (token, quarantine).\n"
     "options:\n"
     "  --since T      only events from T on (RFC 3339 or unix seconds)\n"
     "  --policy DIR   the candidate set: a directory of .cedar files or one file\n"
     "                 (default STATE/policy)\n"
     "  --json         {redecided, changed, skipped_*, changes: [...]}\n"
     "\nexample:\n  custody policy replay --policy ./policy-next --since 2026-11-01T00:00:00Z\n"},
};
const unsigned cli_npolicy_commands = UTIL_ARRAY_LEN(cli_policy_commands);

/* ---- dispatch ---- */

static int dispatch(struct cli *cli, const char *family, const struct cli_command *tab, unsigned n,
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
    const struct cli_command *cmd = sub[0] != '-' ? find_in(tab, n, full.buf) : NULL;
    sb_free(&full);
    if (!cmd) {
        fprintf(stderr, "custody %s: unknown subcommand '%s'\nusage: custody %s SUBCOMMAND\n%s",
                family, sub, family, details);
        return CLI_EXIT_USAGE;
    }
    return cmd->fn(cli, argc - 1, argv + 1);
}

int cli_cmd_agent(struct cli *cli, int argc, char **argv)
{
    return dispatch(cli, "agent", cli_agent_commands, cli_nagent_commands, cli_agent_details, argc,
                    argv);
}

int cli_cmd_token(struct cli *cli, int argc, char **argv)
{
    return dispatch(cli, "token", cli_token_commands, cli_ntoken_commands, cli_token_details, argc,
                    argv);
}

int cli_cmd_policy(struct cli *cli, int argc, char **argv)
{
    return dispatch(cli, "policy", cli_policy_commands, cli_npolicy_commands, cli_policy_details,
                    argc, argv);
}
