/* test_event.c — audit events: canonical JSON (RFC 8785), pseudonyms,
 * per-event signatures, and the strict decoder (src/ledger/event.c). */
#include "test.h"

#include "ledger/ledger.h"

/* RFC 8032 §7.1 test 1 key; the key id is arbitrary here (tlog_key_from_seed
 * would derive it, but the test does not need note.c). */
static struct tlog_key test_key(void)
{
    struct tlog_key k;
    memset(&k, 0, sizeof k);
    util_strlcpy(k.name, "test", sizeof k.name);
    k.type = TLOG_KEY_ED25519;
    k.id = 0x0a1b2c3d;
    ASSERT_OK(util_hex_decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                              64, k.pub));
    ASSERT_OK(util_hex_decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                              64, k.priv));
    k.has_priv = true;
    return k;
}

static void full_event(struct ledger_event *ev)
{
    memset(ev, 0, sizeof *ev);
    util_strlcpy(ev->event_id, "01890a5d-ac96-774b-bcce-b302099a8057", sizeof ev->event_id);
    ev->time_ns = 1795683600123456789ull; /* 2026-11-26T09:00:00.123456789Z */
    ev->principal_id = "alice@example.com";
    ev->agent_id = "agent-7";
    ev->endpoint_id = "ep-1";
    ev->session_id = "sess-42";
    ev->action = "read";
    ev->resource_id = "docs:/reports/\xc3\xa9t\xc3\xa9 \"q3\".txt";
    ev->destination_id = "docs:/archive/q3.txt";
    ev->has_range = true;
    ev->range_start = 100;
    ev->range_length = 4096;
    ev->content_sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    ev->model_id = "gpt-x";
    ev->model_version = "2026-01";
    ev->version = 7;
    ev->policy_ids[0] = "p-read";
    ev->policy_ids[1] = "p-audit";
    ev->npolicy = 2;
    ev->decision = "allow";
    ev->reason = "policy p-read";
    ev->status = 206;
    ev->latency_us = 1500;
    ev->bytes_transferred = 4096;
    ev->attestation_ref = "att:123";
}

/*
 * The canonical form of full_event(). Cross-checked once with
 *   json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
 * in python3, which produces RFC 8785 output for these value types (ASCII
 * keys, strings, small integers, and 1.5, whose repr is its JCS form).
 */
#define FULL_EVENT_JSON                                                                            \
    "{\"action\":\"read\",\"agent_id\":\"agent-7\",\"attestation_ref\":\"att:123\","               \
    "\"byte_range\":{\"length\":4096,\"start\":100},\"bytes_transferred\":4096,"                   \
    "\"content_sha256\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\","     \
    "\"decision\":\"allow\",\"destination_id\":\"docs:/archive/q3.txt\",\"endpoint_id\":\"ep-1\"," \
    "\"event_id\":\"01890a5d-ac96-774b-bcce-b302099a8057\",\"latency_ms\":1.5,"                    \
    "\"model_id\":\"gpt-x\",\"model_version\":\"2026-01\","                                        \
    "\"policy_ids\":[\"p-read\",\"p-audit\"],\"principal_id\":\"alice@example.com\","              \
    "\"reason\":\"policy p-read\","                                                                \
    "\"resource_id\":\"docs:/reports/\xc3\xa9t\xc3\xa9 \\\"q3\\\".txt\","                          \
    "\"schema\":\"custody.audit.event/v2\",\"session_id\":\"sess-42\",\"status\":206,"             \
    "\"timestamp\":\"2026-11-26T09:00:00.123456789Z\",\"version\":7}"

/* The same, signed with test_key(): Ed25519 is deterministic, and the
 * signature was computed with python3's cryptography over FULL_EVENT_JSON. */
#define FULL_EVENT_SIG                                                                             \
    "\"signature\":{\"alg\":\"ed25519\",\"key_id\":\"0a1b2c3d\",\"sig\":"                          \
    "\"zBiZxMQpky2fHuqqd0mq7cKT"                                                                   \
    "xdVCbi3xft5LpfjsZ7pHDzaAuHbHpeI8MI1NT97VMKhydMPk74yqFPYAXj/WCw==\"},"

static char *encode(struct ledger_event *ev, const struct ledger_privacy *pv,
                    const struct tlog_key *k)
{
    struct strbuf sb = STRBUF_INIT;
    int rc = ledger_event_encode(ev, pv, k, &sb);
    if (rc) TEST_FAIL_("encode: %s", custody_strerror(rc));
    return sb_detach(&sb);
}

static int encode_rc(struct ledger_event *ev)
{
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "keep");
    int rc = ledger_event_encode(ev, NULL, NULL, &sb);
    if (rc) ASSERT_STR_EQ("keep", sb.buf); /* out is untouched on failure */
    sb_free(&sb);
    return rc;
}

static void minimal_event(struct ledger_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->time_ns = 1795683600000000000ull;
    ev->action = "stat";
    ev->decision = "deny";
}

/* A copy of s with the first occurrence of from replaced by to. */
static char *replace(const char *s, const char *from, const char *to)
{
    const char *p = strstr(s, from);
    if (!p) TEST_FAIL_("\"%s\" not in \"%s\"", from, s);
    struct strbuf sb = STRBUF_INIT;
    sb_append(&sb, s, (size_t)(p - s));
    sb_puts(&sb, to);
    sb_puts(&sb, p + strlen(from));
    return sb_detach(&sb);
}

