/*
 * file.c — pull_file: one file from an origin into `<name>.partial`, verified, renamed.
 *
 * Two threads. The calling thread runs libcurl's multi interface: `streams` connections, each
 * fetching one chunk (a ranged GET of `chunk` bytes) at a time and pwrite()ing what arrives
 * at its offset. Chunks are started in file order, never more than `window` chunks past the
 * lowest unfinished one, so the bytes written ahead of the contiguous prefix are bounded. The
 * contiguous prefix (the "frontier") is every finished chunk from the start plus what the
 * lowest unfinished chunk has received so far.
 *
 * The hasher thread follows the frontier: it pread()s [hashed, frontier) from the page cache
 * in 1 MiB blocks into one SHA-256 context, so the hash is computed as the bytes arrive, in
 * file order, on another core. Every state_ms it writes the resume state: the prefix length
 * and the SHA-256 of that prefix (a copy of the running context, finalized).
 *
 * Resume: a state file is a claim. Its prefix is re-hashed from the partial file and kept only
 * when the digest matches (and size and final digest match what we pull now); anything else
 * starts over. Hence no fsync is needed for the state to be safe: a torn or stale state, or
 * data lost in a crash, only costs a re-fetch.
 *
 * Failed chunks are re-requested from where they stopped, with exponential backoff; a chunk
 * that fails `retries` times in a row without progress ends the pull (EIO, state kept). Final
 * answers (404, 403, 416, a 200 to a partial range, a wrong Content-Range total) end it at
 * once.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pull/internal.h"

#define HASH_BLOCK (1u << 20)   /* frontier published to the hasher in steps of this */
#define READ_BLOCK (256u << 10) /* hasher reads: small enough to stay in L2 for SHA-256 */

uint64_t pull_plan_chunks(uint64_t size, uint64_t from, uint64_t chunk)
{
    if (from >= size || chunk == 0) return 0;
    uint64_t rest = size - from;
    return rest / chunk + (rest % chunk != 0);
}

void pull_plan_chunk(uint64_t size, uint64_t from, uint64_t chunk, uint64_t i, uint64_t *start,
                     uint64_t *end)
{
    uint64_t s = from + i * chunk;
    *start = s;
    *end = size - s < chunk ? size : s + chunk;
}

/* ---- resume state ---- */

int pull_state_format(const struct pull_state *st, struct strbuf *out)
{
    char h1[65], h2[65];
    util_hex_encode(st->sha256, 32, h1);
    util_hex_encode(st->prefix_sha256, 32, h2);
    return sb_printf(out,
                     "custody-pull-state 1\nsize %llu\nsha256 %s\ndone %llu\nprefix-sha256 %s\n",
                     (unsigned long long)st->size, h1, (unsigned long long)st->done, h2);
}

/* "KEY VALUE\n" at *p: the value's span, or -1. */
static int state_line(const char **p, const char *end, const char *key, const char **v, size_t *vn)
{
    size_t kl = strlen(key);
    if ((size_t)(end - *p) < kl + 1 || memcmp(*p, key, kl) != 0 || (*p)[kl] != ' ') return -1;
    const char *s = *p + kl + 1;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl || nl == s) return -1;
    *v = s;
    *vn = (size_t)(nl - s);
    *p = nl + 1;
    return 0;
}

static int state_hex(const char *v, size_t n, uint8_t out[32])
{
    if (n != 64) return -1;
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'))) return -1;
    return util_hex_decode(v, 64, out) == 0 ? 0 : -1;
}

static int state_u64(const char *v, size_t n, uint64_t *out)
{
    if (n > 1 && v[0] == '0') return -1; /* one spelling per number */
    return util_parse_u64(v, n, out) == 0 ? 0 : -1;
}

int pull_state_parse(const char *text, size_t len, struct pull_state *st)
{
    static const char magic[] = "custody-pull-state 1\n";
    memset(st, 0, sizeof *st);
    if (!text || len > PULL_STATE_MAX || len < sizeof magic - 1 ||
        memcmp(text, magic, sizeof magic - 1) != 0)
        return CUSTODY_EINVAL;
    const char *p = text + sizeof magic - 1, *end = text + len, *v;
    size_t n;
    if (state_line(&p, end, "size", &v, &n) || state_u64(v, n, &st->size) ||
        state_line(&p, end, "sha256", &v, &n) || state_hex(v, n, st->sha256) ||
        state_line(&p, end, "done", &v, &n) || state_u64(v, n, &st->done) ||
        state_line(&p, end, "prefix-sha256", &v, &n) || state_hex(v, n, st->prefix_sha256) ||
        p != end || st->done > st->size || st->size > MANIFEST_INT_MAX_PULL) {
        memset(st, 0, sizeof *st);
        return CUSTODY_EINVAL;
    }
    return 0;
}

