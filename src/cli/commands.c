/*
 * commands.c — one function per `custody` command (docs/cli.md). Each parses
 * its own options strictly with getopt_long (unknown options and wrong
 * operand counts are usage errors, exit 2) and returns the exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "util/util.h"

/* ---- option parsing ---- */

/* OPT_HELP, OPT_JSON, OPT_END, OPT_DONE and OPT_EXIT are in cli.h */

/* Starts parsing a command's argv (argv[0] is the command name). */
void cli_opts_begin(void)
{
    optind = 0; /* GNU: full re-initialisation */
    opterr = 0;
}

/* Next option of a command: its value, OPT_DONE at the operands, or
 * OPT_EXIT with *exit_rc set (--help printed, or a usage error). --help and
 * --json are handled here. shortopts must start with ':'. */
int cli_next_opt(struct cli *cli, const struct cli_command *cmd, int argc, char **argv,
                    const char *shortopts, const struct option *longopts, int *exit_rc)
{
    for (;;) {
        int ch = getopt_long(argc, argv, shortopts, longopts, NULL);
        switch (ch) {
        case -1:
            return OPT_DONE;
        case 'h':
            *exit_rc = cli_command_help(cmd);
            return OPT_EXIT;
        case 'j':
            cli->json = true;
            continue;
        case ':':
            *exit_rc = cli_usage_error(cmd, "option '%s' needs an argument", argv[optind - 1]);
            return OPT_EXIT;
        case '?':
            if (optopt)
                *exit_rc = cli_usage_error(cmd, "unknown option '-%c'", optopt);
            else
                *exit_rc = cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            return OPT_EXIT;
        default:
            return ch;
        }
    }
}

int cli_operands(const struct cli_command *cmd, int argc, int min, int max, int *exit_rc)
{
    int n = argc - optind;
    if (n < min) {
        *exit_rc = cli_usage_error(cmd, "missing operand");
        return -1;
    }
    if (n > max) {
        *exit_rc = cli_usage_error(cmd, "too many operands");
        return -1;
    }
    return n;
}

static bool check_resource(const struct cli_command *cmd, const char *id, int *exit_rc)
{
    char *root = NULL, *path = NULL;
    if (custody_resource_parse(id, &root, &path) != 0) {
        *exit_rc = cli_usage_error(cmd, "invalid resource id '%s' (expected ROOT:/PATH)", id);
        return false;
    }
    free(root);
    free(path);
    return true;
}

/* Parses the options of a command that takes only --help and --json.
 * False (with *exit_rc set) when the command should end here. */
bool cli_common_opts(struct cli *cli, const struct cli_command *cmd, int argc,
                             char **argv, int *exit_rc)
{
    static const struct option lo[] = {OPT_HELP, OPT_JSON, OPT_END};
    int ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, exit_rc)) != OPT_DONE)
        if (ch == OPT_EXIT) return false;
    return true;
}

/* The common start of a command on one resource: exactly one ROOT:/PATH
 * operand, then a client. NULL with *exit_rc set when either fails. */
static custody_client_t *one_resource(struct cli *cli, const struct cli_command *cmd, int argc,
                                      char **argv, const char **id, int *exit_rc)
{
    if (cli_operands(cmd, argc, 1, 1, exit_rc) < 0)
        return NULL;
    *id = argv[optind];
    if (!check_resource(cmd, *id, exit_rc))
        return NULL;
    custody_client_t *c = cli_client(cli);
    if (!c)
        *exit_rc = CLI_EXIT_USAGE;
    return c;
}

static bool parse_positive(const char *s, int64_t *out)
{
    uint64_t v;
    if (util_parse_u64(s, strlen(s), &v) != 0 || v == 0 || v > INT64_MAX) return false;
    *out = (int64_t)v;
    return true;
}

/* --consent TOKEN: checked here (usage error), sent with the change. */
static bool consent_arg_ok(const struct cli_command *cmd, const char *token, int *exit_rc)
{
    bool ok = cli_consent_ok(token);
    if (!ok)
        *exit_rc = cli_usage_error(cmd, "invalid --consent (1 to %d bytes of printable ASCII)",
                                   CUSTODY_CONSENT_MAX);
    return ok;
}

/* Sends the consent token (when given) with the change that follows. */
static int use_consent(struct cli *cli, custody_client_t *c, const char *token)
{
    if (!token) return CLI_EXIT_OK;
    int rc = custody_client_set_consent(c, token);
    return rc ? cli_fail(cli, rc, NULL) : CLI_EXIT_OK;
}

/* ---- output helpers ---- */

