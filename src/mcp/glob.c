/*
 * glob.c — minimatch(path, pattern, { dot: true }) for custody mcp (glob.h).
 *
 * Written from minimatch 10.2 / brace-expansion 5.1's documented and observed
 * behaviour; the structure is our own. A pattern goes through the stages
 * minimatch defines, each of which has observable quirks we keep:
 *
 *   1. "#..." matches nothing, "" matches only "", leading '!'s negate.
 *   2. Brace expansion (only when some "{" is followed by a "}" with no "{"
 *      or line break between): escapes \\ \{ \} \, \. are hidden from the
 *      expansion and come back without their backslash ("\\{a,b}" gives
 *      "\a" and "\b"); {a,b}, nested sets, {x..y[..step]} sequences with
 *      padding, "{}" at the start staying literal, "${...}" staying
 *      literal, the "{a},b}" rewrite, empty results dropped at the top.
 *   3. Each alternative is split on runs of '/', adjacent "**" merge and
 *      "x/.." pairs cancel (x not "", ".", ".." or "**").
 *   4. Each path portion becomes "**", a literal string, one of
 *      minimatch's fast tests (*, *.ext, ???.ext, *.*, .*), or a regular
 *      expression built the way minimatch's AST builds it — extglob parsing
 *      with its depth rule, flattening (adopt / usurp), the copying of
 *      what follows a !(...) into its lookahead, POSIX classes, the "no '.'
 *      or '..'" guard — and then parsed and run by a small JavaScript-regexp
 *      engine (UTF-16 units, or code points under the u flag; unanchored
 *      search as RegExp.test does). Each regexp runs as one backward NFA
 *      pass over the segment; every lookahead's answer for all positions is
 *      one more pass, so matching is O(segment length x regexp size).
 *   5. Paths are split on runs of '/' and matched portion by portion;
 *      patterns with "**" use minimatch's head / tail / body-section
 *      algorithm (including its section bounds and its 200-section cap),
 *      evaluated by dynamic programming instead of backtracking.
 *
 * Strings are handled as arrays of UTF-16 code units (held in uint32_t so
 * brace expansion can carry its escape markers above U+FFFF), which is what
 * JavaScript's comparisons, lengths and character classes see.
 *
 * Compilation allocates only from two arenas (scratch, and the compiled
 * glob's own), so it can give up with longjmp anywhere: on a limit or on a
 * regexp JavaScript would refuse.
 */
#include "mcp/glob.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* ---- limits (see glob.h) ---- */

#define BRACE_MAX_DEPTH 64
#define BRACE_MAX_REWRITES 64
#define BRACE_MAX_WEIGHT 1000000 /* characters held by one list of expansions */
#define BRACE_MAX_STEPS 2000000  /* a tenth of brace-expansion's own step budget */
#define EXT_MAX_DEPTH 256        /* extglob nesting */
#define AST_MAX_NODES 65536      /* per path portion */
#define PART_MAX_SRC 32768       /* regexp source units per path portion */
#define GLOB_MAX_SRC (1u << 20)  /* regexp source units for the whole pattern */
#define RX_MAX_DEPTH 1024        /* regexp group nesting */
#define ARENA_MAX ((size_t)512 << 20)

enum { FAIL_LIMIT = 1, FAIL_REGEX = 2 };

typedef uint32_t unit;

/* brace-expansion's escape markers: never a UTF-16 unit */
#define M_SLASH 0x110001u
#define M_OPEN 0x110002u
#define M_CLOSE 0x110003u
#define M_COMMA 0x110004u
#define M_PERIOD 0x110005u
#define MARK_WEIGHT 26 /* the length of brace-expansion's marker strings, at most */

/* ---- arena ---- */

struct ablk {
    struct ablk *next;
    size_t cap, used;
    max_align_t data[];
};

struct arena {
    struct ablk *head;
    size_t total;
};

static void *ar_alloc(struct arena *a, size_t n)
{
    size_t al = sizeof(max_align_t);
    n = n ? (n + al - 1) / al * al : al;
    struct ablk *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = util_calloc(1, sizeof *b + cap);
        b->cap = cap;
        b->next = a->head;
        a->head = b;
        a->total += cap;
    }
    void *p = (unsigned char *)b->data + b->used;
    b->used += n;
    return p; /* fresh blocks are zeroed and never reused */
}

static void ar_free(struct arena *a)
{
    while (a->head) {
        struct ablk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
    a->total = 0;
}

/* ---- compiled form ---- */

enum {
    OP_CHAR,
    OP_SPLIT,
    OP_BOL,
    OP_EOL,
    OP_WORDB, /* \b (neg: \B) */
    OP_LOOK,
    OP_MATCH
};
enum { CK_LIT, CK_NOT, CK_ANY, CK_CLASS };

struct rstate {
    uint8_t op, ck, neg;
    uint32_t prog; /* which program (0 = main, else a lookahead body) */
    uint32_t out, out1, arg;
};

struct rclass {
    bool neg;
    uint32_t nr, np;
    uint32_t *r;    /* inclusive pairs */
    uint8_t *props; /* property ids */
};

struct rsub {
    uint32_t start, match;
    uint32_t *chars, nchars; /* its CHAR states */
    uint32_t *looks, nlooks; /* its LOOK states */
    bool eol_only;           /* MATCH is reached only through '$' */
};

struct uprop {
    uint32_t *r; /* inclusive pairs */
    uint32_t n;
};

struct rprog {
    bool u;
    struct rstate *st;
    uint32_t nst;
    uint32_t *poff, *pred; /* epsilon predecessors, CSR */
    struct rsub *subs;
    uint32_t nsubs;
    struct rclass *cls;
    const struct uprop *props; /* indexed by property id */
};

enum { P_GLOBSTAR, P_LIT, P_STAR, P_ENDS, P_QMARKS, P_STARDOTSTAR, P_DOTSTAR, P_RE };

struct gpart {
    uint8_t kind;
    size_t qlen;   /* P_QMARKS: the length a name must have */
    const unit *s; /* P_LIT: the string; P_ENDS / P_QMARKS: the suffix */
    size_t n;
    const struct rprog *re;
};

struct galt {
    struct gpart **p;
    size_t n;
    bool gs;
};

enum { G_NORMAL, G_NOTHING, G_EMPTY };

struct mcp_glob {
    struct arena ar;
    int mode;
    bool negate, limited;
    char *error;
    struct galt *alts;
    size_t nalts;
    uint32_t max_states, max_subs;
};

/* ---- compile context ---- */

struct anode;

struct cctx {
    jmp_buf jb;
    int fail;
    struct arena tmp;
    struct arena *perm;
    char *err; /* FAIL_REGEX: the message, in perm */
    size_t steps;
    size_t *stk; /* brace scanning */
    size_t stkcap;
    /* one path portion's AST: its !(...) nodes, in the order made */
    struct anode **negs;
    size_t nnegs, capnegs;
    bool filled;
    size_t nodes;
    size_t total_src;
    struct uprop *props; /* decoded on demand, in perm */
};

static _Noreturn void cx_fail(struct cctx *cx, int why)
{
    cx->fail = why;
    longjmp(cx->jb, 1);
}

static void *cx_tmpn(struct cctx *cx, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / 2 / size) cx_fail(cx, FAIL_LIMIT);
    void *p = ar_alloc(&cx->tmp, count * size);
    if (cx->tmp.total > ARENA_MAX) cx_fail(cx, FAIL_LIMIT);
    return p;
}

static void *cx_permn(struct cctx *cx, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / 2 / size) cx_fail(cx, FAIL_LIMIT);
    void *p = ar_alloc(cx->perm, count * size);
    if (cx->perm->total > ARENA_MAX) cx_fail(cx, FAIL_LIMIT);
    return p;
}

/* ---- unit buffers ---- */

struct ub {
    unit *v;
    size_t n, cap;
};

static void ub_reserve(struct cctx *cx, struct ub *b, size_t extra)
{
    if (b->cap - b->n >= extra) return;
    if (extra > ((size_t)64 << 20) || b->n > ((size_t)64 << 20)) cx_fail(cx, FAIL_LIMIT);
    size_t cap = b->cap ? b->cap * 2 : 16;
    while (cap - b->n < extra)
        cap *= 2;
    unit *v = cx_tmpn(cx, cap, sizeof *v);
    if (b->n) memcpy(v, b->v, b->n * sizeof *v);
    b->v = v;
    b->cap = cap;
}

static void ub_put(struct cctx *cx, struct ub *b, unit c)
{
    ub_reserve(cx, b, 1);
    b->v[b->n++] = c;
}

static void ub_putn(struct cctx *cx, struct ub *b, const unit *s, size_t n)
{
    if (!n) return;
    ub_reserve(cx, b, n);
    memcpy(b->v + b->n, s, n * sizeof *s);
    b->n += n;
}

static void ub_puts(struct cctx *cx, struct ub *b, const char *ascii)
{
    for (; *ascii; ascii++)
        ub_put(cx, b, (unsigned char)*ascii);
}

static bool us_eq(const unit *a, size_t an, const char *ascii)
{
    size_t n = strlen(ascii);
    if (an != n) return false;
    for (size_t i = 0; i < n; i++)
        if (a[i] != (unsigned char)ascii[i]) return false;
    return true;
}

/* ---- character sets as JavaScript sees them ---- */

static bool is_lt(unit c) /* line terminator: what '.' does not match */
{
    return c == 0x0a || c == 0x0d || c == 0x2028 || c == 0x2029;
}

static bool is_js_space(unit c) /* \s */
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000 || c == 0xfeff;
}