TEST(event_encode_canonical)
{
    struct ledger_event ev;
    full_event(&ev);
    char *s = encode(&ev, NULL, NULL);
    ASSERT_STR_EQ(FULL_EVENT_JSON, s);
    /* given id and time are kept */
    ASSERT_STR_EQ("01890a5d-ac96-774b-bcce-b302099a8057", ev.event_id);
    ASSERT(ev.time_ns == 1795683600123456789ull);
    /* encoding appends */
    struct strbuf sb = STRBUF_INIT;
    sb_puts(&sb, "x");
    ASSERT_OK(ledger_event_encode(&ev, NULL, NULL, &sb));
    ASSERT_EQ(0, strcmp(sb.buf + 1, s));
    sb_free(&sb);
    free(s);
}

TEST(event_encode_minimal)
{
    struct ledger_event ev;
    minimal_event(&ev);
    char *s = encode(&ev, NULL, NULL);
    char want[512];
    snprintf(want, sizeof want,
             "{\"action\":\"stat\",\"bytes_transferred\":0,\"decision\":\"deny\","
             "\"event_id\":\"%s\",\"latency_ms\":0,\"schema\":\"custody.audit.event/v2\","
             "\"timestamp\":\"2026-11-26T09:00:00.000000000Z\"}",
             ev.event_id);
    ASSERT_STR_EQ(want, s);
    free(s);
}

TEST(event_encode_escaping)
{
    struct ledger_event ev;
    minimal_event(&ev);
    /* quote, backslash, the five short escapes, other C0 controls, DEL,
     * '/', 2- and 4-byte UTF-8 */
    ev.reason = "a\"b\\c\b\f\n\r\t\x01\x1f\x7f/\xc3\xa9\xf0\x9f\x98\x80";
    char *s = encode(&ev, NULL, NULL);
    ASSERT_STR_CONTAINS(s, "\"reason\":\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\x7f/"
                           "\xc3\xa9\xf0\x9f\x98\x80\",");
    /* the canonicalizer used by verification agrees */
    ev.sign = true;
    struct tlog_key k = test_key();
    free(s);
    s = encode(&ev, NULL, &k);
    ASSERT_OK(ledger_event_verify_signature(s, strlen(s), &k));
    free(s);
}

TEST(event_latency_format)
{
    static const struct {
        uint64_t us;
        const char *ms;
    } cases[] = {
        {0, "0"},
        {1, "0.001"},
        {10, "0.01"},
        {100, "0.1"},
        {120, "0.12"},
        {999, "0.999"},
        {1000, "1"},
        {1001, "1.001"},
        {1010, "1.01"},
        {1500, "1.5"},
        {2000, "2"},
        {60000, "60"},
        {123456789, "123456.789"},
        {999999999999999ull, "999999999999.999"},
    };
    struct tlog_key k = test_key();
    for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct ledger_event ev;
        minimal_event(&ev);
        ev.latency_us = cases[i].us;
        ev.sign = true;
        char *s = encode(&ev, NULL, &k);
        char want[64];
        snprintf(want, sizeof want, "\"latency_ms\":%s,", cases[i].ms);
        ASSERT_STR_CONTAINS(s, want);
        /* parsed back as a double and re-canonicalized identically */
        ASSERT_OK(ledger_event_verify_signature(s, strlen(s), &k));
        struct ledger_event_view v;
        ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
        ledger_event_view_free(&v);
        free(s);
    }
    struct ledger_event ev;
    minimal_event(&ev);
    ev.latency_us = 1000000000000000ull; /* 10^15 us: more than 15 digits */
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
}

TEST(event_encode_requires_action_decision)
{
    struct ledger_event ev;
    minimal_event(&ev);
    ev.action = NULL;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    minimal_event(&ev);
    ev.decision = NULL;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    static const char *bad_decisions[] = {"", "permit", "Allow", "allow "};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad_decisions); i++) {
        minimal_event(&ev);
        ev.decision = bad_decisions[i];
        ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    }
    static const char *bad_actions[] = {"",
                                        "Read",
                                        "9read",
                                        "-x",
                                        "read file",
                                        "r\303\251ad", /* "réad": not ASCII */
                                        "read/x"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad_actions); i++) {
        minimal_event(&ev);
        ev.action = bad_actions[i];
        ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    }
    static const char *good_actions[] = {"a", "read", "policy.deny", "s3_get-object", "x9"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(good_actions); i++) {
        minimal_event(&ev);
        ev.action = good_actions[i];
        ASSERT_OK(encode_rc(&ev));
    }
    char a64[66];
    memset(a64, 'a', 64);
    a64[64] = '\0';
    minimal_event(&ev);
    ev.action = a64;
    char *s = encode(&ev, NULL, NULL);
    struct ledger_event_view v;
    ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
    ASSERT_STR_EQ(a64, v.action); /* 64 bytes fit the view */
    ledger_event_view_free(&v);
    free(s);
    a64[64] = 'a', a64[65] = '\0';
    minimal_event(&ev);
    ev.action = a64;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
}

