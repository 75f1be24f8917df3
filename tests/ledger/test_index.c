/* test_index.c — the ledger's SQLite search index (src/ledger/index.c). */
#include "test.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger/ledger.h"

#define T0 1795683600000000000ull /* 2026-11-26T09:00:00Z */
#define SEC 1000000000ull

struct entries {
    char *bytes[64];
    size_t lens[64];
    size_t n;
};

/* Appends an encoded event: leaf i happens at T0 + i seconds. */
static void add_event(struct entries *e, const char *action, const char *principal,
                      const char *agent, const char *resource, const char *decision,
                      const char *sha)
{
    struct ledger_event ev;
    memset(&ev, 0, sizeof ev);
    ev.time_ns = T0 + e->n * SEC;
    ev.action = action;
    ev.principal_id = principal;
    ev.agent_id = agent;
    ev.resource_id = resource;
    ev.decision = decision;
    ev.content_sha256 = sha;
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(ledger_event_encode(&ev, NULL, NULL, &sb));
    e->lens[e->n] = sb.len;
    e->bytes[e->n++] = sb_detach(&sb);
}

static void add_raw(struct entries *e, const char *raw)
{
    e->lens[e->n] = strlen(raw);
    e->bytes[e->n++] = util_strdup(raw);
}

static void entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->bytes[i]);
    e->n = 0;
}

/* Adds entries [from, to) of e at leaf index from. */
static int index_add(struct ledger_index *ix, struct entries *e, size_t from, size_t to)
{
    return ledger_index_add(ix, from, (const uint8_t *const *)(e->bytes + from), e->lens + from,
                            to - from);
}

