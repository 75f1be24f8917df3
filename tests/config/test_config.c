/*
 * test_config.c — src/config: defaults, config.yaml and roots.yaml parsing
 * (every key, every kind of error with its line), writing roots.yaml,
 * reference counting, custody init (state_init) and state_dir_resolve.
 */
#include "test.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config/config.h"

#define STATE "/srv/custody-state"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Every field of two configs, roots included. */
static void assert_config_equal(const struct custody_config *a, const struct custody_config *b)
{
    ASSERT_STR_EQ(a->state_dir, b->state_dir);
    ASSERT_STR_EQ(a->node_name, b->node_name);
    ASSERT_STR_EQ(a->unix_path, b->unix_path);
    ASSERT_EQ(a->unix_mode, b->unix_mode);
    ASSERT_EQ(a->tcp_enabled, b->tcp_enabled);
    ASSERT_STR_EQ(a->tcp_address, b->tcp_address);
    ASSERT_EQ(a->tcp_port, b->tcp_port);
    ASSERT_STR_EQ(a->tls_cert, b->tls_cert);
    ASSERT_STR_EQ(a->tls_key, b->tls_key);
    ASSERT_EQ(a->max_header_bytes, b->max_header_bytes);
    ASSERT_EQ(a->max_headers, b->max_headers);
    ASSERT_EQ(a->max_uri_bytes, b->max_uri_bytes);
    ASSERT(a->max_body_bytes == b->max_body_bytes);
    ASSERT_EQ(a->max_connections, b->max_connections);
    ASSERT_EQ(a->max_streams, b->max_streams);
    ASSERT_EQ(a->header_timeout_ms, b->header_timeout_ms);
    ASSERT_EQ(a->idle_timeout_ms, b->idle_timeout_ms);
    ASSERT_EQ(a->io_timeout_ms, b->io_timeout_ms);
    ASSERT_EQ(a->drain_timeout_ms, b->drain_timeout_ms);
    ASSERT_EQ(a->list_max_entries, b->list_max_entries);
    ASSERT_EQ(a->versions, b->versions);
    ASSERT_EQ(a->log_level, b->log_level);
    ASSERT_EQ(a->token_ttl_default_s, b->token_ttl_default_s);
    ASSERT_EQ(a->token_ttl_max_s, b->token_ttl_max_s);
    ASSERT_EQ(a->token_ttl_sensitive_s, b->token_ttl_sensitive_s);
    ASSERT_EQ(a->nroots, b->nroots);
    for (size_t i = 0; i < a->nroots; i++) {
        const struct cfg_root *x = &a->roots[i], *y = &b->roots[i];
        ASSERT_STR_EQ(x->name, y->name);
        ASSERT_STR_EQ(x->path, y->path);
        ASSERT_EQ(x->nlabels, y->nlabels);
        for (size_t j = 0; j < x->nlabels; j++) {
            ASSERT_STR_EQ(x->labels[j].key, y->labels[j].key);
            ASSERT_STR_EQ(x->labels[j].value, y->labels[j].value);
        }
    }
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* Parses config.yaml text that must be valid; returns the config (unref it). */
static struct custody_config *main_ok(const char *yaml)
{
    struct custody_config *cfg = config_new_default(STATE);
    struct strbuf err = STRBUF_INIT;
    int rc = config_parse_main(cfg, "config.yaml", yaml, strlen(yaml), &err);
    if (rc != 0)
        TEST_FAIL_("parse failed (%d):\n%s--- input:\n%s", rc, err.buf ? err.buf : "", yaml);
    ASSERT_EQ(0, err.len);
    sb_free(&err);
    return cfg;
}

/* Parses text that must be refused; checks the config was left exactly at
 * its defaults and returns the error text (free it). */
static char *main_err_len(const char *yaml, size_t len)
{
    struct custody_config *cfg = config_new_default(STATE);
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ECONFIG, config_parse_main(cfg, "config.yaml", yaml, len, &err));
    ASSERT(err.len > 0);
    ASSERT(err.buf[err.len - 1] == '\n');
    struct custody_config *defaults = config_new_default(STATE);
    assert_config_equal(defaults, cfg);
    config_unref(defaults);
    config_unref(cfg);
    return sb_detach(&err);
}

static char *main_err(const char *yaml)
{
    return main_err_len(yaml, strlen(yaml));
}

/* yaml gives exactly one problem, the line `expected`. */
static void expect_main_error(const char *yaml, const char *expected)
{
    char *err = main_err(yaml);
    struct strbuf want = STRBUF_INIT;
    sb_printf(&want, "%s\n", expected);
    if (strcmp(err, want.buf) != 0)
        TEST_FAIL_("for input:\n%s\nexpected: %s\ngot:      %s", yaml, want.buf, err);
    sb_free(&want);
    free(err);
}

/* yaml is refused with a message containing `needle`. */
static void expect_main_error_containing(const char *yaml, const char *needle)
{
    char *err = main_err(yaml);
    ASSERT_STR_CONTAINS(err, needle);
    free(err);
}

static struct custody_config *roots_ok(const char *yaml)
{
    struct custody_config *cfg = config_new_default(STATE);
    struct strbuf err = STRBUF_INIT;
    int rc = config_parse_roots(cfg, "roots.yaml", yaml, strlen(yaml), &err);
    if (rc != 0)
        TEST_FAIL_("parse failed (%d):\n%s--- input:\n%s", rc, err.buf ? err.buf : "", yaml);
    ASSERT_EQ(0, err.len);
    sb_free(&err);
    return cfg;
}

/* roots.yaml text that must be refused; the roots already there stay. */
static char *roots_err(const char *yaml)
{
    struct custody_config *cfg = roots_ok("roots:\n  - name: keep\n    path: /keep\n");
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ECONFIG, config_parse_roots(cfg, "roots.yaml", yaml, strlen(yaml), &err));
    ASSERT(err.len > 0);
    ASSERT_EQ(1, cfg->nroots);
    ASSERT_STR_EQ("keep", cfg->roots[0].name);
    config_unref(cfg);
    return sb_detach(&err);
}

static void expect_roots_error(const char *yaml, const char *expected)
{
    char *err = roots_err(yaml);
    struct strbuf want = STRBUF_INIT;
    sb_printf(&want, "%s\n", expected);
    if (strcmp(err, want.buf) != 0)
        TEST_FAIL_("for input:\n%s\nexpected: %s\ngot:      %s", yaml, want.buf, err);
    sb_free(&want);
    free(err);
}

