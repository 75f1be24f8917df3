/*
 * witness.c — C2SP tlog-witness, both sides (docs/ledger.md, "Witnessing").
 *
 * Server: witness_add_checkpoint answers POST <prefix>/add-checkpoint for
 * the logs listed in STATE/witness/logs (one verifier key per line, the key
 * name being the log's origin). For each origin the latest cosigned
 * checkpoint is kept in STATE/witness/state/<first 32 hex of
 * SHA-256(origin)>, written atomically (temp, fsync, rename, fsync dir)
 * before the cosignature is returned; checking the old size and writing
 * the new state happen under one lock (a process mutex plus flock on
 * STATE/witness/state/.lock, for another process on the same directory).
 *
 * Client: a thread that submits each new checkpoint of this node's log to
 * the witnesses in STATE/ledger/witnesses ("<vkey> <url> [unix:PATH]
 * [ca:FILE]" per line, re-read when it changes) with libcurl, checks the
 * cosignatures they return and appends them to the checkpoint
 * (ledger_add_cosignatures).
 *
 * Witness key: a type-0x04 Ed25519 key derived from the node key (seed =
 * SHA-256("custody/witness-key/v1\n" || node seed)), named
 * "<log origin>/witness", so that the log key and the cosigning key are
 * distinct keys (tlog-cosignature asks distinct cosigners for distinct
 * keys; deriving it keeps the state directory's one secret).
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "ledger.h"

#define LOGS_FILE_MAX (1u << 20)
#define WITNESSES_MAX 32
#define HTTP_TIMEOUT_S 5L
#define RESPONSE_MAX 65536
#define RETRY_MIN_MS 1000u
#define RETRY_MAX_MS 60000u

/* ------------------------------------------------------------------ */
/* keys and paths                                                       */
/* ------------------------------------------------------------------ */

int ledger_witness_key(const struct custody_config *cfg, struct tlog_key *key)
{
    struct tlog_key node;
    char origin[TLOG_NAME_MAX + 1];
    int rc = ledger_load_key(cfg, &node, origin, sizeof origin);
    if (rc)
        return rc;
    char name[TLOG_NAME_MAX + 16];
    if (snprintf(name, sizeof name, "%s/witness", origin) >= (int)sizeof name ||
        strlen(name) > TLOG_NAME_MAX) {
        tlog_key_wipe(&node);
        return CUSTODY_ENAMETOOLONG;
    }
    static const char label[] = "custody/witness-key/v1\n";
    uint8_t buf[sizeof label - 1 + 32], seed[32];
    memcpy(buf, label, sizeof label - 1);
    memcpy(buf + sizeof label - 1, node.priv, 32);
    util_sha256(buf, sizeof buf, seed);
    rc = tlog_key_from_seed(name, TLOG_KEY_COSIGNATURE, seed, key);
    OPENSSL_cleanse(buf, sizeof buf);
    OPENSSL_cleanse(seed, sizeof seed);
    tlog_key_wipe(&node);
    return rc;
}

int witness_state_path(const char *state_dir, const char *origin, char *out, size_t len)
{
    uint8_t h[UTIL_SHA256_LEN];
    char hex[2 * UTIL_SHA256_LEN + 1];
    util_sha256(origin, strlen(origin), h);
    util_hex_encode(h, 16, hex);
    return util_snprintf(out, len, "%s/" WITNESS_DIR "/state/%s", state_dir, hex);
}

/* Calls fn for each non-comment line of a small text file (trimmed). */
static int each_line(const char *path, int (*fn)(void *arg, const char *line, size_t len,
                                                 unsigned lineno),
                     void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = util_read_file(path, LOGS_FILE_MAX, &buf, &len);
    if (rc)
        return rc;
    unsigned lineno = 0;
    for (size_t off = 0; off < len && !rc;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - buf) : len;
        const char *line = buf + off;
        size_t ll = end - off;
        off = end + 1;
        lineno++;
        while (ll && (line[0] == ' ' || line[0] == '\t')) {
            line++;
            ll--;
        }
        while (ll && (line[ll - 1] == ' ' || line[ll - 1] == '\t' || line[ll - 1] == '\r'))
            ll--;
        if (ll == 0 || line[0] == '#')
            continue;
        rc = fn(arg, line, ll, lineno);
    }
    free(buf);
    return rc < 0 ? rc : 0;
}