static bool is_digit(unit c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unit c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_word(unit c)
{
    return is_alpha(c) || is_digit(c) || c == '_';
}

/* ---- UTF-8 -> UTF-16 (invalid sequences: one U+FFFD per maximal subpart) ---- */

static size_t utf8_next(const unsigned char *s, size_t len, size_t i, uint32_t *cp)
{
    unsigned b = s[i];
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xbf;
    uint32_t v;
    if (b >= 0xc2 && b <= 0xdf) {
        need = 1;
        v = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        v = b & 0x0f;
        if (b == 0xe0) lo = 0xa0;
        if (b == 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        v = b & 0x07;
        if (b == 0xf0) lo = 0x90;
        if (b == 0xf4) hi = 0x8f;
    } else {
        *cp = 0xfffd;
        return 1;
    }
    size_t k = 1;
    for (; k <= need; k++) {
        if (i + k >= len || s[i + k] < lo || s[i + k] > hi) {
            *cp = 0xfffd;
            return k;
        }
        lo = 0x80;
        hi = 0xbf;
        v = v << 6 | (s[i + k] & 0x3f);
    }
    *cp = v;
    return k;
}

/* out needs room for len units; returns the count */
static size_t utf8_to_units(const char *str, size_t len, unit *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += utf8_next(s, len, i, &cp);
        if (cp >= 0x10000) {
            out[n++] = 0xd800 + ((cp - 0x10000) >> 10);
            out[n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
        } else {
            out[n++] = cp;
        }
    }
    return n;
}

/* code points of a unit string (lone surrogates stay as they are); returns the count */
static size_t units_to_cps(const unit *u, size_t n, uint32_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (u[i] >= 0xd800 && u[i] <= 0xdbff && i + 1 < n && u[i + 1] >= 0xdc00 &&
            u[i + 1] <= 0xdfff) {
            out[k++] = 0x10000 + ((u[i] - 0xd800) << 10) + (u[i + 1] - 0xdc00);
            i++;
        } else {
            out[k++] = u[i];
        }
    }
    return k;
}

/* ---- Unicode general categories for \p{...} (POSIX classes need them) ----
 *
 * Generated with Node 20 (ICU 78 / Unicode 17): for each property, its
 * ranges as (gap since the previous range's end + 1, length - 1), each a
 * big-endian run of 5-bit digits from PROP_DIGITS where every digit but the
 * last is written +32. */

enum { UP_L, UP_NL, UP_ND, UP_ZS, UP_CC, UP_Z, UP_C, UP_LL, UP_P, UP_LU, UP_PC, UP_COUNT };

static const char *const prop_names[UP_COUNT] = {"L", "Nl", "Nd", "Zs", "Cc", "Z",
                                                 "C", "Ll", "P",  "Lu", "Pc"};

static const char PROP_DIGITS[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/";

static const char *const prop_data[UP_COUNT] = {
    /* L: 684 ranges */
    "Y1P6PXF0A0405M1U1k94BE47010a141123106012101J1YI1aA8b51X5206X8Y7Q43XDXAX311Z210F171A220G0"
    "1TTYOB0OX091405L409030NO7A5N16GX9XQXL30I079FF47212L16103330G0D112E1A085412L16111111V310J"
    "2G8121L16111430I0F1N0B7212L16111430U112F0H015321331101131323BM0XK7121M1F30Q21121U047121M"
    "191430U211F1H8121X820G05282O55H3N181026XQXF11C6XQ110141N101911902410L3X00XV71X3R4ZJXAK0G"
    "5433031724CC0HX510502XA1gC132610132X8132X0132610132E1XO132Y2X5FGYL253pB2G1P5YA677HDIEHEC"
    "12FXJX3040Y3YO742X1105Y5AUXHT24BXB4PXMM9XKYI0YTXEH7XMTD1AXBQX3X92AX32A5XA22X931511305bVY"
    "0eL252X525271010101U2XK1610321633254C5216ZK0D0GCZ5040291034601010131A235440XK1YpRd46331C"
    "X510502XN70GM9616161616161616YG0kL1XA4514YL621YP135XA1YTHVXGFm0cjVY0rqCY3XD2eC3FA1KXEGU2"
    "Y5XH82Z62YHKG12131MTXJEXHXU53011BRAMPS7XES0G419A41X8N217KM303XH1031242010O22A72C52525961"
    "61XA1D6ZITgz3CM4XGee4hD2Z9X66C450191C141011111ZBX1hAIXV2XLX8BZK41a6X4P6PBYO35252522X3B1P"
    "1I111E2DX2ZQi5S3XGXFVDJ176X5AT2X347XGaTIX34X34X78XJCA1E16111A1E16113XJCfM9LA7O51X918Y552"
    "01XB11302MAM9UY1I11ALAP6PX6XN61Y00F3121SXAS3SX371RRXLALAIDHZEY8XNXIDXIDX3X6R9MdQX961G5XO"
    "SA08LXAHXEKRMCXKXP120DXCX0OQX3T0208X230CXFE3L010X3H1OJ1XV610131E197XEX67212L16111430I0C4"
    "U910201X510P010XCXKI3K2UXFK110bOXEX93X4XFK0XRXAD0Y7QX56bPXBZKXVV72027111NF010YU72X6G010S"
    "0AX770L0BXDJ0IY8c7X0V81X4H0XHTZG6111X5L0P5111VE0NXBe4IF01C1X1ZS0YFyPd6c3YoCZ0FXXFH5PZyQ5"
    "o6crPTXt2nO7UHYEHTIXFG3VK5IjGXCcJXVX0O2OXCYA50Y2CY0110E1CdcLX9VZ1ZIelT316111f2F0T220E38i"
    "BYe4ZA5C3879bx6YK1Y6112021231B10161Y01327161R131410361gJ2O1O1U1O1U1O1U1O1U1O17XvKU65e5XT"
    "aIXCA6G0g1TIXBl4Rd4T20cFU1211162491d0613111E1c4XRY370XbK31Q11102019131010604010101211102"
    "01010101011102316131310191G52141Gag4XfsVX0aeT2bqD2dfGFpDYj2mTXl2awA5ef9",
    /* Nl: 13 ranges */
    "btE2YpFX223ZpU0P8E2zrB9soGXKkC080a64eXAZEoy52",
    /* Nd: 72 ranges */
    "XG9Xn69a69c69iS9ZM9ZM9ZM9ZM9ZM9ZM9ZM9ZM9ZM9Z09ZM9Y69eM9Y69Xw69X69fC9a09b6969bM9YM9a6969X"
    "Yk69r69X69c69M9YM9iM9quM9Xi69Ya6969uS9a09XS9aG9eM9gM9ZM9hM9Z696JYC9j69Z69qM9YM9dM9Y69XM9"
    "h69mkM9Yf69YM9a69mM9txM9YsKXHYg09j69lM9dN9wL9aqM9",
    /* Zs: 7 ranges */
    "X00ZV0bkV0YhVAX40XF0Zz00",
    /* Cc: 2 ranges */
    "0VYVX0",
    /* Z: 8 ranges */
    "X00ZV0bkV0YhVAT150XF0Zz00",
    /* C: 741 ranges */
    "0VYVX0D0sA1637010K0iD0X61XI130XN7R36GM0c00XG1XR1Z5DXR1XH1F0S110B4X06YB0b108121M070124191"
    "2147132051P1306321M07020202110532132164016H9309030M0702051A030311E41C670308121M070205191"
    "2136332051I9206230422010222232C3523041151DL4D030N0G190304620302141A6M030N0A0519030462430"
    "41A03BD030XJ03063G1Q030I2O090117213601085A13BXQ3TX4201050O010N1501070A14VY80X43X70X40F0D"
    "X4c601411hP041701041X9041X1041701041F0XP041Y31X02Q5YM161qT2YP6M8O8KBD0302BYU1A5A5E0B5YP6"
    "XB4Y69V0C3C312XA15AXC3Q5B2XU1Y10T1B5A5E1XE1CJYD0b67XS2F2XU4XB1B7XB4mM161X616180101010V1X"
    "L0F0E160J13090B4Q4XHF21R0D2X2DX1EaC3qQLBKXuK1hU4XD01411XO62DO87070707070707070ZUX1Q0YPBc"
    "MPYG0YM1Z74XB0YU0YM8XG0ypD2XN8gSJbO7cTJXS2A5XO7Y67C5ZKAU2YE0B3X10XN8E1A1Z7NS96161687070X"
    "S3ZU1A5gz4BN3XHee3hE1ZAX57B54Q050102020qAVXA5XJ0J04350a73bU261616132707C21C0Q0J020F1EX1Z"
    "R433XD2YO0D21XEXEa1T2XHES3X48U4XB4U0X53EX9aU1A5X43X43X87XKAC0F07020B0F07022XKBfN8M98N60X"
    "A09Y46110XC02211N0Y879XFJ024X12R4RX5XO3K1XI0248030T133A696Y0VX73C8XM2T1R4Q64B7YFY9XMXJCX"
    "J6XE7A5X62T72cFV0XA0312F679X0XE7XALQX5SJN8YE3X48XU05CP6A5XL0I7X78Z00KAI0XFXT701040F0B5XR"
    "4A5408121M0702050A12131151471725AA01110X60A0111040A0272SYS05TY87Ab5XM1X6X1Y5AA5DIXQ5A5KR"
    "R1F3NbOXSZ3YJB81118020U021C8AY581XE1BQY87YJCY96AYL8YNX2DA590XD0E9T2X01M0EY87020XC2102097"
    "A56020X502066A5XC3AdLP6H0X92TYK1EXICyRZ5ZF05Ac4YoBZ3CXXGFM9ZyR4o7crOXQXs5nP6V0A3YH0A5U16"
    "9Y69A070L4JjFXQc5YR4P1PXBYB3XP6HXV5A78dcMX8X0Z0ZJelS407020f3E1S311D47iCYe3ZB4D296A14ZwVd"
    "T2jK5NEHEXE1N8ZKXRdM9X71YA7ZGKY6ZPKBKBYN8Pa6YL0Y7021112140C01070Y10418070S040501270gK1f4"
    "1rUE50FXYFV56cK70H1702054XUX01ZFXD2E1A32fVVGXQ41kFXAcLXB31bVV0M72cV704020F0c51GX8YC3A32u"
    "GY4YBXTc140R0201110A040101513101010302011101010101020114070404010A0H43050HXJ2eDXC3Z4BF1F"
    "0F0X59bEXNTCXC3962D6aP+P2H2D2cQ5C31EC3XO7A5X87U1C32D9X6gO7E1D2B2XP013G1C3A6aJ0Z7XW4Xft0V"
    "aeU1bqE1dfHEpEYj1mUXl1awB4efArpa5dGb/mF",
    /* Ll: 664 ranges */
    "Z1PXQ0X9N1710101010101010101010101010101010101010101010101010101011101010101010101110101"
    "0101010101010101010101010101010101010101020101220102031402032202010102011102030102122602"
    "0201010101010101011101010101010101011201030101010101010101010101010101010101010101010101"
    "0101010101016202110401010101Y42Pc10103032I0RX21132101010101010101010101014102021XJXF1010"
    "1010101010101010101010101010109010101010101010101010101010101010101010101010101010102010"
    "1010101011101010101010101010101010101010101010101010101010101010101010101010101010101010"
    "101010101010101010XGX8Yw7XA22tO5Ya2810ZLXBXVC1X1Z601010101010101010101010101010101010101"
    "0101010101010101010101010101010101010101010101010101010101010101010101010101010101010101"
    "0101010101010101010101810101010101010101010101010101010101010101010101010101010101010101"
    "01010101010101010101010101010101885A78785A7878D2787878411603211832187A211eI03130R0404021"
    "8340XL0YrBXF1031101010401115501010101010101010101010101010101010101010101010101010101010"
    "1010101010101010101010101010101010101011701040CX51050+eJ01010101010101010101010101010101"
    "0101010101010J010101010101010101010101010a7010101010101210101010101010101010101010101010"
    "1010101010101010101010101010101710102010101010401020121010101010101010101050501010101010"
    "101040102010101010101010Q030vLXA587YFpw06C4XX9PXcDX7a8X3aRA1E1611Xu3XIZTLYvQVri0VXROvg6P"
    "Q61HQPQ310161AQPQPQPQPQPQPQPQPQRSO15QO15QO15QO15QO1510XvK91J65YlNX1",
    /* P: 199 ranges */
    "X121513A131Q210R010X305030A13030rU080kI5X91XJ0102020XC1K111D012YA3Z60XBDd92XMEV0e51A0aC0"
    "ZO0ZP0i60C0hF0YQ0A1b8E10X53Y70YA441ZF5bB0p48aN0pD0XC1YE2Y71aT212X5AfP1cO1a0615b01A6S2ZS3"
    "XR4XU1Y07B0vSN8J1C1BU1E1pP3T1XXTDYF1V9iJLXV3X01tR311ZG0aFXE1V2Bj32492BG0C0Z20YQ0zW21eD2Z"
    "30A0ZJ5hS3YM1X8210XH1XF0Z1CG1ZS3ZU1G1dP0qgI1cG9MX21D104011aL21513A131Q210R01016iQ2qS0XG0"
    "iU0t70c70V0eG8X60ZG6Y26YP3kH0fU0X20a44XC3bT6ZD113ZU3XG1YF340D012YO5ZB0fA111ZI4A110Z80dQM"
    "Z92SCYC0a22dS0e82aR0YS7YJ214YT9cN0YV4XA1q51YACbF0XZG4YxS1kpR1a50Y1480n82f73g70pbS0dl74Yx"
    "J0wU1",
    /* Lu: 655 ranges */
    "Y1PZ5M16X1010101010101010101010101010101010101010101010101010101020101010101010102010101"
    "0101010101010101010101010101010101010101110103110111223111231111010111020111210113070202"
    "0201010101010101020101010101010101020201210101010101010101010101010101010101010101010101"
    "010101010107111201310101010f10103080601210111G18X30223010101010101010101010105020112XIXG"
    "0101010101010101010101010101010109010101010101010101010101010101010101010101010101010101"
    "1101010101010201010101010101010101010101010101010101010101010101010101010101010101010101"
    "0101010101010101010102X5Yw9X51050sIYLYaJ06XA22g00101010101010101010101010101010101010101"
    "0101010101010101010101010101010101010101010101010101010101010101010101010101010101010101"
    "0101010101010101010109010101010101010101010101010101010101010101010101010101010101010101"
    "01010101010101010101010101010109785A78785B010101087Y83C3C3C4B3e6040322220346010101323A15"
    "0XT0YpSXFXG01220101013102082101010101010101010101010101010101010101010101010101010101010"
    "10101010101010101010101010101010101010801040+gD01010101010101010101010101010101010101010"
    "1010J010101010101010101010101010a7010101010101030101010101010101010101010101010101010101"
    "010101010101010101010A010111010101040102010301010101010101010101414101010101010101310111"
    "010101010101010O0rvBPXc5X7a8X3aSA1E1611XtAXIaTLYvQVri0VY0Ovg7PQPQPQ01120212317QPQ1132716"
    "R113141036RPQPQPQPQPQPUOX1OX1OX1OX1OX10afLX1",
    /* Pc: 6 ranges */
    "YV0d+V1J0XtkU1O2dF0",
};

static int prop_digit(char c)
{
    const char *p = strchr(PROP_DIGITS, c);
    return p && c ? (int)(p - PROP_DIGITS) : -1;
}

static const struct uprop *prop_get(struct cctx *cx, int id)
{
    if (!cx->props) cx->props = cx_permn(cx, UP_COUNT, sizeof *cx->props);
    struct uprop *up = &cx->props[id];
    if (up->r) return up;
    const char *s = prop_data[id];
    size_t cnt = 0;
    for (const char *p = s; *p; p++)
        if (prop_digit(*p) < 32) cnt++;
    up->r = cx_permn(cx, cnt, sizeof *up->r);
    uint32_t prev = 0, v = 0, k = 0;
    for (const char *p = s; *p; p++) {
        int d = prop_digit(*p);
        if (d < 0) continue;
        v = v << 5 | (uint32_t)(d & 31);
        if (d >= 32) continue;
        if (k % 2 == 0) {
            up->r[k] = prev + v;
        } else {
            up->r[k] = up->r[k - 1] + v;
            prev = up->r[k] + 1;
        }
        k++;
        v = 0;
    }
    up->n = k / 2;
    return up;
}

static bool prop_has(const struct uprop *up, uint32_t c)
{
    size_t lo = 0, hi = up->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < up->r[2 * mid])
            hi = mid;
        else if (c > up->r[2 * mid + 1])
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

/* ---- brace expansion ----
 *
 * brace-expansion's expand(): the escapes are replaced by markers first
 * and restored (without their backslash) at the end; sets are found left
 * to right, the first one being the matched {...} that opens earliest
 * (unmatched "{" are literal). Our step count charges at least what
 * brace-expansion charges, so a pattern we accept never runs out of its
 * (ten times larger) budget; depth, count and length caps are lower than
 * its own and end in FAIL_LIMIT instead of leaving text literal. */

struct us {
    const unit *v;
    size_t n;
};

struct ul {
    struct us *v;
    size_t n, cap, weight;
};

static size_t us_weight(struct us s)
{
    size_t w = 0;
    for (size_t i = 0; i < s.n; i++)
        w += s.v[i] > 0xffff ? MARK_WEIGHT : 1;
    return w;
}

static void br_steps(struct cctx *cx, size_t n)
{
    cx->steps += n;
    if (cx->steps > BRACE_MAX_STEPS) cx_fail(cx, FAIL_LIMIT);
}

/* appends a + b + c (a new string) */
static void ul_push3(struct cctx *cx, struct ul *l, struct us a, struct us b, struct us c)
{
    if (l->n >= MCP_GLOB_MAX_BRACE) cx_fail(cx, FAIL_LIMIT);
    size_t n = a.n + b.n + c.n;
    l->weight += us_weight(a) + us_weight(b) + us_weight(c);
    if (l->weight > BRACE_MAX_WEIGHT) cx_fail(cx, FAIL_LIMIT);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct us *v = cx_tmpn(cx, cap, sizeof *v);
        if (l->n) memcpy(v, l->v, l->n * sizeof *v);
        l->v = v;
        l->cap = cap;
    }
    unit *s = cx_tmpn(cx, n ? n : 1, sizeof *s);
    if (a.n) memcpy(s, a.v, a.n * sizeof *s);
    if (b.n) memcpy(s + a.n, b.v, b.n * sizeof *s);
    if (c.n) memcpy(s + a.n + b.n, c.v, c.n * sizeof *s);
    l->v[l->n++] = (struct us){s, n};
}

static const struct us US_NONE = {NULL, 0};

static struct ul ul_one_empty(struct cctx *cx)
{
    struct ul l = {0};
    ul_push3(cx, &l, US_NONE, US_NONE, US_NONE);
    return l;
}

/* every acc[a] + pre + vals[v]; with drop, empty results are left out */
static struct ul br_combine(struct cctx *cx, const struct ul *acc, struct us pre,
                            const struct ul *vals, bool drop)
{
    struct ul out = {0};
    for (size_t a = 0; a < acc->n; a++)
        for (size_t v = 0; v < vals->n; v++) {
            if (drop && acc->v[a].n + pre.n == 0 && vals->v[v].n == 0) continue;
            ul_push3(cx, &out, acc->v[a], pre, vals->v[v]);
        }
    br_steps(cx, out.n);
    return out;
}

/* the matched {...} that opens first; *unmatched: an unmatched "{" precedes it */
static bool br_group(struct cctx *cx, struct us s, size_t *o, size_t *c, bool *unmatched)
{
    if (cx->stkcap < s.n) {
        cx->stkcap = s.n * 2;
        cx->stk = cx_tmpn(cx, cx->stkcap, sizeof *cx->stk);
    }
    size_t sp = 0, firstopen = SIZE_MAX;
    bool found = false;
    for (size_t i = 0; i < s.n; i++) {
        if (s.v[i] == '{') {
            if (firstopen == SIZE_MAX) firstopen = i;
            cx->stk[sp++] = i;
        } else if (s.v[i] == '}' && sp) {
            size_t op = cx->stk[--sp];
            if (!found || op < *o) {
                *o = op;
                *c = i;
                found = true;
            }
        }
    }
    if (found) *unmatched = firstopen < *o;
    return found;
}

/* /,(?!,).*\}/ : a "," not followed by ",", then a "}" before the line ends */
static bool br_comma_set_follows(struct us s)
{
    bool close = false;
    for (size_t i = s.n; i-- > 0;) {
        unit c = s.v[i];
        if (c == '}')
            close = true;
        else if (is_lt(c))
            close = false;
        else if (c == ',' && close && (i + 1 >= s.n || s.v[i + 1] != ','))
            return true;
    }
    return false;
}

static size_t br_digits(struct us s, size_t i)
{
    size_t k = i;
    while (k < s.n && is_digit(s.v[k]))
        k++;
    return k;
}

/* -?\d+ at i; returns the end or 0 */
static size_t br_int(struct us s, size_t i)
{
    if (i < s.n && s.v[i] == '-') i++;
    size_t k = br_digits(s, i);
    return k > i ? k : 0;
}

static bool br_dots(struct us s, size_t i)
{
    return i + 1 < s.n && s.v[i] == '.' && s.v[i + 1] == '.';
}

/* ^-?\d+\.\.-?\d+(?:\.\.-?\d+)?$  or, alpha, ^[a-zA-Z]\.\.[a-zA-Z](?:\.\.-?\d+)?$ */
static bool br_is_seq(struct us s, bool alpha)
{
    size_t i;
    if (alpha) {
        if (s.n < 4 || !is_alpha(s.v[0]) || !br_dots(s, 1) || !is_alpha(s.v[3])) return false;
        i = 4;
    } else {
        if (!(i = br_int(s, 0)) || !br_dots(s, i) || !(i = br_int(s, i + 2))) return false;
    }
    if (i == s.n) return true;
    return br_dots(s, i) && (i = br_int(s, i + 2)) && i == s.n;
}

static int64_t br_num(struct cctx *cx, struct us s)
{
    size_t i = 0;
    bool neg = s.n && s.v[0] == '-';
    if (neg) i++;
    int64_t v = 0;
    for (; i < s.n; i++) {
        v = v * 10 + (int64_t)(s.v[i] - '0');
        if (v > ((int64_t)1 << 53)) cx_fail(cx, FAIL_LIMIT);
    }
    return neg ? -v : v;
}

static bool br_padded(struct us s) /* /^-?0\d/ */
{
    size_t i = s.n && s.v[0] == '-' ? 1 : 0;
    return i + 1 < s.n && s.v[i] == '0' && is_digit(s.v[i + 1]);
}

static struct ul br_seq(struct cctx *cx, struct us body, bool alpha)
{
    struct us n[3];
    size_t cnt = 0, start = 0;
    for (size_t i = 0; i < body.n && cnt < 2; i++)
        if (br_dots(body, i)) {
            n[cnt++] = (struct us){body.v + start, i - start};
            start = i + 2;
            i++;
        }
    n[cnt++] = (struct us){body.v + start, body.n - start};
    int64_t x = alpha ? (int64_t)n[0].v[0] : br_num(cx, n[0]);
    int64_t y = alpha ? (int64_t)n[1].v[0] : br_num(cx, n[1]);
    size_t width = n[0].n > n[1].n ? n[0].n : n[1].n;
    int64_t incr = 1;
    if (cnt == 3) {
        incr = br_num(cx, n[2]);
        if (incr < 0) incr = -incr;
        if (incr < 1) incr = 1;
    }
    bool pad = br_padded(n[0]) || br_padded(n[1]) || (cnt == 3 && br_padded(n[2]));
    bool reverse = y < x;
    int64_t count = (reverse ? x - y : y - x) / incr + 1;
    if (count > MCP_GLOB_MAX_BRACE) cx_fail(cx, FAIL_LIMIT);
    br_steps(cx, (size_t)count * (pad ? width : 1));
    struct ul out = {0};
    int64_t i = x;
    for (int64_t k = 0; k < count; k++, i += reverse ? -incr : incr) {
        unit buf[64];
        size_t len = 0;
        if (alpha) {
            if (i != '\\') buf[len++] = (unit)i;
            ul_push3(cx, &out, (struct us){buf, len}, US_NONE, US_NONE);
            continue;
        }
        char dec[32];
        util_snprintf(dec, sizeof dec, "%lld", (long long)i);
        size_t dl = strlen(dec);
        struct ub b = {0};
        if (pad && width > dl) {
            size_t need = width - dl;
            if (i < 0) ub_put(cx, &b, '-');
            for (size_t z = 0; z < need; z++)
                ub_put(cx, &b, '0');
            ub_puts(cx, &b, dec + (i < 0 ? 1 : 0));
        } else {
            ub_puts(cx, &b, dec);
        }
        ul_push3(cx, &out, (struct us){b.v, b.n}, US_NONE, US_NONE);
    }
    return out;
}

/* body split on its top-level commas */
static struct ul br_comma_parts(struct cctx *cx, struct us body)
{
    struct ul out = {0};
    size_t depth = 0, start = 0, groups = 0;
    for (size_t i = 0; i < body.n; i++) {
        unit c = body.v[i];
        if (c == '{') {
            if (depth++ == 0) groups++;
        } else if (c == '}' && depth) {
            depth--;
        } else if (c == ',' && depth == 0) {
            ul_push3(cx, &out, (struct us){body.v + start, i - start}, US_NONE, US_NONE);
            start = i + 1;
        }
    }
    ul_push3(cx, &out, (struct us){body.v + start, body.n - start}, US_NONE, US_NONE);
    br_steps(cx, (groups + 1) * us_weight(body));
    return out;
}

static struct ul br_expand(struct cctx *cx, struct us str, unsigned depth, bool top)
{
    br_steps(cx, 16);
    if (depth > BRACE_MAX_DEPTH) cx_fail(cx, FAIL_LIMIT);
    struct ul one = ul_one_empty(cx);
    struct ul acc = one;
    unsigned rewrites = 0;
    bool drop = false, first = true;
    struct us cur = str;
    for (;;) {
        br_steps(cx, us_weight(cur));
        size_t o = 0, c = 0;
        bool unmatched = false;
        if (!br_group(cx, cur, &o, &c, &unmatched)) return br_combine(cx, &acc, cur, &one, drop);
        if (unmatched) br_steps(cx, us_weight(cur));
        struct us pre = {cur.v, o}, body = {cur.v + o + 1, c - o - 1};
        struct us post = {cur.v + c + 1, cur.n - c - 1};
        if (pre.n && pre.v[pre.n - 1] == '$') {
            acc = br_combine(cx, &acc, (struct us){cur.v, c + 1}, &one, drop && !post.n);
            first = false;
            if (!post.n) break;
            cur = post;
            continue;
        }
        bool alpha = false, seq = br_is_seq(body, false);
        if (!seq) seq = alpha = br_is_seq(body, true);
        bool opts = false;
        for (size_t i = 0; i < body.n && !opts; i++)
            opts = body.v[i] == ',';
        if (!seq && !opts) {
            br_steps(cx, us_weight(post));
            if (br_comma_set_follows(post)) {
                /* "{a},b}": the "}" becomes literal and the scan restarts */
                if (rewrites++ >= BRACE_MAX_REWRITES) cx_fail(cx, FAIL_LIMIT);
                unit *v = cx_tmpn(cx, cur.n, sizeof *v);
                memcpy(v, cur.v, cur.n * sizeof *v);
                v[c] = M_CLOSE;
                cur = (struct us){v, cur.n};
                top = true;
                continue;
            }
            return br_combine(cx, &acc, cur, &one, drop);
        }
        if (first) {
            drop = top && !seq;
            first = false;
        }
        struct ul vals = {0};
        if (seq) {
            vals = br_seq(cx, body, alpha);
        } else {
            struct ul parts = br_comma_parts(cx, body);
            if (parts.n == 1) {
                /* x{{a,b}}y: the inner set expands, each result keeps its braces */
                struct ul sub = br_expand(cx, parts.v[0], depth + 1, false);
                struct ul emb = {0};
                static const unit ob = '{', cb = '}';
                for (size_t i = 0; i < sub.n; i++)
                    ul_push3(cx, &emb, (struct us){&ob, 1}, sub.v[i], (struct us){&cb, 1});
                if (emb.n == 1) {
                    struct ul one2 = {0};
                    ul_push3(cx, &one2, pre, emb.v[0], US_NONE);
                    acc = br_combine(cx, &acc, one2.v[0], &one, drop && !post.n);
                    if (!post.n) break;
                    cur = post;
                    continue;
                }
                parts = emb;
            }
            bool drops = drop && !post.n && !pre.n;
            for (size_t a = 0; drops && a < acc.n; a++)
                if (acc.v[a].n) drops = false;
            for (size_t j = 0; j < parts.n; j++) {
                struct ul ex = br_expand(cx, parts.v[j], depth + 1, false);
                for (size_t k = 0; k < ex.n; k++) {
                    if (drops && !ex.v[k].n) continue;
                    ul_push3(cx, &vals, ex.v[k], US_NONE, US_NONE);
                }
            }
        }
        acc = br_combine(cx, &acc, pre, &vals, drop && !post.n);
        if (!post.n) break;
        cur = post;
    }
    return acc;
}

/* minimatch only expands when /\{(?:(?!\{).)*\}/ finds something */
static bool br_worth(const unit *v, size_t n)
{
    bool open = false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '{')
            open = true;
        else if (is_lt(v[i]))
            open = false;
        else if (v[i] == '}' && open)
            return true;
    }
    return false;
}

