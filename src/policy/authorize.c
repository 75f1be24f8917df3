/*
 * authorize.c — policy sets (ids, the scope index, the text hash) and the
 * decision.
 *
 * The index: each policy is filed under one scope constraint naming an
 * entity — its principal's (== E, in E, is T in E) if any, else its
 * resource's, else its action's (== A, in A, in [A1, ...]: one entry per
 * action) — or, with none, in the unindexed list. A request looks up its
 * principal, resource and action and each of their ancestors in the
 * matching index; only those policies (and the unindexed ones) have their
 * scope checked and conditions evaluated. A policy `action in []` can
 * never apply and is filed nowhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- responses ---- */

void policy_response_init(struct policy_response *resp)
{
    memset(resp, 0, sizeof *resp);
}

void policy_response_free(struct policy_response *resp)
{
    struct policy_scratch *s = resp->scratch;
    if (s) {
        pol_arena_free(&s->arena);
        free(s->stamp);
        free(s->cand);
        free(s->reasons);
        free(s->forbids);
        free(s->errors);
        sb_free(&s->msg);
        free(s);
    }
    memset(resp, 0, sizeof *resp);
}

void pol_scratch_prepare(struct policy_response *resp, size_t npolicies)
{
    if (!resp->scratch) resp->scratch = util_calloc(1, sizeof *resp->scratch);
    struct policy_scratch *s = resp->scratch;
    pol_arena_reset(&s->arena);
    if (s->nstamp < npolicies) {
        free(s->stamp);
        s->stamp = util_calloc(npolicies, sizeof *s->stamp);
        s->nstamp = npolicies;
        s->gen = 0;
    }
    if (++s->gen == 0) {
        if (s->stamp) memset(s->stamp, 0, s->nstamp * sizeof *s->stamp);
        s->gen = 1;
    }
    s->ncand = s->nreasons = s->nforbids = s->nerrors = 0;
    resp->decision = POLICY_DENY;
    resp->reasons = NULL;
    resp->errors = NULL;
    resp->nreasons = resp->nerrors = resp->ncandidates = resp->nevaluated = 0;
}

/* ---- the index ---- */

struct pair {
    uint64_t key;
    uint32_t policy;
};

static int pair_qcmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->policy < y->policy ? -1 : x->policy > y->policy;
}

static void index_free(struct pol_index *ix)
{
    free(ix->keys);
    free(ix->first);
    free(ix->count);
    free(ix->items);
    memset(ix, 0, sizeof *ix);
}

static void index_build(struct pol_index *ix, struct pair *pairs, size_t n)
{
    index_free(ix);
    if (!n) return;
    qsort(pairs, n, sizeof *pairs, pair_qcmp);
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || pairs[i].key != pairs[i - 1].key) nkeys++;
    size_t cap = 16;
    while (cap < nkeys * 2)
        cap *= 2;
    ix->cap = cap;
    ix->keys = util_calloc(cap, sizeof *ix->keys);
    ix->first = util_calloc(cap, sizeof *ix->first);
    ix->count = util_calloc(cap, sizeof *ix->count);
    ix->items = util_calloc(n, sizeof *ix->items);
    size_t slot = 0;
    for (size_t i = 0; i < n; i++) {
        ix->items[i] = pairs[i].policy;
        if (i == 0 || pairs[i].key != pairs[i - 1].key) {
            slot = pairs[i].key & (cap - 1);
            while (ix->keys[slot])
                slot = (slot + 1) & (cap - 1);
            ix->keys[slot] = pairs[i].key;
            ix->first[slot] = (uint32_t)i;
        }
        ix->count[slot]++;
    }
}

static const uint32_t *index_get(const struct pol_index *ix, uint64_t key, uint32_t *n)
{
    *n = 0;
    if (!ix->cap) return NULL;
    size_t mask = ix->cap - 1;
    for (size_t i = key & mask; ix->keys[i]; i = (i + 1) & mask) {
        if (ix->keys[i] == key) {
            *n = ix->count[i];
            return ix->items + ix->first[i];
        }
    }
    return NULL;
}

static bool has_uid(const struct pol_scope *sc)
{
    return sc->kind == SC_EQ || sc->kind == SC_IN || sc->kind == SC_IS_IN;
}

static void set_reindex(struct policy_set *set)
{
    struct pair *pairs[3] = {NULL, NULL, NULL};
    size_t np[3] = {0, 0, 0}, cap[3] = {0, 0, 0};
    free(set->unindexed);
    set->unindexed = util_calloc(set->n ? set->n : 1, sizeof *set->unindexed);
    set->nunindexed = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct pol_policy *p = set->policies[i];
        const struct pol_scope *a = &p->scope[VAR_ACTION];
        int var = has_uid(&p->scope[VAR_PRINCIPAL])     ? VAR_PRINCIPAL
                  : has_uid(&p->scope[VAR_RESOURCE])    ? VAR_RESOURCE
                  : has_uid(a) || a->kind == SC_IN_LIST ? VAR_ACTION
                                                        : -1;
        if (var < 0) {
            set->unindexed[set->nunindexed++] = (uint32_t)i;
            continue;
        }
        const struct pol_scope *sc = &p->scope[var];
        size_t nkeys = sc->kind == SC_IN_LIST ? sc->nlist : 1;
        for (size_t k = 0; k < nkeys; k++) {
            POL_GROW(pairs[var], np[var], cap[var]);
            pairs[var][np[var]].key = (sc->kind == SC_IN_LIST ? sc->list[k] : sc->uid)->hash;
            pairs[var][np[var]++].policy = (uint32_t)i;
        }
    }
    for (int v = 0; v < 3; v++) {
        index_build(&set->idx[v], pairs[v], np[v]);
        free(pairs[v]);
    }
}