static void expect_roots_error_containing(const char *yaml, const char *needle)
{
    char *err = roots_err(yaml);
    ASSERT_STR_CONTAINS(err, needle);
    free(err);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    if (util_read_file(path, 1 << 24, &text, NULL) != 0) TEST_FAIL_("cannot read %s", path);
    return text;
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) TEST_FAIL_("stat %s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

/* A fresh, not yet existing state directory path under the test tmpdir. */
static char *fresh_state_dir(const char *name)
{
    return util_path_join(test_tmpdir(), name);
}

static char *state_file(const char *dir, const char *rel)
{
    return util_path_join(dir, rel);
}

/* ------------------------------------------------------------------------ */
/* Defaults                                                                 */
/* ------------------------------------------------------------------------ */

TEST(config_defaults)
{
    struct custody_config *cfg = config_new_default(STATE);
    ASSERT_EQ(1, cfg->refs);
    ASSERT_STR_EQ(STATE, cfg->state_dir);
    char host[256] = "";
    ASSERT_OK(gethostname(host, sizeof host));
    ASSERT_STR_EQ(host, cfg->node_name);
    ASSERT_STR_EQ(STATE "/custodyd.sock", cfg->unix_path);
    ASSERT_EQ(0660, cfg->unix_mode);
    ASSERT_EQ(true, cfg->tcp_enabled);
    ASSERT_STR_EQ("127.0.0.1", cfg->tcp_address);
    ASSERT_EQ(8443, cfg->tcp_port);
    ASSERT_STR_EQ(STATE "/tls/cert.pem", cfg->tls_cert);
    ASSERT_STR_EQ(STATE "/tls/key.pem", cfg->tls_key);
    ASSERT_EQ(16384, cfg->max_header_bytes);
    ASSERT_EQ(100, cfg->max_headers);
    ASSERT_EQ(8192, cfg->max_uri_bytes);
    ASSERT(cfg->max_body_bytes == UINT64_C(17179869184));
    ASSERT_EQ(4096, cfg->max_connections);
    ASSERT_EQ(128, cfg->max_streams);
    ASSERT_EQ(10000, cfg->header_timeout_ms);
    ASSERT_EQ(60000, cfg->idle_timeout_ms);
    ASSERT_EQ(30000, cfg->io_timeout_ms);
    ASSERT_EQ(30000, cfg->drain_timeout_ms);
    ASSERT_EQ(100000, cfg->list_max_entries);
    ASSERT_EQ(true, cfg->versions);
    ASSERT_EQ(LOG_INFO, cfg->log_level);
    ASSERT_EQ(0, cfg->nroots);
    ASSERT_NULL(cfg->roots);
    config_unref(cfg);
}

TEST(config_defaults_state_dir_made_absolute)
{
    ASSERT_OK(chdir(test_tmpdir()));
    char *cwd = getcwd(NULL, 0);
    struct custody_config *cfg = config_new_default("./var//custody/");
    char *want = util_path_join(cwd, "var/custody");
    ASSERT_STR_EQ(want, cfg->state_dir);
    char *sock = util_path_join(want, "custodyd.sock");
    ASSERT_STR_EQ(sock, cfg->unix_path);
    free(sock);
    free(want);
    free(cwd);
    config_unref(cfg);
}

TEST(config_path_absolute_tidies)
{
    char *p = config_path_absolute("/a//b/./c/");
    ASSERT_STR_EQ("/a/b/c", p);
    free(p);
    p = config_path_absolute("/");
    ASSERT_STR_EQ("/", p);
    free(p);
    p = config_path_absolute("/a/../b"); /* ".." is kept: it may cross a symlink */
    ASSERT_STR_EQ("/a/../b", p);
    free(p);
    ASSERT_OK(chdir(test_tmpdir()));
    char *cwd = getcwd(NULL, 0);
    p = config_path_absolute(".");
    ASSERT_STR_EQ(cwd, p);
    free(p);
    p = config_path_absolute("x/./y");
    char *want = util_path_join(cwd, "x/y");
    ASSERT_STR_EQ(want, p);
    free(want);
    free(p);
    free(cwd);
}

/* ------------------------------------------------------------------------ */
/* config.yaml: valid input                                                 */
/* ------------------------------------------------------------------------ */

static const char full_config[] = "# every key, none at its default\n"
                                  "node:\n"
                                  "  name: edge-7\n"
                                  "listen:\n"
                                  "  unix:\n"
                                  "    path: /run/custody/api.sock\n"
                                  "    mode: \"0600\"\n"
                                  "  tcp:\n"
                                  "    enabled: true\n"
                                  "    address: \"::1\"\n"
                                  "    port: 9443\n"
                                  "tls:\n"
                                  "  cert: certs/server.pem   # relative: in the state dir\n"
                                  "  key: /etc/custody/server.key\n"
                                  "limits:\n"
                                  "  max_header_bytes: 32768\n"
                                  "  max_headers: 50\n"
                                  "  max_uri_bytes: 4096\n"
                                  "  max_body_bytes: 1073741824\n"
                                  "  max_connections: 100\n"
                                  "  max_streams: 16\n"
                                  "  header_timeout_ms: 5000\n"
                                  "  idle_timeout_ms: 120000\n"
                                  "  io_timeout_ms: 15000\n"
                                  "  drain_timeout_ms: 0\n"
                                  "  list_max_entries: 500\n"
                                  "store:\n"
                                  "  versions: false\n"
                                  "log:\n"
                                  "  level: debug\n";

TEST(config_full_valid)
{
    struct custody_config *cfg = main_ok(full_config);
    ASSERT_STR_EQ("edge-7", cfg->node_name);
    ASSERT_STR_EQ("/run/custody/api.sock", cfg->unix_path);
    ASSERT_EQ(0600, cfg->unix_mode);
    ASSERT_EQ(true, cfg->tcp_enabled);
    ASSERT_STR_EQ("::1", cfg->tcp_address);
    ASSERT_EQ(9443, cfg->tcp_port);
    ASSERT_STR_EQ(STATE "/certs/server.pem", cfg->tls_cert);
    ASSERT_STR_EQ("/etc/custody/server.key", cfg->tls_key);
    ASSERT_EQ(32768, cfg->max_header_bytes);
    ASSERT_EQ(50, cfg->max_headers);
    ASSERT_EQ(4096, cfg->max_uri_bytes);
    ASSERT(cfg->max_body_bytes == UINT64_C(1073741824));
    ASSERT_EQ(100, cfg->max_connections);
    ASSERT_EQ(16, cfg->max_streams);
    ASSERT_EQ(5000, cfg->header_timeout_ms);
    ASSERT_EQ(120000, cfg->idle_timeout_ms);
    ASSERT_EQ(15000, cfg->io_timeout_ms);
    ASSERT_EQ(0, cfg->drain_timeout_ms);
    ASSERT_EQ(500, cfg->list_max_entries);
    ASSERT_EQ(false, cfg->versions);
    ASSERT_EQ(LOG_DEBUG, cfg->log_level);
    ASSERT_STR_EQ(STATE, cfg->state_dir); /* not a setting */
    config_unref(cfg);
}

TEST(config_flow_style_is_fine)
{
    struct custody_config *cfg =
        main_ok("{listen: {tcp: {port: 1234, enabled: false}}, log: {level: 'warn'}}");
    ASSERT_EQ(1234, cfg->tcp_port);
    ASSERT_EQ(LOG_WARN, cfg->log_level);
    config_unref(cfg);
}

TEST(config_empty_file_gives_defaults)
{
    static const char *const inputs[] = {
        "",
        "\n\n",
        "# only a comment\n   # and another\n",
        "---\n",
        "--- # explicit document\n...\n",
        "~\n",
        "{}\n",
        "%YAML 1.1\n---\n",
        "\xef\xbb\xbf# a UTF-8 byte order mark\n",
    };
    struct custody_config *defaults = config_new_default(STATE);
    for (size_t i = 0; i < UTIL_ARRAY_LEN(inputs); i++) {
        struct custody_config *cfg = main_ok(inputs[i]);
        assert_config_equal(defaults, cfg);
        config_unref(cfg);
    }
    config_unref(defaults);
}

TEST(config_empty_sections_are_fine)
{
    struct custody_config *cfg = main_ok("node:\nlisten:\n  unix:\n  tcp: {}\ntls: ~\n"
                                         "limits: null\nstore:\nlog:\n");
    struct custody_config *defaults = config_new_default(STATE);
    assert_config_equal(defaults, cfg);
    config_unref(defaults);
    config_unref(cfg);
}

/* Every integer setting: its bounds are accepted, one past them is refused
 * with the exact message. */
struct int_key {
    const char *section, *key;
    uint64_t min, max;
};
static const struct int_key int_keys[] = {
    {"listen.tcp", "port", 0, 65535},
    {"limits", "max_header_bytes", 1024, 1048576},
    {"limits", "max_headers", 8, 1000},
    {"limits", "max_uri_bytes", 256, 65536},
    {"limits", "max_body_bytes", 0, UINT64_C(4611686018427387904)},
    {"limits", "max_connections", 1, 1000000},
    {"limits", "max_streams", 1, 1000},
    {"limits", "header_timeout_ms", 100, 3600000},
    {"limits", "idle_timeout_ms", 100, 86400000},
    {"limits", "io_timeout_ms", 100, 3600000},
    {"limits", "drain_timeout_ms", 0, 3600000},
    {"limits", "list_max_entries", 1, 10000000},
    {"tokens", "ttl_default_s", 1, 86400},
    {"tokens", "ttl_max_s", 1, 86400},
    {"tokens", "ttl_sensitive_s", 1, 86400},
};

static uint64_t int_value(const struct custody_config *c, const char *key)
{
    if (!strcmp(key, "port")) return (uint64_t)c->tcp_port;
    if (!strcmp(key, "max_header_bytes")) return c->max_header_bytes;
    if (!strcmp(key, "max_headers")) return c->max_headers;
    if (!strcmp(key, "max_uri_bytes")) return c->max_uri_bytes;
    if (!strcmp(key, "max_body_bytes")) return c->max_body_bytes;
    if (!strcmp(key, "max_connections")) return c->max_connections;
    if (!strcmp(key, "max_streams")) return c->max_streams;
    if (!strcmp(key, "header_timeout_ms")) return c->header_timeout_ms;
    if (!strcmp(key, "idle_timeout_ms")) return c->idle_timeout_ms;
    if (!strcmp(key, "io_timeout_ms")) return c->io_timeout_ms;
    if (!strcmp(key, "drain_timeout_ms")) return c->drain_timeout_ms;
    if (!strcmp(key, "list_max_entries")) return c->list_max_entries;
    if (!strcmp(key, "ttl_default_s")) return c->token_ttl_default_s;
    if (!strcmp(key, "ttl_max_s")) return c->token_ttl_max_s;
    if (!strcmp(key, "ttl_sensitive_s")) return c->token_ttl_sensitive_s;
    TEST_FAIL_("unknown key %s", key);
}

/* "limits:\n  KEY: VALUE\n", or the listen.tcp nesting for port; the value
 * is on line 2 or 3. */
static char *int_yaml(const struct int_key *k, const char *value, size_t *line)
{
    struct strbuf sb = STRBUF_INIT;
    if (!strcmp(k->section, "listen.tcp")) {
        sb_printf(&sb, "listen:\n  tcp:\n    %s: %s\n", k->key, value);
        *line = 3;
    } else {
        sb_printf(&sb, "%s:\n  %s: %s\n", k->section, k->key, value);
        *line = 2;
    }
    return sb_detach(&sb);
}

TEST(config_every_integer_key_bounds)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(int_keys); i++) {
        const struct int_key *k = &int_keys[i];
        size_t line;
        char v[32];
        uint64_t ok_values[] = {k->min, k->max, k->min + (k->max - k->min) / 2};
        for (size_t j = 0; j < UTIL_ARRAY_LEN(ok_values); j++) {
            snprintf(v, sizeof v, "%" PRIu64, ok_values[j]);
            char *yaml = int_yaml(k, v, &line);
            struct custody_config *cfg = main_ok(yaml);
            ASSERT(int_value(cfg, k->key) == ok_values[j]);
            config_unref(cfg);
            free(yaml);
        }
        uint64_t bad_values[] = {k->max + 1, k->min - 1};
        for (size_t j = 0; j < UTIL_ARRAY_LEN(bad_values); j++) {
            if (j == 1 && k->min == 0) continue;
            snprintf(v, sizeof v, "%" PRIu64, bad_values[j]);
            char *yaml = int_yaml(k, v, &line);
            struct strbuf want = STRBUF_INIT;
            sb_printf(&want,
                      "config.yaml:%zu: %s.%s: expected an integer between %" PRIu64 " and %" PRIu64
                      ", got \"%s\"",
                      line, k->section, k->key, k->min, k->max, v);
            expect_main_error(yaml, want.buf);
            sb_free(&want);
            free(yaml);
        }
    }
}

TEST(config_integer_syntax_is_strict)
{
    static const char *const bad[] = {
        "abc",
        "-5",
        "+5",
        "1_000",
        "0x10",
        "010",
        "1.5",
        "1e3",
        "8 8",
        "00",
        "-0",
        "0o7",
        "1,000",
        "∞",
        "''",
        "\"\"",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "limits:\n  max_headers: %s\n", bad[i]);
        expect_main_error_containing(
            yaml.buf, "config.yaml:2: limits.max_headers: expected an integer between 8 and 1000");
        sb_free(&yaml);
    }
    expect_main_error("limits:\n  max_headers: abc\n",
                      "config.yaml:2: limits.max_headers: expected an integer between 8 and 1000, "
                      "got \"abc\"");
    expect_main_error("limits:\n  max_headers: -5\n",
                      "config.yaml:2: limits.max_headers: expected an integer between 8 and 1000, "
                      "got \"-5\"");
    /* the largest 64-bit number and beyond: no overflow into range */
    expect_main_error_containing("limits:\n  max_body_bytes: 18446744073709551615\n",
                                 "got \"18446744073709551615\"");
    expect_main_error_containing("limits:\n  max_body_bytes: 18446744073709551616\n",
                                 "got \"18446744073709551616\"");
    /* port is an int field: a value past INT_MAX must not wrap into range */
    expect_main_error_containing("listen:\n  tcp:\n    port: 4294967297\n", "between 0 and 65535");
}

TEST(config_quoted_number_gets_a_hint)
{
    expect_main_error("listen:\n  tcp:\n    port: \"8443\"\n",
                      "config.yaml:3: listen.tcp.port: expected an integer between 0 and 65535 "
                      "(without quotes), got \"8443\"");
}

TEST(config_wrong_type_for_a_value)
{
    expect_main_error("limits:\n  max_headers:\n    a: 1\n",
                      "config.yaml:3: limits.max_headers: expected an integer between 8 and 1000, "
                      "got a mapping");
    expect_main_error("limits:\n  max_headers: [1, 2]\n",
                      "config.yaml:2: limits.max_headers: expected an integer between 8 and 1000, "
                      "got a list");
    expect_main_error("limits:\n  max_headers:\n",
                      "config.yaml:2: limits.max_headers: expected an integer between 8 and 1000, "
                      "got an empty value");
    expect_main_error("node:\n  name: {first: a}\n",
                      "config.yaml:2: node.name: expected a non-empty string, got a mapping");
    expect_main_error("store:\n  versions: [true]\n",
                      "config.yaml:2: store.versions: expected true or false, got a list");
    expect_main_error("log:\n  level:\n    - info\n",
                      "config.yaml:3: log.level: expected one of error, warn, info, debug, got a "
                      "list");
}

TEST(config_wrong_type_for_a_section)
{
    expect_main_error("limits: 5\n", "config.yaml:1: limits: expected a mapping, got \"5\"");
    expect_main_error("\n\nlisten:\n  - unix\n",
                      "config.yaml:4: listen: expected a mapping, got a list");
    expect_main_error("listen:\n  tcp: on\n",
                      "config.yaml:2: listen.tcp: expected a mapping, got \"on\"");
    expect_main_error("- node\n- listen\n",
                      "config.yaml:1: expected a mapping at the top level, got a list");
    expect_main_error("just text\n",
                      "config.yaml:1: expected a mapping at the top level, got \"just text\"");
}

TEST(config_unknown_key_top_level)
{
    expect_main_error("node:\n  name: a\nnodes:\n  name: b\n",
                      "config.yaml:3: unknown key \"nodes\" at the top level (expected one of: "
                      "node, listen, tls, limits, store, log, audit, tokens, models)");
}

TEST(config_unknown_key_nested)
{
    expect_main_error("limits:\n  max_headers: 10\n  foo: 1\n",
                      "config.yaml:3: unknown key \"foo\" in limits (expected one of: "
                      "max_header_bytes, max_headers, max_uri_bytes, max_body_bytes, "
                      "max_connections, max_streams, header_timeout_ms, idle_timeout_ms, "
                      "io_timeout_ms, drain_timeout_ms, list_max_entries)");
    expect_main_error("listen:\n  tcp:\n    enabled: false\n    host: x\n",
                      "config.yaml:4: unknown key \"host\" in listen.tcp (expected one of: "
                      "enabled, address, port)");
    expect_main_error("listen:\n  unix:\n    Path: /x\n",
                      "config.yaml:3: unknown key \"Path\" in listen.unix (expected one of: "
                      "path, mode)");
    /* the unknown key's value is not looked at (no second error) */
    expect_main_error("tls:\n  ca:\n    nested: [1, 2]\n",
                      "config.yaml:2: unknown key \"ca\" in tls (expected one of: cert, key)");
}

