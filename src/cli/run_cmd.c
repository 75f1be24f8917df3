/*
 * run_cmd.c — `custody run [--root NAME]... -- COMMAND [ARG]...`: runs an
 * unmodified agent whose only way to custody's roots is custody's view.
 *
 *   custody run ─┬─ (private mount namespace; user namespace when not root)
 *                ├─ one view process per chosen root: src/mount over the
 *                │  root's real path, talking to custodyd (as --agent NAME)
 *                └─ the agent: its own mount namespace with the state
 *                   directory, the other roots and custodyd's socket
 *                   covered, Landlocked (src/sandbox), then exec COMMAND
 *
 * custody run waits for the agent and exits with its status; the views go
 * when it does. custodyd is started first (outside the namespace) when it
 * is not running. See docs/run.md.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "mount/mount.h"
#include "sandbox/sandbox.h"
#include "util/util.h"

#define VIEW_WAIT_MS 10000 /* for a view to appear */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static volatile sig_atomic_t g_agent_pid;

static void forward(int sig)
{
    if (g_agent_pid > 0) kill((pid_t)g_agent_pid, sig);
}

static custody_client_t *new_client(void *arg)
{
    return cli_client_new(arg);
}

struct run {
    struct cli *cli;
    custody_root_t *roots;
    size_t nroots;
    bool chosen[SBX_PROTECT_MAX];
    struct sbx_protected prot[SBX_PROTECT_MAX + 1]; /* the roots, then the state dir */
    size_t nprot;
    const char *views[SBX_PROTECT_MAX];
    size_t nviews;
    const char *hide_dirs[SBX_PROTECT_MAX + 1];
    size_t nhide;
    pid_t view_pid[SBX_PROTECT_MAX];
    const char *sensitive_label;
};

static int choose(struct run *r, char **names, size_t nnames)
{
    if (r->nroots > SBX_PROTECT_MAX) {
        fprintf(stderr, "custody run: more than %d roots\n", SBX_PROTECT_MAX);
        return CLI_EXIT_USAGE;
    }
    for (size_t k = 0; k < nnames; k++) {
        size_t i = 0;
        while (i < r->nroots && strcmp(r->roots[i].name, names[k]) != 0)
            i++;
        if (i == r->nroots) {
            fprintf(stderr, "custody run: no root named \"%s\" (custody root ls)\n", names[k]);
            return CLI_EXIT_USAGE;
        }
        r->chosen[i] = true;
    }
    for (size_t i = 0; i < r->nroots && nnames == 0; i++)
        r->chosen[i] = true;
    return 0;
}

/* Records every root and the state dir; views nested in one another
 * cannot be told apart, so they are refused. */
static int protect_all(struct run *r)
{
    struct strbuf err = STRBUF_INIT;
    int rc = 0;
    for (size_t i = 0; !rc && i < r->nroots; i++)
        rc = sbx_protect(&r->prot[i], r->roots[i].path, &err);
    r->nprot = r->nroots;
    /* the state directory (keys, versions, the log), when there is one here */
    if (!rc && access(cli_state_dir(r->cli), F_OK) == 0) {
        rc = sbx_protect(&r->prot[r->nprot], cli_state_dir(r->cli), &err);
        if (!rc) r->hide_dirs[r->nhide++] = r->prot[r->nprot++].path;
    }
    if (rc) {
        fprintf(stderr, "custody run: %s\n", err.buf ? err.buf : custody_strerror(rc));
        sb_free(&err);
        return CLI_EXIT_LOCAL;
    }
    for (size_t i = 0; i < r->nroots; i++)
        for (size_t j = 0; j < r->nroots; j++)
            if (i != j && r->chosen[i] && r->chosen[j] &&
                sbx_path_below(r->prot[j].path, r->prot[i].path)) {
                fprintf(stderr,
                        "custody run: roots \"%s\" and \"%s\" are nested; choose one with "
                        "--root\n",
                        r->roots[i].name, r->roots[j].name);
                return CLI_EXIT_USAGE;
            }
    return 0;
}

static void stop_views(struct run *r)
{
    for (size_t i = 0; i < r->nviews; i++)
        if (r->view_pid[i] > 0) kill(r->view_pid[i], SIGTERM);
    for (size_t i = 0; i < r->nviews; i++) {
        if (r->view_pid[i] <= 0) continue;
        int st;
        for (int t = 0; t < 200 && waitpid(r->view_pid[i], &st, WNOHANG) == 0; t++)
            sleep_ms(10);
        if (waitpid(r->view_pid[i], &st, WNOHANG) == 0) {
            kill(r->view_pid[i], SIGKILL);
            waitpid(r->view_pid[i], &st, 0);
        }
    }
}

