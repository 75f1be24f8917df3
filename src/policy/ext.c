/*
 * ext.c — Cedar's extension types: ipaddr (ip), decimal, datetime and
 * duration, their constructors and methods. Parsing follows the Cedar
 * specification: decimal `-?[0-9]+\.[0-9]{1,4}` within i64 / 10^4; IPv4
 * dotted quads without leading zeros, IPv6 in hex groups with at most one
 * `::` (no embedded IPv4), optional `/prefix`; datetime `YYYY-MM-DD` with
 * optional `Thh:mm:ss`, `.SSS` and `Z` / `+hhmm` / `-hhmm`; duration
 * `-?(Nd)?(Nh)?(Nm)?(Ns)?(Nms)?`. Every failure is an evaluation error.
 */
#include <string.h>

#include "internal.h"

static const struct pol_ext_info g_ext[EXT__COUNT] = {
    [EXT_IP] = {"ip", false, 1},
    [EXT_DECIMAL] = {"decimal", false, 1},
    [EXT_DATETIME] = {"datetime", false, 1},
    [EXT_DURATION] = {"duration", false, 1},
    [EXT_IS_IPV4] = {"isIpv4", true, 1},
    [EXT_IS_IPV6] = {"isIpv6", true, 1},
    [EXT_IS_LOOPBACK] = {"isLoopback", true, 1},
    [EXT_IS_MULTICAST] = {"isMulticast", true, 1},
    [EXT_IS_IN_RANGE] = {"isInRange", true, 2},
    [EXT_LESS_THAN] = {"lessThan", true, 2},
    [EXT_LESS_THAN_OR_EQUAL] = {"lessThanOrEqual", true, 2},
    [EXT_GREATER_THAN] = {"greaterThan", true, 2},
    [EXT_GREATER_THAN_OR_EQUAL] = {"greaterThanOrEqual", true, 2},
    [EXT_OFFSET] = {"offset", true, 2},
    [EXT_DURATION_SINCE] = {"durationSince", true, 2},
    [EXT_TO_DATE] = {"toDate", true, 1},
    [EXT_TO_TIME] = {"toTime", true, 1},
    [EXT_TO_MILLISECONDS] = {"toMilliseconds", true, 1},
    [EXT_TO_SECONDS] = {"toSeconds", true, 1},
    [EXT_TO_MINUTES] = {"toMinutes", true, 1},
    [EXT_TO_HOURS] = {"toHours", true, 1},
    [EXT_TO_DAYS] = {"toDays", true, 1},
};

const struct pol_ext_info *pol_ext_info(int fn)
{
    return fn >= 0 && fn < EXT__COUNT ? &g_ext[fn] : NULL;
}

int pol_ext_lookup(const char *name, size_t len)
{
    for (int i = 0; i < EXT__COUNT; i++)
        if (strlen(g_ext[i].name) == len && memcmp(g_ext[i].name, name, len) == 0) return i;
    return -1;
}

static int fail(struct strbuf *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct strbuf *msg, const char *fmt, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, fmt);
        sb_reset(msg);
        sb_vprintf(msg, fmt, ap);
        va_end(ap);
    }
    return CUSTODY_EINVAL;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i])) return false;
    return n > 0;
}

/* ---- decimal ---- */

static bool decimal_parse(const char *s, size_t n, int64_t *out)
{
    const char *dot = memchr(s, '.', n);
    if (!dot || memchr(dot + 1, '.', n - (size_t)(dot - s) - 1)) return false;
    const char *l = s, *r = dot + 1;
    size_t llen = (size_t)(dot - s), rlen = n - llen - 1;
    bool neg = llen > 0 && l[0] == '-';
    if (neg) {
        l++;
        llen--;
    }
    if (!all_digits(l, llen) || !all_digits(r, rlen) || rlen > 4) return false;
    unsigned __int128 mag = 0;
    for (size_t i = 0; i < llen; i++) {
        mag = mag * 10 + (unsigned)(l[i] - '0');
        if (mag > ((unsigned __int128)1 << 64)) return false;
    }
    mag *= 10000;
    unsigned frac = 0;
    for (size_t i = 0; i < 4; i++)
        frac = frac * 10 + (i < rlen ? (unsigned)(r[i] - '0') : 0);
    mag += frac;
    if (neg ? mag > (unsigned __int128)INT64_MAX + 1 : mag > (unsigned __int128)INT64_MAX)
        return false;
    *out = neg ? (int64_t)(0 - (uint64_t)mag) : (int64_t)mag;
    return true;
}