TEST(event_encode_rejects_bad_utf8)
{
    static const char *bad[] = {"\xc3", "\xc0\xaf", "\xed\xa0\x80", "ok\xff", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct ledger_event ev;
        minimal_event(&ev);
        ev.principal_id = bad[i];
        ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
        minimal_event(&ev);
        ev.reason = bad[i];
        ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
        minimal_event(&ev);
        ev.policy_ids[0] = "fine";
        ev.policy_ids[1] = bad[i];
        ev.npolicy = 2;
        ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    }
}

TEST(event_encode_rejects_oversize)
{
    char *big = util_calloc(1, LEDGER_FIELD_MAX + 2);
    memset(big, 'x', LEDGER_FIELD_MAX + 1);
    struct ledger_event ev;
    minimal_event(&ev);
    ev.reason = big; /* one byte over */
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    big[LEDGER_FIELD_MAX] = '\0'; /* exactly the limit */
    ASSERT_OK(encode_rc(&ev));
    /* each field within the limit, the whole over LEDGER_EVENT_MAX */
    ev.principal_id = ev.agent_id = ev.endpoint_id = ev.session_id = big;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    /* escaping counts: 3000 control characters become 18000 bytes */
    minimal_event(&ev);
    memset(big, '\x01', 3000);
    big[3000] = '\0';
    ev.reason = big;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    free(big);
}

TEST(event_encode_rejects_out_of_range)
{
    struct ledger_event ev;
    minimal_event(&ev);
    ev.bytes_transferred = 9007199254740992ull; /* 2^53 */
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    ev.bytes_transferred = 9007199254740991ull;
    ASSERT_OK(encode_rc(&ev));
    minimal_event(&ev);
    ev.has_range = true;
    ev.range_start = UINT64_MAX;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    minimal_event(&ev);
    ev.version = -1;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    minimal_event(&ev);
    ev.status = 99;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    ev.status = 600;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    minimal_event(&ev);
    ev.content_sha256 = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    ev.content_sha256 = "abc";
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    minimal_event(&ev);
    ev.npolicy = LEDGER_POLICY_MAX + 1;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    ev.npolicy = 1; /* policy_ids[0] is NULL */
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    static const char *bad_ids[] = {
        "not-a-uuid",
        "01890A5D-AC96-774B-BCCE-B302099A8057", /* uppercase */
        "01890a5d-ac96-474b-bcce-b302099a8057", /* version 4 */
        "01890a5d-ac96-774b-7cce-b302099a8057", /* variant */
        "01890a5dac96774bbcceb302099a8057",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad_ids); i++) {
        minimal_event(&ev);
        util_strlcpy(ev.event_id, bad_ids[i], sizeof ev.event_id);
        ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    }
    minimal_event(&ev);
    memset(ev.event_id, 'a', sizeof ev.event_id); /* not terminated */
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
}

