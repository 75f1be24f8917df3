/*
 * diff.c — edit_file's edits and its unified diff, the same bytes as the
 * reference server (its applyFileEdits / createUnifiedDiff, and jsdiff 8.0.4
 * createTwoFilesPatch underneath). See diff.h for the contract.
 *
 * The line diff. jsdiff runs Myers' greedy forward search over lines (a line
 * keeps its '\n'): round d extends, for each diagonal k = x - y in range,
 * the better of the round d-1 paths on k+1 (then an insertion) and k-1 (then
 * a deletion) and follows the diagonal as far as lines agree. Among equally
 * short edit scripts the one it reports depends on three details we keep:
 *   - a deletion is taken when both predecessors reach the same x (the
 *     insertion only when it reaches strictly further);
 *   - once a path touches the last old line, diagonals above it are no longer
 *     considered, and once one touches the last new line, diagonals below it
 *     (the loop bounds change while a round runs);
 *   - consecutive edits of one kind merge into one block, but an insertion
 *     followed directly by a deletion stays in that order in the output.
 * We keep one bit per (round, diagonal) visited — which predecessor was
 * taken — and walk the bits back from the end; the snakes are re-found by
 * walking forward. (That needs every predecessor to come from the round just
 * before; jsdiff's bookkeeping can in principle hand out an older path, so
 * we check it on every step and would give up as below, but the bounds
 * above never let that happen.) Memory is about D^2/16 bytes for D edits plus O(N) for the
 * lines; time O((N+M)·D). Past MCP_DIFF_MAX_D edits or MCP_DIFF_MAX_WORK
 * steps (the reference would be at it for minutes) we give up on jsdiff's
 * exact script and emit a simpler correct one: the common prefix and suffix
 * as context, everything between them deleted and then inserted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/diff.h"
#include "mcp/internal.h"

#define MCP_DIFF_MAX_D 20000                 /* edits; bits kept ~ D^2/2 (25 MB) */
#define MCP_DIFF_MAX_WORK ((int64_t)1 << 30) /* diagonal steps + line compares */
#define MCP_DIFF_CONTEXT 4                   /* jsdiff's default context */

#define EDIT_NOT_FOUND_MSG "Could not find exact match for edit:\n"

/* ---- line splitting ---- */

/* Where the lines of s start. With keep_nl (jsdiff's tokens) each line ends
 * after its '\n' and a final empty piece is no line: line i is
 * [st[i], st[i+1]). Without (String.split('\n')) there are always
 * count('\n') + 1 pieces and piece i is [st[i], st[i+1] - 1): st[n] is then
 * len + 1. Returns the malloc'd array of *n + 1 offsets, NULL on OOM. */
static uint32_t *line_starts(const char *s, size_t len, bool keep_nl, size_t *n)
{
    size_t count = 0;
    for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + len - p))) != NULL; p++)
        count++;
    if (keep_nl)
        *n = count + (len > 0 && s[len - 1] != '\n');
    else
        *n = count + 1;
    uint32_t *st = malloc((*n + 1) * sizeof(*st));
    if (!st) return NULL;
    size_t i = 0;
    st[i++] = 0;
    for (const char *p = s; (p = memchr(p, '\n', (size_t)(s + len - p))) != NULL; p++) {
        if (i <= *n) st[i++] = (uint32_t)(p + 1 - s);
    }
    st[*n] = (uint32_t)(keep_nl ? len : len + 1);
    return st;
}

/* ---- interning: equal byte strings get equal ids ---- */

struct interner {
    uint32_t *slots; /* id + 1; 0 is empty */
    size_t mask;
    const char **ptr; /* per id: one occurrence */
    uint32_t *len;
    uint32_t *hash;
    size_t nids, cap;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3u;
    }
    return h ^ (h >> 29);
}

static void interner_free(struct interner *t)
{
    free(t->slots);
    free(t->ptr);
    free(t->len);
    free(t->hash);
    memset(t, 0, sizeof(*t));
}

