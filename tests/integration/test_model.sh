#!/usr/bin/env bash
# test_model.sh — models as audited resources (issue 6; docs/model.md):
#   - custody model add: headers parsed, bytes hashed into the cache, the
#     manifest signed; ls / show (tensor table) / load as the operator and as
#     an agent the policy permits; another agent is refused by policy
#   - every request is an event: model.register and model.load carry
#     model_id, model_version, the manifest digest and the bytes, signed
#   - bad shards are refused at admission (truncated, lying header, not a
#     model) and nothing of them stays in the cache
#   - a shard changed after signing is refused at load; verify re-hashes it,
#     evicts the model and names both digests; a touched-but-intact shard
#     loads again after verify
#   - prewarm makes the shards resident (page cache) or locks them in
#     custodyd (pinned) until unpin; refused to an agent without the right
#   - models.max_bytes evicts the least recently used model; rm forgets one
#     and its objects leave the cache (shared objects stay)
source "$(dirname "$0")/lib.sh"
init_state
set_limit max_bytes 0
start_daemon
C=("$BIN/custody" --state "$STATE")
MK=("$SRC/tests/tools/mksafetensors.py")
D=$WORK/models
mkdir -p "$D"
python3 "${MK[@]}" "$D/a.safetensors" --tensors 3 --elems 1000 --seed 1
python3 "${MK[@]}" "$D/b.safetensors" --tensors 2 --elems 333 --dtype BF16 --seed 2
objects() { find "$STATE/models/objects" -type f | wc -l; }

# ---- add, ls, show ----
"${C[@]}" model add tiny --version 1 "$D/a.safetensors" "$D/b.safetensors" >"$WORK/add.out" ||
  fail "model add"
grep -q '^added tiny@1: 2 files' "$WORK/add.out" || fail "add said: $(cat "$WORK/add.out")"
[ "$(objects)" = 2 ] || fail "want 2 objects in the cache, have $(objects)"
for o in $(find "$STATE/models/objects" -type f); do
  [ "$(stat -c %a "$o")" = 444 ] || fail "object $o is not 0444"
  [ "$(basename "$o")" = "$(sha256sum "$o" | cut -d' ' -f1)" ] || fail "object $o not named by its hash"
done
"${C[@]}" model add tiny --version 1 "$D/a.safetensors" >/dev/null 2>"$WORK/dup.err" &&
  fail "adding tiny@1 twice succeeded"
grep -q 'already registered' "$WORK/dup.err" || fail "duplicate add: $(cat "$WORK/dup.err")"
"${C[@]}" model ls | grep -E '^tiny +1 .* cached ' >/dev/null || fail "model ls"
"${C[@]}" model show tiny@1 >"$WORK/show.out" || fail "model show"
grep -E '^  layer\.1\.weight +BF16 +\[333\] +666$' "$WORK/show.out" >/dev/null ||
  fail "show lacks the BF16 tensor: $(cat "$WORK/show.out")"
"${C[@]}" model show tiny@1 --json >"$WORK/show.json" || fail "model show --json"
DIGEST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$WORK/show.json")
[[ $DIGEST == sha256:* ]] || fail "digest $DIGEST"

# a directory: the shards of its index, or its *.safetensors files
mkdir -p "$D/sharded" "$D/plain"
python3 - "$D/sharded" <<'PYEOF'
import json, struct, sys
def shard(path, names):
    h, off = {}, 0
    for n in names:
        h[n] = {"dtype": "F32", "shape": [2], "data_offsets": [off, off + 8]}
        off += 8
    hb = json.dumps(h).encode()
    open(path, "wb").write(struct.pack("<Q", len(hb)) + hb + bytes(off))
