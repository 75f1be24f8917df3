/*
 * witness.c — `custody witness SUBCOMMAND`: witnessing configuration, all
 * offline from the state directory (docs/cli.md, "witness"):
 *
 *   key                  this node's witness (cosigning) verifier key
 *   add-log VKEY         trust a log (STATE/witness/logs): custodyd then
 *                        cosigns its checkpoints at POST /witness/add-checkpoint
 *   logs                 the trusted logs and the latest size cosigned for each
 *   add-witness VKEY URL [--unix SOCKET] [--ca FILE]
 *                        submit this node's checkpoints to a witness
 *                        (STATE/ledger/witnesses); custodyd re-reads the file
 *
 * custodyd picks up both files without a restart.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "ledger/ledger.h"
#include "util/util.h"

#define CONFIG_FILE_MAX (1u << 20)

static int load_config(struct cli *cli, struct custody_config **cfg)
{
    const char *dir = cli_state_dir(cli);
    struct strbuf err = STRBUF_INIT;
    int rc = config_load(dir, cfg, &err);
    if (rc) {
        while (err.len && err.buf[err.len - 1] == '\n')
            err.buf[--err.len] = '\0';
        int x = cli_local_error(rc, "cannot read the configuration in %s: %s", dir,
                                err.len ? err.buf : custody_strerror(rc));
        sb_free(&err);
        return x;
    }
    sb_free(&err);
    return CLI_EXIT_OK;
}

/* Appends line to the file at dir/name unless an identical line is there
 * (then *dup). Rewritten atomically. */
static int append_line(const char *dir, const char *name, const char *line, bool *dup)
{
    *dup = false;
    if (util_mkdir_p(dir, 0700) != 0)
        return cli_local_error(custody_err_from_errno(errno), "cannot create %s: %s", dir,
                               strerror(errno));
    char *path = util_path_join(dir, name);
    char *old = NULL;
    size_t len = 0;
    int rc = util_read_file(path, CONFIG_FILE_MAX, &old, &len);
    if (rc && rc != CUSTODY_ENOENT) {
        int x = cli_local_error(rc, "cannot read %s: %s", path, custody_strerror(rc));
        free(path);
        return x;
    }
    struct strbuf sb = STRBUF_INIT;
    if (old) {
        size_t ll = strlen(line);
        for (size_t off = 0; off < len;) {
            const char *nl = memchr(old + off, '\n', len - off);
            size_t end = nl ? (size_t)(nl - old) : len;
            if (end - off == ll && memcmp(old + off, line, ll) == 0)
                *dup = true;
            off = end + 1;
        }
        sb_append(&sb, old, len);
        if (len && old[len - 1] != '\n')
            sb_puts(&sb, "\n");
    }
    free(old);
    int x = CLI_EXIT_OK;
    if (!*dup) {
        sb_printf(&sb, "%s\n", line);
        rc = util_write_file_atomic(path, sb.buf, sb.len, 0600);
        if (rc)
            x = cli_local_error(rc, "cannot write %s: %s", path, custody_strerror(rc));
    }
    sb_free(&sb);
    free(path);
    return x;
}

/* ---- key ---- */

static int cmd_key(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("witness key");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    struct custody_config *cfg = NULL;
    if ((rc = load_config(cli, &cfg)) != 0) return rc;
    struct tlog_key key;
    rc = ledger_witness_key(cfg, &key);
    config_unref(cfg);
    if (rc)
        return cli_local_error(rc, "cannot derive the witness key from %s/keys/node.ed25519: %s",
                               cli_state_dir(cli), custody_strerror(rc));
    struct strbuf vk = STRBUF_INIT;
    rc = tlog_vkey_format(&key, &vk);
    if (rc) {
        tlog_key_wipe(&key);
        sb_free(&vk);
        return cli_local_error(rc, "cannot format the verifier key");
    }
    if (cli->json) {
        json_t *o = json_pack("{s:s, s:s}", "name", key.name, "vkey", vk.buf);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        puts(vk.buf);
    }
    tlog_key_wipe(&key);
    sb_free(&vk);
    return CLI_EXIT_OK;
}

/* ---- add-log ---- */

