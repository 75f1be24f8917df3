/*
 * entities.c — the entity store: entities by uid (open addressing on the
 * uid hash), interned uids, and the transitive closure of the parent
 * relation (`in`), computed by policy_entities_freeze and walked per
 * request while the store is not frozen.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct policy_entities *policy_entities_new(void)
{
    return util_calloc(1, sizeof(struct policy_entities));
}

void policy_entities_free(struct policy_entities *es)
{
    if (!es) return;
    free(es->slots);
    free(es->uids);
    free(es->list);
    pol_arena_free(&es->arena);
    free(es);
}

size_t policy_entities_count(const struct policy_entities *es)
{
    return es->n;
}

const struct pol_entity *pol_entity_find(const struct policy_entities *es,
                                         const struct policy_uid *uid)
{
    if (!es || !es->cap) return NULL;
    size_t mask = es->cap - 1;
    uint64_t h = uid->hash;
    for (size_t i = h & mask; es->slots[i].hash; i = (i + 1) & mask)
        if (es->slots[i].hash == h && policy_uid_eq(&es->slots[i].e->uid->uid, uid))
            return es->slots[i].e;
    return NULL;
}

static void slots_put(struct pol_slot *slots, size_t cap, struct pol_entity *e)
{
    size_t mask = cap - 1;
    size_t i = e->uid->uid.hash & mask;
    while (slots[i].hash)
        i = (i + 1) & mask;
    slots[i].hash = e->uid->uid.hash;
    slots[i].e = e;
}

struct pol_suid *pol_intern(struct policy_entities *es, const struct policy_uid *uid)
{
    if (es->nu * 2 >= es->ucap) {
        size_t ncap = es->ucap ? es->ucap * 2 : 64;
        struct pol_suid **nu = util_calloc(ncap, sizeof *nu);
        for (size_t i = 0; i < es->ucap; i++) {
            struct pol_suid *s = es->uids[i];
            if (!s) continue;
            size_t j = s->uid.hash & (ncap - 1);
            while (nu[j])
                j = (j + 1) & (ncap - 1);
            nu[j] = s;
        }
        free(es->uids);
        es->uids = nu;
        es->ucap = ncap;
    }
    size_t mask = es->ucap - 1;
    size_t i = uid->hash & mask;
    for (; es->uids[i]; i = (i + 1) & mask)
        if (policy_uid_eq(&es->uids[i]->uid, uid)) return es->uids[i];
    struct pol_suid *s = pol_alloc(&es->arena, sizeof *s);
    s->uid = *uid;
    s->uid.type = pol_strndup(&es->arena, uid->type, uid->type_len);
    s->uid.id = pol_strndup(&es->arena, uid->id, uid->id_len);
    s->idx = (uint32_t)es->nu++;
    es->uids[i] = s;
    return s;
}

static int uidptr_qcmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)(*(struct pol_entity *const *)a)->uid;
    uintptr_t y = (uintptr_t)(*(struct pol_entity *const *)b)->uid;
    return x < y ? -1 : x > y;
}

int pol_entities_commit(struct policy_entities *es, struct pol_entity **ents, size_t n,
                        struct strbuf *err)
{
    if (n > POLICY_MAX_ENTITIES || es->n + n > POLICY_MAX_ENTITIES) {
        if (err) sb_printf(err, "more than %u entities", POLICY_MAX_ENTITIES);
        return CUSTODY_ETOOBIG;
    }
    const struct pol_entity *dup = NULL;
    for (size_t i = 0; i < n && !dup; i++)
        if (ents[i]->uid->ent || pol_entity_find(es, &ents[i]->uid->uid)) dup = ents[i];
    if (!dup && n > 1) {
        /* a uid twice in this batch: the same interned pointer */
        struct pol_entity **sorted = util_calloc(n, sizeof *sorted);
        memcpy(sorted, ents, n * sizeof *sorted);
        qsort(sorted, n, sizeof *sorted, uidptr_qcmp);
        for (size_t i = 1; i < n && !dup; i++)
            if (sorted[i]->uid == sorted[i - 1]->uid) dup = sorted[i];
        free(sorted);
    }
    if (dup) {
        if (err) {
            sb_puts(err, "duplicate entity ");
            pol_uid_format(err, &dup->uid->uid);
        }
        return CUSTODY_EEXIST;
    }
    if ((es->n + n) * 2 > es->cap) {
        size_t ncap = es->cap ? es->cap : 64;
        while ((es->n + n) * 2 > ncap)
            ncap *= 2;
        struct pol_slot *ns = util_calloc(ncap, sizeof *ns);
        for (size_t i = 0; i < es->cap; i++)
            if (es->slots[i].hash) slots_put(ns, ncap, es->slots[i].e);
        free(es->slots);
        es->slots = ns;
        es->cap = ncap;
    }
    for (size_t i = 0; i < n; i++) {
        struct pol_entity *e = ents[i];
        ((struct pol_suid *)e->uid)->ent = e;
        slots_put(es->slots, es->cap, e);
        POL_GROW(es->list, es->nlist, es->listcap);
        es->list[es->nlist++] = e;
        es->n++;
    }
    es->frozen = false;
    return 0;
}