TEST(event_uuid_v7)
{
    struct ledger_event a, b;
    minimal_event(&a);
    minimal_event(&b);
    a.time_ns = b.time_ns = 1795683600123456789ull;
    free(encode(&a, NULL, NULL));
    free(encode(&b, NULL, NULL));
    ASSERT_EQ(36, strlen(a.event_id));
    for (size_t i = 0; i < 36; i++) {
        char c = a.event_id[i];
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ASSERT_EQ('-', c);
        else
            ASSERT((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    ASSERT_EQ('7', a.event_id[14]);                 /* version */
    ASSERT(strchr("89ab", a.event_id[19]) != NULL); /* variant 10xx */
    /* the first 48 bits are unix_ts_ms */
    char ms_hex[13];
    snprintf(ms_hex, sizeof ms_hex, "%012llx", 1795683600123ull);
    ASSERT_MEM_EQ(ms_hex, a.event_id, 8);
    ASSERT_MEM_EQ(ms_hex + 8, a.event_id + 9, 4);
    ASSERT(strcmp(a.event_id, b.event_id) != 0); /* random bits differ */
    /* time_ns 0 means now */
    struct ledger_event c;
    minimal_event(&c);
    c.time_ns = 0;
    uint64_t before = util_now_ns();
    free(encode(&c, NULL, NULL));
    ASSERT(c.time_ns >= before && c.time_ns <= util_now_ns());
    ASSERT_EQ('7', c.event_id[14]);
}

TEST(event_pseudonym_known_answer)
{
    uint8_t key[32];
    for (int i = 0; i < 32; i++)
        key[i] = (uint8_t)i;
    char out[LEDGER_PSEUDONYM_LEN + 1];
    /* python3: hmac.new(bytes(range(32)), b"alice", hashlib.sha256).hexdigest() */
    ledger_pseudonym(key, "alice", 5, out);
    ASSERT_STR_EQ("hmac-sha256:6eefad2bed97b6d93ee663d67a44b46016b3d79dcad54ada39b61a1d14874d1b",
                  out);
    ASSERT_EQ(LEDGER_PSEUDONYM_LEN, strlen(out));
    /* the length counts: "alice" and "alic" differ */
    char out2[LEDGER_PSEUDONYM_LEN + 1];
    ledger_pseudonym(key, "alice", 4, out2);
    ASSERT(strcmp(out, out2) != 0);
}

TEST(event_privacy_flags)
{
    struct ledger_privacy pv;
    memset(&pv, 0, sizeof pv);
    for (int i = 0; i < 32; i++)
        pv.key[i] = (uint8_t)i;
    pv.principal_id = true;
    pv.session_id = true;
    char agent_ps[LEDGER_PSEUDONYM_LEN + 1], alice_ps[LEDGER_PSEUDONYM_LEN + 1];
    ledger_pseudonym(pv.key, "alice", 5, alice_ps);
    ledger_pseudonym(pv.key, "agent-7", 7, agent_ps);

    struct ledger_event ev;
    minimal_event(&ev);
    ev.principal_id = "alice";
    ev.agent_id = "agent-7";
    ev.endpoint_id = "ep-1";
    ev.session_id = alice_ps; /* already a pseudonym: not hashed again */
    ev.resource_id = "docs:/a.txt";
    char *s = encode(&ev, &pv, NULL);
    char want[160];
    snprintf(want, sizeof want, "\"principal_id\":\"%s\"", alice_ps);
    ASSERT_STR_CONTAINS(s, want);
    snprintf(want, sizeof want, "\"session_id\":\"%s\"", alice_ps);
    ASSERT_STR_CONTAINS(s, want);
    ASSERT_STR_CONTAINS(s, "\"agent_id\":\"agent-7\"");
    ASSERT_STR_CONTAINS(s, "\"endpoint_id\":\"ep-1\"");
    ASSERT_STR_CONTAINS(s, "\"resource_id\":\"docs:/a.txt\"");
    ASSERT(!strstr(s, "alice\""));
    free(s);

    /* every flag; a prefix that is not a whole pseudonym is hashed */
    pv.agent_id = pv.endpoint_id = true;
    minimal_event(&ev);
    ev.agent_id = "agent-7";
    ev.endpoint_id = "hmac-sha256:not-really";
    s = encode(&ev, &pv, NULL);
    snprintf(want, sizeof want, "\"agent_id\":\"%s\"", agent_ps);
    ASSERT_STR_CONTAINS(s, want);
    ASSERT(!strstr(s, "not-really"));
    free(s);

    /* no privacy: identifiers in the clear */
    minimal_event(&ev);
    ev.principal_id = "alice";
    s = encode(&ev, NULL, NULL);
    ASSERT_STR_CONTAINS(s, "\"principal_id\":\"alice\"");
    free(s);
}

TEST(event_sensitive_resource)
{
    struct ledger_privacy pv;
    memset(&pv, 0, sizeof pv);
    memset(pv.key, 0x42, sizeof pv.key);
    char res_ps[LEDGER_PSEUDONYM_LEN + 1], dst_ps[LEDGER_PSEUDONYM_LEN + 1];
    ledger_pseudonym(pv.key, "hr:/salaries.xlsx", 17, res_ps);
    ledger_pseudonym(pv.key, "hr:/old/salaries.xlsx", 21, dst_ps);

    struct ledger_event ev;
    minimal_event(&ev);
    ev.action = "move";
    ev.principal_id = "bob";
    ev.resource_id = "hr:/salaries.xlsx";
    ev.destination_id = "hr:/old/salaries.xlsx";
    ev.sensitive_resource = true;
    char *s = encode(&ev, &pv, NULL);
    char want[160];
    snprintf(want, sizeof want, "\"resource_id\":\"%s\"", res_ps);
    ASSERT_STR_CONTAINS(s, want);
    snprintf(want, sizeof want, "\"destination_id\":\"%s\"", dst_ps);
    ASSERT_STR_CONTAINS(s, want);
    ASSERT(!strstr(s, "salaries"));
    ASSERT_STR_CONTAINS(s, "\"principal_id\":\"bob\""); /* flags are separate */
    free(s);
    /* without a key a sensitive resource is refused, never written in clear */
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
}

TEST(event_sign_known_answer)
{
    struct tlog_key k = test_key();
    struct ledger_event ev;
    full_event(&ev);
    ev.sign = true;
    char *s = encode(&ev, NULL, &k);
    const char *want = FULL_EVENT_JSON;
    const char *at = strstr(want, "\"status\":");
    char *expected = NULL;
    {
        struct strbuf sb = STRBUF_INIT;
        sb_append(&sb, want, (size_t)(at - want));
        sb_puts(&sb, FULL_EVENT_SIG);
        sb_puts(&sb, at);
        expected = sb_detach(&sb);
    }
    ASSERT_STR_EQ(expected, s);
    ASSERT_OK(ledger_event_verify_signature(s, strlen(s), &k));
    free(expected);
    free(s);

    /* sign without a signer: written unsigned; a signer without its
     * private half is a caller error */
    full_event(&ev);
    ev.sign = true;
    s = encode(&ev, NULL, NULL);
    ASSERT_STR_EQ(FULL_EVENT_JSON, s);
    free(s);
    k.has_priv = false;
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_encode(&ev, NULL, &k, &(struct strbuf)STRBUF_INIT));
}

TEST(event_signature_tamper)
{
    struct tlog_key k = test_key();
    struct ledger_event ev;
    full_event(&ev);
    ev.sign = true;
    char *s = encode(&ev, NULL, &k);
    ASSERT_OK(ledger_event_verify_signature(s, strlen(s), &k));

    /* any change to a signed value */
    static const char *const edits[][2] = {
        {"\"allow\"", "\"deny\""},
        {"\"latency_ms\":1.5", "\"latency_ms\":1.6"},
        {"\"start\":100", "\"start\":101"},
        {"\"p-audit\"]", "\"p-audit\",\"p-x\"]"},
        {"\"version\":7}", "\"version\":7,\"extra\":true}"},
        {"\"reason\":\"policy p-read\",", ""},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(edits); i++) {
        char *t = replace(s, edits[i][0], edits[i][1]);
        ASSERT_EQ(CUSTODY_EBADSIG, ledger_event_verify_signature(t, strlen(t), &k));
        free(t);
    }
    /* a broken signature member */
    static const char *const sig_edits[][2] = {
        {"\"sig\":\"zBiZ", "\"sig\":\"yBiZ"},
        {"\"alg\":\"ed25519\"", "\"alg\":\"ed448\""},
        {"\"key_id\":\"0a1b2c3d\"", "\"key_id\":\"0a1b2c3e\""},
        {"\"key_id\":\"0a1b2c3d\"", "\"key_id\":\"0A1B2C3D\""},
        {"Cw==\"", "Cw=\""},
        {"Cw==\"", "Cx==\""}, /* non-canonical padding bits */
        {"\"alg\":\"ed25519\",", ""},
        {"\"alg\":\"ed25519\",", "\"alg\":\"ed25519\",\"x\":1,"},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(sig_edits); i++) {
        char *t = replace(s, sig_edits[i][0], sig_edits[i][1]);
        ASSERT_EQ(CUSTODY_EBADSIG, ledger_event_verify_signature(t, strlen(t), &k));
        free(t);
    }
    /* another key (same id, other public key) */
    struct tlog_key other = k;
    other.pub[0] ^= 1;
    ASSERT_EQ(CUSTODY_EBADSIG, ledger_event_verify_signature(s, strlen(s), &other));

    /* JCS: whitespace and member order do not matter, values do */
    char *t = replace(s, "{\"action\":\"read\",",
                      "{ \"reason\" : \"policy p-read\" ,\n\"action\":\"read\",");
    char *u = replace(t, ",\"reason\":\"policy p-read\"", "");
    char *w = replace(u, "\"latency_ms\":1.5", "\"latency_ms\":1.50e0");
    ASSERT_OK(ledger_event_verify_signature(w, strlen(w), &k));
    free(t);
    free(u);
    free(w);
    /* \u escapes that JCS writes literally */
    t = replace(s, "\"agent-7\"", "\"\\u0061gent-7\"");
    ASSERT_OK(ledger_event_verify_signature(t, strlen(t), &k));
    free(t);

    /* unsigned, unparseable */
    full_event(&ev);
    char *plain = encode(&ev, NULL, NULL);
    ASSERT_EQ(CUSTODY_ENOENT, ledger_event_verify_signature(plain, strlen(plain), &k));
    free(plain);
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_verify_signature("{", 1, &k));
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_verify_signature("[]", 2, &k));
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_verify_signature(s, strlen(s), NULL));
    /* a signed document with values JCS cannot reproduce exactly */
    t = replace(s, "\"latency_ms\":1.5", "\"latency_ms\":1.0005");
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_verify_signature(t, strlen(t), &k));
    free(t);
    t = replace(s, "\"version\":7", "\"version\":9007199254740993");
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_verify_signature(t, strlen(t), &k));
    free(t);
    free(s);
}

