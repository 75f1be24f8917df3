/*
 * verify.c — offline verification of a ledger directory (`custody audit
 * verify`): everything is recomputed from the entry bundles, nothing stored
 * is believed.
 *
 * Method:
 *
 *   1. `checkpoint` is parsed as a signed note and must carry a valid
 *      signature by keys[0] (the log key); a line claiming any key of
 *      keys[] must verify, and with strict_signatures every line must come
 *      from keys[]. The body gives origin, size N and root.
 *
 *   2. The trusted checkpoint (kept outside the log) must be signed by the
 *      log key (witnesses may have changed since), have the same origin and
 *      a size T <= N. A missing file is trust on first use.
 *
 *   3. One streaming pass over the bundles tile/entries/<t> (t < N/256,
 *      then the partial of width N%256): each must hold exactly its width
 *      of entries and nothing after them; each entry's leaf hash must equal
 *      the matching hash of tile/0/<t>, which must be exactly W*32 bytes.
 *      Memory stays bounded: every level keeps only the tile it is filling
 *      (the tree's right edge, as log.c does). A full tile's hashes are
 *      reduced to its root, which goes into the level above; a full hash
 *      tile at level >= 1 is compared byte for byte when it fills, the
 *      partial ones at the end. The root of the first T leaves is taken
 *      from the right edge when the stream passes T; the root of all N
 *      leaves from the final edge. Both must equal the signed roots.
 *
 *   4. The tile tree is listed. Every file must have a canonical tile name.
 *      A partial tile narrower than the checkpoint's tile (a writer keeps
 *      earlier checkpoints' partials for a grace period) must be a strict
 *      prefix of the verified data; a wider one (written ahead of the
 *      checkpoint) must extend it; tiles wholly beyond the checkpoint are
 *      counted as ahead and are not part of what it commits to.
 *
 * The first problem found stops the run and is described in res->problem;
 * res->first_bad_entry is the first entry that is missing, malformed, or
 * whose leaf hash disagrees with its level-0 tile. Only when everything
 * holds is the trusted checkpoint replaced (atomically) by this one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define LEVELS 8 /* tile levels 0..7 cover trees up to 2^64 leaves */
#define TILE_BYTES ((size_t)TLOG_TILE_WIDTH * TLOG_HASH_LEN)
#define BUNDLE_MAX ((size_t)TLOG_TILE_WIDTH * (TLOG_ENTRY_MAX + 2))
#define WALK_DEPTH 12
#define REL_MAX (TLOG_PATH_MAX * 2)

struct level {
    uint8_t h[TLOG_TILE_WIDTH][TLOG_HASH_LEN];
    unsigned n;    /* hashes held (the tile being filled) */
    uint64_t tile; /* its index: full tiles done at this level */
};

struct vctx {
    int dirfd;
    uint64_t size, tsize;
    struct level lv[LEVELS];
    uint8_t troot[TLOG_HASH_LEN]; /* root of the first tsize leaves */
    struct strbuf a, b;           /* reused file buffers */
    struct ledger_verify_result *res;
};