/* ---- the job ---- */

enum slot_st { SLOT_FREE = 0, SLOT_WAIT, SLOT_RUN, SLOT_DONE };

struct slot {
    enum slot_st st;
    uint64_t idx;      /* chunk index */
    uint64_t got;      /* contiguous bytes received from the chunk's start */
    unsigned fails;    /* consecutive failures without progress */
    uint64_t retry_at; /* SLOT_WAIT: monotonic ns */
};

struct job;

struct stream {
    struct job *j;
    CURL *e;
    struct curl_slist *hdrs;
    struct slot *slot; /* NULL when idle */
    uint64_t pos, end; /* the request's next offset and end (exclusive) */
    uint64_t req_start;
    uint64_t got_at_start;
    long status;
    bool checked; /* status and Content-Range checked */
    bool whole;   /* the request covers the whole file (a 200 is fine) */
    bool cr_seen;
    uint64_t cr_a, cr_b, cr_total;
    int64_t content_length;
    int fault; /* our own abort reason (CUSTODY_E*), 0 if none */
    bool fatal_fault;
    struct strbuf body; /* error body, capped */
};

struct job {
    const struct pull_source *src;
    const struct pull_file *f;
    struct pull_opts o;
    struct pull_stats *stats;
    const char *url, *canon;
    int fd;
    uint64_t from; /* resumed prefix */
    uint64_t nchunks;
    uint64_t head, next; /* lowest unfinished chunk; next fresh chunk */
    struct slot *slots;  /* window of them: chunk i lives in slots[i % window] */
    unsigned window;
    uint64_t received; /* bytes written this run */
    int rc;
    char *err;
    size_t errlen;

    /* shared with the hasher */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t frontier; /* [0, frontier) is written */
    uint64_t published;
    bool stop;
};

struct hasher {
    struct job *j;
    EVP_MD_CTX *ctx;
    uint64_t hashed;
    int dirfd;
    const char *state_name, *state_tmp;
    uint64_t last_state_ns;
    uint64_t state_written; /* prefix of the last state written */
    int rc;
    char msg[256];
};

static void job_fail(struct job *j, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_fail(struct job *j, int rc, const char *fmt, ...)
{
    if (j->rc) return; /* the first failure tells */
    j->rc = rc;
    if (j->err && j->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->err, j->errlen, fmt, ap);
        va_end(ap);
    }
}

static uint64_t chunk_start(const struct job *j, uint64_t i)
{
    uint64_t s, e;
    pull_plan_chunk(j->f->size, j->from, j->o.chunk, i, &s, &e);
    return s;
}

static uint64_t chunk_end(const struct job *j, uint64_t i)
{
    uint64_t s, e;
    pull_plan_chunk(j->f->size, j->from, j->o.chunk, i, &s, &e);
    return e;
}

static struct slot *slot_of(struct job *j, uint64_t i)
{
    return &j->slots[i % j->window];
}

/* Advances head past finished chunks and publishes the frontier to the hasher. */
static void advance(struct job *j, bool force)
{
    while (j->head < j->next && slot_of(j, j->head)->st == SLOT_DONE) {
        slot_of(j, j->head)->st = SLOT_FREE;
        j->head++;
    }
    uint64_t fr;
    if (j->head >= j->nchunks)
        fr = j->f->size;
    else if (j->head < j->next)
        fr = chunk_start(j, j->head) + slot_of(j, j->head)->got;
    else
        fr = chunk_start(j, j->head);
    if (fr < j->from) fr = j->from;
    if (fr == j->published || (!force && fr - j->published < HASH_BLOCK && fr != j->f->size))
        return;
    pthread_mutex_lock(&j->mu);
    j->frontier = fr;
    j->published = fr;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static size_t on_header(char *p, size_t sz, size_t nm, void *arg)
{
    struct stream *s = arg;
    size_t n = sz * nm;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new response (after a redirect) */
        s->cr_seen = false;
        s->content_length = -1;
    } else if (n > 14 && util_ascii_ieq(p, "content-range:", 14)) {
        s->cr_seen =
            pull_parse_content_range(p + 14, n - 14, &s->cr_a, &s->cr_b, &s->cr_total) == 0;
        if (!s->cr_seen) s->cr_total = 0;
    } else if (n > 15 && util_ascii_ieq(p, "content-length:", 15)) {
        const char *v = p + 15;
        size_t vn = n - 15;
        while (vn && (*v == ' ' || *v == '\t'))
            v++, vn--;
        while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' '))
            vn--;
        uint64_t cl;
        s->content_length = util_parse_u64(v, vn, &cl) == 0 ? (int64_t)UTIL_MIN(cl, INT64_MAX) : -1;
    }
    return n;
}

