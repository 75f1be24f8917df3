#!/usr/bin/env bash
# test_history.sh — the edit journal (docs/ledger.md, "The edit journal"):
# every change of a file is an audit event with a signed "edit" record
# (prev hash -> new hash, versions, agent, session, consent), and
# `custody history ROOT:/PATH` lists them.
#   - three writes (one by an agent, one with --consent), a rollback, a move
#     and a delete: the records chain (each prev is the previous new), carry
#     the right hashes, versions, agent, session and consent, and every
#     signature verifies; the move shows at both paths
#   - a refused change (precondition failed) leaves no record
#   - a change made behind custody's back shows as a gap in the chain
#   - X-Custody-Consent is bounded (400) and --consent is checked (exit 2)
#   - --limit, the human table; every event follows the JSON Schema
#     (docs/schema/audit-event-v2.json) and `custody audit verify` passes
source "$(dirname "$0")/lib.sh"
init_state
start_daemon
C=("$BIN/custody" --state "$STATE")
SOCK="$STATE/custodyd.sock"
ROOTDIR=$("${C[@]}" root ls --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print([x["path"] for x in d["roots"] if x["name"]=="demo"][0])') ||
  fail "cannot find the demo root's directory"
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# ---- the changes ----
"${C[@]}" mkdir demo:/journal >/dev/null || fail "mkdir"
printf 'one' | "${C[@]}" put demo:/journal/h.txt >/dev/null || fail "put 1"
"${C[@]}" agent add demo --principal alice >/dev/null || fail "agent add"
printf 'two' | "${C[@]}" --agent demo put demo:/journal/h.txt --consent 'ticket-42 ok by alice' >/dev/null ||
  fail "put 2 (agent, consent)"
printf 'three' | "${C[@]}" put demo:/journal/h.txt >/dev/null || fail "put 3"
# refused: no edit record
printf 'nope' | "${C[@]}" put demo:/journal/h.txt --if-match "$(sha one)" >/dev/null 2>&1 &&
  fail "a put with a stale --if-match succeeded"
"${C[@]}" rollback demo:/journal/h.txt --to 1 --consent undo >/dev/null || fail "rollback"
"${C[@]}" mv demo:/journal/h.txt demo:/journal/h2.txt >/dev/null || fail "mv"
"${C[@]}" rm demo:/journal/h2.txt --consent 'cleanup' >/dev/null || fail "rm"

# ---- the journal of h.txt and h2.txt ----
"${C[@]}" history demo:/journal/h.txt --json >"$WORK/h1.json" || fail "history h.txt"
"${C[@]}" history demo:/journal//h2.txt --json >"$WORK/h2.json" || fail "history h2.txt"
python3 - "$WORK/h1.json" "$WORK/h2.json" "$(sha one)" "$(sha two)" "$(sha three)" <<'EOF' || fail "history records"
import json, sys
h1 = json.load(open(sys.argv[1]))
h2 = json.load(open(sys.argv[2]))
one, two, three = sys.argv[3:6]

def check(doc, resource, want):
    assert doc["resource"] == resource, doc["resource"]
    recs = doc["records"]
    got = [(r["action"], r.get("side"), r["prev_sha256"], r["new_sha256"], r["prev_version"],
            r["version"], r["consent"]) for r in recs]
    assert got == want, "%s:\n got  %s\n want %s" % (resource, got, want)
    last = None
    for i, r in enumerate(recs):
        assert r["signature"] == "ok", (resource, i, r["signature"])
        assert r["chain"] is True, (resource, i)
        if i:
            assert r["prev_sha256"] == last, (resource, i, "chain broken")
            assert r["index"] > recs[i - 1]["index"], "not oldest first"
        last = r["new_sha256"]
        ev = r["event"]
        assert ev["schema"] == "custody.audit.event/v2", ev["schema"]
        assert "signature" in ev and ev["decision"] == "allow"
    return recs

r1 = check(h1, "demo:/journal/h.txt", [
    ("write", None, None, one, None, 1, None),
    ("write", None, one, two, 1, 2, "ticket-42 ok by alice"),
    ("write", None, two, three, 2, 3, None),
    ("rollback", None, three, one, 3, 4, "undo"),
    ("move", "source", one, None, 4, 5, None),
])
# who made each change: the agent's write names the agent, its session and principal
assert r1[1]["agent"] == "demo" and r1[1]["session"], r1[1]
assert r1[1]["principal"] == "alice", r1[1]["principal"]
assert r1[0]["agent"] is None and r1[0]["principal"].startswith("uid:"), r1[0]
assert r1[4]["destination"] == "demo:/journal/h2.txt", r1[4]
check(h2, "demo:/journal/h2.txt", [
    ("move", "destination", None, one, None, 1, None),
    ("delete", None, one, None, 1, 2, "cleanup"),
])
EOF

# the versions the records name are the store's
"${C[@]}" versions demo:/journal/h.txt --json | python3 -c '
import json, sys
v = [(x["version"], x["op"]) for x in json.load(sys.stdin)["versions"]]
assert v == [(1, "write"), (2, "write"), (3, "write"), (4, "rollback"), (5, "moved")], v
' || fail "versions of h.txt"

# ---- a change behind custody's back: a gap in the chain ----
printf 'a' | "${C[@]}" put demo:/journal/g.txt >/dev/null || fail "put g 1"
printf 'outside' >"$ROOTDIR/journal/g.txt"
printf 'b' | "${C[@]}" put demo:/journal/g.txt >/dev/null || fail "put g 2"
"${C[@]}" history demo:/journal/g.txt --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["records"]
assert len(r) == 2, r
assert r[0]["chain"] and not r[1]["chain"], [x["chain"] for x in r]
assert r[1]["prev_sha256"] == sys.argv[1], r[1]["prev_sha256"]  # what was on disk
assert r[1]["prev_version"] == 2 and r[1]["version"] == 3, r[1]  # 2: the "external" version
' "$(sha outside)" || fail "gap after an outside change"
"${C[@]}" history demo:/journal/g.txt | grep -q '(gap)' || fail "the table does not mark the gap"

# ---- --limit, the table, an unknown path ----
"${C[@]}" history demo:/journal/h.txt --limit 2 --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["records"]
assert [x["action"] for x in r] == ["rollback", "move"], r
' || fail "--limit 2"
"${C[@]}" history demo:/journal/h.txt >"$WORK/table" || fail "history (table)"
head -1 "$WORK/table" | grep -q '^TIME .*PREV .*NEW .*CONSENT .*SIG' || fail "table header: $(head -1 "$WORK/table")"
[ "$(grep -c ' ok$' "$WORK/table")" -eq 5 ] || fail "table rows: $(cat "$WORK/table")"
grep -q "ticket-42" "$WORK/table" || fail "the table does not show the consent"
grep -q "move-out" "$WORK/table" || fail "the table does not show the move"
"${C[@]}" history demo:/journal/never.txt >"$WORK/out" || fail "history of a path without records"
grep -q "no edit records" "$WORK/out" || fail "no records: $(cat "$WORK/out")"
rc=0
"${C[@]}" history demo:/journal/h.txt --limit 0 >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "--limit 0 exited $rc, want 2"

# ---- old versions are read off the event loop, decided like any read ----
printf 'alpha' | "${C[@]}" put demo:/journal/v.txt >/dev/null || fail "put v1"
printf 'beta' | "${C[@]}" put demo:/journal/v.txt >/dev/null || fail "put v2"
[ "$(curl -sf --unix-socket "$SOCK" 'http://localhost/v1/fs/demo/journal/v.txt?version=1')" = alpha ] ||
  fail "GET ?version=1 did not give the first content"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" 'http://localhost/v1/fs/demo/journal/v.txt?version=99')
[ "$code" = 404 ] || fail "a missing version answered $code"
"${C[@]}" agent add outsider >/dev/null || fail "agent add outsider"
if "${C[@]}" --agent outsider cat demo:/journal/v.txt --version 1 >"$WORK/out" 2>"$WORK/err"; then
  fail "an agent no policy permits read an old version"
fi
[ -s "$WORK/out" ] && fail "the refused version read printed content: $(cat "$WORK/out")"
grep -qi "denied\|refused\|not permitted\|no policy" "$WORK/err" || fail "the refusal does not say so: $(cat "$WORK/err")"
if "${C[@]}" --agent outsider cat demo:/journal/v.txt --version 99 >/dev/null 2>"$WORK/err"; then
  fail "an agent no policy permits was answered for a missing version"
fi
grep -q "not_found\|no such" "$WORK/err" && fail "a refused agent learned that a version is missing: $(cat "$WORK/err")"

# ---- consent tokens are bounded ----
rc=0
printf 'x' | "${C[@]}" put demo:/journal/c.txt --consent "$(printf 'bad\001')" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "--consent with a control character exited $rc, want 2"
long=$(head -c 513 /dev/zero | tr '\0' 'x')
code=$(curl -s -o "$WORK/body" -w '%{http_code}' --unix-socket "$SOCK" -X PUT --data-binary x \
  -H "X-Custody-Consent: $long" http://localhost/v1/fs/demo/journal/c.txt)
[ "$code" = 400 ] || fail "a 513-byte consent token answered $code"
grep -q 'X-Custody-Consent' "$WORK/body" || fail "the 400 does not say why: $(cat "$WORK/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X PUT --data-binary x \
  -H "X-Custody-Consent: caf$(printf '\303\251')" http://localhost/v1/fs/demo/journal/c.txt)
[ "$code" = 400 ] || fail "a non-ASCII consent token answered $code"
[ -e "$ROOTDIR/journal/c.txt" ] && fail "a refused write created the file"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X PUT --data-binary x \
  -H "X-Custody-Consent: ${long:1}" http://localhost/v1/fs/demo/journal/c.txt)
[ "$code" = 201 ] || fail "a 512-byte consent token answered $code"
"${C[@]}" history demo:/journal/c.txt --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["records"]
assert len(r) == 1 and r[0]["consent"] == "x" * 512 and r[0]["signature"] == "ok", r
' || fail "the 512-byte consent token is not in the record"

# ---- every event of this log follows docs/schema/audit-event-v2.json ----
mkdir -p "$WORK/events"
curl -sf --unix-socket "$SOCK" 'http://localhost/v1/audit/entries?from=0&limit=1000' |
  python3 -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    with open("%s/%06d.json" % (sys.argv[1], e["index"]), "w") as f:
        json.dump(e["event"], f)
' "$WORK/events" || fail "cannot read the log's entries"
ls "$WORK"/events/*.json >/dev/null 2>&1 || fail "no entries"
python3 "$SRC/tests/ledger/check_event_schema.py" "$WORK"/events/*.json >"$WORK/schema.out" 2>&1 ||
  fail "events do not follow the schema: $(tail -5 "$WORK/schema.out")"

# ---- the log still verifies, with the edit records in it ----
"${C[@]}" audit verify --trusted "$WORK/trusted" >"$WORK/verify" || fail "audit verify: $(cat "$WORK/verify")"
grep -q '^ok: ' "$WORK/verify" || fail "audit verify: $(cat "$WORK/verify")"
stop_daemon || fail "custodyd did not stop cleanly"
echo "test_history.sh: ok"