static int bad(struct vctx *c, int rc, int64_t entry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(struct vctx *c, int rc, int64_t entry, const char *fmt, ...)
{
    if (!c->res->problem[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->res->problem, sizeof c->res->problem, fmt, ap);
        va_end(ap);
        c->res->first_bad_entry = entry;
    }
    return rc;
}

static const char *why(int rc)
{
    if (rc == CUSTODY_ENOENT)
        return "missing";
    if (rc == CUSTODY_ECORRUPT)
        return "not a regular file, or too large";
    return custody_strerror(rc);
}

/* The first w entries (bundles) or hashes of a wider version of a tile. */
static void keep_prefix(struct strbuf *sb, int level, unsigned w)
{
    if (level >= 0) {
        if (sb->len > (size_t)w * TLOG_HASH_LEN)
            sb->len = (size_t)w * TLOG_HASH_LEN;
        return;
    }
    size_t off = 0, elen;
    const uint8_t *e;
    for (unsigned i = 0; i < w; i++)
        if (tlog_bundle_next((const uint8_t *)sb->buf, sb->len, &off, &e, &elen) != 0)
            return; /* too short: left as is, the caller reports it */
    sb->len = off;
}

/* Reads dirfd/rel into sb (reset first; capacity reused). A live log
 * removes a checkpoint's partial tiles a little after newer checkpoints
 * replace them; when the partial rel names is gone, the full tile or a
 * wider partial (whose prefix is the same, tiles never change) stands in,
 * cut to the width rel names: the hashes are then checked as usual. */
static int readf(struct vctx *c, const char *rel, struct strbuf *sb, size_t max)
{
    sb_reset(sb);
    int rc = tile_read_file(c->dirfd, rel, sb, max);
    int level;
    uint64_t idx;
    unsigned w;
    if (rc != CUSTODY_ENOENT ||
        tlog_tile_path_parse(rel, strlen(rel), &level, &idx, &w) != 0 || w == TLOG_TILE_WIDTH)
        return rc;
    sb_reset(sb);
    rc = tile_read_any(c->dirfd, level, idx, w, sb, max);
    if (rc == 0)
        keep_prefix(sb, level, w);
    else
        sb_reset(sb);
    return rc;
}

/* ---- the tree's right edge ---- */

/* Root of the tree whose right edge lv holds. lv[0].n may be 256 (a prefix
 * ending on a tile boundary, before the tile's flush): tlog_edge_root takes
 * that as one perfect subtree. */
static void edge_root(const struct level *lv, uint8_t out[TLOG_HASH_LEN])
{
    const uint8_t(*hashes[LEVELS])[TLOG_HASH_LEN];
    unsigned counts[LEVELS];
    for (unsigned i = 0; i < LEVELS; i++) {
        hashes[i] = (const uint8_t(*)[TLOG_HASH_LEN])lv[i].h;
        counts[i] = lv[i].n;
    }
    tlog_edge_root(hashes, counts, LEVELS, out);
}

/* Compares hash tile (level >= 1) with the recomputed hashes of lv[level]. */
static int check_hash_tile(struct vctx *c, unsigned level)
{
    const struct level *s = &c->lv[level];
    char path[TLOG_PATH_MAX];
    tlog_tile_path(path, sizeof path, (int)level, s->tile, s->n);
    int rc = readf(c, path, &c->b, TILE_BYTES);
    if (rc)
        return bad(c, CUSTODY_ECORRUPT, -1, "%s: %s", path, why(rc));
    size_t want = (size_t)s->n * TLOG_HASH_LEN;
    for (unsigned k = 0; k < s->n; k++) {
        if ((size_t)(k + 1) * TLOG_HASH_LEN > c->b.len ||
            memcmp(c->b.buf + (size_t)k * TLOG_HASH_LEN, s->h[k], TLOG_HASH_LEN) != 0) {
            uint64_t span = 1ull << (8 * level), node = s->tile * TLOG_TILE_WIDTH + k;
            return bad(c, CUSTODY_ECORRUPT, -1,
                       "%s: hash %u (node over entries %" PRIu64 "..%" PRIu64
                       ") differs from the one recomputed from the entries",
                       path, k, node * span, (node + 1) * span - 1);
        }
    }
    if (c->b.len != want)
        return bad(c, CUSTODY_ECORRUPT, -1, "%s: %zu bytes, want %zu", path, c->b.len, want);
    c->res->tiles_checked++;
    return 0;
}

/* lv[level] is full: check it (level 0 was checked with its bundle),
 * reduce it to its root and push that one level up. */
static int flush(struct vctx *c, unsigned level)
{
    struct level *s = &c->lv[level];
    int rc = level ? check_hash_tile(c, level) : 0;
    if (rc)
        return rc;
    if (level + 1 >= LEVELS)
        return bad(c, CUSTODY_EINTERNAL, -1, "tree deeper than %d tile levels", LEVELS);
    struct level *up = &c->lv[level + 1];
    tlog_hash_range((const uint8_t(*)[TLOG_HASH_LEN])s->h, TLOG_TILE_WIDTH, up->h[up->n++]);
    s->n = 0;
    s->tile++;
    return up->n == TLOG_TILE_WIDTH ? flush(c, level + 1) : 0;
}

/* Bundle t (width w) against tile/0/t: exact parse, leaf hash by leaf hash. */
static int check_bundle(struct vctx *c, uint64_t t, unsigned w)
{
    char bpath[TLOG_PATH_MAX], hpath[TLOG_PATH_MAX];
    tlog_tile_path(bpath, sizeof bpath, TLOG_LEVEL_ENTRIES, t, w);
    tlog_tile_path(hpath, sizeof hpath, 0, t, w);
    uint64_t first = t * TLOG_TILE_WIDTH;
    int rc = readf(c, bpath, &c->a, BUNDLE_MAX);
    if (rc)
        return bad(c, CUSTODY_ECORRUPT, (int64_t)first, "entry %" PRIu64 " (%s): bundle %s",
                   first, bpath, why(rc));
    rc = readf(c, hpath, &c->b, TILE_BYTES);
    if (rc)
        return bad(c, CUSTODY_ECORRUPT, (int64_t)first, "entry %" PRIu64 ": %s: %s", first,
                   hpath, why(rc));
    const uint8_t *buf = (const uint8_t *)c->a.buf, *tile = (const uint8_t *)c->b.buf;
    size_t off = 0, elen, nh = c->b.len / TLOG_HASH_LEN;
    struct level *s = &c->lv[0];
    for (unsigned k = 0; k < w; k++) {
        const uint8_t *e;
        uint64_t i = first + k;
        rc = tlog_bundle_next(buf, c->a.len, &off, &e, &elen);
        if (rc) {
            c->res->entries_checked = i;
            return bad(c, CUSTODY_ECORRUPT, (int64_t)i, "entry %" PRIu64 " (%s/%u): %s", i,
                       bpath, k,
                       rc == 1 ? "missing: the bundle ends before it"
                               : "truncated: the bundle ends inside it");
        }
        tlog_leaf_hash(e, elen, s->h[k]);
        if (k >= nh || memcmp(s->h[k], tile + (size_t)k * TLOG_HASH_LEN, TLOG_HASH_LEN) != 0) {
            c->res->entries_checked = i;
            return bad(c, CUSTODY_ECORRUPT, (int64_t)i,
                       "entry %" PRIu64 " (%s/%u): leaf hash differs from %s%s", i, bpath, k,
                       hpath, k >= nh ? " (which is too short to hold it)" : "");
        }
    }
    if (off != c->a.len)
        return bad(c, CUSTODY_ECORRUPT, -1,
                   "%s: %zu unexpected bytes after its last entry %" PRIu64, bpath,
                   c->a.len - off, first + w - 1);
    if (c->b.len != (size_t)w * TLOG_HASH_LEN)
        return bad(c, CUSTODY_ECORRUPT, -1, "%s: %zu bytes, want %zu", hpath, c->b.len,
                   (size_t)w * TLOG_HASH_LEN);
    c->res->entries_checked = first + w;
    c->res->tiles_checked += 2;
    s->n = w;
    if (c->tsize > first && c->tsize <= first + w) {
        s->n = (unsigned)(c->tsize - first); /* the edge of the first tsize leaves */
        edge_root(c->lv, c->troot);
        s->n = w;
    }
    return w == TLOG_TILE_WIDTH ? flush(c, 0) : 0;
}

/* ---- signatures ---- */

/* Every line claiming one of keys[0..nkeys) must verify, keys[0] (the log
 * key) must have signed, and with strict no other line may appear. */
static int check_sigs(struct vctx *c, const char *what, const struct tlog_note *n,
                      const struct tlog_key *keys, size_t nkeys, bool strict)
{
    bool logged = false;
    for (size_t i = 0; i < n->nsigs; i++) {
        const struct tlog_sig *sg = &n->sigs[i];
        bool known = false;
        for (size_t j = 0; j < nkeys; j++) {
            int rc = tlog_sig_verify(n->text, n->text_len, sg, &keys[j], NULL);
            if (rc == CUSTODY_ENOENT)
                continue;
            known = true;
            if (rc)
                return bad(c, CUSTODY_EBADSIG, -1,
                           "%s: signature line %zu (%s+%08" PRIx32 ") does not verify", what,
                           i + 1, sg->name, sg->id);
            logged |= j == 0;
        }
        if (!known && strict)
            return bad(c, CUSTODY_EBADSIG, -1,
                       "%s: signature line %zu (%s+%08" PRIx32 ") is not from a known key", what,
                       i + 1, sg->name, sg->id);
    }
    if (!logged)
        return bad(c, CUSTODY_EBADSIG, -1, "%s: no valid signature by the log key %s+%08" PRIx32,
                   what, keys[0].name, keys[0].id);
    return 0;
}

/* Parses and verifies a signed checkpoint held in buf. */
static int check_note(struct vctx *c, const char *what, const char *buf, size_t len,
                      const struct tlog_key *keys, size_t nkeys, bool strict,
                      struct tlog_checkpoint *cp)
{
    struct tlog_note note;
    int rc = tlog_note_parse(buf, len, &note);
    if (rc)
        return bad(c, CUSTODY_EBADSIG, -1, "%s: not a signed note (%s)", what,
                   custody_strerror(rc));
    rc = check_sigs(c, what, &note, keys, nkeys, strict);
    if (rc)
        return rc;
    rc = tlog_checkpoint_parse(note.text, note.text_len, cp);
    if (rc)
        return bad(c, CUSTODY_ECORRUPT, -1, "%s: not a checkpoint (%s)", what,
                   custody_strerror(rc));
    return 0;
}

/* ---- files beside the ones the checkpoint names ---- */

/* Tile (level, idx) at width w, where the checkpoint's tile has width e > 0
 * (w != e). A narrower (stale) one must be a strict prefix of the verified
 * data and have the shape its name gives. A wider one, written ahead of the
 * checkpoint, must agree with it on the bytes both hold: it may still be
 * being written (or torn by a crash), and nothing signed covers its tail. */
static int check_other(struct vctx *c, const char *path, int level, uint64_t idx, unsigned w,
                       unsigned e)
{
    char epath[TLOG_PATH_MAX];
    size_t max = level == TLOG_LEVEL_ENTRIES ? BUNDLE_MAX : TILE_BYTES;
    tlog_tile_path(epath, sizeof epath, level, idx, e);
    int rc = readf(c, epath, &c->a, max);
    if (rc)
        return bad(c, CUSTODY_ECORRUPT, -1, "%s: %s", epath, why(rc));
    rc = readf(c, path, &c->b, max);
    if (rc == CUSTODY_ENOENT)
        return 0; /* removed since it was listed */
    if (rc)
        return bad(c, CUSTODY_ECORRUPT, -1, "%s: %s", path, why(rc));
    if (w > e) {
        size_t n = UTIL_MIN(c->a.len, c->b.len);
        if (memcmp(c->a.buf, c->b.buf, n) != 0)
            return bad(c, CUSTODY_ECORRUPT, -1,
                       "%s: written ahead of the checkpoint, but it contradicts %s", path, epath);
        c->res->files_ahead++;
        return 0;
    }
    bool shape;
    if (level == TLOG_LEVEL_ENTRIES) {
        size_t off = 0, elen, k = 0;
        const uint8_t *ent;
        while ((rc = tlog_bundle_next((const uint8_t *)c->b.buf, c->b.len, &off, &ent,
                                      &elen)) == 0)
            k++;
        shape = rc == 1 && k == w;
    } else {
        shape = c->b.len == (size_t)w * TLOG_HASH_LEN;
    }
    if (!shape || c->b.len >= c->a.len || memcmp(c->b.buf, c->a.buf, c->b.len) != 0)
        return bad(c, CUSTODY_ECORRUPT, -1,
                   "%s: a stale partial tile that is not a prefix of %s (or not %u %s)", path,
                   epath, w, level == TLOG_LEVEL_ENTRIES ? "entries" : "hashes");
    c->res->stale_partials++;
    return 0;
}

static int check_file(struct vctx *c, const char *rel)
{
    int level;
    uint64_t idx;
    unsigned w;
    if (tlog_tile_path_parse(rel, strlen(rel), &level, &idx, &w) != 0)
        return bad(c, CUSTODY_ECORRUPT, -1, "%s: not a tile name: no such file belongs there",
                   rel);
    unsigned e = tlog_tile_width(c->size, level, idx);
    if (e == w)
        return 0; /* verified by the stream */
    if (e == 0) {
        c->res->files_ahead++; /* beyond the checkpoint: not committed to */
        return 0;
    }
    return check_other(c, rel, level, idx, w, e);
}

static int walk(struct vctx *c, int dfd, char *rel, size_t rlen, int depth)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return bad(c, CUSTODY_EIO, -1, "%s: %s", rel, strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        size_t nl = strlen(nm);
        if (rlen + 1 + nl >= REL_MAX) {
            rc = bad(c, CUSTODY_ECORRUPT, -1, "%s/%s: not a tile name", rel, nm);
            break;
        }
        rel[rlen] = '/';
        memcpy(rel + rlen + 1, nm, nl + 1);
        unsigned char type = de->d_type;
        struct stat st;
        if (type == DT_UNKNOWN) {
            type = fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0 ? DT_UNKNOWN
                   : S_ISDIR(st.st_mode)                                 ? DT_DIR
                   : S_ISREG(st.st_mode)                                 ? DT_REG
                                                                         : DT_UNKNOWN;
        }
        if (type == DT_REG) {
            rc = check_file(c, rel);
        } else if (type == DT_DIR && depth < WALK_DEPTH) {
            int sub = openat(dirfd(d), nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            rc = sub < 0 ? bad(c, CUSTODY_EIO, -1, "%s: %s", rel, strerror(errno))
                         : walk(c, sub, rel, rlen + 1 + nl, depth + 1);
        } else {
            rc = bad(c, CUSTODY_ECORRUPT, -1, "%s: not a regular file or directory", rel);
        }
        rel[rlen] = '\0';
    }
    closedir(d);
    return rc;
}

/* ---- the whole run ---- */

static int trusted_load(struct vctx *c, const struct ledger_verify_opts *o, char **tbuf,
                        struct tlog_checkpoint *tcp)
{
    size_t tlen = 0;
    int rc = util_read_file(o->trusted_path, TLOG_NOTE_MAX, tbuf, &tlen);
    if (rc == CUSTODY_ENOENT)
        return 1; /* trust on first use */
    if (rc)
        return bad(c, rc, -1, "trusted checkpoint %s: %s", o->trusted_path,
                   custody_strerror(rc));
    char what[300];
    snprintf(what, sizeof what, "trusted checkpoint %s", o->trusted_path);
    /* the log key alone: witnesses configured then may be gone now */
    return check_note(c, what, *tbuf, tlen, o->keys, 1, false, tcp);
}

static int save_trusted(struct vctx *c, const char *path, const char *note, size_t len)
{
    char *dir = util_strdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = util_mkdir_p(dir, 0755);
    }
    free(dir);
    if (!rc)
        rc = util_write_file_atomic(path, note, len, 0644);
    return rc ? bad(c, rc, -1, "cannot write the trusted checkpoint %s: %s", path,
                    custody_strerror(rc))
              : 0;
}