static struct ul brace_expand(struct cctx *cx, const unit *v, size_t n)
{
    struct ul out = {0};
    if (!br_worth(v, n)) {
        ul_push3(cx, &out, (struct us){v, n}, US_NONE, US_NONE);
        return out;
    }
    struct ub t = {0};
    size_t i = 0;
    if (n >= 2 && v[0] == '{' && v[1] == '}') { /* bash keeps a leading "{}" */
        ub_put(cx, &t, M_OPEN);
        ub_put(cx, &t, M_CLOSE);
        i = 2;
    }
    for (; i < n; i++) {
        unit m = 0;
        if (v[i] == '\\' && i + 1 < n) {
            switch (v[i + 1]) {
            case '\\':
                m = M_SLASH;
                break;
            case '{':
                m = M_OPEN;
                break;
            case '}':
                m = M_CLOSE;
                break;
            case ',':
                m = M_COMMA;
                break;
            case '.':
                m = M_PERIOD;
                break;
            default:
                break;
            }
        }
        if (m) {
            ub_put(cx, &t, m);
            i++;
        } else {
            ub_put(cx, &t, v[i]);
        }
    }
    struct ul r = br_expand(cx, (struct us){t.v, t.n}, 0, true);
    for (size_t k = 0; k < r.n; k++) {
        unit *s = (unit *)r.v[k].v; /* ours, in tmp */
        for (size_t j = 0; j < r.v[k].n; j++) {
            switch (s[j]) {
            case M_SLASH:
                s[j] = '\\';
                break;
            case M_OPEN:
                s[j] = '{';
                break;
            case M_CLOSE:
                s[j] = '}';
                break;
            case M_COMMA:
                s[j] = ',';
                break;
            case M_PERIOD:
                s[j] = '.';
                break;
            default:
                break;
            }
        }
    }
    return r;
}

/* ---- one path portion: minimatch's AST ----
 *
 * A node is either plain (type 0: the root, an extglob alternative, or an
 * extglob that never closed) holding strings and extglobs, or an extglob
 * ('!', '?', '+', '*', '@') holding plain alternatives. Part lists are
 * separate objects because minimatch lets a node take over its child's
 * list ("usurp") and both keep seeing later changes to it. */

struct item {
    struct anode *nd; /* NULL: a string */
    const unit *s;
    size_t n;
};

struct plist {
    struct item *v;
    size_t n, cap;
};

struct anode {
    int type;
    struct anode *parent;
    size_t pidx; /* the parent's part count when this node was made */
    struct plist *pl;
    bool empty_ext;
    bool magic, uflag;
};

static struct plist *pl_new(struct cctx *cx)
{
    return cx_tmpn(cx, 1, sizeof(struct plist));
}

