/*
 * path.c — lexical path normalisation and "root:/path" resource ids.
 *
 * Normalisation walks the components right to left, counting pending ".."
 * so that no stack (and no allocation) is needed: a ".." cancels the next
 * real component to its left, exactly like applying it left to right, and
 * any ".." left over at the start climbs above the root (CUSTODY_EESCAPE).
 * A first pass validates and measures, a second writes the result.
 */
#include <string.h>

#include "store/internal.h"

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool store_root_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > STORE_ROOT_NAME_MAX || !is_alnum((unsigned char)name[0])) return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!is_alnum(c) && c != '_' && c != '-') return false;
    }
    return true;
}

enum comp_kind { COMP_SKIP, COMP_DOTDOT, COMP_NAME };

static enum comp_kind comp_classify(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.')) return COMP_SKIP;
    if (n == 2 && s[0] == '.' && s[1] == '.') return COMP_DOTDOT;
    return COMP_NAME;
}

/*
 * Visits components of in[0, len) from the last to the first. With out ==
 * NULL it only validates and returns the output length in *total; with out
 * it writes the kept components so that the result ends at out[*total].
 */
static int walk_components(const char *in, size_t len, char *out, size_t *total)
{
    size_t skip = 0, pos = out ? *total : 0, sum = 0;
    size_t end = len;
    for (;;) {
        size_t start = end;
        while (start > 0 && in[start - 1] != '/')
            start--;
        size_t clen = end - start;
        if (clen > STORE_NAME_MAX) return CUSTODY_ENAMETOOLONG;
        switch (comp_classify(in + start, clen)) {
        case COMP_SKIP:
            break;
        case COMP_DOTDOT:
            skip++;
            break;
        case COMP_NAME:
            if (skip) {
                skip--;
                break;
            }
            if (out) {
                pos -= clen;
                memcpy(out + pos, in + start, clen);
                out[--pos] = '/';
            } else {
                if (sum > SIZE_MAX - clen - 1) return CUSTODY_ENAMETOOLONG;
                sum += clen + 1;
            }
            break;
        }
        if (start == 0) break;
        end = start - 1;
    }
    if (skip) return CUSTODY_EESCAPE;
    if (!out) *total = sum;
    return 0;
}

int store_path_normalize(const char *in, size_t len, char *out, size_t outsz)
{
    if (!out || outsz == 0 || (!in && len)) return CUSTODY_EINVAL;
    out[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == 0x7f) /* NUL and control characters */
            return CUSTODY_EBADPATH;
    }
    if (len && !util_utf8_valid(in, len)) return CUSTODY_EBADPATH;

    size_t total = 0;
    int rc = walk_components(in, len, NULL, &total);
    if (rc) return rc;
    if (total == 0) {
        if (outsz < 2) return CUSTODY_ENAMETOOLONG;
        out[0] = '/';
        out[1] = '\0';
        return 0;
    }
    if (total >= outsz) return CUSTODY_ENAMETOOLONG;
    rc = walk_components(in, len, out, &total);
    if (rc) { /* cannot happen: the first pass accepted the same input */
        out[0] = '\0';
        return rc;
    }
    out[total] = '\0';
    return 0;
}

int store_resource_parse(const char *id, char *root, size_t rootsz, char *path, size_t pathsz)
{
    if (!id || !root || !path || rootsz == 0 || pathsz == 0) return CUSTODY_EINVAL;
    root[0] = '\0';
    path[0] = '\0';
    const char *colon = strchr(id, ':');
    if (!colon) return CUSTODY_EINVAL;
    size_t rlen = (size_t)(colon - id);
    if (!store_root_name_valid(id, rlen)) return CUSTODY_EINVAL;
    if (rlen >= rootsz) return CUSTODY_ENAMETOOLONG;
    int rc = store_path_normalize(colon + 1, strlen(colon + 1), path, pathsz);
    if (rc) return rc;
    memcpy(root, id, rlen);
    root[rlen] = '\0';
    return 0;
}