/* ---- ipaddr ---- */

static bool num_nolead(const char *s, size_t n, size_t maxdigits, unsigned max, unsigned *out)
{
    if (n == 0 || n > maxdigits || !all_digits(s, n) || (n > 1 && s[0] == '0')) return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (v > max) return false;
    *out = v;
    return true;
}

static bool v4_parse(const char *s, size_t n, uint8_t ip[16])
{
    size_t start = 0;
    int part = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') continue;
        unsigned v;
        if (part >= 4 || !num_nolead(s + start, i - start, 3, 255, &v)) return false;
        ip[part++] = (uint8_t)v;
        start = i + 1;
    }
    return part == 4;
}

/* Hex groups separated by ':' (empty string: none). */
static bool v6_groups(const char *s, size_t n, uint16_t *g, size_t *ng)
{
    *ng = 0;
    if (n == 0) return true;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != ':') continue;
        size_t len = i - start;
        if (len == 0 || len > 4 || *ng >= 8) return false;
        unsigned v = 0;
        for (size_t k = start; k < i; k++) {
            int h = util_hexval(s[k]);
            if (h < 0) return false;
            v = v * 16 + (unsigned)h;
        }
        g[(*ng)++] = (uint16_t)v;
        start = i + 1;
    }
    return true;
}

static bool v6_parse(const char *s, size_t n, uint8_t ip[16])
{
    uint16_t a[8], b[8], g[8] = {0};
    size_t na, nb;
    const char *dc = NULL;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] == ':' && s[i + 1] == ':') {
            dc = s + i;
            break;
        }
    if (!dc) {
        if (!v6_groups(s, n, a, &na) || na != 8) return false;
        memcpy(g, a, sizeof g);
    } else {
        size_t alen = (size_t)(dc - s);
        const char *rest = dc + 2;
        size_t rlen = n - alen - 2;
        for (size_t i = 0; i + 1 < rlen; i++)
            if (rest[i] == ':' && rest[i + 1] == ':') return false;
        if (!v6_groups(s, alen, a, &na) || !v6_groups(rest, rlen, b, &nb) || na + nb >= 8)
            return false;
        memcpy(g, a, na * sizeof *a);
        memcpy(g + 8 - nb, b, nb * sizeof *b);
    }
    for (int i = 0; i < 8; i++) {
        ip[2 * i] = (uint8_t)(g[i] >> 8);
        ip[2 * i + 1] = (uint8_t)g[i];
    }
    return true;
}

static bool ip_parse(const char *s, size_t n, struct policy_value *out)
{
    memset(out, 0, sizeof *out);
    out->type = POLICY_IPADDR;
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    const char *pre = slash ? slash + 1 : NULL;
    size_t plen = slash ? n - alen - 1 : 0;
    if (pre && memchr(pre, '/', plen)) return false;
    unsigned p;
    if (v4_parse(s, alen, out->u.ip)) {
        if (pre && !num_nolead(pre, plen, 2, 32, &p)) return false;
        out->ip_prefix = (uint8_t)(pre ? p : 32);
        return true;
    }
    memset(out->u.ip, 0, 16);
    if (!v6_parse(s, alen, out->u.ip)) return false;
    if (pre && !num_nolead(pre, plen, 3, 128, &p)) return false;
    out->ip_v6 = 1;
    out->ip_prefix = (uint8_t)(pre ? p : 128);
    return true;
}

typedef unsigned __int128 u128;

static void ip_range(const struct policy_value *v, u128 *lo, u128 *hi)
{
    unsigned size = v->ip_v6 ? 128 : 32;
    u128 x = 0;
    for (unsigned i = 0; i < size / 8; i++)
        x = (x << 8) | v->u.ip[i];
    unsigned width = size - v->ip_prefix;
    u128 host = width >= 128 ? ~(u128)0 : (((u128)1 << width) - 1);
    *lo = x & ~host;
    *hi = *lo | host;
}

