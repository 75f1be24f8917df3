/*
 * token.c — the root key, minting, attenuation, inspection and
 * verification of capability tokens (token.h; docs/tokens.md).
 *
 * libmacaroons does the cryptography: macaroon_create and
 * macaroon_add_first_party_caveat build the HMAC chain when minting and
 * attenuating, macaroon_verify checks it (its final signature comparison is
 * sodium_memcmp, constant time). libmacaroons only ever sees bytes this file
 * produced: tokens are parsed strictly by codec.c first and re-encoded, so
 * its own parser never meets hostile input. Its verifier cannot say which
 * caveat failed, so the MAC is checked with a callback that accepts exactly
 * the caveats codec.c parsed (in order), and the caveats are then checked
 * against the request by caveat.c, which names the one that failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <macaroons.h>
#include <openssl/crypto.h>

#include "token/internal.h"

/* ---- the root key ---- */

static int key_create(const char *path, uint8_t key[TOKEN_KEY_LEN])
{
    char hex[2 * TOKEN_KEY_LEN + 2];
    int rc = util_random(key, TOKEN_KEY_LEN);
    if (rc) return rc;
    util_hex_encode(key, TOKEN_KEY_LEN, hex);
    hex[2 * TOKEN_KEY_LEN] = '\n';
    rc = util_write_file_atomic(path, hex, 2 * TOKEN_KEY_LEN + 1, 0600);
    OPENSSL_cleanse(hex, sizeof hex);
    if (rc) OPENSSL_cleanse(key, TOKEN_KEY_LEN);
    return rc;
}

int token_key_load_or_create(const char *path, uint8_t key[TOKEN_KEY_LEN])
{
    if (!path || !key) return CUSTODY_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno == ENOENT ? key_create(path, key) : custody_err_from_errno(errno);
    struct stat st;
    char buf[2 * TOKEN_KEY_LEN + 3];
    ssize_t n = 0;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = custody_err_from_errno(errno);
    else if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
        rc = CUSTODY_ECONFIG; /* not a plain file, or readable by others */
    else {
        do
            n = read(fd, buf, sizeof buf);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            rc = custody_err_from_errno(errno);
        else if (!(n == 2 * TOKEN_KEY_LEN ||
                   (n == 2 * TOKEN_KEY_LEN + 1 && buf[2 * TOKEN_KEY_LEN] == '\n')) ||
                 util_hex_decode(buf, 2 * TOKEN_KEY_LEN, key) != 0)
            rc = CUSTODY_ECONFIG;
    }
    close(fd);
    OPENSSL_cleanse(buf, sizeof buf);
    return rc;
}

int token_new_id(char out[TOKEN_ID_HEX_LEN + 1])
{
    uint8_t b[TOKEN_ID_HEX_LEN / 2];
    int rc = util_random(b, sizeof b);
    if (!rc) util_hex_encode(b, sizeof b, out);
    return rc;
}

/* ---- parsed tokens, shared ---- */

