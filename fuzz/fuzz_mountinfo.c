/* fuzz_mountinfo — custody run's reader of /proc/self/mountinfo
 * (src/sandbox/mountinfo.c) on arbitrary bytes: field splitting, the
 * optional fields before "-", major:minor, octal escapes at the end of a
 * field, NUL bytes inside a line, very long lines. The text comes from the
 * kernel, but what it holds (mount points) is chosen by whoever can mount,
 * so it is parsed with bounds like any other input. Each parsed mount must
 * have its three strings, and sbx_path_below must agree with itself on the
 * parsed paths. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sbx_mount *m = NULL;
    size_t n = 0;
    if (sbx_mounts_parse((const char *)data, size, &m, &n) != 0) abort();
    for (size_t i = 0; i < n; i++) {
        if (!m[i].root || !m[i].point || !m[i].fstype) abort();
        if (m[i].point[0] == '/') {
            const char *rest = sbx_path_below(m[i].point, m[i].point);
            if (!rest || *rest) abort(); /* a path is below itself, with nothing left */
            if (!sbx_path_below(m[i].point, "/")) abort();
        }
    }
    sbx_mounts_free(m, n);
    return 0;
}