/* First body bytes of a 2xx: is this the answer we asked for? */
static bool check_response(struct stream *s)
{
    struct job *j = s->j;
    s->checked = true;
    if (s->status == 206) {
        if (!s->cr_seen) {
            s->fault = CUSTODY_EPROTO;
            return false;
        }
        if (s->cr_total != UINT64_MAX && s->cr_total != j->f->size) {
            job_fail(j, CUSTODY_ECORRUPT,
                     "'%s': the origin has %llu bytes, the manifest says %llu (%s)", j->f->name,
                     (unsigned long long)s->cr_total, (unsigned long long)j->f->size, j->url);
            s->fault = CUSTODY_ECORRUPT;
            s->fatal_fault = true;
            return false;
        }
        if (s->cr_a != s->pos || s->cr_b + 1 != s->end) {
            s->fault = CUSTODY_EPROTO; /* another range than asked: retry */
            return false;
        }
        return true;
    }
    if (s->status == 200) {
        if (!s->whole) {
            job_fail(j, CUSTODY_EUNSUPPORTED,
                     "'%s': the origin ignored the byte range (HTTP 200 instead of 206): ranged "
                     "GETs are needed for files larger than one chunk (%s)",
                     j->f->name, j->url);
            s->fault = CUSTODY_EUNSUPPORTED;
            s->fatal_fault = true;
            return false;
        }
        if (s->content_length >= 0 && (uint64_t)s->content_length != j->f->size) {
            job_fail(j, CUSTODY_ECORRUPT,
                     "'%s': the origin has %lld bytes, the manifest says %llu (%s)", j->f->name,
                     (long long)s->content_length, (unsigned long long)j->f->size, j->url);
            s->fault = CUSTODY_ECORRUPT;
            s->fatal_fault = true;
            return false;
        }
        return true;
    }
    return true; /* not 2xx: the body is an error message, kept for the report */
}

static size_t on_body(char *p, size_t sz, size_t nm, void *arg)
{
    struct stream *s = arg;
    struct job *j = s->j;
    size_t n = sz * nm;
    if (!s->status) curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status < 200 || s->status >= 300) {
        if (s->body.len < 4096) sb_append(&s->body, p, UTIL_MIN(n, 4096 - s->body.len));
        return n;
    }
    if (!s->checked && !check_response(s)) return 0;
    if (n > s->end - s->pos) {
        job_fail(j, CUSTODY_ECORRUPT,
                 "'%s': the origin sent more bytes than the manifest says "
                 "(%llu) (%s)",
                 j->f->name, (unsigned long long)j->f->size, j->url);
        s->fault = CUSTODY_ECORRUPT;
        s->fatal_fault = true;
        return 0;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(j->fd, p + off, n - off, (off_t)(s->pos + off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            job_fail(j, e == ENOSPC || e == EDQUOT ? CUSTODY_ENOSPC : CUSTODY_EIO,
                     "'%s.partial': write failed: %s", j->f->name, strerror(e));
            s->fault = CUSTODY_EIO;
            s->fatal_fault = true;
            return 0;
        }
        off += (size_t)w;
    }
    s->pos += n;
    s->slot->got += n;
    j->received += n;
    if (s->slot->idx == j->head) advance(j, false);
    return n;
}