/* Prints a name with control characters escaped (\xNN), so listings cannot
 * drive the terminal. */
static void print_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            printf("\\x%02x", *p);
        else
            putchar(*p);
    }
}

/* "2026-11-26T07:14:00.123Z" -> "2026-11-26 07:14:00"; "" -> "-". */
static void fmt_time(const char *rfc3339, char out[32])
{
    if (!rfc3339 || !*rfc3339) {
        util_strlcpy(out, "-", 32);
        return;
    }
    if (strlen(rfc3339) >= 19 && rfc3339[10] == 'T') {
        memcpy(out, rfc3339, 19);
        out[10] = ' ';
        out[19] = '\0';
        return;
    }
    util_strlcpy(out, rfc3339, 32);
}

static void print_json_value(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
    if (s) {
        puts(s);
        free(s);
    }
}

void cli_print_safe(const char *s)
{
    print_safe(s);
}

/* ---- init ---- */

struct init_piece {
    const char *rel;
    const char *what;
};

static const struct init_piece init_pieces[] = {
    {CONFIG_FILE, "configuration (commented; edit to taste)"},
    {CONFIG_ROOTS_FILE, "registered roots (demo -> demo/)"},
    {"keys/node.ed25519", "node signing key (0600)"},
    {"keys/node.pub", "node public key"},
    {"tls/key.pem", "development TLS key (0600)"},
    {"tls/cert.pem", "self-signed development TLS certificate"},
    {"demo", "the demo root, with a few files"},
    {"store", "the version store"},
};

static int cmd_init(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("init");
    static const struct option lo[] = {{"state", required_argument, NULL, 's'}, OPT_HELP, OPT_END};
    const char *state = cli->state_arg;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 's') state = optarg;
    }
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    free(cli->state_dir);
    cli->state_arg = state;
    cli->state_dir = NULL;
    const char *dir = cli_state_dir(cli);

    bool existed[UTIL_ARRAY_LEN(init_pieces)];
    struct stat sb;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(init_pieces); i++) {
        char *p = util_path_join(dir, init_pieces[i].rel);
        existed[i] = lstat(p, &sb) == 0;
        free(p);
    }
    bool dir_existed = stat(dir, &sb) == 0;

    struct strbuf err = STRBUF_INIT;
    rc = state_init(dir, &err);
    if (rc) {
        while (err.len && err.buf[err.len - 1] == '\n')
            err.buf[--err.len] = '\0';
        fprintf(stderr, "custody: cannot initialise %s: %s (%s)\n", dir,
                err.len ? err.buf : custody_strerror(rc), custody_err_code(rc));
        sb_free(&err);
        return CLI_EXIT_LOCAL;
    }
    sb_free(&err);

    unsigned created = 0;
    for (size_t i = 0; i < UTIL_ARRAY_LEN(init_pieces); i++) {
        char *p = util_path_join(dir, init_pieces[i].rel);
        bool now = lstat(p, &sb) == 0;
        free(p);
        if (now && !existed[i]) {
            if (!created)
                printf("%s custody state directory %s\n", dir_existed ? "completed" : "initialised",
                       dir);
            printf("  created %-18s %s\n", init_pieces[i].rel, init_pieces[i].what);
            created++;
        }
    }
    if (!created)
        printf("custody state directory %s is already initialised (nothing to create)\n", dir);
    printf("\nstart the daemon with:\n  custodyd --state %s\n"
           "then try:\n  custody --state %s ls demo:/\n",
           dir, dir);
    return CLI_EXIT_OK;
}

/* ---- status ---- */

static int cmd_status(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("status");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = cli_client(cli);
    if (!c) return CLI_EXIT_USAGE;
    char *js = NULL;
    rc = custody_status(c, &js);
    if (rc) return cli_fail(cli, rc, NULL);
    json_error_t jerr;
    json_t *o = cli->json ? NULL : json_loads(js, 0, &jerr);
    if (!json_is_object(o)) {
        cli_print_last_json(cli);
    } else {
        const char *ver = json_string_value(json_object_get(o, "version"));
        printf("custodyd %s, pid %" JSON_INTEGER_FORMAT ", up %" JSON_INTEGER_FORMAT "s\n",
               ver ? ver : "?", json_integer_value(json_object_get(o, "pid")),
               json_integer_value(json_object_get(o, "uptime_s")));
        const char *sd = json_string_value(json_object_get(o, "state_dir"));
        const char *node = json_string_value(json_object_get(o, "node"));
        printf("state dir:   %s\n", sd ? sd : "-");
        printf("node:        %s\n", node ? node : "-");
        json_t *ls = json_object_get(o, "listeners");
        size_t i;
        json_t *l;
        json_array_foreach(ls, i, l)
        {
            const char *kind = json_string_value(json_object_get(l, "kind"));
            const char *addr = json_string_value(json_object_get(l, "address"));
            printf("listener:    %s %s\n", kind ? kind : "?", addr ? addr : "?");
        }
        printf("connections: %" JSON_INTEGER_FORMAT "\n",
               json_integer_value(json_object_get(o, "connections")));
        printf("requests:    %" JSON_INTEGER_FORMAT "\n",
               json_integer_value(json_object_get(o, "requests")));
        printf("roots:       %" JSON_INTEGER_FORMAT "\n",
               json_integer_value(json_object_get(o, "roots")));
        printf("draining:    %s\n", json_is_true(json_object_get(o, "draining")) ? "yes" : "no");
    }
    json_decref(o);
    free(js);
    return CLI_EXIT_OK;
}