static int ref_parse(const char *token, struct tok_ref **out, struct strbuf *reason)
{
    if (!token) return sb_fail(reason, CUSTODY_EINVAL, "no token");
    size_t len = strnlen(token, TOKEN_MAX_LEN + 1);
    struct tok_ref *r = util_calloc(1, sizeof *r);
    atomic_init(&r->refs, 1);
    int rc = tok_parse(token, len, &r->t, reason);
    if (rc) {
        tok_free(&r->t);
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void tok_ref_release(struct tok_ref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
        tok_free(&r->t);
        free(r->str);
        free(r);
    }
}

void tok_info_fill(struct token_info *info, struct tok_ref *r)
{
    atomic_fetch_add(&r->refs, 1);
    token_info_free(info);
    info->priv_ = r;
    memcpy(info->id, r->t.id, sizeof info->id);
    memcpy(info->location, r->t.location, sizeof info->location);
    info->json = r->t.json;
    info->ncaveats = r->t.ncav;
    for (size_t i = 0; i < r->t.ncav; i++)
        info->caveats[i] = r->t.cav[i].text;
    info->eff = r->t.eff;
}

void token_info_free(struct token_info *info)
{
    if (!info) return;
    tok_ref_release(info->priv_);
    memset(info, 0, sizeof *info);
}

/* A copy of src whose buffer has room for extra more caveat bytes. */
static void tok_clone(const struct tok *src, size_t extra, struct tok *dst)
{
    *dst = *src;
    dst->memcap = src->memlen + extra + 1;
    dst->mem = util_calloc(1, dst->memcap);
    memcpy(dst->mem, src->mem, src->memlen);
    for (size_t i = 0; i < dst->ncav; i++) {
        dst->cav[i].text = dst->mem + (src->cav[i].text - src->mem);
        dst->cav[i].value = dst->mem + (src->cav[i].value - src->mem);
    }
    tok_effective(dst);
}

/* ---- libmacaroons ---- */

static struct macaroon *to_macaroon(const struct tok *t)
{
    struct strbuf raw = STRBUF_INIT, b64 = STRBUF_INIT;
    struct macaroon *m = NULL;
    enum macaroon_returncode err = MACAROON_SUCCESS;
    if (tok_v1_encode(t, &raw) == 0 &&
        tok_b64url_encode((const uint8_t *)raw.buf, raw.len, &b64) == 0)
        m = macaroon_deserialize(b64.buf, &err);
    sb_free(&raw);
    sb_free(&b64);
    return m;
}

static int from_macaroon(const struct macaroon *m, struct strbuf *out)
{
    size_t n = macaroon_serialize_size_hint(m);
    enum macaroon_returncode err = MACAROON_SUCCESS;
    int rc = sb_reserve(out, n + 1);
    if (rc) return rc;
    if (macaroon_serialize(m, out->buf + out->len, n + 1, &err) != 0) return CUSTODY_EINTERNAL;
    out->len += strlen(out->buf + out->len);
    return 0;
}

/* The verifier callback: accepts the caveats codec.c parsed, in order, and
 * nothing else (so an unknown caveat fails here too). */
struct mac_walk {
    const struct tok *t;
    size_t i;
    bool bad;
};

static int mac_walk_cb(void *f, const unsigned char *pred, size_t n)
{
    struct mac_walk *w = f;
    const struct tok_caveat *c = w->i < w->t->ncav ? &w->t->cav[w->i] : NULL;
    w->i++;
    if (!c || c->len != n || memcmp(c->text, pred, n) != 0) {
        w->bad = true;
        return -1;
    }
    return 0;
}

int tok_mac_verify(const uint8_t key[TOKEN_KEY_LEN], const struct tok *t, struct strbuf *reason)
{
    struct macaroon *m = to_macaroon(t);
    struct macaroon_verifier *v = macaroon_verifier_create();
    struct mac_walk w = {t, 0, false};
    enum macaroon_returncode err = MACAROON_SUCCESS;
    int rc = 0;
    if (!m || !v)
        rc = sb_fail(reason, CUSTODY_EBADTOKEN, "libmacaroons cannot read the token");
    else if (macaroon_verifier_satisfy_general(v, mac_walk_cb, &w, &err) != 0)
        rc = CUSTODY_ENOMEM;
    else if (macaroon_verify(v, m, key, TOKEN_KEY_LEN, NULL, 0, &err) != 0 || w.bad ||
             w.i != t->ncav)
        rc = sb_fail(reason, CUSTODY_EBADTOKEN,
                     "the token's signature does not verify (another key, or the token was "
                     "altered)");
    macaroon_verifier_destroy(v);
    macaroon_destroy(m);
    return rc;
}

/* Adds caveats to m (libmacaroons returns a new macaroon each time). */
static int add_caveats(struct macaroon **m, const struct tok_caveat *cav, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        enum macaroon_returncode err = MACAROON_SUCCESS;
        struct macaroon *next = macaroon_add_first_party_caveat(
            *m, (const unsigned char *)cav[i].text, cav[i].len, &err);
        if (!next) return err == MACAROON_OUT_OF_MEMORY ? CUSTODY_ENOMEM : CUSTODY_EINTERNAL;
        macaroon_destroy(*m);
        *m = next;
    }
    return 0;
}

/* ---- minting ---- */

static int claims_caveats(const struct token_claims *c, uint64_t issued, struct tok *t,
                          struct strbuf *reason)
{
    struct strbuf s = STRBUF_INIT;
    int rc = 0;
#define CAV(...)                                                                                   \
    do {                                                                                           \
        sb_reset(&s);                                                                              \
        sb_printf(&s, __VA_ARGS__);                                                                \
        if (!rc) rc = tok_add_caveat(t, s.buf, s.len, reason);                                     \
    } while (0)
    CAV("agent = %s", c->agent);
    CAV("agent_key = %s", c->agent_key);
    sb_reset(&s);
    sb_puts(&s, "action in ");
    for (uint32_t bit = 1; bit & TOKEN_ACT_ALL; bit <<= 1)
        if (c->actions & bit) sb_printf(&s, "%s%s", s.len > 10 ? "," : "", token_action_name(bit));
    if (!rc) rc = tok_add_caveat(t, s.buf, s.len, reason);
    CAV("%s = %s", c->resource_prefix ? "resource_prefix" : "resource", c->resource);
    if (c->has_range) CAV("range = %" PRIu64 "-%" PRIu64, c->range_first, c->range_last);
    CAV("expires < %" PRIu64, c->expires);
    CAV("issued = %" PRIu64, issued);
    for (size_t i = 0; i < c->npolicies; i++)
        CAV("policy = %s", c->policies[i]);
    CAV("epoch = %" PRIu64, c->epoch);
    if (c->attest) CAV("attest = %s", c->attest);
#undef CAV
    sb_free(&s);
    return rc;
}

