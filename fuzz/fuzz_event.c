/*
 * fuzz_event.c — libFuzzer target for the readers in src/ledger/event.c.
 *
 * Audit entries come back from disk, from tiles served to anyone, and from
 * tools that check a log, so the decoder and the signature check must hold
 * up against any bytes. Each input goes to ledger_event_decode and to
 * ledger_event_verify_signature (with the key the signed seeds in
 * fuzz/corpus/event were made with: RFC 8032 test 1, key id 0a1b2c3d).
 * Besides crashes, leaks and timeouts (ASan/UBSan/libFuzzer), it checks:
 *   - decode answers 0 or CUSTODY_EINVAL; after a failure the view holds
 *     no allocations;
 *   - a decoded event has what the encoder always writes: a UUIDv7
 *     event_id, a timestamp that util_rfc3339_ns(time_ns) writes back
 *     identically, an action of [a-z][a-z0-9._-]{0,63}, a decision of
 *     allow/deny/error, a 64-hex content_sha256 when present;
 *   - what the decoder accepts the encoder accepts: the view's fields
 *     re-encode (never longer than the input) and decode to the same view;
 *   - verify answers 0, CUSTODY_EINVAL, CUSTODY_ENOENT or CUSTODY_EBADSIG,
 *     and never CUSTODY_EINVAL for an input that decoded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_event: %s\n", what);
        abort();
    }
}

static struct tlog_key g_key;

static void key_init(void)
{
    if (g_key.type) return;
    g_key.type = TLOG_KEY_ED25519;
    g_key.id = 0x0a1b2c3d;
    util_strlcpy(g_key.name, "fuzz", sizeof g_key.name);
    util_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", 64,
                    g_key.pub);
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_view(const struct ledger_event_view *v)
{
    size_t n = strlen(v->event_id);
    check(n == 36 && v->event_id[14] == '7' && strchr("89ab", v->event_id[19]),
          "event_id is not a UUIDv7");
    char ts[40];
    util_rfc3339_ns(v->time_ns, ts);
    check(strcmp(ts, v->timestamp) == 0, "timestamp does not match time_ns");
    n = strlen(v->action);
    check(n >= 1 && n <= 64 && v->action[0] >= 'a' && v->action[0] <= 'z', "bad action");
    for (size_t i = 1; i < n; i++)
        check(strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", v->action[i]) != NULL,
              "bad action character");
    check(!strcmp(v->decision, "allow") || !strcmp(v->decision, "deny") ||
              !strcmp(v->decision, "error"),
          "bad decision");
    if (v->content_sha256) {
        check(strlen(v->content_sha256) == 64, "content_sha256 length");
        for (size_t i = 0; i < 64; i++)
            check(strchr("0123456789abcdef", v->content_sha256[i]) != NULL, "content_sha256 hex");
    }
    const char *strs[] = {v->principal_id, v->agent_id, v->resource_id, v->destination_id};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(strs); i++)
        check(!strs[i] || (strlen(strs[i]) <= LEDGER_FIELD_MAX &&
                           util_utf8_valid(strs[i], strlen(strs[i]))),
              "bad string field");
}

/* The view's fields go back through the encoder and the decoder. */
static void check_reencode(const struct ledger_event_view *v, size_t input_len)
{
    struct ledger_event ev;
    memset(&ev, 0, sizeof ev);
    memcpy(ev.event_id, v->event_id, sizeof ev.event_id);
    ev.time_ns = v->time_ns;
    ev.action = v->action;
    ev.decision = v->decision;
    ev.principal_id = v->principal_id;
    ev.agent_id = v->agent_id;
    ev.resource_id = v->resource_id;
    ev.content_sha256 = v->content_sha256;
    ev.destination_id = v->destination_id;
    struct strbuf sb = STRBUF_INIT;
    int rc = ledger_event_encode(&ev, NULL, NULL, &sb);
    check(rc == 0, "a decoded event does not encode");
    check(sb.len <= input_len, "canonical form longer than the input");
    struct ledger_event_view w;
    check(ledger_event_decode(sb.buf, sb.len, &w) == 0, "a re-encoded event does not decode");
    check(strcmp(v->event_id, w.event_id) == 0 && strcmp(v->timestamp, w.timestamp) == 0 &&
              v->time_ns == w.time_ns && strcmp(v->action, w.action) == 0 &&
              strcmp(v->decision, w.decision) == 0 && str_eq(v->principal_id, w.principal_id) &&
              str_eq(v->agent_id, w.agent_id) && str_eq(v->resource_id, w.resource_id) &&
              str_eq(v->content_sha256, w.content_sha256) &&
              str_eq(v->destination_id, w.destination_id) && !w.has_edit,
          "re-encoded event decodes differently");
    ledger_event_view_free(&w);
    sb_free(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    key_init();
    /* exact-size copy so ASan catches any read past len */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);

    struct ledger_event_view v;
    memset(&v, 0xa5, sizeof v);
    int rc = ledger_event_decode(buf, size, &v);
    check(rc == 0 || rc == CUSTODY_EINVAL, "unexpected decode result");
    if (rc == 0) {
        check_view(&v);
        check_reencode(&v, size);
        ledger_event_view_free(&v);
    } else {
        check(!v.principal_id && !v.agent_id && !v.resource_id && !v.content_sha256 &&
                  !v.destination_id,
              "a failed decode left pointers in the view");
    }

    int vr = ledger_event_verify_signature(buf, size, &g_key);
    check(vr == 0 || vr == CUSTODY_EINVAL || vr == CUSTODY_ENOENT || vr == CUSTODY_EBADSIG,
          "unexpected verify result");
    check(rc != 0 || vr != CUSTODY_EINVAL, "a decoded event cannot be canonicalized");
    free(buf);
    return 0;
}
