/*
 * index.c — the ledger's search index: one SQLite row per leaf, so that
 * "who touched this file", "what did this agent do last night" and "where
 * did this content go" do not need a scan of the whole log.
 *
 * The index is derived data. The log (journal, tiles, checkpoints) is the
 * record; this file can be deleted at any time and is rebuilt from it. So:
 *   - synchronous=NORMAL in WAL mode: a crash may lose the last
 *     transactions, never consistency, and the indexer re-adds from
 *     ledger_index_size();
 *   - a file that is not a database, is damaged, or belongs to another
 *     log (meta 'origin') or schema ('schema_version') is deleted and
 *     created afresh instead of being repaired.
 *
 * Tables:
 *   meta(key TEXT PRIMARY KEY, value)   'origin', 'schema_version'
 *   events(idx INTEGER PRIMARY KEY, event_id, time_ns, action, decision,
 *          principal, agent, resource, sha256, destination, edit)
 * (edit: 1 when the event carries an edit record, docs/ledger.md.) Schema 2
 * added destination and edit; an index of schema 1 is rebuilt.
 * Leaves are added contiguously; an entry that does not decode as an event
 * keeps its row with idx alone, so max(idx)+1 is always the next leaf.
 * time_ns above INT64_MAX (after the year 2262) is stored as INT64_MAX.
 *
 * Threading: the connection is opened with SQLITE_OPEN_NOMUTEX (SQLite's
 * multi-thread mode, no per-call locking). A struct ledger_index must be
 * used by one thread at a time; the caller serializes (the ledger's
 * indexer thread owns it, searches go through the same lock).
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/ledger.h"

#define INDEX_SCHEMA_VERSION 2
#define INDEX_FILE "index.db"
#define SEARCH_LIMIT_DEFAULT 100
#define SEARCH_LIMIT_MAX 10000

struct ledger_index {
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *rollback, *insert;
    uint64_t size;
};

/* The index also tells a damaged file apart (it is then rebuilt). */
static int sql_code(int rc)
{
    int prim = rc & 0xff;
    if (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB)
        return CUSTODY_ECORRUPT;
    return util_err_from_sqlite(rc);
}

static int sql_err(sqlite3 *db, int rc, const char *what)
{
    log_error("ledger: index %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return sql_code(rc);
}

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "BEGIN IMMEDIATE;"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value);"
    "CREATE TABLE IF NOT EXISTS events ("
    " idx INTEGER PRIMARY KEY, event_id TEXT, time_ns INTEGER, action TEXT,"
    " decision TEXT, principal TEXT, agent TEXT, resource TEXT, sha256 TEXT,"
    " destination TEXT, edit INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS events_time ON events (time_ns);"
    "CREATE INDEX IF NOT EXISTS events_agent ON events (agent);"
    "CREATE INDEX IF NOT EXISTS events_principal ON events (principal);"
    "CREATE INDEX IF NOT EXISTS events_resource ON events (resource);"
    "CREATE INDEX IF NOT EXISTS events_action ON events (action);"
    "CREATE INDEX IF NOT EXISTS events_sha256 ON events (sha256);"
    "COMMIT;";

static void index_free(struct ledger_index *ix)
{
    if (!ix) return;
    sqlite3_finalize(ix->begin);
    sqlite3_finalize(ix->commit);
    sqlite3_finalize(ix->rollback);
    sqlite3_finalize(ix->insert);
    if (ix->db) sqlite3_close(ix->db);
    free(ix);
}

/* Runs one statement that returns at most one row; *text / *num get its
 * first column (NULL / 0 when no row). */
static int query_one(sqlite3 *db, const char *sql, const char *arg, char **text, int64_t *num)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return sql_err(db, rc, "prepare");
    if (arg) sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
    if (text) *text = NULL;
    if (num) *num = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (text && t) *text = util_strdup((const char *)t);
        if (num) *num = sqlite3_column_int64(s, 0);
        rc = SQLITE_DONE;
    }
    int ret = rc == SQLITE_DONE ? 0 : sql_err(db, rc, "query");
    sqlite3_finalize(s);
    return ret;
}