/* ---- cat ---- */

static int cmd_cat(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("cat");
    static const struct option lo[] = {{"range", required_argument, NULL, 'r'},
                                       {"version", required_argument, NULL, 'v'},
                                       OPT_HELP,
                                       OPT_END};
    custody_range_t range;
    bool has_range = false;
    int64_t version = 0;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'r') {
            if (custody_range_parse(optarg, &range) != 0)
                return cli_usage_error(cmd, "invalid range '%s' (A-B, A- or -N)", optarg);
            has_range = true;
        } else if (ch == 'v') {
            if (!parse_positive(optarg, &version))
                return cli_usage_error(cmd, "invalid version '%s'", optarg);
        }
    }
    const char *id = NULL;
    custody_client_t *c = one_resource(cli, cmd, argc, argv, &id, &rc);
    if (!c) return rc;
    fflush(stdout);
    rc = custody_get(c, id, has_range ? &range : NULL, version, STDOUT_FILENO, NULL);
    if (rc) return cli_fail(cli, rc, id);
    return CLI_EXIT_OK;
}

/* ---- put ---- */

static void print_write(const char *verb, const char *id, const custody_write_result_t *res)
{
    printf("%s %s (%" PRIu64 " bytes, sha256 %s", verb, id, res->size, res->sha256);
    if (res->version > 0) printf(", version %" PRId64, res->version);
    printf(")\n");
}

static int cmd_put(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("put");
    static const struct option lo[] = {{"if-match", required_argument, NULL, 'm'},
                                       {"create-only", no_argument, NULL, 'c'},
                                       {"consent", required_argument, NULL, 'C'},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    custody_put_opts_t po = {NULL, 0};
    const char *consent = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'm') {
            if (!*optarg) return cli_usage_error(cmd, "empty --if-match");
            po.if_match = optarg;
        } else if (ch == 'c') {
            po.create_only = 1;
        } else if (ch == 'C') {
            if (!consent_arg_ok(cmd, optarg, &rc)) return rc;
            consent = optarg;
        }
    }
    if (po.if_match && po.create_only)
        return cli_usage_error(cmd, "--if-match and --create-only exclude each other");
    int n = cli_operands(cmd, argc, 1, 2, &rc);
    if (n < 0) return rc;
    const char *id = argv[optind];
    const char *file = n == 2 ? argv[optind + 1] : "-";
    if (!check_resource(cmd, id, &rc)) return rc;
    int fd = STDIN_FILENO;
    if (strcmp(file, "-") != 0) {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return cli_local_error(custody_err_from_errno(errno), "cannot open %s: %s", file,
                                   strerror(errno));
    } else if (isatty(STDIN_FILENO)) {
        fprintf(stderr, "custody: reading the content from stdin (end with Ctrl-D)\n");
    }
    custody_client_t *c = cli_client(cli);
    if (!c || (rc = use_consent(cli, c, consent)) != CLI_EXIT_OK) {
        if (fd != STDIN_FILENO) close(fd);
        return c ? rc : CLI_EXIT_USAGE;
    }
    custody_write_result_t res;
    rc = custody_put_fd(c, id, fd, &po, &res);
    if (fd != STDIN_FILENO) close(fd);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json)
        cli_print_last_json(cli);
    else
        print_write("wrote", id, &res);
    return CLI_EXIT_OK;
}

/* ---- ls ---- */

static void print_entry_row(const char *type, uint64_t size, const char *mtime, const char *name,
                            bool dir, int sizew)
{
    char t[32];
    fmt_time(mtime, t);
    printf("%-7s %*" PRIu64 "  %-19s  ", type, sizew, size, t);
    print_safe(name);
    if (dir) putchar('/');
    putchar('\n');
}