static int start_stream(struct job *j, struct stream *s, struct slot *sl)
{
    uint64_t cs = chunk_start(j, sl->idx), ce = chunk_end(j, sl->idx);
    s->slot = sl;
    s->pos = cs + sl->got;
    s->end = ce;
    s->req_start = s->pos;
    s->got_at_start = sl->got;
    s->status = 0;
    s->checked = false;
    s->cr_seen = false;
    s->content_length = -1;
    s->fault = 0;
    s->fatal_fault = false;
    sb_reset(&s->body);
    s->whole = s->pos == 0 && ce == j->f->size;
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    char range[64];
    const char *r = NULL;
    if (j->f->size > 0) {
        snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)s->pos,
                 (unsigned long long)(ce - 1));
        r = range;
    }
    curl_easy_reset(s->e);
    int rc =
        pull_prepare(s->e, j->src, j->url, j->canon, r, j->o.cainfo, j->o.low_speed_s, &s->hdrs);
    if (rc) {
        job_fail(j, rc, "'%s': cannot build the request", j->f->name);
        return rc;
    }
    curl_easy_setopt(s->e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(s->e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(s->e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(s->e, CURLOPT_PRIVATE, s);
    sl->st = SLOT_RUN;
    if (j->stats) j->stats->requests++;
    return 0;
}

/* A finished transfer of stream s. */
static void finish_stream(struct job *j, struct stream *s, CURLcode cc, uint64_t now)
{
    struct slot *sl = s->slot;
    s->slot = NULL;
    if (!s->status) curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &s->status);
    bool ok2xx = s->status >= 200 && s->status < 300;
    /* a 2xx without a body byte (the empty file) is checked here */
    if (cc == CURLE_OK && ok2xx && !s->checked && !check_response(s)) {
        sl->st = SLOT_WAIT;
        sl->retry_at = UINT64_MAX;
        if (!s->fatal_fault)
            job_fail(j, CUSTODY_EPROTO, "'%s': unexpected response (%s)", j->f->name, j->url);
        return;
    }
    if (cc == CURLE_OK && ok2xx && s->pos == s->end && !s->fault) {
        sl->st = SLOT_DONE;
        sl->fails = 0;
        if (sl->idx == j->head) advance(j, true);
        return;
    }
    if (s->fatal_fault || j->rc) {
        sl->st = SLOT_WAIT;
        sl->retry_at = UINT64_MAX;
        return; /* job_fail was called */
    }
    char what[PULL_NAME_MAX + 80];
    snprintf(what, sizeof what, "'%s' bytes %llu-%llu", j->f->name,
             (unsigned long long)s->req_start, (unsigned long long)(s->end - 1));
    char msg[1024];
    struct pull_failure f;
    if (s->fault == CUSTODY_EPROTO) {
        f = (struct pull_failure){CUSTODY_EPROTO, true};
        snprintf(msg, sizeof msg, "%s: the origin answered another range than asked (%s)", what,
                 j->url);
    } else if (cc == CURLE_OK && ok2xx) {
        f = (struct pull_failure){CUSTODY_EIO, true};
        snprintf(msg, sizeof msg, "%s: the response ended early (%s)", what, j->url);
    } else {
        f = pull_classify(cc, s->status, s->body.buf, s->body.len, what, j->url, msg, sizeof msg);
    }
    if (!f.transient) {
        job_fail(j, f.rc, "%s", msg);
        sl->st = SLOT_WAIT;
        sl->retry_at = UINT64_MAX;
        return;
    }
    if (sl->got > s->got_at_start) sl->fails = 0;
    sl->fails++;
    if (sl->fails > j->o.retries) {
        job_fail(j, CUSTODY_EIO, "%s (giving up after %u attempts)", msg, sl->fails);
        sl->st = SLOT_WAIT;
        sl->retry_at = UINT64_MAX;
        return;
    }
    log_debug("pull: %s; retry %u", msg, sl->fails);
    if (j->stats) j->stats->retries++;
    sl->st = SLOT_WAIT;
    sl->retry_at = now + pull_backoff_ns(j->o.backoff_ms, sl->fails);
}

/* The next chunk an idle stream should take: a due retry (lowest first), else a fresh one. */
static struct slot *pick(struct job *j, uint64_t now, uint64_t *next_due)
{
    for (uint64_t i = j->head; i < j->next; i++) {
        struct slot *sl = slot_of(j, i);
        if (sl->st != SLOT_WAIT) continue;
        if (sl->retry_at <= now) return sl;
        if (sl->retry_at < *next_due) *next_due = sl->retry_at;
    }
    if (j->next < j->nchunks && j->next < j->head + j->window) {
        struct slot *sl = slot_of(j, j->next);
        memset(sl, 0, sizeof *sl);
        sl->idx = j->next++;
        return sl;
    }
    return NULL;
}

/* ---- the hasher thread ---- */

static void write_state(struct hasher *h)
{
    struct job *j = h->j;
    struct pull_state st = {.size = j->f->size, .done = h->hashed};
    memcpy(st.sha256, j->f->sha256, 32);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int dl = 0;
    if (!c || !EVP_MD_CTX_copy_ex(c, h->ctx) || !EVP_DigestFinal_ex(c, st.prefix_sha256, &dl)) {
        EVP_MD_CTX_free(c);
        return;
    }
    EVP_MD_CTX_free(c);
    struct strbuf b = STRBUF_INIT;
    if (pull_state_format(&st, &b) == 0) {
        int fd = openat(h->dirfd, h->state_tmp,
                        O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            int wrc = util_write_all(fd, b.buf, b.len);
            close(fd);
            if (wrc == 0 && renameat(h->dirfd, h->state_tmp, h->dirfd, h->state_name) == 0)
                h->state_written = h->hashed;
            else
                unlinkat(h->dirfd, h->state_tmp, 0);
        }
    }
    sb_free(&b);
    h->last_state_ns = util_monotonic_ns();
}

static void *hasher_main(void *arg)
{
    struct hasher *h = arg;
    struct job *j = h->j;
    uint8_t *buf = malloc(READ_BLOCK);
    if (!buf) {
        h->rc = CUSTODY_ENOMEM;
        return NULL;
    }
    uint64_t state_ns = (uint64_t)(j->o.state_ms ? j->o.state_ms : 1000) * 1000000ull;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (h->hashed == j->frontier && !j->stop)
            pthread_cond_wait(&j->cv, &j->mu);
        uint64_t avail = j->frontier;
        bool stop = j->stop;
        pthread_mutex_unlock(&j->mu);
        if (h->hashed == avail && stop) break;
        while (h->hashed < avail) {
            size_t n = (size_t)UTIL_MIN(avail - h->hashed, (uint64_t)READ_BLOCK);
            ssize_t r = pread(j->fd, buf, n, (off_t)h->hashed);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                h->rc = CUSTODY_EIO;
                snprintf(h->msg, sizeof h->msg, "'%s.partial': read back failed: %s", j->f->name,
                         r < 0 ? strerror(errno) : "short file");
                goto out;
            }
            EVP_DigestUpdate(h->ctx, buf, (size_t)r);
            h->hashed += (uint64_t)r;
            if (util_monotonic_ns() - h->last_state_ns >= state_ns && h->hashed < j->f->size)
                write_state(h);
        }
    }
