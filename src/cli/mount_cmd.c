/*
 * mount_cmd.c — `custody mount ROOT MOUNTPOINT`: the FUSE view (src/mount)
 * of one root, talking to custodyd as the operator or as --agent NAME
 * (custodyd is started when it is not running, as for custody mcp).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "config/config.h"
#include "mount/mount.h"
#include "util/util.h"

static custody_client_t *new_client(void *arg)
{
    return cli_client_new(arg);
}

int cli_cmd_mount(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("mount");
    static const struct option lo[] = {
        {"nonempty", no_argument, NULL, 'n'}, {"debug", no_argument, NULL, 'd'}, OPT_HELP, OPT_END};
    int rc = 0, ch;
    bool nonempty = false, debug = false;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'n') nonempty = true;
        if (ch == 'd') debug = true;
    }
    if (cli_operands(cmd, argc, 2, 2, &rc) < 0) return rc;
    signal(SIGPIPE, SIG_IGN);
    cli->folder_tokens = true; /* this process holds the agent's key anyway */
    custody_client_t *c = cli_client(cli);
    if (!c) return CLI_EXIT_USAGE;
    if (cli_daemon_ensure(cli, c) != 0) return CLI_EXIT_UNREACHABLE;
    /* the label that marks sensitive roots, from the state's configuration */
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    if (config_load(cli_state_dir(cli), &cfg, &err) != 0) cfg = NULL;
    sb_free(&err);
    struct mnt_opts o = {
        .root = argv[optind],
        .mountpoint = argv[optind + 1],
        .state_dir = cli_state_dir(cli),
        .allow_nonempty = nonempty,
        .debug = debug,
        .sensitive_label = cfg ? cfg->audit_sensitive_label : "phi",
        .new_client = new_client,
        .new_client_arg = cli,
    };
    rc = mnt_run(&o);
    if (cfg) config_unref(cfg);
    if (rc == CUSTODY_ENOTEMPTY || rc == CUSTODY_ENOROOT) return CLI_EXIT_USAGE;
    return rc ? CLI_EXIT_LOCAL : CLI_EXIT_OK;
}