static const char *base_name(const char *id)
{
    const char *slash = strrchr(id, '/');
    if (slash && slash[1]) return slash + 1;
    return id;
}

/* `ls` on a file: one row, like ls(1). */
static int ls_file(struct cli *cli, const char *id)
{
    custody_stat_t st;
    int rc = custody_stat(cli->client, id, &st);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json) {
        json_t *o = json_pack("{s:s,s:[{s:s,s:s,s:I,s:s}],s:b}", "resource", id, "entries", "name",
                              base_name(id), "type", custody_type_name(st.type), "size",
                              (json_int_t)st.size, "mtime", st.mtime, "truncated", 0);
        print_json_value(o);
        json_decref(o);
        return CLI_EXIT_OK;
    }
    char tmp[32];
    int sizew = snprintf(tmp, sizeof tmp, "%" PRIu64, st.size);
    if (sizew < 4) sizew = 4;
    printf("%-7s %*s  %-19s  %s\n", "TYPE", sizew, "SIZE", "MTIME", "NAME");
    print_entry_row(custody_type_name(st.type), st.size, st.mtime, base_name(id), false, sizew);
    return CLI_EXIT_OK;
}

static int cmd_ls(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("ls");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    const char *id = NULL;
    custody_client_t *c = one_resource(cli, cmd, argc, argv, &id, &rc);
    if (!c) return rc;
    custody_dirent_t *d = NULL;
    size_t n = 0;
    int truncated = 0;
    rc = custody_list(c, id, &d, &n, &truncated);
    if (rc == CUSTODY_ENOTDIR && custody_client_last_error_source(c) == CUSTODY_ERRSRC_SERVER)
        return ls_file(cli, id);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json) {
        cli_print_last_json(cli);
    } else {
        int sizew = 4;
        for (size_t i = 0; i < n; i++) {
            char tmp[32];
            int w = snprintf(tmp, sizeof tmp, "%" PRIu64, d[i].size);
            if (w > sizew) sizew = w;
        }
        printf("%-7s %*s  %-19s  %s\n", "TYPE", sizew, "SIZE", "MTIME", "NAME");
        for (size_t i = 0; i < n; i++)
            print_entry_row(custody_type_name(d[i].type), d[i].size, d[i].mtime, d[i].name,
                            d[i].type == CUSTODY_TYPE_DIR, sizew);
    }
    if (truncated)
        fprintf(stderr, "custody: listing of %s truncated by custodyd (limits.list_max_entries)\n",
                id);
    custody_dirents_free(d, n);
    return CLI_EXIT_OK;
}

/* ---- stat ---- */

static int cmd_stat(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("stat");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    const char *id = NULL;
    custody_client_t *c = one_resource(cli, cmd, argc, argv, &id, &rc);
    if (!c) return rc;
    custody_stat_t st;
    rc = custody_stat(c, id, &st);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json) {
        json_t *o = json_pack("{s:s,s:s,s:I}", "resource", id, "type", custody_type_name(st.type),
                              "size", (json_int_t)st.size);
        json_object_set_new(o, "mtime", st.mtime[0] ? json_string(st.mtime) : json_null());
        if (st.sha256[0]) {
            char etag[CUSTODY_SHA256_HEX_LEN + 3];
            snprintf(etag, sizeof etag, "\"%s\"", st.sha256);
            json_object_set_new(o, "sha256", json_string(st.sha256));
            json_object_set_new(o, "etag", json_string(etag));
        }
        if (st.content_type[0])
            json_object_set_new(o, "content_type", json_string(st.content_type));
        print_json_value(o);
        json_decref(o);
        return CLI_EXIT_OK;
    }
    printf("resource: ");
    print_safe(id);
    printf("\ntype:     %s\n", custody_type_name(st.type));
    printf("size:     %" PRIu64 "\n", st.size);
    printf("mtime:    %s\n", st.mtime[0] ? st.mtime : "-");
    if (st.sha256[0]) {
        printf("sha256:   %s\n", st.sha256);
        printf("etag:     \"%s\"\n", st.sha256);
    }
    if (st.content_type[0]) printf("content:  %s\n", st.content_type);
    return CLI_EXIT_OK;
}

/* ---- mkdir ---- */

static int cmd_mkdir(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("mkdir");
    static const struct option lo[] = {
        {"parents", no_argument, NULL, 'p'}, OPT_HELP, OPT_JSON, OPT_END};
    int parents = 0, rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":hp", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'p') parents = 1;
    }
    const char *id = NULL;
    custody_client_t *c = one_resource(cli, cmd, argc, argv, &id, &rc);
    if (!c) return rc;
    rc = custody_mkdir(c, id, parents);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json)
        cli_print_last_json(cli);
    else
        printf("created directory %s\n", id);
    return CLI_EXIT_OK;
}

