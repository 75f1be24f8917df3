/*
 * fuzz_client.c — libFuzzer target for libcustody's readers of custodyd's answers
 * (src/client): a client must survive a custodyd that answers garbage, whether a bug, a
 * version skew or something else on the socket.
 *
 * The first byte picks the reader, the rest is the answer:
 *   0  custody__handover_answer + custody__handover_count (the raw answer to a descriptor
 *      handover, read with recvmsg: status line, head, body)
 *   1  custody__decode_error       2  custody__decode_listing (and, as its oracle,
 *                                     custody__decode_listing_ref: both must agree)
 *   3  custody__decode_versions    4  custody__decode_write_result
 *   5  custody__decode_root        6  custody__decode_roots
 *   7  custody__decode_grant
 * Besides crashes, leaks and timeouts it checks what must hold: a parsed handover answer
 * has a status of 100..599 and a body inside the input; a count is at most
 * CUSTODY__HANDOVER_MAX; a decoder that fails leaves nothing allocated to free (its outputs
 * stay NULL / 0).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/internal.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_client: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned which = data[0] % 8;
    size_t n = size - 1;
    char *in = malloc(n + 1); /* exact size (ASan sees overreads), NUL after for decoders */
    memcpy(in, data + 1, n);
    in[n] = 0;
    switch (which) {
    case 0: {
        int status = 0;
        const char *body = NULL;
        size_t blen = 0, count = 0;
        if (custody__handover_answer(in, n, &status, &body, &blen) == 0) {
            check(status >= 100 && status <= 599, "status out of range");
            check(body >= in && body + blen == in + n, "body outside the answer");
            if (custody__handover_count(body, blen, &count) == 0)
                check(count <= CUSTODY__HANDOVER_MAX, "count over the limit");
        }
        break;
    }
    case 1: {
        int err = 0;
        char *msg = NULL;
        custody__decode_error(in, n, 500, &err, &msg);
        check(msg != NULL && err < 0, "decode_error must always give an error and a message");
        free(msg);
        break;
    }
    case 2: {
        custody_dirent_t *d = NULL, *rd = NULL;
        size_t k = 0, rk = 0;
        int truncated = 0, rtruncated = 0;
        int rc = custody__decode_listing(in, n, &d, &k, &truncated);
        int ref = custody__decode_listing_ref(in, n, &rd, &rk, &rtruncated);
        if (rc) check(d == NULL, "a failed listing left entries");
        /* jansson skips a raw NUL byte after a token that needed lookahead (a
         * number, a literal); listing.c refuses every raw NUL, as JSON does */
        bool nul = memchr(in, 0, n) != NULL;
        if (ref == 0 && (rc == 0 || !nul)) {
            check(rc == 0, "the one-pass listing reader refused what jansson's accepts");
            check(k == rk && truncated == rtruncated, "listing readers disagree on the count");
            for (size_t i = 0; i < k; i++) {
                const custody_dirent_t *a = &d[i], *b = &rd[i];
                check(strcmp(a->name, b->name) == 0 && a->type == b->type && a->size == b->size &&
                          strcmp(a->mtime, b->mtime) == 0 && strcmp(a->atime, b->atime) == 0 &&
                          strcmp(a->btime, b->btime) == 0 && a->mode == b->mode &&
                          a->target_type == b->target_type && a->target_size == b->target_size,
                      "listing readers disagree on an entry");
            }
        } else if (rc == 0 && ref != 0) {
            /* only where listing.c says it may: a duplicate key or a huge real in a
             * member it skips, which jansson refuses while parsing */
            json_error_t jerr;
            json_t *j = json_loadb(in, n, JSON_REJECT_DUPLICATES, &jerr);
            check(j == NULL && (strstr(jerr.text, "duplicate object key") ||
                                strstr(jerr.text, "real number overflow")),
                  "the one-pass listing reader accepted what jansson's refuses");
        }
        if (rc == 0) custody_dirents_free(d, k);
        if (ref == 0) custody_dirents_free(rd, rk);
        break;
    }
    case 3: {
        custody_version_t *v = NULL;
        size_t k = 0;
        if (custody__decode_versions(in, n, &v, &k) == 0)
            custody_versions_free(v, k);
        else
            check(v == NULL, "failed versions left entries");
        break;
    }
    case 4: {
        custody_write_result_t r;
        memset(&r, 0, sizeof r);
        custody__decode_write_result(in, n, &r);
        break;
    }
    case 5: {
        custody_root_t r;
        memset(&r, 0, sizeof r);
        if (custody__decode_root(in, n, &r) == 0) custody_root_free(&r);
        break;
    }
    case 6: {
        custody_root_t *r = NULL;
        size_t k = 0;
        if (custody__decode_roots(in, n, &r, &k) == 0)
            custody_roots_free(r, k);
        else
            check(r == NULL, "failed roots left entries");
        break;
    }
    case 7: {
        int granted[8] = {0};
        unsigned ttl = 0;
        custody__decode_grant(in, n, 8, granted, &ttl);
        break;
    }
    }
    free(in);
    return 0;
}
