/*
 * config.h — the doorway to src/config: the state directory and its YAML
 * configuration.
 *
 * A state directory (custody init) holds:
 *   config.yaml          human-edited settings, commented (this module writes the template)
 *   roots.yaml           registered roots (written by custodyd on `custody root add`)
 *   keys/node.ed25519    node signing key, PEM PKCS#8, mode 0600
 *   keys/node.pub        its public key, PEM
 *   keys/store.key       the version store's key (made by custodyd, src/store/crypt.c)
 *   tls/key.pem          development TLS key (0600), tls/cert.pem self-signed cert
 *   demo/                the demo root, a few files
 *   policy/starter.cedar the starter Cedar policy (src/authz reads every .cedar file there)
 *   store/               the resource store's versions (src/store)
 *   custodyd.sock        the API socket (while custodyd runs)
 *
 * Parsing is strict: unknown keys, wrong types and out-of-range values are
 * errors reported as "FILE:LINE: problem" (one per line in the error buffer),
 * and a config with any error is never applied.
 */
#ifndef CUSTODY_CONFIG_H
#define CUSTODY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/util.h"

#define CONFIG_FILE "config.yaml"
#define CONFIG_ROOTS_FILE "roots.yaml"
#define CONFIG_MAX_FILE_BYTES (1u << 20) /* config files larger than 1 MiB are refused */
#define CONFIG_MAX_ROOTS 4096
#define CONFIG_MAX_LABELS 64
#define CONFIG_NAME_MAX 64 /* root names: [A-Za-z0-9_-], 1..64, first char alnum */

struct cfg_label {
    char *key;   /* [A-Za-z0-9_.-]{1,64} */
    char *value; /* any UTF-8 string up to 256 bytes */
};

struct cfg_root {
    char *name;  /* see config_root_name_valid */
    char *path;  /* absolute, as given (resolved against the state dir when relative) */
    struct cfg_label *labels;
    size_t nlabels;
};

struct custody_config {
    int refs; /* atomic; config_ref/config_unref */

    char *state_dir;   /* absolute */
    char *node_name;   /* node.name; default: host name */

    /* listen.unix */
    char *unix_path;   /* absolute; default STATE/custodyd.sock */
    mode_t unix_mode;  /* default 0660 */
    /* listen.tcp */
    bool tcp_enabled;  /* default true: agents authenticate (session proof bound to TLS) */
    char *tcp_address; /* default "127.0.0.1" */
    int tcp_port;      /* default 8443; 0: any free port (logged) */
    /* tls */
    char *tls_cert;    /* absolute; default STATE/tls/cert.pem */
    char *tls_key;     /* absolute; default STATE/tls/key.pem */

    /* limits */
    size_t max_header_bytes;    /* request line + headers; default 16384 */
    size_t max_headers;         /* default 100 */
    size_t max_uri_bytes;       /* default 8192 */
    uint64_t max_body_bytes;    /* PUT body; default 17179869184 (16 GiB) */
    unsigned max_connections;   /* default 4096 */
    unsigned max_streams;       /* h2 concurrent streams per connection; default 128 */
    unsigned header_timeout_ms; /* whole request head must arrive within; default 10000 */
    unsigned idle_timeout_ms;   /* keep-alive idle; default 60000 */
    unsigned io_timeout_ms;     /* no progress reading a body or writing a response; default 30000 */
    unsigned drain_timeout_ms;  /* SIGTERM: wait this long for in-flight requests; default 30000 */
    size_t list_max_entries;    /* directory listing cap; default 100000 */

    /* store */
    bool versions;              /* keep prior content on every write; default true */
    char *store_encrypt_label;  /* roots with a label of this key or value keep their
                                 * versions encrypted (docs/store.md); default "encrypt" */

    /* log */
    enum log_level log_level;   /* default info */

    /* audit (the ledger; docs/ledger.md) */
    char *audit_origin;                /* checkpoint origin; NULL = custody/<node>/<key id> */
    unsigned audit_checkpoint_interval_ms; /* default 500 */
    size_t audit_batch_max;            /* events per group commit; default 8192 */
    bool audit_pseudo_principal;       /* write principal_id as hmac-sha256:...; default false */
    bool audit_pseudo_agent;           /* default false */
    bool audit_pseudo_session;         /* default false */
    char *audit_sensitive_label;       /* roots with a label of this key or value have their
                                        * paths pseudonymized; default "phi" */