/* ---- mv ---- */

static int cmd_mv(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("mv");
    static const struct option lo[] = {{"overwrite", no_argument, NULL, 'o'},
                                       {"consent", required_argument, NULL, 'C'},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *consent = NULL;
    int overwrite = 0, rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'o') overwrite = 1;
        if (ch == 'C') {
            if (!consent_arg_ok(cmd, optarg, &rc)) return rc;
            consent = optarg;
        }
    }
    if (cli_operands(cmd, argc, 2, 2, &rc) < 0) return rc;
    const char *from = argv[optind], *to = argv[optind + 1];
    if (!check_resource(cmd, from, &rc)) return rc;
    if (to[0] != '/' && !check_resource(cmd, to, &rc)) return rc;
    custody_client_t *c = cli_client(cli);
    if (!c) return CLI_EXIT_USAGE;
    if ((rc = use_consent(cli, c, consent)) != CLI_EXIT_OK) return rc;
    rc = custody_move(c, from, to, overwrite);
    if (rc) return cli_fail(cli, rc, from);
    if (cli->json)
        cli_print_last_json(cli);
    else
        printf("moved %s to %s\n", from, to);
    return CLI_EXIT_OK;
}

/* ---- rm ---- */

static int cmd_rm(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("rm");
    static const struct option lo[] = {{"if-match", required_argument, NULL, 'm'},
                                       {"consent", required_argument, NULL, 'C'},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    const char *if_match = NULL, *consent = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'm') if_match = optarg;
        if (ch == 'C') {
            if (!consent_arg_ok(cmd, optarg, &rc)) return rc;
            consent = optarg;
        }
    }
    const char *id = NULL;
    custody_client_t *c = one_resource(cli, cmd, argc, argv, &id, &rc);
    if (!c) return rc;
    if ((rc = use_consent(cli, c, consent)) != CLI_EXIT_OK) return rc;
    rc = custody_delete(c, id, if_match);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json)
        cli_print_last_json(cli);
    else
        printf("deleted %s\n", id);
    return CLI_EXIT_OK;
}

/* ---- versions ---- */

static int cmd_versions(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("versions");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    const char *id = NULL;
    custody_client_t *c = one_resource(cli, cmd, argc, argv, &id, &rc);
    if (!c) return rc;
    custody_version_t *v = NULL;
    size_t n = 0;
    rc = custody_versions(c, id, &v, &n);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json) {
        cli_print_last_json(cli);
    } else {
        int sizew = 4;
        for (size_t i = 0; i < n; i++) {
            char tmp[32];
            int w = snprintf(tmp, sizeof tmp, "%" PRIu64, v[i].size);
            if (w > sizew) sizew = w;
        }
        printf("%7s  %-9s %*s  %-19s  %s\n", "VERSION", "OP", sizew, "SIZE", "TIME", "SHA256");
        for (size_t i = 0; i < n; i++) {
            char t[32];
            fmt_time(v[i].time, t);
            printf("%7" PRId64 "  %-9s %*" PRIu64 "  %-19s  %s%s\n", v[i].version,
                   v[i].op[0] ? v[i].op : "-", sizew, v[i].size, t,
                   v[i].sha256[0] ? v[i].sha256 : "-",
                   v[i].available || !v[i].sha256[0] ? "" : " (unavailable)");
        }
    }
    custody_versions_free(v, n);
    return CLI_EXIT_OK;
}

/* ---- rollback ---- */

static int cmd_rollback(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("rollback");
    static const struct option lo[] = {{"to", required_argument, NULL, 't'},
                                       {"consent", required_argument, NULL, 'C'},
                                       OPT_HELP,
                                       OPT_JSON,
                                       OPT_END};
    int64_t version = 0;
    const char *consent = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 't' && !parse_positive(optarg, &version))
            return cli_usage_error(cmd, "invalid version '%s'", optarg);
        if (ch == 'C') {
            if (!consent_arg_ok(cmd, optarg, &rc)) return rc;
            consent = optarg;
        }
    }
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    if (version == 0) return cli_usage_error(cmd, "missing --to VERSION");
    const char *id = argv[optind];
    if (!check_resource(cmd, id, &rc)) return rc;
    custody_client_t *c = cli_client(cli);
    if (!c) return CLI_EXIT_USAGE;
    if ((rc = use_consent(cli, c, consent)) != CLI_EXIT_OK) return rc;
    custody_write_result_t res;
    rc = custody_rollback(c, id, version, &res);
    if (rc) return cli_fail(cli, rc, id);
    if (cli->json) {
        cli_print_last_json(cli);
    } else {
        printf("rolled back %s to version %" PRId64 " (%" PRIu64 " bytes, sha256 %s", id, version,
               res.size, res.sha256);
        if (res.version > 0) printf(", now version %" PRId64, res.version);
        printf(")\n");
    }
    return CLI_EXIT_OK;
}