static int check_uid(const struct policy_uid *u)
{
    if (u->type_len > POLICY_MAX_STRING || u->id_len > POLICY_MAX_STRING) return CUSTODY_ETOOBIG;
    return pol_valid_type(u->type, u->type_len) ? 0 : CUSTODY_EINVAL;
}

int policy_entities_add(struct policy_entities *es, const struct policy_uid *uid,
                        const struct policy_value *attrs, const struct policy_uid *parents,
                        size_t nparents, const struct policy_value *tags)
{
    int rc = check_uid(uid);
    if (rc) return rc;
    if (nparents > POLICY_MAX_PARENTS) return CUSTODY_ETOOBIG;
    if ((attrs && attrs->type != POLICY_RECORD) || (tags && tags->type != POLICY_RECORD))
        return CUSTODY_EINVAL;
    for (size_t i = 0; i < nparents; i++)
        if ((rc = check_uid(&parents[i]))) return rc;
    if (pol_entity_find(es, uid)) return CUSTODY_EEXIST;
    struct pol_entity *e = pol_alloc(&es->arena, sizeof *e);
    e->uid = pol_intern(es, uid);
    e->attrs.type = e->tags.type = POLICY_RECORD;
    if (attrs) pol_value_copy(&es->arena, attrs, &e->attrs);
    if (tags) pol_value_copy(&es->arena, tags, &e->tags);
    e->parents = pol_alloc(&es->arena, (nparents ? nparents : 1) * sizeof *e->parents);
    for (size_t i = 0; i < nparents; i++)
        e->parents[i] = &pol_intern(es, &parents[i])->uid;
    e->nparents = (uint32_t)nparents;
    return pol_entities_commit(es, &e, 1, NULL);
}

const struct policy_value *policy_entities_attrs(const struct policy_entities *es,
                                                 const struct policy_uid *uid)
{
    const struct pol_entity *e = pol_entity_find(es, uid);
    return e ? &e->attrs : NULL;
}

/* ---- the hierarchy ---- */

