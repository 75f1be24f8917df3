/*
 * caveat.c — the caveat grammar (docs/tokens.md), the effective claims of a
 * token (the intersection of its caveats), and the narrowing check for
 * attenuation. The checks against a request are in check.c.
 *
 * A caveat is exactly "KEY OP VALUE": KEY and OP contain no space, single
 * spaces between them, VALUE is the rest (it may hold spaces, e.g. in a
 * path). The whole caveat is valid UTF-8 without control bytes; nothing is
 * normalised, so a value either is in canonical form or the caveat fails.
 */
#include <inttypes.h>
#include <string.h>

#include "token/internal.h"

/* ---- messages ---- */

void tok_quote(struct strbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    sb_append(sb, "\"", 1);
    size_t n = len > 96 ? 96 : len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            sb_append(sb, s + i, 1);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            sb_append(sb, esc, 4);
        }
    }
    sb_append(sb, n < len ? "\"..." : "\"", n < len ? 4 : 1);
}

/* ---- actions ---- */

static const char *const action_names[TOKEN_ACT_COUNT] = {
    "read",   "write",    "list",     "stat",       "mkdir",     "move",
    "delete", "rollback", "versions", "token.mint", "model.load"};

uint32_t token_action_from_name(const char *name, size_t len)
{
    for (size_t i = 0; i < TOKEN_ACT_COUNT; i++)
        if (strlen(action_names[i]) == len && memcmp(action_names[i], name, len) == 0)
            return 1u << i;
    return 0;
}

const char *token_action_name(uint32_t bit)
{
    for (size_t i = 0; i < TOKEN_ACT_COUNT; i++)
        if (bit == 1u << i) return action_names[i];
    return NULL;
}

/* Appends "read,write" for a mask. */
static void actions_str(struct strbuf *sb, uint32_t mask)
{
    bool first = true;
    for (size_t i = 0; i < TOKEN_ACT_COUNT; i++) {
        if (mask & (1u << i)) {
            sb_printf(sb, "%s%s", first ? "" : ",", action_names[i]);
            first = false;
        }
    }
    if (first) sb_puts(sb, "(nothing)");
}

/* ---- value syntax ---- */

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool tok_agent_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > TOKEN_NAME_MAX || s[0] == '.' || s[0] == '-') return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-') return false;
    return true;
}

bool tok_policy_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > TOKEN_POLICY_MAX || !is_alnum(s[0])) return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && !strchr("._:@/-", s[i])) return false;
    return true;
}

