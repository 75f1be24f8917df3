/* lexer.c — Cedar tokens, string-literal escapes, and `like` patterns. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void pol_lex_init(struct pol_lexer *lx, const char *src, size_t len)
{
    lx->src = lx->cur = src;
    lx->end = src + len;
    lx->line = 1;
    lx->col = 1;
}

/* Advances one byte, counting lines and (UTF-8) characters. */
static void step(struct pol_lexer *lx)
{
    unsigned char c = (unsigned char)*lx->cur++;
    if (c == '\n') {
        lx->line++;
        lx->col = 1;
    } else if ((c & 0xc0) != 0x80) {
        lx->col++;
    }
}

static bool ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

static int lex_fail(struct strbuf *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int lex_fail(struct strbuf *msg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_reset(msg);
    sb_vprintf(msg, fmt, ap);
    va_end(ap);
    return CUSTODY_ESYNTAX;
}

int pol_lex_next(struct pol_lexer *lx, struct pol_token *t, struct strbuf *msg)
{
    for (;;) {
        while (lx->cur < lx->end && (*lx->cur == ' ' || *lx->cur == '\t' || *lx->cur == '\n' ||
                                     *lx->cur == '\r' || *lx->cur == '\f' || *lx->cur == '\v'))
            step(lx);
        if (lx->end - lx->cur >= 2 && lx->cur[0] == '/' && lx->cur[1] == '/') {
            while (lx->cur < lx->end && *lx->cur != '\n')
                step(lx);
            continue;
        }
        break;
    }
    memset(t, 0, sizeof *t);
    t->line = lx->line;
    t->col = lx->col;
    t->off = (size_t)(lx->cur - lx->src);
    t->p = lx->cur;
    if (lx->cur >= lx->end) {
        t->kind = T_EOF;
        return 0;
    }
    char c = *lx->cur;
    char n = lx->end - lx->cur >= 2 ? lx->cur[1] : '\0';
    if (ident_start(c)) {
        while (lx->cur < lx->end && ident_char(*lx->cur))
            step(lx);
        t->kind = T_IDENT;
    } else if (c >= '0' && c <= '9') {
        while (lx->cur < lx->end && *lx->cur >= '0' && *lx->cur <= '9')
            step(lx);
        t->kind = T_INT;
    } else if (c == '"') {
        step(lx);
        t->p = lx->cur;
        while (lx->cur < lx->end && *lx->cur != '"') {
            if (*lx->cur == '\\' && lx->end - lx->cur >= 2) step(lx);
            step(lx);
        }
        if (lx->cur >= lx->end) return lex_fail(msg, "unterminated string literal");
        t->kind = T_STR;
        t->len = (uint32_t)(lx->cur - t->p);
        step(lx);
        return 0;
    } else if (c == '?') {
        step(lx);
        while (lx->cur < lx->end && ident_char(*lx->cur))
            step(lx);
        t->kind = T_SLOT;
    } else {
        static const struct {
            char a, b;
            uint8_t kind;
        } ops[] = {{':', ':', T_DCOLON}, {'=', '=', T_EQ},   {'!', '=', T_NE},   {'<', '=', T_LE},
                   {'>', '=', T_GE},     {'&', '&', T_AND},  {'|', '|', T_OR},   {'(', 0, T_LPAREN},
                   {')', 0, T_RPAREN},   {'[', 0, T_LBRACK}, {']', 0, T_RBRACK}, {'{', 0, T_LBRACE},
                   {'}', 0, T_RBRACE},   {',', 0, T_COMMA},  {';', 0, T_SEMI},   {':', 0, T_COLON},
                   {'.', 0, T_DOT},      {'@', 0, T_AT},     {'<', 0, T_LT},     {'>', 0, T_GT},
                   {'!', 0, T_NOT},      {'-', 0, T_MINUS},  {'+', 0, T_PLUS},   {'*', 0, T_STAR}};
        for (size_t i = 0; i < UTIL_ARRAY_LEN(ops); i++) {
            if (ops[i].a == c && (ops[i].b == 0 || ops[i].b == n)) {
                step(lx);
                if (ops[i].b) step(lx);
                t->kind = ops[i].kind;
                t->len = (uint32_t)(lx->cur - t->p);
                return 0;
            }
        }
        if ((unsigned char)c >= 0x80)
            return lex_fail(msg, "unexpected character (only ASCII outside strings)");
        if (c == '=') return lex_fail(msg, "unexpected `=` (did you mean `==`?)");
        if (c == '&' || c == '|')
            return lex_fail(msg, "unexpected `%c` (did you mean `%c%c`?)", c, c, c);
        if ((unsigned char)c < 0x20 || c == 0x7f)
            return lex_fail(msg, "unexpected control character 0x%02x", (unsigned)c);
        return lex_fail(msg, "unexpected character `%c`", c);
    }
    t->len = (uint32_t)(lx->cur - t->p);
    return 0;
}

const char *pol_tok_name(int kind)
{
    static const char *names[] = {
        [T_EOF] = "end of input",
        [T_IDENT] = "identifier",
        [T_INT] = "integer",
        [T_STR] = "string",
        [T_LPAREN] = "`(`",
        [T_RPAREN] = "`)`",
        [T_LBRACK] = "`[`",
        [T_RBRACK] = "`]`",
        [T_LBRACE] = "`{`",
        [T_RBRACE] = "`}`",
        [T_COMMA] = "`,`",
        [T_SEMI] = "`;`",
        [T_COLON] = "`:`",
        [T_DCOLON] = "`::`",
        [T_DOT] = "`.`",
        [T_AT] = "`@`",
        [T_EQ] = "`==`",
        [T_NE] = "`!=`",
        [T_LT] = "`<`",
        [T_LE] = "`<=`",
        [T_GT] = "`>`",
        [T_GE] = "`>=`",
        [T_AND] = "`&&`",
        [T_OR] = "`||`",
        [T_NOT] = "`!`",
        [T_MINUS] = "`-`",
        [T_PLUS] = "`+`",
        [T_STAR] = "`*`",
        [T_SLOT] = "template slot",
    };
    return kind >= 0 && kind < (int)UTIL_ARRAY_LEN(names) && names[kind] ? names[kind] : "token";
}

bool pol_tok_is(const struct pol_token *t, const char *word)
{
    size_t n = strlen(word);
    return t->kind == T_IDENT && t->len == n && memcmp(t->p, word, n) == 0;
}

/* ---- escapes ---- */

/*
 * Decodes raw[0..len) into bytes out[] (at most len bytes: no escape is
 * longer than its encoding), and for patterns marks stars in star[].
 */
static int unescape(const char *raw, size_t len, char *out, bool *star, size_t *outlen,
                    struct strbuf *msg)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        char c = raw[i];
        if (c != '\\') {
            if (star) star[o] = c == '*';
            out[o++] = c;
            i++;
            continue;
        }
        if (i + 1 >= len) return lex_fail(msg, "invalid escape `\\` at the end of a string");
        char e = raw[i + 1];
        char v;
        i += 2;
        switch (e) {
        case 'n':
            v = '\n';
            break;
        case 'r':
            v = '\r';
            break;
        case 't':
            v = '\t';
            break;
        case '0':
            v = '\0';
            break;
        case '\\':
        case '\'':
        case '"':
            v = e;
            break;
        case '*':
            if (!star) return lex_fail(msg, "invalid escape `\\*` (only in `like` patterns)");
            v = '*';
            break;
        case 'x': {
            int h1 = i < len ? util_hexval(raw[i]) : -1;
            int h2 = i + 1 < len ? util_hexval(raw[i + 1]) : -1;
            if (h1 < 0 || h2 < 0 || h1 > 7)
                return lex_fail(msg, "invalid escape `\\x` (two hex digits, at most 7f)");
            v = (char)(h1 * 16 + h2);
            i += 2;
            break;
        }
        case 'u': {
            if (i >= len || raw[i] != '{')
                return lex_fail(msg, "invalid escape `\\u` (expected `\\u{...}`)");
            size_t j = i + 1;
            uint32_t cp = 0;
            int nd = 0;
            while (j < len && raw[j] != '}') {
                int h = util_hexval(raw[j]);
                if (h < 0 || ++nd > 6)
                    return lex_fail(msg, "invalid escape `\\u{...}` (1 to 6 hex digits)");
                cp = cp * 16 + (uint32_t)h;
                j++;
            }
            if (j >= len || nd == 0)
                return lex_fail(msg, "invalid escape `\\u{...}` (1 to 6 hex digits)");
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return lex_fail(msg, "invalid escape `\\u{%x}` (not a Unicode scalar value)", cp);
            size_t k = util_utf8_encode(cp, out + o);
            if (star) memset(star + o, 0, k);
            o += k;
            i = j + 1;
            continue;
        }
        case '\n':
            /* a line continuation: the newline and leading whitespace vanish */
            while (i < len && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r'))
                i++;
            continue;
        default:
            return lex_fail(msg, "invalid escape `\\%c`", e);
        }
        if (star) star[o] = false;
        out[o++] = v;
    }
    *outlen = o;
    return 0;
}