shard(sys.argv[1] + "/model-00001-of-00002.safetensors", ["model.embed.weight"])
shard(sys.argv[1] + "/model-00002-of-00002.safetensors", ["lm_head.weight", "model.norm.weight"])
PYEOF
cp "$D/a.safetensors" "$D/sharded/stray.safetensors" # not in the index: left out
index() { # index TENSOR=SHARD-NUMBER...
  python3 -c '
import json, sys
m = {a.split("=")[0]: "model-0000%s-of-00002.safetensors" % a.split("=")[1] for a in sys.argv[1:]}
print(json.dumps({"metadata": {"total_size": 24}, "weight_map": m}))' "$@" >"$D/sharded/model.safetensors.index.json"
}
# an index that lies about its shards is refused, and nothing of it enters the cache
before=$(objects)
index model.embed.weight=1 lm_head.weight=1 model.norm.weight=2
"${C[@]}" model add sharded --version 1 "$D/sharded" 2>"$WORK/ix.err" >/dev/null && fail "a lying index was accepted"
grep -q "puts tensor 'lm_head.weight' in 'model-00001-of-00002.safetensors', but it is in 'model-00002" \
  "$WORK/ix.err" || fail "wrong shard: $(cat "$WORK/ix.err")"
index model.embed.weight=1 model.norm.weight=2
"${C[@]}" model add sharded --version 1 "$D/sharded" 2>"$WORK/ix.err" >/dev/null && fail "an index missing a tensor was accepted"
grep -q "tensor 'lm_head.weight' of shard 'model-00002-of-00002.safetensors' is not in the index" \
  "$WORK/ix.err" || fail "missing tensor: $(cat "$WORK/ix.err")"
index model.embed.weight=1 lm_head.weight=2 model.norm.weight=2 ghost=1
"${C[@]}" model add sharded --version 1 "$D/sharded" 2>"$WORK/ix.err" >/dev/null && fail "an index naming a ghost was accepted"
grep -q "puts tensor 'ghost' in 'model-00001-of-00002.safetensors', which has no such tensor" \
  "$WORK/ix.err" || fail "ghost tensor: $(cat "$WORK/ix.err")"
[ "$(objects)" = "$before" ] || fail "a refused index left objects in the cache"
index model.embed.weight=1 lm_head.weight=2 model.norm.weight=2
"${C[@]}" model add sharded --version 1 "$D/sharded" >/dev/null || fail "add a directory with an index"
"${C[@]}" model show sharded@1 --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [f["name"] for f in d["files"]] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], d["files"]
' || fail "the index's shards"
cp "$D/a.safetensors" "$D/b.safetensors" "$D/plain/"
"${C[@]}" model add plain --version 1 "$D/plain" >/dev/null || fail "add a plain directory"
"${C[@]}" model show plain@1 --json | grep -c '"name": *"[ab].safetensors"' >/dev/null || fail "plain dir"
"${C[@]}" model rm sharded@1 >/dev/null && "${C[@]}" model rm plain@1 >/dev/null || fail "rm"

# a given signing key instead of the node key: recorded, shown, checked on load
openssl genpkey -algorithm ed25519 -out "$WORK/signer.pem" 2>/dev/null || fail "openssl genpkey"
"${C[@]}" model add signed --version 1 --sign-key "$WORK/signer.pem" "$D/a.safetensors" >/dev/null ||
  fail "add --sign-key"
want_fp=ed25519:$(openssl pkey -in "$WORK/signer.pem" -pubout -outform DER | tail -c 32 | sha256sum | cut -d' ' -f1)
got_fp=$("${C[@]}" model show signed@1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["signer"])')
[ "$got_fp" = "$want_fp" ] || fail "signer $got_fp, want $want_fp"
"${C[@]}" model load signed@1 >/dev/null || fail "load of a model signed with a given key"
node_fp=$("${C[@]}" model show tiny@1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["signer"])')
[ "$node_fp" != "$want_fp" ] || fail "tiny@1 claims the given key"
printf 'not a key' >"$WORK/bad.pem"
"${C[@]}" model add signed --version 2 --sign-key "$WORK/bad.pem" "$D/a.safetensors" 2>"$WORK/badkey.err" &&
  fail "a bad signing key was accepted"
grep -q 'not an Ed25519 private key' "$WORK/badkey.err" || fail "bad key: $(cat "$WORK/badkey.err")"
grep -q 'not a key' "$WORK/daemon.log" && fail "key bytes in custodyd's log"
"${C[@]}" model rm signed@1 >/dev/null || fail "rm signed@1"

