/* internal.h — shared by src/authz's files (identity.c, map.c, engine.c). */
#ifndef CUSTODY_AUTHZ_INTERNAL_H
#define CUSTODY_AUTHZ_INTERNAL_H

#include "authz.h"
#include "custody/custody.h"

/* map.c: the entity store of agents, groups, users, roots and actions. */
int authz_map_entities(const struct custody_config *cfg, const struct authz_ids *ids,
                       const struct authz_agent *agents, size_t nagents,
                       struct policy_entities **out, struct strbuf *err);

/* One request's resource: Root::"r" (path "/"), or a File / Folder the
 * store does not hold, described with its folders and root as parents. */
struct authz_res {
    char id[CONFIG_NAME_MAX + 4 + 4096]; /* "root:/path" */
    struct policy_uid uid, root;
    bool is_root, sensitive;
    const struct cfg_root *cfg_root; /* NULL: no such root */
    const struct policy_value *labels;
    struct policy_uid inline_parents[16], *parents;
    struct policy_attr attrs[5];
    struct policy_value rec;
    struct policy_req_entity given; /* unless is_root */
};
int authz_res_map(const struct custody_config *cfg, const struct policy_entities *es,
                  const char *root, const char *path, bool dir, struct authz_res *r);
void authz_res_free(struct authz_res *r);

#endif