static int uidp_hash_qcmp(const void *a, const void *b)
{
    const struct policy_uid *x = *(const struct policy_uid *const *)a;
    const struct policy_uid *y = *(const struct policy_uid *const *)b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/*
 * Collects the ancestors of `from` (a store entity, or NULL with `first`
 * listing the starting parents) depth first, with `seen` telling which
 * interned uids are already in. A closure computed before (when `use_done`)
 * is taken whole instead of walked again.
 */
struct walk {
    const struct policy_uid **out;
    uint8_t *closed; /* closed[k]: out[k] came in a finished closure, nothing to expand */
    size_t n, cap;
    bool (*seen)(struct walk *w, const struct pol_suid *s); /* marks; true if already */
    void *ctx;
    uint32_t gen;
};

static int walk_push(struct walk *w, const struct policy_uid *u, bool closed)
{
    if (w->seen(w, (const struct pol_suid *)u)) return 0;
    if (w->n >= POLICY_MAX_ANCESTORS) return CUSTODY_ETOOBIG;
    if (w->n >= w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->out = util_realloc(w->out, w->cap * sizeof *w->out);
        w->closed = util_realloc(w->closed, w->cap);
    }
    w->closed[w->n] = closed;
    w->out[w->n++] = u;
    return 0;
}

static int walk(struct walk *w, const struct pol_entity *e, bool use_done)
{
    /* the output array doubles as the work list: out[k..n) are still to expand */
    int rc = 0;
    for (uint32_t i = 0; i < e->nparents && !rc; i++)
        rc = walk_push(w, e->parents[i], false);
    for (size_t k = 0; k < w->n && !rc; k++) {
        const struct pol_entity *p = ((const struct pol_suid *)w->out[k])->ent;
        if (!p || w->closed[k]) continue;
        if (use_done && p->anc_done) {
            for (uint32_t i = 0; i < p->nanc && !rc; i++)
                rc = walk_push(w, p->anc[i], true);
            continue;
        }
        for (uint32_t i = 0; i < p->nparents && !rc; i++)
            rc = walk_push(w, p->parents[i], false);
    }
    return rc;
}

static bool seen_stamp(struct walk *w, const struct pol_suid *s)
{
    uint32_t *stamp = w->ctx;
    if (stamp[s->idx] == w->gen) return true;
    stamp[s->idx] = w->gen;
    return false;
}

int policy_entities_freeze(struct policy_entities *es, struct strbuf *err)
{
    if (es->frozen) return 0;
    uint32_t *stamp = util_calloc(es->nu ? es->nu : 1, sizeof *stamp);
    struct walk w = {.seen = seen_stamp, .ctx = stamp};
    int rc = 0;
    for (size_t i = 0; i < es->nlist; i++)
        es->list[i]->anc_done = false;
    for (size_t i = 0; i < es->nlist && !rc; i++) {
        struct pol_entity *e = es->list[i];
        w.n = 0;
        w.gen++;
        rc = walk(&w, e, true);
        if (rc) {
            if (err) {
                sb_reset(err);
                sb_puts(err, "entity ");
                pol_uid_format(err, &e->uid->uid);
                sb_printf(err, " has more than %u ancestors", POLICY_MAX_ANCESTORS);
            }
            break;
        }
        if (w.n > 1) qsort(w.out, w.n, sizeof *w.out, uidp_hash_qcmp);
        e->anc = w.n ? pol_memdup(&es->arena, w.out, w.n * sizeof *w.out) : NULL;
        e->nanc = (uint32_t)w.n;
        e->anc_done = true;
    }
    free(w.out);
    free(w.closed);
    free(stamp);
    if (rc) {
        for (size_t i = 0; i < es->nlist; i++)
            es->list[i]->anc_done = false;
        return rc;
    }
    es->frozen = true;
    return 0;
}

/* A visited set for walks over an unfrozen store (grows as needed). */
struct ptrset {
    const struct pol_suid **slots;
    size_t cap, n;
};

static void ptrset_put(struct ptrset *ps, const struct pol_suid *s)
{
    size_t mask = ps->cap - 1;
    size_t i = s->uid.hash & mask;
    while (ps->slots[i])
        i = (i + 1) & mask;
    ps->slots[i] = s;
    ps->n++;
}

static bool seen_set(struct walk *w, const struct pol_suid *s)
{
    struct ptrset *ps = w->ctx;
    if ((ps->n + 1) * 2 > ps->cap) {
        struct ptrset bigger = {.cap = ps->cap ? ps->cap * 2 : 32};
        bigger.slots = util_calloc(bigger.cap, sizeof *bigger.slots);
        for (size_t i = 0; i < ps->cap; i++)
            if (ps->slots[i]) ptrset_put(&bigger, ps->slots[i]);
        free(ps->slots);
        *ps = bigger;
    }
    size_t mask = ps->cap - 1;
    for (size_t i = s->uid.hash & mask; ps->slots[i]; i = (i + 1) & mask)
        if (ps->slots[i] == s) return true;
    ptrset_put(ps, s);
    return false;
}

int pol_entity_ancestors(const struct policy_entities *es, const struct pol_entity *e,
                         struct pol_arena *scratch, const struct policy_uid *const **out,
                         uint32_t *n)
{
    if (es->frozen) {
        *out = e->anc;
        *n = e->nanc;
        return 0;
    }
    *out = NULL;
    *n = 0;
    struct ptrset set = {0};
    struct walk w = {.seen = seen_set, .ctx = &set};
    int rc = walk(&w, e, false);
    free(set.slots);
    free(w.closed);
    if (rc) {
        free(w.out);
        return rc;
    }
    if (w.n > 1) qsort(w.out, w.n, sizeof *w.out, uidp_hash_qcmp);
    *out = w.n ? pol_memdup(scratch, w.out, w.n * sizeof *w.out) : NULL;
    *n = (uint32_t)w.n;
    free(w.out);
    return 0;
}

int pol_ancestors(const struct policy_entities *es, const struct policy_uid *uid,
                  struct pol_arena *scratch, const struct policy_uid *const **out, uint32_t *n)
{
    const struct pol_entity *e = pol_entity_find(es, uid);
    if (!e) {
        *out = NULL;
        *n = 0;
        return 0;
    }
    return pol_entity_ancestors(es, e, scratch, out, n);
}

int pol_given_ancestors(const struct policy_entities *es, const struct policy_req_entity *g,
                        struct pol_arena *scratch, const struct policy_uid *const **out,
                        uint32_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0, cnt = 0;
    const struct policy_uid **all = NULL;
    for (size_t i = 0; i < g->nparents; i++) {
        const struct policy_uid *const *anc;
        uint32_t na;
        int rc = pol_ancestors(es, &g->parents[i], scratch, &anc, &na);
        if (rc) {
            free(all);
            return rc;
        }
        if (cnt + 1 + na > cap) {
            cap = (cnt + 1 + na) * 2;
            all = util_realloc(all, cap * sizeof *all);
        }
        all[cnt++] = &g->parents[i];
        for (uint32_t k = 0; k < na; k++)
            all[cnt++] = anc[k];
    }
    if (cnt > POLICY_MAX_ANCESTORS) {
        free(all);
        return CUSTODY_ETOOBIG;
    }
    if (cnt > 1) qsort(all, cnt, sizeof *all, uidp_hash_qcmp);
    size_t k = 0; /* drop duplicates (equal uids have equal hashes: adjacent runs) */
    for (size_t i = 0; i < cnt; i++) {
        bool dup = false;
        for (size_t j = k; j-- > 0 && all[j]->hash == all[i]->hash;)
            if (policy_uid_eq(all[j], all[i])) dup = true;
        if (!dup) all[k++] = all[i];
    }
    if (k) *out = pol_memdup(scratch, all, k * sizeof *all);
    *n = (uint32_t)k;
    free(all);
    return 0;
}

bool pol_anc_contains(const struct policy_uid *const *anc, uint32_t n,
                      const struct policy_uid *target)
{
    uint64_t h = target->hash;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (anc[mid]->hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < n && anc[i]->hash == h; i++)
        if (policy_uid_eq(anc[i], target)) return true;
    return false;
}

bool policy_entities_in(const struct policy_entities *es, const struct policy_uid *a,
                        const struct policy_uid *b)
{
    if (policy_uid_eq(a, b)) return true;
    struct pol_arena scratch = {0};
    const struct policy_uid *const *anc;
    uint32_t n;
    bool in = pol_ancestors(es, a, &scratch, &anc, &n) == 0 && pol_anc_contains(anc, n, b);
    pol_arena_free(&scratch);
    return in;
}