/* ------------------------------------------------------------------ */
/* trusted logs                                                         */
/* ------------------------------------------------------------------ */

#define LOG_KEYS_MAX 8 /* keys accepted for one origin (rotation) */

struct find_ctx {
    const char *origin;
    struct tlog_key keys[LOG_KEYS_MAX];
    size_t n;
    size_t total;
};

static int find_line(void *arg, const char *line, size_t len, unsigned lineno)
{
    struct find_ctx *f = arg;
    struct tlog_key k;
    (void)lineno;
    if (tlog_vkey_parse(line, len, &k) != 0 || k.type != TLOG_KEY_ED25519)
        return 0; /* `custody witness add-log` validates; a bad line is skipped */
    f->total++;
    if (f->origin && strcmp(k.name, f->origin) == 0 && f->n < LOG_KEYS_MAX)
        f->keys[f->n++] = k;
    return 0;
}

static int logs_path(const char *state_dir, char *out, size_t len)
{
    return util_snprintf(out, len, "%s/" WITNESS_DIR "/logs", state_dir);
}

bool witness_enabled(const char *state_dir)
{
    char path[4200];
    if (logs_path(state_dir, path, sizeof path))
        return false;
    struct find_ctx f = {0};
    return each_line(path, find_line, &f) == 0 && f.total > 0;
}

struct list_ctx {
    const char *state_dir;
    int (*fn)(void *arg, const struct witness_log_info *info);
    void *arg;
};

static int list_line(void *arg, const char *line, size_t len, unsigned lineno)
{
    struct list_ctx *c = arg;
    struct witness_log_info info = {0};
    info.lineno = lineno;
    if (len >= sizeof info.vkey) {
        util_strlcpy(info.vkey, "(line too long)", sizeof info.vkey);
        return c->fn(c->arg, &info);
    }
    memcpy(info.vkey, line, len);
    info.vkey[len] = '\0';
    struct tlog_key k;
    if (tlog_vkey_parse(line, len, &k) != 0 || k.type != TLOG_KEY_ED25519)
        return c->fn(c->arg, &info);
    info.valid = true;
    util_strlcpy(info.origin, k.name, sizeof info.origin);
    char path[4200];
    if (witness_state_path(c->state_dir, k.name, path, sizeof path) == 0) {
        char *buf = NULL;
        size_t blen = 0;
        struct tlog_note n;
        struct tlog_checkpoint cp;
        if (util_read_file(path, TLOG_NOTE_MAX, &buf, &blen) == 0 &&
            tlog_note_parse(buf, blen, &n) == 0 &&
            tlog_checkpoint_parse(n.text, n.text_len, &cp) == 0 && strcmp(cp.origin, k.name) == 0) {
            info.seen = true;
            info.size = cp.size;
            memcpy(info.root, cp.root, TLOG_HASH_LEN);
        }
        free(buf);
    }
    return c->fn(c->arg, &info);
}

int witness_list_logs(const char *state_dir,
                      int (*fn)(void *arg, const struct witness_log_info *info), void *arg)
{
    char path[4200];
    int rc = logs_path(state_dir, path, sizeof path);
    if (rc)
        return rc;
    struct list_ctx c = {state_dir, fn, arg};
    return each_line(path, list_line, &c);
}

/* ------------------------------------------------------------------ */
/* server: add-checkpoint                                               */
/* ------------------------------------------------------------------ */

static pthread_mutex_t server_mu = PTHREAD_MUTEX_INITIALIZER;