TEST(config_keys_must_be_strings)
{
    expect_main_error_containing("? [a, b]\n: 1\n", "config.yaml:1: keys must be strings, got a "
                                                    "list at the top level");
    expect_main_error_containing("limits:\n  ? {a: 1}\n  : 2\n",
                                 "config.yaml:2: keys must be strings, got a mapping in limits");
}

TEST(config_unknown_key_is_escaped)
{
    /* a key with a quote, a newline and a NUL stays on one message line */
    char *err = main_err("\"a\\\"b\\nc\\0d\": 1\n");
    ASSERT_STR_CONTAINS(err, "unknown key \"a\\\"b\\x0ac\\x00d\" at the top level");
    ASSERT_EQ(1, count_lines(err));
    free(err);
    /* a long key is cut */
    struct strbuf yaml = STRBUF_INIT;
    for (int i = 0; i < 500; i++)
        sb_puts(&yaml, "k");
    sb_puts(&yaml, ": 1\n");
    err = main_err(yaml.buf);
    ASSERT_STR_CONTAINS(err, "kkkk\"... at the top level");
    ASSERT_LT(strlen(err), 300);
    free(err);
    sb_free(&yaml);
}

TEST(config_duplicate_keys)
{
    expect_main_error("log:\n  level: info\nlog:\n  level: debug\n",
                      "config.yaml:3: duplicate key \"log\" at the top level (first at line 1)");
    expect_main_error("listen:\n  tcp:\n    port: 1\n    enabled: false\n    port: 2\n",
                      "config.yaml:5: duplicate key \"port\" in listen.tcp (first at line 3)");
    expect_main_error("{limits: {max_headers: 10, max_headers: 20}}",
                      "config.yaml:1: duplicate key \"max_headers\" in limits (first at line 1)");
}

TEST(config_booleans_are_strict)
{
    struct custody_config *cfg = main_ok("store:\n  versions: false\nlisten:\n  tcp:\n"
                                         "    enabled: true\n");
    ASSERT_EQ(false, cfg->versions);
    ASSERT_EQ(true, cfg->tcp_enabled);
    config_unref(cfg);
    static const char *const bad[] = {"yes", "no", "on", "off",      "True",    "FALSE",
                                      "1",   "0",  "y",  "\"true\"", "'false'", "~"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "store:\n  versions: %s\n", bad[i]);
        expect_main_error_containing(yaml.buf,
                                     "config.yaml:2: store.versions: expected true or false");
        sb_free(&yaml);
    }
    expect_main_error("store:\n  versions: yes\n",
                      "config.yaml:2: store.versions: expected true or false, got \"yes\"");
    expect_main_error("store:\n  versions: \"true\"\n",
                      "config.yaml:2: store.versions: expected true or false (without quotes), "
                      "got \"true\"");
}

TEST(config_socket_mode)
{
    static const struct {
        const char *text;
        mode_t mode;
    } ok[] = {
        {"\"0660\"", 0660}, {"0660", 0660}, {"'0600'", 0600}, {"660", 0660},
        {"0o640", 0640},    {"0777", 0777}, {"0", 0},         {"\"0000\"", 0},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ok); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "listen:\n  unix:\n    mode: %s\n", ok[i].text);
        struct custody_config *cfg = main_ok(yaml.buf);
        ASSERT_EQ(ok[i].mode, cfg->unix_mode);
        config_unref(cfg);
        sb_free(&yaml);
    }
    static const char *const bad[] = {"\"0999\"", "0888",  "01000",  "1777",  "rw-rw----",
                                      "-1",       "0x1ff", "\"\"",   "",      "00660",
                                      "0o",       "6 6",   "[0660]", "0o1000"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "listen:\n  unix:\n    mode: %s\n", bad[i]);
        expect_main_error_containing(
            yaml.buf, "config.yaml:3: listen.unix.mode: expected an octal mode from 0000 to 0777");
        sb_free(&yaml);
    }
    expect_main_error("listen:\n  unix:\n    mode: \"0999\"\n",
                      "config.yaml:3: listen.unix.mode: expected an octal mode from 0000 to 0777 "
                      "such as \"0660\", got \"0999\"");
}

TEST(config_log_levels)
{
    static const struct {
        const char *name;
        enum log_level level;
    } levels[] = {
        {"error", LOG_ERROR}, {"warn", LOG_WARN}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(levels); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "log:\n  level: %s\n", levels[i].name);
        struct custody_config *cfg = main_ok(yaml.buf);
        ASSERT_EQ(levels[i].level, cfg->log_level);
        config_unref(cfg);
        sb_free(&yaml);
    }
    expect_main_error("log:\n  level: verbose\n",
                      "config.yaml:2: log.level: expected one of error, warn, info, debug, got "
                      "\"verbose\"");
    expect_main_error_containing("log:\n  level: INFO\n", "got \"INFO\"");
    expect_main_error_containing("log:\n  level: \"info\\0x\"\n", "got \"info\\x00x\"");
    expect_main_error_containing("log:\n  level: warning\n", "log.level: expected one of");
}

TEST(config_paths_resolved_against_state_dir)
{
    struct custody_config *cfg = main_ok("listen:\n  unix:\n    path: run/api.sock\n"
                                         "tls:\n  cert: ./tls/other.pem\n  key: /abs/key.pem\n");
    ASSERT_STR_EQ(STATE "/run/api.sock", cfg->unix_path);
    ASSERT_STR_EQ(STATE "/tls/other.pem", cfg->tls_cert);
    ASSERT_STR_EQ("/abs/key.pem", cfg->tls_key);
    config_unref(cfg);
}

TEST(config_socket_path_must_fit)
{
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "listen:\n  unix:\n    path: /");
    for (int i = 0; i < 107; i++)
        sb_puts(&yaml, "s");
    sb_puts(&yaml, "\n");
    expect_main_error_containing(yaml.buf, "config.yaml:3: listen.unix.path: the path \"/sss");
    expect_main_error_containing(yaml.buf, "is too long (108 bytes; at most 107)");
    sb_free(&yaml);
    /* 107 bytes is fine */
    sb_puts(&yaml, "listen:\n  unix:\n    path: /");
    for (int i = 0; i < 106; i++)
        sb_puts(&yaml, "s");
    sb_puts(&yaml, "\n");
    struct custody_config *cfg = main_ok(yaml.buf);
    ASSERT_EQ(107, strlen(cfg->unix_path));
    config_unref(cfg);
    sb_free(&yaml);
    /* a relative one counts with the state directory in front */
    sb_puts(&yaml, "listen:\n  unix:\n    path: ");
    for (int i = 0; i < 100; i++)
        sb_puts(&yaml, "s");
    sb_puts(&yaml, "\n");
    expect_main_error_containing(yaml.buf, "is too long");
    sb_free(&yaml);
}

TEST(config_strings_are_checked)
{
    expect_main_error("node:\n  name:\n",
                      "config.yaml:2: node.name: expected a non-empty string, got an empty value");
    expect_main_error("node:\n  name: \"\"\n",
                      "config.yaml:2: node.name: expected a non-empty string, got \"\"");
    expect_main_error("node:\n  name: \"a\\nb\"\n",
                      "config.yaml:2: node.name: must not contain control characters, got "
                      "\"a\\x0ab\"");
    expect_main_error_containing("tls:\n  cert: \"/etc/x\\0/../../shadow\"\n",
                                 "tls.cert: must not contain control characters");
    expect_main_error_containing("tls:\n  key: \"\\t\"\n", "tls.key: must not contain control");
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "node:\n  name: ");
    for (int i = 0; i < 256; i++)
        sb_puts(&yaml, "n");
    sb_puts(&yaml, "\n");
    expect_main_error(yaml.buf, "config.yaml:2: node.name: longer than 255 bytes");
    sb_free(&yaml);
    /* plain text that looks like a number or boolean is still a string */
    struct custody_config *cfg = main_ok("node:\n  name: 1234\n");
    ASSERT_STR_EQ("1234", cfg->node_name);
    config_unref(cfg);
    cfg = main_ok("node:\n  name: \"nœud ☃\"\n");
    ASSERT_STR_EQ("nœud ☃", cfg->node_name);
    config_unref(cfg);
}

TEST(config_tcp_address)
{
    static const char *const ok[] = {"127.0.0.1",   "0.0.0.0",   "\"::\"",          "\"::1\"",
                                     "\"fe80::1\"", "localhost", "gw-1.example.org"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(ok); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "listen:\n  tcp:\n    address: %s\n", ok[i]);
        struct custody_config *cfg = main_ok(yaml.buf);
        config_unref(cfg);
        sb_free(&yaml);
    }
    static const char *const bad[] = {"\"[::1]\"",   "\"a b\"", "-host",
                                      "\"host:80\"", "\"*\"",   "\"http://x\""};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "listen:\n  tcp:\n    address: %s\n", bad[i]);
        expect_main_error_containing(yaml.buf, "config.yaml:3: listen.tcp.address: expected an "
                                               "IP address or host name");
        sb_free(&yaml);
    }
}

/* ------------------------------------------------------------------------ */
/* config.yaml: YAML-level problems                                         */
/* ------------------------------------------------------------------------ */

TEST(config_yaml_syntax_error_has_its_line)
{
    expect_main_error("node:\n  name: x\n bad: indentation\n",
                      "config.yaml:3: YAML syntax error: did not find expected key (while parsing "
                      "a block mapping at line 1)");
    expect_main_error("a: b\n c: d\n",
                      "config.yaml:2: YAML syntax error: mapping values are not allowed in this "
                      "context");
    expect_main_error_containing("node:\n\tname: x\n", "config.yaml:2: YAML syntax error: found "
                                                       "character that cannot start any token");
    expect_main_error_containing("log:\n  level: \"info\n", "YAML syntax error: found unexpected "
                                                            "end of stream");
    expect_main_error_containing("limits: {max_headers: 10\n\n\n",
                                 "(while parsing a flow mapping at line 1)");
    /* a control character libyaml refuses, with its line */
    expect_main_error("node:\n  name: a\x01"
                      "b\n",
                      "config.yaml:2: control characters are not allowed");
}

TEST(config_non_utf8_is_refused_with_its_line)
{
    expect_main_error("node:\n  name: caf\xe9\n", "config.yaml:2: is not valid UTF-8");
    expect_main_error("# ok\n# ok\nlog:\n  level: info # \xc0\xaf overlong\n",
                      "config.yaml:4: is not valid UTF-8");
    /* UTF-16 is not accepted either */
    expect_main_error("\xff\xfe"
                      "l\0o\0g\0",
                      "config.yaml:1: is not valid UTF-8");
}

TEST(config_nul_byte_is_refused)
{
    static const char text[] = "log:\n  level: info\0debug\n";
    char *err = main_err_len(text, sizeof text - 1);
    ASSERT_STR_EQ("config.yaml:2: contains a NUL byte\n", err);
    free(err);
}

TEST(config_file_too_large)
{
    size_t len = CONFIG_MAX_FILE_BYTES + 1;
    char *text = util_calloc(1, len + 1);
    memset(text, '#', len);
    char *err = main_err_len(text, len);
    ASSERT_STR_EQ("config.yaml:1: file is too large (1048577 bytes; at most 1048576)\n", err);
    free(err);
    /* exactly the limit is read (all comment: defaults) */
    text[0] = '#';
    struct custody_config *cfg = config_new_default(STATE);
    ASSERT_OK(config_parse_main(cfg, "config.yaml", text, CONFIG_MAX_FILE_BYTES, NULL));
    config_unref(cfg);
    free(text);
}

TEST(config_aliases_and_anchors_are_refused)
{
    char *err = main_err("limits:\n  max_headers: &n 10\n  max_streams: *n\n");
    ASSERT_STR_EQ("config.yaml:2: anchors and aliases are not supported (found &n)\n"
                  "config.yaml:3: aliases are not supported (found *n)\n",
                  err);
    free(err);
    expect_main_error_containing("base: &b {a: 1}\nlimits:\n  <<: *b\n",
                                 "config.yaml:1: anchors and aliases are not supported");
}