static int cmd_add_log(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("witness add-log");
    static const struct option lo[] = {OPT_HELP, OPT_END};
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE)
        if (ch == OPT_EXIT) return rc;
    if (cli_operands(cmd, argc, 1, 1, &rc) < 0) return rc;
    const char *vkey = argv[optind];
    struct tlog_key k;
    if (tlog_vkey_parse(vkey, strlen(vkey), &k) != 0 || k.type != TLOG_KEY_ED25519)
        return cli_usage_error(cmd, "not a log verifier key (name+keyid+base64, Ed25519 type "
                                    "0x01): %s", vkey);
    char *dir = util_path_join(cli_state_dir(cli), WITNESS_DIR);
    bool dup = false;
    rc = append_line(dir, "logs", vkey, &dup);
    free(dir);
    if (rc) return rc;
    printf("%s %s\n", dup ? "already trusted:" : "trusting log", k.name);
    return CLI_EXIT_OK;
}

/* ---- logs ---- */

struct logs_ctx {
    bool json;
    json_t *arr;
    unsigned n;
};

static int print_log(void *arg, const struct witness_log_info *info)
{
    struct logs_ctx *c = arg;
    char root[64] = "";
    if (info->seen) {
        struct strbuf b = STRBUF_INIT;
        tlog_b64_encode(info->root, TLOG_HASH_LEN, &b);
        util_strlcpy(root, b.buf ? b.buf : "", sizeof root);
        sb_free(&b);
    }
    c->n++;
    if (c->json) {
        json_t *o = info->valid ? json_pack("{s:s, s:s, s:b}", "origin", info->origin, "vkey",
                                            info->vkey, "seen", info->seen)
                                : json_pack("{s:s, s:I, s:b}", "invalid_line", info->vkey, "line",
                                            (json_int_t)info->lineno, "seen", 0);
        if (info->seen) {
            json_object_set_new(o, "size", json_integer((json_int_t)info->size));
            json_object_set_new(o, "root", json_string(root));
        }
        json_array_append_new(c->arr, o);
    } else if (!info->valid) {
        printf("line %u: not a log verifier key (ignored): ", info->lineno);
        cli_print_safe(info->vkey);
        putchar('\n');
    } else if (info->seen) {
        printf("%s  size %" PRIu64 "  root %s\n", info->origin, info->size, root);
    } else {
        printf("%s  (no checkpoint cosigned yet)\n", info->origin);
    }
    return 0;
}

static int cmd_logs(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("witness logs");
    int rc = 0;
    if (!cli_common_opts(cli, cmd, argc, argv, &rc)) return rc;
    if (cli_operands(cmd, argc, 0, 0, &rc) < 0) return rc;
    struct logs_ctx c = {.json = cli->json, .arr = json_array()};
    rc = witness_list_logs(cli_state_dir(cli), print_log, &c);
    if (rc && rc != CUSTODY_ENOENT) {
        json_decref(c.arr);
        return cli_local_error(rc, "cannot read %s/" WITNESS_DIR "/logs: %s",
                               cli_state_dir(cli), custody_strerror(rc));
    }
    if (c.json) {
        json_t *o = json_pack("{s:o}", "logs", c.arr);
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) puts(s);
        free(s);
        json_decref(o);
    } else {
        json_decref(c.arr);
        if (c.n == 0)
            printf("no trusted logs (add one with 'custody witness add-log VKEY')\n");
    }
    return CLI_EXIT_OK;
}

/* ---- add-witness ---- */

static int cmd_add_witness(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("witness add-witness");
    static const struct option lo[] = {{"unix", required_argument, NULL, 'u'},
                                       {"ca", required_argument, NULL, 'c'},
                                       OPT_HELP,
                                       OPT_END};
    const char *unix_path = NULL, *ca = NULL;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'u') unix_path = optarg;
        if (ch == 'c') ca = optarg;
    }
    if (cli_operands(cmd, argc, 2, 2, &rc) < 0) return rc;
    const char *vkey = argv[optind], *url = argv[optind + 1];
    struct strbuf line = STRBUF_INIT;
    sb_printf(&line, "%s %s", vkey, url);
    if (unix_path) sb_printf(&line, " unix:%s", unix_path);
    if (ca) sb_printf(&line, " ca:%s", ca);
    struct tlog_key k;
    char u[1100], up[256], cap[1024];
    if (strpbrk(line.buf, "\n\r") ||
        witness_config_line(line.buf, line.len, &k, u, sizeof u, up, sizeof up, cap,
                            sizeof cap) != 0) {
        sb_free(&line);
        return cli_usage_error(cmd, "expected a witness verifier key (type 0x04, e.g. from "
                                    "'custody witness key' on the witness), an http(s) URL "
                                    "prefix and paths without spaces");
    }
    char *dir = util_path_join(cli_state_dir(cli), LEDGER_DIR);
    bool dup = false;
    rc = append_line(dir, "witnesses", line.buf, &dup);
    free(dir);
    sb_free(&line);
    if (rc) return rc;
    printf("%s %s at %s\n", dup ? "already configured:" : "submitting checkpoints to", k.name, u);
    return CLI_EXIT_OK;
}