bool tok_hash_id_valid(const char *s, size_t len, const char *scheme)
{
    size_t sl = strlen(scheme);
    if (len != sl + 1 + 64 || memcmp(s, scheme, sl) != 0 || s[sl] != ':') return false;
    for (size_t i = sl + 1; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

bool tok_resource_valid(const char *s, size_t len, bool prefix)
{
    const char *colon = memchr(s, ':', len);
    if (!colon || colon == s || colon - s > 64 || !is_alnum(s[0])) return false;
    for (const char *p = s; p < colon; p++)
        if (!is_alnum(*p) && *p != '_' && *p != '-') return false;
    const char *path = colon + 1, *end = s + len;
    if (path == end || *path != '/') return false;
    if (!util_utf8_valid(path, (size_t)(end - path))) return false;
    /* components between slashes: non-empty, not "." or "..", no controls */
    const char *c = path + 1;
    while (c < end) {
        const char *slash = memchr(c, '/', (size_t)(end - c));
        const char *ce = slash ? slash : end;
        size_t n = (size_t)(ce - c);
        if (n == 0 || n > 255 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        for (const char *p = c; p < ce; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) return false;
        if (!slash) break;
        c = slash + 1;
    }
    bool trailing = end[-1] == '/';
    return prefix ? trailing : (!trailing || end - path == 1);
}

/* Decimal, canonical (no leading zeros), fits in 64 bits. */
static bool parse_num(const char *s, size_t len, uint64_t *out)
{
    if (len > 1 && s[0] == '0') return false;
    return util_parse_u64(s, len, out) == 0;
}

/* ---- one caveat ---- */

struct key_def {
    const char *key;
    const char *op;
};

static const struct key_def keys[TOKEN_CAV_COUNT] = {
    [TOKEN_CAV_AGENT] = {"agent", "="},
    [TOKEN_CAV_AGENT_KEY] = {"agent_key", "="},
    [TOKEN_CAV_ACTION] = {"action", "in"},
    [TOKEN_CAV_RESOURCE] = {"resource", "="},
    [TOKEN_CAV_RESOURCE_PREFIX] = {"resource_prefix", "="},
    [TOKEN_CAV_RANGE] = {"range", "="},
    [TOKEN_CAV_EXPIRES] = {"expires", "<"},
    [TOKEN_CAV_ISSUED] = {"issued", "="},
    [TOKEN_CAV_POLICY] = {"policy", "="},
    [TOKEN_CAV_EPOCH] = {"epoch", "="},
    [TOKEN_CAV_ATTEST] = {"attest", "="},
    [TOKEN_CAV_DELEGATE] = {"delegate", "="},
};

const char *token_caveat_key_name(enum token_caveat_key k)
{
    return (unsigned)k < TOKEN_CAV_COUNT ? keys[k].key : "?";
}

static int parse_actions(const char *v, size_t n, uint64_t *mask)
{
    uint32_t m = 0;
    size_t i = 0;
    for (;;) {
        const char *comma = memchr(v + i, ',', n - i);
        size_t e = comma ? (size_t)(comma - v) : n;
        uint32_t bit = token_action_from_name(v + i, e - i);
        if (!bit || (m & bit)) return -1;
        m |= bit;
        if (!comma) break;
        i = e + 1;
    }
    *mask = m;
    return 0;
}

static int parse_value(struct tok_caveat *c, const char *v, size_t n)
{
    switch (c->kind) {
    case TOKEN_CAV_AGENT:
    case TOKEN_CAV_DELEGATE:
        return tok_agent_name_valid(v, n) ? 0 : -1;
    case TOKEN_CAV_AGENT_KEY:
        return tok_hash_id_valid(v, n, "ed25519") ? 0 : -1;
    case TOKEN_CAV_ATTEST:
        return tok_hash_id_valid(v, n, "sha256") ? 0 : -1;
    case TOKEN_CAV_POLICY:
        return tok_policy_id_valid(v, n) ? 0 : -1;
    case TOKEN_CAV_ACTION:
        return parse_actions(v, n, &c->a);
    case TOKEN_CAV_RESOURCE:
    case TOKEN_CAV_RESOURCE_PREFIX:
        return tok_resource_valid(v, n, c->kind == TOKEN_CAV_RESOURCE_PREFIX) ? 0 : -1;
    case TOKEN_CAV_EXPIRES:
    case TOKEN_CAV_ISSUED:
    case TOKEN_CAV_EPOCH:
        return parse_num(v, n, &c->a) ? 0 : -1;
    case TOKEN_CAV_RANGE: {
        const char *dash = memchr(v, '-', n);
        if (!dash || !parse_num(v, (size_t)(dash - v), &c->a) ||
            !parse_num(dash + 1, n - (size_t)(dash - v) - 1, &c->b) || c->a > c->b)
            return -1;
        return 0;
    }
    }
    return -1;
}

static const char *value_syntax(int kind)
{
    switch (kind) {
    case TOKEN_CAV_AGENT:
    case TOKEN_CAV_DELEGATE:
        return "an agent name: 1-64 of A-Z a-z 0-9 . _ -, not starting with . or -";
    case TOKEN_CAV_AGENT_KEY:
        return "ed25519: and 64 lower-case hex digits";
    case TOKEN_CAV_ATTEST:
        return "sha256: and 64 lower-case hex digits";
    case TOKEN_CAV_POLICY:
        return "a policy id: 1-128 of A-Z a-z 0-9 . _ : @ / -, starting with a letter or digit";
    case TOKEN_CAV_ACTION:
        return "known action names separated by commas, each once";
    case TOKEN_CAV_RESOURCE:
        return "ROOT:/PATH without a trailing /, no . or .. or empty components";
    case TOKEN_CAV_RESOURCE_PREFIX:
        return "ROOT:/DIR/ ending in /, no . or .. or empty components";
    case TOKEN_CAV_RANGE:
        return "FIRST-LAST, decimal byte offsets, FIRST <= LAST";
    default:
        return "a decimal number without leading zeros";
    }
}

/* Which way a caveat is malformed (0: it is not). */
enum bad { BAD_NONE, BAD_EMPTY, BAD_BYTES, BAD_SHAPE, BAD_KEY, BAD_OP, BAD_VALUE };

static enum bad parse_caveat(const char *text, size_t len, struct tok_caveat *c)
{
    if (len == 0) return BAD_EMPTY;
    if (!util_utf8_valid(text, len)) return BAD_BYTES;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) return BAD_BYTES;
    const char *sp1 = memchr(text, ' ', len);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - text)) : NULL;
    if (!sp1 || !sp2 || sp1 == text || sp2 == sp1 + 1 || sp2 + 1 == text + len) return BAD_SHAPE;
    size_t klen = (size_t)(sp1 - text), olen = (size_t)(sp2 - sp1 - 1);
    int kind = -1;
    for (int k = 0; k < TOKEN_CAV_COUNT && kind < 0; k++)
        if (strlen(keys[k].key) == klen && memcmp(keys[k].key, text, klen) == 0) kind = k;
    if (kind < 0) return BAD_KEY;
    c->kind = (uint8_t)kind;
    if (strlen(keys[kind].op) != olen || memcmp(keys[kind].op, sp1 + 1, olen) != 0) return BAD_OP;
    c->value = sp2 + 1;
    if (parse_value(c, c->value, len - (size_t)(c->value - text)) != 0) return BAD_VALUE;
    return BAD_NONE;
}