/* ---- sets ---- */

struct policy_set *policy_set_new(const struct policy_opts *opts)
{
    struct policy_set *set = util_calloc(1, sizeof *set);
    if (opts) set->opts = *opts;
    return set;
}

void policy_set_free(struct policy_set *set)
{
    if (!set) return;
    for (int v = 0; v < 3; v++)
        index_free(&set->idx[v]);
    free(set->unindexed);
    free(set->policies);
    free(set->texts);
    pol_arena_free(&set->arena);
    free(set);
}

static int id_qcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const struct policy_annotation *find_annotation(const struct policy_info *info,
                                                       const char *key)
{
    for (size_t i = 0; i < info->nannotations; i++)
        if (strcmp(info->annotations[i].key, key) == 0) return &info->annotations[i];
    return NULL;
}

/* Gives the new policies their ids; CUSTODY_EINVAL on a repeated id. */
static int assign_ids(struct policy_set *set, struct pol_arena *a, struct pol_policy **list,
                      size_t n, const char *file, struct strbuf *err)
{
    for (size_t i = 0; i < n; i++) {
        struct policy_info *info = &list[i]->info;
        const struct policy_annotation *an =
            set->opts.id_annotation ? find_annotation(info, "id") : NULL;
        if (an && (an->value_len == 0 || memchr(an->value, '\0', an->value_len))) {
            sb_printf(err, "%s:%u:%u: @id must be a non-empty string without NUL", file, info->line,
                      info->column);
            return CUSTODY_EINVAL;
        }
        char buf[32];
        snprintf(buf, sizeof buf, "policy%zu", set->n + i);
        info->id = an ? an->value : pol_strndup(a, buf, strlen(buf));
        info->file = file;
    }
    size_t total = set->n + n;
    if (!set->opts.id_annotation || total < 2) return 0;
    const char **ids = util_calloc(total, sizeof *ids);
    for (size_t i = 0; i < set->n; i++)
        ids[i] = set->policies[i]->info.id;
    for (size_t i = 0; i < n; i++)
        ids[set->n + i] = list[i]->info.id;
    qsort(ids, total, sizeof *ids, id_qcmp);
    int rc = 0;
    for (size_t i = 1; i < total && !rc; i++) {
        if (strcmp(ids[i], ids[i - 1]) == 0) {
            sb_printf(err, "%s: duplicate policy id `%s`", file, ids[i]);
            rc = CUSTODY_EINVAL;
        }
    }
    free(ids);
    return rc;
}

int policy_set_add_text(struct policy_set *set, const char *text, size_t len, const char *filename,
                        struct strbuf *err)
{
    struct strbuf local = STRBUF_INIT;
    struct strbuf *e = err ? err : &local;
    const char *fname = filename ? filename : "<policy>";
    if (len > POLICY_MAX_TEXT || set->text_bytes + len > POLICY_MAX_TEXT) {
        sb_printf(e, "%s: policy text over %u bytes", fname, POLICY_MAX_TEXT);
        sb_free(&local);
        return CUSTODY_ETOOBIG;
    }
    struct pol_arena a = {0};
    char *copy = pol_strndup(&a, text, len);
    const char *file = pol_strndup(&a, fname, strlen(fname));
    struct pol_policy **list;
    size_t n;
    struct strbuf msg = STRBUF_INIT;
    int rc = pol_parse(&a, copy, len, &list, &n, POLICY_MAX_POLICIES - set->n, &msg);
    if (rc)
        sb_printf(e, "%s:%s", fname, msg.buf ? msg.buf : " error");
    else
        rc = assign_ids(set, &a, list, n, file, e);
    sb_free(&msg);
    sb_free(&local);
    if (rc) {
        free(list);
        pol_arena_free(&a);
        return rc;
    }
    pol_arena_splice(&set->arena, &a);
    for (size_t i = 0; i < n; i++) {
        POL_GROW(set->policies, set->n, set->cap);
        set->policies[set->n++] = list[i];
    }
    free(list);
    POL_GROW(set->texts, set->ntexts, set->textcap);
    set->texts[set->ntexts++] = (struct pol_text){copy, len, file};
    set->text_bytes += len;
    set_reindex(set);
    return 0;
}

int policy_set_parse(const char *text, size_t len, const char *filename,
                     const struct policy_opts *opts, struct policy_set **out, struct strbuf *err)
{
    struct policy_set *set = policy_set_new(opts);
    int rc = policy_set_add_text(set, text, len, filename, err);
    if (rc) {
        policy_set_free(set);
        set = NULL;
    }
    *out = set;
    return rc;
}