static void answer(int *status, struct strbuf *out, const char **ctype, int code,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void answer(int *status, struct strbuf *out, const char **ctype, int code,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_reset(out);
    sb_vprintf(out, fmt, ap);
    va_end(ap);
    sb_puts(out, "\n");
    *status = code;
    *ctype = "text/plain; charset=utf-8";
}

/* The stored checkpoint for origin: *have false when none. */
static int load_state(const char *path, const char *origin, bool *have,
                      struct tlog_checkpoint *cp)
{
    char *buf = NULL;
    size_t len = 0;
    *have = false;
    int rc = util_read_file(path, TLOG_NOTE_MAX, &buf, &len);
    if (rc == CUSTODY_ENOENT)
        return 0;
    if (rc)
        return rc;
    struct tlog_note n;
    rc = tlog_note_parse(buf, len, &n);
    if (!rc)
        rc = tlog_checkpoint_parse(n.text, n.text_len, cp);
    if (!rc && strcmp(cp->origin, origin) != 0)
        rc = CUSTODY_ECORRUPT;
    free(buf);
    if (rc)
        return CUSTODY_ECORRUPT;
    *have = true;
    return 0;
}

int witness_add_checkpoint(const char *state_dir, const struct tlog_key *witness_key,
                           const char *body, size_t len, int *http_status, struct strbuf *out,
                           const char **content_type)
{
    struct tlog_witness_req req;
    struct tlog_note note;
    struct tlog_checkpoint cp;
    if (len > WITNESS_BODY_MAX || tlog_witness_req_parse(body, len, &req) != 0 ||
        tlog_note_parse(req.note, req.note_len, &note) != 0 ||
        tlog_checkpoint_parse(note.text, note.text_len, &cp) != 0) {
        answer(http_status, out, content_type, 400,
               "malformed add-checkpoint request (c2sp.org/tlog-witness)");
        return 0;
    }
    char path[4200];
    int rc = logs_path(state_dir, path, sizeof path);
    if (rc)
        return rc;
    struct find_ctx f = {.origin = cp.origin};
    rc = each_line(path, find_line, &f);
    if (rc && rc != CUSTODY_ENOENT)
        return rc;
    if (f.n == 0) {
        answer(http_status, out, content_type, 404, "unknown log");
        return 0;
    }
    if (tlog_note_verify(&note, f.keys, f.n) != 0) {
        answer(http_status, out, content_type, 403, "no valid signature from the log's key");
        return 0;
    }
    if ((rc = witness_state_path(state_dir, cp.origin, path, sizeof path)) != 0)
        return rc;
    char dir[4200], lockpath[4300];
    if ((rc = util_snprintf(dir, sizeof dir, "%s/" WITNESS_DIR "/state", state_dir)) != 0 ||
        (rc = util_snprintf(lockpath, sizeof lockpath, "%s/.lock", dir)) != 0)
        return rc;
    if (util_mkdir_p(dir, 0700) != 0)
        return custody_err_from_errno(errno);

    pthread_mutex_lock(&server_mu);
    int lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
        rc = custody_err_from_errno(errno);
        if (lfd >= 0)
            close(lfd);
        pthread_mutex_unlock(&server_mu);
        return rc;
    }
    bool have = false;
    struct tlog_checkpoint old;
    rc = load_state(path, cp.origin, &have, &old);
    uint64_t stored = have ? old.size : 0;
    bool write = true;
    if (rc) {
        /* fall through to the unlock below */
    } else if (req.old_size != stored) {
        sb_reset(out);
        sb_printf(out, "%" PRIu64 "\n", stored);
        *http_status = 409;
        *content_type = "text/x.tlog.size";
    } else if (have && cp.size == stored) {
        if (!util_ct_equal(cp.root, old.root, TLOG_HASH_LEN)) {
            /* same size, another root: a fork (the spec answers 409) */
            sb_reset(out);
            sb_printf(out, "%" PRIu64 "\n", stored);
            *http_status = 409;
            *content_type = "text/x.tlog.size";
            rc = CUSTODY_EBADPROOF;
        } else if (req.nproof != 0) {
            answer(http_status, out, content_type, 422,
                   "the consistency proof must be empty when the size does not change");
            rc = CUSTODY_EBADPROOF;
        } else {
            write = false; /* already recorded: cosign again */
        }
    } else if (!have) {
        if (req.nproof != 0) {
            answer(http_status, out, content_type, 422,
                   "the consistency proof must be empty when the old size is 0");
            rc = CUSTODY_EBADPROOF;
        }
    } else if (tlog_check_consistency((const uint8_t(*)[TLOG_HASH_LEN])req.proof, req.nproof,
                                      cp.size, cp.root, stored, old.root) != 0) {
        answer(http_status, out, content_type, 422,
               "the consistency proof from %" PRIu64 " to %" PRIu64 " does not verify", stored,
               cp.size);
        rc = CUSTODY_EBADPROOF;
    }
    bool cosign = !rc && req.old_size == stored;
    if (cosign && write)
        rc = util_write_file_atomic(path, req.note, req.note_len, 0600);
    flock(lfd, LOCK_UN);
    close(lfd);
    pthread_mutex_unlock(&server_mu);
    if (rc || !cosign)
        return rc;

    sb_reset(out);
    rc = tlog_note_sign_lines(note.text, note.text_len, witness_key,
                              (uint64_t)time(NULL), out);
    if (rc)
        return rc;
    *http_status = 200;
    *content_type = "text/plain; charset=utf-8";
    return 0;
}