int tok_caveat_parse(const char *text, size_t len, struct tok_caveat *c, struct strbuf *reason)
{
    memset(c, 0, sizeof *c);
    c->text = text;
    c->len = (uint16_t)len;
    if (len > TOKEN_MAX_CAVEAT_LEN)
        return sb_fail(reason, CUSTODY_ETOOBIG, "a caveat is %zu bytes, over %d", len,
                       TOKEN_MAX_CAVEAT_LEN);
    enum bad bad = parse_caveat(text, len, c);
    if (bad == BAD_NONE) return 0;
    if (!reason) return CUSTODY_EBADTOKEN;
    struct strbuf q = STRBUF_INIT;
    tok_quote(&q, text, len);
    const char *key = keys[c->kind].key;
    switch (bad) {
    case BAD_EMPTY:
        sb_fail(reason, 0, "empty caveat");
        break;
    case BAD_BYTES:
        sb_fail(reason, 0, "caveat %s holds control bytes or is not UTF-8", q.buf);
        break;
    case BAD_SHAPE:
        sb_fail(reason, 0, "caveat %s is not \"KEY OP VALUE\" (single spaces)", q.buf);
        break;
    case BAD_KEY:
        sb_fail(reason, 0, "unknown caveat %s", q.buf);
        break;
    case BAD_OP:
        sb_fail(reason, 0, "caveat %s: the operator of %s is \"%s\"", q.buf, key, keys[c->kind].op);
        break;
    default:
        sb_fail(reason, 0, "caveat %s: the value of %s must be %s", q.buf, key,
                value_syntax(c->kind));
        break;
    }
    sb_free(&q);
    return CUSTODY_EBADTOKEN;
}

int token_caveat_check(const char *caveat, size_t len, struct strbuf *reason)
{
    if (!caveat) return sb_fail(reason, CUSTODY_EINVAL, "no caveat");
    if (len > TOKEN_MAX_CAVEAT_LEN)
        return sb_fail(reason, CUSTODY_ETOOBIG, "a caveat is %zu bytes, over %d", len,
                       TOKEN_MAX_CAVEAT_LEN);
    if (memchr(caveat, '\0', len))
        return sb_fail(reason, CUSTODY_EBADTOKEN, "a caveat holds a NUL byte");
    char buf[TOKEN_MAX_CAVEAT_LEN + 1];
    memcpy(buf, caveat, len);
    buf[len] = '\0';
    struct tok_caveat c;
    return tok_caveat_parse(buf, len, &c, reason);
}

