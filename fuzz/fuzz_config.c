/*
 * fuzz_config.c — libFuzzer target for src/config's parsers.
 *
 * Each input is parsed as config.yaml and as roots.yaml into a fresh default
 * config. Besides crashes, leaks and timeouts (ASan/UBSan/libFuzzer), it
 * checks what must always hold:
 *   - a parse succeeds with no messages, or fails with CUSTODY_ECONFIG and
 *     messages that are lines starting "FILE:" (at most CONFIG_MAX_ERRORS + 1);
 *   - a failed config_parse_main leaves the config at its defaults;
 *   - roots that parse are written by config_format_roots and read back
 *     identical (the quoting in roots.yaml round-trips).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#define STATE "/fuzz/state"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_config: %s\n", what);
        abort();
    }
}

/* Every message line starts with "file:" and ends with a newline. */
static void check_messages(const struct strbuf *err, const char *file, int rc)
{
    if (rc == 0) {
        check(err->len == 0, "success with messages");
        return;
    }
    check(rc == CUSTODY_ECONFIG, "unexpected return code");
    check(err->len > 0 && err->buf[err->len - 1] == '\n', "failure without a message line");
    size_t lines = 0, flen = strlen(file);
    for (const char *line = err->buf; *line; lines++) {
        check(strncmp(line, file, flen) == 0 && line[flen] == ':', "line without FILE:");
        const char *nl = strchr(line, '\n');
        line = nl + 1;
    }
    check(lines <= CONFIG_MAX_ERRORS + 1, "too many message lines");
}

static bool same_roots(const struct custody_config *a, const struct custody_config *b)
{
    if (a->nroots != b->nroots) return false;
    for (size_t i = 0; i < a->nroots; i++) {
        const struct cfg_root *x = &a->roots[i], *y = &b->roots[i];
        if (strcmp(x->name, y->name) || strcmp(x->path, y->path) || x->nlabels != y->nlabels)
            return false;
        for (size_t j = 0; j < x->nlabels; j++)
            if (strcmp(x->labels[j].key, y->labels[j].key) ||
                strcmp(x->labels[j].value, y->labels[j].value))
                return false;
    }
    return true;
}

static void fuzz_main(const char *text, size_t len)
{
    struct custody_config *cfg = config_new_default(STATE);
    struct strbuf err = STRBUF_INIT;
    int rc = config_parse_main(cfg, CONFIG_FILE, text, len, &err);
    check_messages(&err, CONFIG_FILE, rc);
    if (rc) {
        /* nothing may have been stored */
        struct custody_config *d = config_new_default(STATE);
        check(strcmp(cfg->node_name, d->node_name) == 0 &&
                  strcmp(cfg->unix_path, d->unix_path) == 0 &&
                  strcmp(cfg->tcp_address, d->tcp_address) == 0 &&
                  strcmp(cfg->tls_cert, d->tls_cert) == 0 &&
                  strcmp(cfg->tls_key, d->tls_key) == 0 && cfg->unix_mode == d->unix_mode &&
                  cfg->tcp_port == d->tcp_port && cfg->tcp_enabled == d->tcp_enabled &&
                  cfg->max_headers == d->max_headers && cfg->max_body_bytes == d->max_body_bytes &&
                  cfg->versions == d->versions && cfg->log_level == d->log_level,
              "a failed parse changed the config");
        config_unref(d);
    }
    sb_free(&err);
    config_unref(cfg);
}

static void fuzz_roots(const char *text, size_t len)
{
    struct custody_config *cfg = config_new_default(STATE);
    struct strbuf err = STRBUF_INIT;
    int rc = config_parse_roots(cfg, CONFIG_ROOTS_FILE, text, len, &err);
    check_messages(&err, CONFIG_ROOTS_FILE, rc);
    if (rc == 0) {
        struct strbuf out = STRBUF_INIT;
        check(config_format_roots(cfg->roots, cfg->nroots, &out) == 0,
              "parsed roots cannot be formatted");
        struct custody_config *again = config_new_default(STATE);
        sb_reset(&err);
        rc = config_parse_roots(again, CONFIG_ROOTS_FILE, out.buf, out.len, &err);
        if (rc) fprintf(stderr, "%s---\n%s", err.buf, out.buf);
        check(rc == 0, "formatted roots do not parse");
        check(same_roots(cfg, again), "roots changed in a format/parse round trip");
        config_unref(again);
        sb_free(&out);
    } else {
        check(cfg->nroots == 0, "a failed parse changed the roots");
    }
    sb_free(&err);
    config_unref(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the parsers take (text, len) and must not read past len: give them
     * an exact-size copy so ASan catches any over-read */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    fuzz_main(text, size);
    fuzz_roots(text, size);
    free(text);
    return 0;
}