/* Checks (or, in an empty database, writes) meta: 0 when this is our
 * index, CUSTODY_ECONFLICT when it belongs to another log or schema. */
static int check_meta(sqlite3 *db, const char *origin)
{
    char *have = NULL;
    int64_t version = 0, rows = 0, events = 0;
    int rc = query_one(db, "SELECT value FROM meta WHERE key='origin'", NULL, &have, NULL);
    if (!rc)
        rc = query_one(db, "SELECT value FROM meta WHERE key='schema_version'", NULL, NULL,
                       &version);
    if (!rc) rc = query_one(db, "SELECT count(*) FROM meta", NULL, NULL, &rows);
    if (!rc) rc = query_one(db, "SELECT count(*) FROM events", NULL, NULL, &events);
    if (rc) {
        free(have);
        return rc;
    }
    if (rows == 0 && events == 0) { /* new */
        sqlite3_stmt *s = NULL;
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO meta (key, value) VALUES ('origin', ?1),"
                                " ('schema_version', ?2)",
                                -1, &s, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(s, 1, origin, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, INDEX_SCHEMA_VERSION);
            rc = sqlite3_step(s);
        }
        sqlite3_finalize(s);
        return rc == SQLITE_DONE ? 0 : sql_err(db, rc, "meta");
    }
    bool ours = have && strcmp(have, origin) == 0 && version == INDEX_SCHEMA_VERSION;
    if (!ours)
        log_warn("ledger: index belongs to origin \"%s\" schema %lld, rebuilding",
                 have ? have : "?", (long long)version);
    free(have);
    return ours ? 0 : CUSTODY_ECONFLICT;
}

static int open_once(const char *path, const char *origin, struct ledger_index **out)
{
    /* the index holds identifiers: owner-only, like the log itself (SQLite
     * gives the -wal and -shm files the database's mode) */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return custody_err_from_errno(errno);
    close(fd);

    struct ledger_index *ix = util_calloc(1, sizeof *ix);
    int rc = sqlite3_open_v2(
        path, &ix->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_err(ix->db, rc, "open");
        index_free(ix);
        return rc;
    }
    sqlite3_busy_timeout(ix->db, 5000);
    char *msg = NULL;
    rc = sqlite3_exec(ix->db, SCHEMA, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_warn("ledger: index %s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        rc = sql_code(rc);
        index_free(ix);
        return rc;
    }
    rc = check_meta(ix->db, origin);
    /* only now: an index of schema 1 has no such column (check_meta
     * refused it above, and it is rebuilt) */
    if (!rc && (rc = sqlite3_exec(
                    ix->db, "CREATE INDEX IF NOT EXISTS events_destination ON events (destination)",
                    NULL, NULL, NULL)) != SQLITE_OK)
        rc = sql_err(ix->db, rc, "schema");
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } stmts[] = {
        {&ix->begin, "BEGIN IMMEDIATE"},
        {&ix->commit, "COMMIT"},
        {&ix->rollback, "ROLLBACK"},
        {&ix->insert, "INSERT INTO events"
                      " (idx, event_id, time_ns, action, decision, principal, agent, resource,"
                      " sha256, destination, edit)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(stmts) && !rc; i++) {
        int src = sqlite3_prepare_v3(ix->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                     stmts[i].stmt, NULL);
        if (src != SQLITE_OK) rc = sql_err(ix->db, src, "prepare");
    }
    int64_t max = -1;
    if (!rc) rc = query_one(ix->db, "SELECT coalesce(max(idx), -1) FROM events", NULL, NULL, &max);
    if (!rc && max < -1) rc = CUSTODY_ECORRUPT;
    if (rc) {
        index_free(ix);
        return rc;
    }
    ix->size = (uint64_t)(max + 1);
    *out = ix;
    return 0;
}

static void remove_files(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(suffix); i++) {
        char p[4096];
        if (util_snprintf(p, sizeof p, "%s%s", path, suffix[i]) == 0 && unlink(p) != 0 &&
            errno != ENOENT)
            log_warn("ledger: index: cannot remove %s: %s", p, strerror(errno));
    }
}