TEST(config_billion_laughs_is_cheap)
{
    /* each level would double the size if aliases were expanded */
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (int i = 1; i < 40; i++) {
        sb_printf(&yaml, "a%d: &a%d [", i, i);
        for (int j = 0; j < 9; j++)
            sb_printf(&yaml, "%s*a%d", j ? ", " : "", i - 1);
        sb_puts(&yaml, "]\n");
    }
    uint64_t t0 = util_monotonic_ns();
    char *err = main_err(yaml.buf);
    ASSERT_LT(util_monotonic_ns() - t0, UINT64_C(2000000000));
    ASSERT_STR_CONTAINS(err, "config.yaml:1: anchors and aliases are not supported");
    ASSERT_STR_CONTAINS(err, "more problems not shown");
    free(err);
    sb_free(&yaml);
}

TEST(config_tags_are_refused)
{
    expect_main_error("listen:\n  tcp:\n    port: !!int 8443\n",
                      "config.yaml:3: tags are not supported (found \"tag:yaml.org,2002:int\")");
    expect_main_error_containing("node: !custom {name: x}\n",
                                 "config.yaml:1: tags are not supported (found \"!custom\")");
    expect_main_error_containing("%TAG !e! tag:example.com,2000:\n---\nlog: {level: info}\n",
                                 "config.yaml:1: %TAG directives are not supported");
    expect_main_error_containing("log:\n  level: !!str info\n", "tags are not supported");
}

TEST(config_deep_nesting_is_refused)
{
    struct strbuf yaml = STRBUF_INIT;
    for (int i = 0; i < 1000; i++)
        sb_puts(&yaml, "[");
    char *err = main_err(yaml.buf);
    ASSERT_STR_EQ("config.yaml:1: nesting is deeper than 32 levels\n", err);
    free(err);
    sb_free(&yaml);
    /* block style, one level per line */
    for (int i = 0; i < 40; i++) {
        for (int j = 0; j < i; j++)
            sb_puts(&yaml, " ");
        sb_printf(&yaml, "k%d:\n", i);
    }
    err = main_err(yaml.buf);
    ASSERT_STR_EQ("config.yaml:33: nesting is deeper than 32 levels\n", err);
    free(err);
    sb_free(&yaml);
}

TEST(config_huge_flat_input_is_fast)
{
    /* a 1 MiB flow list: refused quickly as the wrong type */
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "limits: [");
    while (yaml.len < CONFIG_MAX_FILE_BYTES - 8)
        sb_puts(&yaml, "1, ");
    sb_puts(&yaml, "1]");
    uint64_t t0 = util_monotonic_ns();
    expect_main_error(yaml.buf, "config.yaml:1: limits: expected a mapping, got a list");
    ASSERT_LT(util_monotonic_ns() - t0, UINT64_C(5000000000));
    sb_free(&yaml);
}

TEST(config_one_document_only)
{
    expect_main_error("log: {level: info}\n---\nlog: {level: debug}\n",
                      "config.yaml:2: only one YAML document is allowed");
}

TEST(config_all_problems_are_reported)
{
    char *err = main_err("node:\n"
                         "  name: \"\"\n" /* 2 */
                         "listen:\n"
                         "  tcp:\n"
                         "    port: 70000\n"    /* 5 */
                         "    enabled: maybe\n" /* 6 */
                         "limits:\n"
                         "  max_streams: 1001\n" /* 8 */
                         "  max_headers: 100\n"
                         "  typo_key: 3\n" /* 10 */
                         "log:\n"
                         "  level: loud\n"); /* 12 */
    ASSERT_EQ(6, count_lines(err));
    ASSERT_STR_CONTAINS(err, "config.yaml:2: node.name:");
    ASSERT_STR_CONTAINS(err, "config.yaml:5: listen.tcp.port:");
    ASSERT_STR_CONTAINS(err, "config.yaml:6: listen.tcp.enabled:");
    ASSERT_STR_CONTAINS(err, "config.yaml:8: limits.max_streams:");
    ASSERT_STR_CONTAINS(err, "config.yaml:10: unknown key \"typo_key\" in limits");
    ASSERT_STR_CONTAINS(err, "config.yaml:12: log.level:");
    free(err);
}

TEST(config_errors_are_capped)
{
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "limits:\n");
    for (int i = 0; i < 50; i++)
        sb_printf(&yaml, "  bogus%d: 1\n", i);
    char *err = main_err(yaml.buf);
    ASSERT_EQ(CONFIG_MAX_ERRORS + 1, count_lines(err));
    ASSERT_STR_CONTAINS(err, "config.yaml:2: unknown key \"bogus0\"");
    ASSERT_STR_CONTAINS(err, "config.yaml:21: unknown key \"bogus19\"");
    ASSERT(strstr(err, "bogus20") == NULL);
    ASSERT_STR_CONTAINS(err, "config.yaml: 30 more problems not shown\n");
    free(err);
    sb_free(&yaml);
}

TEST(config_error_leaves_config_untouched)
{
    /* valid settings next to one error: nothing is stored (main_err checks
     * the config is still at its defaults) */
    char *err = main_err("node:\n  name: changed\nlimits:\n  max_headers: 9\n"
                         "  max_streams: 0\n");
    ASSERT_EQ(1, count_lines(err));
    free(err);
    /* and a config that had values keeps them */
    struct custody_config *cfg = main_ok("node:\n  name: before\n");
    struct strbuf e = STRBUF_INIT;
    const char *bad = "node:\n  name: after\nlog:\n  level: nope\n";
    ASSERT_EQ(CUSTODY_ECONFIG, config_parse_main(cfg, "config.yaml", bad, strlen(bad), &e));
    ASSERT_STR_EQ("before", cfg->node_name);
    ASSERT_EQ(LOG_INFO, cfg->log_level);
    sb_free(&e);
    config_unref(cfg);
}

TEST(config_filename_is_used_in_messages)
{
    struct custody_config *cfg = config_new_default(STATE);
    struct strbuf err = STRBUF_INIT;
    const char *text = "x: 1\n";
    ASSERT_EQ(CUSTODY_ECONFIG, config_parse_main(cfg, "/etc/other.yaml", text, 5, &err));
    ASSERT_STR_CONTAINS(err.buf, "/etc/other.yaml:1: unknown key \"x\"");
    /* a NULL error buffer is allowed */
    ASSERT_EQ(CUSTODY_ECONFIG, config_parse_main(cfg, "config.yaml", text, 5, NULL));
    sb_free(&err);
    config_unref(cfg);
}

TEST(config_later_parse_overrides)
{
    struct custody_config *cfg = main_ok("limits:\n  max_headers: 10\n");
    ASSERT_OK(config_parse_main(cfg, "config.yaml", "limits: {max_streams: 3}", 24, NULL));
    ASSERT_EQ(10, cfg->max_headers);
    ASSERT_EQ(3, cfg->max_streams);
    config_unref(cfg);
}

/* ------------------------------------------------------------------------ */
/* roots.yaml                                                               */
/* ------------------------------------------------------------------------ */

TEST(roots_valid)
{
    struct custody_config *cfg = roots_ok("roots:\n"
                                          "  - name: demo\n"
                                          "    path: /srv/demo\n"
                                          "    labels:\n"
                                          "      classification: public\n"
                                          "      owner: \"team: data #1\"\n"
                                          "  - name: Scans_2024-x\n"
                                          "    path: /mnt/scans\n"
                                          "  - {name: n3, path: /x, labels: {}}\n");
    ASSERT_EQ(3, cfg->nroots);
    ASSERT_STR_EQ("demo", cfg->roots[0].name);
    ASSERT_STR_EQ("/srv/demo", cfg->roots[0].path);
    ASSERT_EQ(2, cfg->roots[0].nlabels);
    ASSERT_STR_EQ("classification", cfg->roots[0].labels[0].key);
    ASSERT_STR_EQ("public", cfg->roots[0].labels[0].value);
    ASSERT_STR_EQ("owner", cfg->roots[0].labels[1].key);
    ASSERT_STR_EQ("team: data #1", cfg->roots[0].labels[1].value);
    ASSERT_STR_EQ("Scans_2024-x", cfg->roots[1].name);
    ASSERT_EQ(0, cfg->roots[1].nlabels);
    ASSERT_NULL(cfg->roots[1].labels);
    ASSERT_STR_EQ("n3", cfg->roots[2].name);
    ASSERT_EQ(0, cfg->roots[2].nlabels);
    config_unref(cfg);
}

TEST(roots_empty_forms)
{
    static const char *const inputs[] = {"",           "# nothing\n", "roots:\n", "roots: []\n",
                                         "roots: ~\n", "{}"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(inputs); i++) {
        struct custody_config *cfg = roots_ok(inputs[i]);
        ASSERT_EQ(0, cfg->nroots);
        config_unref(cfg);
    }
}

TEST(roots_relative_path_resolved_against_state_dir)
{
    struct custody_config *cfg = roots_ok("roots:\n  - name: a\n    path: demo\n"
                                          "  - name: b\n    path: ./data//sub/\n"
                                          "  - name: c\n    path: ../elsewhere\n");
    ASSERT_STR_EQ(STATE "/demo", cfg->roots[0].path);
    ASSERT_STR_EQ(STATE "/data/sub", cfg->roots[1].path);
    ASSERT_STR_EQ(STATE "/../elsewhere", cfg->roots[2].path);
    config_unref(cfg);
}

TEST(roots_label_values_are_text)
{
    struct custody_config *cfg =
        roots_ok("roots:\n  - name: a\n    path: /a\n    labels:\n      tier: 3\n"
                 "      pii: true\n      empty: \"\"\n      snow: \"☃ \\u00e9\"\n");
    ASSERT_EQ(4, cfg->roots[0].nlabels);
    ASSERT_STR_EQ("3", cfg->roots[0].labels[0].value);
    ASSERT_STR_EQ("true", cfg->roots[0].labels[1].value);
    ASSERT_STR_EQ("", cfg->roots[0].labels[2].value);
    ASSERT_STR_EQ("☃ é", cfg->roots[0].labels[3].value);
    config_unref(cfg);
}

TEST(roots_bad_root_name)
{
    static const char *const bad[] = {"\"-x\"", "_x",        "\"a b\"", "a/b",   "a.b",
                                      "\"é\"",  "\"a\\0b\"", "\"\"",    "\".\"", "\"..\""};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "roots:\n  - name: %s\n    path: /x\n", bad[i]);
        char *err = roots_err(yaml.buf);
        ASSERT_STR_CONTAINS(err, "roots.yaml:2: roots[0].name:");
        ASSERT_EQ(1, count_lines(err));
        free(err);
        sb_free(&yaml);
    }
    expect_roots_error("roots:\n  - name: a b\n    path: /x\n",
                       "roots.yaml:2: roots[0].name: invalid root name \"a b\" (1 to 64 letters, "
                       "digits, '_' or '-', starting with a letter or digit; \"model\" is reserved)");
    /* 64 characters is the most */
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "roots:\n  - path: /x\n    name: ");
    for (int i = 0; i < 64; i++)
        sb_puts(&yaml, "r");
    struct custody_config *cfg = roots_ok(yaml.buf);
    ASSERT_EQ(64, strlen(cfg->roots[0].name));
    config_unref(cfg);
    sb_puts(&yaml, "r");
    expect_roots_error_containing(yaml.buf, "roots.yaml:3: roots[0].name: invalid root name");
    sb_free(&yaml);
}

TEST(roots_duplicate_name)
{
    expect_roots_error("roots:\n"
                       "  - name: demo\n"
                       "    path: /a\n"
                       "  - name: other\n"
                       "    path: /b\n"
                       "  - name: demo\n"
                       "    path: /c\n",
                       "roots.yaml:6: roots[2].name: duplicate root name \"demo\" (first at line "
                       "2)");
}

