/*
 * mcp_cmd.c — `custody mcp [DIR...]`: the MCP stdio server (src/mcp) on
 * this process's stdin/stdout, talking to custodyd as the operator or as
 * --agent NAME. Like gpg-agent, custodyd is started when it is not running
 * (and started again if it goes away while the server runs).
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "mcp/mcp.h"
#include "util/util.h"

#define START_WAIT_MS 15000

struct revive_ctx {
    struct cli *cli;
    custody_client_t *c;
};

static bool answers(custody_client_t *c)
{
    char *json = NULL;
    int rc = custody_status(c, &json);
    free(json);
    return rc != CUSTODY_ECONNECT;
}

/* custodyd next to this executable, else from PATH. */
static char *daemon_path(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            char *p = util_path_join(self, "custodyd");
            if (access(p, X_OK) == 0) return p;
            free(p);
        }
    }
    return util_strdup("custodyd");
}

/* Starts custodyd on the state directory, detached (its own session, output
 * to STATE/custodyd.log), and waits until it answers. */
static int start_daemon(struct revive_ctx *r)
{
    if (r->cli->socket_arg)
        return CUSTODY_ECONNECT; /* a socket of somebody else's daemon: not ours to start */
    const char *state = cli_state_dir(r->cli);
    char *cfg = util_path_join(state, CONFIG_FILE);
    bool ok = access(cfg, R_OK) == 0;
    free(cfg);
    if (!ok) {
        fprintf(stderr,
                "custody: %s is not a custody state directory (create it: custody init "
                "--state %s)\n",
                state, state);
        return CUSTODY_ECONFIG;
    }
    char *bin = daemon_path();
    char *log = util_path_join(state, "custodyd.log");
    fprintf(stderr, "custody: starting custodyd on %s (log: %s)\n", state, log);
    pid_t pid = fork();
    if (pid < 0) {
        free(bin);
        free(log);
        return custody_err_from_errno(errno);
    }
    if (pid == 0) {
        /* first child: a new session, then the daemon as a grandchild so it
         * is nobody's zombie when it exits */
        setsid();
        signal(SIGPIPE, SIG_DFL);
        if (fork() != 0) _exit(0);
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (in >= 0) dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        execlp(bin, "custodyd", "--state", state, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    free(bin);
    free(log);
    for (int waited = 0; waited < START_WAIT_MS; waited += 50) {
        if (answers(r->c)) return 0;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "custody: custodyd did not start (see %s/custodyd.log)\n", state);
    return CUSTODY_ECONNECT;
}

static int revive(void *arg)
{
    struct revive_ctx *r = arg;
    if (answers(r->c)) return 0; /* it was a passing failure */
    return start_daemon(r);
}

int cli_daemon_ensure(struct cli *cli, custody_client_t *c)
{
    struct revive_ctx r = {cli, c};
    return answers(c) ? 0 : start_daemon(&r);
}

int cli_cmd_mcp(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("mcp");
    static const struct option lo[] = {OPT_HELP, OPT_END};
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, ":h", lo, &rc)) != OPT_DONE)
        if (ch == OPT_EXIT) return rc;
    if (argc - optind == 0)
        fprintf(stderr, "Usage: custody mcp [allowed-directory] [additional-directories...]\n"
                        "Note: Allowed directories can be provided via:\n"
                        "  1. Command-line arguments (shown above)\n"
                        "  2. MCP roots protocol (if client supports it)\n"
                        "At least one directory must be provided by EITHER method for the "
                        "server to operate.\n");
    signal(SIGPIPE, SIG_IGN);  /* a closed stdout is an error return, not a signal */
    cli->folder_tokens = true; /* this process holds the agent's key anyway */
    custody_client_t *c = cli_client(cli);
    if (!c) return CLI_EXIT_USAGE;
    if (cli_daemon_ensure(cli, c) != 0) return CLI_EXIT_UNREACHABLE;
    struct revive_ctx r = {cli, c};
    struct mcp_server_opts o = {
        .client = c,
        .dirs = argv + optind,
        .ndirs = (size_t)(argc - optind),
        .in_fd = 0,
        .out_fd = 1,
        .revive = revive,
        .revive_arg = &r,
    };
    rc = mcp_serve(&o);
    if (rc == CUSTODY_ENOENT) return CLI_EXIT_USAGE;
    return rc ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
}
