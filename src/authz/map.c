/*
 * map.c — custody's world as Cedar entities (the table is in authz.h and
 * docs/authz.md).
 *
 * The store built here holds what is few and slow to change: the
 * operator, agents with their groups and users, roots with their labels,
 * and the action hierarchy. Files and folders are never stored: each
 * decision describes its resource (policy_req_entity) with the folders
 * above it as parents, their ids being prefixes of the file's own id.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* The action hierarchy: name and parent ("" for none). */
static const struct {
    const char *name, *parent;
} g_actions[] = {
    {"readwrite", ""},         {"readonly", "readwrite"}, {"admin", ""},
    {"read", "readonly"},      {"list", "readonly"},      {"stat", "readonly"},
    {"versions", "readonly"},  {"write", "readwrite"},    {"mkdir", "readwrite"},
    {"move", "readwrite"},     {"delete", "readwrite"},   {"rollback", "readwrite"},
    {"token.mint", "admin"},   {"token.revoke", "admin"}, {"agent.add", "admin"},
    {"agent.remove", "admin"}, {"agent.revoke", "admin"}, {"agent.quarantine", "admin"},
    {"policy.reload", "admin"}, {"model.load", ""}, {"model.show", ""}, {"model.prewarm", ""},
    {"model.register", "admin"}, {"model.remove", "admin"}, {"model.verify", "admin"},
};

bool authz_action_known(const char *name)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(g_actions); i++)
        if (strcmp(g_actions[i].name, name) == 0) return true;
    return false;
}

bool authz_root_sensitive(const struct custody_config *cfg, const struct cfg_root *r)
{
    const char *label = cfg->audit_sensitive_label;
    if (!r || !label || !*label) return false;
    for (size_t i = 0; i < r->nlabels; i++)
        if (strcasecmp(r->labels[i].key, label) == 0 || strcasecmp(r->labels[i].value, label) == 0)
            return true;
    return false;
}

static int add(struct policy_entities *es, const char *type, const char *id,
               const struct policy_value *attrs, const struct policy_uid *parents, size_t np,
               struct strbuf *err)
{
    struct policy_uid u = policy_uid_make(type, id);
    int rc = policy_entities_add(es, &u, attrs, parents, np, NULL);
    if (rc == CUSTODY_EEXIST) return 0; /* a group or user named twice */
    if (rc) return sb_fail(err, rc, "cannot map %s::\"%s\": %s", type, id, custody_strerror(rc));
    return 0;
}

static int add_actions(struct policy_entities *es, struct strbuf *err)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(g_actions); i++) {
        struct policy_uid p = policy_uid_make("Action", g_actions[i].parent);
        int rc = add(es, "Action", g_actions[i].name, NULL, &p, g_actions[i].parent[0] ? 1 : 0,
                     err);
        if (rc) return rc;
    }
    return 0;
}

static int add_root(struct policy_entities *es, const struct custody_config *cfg,
                    const struct cfg_root *r, struct strbuf *err)
{
    size_t n = r->nlabels;
    struct policy_attr *labels = util_calloc(n ? n : 1, sizeof *labels);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool dup = false; /* config refuses duplicates; be safe */
        for (size_t j = 0; j < k; j++)
            if (strcmp(labels[j].name, r->labels[i].key) == 0) dup = true;
        if (dup) continue;
        labels[k].name = r->labels[i].key;
        labels[k].name_len = (uint32_t)strlen(r->labels[i].key);
        labels[k].value = policy_string(r->labels[i].value, strlen(r->labels[i].value));
        k++;
    }
    struct policy_value lrec, rec;
    int rc = policy_value_record_of(labels, k, &lrec);
    struct policy_attr attrs[] = {
        {"labels", 6, lrec},
        {"name", 4, policy_string(r->name, strlen(r->name))},
        {"sensitive", 9, policy_bool(authz_root_sensitive(cfg, r))},
    };
    if (!rc) rc = policy_value_record_of(attrs, UTIL_ARRAY_LEN(attrs), &rec);
    if (!rc) rc = add(es, "Root", r->name, &rec, NULL, 0, err);
    else sb_fail(err, rc, "cannot map the labels of root %s", r->name);
    free(labels);
    return rc;
}

