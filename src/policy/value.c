/* value.c — Cedar values: the total order sets are kept in, equality,
 * building sets and records, deep copies, and Cedar-syntax formatting. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int pol_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int uid_cmp(const struct policy_uid *a, const struct policy_uid *b)
{
    if (a == b) return 0;
    int c = pol_name_cmp(a->type, a->type_len, b->type, b->type_len);
    return c ? c : pol_name_cmp(a->id, a->id_len, b->id, b->id_len);
}

int policy_value_cmp(const struct policy_value *a, const struct policy_value *b)
{
    if (a->type != b->type) return a->type < b->type ? -1 : 1;
    switch (a->type) {
    case POLICY_BOOL:
        return (int)a->u.b - (int)b->u.b;
    case POLICY_LONG:
    case POLICY_DECIMAL:
    case POLICY_DATETIME:
    case POLICY_DURATION:
        return cmp_i64(a->u.i, b->u.i);
    case POLICY_STRING:
        return pol_name_cmp(a->u.s, a->len, b->u.s, b->len);
    case POLICY_ENTITY:
        return uid_cmp(a->u.uid, b->u.uid);
    case POLICY_SET:
        if (a->len != b->len) return a->len < b->len ? -1 : 1;
        for (uint32_t i = 0; i < a->len; i++) {
            int c = policy_value_cmp(&a->u.set[i], &b->u.set[i]);
            if (c) return c;
        }
        return 0;
    case POLICY_RECORD:
        if (a->len != b->len) return a->len < b->len ? -1 : 1;
        for (uint32_t i = 0; i < a->len; i++) {
            const struct policy_attr *x = &a->u.rec[i], *y = &b->u.rec[i];
            int c = pol_name_cmp(x->name, x->name_len, y->name, y->name_len);
            if (!c) c = policy_value_cmp(&x->value, &y->value);
            if (c) return c;
        }
        return 0;
    case POLICY_IPADDR:
        if (a->ip_v6 != b->ip_v6) return a->ip_v6 < b->ip_v6 ? -1 : 1;
        {
            int c = memcmp(a->u.ip, b->u.ip, 16);
            if (c) return c;
        }
        return (int)a->ip_prefix - (int)b->ip_prefix;
    }
    return 0;
}

bool policy_value_eq(const struct policy_value *a, const struct policy_value *b)
{
    if (a->type != b->type) return false;
    switch (a->type) {
    case POLICY_BOOL:
        return a->u.b == b->u.b;
    case POLICY_LONG:
    case POLICY_DECIMAL:
    case POLICY_DATETIME:
    case POLICY_DURATION:
        return a->u.i == b->u.i;
    case POLICY_STRING:
        return a->len == b->len && pol_bytes_eq(a->u.s, b->u.s, a->len);
    case POLICY_ENTITY:
        return policy_uid_eq(a->u.uid, b->u.uid);
    default:
        return a->len == b->len && policy_value_cmp(a, b) == 0;
    }
}

static int value_qcmp(const void *a, const void *b)
{
    return policy_value_cmp(a, b);
}

static int attr_qcmp(const void *a, const void *b)
{
    const struct policy_attr *x = a, *y = b;
    return pol_name_cmp(x->name, x->name_len, y->name, y->name_len);
}

int policy_value_set_of(struct policy_value *items, size_t *n, struct policy_value *out)
{
    if (*n > POLICY_MAX_ELEMS) return CUSTODY_ETOOBIG;
    size_t k = *n;
    if (k > 1) {
        /* already sorted and unique is the common case for small literals */
        bool sorted = true;
        for (size_t i = 1; i < k && sorted; i++)
            sorted = policy_value_cmp(&items[i - 1], &items[i]) < 0;
        if (!sorted) {
            qsort(items, k, sizeof *items, value_qcmp);
            size_t w = 1;
            for (size_t i = 1; i < k; i++)
                if (policy_value_cmp(&items[w - 1], &items[i]) != 0) items[w++] = items[i];
            k = w;
        }
    }
    *n = k;
    memset(out, 0, sizeof *out);
    out->type = POLICY_SET;
    out->len = (uint32_t)k;
    out->u.set = items;
    return 0;
}