static int interner_grow(struct interner *t)
{
    size_t nslots = t->slots ? (t->mask + 1) * 2 : 1024;
    uint32_t *slots = calloc(nslots, sizeof(*slots));
    if (!slots) return -1;
    for (size_t id = 0; id < t->nids; id++) {
        size_t j = t->hash[id] & (nslots - 1);
        while (slots[j])
            j = (j + 1) & (nslots - 1);
        slots[j] = (uint32_t)id + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->mask = nslots - 1;
    size_t cap = nslots / 2;
    const char **ptr = realloc(t->ptr, cap * sizeof(*ptr));
    if (!ptr) return -1;
    t->ptr = ptr;
    uint32_t *len = realloc(t->len, cap * sizeof(*len));
    if (!len) return -1;
    t->len = len;
    uint32_t *hash = realloc(t->hash, cap * sizeof(*hash));
    if (!hash) return -1;
    t->hash = hash;
    t->cap = cap;
    return 0;
}

/* The id of p[0..n) in *id; 0 or -1 on OOM. */
static int intern(struct interner *t, const char *p, size_t n, uint32_t *id)
{
    if (t->nids >= t->cap && interner_grow(t) != 0) return -1;
    uint32_t h = (uint32_t)hash_bytes(p, n);
    size_t j = h & t->mask;
    for (; t->slots[j]; j = (j + 1) & t->mask) {
        uint32_t c = t->slots[j] - 1;
        if (t->hash[c] == h && t->len[c] == n && memcmp(t->ptr[c], p, n) == 0) {
            *id = c;
            return 0;
        }
    }
    uint32_t c = (uint32_t)t->nids++;
    t->ptr[c] = p;
    t->len[c] = (uint32_t)n;
    t->hash[c] = h;
    t->slots[j] = c + 1;
    *id = c;
    return 0;
}

/* ---- jsdiff's line diff ---- */

enum { OP_COMMON = 0, OP_ADD = 1, OP_DEL = 2 };

struct comp {
    int type;
    size_t count;
};

struct comps {
    struct comp *v;
    size_t n, cap;
};

static int comps_add(struct comps *c, int type, size_t count)
{
    if (count == 0) return 0;
    if (type != OP_COMMON && c->n > 0 && c->v[c->n - 1].type == type) {
        c->v[c->n - 1].count += count;
        return 0;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct comp *v = realloc(c->v, cap * sizeof(*v));
        if (!v) return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (struct comp){type, count};
    return 0;
}

static size_t snake(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, size_t x, size_t y)
{
    size_t s = 0;
    while (x + s < na && y + s < nb && a[x + s] == b[y + s])
        s++;
    return s;
}

#define UNDEF INT64_MIN

/* jsdiff's edit script as ops (OP_ADD / OP_DEL, in order) in *ops_out.
 * Returns 0, 1 when it gave up (too many edits or steps), -1 on OOM. */
static int myers_ops(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint8_t **ops_out,
                     size_t *nops_out)
{
    int rc = -1;
    int64_t dmax = (int64_t)(na + nb) < MCP_DIFF_MAX_D ? (int64_t)(na + nb) : MCP_DIFF_MAX_D;
    int64_t off = dmax + 2;
    int64_t *vbuf = malloc((size_t)(2 * off + 1) * sizeof(*vbuf));
    int32_t *wbuf = malloc((size_t)(2 * off + 1) * sizeof(*wbuf));
    int64_t *rstart = malloc((size_t)(dmax + 1) * sizeof(*rstart)); /* first k of round d */
    uint64_t *rbase = malloc((size_t)(dmax + 1) * sizeof(*rbase));  /* its first bit */
    uint8_t *bits = NULL, *ops = NULL;
    size_t bitcap = 0;
    uint64_t nbits = 0;
    if (!vbuf || !wbuf || !rstart || !rbase) goto out;
    for (int64_t i = 0; i < 2 * off + 1; i++)
        vbuf[i] = UNDEF;
    int64_t *v = vbuf + off; /* by diagonal k: x of its path, UNDEF for none */
    int32_t *w = wbuf + off; /* the round that wrote v[k] */

    int64_t nold = (int64_t)na, nnew = (int64_t)nb;
    int64_t work = 0, dfinal = -1, kfinal = 0;
    int64_t x0 = (int64_t)snake(a, na, b, nb, 0, 0) - 1; /* x: index of the last old line used */
    v[0] = x0;
    w[0] = 0;
    if (x0 + 1 >= nold && x0 + 1 >= nnew) {
        dfinal = 0;
    } else {
        int64_t kmin = INT64_MIN / 4, kmax = INT64_MAX / 4;
        for (int64_t d = 1; d <= dmax && dfinal < 0; d++) {
            int64_t lo = kmin > -d ? kmin : -d;
            uint64_t used = 0; /* bits this round */
            rstart[d] = lo;
            rbase[d] = nbits;
            for (int64_t k = lo; k <= (kmax < d ? kmax : d); k += 2) {
                if (++work > MCP_DIFF_MAX_WORK) {
                    rc = 1;
                    goto out;
                }
                used = (uint64_t)(k - lo) / 2 + 1;
                uint64_t bit = nbits + used - 1;
                if (bit / 8 >= bitcap) {
                    size_t cap = bitcap ? bitcap * 2 : 4096;
                    uint8_t *nb8 = realloc(bits, cap);
                    if (!nb8) goto out;
                    memset(nb8 + bitcap, 0, cap - bitcap);
                    bits = nb8;
                    bitcap = cap;
                }
                int64_t del = v[k - 1], add = v[k + 1];
                if (del != UNDEF) v[k - 1] = UNDEF; /* nobody reads it after this diagonal */
                bool can_add = add != UNDEF && add - k >= 0 && add - k < nnew;
                bool can_del = del != UNDEF && del + 1 < nold;
                if (!can_add && !can_del) {
                    v[k] = UNDEF;
                    continue;
                }
                int64_t x;
                int32_t from;
                if (!can_del || (can_add && del < add)) {
                    x = add;
                    from = w[k + 1];
                    bits[bit / 8] |= (uint8_t)(1u << (bit % 8));
                } else {
                    x = del + 1;
                    from = w[k - 1];
                }
                if (from != d - 1) {
                    /* a path from an older round; by our reading of the
                     * search this cannot happen, and the bits could not
                     * describe it, so give up rather than guess */
                    rc = 1;
                    goto out;
                }
                int64_t s = (int64_t)snake(a, na, b, nb, (size_t)(x + 1), (size_t)(x - k + 1));
                work += s;
                x += s;
                int64_t y = x - k;
                if (x + 1 >= nold && y + 1 >= nnew) {
                    dfinal = d;
                    kfinal = k;
                    break;
                }
                v[k] = x;
                w[k] = (int32_t)d;
                if (x + 1 >= nold && k - 1 < kmax) kmax = k - 1;
                if (y + 1 >= nnew && k + 1 > kmin) kmin = k + 1;
            }
            nbits += used;
        }
        if (dfinal < 0) {
            rc = 1;
            goto out;
        }
    }

    ops = malloc(dfinal > 0 ? (size_t)dfinal : 1);
    if (!ops) goto out;
    int64_t k = kfinal;
    for (int64_t d = dfinal; d >= 1; d--) {
        if (k < rstart[d] || (k - rstart[d]) % 2 != 0) {
            rc = 1;
            goto out;
        }
        uint64_t bit = rbase[d] + (uint64_t)(k - rstart[d]) / 2;
        if (bits[bit / 8] & (1u << (bit % 8))) {
            ops[d - 1] = OP_ADD;
            k++;
        } else {
            ops[d - 1] = OP_DEL;
            k--;
        }
    }
    if (k != 0) {
        rc = 1;
        goto out;
    }
    *ops_out = ops;
    *nops_out = (size_t)dfinal;
    ops = NULL;
    rc = 0;
out:
    free(vbuf);
    free(wbuf);
    free(rstart);
    free(rbase);
    free(bits);
    free(ops);
    return rc;
}

/* The diff of two id sequences as blocks of common / added / removed lines. */
static int line_comps(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, struct comps *c)
{
    uint8_t *ops = NULL;
    size_t nops = 0;
    int rc = myers_ops(a, na, b, nb, &ops, &nops);
    if (rc < 0) return -1;
    if (rc == 1) {
        size_t pre = snake(a, na, b, nb, 0, 0);
        size_t suf = 0;
        while (suf < na - pre && suf < nb - pre && a[na - 1 - suf] == b[nb - 1 - suf])
            suf++;
        if (comps_add(c, OP_COMMON, pre) || comps_add(c, OP_DEL, na - pre - suf) ||
            comps_add(c, OP_ADD, nb - pre - suf) || comps_add(c, OP_COMMON, suf))
            return -1;
        return 0;
    }
    size_t x = 0, y = 0, s = snake(a, na, b, nb, 0, 0);
    rc = comps_add(c, OP_COMMON, s);
    x += s;
    y += s;
    for (size_t i = 0; i < nops && rc == 0; i++) {
        rc = comps_add(c, ops[i], 1);
        if (ops[i] == OP_ADD)
            y++;
        else
            x++;
        s = snake(a, na, b, nb, x, y);
        if (rc == 0) rc = comps_add(c, OP_COMMON, s);
        x += s;
        y += s;
    }
    free(ops);
    return rc;
}

/* ---- the patch text ---- */

struct side {
    const char *s;
    const uint32_t *st; /* line starts */
};

/* One hunk line: prefix + the line without its '\n', or the marker when
 * the line has none. */
static int put_line(struct strbuf *sb, char prefix, const struct side *sd, size_t i)
{
    const char *p = sd->s + sd->st[i];
    size_t n = sd->st[i + 1] - sd->st[i];
    int rc = sb_append(sb, &prefix, 1);
    rc = rc ? rc : sb_append(sb, p, n);
    if (rc == 0 && (n == 0 || p[n - 1] != '\n'))
        rc = sb_puts(sb, "\n\\ No newline at end of file\n");
    return rc;
}

static int put_lines(struct strbuf *sb, char prefix, const struct side *sd, size_t from, size_t n)
{
    int rc = 0;
    for (size_t i = from; i < from + n && rc == 0; i++)
        rc = put_line(sb, prefix, sd, i);
    return rc;
}

/* structuredPatch + formatPatch: hunks with up to 4 lines of context, two
 * changes joined when at most 8 common lines lie between them. */
static int format_patch(struct strbuf *sb, const struct comps *c, const struct side *old,
                        const struct side *new)
{
    struct strbuf body = STRBUF_INIT;
    bool open = false;
    size_t ostart = 0, nstart = 0, oline = 1, nline = 1; /* 1-based, as jsdiff counts */
    size_t x = 0;                                        /* old line index */
    int rc = 0;
    for (size_t i = 0; i <= c->n && rc == 0; i++) {
        /* i == c->n is the empty common block jsdiff appends to close the last hunk */
        struct comp cur = i < c->n ? c->v[i] : (struct comp){OP_COMMON, 0};
        if (cur.type != OP_COMMON) {
            if (!open) {
                open = true;
                ostart = oline;
                nstart = nline;
                if (i > 0) {
                    size_t ctx = UTIL_MIN(c->v[i - 1].count, (size_t)MCP_DIFF_CONTEXT);
                    rc = put_lines(&body, ' ', old, x - ctx, ctx);
                    ostart -= ctx;
                    nstart -= ctx;
                }
            }
            if (cur.type == OP_ADD) {
                rc = rc ? rc : put_lines(&body, '+', new, nline - 1, cur.count);
                nline += cur.count;
            } else {
                rc = rc ? rc : put_lines(&body, '-', old, x, cur.count);
                oline += cur.count;
                x += cur.count;
            }
            continue;
        }
        if (open) {
            if (cur.count <= 2 * MCP_DIFF_CONTEXT && i + 1 < c->n) {
                rc = put_lines(&body, ' ', old, x, cur.count);
            } else {
                size_t ctx = UTIL_MIN(cur.count, (size_t)MCP_DIFF_CONTEXT);
                rc = put_lines(&body, ' ', old, x, ctx);
                size_t olines = oline - ostart + ctx, nlines = nline - nstart + ctx;
                rc = rc ? rc
                        : sb_printf(sb, "@@ -%zu,%zu +%zu,%zu @@\n", olines ? ostart : ostart - 1,
                                    olines, nlines ? nstart : nstart - 1, nlines);
                rc = rc ? rc : sb_append(sb, body.buf, body.len);
                sb_reset(&body);
                open = false;
            }
        }
        oline += cur.count;
        nline += cur.count;
        x += cur.count;
    }
    sb_free(&body);
    return rc;
}

char *mcp_normalize_eol(const char *s, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') continue; /* the '\n' is copied next */
        out[o++] = s[i];
    }
    out[o] = '\0';
    if (outlen) *outlen = o;
    return out;
}

char *mcp_unified_diff(const char *name, const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen >= UINT32_MAX || blen >= UINT32_MAX) return NULL;
    struct strbuf sb = STRBUF_INIT;
    struct interner t = {0};
    struct comps c = {0};
    size_t na = 0, nb = 0;
    uint32_t *sta = NULL, *stb = NULL, *ida = NULL, *idb = NULL;
    char *anorm = mcp_normalize_eol(a, alen, &alen), *bnorm = mcp_normalize_eol(b, blen, &blen);
    bool ok = false;
    if (!anorm || !bnorm) goto out;
    sta = line_starts(anorm, alen, true, &na);
    stb = line_starts(bnorm, blen, true, &nb);
    if (!sta || !stb) goto out;
    ida = malloc((na ? na : 1) * sizeof(*ida));
    idb = malloc((nb ? nb : 1) * sizeof(*idb));
    if (!ida || !idb) goto out;
    for (size_t i = 0; i < na; i++)
        if (intern(&t, anorm + sta[i], sta[i + 1] - sta[i], &ida[i])) goto out;
    for (size_t i = 0; i < nb; i++)
        if (intern(&t, bnorm + stb[i], stb[i + 1] - stb[i], &idb[i])) goto out;
    interner_free(&t);
    if (line_comps(ida, na, idb, nb, &c)) goto out;
    free(ida);
    free(idb);
    ida = idb = NULL;

    struct side old = {anorm, sta}, new = {bnorm, stb};
    if (sb_printf(&sb,
                  "Index: %s\n"
                  "==================================================================="
                  "\n--- %s\toriginal\n+++ %s\tmodified\n",
                  name, name, name) ||
        format_patch(&sb, &c, &old, &new))
        goto out;
    ok = true;
out:
    interner_free(&t);
    free(c.v);
    free(sta);
    free(stb);
    free(ida);
    free(idb);
    free(anorm);
    free(bnorm);
    if (!ok) {
        sb_free(&sb);
        return NULL;
    }
    return sb_detach(&sb);
}