int tok_add_caveat(struct tok *t, const char *s, size_t len, struct strbuf *reason)
{
    if (t->ncav >= TOKEN_MAX_CAVEATS)
        return sb_fail(reason, CUSTODY_ETOOBIG, "more than %d caveats", TOKEN_MAX_CAVEATS);
    if (len > TOKEN_MAX_CAVEAT_LEN)
        return sb_fail(reason, CUSTODY_ETOOBIG, "caveat %zu is %zu bytes, over %d", t->ncav + 1,
                       len, TOKEN_MAX_CAVEAT_LEN);
    if (memchr(s, '\0', len))
        return sb_fail(reason, CUSTODY_EBADTOKEN, "caveat %zu holds a NUL byte", t->ncav + 1);
    if (t->memlen + len + 1 > t->memcap)
        return sb_fail(reason, CUSTODY_EINTERNAL, "token buffer too small");
    char *text = t->mem + t->memlen;
    memcpy(text, s, len);
    text[len] = '\0';
    int rc = tok_caveat_parse(text, len, &t->cav[t->ncav], reason);
    if (rc) return rc;
    t->memlen += len + 1;
    t->ncav++;
    return 0;
}

/* ---- resources ---- */

/* Whether prefix p (ending in '/') covers x: x is p, p's directory itself
 * (p without its '/'), or below p. */
static bool prefix_covers(const char *p, const char *x)
{
    size_t pl = strlen(p), xl = strlen(x);
    if (xl >= pl) return memcmp(p, x, pl) == 0;
    return xl == pl - 1 && memcmp(p, x, xl) == 0 && p[xl - 1] != ':';
}

/* Whether scope (s, s_prefix) covers x (x_prefix: x is itself a prefix). */
bool tok_scope_covers(const char *s, bool s_prefix, const char *x, bool x_prefix)
{
    if (!s_prefix) return !x_prefix && strcmp(s, x) == 0;
    return prefix_covers(s, x);
}

/* ---- effective claims ---- */

static void same_string(struct token_effective *e, int k, const char **slot, const char *v)
{
    if (!*slot)
        *slot = v;
    else if (strcmp(*slot, v) != 0)
        e->conflicts |= TOKEN_CAV_BIT(k);
}

static void add_effective(struct token_effective *e, const struct tok_caveat *c)
{
    int k = c->kind;
    bool first = !(e->present & TOKEN_CAV_BIT(k));
    e->present |= TOKEN_CAV_BIT(k);
    switch (k) {
    case TOKEN_CAV_AGENT:
        same_string(e, k, &e->agent, c->value);
        break;
    case TOKEN_CAV_AGENT_KEY:
        same_string(e, k, &e->agent_key, c->value);
        break;
    case TOKEN_CAV_ATTEST:
        same_string(e, k, &e->attest, c->value);
        break;
    case TOKEN_CAV_DELEGATE:
        same_string(e, k, &e->delegate, c->value);
        break;
    case TOKEN_CAV_ACTION:
        e->actions &= (uint32_t)c->a;
        if (!e->actions) e->conflicts |= TOKEN_CAV_BIT(k);
        break;
    case TOKEN_CAV_RESOURCE:
    case TOKEN_CAV_RESOURCE_PREFIX: {
        bool pre = k == TOKEN_CAV_RESOURCE_PREFIX;
        if (!e->resource) {
            e->resource = c->value, e->resource_prefix = pre;
        } else if (tok_scope_covers(e->resource, e->resource_prefix, c->value, pre)) {
            e->resource = c->value, e->resource_prefix = pre; /* narrower */
        } else if (!tok_scope_covers(c->value, pre, e->resource, e->resource_prefix)) {
            e->conflicts |= TOKEN_CAV_BIT(TOKEN_CAV_RESOURCE);
        }
        break;
    }
    case TOKEN_CAV_RANGE:
        if (first) {
            e->range_first = c->a, e->range_last = c->b;
        } else {
            e->range_first = UTIL_MAX(e->range_first, c->a);
            e->range_last = UTIL_MIN(e->range_last, c->b);
            if (e->range_first > e->range_last) e->conflicts |= TOKEN_CAV_BIT(k);
        }
        break;
    case TOKEN_CAV_EXPIRES:
        e->expires = first ? c->a : UTIL_MIN(e->expires, c->a);
        break;
    case TOKEN_CAV_ISSUED:
        e->issued = first ? c->a : UTIL_MIN(e->issued, c->a);
        break;
    case TOKEN_CAV_EPOCH:
        if (first)
            e->epoch = c->a;
        else if (e->epoch != c->a)
            e->conflicts |= TOKEN_CAV_BIT(k);
        break;
    case TOKEN_CAV_POLICY:
        e->policies[e->npolicies++] = c->value;
        break;
    }
}

