/* runner.c — runs one registered test (`unit-tests NAME`), all of them
 * (`unit-tests`), or lists them (`unit-tests --list`). With no name, each
 * test runs in a forked child so one crash does not hide the rest. */
#include <errno.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

struct test_entry {
    const char *name;
    test_fn fn;
};
static struct test_entry g_tests[1024];
static size_t g_ntests;
static char g_tmpdir[256];

void test_register(const char *name, test_fn fn)
{
    if (g_ntests >= sizeof g_tests / sizeof g_tests[0]) {
        fprintf(stderr, "too many tests\n");
        abort();
    }
    g_tests[g_ntests].name = name;
    g_tests[g_ntests].fn = fn;
    g_ntests++;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    /* make directories a test locked (0000) removable again; never chmod
     * anything else: chmod follows symlinks, and tests make symlinks to /
     * and /proc/self/root */
    if (flag == FTW_DP)
        chmod(path, 0700);
    return remove(path);
}

static void tmp_cleanup(void)
{
    if (g_tmpdir[0])
        nftw(g_tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_tmpdir(void)
{
    if (!g_tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/custody-test-XXXXXX", base ? base : "/tmp");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(tmp_cleanup);
    }
    return g_tmpdir;
}

void test_write_file(const char *dir, const char *rel, const char *content)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                TEST_FAIL_("mkdir %s: %s", path, strerror(errno));
            *s = '/';
        }
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        TEST_FAIL_("open %s: %s", path, strerror(errno));
    fwrite(content, 1, strlen(content), f);
    fclose(f);
}

static int run_one(const struct test_entry *t)
{
    t->fn();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < g_ntests; i++)
            printf("%s\n", g_tests[i].name);
        return 0;
    }
    if (argc > 1) {
        for (size_t i = 0; i < g_ntests; i++)
            if (strcmp(g_tests[i].name, argv[1]) == 0)
                return run_one(&g_tests[i]);
        fprintf(stderr, "no such test: %s\n", argv[1]);
        return 2;
    }
    size_t passed = 0, failed = 0;
    for (size_t i = 0; i < g_ntests; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(run_one(&g_tests[i]));
        int st = 0;
        waitpid(pid, &st, 0);
        bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
        if (ok)
            printf("ok   %s\n", g_tests[i].name);
        else if (WIFSIGNALED(st))
            printf("FAIL %s (signal %d)\n", g_tests[i].name, WTERMSIG(st));
        else
            printf("FAIL %s (exit %d)\n", g_tests[i].name, WEXITSTATUS(st));
        fflush(stdout);
        ok ? passed++ : failed++;
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