/* ---- applyFileEdits ----
 * The whitespace-insensitive search compares lines after trim(); we give
 * each distinct trimmed line an id and look for the window with
 * Knuth–Morris–Pratt, so it stays linear where the reference's nested loop
 * is O(lines × old lines). */

/* Length in bytes of the JavaScript whitespace (\s, trim) at the start of
 * p[0..n), and in *chars how many UTF-16 units it is (all of it is BMP). */
static size_t lead_space(const char *p, size_t n, size_t *chars)
{
    size_t i = 0, c = 0, l;
    while (i < n && (l = mcp_js_space_len(p + i, n - i)) > 0) {
        i += l;
        c++;
    }
    if (chars) *chars = c;
    return i;
}

/* p[0..n) without JavaScript whitespace at either end, as [*b, *e). A
 * whitespace sequence never starts inside a UTF-8 character, so stepping
 * other bytes one at a time is safe. */
static void trim_span(const char *p, size_t n, size_t *b, size_t *e)
{
    size_t i = lead_space(p, n, NULL), end = i, l;
    *b = i;
    while (i < n) {
        if ((l = mcp_js_space_len(p + i, n - i)) > 0) {
            i += l;
        } else {
            i++;
            end = i;
        }
    }
    *e = end;
}

/* The first i where pat[0..m) == txt[i..i+m) (Knuth–Morris–Pratt), or
 * SIZE_MAX; -2 in *err on OOM. */
