/* err.c — the error table behind custody_strerror and friends. */
#include <errno.h>
#include <string.h>

#include <sqlite3.h>

#include "custody/custody.h"
#include "util.h"

struct err_entry {
    int value;
    const char *code;
    int status;
    const char *msg;
};

static const struct err_entry err_table[] = {
#define XX(sym, val, code, status, msg) {val, code, status, msg},
    CUSTODY_ERRNO_MAP(XX)
#undef XX
};

static const struct err_entry *err_find(int err)
{
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (err_table[i].value == err)
            return &err_table[i];
    return NULL;
}

const char *custody_strerror(int err)
{
    if (err >= 0)
        return "success";
    const struct err_entry *e = err_find(err);
    return e ? e->msg : "unknown error";
}

const char *custody_err_code(int err)
{
    if (err >= 0)
        return "ok";
    const struct err_entry *e = err_find(err);
    return e ? e->code : "internal_error";
}

int custody_err_from_code(const char *code)
{
    if (!code)
        return CUSTODY_EINTERNAL;
    if (strcmp(code, "ok") == 0)
        return 0;
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (strcmp(err_table[i].code, code) == 0)
            return err_table[i].value;
    return CUSTODY_EINTERNAL;
}

int custody_err_http_status(int err)
{
    if (err >= 0)
        return 200;
    const struct err_entry *e = err_find(err);
    return e ? e->status : 500;
}

int custody_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return 0;
    case ENOENT:
        return CUSTODY_ENOENT;
    case EEXIST:
        return CUSTODY_EEXIST;
    case ENOTDIR:
        return CUSTODY_ENOTDIR;
    case EISDIR:
        return CUSTODY_EISDIR;
    case ENOTEMPTY:
        return CUSTODY_ENOTEMPTY;
    case EXDEV:
        return CUSTODY_EESCAPE; /* openat2 RESOLVE_BENEATH escape */
    case ENOSPC:
    case EDQUOT:
        return CUSTODY_ENOSPC;
    case ENOMEM:
        return CUSTODY_ENOMEM;
    case EACCES:
    case EPERM:
        return CUSTODY_EPERM;
    case EAGAIN:
    case EBUSY:
        return CUSTODY_EAGAIN;
    case ETIMEDOUT:
        return CUSTODY_ETIMEDOUT;
    case ELOOP:
        return CUSTODY_ELOOP;
    case ENAMETOOLONG:
        return CUSTODY_ENAMETOOLONG;
    case EROFS:
        return CUSTODY_EROFS;
    case EINVAL:
        return CUSTODY_EINVAL;
    case EFBIG:
        return CUSTODY_ETOOBIG;
    default:
        return CUSTODY_EIO;
    }
}

const char *custody_version(void)
{
    return CUSTODY_VERSION_STRING;
}

int util_err_from_sqlite(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_FULL:
        return CUSTODY_ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CUSTODY_EAGAIN;
    case SQLITE_NOMEM:
        return CUSTODY_ENOMEM;
    case SQLITE_READONLY:
        return CUSTODY_EROFS;
    default:
        return CUSTODY_EIO;
    }
}