void tok_effective(struct tok *t)
{
    memset(&t->eff, 0, sizeof t->eff);
    t->eff.actions = TOKEN_ACT_ALL;
    for (size_t i = 0; i < t->ncav; i++)
        add_effective(&t->eff, &t->cav[i]);
}

/* ---- attenuation: does a new caveat narrow? ---- */

int tok_narrows(const struct token_effective *e, const struct tok_caveat *c, struct strbuf *reason)
{
    bool has = e->present & TOKEN_CAV_BIT(c->kind);
    struct strbuf q = STRBUF_INIT, x = STRBUF_INIT;
    tok_quote(&q, c->text, c->len);
    int rc = 0;
    switch (c->kind) {
    case TOKEN_CAV_ACTION:
        if ((uint32_t)c->a & ~e->actions) {
            actions_str(&x, e->actions);
            rc = sb_fail(reason, CUSTODY_EPERM,
                         "caveat %s would widen the token: it allows only %s", q.buf, x.buf);
        }
        break;
    case TOKEN_CAV_RESOURCE:
    case TOKEN_CAV_RESOURCE_PREFIX:
        if (e->resource && !tok_scope_covers(e->resource, e->resource_prefix, c->value,
                                             c->kind == TOKEN_CAV_RESOURCE_PREFIX))
            rc = sb_fail(reason, CUSTODY_EPERM,
                         "caveat %s would widen the token: it allows only %s%s", q.buf, e->resource,
                         e->resource_prefix ? " and below" : "");
        break;
    case TOKEN_CAV_RANGE:
        if ((e->present & TOKEN_CAV_BIT(TOKEN_CAV_RANGE)) &&
            (c->a < e->range_first || c->b > e->range_last))
            rc = sb_fail(reason, CUSTODY_EPERM,
                         "caveat %s would widen the token: it allows only bytes %" PRIu64
                         "-%" PRIu64,
                         q.buf, e->range_first, e->range_last);
        break;
    case TOKEN_CAV_EXPIRES:
        if (has && c->a > e->expires)
            rc = sb_fail(reason, CUSTODY_EPERM,
                         "caveat %s would widen the token: it expires at %" PRIu64, q.buf,
                         e->expires);
        break;
    case TOKEN_CAV_AGENT:
    case TOKEN_CAV_AGENT_KEY:
    case TOKEN_CAV_ATTEST:
    case TOKEN_CAV_DELEGATE: { /* handing to a sub-agent narrows who may present it */
        const char *cur = c->kind == TOKEN_CAV_AGENT       ? e->agent
                          : c->kind == TOKEN_CAV_AGENT_KEY ? e->agent_key
                          : c->kind == TOKEN_CAV_DELEGATE  ? e->delegate
                                                           : e->attest;
        if (cur && strcmp(cur, c->value) != 0)
            rc = sb_fail(reason, CUSTODY_EINVAL,
                         "caveat %s contradicts the token's %s %s: the token would be unusable",
                         q.buf, token_caveat_key_name(c->kind), cur);
        break;
    }
    case TOKEN_CAV_EPOCH:
        if (has && c->a != e->epoch)
            rc = sb_fail(reason, CUSTODY_EINVAL,
                         "caveat %s contradicts the token's epoch %" PRIu64
                         ": the token would be unusable",
                         q.buf, e->epoch);
        break;
    default: /* issued, policy: never widen */
        break;
    }
    sb_free(&q);
    sb_free(&x);
    return rc;
}