int policy_value_record_of(struct policy_attr *attrs, size_t n, struct policy_value *out)
{
    if (n > POLICY_MAX_ELEMS) return CUSTODY_ETOOBIG;
    if (n > 1) {
        qsort(attrs, n, sizeof *attrs, attr_qcmp);
        for (size_t i = 1; i < n; i++)
            if (attr_qcmp(&attrs[i - 1], &attrs[i]) == 0) return CUSTODY_EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->type = POLICY_RECORD;
    out->len = (uint32_t)n;
    out->u.rec = attrs;
    return 0;
}

const struct policy_value *policy_record_get(const struct policy_value *rec, const char *name,
                                             size_t name_len)
{
    if (rec->type != POLICY_RECORD) return NULL;
    const struct policy_attr *a = rec->u.rec;
    size_t lo = 0, hi = rec->len;
    if (hi <= 8) {
        for (size_t i = 0; i < hi; i++)
            if (a[i].name_len == name_len && pol_bytes_eq(a[i].name, name, name_len))
                return &a[i].value;
        return NULL;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = pol_name_cmp(a[mid].name, a[mid].name_len, name, name_len);
        if (c == 0) return &a[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool pol_set_contains(const struct policy_value *set, const struct policy_value *v)
{
    const struct policy_value *e = set->u.set;
    size_t lo = 0, hi = set->len;
    if (hi <= 8) {
        for (size_t i = 0; i < hi; i++)
            if (policy_value_eq(&e[i], v)) return true;
        return false;
    }
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = policy_value_cmp(&e[mid], v);
        if (c == 0) return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void pol_value_copy(struct pol_arena *a, const struct policy_value *v, struct policy_value *out)
{
    *out = *v;
    switch (v->type) {
    case POLICY_STRING:
        out->u.s = pol_strndup(a, v->u.s, v->len);
        break;
    case POLICY_ENTITY:
        out->u.uid = pol_uid_copy(a, v->u.uid);
        break;
    case POLICY_SET: {
        struct policy_value *items = pol_alloc(a, (v->len ? v->len : 1) * sizeof *items);
        for (uint32_t i = 0; i < v->len; i++)
            pol_value_copy(a, &v->u.set[i], &items[i]);
        out->u.set = items;
        break;
    }
    case POLICY_RECORD: {
        struct policy_attr *attrs = pol_alloc(a, (v->len ? v->len : 1) * sizeof *attrs);
        for (uint32_t i = 0; i < v->len; i++) {
            attrs[i].name = pol_strndup(a, v->u.rec[i].name, v->u.rec[i].name_len);
            attrs[i].name_len = v->u.rec[i].name_len;
            pol_value_copy(a, &v->u.rec[i].value, &attrs[i].value);
        }
        out->u.rec = attrs;
        break;
    }
    default:
        break;
    }
}

const char *pol_type_name(const struct policy_value *v)
{
    switch (v->type) {
    case POLICY_BOOL:
        return "bool";
    case POLICY_LONG:
        return "long";
    case POLICY_STRING:
        return "string";
    case POLICY_ENTITY:
        return "entity";
    case POLICY_SET:
        return "set";
    case POLICY_RECORD:
        return "record";
    case POLICY_DECIMAL:
        return "decimal";
    case POLICY_IPADDR:
        return "ipaddr";
    case POLICY_DATETIME:
        return "datetime";
    case POLICY_DURATION:
        return "duration";
    }
    return "?";
}

static int format_depth(struct strbuf *sb, const struct policy_value *v, unsigned depth)
{
    if (depth > POLICY_MAX_VALUE_DEPTH + 8) return sb_puts(sb, "...");
    switch (v->type) {
    case POLICY_BOOL:
        return sb_puts(sb, v->u.b ? "true" : "false");
    case POLICY_LONG:
        return sb_printf(sb, "%lld", (long long)v->u.i);
    case POLICY_STRING:
        return pol_str_format(sb, v->u.s, v->len);
    case POLICY_ENTITY:
        return pol_uid_format(sb, v->u.uid);
    case POLICY_SET: {
        int rc = sb_puts(sb, "[");
        for (uint32_t i = 0; i < v->len && !rc; i++) {
            if (i) rc = sb_puts(sb, ", ");
            if (!rc) rc = format_depth(sb, &v->u.set[i], depth + 1);
        }
        return rc ? rc : sb_puts(sb, "]");
    }
    case POLICY_RECORD: {
        int rc = sb_puts(sb, "{");
        for (uint32_t i = 0; i < v->len && !rc; i++) {
            if (i) rc = sb_puts(sb, ", ");
            if (!rc) rc = pol_str_format(sb, v->u.rec[i].name, v->u.rec[i].name_len);
            if (!rc) rc = sb_puts(sb, ": ");
            if (!rc) rc = format_depth(sb, &v->u.rec[i].value, depth + 1);
        }
        return rc ? rc : sb_puts(sb, "}");
    }
    default:
        return pol_ext_format(sb, v);
    }
}

int policy_value_format(struct strbuf *sb, const struct policy_value *v)
{
    return format_depth(sb, v, 0);
}