int ledger_index_open(const char *path, const char *origin, struct ledger_index **out)
{
    if (!path || !origin || !out) return CUSTODY_EINVAL;
    *out = NULL;
    /* path is the database file; a directory means dir/index.db */
    struct stat st;
    char *file = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? util_path_join(path, INDEX_FILE)
                                                             : util_strdup(path);
    int rc = open_once(file, origin, out);
    switch (rc) {
    case 0:
    case CUSTODY_EAGAIN: /* someone holds it: not ours to delete */
    case CUSTODY_ENOMEM:
    case CUSTODY_ENOSPC:
    case CUSTODY_EROFS:
    case CUSTODY_EPERM:
    case CUSTODY_ENOENT: /* no directory */
    case CUSTODY_ELOOP:  /* a symlink where the file should be */
    case CUSTODY_EISDIR:
        break;
    default: /* not a database, damaged, another log's: start again */
        log_warn("ledger: index %s: %s; recreating it", file, custody_strerror(rc));
        remove_files(file);
        rc = open_once(file, origin, out);
    }
    free(file);
    return rc;
}

void ledger_index_close(struct ledger_index *ix)
{
    index_free(ix);
}

uint64_t ledger_index_size(struct ledger_index *ix)
{
    return ix ? ix->size : 0;
}

static void bind_text_or_null(sqlite3_stmt *s, int col, const char *v)
{
    if (v)
        sqlite3_bind_text(s, col, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, col);
}

static int insert_entry(struct ledger_index *ix, uint64_t idx, const uint8_t *entry, size_t len)
{
    sqlite3_stmt *s = ix->insert;
    struct ledger_event_view v;
    bool ok = entry && ledger_event_decode(entry, len, &v) == 0;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)idx);
    if (ok) {
        sqlite3_bind_text(s, 2, v.event_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, v.time_ns > INT64_MAX ? INT64_MAX : (sqlite3_int64)v.time_ns);
        sqlite3_bind_text(s, 4, v.action, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, v.decision, -1, SQLITE_STATIC);
        bind_text_or_null(s, 6, v.principal_id);
        bind_text_or_null(s, 7, v.agent_id);
        bind_text_or_null(s, 8, v.resource_id);
        bind_text_or_null(s, 9, v.content_sha256);
        bind_text_or_null(s, 10, v.destination_id);
    }
    sqlite3_bind_int(s, 11, ok && v.has_edit ? 1 : 0);
    int rc = sqlite3_step(s);
    int ret = rc == SQLITE_DONE ? 0 : sql_err(ix->db, rc, "insert");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    if (ok) ledger_event_view_free(&v);
    return ret;
}

static int step_simple(struct ledger_index *ix, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : sql_err(ix->db, rc, what);
}

int ledger_index_add(struct ledger_index *ix, uint64_t first, const uint8_t *const *entries,
                     const size_t *lens, size_t n)
{
    if (!ix || (n && (!entries || !lens))) return CUSTODY_EINVAL;
    if (first > ix->size || n > (uint64_t)INT64_MAX - first) return CUSTODY_EINVAL;
    size_t skip = (size_t)UTIL_MIN((uint64_t)n, ix->size - first); /* already indexed */
    if (skip == n) return 0;
    int rc = step_simple(ix, ix->begin, "begin");
    if (rc) return rc;
    for (size_t i = skip; i < n && !rc; i++)
        rc = insert_entry(ix, first + i, entries[i], lens[i]);
    if (!rc) rc = step_simple(ix, ix->commit, "commit");
    if (rc) {
        step_simple(ix, ix->rollback, "rollback");
        return rc;
    }
    ix->size = first + n;
    return 0;
}

/* One bound parameter of a search. */
struct param {
    const char *text; /* NULL: an integer */
    size_t len;
    int64_t num;
};

