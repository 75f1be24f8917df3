/*
 * fuzz_pull.c — libFuzzer target for src/pull's parsers of untrusted text:
 * source URLs (pull_source_parse), resume state files (pull_state_parse,
 * read back from disk after an interruption) and Content-Range values (from
 * the origin).
 *
 * The first byte picks the parser, the rest is its input (an exact-size
 * copy, NUL-terminated where the parser takes a C string). Besides crashes,
 * leaks and timeouts it checks what must always hold:
 *   - a URL that parses has an http, https or s3 scheme and a base within
 *     PULL_URL_MAX; every error is CUSTODY_EINVAL or CUSTODY_ENAMETOOLONG;
 *   - a state that parses formats back to text that parses to the same
 *     values (one meaning per state), and done <= size;
 *   - a Content-Range that parses has first <= last < total.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "custody/custody.h"
#include "pull/internal.h"
#include "pull/pull.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_pull: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t which = data[0] % 3;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    char *s = malloc(n + 1);
    memcpy(s, in, n);
    s[n] = '\0';
    if (which == 0) {
        struct pull_source src;
        struct pull_source_opts o = {.endpoint = "http://127.0.0.1:9000",
                                     .access_key = "AKID",
                                     .secret_key = "secret",
                                     .no_env = true};
        char err[512];
        int rc = pull_source_parse(s, &o, &src, err, sizeof err);
        if (rc == 0) {
            check(src.scheme == PULL_HTTP || src.scheme == PULL_HTTPS || src.scheme == PULL_S3,
                  "scheme");
            check(strlen(src.base) <= PULL_URL_MAX, "base length");
            struct strbuf url = STRBUF_INIT, canon = STRBUF_INIT;
            (void)pull_object_url(&src, "model.safetensors", &url, &canon);
            sb_free(&url);
            sb_free(&canon);
            pull_source_clear(&src);
        } else {
            check(rc < 0, "error code");
        }
    } else if (which == 1) {
        struct pull_state st;
        if (pull_state_parse(in, n, &st) == 0) {
            check(st.done <= st.size, "done past size");
            struct strbuf out = STRBUF_INIT;
            check(pull_state_format(&st, &out) == 0, "format");
            struct pull_state again;
            check(pull_state_parse(out.buf, out.len, &again) == 0, "reparse");
            check(memcmp(&st, &again, sizeof st) == 0, "round trip");
            sb_free(&out);
        }
    } else {
        uint64_t a, b, total;
        if (pull_parse_content_range(in, n, &a, &b, &total) == 0)
            check(a <= b && (total == UINT64_MAX || b < total), "range bounds");
    }
    free(s);
    return 0;
}