/* ---- root add / root ls ---- */

static void print_labels(const custody_label_t *l, size_t n)
{
    if (!n) {
        putchar('-');
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i) putchar(',');
        print_safe(l[i].key);
        putchar('=');
        print_safe(l[i].value);
    }
}

static int cmd_root_add(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("root add");
    static const struct option lo[] = {
        {"label", required_argument, NULL, 'l'}, OPT_HELP, OPT_JSON, OPT_END};
    custody_label_t *labels = NULL;
    size_t nlabels = 0;
    int rc = 0, ch, exit_rc = CLI_EXIT_OK;
    char *abs = NULL;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) {
            exit_rc = rc;
            goto out;
        }
        if (ch == 'l') {
            custody_label_t l;
            if (custody_label_parse(optarg, &l) != 0) {
                exit_rc = cli_usage_error(
                    cmd, "invalid label '%s' (KEY=VALUE, KEY of [A-Za-z0-9_.-])", optarg);
                goto out;
            }
            for (size_t i = 0; i < nlabels; i++) {
                if (strcmp(labels[i].key, l.key) == 0) {
                    exit_rc = cli_usage_error(cmd, "label '%s' given twice", l.key);
                    custody_label_clear(&l);
                    goto out;
                }
            }
            labels = util_realloc(labels, (nlabels + 1) * sizeof *labels);
            labels[nlabels++] = l;
        }
    }
    if (cli_operands(cmd, argc, 2, 2, &rc) < 0) {
        exit_rc = rc;
        goto out;
    }
    const char *name = argv[optind], *path = argv[optind + 1];
    abs = realpath(path, NULL);
    if (!abs) {
        exit_rc = cli_local_error(custody_err_from_errno(errno), "cannot resolve %s: %s", path,
                                  strerror(errno));
        goto out;
    }
    custody_client_t *c = cli_client(cli);
    if (!c) {
        exit_rc = CLI_EXIT_USAGE;
        goto out;
    }
    custody_root_t root = {0};
    rc = custody_root_add(c, name, abs, labels, nlabels, &root);
    if (rc) {
        exit_rc = cli_fail(cli, rc, NULL);
        goto out;
    }
    if (cli->json) {
        cli_print_last_json(cli);
    } else {
        printf("added root %s -> %s (", root.name, root.path);
        print_labels(root.labels, root.nlabels);
        printf(")\n");
    }
    custody_root_free(&root);
out:
    for (size_t i = 0; i < nlabels; i++)
        custody_label_clear(&labels[i]);
    free(labels);
    free(abs);
    return exit_rc;
}

static int cmd_root_ls(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("root ls");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    custody_client_t *c = cli_client(cli);
    if (!c) return CLI_EXIT_USAGE;
    custody_root_t *r = NULL;
    size_t n = 0;
    rc = custody_root_list(c, &r, &n);
    if (rc) return cli_fail(cli, rc, NULL);
    if (cli->json) {
        cli_print_last_json(cli);
    } else {
        int namew = 4;
        for (size_t i = 0; i < n; i++)
            if ((int)strlen(r[i].name) > namew) namew = (int)strlen(r[i].name);
        printf("%-*s  %s  %s\n", namew, "NAME", "PATH", "LABELS");
        for (size_t i = 0; i < n; i++) {
            printf("%-*s  ", namew, r[i].name);
            print_safe(r[i].path);
            printf("  ");
            print_labels(r[i].labels, r[i].nlabels);
            putchar('\n');
        }
    }
    custody_roots_free(r, n);
    return CLI_EXIT_OK;
}

/* ---- the table ---- */