int ledger_index_search(struct ledger_index *ix, const struct ledger_query *q, uint64_t **out,
                        size_t *n)
{
    if (!out || !n) return CUSTODY_EINVAL;
    *out = NULL;
    *n = 0;
    if (!ix || !q) return CUSTODY_EINVAL;
    size_t limit = q->limit ? UTIL_MIN(q->limit, (size_t)SEARCH_LIMIT_MAX) : SEARCH_LIMIT_DEFAULT;
    if (q->has_after && q->after >= INT64_MAX) { /* nothing can follow */
        *out = util_calloc(1, sizeof **out);
        return 0;
    }

    struct strbuf sql = STRBUF_INIT;
    struct param params[16];
    size_t np = 0;
    char *upper = NULL;
    sb_puts(&sql, "SELECT idx FROM events WHERE 1");
    /* column names are constants; values are always bound */
    const struct {
        const char *column, *value;
    } eq[] = {
        {"agent", q->agent},       {"principal", q->principal}, {"action", q->action},
        {"decision", q->decision}, {"sha256", q->sha256},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(eq); i++) {
        if (!eq[i].value) continue;
        sb_printf(&sql, " AND %s = ?", eq[i].column);
        params[np++] = (struct param){eq[i].value, strlen(eq[i].value), 0};
    }
    if (q->resource) {
        /* prefix P: P <= column < P' where P' is P with its trailing 0xff
         * bytes dropped and the last byte incremented (BINARY collation
         * compares bytes); no upper bound when P is empty or all 0xff */
        size_t plen = strlen(q->resource), ulen = plen;
        if (q->resource_prefix) {
            while (ulen > 0 && (unsigned char)q->resource[ulen - 1] == 0xff)
                ulen--;
            if (ulen > 0) {
                upper = util_strndup(q->resource, ulen);
                upper[ulen - 1] = (char)((unsigned char)upper[ulen - 1] + 1);
            }
        }
        static const char *const columns[] = {"resource", "destination"};
        size_t ncol = q->or_destination ? 2 : 1;
        sb_puts(&sql, " AND (");
        for (size_t i = 0; i < ncol; i++) {
            if (i) sb_puts(&sql, " OR ");
            if (!q->resource_prefix) {
                sb_printf(&sql, "%s = ?", columns[i]);
                params[np++] = (struct param){q->resource, plen, 0};
                continue;
            }
            sb_printf(&sql, "(%s >= ?", columns[i]);
            params[np++] = (struct param){q->resource, plen, 0};
            if (upper) {
                sb_printf(&sql, " AND %s < ?", columns[i]);
                params[np++] = (struct param){upper, ulen, 0};
            }
            sb_puts(&sql, ")");
        }
        sb_puts(&sql, ")");
    }
    if (q->edits_only) sb_puts(&sql, " AND edit = 1");
    if (q->since_ns) {
        sb_puts(&sql, " AND time_ns >= ?");
        params[np++] = (struct param){NULL, 0, (int64_t)UTIL_MIN(q->since_ns, (uint64_t)INT64_MAX)};
    }
    if (q->until_ns) {
        sb_puts(&sql, " AND time_ns <= ?");
        params[np++] = (struct param){NULL, 0, (int64_t)UTIL_MIN(q->until_ns, (uint64_t)INT64_MAX)};
    }
    if (q->has_after) {
        sb_puts(&sql, " AND idx > ?");
        params[np++] = (struct param){NULL, 0, (int64_t)q->after};
    }
    sb_printf(&sql, " ORDER BY idx %s LIMIT ?", q->descending ? "DESC" : "ASC");
    params[np++] = (struct param){NULL, 0, (int64_t)limit};

    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(ix->db, sql.buf, (int)sql.len, &s, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_err(ix->db, rc, "prepare search");
        goto done;
    }
    for (size_t i = 0; i < np; i++) {
        if (params[i].text)
            sqlite3_bind_text(s, (int)i + 1, params[i].text, (int)params[i].len, SQLITE_STATIC);
        else
            sqlite3_bind_int64(s, (int)i + 1, params[i].num);
    }
    uint64_t *res = util_calloc(limit, sizeof *res);
    size_t count = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && count < limit) {
        sqlite3_int64 idx = sqlite3_column_int64(s, 0);
        res[count++] = idx > 0 ? (uint64_t)idx : 0;
    }
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        *out = res;
        *n = count;
        rc = 0;
    } else {
        free(res);
        rc = sql_err(ix->db, rc, "search");
    }
done:
    sqlite3_finalize(s);
    free(upper);
    sb_free(&sql);
    return rc;
}