static bool ip_in_range(const struct policy_value *a, const struct policy_value *b)
{
    if (a->ip_v6 != b->ip_v6) return false;
    u128 alo, ahi, blo, bhi;
    ip_range(a, &alo, &ahi);
    ip_range(b, &blo, &bhi);
    return bhi >= ahi && alo >= blo;
}

/* 127.0.0.0/8, ::1/128, 224.0.0.0/4, ff00::/8 */
static const struct policy_value g_loopback4 = {
    .type = POLICY_IPADDR, .ip_prefix = 8, .u.ip = {127}};
static const struct policy_value g_loopback6 = {
    .type = POLICY_IPADDR, .ip_v6 = 1, .ip_prefix = 128, .u.ip = {[15] = 1}};
static const struct policy_value g_multicast4 = {
    .type = POLICY_IPADDR, .ip_prefix = 4, .u.ip = {224}};
static const struct policy_value g_multicast6 = {
    .type = POLICY_IPADDR, .ip_v6 = 1, .ip_prefix = 8, .u.ip = {0xff}};

/* ---- datetime and duration ---- */

#define MS_PER_DAY 86400000ll

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned num(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    return v;
}

static bool datetime_parse(const char *s, size_t n, int64_t *out)
{
    if (n < 10 || !all_digits(s, 4) || s[4] != '-' || !all_digits(s + 5, 2) || s[7] != '-' ||
        !all_digits(s + 8, 2))
        return false;
    unsigned y = num(s, 4), mo = num(s + 5, 2), d = num(s + 8, 2);
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int64_t ms = 0;
    if (n > 10) {
        const char *t = s + 10;
        size_t tn = n - 10;
        if (tn < 9 || t[0] != 'T' || !all_digits(t + 1, 2) || t[3] != ':' ||
            !all_digits(t + 4, 2) || t[6] != ':' || !all_digits(t + 7, 2))
            return false;
        unsigned h = num(t + 1, 2), mi = num(t + 4, 2), sec = num(t + 7, 2), milli = 0;
        t += 9;
        tn -= 9;
        if (tn >= 1 && t[0] == '.') {
            if (tn < 4 || !all_digits(t + 1, 3)) return false;
            milli = num(t + 1, 3);
            t += 4;
            tn -= 4;
        }
        int64_t off = 0;
        if (tn == 1 && t[0] == 'Z') {
            off = 0;
        } else if (tn == 5 && (t[0] == '+' || t[0] == '-') && all_digits(t + 1, 4)) {
            unsigned oh = num(t + 1, 2), om = num(t + 3, 2);
            if (oh >= 24 || om >= 60) return false;
            off = (int64_t)(oh * 3600 + om * 60) * (t[0] == '+' ? 1 : -1);
        } else {
            return false;
        }
        if (h >= 24 || mi >= 60 || sec >= 60) return false;
        ms = ((int64_t)h * 3600 + mi * 60 + sec - off) * 1000 + milli;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap)) return false;
    *out = days_from_civil(y, mo, d) * MS_PER_DAY + ms;
    return true;
}

static bool duration_parse(const char *s, size_t n, int64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    if (i == n) return false;
    u128 total = 0;
    size_t next = 0; /* the first unit still allowed */
    while (i < n) {
        size_t j = i;
        u128 v = 0;
        while (j < n && is_digit(s[j])) {
            v = v * 10 + (unsigned)(s[j] - '0');
            if (v > UINT64_MAX) return false; /* a quantity must fit in 64 bits */
            j++;
        }
        if (j == i || j == n) return false;
        size_t u;
        if (j + 1 < n && s[j] == 'm' && s[j + 1] == 's')
            u = 4;
        else if (s[j] == 'd')
            u = 0;
        else if (s[j] == 'h')
            u = 1;
        else if (s[j] == 'm')
            u = 2;
        else if (s[j] == 's')
            u = 3;
        else
            return false;
        if (u < next) return false;
        next = u + 1;
        total += v * units[u].ms;
        if (total > (u128)INT64_MAX + 1) return false;
        i = j + strlen(units[u].unit);
    }
    if (!neg && total > (u128)INT64_MAX) return false;
    *out = neg ? (int64_t)(0 - (uint64_t)total) : (int64_t)total;
    return true;
}

/* ---- calls ---- */

