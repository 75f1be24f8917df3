/* core.c — arenas, the uid hash (SipHash-1-3 with a per-process key),
 * uids, and Cedar-syntax formatting of names and strings. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- arenas ---- */

struct pol_chunk {
    struct pol_chunk *next;
    size_t size, used;
    _Alignas(16) char data[];
};

#define CHUNK_MIN 4096

void *pol_alloc(struct pol_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    struct pol_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = CHUNK_MIN;
        if (c && c->size * 2 > sz) sz = c->size * 2;
        if (sz > (1u << 20)) sz = 1u << 20;
        if (sz < n) sz = n;
        c = util_calloc(1, sizeof *c + sz);
        c->size = sz;
        c->next = a->head;
        a->head = c;
        a->total += sz;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void *pol_memdup(struct pol_arena *a, const void *p, size_t n)
{
    void *q = pol_alloc(a, n ? n : 1);
    if (n) memcpy(q, p, n);
    return q;
}

char *pol_strndup(struct pol_arena *a, const char *s, size_t n)
{
    char *q = pol_alloc(a, n + 1);
    if (n) memcpy(q, s, n);
    q[n] = '\0';
    return q;
}

void pol_arena_reset(struct pol_arena *a)
{
    struct pol_chunk *c = a->head;
    if (!c) return;
    if (!c->next) {
        c->used = 0;
        return;
    }
    size_t total = a->total;
    while (c) {
        struct pol_chunk *next = c->next;
        free(c);
        c = next;
    }
    c = util_calloc(1, sizeof *c + total);
    c->size = total;
    a->head = c;
}

void pol_arena_free(struct pol_arena *a)
{
    struct pol_chunk *c = a->head;
    while (c) {
        struct pol_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void pol_arena_splice(struct pol_arena *dst, struct pol_arena *src)
{
    if (!src->head) return;
    /* src's chunks go behind dst's current one, so dst keeps filling it */
    struct pol_chunk *last = src->head;
    while (last->next)
        last = last->next;
    if (dst->head) {
        last->next = dst->head->next;
        dst->head->next = src->head;
    } else {
        dst->head = src->head;
    }
    dst->total += src->total;
    src->head = NULL;
    src->total = 0;
}

/* ---- hashing: SipHash-1-3, keyed once per process ---- */

static uint64_t g_k0, g_k1;
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void key_init(void)
{
    uint64_t k[2] = {0x736f6d6570736575ull, 0x646f72616e646f6dull};
    (void)util_random(k, sizeof k);
    g_k0 = k[0];
    g_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* SipHash-1-3 over a stream of byte strings (one pass, no copy). */
struct sip {
    uint64_t v0, v1, v2, v3;
    uint64_t tail; /* pending bytes, little-endian */
    size_t len;    /* bytes fed so far */
};

static void sip_init(struct sip *s, uint64_t k0)
{
    pthread_once(&g_key_once, key_init);
    s->v0 = 0x736f6d6570736575ull ^ (g_k0 ^ k0);
    s->v1 = 0x646f72616e646f6dull ^ g_k1;
    s->v2 = 0x6c7967656e657261ull ^ (g_k0 ^ k0);
    s->v3 = 0x7465646279746573ull ^ g_k1;
    s->tail = 0;
    s->len = 0;
}

static void sip_block(struct sip *s, uint64_t m)
{
    uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
    v3 ^= m;
    SIPROUND;
    v0 ^= m;
    s->v0 = v0, s->v1 = v1, s->v2 = v2, s->v3 = v3;
}

static void sip_feed(struct sip *s, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && (s->len & 7)) {
        s->tail |= (uint64_t)p[i++] << (8 * (s->len & 7));
        if ((++s->len & 7) == 0) {
            sip_block(s, s->tail);
            s->tail = 0;
        }
    }
    for (; i + 8 <= n; i += 8, s->len += 8)
        sip_block(s, load_le64(p + i));
    for (; i < n; i++, s->len++)
        s->tail |= (uint64_t)p[i] << (8 * (s->len & 7));
}

static uint64_t sip_final(struct sip *s)
{
    sip_block(s, s->tail | ((uint64_t)s->len << 56));
    uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2 ^ 0xff, v3 = s->v3;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t pol_hash_bytes(const void *data, size_t n, uint64_t k0)
{
    struct sip s;
    sip_init(&s, k0);
    sip_feed(&s, data, n);
    return sip_final(&s);
}

/* ---- uids ---- */

void policy_uid_init(struct policy_uid *u, const char *type, size_t type_len, const char *id,
                     size_t id_len)
{
    u->type = type;
    u->id = id;
    u->type_len = (uint32_t)type_len;
    u->id_len = (uint32_t)id_len;
    /* type's length first, so ("a:", "b") and ("a", ":b") differ */
    struct sip s;
    sip_init(&s, 0);
    uint8_t len[4] = {(uint8_t)type_len, (uint8_t)(type_len >> 8), (uint8_t)(type_len >> 16),
                      (uint8_t)(type_len >> 24)};
    sip_feed(&s, len, sizeof len);
    sip_feed(&s, (const uint8_t *)type, type_len);
    sip_feed(&s, (const uint8_t *)id, id_len);
    uint64_t h = sip_final(&s);
    u->hash = h ? h : 1;
}

struct policy_uid policy_uid_make(const char *type, const char *id)
{
    struct policy_uid u;
    policy_uid_init(&u, type, strlen(type), id, strlen(id));
    return u;
}

bool policy_uid_eq(const struct policy_uid *a, const struct policy_uid *b)
{
    if (a == b) return true;
    return a->hash == b->hash && a->type_len == b->type_len && a->id_len == b->id_len &&
           pol_bytes_eq(a->type, b->type, a->type_len) && pol_bytes_eq(a->id, b->id, a->id_len);
}

const struct policy_uid *pol_uid_copy(struct pol_arena *a, const struct policy_uid *u)
{
    struct policy_uid *c = pol_alloc(a, sizeof *c);
    *c = *u;
    c->type = pol_strndup(a, u->type, u->type_len);
    c->id = pol_strndup(a, u->id, u->id_len);
    return c;
}

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

bool pol_is_ident(const char *s, size_t n)
{
    if (n == 0 || !ident_start(s[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!ident_char(s[i])) return false;
    return true;
}

bool pol_valid_type(const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != ':')
            j++;
        if (!pol_is_ident(s + i, j - i) || pol_reserved(s + i, j - i)) return false;
        if (j == n) return true;
        if (j + 2 > n || s[j + 1] != ':') return false;
        i = j + 2;
    }
}

int pol_str_format(struct strbuf *sb, const char *s, size_t n)
{
    int rc = sb_append(sb, "\"", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            rc = sb_puts(sb, "\\\"");
            break;
        case '\\':
            rc = sb_puts(sb, "\\\\");
            break;
        case '\n':
            rc = sb_puts(sb, "\\n");
            break;
        case '\r':
            rc = sb_puts(sb, "\\r");
            break;
        case '\t':
            rc = sb_puts(sb, "\\t");
            break;
        case 0:
            rc = sb_puts(sb, "\\0");
            break;
        default:
            if (c < 0x20 || c == 0x7f)
                rc = sb_printf(sb, "\\u{%x}", c);
            else
                rc = sb_append(sb, &s[i], 1);
        }
    }
    return rc ? rc : sb_append(sb, "\"", 1);
}

int pol_uid_format(struct strbuf *sb, const struct policy_uid *u)
{
    int rc = sb_append(sb, u->type, u->type_len);
    if (!rc) rc = sb_append(sb, "::", 2);
    return rc ? rc : pol_str_format(sb, u->id, u->id_len);
}