int pol_unescape(struct pol_arena *a, const char *raw, size_t len, char **out, size_t *outlen,
                 struct strbuf *msg)
{
    char *buf = pol_alloc(a, len + 1);
    int rc = unescape(raw, len, buf, NULL, outlen, msg);
    if (rc) return rc;
    buf[*outlen] = '\0';
    *out = buf;
    return 0;
}

int pol_unescape_pattern(struct pol_arena *a, const char *raw, size_t len, struct pol_pattern **out,
                         struct strbuf *msg)
{
    char *buf = util_calloc(1, len + 1);
    bool *star = util_calloc(1, len + 1);
    size_t n = 0;
    int rc = unescape(raw, len, buf, star, &n, msg);
    if (rc == 0) {
        struct pol_pattern *p = pol_alloc(a, sizeof *p + (n ? n : 1) * sizeof p->el[0]);
        p->n = (uint32_t)n;
        for (size_t i = 0; i < n; i++)
            p->el[i] = star[i] ? PAT_STAR : (uint8_t)buf[i];
        *out = p;
    }
    free(buf);
    free(star);
    return rc;
}

/* Wildcard match, byte-wise (equivalent to Cedar's character-wise match on
 * valid UTF-8): greedy, backtracking to the last star. O(n * m) worst. */
bool pol_pattern_match(const struct pol_pattern *p, const char *s, size_t n)
{
    size_t i = 0, j = 0, star_j = SIZE_MAX, star_i = 0;
    while (i < n) {
        if (j < p->n && p->el[j] == PAT_STAR) {
            star_j = j++;
            star_i = i;
        } else if (j < p->n && p->el[j] == (uint8_t)s[i]) {
            i++;
            j++;
        } else if (star_j != SIZE_MAX) {
            j = star_j + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (j < p->n && p->el[j] == PAT_STAR)
        j++;
    return j == p->n;
}