/* ------------------------------------------------------------------ */
/* client: submitting checkpoints to witnesses                          */
/* ------------------------------------------------------------------ */

struct peer {
    struct tlog_key key;
    char line[1024];      /* the configuration line: identity across re-reads */
    char url[1024];       /* <prefix>/add-checkpoint */
    char unix_path[256];  /* "" = TCP */
    char ca[1024];        /* "" = system CAs */
    uint64_t known_size;  /* the size this witness last cosigned (0 = unknown) */
    uint64_t done_size;   /* checkpoint size handled (cosigned or refused) */
    bool done;
    unsigned backoff_ms;
    uint64_t next_try_ns;
    char last_err[256];   /* logged once per change */
};

struct ledger_witnesses {
    struct ledger *l;
    char path[4200]; /* STATE/ledger/witnesses */
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    atomic_bool abort_io;
    /* the pending checkpoint (set by the hook) */
    struct strbuf pending;
    uint64_t pending_size;
    bool has_pending;
    /* owned by the thread */
    struct strbuf cur;
    uint64_t cur_size;
    bool has_cur;
    struct peer *peers;
    size_t npeers;
    struct timespec mtime;
    off_t fsize;
    bool file_seen;
    CURL *curl;
};

static void hook(void *arg, const char *note, size_t len, uint64_t size)
{
    struct ledger_witnesses *w = arg;
    pthread_mutex_lock(&w->mu);
    sb_reset(&w->pending);
    sb_append(&w->pending, note, len);
    w->pending_size = size;
    w->has_pending = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void peer_status(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void peer_status(struct peer *p, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (strcmp(msg, p->last_err) != 0) {
        if (msg[0])
            log_warn("witness %s (%s): %s", p->key.name, p->url, msg);
        else if (p->last_err[0])
            log_info("witness %s (%s): cosigning again", p->key.name, p->url);
        util_strlcpy(p->last_err, msg, sizeof p->last_err);
    }
}

int witness_config_line(const char *line, size_t len, struct tlog_key *key, char *url,
                        size_t url_len, char *unix_path, size_t unix_len, char *ca, size_t ca_len)
{
    char buf[2048];
    if (len >= sizeof buf)
        return CUSTODY_EINVAL;
    memcpy(buf, line, len);
    buf[len] = '\0';
    unix_path[0] = ca[0] = url[0] = '\0';
    char *save = NULL;
    char *vk = strtok_r(buf, " \t", &save);
    char *u = vk ? strtok_r(NULL, " \t", &save) : NULL;
    if (!vk || !u || tlog_vkey_parse(vk, strlen(vk), key) != 0 ||
        key->type != TLOG_KEY_COSIGNATURE)
        return CUSTODY_EINVAL;
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
        return CUSTODY_EINVAL;
    size_t ul = strlen(u);
    while (ul > 0 && u[ul - 1] == '/')
        u[--ul] = '\0';
    if (util_snprintf(url, url_len, "%s/add-checkpoint", u))
        return CUSTODY_EINVAL;
    for (char *opt; (opt = strtok_r(NULL, " \t", &save)) != NULL;) {
        if (strncmp(opt, "unix:", 5) == 0 && opt[5]) {
            if (util_strlcpy(unix_path, opt + 5, unix_len) >= unix_len)
                return CUSTODY_EINVAL;
        } else if (strncmp(opt, "ca:", 3) == 0 && opt[3]) {
            if (util_strlcpy(ca, opt + 3, ca_len) >= ca_len)
                return CUSTODY_EINVAL;
        } else {
            return CUSTODY_EINVAL;
        }
    }
    return 0;
}

struct reload_ctx {
    struct ledger_witnesses *w;
    struct peer *peers;
    size_t n;
};

static int reload_line(void *arg, const char *line, size_t len, unsigned lineno)
{
    struct reload_ctx *c = arg;
    if (c->n == WITNESSES_MAX) {
        log_warn("witnesses: %s: more than %d witnesses; line %u and later ignored",
                 c->w->path, WITNESSES_MAX, lineno);
        return 1;
    }
    struct peer p = {0};
    if (len >= sizeof p.line ||
        witness_config_line(line, len, &p.key, p.url, sizeof p.url, p.unix_path,
                            sizeof p.unix_path, p.ca, sizeof p.ca) != 0) {
        log_warn("witnesses: %s:%u: expected '<witness vkey> <url> [unix:PATH] [ca:FILE]'",
                 c->w->path, lineno);
        return 0;
    }
    memcpy(p.line, line, len);
    /* keep what we knew about a witness that stays configured */
    for (size_t i = 0; i < c->w->npeers; i++) {
        struct peer *o = &c->w->peers[i];
        if (strcmp(o->line, p.line) == 0) {
            p = *o;
            break;
        }
    }
    c->peers[c->n++] = p;
    return 0;
}

/* Re-reads the witnesses file when it changed. */
static void reload(struct ledger_witnesses *w)
{
    struct stat st;
    bool exists = stat(w->path, &st) == 0;
    if (exists && w->file_seen && st.st_mtim.tv_sec == w->mtime.tv_sec &&
        st.st_mtim.tv_nsec == w->mtime.tv_nsec && st.st_size == w->fsize)
        return;
    if (!exists && !w->file_seen)
        return;
    w->file_seen = exists;
    struct reload_ctx c = {w, util_calloc(WITNESSES_MAX, sizeof(struct peer)), 0};
    if (exists) {
        w->mtime = st.st_mtim;
        w->fsize = st.st_size;
        int rc = each_line(w->path, reload_line, &c);
        if (rc)
            log_warn("witnesses: cannot read %s: %s", w->path, custody_strerror(rc));
    }
    free(w->peers);
    w->peers = c.peers;
    w->npeers = c.n;
    log_info("witnesses: %zu witness(es) configured in %s", c.n, w->path);
}

struct resp {
    struct strbuf body;
    bool too_big;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct resp *r = arg;
    size_t n = size * nmemb;
    if (r->body.len + n > RESPONSE_MAX) {
        r->too_big = true;
        return 0;
    }
    sb_append(&r->body, data, n);
    return n;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    struct ledger_witnesses *w = arg;
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load(&w->abort_io) ? 1 : 0;
}

/* One POST; *status 0 on a transport error (message in err). */
static int post(struct ledger_witnesses *w, const struct peer *p, const struct strbuf *body,
                long *status, struct resp *r, char *err, size_t errlen)
{
    CURL *c = w->curl;
    curl_easy_reset(c);
    char ebuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, p->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->buf);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, HTTP_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, HTTP_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "custodyd-witness-client");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (p->unix_path[0])
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, p->unix_path);
    if (p->ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, p->ca);
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(h);
    *status = 0;
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "%s", r->too_big ? "answer too large"
                                    : ebuf[0]   ? ebuf
                                                : curl_easy_strerror(cc));
        return CUSTODY_ECONNECT;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