static void pl_push(struct cctx *cx, struct plist *pl, struct item it)
{
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 4;
        struct item *v = cx_tmpn(cx, cap, sizeof *v);
        if (pl->n) memcpy(v, pl->v, pl->n * sizeof *v);
        pl->v = v;
        pl->cap = cap;
    }
    pl->v[pl->n++] = it;
}

static void push_str(struct cctx *cx, struct anode *nd, const unit *s, size_t n)
{
    if (n) /* minimatch drops empty strings */
        pl_push(cx, nd->pl, (struct item){NULL, s, n});
}

static void push_node(struct cctx *cx, struct anode *nd, struct anode *child)
{
    pl_push(cx, nd->pl, (struct item){child, NULL, 0});
}

static struct anode *node_new(struct cctx *cx, int type, struct anode *parent)
{
    if (++cx->nodes > AST_MAX_NODES) cx_fail(cx, FAIL_LIMIT);
    struct anode *nd = cx_tmpn(cx, 1, sizeof *nd);
    nd->type = type;
    nd->parent = parent;
    nd->pidx = parent ? parent->pl->n : 0;
    nd->pl = pl_new(cx);
    nd->magic = type != 0;
    if (type == '!' && !cx->filled) {
        if (cx->nnegs == cx->capnegs) {
            size_t cap = cx->capnegs ? cx->capnegs * 2 : 8;
            struct anode **v = cx_tmpn(cx, cap, sizeof *v);
            if (cx->nnegs) memcpy(v, cx->negs, cx->nnegs * sizeof *v);
            cx->negs = v;
            cx->capnegs = cap;
        }
        cx->negs[cx->nnegs++] = nd;
    }
    return nd;
}

static bool is_ext_char(unit c)
{
    return c == '!' || c == '?' || c == '+' || c == '*' || c == '@';
}

static bool in_set(int c, const char *set)
{
    return c && strchr(set, c) != NULL;
}

/* nested extglobs a parent of this type can take in (any flavour) */
static bool can_adopt_type(int type, unit c)
{
    const char *m = type == '!'   ? "?@"
                    : type == '?' ? "?@"
                    : type == '@' ? "?@"
                    : type == '*' ? "*+?@"
                    : type == '+' ? "+@?*"
                                  : "";
    return c < 128 && in_set((int)c, m);
}

/* Scans the bracket and escape state the way minimatch does while looking
 * for extglob openings; returns true when c was consumed by that state. */
struct scan {
    bool esc, inb, bneg;
    size_t bstart;
};

static bool scan_skip(struct scan *sc, unit c, size_t i /* index after c */)
{
    if (sc->esc || c == '\\') {
        sc->esc = !sc->esc;
        return true;
    }
    if (sc->inb) {
        if (i == sc->bstart + 1) {
            if (c == '^' || c == '!') sc->bneg = true;
        } else if (c == ']' && !(i == sc->bstart + 2 && sc->bneg)) {
            sc->inb = false;
        }
        return true;
    }
    if (c == '[') {
        sc->inb = true;
        sc->bstart = i;
        sc->bneg = false;
        return true;
    }
    return false;
}

/* parses an extglob whose "(" is at pos; returns the index after it */
static size_t parse_ext(struct cctx *cx, const unit *s, size_t n, struct anode *ext, size_t pos,
                        unsigned depth, unsigned nest)
{
    if (nest > EXT_MAX_DEPTH) cx_fail(cx, FAIL_LIMIT);
    size_t i = pos + 1, ab = i;
    struct anode *part = node_new(cx, 0, ext);
    struct anode **alts = NULL;
    size_t nalts = 0, capalts = 0;
    struct scan sc = {0};
    while (i < n) {
        unit c = s[i++];
        if (scan_skip(&sc, c, i)) continue;
        bool adopt = can_adopt_type(ext->type, c);
        if (is_ext_char(c) && i < n && s[i] == '(' && (depth <= 2 || adopt)) {
            push_str(cx, part, s + ab, i - 1 - ab);
            struct anode *sub = node_new(cx, (int)c, part);
            push_node(cx, part, sub);
            i = parse_ext(cx, s, n, sub, i, depth + (adopt ? 0 : 1), nest + 1);
            ab = i;
            continue;
        }
        if (c == '|' || c == ')') {
            if (c == ')' && i - 1 == ab && ext->pl->n == 0) ext->empty_ext = true;
            push_str(cx, part, s + ab, i - 1 - ab);
            if (nalts == capalts) {
                capalts = capalts ? capalts * 2 : 4;
                struct anode **v = cx_tmpn(cx, capalts, sizeof *v);
                if (nalts) memcpy(v, alts, nalts * sizeof *v);
                alts = v;
            }
            alts[nalts++] = part;
            ab = i;
            if (c == ')') {
                for (size_t k = 0; k < nalts; k++)
                    push_node(cx, ext, alts[k]);
                return i;
            }
            part = node_new(cx, 0, ext);
        }
    }
    /* never closed: the rest of the portion, from the type character, is text */
    ext->type = 0;
    ext->magic = false;
    ext->pl = pl_new(cx);
    pl_push(cx, ext->pl, (struct item){NULL, s + pos - 1, n - (pos - 1)});
    return i;
}

static void parse_root(struct cctx *cx, const unit *s, size_t n, struct anode *root)
{
    size_t i = 0, ab = 0;
    struct scan sc = {0};
    while (i < n) {
        unit c = s[i++];
        if (scan_skip(&sc, c, i)) continue;
        if (is_ext_char(c) && i < n && s[i] == '(') {
            push_str(cx, root, s + ab, i - 1 - ab);
            struct anode *ext = node_new(cx, (int)c, root);
            i = parse_ext(cx, s, n, ext, i, 1, 1);
            push_node(cx, root, ext);
            ab = i;
        }
    }
    push_str(cx, root, s + ab, n - ab);
}

/* the single extglob inside a one-part alternative, or NULL */
static struct anode *lone_ext(struct anode *alt)
{
    if (!alt || alt->type != 0 || alt->pl->n != 1) return NULL;
    struct anode *gc = alt->pl->v[0].nd;
    return gc && gc->type != 0 ? gc : NULL;
}

static void adopt(struct cctx *cx, struct anode *nd, size_t i)
{
    struct anode *gc = nd->pl->v[i].nd->pl->v[0].nd;
    struct plist *pl = nd->pl, *g = gc->pl;
    size_t m = g->n;
    struct item *v = cx_tmpn(cx, pl->n - 1 + m + 1, sizeof *v);
    memcpy(v, pl->v, i * sizeof *v);
    memcpy(v + i, g->v, m * sizeof *v);
    memcpy(v + i + m, pl->v + i + 1, (pl->n - i - 1) * sizeof *v);
    pl->v = v;
    pl->n = pl->n - 1 + m;
    pl->cap = pl->n + 1;
    for (size_t k = 0; k < m; k++)
        if (g->v[k].nd) g->v[k].nd->parent = nd;
}

static int usurp_type(int parent, int child)
{
    switch (parent) {
    case '!':
        return child == '!' ? '@' : 0;
    case '?':
        return child == '*' || child == '+' ? '*' : 0;
    case '@':
        return in_set(child, "!?@*+") ? child : 0;
    case '+':
        return child == '?' || child == '*' ? '*' : 0;
    default:
        return 0;
    }
}

static void flatten(struct cctx *cx, struct anode *nd, unsigned level)
{
    if (level > 2 * EXT_MAX_DEPTH + 8) cx_fail(cx, FAIL_LIMIT);
    if (nd->type == 0) {
        for (size_t i = 0; i < nd->pl->n; i++)
            if (nd->pl->v[i].nd) flatten(cx, nd->pl->v[i].nd, level + 1);
        return;
    }
    static const char *const adopt_same[] = {"!@", "??@", "@@", "**+?@", "++@"};
    static const char *const adopt_space[] = {"!?", "@?", "++?*"};
    int pass = 0;
    bool done;
    do {
        done = true;
        for (size_t i = 0; i < nd->pl->n; i++) {
            struct anode *c = nd->pl->v[i].nd;
            if (!c) continue;
            flatten(cx, c, level + 1);
            struct anode *gc = lone_ext(c);
            if (!gc) continue;
            bool same = false, space = false;
            for (size_t k = 0; k < sizeof adopt_same / sizeof *adopt_same; k++)
                if (adopt_same[k][0] == nd->type) same = in_set(gc->type, adopt_same[k] + 1);
            for (size_t k = 0; k < sizeof adopt_space / sizeof *adopt_space; k++)
                if (adopt_space[k][0] == nd->type) space = in_set(gc->type, adopt_space[k] + 1);
            int nt = nd->pl->n == 1 ? usurp_type(nd->type, gc->type) : 0;
            if (same) {
                done = false;
                adopt(cx, nd, i);
            } else if (space) {
                /* +(a|?(b)) -> +(a|b|): the child gains a blank alternative first */
                done = false;
                struct anode *blank = node_new(cx, 0, gc);
                pl_push(cx, blank->pl, (struct item){NULL, NULL, 0});
                push_node(cx, gc, blank);
                adopt(cx, nd, i);
            } else if (nt) {
                done = false;
                nd->pl = gc->pl;
                for (size_t k = 0; k < nd->pl->n; k++)
                    if (nd->pl->v[k].nd) nd->pl->v[k].nd->parent = nd;
                nd->type = nt;
                nd->empty_ext = false;
            }
        }
    } while (!done && ++pass < 10);
}

static struct anode *clone_node(struct cctx *cx, struct anode *x, struct anode *parent,
                                unsigned level);

static void copy_in(struct cctx *cx, struct anode *dst, struct item it, unsigned level)
{
    if (!it.nd)
        push_str(cx, dst, it.s, it.n);
    else
        push_node(cx, dst, clone_node(cx, it.nd, dst, level + 1));
}

static struct anode *clone_node(struct cctx *cx, struct anode *x, struct anode *parent,
                                unsigned level)
{
    if (level > 4 * EXT_MAX_DEPTH) cx_fail(cx, FAIL_LIMIT);
    struct anode *c = node_new(cx, x->type, parent);
    for (size_t i = 0; i < x->pl->n; i++)
        copy_in(cx, c, x->pl->v[i], level);
    return c;
}

/* Everything after a !(...) — in its own alternative and in every plain
 * ancestor — is copied to the end of each of its alternatives, so the
 * lookahead sees the rest of the portion. Last made is filled first. */
static void fill_negs(struct cctx *cx)
{
    cx->filled = true;
    while (cx->nnegs) {
        struct anode *n = cx->negs[--cx->nnegs];
        if (n->type != '!') continue;
        struct anode *p = n, *pp = n->parent;
        while (pp) {
            for (size_t i = p->pidx + 1; pp->type == 0 && i < pp->pl->n; i++)
                for (size_t k = 0; k < n->pl->n; k++)
                    if (n->pl->v[k].nd) copy_in(cx, n->pl->v[k].nd, pp->pl->v[i], 0);
            p = pp;
            pp = p->parent;
        }
    }
}

static bool is_start(const struct anode *nd)
{
    for (; nd->parent; nd = nd->parent) {
        const struct anode *p = nd->parent;
        for (size_t i = 0; i < nd->pidx; i++) {
            if (i >= p->pl->n || !p->pl->v[i].nd || p->pl->v[i].nd->type != '!') return false;
        }
    }
    return true;
}

static bool is_end(const struct anode *nd)
{
    if (!nd->parent || nd->parent->type == '!') return true;
    if (!is_end(nd->parent)) return false;
    if (nd->type == 0) return true;
    return nd->pidx + 1 == nd->parent->pl->n;
}

static void to_string(struct cctx *cx, const struct anode *nd, struct ub *out)
{
    if (nd->type) ub_put(cx, out, (unit)nd->type), ub_put(cx, out, '(');
    for (size_t i = 0; i < nd->pl->n; i++) {
        if (nd->type && i) ub_put(cx, out, '|');
        const struct item *it = &nd->pl->v[i];
        if (it->nd)
            to_string(cx, it->nd, out);
        else
            ub_putn(cx, out, it->s, it->n);
    }
    if (nd->type) ub_put(cx, out, ')');
}

/* ---- regexp source, as minimatch writes it (dot: true) ---- */

static void src_check(struct cctx *cx, const struct ub *b)
{
    if (b->n > PART_MAX_SRC) cx_fail(cx, FAIL_LIMIT);
}

static void re_escape(struct cctx *cx, struct ub *out, unit c)
{
    if ((c < 128 && in_set((int)c, "-[]{}()*+?.,\\^$|#")) || is_js_space(c)) ub_put(cx, out, '\\');
    ub_put(cx, out, c);
}

/* class members keep only [ ] \ - escaped */
static void class_escape(struct cctx *cx, struct ub *out, unit c)
{
    if (c == '[' || c == ']' || c == '\\' || c == '-') ub_put(cx, out, '\\');
    ub_put(cx, out, c);
}

static const struct {
    const char *name, *src;
    bool u, neg;
} posix_classes[] = {
    {"[:alnum:]", "\\p{L}\\p{Nl}\\p{Nd}", true, false},
    {"[:alpha:]", "\\p{L}\\p{Nl}", true, false},
    {"[:ascii:]", "\\x00-\\x7f", false, false},
    {"[:blank:]", "\\p{Zs}\\t", true, false},
    {"[:cntrl:]", "\\p{Cc}", true, false},
    {"[:digit:]", "\\p{Nd}", true, false},
    {"[:graph:]", "\\p{Z}\\p{C}", true, true},
    {"[:lower:]", "\\p{Ll}", true, false},
    {"[:print:]", "\\p{C}", true, false},
    {"[:punct:]", "\\p{P}", true, false},
    {"[:space:]", "\\p{Z}\\t\\r\\n\\v\\f", true, false},
    {"[:upper:]", "\\p{Lu}", true, false},
    {"[:word:]", "\\p{L}\\p{Nl}\\p{Nd}\\p{Pc}", true, false},
    {"[:xdigit:]", "A-Fa-f0-9", false, false},
};