out:
    free(buf);
    return NULL;
}

/* Re-hashes [0, done) of fd into ctx; 0 when its digest is want. */
static int rehash_prefix(int fd, uint64_t done, EVP_MD_CTX *ctx, const uint8_t want[32])
{
    uint8_t *buf = malloc(HASH_BLOCK);
    if (!buf) return CUSTODY_ENOMEM;
    uint64_t off = 0;
    int rc = 0;
    while (off < done) {
        size_t n = (size_t)UTIL_MIN(done - off, (uint64_t)HASH_BLOCK);
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = CUSTODY_EIO;
            break;
        }
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        off += (uint64_t)r;
    }
    free(buf);
    if (rc) return rc;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint8_t got[32];
    unsigned int dl = 0;
    if (!c || !EVP_MD_CTX_copy_ex(c, ctx) || !EVP_DigestFinal_ex(c, got, &dl)) {
        EVP_MD_CTX_free(c);
        return CUSTODY_EINTERNAL;
    }
    EVP_MD_CTX_free(c);
    return memcmp(got, want, 32) == 0 ? 0 : CUSTODY_ECORRUPT;
}

/* Names of the partial and state files: `<name>.partial(.state)`, or a hashed stand-in when
 * those would pass NAME_MAX. */
static void work_names(const char *name, char partial[300], char state[300], char tmp[300])
{
    size_t n = strlen(name);
    if (n + strlen(".partial.state.tmp") <= 255) {
        snprintf(partial, 300, "%s.partial", name);
    } else {
        uint8_t h[32];
        char hex[65];
        util_sha256(name, n, h);
        util_hex_encode(h, 32, hex);
        snprintf(partial, 300, ".pull-%s.partial", hex);
    }
    snprintf(state, 300, "%.280s.state", partial);
    snprintf(tmp, 300, "%.280s.state.tmp", partial);
}