/* The add-checkpoint body from old size `old` for the current checkpoint. */
static int request_body(struct ledger_witnesses *w, uint64_t old, struct strbuf *out)
{
    struct tlog_witness_req req = {.old_size = old, .note = w->cur.buf, .note_len = w->cur.len};
    if (old > 0 && old < w->cur_size) {
        uint8_t proof[TLOG_PROOF_MAX][TLOG_HASH_LEN];
        size_t n = 0;
        int rc = ledger_prove_consistency(w->l, old, w->cur_size, proof, &n);
        if (rc)
            return rc;
        if (n > TLOG_WITNESS_PROOF_MAX)
            return CUSTODY_EINVAL;
        memcpy(req.proof, proof, n * TLOG_HASH_LEN);
        req.nproof = n;
    }
    sb_reset(out);
    return tlog_witness_req_format(&req, out);
}

/* Keeps the response's lines that are valid cosignatures by p's key. */
static size_t good_cosignatures(const struct peer *p, const struct tlog_note *n, const char *body,
                                size_t len, struct strbuf *lines)
{
    size_t good = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(body + off, '\n', len - off);
        if (!nl)
            break;
        size_t ll = (size_t)(nl - (body + off)) + 1;
        struct tlog_sig sig;
        size_t ns = 0;
        if (tlog_sig_lines_parse(body + off, ll, &sig, 1, &ns) == 0 && ns == 1 &&
            tlog_sig_verify(n->text, n->text_len, &sig, &p->key, NULL) == 0) {
            sb_append(lines, body + off, ll);
            good++;
        }
        off += ll;
    }
    return good;
}