# ---- loads: operator, permitted agent, refused agent ----
"${C[@]}" model load tiny@1 --json >"$WORK/load.json" || fail "operator load"
python3 - "$WORK/load.json" <<'EOF' || fail "load answer"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["tensors"] == 5 and d["bytes"] == 3 * 4000 + 2 * 666, d
assert d["device"] == -1
EOF
"${C[@]}" agent add demo >/dev/null || fail "agent add demo"
"${C[@]}" agent add other >/dev/null || fail "agent add other"
"${C[@]}" --agent demo model load tiny >/dev/null || fail "demo agent load (newest version)"
"${C[@]}" --agent other model load tiny@1 2>"$WORK/other.err" && fail "agent other loaded a model"
grep -q 'no policy permits Agent::"other" to model.load Model::"tiny@1"' "$WORK/other.err" ||
  fail "refusal: $(cat "$WORK/other.err")"
"${C[@]}" --agent other model ls >"$WORK/other.ls" || fail "other: model ls"
grep -q tiny "$WORK/other.ls" && fail "agent other sees models it may not show"
"${C[@]}" --agent demo model add x --version 1 "$D/a.safetensors" 2>/dev/null &&
  fail "an agent registered a model"

# the events
wait_events 2 --action model.load >"$WORK/loads.jsonl"
python3 - "$WORK/loads.jsonl" "$DIGEST" <<'EOF' || fail "model.load events"
import json, sys
ev = [json.loads(l)["event"] for l in open(sys.argv[1]) if l.strip()]
allow = [e for e in ev if e["model_id"] == "tiny" and e["decision"] == "allow"]
assert len(allow) == 2, ev
for e in allow:
    assert e["model_version"] == "1", e
    assert e["content_sha256"] == sys.argv[2][7:], e
    assert e["bytes_transferred"] == 13788, e
    assert e["resource_id"] == "model:tiny@1", e
    assert "signature" in e, e
agent = [e for e in allow if e.get("agent_id") == "demo"]
assert agent and agent[0].get("token_id"), allow  # the agent's load carried a capability
EOF
# the refused agent was stopped at its capability: a token.mint refusal naming the model
has_event 'other.*to model.load Model::' --action token.mint --decision deny ||
  fail "no refusal of agent other's model capability"
# a capability for one model does not load another, and is checked like any token
"${C[@]}" model add tiny --version 2 "$D/a.safetensors" >/dev/null || fail "add tiny@2"
TOK=$("${C[@]}" token mint --agent demo --action model.load --resource model:/tiny@2 --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])') || fail "mint a model capability"
"${C[@]}" --token "$TOK" model load tiny@2 >/dev/null || fail "load with a minted model capability"
"${C[@]}" --token "$TOK" model load tiny@1 2>"$WORK/wrongtok.err" && fail "a tiny@2 capability loaded tiny@1"
grep -q 'capability token' "$WORK/wrongtok.err" || fail "wrong token: $(cat "$WORK/wrongtok.err")"
"${C[@]}" token mint --agent other --action model.load --resource model:/tiny@2 2>/dev/null &&
  fail "agent other got a model capability"
"${C[@]}" token mint --agent demo --action read --resource model:/tiny@2 2>/dev/null &&
  fail "a model capability for action read"
"${C[@]}" model rm tiny@2 >/dev/null || fail "rm tiny@2"
has_event '"model_id": "tiny"' --action model.register || fail "no model.register event"

# ---- handover: the shards' descriptors come from custodyd (SCM_RIGHTS) ----
SOCK="$STATE/custodyd.sock"
hget() { curl -s -o "$WORK/h.out" -w '%{http_code}' --unix-socket "$SOCK" "http://localhost$1"; }
fds_of_daemon() { ls "/proc/$DAEMON_PID/fd" | wc -l; }
# Whether custodyd's descriptor count reaches N within 3 s: the connection of a curl
# that has just exited is closed by custodyd when its loop sees the EOF, a moment later.
fds_settle() {
  for _ in $(seq 60); do [ "$(fds_of_daemon)" = "$1" ] && return 0; sleep 0.05; done
  return 1
}
FDS0=$(fds_of_daemon)
curl -sf -X POST --unix-socket "$SOCK" "http://localhost/v1/models/tiny@1/load?handover=1" \
  >"$WORK/plan.json" || fail "load with handover"