static size_t kmp_find(const uint32_t *txt, size_t n, const uint32_t *pat, size_t m, int *err)
{
    if (m > n) return SIZE_MAX;
    size_t *fail = malloc(m * sizeof(*fail));
    if (!fail) {
        *err = -2;
        return SIZE_MAX;
    }
    fail[0] = 0;
    for (size_t i = 1, k = 0; i < m; i++) {
        while (k > 0 && pat[i] != pat[k])
            k = fail[k - 1];
        if (pat[i] == pat[k]) k++;
        fail[i] = k;
    }
    size_t found = SIZE_MAX;
    for (size_t i = 0, k = 0; i < n; i++) {
        while (k > 0 && txt[i] != pat[k])
            k = fail[k - 1];
        if (txt[i] == pat[k]) k++;
        if (k == m) {
            found = i + 1 - m;
            break;
        }
    }
    free(fail);
    return found;
}

/* Ids of the trimmed pieces of s (pieces as from line_starts(.., false)). */
static int trimmed_ids(struct interner *t, const char *s, const uint32_t *st, size_t n,
                       uint32_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        const char *p = s + st[i];
        size_t b, e;
        trim_span(p, st[i + 1] - 1 - st[i], &b, &e);
        if (intern(t, p + b, e - b, &ids[i])) return -1;
    }
    return 0;
}

