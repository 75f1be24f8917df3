/*
 * tokentool.c — a command-line doorway to src/token for tests (the
 * pymacaroons interop test, tests/integration/test_token_interop.sh) and
 * for poking at tokens by hand. Not installed.
 *
 *   tokentool mint KEYFILE --agent A --agent-key FP --actions read,write
 *             --resource R [--prefix] [--range F-L] [--ttl S | --expires T]
 *             [--issued T] [--max-ttl S] [--policy ID]... [--epoch N]
 *             [--attest H] [--location L] [--id HEX]
 *   tokentool verify KEYFILE TOKEN --agent A [--agent-key FP] --action ACT
 *             --resource R [--resource2 R] [--range F-L] [--now T] [--epoch N]
 *             [--attest H] [--max-ttl S] [--revoked ID]... [--retired POLICY]...
 *   tokentool inspect TOKEN          (JSON: id, location, form, caveats, effective)
 *   tokentool attenuate TOKEN CAVEAT...
 *   tokentool to-json TOKEN
 *   tokentool from-json TOKEN        (any form -> V1 base64url)
 *
 * TOKEN is the token itself, "-" for stdin, or @FILE (one trailing newline
 * is dropped). KEYFILE is created (0600) when missing. Exit status: 0 ok,
 * 1 refused (stderr: "tokentool: CODE: REASON", CODE as custody_err_code),
 * 2 usage.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "token/token.h"

static void usage(void)
{
    fputs("usage: tokentool mint|verify KEYFILE ... | inspect|to-json|from-json TOKEN |\n"
          "       tokentool attenuate TOKEN CAVEAT...   (see tests/tools/tokentool.c)\n",
          stderr);
    exit(2);
}

static int refuse(int rc, const struct strbuf *why)
{
    fprintf(stderr, "tokentool: %s: %s\n", custody_err_code(rc),
            why->len ? why->buf : custody_strerror(rc));
    return 1;
}

static char *read_token(const char *arg)
{
    char *s = NULL;
    if (strcmp(arg, "-") == 0 || arg[0] == '@') {
        FILE *f = strcmp(arg, "-") == 0 ? stdin : fopen(arg + 1, "r");
        if (!f) {
            perror(arg + 1);
            exit(2);
        }
        struct strbuf sb = STRBUF_INIT;
        char buf[4096];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, f)) > 0)
            sb_append(&sb, buf, got);
        if (f != stdin) fclose(f);
        if (sb.len && sb.buf[sb.len - 1] == '\n') sb.buf[--sb.len] = '\0';
        s = sb_detach(&sb);
    } else {
        s = util_strdup(arg);
    }
    return s;
}

static uint64_t num(const char *s)
{
    uint64_t v;
    if (util_parse_u64(s, strlen(s), &v) != 0) {
        fprintf(stderr, "tokentool: not a number: %s\n", s);
        exit(2);
    }
    return v;
}

static void range(const char *s, uint64_t *f, uint64_t *l)
{
    const char *d = strchr(s, '-');
    if (!d || util_parse_u64(s, (size_t)(d - s), f) != 0 ||
        util_parse_u64(d + 1, strlen(d + 1), l) != 0) {
        fprintf(stderr, "tokentool: not a range: %s\n", s);
        exit(2);
    }
}

static void load_key(const char *path, uint8_t key[TOKEN_KEY_LEN])
{
    int rc = token_key_load_or_create(path, key);
    if (rc) {
        fprintf(stderr, "tokentool: key %s: %s\n", path, custody_strerror(rc));
        exit(2);
    }
}

static uint64_t now_s(void)
{
    return util_now_ns() / 1000000000u;
}

static int cmd_mint(int argc, char **argv)
{
    if (argc < 3) usage();
    uint8_t key[TOKEN_KEY_LEN];
    load_key(argv[2], key);
    struct token_claims c = {0};
    const char *pol[TOKEN_MAX_POLICIES + 1];
    uint64_t ttl = 300;
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--prefix") == 0) {
            c.resource_prefix = true;
            continue;
        }
        if (!v) usage();
        i++;
        if (strcmp(a, "--agent") == 0)
            c.agent = v;
        else if (strcmp(a, "--agent-key") == 0)
            c.agent_key = v;
        else if (strcmp(a, "--actions") == 0) {
            for (const char *p = v; *p;) {
                size_t n = strcspn(p, ",");
                uint32_t bit = token_action_from_name(p, n);
                if (!bit) usage();
                c.actions |= bit;
                p += n + (p[n] == ',');
            }
        } else if (strcmp(a, "--resource") == 0)
            c.resource = v;
        else if (strcmp(a, "--range") == 0) {
            c.has_range = true;
            range(v, &c.range_first, &c.range_last);
        } else if (strcmp(a, "--ttl") == 0)
            ttl = num(v);
        else if (strcmp(a, "--expires") == 0)
            c.expires = num(v);
        else if (strcmp(a, "--issued") == 0)
            c.issued = num(v);
        else if (strcmp(a, "--max-ttl") == 0)
            c.max_ttl = num(v);
        else if (strcmp(a, "--policy") == 0 && c.npolicies <= TOKEN_MAX_POLICIES)
            pol[c.npolicies++] = v;
        else if (strcmp(a, "--epoch") == 0)
            c.epoch = num(v);
        else if (strcmp(a, "--attest") == 0)
            c.attest = v;
        else if (strcmp(a, "--location") == 0)
            c.location = v;
        else if (strcmp(a, "--id") == 0)
            util_strlcpy(c.id, v, sizeof c.id);
        else
            usage();
    }
    c.policies = pol;
    if (!c.issued) c.issued = now_s();
    if (!c.expires) c.expires = c.issued + ttl;
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    int rc = token_mint(key, &c, &out, &why);
    if (rc) return refuse(rc, &why);
    printf("%s\n", out.buf);
    sb_free(&out);
    sb_free(&why);
    return 0;
}

struct lists {
    const char *revoked[16], *retired[16];
    size_t nrevoked, nretired;
};

static bool in_list(const char *const *l, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0) return true;
    return false;
}

static bool is_revoked(void *ctx, const char *id)
{
    struct lists *l = ctx;
    return in_list(l->revoked, l->nrevoked, id);
}

static bool is_retired(void *ctx, const char *policy)
{
    struct lists *l = ctx;
    return in_list(l->retired, l->nretired, policy);
}

static int cmd_verify(int argc, char **argv)
{
    if (argc < 4) usage();
    uint8_t key[TOKEN_KEY_LEN];
    load_key(argv[2], key);
    char *tok = read_token(argv[3]);
    struct token_request r = {0};
    struct lists l = {0};
    for (int i = 4; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--agent") == 0)
            r.agent = v;
        else if (strcmp(a, "--agent-key") == 0)
            r.agent_key = v;
        else if (strcmp(a, "--action") == 0)
            r.action = v;
        else if (strcmp(a, "--resource") == 0)
            r.resource = v;
        else if (strcmp(a, "--resource2") == 0)
            r.resource2 = v;
        else if (strcmp(a, "--range") == 0) {
            r.has_range = true;
            range(v, &r.range_first, &r.range_last);
        } else if (strcmp(a, "--now") == 0)
            r.now = num(v);
        else if (strcmp(a, "--epoch") == 0)
            r.agent_epoch = num(v);
        else if (strcmp(a, "--attest") == 0)
            r.attest = v;
        else if (strcmp(a, "--max-ttl") == 0)
            r.max_ttl = num(v);
        else if (strcmp(a, "--revoked") == 0 && l.nrevoked < 16)
            l.revoked[l.nrevoked++] = v;
        else if (strcmp(a, "--retired") == 0 && l.nretired < 16)
            l.retired[l.nretired++] = v;
        else
            usage();
    }
    r.is_revoked = is_revoked;
    r.policy_retired = is_retired;
    r.ctx = &l;
    struct strbuf why = STRBUF_INIT;
    struct token_info info;
    int rc = token_verify(key, tok, &r, &info, &why);
    if (!rc)
        printf("ok %s\n", info.id);
    else
        refuse(rc, &why);
    token_info_free(&info);
    sb_free(&why);
    free(tok);
    return rc ? 1 : 0;
}

static json_t *effective_json(const struct token_effective *e)
{
    json_t *o = json_object();
    json_t *acts = json_array();
    for (uint32_t b = 1; b & TOKEN_ACT_ALL; b <<= 1)
        if (e->actions & b) json_array_append_new(acts, json_string(token_action_name(b)));
    json_object_set_new(o, "actions", acts);
    if (e->agent) json_object_set_new(o, "agent", json_string(e->agent));
    if (e->agent_key) json_object_set_new(o, "agent_key", json_string(e->agent_key));
    if (e->resource) {
        json_object_set_new(o, "resource", json_string(e->resource));
        json_object_set_new(o, "resource_prefix", json_boolean(e->resource_prefix));
    }
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_RANGE))
        json_object_set_new(
            o, "range", json_pack("[II]", (json_int_t)e->range_first, (json_int_t)e->range_last));
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_EXPIRES))
        json_object_set_new(o, "expires", json_integer((json_int_t)e->expires));
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_ISSUED))
        json_object_set_new(o, "issued", json_integer((json_int_t)e->issued));
    if (e->present & TOKEN_CAV_BIT(TOKEN_CAV_EPOCH))
        json_object_set_new(o, "epoch", json_integer((json_int_t)e->epoch));
    if (e->attest) json_object_set_new(o, "attest", json_string(e->attest));
    json_t *pol = json_array();
    for (size_t i = 0; i < e->npolicies; i++)
        json_array_append_new(pol, json_string(e->policies[i]));
    json_object_set_new(o, "policies", pol);
    json_t *conf = json_array();
    for (int k = 0; k < TOKEN_CAV_COUNT; k++)
        if (e->conflicts & TOKEN_CAV_BIT(k))
            json_array_append_new(conf, json_string(token_caveat_key_name(k)));
    json_object_set_new(o, "conflicts", conf);
    return o;
}

static int cmd_inspect(const char *arg)
{
    char *tok = read_token(arg);
    struct token_info info;
    struct strbuf why = STRBUF_INIT;
    int rc = token_inspect(tok, &info, &why);
    if (!rc) {
        json_t *cav = json_array();
        for (size_t i = 0; i < info.ncaveats; i++)
            json_array_append_new(cav, json_string(info.caveats[i]));
        json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", info.id, "location", info.location,
                              "form", info.json ? "json" : "v1", "caveats", cav, "effective",
                              effective_json(&info.eff));
        char *s = json_dumps(o, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        refuse(rc, &why);
    }
    token_info_free(&info);
    sb_free(&why);
    free(tok);
    return rc ? 1 : 0;
}

static int cmd_convert(const char *cmd, const char *arg, int argc, char **argv)
{
    char *tok = read_token(arg);
    struct strbuf out = STRBUF_INIT, why = STRBUF_INIT;
    int rc;
    if (strcmp(cmd, "to-json") == 0)
        rc = token_to_json(tok, &out, &why);
    else if (strcmp(cmd, "from-json") == 0)
        rc = token_from_json(tok, &out, &why);
    else
        rc = token_attenuate(tok, (const char *const *)argv, (size_t)argc, &out, &why);
    if (!rc)
        printf("%s\n", out.buf);
    else
        refuse(rc, &why);
    sb_free(&out);
    sb_free(&why);
    free(tok);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "mint") == 0) return cmd_mint(argc, argv);
    if (strcmp(cmd, "verify") == 0) return cmd_verify(argc, argv);
    if (strcmp(cmd, "inspect") == 0 && argc == 3) return cmd_inspect(argv[2]);
    if ((strcmp(cmd, "to-json") == 0 || strcmp(cmd, "from-json") == 0) && argc == 3)
        return cmd_convert(cmd, argv[2], 0, NULL);
    if (strcmp(cmd, "attenuate") == 0) return cmd_convert(cmd, argv[2], argc - 3, argv + 3);
    usage();
    return 2;
}