TICKET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["handover"])' "$WORK/plan.json") ||
  fail "no handover ticket in the load answer: $(cat "$WORK/plan.json")"
fds_settle $((FDS0 + 2)) || fail "custodyd should hold 2 descriptors for the ticket"
# curl reads with recv(): the descriptors are dropped by the kernel, the count still says 2
[ "$(hget "/v1/handover/$TICKET")" = 200 ] || fail "redeem: $(cat "$WORK/h.out")"
grep -q '"fds":2' "$WORK/h.out" || fail "redeem answer: $(cat "$WORK/h.out")"
fds_settle "$FDS0" || fail "custodyd kept descriptors after the handover"
[ "$(hget "/v1/handover/$TICKET")" = 404 ] || fail "a ticket was redeemed twice"
[ "$(hget /v1/handover/nothex)" = 400 ] || fail "a malformed ticket: $(cat "$WORK/h.out")"
[ "$(hget /v1/handover/00000000000000000000000000000000)" = 404 ] || fail "an unknown ticket"
curl -s --unix-socket "$SOCK" -X POST "http://localhost/v1/models/tiny@1/load" |
  grep handover >/dev/null && fail "a ticket without ?handover=1"
# at most 16 tickets wait per uid: the 17th pushes out this uid's oldest, not another's
for i in $(seq 17); do
  curl -sf -X POST --unix-socket "$SOCK" "http://localhost/v1/models/tiny@1/load?handover=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["handover"])'
done >"$WORK/tickets.txt" || fail "17 loads with handover"
[ "$(hget "/v1/handover/$(sed -n 1p "$WORK/tickets.txt")")" = 404 ] || fail "the oldest of 17 tickets was kept"
for i in $(seq 2 17); do
  [ "$(hget "/v1/handover/$(sed -n "${i}p" "$WORK/tickets.txt")")" = 200 ] || fail "ticket $i of 17 was lost"
done
fds_settle "$FDS0" || fail "custodyd kept descriptors of pushed-out tickets"
has_event 'no such handover ticket' --action model.handover ||
  fail "no event for a refused handover"
if [ "$(id -u)" = 0 ]; then
  # another uid cannot redeem the operator's ticket (told the same as an unknown one)
  curl -sf -X POST --unix-socket "$SOCK" "http://localhost/v1/models/tiny@1/load?handover=1" \
    >"$WORK/plan.json" || fail "load with handover (2)"
  TICKET=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["handover"])' "$WORK/plan.json")
  # (for these requests, uid 65534 may reach the socket; the cache stays closed to it)
  MODES=$(stat -c %a "$WORK" "$STATE" "$SOCK" | tr '\n' ' ')
  chmod o+x "$WORK" "$STATE" && chmod 0666 "$SOCK"
  NOBODY=(setpriv --reuid 65534 --regid 65534 --clear-groups)
  code=$("${NOBODY[@]}" curl -s -o /dev/null -w '%{http_code}' \
    --unix-socket "$SOCK" "http://localhost/v1/handover/$TICKET" || true)
  # the demo agent, run by uid 65534 with its own copy of the key, loads the model
  mkdir -p "$WORK/nobody" && cp "$STATE/agents/demo.pem" "$WORK/nobody/demo.pem"
  chown -R 65534:65534 "$WORK/nobody" && chmod 0700 "$WORK/nobody"
  OBJ1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"][0]["path"])' "$WORK/plan.json")
  "${NOBODY[@]}" cat "$OBJ1" >/dev/null 2>&1 && nobody_reads=1
  "${NOBODY[@]}" "$BIN/custody" --socket "$SOCK" --agent demo --key "$WORK/nobody/demo.pem" \
    model load tiny@1 --json >"$WORK/nobody.json" 2>"$WORK/nobody.err" && nobody_rc=0 || nobody_rc=$?
  read -r mw ms mk <<<"$MODES"
  chmod "$mw" "$WORK" && chmod "$ms" "$STATE" && chmod "$mk" "$SOCK"
  [ "$code" = 404 ] || fail "uid 65534 redeemed the operator's ticket ($code)"
  [ -z "${nobody_reads:-}" ] || fail "uid 65534 can read the cache: the next check proves nothing"
  [ "$nobody_rc" = 0 ] || fail "the demo agent as uid 65534: $(cat "$WORK/nobody.err")"
  grep -q '"tensors": *5' "$WORK/nobody.json" || fail "uid 65534's load: $(cat "$WORK/nobody.json")"
  [ "$(hget "/v1/handover/$TICKET")" = 200 ] || fail "the owner's redeem after a stranger's try"
  # a loader that cannot open the cache's objects still loads: what it maps came from
  # custodyd. Without capabilities, root is held to the directory's mode 000 like anyone.
  OMODE=$(stat -c %a "$STATE/models/objects")
  chmod 000 "$STATE/models/objects"
  NOCAP=(setpriv --bounding-set -all --inh-caps -all)
  OBJ=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"][0]["path"])' "$WORK/plan.json")
  "${NOCAP[@]}" cat "$OBJ" >/dev/null 2>&1 && { chmod "$OMODE" "$STATE/models/objects"; fail "the object was readable: the test proves nothing"; }
  "${NOCAP[@]}" "${C[@]}" --agent demo model load tiny@1 --json >"$WORK/nocap.json" 2>"$WORK/nocap.err" ||
    { chmod "$OMODE" "$STATE/models/objects"; fail "a loader without access to the cache: $(cat "$WORK/nocap.err")"; }
  grep -q '"tensors": *5' "$WORK/nocap.json" || { chmod "$OMODE" "$STATE/models/objects"; fail "load through the handover: $(cat "$WORK/nocap.json")"; }
  chmod "$OMODE" "$STATE/models/objects"
  # 300 shards: more descriptors than one message carries (250 per byte)
  mkdir -p "$D/many"
  python3 - "$D/many" <<'PYEOF'
