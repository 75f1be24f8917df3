/* fuzz_mcp — `custody mcp`'s JSON-RPC layer on arbitrary bytes: line
 * framing (CRLF, a last line without newline, empty and non-JSON lines),
 * JSON parsing, initialize / server/discover / ping / tools/list /
 * tools/call dispatch with _meta protocol versions, the tools' argument
 * checks and path validation, and the roots protocol (our roots/list
 * requests and the client's answers, file:// URIs).
 *
 * The input is stdin (a memfd: its end is EOF, so the server never waits
 * for a client reply), stdout is /dev/null. mcp_serve refuses to start
 * unless custodyd lists its roots, so a stub custodyd on a Unix socket
 * (a thread, stack memory only) answers GET /v1/roots with two fixed roots
 * and closes every other connection unanswered: each tool call that needs
 * custodyd fails fast with a connection error, and the revive callback
 * fails at once (no daemon is ever started). The allowed directory is /tmp;
 * an input that starts with an empty line starts with none (waiting for the
 * client's roots). A message must never stop the server: mcp_serve
 * returning non-zero (it only does on a read or write error) aborts.
 *
 * FUZZ_MCP_VERBOSE=1 (to look at one input) keeps the server's stderr
 * chatter and writes its answers to stdout; both go to /dev/null otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "mcp/mcp.h"

/* Bytes of one input given to the server (the rest is ignored). The server's
 * work is linear in the input, but some bytes are dear: each path refused
 * is reported to custodyd (a connection), each exclude pattern without a
 * '*' is compiled three times, and a pattern that runs into glob.c's bounds
 * takes ~10 ms (more under ASan) to find out. 64 KiB of such messages take
 * ~20 s here; 8 KiB stays well inside -timeout=5. */
#define INPUT_MAX 8192

static char g_dir[64];   /* mkdtemp'd directory holding the socket */
static char g_sock[128]; /* the stub custodyd's socket */
static int g_out = -1;   /* stdout of the server */
static FILE *g_quiet;    /* stderr while serving (NULL: keep stderr) */

static const char roots_body[] = "{\"roots\":[{\"name\":\"tmp\",\"path\":\"/tmp\",\"labels\":{}},"
                                 "{\"name\":\"sys\",\"path\":\"/\"}]}";

/* ---- the stub custodyd ---- */

static void serve_one(int fd)
{
    struct timeval tv = {2, 0}; /* never block the fuzzer on a stuck client */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    char head[8192];
    size_t len = 0;
    while (len < sizeof head - 1) {
        ssize_t n = read(fd, head + len, sizeof head - 1 - len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
        head[len] = '\0';
        if (strstr(head, "\r\n\r\n")) break;
    }
    static const char want[] = "GET /v1/roots ";
    if (len >= sizeof want - 1 && memcmp(head, want, sizeof want - 1) == 0) {
        char resp[512];
        int n = snprintf(resp, sizeof resp,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                         sizeof roots_body - 1, roots_body);
        for (size_t off = 0; n > 0 && off < (size_t)n;) {
            ssize_t w = send(fd, resp + off, (size_t)n - off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) break;
            off += (size_t)w;
        }
    }
    /* anything else: closed unanswered (a connection error for the client) */
    close(fd);
}

static void *stub_custodyd(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            serve_one(fd);
        else if (errno != EINTR && errno != ECONNABORTED)
            return NULL;
    }
}

static void cleanup(void)
{
    if (g_sock[0]) unlink(g_sock);
    if (g_dir[0]) rmdir(g_dir);
}

/* UB is a finding too: stop at the first report (the build's -fsanitize=undefined recovers) */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

static int no_revive(void *arg)
{
    (void)arg;
    return -1; /* custodyd stays down: never start one */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz-mcp-XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    snprintf(g_sock, sizeof g_sock, "%s/custodyd.sock", g_dir);
    atexit(cleanup);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", g_sock);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 64) != 0)
        abort();
    pthread_t t;
    if (pthread_create(&t, NULL, stub_custodyd, (void *)(intptr_t)lfd) != 0) abort();
    pthread_detach(t);
    const char *v = getenv("FUZZ_MCP_VERBOSE");
    if (v && *v && strcmp(v, "0") != 0) {
        g_out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    } else {
        g_out = open("/dev/null", O_WRONLY | O_CLOEXEC);
        g_quiet = fopen("/dev/null", "we");
        if (!g_quiet) abort();
    }
    if (g_out < 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX) size = INPUT_MAX;
    int in = memfd_create("fuzz-mcp-in", MFD_CLOEXEC);
    if (in < 0) abort();
    for (size_t off = 0; off < size;) {
        ssize_t w = write(in, data + off, size - off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    if (lseek(in, 0, SEEK_SET) != 0) abort();

    custody_client_t *c = NULL;
    if (custody_client_open(g_sock, &c) != 0) abort();
    static char *const dirs[] = {"/tmp"};
    struct mcp_server_opts o = {
        .client = c,
        .dirs = dirs,
        .ndirs = size && data[0] == '\n' ? 0 : 1,
        .in_fd = in,
        .out_fd = g_out,
        .revive = no_revive,
    };
    /* glibc's stderr is an assignable FILE *: this quiets the server's
     * fprintf(stderr); sanitizer and libFuzzer reports do not go through it */
    FILE *saved = stderr;
    if (g_quiet) stderr = g_quiet;
    int rc = mcp_serve(&o);
    stderr = saved;
    custody_client_close(c);
    close(in);
    if (rc != 0) {
        fprintf(stderr, "fuzz_mcp: mcp_serve returned %d (%s)\n", rc, custody_err_code(rc));
        abort();
    }
    return 0;
}