static int run(struct vctx *c, const struct ledger_verify_opts *o)
{
    if (!o->keys || o->nkeys == 0 || o->keys[0].type != TLOG_KEY_ED25519)
        return bad(c, CUSTODY_EINVAL, -1, "the first key must be the log's (type 0x01)");
    for (size_t j = 1; j < o->nkeys; j++)
        if (o->keys[j].type != TLOG_KEY_ED25519 && o->keys[j].type != TLOG_KEY_COSIGNATURE)
            return bad(c, CUSTODY_EINVAL, -1, "key %zu (%s): unknown type", j, o->keys[j].name);
    struct strbuf note = STRBUF_INIT;
    char *tbuf = NULL;
    struct tlog_checkpoint cp, tcp;
    int rc = readf(c, "checkpoint", &note, TLOG_NOTE_MAX);
    if (rc) {
        rc = bad(c, CUSTODY_ECORRUPT, -1, "checkpoint: %s", why(rc));
        goto out;
    }
    if ((rc = check_note(c, "checkpoint", note.buf, note.len, o->keys, o->nkeys,
                         o->strict_signatures, &cp)) != 0)
        goto out;
    c->size = c->res->size = cp.size;
    bool have_trusted = false;
    if (o->trusted_path) {
        rc = trusted_load(c, o, &tbuf, &tcp);
        if (rc < 0)
            goto out;
        have_trusted = rc == 0;
        rc = 0;
    }
    if (have_trusted) {
        if (strcmp(tcp.origin, cp.origin) != 0) {
            rc = bad(c, CUSTODY_EBADPROOF, -1,
                     "checkpoint: origin \"%s\" is not the trusted checkpoint's \"%s\"",
                     cp.origin, tcp.origin);
            goto out;
        }
        if (tcp.size > cp.size) {
            rc = bad(c, CUSTODY_EBADPROOF, -1,
                     "checkpoint: size %" PRIu64 " is below the trusted checkpoint's %" PRIu64
                     ": the log was truncated or rolled back",
                     cp.size, tcp.size);
            goto out;
        }
        c->tsize = c->res->trusted_size = tcp.size;
    }
    tlog_empty_root(c->troot); /* the root at tsize 0 */

    uint64_t full = cp.size / TLOG_TILE_WIDTH;
    unsigned rest = (unsigned)(cp.size % TLOG_TILE_WIDTH);
    for (uint64_t t = 0; t < full && !rc; t++)
        rc = check_bundle(c, t, TLOG_TILE_WIDTH);
    if (!rc && rest)
        rc = check_bundle(c, full, rest);
    for (unsigned l = 1; l < LEVELS && !rc; l++)
        if (c->lv[l].n)
            rc = check_hash_tile(c, l);
    if (rc)
        goto out;
    uint8_t root[TLOG_HASH_LEN];
    edge_root(c->lv, root);
    if (memcmp(root, cp.root, TLOG_HASH_LEN) != 0) {
        rc = bad(c, CUSTODY_ECORRUPT, -1,
                 "checkpoint: the %" PRIu64 " entries and their tiles hash to another root "
                 "than the signed one",
                 cp.size);
        goto out;
    }
    if (have_trusted && memcmp(c->troot, tcp.root, TLOG_HASH_LEN) != 0) {
        rc = bad(c, CUSTODY_EBADPROOF, -1,
                 "the first %" PRIu64 " entries do not hash to the trusted checkpoint's root: "
                 "the log was rewritten or forked since it was trusted",
                 tcp.size);
        goto out;
    }
    char rel[REL_MAX] = "tile";
    int dfd = openat(c->dirfd, "tile", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd >= 0)
        rc = walk(c, dfd, rel, strlen(rel), 0);
    else if (errno != ENOENT || cp.size)
        rc = bad(c, CUSTODY_ECORRUPT, -1, "tile: %s", strerror(errno));
    if (!rc && o->trusted_path && o->update_trusted)
        rc = save_trusted(c, o->trusted_path, note.buf, note.len);
out:
    sb_free(&note);
    free(tbuf);
    return rc;
}

int ledger_verify(const struct ledger_verify_opts *o, struct ledger_verify_result *res)
{
    struct ledger_verify_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    res->first_bad_entry = -1;
    struct vctx *c = util_calloc(1, sizeof *c);
    c->res = res;
    c->dirfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (c->dirfd < 0)
        rc = bad(c, custody_err_from_errno(errno), -1, "%s: %s", o->dir, strerror(errno));
    else
        rc = run(c, o);
    if (rc && !res->problem[0])
        bad(c, rc, -1, "%s", custody_strerror(rc));
    if (c->dirfd >= 0)
        close(c->dirfd);
    sb_free(&c->a);
    sb_free(&c->b);
    free(c);
    return rc;
}