TEST(roots_missing_and_wrong_fields)
{
    expect_roots_error("roots:\n  - name: a\n", "roots.yaml:2: roots[0]: missing \"path\"");
    expect_roots_error("roots:\n  - path: /a\n", "roots.yaml:2: roots[0]: missing \"name\"");
    expect_roots_error("roots:\n  - name: a\n    path:\n",
                       "roots.yaml:3: roots[0].path: expected a non-empty string, got an empty "
                       "value");
    expect_roots_error("roots:\n  - name: a\n    path: [/a]\n",
                       "roots.yaml:3: roots[0].path: expected a non-empty string, got a list");
    expect_roots_error_containing("roots:\n  - name: a\n    path: \"/a\\0/b\"\n",
                                  "roots[0].path: expected a non-empty string");
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    label: {x: y}\n",
                       "roots.yaml:4: unknown key \"label\" in roots[0] (expected one of: name, "
                       "path, labels)");
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    path: /b\n",
                       "roots.yaml:4: duplicate key \"path\" in roots[0] (first at line 3)");
    expect_roots_error("roots:\n  - demo\n",
                       "roots.yaml:2: roots[0]: expected a mapping with name, path and labels, "
                       "got \"demo\"");
    expect_roots_error("roots: demo\n", "roots.yaml:1: roots: expected a list of roots, got "
                                        "\"demo\"");
    expect_roots_error("roots:\n  demo: /x\n",
                       "roots.yaml:2: roots: expected a list of roots, got a mapping");
    expect_roots_error("root:\n  - name: a\n",
                       "roots.yaml:1: unknown key \"root\" at the top level (expected one of: "
                       "roots)");
    expect_roots_error("- name: a\n  path: /a\n",
                       "roots.yaml:1: expected a mapping with \"roots:\" at the top level, got a "
                       "list");
    expect_roots_error("roots: []\nroots: []\n",
                       "roots.yaml:2: duplicate key \"roots\" at the top level (first at line 1)");
}

TEST(roots_bad_label_key)
{
    static const char *const bad[] = {"\"a b\"", "\"\"",    "\"ü\"",
                                      "\"a/b\"", "\"a:b\"", "\"x\\0y\""};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_printf(&yaml, "roots:\n  - name: a\n    path: /a\n    labels:\n      %s: v\n", bad[i]);
        expect_roots_error_containing(yaml.buf, "roots.yaml:5: roots[0].labels: invalid label key");
        sb_free(&yaml);
    }
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    labels:\n      a b: v\n",
                       "roots.yaml:5: roots[0].labels: invalid label key \"a b\" (1 to 64 letters, "
                       "digits, '_', '.' or '-')");
    expect_roots_error_containing("roots:\n  - name: a\n    path: /a\n    labels:\n"
                                  "      [k]: v\n",
                                  "invalid label key a list");
    /* 64 characters and the odd-but-valid characters are fine; 65 are not */
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "roots:\n  - name: a\n    path: /a\n    labels:\n      .dot: 1\n"
                   "      -dash: 2\n      _u: 3\n      app.kubernetes.io_x-y: 4\n      ");
    for (int i = 0; i < 64; i++)
        sb_puts(&yaml, "k");
    sb_puts(&yaml, ": v\n");
    struct custody_config *cfg = roots_ok(yaml.buf);
    ASSERT_EQ(5, cfg->roots[0].nlabels);
    ASSERT_STR_EQ(".dot", cfg->roots[0].labels[0].key);
    ASSERT_STR_EQ("-dash", cfg->roots[0].labels[1].key);
    config_unref(cfg);
    sb_reset(&yaml);
    sb_puts(&yaml, "roots:\n  - name: a\n    path: /a\n    labels:\n      ");
    for (int i = 0; i < 65; i++)
        sb_puts(&yaml, "k");
    sb_puts(&yaml, ": v\n");
    expect_roots_error_containing(yaml.buf, "invalid label key \"kkkk");
    sb_free(&yaml);
}

TEST(roots_duplicate_label)
{
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    labels:\n      x: 1\n      y: 2\n"
                       "      x: 3\n",
                       "roots.yaml:7: roots[0].labels: duplicate label \"x\" (first at line 5)");
}

TEST(roots_label_values_are_checked)
{
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    labels:\n      k: {x: 1}\n",
                       "roots.yaml:5: roots[0].labels.k: expected a string, got a mapping");
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    labels:\n      k:\n",
                       "roots.yaml:5: roots[0].labels.k: expected a string, got an empty value");
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    labels:\n      k: \"a\\0b\"\n",
                       "roots.yaml:5: roots[0].labels.k: value contains a NUL byte");
    expect_roots_error("roots:\n  - name: a\n    path: /a\n    labels: [a, b]\n",
                       "roots.yaml:4: roots[0].labels: expected a mapping of label: value, got a "
                       "list");
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "roots:\n  - name: a\n    path: /a\n    labels:\n      k: ");
    for (int i = 0; i < 256; i++)
        sb_puts(&yaml, "v");
    struct custody_config *cfg = roots_ok(yaml.buf);
    ASSERT_EQ(256, strlen(cfg->roots[0].labels[0].value));
    config_unref(cfg);
    sb_puts(&yaml, "v");
    expect_roots_error(yaml.buf, "roots.yaml:5: roots[0].labels.k: value is longer than 256 bytes");
    sb_free(&yaml);
}

TEST(roots_too_many_labels)
{
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "roots:\n  - name: a\n    path: /a\n    labels:\n");
    for (int i = 0; i < CONFIG_MAX_LABELS; i++)
        sb_printf(&yaml, "      k%d: v%d\n", i, i);
    struct custody_config *cfg = roots_ok(yaml.buf);
    ASSERT_EQ(CONFIG_MAX_LABELS, cfg->roots[0].nlabels);
    ASSERT_STR_EQ("v63", cfg->roots[0].labels[63].value);
    config_unref(cfg);
    sb_puts(&yaml, "      one_more: v\n");
    expect_roots_error(yaml.buf, "roots.yaml:5: roots[0].labels: too many labels (65; at most 64)");
    sb_free(&yaml);
}

TEST(roots_too_many_roots)
{
    struct strbuf yaml = STRBUF_INIT;
    sb_puts(&yaml, "roots:\n");
    for (int i = 0; i < CONFIG_MAX_ROOTS; i++)
        sb_printf(&yaml, "  - {name: r%d, path: /r/%d}\n", i, i);
    struct custody_config *cfg = roots_ok(yaml.buf);
    ASSERT_EQ(CONFIG_MAX_ROOTS, cfg->nroots);
    ASSERT_STR_EQ("r4095", cfg->roots[4095].name);
    config_unref(cfg);
    sb_puts(&yaml, "  - {name: extra, path: /e}\n");
    expect_roots_error(yaml.buf, "roots.yaml:2: roots: too many roots (4097; at most 4096)");
    sb_free(&yaml);
}

TEST(roots_all_problems_are_reported)
{
    char *err = roots_err("roots:\n"
                          "  - name: ok\n"
                          "    path: /ok\n"
                          "  - name: \"bad name\"\n" /* 4 */
                          "    path: /x\n"
                          "  - name: ok\n" /* 6: duplicate */
                          "    path: /y\n"
                          "  - name: z\n" /* 8: no path */
                          "    labels:\n"
                          "      \"bad key\": v\n"); /* 10 */
    ASSERT_EQ(4, count_lines(err));
    ASSERT_STR_CONTAINS(err, "roots.yaml:4: roots[1].name: invalid root name");
    ASSERT_STR_CONTAINS(err, "roots.yaml:6: roots[2].name: duplicate root name \"ok\"");
    ASSERT_STR_CONTAINS(err, "roots.yaml:10: roots[3].labels: invalid label key");
    ASSERT_STR_CONTAINS(err, "roots.yaml:8: roots[3]: missing \"path\"");
    free(err);
}

TEST(roots_yaml_level_problems)
{
    expect_roots_error("roots:\n  - &r {name: a, path: /a}\n  - *r\n",
                       "roots.yaml:2: anchors and aliases are not supported (found &r)\n"
                       "roots.yaml:3: aliases are not supported (found *r)");
    expect_roots_error_containing("roots:\n  - name: a\n   path: /a\n",
                                  "roots.yaml:3: YAML syntax error");
    expect_roots_error("roots:\n  - name: caf\xc3\n    path: /a\n",
                       "roots.yaml:2: is not valid UTF-8");
    expect_roots_error_containing("roots: !!seq []\n", "roots.yaml:1: tags are not supported");
}

TEST(roots_name_and_label_key_validators)
{
    ASSERT(config_root_name_valid("a"));
    ASSERT(config_root_name_valid("9"));
    ASSERT(config_root_name_valid("A-b_9"));
    ASSERT(!config_root_name_valid("model")); /* model capabilities: model:/NAME@VERSION */
    ASSERT(config_root_name_valid("models"));
    ASSERT(!config_root_name_valid(""));
    ASSERT(!config_root_name_valid("-a"));
    ASSERT(!config_root_name_valid("_a"));
    ASSERT(!config_root_name_valid("a b"));
    ASSERT(!config_root_name_valid("a.b"));
    ASSERT(!config_root_name_valid("a:"));
    ASSERT(!config_root_name_valid("\xc3\xa9"));
    char name[80];
    memset(name, 'x', sizeof name);
    name[64] = '\0';
    ASSERT(config_root_name_valid(name));
    name[64] = 'x';
    name[65] = '\0';
    ASSERT(!config_root_name_valid(name));

    ASSERT(config_label_key_valid("classification"));
    ASSERT(config_label_key_valid("a.b-c_d"));
    ASSERT(config_label_key_valid("-"));
    ASSERT(config_label_key_valid(".x"));
    ASSERT(!config_label_key_valid(""));
    ASSERT(!config_label_key_valid("a b"));
    ASSERT(!config_label_key_valid("a/b"));
    ASSERT(!config_label_key_valid("a:b"));
    ASSERT(!config_label_key_valid("\xc3\xbc"));
    name[64] = '\0';
    ASSERT(config_label_key_valid(name));
    name[64] = 'x';
    ASSERT(!config_label_key_valid(name));
}

TEST(roots_find_root)
{
    struct custody_config *cfg = roots_ok("roots:\n  - {name: a, path: /a}\n"
                                          "  - {name: b, path: /b}\n");
    const struct cfg_root *r = config_find_root(cfg, "b");
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ("/b", r->path);
    ASSERT(config_find_root(cfg, "a") == &cfg->roots[0]);
    ASSERT_NULL(config_find_root(cfg, "c"));
    ASSERT_NULL(config_find_root(cfg, "A"));
    ASSERT_NULL(config_find_root(cfg, ""));
    ASSERT_NULL(config_find_root(cfg, NULL));
    ASSERT_NULL(config_find_root(NULL, "a"));
    config_unref(cfg);
}

TEST(roots_copy_and_free)
{
    struct custody_config *cfg =
        roots_ok("roots:\n  - {name: a, path: /a, labels: {x: '1', y: '2'}}\n");
    struct cfg_root copy;
    config_root_copy(&copy, &cfg->roots[0]);
    config_unref(cfg); /* the copy owns its own strings */
    ASSERT_STR_EQ("a", copy.name);
    ASSERT_STR_EQ("/a", copy.path);
    ASSERT_EQ(2, copy.nlabels);
    ASSERT_STR_EQ("y", copy.labels[1].key);
    ASSERT_STR_EQ("2", copy.labels[1].value);
    config_root_free(&copy);
    ASSERT_NULL(copy.name);
    ASSERT_EQ(0, copy.nlabels);
    config_root_free(&copy); /* twice is harmless */
    config_root_free(NULL);

    struct cfg_root bare = {.name = "n", .path = "/p"};
    config_root_copy(&copy, &bare);
    ASSERT_NULL(copy.labels);
    config_root_free(&copy);
}

/* ------------------------------------------------------------------------ */
/* Writing roots.yaml                                                       */
/* ------------------------------------------------------------------------ */

