#!/usr/bin/env bash
# test_audit_interop.sh — custody's audit log checked by code we did not
# write: Go's golang.org/x/mod/sumdb/note and sumdb/tlog (Debian packages),
# through tests/interop/goverify. The log is fetched the way an auditor would:
# from the read-only tlog-tiles mirror (/audit/checkpoint, /audit/tile/...).
# Checked: checkpoint signature, root recomputed from the entry bundles and
# every hash tile, inclusion proofs (C2SP tlog-proof files) and consistency
# proofs; and that tampered proofs are rejected by the same verifier.
source "$(dirname "$0")/lib.sh"
GOV=$WORK/goverify
GOCACHE=$WORK/gocache bash "$SRC/tests/interop/goverify/build.sh" "$GOV" >/dev/null ||
  fail "cannot build the Go verifier (golang-go, golang-golang-x-mod-dev)"
TOOL="python3 $SRC/tests/integration/audit_tool.py"
SOCK=$STATE/custodyd.sock

init_state
set_limit checkpoint_interval_ms 50
start_daemon
VKEY=$(curl -sf --unix-socket "$SOCK" http://x/v1/audit/key | python3 -c 'import json,sys; print(json.load(sys.stdin)["vkey"])')
[ -n "$VKEY" ] || fail "no verifier key"

# 300 requests: more than one full entry bundle
$TOOL load "$SOCK" 300 a >"$WORK/acks1" || fail "load"
curl -sf --unix-socket "$SOCK" "http://x/v1/audit/proof/inclusion?index=0" >/dev/null || fail "proof"
$TOOL mirror "$SOCK" "$WORK/m1" >"$WORK/size1" || fail "mirror 1"
"$GOV" checkpoint "$VKEY" "$WORK/m1/checkpoint" || fail "Go rejects the checkpoint signature"
"$GOV" tree "$VKEY" "$WORK/m1" || fail "Go rejects the tree (entry bundles / tiles)"

# every acknowledged request's event is in the tree, with a proof Go accepts
size1=$(cat "$WORK/size1")
for idx in 0 1 255 256 $((size1 - 1)); do
  curl -sf --unix-socket "$SOCK" "http://x/v1/audit/proof/inclusion?index=$idx&format=tlog-proof" \
    >"$WORK/p$idx" || fail "inclusion proof $idx"
  $TOOL entry "$WORK/m1" "$idx" "$WORK/e$idx"
  "$GOV" inclusion "$VKEY" "$WORK/p$idx" "$WORK/e$idx" || fail "Go rejects inclusion proof $idx"
done
head -1 "$WORK/p1" | grep -qx 'c2sp.org/tlog-proof@v1' || fail "not a tlog-proof file"
# a tampered proof (one hash line changed) must be rejected
python3 - "$WORK/p256" "$WORK/p256.bad" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
i = next(k for k, l in enumerate(lines) if l.startswith("index ")) + 1
lines[i] = ("B" if lines[i][0] != "B" else "C") + lines[i][1:]
open(sys.argv[2], "w").write("\n".join(lines))
PY
if "$GOV" inclusion "$VKEY" "$WORK/p256.bad" "$WORK/e256" 2>/dev/null; then fail "tampered proof accepted"; fi
if "$GOV" inclusion "$VKEY" "$WORK/p256" "$WORK/e255" 2>/dev/null; then fail "wrong entry accepted"; fi

# grow the log, then prove consistency with the first checkpoint
$TOOL load "$SOCK" 500 b >"$WORK/acks2" || fail "load 2"
$TOOL mirror "$SOCK" "$WORK/m2" >"$WORK/size2" || fail "mirror 2"
size2=$(cat "$WORK/size2")
[ "$size2" -gt "$size1" ] || fail "log did not grow"
"$GOV" tree "$VKEY" "$WORK/m2" || fail "Go rejects the grown tree"
curl -sf --unix-socket "$SOCK" \
  "http://x/v1/audit/proof/consistency?old=$size1&size=$size2&format=text" >"$WORK/cons" ||
  fail "consistency proof"
"$GOV" consistency "$VKEY" "$WORK/m1/checkpoint" "$WORK/m2/checkpoint" "$WORK/cons" ||
  fail "Go rejects the consistency proof $size1 -> $size2"
sed -i '1s/^./A/;1s/^AA/B/' "$WORK/cons"
if "$GOV" consistency "$VKEY" "$WORK/m1/checkpoint" "$WORK/m2/checkpoint" "$WORK/cons" 2>/dev/null; then
  fail "tampered consistency proof accepted"
fi

# acknowledged answers carried indices that are all in the log
python3 - "$WORK/acks1" "$WORK/acks2" "$size2" <<'PY' || fail "an acknowledged request has no event"
import sys
size = int(sys.argv[3])
seen = set()
for f in sys.argv[1:3]:
    for line in open(f):
        idx, st = line.split()
        assert idx != "None", "answer without x-custody-audit-index"
        i = int(idx)
        assert i < size and i not in seen, (i, size)
        seen.add(i)
print(len(seen), "acknowledged events present")
PY
# after a clean stop the on-disk log verifies as it is
stop_daemon || fail "custodyd did not stop cleanly"
"$GOV" tree "$VKEY" "$STATE/ledger" || fail "Go rejects the ledger directory after shutdown"
echo "ok: Go x/mod verified custody's checkpoints, tiles and proofs (sizes $size1, $size2)"