/* The line-window fallback: 0 with the result in *sb, 1 when no window
 * matches, -1 on OOM. */
static int window_edit(const char *cur, size_t curlen, const char *old, size_t oldlen,
                       const char *new, size_t newlen, struct strbuf *sb)
{
    int rc = -1, err = 0;
    struct interner t = {0};
    size_t nc = 0, no = 0, nn = 0;
    uint32_t *stc = line_starts(cur, curlen, false, &nc);
    uint32_t *sto = line_starts(old, oldlen, false, &no);
    uint32_t *stn = line_starts(new, newlen, false, &nn);
    uint32_t *idc = NULL, *ido = NULL;
    if (!stc || !sto || !stn) goto out;
    if (no > nc) {
        rc = 1;
        goto out;
    }
    idc = malloc(nc * sizeof(*idc));
    ido = malloc(no * sizeof(*ido));
    if (!idc || !ido || trimmed_ids(&t, cur, stc, nc, idc) || trimmed_ids(&t, old, sto, no, ido))
        goto out;
    size_t at = kmp_find(idc, nc, ido, no, &err);
    if (err) goto out;
    if (at == SIZE_MAX) {
        rc = 1;
        goto out;
    }
    /* lines before the window, then the new lines re-indented, then the rest */
    const char *first = cur + stc[at];
    size_t indent = lead_space(first, stc[at + 1] - 1 - stc[at], NULL);
    int r = sb_append(sb, cur, stc[at]);
    for (size_t j = 0; j < nn && r == 0; j++) {
        const char *line = new + stn[j];
        size_t len = stn[j + 1] - 1 - stn[j], nchars, ochars = 0;
        size_t lead = lead_space(line, len, &nchars);
        if (j > 0) r = sb_append(sb, "\n", 1);
        if (j < no && j > 0) lead_space(old + sto[j], sto[j + 1] - 1 - sto[j], &ochars);
        if (j == 0 || (ochars > 0 && nchars > 0)) {
            r = r ? r : sb_append(sb, first, indent);
            for (size_t s = ochars; j > 0 && s < nchars && r == 0; s++)
                r = sb_append(sb, " ", 1);
            r = r ? r : sb_append(sb, line + lead, len - lead);
        } else {
            r = r ? r : sb_append(sb, line, len);
        }
    }
    if (r == 0 && at + no < nc) {
        size_t rest = stc[at + no];
        r = sb_append(sb, "\n", 1);
        r = r ? r : sb_append(sb, cur + rest, curlen - rest);
    }
    rc = r ? -1 : 0;
out:
    interner_free(&t);
    free(stc);
    free(sto);
    free(stn);
    free(idc);
    free(ido);
    return rc;
}