static int read_state(int dirfd, const char *name, struct pull_state *st)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return CUSTODY_ENOENT;
    char buf[PULL_STATE_MAX + 1];
    size_t len = 0;
    struct stat sb;
    int rc = CUSTODY_EINVAL;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size <= PULL_STATE_MAX) {
        while (len < sizeof buf) {
            ssize_t r = read(fd, buf + len, sizeof buf - len);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            len += (size_t)r;
        }
        rc = pull_state_parse(buf, len, st);
    }
    close(fd);
    return rc;
}

static void fill_defaults(struct pull_opts *o)
{
    if (!o->streams) o->streams = PULL_DEFAULT_STREAMS;
    if (o->streams > PULL_MAX_STREAMS) o->streams = PULL_MAX_STREAMS;
    if (!o->chunk) o->chunk = PULL_DEFAULT_CHUNK;
    if (o->chunk < PULL_MIN_CHUNK) o->chunk = PULL_MIN_CHUNK;
    if (o->chunk > PULL_MAX_CHUNK) o->chunk = PULL_MAX_CHUNK;
    if (!o->window) o->window = 4 * o->streams;
    if (o->window < o->streams) o->window = o->streams;
    if (o->window > 4096) o->window = 4096;
    if (!o->retries) o->retries = PULL_DEFAULT_RETRIES;
    if (!o->mode) o->mode = 0644;
}