size_t policy_set_count(const struct policy_set *set)
{
    return set->n;
}

const struct policy_info *policy_set_info(const struct policy_set *set, size_t i)
{
    return i < set->n ? &set->policies[i]->info : NULL;
}

int policy_set_find(const struct policy_set *set, const char *id)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->policies[i]->info.id, id) == 0) return (int)i;
    return CUSTODY_ENOENT;
}

void policy_set_hash(const struct policy_set *set, char out[UTIL_SHA256_HEX_LEN + 1])
{
    struct util_sha256 *h = util_sha256_new();
    for (size_t i = 0; i < set->ntexts; i++) {
        uint8_t len[8];
        for (int k = 0; k < 8; k++)
            len[k] = (uint8_t)((uint64_t)set->texts[i].len >> (56 - 8 * k));
        util_sha256_update(h, len, sizeof len);
        util_sha256_update(h, set->texts[i].text, set->texts[i].len);
    }
    uint8_t d[UTIL_SHA256_LEN];
    util_sha256_final(h, d);
    util_hex_encode(d, sizeof d, out);
}

/* ---- deciding ---- */

static void propose(struct policy_scratch *s, const uint32_t *items, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t p = items[i];
        if (s->stamp[p] == s->gen) continue;
        s->stamp[p] = s->gen;
        POL_GROW(s->cand, s->ncand, s->candcap);
        s->cand[s->ncand++] = p;
    }
}

static int u32_qcmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Ascending; the lists are short (the reasons and errors of a decision). */
static void sort_u32(uint32_t *v, size_t n)
{
    if (n > 32) {
        qsort(v, n, sizeof *v, u32_qcmp);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

static int err_qcmp(const void *a, const void *b)
{
    const struct policy_eval_error *x = a, *y = b;
    return x->policy < y->policy ? -1 : x->policy > y->policy;
}

/* The policies the index proposes for the request (in no order). */
static void candidates(const struct policy_set *set, const struct pol_eval *e,
                       struct policy_scratch *s)
{
    for (int v = 0; v < 3; v++) {
        const struct pol_index *ix = &set->idx[v];
        if (!ix->cap) continue;
        uint32_t n;
        const uint32_t *items = index_get(ix, e->vars[v].u.uid->hash, &n);
        propose(s, items, n);
        for (uint32_t k = 0; k < e->nanc[v]; k++) {
            items = index_get(ix, e->anc[v][k]->hash, &n);
            propose(s, items, n);
        }
    }
    propose(s, set->unindexed, (uint32_t)set->nunindexed);
}

int policy_authorize(const struct policy_set *set, const struct policy_entities *es,
                     const struct policy_request *req, struct policy_response *resp)
{
    pol_scratch_prepare(resp, set->n);
    struct policy_scratch *s = resp->scratch;
    struct pol_eval e;
    int rc = pol_eval_init(&e, es, req, &s->arena, &s->msg);
    if (rc) return rc;
    candidates(set, &e, s);
    resp->ncandidates = s->ncand;
    for (size_t c = 0; c < s->ncand; c++) {
        uint32_t i = s->cand[c];
        const struct pol_policy *p = set->policies[i];
        /* the principal (the usual index key, so it mostly matches) last */
        if (!pol_scope_match(&e, p, VAR_ACTION) || !pol_scope_match(&e, p, VAR_RESOURCE) ||
            !pol_scope_match(&e, p, VAR_PRINCIPAL))
            continue;
        resp->nevaluated++;
        bool held = true;
        for (uint32_t k = 0; k < p->nconds && held; k++) {
            if (pol_eval_cond(&e, &p->conds[k], &held) == 0) continue;
            held = false;
            POL_GROW(s->errors, s->nerrors, s->errorscap);
            s->errors[s->nerrors].policy = i;
            s->errors[s->nerrors++].message =
                pol_strndup(&s->arena, s->msg.buf ? s->msg.buf : "", s->msg.len);
        }
        if (!held) continue;
        if (p->info.effect == POLICY_FORBID) {
            POL_GROW(s->forbids, s->nforbids, s->forbidscap);
            s->forbids[s->nforbids++] = i;
        } else {
            POL_GROW(s->reasons, s->nreasons, s->reasonscap);
            s->reasons[s->nreasons++] = i;
        }
    }
    sort_u32(s->forbids, s->nforbids);
    sort_u32(s->reasons, s->nreasons);
    if (s->nerrors > 1) qsort(s->errors, s->nerrors, sizeof *s->errors, err_qcmp);
    if (s->nforbids) {
        resp->decision = POLICY_DENY;
        resp->reasons = s->forbids;
        resp->nreasons = s->nforbids;
    } else {
        resp->decision = s->nreasons ? POLICY_ALLOW : POLICY_DENY;
        resp->reasons = s->reasons;
        resp->nreasons = s->nreasons;
    }
    resp->errors = s->errors;
    resp->nerrors = s->nerrors;
    return 0;
}