/* ---- table and dispatch ---- */

const char cli_witness_details[] =
    "subcommands:\n"
    "  key                     this node's witness verifier key (type 0x04)\n"
    "  add-log VKEY            witness a log: cosign its checkpoints\n"
    "  logs                    the logs witnessed and the latest size cosigned\n"
    "  add-witness VKEY URL [--unix SOCKET] [--ca FILE]\n"
    "                          submit this node's checkpoints to a witness\n"
    "\nAll work offline on the state directory; custodyd picks the changes up.\n"
    "see 'custody witness SUBCOMMAND --help' and docs/cli.md.\n";

const struct cli_command cli_witness_commands[] = {
    {"witness key", cmd_key, "witness key [--json]",
     "Print this node's witness verifier key (for other nodes' 'witness add-witness').",
     "The key is derived from STATE/keys/node.ed25519 and named '<log origin>/witness'.\n"
     "options:\n  --json   {\"name\", \"vkey\"}\n"},
    {"witness add-log", cmd_add_log, "witness add-log VKEY",
     "Trust a log's checkpoint key: custodyd then cosigns that log's checkpoints.",
     "VKEY is the log's verifier key (e.g. from 'custody audit key' on that node);\n"
     "its name is the log's origin. Appended to STATE/witness/logs.\n"
     "\nexample:\n  custody witness add-log \"$(custody --state B audit key --offline)\"\n"},
    {"witness logs", cmd_logs, "witness logs [--json]",
     "List the logs this node witnesses and the latest checkpoint it cosigned for each.",
     "options:\n  --json   {\"logs\": [{origin, vkey, seen, size, root}]}\n"},
    {"witness add-witness", cmd_add_witness,
     "witness add-witness VKEY URL [--unix SOCKET] [--ca FILE]",
     "Submit this node's checkpoints to a witness (c2sp.org/tlog-witness).",
     "VKEY is the witness's cosigning key (type 0x04); URL its submission prefix\n"
     "(POST URL/add-checkpoint). Appended to STATE/ledger/witnesses.\n"
     "options:\n"
     "  --unix SOCKET   connect over this Unix socket (e.g. another custodyd's)\n"
     "  --ca FILE       CA certificates for an https URL (default: the system's)\n"
     "\nexample:\n"
     "  custody witness add-witness \"$(custody --state B witness key)\" \\\n"
     "      http://localhost/witness --unix B/custodyd.sock\n"},
};
const unsigned cli_nwitness_commands = UTIL_ARRAY_LEN(cli_witness_commands);

int cli_cmd_witness(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *self = cli_find_command("witness");
    while (argc >= 2 && strcmp(argv[1], "--json") == 0) {
        cli->json = true;
        argc--;
        argv++;
    }
    if (argc < 2) {
        fprintf(stderr, "custody witness: missing subcommand\nusage: custody %s\n%s",
                self->synopsis, cli_witness_details);
        return CLI_EXIT_USAGE;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) return cli_command_help(self);
    struct strbuf full = STRBUF_INIT;
    sb_printf(&full, "witness %s", sub);
    const struct cli_command *cmd = NULL;
    for (unsigned i = 0; sub[0] != '-' && i < cli_nwitness_commands; i++)
        if (strcmp(cli_witness_commands[i].name, full.buf) == 0) cmd = &cli_witness_commands[i];
    sb_free(&full);
    if (!cmd) {
        fprintf(stderr, "custody witness: unknown subcommand '%s'\nusage: custody %s\n%s", sub,
                self->synopsis, cli_witness_details);
        return CLI_EXIT_USAGE;
    }
    return cmd->fn(cli, argc - 1, argv + 1);
}