static int want(struct strbuf *msg, const struct policy_value *v, int type, const char *fn)
{
    if (v->type == type) return 0;
    static const char *names[] = {[POLICY_DECIMAL] = "decimal",
                                  [POLICY_IPADDR] = "ipaddr",
                                  [POLICY_DATETIME] = "datetime",
                                  [POLICY_DURATION] = "duration",
                                  [POLICY_STRING] = "string"};
    return fail(msg, "type error: `%s` expects %s, got %s", fn, names[type], pol_type_name(v));
}

static struct policy_value mk(int type, int64_t i)
{
    struct policy_value v = {.type = (uint8_t)type};
    v.u.i = i;
    return v;
}

int pol_ext_call(int fn, const struct policy_value *args, size_t nargs, struct policy_value *out,
                 struct strbuf *msg)
{
    const struct pol_ext_info *info = pol_ext_info(fn);
    if (!info) return fail(msg, "unknown extension function");
    if (nargs != info->arity)
        return fail(msg, "`%s` takes %u argument%s, got %zu", info->name,
                    info->arity - (info->method ? 1 : 0),
                    info->arity - (info->method ? 1 : 0) == 1 ? "" : "s",
                    nargs - (info->method && nargs ? 1 : 0));
    const struct policy_value *a = &args[0], *b = nargs > 1 ? &args[1] : NULL;
    int rc;
    int64_t x;
    switch (fn) {
    case EXT_IP:
        if ((rc = want(msg, a, POLICY_STRING, "ip"))) return rc;
        if (!ip_parse(a->u.s, a->len, out))
            return fail(msg, "invalid IP address or range `%.*s`", (int)UTIL_MIN(a->len, 64),
                        a->u.s);
        return 0;
    case EXT_DECIMAL:
        if ((rc = want(msg, a, POLICY_STRING, "decimal"))) return rc;
        if (!decimal_parse(a->u.s, a->len, &x))
            return fail(msg, "invalid decimal `%.*s`", (int)UTIL_MIN(a->len, 64), a->u.s);
        *out = mk(POLICY_DECIMAL, x);
        return 0;
    case EXT_DATETIME:
        if ((rc = want(msg, a, POLICY_STRING, "datetime"))) return rc;
        if (!datetime_parse(a->u.s, a->len, &x))
            return fail(msg, "invalid datetime `%.*s`", (int)UTIL_MIN(a->len, 64), a->u.s);
        *out = mk(POLICY_DATETIME, x);
        return 0;
    case EXT_DURATION:
        if ((rc = want(msg, a, POLICY_STRING, "duration"))) return rc;
        if (!duration_parse(a->u.s, a->len, &x))
            return fail(msg, "invalid duration `%.*s`", (int)UTIL_MIN(a->len, 64), a->u.s);
        *out = mk(POLICY_DURATION, x);
        return 0;
    case EXT_IS_IPV4:
    case EXT_IS_IPV6:
    case EXT_IS_LOOPBACK:
    case EXT_IS_MULTICAST:
    case EXT_IS_IN_RANGE:
        if ((rc = want(msg, a, POLICY_IPADDR, info->name)) ||
            (b && (rc = want(msg, b, POLICY_IPADDR, info->name))))
            return rc;
        if (fn == EXT_IS_IPV4)
            *out = policy_bool(!a->ip_v6);
        else if (fn == EXT_IS_IPV6)
            *out = policy_bool(a->ip_v6);
        else if (fn == EXT_IS_LOOPBACK)
            *out = policy_bool(ip_in_range(a, a->ip_v6 ? &g_loopback6 : &g_loopback4));
        else if (fn == EXT_IS_MULTICAST)
            *out = policy_bool(ip_in_range(a, a->ip_v6 ? &g_multicast6 : &g_multicast4));
        else
            *out = policy_bool(ip_in_range(a, b));
        return 0;
    case EXT_LESS_THAN:
    case EXT_LESS_THAN_OR_EQUAL:
    case EXT_GREATER_THAN:
    case EXT_GREATER_THAN_OR_EQUAL:
        if ((rc = want(msg, a, POLICY_DECIMAL, info->name)) ||
            (rc = want(msg, b, POLICY_DECIMAL, info->name)))
            return rc;
        *out = policy_bool(fn == EXT_LESS_THAN            ? a->u.i < b->u.i
                           : fn == EXT_LESS_THAN_OR_EQUAL ? a->u.i <= b->u.i
                           : fn == EXT_GREATER_THAN       ? a->u.i > b->u.i
                                                          : a->u.i >= b->u.i);
        return 0;
    case EXT_OFFSET:
        if ((rc = want(msg, a, POLICY_DATETIME, "offset")) ||
            (rc = want(msg, b, POLICY_DURATION, "offset")))
            return rc;
        if (__builtin_add_overflow(a->u.i, b->u.i, &x)) return fail(msg, "overflow in `offset`");
        *out = mk(POLICY_DATETIME, x);
        return 0;
    case EXT_DURATION_SINCE:
        if ((rc = want(msg, a, POLICY_DATETIME, "durationSince")) ||
            (rc = want(msg, b, POLICY_DATETIME, "durationSince")))
            return rc;
        if (__builtin_sub_overflow(a->u.i, b->u.i, &x))
            return fail(msg, "overflow in `durationSince`");
        *out = mk(POLICY_DURATION, x);
        return 0;
    case EXT_TO_DATE:
    case EXT_TO_TIME: {
        if ((rc = want(msg, a, POLICY_DATETIME, info->name))) return rc;
        int64_t rem = a->u.i % MS_PER_DAY;
        if (rem < 0) rem += MS_PER_DAY;
        if (fn == EXT_TO_TIME) {
            *out = mk(POLICY_DURATION, rem);
            return 0;
        }
        if (__builtin_sub_overflow(a->u.i, rem, &x)) return fail(msg, "overflow in `toDate`");
        *out = mk(POLICY_DATETIME, x);
        return 0;
    }
    default: { /* toMilliseconds ... toDays */
        if ((rc = want(msg, a, POLICY_DURATION, info->name))) return rc;
        static const int64_t div[] = {1, 1000, 60000, 3600000, 86400000};
        *out = policy_long(a->u.i / div[fn - EXT_TO_MILLISECONDS]);
        return 0;
    }
    }
}