static bool starts_with(const unit *g, size_t n, size_t i, const char *ascii)
{
    size_t k = strlen(ascii);
    if (i > n || n - i < k) return false;
    for (size_t j = 0; j < k; j++)
        if (g[i + j] != (unsigned char)ascii[j]) return false;
    return true;
}

/* A [...] class at g[pos] ('['). Appends its regexp and returns how many
 * units it used, or 0 when it is not a class ('[' is then literal).
 * dead (n bytes, zeroed for each g) remembers the scan states (position,
 * esc, have_rs, saw) already passed through: past pos + 1 what follows
 * depends on nothing else, and a scan that got there before either found
 * no ']' or ended a class that the caller skipped, so meeting one again
 * means no ']' either. Without it "[[[[..." costs O(n^2). */
static size_t parse_class(struct cctx *cx, const unit *g, size_t n, size_t pos, struct ub *out,
                          bool *uflag, bool *magic, unsigned char *dead)
{
    struct ub ranges = {0}, negs = {0};
    size_t nranges = 0, nnegs = 0;
    bool single = false, negate = false, saw = false, esc = false, u = false;
    unit single_c = 0;
    size_t i = pos + 1, end = pos;
    bool have_rs = false;
    unit rs = 0;
    while (i < n) {
        if (i > pos + 1) {
            unsigned state = (esc ? 1u : 0u) | (have_rs ? 2u : 0u) | (saw ? 4u : 0u);
            unsigned char bit = (unsigned char)(1u << state);
            if (dead[i] & bit) return 0;
            dead[i] |= bit;
        }
        unit c = g[i];
        if ((c == '!' || c == '^') && i == pos + 1) {
            negate = true;
            i++;
            continue;
        }
        if (c == ']' && saw && !esc) {
            end = i + 1;
            break;
        }
        saw = true;
        if (c == '\\' && !esc) {
            esc = true;
            i++;
            continue;
        }
        if (c == '[' && !esc) {
            size_t k;
            for (k = 0; k < sizeof posix_classes / sizeof *posix_classes; k++)
                if (starts_with(g, n, i, posix_classes[k].name)) break;
            if (k < sizeof posix_classes / sizeof *posix_classes) {
                if (have_rs) {
                    ub_puts(cx, out, "$.");
                    *magic = true;
                    return n - pos;
                }
                i += strlen(posix_classes[k].name);
                if (posix_classes[k].neg) {
                    ub_puts(cx, &negs, posix_classes[k].src);
                    nnegs++;
                } else {
                    ub_puts(cx, &ranges, posix_classes[k].src);
                    nranges++;
                    single = false;
                }
                u = u || posix_classes[k].u;
                continue;
            }
        }
        esc = false;
        if (have_rs) {
            if (c > rs) {
                class_escape(cx, &ranges, rs);
                ub_put(cx, &ranges, '-');
                class_escape(cx, &ranges, c);
                nranges++;
                single = false;
            } else if (c == rs) {
                class_escape(cx, &ranges, c);
                single = ++nranges == 1;
                single_c = c;
            }
            have_rs = false;
            i++;
            continue;
        }
        if (starts_with(g, n, i + 1, "-]")) {
            class_escape(cx, &ranges, c);
            class_escape(cx, &ranges, '-');
            nranges++;
            single = false;
            i += 2;
            continue;
        }
        if (starts_with(g, n, i + 1, "-")) {
            have_rs = true;
            rs = c;
            i += 2;
            continue;
        }
        class_escape(cx, &ranges, c);
        single = ++nranges == 1;
        single_c = c;
        i++;
    }
    if (end < i) return 0;
    if (!nranges && !nnegs) {
        ub_puts(cx, out, "$.");
        *magic = true;
        return n - pos;
    }
    if (!nnegs && nranges == 1 && single && !is_lt(single_c) && !negate) {
        re_escape(cx, out, single_c);
        return end - pos;
    }
    if (nranges && nnegs) ub_put(cx, out, '(');
    if (nranges) {
        ub_puts(cx, out, negate ? "[^" : "[");
        ub_putn(cx, out, ranges.v, ranges.n);
        ub_put(cx, out, ']');
    }
    if (nranges && nnegs) ub_put(cx, out, '|');
    if (nnegs) {
        ub_puts(cx, out, negate ? "[" : "[^");
        ub_putn(cx, out, negs.v, negs.n);
        ub_put(cx, out, ']');
    }
    if (nranges && nnegs) ub_put(cx, out, ')');
    *uflag = *uflag || u;
    *magic = true;
    return end - pos;
}

/* one string of a plain node */
static void re_glob(struct cctx *cx, const unit *g, size_t n, bool noempty, struct ub *out,
                    bool *magic, bool *uflag)
{
    bool allstar = n > 0;
    for (size_t i = 0; i < n && allstar; i++)
        allstar = g[i] == '*';
    bool esc = false, instar = false;
    unsigned char *dead = NULL; /* parse_class's */
    for (size_t i = 0; i < n; i++) {
        unit c = g[i];
        if (esc) {
            esc = false;
            if (c < 128 && in_set((int)c, "().*{}+?[]^$\\!")) ub_put(cx, out, '\\');
            ub_put(cx, out, c);
            continue;
        }
        if (c == '*') {
            if (instar) continue;
            instar = true;
            ub_puts(cx, out, noempty && allstar ? "[^/]+?" : "[^/]*?");
            *magic = true;
            continue;
        }
        instar = false;
        if (c == '\\') {
            if (i == n - 1)
                ub_puts(cx, out, "\\\\");
            else
                esc = true;
            continue;
        }
        if (c == '[') {
            if (!dead) dead = cx_tmpn(cx, n, 1); /* zeroed */
            size_t used = parse_class(cx, g, n, i, out, uflag, magic, dead);
            if (used) {
                i += used - 1;
                continue;
            }
        }
        if (c == '?') {
            ub_puts(cx, out, "[^/]");
            *magic = true;
            continue;
        }
        re_escape(cx, out, c);
    }
    src_check(cx, out);
}

static void re_node(struct cctx *cx, struct anode *nd, struct ub *out, struct ub *rawsrc,
                    unsigned level);

static void re_plain(struct cctx *cx, struct anode *nd, struct ub *out, struct ub *rawsrc,
                     unsigned level)
{
    bool st = is_start(nd), en = is_end(nd), allstr = true;
    for (size_t i = 0; i < nd->pl->n; i++)
        if (nd->pl->v[i].nd) allstr = false;
    struct ub src = {0};
    bool magic = nd->magic, u = nd->uflag;
    for (size_t i = 0; i < nd->pl->n; i++) {
        struct item it = nd->pl->v[i];
        if (!it.nd) {
            re_glob(cx, it.s, it.n, st && en && allstr, &src, &magic, &u);
        } else {
            re_node(cx, it.nd, &src, NULL, level + 1);
            magic = magic || it.nd->magic;
            u = u || it.nd->uflag;
        }
    }
    if (st && nd->pl->n && !nd->pl->v[0].nd) {
        /* a portion that may start with "." must not match "." or ".." */
        struct item f = nd->pl->v[0];
        bool dots = nd->pl->n == 1 && (us_eq(f.s, f.n, ".") || us_eq(f.s, f.n, ".."));
        const unit *s = src.v;
        size_t k = src.n;
        bool notrav =
            k && (s[0] == '[' || s[0] == '.' ||
                  (k > 2 && s[0] == '\\' && s[1] == '.' && (s[2] == '[' || s[2] == '.')) ||
                  (k > 4 && s[0] == '\\' && s[1] == '.' && s[2] == '\\' && s[3] == '.' &&
                   (s[4] == '[' || s[4] == '.')));
        if (!dots && notrav) ub_puts(cx, out, "(?!(?:^|/)\\.\\.?(?:$|/))");
    }
    ub_putn(cx, out, src.v, src.n);
    if (en && nd->parent && nd->parent->type == '!') ub_puts(cx, out, "(?:$|\\/)");
    src_check(cx, out);
    nd->magic = magic;
    nd->uflag = u;
    if (rawsrc) *rawsrc = src;
}

static void re_ext(struct cctx *cx, struct anode *nd, struct ub *out, unsigned level)
{
    bool st = is_start(nd), en = is_end(nd);
    struct ub body = {0};
    bool first = true;
    for (size_t i = 0; i < nd->pl->n; i++) {
        struct anode *alt = nd->pl->v[i].nd;
        if (!alt) continue;
        struct ub a = {0};
        re_node(cx, alt, &a, NULL, level + 1);
        nd->uflag = nd->uflag || alt->uflag;
        if (st && en && !a.n) continue;
        if (!first) ub_put(cx, &body, '|');
        ub_putn(cx, &body, a.v, a.n);
        first = false;
        src_check(cx, &body);
    }
    if (st && en && !body.n && nd->type != '!') {
        /* an empty extglob that is the whole portion is its own text,
         * written into the regexp unescaped */
        struct ub s = {0};
        to_string(cx, nd, &s);
        nd->pl = pl_new(cx);
        pl_push(cx, nd->pl, (struct item){NULL, s.v, s.n});
        nd->type = 0;
        nd->magic = false;
        nd->uflag = false;
        ub_putn(cx, out, s.v, s.n);
        return;
    }
    if (nd->type == '!' && nd->empty_ext) {
        ub_puts(cx, out, "[^/]+?");
    } else {
        ub_puts(cx, out, nd->type == '!' ? "(?:(?!(?:" : "(?:");
        ub_putn(cx, out, body.v, body.n);
        switch (nd->type) {
        case '!':
            ub_puts(cx, out, "))[^/]*?)");
            break;
        case '@':
            ub_put(cx, out, ')');
            break;
        default:
            ub_put(cx, out, ')');
            ub_put(cx, out, (unit)nd->type);
            break;
        }
    }
    src_check(cx, out);
    nd->magic = true;
}

static void re_node(struct cctx *cx, struct anode *nd, struct ub *out, struct ub *rawsrc,
                    unsigned level)
{
    if (level > 4 * EXT_MAX_DEPTH) cx_fail(cx, FAIL_LIMIT);
    if (nd->type == 0)
        re_plain(cx, nd, out, rawsrc, level);
    else
        re_ext(cx, nd, out, level);
}

/* ---- a JavaScript regexp engine for what minimatch generates ----
 *
 * The source is parsed with ECMAScript rules (Annex B without the u flag,
 * the strict grammar with it; errors carry V8's wording), compiled to a
 * Thompson NFA whose lookahead bodies are separate programs, and run
 * backwards: A[q] = the states from which the program can still succeed
 * reading from position q. A lookahead's answer at every position is one
 * such pass over its program, made before the pass that needs it. */

enum {
    RX_EMPTY,
    RX_CHAR,
    RX_CAT,
    RX_ALT,
    RX_STAR,
    RX_PLUS,
    RX_QUEST,
    RX_BOL,
    RX_EOL,
    RX_WORDB,
    RX_LOOK
};

struct rx {
    int kind;
    bool neg;
    uint8_t ck;
    uint32_t arg;
    struct rx **kids;
    size_t nkids;
};

struct rxp {
    struct cctx *cx;
    const unit *s;
    size_t n, i;
    bool u;
    const char *err;
    unsigned depth;
    /* classes being collected */
    struct rclass *cls;
    size_t ncls, capcls;
};

struct rxb { /* a growing list of nodes */
    struct rx **v;
    size_t n, cap;
};

static void rxb_push(struct cctx *cx, struct rxb *b, struct rx *x)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        struct rx **v = cx_tmpn(cx, cap, sizeof *v);
        if (b->n) memcpy(v, b->v, b->n * sizeof *v);
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = x;
}

static struct rx *rx_new(struct rxp *p, int kind)
{
    struct rx *x = cx_tmpn(p->cx, 1, sizeof *x);
    x->kind = kind;
    return x;
}

static struct rx *rx_char(struct rxp *p, uint8_t ck, uint32_t arg)
{
    struct rx *x = rx_new(p, RX_CHAR);
    x->ck = ck;
    x->arg = arg;
    return x;
}

/* the next source character (a code point under u) */
static uint32_t rxp_get(struct rxp *p)
{
    uint32_t c = p->s[p->i++];
    if (p->u && c >= 0xd800 && c <= 0xdbff && p->i < p->n && p->s[p->i] >= 0xdc00 &&
        p->s[p->i] <= 0xdfff)
        c = 0x10000 + ((c - 0xd800) << 10) + (p->s[p->i++] - 0xdc00);
    return c;
}

static int hexval(uint32_t c)
{
    if (c >= '0' && c <= '9') return (int)(c - '0');
    if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
    return -1;
}

/* a class under construction */
struct cbuild {
    struct rclass c;
    size_t capr, capp;
};

static void cb_range(struct cctx *cx, struct cbuild *b, uint32_t lo, uint32_t hi)
{
    if (b->c.nr == b->capr) {
        b->capr = b->capr ? b->capr * 2 : 8;
        uint32_t *v = cx_tmpn(cx, 2 * b->capr, sizeof *v);
        if (b->c.nr) memcpy(v, b->c.r, 2 * b->c.nr * sizeof *v);
        b->c.r = v;
    }
    b->c.r[2 * b->c.nr] = lo;
    b->c.r[2 * b->c.nr + 1] = hi;
    b->c.nr++;
}

static void cb_prop(struct cctx *cx, struct cbuild *b, uint8_t id)
{
    if (b->c.np == b->capp) {
        b->capp = b->capp ? b->capp * 2 : 4;
        uint8_t *v = cx_tmpn(cx, b->capp, 1);
        if (b->c.np) memcpy(v, b->c.props, b->c.np);
        b->c.props = v;
    }
    b->c.props[b->c.np++] = id;
}