/* Strings that YAML would misread if written carelessly. */
static const char *const tricky[] = {
    "plain",
    "with \"double\" and 'single' quotes",
    "colon: space",
    "a:b",
    "hash # not a comment",
    "#leading hash",
    "back\\slash \\n not a newline",
    "line\nbreak",
    "tab\there",
    "cr\rhere",
    "bell\x07 esc\x1b del\x7f",
    "  leading and trailing spaces  ",
    "",
    "null",
    "~",
    "true",
    "0660",
    "- dash",
    "&anchor *alias !tag %percent @at `tick` |pipe >fold",
    "{flow: [map]}",
    "---",
    "...",
    "h\xc3\xa9llo w\xc3\xb6rld \xe2\x98\x83 \xf0\x9f\x94\x91 \xe4\xb8\xad\xe6\x96\x87",
    "nel\xc2\x85 c1\xc2\x80\xc2\x9f nbsp\xc2\xa0",
    "ls\xe2\x80\xa8 ps\xe2\x80\xa9",
    "bom\xef\xbb\xbf nonchars\xef\xbf\xbe\xef\xbf\xbf",
};

TEST(roots_quote_round_trips_through_libyaml)
{
    for (size_t i = 0; i < UTIL_ARRAY_LEN(tricky); i++) {
        struct strbuf yaml = STRBUF_INIT;
        sb_puts(&yaml, "roots:\n  - name: a\n    path: /a\n    labels:\n      v: ");
        config_yaml_quote(&yaml, tricky[i], strlen(tricky[i]));
        sb_puts(&yaml, "\n");
        struct custody_config *cfg = roots_ok(yaml.buf);
        ASSERT_STR_EQ(tricky[i], cfg->roots[0].labels[0].value);
        config_unref(cfg);
        sb_free(&yaml);
    }
    struct strbuf q = STRBUF_INIT;
    config_yaml_quote(&q, "a\"b\\c\n\x01", 7);
    ASSERT_STR_EQ("\"a\\\"b\\\\c\\n\\x01\"", q.buf);
    sb_free(&q);
}

TEST(roots_save_round_trip)
{
    char *dir = fresh_state_dir("save");
    ASSERT_OK(util_mkdir_p(dir, 0700));

    /* one root per tricky string (as path and label value), plus label keys
     * that need quoting */
    size_t n = UTIL_ARRAY_LEN(tricky);
    struct cfg_root *roots = util_calloc(n, sizeof *roots);
    for (size_t i = 0; i < n; i++) {
        struct strbuf s = STRBUF_INIT;
        sb_printf(&s, "root-%zu", i);
        roots[i].name = sb_detach(&s);
        sb_printf(&s, "/data/%s", tricky[i]);
        roots[i].path = sb_detach(&s);
        roots[i].nlabels = 4;
        roots[i].labels = util_calloc(4, sizeof *roots[i].labels);
        roots[i].labels[0].key = util_strdup("value");
        roots[i].labels[0].value = util_strdup(tricky[i]);
        roots[i].labels[1].key = util_strdup("-dash");
        roots[i].labels[1].value = util_strdup("d");
        roots[i].labels[2].key = util_strdup(".dot");
        roots[i].labels[2].value = util_strdup("");
        roots[i].labels[3].key = util_strdup("0");
        roots[i].labels[3].value = util_strdup("zero");
    }
    ASSERT_OK(config_save_roots(dir, roots, n));

    char *path = state_file(dir, CONFIG_ROOTS_FILE);
    ASSERT_EQ(0600, file_mode(path));
    char *text = read_text(path);
    const char *header = "# Roots registered with custodyd (custody root add). Managed by "
                         "custodyd; edit with care.\n";
    ASSERT_EQ(0, strncmp(text, header, strlen(header)));

    struct custody_config *cfg = config_new_default(dir);
    struct strbuf err = STRBUF_INIT;
    int rc = config_parse_roots(cfg, "roots.yaml", text, strlen(text), &err);
    if (rc) TEST_FAIL_("%s\n%s", err.buf, text);
    ASSERT_EQ(n, cfg->nroots);
    for (size_t i = 0; i < n; i++) {
        ASSERT_STR_EQ(roots[i].name, cfg->roots[i].name);
        ASSERT_STR_EQ(roots[i].path, cfg->roots[i].path);
        ASSERT_EQ(4, cfg->roots[i].nlabels);
        for (size_t j = 0; j < 4; j++) {
            ASSERT_STR_EQ(roots[i].labels[j].key, cfg->roots[i].labels[j].key);
            ASSERT_STR_EQ(roots[i].labels[j].value, cfg->roots[i].labels[j].value);
        }
    }
    /* saving what was parsed gives the same bytes */
    ASSERT_OK(config_save_roots(dir, cfg->roots, cfg->nroots));
    char *again = read_text(path);
    ASSERT_STR_EQ(text, again);

    free(again);
    sb_free(&err);
    config_unref(cfg);
    free(text);
    free(path);
    for (size_t i = 0; i < n; i++)
        config_root_free(&roots[i]);
    free(roots);
    free(dir);
}

TEST(roots_save_simple_is_readable)
{
    struct cfg_label label = {.key = "classification", .value = "public"};
    struct cfg_root root = {.name = "demo", .path = "/s/demo", .labels = &label, .nlabels = 1};
    struct strbuf out = STRBUF_INIT;
    ASSERT_OK(config_format_roots(&root, 1, &out));
    ASSERT_STR_EQ("# Roots registered with custodyd (custody root add). Managed by custodyd; "
                  "edit with care.\n"
                  "roots:\n"
                  "  - name: \"demo\"\n"
                  "    path: \"/s/demo\"\n"
                  "    labels:\n"
                  "      classification: \"public\"\n",
                  out.buf);
    sb_free(&out);
}

TEST(roots_save_empty)
{
    char *dir = fresh_state_dir("save-empty");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    ASSERT_OK(config_save_roots(dir, NULL, 0));
    char *path = state_file(dir, CONFIG_ROOTS_FILE);
    char *text = read_text(path);
    ASSERT_STR_CONTAINS(text, "roots: []\n");
    struct custody_config *cfg = roots_ok(text);
    ASSERT_EQ(0, cfg->nroots);
    config_unref(cfg);
    free(text);
    free(path);
    free(dir);
}

TEST(roots_save_replaces_atomically)
{
    char *dir = fresh_state_dir("save-replace");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    struct cfg_root a = {.name = "a", .path = "/a"}, b = {.name = "b", .path = "/b"};
    ASSERT_OK(config_save_roots(dir, &a, 1));
    ASSERT_OK(config_save_roots(dir, &b, 1));
    char *path = state_file(dir, CONFIG_ROOTS_FILE);
    char *text = read_text(path);
    ASSERT_STR_CONTAINS(text, "name: \"b\"");
    ASSERT(strstr(text, "name: \"a\"") == NULL);
    free(text);
    /* no temporary files are left behind */
    char *cmd = NULL;
    ASSERT(asprintf(&cmd, "test $(ls -A '%s' | wc -l) -eq 1", dir) > 0);
    ASSERT_EQ(0, system(cmd));
    free(cmd);
    free(path);
    free(dir);
}

TEST(roots_save_refuses_what_would_not_load)
{
    char *dir = fresh_state_dir("save-bad");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    struct cfg_label bad_key = {.key = "a b", .value = "v"};
    struct cfg_label bad_value = {.key = "k", .value = "caf\xe9"};
    struct cfg_label dup_keys[2] = {{.key = "k", .value = "1"}, {.key = "k", .value = "2"}};
    char long_value[CONFIG_LABEL_VALUE_MAX + 2];
    memset(long_value, 'v', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    struct cfg_label too_long = {.key = "k", .value = long_value};
    struct cfg_root cases[][2] = {
        {{.name = "a b", .path = "/a"}},
        {{.name = "", .path = "/a"}},
        {{.name = NULL, .path = "/a"}},
        {{.name = "a", .path = NULL}},
        {{.name = "a", .path = ""}},
        {{.name = "a", .path = "/caf\xe9"}},
        {{.name = "a", .path = "/a", .labels = &bad_key, .nlabels = 1}},
        {{.name = "a", .path = "/a", .labels = &bad_value, .nlabels = 1}},
        {{.name = "a", .path = "/a", .labels = dup_keys, .nlabels = 2}},
        {{.name = "a", .path = "/a", .labels = &too_long, .nlabels = 1}},
        {{.name = "a", .path = "/a", .labels = NULL, .nlabels = 1}},
        {{.name = "a", .path = "/a"}, {.name = "a", .path = "/b"}}, /* duplicate names */
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        size_t n = cases[i][1].name ? 2 : 1;
        ASSERT_EQ(CUSTODY_EINVAL, config_save_roots(dir, cases[i], n));
    }
    struct cfg_root ok = {.name = "a", .path = "/a"};
    ASSERT_EQ(CUSTODY_EINVAL, config_save_roots(dir, &ok, CONFIG_MAX_ROOTS + 1));
    ASSERT_EQ(CUSTODY_EINVAL, config_save_roots(dir, NULL, 1));
    /* nothing was written */
    char *path = state_file(dir, CONFIG_ROOTS_FILE);
    struct stat st;
    ASSERT_EQ(-1, stat(path, &st));
    free(path);
    free(dir);
}

TEST(roots_save_into_missing_dir_fails)
{
    struct cfg_root ok = {.name = "a", .path = "/a"};
    char *dir = fresh_state_dir("does/not/exist");
    ASSERT_EQ(CUSTODY_ENOENT, config_save_roots(dir, &ok, 1));
    free(dir);
}

/* ------------------------------------------------------------------------ */
/* config_load                                                              */
/* ------------------------------------------------------------------------ */

TEST(config_load_valid)
{
    char *dir = fresh_state_dir("load");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    test_write_file(dir, "config.yaml", "limits:\n  max_headers: 42\n");
    test_write_file(dir, "roots.yaml", "roots:\n  - name: r\n    path: data\n");
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(config_load(dir, &cfg, &err));
    ASSERT_EQ(0, err.len);
    ASSERT_NOT_NULL(cfg);
    ASSERT_EQ(1, cfg->refs);
    ASSERT_STR_EQ(dir, cfg->state_dir);
    ASSERT_EQ(42, cfg->max_headers);
    ASSERT_EQ(1, cfg->nroots);
    char *data = util_path_join(dir, "data");
    ASSERT_STR_EQ(data, cfg->roots[0].path);
    free(data);
    config_unref(cfg);
    sb_free(&err);
    free(dir);
}

TEST(config_load_without_roots_file)
{
    char *dir = fresh_state_dir("load-noroots");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    test_write_file(dir, "config.yaml", "");
    struct custody_config *cfg = NULL;
    ASSERT_OK(config_load(dir, &cfg, NULL));
    ASSERT_EQ(0, cfg->nroots);
    config_unref(cfg);
    free(dir);
}

TEST(config_load_missing_config)
{
    char *dir = fresh_state_dir("load-missing");
    struct custody_config *sentinel = (struct custody_config *)&dir, *cfg = sentinel;
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ENOENT, config_load(dir, &cfg, &err));
    ASSERT(cfg == sentinel);
    ASSERT_STR_CONTAINS(err.buf, "config.yaml: cannot read ");
    ASSERT_STR_CONTAINS(err.buf, "run `custody init`");
    sb_free(&err);
    free(dir);
}

TEST(config_load_reports_both_files)
{
    char *dir = fresh_state_dir("load-bad");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    test_write_file(dir, "config.yaml", "log:\n  level: loud\n");
    test_write_file(dir, "roots.yaml", "roots:\n  - name: \"bad name\"\n    path: /x\n");
    struct custody_config *sentinel = (struct custody_config *)&dir, *cfg = sentinel;
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ECONFIG, config_load(dir, &cfg, &err));
    ASSERT(cfg == sentinel);
    ASSERT_STR_CONTAINS(err.buf, "config.yaml:2: log.level:");
    ASSERT_STR_CONTAINS(err.buf, "roots.yaml:2: roots[0].name:");
    ASSERT_EQ(2, count_lines(err.buf));
    sb_free(&err);

    /* a bad roots.yaml alone also fails the load */
    test_write_file(dir, "config.yaml", "");
    ASSERT_EQ(CUSTODY_ECONFIG, config_load(dir, &cfg, &err));
    ASSERT(cfg == sentinel);
    ASSERT_EQ(1, count_lines(err.buf));
    sb_free(&err);
    free(dir);
}