TEST(event_decode_roundtrip)
{
    struct ledger_event ev;
    full_event(&ev);
    char *s = encode(&ev, NULL, NULL);
    struct ledger_event_view v;
    ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
    ASSERT_STR_EQ("01890a5d-ac96-774b-bcce-b302099a8057", v.event_id);
    ASSERT_STR_EQ("2026-11-26T09:00:00.123456789Z", v.timestamp);
    ASSERT(v.time_ns == 1795683600123456789ull);
    ASSERT_STR_EQ("read", v.action);
    ASSERT_STR_EQ("allow", v.decision);
    ASSERT_STR_EQ("alice@example.com", v.principal_id);
    ASSERT_STR_EQ("agent-7", v.agent_id);
    ASSERT_STR_EQ("docs:/reports/\xc3\xa9t\xc3\xa9 \"q3\".txt", v.resource_id);
    ASSERT_STR_EQ(ev.content_sha256, v.content_sha256);
    ledger_event_view_free(&v);
    ASSERT_NULL(v.principal_id);
    ledger_event_view_free(&v); /* twice is harmless */
    free(s);

    /* signed events decode too; absent fields are NULL */
    struct tlog_key k = test_key();
    minimal_event(&ev);
    ev.sign = true;
    s = encode(&ev, NULL, &k);
    ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
    ASSERT_STR_EQ(ev.event_id, v.event_id);
    ASSERT(v.time_ns == ev.time_ns);
    ASSERT_STR_EQ("stat", v.action);
    ASSERT_STR_EQ("deny", v.decision);
    ASSERT_NULL(v.principal_id);
    ASSERT_NULL(v.agent_id);
    ASSERT_NULL(v.resource_id);
    ASSERT_NULL(v.content_sha256);
    ledger_event_view_free(&v);
    free(s);

    /* times across the range: epoch, leap day, far future */
    static const uint64_t times[] = {1, 951782400000000000ull, 1709164800999999999ull, UINT64_MAX};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(times); i++) {
        minimal_event(&ev);
        ev.time_ns = times[i];
        s = encode(&ev, NULL, NULL);
        ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
        ASSERT(v.time_ns == times[i]);
        ledger_event_view_free(&v);
        free(s);
    }
}

