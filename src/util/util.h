/*
 * util.h — the doorway to src/util: logging, growable buffers, bounded
 * string helpers, hex and SHA-256, UTF-8 checks, time, and small file
 * helpers (atomic write, mkdir -p). Everything else in custody builds on it;
 * it depends on nothing in custody but include/custody/custody.h.
 */
#ifndef CUSTODY_UTIL_H
#define CUSTODY_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "custody/custody.h"

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define UTIL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define UTIL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ---- logging (stderr, systemd-friendly: one line per event) ---- */
enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Parses "error"/"warn"/"info"/"debug"; returns 0 or CUSTODY_EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() >= LOG_DEBUG)                                                          \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

/* ---- growable byte/string buffer; always NUL-terminated ---- */
struct strbuf {
    char *buf;
    size_t len;
    size_t cap;
};
#define STRBUF_INIT {NULL, 0, 0}
int sb_reserve(struct strbuf *sb, size_t extra);
int sb_append(struct strbuf *sb, const void *data, size_t len);
int sb_puts(struct strbuf *sb, const char *s);
int sb_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Replaces sb's content with the formatted message (when sb is not NULL)
 * and returns rc: `return sb_fail(err, CUSTODY_EINVAL, "bad %s", x);`. */
int sb_fail(struct strbuf *sb, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int sb_vprintf(struct strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void sb_reset(struct strbuf *sb);
void sb_free(struct strbuf *sb);
/* Returns the buffer (caller frees) and leaves sb empty. Never NULL. */
char *sb_detach(struct strbuf *sb);
/* Appends s with JSON string escaping (no surrounding quotes). */
int sb_json_escape(struct strbuf *sb, const char *s, size_t len);
/* Appends s as a quoted JSON string escaped the way RFC 8785 (JCS) and
 * JavaScript's JSON.stringify do: \b \f \n \r \t short, other control
 * characters as \u00xx, nothing else escaped. */
int sb_jcs_string(struct strbuf *sb, const char *s, size_t len);

/* ---- bounded strings ---- */
/* Copies at most dstsz-1 bytes and NUL-terminates; returns strlen(src)
 * (truncation happened when the result >= dstsz). */
size_t util_strlcpy(char *dst, const char *src, size_t dstsz);
/* Appends src to the string in dst, cut to fit dstsz with its NUL; returns
 * the length it tried to make (truncation when >= dstsz), as strlcat(3). */
size_t util_strlcat(char *dst, const char *src, size_t dstsz);
/* snprintf that returns CUSTODY_ENAMETOOLONG on truncation, 0 otherwise. */
int util_snprintf(char *dst, size_t dstsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Writes a one-line message into (err, errlen) (err may be NULL) and returns
 * rc: `return util_fail(err, errlen, CUSTODY_EINVAL, "bad %s", x);`. */
int util_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* strdup that never returns NULL for non-NULL input (aborts on OOM). */
char *util_strdup(const char *s);
char *util_strndup(const char *s, size_t n);
void *util_calloc(size_t n, size_t sz); /* aborts on OOM */
void *util_realloc(void *p, size_t sz); /* aborts on OOM */
/* Parse a decimal unsigned 64-bit number spanning all of [s, s+len).
 * Rejects empty, signs, spaces and overflow. */
int util_parse_u64(const char *s, size_t len, uint64_t *out);
/* v in decimal into out (NUL-terminated); returns the digits written. For
 * per-request paths, where snprintf shows in profiles. */
size_t util_u64_text(uint64_t v, char out[21]);
/* The same for a signed value ('-' first when negative). */
size_t util_i64_text(int64_t v, char out[22]);
/* Case-insensitive ASCII compare of n bytes. */
bool util_ascii_ieq(const char *a, const char *b, size_t n);
/* Constant-time comparison (for MACs and secrets). */
bool util_ct_equal(const void *a, const void *b, size_t n);

/* ---- errors ---- */
/* A SQLite result code as a custody error: FULL -> ENOSPC, BUSY/LOCKED ->
 * EAGAIN, NOMEM -> ENOMEM, READONLY -> EROFS, anything else -> EIO. */
int util_err_from_sqlite(int sqlite_rc);

/* ---- hex, SHA-256, random ---- */
void util_hex_encode(const uint8_t *in, size_t len, char *out /* 2*len+1 */);
/* Value of one hex digit (either case), or -1. */
int util_hexval(char c);
int util_hex_decode(const char *in, size_t len, uint8_t *out /* len/2 */);
#define UTIL_SHA256_LEN 32
#define UTIL_SHA256_HEX_LEN 64
struct util_sha256; /* opaque incremental hasher (OpenSSL EVP) */
struct util_sha256 *util_sha256_new(void);
void util_sha256_update(struct util_sha256 *h, const void *data, size_t len);
void util_sha256_final(struct util_sha256 *h, uint8_t out[UTIL_SHA256_LEN]); /* also frees */
void util_sha256_free(struct util_sha256 *h);
void util_sha256(const void *data, size_t len, uint8_t out[UTIL_SHA256_LEN]);
/* Hashes fd's content from offset 0 with pread; returns 0 or error. */
int util_sha256_fd(int fd, uint8_t out[UTIL_SHA256_LEN], uint64_t *size_out);
int util_random(void *buf, size_t len);

/* ---- UTF-8 ---- */
/* Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool util_utf8_valid(const char *s, size_t len);
/* Writes code point cp (at most U+10FFFF, not a surrogate) as UTF-8 into
 * out (room for 4 bytes); returns the bytes written. */
size_t util_utf8_encode(uint32_t cp, char *out);

/* ---- time ---- */
uint64_t util_now_ns(void);        /* CLOCK_REALTIME */
uint64_t util_monotonic_ns(void);  /* CLOCK_MONOTONIC */
/* RFC 3339 UTC with nanoseconds: 2026-11-26T07:14:00.123456789Z (31 bytes + NUL) */
void util_rfc3339_ns(uint64_t ns, char out[40]);
/* RFC 9110 IMF-fixdate: Thu, 26 Nov 2026 07:14:00 GMT (29 bytes + NUL) */
void util_http_date(uint64_t unix_seconds, char out[32]);

/* ---- files ---- */
/* Writes data to path atomically: temp (O_EXCL) + fsync + rename + fsync dir. */
int util_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Reads a whole regular file (at most max bytes) into a NUL-terminated buffer. */
int util_read_file(const char *path, size_t max, char **out, size_t *len_out);
/* mkdir -p with mode for created directories. */
int util_mkdir_p(const char *path, mode_t mode);
/* fsync the directory containing path (or the directory itself). */
int util_fsync_dir(const char *dir);
/* Joins a and b with one '/', into a new string. */
char *util_path_join(const char *a, const char *b);
/* Write all / read all with EINTR handling. */
int util_write_all(int fd, const void *buf, size_t len);

/* ---- Ed25519 keys (ed25519.c, OpenSSL) ---- */
#define UTIL_ED25519_FP_LEN 72 /* "ed25519:" + 64 hex */
/* A new key pair: the raw public key and the private key as PKCS#8 PEM. */
int util_ed25519_keygen(uint8_t pub[32], struct strbuf *private_pem);
/* The raw public key of a PKCS#8 PEM private key (CUSTODY_EINVAL if not Ed25519). */
int util_ed25519_load_pem(const char *pem, size_t len, uint8_t pub[32]);
/* The raw key of a PEM Ed25519 public key file (SubjectPublicKeyInfo, at most 16 KiB):
 * CUSTODY_EINVAL when it is anything else, or the file's read error. */
int util_ed25519_load_public_file(const char *path, uint8_t pub[32]);
/* "ed25519:" + lower-case hex SHA-256 of the raw public key. */
void util_ed25519_fingerprint(const uint8_t pub[32], char out[UTIL_ED25519_FP_LEN + 1]);
/* Signature of msg with a PKCS#8 PEM private key. */
int util_ed25519_sign(const char *pem, size_t pem_len, const void *msg, size_t len,
                      uint8_t sig[64]);
/* 0 when sig is pub's signature of msg, else CUSTODY_EBADSIG. */
int util_ed25519_verify(const uint8_t pub[32], const void *msg, size_t len, const uint8_t sig[64]);
/* The bytes an agent signs to open a session (custodyd checks them in
 * src/authz; libcustody signs them):
 *   "custody-session-v1\n" agent "\n" ts "\n" nonce "\n" binding "\n" */
int util_session_message(const char *agent, uint64_t ts, const char *nonce, const char *binding,
                         struct strbuf *out);
/* A whole custody-session header value, "v1 AGENT TS NONCE SIGHEX", with a
 * fresh random nonce and the current time, signed with the agent's PEM
 * private key for binding ("unix", or "tls-exporter:<hex>"). */
#define UTIL_SESSION_PROOF_MAX 400
int util_session_proof(const char *agent, const char *pem, size_t pem_len, const char *binding,
                       char out[UTIL_SESSION_PROOF_MAX]);

#endif