int pol_ext_format(struct strbuf *sb, const struct policy_value *v)
{
    switch (v->type) {
    case POLICY_DECIMAL: {
        uint64_t m = v->u.i < 0 ? 0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        return sb_printf(sb, "decimal(\"%s%llu.%04llu\")", v->u.i < 0 ? "-" : "",
                         (unsigned long long)(m / 10000), (unsigned long long)(m % 10000));
    }
    case POLICY_IPADDR: {
        int rc = sb_puts(sb, "ip(\"");
        if (!v->ip_v6) {
            rc = rc ? rc
                    : sb_printf(sb, "%u.%u.%u.%u", v->u.ip[0], v->u.ip[1], v->u.ip[2], v->u.ip[3]);
            if (!rc && v->ip_prefix != 32) rc = sb_printf(sb, "/%u", v->ip_prefix);
        } else {
            for (int i = 0; i < 8 && !rc; i++)
                rc =
                    sb_printf(sb, "%s%x", i ? ":" : "", (v->u.ip[2 * i] << 8) | v->u.ip[2 * i + 1]);
            if (!rc && v->ip_prefix != 128) rc = sb_printf(sb, "/%u", v->ip_prefix);
        }
        return rc ? rc : sb_puts(sb, "\")");
    }
    case POLICY_DATETIME: {
        int64_t days = v->u.i / MS_PER_DAY, ms = v->u.i % MS_PER_DAY;
        if (ms < 0) {
            ms += MS_PER_DAY;
            days--;
        }
        int64_t y;
        unsigned m, d;
        civil_from_days(days, &y, &m, &d);
        if (y < 0 || y > 9999)
            return sb_printf(sb, "datetime(\"1970-01-01\").offset(duration(\"%lldms\"))",
                             (long long)v->u.i);
        return sb_printf(sb, "datetime(\"%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ\")", (long long)y, m,
                         d, (unsigned)(ms / 3600000), (unsigned)(ms / 60000 % 60),
                         (unsigned)(ms / 1000 % 60), (unsigned)(ms % 1000));
    }
    case POLICY_DURATION:
        return sb_printf(sb, "duration(\"%lldms\")", (long long)v->u.i);
    default:
        return sb_puts(sb, "?");
    }
}