/* Does the note already carry a valid cosignature from p? */
static bool has_cosignature(const struct peer *p, const struct tlog_note *n)
{
    for (size_t i = 0; i < n->nsigs; i++)
        if (tlog_sig_verify(n->text, n->text_len, &n->sigs[i], &p->key, NULL) == 0)
            return true;
    return false;
}

enum outcome { OUT_DONE, OUT_RETRY };

static enum outcome submit_one(struct ledger_witnesses *w, struct peer *p)
{
    struct tlog_note note;
    if (tlog_note_parse(w->cur.buf, w->cur.len, &note) != 0)
        return OUT_DONE;
    if (has_cosignature(p, &note)) {
        p->known_size = w->cur_size;
        return OUT_DONE;
    }
    struct strbuf body = STRBUF_INIT;
    struct resp r = {STRBUF_INIT, false};
    enum outcome out = OUT_DONE;
    uint64_t old = p->known_size;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (old > w->cur_size) {
            peer_status(p, "the witness has seen size %" PRIu64 ", larger than this log's %" PRIu64
                           " (was the log reset?)",
                        old, w->cur_size);
            break;
        }
        int rc = request_body(w, old, &body);
        if (rc) {
            peer_status(p, "cannot build the request from size %" PRIu64 ": %s", old,
                        custody_strerror(rc));
            break;
        }
        long status = 0;
        char err[256] = "";
        sb_reset(&r.body);
        r.too_big = false;
        rc = post(w, p, &body, &status, &r, err, sizeof err);
        if (rc) {
            peer_status(p, "cannot reach the witness: %s", err);
            out = OUT_RETRY;
            break;
        }
        if (status == 409) {
            uint64_t sz = 0;
            size_t bl = r.body.len;
            if (bl && r.body.buf[bl - 1] == '\n')
                bl--;
            if (attempt == 0 && util_parse_u64(r.body.buf ? r.body.buf : "", bl, &sz) == 0 &&
                sz != old) {
                p->known_size = old = sz;
                continue; /* once more, with a proof from the size it knows */
            }
            peer_status(p, "conflict: the witness's view of this log differs (its size: %.*s)",
                        (int)UTIL_MIN(bl, 24), r.body.buf ? r.body.buf : "");
            break;
        }
        if (status != 200) {
            size_t bl = r.body.len;
            while (bl && (r.body.buf[bl - 1] == '\n' || r.body.buf[bl - 1] == '\r'))
                bl--;
            peer_status(p, "refused with HTTP %ld: %.*s", status, (int)UTIL_MIN(bl, 120),
                        r.body.buf ? r.body.buf : "");
            if (status >= 500 || status == 429)
                out = OUT_RETRY;
            break;
        }
        struct strbuf lines = STRBUF_INIT;
        size_t good = good_cosignatures(p, &note, r.body.buf ? r.body.buf : "", r.body.len, &lines);
        if (good == 0) {
            peer_status(p, "answered 200 without a valid cosignature from its key");
        } else {
            p->known_size = w->cur_size;
            rc = ledger_add_cosignatures(w->l, w->cur_size, lines.buf, lines.len);
            if (rc && rc != CUSTODY_ECONFLICT)
                peer_status(p, "cannot store the cosignature: %s", custody_strerror(rc));
            else
                peer_status(p, "%s", "");
        }
        sb_free(&lines);
        break;
    }
    sb_free(&body);
    sb_free(&r.body);
    return out;
}

