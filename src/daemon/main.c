/*
 * custodyd — one daemon per machine. Loads the state directory's config,
 * opens the resource store, and serves the API on one event loop until
 * SIGTERM (drain, exit 0). SIGHUP reloads config.yaml and roots.yaml without
 * dropping connections; a config with errors is logged and not applied.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "config/config.h"
#include "cache/cache.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "store/store.h"

#define EXIT_CONFIG 78 /* EX_CONFIG: systemd and sysexits agree */

struct daemon {
    struct event_base *base;
    struct custody_config *cfg;
    struct store *store;
    struct http_server *srv;
    struct gateway *gw;
    struct ledger *ledger;
    struct ledger_witnesses *witnesses;
    struct authz_ids *ids;
    struct authz *az;
    struct cache *models;
    struct event *ledger_ev;
    char *pidfile;
};

static void on_ledger_ready(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    ledger_dispatch(arg);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: custodyd [--state DIR] [--detach] [--log-level LEVEL]\n"
               "\n"
               "Serves custody's API for the state directory DIR (default: $CUSTODY_STATE,\n"
               "else ./var/custody) on DIR/custodyd.sock, and on TCP+TLS when enabled in\n"
               "DIR/config.yaml. Logs to stderr.\n"
               "\n"
               "  --state DIR        state directory (create one with: custody init)\n"
               "  --detach           run in the background once listening (writes DIR/custodyd.pid)\n"
               "  --log-level LEVEL  error, warn, info or debug (overrides config.yaml)\n"
               "  --version          print the version\n"
               "\n"
               "Signals: SIGHUP reloads the configuration; SIGTERM or SIGINT drain in-flight\n"
               "requests (limits.drain_timeout_ms) and exit 0.\n"
               "Exit codes: 0 clean shutdown, 1 runtime failure, 2 usage, 78 configuration error.\n");
}

static struct http_limits limits_of(const struct custody_config *c)
{
    struct http_limits l = {
        .max_header_bytes = c->max_header_bytes,
        .max_headers = c->max_headers,
        .max_uri_bytes = c->max_uri_bytes,
        .max_body_bytes = c->max_body_bytes,
        .max_connections = c->max_connections,
        .max_streams = c->max_streams,
        .header_timeout_ms = c->header_timeout_ms,
        .idle_timeout_ms = c->idle_timeout_ms,
        .io_timeout_ms = c->io_timeout_ms,
    };
    return l;
}

static void log_errors(const char *what, const struct strbuf *err)
{
    if (!err->buf)
        return;
    const char *p = err->buf;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n)
            log_error("%s: %.*s", what, (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* Loads the config from disk and applies what can change at run time. */
static int daemon_reload(void *arg, struct strbuf *err)
{
    struct daemon *d = arg;
    struct custody_config *cfg = NULL;
    int rc = config_load(d->cfg->state_dir, &cfg, err);
    if (rc) {
        log_errors("reload", err);
        log_error("reload: configuration has errors; keeping the running one");
        return rc;
    }
    log_set_level(cfg->log_level);
    struct http_limits lim = limits_of(cfg);
    http_server_set_limits(d->srv, &lim);
    struct strbuf rerr = STRBUF_INIT;
    if (store_set_roots(d->store, cfg->roots, cfg->nroots, &rerr) != 0)
        log_errors("reload", &rerr);
    sb_reset(&rerr);
    if (cfg->tcp_enabled && d->cfg->tcp_enabled &&
        http_server_reload_tls(d->srv, cfg->tls_cert, cfg->tls_key, &rerr) != 0)
        log_errors("reload", &rerr);
    sb_free(&rerr);
    if (strcmp(cfg->unix_path, d->cfg->unix_path) != 0 || cfg->tcp_enabled != d->cfg->tcp_enabled ||
        cfg->tcp_port != d->cfg->tcp_port || strcmp(cfg->tcp_address, d->cfg->tcp_address) != 0)
        log_warn("reload: listener settings changed; they take effect after a restart");
    if (strcmp(cfg->store_encrypt_label, d->cfg->store_encrypt_label) != 0)
        log_warn("reload: store.encrypt_label changed; it takes effect after a restart");
    gateway_set_config(d->gw, cfg);
    cache_set_max_bytes(d->models, cfg->models_max_bytes);
    config_unref(d->cfg);
    d->cfg = cfg;
    log_info("reload: configuration applied (%zu roots)", cfg->nroots);
    return 0;
}

static void on_drained(void *arg)
{
    struct daemon *d = arg;
    log_info("custodyd: drained; exiting");
    event_base_loopexit(d->base, NULL);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)what;
    if (sig == SIGHUP) {
        log_info("custodyd: SIGHUP: reloading configuration and policies");
        struct strbuf err = STRBUF_INIT;
        daemon_reload(d, &err);
        sb_reset(&err);
        if (gateway_policy_reload(d->gw, "SIGHUP", &err) != 0)
            log_errors("policy reload", &err);
        sb_free(&err);
        return;
    }
    if (http_server_draining(d->srv)) {
        log_warn("custodyd: second %s: exiting now", sig == SIGINT ? "SIGINT" : "SIGTERM");
        event_base_loopexit(d->base, NULL);
        return;
    }
    log_info("custodyd: %s: draining (up to %u ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
             d->cfg->drain_timeout_ms);
    http_server_drain(d->srv, d->cfg->drain_timeout_ms, on_drained, d);
}

static int write_pidfile(struct daemon *d)
{
    d->pidfile = util_path_join(d->cfg->state_dir, "custodyd.pid");
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    return util_write_file_atomic(d->pidfile, buf, (size_t)n, 0644);
}

/* Forks; the parent waits until the child is listening, then exits. */
static int detach(int *ready_fd)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(p[1]);
        char c = 0;
        ssize_t n = read(p[0], &c, 1);
        _exit(n == 1 && c == 'R' ? 0 : 1);
    }
    close(p[0]);
    setsid();
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
    *ready_fd = p[1];
    return 0;
}