    /* tokens (capability lifetimes, docs/authz.md) */
    unsigned token_ttl_default_s;   /* when a mint names none; default 300 */
    unsigned token_ttl_max_s;       /* no token lives longer; default 3600 */
    unsigned token_ttl_sensitive_s; /* under roots with the sensitive label; default 60 */

    /* models (issue 6, docs/model.md "Cache") */
    uint64_t models_max_bytes; /* the model cache's size limit (LRU eviction); 0: none */

    /* roots (from roots.yaml) */
    struct cfg_root *roots;
    size_t nroots;
};

/* Fills every field with its default (state_dir made absolute). */
struct custody_config *config_new_default(const char *state_dir);

/*
 * Loads STATE/config.yaml and STATE/roots.yaml (a missing roots.yaml means no
 * roots). On error returns CUSTODY_ECONFIG (or the I/O error) and appends
 * "FILE:LINE: problem\n" lines to err; *out is untouched.
 */
int config_load(const char *state_dir, struct custody_config **out, struct strbuf *err);

/* Parses config YAML text; `filename` is used only in messages. Same error
 * contract as config_load; on error *cfg is left unchanged (config_parse_main
 * stores nothing, config_parse_roots keeps the old roots). The fuzz target
 * drives this. */
int config_parse_main(struct custody_config *cfg, const char *filename, const char *text,
                      size_t len, struct strbuf *err);
int config_parse_roots(struct custody_config *cfg, const char *filename, const char *text,
                       size_t len, struct strbuf *err);

struct custody_config *config_ref(struct custody_config *cfg);
void config_unref(struct custody_config *cfg);

const struct cfg_root *config_find_root(const struct custody_config *cfg, const char *name);
bool config_root_name_valid(const char *name);
bool config_label_key_valid(const char *key);

/* Writes STATE/roots.yaml atomically from roots[0..n). */
int config_save_roots(const char *state_dir, const struct cfg_root *roots, size_t n);

/* Deep copy of one root (for building a new roots array). */
void config_root_copy(struct cfg_root *dst, const struct cfg_root *src);
void config_root_free(struct cfg_root *r);

/*
 * custody init: creates the state directory (0700) if missing and any of its
 * pieces that are missing — keys (Ed25519 via OpenSSL, 0600), a self-signed
 * TLS certificate for localhost/127.0.0.1/::1 (ECDSA P-256, 1 year), the
 * commented config.yaml template, roots.yaml registering "demo" ->
 * STATE/demo with label classification=public, and demo files. Never
 * overwrites an existing file. Returns 0 or a negative error with a message
 * in err.
 */
int state_init(const char *state_dir, struct strbuf *err);

/* Resolves the state directory: explicit arg, else $CUSTODY_STATE, else
 * "./var/custody" made absolute. Returns a new string. */
char *state_dir_resolve(const char *arg);

/* ---- additions used inside src/config, by custody init and by tests ---- */

#define CONFIG_MAX_ERRORS 20       /* problems reported per file; then one summary line */
#define CONFIG_MAX_DEPTH 32        /* YAML nesting deeper than this is refused */
#define CONFIG_LABEL_VALUE_MAX 256 /* bytes in a label value */

/* Appends the full roots.yaml text for roots[0..n) (header comment first,
 * every string double-quoted and escaped) to out. Returns CUSTODY_EINVAL,
 * appending nothing, when the roots would not load back: an invalid name or
 * label key, a duplicate, a value that is not UTF-8 or too long, too many. */
int config_format_roots(const struct cfg_root *roots, size_t n, struct strbuf *out);

/* Appends s[0..len) (valid UTF-8) as a YAML double-quoted scalar. */
void config_yaml_quote(struct strbuf *out, const char *s, size_t len);

/* Appends the commented config.yaml template (every setting at its
 * default; node.name is node_name) to out. Lives in template.c. */
void config_template(struct strbuf *out, const char *node_name);

/* path made absolute against the working directory, with empty and "."
 * components removed (".." is kept: it may cross a symlink). New string. */
char *config_path_absolute(const char *path);

#endif