/* One edit on cur: 0 with the result in *sb, 1 when it matches nowhere,
 * -1 on OOM. */
static int apply_edit(const char *cur, size_t curlen, const struct mcp_edit *e, struct strbuf *sb)
{
    size_t oldlen, newlen;
    char *old = mcp_normalize_eol(e->old_text, strlen(e->old_text), &oldlen);
    char *new = mcp_normalize_eol(e->new_text, strlen(e->new_text), &newlen);
    int rc = -1;
    if (old && new) {
        const char *at = oldlen == 0 ? cur : memmem(cur, curlen, old, oldlen);
        if (at) {
            size_t pos = (size_t)(at - cur);
            rc = sb_append(sb, cur, pos) || sb_append(sb, new, newlen) ||
                         sb_append(sb, cur + pos + oldlen, curlen - pos - oldlen)
                     ? -1
                     : 0;
        } else {
            rc = window_edit(cur, curlen, old, oldlen, new, newlen, sb);
        }
    }
    free(old);
    free(new);
    return rc;
}

int mcp_apply_edits(const char *content, size_t len, const struct mcp_edit *edits, size_t n,
                    char **out, size_t *outlen, char **errmsg)
{
    *out = NULL;
    *outlen = 0;
    *errmsg = NULL;
    if (len >= UINT32_MAX) return CUSTODY_ENOMEM;
    size_t curlen;
    char *cur = mcp_normalize_eol(content, len, &curlen);
    if (!cur) return CUSTODY_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct strbuf sb = STRBUF_INIT;
        int rc = apply_edit(cur, curlen, &edits[i], &sb);
        if (rc == 0 && sb.len >= UINT32_MAX) rc = -1;
        if (rc != 0) {
            sb_free(&sb);
            free(cur);
            if (rc < 0) return CUSTODY_ENOMEM;
            struct strbuf msg = STRBUF_INIT;
            if (sb_puts(&msg, EDIT_NOT_FOUND_MSG) || sb_puts(&msg, edits[i].old_text)) {
                sb_free(&msg);
                return CUSTODY_ENOMEM;
            }
            *errmsg = sb_detach(&msg);
            return -1;
        }
        free(cur);
        curlen = sb.len;
        cur = sb_detach(&sb);
    }
    *out = cur;
    *outlen = curlen;
    return 0;
}

char *mcp_fence_diff(const char *diff)
{
    size_t run = 0, longest = 0;
    for (const char *p = diff; *p; p++) {
        run = *p == '`' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    size_t ticks = longest + 1 > 3 ? longest + 1 : 3;
    struct strbuf sb = STRBUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < ticks && rc == 0; i++)
        rc = sb_append(&sb, "`", 1);
    rc = rc ? rc : sb_puts(&sb, "diff\n");
    rc = rc ? rc : sb_puts(&sb, diff);
    for (size_t i = 0; i < ticks && rc == 0; i++)
        rc = sb_append(&sb, "`", 1);
    rc = rc ? rc : sb_puts(&sb, "\n\n");
    if (rc) {
        sb_free(&sb);
        return NULL;
    }
    return sb_detach(&sb);
}