static void expect_decode_fails(const char *json)
{
    struct ledger_event_view v;
    memset(&v, 0x5a, sizeof v);
    int rc = ledger_event_decode(json, strlen(json), &v);
    if (rc != CUSTODY_EINVAL) TEST_FAIL_("decoded (%d): %s", rc, json);
    ASSERT_NULL(v.principal_id); /* nothing left to free */
    ASSERT_NULL(v.resource_id);
}

TEST(event_decode_rejects)
{
    struct ledger_event ev;
    full_event(&ev);
    char *s = encode(&ev, NULL, NULL);
    static const char *const edits[][2] = {
        /* schema */
        {"custody.audit.event/v2", "custody.audit.event/v3"},
        {"custody.audit.event/v2", "custody.audit.event/V2"},
        {"\"schema\":\"custody.audit.event/v2\",", ""},
        /* required members */
        {"\"action\":\"read\",", ""},
        {"\"decision\":\"allow\",", ""},
        {"\"event_id\":\"01890a5d-ac96-774b-bcce-b302099a8057\",", ""},
        {",\"timestamp\":\"2026-11-26T09:00:00.123456789Z\"", ""},
        {"\"bytes_transferred\":4096,", ""},
        {"\"latency_ms\":1.5,", ""},
        /* types */
        {"\"action\":\"read\"", "\"action\":1"},
        {"\"action\":\"read\"", "\"action\":\"READ\""},
        {"\"decision\":\"allow\"", "\"decision\":\"maybe\""},
        {"\"bytes_transferred\":4096", "\"bytes_transferred\":\"4096\""},
        {"\"bytes_transferred\":4096", "\"bytes_transferred\":-1"},
        {"\"bytes_transferred\":4096", "\"bytes_transferred\":4096.5"},
        {"\"bytes_transferred\":4096", "\"bytes_transferred\":9007199254740992"},
        {"\"status\":206", "\"status\":206.0"},
        {"\"status\":206", "\"status\":0"},
        {"\"version\":7", "\"version\":0"},
        {"\"version\":7", "\"version\":true"},
        {"\"latency_ms\":1.5", "\"latency_ms\":-1.5"},
        {"\"latency_ms\":1.5", "\"latency_ms\":1.0005"},
        {"\"latency_ms\":1.5", "\"latency_ms\":1e300"},
        {"\"latency_ms\":1.5", "\"latency_ms\":null"},
        {"\"principal_id\":\"alice@example.com\"", "\"principal_id\":null"},
        {"\"principal_id\":\"alice@example.com\"", "\"principal_id\":[\"alice\"]"},
        {"\"principal_id\":\"alice@example.com\"", "\"principal_id\":\"a\\u0000b\""},
        {"\"content_sha256\":\"ba78", "\"content_sha256\":\"BA78"},
        {"15ad\"", "15\""},
        {"\"event_id\":\"01890a5d-ac96-774b", "\"event_id\":\"01890a5d-ac96-474b"},
        {"{\"length\":4096,\"start\":100}", "{\"length\":4096}"},
        {"{\"length\":4096,\"start\":100}", "{\"length\":4096,\"start\":100,\"end\":4196}"},
        {"{\"length\":4096,\"start\":100}", "[100,4096]"},
        {"[\"p-read\",\"p-audit\"]", "[]"},
        {"[\"p-read\",\"p-audit\"]", "[\"p-read\",7]"},
        {"[\"p-read\",\"p-audit\"]", "\"p-read\""},
        {"[\"p-read\",\"p-audit\"]", "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]"},
        {"[\"p-read\",\"p-audit\"]", "[[\"p-read\"]]"},
        /* timestamps not in the encoder's exact form */
        {"09:00:00.123456789Z", "09:00:00.12345678Z"},
        {"09:00:00.123456789Z", "09:00:00.123456789z"},
        {"09:00:00.123456789Z", "09:00:00.123456789+00:00"},
        {"09:00:00.123456789Z", "09:00:00Z"},
        {"2026-11-26T", "2026-11-26 "},
        {"2026-11-26T", "2026-11-31T"},
        {"2026-11-26T", "2026-02-29T"},
        {"2026-11-26T", "2026-13-01T"},
        {"2026-11-26T", "1969-12-31T"},
        {"2026-11-26T", "9999-12-31T"}, /* beyond uint64 nanoseconds */
        {"T09:00:00", "T24:00:00"},
        {"T09:00:00", "T09:60:00"},
        {"T09:00:00", "T09:00:60"},
        /* unknown members, duplicates */
        {"{\"action\"", "{\"extra\":1,\"action\""},
        {"{\"action\"", "{\"action\":\"read\",\"action\""},
        {"\"version\":7}", "\"version\":7,\"version\":7}"},
        {"\"version\":7}", "\"version\":7}{}"},
        /* a malformed signature */
        {"\"status\"",
         "\"signature\":{\"alg\":\"ed25519\",\"key_id\":\"0a1b2c3d\",\"sig\":\"AA==\"},"
         "\"status\""},
        {"\"status\"", "\"signature\":null,\"status\""},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(edits); i++) {
        char *t = replace(s, edits[i][0], edits[i][1]);
        expect_decode_fails(t);
        free(t);
    }
    /* whitespace is allowed by the decoder (strict on values, not bytes) */
    char *t = replace(s, "\"version\":7}", "\"version\": 7}\n");
    struct ledger_event_view v;
    ASSERT_OK(ledger_event_decode(t, strlen(t), &v));
    ledger_event_view_free(&v);
    free(t);

    static const char *const garbage[] = {
        "",
        "{",
        "}",
        "null",
        "[]",
        "\"x\"",
        "42",
        "{}",
        "not json",
        "{\"action\":\"read\"}",
        "\xef\xbb\xbf{}",
        "{\"action\":\"\xc3\"}",
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(garbage); i++)
        expect_decode_fails(garbage[i]);
    /* length is bounded, and is what is parsed (no reading past it) */
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_decode(s, strlen(s) - 1, &v));
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_decode(NULL, 0, &v));
    char *huge = util_calloc(1, LEDGER_EVENT_MAX + 2);
    memset(huge, ' ', LEDGER_EVENT_MAX + 1);
    memcpy(huge, s, strlen(s));
    ASSERT_EQ(CUSTODY_EINVAL, ledger_event_decode(huge, LEDGER_EVENT_MAX + 1, &v));
    ASSERT_OK(ledger_event_decode(huge, LEDGER_EVENT_MAX, &v)); /* trailing spaces */
    ledger_event_view_free(&v);
    free(huge);
    free(s);
}

