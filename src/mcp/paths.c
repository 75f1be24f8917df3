/*
 * paths.c — which paths an MCP client may name, the way the reference
 * filesystem server decides it, and how an absolute path becomes a custody
 * resource (ROOT:/PATH).
 *
 * The checks here are lexical: custody mcp never opens the files itself.
 * custodyd resolves each path beneath its root with openat2(RESOLVE_BENEATH)
 * and decides it by policy; a symlink that leaves the root is refused there.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mcp/internal.h"

/* Node's path.resolve for POSIX: absolute p wins, else base/p; then ".",
 * ".." and repeated slashes are folded and a trailing slash dropped. */
char *mcp_path_resolve(const char *base, const char *p)
{
    struct strbuf in = STRBUF_INIT, out = STRBUF_INIT;
    if (p[0] != '/') {
        if (base && base[0] == '/') {
            sb_puts(&in, base);
        } else {
            char cwd[PATH_MAX];
            sb_puts(&in, getcwd(cwd, sizeof cwd) ? cwd : "/");
            if (base && *base) {
                sb_puts(&in, "/");
                sb_puts(&in, base);
            }
        }
        sb_puts(&in, "/");
    }
    sb_puts(&in, p);
    const char *s = in.buf ? in.buf : "/";
    sb_puts(&out, "");
    size_t n = strlen(s), i = 0;
    while (i < n) {
        while (i < n && s[i] == '/')
            i++;
        size_t j = i;
        while (j < n && s[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 0 || (len == 1 && s[i] == '.')) {
            /* nothing */
        } else if (len == 2 && s[i] == '.' && s[i + 1] == '.') {
            char *slash = out.len ? strrchr(out.buf, '/') : NULL;
            if (slash) {
                out.len = (size_t)(slash - out.buf);
                out.buf[out.len] = '\0';
            }
        } else {
            sb_puts(&out, "/");
            sb_append(&out, s + i, len);
        }
        i = j;
    }
    if (out.len == 0) sb_puts(&out, "/");
    sb_free(&in);
    return sb_detach(&out);
}

/* path.relative(from, to) for absolute, normalised paths. */
char *mcp_path_relative(const char *from, const char *to)
{
    /* skip the common leading components */
    const char *f = from, *t = to;
    for (;;) {
        while (*f == '/')
            f++;
        while (*t == '/')
            t++;
        size_t fl = strcspn(f, "/"), tl = strcspn(t, "/");
        if (fl == 0 || fl != tl || memcmp(f, t, fl) != 0) break;
        f += fl;
        t += tl;
    }
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "");
    while (*f) {
        while (*f == '/')
            f++;
        if (!*f) break;
        sb_puts(&sb, sb.len ? "/.." : "..");
        f += strcspn(f, "/");
    }
    if (*t) {
        if (sb.len) sb_puts(&sb, "/");
        sb_puts(&sb, t);
    }
    return sb_detach(&sb);
}

/* The reference's normalizePath for POSIX absolute paths: trim, strip one
 * surrounding quote on each side, fold slashes, drop a trailing slash. */
static char *normalize(const char *p)
{
    size_t n = strlen(p), a = 0, b = n, k;
    while (a < b && (k = mcp_js_space_len(p + a, b - a)) > 0)
        a += k;
    while (b > a) {
        /* trailing whitespace: test each code point start backwards */
        size_t s = b - 1;
        while (s > a && ((unsigned char)p[s] & 0xC0) == 0x80)
            s--;
        if (mcp_js_space_len(p + s, b - s) == b - s)
            b = s;
        else
            break;
    }
    if (a < b && (p[a] == '"' || p[a] == '\'')) a++;
    if (b > a && (p[b - 1] == '"' || p[b - 1] == '\'')) b--;
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "");
    for (size_t i = a; i < b; i++) {
        if (p[i] == '/' && sb.len && sb.buf[sb.len - 1] == '/') continue;
        sb_append(&sb, p + i, 1);
    }
    if (sb.len > 1 && sb.buf[sb.len - 1] == '/') sb.buf[--sb.len] = '\0';
    return sb_detach(&sb);
}

static bool within(const char *path, const char *dir)
{
    size_t dl = strlen(dir);
    if (strcmp(path, dir) == 0) return true;
    if (strcmp(dir, "/") == 0) return path[0] == '/';
    return strncmp(path, dir, dl) == 0 && path[dl] == '/';
}

bool mcp_within_allowed(struct mcp *m, const char *abs)
{
    if (!abs || !*abs || m->nallowed == 0) return false;
    char *norm = normalize(abs);
    char *p = norm[0] == '/' ? mcp_path_resolve("/", norm) : NULL;
    bool ok = false;
    for (size_t i = 0; p && i < m->nallowed && !ok; i++)
        ok = within(p, m->allowed[i]);
    free(p);
    free(norm);
    return ok;
}

char *mcp_allowed_list(struct mcp *m, const char *sep)
{
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "");
    for (size_t i = 0; i < m->nallowed; i++) {
        if (i) sb_puts(&sb, sep);
        sb_puts(&sb, m->allowed[i]);
    }
    return sb_detach(&sb);
}

static char *expand_home(const char *p)
{
    if (strcmp(p, "~") == 0 || strncmp(p, "~/", 2) == 0) {
        const char *home = getenv("HOME");
        struct strbuf sb = STRBUF_INIT;
        sb_puts(&sb, home && *home ? home : "/");
        sb_puts(&sb, "/");
        sb_puts(&sb, p + 1);
        char *joined = sb_detach(&sb);
        char *r = mcp_path_resolve("/", joined);
        free(joined);
        return r;
    }
    return util_strdup(p);
}