const struct cli_command cli_commands[] = {
    {"init", cmd_init, "init [--state DIR]",
     "Create a state directory (config, keys, TLS cert, demo root); no daemon needed.",
     "options:\n"
     "  --state DIR   the directory to create (default: the global --state, $CUSTODY_STATE,\n"
     "                else ./var/custody)\n"
     "\nNever overwrites an existing file; running it again only adds what is missing.\n"
     "\nexample:\n  custody init --state var/custody && custodyd --state var/custody\n"},
    {"status", cmd_status, "status [--json]", "Show custodyd's status.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"cat", cmd_cat, "cat ROOT:/PATH [--range A-B|A-|-N] [--version N]",
     "Write a file's bytes (or a byte range, or an old version) to stdout.",
     "options:\n"
     "  --range A-B   bytes A..B inclusive; A- from A to the end; -N the last N bytes\n"
     "  --version N   read version N (see 'custody versions')\n"
     "\nexamples:\n"
     "  custody cat demo:/hello.txt\n"
     "  custody cat demo:/big.bin --range 0-1023 > head.bin\n"
     "  custody cat demo:/a.txt --version 2\n"},
    {"put", cmd_put, "put ROOT:/PATH [FILE|-] [--if-match ETAG] [--create-only] [--consent TOKEN]",
     "Write a file atomically from FILE, or from stdin when FILE is - or absent.",
     "options:\n"
     "  --if-match ETAG   replace only if the current content has this sha256/ETag\n"
     "                    ('*': only if the file exists)\n"
     "  --create-only     fail (precondition_failed) if the file exists\n"
     "  --consent TOKEN   the user's consent token, recorded in the write's signed\n"
     "                    edit record (1-512 bytes of printable ASCII; see 'history')\n"
     "  --json            print custodyd's JSON answer\n"
     "\nexamples:\n"
     "  custody put demo:/a.txt ./a.txt\n"
     "  echo hello | custody put demo:/hello.txt\n"
     "  custody put demo:/a.txt a.txt --if-match \"$(custody stat --json demo:/a.txt |\n"
     "      python3 -c 'import json,sys; print(json.load(sys.stdin)[\"sha256\"])')\"\n"},
    {"ls", cmd_ls, "ls ROOT:/PATH [--json]",
     "List a directory (type, size, mtime, name); a file lists itself.",
     "options:\n  --json   print custodyd's JSON listing\n"
     "\nexample:\n  custody ls demo:/\n"},
    {"stat", cmd_stat, "stat ROOT:/PATH [--json]",
     "Show a file's or directory's type, size, mtime and sha256 (ETag).",
     "options:\n  --json   print {resource, type, size, mtime, sha256, etag}\n"},
    {"mkdir", cmd_mkdir, "mkdir [-p] ROOT:/PATH", "Create a directory.",
     "options:\n"
     "  -p, --parents   create missing parents; no error if it exists\n"
     "  --json          print custodyd's JSON answer\n"},
    {"mv", cmd_mv, "mv ROOT:/FROM ROOT:/TO [--overwrite] [--consent TOKEN]",
     "Rename a file or directory within one root.",
     "options:\n"
     "  --overwrite   replace TO if it exists (its content is kept as a version)\n"
     "  --consent TOKEN   the user's consent token, recorded in the edit record\n"
     "  --json        print custodyd's JSON answer\n"
     "\nTO may also be a bare /PATH in FROM's root; another root is refused (cross_root).\n"},
    {"rm", cmd_rm, "rm ROOT:/PATH [--if-match ETAG] [--consent TOKEN]",
     "Delete a file (its content is kept as a version) or an empty directory.",
     "options:\n"
     "  --if-match ETAG   delete only if the content has this sha256/ETag\n"
     "  --consent TOKEN   the user's consent token, recorded in the edit record\n"
     "  --json            print custodyd's JSON answer\n"},
    {"versions", cmd_versions, "versions ROOT:/PATH [--json]",
     "List a file's versions (VERSION OP SIZE TIME SHA256).",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"rollback", cmd_rollback, "rollback ROOT:/PATH --to VERSION [--consent TOKEN]",
     "Make an old version the current content (recorded as a new version).",
     "options:\n"
     "  --to VERSION      the version to restore (see 'custody versions')\n"
     "  --consent TOKEN   the user's consent token, recorded in the edit record\n"
     "  --json         print custodyd's JSON answer\n"},
    {"history", cli_cmd_history, "history ROOT:/PATH [--limit N] [--json]",
     "The signed edit records of a file: who changed it, from which hash to which.",
     "options:\n"
     "  --limit N   only the N most recent records (still printed oldest first)\n"
     "  --json      {\"resource\", \"records\": [...]}: each record's index, time,\n"
     "              action, side (moves), prev/new sha256 and versions, agent,\n"
     "              session, principal, consent, signature, chain and the event\n"
     "\nOne line per write, delete, move (to or from the path) and rollback, oldest\n"
     "first: TIME INDEX ACTION VERSION PREV -> NEW AGENT SESSION CONSENT SIG. SIG is\n"
     "'ok' when the event's Ed25519 signature verifies with the node key (from the\n"
     "state directory, else custodyd's), 'BAD' when it does not (exit status 1); a\n"
     "record whose PREV is not the NEW of the one before is marked '(gap)': the file\n"
     "changed in between without custody (or before the journal began).\n"
     "\nexample:\n  custody history demo:/notes/draft.txt\n"},
    {"root add", cmd_root_add, "root add NAME PATH [--label KEY=VALUE]...",
     "Register (or replace) a root: NAME serves the directory PATH.",
     "options:\n"
     "  --label KEY=VALUE   attach a label (repeatable), e.g. classification=phi\n"
     "  --json              print custodyd's JSON answer\n"
     "\nPATH is made absolute (realpath) here before it is sent; it must be a directory\n"
     "custodyd can open.\n"
     "\nexample:\n  custody root add scans ./scans --label classification=phi\n"},
    {"root ls", cmd_root_ls, "root ls [--json]", "List the registered roots.",
     "options:\n  --json   print custodyd's JSON answer\n"},
    {"audit", cli_cmd_audit, "audit SUBCOMMAND [ARGS...]",
     "Read and check the audit ledger: status, tail, search, show, proofs, verify.",
     CLI_AUDIT_DETAILS},
    {"witness", cli_cmd_witness, "witness SUBCOMMAND [ARGS...]",
     "Witnessing: cosign other logs' checkpoints, submit ours to witnesses.",
     cli_witness_details},
    {"agent", cli_cmd_agent, "agent SUBCOMMAND [ARGS...]",
     "Agents: enroll (with a new key), list, show, revoke, quarantine, remove.",
     cli_agent_details},
    {"token", cli_cmd_token, "token SUBCOMMAND [ARGS...]",
     "Capability tokens: mint, inspect, attenuate (offline), revoke.", cli_token_details},
    {"policy", cli_cmd_policy, "policy SUBCOMMAND [ARGS...]",
     "Cedar policies: check, show, reload, explain, test, replay the audit log.",
     cli_policy_details},
    {"model", cli_cmd_model, "model SUBCOMMAND [ARGS...]",
     "Models: add (verify and sign), ls, show, verify, rm, load through libcustody.",
     cli_model_details},
    {"mcp", cli_cmd_mcp, "mcp [DIR...]",
     "Serve MCP on stdio: a drop-in for the reference filesystem server, through custodyd.",
     "Each allowed DIR must lie inside a custody root (custody root add NAME DIR). Without\n"
     "DIRs the client's MCP roots set them. Every tool call is decided by custodyd's\n"
     "policies (as --agent NAME when given) and recorded in the audit log. custodyd is\n"
     "started when it is not running.\n"
     "\nexamples:\n"
     "  custody mcp ~/project\n"
     "  custody --agent claude mcp ~/project ~/notes\n"
     "\nsee docs/mcp.md for client configuration (Claude Desktop, Claude Code, Codex).\n"},
    {"mount", cli_cmd_mount, "mount ROOT MOUNTPOINT [--nonempty] [--debug]",
     "Mount a policy-enforced, audited FUSE view of a root (until unmounted or SIGTERM).",
     "Opens, listings, writes, renames, deletes, mkdir and attribute changes are decided\n"
     "by custodyd's policies (as --agent NAME when given) and recorded in the audit log;\n"
     "the reads and writes of one open file are one event. Writes are versioned (custody\n"
     "versions / rollback). The mount point must be empty unless --nonempty. Runs in the\n"
     "foreground; fusermount3 -u MOUNTPOINT, SIGTERM or Ctrl-C unmounts.\n"
     "\nexamples:\n"
     "  custody mount demo /mnt/demo\n"
     "  custody --agent claude mount demo ~/demo-view &\n"
     "\nsee docs/mount.md.\n"},
    {"run", cli_cmd_run, "run [--root NAME]... -- COMMAND [ARG]...",
     "Run an agent whose only way to the roots is custody's audited view of them.",
     "Each chosen root (all by default) is replaced, for COMMAND and its children only, by\n"
     "its FUSE view (as custody mount; decided as --agent NAME when given). The state\n"
     "directory, custodyd's socket and the roots not chosen are covered, and a Landlock\n"
     "domain keeps it so. Exits with COMMAND's status. Needs Linux with Landlock; as a\n"
     "normal user, unprivileged user namespaces and /dev/fuse.\n"
     "\nexamples:\n"
     "  custody --agent claude run -- claude\n"
     "  custody run --root demo -- bash -c 'cat var/custody/demo/README.md'\n"
     "\nsee docs/run.md for what it confines and what it cannot.\n"},
};
const unsigned cli_ncommands = UTIL_ARRAY_LEN(cli_commands);