/* ---- the edit journal: "edit" records (docs/ledger.md) ---- */

#define SHA_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* full_event() as a move with an edit at both ends and a consent token. */
static void edit_event(struct ledger_event *ev)
{
    full_event(ev);
    ev->action = "move";
    ev->has_edit = true;
    ev->edit.prev_sha256 = SHA_ABC;
    ev->edit.prev_version = 6;
    ev->edit.version = 7;
    ev->has_edit_destination = true;
    ev->edit_destination.new_sha256 = SHA_ABC;
    ev->edit_destination.version = 1;
    ev->consent = "ok-by-alice";
}

/* Cross-checked with python3 (json.dumps sort_keys, separators) and
 * cryptography's Ed25519 with test_key(): nulls for the absent hashes and
 * versions, members sorted inside "edit" and "destination" too. */
#define EDIT_JSON                                                                                  \
    "\"edit\":{\"consent\":\"ok-by-alice\",\"destination\":{\"new_sha256\":\"" SHA_ABC "\","       \
    "\"prev_sha256\":null,\"prev_version\":null,\"version\":1},\"new_sha256\":null,"               \
    "\"prev_sha256\":\"" SHA_ABC "\",\"prev_version\":6,\"version\":7},"
#define EDIT_SIG                                                                                   \
    "f18esff60boUGwbdd7IYYd9qNYjdkvoJO79Tqblz7ex/oyurwSKDa3cUfukgly1wO9MK/kGQ1EQA/caO4c6hAw=="

TEST(event_edit_known_answer)
{
    struct tlog_key k = test_key();
    struct ledger_event ev;
    edit_event(&ev);
    char *s = encode(&ev, NULL, NULL);
    char *want = replace(FULL_EVENT_JSON, "\"endpoint_id\"", EDIT_JSON "\"endpoint_id\"");
    char *want2 = replace(want, "\"action\":\"read\"", "\"action\":\"move\"");
    ASSERT_STR_EQ(want2, s);
    free(s);
    /* signed: the signature covers the edit record */
    ev.sign = true;
    s = encode(&ev, NULL, &k);
    ASSERT_STR_CONTAINS(s, "\"sig\":\"" EDIT_SIG "\"");
    ASSERT_OK(ledger_event_verify_signature(s, strlen(s), &k));
    static const char *const edits[][2] = {
        {"\"prev_version\":6", "\"prev_version\":5"},
        {"\"consent\":\"ok-by-alice\",", ""},
        {"\"consent\":\"ok-by-alice\"", "\"consent\":\"ok-by-bob\""},
        {"\"new_sha256\":null,", "\"new_sha256\":\"" SHA_ABC "\","},
        {"\"prev_sha256\":null", "\"prev_sha256\":\"" SHA_ABC "\""},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(edits); i++) {
        char *t = replace(s, edits[i][0], edits[i][1]);
        ASSERT_EQ(CUSTODY_EBADSIG, ledger_event_verify_signature(t, strlen(t), &k));
        free(t);
    }
    /* decodes; the view says there is an edit and names the destination */
    struct ledger_event_view v;
    ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
    ASSERT(v.has_edit);
    ASSERT_STR_EQ("docs:/archive/q3.txt", v.destination_id);
    ledger_event_view_free(&v);
    ASSERT_NULL(v.destination_id);
    free(s);
    free(want);
    free(want2);

    /* a plain write: no destination, no consent */
    minimal_event(&ev);
    ev.action = "write";
    ev.decision = "allow";
    ev.has_edit = true;
    ev.edit.new_sha256 = SHA_ABC;
    ev.edit.version = 1;
    s = encode(&ev, NULL, NULL);
    ASSERT_STR_CONTAINS(s, "\"edit\":{\"new_sha256\":\"" SHA_ABC "\",\"prev_sha256\":null,"
                           "\"prev_version\":null,\"version\":1},\"event_id\"");
    ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
    ASSERT(v.has_edit);
    ASSERT_NULL(v.destination_id);
    ledger_event_view_free(&v);
    free(s);
    /* without an edit, the view says so */
    minimal_event(&ev);
    s = encode(&ev, NULL, NULL);
    ASSERT_OK(ledger_event_decode(s, strlen(s), &v));
    ASSERT(!v.has_edit);
    ledger_event_view_free(&v);
    free(s);
}