static int claims_check(const struct token_claims *c, uint64_t issued, struct strbuf *reason)
{
    if (!c->agent || !tok_agent_name_valid(c->agent, strlen(c->agent)))
        return sb_fail(reason, CUSTODY_EINVAL, "claims: missing or invalid agent name");
    if (!c->agent_key || !tok_hash_id_valid(c->agent_key, strlen(c->agent_key), "ed25519"))
        return sb_fail(reason, CUSTODY_EINVAL, "claims: agent_key must be ed25519:<64 hex>");
    if (!c->actions || (c->actions & ~TOKEN_ACT_ALL))
        return sb_fail(reason, CUSTODY_EINVAL, "claims: no actions, or unknown action bits");
    if (!c->resource || !tok_resource_valid(c->resource, strlen(c->resource), c->resource_prefix))
        return sb_fail(reason, CUSTODY_EINVAL, "claims: resource is not a canonical %s",
                       c->resource_prefix ? "ROOT:/DIR/" : "ROOT:/PATH");
    if (c->has_range && c->range_first > c->range_last)
        return sb_fail(reason, CUSTODY_EINVAL, "claims: empty range");
    uint64_t cap = c->max_ttl ? UTIL_MIN(c->max_ttl, TOKEN_TTL_MAX_S) : TOKEN_TTL_MAX_S;
    if (c->expires <= issued || c->expires - issued > cap)
        return sb_fail(reason, CUSTODY_EINVAL,
                       "claims: expires must be after issued (%" PRIu64 ") and at most %" PRIu64
                       " s later",
                       issued, cap);
    if (c->npolicies > TOKEN_MAX_POLICIES || (c->npolicies && !c->policies))
        return sb_fail(reason, CUSTODY_EINVAL, "claims: more than %d policies", TOKEN_MAX_POLICIES);
    for (size_t i = 0; i < c->npolicies; i++)
        if (!c->policies[i] || !tok_policy_id_valid(c->policies[i], strlen(c->policies[i])))
            return sb_fail(reason, CUSTODY_EINVAL, "claims: policy id %zu is invalid", i);
    if (c->attest && !tok_hash_id_valid(c->attest, strlen(c->attest), "sha256"))
        return sb_fail(reason, CUSTODY_EINVAL, "claims: attest must be sha256:<64 hex>");
    const char *loc = c->location ? c->location : "custody";
    size_t ll = strlen(loc);
    if (ll > TOKEN_LOCATION_MAX)
        return sb_fail(reason, CUSTODY_EINVAL, "claims: location too long");
    for (size_t i = 0; i < ll; i++)
        if ((unsigned char)loc[i] < 0x20 || (unsigned char)loc[i] > 0x7e)
            return sb_fail(reason, CUSTODY_EINVAL, "claims: location is not printable ASCII");
    return 0;
}

int token_mint(const uint8_t key[TOKEN_KEY_LEN], struct token_claims *c, struct strbuf *out,
               struct strbuf *reason)
{
    if (!key || !c || !out) return sb_fail(reason, CUSTODY_EINVAL, "token_mint: missing argument");
    uint64_t issued = c->issued ? c->issued : util_now_ns() / 1000000000u;
    int rc = claims_check(c, issued, reason);
    if (rc) return rc;
    if (!c->id[0] && (rc = token_new_id(c->id))) return rc;
    struct tok t;
    memset(&t, 0, sizeof t);
    t.memcap = 8192;
    t.mem = util_calloc(1, t.memcap);
    /* the id and every caveat go through the same checks as a parsed token */
    if (tok_set_identifier(&t, c->id, strnlen(c->id, sizeof c->id), NULL) != 0)
        rc = sb_fail(reason, CUSTODY_EINVAL,
                     "claims: the identifier must be %d lower-case hex "
                     "digits",
                     TOKEN_ID_HEX_LEN);
    if (!rc) rc = claims_caveats(c, issued, &t, reason);
    const char *loc = c->location ? c->location : "custody";
    enum macaroon_returncode err = MACAROON_SUCCESS;
    struct macaroon *m = NULL;
    if (!rc) {
        m = macaroon_create((const unsigned char *)loc, strlen(loc), key, TOKEN_KEY_LEN,
                            (const unsigned char *)c->id, strlen(c->id), &err);
        rc = m ? add_caveats(&m, t.cav, t.ncav) : CUSTODY_EINTERNAL;
    }
    if (!rc) rc = from_macaroon(m, out);
    macaroon_destroy(m);
    tok_free(&t);
    return rc;
}