int main(int argc, char **argv)
{
    const char *state_arg = NULL, *level_arg = NULL;
    bool want_detach = false;
    static const struct option opts[] = {{"state", required_argument, NULL, 's'},
                                         {"detach", no_argument, NULL, 'd'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "s:dl:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 's':
            state_arg = optarg;
            break;
        case 'd':
            want_detach = true;
            break;
        case 'l':
            level_arg = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("custodyd %s\n", custody_version());
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* Descriptors go to connections (limits.max_connections: 4,096 by default), open
     * files and model handovers; the usual soft limit (1,024 under systemd) is below that,
     * so take what the hard limit allows. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct daemon d = {0};
    char *state = state_dir_resolve(state_arg);
    struct stat st;
    if (stat(state, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "custodyd: no state directory at %s (create one with: custody init --state %s)\n",
                state, state);
        free(state);
        return EXIT_CONFIG;
    }
    struct strbuf err = STRBUF_INIT;
    if (config_load(state, &d.cfg, &err) != 0) {
        fputs(err.buf ? err.buf : "custodyd: cannot load configuration\n", stderr);
        fprintf(stderr, "custodyd: configuration has errors; not starting\n");
        sb_free(&err);
        free(state);
        return EXIT_CONFIG;
    }
    free(state);
    log_set_level(d.cfg->log_level);
    if (level_arg) {
        enum log_level lvl;
        if (log_level_parse(level_arg, &lvl) != 0) {
            fprintf(stderr, "custodyd: --log-level: expected error, warn, info or debug\n");
            return 2;
        }
        log_set_level(lvl);
    }

    struct store_opts so = {.versions = d.cfg->versions,
                            .list_max_entries = d.cfg->list_max_entries,
                            .encrypt_label = d.cfg->store_encrypt_label};
    int rc = store_open(d.cfg->state_dir, &so, &d.store);
    if (rc) {
        log_error("custodyd: cannot open the store in %s: %s", d.cfg->state_dir,
                  custody_strerror(rc));
        return 1;
    }
    sb_reset(&err);
    if (store_set_roots(d.store, d.cfg->roots, d.cfg->nroots, &err) != 0)
        log_errors("roots", &err);

    /* Detach before any thread or event loop exists; the parent exits once
     * the child reports it is listening (or exits 1 if it never does). */
    int ready_fd = -1;
    if (want_detach && detach(&ready_fd) != 0) {
        log_error("custodyd: cannot detach: %s", strerror(errno));
        return 1;
    }

    /* the audit log: nothing is served unless it opens */
    sb_reset(&err);
    rc = ledger_open_state(d.cfg, &d.ledger, &err);
    if (rc) {
        log_error("custodyd: cannot open the audit log: %s", err.buf ? err.buf : "");
        return rc == CUSTODY_ECONFIG ? EXIT_CONFIG : 1;
    }
    struct ledger_stats lst;
    ledger_stats(d.ledger, &lst);
    if ((rc = ledger_witnesses_start(d.ledger, d.cfg->state_dir, &d.witnesses)) != 0)
        log_warn("custodyd: witnesses disabled: %s", custody_strerror(rc));
    /* identities: agents, their keys and epochs, revoked tokens */
    sb_reset(&err);
    char *authz_dir = util_path_join(d.cfg->state_dir, "authz");
    char *ids_path = util_path_join(authz_dir, "identities.db");
    rc = util_mkdir_p(authz_dir, 0700);
    if (!rc)
        rc = authz_ids_open(ids_path, &d.ids, &err);
    free(authz_dir);
    free(ids_path);
    if (rc) {
        log_error("custodyd: cannot open the identity store: %s",
                  err.buf ? err.buf : custody_strerror(rc));
        return 1;
    }
    /* decisions: the policies in STATE/policy, the tokens' root key */
    sb_reset(&err);
    struct authz_opts ao = {.cfg = d.cfg, .ids = d.ids};
    if ((rc = authz_new(&ao, &d.az, &err)) != 0) {
        log_errors("policy", &err);
        log_error("custodyd: cannot load the policies (fix them, or move them aside to deny "
                  "everything): %s", custody_strerror(rc));
        return rc == CUSTODY_ESYNTAX ? EXIT_CONFIG : 1;
    }
    /* the model cache (STATE/models) */
    char cerr[512] = "";
    struct cache_opts co = {.state_dir = d.cfg->state_dir, .max_bytes = d.cfg->models_max_bytes};
    if ((rc = cache_open(&co, &d.models, cerr, sizeof cerr)) != 0) {
        log_error("custodyd: cannot open the model cache: %s", cerr);
        return 1;
    }
    struct gateway_opts go = {.cfg = d.cfg, .store = d.store, .reload = daemon_reload,
                              .reload_arg = &d, .ledger = d.ledger, .endpoint_id = lst.origin,
                              .ids = d.ids, .az = d.az, .models = d.models};
    gateway_new(&go, &d.gw);
    gateway_policy_loaded(d.gw, "custodyd started");
    struct authz_policy_info pinfo;
    authz_policy_info(d.az, &pinfo);
    if (pinfo.npolicies == 0)
        log_warn("custodyd: no policies in %s/policy: every request is denied (custody init "
                 "installs the starter policy)", d.cfg->state_dir);
    /* The epoll changelist merges the EV_WRITE add/delete pairs libevent's
     * TLS bufferevents make around every flush into no-ops within one loop
     * iteration (2 epoll_ctl calls per TLS request without it). */
    struct event_config *ecfg = event_config_new();
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    d.base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    struct http_server_opts ho = {.limits = limits_of(d.cfg), .handler = gateway_handle,
                                  .handler_arg = d.gw, .workers = 4};
    if (!d.base || http_server_new(d.base, &ho, &d.srv) != 0) {
        log_error("custodyd: cannot create the event loop");
        return 1;
    }
    gateway_set_server(d.gw, d.srv);
    d.ledger_ev = event_new(d.base, ledger_eventfd(d.ledger), EV_READ | EV_PERSIST, on_ledger_ready,
                            d.ledger);
    event_add(d.ledger_ev, NULL);
    rc = http_server_listen_unix(d.srv, d.cfg->unix_path, d.cfg->unix_mode);
    if (rc) {
        log_error("custodyd: cannot listen on %s: %s", d.cfg->unix_path, custody_strerror(rc));
        return 1;
    }
    if (d.cfg->tcp_enabled) {
        sb_reset(&err);
        rc = http_server_listen_tls(d.srv, d.cfg->tcp_address, d.cfg->tcp_port, d.cfg->tls_cert,
                                    d.cfg->tls_key, &err);
        if (rc) {
            log_errors("listen", &err);
            return rc == CUSTODY_ECONFIG ? EXIT_CONFIG : 1;
        }
    }
    sb_free(&err);

    write_pidfile(&d);

    struct event *sigs[3];
    int signums[3] = {SIGHUP, SIGTERM, SIGINT};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(d.base, signums[i], signal_cb, &d);
        event_add(sigs[i], NULL);
    }
    const char *addr;
    bool tls;
    for (size_t i = 0; http_server_listener(d.srv, i, &addr, &tls); i++)
        log_info("custodyd %s: listening on %s%s", custody_version(), tls ? "https://" : "",
                 addr);
    log_info("custodyd: state %s, %zu root(s), pid %d", d.cfg->state_dir, d.cfg->nroots,
             (int)getpid());
    log_info("custodyd: audit log %s: %llu event(s), origin %s", d.cfg->state_dir,
             (unsigned long long)lst.size, lst.origin);
    if (ready_fd >= 0) {
        ssize_t w = write(ready_fd, "R", 1);
        (void)w;
        close(ready_fd);
    }

    event_base_dispatch(d.base);

    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    http_server_free(d.srv);
    ledger_witnesses_stop(d.witnesses);
    ledger_close(d.ledger); /* commits what was accepted, final checkpoint */
    ledger_witnesses_free(d.witnesses);
    event_free(d.ledger_ev);
    gateway_free(d.gw);
    cache_close(d.models);
    authz_free(d.az);
    authz_ids_close(d.ids);
    store_close(d.store);
    if (d.pidfile) {
        unlink(d.pidfile);
        free(d.pidfile);
    }
    config_unref(d.cfg);
    event_base_free(d.base);
    log_info("custodyd: stopped");
    return 0;
}