TEST(event_edit_encode_rejects)
{
    struct ledger_event ev;
    /* parts of an edit without the edit */
    minimal_event(&ev);
    ev.consent = "yes";
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    minimal_event(&ev);
    ev.has_edit_destination = true;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    /* consent tokens: 1..512 bytes of printable ASCII */
    char big[LEDGER_CONSENT_MAX + 2];
    memset(big, 'c', sizeof big);
    big[LEDGER_CONSENT_MAX + 1] = '\0';
    static const char *bad_consent[] = {"", "tab\there", "new\nline", "caf\xc3\xa9", "\x7f"};
    for (size_t i = 0; i < UTIL_ARRAY_LEN(bad_consent) + 1; i++) {
        edit_event(&ev);
        ev.consent = i < UTIL_ARRAY_LEN(bad_consent) ? bad_consent[i] : big;
        ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    }
    edit_event(&ev);
    big[LEDGER_CONSENT_MAX] = '\0'; /* exactly the limit */
    ev.consent = big;
    ASSERT_OK(encode_rc(&ev));
    edit_event(&ev);
    ev.consent = " ~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}";
    ASSERT_OK(encode_rc(&ev));
    /* hashes and versions */
    edit_event(&ev);
    ev.edit.prev_sha256 = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    edit_event(&ev);
    ev.edit_destination.new_sha256 = "abc";
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    edit_event(&ev);
    ev.edit.version = -1;
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
    edit_event(&ev);
    ev.edit_destination.prev_version = 9007199254740992ll; /* 2^53 */
    ASSERT_EQ(CUSTODY_EINVAL, encode_rc(&ev));
}

TEST(event_edit_decode_rejects)
{
    struct ledger_event ev;
    edit_event(&ev);
    char *s = encode(&ev, NULL, NULL);
    static const char *const edits[][2] = {
        /* an older event cannot have an edit */
        {"custody.audit.event/v2", "custody.audit.event/v1"},
        /* types */
        {"\"edit\":{", "\"edit\":null,\"x\":{"},
        {"\"prev_version\":6", "\"prev_version\":0"},
        {"\"prev_version\":6", "\"prev_version\":\"6\""},
        {"\"prev_version\":6", "\"prev_version\":-6"},
        {"\"new_sha256\":null,\"prev_sha256\"", "\"new_sha256\":\"abc\",\"prev_sha256\""},
        {"\"prev_sha256\":\"ba78", "\"prev_sha256\":\"BA78"},
        {"\"consent\":\"ok-by-alice\"", "\"consent\":\"tab\\there\""},
        {"\"consent\":\"ok-by-alice\"", "\"consent\":\"\""},
        {"\"consent\":\"ok-by-alice\"", "\"consent\":null"},
        {"\"consent\":\"ok-by-alice\"", "\"consent\":\"caf\xc3\xa9\""},
        /* every side member is required, nothing else is allowed */
        {"\"prev_version\":6,", ""},
        {"\"new_sha256\":null,\"prev_sha256\"", "\"prev_sha256\""},
        {"\"version\":1}", "\"version\":1,\"extra\":1}"},
        {"\"version\":7},", "\"version\":7,\"extra\":1},"},
        {"\"prev_sha256\":null,\"prev_version\":null,", "\"prev_version\":null,"},
        /* consent and destination only at the top */
        {"\"destination\":{", "\"destination\":{\"consent\":\"x\","},
        {"\"destination\":{", "\"destination\":{\"destination\":{},"},
        {"\"destination\":{\"new_sha256\"", "\"destination\":[{\"new_sha256\""},
    };
    for (size_t i = 0; i < UTIL_ARRAY_LEN(edits); i++) {
        char *t = replace(s, edits[i][0], edits[i][1]);
        expect_decode_fails(t);
        free(t);
    }
    /* v1 events without an edit still decode */
    minimal_event(&ev);
    char *m = encode(&ev, NULL, NULL);
    char *t = replace(m, "custody.audit.event/v2", "custody.audit.event/v1");
    struct ledger_event_view v;
    ASSERT_OK(ledger_event_decode(t, strlen(t), &v));
    ASSERT(!v.has_edit);
    ledger_event_view_free(&v);
    free(t);
    free(m);
    free(s);
}