/* Starts the view of root i over its real path and waits until it is there. */
static int start_view(struct run *r, size_t i, pid_t self)
{
    const char *at = r->prot[i].path;
    pid_t pid = fork();
    if (pid < 0) return custody_err_from_errno(errno);
    if (pid == 0) {
        setpgid(0, 0); /* the terminal's Ctrl-C is for the agent, not the views */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != self) _exit(1);
        struct mnt_opts o = {
            .root = r->roots[i].name,
            .mountpoint = at,
            .state_dir = cli_state_dir(r->cli),
            .allow_nonempty = true,
            .quiet = true,
            .sensitive_label = r->sensitive_label,
            .new_client = new_client,
            .new_client_arg = r->cli,
        };
        _exit(mnt_run(&o) ? 1 : 0);
    }
    r->view_pid[r->nviews] = pid;
    r->views[r->nviews++] = at;
    for (int t = 0; t < VIEW_WAIT_MS / 10; t++) {
        if (sbx_mounted(at, "fuse")) return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            r->view_pid[r->nviews - 1] = 0;
            fprintf(stderr, "custody run: the view of root \"%s\" could not start\n",
                    r->roots[i].name);
            return CUSTODY_EIO;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "custody run: the view of root \"%s\" did not appear on %s\n", r->roots[i].name,
            at);
    return CUSTODY_ETIMEDOUT;
}

/* In the child: confine, then become the agent. Never returns. */
static void exec_agent(struct run *r, char **cmd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    const char *sock = cli_socket(r->cli);
    struct sbx_confine c = {
        .prot = r->prot,
        .nprot = r->nprot,
        .hide_dirs = r->hide_dirs,
        .nhide_dirs = r->nhide,
        .hide_files = &sock,
        .nhide_files = 1,
        .views = r->views,
        .nviews = r->nviews,
    };
    struct strbuf err = STRBUF_INIT;
    int rc = sbx_confine(&c, &err);
    if (rc) {
        fprintf(stderr, "custody run: cannot confine the agent: %s (%s)\n",
                err.buf ? err.buf : custody_strerror(rc), custody_err_code(rc));
        _exit(CLI_EXIT_LOCAL);
    }
    /* nothing custody run holds reaches the agent (a descriptor of a
     * backing directory would go around the view) */
    close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
    setenv("CUSTODY_RUN", "1", 1);
    execvp(cmd[0], cmd);
    int e = errno;
    fprintf(stderr, "custody run: %s: %s\n", cmd[0], strerror(e));
    _exit(e == ENOENT ? 127 : 126);
}

static int run_agent(struct run *r, char **cmd)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, fwd = {.sa_handler = forward}, oint, oquit,
                     oterm, ohup;
    sigaction(SIGINT, &ign, &oint); /* the agent gets the terminal's signals itself */
    sigaction(SIGQUIT, &ign, &oquit);
    sigaction(SIGTERM, &fwd, &oterm);
    sigaction(SIGHUP, &fwd, &ohup);
    pid_t pid = fork();
    if (pid < 0) return CLI_EXIT_LOCAL;
    if (pid == 0) exec_agent(r, cmd);
    g_agent_pid = pid;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    g_agent_pid = 0;
    sigaction(SIGINT, &oint, NULL);
    sigaction(SIGQUIT, &oquit, NULL);
    sigaction(SIGTERM, &oterm, NULL);
    sigaction(SIGHUP, &ohup, NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int cli_cmd_run(struct cli *cli, int argc, char **argv)
{
    const struct cli_command *cmd = cli_find_command("run");
    static const struct option lo[] = {{"root", required_argument, NULL, 'r'}, OPT_HELP, OPT_END};
    char *names[SBX_PROTECT_MAX];
    size_t nnames = 0;
    int rc = 0, ch;
    cli_opts_begin();
    while ((ch = cli_next_opt(cli, cmd, argc, argv, "+:hr:", lo, &rc)) != OPT_DONE) {
        if (ch == OPT_EXIT) return rc;
        if (ch == 'r' && nnames < SBX_PROTECT_MAX) names[nnames++] = optarg;
    }
    if (optind >= argc) return cli_usage_error(cmd, "which command? (custody run -- bash)");
    signal(SIGPIPE, SIG_IGN);
    cli->folder_tokens = true; /* this process holds the agent's key anyway */
    custody_client_t *c = cli_client(cli);
    if (!c) return CLI_EXIT_USAGE;
    if (cli_daemon_ensure(cli, c) != 0) return CLI_EXIT_UNREACHABLE;
    struct run r = {.cli = cli};
    rc = custody_root_list(c, &r.roots, &r.nroots);
    if (rc) return cli_fail(cli, rc, NULL);
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    if (config_load(cli_state_dir(cli), &cfg, &err) != 0) cfg = NULL;
    sb_free(&err);
    r.sensitive_label = cfg ? cfg->audit_sensitive_label : "phi";
    bool userns;
    if ((rc = choose(&r, names, nnames)) != 0) goto out;
    if (sbx_unshare(&userns, &err) != 0) {
        fprintf(stderr, "custody run: %s\n", err.buf);
        rc = CLI_EXIT_LOCAL;
        goto out;
    }
    if ((rc = protect_all(&r)) != 0) goto out;
    pid_t self = getpid();
    for (size_t i = 0; i < r.nroots; i++) {
        if (!r.chosen[i]) {
            r.hide_dirs[r.nhide++] = r.prot[i].path; /* a root without a view: hidden */
            continue;
        }
        if (start_view(&r, i, self) != 0) {
            rc = CLI_EXIT_LOCAL;
            goto out_views;
        }
    }
    rc = run_agent(&r, argv + optind);
out_views:
    stop_views(&r);
out:
    sb_free(&err);
    if (cfg) config_unref(cfg);
    custody_roots_free(r.roots, r.nroots);
    return rc;
}