/* Runs the transfers until every chunk is done or the job fails. */
static void run_transfers(struct job *j, struct stream *ss, unsigned nstreams)
{
    CURLM *m = curl_multi_init();
    if (!m) {
        job_fail(j, CUSTODY_ENOMEM, "'%s': out of memory", j->f->name);
        return;
    }
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)nstreams);
    curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)nstreams);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)nstreams);
    curl_multi_setopt(m, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    uint64_t last_progress = 0;
    unsigned running = 0;
    while (!j->rc) {
        uint64_t now = util_monotonic_ns();
        if (j->o.cancel && *j->o.cancel) {
            job_fail(j, CUSTODY_EAGAIN,
                     "'%s': interrupted (the partial file and its state are "
                     "kept; pull again to resume)",
                     j->f->name);
            break;
        }
        uint64_t next_due = UINT64_MAX;
        for (unsigned i = 0; i < nstreams && !j->rc; i++) {
            struct stream *s = &ss[i];
            if (s->slot) continue;
            struct slot *sl = pick(j, now, &next_due);
            if (!sl) break;
            if (start_stream(j, s, sl) != 0) break;
            if (curl_multi_add_handle(m, s->e) != CURLM_OK) {
                job_fail(j, CUSTODY_EINTERNAL, "'%s': libcurl refused a transfer", j->f->name);
                break;
            }
            running++;
        }
        if (j->rc) break;
        if (running == 0) {
            if (j->head >= j->nchunks) break;
            if (next_due == UINT64_MAX) {
                job_fail(j, CUSTODY_EINTERNAL, "'%s': nothing to fetch but not done", j->f->name);
                break;
            }
        }
        int still = 0;
        curl_multi_perform(m, &still);
        CURLMsg *msg;
        int left;
        bool finished = false;
        now = util_monotonic_ns();
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            char *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            struct stream *s = (struct stream *)priv;
            CURLcode cc = msg->data.result;
            curl_multi_remove_handle(m, msg->easy_handle);
            running--;
            finish_stream(j, s, cc, now);
            finished = true;
        }
        if (j->o.progress && (now - last_progress >= 100000000ull)) {
            last_progress = now;
            j->o.progress(j->o.progress_arg, j->from + j->received, j->f->size);
        }
        if (j->head >= j->nchunks || j->rc || finished)
            continue; /* a stream is free: give it the next chunk before waiting */
        int timeout_ms = 100;
        if (running == 0 && next_due != UINT64_MAX) {
            uint64_t wait = next_due > now ? (next_due - now) / 1000000ull + 1 : 0;
            timeout_ms = (int)UTIL_MIN(wait, (uint64_t)100);
        }
        if (running)
            curl_multi_poll(m, NULL, 0, timeout_ms, NULL);
        else if (timeout_ms > 0) {
            struct timespec ts = {0, (long)timeout_ms * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    for (unsigned i = 0; i < nstreams; i++)
        if (ss[i].slot) curl_multi_remove_handle(m, ss[i].e);
    curl_multi_cleanup(m);
    if (j->o.progress && !j->rc) j->o.progress(j->o.progress_arg, j->f->size, j->f->size);
}

int pull_file(const struct pull_source *src, const struct pull_file *f, int dirfd,
              const struct pull_opts *opts, struct pull_stats *stats, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    struct pull_stats local_stats;
    if (!stats) stats = &local_stats;
    memset(stats, 0, sizeof *stats);
    uint64_t t0 = util_monotonic_ns();
    if (!src || !f || !pull_name_ok(f->name) || f->size > MANIFEST_INT_MAX_PULL) {
        if (err) snprintf(err, errlen, "pull: bad file name or size");
        return CUSTODY_EINVAL;
    }
    if (pull_curl_init() != 0) {
        if (err) snprintf(err, errlen, "pull: libcurl did not initialize");
        return CUSTODY_EINTERNAL;
    }
    struct job j = {.src = src, .f = f, .stats = stats, .fd = -1, .err = err, .errlen = errlen};
    if (opts) j.o = *opts;
    fill_defaults(&j.o);

    char partial[300], state[300], tmp[300];
    work_names(f->name, partial, state, tmp);
    struct strbuf url = STRBUF_INIT, canon = STRBUF_INIT;
    int rc = pull_object_url(src, f->name, &url, &canon);
    if (rc) {
        if (err) snprintf(err, errlen, "'%s': the object URL is too long", f->name);
        goto out_free;
    }
    j.url = url.buf;
    j.canon = canon.buf ? canon.buf : "";

    j.fd = openat(dirfd, partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (j.fd < 0) {
        rc = errno == ENOSPC ? CUSTODY_ENOSPC : CUSTODY_EIO;
        if (err) snprintf(err, errlen, "'%s': cannot open: %s", partial, strerror(errno));
        goto out_free;
    }
    struct stat sb;
    if (fstat(j.fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = CUSTODY_EIO;
        if (err) snprintf(err, errlen, "'%s': not a regular file", partial);
        goto out_close;
    }
    if (flock(j.fd, LOCK_EX | LOCK_NB) != 0) {
        rc = CUSTODY_EAGAIN;
        if (err) snprintf(err, errlen, "'%s': another pull of this file is running", f->name);
        goto out_close;
    }

    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        rc = CUSTODY_ENOMEM;
        goto out_close;
    }
    /* resume: keep the prefix only if re-hashing confirms the state's digest */
    struct pull_state st;
    if (read_state(dirfd, state, &st) == 0 && st.size == f->size &&
        memcmp(st.sha256, f->sha256, 32) == 0 && st.done > 0 && (uint64_t)sb.st_size >= st.done) {
        if (rehash_prefix(j.fd, st.done, ctx, st.prefix_sha256) == 0) {
            j.from = st.done;
            stats->resumed = st.done;
        } else {
            log_info("pull: '%s': the resume state does not match the partial file; starting over",
                     f->name);
            EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        }
    }
    if (ftruncate(j.fd, (off_t)f->size) != 0) {
        rc = errno == ENOSPC ? CUSTODY_ENOSPC : CUSTODY_EIO;
        if (err) snprintf(err, errlen, "'%s': cannot size: %s", partial, strerror(errno));
        EVP_MD_CTX_free(ctx);
        goto out_close;
    }

    j.nchunks = pull_plan_chunks(f->size, j.from, j.o.chunk);
    if (f->size == 0)
        j.nchunks = 1; /* one GET without a Range: the object must exist and be empty */
    j.window = (unsigned)UTIL_MIN((uint64_t)j.o.window, UTIL_MAX(j.nchunks, (uint64_t)1));
    unsigned nstreams = (unsigned)UTIL_MIN((uint64_t)j.o.streams, UTIL_MAX(j.nchunks, (uint64_t)1));
    j.slots = util_calloc(j.window, sizeof *j.slots);
    j.frontier = j.published = j.from;
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);

    struct hasher h = {.j = &j,
                       .ctx = ctx,
                       .hashed = j.from,
                       .dirfd = dirfd,
                       .state_name = state,
                       .state_tmp = tmp,
                       .last_state_ns = util_monotonic_ns(),
                       .state_written = j.from};
    pthread_t ht;
    bool hasher_up = pthread_create(&ht, NULL, hasher_main, &h) == 0;
    if (!hasher_up)
        job_fail(&j, CUSTODY_EINTERNAL, "'%s': cannot start the hasher thread", f->name);

    struct stream *ss = util_calloc(nstreams, sizeof *ss);
    for (unsigned i = 0; i < nstreams && !j.rc; i++) {
        ss[i].j = &j;
        ss[i].e = curl_easy_init();
        if (!ss[i].e) job_fail(&j, CUSTODY_ENOMEM, "'%s': out of memory", f->name);
    }
    if (!j.rc) run_transfers(&j, ss, nstreams);
    for (unsigned i = 0; i < nstreams; i++) {
        if (ss[i].e) curl_easy_cleanup(ss[i].e);
        curl_slist_free_all(ss[i].hdrs);
        sb_free(&ss[i].body);
    }
    free(ss);
    stats->fetched = j.received;

    /* let the hasher finish the contiguous prefix, then stop it */
    if (!j.rc) advance(&j, true);
    pthread_mutex_lock(&j.mu);
    j.stop = true;
    pthread_cond_signal(&j.cv);
    pthread_mutex_unlock(&j.mu);
    if (hasher_up) pthread_join(ht, NULL);
    if (!j.rc && h.rc) job_fail(&j, h.rc, "%s", h.msg);

    rc = j.rc;
    if (!rc && h.hashed != f->size)
        job_fail(&j, rc = CUSTODY_EINTERNAL, "'%s': hashed %llu of %llu bytes", f->name,
                 (unsigned long long)h.hashed, (unsigned long long)f->size);
    uint8_t got[32];
    unsigned int dl = 0;
    if (!rc) {
        EVP_DigestFinal_ex(ctx, got, &dl);
        if (memcmp(got, f->sha256, 32) != 0) {
            char want_hex[65], got_hex[65];
            util_hex_encode(f->sha256, 32, want_hex);
            util_hex_encode(got, 32, got_hex);
            job_fail(&j, rc = CUSTODY_ECORRUPT,
                     "'%s': SHA-256 mismatch: the manifest says %s, the origin served %s (%llu "
                     "bytes from %s); refused",
                     f->name, want_hex, got_hex, (unsigned long long)f->size, j.url);
        }
    }
    if (!rc) {
        if (fchmod(j.fd, (mode_t)j.o.mode) != 0 || fsync(j.fd) != 0 ||
            renameat(dirfd, partial, dirfd, f->name) != 0) {
            int e = errno;
            job_fail(&j, rc = e == ENOSPC ? CUSTODY_ENOSPC : CUSTODY_EIO,
                     "'%s': cannot make the file visible: %s", f->name, strerror(e));
        } else {
            unlinkat(dirfd, state, 0);
            unlinkat(dirfd, tmp, 0);
            if (fsync(dirfd) != 0) {
                int e = errno;
                /* EINVAL: a directory that does not support fsync (nothing to do) */
                if (e != EINVAL)
                    job_fail(&j, rc = CUSTODY_EIO, "'%s': fsync of the directory: %s", f->name,
                             strerror(e));
            }
        }
    } else if (rc == CUSTODY_ECORRUPT || (h.hashed == 0 && h.state_written == 0)) {
        /* wrong bytes: nothing worth keeping; nothing fetched: nothing to resume */
        unlinkat(dirfd, partial, 0);
        unlinkat(dirfd, state, 0);
        unlinkat(dirfd, tmp, 0);
    } else if (h.hashed > h.state_written) {
        write_state(&h); /* interrupted: keep what is hashed for the next attempt */
    }
    EVP_MD_CTX_free(ctx);
    free(j.slots);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
out_close:
    close(j.fd);
out_free:
    sb_free(&url);
    sb_free(&canon);
    stats->ns = util_monotonic_ns() - t0;
    return rc;
}