/* \d \w \s (and, negated, \D \W \S) as ranges */
static void cb_escape_set(struct cctx *cx, struct cbuild *b, uint32_t e)
{
    static const uint32_t d[] = {'0', '9'};
    static const uint32_t w[] = {'0', '9', 'A', 'Z', '_', '_', 'a', 'z'};
    static const uint32_t s[] = {0x09,   0x0d,   0x20,   0x20,   0xa0,   0xa0,   0x1680,
                                 0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x202f,
                                 0x205f, 0x205f, 0x3000, 0x3000, 0xfeff, 0xfeff};
    const uint32_t *r;
    size_t n;
    uint32_t lower = e | 0x20;
    if (lower == 'd')
        r = d, n = 1;
    else if (lower == 'w')
        r = w, n = 4;
    else
        r = s, n = 10;
    if (e == lower) {
        for (size_t i = 0; i < n; i++)
            cb_range(cx, b, r[2 * i], r[2 * i + 1]);
        return;
    }
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[2 * i] > next) cb_range(cx, b, next, r[2 * i] - 1);
        next = r[2 * i + 1] + 1;
    }
    cb_range(cx, b, next, 0x10ffff);
}

static int rxp_prop(struct rxp *p)
{
    /* after "\p": "{Name}" */
    if (p->i >= p->n || p->s[p->i] != '{') return -1;
    size_t st = ++p->i;
    while (p->i < p->n && p->s[p->i] != '}')
        p->i++;
    if (p->i >= p->n) return -1;
    size_t len = p->i - st;
    p->i++;
    for (int k = 0; k < UP_COUNT; k++)
        if (us_eq(p->s + st, len, prop_names[k])) return k;
    return -1;
}

enum { ESC_SET = -1, ESC_ASSERT = -2, ESC_ERR = -3 };

/* One escape, after its "\". Returns the character it stands for, or
 * ESC_SET after adding \d \w \s \p{..} (and negations) to set, ESC_ASSERT
 * with \b or \B in *assertion (outside classes), or ESC_ERR. */
static int64_t rxp_escape(struct rxp *p, bool inclass, struct cbuild *set, struct rx **assertion)
{
    if (p->i >= p->n) {
        p->err = "\\ at end of pattern";
        return ESC_ERR;
    }
    uint32_t c = rxp_get(p);
    switch (c) {
    case 't':
        return 0x09;
    case 'n':
        return 0x0a;
    case 'v':
        return 0x0b;
    case 'f':
        return 0x0c;
    case 'r':
        return 0x0d;
    case '0':
        if (p->i < p->n && is_digit(p->s[p->i]) && p->u) {
            p->err = inclass ? "Invalid class escape" : "Invalid decimal escape";
            return ESC_ERR;
        }
        return 0;
    case 'x':
        if (p->i + 1 < p->n && hexval(p->s[p->i]) >= 0 && hexval(p->s[p->i + 1]) >= 0) {
            int v = hexval(p->s[p->i]) * 16 + hexval(p->s[p->i + 1]);
            p->i += 2;
            return v;
        }
        if (p->u) {
            p->err = "Invalid escape";
            return ESC_ERR;
        }
        return 'x';
    case 'b':
    case 'B':
        if (inclass) {
            if (c == 'b') return 0x08;
            if (p->u) {
                p->err = "Invalid class escape";
                return ESC_ERR;
            }
            return 'B';
        }
        *assertion = rx_new(p, RX_WORDB);
        (*assertion)->neg = c == 'B';
        return ESC_ASSERT;
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
        cb_escape_set(p->cx, set, c);
        return ESC_SET;
    case 'p':
    case 'P':
        if (!p->u) return c;
        int id = rxp_prop(p);
        if (id < 0 || c == 'P') { /* \P{..} never comes from minimatch */
            p->err = inclass ? "Invalid property name in character class" : "Invalid property name";
            return ESC_ERR;
        }
        cb_prop(p->cx, set, (uint8_t)id);
        return ESC_SET;
    default:
        break;
    }
    if (c < 128 && in_set((int)c, "^$\\.*+?()[]{}|/")) return c;
    if (inclass && c == '-') return c;
    if (p->u) {
        p->err = inclass ? "Invalid class escape" : "Invalid escape";
        return ESC_ERR;
    }
    if (c == 'c' || c == 'k' || c == 'u' || is_digit(c)) {
        /* Annex B oddities minimatch never writes */
        p->err = "unsupported escape";
        return ESC_ERR;
    }
    return c; /* identity escape */
}

static void rxp_add_class(struct rxp *p, struct rx *x, const struct rclass *c)
{
    if (p->ncls == p->capcls) {
        p->capcls = p->capcls ? p->capcls * 2 : 8;
        struct rclass *v = cx_tmpn(p->cx, p->capcls, sizeof *v);
        if (p->ncls) memcpy(v, p->cls, p->ncls * sizeof *v);
        p->cls = v;
    }
    p->cls[p->ncls] = *c;
    x->ck = CK_CLASS;
    x->arg = (uint32_t)p->ncls++;
}

/* [...] with "[" consumed */
static struct rx *rxp_class(struct rxp *p)
{
    struct cbuild b = {0};
    if (p->i < p->n && p->s[p->i] == '^') {
        b.c.neg = true;
        p->i++;
    }
    for (;;) {
        if (p->i >= p->n) {
            p->err = "Unterminated character class";
            return NULL;
        }
        if (p->s[p->i] == ']') {
            p->i++;
            break;
        }
        int64_t a, z;
        bool aset = false, zset = false;
        uint32_t c = rxp_get(p);
        if (c == '\\') {
            a = rxp_escape(p, true, &b, NULL);
            if (a == ESC_ERR) return NULL;
            aset = a == ESC_SET;
        } else {
            a = c;
        }
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            uint32_t d = rxp_get(p);
            if (d == '\\') {
                z = rxp_escape(p, true, &b, NULL);
                if (z == ESC_ERR) return NULL;
                zset = z == ESC_SET;
            } else {
                z = d;
            }
            if (aset || zset) {
                if (p->u) {
                    p->err = "Invalid character class";
                    return NULL;
                }
                if (!aset) cb_range(p->cx, &b, (uint32_t)a, (uint32_t)a);
                cb_range(p->cx, &b, '-', '-');
                if (!zset) cb_range(p->cx, &b, (uint32_t)z, (uint32_t)z);
                continue;
            }
            if (a > z) {
                p->err = "Range out of order in character class";
                return NULL;
            }
            cb_range(p->cx, &b, (uint32_t)a, (uint32_t)z);
            continue;
        }
        if (!aset) cb_range(p->cx, &b, (uint32_t)a, (uint32_t)a);
    }
    if (b.c.neg && b.c.nr == 1 && !b.c.np && b.c.r[0] == b.c.r[1])
        return rx_char(p, CK_NOT, b.c.r[0]);
    if (!b.c.neg && b.c.nr == 1 && !b.c.np && b.c.r[0] == b.c.r[1])
        return rx_char(p, CK_LIT, b.c.r[0]);
    struct rx *x = rx_new(p, RX_CHAR);
    rxp_add_class(p, x, &b.c);
    return x;
}

/* {n}, {n,}, {n,m} at p->i? (without consuming) */
static bool rxp_brace_quant(const struct rxp *p)
{
    size_t i = p->i;
    if (i >= p->n || p->s[i] != '{') return false;
    i++;
    size_t d = i;
    while (i < p->n && is_digit(p->s[i]))
        i++;
    if (i == d) return false;
    if (i < p->n && p->s[i] == ',') {
        i++;
        while (i < p->n && is_digit(p->s[i]))
            i++;
    }
    return i < p->n && p->s[i] == '}';
}

static struct rx *rxp_disj(struct rxp *p);

static struct rx *rxp_term(struct rxp *p)
{
    uint32_t c = p->s[p->i];
    struct rx *atom = NULL;
    int quant = 1; /* 0: not quantifiable; 2: quantifiable only without u */
    if (c == '^' || c == '$') {
        p->i++;
        atom = rx_new(p, c == '^' ? RX_BOL : RX_EOL);
        quant = 0;
    } else if (c == '(') {
        p->i++;
        bool look = false, neg = false;
        if (p->i < p->n && p->s[p->i] == '?') {
            unit k = p->i + 1 < p->n ? p->s[p->i + 1] : 0;
            if (k == ':') {
                p->i += 2;
            } else if (k == '=' || k == '!') {
                p->i += 2;
                look = true;
                neg = k == '!';
            } else {
                p->err = "Invalid group";
                return NULL;
            }
        }
        if (++p->depth > RX_MAX_DEPTH) cx_fail(p->cx, FAIL_LIMIT);
        struct rx *in = rxp_disj(p);
        p->depth--;
        if (!in) return NULL;
        if (p->i >= p->n || p->s[p->i] != ')') {
            p->err = "Unterminated group";
            return NULL;
        }
        p->i++;
        if (look) {
            atom = rx_new(p, RX_LOOK);
            atom->neg = neg;
            atom->kids = cx_tmpn(p->cx, 1, sizeof *atom->kids);
            atom->kids[0] = in;
            atom->nkids = 1;
            quant = 2;
        } else {
            atom = in;
        }
    } else if (c == '[') {
        p->i++;
        if (!(atom = rxp_class(p))) return NULL;
    } else if (c == '.') {
        p->i++;
        atom = rx_char(p, CK_ANY, 0);
    } else if (c == '\\') {
        p->i++;
        struct cbuild set = {0};
        int64_t e = rxp_escape(p, false, &set, &atom);
        if (e == ESC_ERR) return NULL;
        if (e == ESC_ASSERT) {
            quant = 0;
        } else if (e == ESC_SET) {
            atom = rx_new(p, RX_CHAR);
            rxp_add_class(p, atom, &set.c);
        } else {
            atom = rx_char(p, CK_LIT, (uint32_t)e);
        }
    } else if (c == '*' || c == '+' || c == '?' || (c == '{' && rxp_brace_quant(p))) {
        p->err = "Nothing to repeat";
        return NULL;
    } else if (p->u && (c == '{' || c == '}' || c == ']')) {
        p->err = "Lone quantifier brackets";
        return NULL;
    } else {
        atom = rx_char(p, CK_LIT, rxp_get(p));
    }
    if (p->i >= p->n) return atom;
    c = p->s[p->i];
    int kind = c == '*' ? RX_STAR : c == '+' ? RX_PLUS : c == '?' ? RX_QUEST : -1;
    if (kind < 0) {
        if (c == '{' && rxp_brace_quant(p)) {
            p->err = "unsupported quantifier";
            return NULL;
        }
        if (c == '{' && p->u) {
            p->err = "Incomplete quantifier";
            return NULL;
        }
        return atom;
    }
    if (quant == 0) {
        p->err = "Nothing to repeat";
        return NULL;
    }
    if (quant == 2 && p->u) {
        p->err = "Invalid quantifier";
        return NULL;
    }
    p->i++;
    if (p->i < p->n && p->s[p->i] == '?') p->i++; /* lazy: the same language */
    struct rx *q = rx_new(p, kind);
    q->kids = cx_tmpn(p->cx, 1, sizeof *q->kids);
    q->kids[0] = atom;
    q->nkids = 1;
    return q;
}

static struct rx *rxp_alt(struct rxp *p)
{
    struct rxb b = {0};
    while (p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
        struct rx *t = rxp_term(p);
        if (!t) return NULL;
        rxb_push(p->cx, &b, t);
    }
    if (b.n == 1) return b.v[0];
    struct rx *x = rx_new(p, b.n ? RX_CAT : RX_EMPTY);
    x->kids = b.v;
    x->nkids = b.n;
    return x;
}

static struct rx *rxp_disj(struct rxp *p)
{
    struct rxb b = {0};
    for (;;) {
        struct rx *a = rxp_alt(p);
        if (!a) return NULL;
        rxb_push(p->cx, &b, a);
        if (p->i < p->n && p->s[p->i] == '|') {
            p->i++;
            continue;
        }
        break;
    }
    if (b.n == 1) return b.v[0];
    struct rx *x = rx_new(p, RX_ALT);
    x->kids = b.v;
    x->nkids = b.n;
    return x;
}

/* NFA construction, continuation style: code for x that goes on to `next` */
struct rxc {
    struct cctx *cx;
    struct rstate *st;
    uint32_t nst, capst;
    struct rsub *subs;
    uint32_t nsubs, capsubs;
};

static uint32_t rxc_state(struct rxc *c, uint8_t op, uint32_t prog, uint32_t out)
{
    if (c->nst == c->capst) {
        c->capst = c->capst ? c->capst * 2 : 32;
        struct rstate *v = cx_tmpn(c->cx, c->capst, sizeof *v);
        if (c->nst) memcpy(v, c->st, c->nst * sizeof *v);
        c->st = v;
    }
    if (c->nst >= (uint32_t)4 * PART_MAX_SRC + 64) cx_fail(c->cx, FAIL_LIMIT);
    struct rstate *s = &c->st[c->nst];
    memset(s, 0, sizeof *s);
    s->op = op;
    s->prog = prog;
    s->out = out;
    s->out1 = out;
    return c->nst++;
}

static uint32_t rxc_sub(struct rxc *c)
{
    if (c->nsubs == c->capsubs) {
        c->capsubs = c->capsubs ? c->capsubs * 2 : 4;
        struct rsub *v = cx_tmpn(c->cx, c->capsubs, sizeof *v);
        if (c->nsubs) memcpy(v, c->subs, c->nsubs * sizeof *v);
        c->subs = v;
    }
    memset(&c->subs[c->nsubs], 0, sizeof c->subs[0]);
    return c->nsubs++;
}