import json, struct, sys
for i in range(300):
    data = struct.pack("<4f", i, i + 1, i + 2, i + 3)
    h = json.dumps({"t%d" % i: {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    with open("%s/s%03d.safetensors" % (sys.argv[1], i), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
PYEOF
  "${C[@]}" model add many --version 1 "$D/many" >/dev/null || fail "add a 300-shard model"
  chmod 000 "$STATE/models/objects"
  "${NOCAP[@]}" "${C[@]}" --agent demo model load many@1 --json >"$WORK/many.json" 2>"$WORK/many.err" ||
    { chmod "$OMODE" "$STATE/models/objects"; fail "300 shards through the handover: $(cat "$WORK/many.err")"; }
  chmod "$OMODE" "$STATE/models/objects"
  grep -q '"tensors": *300' "$WORK/many.json" || fail "300-shard load: $(cat "$WORK/many.json")"
  # tickets hold 4,096 descriptors at most: the 14th load of 300 shards pushes out the first
  for i in $(seq 14); do
    curl -sf -X POST --unix-socket "$SOCK" "http://localhost/v1/models/many@1/load?handover=1" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["handover"])'
  done >"$WORK/many-tickets.txt" || fail "14 loads of many@1 with handover"
  held=$(( $(fds_of_daemon) - FDS0 ))
  [ "$held" -le 4096 ] && [ "$held" -ge 3900 ] || fail "custodyd holds $held descriptors for tickets"
  [ "$(hget "/v1/handover/$(sed -n 1p "$WORK/many-tickets.txt")")" = 404 ] || fail "the oldest ticket outlived the cap"
  for i in $(seq 2 14); do hget "/v1/handover/$(sed -n "${i}p" "$WORK/many-tickets.txt")" >/dev/null; done
  fds_settle "$FDS0" || fail "custodyd kept descriptors after the redemptions"
  "${C[@]}" model rm many@1 >/dev/null || fail "rm many@1"
  fds_settle "$FDS0" || fail "custodyd kept descriptors after the loads"
fi

# ---- pre-warming: page cache, pinned, unpin ----
python3 "${MK[@]}" "$D/w.safetensors" --tensors 4 --elems 262144 --seed 9 # 4 MiB
"${C[@]}" model add warm --version 1 "$D/w.safetensors" >/dev/null || fail "add warm"
WOBJ="$STATE/models/objects/$(sha256sum "$D/w.safetensors" | cut -c1-2)/$(sha256sum "$D/w.safetensors" | cut -d' ' -f1)"
python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$WOBJ"
"${C[@]}" model prewarm warm@1 --json >"$WORK/pw.json" 2>/dev/null || fail "prewarm"
# residency is asked for (?resident=1, what prewarm's progress polls); a plain show has none
curl -sf --unix-socket "$STATE/custodyd.sock" "http://localhost/v1/models/warm@1?resident=1" |
  python3 -c '
import json, sys
f = json.load(sys.stdin)["files"][0]
assert f["resident"] == f["size"] and "tensors" not in f, f
' || fail "not resident after prewarm"
"${C[@]}" model show warm@1 --json | python3 -c '
import json, sys
f = json.load(sys.stdin)["files"][0]
assert "resident" not in f and f["tensors"], f
' || fail "a plain show"
"${C[@]}" model prewarm warm --to pinned >"$WORK/pin.out" 2>/dev/null || fail "prewarm --to pinned"
grep -q 'pinned 4.0 MiB' "$WORK/pin.out" || fail "pin: $(cat "$WORK/pin.out")"
# (AddressSanitizer makes mlock a no-op: the locked-memory checks need a plain build)
ASAN=0
ldd "$BIN/custodyd" | grep libasan >/dev/null && ASAN=1  # (grep -q could SIGPIPE ldd: pipefail)
lck=$(awk '/VmLck/ {print $2}' "/proc/$DAEMON_PID/status")
[ "$ASAN" = 1 ] || [ "$lck" -ge 4096 ] || fail "custodyd holds $lck kB locked, want >= 4096"
"${C[@]}" model ls --json | python3 -c '
import json, sys
assert json.load(sys.stdin)["cache"]["pinned"] >= 4 << 20
' || fail "pinned bytes in model ls"
"${C[@]}" model unpin warm@1 >/dev/null || fail "unpin"
[ "$(awk '/VmLck/ {print $2}' "/proc/$DAEMON_PID/status")" = 0 ] || fail "still locked after unpin"
"${C[@]}" model unpin warm@1 2>/dev/null && fail "a second unpin succeeded"
"${C[@]}" --agent other model prewarm warm@1 2>/dev/null && fail "agent other pre-warmed"
"${C[@]}" model prewarm warm@1 --to nowhere 2>/dev/null && fail "--to nowhere accepted"
has_event 'page cache: 4194' --action model.prewarm || fail "no model.prewarm event"
"${C[@]}" model rm warm@1 >/dev/null || fail "rm warm"

# ---- bad shards: refused, nothing left behind ----
n0=$(objects)
head -c 100 "$D/a.safetensors" >"$D/trunc.safetensors"
"${C[@]}" model add bad --version 1 "$D/trunc.safetensors" 2>"$WORK/bad.err" && fail "truncated shard admitted"
grep -q 'not a model shard we accept' "$WORK/bad.err" || fail "truncated: $(cat "$WORK/bad.err")"
printf 'hello world, not a model' >"$D/text.safetensors"
"${C[@]}" model add bad --version 1 "$D/text.safetensors" 2>/dev/null && fail "text admitted"
python3 - "$D/lie.safetensors" <<'EOF'
import json, struct, sys
h = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1600]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"\0" * 16)
EOF
"${C[@]}" model add bad --version 1 "$D/lie.safetensors" 2>"$WORK/lie.err" && fail "lying header admitted"
grep -q "data_offsets" "$WORK/lie.err" || fail "lie: $(cat "$WORK/lie.err")"
[ "$(objects)" = "$n0" ] || fail "refused shards left objects in the cache ($(objects) != $n0)"
"${C[@]}" model show bad@1 2>/dev/null && fail "a refused model is registered"
"${C[@]}" model add 'no@pe' --version 1 "$D/a.safetensors" 2>/dev/null && fail "name with @"
"${C[@]}" model add ok --version 'a/b' "$D/a.safetensors" 2>/dev/null && fail "version with /"

# ---- a shard swapped after signing ----
"${C[@]}" model add tampered --version 1 "$D/b.safetensors" >/dev/null || fail "add tampered"
BOBJ="$STATE/models/objects/$(sha256sum "$D/b.safetensors" | cut -c1-2)/$(sha256sum "$D/b.safetensors" | cut -d' ' -f1)"
[ -f "$BOBJ" ] || fail "no object $BOBJ"
# touched but intact: refused at load (identity), accepted again after verify
touch "$BOBJ"
"${C[@]}" model load tampered@1 2>"$WORK/touch.err" && fail "a touched shard loaded unchecked"
grep -q 'changed after admission' "$WORK/touch.err" || fail "touch: $(cat "$WORK/touch.err")"
"${C[@]}" model verify tampered@1 >/dev/null || fail "verify of an intact shard"
"${C[@]}" model load tampered@1 >/dev/null || fail "load after verify"
# rewritten: refused, and verify evicts it
chmod u+w "$BOBJ"
printf 'X' | dd of="$BOBJ" bs=1 seek=200 conv=notrunc 2>/dev/null
"${C[@]}" model load tampered@1 2>"$WORK/tamper.err" && fail "a tampered shard loaded"
grep -q "shard 'b.safetensors' of tampered@1 changed after admission" "$WORK/tamper.err" ||
  fail "tamper: $(cat "$WORK/tamper.err")"
"${C[@]}" model verify tampered@1 2>"$WORK/verify.err" && fail "verify passed a tampered shard"
grep -q 'does not match its signed manifest: sha256 [0-9a-f]\{64\}, manifest says [0-9a-f]\{64\}' \
  "$WORK/verify.err" || fail "verify: $(cat "$WORK/verify.err")"
"${C[@]}" model ls | grep -E '^tampered +1 .* evicted ' >/dev/null || fail "tampered not evicted"
"${C[@]}" model load tampered@1 2>"$WORK/ev.err" && fail "an evicted model loaded"
grep -q 'evicted' "$WORK/ev.err" || fail "evicted: $(cat "$WORK/ev.err")"
# tiny@1 shares that object: its own load is now refused too, never served wrong bytes
"${C[@]}" model load tiny@1 >/dev/null 2>&1 && fail "tiny@1 loaded with a missing shard"
has_event 'changed after admission' --action model.load || fail "no event for the refused load"
"${C[@]}" model rm tiny@1 >/dev/null || fail "rm tiny@1"
"${C[@]}" model rm tampered@1 >/dev/null || fail "rm tampered@1"
[ "$(objects)" = 0 ] || fail "objects left after rm: $(objects)"

# ---- LRU eviction under models.max_bytes ----
stop_daemon
set_limit max_bytes 30000
start_daemon
for i in 1 2 3; do
  python3 "${MK[@]}" "$D/m$i.safetensors" --tensors 3 --elems 1000 --seed $((10 + i))
done
"${C[@]}" model add m --version 1 "$D/m1.safetensors" >/dev/null || fail "add m@1"
"${C[@]}" model add m --version 2 "$D/m2.safetensors" >/dev/null || fail "add m@2"
sleep 1.1 # last_used has second resolution
"${C[@]}" model load m@1 >/dev/null || fail "load m@1"
"${C[@]}" model add m --version 3 "$D/m3.safetensors" >/dev/null || fail "add m@3"
"${C[@]}" model ls >"$WORK/lru.out"
grep -E '^m +2 .* evicted ' "$WORK/lru.out" >/dev/null || fail "m@2 (least recently used) not evicted: $(cat "$WORK/lru.out")"
grep -E '^m +1 .* cached ' "$WORK/lru.out" >/dev/null || fail "m@1 evicted: $(cat "$WORK/lru.out")"
grep -E '^m +3 .* cached ' "$WORK/lru.out" >/dev/null || fail "m@3 evicted"
[ "$(objects)" = 2 ] || fail "want 2 objects after eviction, have $(objects)"
"${C[@]}" model load m >/dev/null || fail "load newest (m@3)"
"${C[@]}" audit verify >/dev/null || fail "audit verify"
echo "ok"