TEST(config_load_file_too_large)
{
    char *dir = fresh_state_dir("load-big");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    char *path = util_path_join(dir, "config.yaml");
    size_t len = CONFIG_MAX_FILE_BYTES + 10;
    char *text = util_calloc(1, len);
    memset(text, '#', len);
    ASSERT_OK(util_write_file_atomic(path, text, len, 0600));
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ECONFIG, config_load(dir, &cfg, &err));
    ASSERT_NULL(cfg);
    ASSERT_STR_CONTAINS(err.buf, "config.yaml:1: file is too large");
    sb_free(&err);
    free(text);
    free(path);
    free(dir);
}

TEST(config_load_config_is_a_directory)
{
    char *dir = fresh_state_dir("load-dir");
    char *sub = util_path_join(dir, "config.yaml");
    ASSERT_OK(util_mkdir_p(sub, 0700));
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_EISDIR, config_load(dir, &cfg, &err));
    ASSERT_STR_CONTAINS(err.buf, "config.yaml: cannot read");
    sb_free(&err);
    free(sub);
    free(dir);
}

/* ------------------------------------------------------------------------ */
/* Reference counting                                                       */
/* ------------------------------------------------------------------------ */

TEST(config_refcount)
{
    struct custody_config *cfg = config_new_default(STATE);
    ASSERT(config_ref(cfg) == cfg);
    ASSERT_EQ(2, cfg->refs);
    config_unref(cfg);
    ASSERT_EQ(1, cfg->refs);
    ASSERT_NULL(config_ref(NULL));
    config_unref(NULL);
    config_unref(cfg); /* freed: ASan would report a leak otherwise */
}

static void *ref_unref_many(void *arg)
{
    struct custody_config *cfg = arg;
    for (int i = 0; i < 100000; i++) {
        config_ref(cfg);
        config_unref(cfg);
    }
    config_unref(cfg); /* the reference the main thread took for us */
    return NULL;
}

TEST(config_refcount_across_threads)
{
    struct custody_config *cfg = config_new_default(STATE);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        config_ref(cfg);
        ASSERT_OK(pthread_create(&t[i], NULL, ref_unref_many, cfg));
    }
    for (int i = 0; i < 4; i++)
        ASSERT_OK(pthread_join(t[i], NULL));
    ASSERT_EQ(1, __atomic_load_n(&cfg->refs, __ATOMIC_SEQ_CST));
    config_unref(cfg);
}

/* ------------------------------------------------------------------------ */
/* state_dir_resolve                                                        */
/* ------------------------------------------------------------------------ */

TEST(state_dir_resolve_precedence)
{
    ASSERT_OK(chdir(test_tmpdir()));
    char *cwd = getcwd(NULL, 0);

    ASSERT_OK(unsetenv("CUSTODY_STATE"));
    char *p = state_dir_resolve(NULL);
    char *want = util_path_join(cwd, "var/custody");
    ASSERT_STR_EQ(want, p);
    free(want);
    free(p);
    p = state_dir_resolve(""); /* an empty argument counts as none */
    ASSERT(strstr(p, "/var/custody") != NULL);
    free(p);

    ASSERT_OK(setenv("CUSTODY_STATE", "/env/state", 1));
    p = state_dir_resolve(NULL);
    ASSERT_STR_EQ("/env/state", p);
    free(p);
    p = state_dir_resolve("/arg/state"); /* the argument beats the environment */
    ASSERT_STR_EQ("/arg/state", p);
    free(p);
    p = state_dir_resolve("rel/state/"); /* made absolute */
    want = util_path_join(cwd, "rel/state");
    ASSERT_STR_EQ(want, p);
    free(want);
    free(p);

    ASSERT_OK(setenv("CUSTODY_STATE", "envrel", 1));
    p = state_dir_resolve(NULL);
    want = util_path_join(cwd, "envrel");
    ASSERT_STR_EQ(want, p);
    free(want);
    free(p);

    ASSERT_OK(setenv("CUSTODY_STATE", "", 1)); /* empty: as if unset */
    p = state_dir_resolve(NULL);
    want = util_path_join(cwd, "var/custody");
    ASSERT_STR_EQ(want, p);
    free(want);
    free(p);
    free(cwd);
}

/* ------------------------------------------------------------------------ */
/* state_init                                                               */
/* ------------------------------------------------------------------------ */

static char *init_ok(const char *name)
{
    char *dir = fresh_state_dir(name);
    struct strbuf err = STRBUF_INIT;
    int rc = state_init(dir, &err);
    if (rc) TEST_FAIL_("state_init: %d %s", rc, err.buf ? err.buf : "");
    ASSERT_EQ(0, err.len);
    sb_free(&err);
    return dir;
}

static void assert_mode(const char *dir, const char *rel, mode_t mode)
{
    char *path = state_file(dir, rel);
    mode_t got = file_mode(path);
    if (got != mode) TEST_FAIL_("%s: mode %04o, expected %04o", rel, (unsigned)got, (unsigned)mode);
    free(path);
}

static void assert_file_content(const char *dir, const char *rel, const char *content)
{
    char *path = state_file(dir, rel);
    char *text = read_text(path);
    ASSERT_STR_EQ(content, text);
    free(text);
    free(path);
}

TEST(state_init_creates_everything)
{
    char *dir = init_ok("state");
    assert_mode(dir, "", 0700);
    assert_mode(dir, "keys", 0700);
    assert_mode(dir, "tls", 0700);
    assert_mode(dir, "keys/node.ed25519", 0600);
    assert_mode(dir, "keys/node.pub", 0644);
    assert_mode(dir, "tls/key.pem", 0600);
    assert_mode(dir, "tls/cert.pem", 0644);
    assert_mode(dir, "config.yaml", 0644);
    assert_mode(dir, "roots.yaml", 0600);
    assert_mode(dir, "demo", 0755);
    assert_mode(dir, "demo/README.md", 0644);
    assert_mode(dir, "demo/hello.txt", 0644);
    assert_mode(dir, "demo/notes/todo.md", 0644);
    assert_mode(dir, "demo/data/numbers.csv", 0644);
    assert_file_content(dir, "demo/hello.txt", "hello from custody\n");

    char *path = state_file(dir, "demo/README.md");
    char *text = read_text(path);
    ASSERT_STR_CONTAINS(text, "demo root");
    free(text);
    free(path);
    path = state_file(dir, "demo/data/numbers.csv");
    text = read_text(path);
    ASSERT_EQ(0, strncmp(text, "n,square,cube\n1,1,1\n", 20));
    free(text);
    free(path);
    path = state_file(dir, "keys/node.ed25519");
    text = read_text(path);
    ASSERT_EQ(0, strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28)); /* PKCS#8 */
    free(text);
    free(path);

    /* no temporary files are left behind */
    char *cmd = NULL;
    ASSERT(asprintf(&cmd, "! find '%s' -name '*.tmp.*' | grep -q .", dir) > 0);
    ASSERT_EQ(0, system(cmd));
    free(cmd);
    free(dir);
}

TEST(state_init_parents_and_existing_dir)
{
    /* missing parents are made; an existing state dir keeps its mode */
    char *dir = init_ok("deep/er/state");
    free(dir);
    dir = fresh_state_dir("existing");
    ASSERT_OK(util_mkdir_p(dir, 0750));
    ASSERT_OK(chmod(dir, 0750));
    ASSERT_OK(state_init(dir, NULL));
    assert_mode(dir, "", 0750);
    assert_mode(dir, "keys/node.ed25519", 0600);
    free(dir);
}

/* The generated roots.yaml registers demo -> STATE/demo, public. */
TEST(state_init_roots_yaml)
{
    char *dir = init_ok("state");
    char *path = state_file(dir, "roots.yaml");
    char *text = read_text(path);
    ASSERT_EQ(0, strncmp(text, "# Roots registered with custodyd (custody root add).", 52));
    struct custody_config *cfg = config_new_default(dir);
    ASSERT_OK(config_parse_roots(cfg, "roots.yaml", text, strlen(text), NULL));
    ASSERT_EQ(1, cfg->nroots);
    ASSERT_STR_EQ("demo", cfg->roots[0].name);
    char *demo = util_path_join(dir, "demo");
    ASSERT_STR_EQ(demo, cfg->roots[0].path);
    ASSERT_EQ(1, cfg->roots[0].nlabels);
    ASSERT_STR_EQ("classification", cfg->roots[0].labels[0].key);
    ASSERT_STR_EQ("public", cfg->roots[0].labels[0].value);
    config_unref(cfg);
    free(demo);
    free(text);
    free(path);
    free(dir);
}

TEST(state_init_config_yaml_gives_the_defaults)
{
    char *dir = init_ok("state");
    struct custody_config *cfg = NULL;
    struct strbuf err = STRBUF_INIT;
    ASSERT_OK(config_load(dir, &cfg, &err));
    ASSERT_EQ(0, err.len);
    struct custody_config *defaults = config_new_default(dir);
    /* defaults have no roots; compare the settings, then the roots */
    ASSERT_EQ(1, cfg->nroots);
    size_t nroots = cfg->nroots;
    cfg->nroots = 0;
    assert_config_equal(defaults, cfg);
    cfg->nroots = nroots;
    config_unref(defaults);
    config_unref(cfg);
    sb_free(&err);
    free(dir);
}

TEST(state_init_config_yaml_is_commented)
{
    char *dir = init_ok("state");
    char *path = state_file(dir, "config.yaml");
    char *text = read_text(path);
    /* every setting is present, each under a comment line */
    static const char *const keys[] = {
        "name:",
        "path:",
        "mode: \"0660\"",
        "enabled: true",
        "address:",
        "port: 8443",
        "cert: tls/cert.pem",
        "key: tls/key.pem",
        "max_header_bytes: 16384",
        "max_headers: 100",
        "max_uri_bytes: 8192",
        "max_body_bytes: 17179869184",
        "max_connections: 4096",
        "max_streams: 128",
        "header_timeout_ms: 10000",
        "idle_timeout_ms: 60000",
        "io_timeout_ms: 30000",
        "drain_timeout_ms: 30000",
        "list_max_entries: 100000",
        "versions: true",
        "level: info",
        "ttl_default_s: 300",
        "ttl_max_s: 3600",
        "ttl_sensitive_s: 60",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(keys); i++) {
        const char *at = strstr(text, keys[i]);
        if (!at) TEST_FAIL_("config.yaml lacks %s", keys[i]);
        /* the line before is a comment */
        const char *line = at;
        while (line > text && line[-1] == ' ')
            line--;
        ASSERT(line > text + 1 && line[-1] == '\n');
        const char *prev = line - 1;
        while (prev > text && prev[-1] != '\n')
            prev--;
        while (*prev == ' ')
            prev++;
        if (*prev != '#') TEST_FAIL_("no comment above %s", keys[i]);
    }
    ASSERT_STR_CONTAINS(text, "Only agents get past it");
    free(text);
    free(path);
    free(dir);
}

TEST(config_template_quotes_the_node_name)
{
    struct strbuf t = STRBUF_INIT;
    config_template(&t, "we\"ird: #name");
    struct custody_config *cfg = main_ok(t.buf);
    ASSERT_STR_EQ("we\"ird: #name", cfg->node_name);
    config_unref(cfg);
    sb_free(&t);
}

