/*
 * fuzz_client.c — libFuzzer target for libcustody's readers of custodyd's answers
 * (src/client): a client must survive a custodyd that answers garbage, whether a bug, a
 * version skew or something else on the socket.
 *
 * The first byte picks the reader, the rest is the answer:
 *   0  custody__handover_answer + custody__handover_count (the raw answer to a descriptor
 *      handover, read with recvmsg: status line, head, body)
 *   1  custody__decode_error       2  custody__decode_listing
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
        custody_dirent_t *d = NULL;
        size_t k = 0;
        int truncated = 0;
        if (custody__decode_listing(in, n, &d, &k, &truncated) == 0)
            custody_dirents_free(d, k);
        else
            check(d == NULL, "a failed listing left entries");
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