/* ---- inspect, convert ---- */

int token_inspect(const char *token, struct token_info *info, struct strbuf *reason)
{
    if (!info) return sb_fail(reason, CUSTODY_EINVAL, "token_inspect: no info");
    memset(info, 0, sizeof *info);
    struct tok_ref *r;
    int rc = ref_parse(token, &r, reason);
    if (rc) return rc;
    tok_info_fill(info, r);
    tok_ref_release(r);
    return 0;
}

int token_to_json(const char *token, struct strbuf *out, struct strbuf *reason)
{
    struct tok_ref *r;
    int rc = ref_parse(token, &r, reason);
    if (rc) return rc;
    rc = tok_json_encode(&r->t, out);
    tok_ref_release(r);
    return rc;
}

int token_from_json(const char *token, struct strbuf *out, struct strbuf *reason)
{
    struct tok_ref *r;
    int rc = ref_parse(token, &r, reason);
    if (rc) return rc;
    struct strbuf raw = STRBUF_INIT;
    rc = tok_v1_encode(&r->t, &raw);
    if (!rc) rc = tok_b64url_encode((const uint8_t *)raw.buf, raw.len, out);
    sb_free(&raw);
    tok_ref_release(r);
    return rc;
}

/* ---- attenuation ---- */

int token_attenuate(const char *token, const char *const *caveats, size_t n, struct strbuf *out,
                    struct strbuf *reason)
{
    if (!out || (n && !caveats))
        return sb_fail(reason, CUSTODY_EINVAL, "token_attenuate: missing argument");
    struct tok_ref *r;
    int rc = ref_parse(token, &r, reason);
    if (rc) return rc;
    struct tok w; /* the token with the new caveats, to check them */
    size_t extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += caveats[i] ? strnlen(caveats[i], TOKEN_MAX_CAVEAT_LEN + 1) + 1 : 0;
    tok_clone(&r->t, extra, &w);
    for (size_t i = 0; !rc && i < n; i++) {
        if (!caveats[i]) {
            rc = sb_fail(reason, CUSTODY_EINVAL, "caveat %zu is NULL", i);
            break;
        }
        rc = tok_add_caveat(&w, caveats[i], strnlen(caveats[i], TOKEN_MAX_CAVEAT_LEN + 1), reason);
        if (!rc) rc = tok_narrows(&w.eff, &w.cav[w.ncav - 1], reason);
        if (!rc) tok_effective(&w);
    }
    struct macaroon *m = NULL;
    struct strbuf res = STRBUF_INIT;
    if (!rc) {
        m = to_macaroon(&r->t);
        rc = m ? add_caveats(&m, w.cav + r->t.ncav, n) : CUSTODY_EINTERNAL;
    }
    if (!rc) rc = from_macaroon(m, &res);
    if (!rc && r->t.json) { /* answer in the form the token came in */
        struct strbuf js = STRBUF_INIT;
        rc = token_to_json(res.buf, &js, reason);
        sb_free(&res);
        res = js;
    }
    if (!rc && res.len > TOKEN_MAX_LEN)
        rc = sb_fail(reason, CUSTODY_ETOOBIG, "the attenuated token would be over %d bytes",
                     TOKEN_MAX_LEN);
    if (!rc) rc = sb_append(out, res.buf, res.len);
    sb_free(&res);
    macaroon_destroy(m);
    tok_free(&w);
    tok_ref_release(r);
    return rc;
}

/* ---- verification ---- */

int token_verify(const uint8_t key[TOKEN_KEY_LEN], const char *token,
                 const struct token_request *req, struct token_info *info, struct strbuf *reason)
{
    if (info) memset(info, 0, sizeof *info);
    if (!key || !req) return sb_fail(reason, CUSTODY_EINVAL, "token_verify: missing argument");
    struct tok_ref *r;
    int rc = ref_parse(token, &r, reason);
    if (rc) return rc;
    if (info) tok_info_fill(info, r);
    rc = tok_mac_verify(key, &r->t, reason);
    if (!rc) rc = tok_check(&r->t, req, reason);
    tok_ref_release(r);
    return rc;
}