/* Everything in the state directory: path, mode, size, inode, mtime, content. */
static int snap_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw);
static struct strbuf g_snap;
static int snap_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    sb_printf(&g_snap, "%s %o %lld %llu %lld.%09ld\n", path, (unsigned)st->st_mode,
              (long long)st->st_size, (unsigned long long)st->st_ino, (long long)st->st_mtim.tv_sec,
              st->st_mtim.tv_nsec);
    if (flag == FTW_F) {
        char *text = read_text(path);
        sb_puts(&g_snap, text);
        free(text);
    }
    return 0;
}

static char *snapshot(const char *dir)
{
    sb_reset(&g_snap);
    ASSERT_OK(nftw(dir, snap_cb, 16, FTW_PHYS));
    return sb_detach(&g_snap);
}

TEST(state_init_is_idempotent)
{
    char *dir = init_ok("state");
    char *before = snapshot(dir);
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL); /* so that a rewrite would show in an mtime */
    ASSERT_OK(state_init(dir, NULL));
    char *after = snapshot(dir);
    ASSERT_STR_EQ(before, after);
    free(before);
    free(after);
    free(dir);
}

TEST(state_init_keeps_an_edited_config)
{
    char *dir = init_ok("state");
    const char *mine = "# mine\nlimits:\n  max_headers: 9\n";
    test_write_file(dir, "config.yaml", mine);
    test_write_file(dir, "roots.yaml", "roots: []\n");
    test_write_file(dir, "demo/hello.txt", "edited\n");
    ASSERT_OK(state_init(dir, NULL));
    assert_file_content(dir, "config.yaml", mine);
    assert_file_content(dir, "roots.yaml", "roots: []\n");
    assert_file_content(dir, "demo/hello.txt", "edited\n");
    free(dir);
}

TEST(state_init_recreates_missing_pieces)
{
    char *dir = init_ok("state");
    char *pub = state_file(dir, "keys/node.pub");
    char *pub_before = read_text(pub);
    char *cert = state_file(dir, "tls/cert.pem");
    char *hello = state_file(dir, "demo/hello.txt");
    char *cfgp = state_file(dir, "config.yaml");
    ASSERT_OK(unlink(pub));
    ASSERT_OK(unlink(cert));
    ASSERT_OK(unlink(hello));
    ASSERT_OK(unlink(cfgp));
    ASSERT_OK(state_init(dir, NULL));
    /* node.pub comes back from the same private key, byte for byte */
    char *pub_after = read_text(pub);
    ASSERT_STR_EQ(pub_before, pub_after);
    assert_mode(dir, "keys/node.pub", 0644);
    assert_mode(dir, "tls/cert.pem", 0644);
    assert_file_content(dir, "demo/hello.txt", "hello from custody\n");
    /* and the new certificate matches the existing TLS key */
    BIO *b = BIO_new_file(cert, "r");
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    char *keyp = state_file(dir, "tls/key.pem");
    b = BIO_new_file(keyp, "r");
    EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    ASSERT_NOT_NULL(x);
    ASSERT_NOT_NULL(key);
    ASSERT_EQ(1, X509_check_private_key(x, key));
    X509_free(x);
    EVP_PKEY_free(key);
    struct stat st;
    ASSERT_OK(stat(cfgp, &st));
    free(keyp);
    free(pub_before);
    free(pub_after);
    free(pub);
    free(cert);
    free(hello);
    free(cfgp);
    free(dir);
}

TEST(state_init_refuses_public_half_without_private_key)
{
    char *dir = fresh_state_dir("orphan");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    test_write_file(dir, "keys/node.pub", "not really a key\n");
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_EEXIST, state_init(dir, &err));
    ASSERT_STR_CONTAINS(err.buf, "node.pub exists but its private key");
    assert_file_content(dir, "keys/node.pub", "not really a key\n");
    char *priv = state_file(dir, "keys/node.ed25519");
    struct stat st;
    ASSERT_EQ(-1, stat(priv, &st));
    free(priv);
    sb_free(&err);

    char *dir2 = fresh_state_dir("orphan-cert");
    ASSERT_OK(util_mkdir_p(dir2, 0700));
    test_write_file(dir2, "tls/cert.pem", "x\n");
    ASSERT_EQ(CUSTODY_EEXIST, state_init(dir2, &err));
    ASSERT_STR_CONTAINS(err.buf, "cert.pem exists but its private key");
    sb_free(&err);
    free(dir2);
    free(dir);
}

TEST(state_init_bad_existing_key)
{
    char *dir = fresh_state_dir("badkey");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    test_write_file(dir, "keys/node.ed25519", "garbage\n");
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_EINVAL, state_init(dir, &err));
    ASSERT_STR_CONTAINS(err.buf, "cannot read the private key");
    assert_file_content(dir, "keys/node.ed25519", "garbage\n");
    sb_free(&err);
    free(dir);
}

TEST(state_init_state_dir_is_a_file)
{
    char *dir = fresh_state_dir("afile");
    test_write_file(test_tmpdir(), "afile", "x");
    struct strbuf err = STRBUF_INIT;
    ASSERT_EQ(CUSTODY_ENOTDIR, state_init(dir, &err));
    ASSERT_STR_CONTAINS(err.buf, "cannot create directory");
    sb_free(&err);
    free(dir);
}

TEST(state_init_modes_do_not_depend_on_umask)
{
    mode_t old = umask(0);
    char *dir = init_ok("umask0");
    assert_mode(dir, "", 0700);
    assert_mode(dir, "keys/node.ed25519", 0600);
    assert_mode(dir, "tls/key.pem", 0600);
    assert_mode(dir, "roots.yaml", 0600);
    free(dir);
    umask(077);
    dir = init_ok("umask077");
    assert_mode(dir, "keys/node.pub", 0644);
    assert_mode(dir, "tls/cert.pem", 0644);
    assert_mode(dir, "demo", 0755);
    assert_mode(dir, "demo/hello.txt", 0644);
    free(dir);
    umask(old);
}

TEST(state_init_ed25519_key)
{
    char *dir = init_ok("state");
    char *privp = state_file(dir, "keys/node.ed25519");
    char *pubp = state_file(dir, "keys/node.pub");
    BIO *b = BIO_new_file(privp, "r");
    EVP_PKEY *priv = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new_file(pubp, "r");
    EVP_PKEY *pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    ASSERT_NOT_NULL(priv);
    ASSERT_NOT_NULL(pub);
    ASSERT_EQ(EVP_PKEY_ED25519, EVP_PKEY_get_base_id(priv));
    ASSERT_EQ(1, EVP_PKEY_eq(priv, pub));

    /* it signs, and node.pub verifies */
    const unsigned char msg[] = "custody";
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    ASSERT_EQ(1, EVP_DigestSignInit(md, NULL, NULL, NULL, priv));
    ASSERT_EQ(1, EVP_DigestSign(md, sig, &siglen, msg, sizeof msg));
    EVP_MD_CTX_free(md);
    md = EVP_MD_CTX_new();
    ASSERT_EQ(1, EVP_DigestVerifyInit(md, NULL, NULL, NULL, pub));
    ASSERT_EQ(1, EVP_DigestVerify(md, sig, siglen, msg, sizeof msg));
    EVP_MD_CTX_free(md);

    /* two inits make two different keys */
    char *dir2 = init_ok("state2");
    char *pub2p = state_file(dir2, "keys/node.pub");
    char *a = read_text(pubp), *c = read_text(pub2p);
    ASSERT(strcmp(a, c) != 0);
    free(a);
    free(c);
    free(pub2p);
    free(dir2);

    EVP_PKEY_free(priv);
    EVP_PKEY_free(pub);
    free(privp);
    free(pubp);
    free(dir);
}

TEST(state_init_tls_certificate)
{
    char *dir = init_ok("state");
    char *certp = state_file(dir, "tls/cert.pem");
    char *keyp = state_file(dir, "tls/key.pem");
    BIO *b = BIO_new_file(certp, "r");
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new_file(keyp, "r");
    EVP_PKEY *key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    ASSERT_NOT_NULL(x);
    ASSERT_NOT_NULL(key);

    /* ECDSA P-256, matching the key, signed with SHA-256, X.509v3 */
    ASSERT_EQ(EVP_PKEY_EC, EVP_PKEY_get_base_id(key));
    char group[64];
    size_t glen = 0;
    ASSERT_EQ(1, EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &glen));
    ASSERT_STR_EQ("prime256v1", group);
    ASSERT_EQ(1, X509_check_private_key(x, key));
    ASSERT_EQ(NID_ecdsa_with_SHA256, X509_get_signature_nid(x));
    ASSERT_EQ(X509_VERSION_3, X509_get_version(x));

    /* CN=localhost and the SANs */
    char cn[64] = "";
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    ASSERT_STR_EQ("localhost", cn);
    ASSERT_EQ(1, X509_check_host(x, "localhost", 0, 0, NULL));
    ASSERT_EQ(1, X509_check_ip_asc(x, "127.0.0.1", 0));
    ASSERT_EQ(1, X509_check_ip_asc(x, "::1", 0));
    ASSERT_NE(1, X509_check_host(x, "example.com", 0, 0, NULL));
    GENERAL_NAMES *sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    ASSERT_NOT_NULL(sans);
    ASSERT_EQ(3, sk_GENERAL_NAME_num(sans));
    int dns = 0, ip4 = 0, ip6 = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
        if (g->type == GEN_DNS)
            dns++;
        else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 4)
            ip4++;
        else if (g->type == GEN_IPADD && ASN1_STRING_length(g->d.iPAddress) == 16)
            ip6++;
    }
    ASSERT_EQ(1, dns);
    ASSERT_EQ(1, ip4);
    ASSERT_EQ(1, ip6);
    GENERAL_NAMES_free(sans);

    /* valid now, for 365 days */
    int days = 0, secs = 0;
    ASSERT_EQ(1, ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
    ASSERT_EQ(365, days);
    ASSERT_EQ(0, secs);
    ASSERT_LE(X509_cmp_current_time(X509_get0_notBefore(x)), 0);
    ASSERT_GT(X509_cmp_current_time(X509_get0_notAfter(x)), 0);

    /* a positive, random serial */
    const ASN1_INTEGER *serial = X509_get0_serialNumber(x);
    BIGNUM *bn = ASN1_INTEGER_to_BN(serial, NULL);
    ASSERT(!BN_is_negative(bn));
    ASSERT_GE(BN_num_bits(bn), 100);
    BN_free(bn);

    /* a client that trusts exactly this certificate accepts it, strictly */
    X509_STORE *store = X509_STORE_new();
    ASSERT_EQ(1, X509_STORE_add_cert(store, x));
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ASSERT_EQ(1, X509_STORE_CTX_init(ctx, store, x, NULL));
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    ASSERT_EQ(1, X509_VERIFY_PARAM_set1_host(param, "localhost", 0));
    int ok = X509_verify_cert(ctx);
    if (ok != 1)
        TEST_FAIL_("verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);

    X509_free(x);
    EVP_PKEY_free(key);
    free(certp);
    free(keyp);
    free(dir);
}

TEST(state_init_certificate_from_a_users_key)
{
    /* a user's own key in tls/key.pem gets a certificate made for it */
    char *dir = fresh_state_dir("userkey");
    ASSERT_OK(util_mkdir_p(dir, 0700));
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ASSERT_NOT_NULL(rsa);
    BIO *mem = BIO_new(BIO_s_mem());
    ASSERT_EQ(1, PEM_write_bio_PrivateKey(mem, rsa, NULL, NULL, 0, NULL, NULL));
    char *pem;
    long len = BIO_get_mem_data(mem, &pem);
    char *text = util_strndup(pem, (size_t)len);
    test_write_file(dir, "tls/key.pem", text);
    free(text);
    BIO_free(mem);
    ASSERT_OK(state_init(dir, NULL));
    char *certp = state_file(dir, "tls/cert.pem");
    BIO *b = BIO_new_file(certp, "r");
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    ASSERT_NOT_NULL(x);
    ASSERT_EQ(1, X509_check_private_key(x, rsa));
    ASSERT_EQ(NID_sha256WithRSAEncryption, X509_get_signature_nid(x));
    X509_free(x);
    EVP_PKEY_free(rsa);
    free(certp);
    free(dir);
}
