/* fuzz_http — HTTP request handling: the HTTP/1.1 head parser and framing
 * rules, the chunked decoder (fed in pieces), and the gateway's target,
 * query and Range parsing, on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "http/h1.h"

static int sink(void *arg, const char *data, size_t len)
{
    size_t *total = arg;
    (void)data;
    *total += len;
    return *total > (1u << 20) ? CUSTODY_ETOOBIG : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    /* the head is everything up to the first CRLF CRLF */
    size_t head_len = 0;
    for (size_t i = 0; i + 3 < size; i++)
        if (memcmp(s + i, "\r\n\r\n", 4) == 0) {
            head_len = i + 4;
            break;
        }
    struct http_header hdrs[32];
    struct h1_head h;
    if (head_len && h1_parse_head(s, head_len, &h, hdrs, 32, 4096) == 0) {
        int64_t cl;
        bool chunked;
        if (h1_body_framing(&h, &cl, &chunked) == 0 && chunked) {
            struct h1_chunked ch = {0};
            size_t total = 0, off = head_len;
            bool done = false;
            /* feed in uneven pieces to exercise every state boundary */
            size_t step = 1;
            while (off < size && !done) {
                size_t n = size - off < step ? size - off : step;
                ssize_t used = h1_chunked_feed(&ch, s + off, n, sink, &total, &done);
                if (used < 0)
                    break;
                if (used == 0 && !done)
                    break;
                off += (size_t)used;
                step = step * 3 % 17 + 1;
            }
        }
        const struct http_header *r = h1_find_header(hdrs, h.nheaders, "range");
        if (r) {
            uint64_t o, l;
            gw_parse_range(r->value, r->value_len, 1000, &o, &l);
            gw_parse_range(r->value, r->value_len, 0, &o, &l);
        }
        struct gw_target *t = malloc(sizeof *t);
        if (t && gw_parse_target(h.target, h.target_len, t) == 0 && t->query) {
            size_t vl;
            gw_query_get(t->query, t->query_len, "version", &vl);
        }
        free(t);
    }
    return 0;
}
