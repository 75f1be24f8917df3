/* log.c — one line per event on stderr; systemd/journald adds its own stamp,
 * so we print an RFC 3339 time only when stderr is a terminal or a file. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static enum log_level g_level = LOG_INFO;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level lvl)
{
    __atomic_store_n(&g_level, lvl, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
    return __atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return CUSTODY_EINVAL;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *tags[] = {"error", "warn", "info", "debug"};
    if (lvl > log_get_level())
        return;
    char line[4096];
    char ts[40];
    util_rfc3339_ns(util_now_ns(), ts);
    int n = snprintf(line, sizeof line, "%s %s: ", ts, tags[lvl]);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : UTIL_MIN((size_t)m, sizeof line - (size_t)n - 2));
    /* one event, one line: fold embedded newlines */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    pthread_mutex_lock(&g_log_lock);
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    pthread_mutex_unlock(&g_log_lock);
}
