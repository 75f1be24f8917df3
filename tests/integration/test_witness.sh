#!/usr/bin/env bash
# test_witness.sh — two custody nodes witnessing each other (c2sp.org/tlog-witness):
# each trusts the other's log key (`custody witness add-log`) and submits its
# checkpoints to the other (`custody witness add-witness ... --unix`), with
# no restart. Checked: each node's /audit/checkpoint gets the other's
# cosignature, verified by Go code we did not write (goverify cosig); the
# cosignature follows the log as it grows (consistency proofs accepted);
# the witness state survives a restart of the witness; and the refusals
# of the protocol with curl: 403 tampered, 404 unknown log, 409 stale old
# size (with the size body), 422 bad proof, 400 syntax.
source "$(dirname "$0")/lib.sh"
GOV=$WORK/goverify
GOCACHE=$WORK/gocache bash "$SRC/tests/interop/goverify/build.sh" "$GOV" >/dev/null ||
  fail "cannot build the Go verifier (golang-go, golang-golang-x-mod-dev)"
CLI=$BIN/custody

A=$WORK/a
B=$WORK/b
B_PID=""
stop_b() {
  if [ -n "$B_PID" ] && kill -0 "$B_PID" 2>/dev/null; then
    kill -TERM "$B_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$B_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$B_PID" 2>/dev/null || true
  fi
  B_PID=""
}
trap 'stop_b; cleanup' EXIT

for s in "$A" "$B"; do
  "$CLI" init --state "$s" >/dev/null
  sed -i -E "s|^([[:space:]]+checkpoint_interval_ms:).*|\1 100|; s|^([[:space:]]+port:) 8443$|\1 0|" "$s/config.yaml"
done
STATE=$A
start_daemon
start_b() {
  "$BIN/custodyd" --state "$B" >>"$WORK/daemon-b.log" 2>&1 &
  B_PID=$!
  for _ in $(seq 100); do
    curl -sf --unix-socket "$B/custodyd.sock" http://localhost/v1/health >/dev/null 2>&1 && return 0
    kill -0 "$B_PID" 2>/dev/null || fail "custodyd B exited at start: $(tail -5 "$WORK/daemon-b.log")"
    sleep 0.05
  done
  fail "custodyd B did not answer /v1/health"
}
start_b