static uint32_t rxc_build(struct rxc *c, const struct rx *x, uint32_t next, uint32_t prog)
{
    uint32_t s, b;
    switch (x->kind) {
    case RX_EMPTY:
        return next;
    case RX_CHAR:
        s = rxc_state(c, OP_CHAR, prog, next);
        c->st[s].ck = x->ck;
        c->st[s].arg = x->arg;
        return s;
    case RX_CAT:
        for (size_t i = x->nkids; i-- > 0;)
            next = rxc_build(c, x->kids[i], next, prog);
        return next;
    case RX_ALT:
        b = rxc_build(c, x->kids[x->nkids - 1], next, prog);
        for (size_t i = x->nkids - 1; i-- > 0;) {
            uint32_t a = rxc_build(c, x->kids[i], next, prog);
            s = rxc_state(c, OP_SPLIT, prog, a);
            c->st[s].out1 = b;
            b = s;
        }
        return b;
    case RX_STAR:
    case RX_PLUS:
        s = rxc_state(c, OP_SPLIT, prog, next);
        b = rxc_build(c, x->kids[0], s, prog);
        c->st[s].out = b;
        c->st[s].out1 = next;
        return x->kind == RX_STAR ? s : b;
    case RX_QUEST:
        b = rxc_build(c, x->kids[0], next, prog);
        s = rxc_state(c, OP_SPLIT, prog, b);
        c->st[s].out1 = next;
        return s;
    case RX_BOL:
    case RX_EOL:
        return rxc_state(c, x->kind == RX_BOL ? OP_BOL : OP_EOL, prog, next);
    case RX_WORDB:
        s = rxc_state(c, OP_WORDB, prog, next);
        c->st[s].neg = x->neg;
        return s;
    case RX_LOOK: {
        uint32_t k = rxc_sub(c);
        uint32_t m = rxc_state(c, OP_MATCH, k, 0);
        uint32_t st = rxc_build(c, x->kids[0], m, k);
        c->subs[k].start = st;
        c->subs[k].match = m;
        s = rxc_state(c, OP_LOOK, prog, next);
        c->st[s].arg = k;
        c->st[s].neg = x->neg;
        return s;
    }
    default:
        cx_fail(c->cx, FAIL_LIMIT);
    }
}

/* UTF-8 of a unit string, for messages (in perm) */
static char *units_utf8(struct cctx *cx, const unit *u, size_t n, size_t extra, size_t *len)
{
    char *out = cx_permn(cx, 4 * n + extra + 1, 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = u[i];
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] <= 0xdfff)
            c = 0x10000 + ((c - 0xd800) << 10) + (u[++i] - 0xdc00);
        else if (c >= 0xd800 && c <= 0xdfff)
            c = 0xfffd;
        if (c == 0) c = 0xfffd; /* keep the message a C string */
        k += util_utf8_encode(c, out + k);
    }
    out[k] = '\0';
    *len = k;
    return out;
}

/* Compiles "^" + src + "$" (flags "u" when u); FAIL_REGEX with minimatch's
 * message when JavaScript would refuse it. */
static const struct rprog *rx_compile(struct cctx *cx, const unit *src, size_t n, bool u)
{
    struct ub full = {0};
    ub_put(cx, &full, '^');
    ub_putn(cx, &full, src, n);
    ub_put(cx, &full, '$');
    cx->total_src += full.n;
    if (cx->total_src > GLOB_MAX_SRC) cx_fail(cx, FAIL_LIMIT);
    struct rxp p = {.cx = cx, .s = full.v, .n = full.n, .u = u};
    struct rx *x = rxp_disj(&p);
    if (x && p.i < p.n) {
        p.err = "Unmatched ')'";
        x = NULL;
    }
    if (!x) {
        const char *head = "Invalid regular expression: /";
        size_t len;
        size_t extra = strlen(head) + strlen(p.err) + 8;
        char *body = units_utf8(cx, full.v, full.n, 0, &len);
        char *msg = cx_permn(cx, len + extra, 1);
        util_snprintf(msg, len + extra, "%s%s/%s: %s", head, body, u ? "u" : "", p.err);
        cx->err = msg;
        cx_fail(cx, FAIL_REGEX);
    }
    struct rxc c = {.cx = cx};
    rxc_sub(&c); /* 0: main */
    uint32_t m = rxc_state(&c, OP_MATCH, 0, 0);
    uint32_t start = rxc_build(&c, x, m, 0); /* may move c.subs */
    c.subs[0].start = start;
    c.subs[0].match = m;

    struct rprog *rp = cx_permn(cx, 1, sizeof *rp);
    rp->u = u;
    rp->nst = c.nst;
    rp->st = cx_permn(cx, c.nst, sizeof *rp->st);
    memcpy(rp->st, c.st, c.nst * sizeof *rp->st);
    rp->nsubs = c.nsubs;
    rp->subs = cx_permn(cx, c.nsubs, sizeof *rp->subs);
    memcpy(rp->subs, c.subs, c.nsubs * sizeof *rp->subs);
    rp->cls = cx_permn(cx, p.ncls ? p.ncls : 1, sizeof *rp->cls);
    for (size_t i = 0; i < p.ncls; i++) {
        struct rclass *d = &rp->cls[i];
        *d = p.cls[i];
        d->r = cx_permn(cx, 2 * (size_t)d->nr + 1, sizeof *d->r);
        if (d->nr) memcpy(d->r, p.cls[i].r, 2 * (size_t)d->nr * sizeof *d->r);
        d->props = cx_permn(cx, (size_t)d->np + 1, 1);
        if (d->np) memcpy(d->props, p.cls[i].props, d->np);
        for (uint32_t k = 0; k < d->np; k++)
            prop_get(cx, d->props[k]);
    }
    rp->props = cx->props;

    /* epsilon predecessors */
    rp->poff = cx_permn(cx, (size_t)c.nst + 1, sizeof *rp->poff);
    uint32_t *cnt = cx_tmpn(cx, (size_t)c.nst + 1, sizeof *cnt);
    for (uint32_t s = 0; s < c.nst; s++) {
        const struct rstate *t = &rp->st[s];
        if (t->op == OP_CHAR || t->op == OP_MATCH) continue;
        cnt[t->out]++;
        if (t->op == OP_SPLIT) cnt[t->out1]++;
    }
    uint32_t total = 0;
    for (uint32_t s = 0; s < c.nst; s++) {
        rp->poff[s] = total;
        total += cnt[s];
        cnt[s] = rp->poff[s];
    }
    rp->poff[c.nst] = total;
    rp->pred = cx_permn(cx, total ? total : 1, sizeof *rp->pred);
    for (uint32_t s = 0; s < c.nst; s++) {
        const struct rstate *t = &rp->st[s];
        if (t->op == OP_CHAR || t->op == OP_MATCH) continue;
        rp->pred[cnt[t->out]++] = s;
        if (t->op == OP_SPLIT) rp->pred[cnt[t->out1]++] = s;
    }
    /* each program's CHAR and LOOK states */
    for (uint32_t k = 0; k < rp->nsubs; k++) {
        struct rsub *sb = &rp->subs[k];
        uint32_t nc = 0, nl = 0;
        for (uint32_t s = 0; s < c.nst; s++)
            if (rp->st[s].prog == k) nc += rp->st[s].op == OP_CHAR, nl += rp->st[s].op == OP_LOOK;
        sb->chars = cx_permn(cx, nc + 1, sizeof *sb->chars);
        sb->looks = cx_permn(cx, nl + 1, sizeof *sb->looks);
        bool eol_only = true;
        for (uint32_t s = 0; s < c.nst; s++) {
            const struct rstate *t = &rp->st[s];
            if (t->prog != k) continue;
            if (t->op == OP_CHAR) sb->chars[sb->nchars++] = s;
            if (t->op == OP_LOOK) sb->looks[sb->nlooks++] = s;
            if (t->op != OP_MATCH && t->op != OP_EOL &&
                (t->out == sb->match || (t->op == OP_SPLIT && t->out1 == sb->match)))
                eol_only = false;
        }
        sb->eol_only = eol_only && sb->start != sb->match;
    }
    return rp;
}

/* ---- running a compiled regexp ---- */

struct rrun {
    const struct rprog *p;
    const uint32_t *in;
    size_t n;
    uint32_t *mark[2];
    uint32_t gen;
    uint32_t *queue;
    uint8_t *vec;  /* nsubs x (n + 1): 1 = the lookahead body matches there */
    uint8_t *done; /* nsubs */
};

static bool rr_class(const struct rprog *p, const struct rclass *c, uint32_t ch)
{
    bool in = false;
    for (uint32_t i = 0; i < c->nr && !in; i++)
        in = ch >= c->r[2 * i] && ch <= c->r[2 * i + 1];
    for (uint32_t i = 0; i < c->np && !in; i++)
        in = prop_has(&p->props[c->props[i]], ch);
    return in != c->neg;
}

static bool rr_char(const struct rprog *p, const struct rstate *s, uint32_t ch)
{
    switch (s->ck) {
    case CK_LIT:
        return ch == s->arg;
    case CK_NOT:
        return ch != s->arg;
    case CK_ANY:
        return !is_lt(ch);
    default:
        return rr_class(p, &p->cls[s->arg], ch);
    }
}

/* Backward pass of program k. With vec: fills vec[0..n] (does the body
 * match from there?). Without: the main search; true when some start
 * position matches (RegExp.prototype.test). */
static bool rr_pass(struct rrun *r, uint32_t k, uint8_t *vec)
{
    const struct rprog *p = r->p;
    const struct rsub *sb = &p->subs[k];
    for (uint32_t i = 0; i < sb->nlooks; i++) {
        uint32_t kk = p->st[sb->looks[i]].arg;
        if (!r->done[kk]) {
            rr_pass(r, kk, r->vec + (size_t)kk * (r->n + 1));
            r->done[kk] = 1;
        }
    }
    uint32_t *prev = r->mark[0], *cur = r->mark[1];
    uint32_t gprev = 0;
    for (size_t q = r->n + 1; q-- > 0;) {
        uint32_t g = ++r->gen;
        uint32_t qh = 0, qt = 0;
        cur[sb->match] = g;
        r->queue[qt++] = sb->match;
        if (q < r->n) {
            uint32_t ch = r->in[q];
            for (uint32_t i = 0; i < sb->nchars; i++) {
                uint32_t s = sb->chars[i];
                if (prev[p->st[s].out] == gprev && cur[s] != g && rr_char(p, &p->st[s], ch)) {
                    cur[s] = g;
                    r->queue[qt++] = s;
                }
            }
        }
        while (qh < qt) {
            uint32_t t = r->queue[qh++];
            for (uint32_t e = p->poff[t]; e < p->poff[t + 1]; e++) {
                uint32_t s = p->pred[e];
                if (cur[s] == g) continue;
                const struct rstate *st = &p->st[s];
                bool ok;
                switch (st->op) {
                case OP_BOL:
                    ok = q == 0;
                    break;
                case OP_EOL:
                    ok = q == r->n;
                    break;
                case OP_WORDB: {
                    bool a = q > 0 && is_word(r->in[q - 1]);
                    bool b = q < r->n && is_word(r->in[q]);
                    ok = (a != b) != st->neg;
                    break;
                }
                case OP_LOOK:
                    ok = (r->vec[(size_t)st->arg * (r->n + 1) + q] != 0) != st->neg;
                    break;
                default:
                    ok = true;
                    break;
                }
                if (ok) {
                    cur[s] = g;
                    r->queue[qt++] = s;
                }
            }
        }
        bool at = cur[sb->start] == g;
        if (vec)
            vec[q] = at;
        else if (at)
            return true;
        else if (sb->eol_only && qt == 1 && q < r->n)
            return false; /* nothing left that can reach the end */
        uint32_t *t = prev;
        prev = cur;
        cur = t;
        gprev = g;
    }
    return false;
}

/* ---- path portions ---- */

static bool no_fast_char(unit c) /* [^+@!?*[(] */
{
    return !(c < 128 && in_set((int)c, "+@!?*[("));
}

/* minimatch's fast tests for the commonest portions; they replace the
 * regexp's test (and are what minimatch answers with, quirks included:
 * "*\a" tests for the suffix "\a" literally) */
static bool fast_part(const unit *g, size_t n, struct gpart *gp)
{
    size_t k = 0;
    while (k < n && g[k] == '*')
        k++;
    if (k && k == n) {
        gp->kind = P_STAR;
        return true;
    }
    if (k) {
        size_t j = k;
        while (j < n && no_fast_char(g[j]))
            j++;
        if (j == n) {
            gp->kind = P_ENDS;
            gp->s = g + k;
            gp->n = n - k;
            return true;
        }
    }
    size_t q = 0;
    while (q < n && g[q] == '?')
        q++;
    if (q) {
        size_t j = q;
        while (j < n && no_fast_char(g[j]))
            j++;
        if (j == n) {
            gp->kind = P_QMARKS;
            gp->qlen = n;
            gp->s = g + q;
            gp->n = n - q;
            return true;
        }
    }
    if (k && k < n && g[k] == '.') {
        size_t j = k + 1;
        while (j < n && g[j] == '*')
            j++;
        if (j == n && j > k + 1) {
            gp->kind = P_STARDOTSTAR;
            return true;
        }
    }
    if (n >= 2 && g[0] == '.') {
        size_t j = 1;
        while (j < n && g[j] == '*')
            j++;
        if (j == n) {
            gp->kind = P_DOTSTAR;
            return true;
        }
    }
    return false;
}

static struct gpart *compile_part(struct cctx *cx, const unit *g, size_t n)
{
    struct gpart *gp = cx_permn(cx, 1, sizeof *gp);
    if (n == 2 && g[0] == '*' && g[1] == '*') {
        gp->kind = P_GLOBSTAR;
        return gp;
    }
    if (n == 0) {
        gp->kind = P_LIT;
        return gp;
    }
    if (fast_part(g, n, gp)) {
        unit *c = cx_permn(cx, gp->n + 1, sizeof *c);
        if (gp->n) memcpy(c, gp->s, gp->n * sizeof *c);
        gp->s = c;
        return gp;
    }
    cx->negs = NULL;
    cx->nnegs = cx->capnegs = 0;
    cx->filled = false;
    cx->nodes = 0;
    struct anode *root = node_new(cx, 0, NULL);
    parse_root(cx, g, n, root);
    flatten(cx, root, 0);
    fill_negs(cx);
    struct ub fin = {0}, src = {0};
    re_node(cx, root, &fin, &src, 0);
    if (!root->magic) {
        /* a literal: the source without its backslashes */
        unit *s = cx_permn(cx, src.n + 1, sizeof *s);
        size_t k = 0;
        for (size_t i = 0; i < src.n; i++) {
            if (src.v[i] == '\\' && i + 1 < src.n && src.v[i + 1] != '/') i++;
            s[k++] = src.v[i];
        }
        gp->kind = P_LIT;
        gp->s = s;
        gp->n = k;
        return gp;
    }
    gp->kind = P_RE;
    gp->re = rx_compile(cx, fin.v, fin.n, root->uflag);
    return gp;
}

