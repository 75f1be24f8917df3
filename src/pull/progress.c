/* progress.c — the pull progress bar: one line redrawn in place on a terminal (bar, percent,
 * bytes, rate, ETA), plain periodic lines otherwise (logs, CI). */
#include <string.h>

#include "pull/internal.h"

#define TTY_EVERY_NS 100000000ull    /* redraw at most 10 times a second */
#define PLAIN_EVERY_NS 5000000000ull /* a line every 5 s when not a terminal */

void pull_fmt_bytes(double v, char *out, size_t outlen)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < UTIL_ARRAY_LEN(unit)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%.0f %s", v, unit[u]);
    else
        snprintf(out, outlen, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
}

static void fmt_eta(double s, char *out, size_t outlen)
{
    if (s < 0 || s > 99 * 3600.0) {
        snprintf(out, outlen, "--:--");
        return;
    }
    unsigned t = (unsigned)(s + 0.5);
    if (t >= 3600)
        snprintf(out, outlen, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(out, outlen, "%u:%02u", t / 60, t % 60);
}

void pull_bar_init(struct pull_bar *b, FILE *out, bool tty, const char *label, uint64_t total)
{
    memset(b, 0, sizeof *b);
    b->out = out;
    b->tty = tty;
    util_strlcpy(b->label, label ? label : "", sizeof b->label);
    b->total = total;
    b->start_ns = b->rate_ns = util_monotonic_ns();
}

static void draw(struct pull_bar *b, uint64_t done, uint64_t now, bool final)
{
    double el = (double)(now - b->start_ns) / 1e9;
    double rate = final ? (el > 0 ? (double)done / el : 0) : b->rate;
    double pct = b->total ? 100.0 * (double)done / (double)b->total : 100.0;
    if (pct > 100) pct = 100;
    char d[16], t[16], r[16], eta[16];
    pull_fmt_bytes((double)done, d, sizeof d);
    pull_fmt_bytes((double)b->total, t, sizeof t);
    pull_fmt_bytes(rate, r, sizeof r);
    if (final)
        fmt_eta(el, eta, sizeof eta);
    else
        fmt_eta(rate > 0 ? (double)(b->total - UTIL_MIN(done, b->total)) / rate : -1, eta,
                sizeof eta);
    if (b->tty) {
        char bar[31];
        int fill = (int)(pct * 30 / 100);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(b->out, "\r%s [%s] %5.1f%% %s / %s  %s/s  %s %s\033[K%s", b->label, bar, pct, d, t,
                r, final ? "in" : "ETA", eta, final ? "\n" : "");
    } else {
        fprintf(b->out, "%s: %5.1f%% %s / %s  %s/s  %s %s\n", b->label, pct, d, t, r,
                final ? "in" : "ETA", eta);
    }
    fflush(b->out);
}

void pull_bar_update(struct pull_bar *b, uint64_t done)
{
    uint64_t now = util_monotonic_ns();
    /* rate: exponentially smoothed over ~2 s, sampled every >= 200 ms */
    if (now - b->rate_ns >= 200000000ull) {
        double dt = (double)(now - b->rate_ns) / 1e9;
        double inst = done >= b->rate_done ? (double)(done - b->rate_done) / dt : 0;
        double a = dt / (2.0 + dt);
        b->rate = b->rate > 0 ? b->rate + a * (inst - b->rate) : inst;
        b->rate_ns = now;
        b->rate_done = done;
    }
    uint64_t every = b->tty ? TTY_EVERY_NS : PLAIN_EVERY_NS;
    if (b->last_ns && now - b->last_ns < every) return;
    if (!b->last_ns && !b->tty && now - b->start_ns < PLAIN_EVERY_NS) return;
    b->last_ns = now;
    b->last_done = done;
    draw(b, done, now, false);
}

void pull_bar_finish(struct pull_bar *b, uint64_t done)
{
    draw(b, done, util_monotonic_ns(), true);
}

void pull_bar_progress(void *arg, uint64_t done, uint64_t total)
{
    struct pull_bar *b = arg;
    (void)total;
    pull_bar_update(b, b->base + done);
}