static int add_agent(struct policy_entities *es, const struct authz_agent *a, struct strbuf *err)
{
    struct policy_uid parents[AUTHZ_GROUPS_MAX + 1];
    struct policy_value groups[AUTHZ_GROUPS_MAX];
    size_t np = 0, ng = a->ngroups;
    int rc;
    for (size_t i = 0; i < a->ngroups; i++) {
        if ((rc = add(es, "Group", a->groups[i], NULL, NULL, 0, err))) return rc;
        parents[np++] = policy_uid_make("Group", a->groups[i]);
        groups[i] = policy_string(a->groups[i], strlen(a->groups[i]));
    }
    if (a->principal[0]) {
        if ((rc = add(es, "User", a->principal, NULL, NULL, 0, err))) return rc;
        parents[np++] = policy_uid_make("User", a->principal);
    }
    struct policy_value gset, rec;
    if ((rc = policy_value_set_of(groups, &ng, &gset))) return rc;
    struct policy_attr attrs[] = {
        {"groups", 6, gset},
        {"key", 3, policy_string(a->key_fp, strlen(a->key_fp))},
        {"name", 4, policy_string(a->name, strlen(a->name))},
        {"principal", 9, policy_string(a->principal, strlen(a->principal))},
        {"quarantined", 11, policy_bool(a->quarantined)},
    };
    if ((rc = policy_value_record_of(attrs, UTIL_ARRAY_LEN(attrs), &rec))) return rc;
    return add(es, "Agent", a->name, &rec, parents, np, err);
}

int authz_map_entities(const struct custody_config *cfg, const struct authz_ids *ids,
                       const struct authz_agent *agents, size_t nagents,
                       struct policy_entities **out, struct strbuf *err)
{
    struct policy_entities *es = policy_entities_new();
    int rc = add_actions(es, err);
    if (!rc) rc = add(es, "Operator", AUTHZ_OPERATOR_ID, NULL, NULL, 0, err);
    for (size_t i = 0; !rc && i < cfg->nroots; i++)
        rc = add_root(es, cfg, &cfg->roots[i], err);
    for (size_t i = 0; !rc && ids && i < authz_agent_count(ids); i++)
        rc = add_agent(es, authz_agent_at(ids, i), err);
    for (size_t i = 0; !rc && !ids && i < nagents; i++)
        rc = add_agent(es, &agents[i], err);
    if (!rc) rc = policy_entities_freeze(es, err);
    if (rc) {
        policy_entities_free(es);
        return rc;
    }
    *out = es;
    return 0;
}

/* ---- one request's resource ---- */

void authz_res_free(struct authz_res *r)
{
    if (r->parents != r->inline_parents) free(r->parents);
    r->parents = NULL;
}

int authz_res_map(const struct custody_config *cfg, const struct policy_entities *es,
                  const char *root, const char *path, bool dir, struct authz_res *r)
{
    memset(r, 0, sizeof *r);
    r->parents = r->inline_parents;
    size_t rl = strlen(root), pl = strlen(path);
    if (rl == 0 || pl == 0 || path[0] != '/' || rl + 1 + pl >= sizeof r->id)
        return CUSTODY_EINVAL;
    memcpy(r->id, root, rl);
    r->id[rl] = ':';
    memcpy(r->id + rl + 1, path, pl + 1);
    r->root = policy_uid_make("Root", root);
    r->cfg_root = config_find_root(cfg, root);
    r->sensitive = authz_root_sensitive(cfg, r->cfg_root);
    /* the root's labels, from its entity (an unknown root has none) */
    const struct policy_value *rattrs = policy_entities_attrs(es, &r->root);
    const struct policy_value *labels = rattrs ? policy_record_get(rattrs, "labels", 6) : NULL;
    static const struct policy_value empty = {.type = POLICY_RECORD};
    if (pl == 1) { /* the root itself: the store's entity */
        r->uid = r->root;
        r->is_root = true;
        r->labels = labels ? labels : &empty;
        return 0;
    }
    /* parents: every folder above (ids are prefixes of ours), then the root */
    size_t depth = 0;
    for (size_t i = 1; i < pl; i++)
        if (path[i] == '/') depth++;
    if (depth + 1 > UTIL_ARRAY_LEN(r->inline_parents))
        r->parents = util_calloc(depth + 1, sizeof *r->parents);
    size_t np = 0;
    for (size_t i = pl - 1; i > 0; i--)
        if (path[i] == '/')
            policy_uid_init(&r->parents[np++], "Folder", 6, r->id, rl + 1 + i);
    r->parents[np++] = r->root;
    policy_uid_init(&r->uid, dir ? "Folder" : "File", dir ? 6 : 4, r->id, rl + 1 + pl);
    const char *name = strrchr(path, '/') + 1;
    r->labels = labels ? labels : &empty;
    r->attrs[0] = (struct policy_attr){"labels", 6, *r->labels};
    r->attrs[1] = (struct policy_attr){"name", 4, policy_string(name, strlen(name))};
    r->attrs[2] = (struct policy_attr){"path", 4, policy_string(r->id + rl + 1, pl)};
    r->attrs[3] = (struct policy_attr){"root", 4, policy_string(r->id, rl)};
    r->attrs[4] = (struct policy_attr){"sensitive", 9, policy_bool(r->sensitive)};
    int rc = policy_value_record_of(r->attrs, 5, &r->rec);
    if (rc) {
        authz_res_free(r);
        return rc;
    }
    r->given = (struct policy_req_entity){&r->rec, r->parents, np};
    return 0;
}