/* "**" then "**" merge; "x/.." cancels unless x is "", ".", ".." or "**" */
static struct us *level_one(struct cctx *cx, struct us *parts, size_t n, size_t *outn)
{
    struct us *o = cx_tmpn(cx, n + 1, sizeof *o);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct us p = parts[i];
        struct us *prev = k ? &o[k - 1] : NULL;
        if (prev && us_eq(p.v, p.n, "**") && us_eq(prev->v, prev->n, "**")) continue;
        if (prev && us_eq(p.v, p.n, "..") && prev->n && !us_eq(prev->v, prev->n, "..") &&
            !us_eq(prev->v, prev->n, ".") && !us_eq(prev->v, prev->n, "**")) {
            k--;
            continue;
        }
        o[k++] = p;
    }
    if (!k) o[k++] = US_NONE;
    *outn = k;
    return o;
}

static void compile_alt(struct cctx *cx, struct galt *alt, struct us s)
{
    size_t cnt = 1;
    for (size_t i = 0; i < s.n; i++)
        if (s.v[i] == '/' && (i == 0 || s.v[i - 1] != '/')) cnt++;
    struct us *parts = cx_tmpn(cx, cnt, sizeof *parts);
    size_t np = 0, st = 0;
    for (size_t i = 0; i <= s.n; i++) {
        if (i == s.n || s.v[i] == '/') {
            parts[np++] = (struct us){s.v + st, i - st};
            while (i + 1 < s.n && s.v[i + 1] == '/')
                i++;
            st = i + 1;
        }
    }
    parts = level_one(cx, parts, np, &np);
    alt->p = cx_permn(cx, np, sizeof *alt->p);
    alt->n = np;
    for (size_t i = 0; i < np; i++) {
        alt->p[i] = compile_part(cx, parts[i].v, parts[i].n);
        if (alt->p[i]->kind == P_GLOBSTAR) alt->gs = true;
    }
}

struct mcp_glob *mcp_glob_compile(const char *pattern)
{
    if (!pattern) return NULL;
    struct mcp_glob *g = util_calloc(1, sizeof *g);
    size_t len = strlen(pattern);
    if (len > MCP_GLOB_MAX_PATTERN) {
        g->mode = G_NOTHING;
        g->limited = true;
        return g;
    }
    if (pattern[0] == '#') { /* a comment */
        g->mode = G_NOTHING;
        return g;
    }
    if (!len) {
        g->mode = G_EMPTY;
        return g;
    }
    size_t neg = 0;
    while (pattern[neg] == '!')
        neg++;
    g->negate = neg % 2;

    struct cctx *cx = util_calloc(1, sizeof *cx);
    cx->perm = &g->ar;
    if (setjmp(cx->jb)) {
        ar_free(&cx->tmp);
        if (cx->fail == FAIL_REGEX && cx->err)
            g->error = util_strdup(cx->err);
        else
            g->limited = true;
        ar_free(&g->ar);
        g->mode = G_NOTHING;
        g->alts = NULL;
        g->nalts = 0;
        free(cx);
        return g;
    }
    unit *u = cx_tmpn(cx, len - neg + 1, sizeof *u);
    size_t un = utf8_to_units(pattern + neg, len - neg, u);
    struct ul set = brace_expand(cx, u, un);
    g->alts = cx_permn(cx, set.n + 1, sizeof *g->alts);
    g->nalts = set.n;
    for (size_t i = 0; i < set.n; i++)
        compile_alt(cx, &g->alts[i], set.v[i]);
    for (size_t i = 0; i < g->nalts; i++)
        for (size_t k = 0; k < g->alts[i].n; k++) {
            const struct rprog *re = g->alts[i].p[k]->re;
            if (re && re->nst > g->max_states) g->max_states = re->nst;
            if (re && re->nsubs > g->max_subs) g->max_subs = re->nsubs;
        }
    ar_free(&cx->tmp);
    free(cx);
    return g;
}

void mcp_glob_free(struct mcp_glob *g)
{
    if (!g) return;
    ar_free(&g->ar);
    free(g->error);
    free(g);
}

const char *mcp_glob_error(const struct mcp_glob *g)
{
    return g ? g->error : NULL;
}

bool mcp_glob_limited(const struct mcp_glob *g)
{
    return g && g->limited;
}

/* ---- matching ---- */

struct seg {
    const unit *u;
    size_t n;
    uint32_t *cp; /* code points, made on first use */
    size_t ncp;
    bool dot; /* "." or ".." */
};

struct tctx {
    const struct mcp_glob *g;
    struct seg *f;
    size_t nf;
    size_t maxlen;
    /* regexp scratch, made on first use */
    uint32_t *mark0, *mark1, *queue, gen;
    uint8_t *vec, *done;
};

static bool ends_with(const struct seg *f, const unit *s, size_t n)
{
    return f->n >= n && (!n || memcmp(f->u + f->n - n, s, n * sizeof *s) == 0);
}

static bool test_re(struct tctx *t, const struct rprog *re, struct seg *f)
{
    if (!t->mark0) {
        size_t ns = (size_t)t->g->max_states + 1;
        t->mark0 = util_calloc(ns, sizeof *t->mark0);
        t->mark1 = util_calloc(ns, sizeof *t->mark1);
        t->queue = util_calloc(ns, sizeof *t->queue);
        t->vec = util_calloc(((size_t)t->g->max_subs + 1) * (t->maxlen + 1), 1);
        t->done = util_calloc((size_t)t->g->max_subs + 1, 1);
    }
    const uint32_t *in = f->u;
    size_t n = f->n;
    if (re->u) {
        if (!f->cp) {
            f->cp = util_calloc(f->n + 1, sizeof *f->cp);
            f->ncp = units_to_cps(f->u, f->n, f->cp);
        }
        in = f->cp;
        n = f->ncp;
    }
    memset(t->done, 0, re->nsubs);
    struct rrun r = {.p = re,
                     .in = in,
                     .n = n,
                     .mark = {t->mark0, t->mark1},
                     .gen = t->gen,
                     .queue = t->queue,
                     .vec = t->vec,
                     .done = t->done};
    if ((uint64_t)t->gen + ((uint64_t)n + 2) * (re->nsubs + 1) >= UINT32_MAX) {
        memset(t->mark0, 0, ((size_t)t->g->max_states + 1) * sizeof *t->mark0);
        memset(t->mark1, 0, ((size_t)t->g->max_states + 1) * sizeof *t->mark1);
        r.gen = 0;
    }
    bool hit = rr_pass(&r, 0, NULL);
    t->gen = r.gen;
    return hit;
}

static bool test_part(struct tctx *t, const struct gpart *p, struct seg *f)
{
    bool dots = f->dot;
    switch (p->kind) {
    case P_LIT:
        return f->n == p->n && (!p->n || memcmp(f->u, p->s, p->n * sizeof *p->s) == 0);
    case P_STAR:
        return f->n && !dots;
    case P_ENDS:
        return ends_with(f, p->s, p->n);
    case P_QMARKS:
        return f->n == p->qlen && !dots && ends_with(f, p->s, p->n);
    case P_STARDOTSTAR:
        if (dots) return false;
        for (size_t i = 0; i < f->n; i++)
            if (f->u[i] == '.') return true;
        return false;
    case P_DOTSTAR:
        return !dots && f->n && f->u[0] == '.';
    case P_RE:
        return test_re(t, p->re, f);
    default:
        return false;
    }
}

static bool test_run(struct tctx *t, struct gpart *const *p, size_t np, size_t fi)
{
    for (size_t k = 0; k < np; k++)
        if (!test_part(t, p[k], &t->f[fi + k])) return false;
    return true;
}

enum { R_FALSE = 0, R_TRUE = 1, R_NULL = 2 };

/* minimatch's #matchGlobstar: head, tail, then the "**"-separated body
 * sections, each tried at every start from the left up to its bound, with
 * a section's answer deciding the rest ("null" stops the search). The
 * recursion is a function of (section, start) and is tabulated. */
static bool match_globstar(struct tctx *t, const struct galt *a)
{
    struct gpart *const *P = a->p;
    size_t np = a->n, N = t->nf, first = np, last = 0;
    for (size_t i = 0; i < np; i++)
        if (P[i]->kind == P_GLOBSTAR) {
            if (first == np) first = i;
            last = i;
        }
    size_t fi = 0;
    if (first) {
        if (N < first || !test_run(t, P, first, 0)) return false;
        fi = first;
    }
    size_t tl = np - last - 1, ftm = 0;
    if (tl) {
        if (tl + fi > N) return false;
        if (test_run(t, P + last + 1, tl, N - tl)) {
            ftm = tl;
        } else {
            /* a/b/ may match a/ ** / *: the trailing "" can be left out */
            if (t->f[N - 1].n != 0 || fi + tl == N) return false;
            if (!test_run(t, P + last + 1, tl, N - tl - 1)) return false;
            ftm = tl + 1;
        }
    }
    if (last == first + 1 || last == first) {
        bool saw = ftm > 0;
        for (size_t i = fi; i < N - ftm; i++) {
            saw = true;
            if (t->f[i].dot) return false;
        }
        return saw;
    }
    /* sections */
    size_t k = 0;
    for (size_t i = first + 1; i < last; i++)
        if (P[i]->kind == P_GLOBSTAR) k++;
    k++;
    size_t *sstart = util_calloc(k, sizeof *sstart), *slen = util_calloc(k, sizeof *slen);
    ptrdiff_t *after = util_calloc(k, sizeof *after);
    size_t *sums = util_calloc(k, sizeof *sums);
    {
        size_t j = 0;
        sstart[0] = first + 1;
        for (size_t i = first + 1; i < last; i++) {
            if (P[i]->kind == P_GLOBSTAR) {
                sstart[++j] = i + 1;
            } else {
                slen[j]++;
            }
        }
        for (j = 1; j < k; j++)
            sums[j] = sums[j - 1] + slen[j - 1];
        ptrdiff_t L = (ptrdiff_t)(N - ftm);
        for (j = 0; j < k; j++) /* minimatch's bound, as it computes it */
            after[j] = L - (ptrdiff_t)(sums[k - 1 - j] + slen[j]);
    }
    size_t *dots = util_calloc(N + 1, sizeof *dots); /* dots before index i */
    for (size_t i = 0; i < N; i++)
        dots[i + 1] = dots[i] + t->f[i].dot;
    size_t jmax = k < 200 ? k : 200;
    size_t W = N + 1;
    uint8_t *R = util_calloc((jmax + 1) * W, 1);
    bool saw_tail = ftm > 0;
    for (size_t j = jmax + 1; j-- > 0;) {
        for (size_t x = W; x-- > 0;) {
            uint8_t r;
            if (j == k) {
                r = dots[N] - dots[x] ? R_FALSE : (x < N || saw_tail) ? R_TRUE : R_FALSE;
            } else if ((ptrdiff_t)x > after[j]) {
                r = R_NULL;
            } else if (j >= 200) {
                r = dots[after[j] + 1] - dots[x] ? R_FALSE : R_NULL;
            } else {
                r = R_FALSE + 3; /* undecided */
                if (test_run(t, P + sstart[j], slen[j], x)) {
                    uint8_t sub = R[(j + 1) * W + x + slen[j]];
                    if (sub != R_FALSE) r = sub;
                }
                if (r == R_FALSE + 3)
                    r = t->f[x].dot                    ? R_FALSE
                        : (ptrdiff_t)x + 1 <= after[j] ? R[j * W + x + 1]
                                                       : R_NULL;
            }
            R[j * W + x] = r;
        }
    }
    bool hit = R[fi] == R_TRUE;
    free(R);
    free(dots);
    free(sums);
    free(after);
    free(slen);
    free(sstart);
    return hit;
}

static bool match_alt(struct tctx *t, const struct galt *a)
{
    if (a->gs) return match_globstar(t, a);
    size_t fi = 0, pi = 0, N = t->nf;
    for (; fi < N && pi < a->n; fi++, pi++)
        if (!test_part(t, a->p[pi], &t->f[fi])) return false;
    if (fi == N && pi == a->n) return true;
    if (fi == N) return false;
    return fi == N - 1 && t->f[fi].n == 0; /* a/ * matches a/b/ */
}

bool mcp_glob_test(const struct mcp_glob *g, const char *path)
{
    if (!g || !path || g->mode == G_NOTHING) return false;
    if (g->mode == G_EMPTY) return path[0] == '\0';
    size_t len = strlen(path);
    unit *u = util_calloc(len + 1, sizeof *u);
    size_t n = utf8_to_units(path, len, u);
    size_t nf = 1;
    for (size_t i = 0; i < n; i++)
        if (u[i] == '/' && (i == 0 || u[i - 1] != '/')) nf++;
    struct tctx t = {.g = g, .f = util_calloc(nf, sizeof(struct seg))};
    size_t st = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || u[i] == '/') {
            struct seg *f = &t.f[t.nf++];
            f->u = u + st;
            f->n = i - st;
            f->dot =
                (f->n == 1 && f->u[0] == '.') || (f->n == 2 && f->u[0] == '.' && f->u[1] == '.');
            if (f->n > t.maxlen) t.maxlen = f->n;
            while (i + 1 < n && u[i + 1] == '/')
                i++;
            st = i + 1;
        }
    }
    bool hit = false;
    for (size_t i = 0; i < g->nalts && !hit; i++)
        hit = match_alt(&t, &g->alts[i]);
    for (size_t i = 0; i < t.nf; i++)
        free(t.f[i].cp);
    free(t.f);
    free(t.mark0);
    free(t.mark1);
    free(t.queue);
    free(t.vec);
    free(t.done);
    free(u);
    return hit != g->negate;
}

bool mcp_glob_match(const char *pattern, const char *path)
{
    struct mcp_glob *g = mcp_glob_compile(pattern);
    bool r = mcp_glob_test(g, path);
    mcp_glob_free(g);
    return r;
}