vkey() { curl -sf --unix-socket "$1/custodyd.sock" http://x/v1/audit/key |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["vkey"])'; }
A_LOG=$(vkey "$A") && B_LOG=$(vkey "$B") || fail "no log verifier keys"
A_WIT=$("$CLI" --state "$A" witness key) && B_WIT=$("$CLI" --state "$B" witness key) ||
  fail "custody witness key"
[ "${A_WIT%%+*}" = "${A_LOG%%+*}/witness" ] || fail "witness key name: $A_WIT"
"$CLI" --state "$A" witness key --json | grep -q '"vkey"' || fail "witness key --json"

# before configuration: the witness endpoint is off
code=$(curl -s -o "$WORK/out" -w '%{http_code}' --unix-socket "$A/custodyd.sock" \
  --data-binary 'old 0' http://x/witness/add-checkpoint)
[ "$code" = 404 ] && grep -q "witnesses no logs" "$WORK/out" || fail "unconfigured witness: $code"

# configuration (custodyd re-reads the files: no restart)
"$CLI" --state "$A" witness add-log "$B_LOG" | grep -q "trusting log" || fail "add-log A"
"$CLI" --state "$B" witness add-log "$A_LOG" >/dev/null || fail "add-log B"
"$CLI" --state "$B" witness add-log "$A_LOG" | grep -q "already trusted" || fail "add-log twice"
if "$CLI" --state "$A" witness add-log "$B_WIT" 2>/dev/null; then fail "a witness key accepted as a log key"; fi
if "$CLI" --state "$A" witness add-witness "$B_LOG" http://localhost/witness 2>/dev/null; then
  fail "a log key accepted as a witness key"
fi
"$CLI" --state "$A" witness add-witness "$B_WIT" http://localhost/witness \
  --unix "$B/custodyd.sock" >/dev/null || fail "add-witness A"
"$CLI" --state "$B" witness add-witness "$A_WIT" http://localhost/witness \
  --unix "$A/custodyd.sock" >/dev/null || fail "add-witness B"

traffic() { # traffic STATE N: N audited requests
  for _ in $(seq "$2"); do curl -sf --unix-socket "$1/custodyd.sock" http://x/v1/roots >/dev/null; done
}
# wait_cosigned NODE WITNESS_VKEY MIN_SIZE: the node's latest checkpoint (size
# >= MIN_SIZE) carries the witness's cosignature; leaves it in $WORK/cp
wait_cosigned() {
  local name=${2%%+*} size=0
  for _ in $(seq 200); do
    curl -sf --unix-socket "$1/custodyd.sock" http://x/audit/checkpoint >"$WORK/cp" || true
    size=$(sed -n 2p "$WORK/cp")
    if [ -n "$size" ] && [ "$size" -ge "$3" ] && grep -q "^— $name " "$WORK/cp"; then return 0; fi
    sleep 0.05
  done
  cat "$WORK/cp" >&2
  fail "checkpoint of $1 (size $size, want >= $3) not cosigned by $name"
}
size_of() { curl -sf --unix-socket "$1/custodyd.sock" http://x/v1/audit/status |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'; }

traffic "$A" 5
traffic "$B" 3
wait_cosigned "$A" "$B_WIT" "$(size_of "$A")"
cp "$WORK/cp" "$WORK/a1.cp"
"$GOV" cosig "$B_WIT" "$WORK/a1.cp" || fail "Go rejects B's cosignature on A's checkpoint"
"$GOV" checkpoint "$A_LOG" "$WORK/a1.cp" >/dev/null || fail "Go rejects A's checkpoint"
if "$GOV" cosig "$A_WIT" "$WORK/a1.cp" 2>/dev/null; then fail "A's checkpoint cosigned by A?"; fi
wait_cosigned "$B" "$A_WIT" "$(size_of "$B")"
cp "$WORK/cp" "$WORK/b1.cp"
"$GOV" cosig "$A_WIT" "$WORK/b1.cp" || fail "Go rejects A's cosignature on B's checkpoint"

# grow both logs: the cosignature follows the newer checkpoints
traffic "$A" 300
traffic "$B" 40
a2=$(size_of "$A")
wait_cosigned "$A" "$B_WIT" "$a2"
cp "$WORK/cp" "$WORK/a2.cp"
"$GOV" cosig "$B_WIT" "$WORK/a2.cp" || fail "Go rejects the cosignature on A's grown checkpoint"
[ "$(sed -n 2p "$WORK/a2.cp")" -gt "$(sed -n 2p "$WORK/a1.cp")" ] || fail "A did not grow"
wait_cosigned "$B" "$A_WIT" "$(size_of "$B")"
"$GOV" cosig "$A_WIT" "$WORK/cp" || fail "Go rejects the cosignature on B's grown checkpoint"
# what B remembers of A's log
"$CLI" --state "$B" witness logs | grep -q "^${A_LOG%%+*}  size [0-9]" || fail "witness logs"
"$CLI" --state "$B" witness logs --json | grep -q '"seen":true' || fail "witness logs --json"

# ---- the protocol by hand, against B witnessing A's log ----
# A stops submitting to B (the file is re-read), and grows past what B knows
cp "$A/ledger/witnesses" "$WORK/a-witnesses"
: >"$A/ledger/witnesses"
sleep 1.5
traffic "$A" 20
a3=$(size_of "$A")
for _ in $(seq 100); do
  [ "$(curl -sf --unix-socket "$A/custodyd.sock" http://x/audit/checkpoint | sed -n 2p)" -ge "$a3" ] && break
  sleep 0.05
done
post() { # post BODYFILE: prints the status, body in $WORK/resp, headers in $WORK/hdr
  curl -s -o "$WORK/resp" -D "$WORK/hdr" -w '%{http_code}' --unix-socket "$B/custodyd.sock" \
    --data-binary @"$1" http://x/witness/add-checkpoint
}
# B's current view of A's log: size, from its state file (via the CLI)
b_knows=$("$CLI" --state "$B" witness logs --json |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["logs"][0]["size"])')
# a checkpoint of A without cosignatures (the log's signature line only)
curl -sf --unix-socket "$A/custodyd.sock" http://x/audit/checkpoint >"$WORK/full.cp"
python3 - "$WORK/full.cp" "$WORK/logonly.cp" "${A_LOG%%+*}" <<'PY'
import sys
text, sigs = open(sys.argv[1], encoding="utf-8").read().split("\n\n", 1)
keep = [l for l in sigs.splitlines() if l.startswith("— " + sys.argv[3] + " ")]
open(sys.argv[2], "w", encoding="utf-8").write(text + "\n\n" + "\n".join(keep) + "\n")
PY
a_size=$(sed -n 2p "$WORK/logonly.cp")
# 409: a stale old size, answered with B's size
{ echo "old 0"; echo; cat "$WORK/logonly.cp"; } >"$WORK/req-stale"
code=$(post "$WORK/req-stale")
[ "$code" = 409 ] || fail "stale old size: HTTP $code ($(cat "$WORK/resp"))"
[ "$(cat "$WORK/resp")" = "$b_knows" ] || fail "409 body '$(cat "$WORK/resp")', want $b_knows"
grep -qi '^content-type: text/x.tlog.size' "$WORK/hdr" || fail "409 content type"
# 200: the right old size and proof (from B's size to A's latest)
if [ "$a_size" -gt "$b_knows" ]; then
  curl -sf --unix-socket "$A/custodyd.sock" \
    "http://x/v1/audit/proof/consistency?old=$b_knows&size=$a_size&format=text" >"$WORK/proof" ||
    fail "consistency proof from A"
else
  : >"$WORK/proof"
fi
{ echo "old $b_knows"; cat "$WORK/proof"; echo; cat "$WORK/logonly.cp"; } >"$WORK/req-good"
# 422: the same request with one proof hash changed (only when there is one)
if [ -s "$WORK/proof" ]; then
  python3 - "$WORK/req-good" "$WORK/req-badproof" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
lines[1] = ("B" if lines[1][0] != "B" else "C") + lines[1][1:]
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(lines))
PY
  code=$(post "$WORK/req-badproof")
  [ "$code" = 422 ] || fail "bad proof: HTTP $code ($(cat "$WORK/resp"))"
fi
# 403: the checkpoint's root changed (the log's signature no longer holds)
python3 - "$WORK/req-good" "$WORK/req-tampered" <<'PY'
import sys
body = open(sys.argv[1], encoding="utf-8").read()
head, note = body.split("\n\n", 1)
lines = note.split("\n")
lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]
open(sys.argv[2], "w", encoding="utf-8").write(head + "\n\n" + "\n".join(lines))
PY
code=$(post "$WORK/req-tampered")
[ "$code" = 403 ] || fail "tampered checkpoint: HTTP $code ($(cat "$WORK/resp"))"
# 404: a log B does not trust (B's own log)
curl -sf --unix-socket "$B/custodyd.sock" http://x/audit/checkpoint >"$WORK/b.cp"
{ echo "old 0"; echo; cat "$WORK/b.cp"; } >"$WORK/req-unknown"
code=$(post "$WORK/req-unknown")
[ "$code" = 404 ] || fail "unknown log: HTTP $code ($(cat "$WORK/resp"))"
# 400: syntax
printf 'old x\n\nnothing\n' >"$WORK/req-syntax"
code=$(post "$WORK/req-syntax")
[ "$code" = 400 ] || fail "malformed body: HTTP $code"
# 200 for the good one: one cosignature line by B's witness key, which Go accepts
code=$(post "$WORK/req-good")
[ "$code" = 200 ] || fail "good request: HTTP $code ($(cat "$WORK/resp"))"
grep -q "^— ${B_WIT%%+*} " "$WORK/resp" || fail "no cosignature line: $(cat "$WORK/resp")"
cat "$WORK/logonly.cp" "$WORK/resp" >"$WORK/manual.cp"
"$GOV" cosig "$B_WIT" "$WORK/manual.cp" || fail "Go rejects the cosignature B answered"
# refused requests did not move B's state: it now knows A's latest size
"$CLI" --state "$B" witness logs | grep -q "size $a_size " || fail "B's state after the good request"

[ -s "$WORK/proof" ] || fail "A did not grow past what B knows ($b_knows)"

# A submits again (re-read file; its first request is refused 409, then
# retried with a proof from B's size)
cp "$WORK/a-witnesses" "$A/ledger/witnesses"
traffic "$A" 3
wait_cosigned "$A" "$B_WIT" "$(size_of "$A")"

# ---- the witness's state survives its restart ----
stop_b
start_b
code=$(post "$WORK/req-stale")
[ "$code" = 409 ] && [ "$(cat "$WORK/resp")" -ge "$a_size" ] ||
  fail "after restart: HTTP $code, size '$(cat "$WORK/resp")' (want >= $a_size)"
# and A keeps getting cosignatures from the restarted B
traffic "$A" 10
wait_cosigned "$A" "$B_WIT" "$(size_of "$A")"
"$GOV" cosig "$B_WIT" "$WORK/cp" || fail "Go rejects a cosignature after B's restart"

# the logs still verify offline (cosignatures included)
stop_daemon || fail "custodyd A did not stop cleanly"
"$CLI" --state "$A" audit verify --ledger "$A/ledger" --vkey "$A_LOG" --witness-vkey "$B_WIT" \
  --no-update >/dev/null || fail "custody audit verify A with B's witness key"
if grep -E 'Sanitizer|runtime error' "$WORK/daemon.log" "$WORK/daemon-b.log"; then fail "sanitizer"; fi
echo "ok: two nodes witness each other"