static const char SHA_A[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char SHA_B[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/* Ten events:
 *  0 read   alice agent-1 docs:/a/1.txt   allow SHA_A
 *  1 write  alice agent-1 docs:/a/2.txt   allow SHA_B
 *  2 read   bob   agent-2 docs:/a/1.txt   deny
 *  3 list   bob   agent-2 docs:/a/        allow
 *  4 read   carol agent-3 docs:/ab.txt    allow SHA_A
 *  5 delete alice agent-1 docs:/b/x.txt   error
 *  6 read   alice -       media:/v.mp4    allow
 *  7 (not an event)
 *  8 stat   bob   agent-2 docs:/a/sub/3   allow
 *  9 read   alice agent-1 docs:/a/1.txt   allow SHA_A
 */
static void sample(struct entries *e)
{
    e->n = 0;
    add_event(e, "read", "alice", "agent-1", "docs:/a/1.txt", "allow", SHA_A);
    add_event(e, "write", "alice", "agent-1", "docs:/a/2.txt", "allow", SHA_B);
    add_event(e, "read", "bob", "agent-2", "docs:/a/1.txt", "deny", NULL);
    add_event(e, "list", "bob", "agent-2", "docs:/a/", "allow", NULL);
    add_event(e, "read", "carol", "agent-3", "docs:/ab.txt", "allow", SHA_A);
    add_event(e, "delete", "alice", "agent-1", "docs:/b/x.txt", "error", NULL);
    add_event(e, "read", "alice", NULL, "media:/v.mp4", "allow", NULL);
    add_raw(e, "{\"not\":\"an event\"}");
    add_event(e, "stat", "bob", "agent-2", "docs:/a/sub/3", "allow", NULL);
    add_event(e, "read", "alice", "agent-1", "docs:/a/1.txt", "allow", SHA_A);
}

static char *db_path(const char *name)
{
    return util_path_join(test_tmpdir(), name);
}

static struct ledger_index *open_sample(const char *path, struct entries *e)
{
    struct ledger_index *ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    ASSERT_EQ(0, ledger_index_size(ix));
    sample(e);
    ASSERT_OK(index_add(ix, e, 0, e->n));
    ASSERT_EQ(e->n, ledger_index_size(ix));
    return ix;
}

/* Runs q and compares with the expected leaf list (terminated by -1). */
static void expect(struct ledger_index *ix, const struct ledger_query *q, const int *want)
{
    uint64_t *got = NULL;
    size_t n = 0;
    ASSERT_OK(ledger_index_search(ix, q, &got, &n));
    ASSERT_NOT_NULL(got);
    size_t nwant = 0;
    while (want[nwant] >= 0)
        nwant++;
    if (n != nwant) TEST_FAIL_("%zu results, want %zu", n, nwant);
    for (size_t i = 0; i < n; i++)
        if (got[i] != (uint64_t)want[i])
            TEST_FAIL_("result %zu is %" PRIu64 ", want %d", i, got[i], want[i]);
    free(got);
}

#define EXPECT(ix, q, ...) expect((ix), (q), (const int[]){__VA_ARGS__, -1})
#define EXPECT_NONE(ix, q) expect((ix), (q), (const int[]){-1})

TEST(index_search_fields)
{
    char *path = db_path("index.db");
    struct entries e;
    struct ledger_index *ix = open_sample(path, &e);
    struct ledger_query q;

    memset(&q, 0, sizeof q);
    EXPECT(ix, &q, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9); /* everything, undecodable too */
    q.agent = "agent-2";
    EXPECT(ix, &q, 2, 3, 8);
    memset(&q, 0, sizeof q);
    q.principal = "alice";
    EXPECT(ix, &q, 0, 1, 5, 6, 9);
    memset(&q, 0, sizeof q);
    q.resource = "docs:/a/1.txt";
    EXPECT(ix, &q, 0, 2, 9);
    memset(&q, 0, sizeof q);
    q.action = "read";
    EXPECT(ix, &q, 0, 2, 4, 6, 9);
    memset(&q, 0, sizeof q);
    q.decision = "deny";
    EXPECT(ix, &q, 2);
    memset(&q, 0, sizeof q);
    q.sha256 = SHA_A;
    EXPECT(ix, &q, 0, 4, 9);
    /* fields combine with AND */
    memset(&q, 0, sizeof q);
    q.action = "read";
    q.principal = "alice";
    q.resource = "docs:/a/1.txt";
    EXPECT(ix, &q, 0, 9);
    q.decision = "deny";
    EXPECT_NONE(ix, &q);
    /* values are bound, never spliced into SQL */
    memset(&q, 0, sizeof q);
    q.principal = "alice' OR '1'='1";
    EXPECT_NONE(ix, &q);
    memset(&q, 0, sizeof q);
    q.agent = "nobody";
    EXPECT_NONE(ix, &q);

    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

TEST(index_search_time_range)
{
    char *path = db_path("index.db");
    struct entries e;
    struct ledger_index *ix = open_sample(path, &e);
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    q.since_ns = T0 + 3 * SEC; /* inclusive */
    q.until_ns = T0 + 5 * SEC; /* inclusive */
    EXPECT(ix, &q, 3, 4, 5);
    q.until_ns = 0;
    EXPECT(ix, &q, 3, 4, 5, 6, 8, 9); /* 7 has no time */
    q.since_ns = 0;
    q.until_ns = T0 + 1;
    EXPECT(ix, &q, 0);
    q.until_ns = T0 - 1;
    EXPECT_NONE(ix, &q);
    q.until_ns = UINT64_MAX;
    q.since_ns = T0 + 9 * SEC;
    EXPECT(ix, &q, 9);
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

TEST(index_search_resource_prefix)
{
    char *path = db_path("index.db");
    struct entries e;
    struct ledger_index *ix = open_sample(path, &e);
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    q.resource_prefix = true;
    q.resource = "docs:/a/";
    EXPECT(ix, &q, 0, 1, 2, 3, 8, 9); /* not docs:/ab.txt */
    q.resource = "docs:/a";
    EXPECT(ix, &q, 0, 1, 2, 3, 4, 8, 9);
    q.resource = "docs:/";
    EXPECT(ix, &q, 0, 1, 2, 3, 4, 5, 8, 9);
    q.resource = "media:";
    EXPECT(ix, &q, 6);
    q.resource = "";
    EXPECT(ix, &q, 0, 1, 2, 3, 4, 5, 6, 8, 9); /* any resource */
    q.resource = "docs:/a/sub/3";
    EXPECT(ix, &q, 8);
    q.resource = "docs:/a%"; /* LIKE wildcards mean nothing */
    EXPECT_NONE(ix, &q);
    q.resource = "docs:/_/";
    EXPECT_NONE(ix, &q);
    q.resource = "\xff\xff"; /* no upper bound */
    EXPECT_NONE(ix, &q);
    q.resource_prefix = false; /* exact */
    q.resource = "docs:/a/";
    EXPECT(ix, &q, 3);
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

TEST(index_search_paging_order_limit)
{
    char *path = db_path("index.db");
    struct entries e;
    struct ledger_index *ix = open_sample(path, &e);
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    q.limit = 3;
    EXPECT(ix, &q, 0, 1, 2);
    q.has_after = true;
    q.after = 2;
    EXPECT(ix, &q, 3, 4, 5);
    q.after = 5;
    EXPECT(ix, &q, 6, 7, 8);
    q.after = 8;
    EXPECT(ix, &q, 9);
    q.after = 9;
    EXPECT_NONE(ix, &q);
    q.after = UINT64_MAX;
    EXPECT_NONE(ix, &q);
    /* after = 0 counts only with has_after */
    q.has_after = false;
    q.after = 0;
    EXPECT(ix, &q, 0, 1, 2);
    q.has_after = true;
    EXPECT(ix, &q, 1, 2, 3);
    /* newest first */
    memset(&q, 0, sizeof q);
    q.descending = true;
    q.principal = "alice";
    EXPECT(ix, &q, 9, 6, 5, 1, 0);
    q.limit = 2;
    EXPECT(ix, &q, 9, 6);
    q.has_after = true; /* "after" is by leaf index in either order */
    q.after = 4;
    EXPECT(ix, &q, 9, 6);
    q.limit = 0;
    q.after = 5;
    EXPECT(ix, &q, 9, 6);
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

TEST(index_search_limit_bounds)
{
    char *path = db_path("index.db");
    struct ledger_index *ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    /* 10050 entries that do not decode: rows with their index only */
    enum { N = 10050 };
    const uint8_t **ents = util_calloc(N, sizeof *ents);
    size_t *lens = util_calloc(N, sizeof *lens);
    for (size_t i = 0; i < N; i++)
        ents[i] = (const uint8_t *)"x", lens[i] = 1;
    ASSERT_OK(ledger_index_add(ix, 0, ents, lens, N));
    ASSERT_EQ(N, ledger_index_size(ix));
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    uint64_t *got = NULL;
    size_t n = 0;
    ASSERT_OK(ledger_index_search(ix, &q, &got, &n));
    ASSERT_EQ(100, n); /* default */
    ASSERT_EQ(99, got[99]);
    free(got);
    q.limit = 20000;
    ASSERT_OK(ledger_index_search(ix, &q, &got, &n));
    ASSERT_EQ(10000, n); /* capped */
    ASSERT_EQ(9999, got[9999]);
    free(got);
    q.limit = 1;
    q.descending = true;
    ASSERT_OK(ledger_index_search(ix, &q, &got, &n));
    ASSERT_EQ(1, n);
    ASSERT_EQ(N - 1, got[0]);
    free(got);
    ledger_index_close(ix);
    free(ents);
    free(lens);
    free(path);
}

TEST(index_add_contiguity)
{
    char *path = db_path("index.db");
    struct ledger_index *ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    struct entries e;
    sample(&e);
    /* a gap is refused */
    ASSERT_EQ(CUSTODY_EINVAL, index_add(ix, &e, 1, 3));
    ASSERT_EQ(0, ledger_index_size(ix));
    ASSERT_OK(index_add(ix, &e, 0, 4));
    ASSERT_EQ(4, ledger_index_size(ix));
    ASSERT_EQ(CUSTODY_EINVAL, index_add(ix, &e, 5, 6));
    /* already indexed: nothing to do */
    ASSERT_OK(index_add(ix, &e, 0, 4));
    ASSERT_OK(index_add(ix, &e, 2, 3));
    ASSERT_OK(ledger_index_add(ix, 4, NULL, NULL, 0));
    ASSERT_EQ(4, ledger_index_size(ix));
    /* overlapping: the indexed prefix is skipped, the rest added */
    ASSERT_OK(index_add(ix, &e, 2, 7));
    ASSERT_EQ(7, ledger_index_size(ix));
    ASSERT_OK(index_add(ix, &e, 7, e.n));
    ASSERT_EQ(e.n, ledger_index_size(ix));
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    q.action = "read";
    EXPECT(ix, &q, 0, 2, 4, 6, 9); /* each once */
    memset(&q, 0, sizeof q);
    EXPECT(ix, &q, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    ASSERT_EQ(CUSTODY_EINVAL, ledger_index_add(ix, e.n, NULL, e.lens, 1));
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

TEST(index_undecodable_entries)
{
    char *path = db_path("index.db");
    struct ledger_index *ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    struct entries e;
    e.n = 0;
    add_raw(&e, "garbage");
    add_raw(&e, "{\"schema\":\"custody.audit.event/v1\"}");
    add_event(&e, "read", "alice", NULL, "docs:/x", "allow", NULL);
    add_raw(&e, "");
    ASSERT_OK(index_add(ix, &e, 0, e.n));
    ASSERT_EQ(4, ledger_index_size(ix));
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    EXPECT(ix, &q, 0, 1, 2, 3);
    q.principal = "alice";
    EXPECT(ix, &q, 2);
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

/* An edit event (write, delete, move...) on resource, with a destination. */
static void add_edit(struct entries *e, const char *action, const char *resource,
                     const char *destination, bool edit)
{
    struct ledger_event ev;
    memset(&ev, 0, sizeof ev);
    ev.time_ns = T0 + e->n * SEC;
    ev.action = action;
    ev.resource_id = resource;
    ev.destination_id = destination;
    ev.decision = edit ? "allow" : "error";
    ev.has_edit = edit;
    ev.edit.new_sha256 = SHA_A;
    ev.edit.version = 1;
    struct strbuf sb = STRBUF_INIT;
    ASSERT_OK(ledger_event_encode(&ev, NULL, NULL, &sb));
    e->lens[e->n] = sb.len;
    e->bytes[e->n++] = sb_detach(&sb);
}

TEST(index_search_edits_and_destination)
{
    char *path = db_path("index.db");
    struct ledger_index *ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    struct entries e;
    e.n = 0;
    add_edit(&e, "write", "docs:/a.txt", NULL, true);                    /* 0 */
    add_event(&e, "read", "alice", NULL, "docs:/a.txt", "allow", SHA_A); /* 1: no edit */
    add_edit(&e, "write", "docs:/a.txt", NULL, false);                   /* 2: failed, no edit */
    add_edit(&e, "move", "docs:/a.txt", "docs:/b.txt", true);            /* 3 */
    add_edit(&e, "write", "docs:/b.txt", NULL, true);                    /* 4 */
    add_edit(&e, "move", "docs:/c.txt", "docs:/a.txt", true);            /* 5 */
    add_edit(&e, "move", "docs:/sub/x", "docs:/sub2/y", true);           /* 6 */
    ASSERT_OK(index_add(ix, &e, 0, e.n));
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    q.resource = "docs:/a.txt";
    EXPECT(ix, &q, 0, 1, 2, 3);
    q.or_destination = true;
    EXPECT(ix, &q, 0, 1, 2, 3, 5);
    q.edits_only = true;
    EXPECT(ix, &q, 0, 3, 5);
    q.or_destination = false;
    EXPECT(ix, &q, 0, 3);
    q.resource = "docs:/b.txt";
    q.or_destination = true;
    EXPECT(ix, &q, 3, 4);
    q.descending = true;
    q.limit = 1;
    EXPECT(ix, &q, 4);
    /* with a prefix: either end under it */
    memset(&q, 0, sizeof q);
    q.resource = "docs:/sub2/";
    q.resource_prefix = true;
    EXPECT_NONE(ix, &q);
    q.or_destination = true;
    EXPECT(ix, &q, 6);
    q.resource = "docs:/";
    q.edits_only = true;
    EXPECT(ix, &q, 0, 3, 4, 5, 6);
    memset(&q, 0, sizeof q);
    q.edits_only = true;
    q.action = "move";
    EXPECT(ix, &q, 3, 5, 6);
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

TEST(index_reopen_keeps_data)
{
    char *path = db_path("index.db");
    struct entries e;
    struct ledger_index *ix = open_sample(path, &e);
    ledger_index_close(ix);
    ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    ASSERT_EQ(e.n, ledger_index_size(ix));
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    q.agent = "agent-2";
    EXPECT(ix, &q, 2, 3, 8);
    /* and continues where it was */
    struct entries more;
    more.n = 0;
    for (size_t i = 0; i < e.n; i++)
        add_raw(&more, "x");
    add_event(&more, "read", "dave", "agent-2", "docs:/d", "allow", NULL);
    ASSERT_EQ(CUSTODY_EINVAL, index_add(ix, &more, e.n + 1, e.n + 1));
    ASSERT_OK(index_add(ix, &more, e.n, e.n + 1));
    EXPECT(ix, &q, 2, 3, 8, 10);
    ledger_index_close(ix);
    /* a directory is taken to mean dir/index.db */
    ix = NULL;
    ASSERT_OK(ledger_index_open(test_tmpdir(), "example.com/log", &ix));
    ASSERT_EQ(e.n + 1, ledger_index_size(ix));
    ledger_index_close(ix);
    entries_free(&e);
    entries_free(&more);
    free(path);
}

TEST(index_other_origin_rebuilds)
{
    char *path = db_path("index.db");
    struct entries e;
    struct ledger_index *ix = open_sample(path, &e);
    ledger_index_close(ix);
    ix = NULL;
    ASSERT_OK(ledger_index_open(path, "other.example/log", &ix));
    ASSERT_EQ(0, ledger_index_size(ix)); /* started afresh */
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    EXPECT_NONE(ix, &q);
    ASSERT_OK(index_add(ix, &e, 0, 2));
    ledger_index_close(ix);
    /* and the new origin sticks */
    ix = NULL;
    ASSERT_OK(ledger_index_open(path, "other.example/log", &ix));
    ASSERT_EQ(2, ledger_index_size(ix));
    ledger_index_close(ix);
    ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    ASSERT_EQ(0, ledger_index_size(ix));
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
}

TEST(index_corrupt_file_recreated)
{
    char *path = db_path("index.db");
    test_write_file(test_tmpdir(), "index.db",
                    "this is not an SQLite database, not even close....."
                    "..................................................");
    struct ledger_index *ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    ASSERT_EQ(0, ledger_index_size(ix));
    struct entries e;
    sample(&e);
    ASSERT_OK(index_add(ix, &e, 0, e.n));
    struct ledger_query q;
    memset(&q, 0, sizeof q);
    q.decision = "error";
    EXPECT(ix, &q, 5);
    ledger_index_close(ix);

    /* SQLite databases that are not our index: other tables, or ours
     * from another schema version */
    static const char *const foreign[] = {
        "CREATE TABLE meta (k, v); CREATE TABLE events (x); INSERT INTO events VALUES (1);",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
        "INSERT INTO meta VALUES ('origin', 'example.com/log'), ('schema_version', 1);"
        "CREATE TABLE events (idx INTEGER PRIMARY KEY, event_id TEXT, time_ns INTEGER,"
        " action TEXT, decision TEXT, principal TEXT, agent TEXT, resource TEXT, sha256 TEXT);"
        "INSERT INTO events (idx) VALUES (0), (1), (2);",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value);" /* no meta rows, but events */
        "CREATE TABLE events (idx INTEGER PRIMARY KEY, event_id TEXT, time_ns INTEGER,"
        " action TEXT, decision TEXT, principal TEXT, agent TEXT, resource TEXT, sha256 TEXT);"
        "INSERT INTO events (idx) VALUES (0), (1), (2);",
    };
    char *other = db_path("other.db");
    for (size_t i = 0; i < UTIL_ARRAY_LEN(foreign); i++) {
        unlink(other);
        sqlite3 *db = NULL;
        ASSERT_EQ(SQLITE_OK, sqlite3_open(other, &db));
        ASSERT_EQ(SQLITE_OK, sqlite3_exec(db, foreign[i], NULL, NULL, NULL));
        sqlite3_close(db);
        ix = NULL;
        ASSERT_OK(ledger_index_open(other, "example.com/log", &ix));
        ASSERT_EQ(0, ledger_index_size(ix));
        ASSERT_OK(index_add(ix, &e, 0, 1));
        ledger_index_close(ix);
    }
    /* an empty file is fine too: it becomes a database */
    test_write_file(test_tmpdir(), "empty.db", "");
    char *empty = db_path("empty.db");
    ix = NULL;
    ASSERT_OK(ledger_index_open(empty, "example.com/log", &ix));
    ASSERT_EQ(0, ledger_index_size(ix));
    ledger_index_close(ix);
    entries_free(&e);
    free(path);
    free(other);
    free(empty);
}

TEST(index_file_mode)
{
    char *path = db_path("index.db");
    struct ledger_index *ix = NULL;
    ASSERT_OK(ledger_index_open(path, "example.com/log", &ix));
    ledger_index_close(ix);
    struct stat st;
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(0600, st.st_mode & 0777); /* identifiers: owner only */
    char *data = NULL;
    size_t n = 0;
    ASSERT_OK(util_read_file(path, 1 << 20, &data, &n));
    ASSERT(n > 16 && memcmp(data, "SQLite format 3", 15) == 0);
    free(data);
    /* unreachable places are errors, not crashes */
    ix = NULL;
    ASSERT(ledger_index_open("/nonexistent-dir/x/index.db", "o", &ix) < 0);
    ASSERT_NULL(ix);
    free(path);
}
