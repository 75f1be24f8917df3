/*
 * custody.h — the doorway to libcustody: version, error codes, and the
 * client SDK (custody/client.h) for talking to custodyd.
 *
 * Every function in the custody_ API returns 0 (or a non-negative count) on
 * success and a negative CUSTODY_E* code on failure.
 */
#ifndef CUSTODY_CUSTODY_H
#define CUSTODY_CUSTODY_H

#ifdef __cplusplus
extern "C" {
#endif

#define CUSTODY_VERSION_MAJOR 0
#define CUSTODY_VERSION_MINOR 1
#define CUSTODY_VERSION_PATCH 0
#define CUSTODY_VERSION_STRING "0.1.0"

/*
 * Error table: symbol, value, stable API code (used in JSON errors and by the
 * CLI), HTTP status the gateway answers with, and a human message.
 * Values and codes are stable: never renumber, only append.
 */
#define CUSTODY_ERRNO_MAP(XX)                                                                      \
    XX(EINVAL, -1, "bad_request", 400, "invalid request or argument")                             \
    XX(ENOENT, -2, "not_found", 404, "no such file or directory")                                 \
    XX(EEXIST, -3, "already_exists", 409, "already exists")                                       \
    XX(ENOTDIR, -4, "not_a_directory", 409, "not a directory")                                    \
    XX(EISDIR, -5, "is_a_directory", 409, "is a directory")                                       \
    XX(ENOTEMPTY, -6, "directory_not_empty", 409, "directory not empty")                          \
    XX(EESCAPE, -7, "path_escapes_root", 403, "path escapes its root")                            \
    XX(EBADPATH, -8, "invalid_path", 400, "invalid path")                                         \
    XX(EPRECOND, -9, "precondition_failed", 412, "precondition failed")                           \
    XX(ERANGE, -10, "range_not_satisfiable", 416, "range not satisfiable")                        \
    XX(ENOSPC, -11, "insufficient_storage", 507, "no space left on device")                       \
    XX(EIO, -12, "io_error", 500, "input/output error")                                           \
    XX(ENOMEM, -13, "out_of_memory", 503, "out of memory")                                        \
    XX(ETOOBIG, -14, "payload_too_large", 413, "payload too large")                               \
    XX(ECONFIG, -15, "config_error", 500, "configuration error")                                  \
    XX(ENOROOT, -16, "unknown_root", 404, "no such root")                                         \
    XX(EXDEV, -17, "cross_root", 409, "operation crosses roots")                                  \
    XX(EPERM, -18, "permission_denied", 403, "permission denied")                                 \
    XX(EAGAIN, -19, "busy", 503, "resource busy, try again")                                      \
    XX(ETIMEDOUT, -20, "timeout", 408, "timed out")                                               \
    XX(EPROTO, -21, "protocol_error", 400, "protocol error")                                      \
    XX(ECONNECT, -22, "daemon_unreachable", 503, "cannot reach custodyd")                         \
    XX(EUNAVAIL, -23, "unavailable", 503, "service unavailable")                                  \
    XX(ENOVERSION, -24, "unknown_version", 404, "no such version")                                \
    XX(EINTERNAL, -25, "internal_error", 500, "internal error")                                   \
    XX(EMETHOD, -26, "method_not_allowed", 405, "method not allowed")                             \
    XX(ELOOP, -27, "too_many_links", 400, "too many levels of symbolic links")                    \
    XX(ENAMETOOLONG, -28, "name_too_long", 414, "name too long")                                  \
    XX(EROFS, -29, "read_only", 403, "read-only file system")                                     \
    XX(ELENGTH, -30, "length_required", 411, "length required")                                   \
    XX(EHEADERS, -31, "headers_too_large", 431, "request header fields too large")                \
    XX(EAUDIT, -32, "audit_unavailable", 503, "the audit log cannot record events")               \
    XX(EBADSIG, -33, "bad_signature", 403, "signature verification failed")                       \
    XX(EBADPROOF, -34, "invalid_proof", 422, "invalid proof")                                     \
    XX(ECONFLICT, -35, "conflict", 409, "conflicting state")                                      \
    XX(ECORRUPT, -36, "corrupt", 500, "data failed verification")                                \
    XX(EUNAUTH, -37, "unauthenticated", 401, "authentication required")                           \
    XX(EDENIED, -38, "policy_denied", 403, "denied by policy")                                    \
    XX(EBADTOKEN, -39, "invalid_token", 401, "invalid capability token")                          \
    XX(EEXPIRED, -40, "token_expired", 401, "capability token expired")                           \
    XX(EREVOKED, -41, "revoked", 401, "revoked")                                                  \
    XX(EQUARANTINED, -42, "agent_quarantined", 403, "agent is quarantined")                       \
    XX(EREPLAY, -43, "replayed", 401, "replayed request")                                         \
    XX(EUNSUPPORTED, -44, "unsupported", 400, "unsupported feature")                              \
    XX(ESYNTAX, -45, "syntax_error", 400, "syntax error")

typedef enum {
    CUSTODY_OK = 0,
#define CUSTODY_XX_ENUM(sym, val, code, status, msg) CUSTODY_##sym = (val),
    CUSTODY_ERRNO_MAP(CUSTODY_XX_ENUM)
#undef CUSTODY_XX_ENUM
} custody_err_t;

/* Human message for an error code ("no such file or directory"). */
const char *custody_strerror(int err);
/* Stable machine code for an error ("not_found"); "ok" for 0. */
const char *custody_err_code(int err);
/* Inverse of custody_err_code; CUSTODY_EINTERNAL when unknown. */
int custody_err_from_code(const char *code);
/* HTTP status the gateway answers an error with (200 for 0). */
int custody_err_http_status(int err);
/* Map a POSIX errno value to a custody error code. */
int custody_err_from_errno(int errnum);

const char *custody_version(void);

#ifdef __cplusplus
}
#endif
#endif