int mcp_validate(struct mcp *m, const char *requested, char **abs, char **err)
{
    *abs = NULL;
    *err = NULL;
    struct strbuf e = STRBUF_INIT;
    char *expanded = expand_home(requested);
    if (((expanded[0] >= 'A' && expanded[0] <= 'Z') ||
         (expanded[0] >= 'a' && expanded[0] <= 'z')) &&
        expanded[1] == ':' && (expanded[2] == '\0' || expanded[2] == '/' || expanded[2] == '\\')) {
        sb_printf(&e, "Access denied - Windows-style path received on a POSIX host: %s", requested);
        free(expanded);
        *err = sb_detach(&e);
        return -1;
    }
    char *a = NULL;
    if (expanded[0] == '/') {
        a = mcp_path_resolve("/", expanded);
    } else if (m->nallowed == 0) {
        a = mcp_path_resolve(NULL, expanded);
    } else {
        for (size_t i = 0; i < m->nallowed && !a; i++) {
            char *cand = mcp_path_resolve(m->allowed[i], expanded);
            if (mcp_within_allowed(m, cand))
                a = cand;
            else
                free(cand);
        }
        if (!a) a = mcp_path_resolve(m->allowed[0], expanded);
    }
    free(expanded);
    if (memchr(requested, '\0', strlen(requested)) || !mcp_within_allowed(m, a)) {
        char *list = mcp_allowed_list(m, ", ");
        sb_printf(&e, "Access denied - path outside allowed directories: %s not in %s", a, list);
        free(list);
        free(a);
        *err = sb_detach(&e);
        return -1;
    }
    *abs = a;
    return 0;
}

/* ---- allowed directories ---- */

void mcp_free_allowed(struct mcp *m)
{
    for (size_t i = 0; i < m->nallowed; i++)
        free(m->allowed[i]);
    free(m->allowed);
    m->allowed = NULL;
    m->nallowed = 0;
}

static void add_allowed(char ***v, size_t *n, char *dir)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i], dir) == 0) {
            free(dir);
            return;
        }
    *v = util_realloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = dir;
}

/* Directories named on the command line keep both their spelling and their
 * real path (as the reference does, for /tmp -> /private/tmp); roots sent by
 * the client are used by their real path only. A directory that does not
 * exist or is not a directory is skipped with a warning. */
int mcp_set_allowed(struct mcp *m, char *const *dirs, size_t n, bool from_roots)
{
    char **v = NULL;
    size_t nv = 0;
    for (size_t i = 0; i < n && nv < MCP_DIRS_MAX; i++) {
        char *exp = expand_home(dirs[i]);
        char *absolute = mcp_path_resolve(NULL, exp);
        free(exp);
        char *orig = normalize(absolute);
        char real[PATH_MAX];
        char *cands[2] = {NULL, NULL};
        if (realpath(absolute, real)) {
            char *r = normalize(real);
            if (!from_roots && strcmp(orig, r) != 0) {
                cands[0] = orig;
                cands[1] = r;
            } else {
                free(orig);
                cands[0] = r;
            }
        } else if (from_roots) {
            fprintf(stderr, "Skipping invalid path or inaccessible: %s\n", dirs[i]);
            free(orig);
        } else {
            cands[0] = orig;
        }
        free(absolute);
        for (int k = 0; k < 2; k++) {
            if (!cands[k]) continue;
            struct stat st;
            if (stat(cands[k], &st) != 0) {
                fprintf(stderr, "Warning: Cannot access directory %s, skipping\n", cands[k]);
                free(cands[k]);
            } else if (!S_ISDIR(st.st_mode)) {
                fprintf(stderr,
                        from_roots ? "Skipping non-directory root: %s\n"
                                   : "Warning: %s is not a directory, skipping\n",
                        cands[k]);
                free(cands[k]);
            } else {
                add_allowed(&v, &nv, cands[k]);
            }
        }
    }
    if (nv == 0) {
        free(v);
        return CUSTODY_ENOENT;
    }
    mcp_free_allowed(m);
    m->allowed = v;
    m->nallowed = nv;
    return 0;
}

/* ---- custody roots ---- */

void mcp_free_roots(struct mcp *m)
{
    for (size_t i = 0; i < m->nroots; i++) {
        free(m->roots[i].name);
        free(m->roots[i].path);
    }
    free(m->roots);
    m->roots = NULL;
    m->nroots = 0;
}

int mcp_load_roots(struct mcp *m)
{
    custody_root_t *r = NULL;
    size_t n = 0;
    int rc;
    MCP_RETRY(m, rc, custody_root_list(m->c, &r, &n));
    if (rc) return rc;
    mcp_free_roots(m);
    m->roots = util_calloc(n ? n : 1, sizeof *m->roots);
    for (size_t i = 0; i < n; i++) {
        char real[PATH_MAX];
        m->roots[i].name = util_strdup(r[i].name);
        m->roots[i].path = realpath(r[i].path, real) ? normalize(real) : normalize(r[i].path);
    }
    m->nroots = n;
    custody_roots_free(r, n);
    return 0;
}

char *mcp_resource(struct mcp *m, const char *abs)
{
    const struct mcp_root *best = NULL;
    for (size_t i = 0; i < m->nroots; i++)
        if (within(abs, m->roots[i].path) &&
            (!best || strlen(m->roots[i].path) > strlen(best->path)))
            best = &m->roots[i];
    if (!best) return NULL;
    const char *rest = abs + strlen(best->path);
    if (strcmp(best->path, "/") == 0) rest = abs;
    struct strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "%s:%s", best->name, *rest ? rest : "/");
    return sb_detach(&sb);
}