static void *client_main(void *arg)
{
    struct ledger_witnesses *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        if (w->has_pending) {
            sb_reset(&w->cur);
            sb_append(&w->cur, w->pending.buf, w->pending.len);
            w->cur_size = w->pending_size;
            w->has_cur = true;
            w->has_pending = false;
        }
        pthread_mutex_unlock(&w->mu);

        reload(w);
        uint64_t now = util_monotonic_ns(), wake = now + 1000000000ull;
        for (size_t i = 0; i < w->npeers && w->has_cur && !atomic_load(&w->abort_io); i++) {
            struct peer *p = &w->peers[i];
            if (p->done && p->done_size == w->cur_size)
                continue;
            if (p->done_size != w->cur_size) {
                p->done = false;
                p->done_size = w->cur_size;
                p->next_try_ns = 0;
                p->backoff_ms = 0;
            }
            if (p->next_try_ns > now) {
                wake = UTIL_MIN(wake, p->next_try_ns);
                continue;
            }
            if (w->cur_size == 0) {
                p->done = true; /* nothing to witness yet */
                continue;
            }
            if (submit_one(w, p) == OUT_DONE) {
                p->done = true;
            } else {
                p->backoff_ms = p->backoff_ms ? UTIL_MIN(p->backoff_ms * 2, RETRY_MAX_MS)
                                              : RETRY_MIN_MS;
                p->next_try_ns = util_monotonic_ns() + (uint64_t)p->backoff_ms * 1000000ull;
                wake = UTIL_MIN(wake, p->next_try_ns);
            }
        }

        pthread_mutex_lock(&w->mu);
        if (w->stop || w->has_pending)
            continue;
        now = util_monotonic_ns();
        if (wake > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (wake - now);
            ts.tv_sec += (time_t)(ns / 1000000000ull);
            ts.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int ledger_witnesses_start(struct ledger *l, const char *state_dir, struct ledger_witnesses **out)
{
    *out = NULL;
    struct ledger_witnesses *w = util_calloc(1, sizeof *w);
    w->l = l;
    if (util_snprintf(w->path, sizeof w->path, "%s/" LEDGER_DIR "/witnesses", state_dir)) {
        free(w);
        return CUSTODY_ENAMETOOLONG;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w->curl = curl_easy_init();
    if (!w->curl) {
        free(w);
        return CUSTODY_ENOMEM;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    atomic_init(&w->abort_io, false);
    /* the current checkpoint first: witnesses added while we were down */
    struct tlog_checkpoint cp;
    struct strbuf note = STRBUF_INIT;
    if (ledger_checkpoint(l, &note, &cp) == 0 && cp.size > 0) {
        sb_append(&w->pending, note.buf, note.len);
        w->pending_size = cp.size;
        w->has_pending = true;
    }
    sb_free(&note);
    if (pthread_create(&w->th, NULL, client_main, w) != 0) {
        ledger_witnesses_free(w);
        return CUSTODY_EINTERNAL;
    }
    w->started = true;
    ledger_set_checkpoint_hook(l, hook, w);
    *out = w;
    return 0;
}

void ledger_witnesses_stop(struct ledger_witnesses *w)
{
    if (!w || !w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    atomic_store(&w->abort_io, true);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    w->started = false;
}

void ledger_witnesses_free(struct ledger_witnesses *w)
{
    if (!w)
        return;
    ledger_witnesses_stop(w);
    if (w->curl)
        curl_easy_cleanup(w->curl);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    sb_free(&w->pending);
    sb_free(&w->cur);
    free(w->peers);
    free(w);
}
