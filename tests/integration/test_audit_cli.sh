#!/usr/bin/env bash
# test_audit_cli.sh — end-to-end test of `custody audit ...` (and libcustody's
# audit section) against a real custodyd: a few reads, writes and errors,
# then tail, show, search, hash, key, checkpoint, proof, consistency, tail -f,
# and the offline `audit verify` (daemon running, stopped, and a tampered
# copy of the ledger).
#
#   CUSTODY_BIN=build/bin CUSTODY_SRC=$PWD bash tests/integration/test_audit_cli.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v python3 >/dev/null || fail "python3 is needed"
for b in custody custodyd; do
  [ -x "$BIN/$b" ] || fail "$BIN/$b is not built (set CUSTODY_BIN)"
done

step=""
C() { "$BIN/custody" --state "$STATE" "$@"; }
# expect RC CMD...: stdout in $WORK/out, stderr in $WORK/err; checks the exit status.
expect() {
  local want=$1 rc=0
  shift
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "[$step] '$*' exited $rc, expected $want
  stdout: $(head -c 800 "$WORK/out")
  stderr: $(head -c 800 "$WORK/err")"
}
out_has() { grep -qE -- "$1" "$WORK/out" || fail "[$step] stdout lacks /$1/: $(head -c 800 "$WORK/out")"; }
err_has() { grep -qE -- "$1" "$WORK/err" || fail "[$step] stderr lacks /$1/: $(head -c 800 "$WORK/err")"; }
# py EXPR: a Python expression over j (stdout parsed as JSON) and lines (stdout
# parsed as JSON Lines, when it is); must be true.
py() {
  python3 - "$WORK/out" "$1" <<'EOF' || fail "[$step] check failed: $1
  stdout: $(head -c 1200 "$WORK/out")"
import json, sys
text = open(sys.argv[1]).read()
try:
    j = json.loads(text)
except ValueError:
    j = None
try:
    lines = [json.loads(l) for l in text.splitlines() if l.strip()]
except ValueError:
    lines = None
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}
# wait_checkpointed N: until the log holds >= N events, all under a checkpoint
wait_checkpointed() {
  for _ in $(seq 100); do
    if C audit status --json >"$WORK/st" 2>/dev/null &&
      python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if s["size"] >= int(sys.argv[2]) and s["checkpoint_size"] == s["size"] else 1)' \
        "$WORK/st" "$1"; then
      return 0
    fi
    sleep 0.1
  done
  fail "[$step] the log did not reach $1 checkpointed events: $(cat "$WORK/st")"
}

# ---------------------------------------------------------------- start
step="start"
init_state
start_daemon

step="usage"
expect 0 "$BIN/custody" --help
out_has "^  audit +Read and check the audit ledger"
expect 0 C audit --help
out_has "^  tail "
out_has "^  verify "
expect 2 C audit
expect 2 C audit bogus
expect 2 C audit show notanumber
expect 2 C audit tail -n x
expect 2 C audit search --decision maybe
expect 0 C audit tail --help
out_has "^usage: custody audit tail"
expect 0 C help audit verify
out_has "^usage: custody audit verify"

# ---------------------------------------------------------------- events
step="events"
expect 0 C audit status --json
py "j['healthy'] is True and isinstance(j['origin'], str)"
base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["size"])' "$WORK/out")
printf 'one\n' >"$WORK/one.txt"
printf 'two\n' >"$WORK/two.txt"
expect 0 C put demo:/audit-a.txt "$WORK/one.txt"
expect 0 C put demo:/audit-b.txt "$WORK/two.txt"
expect 0 C cat demo:/audit-a.txt
expect 1 C cat demo:/audit-missing.txt
err_has "\(not_found\)$"
expect 0 C put demo:/audit-a.txt "$WORK/two.txt"
wait_checkpointed $((base + 5))

# ---------------------------------------------------------------- status
step="audit status"
expect 0 C audit status
out_has "^origin: +custody/"
out_has "^checkpoint size: +$((base + 5))$"
out_has "^healthy: +yes$"

# ---------------------------------------------------------------- tail
step="audit tail -n 5 --json"
expect 0 C audit tail -n 5 --json
py "len(lines) == 5"
py "[l['index'] for l in lines] == list(range($base, $base + 5))"
py "[l['event']['action'] for l in lines] == ['write', 'write', 'read', 'read', 'write']"
py "[l['event']['decision'] for l in lines] == ['allow', 'allow', 'allow', 'error', 'allow']"
py "[l['event']['resource_id'] for l in lines] == ['demo:/audit-a.txt', 'demo:/audit-b.txt', 'demo:/audit-a.txt', 'demo:/audit-missing.txt', 'demo:/audit-a.txt']"
py "lines[3]['event']['status'] == 404 and 'not_found' in lines[3]['event']['reason']"
cp "$WORK/out" "$WORK/tail.jsonl"
err_idx=$((base + 3))

step="audit tail (human)"
expect 0 C audit tail -n 5
[ "$(wc -l <"$WORK/out")" -eq 5 ] || fail "[$step] expected 5 lines: $(cat "$WORK/out")"
out_has "^$err_idx [0-9T:.-]+Z read error demo:/audit-missing.txt 404 not_found"
out_has "^$((base + 4)) [0-9T:.-]+Z write allow demo:/audit-a.txt 20[01] permitted by policy operator$"
expect 0 C audit tail
[ "$(wc -l <"$WORK/out")" -eq $((base + 5 < 10 ? base + 5 : 10)) ] ||
  fail "[$step] default tail: $(cat "$WORK/out")"

# ---------------------------------------------------------------- show
step="audit show"
expect 0 C audit show "$err_idx" --json
python3 - "$WORK/out" "$WORK/tail.jsonl" <<'EOF' || fail "[$step] show --json differs from the tail line: $(cat "$WORK/out")"
import json, sys
shown = json.load(open(sys.argv[1]))
tail = [json.loads(l) for l in open(sys.argv[2])]
sys.exit(0 if shown == tail[3] else 1)
EOF
cp "$WORK/out" "$WORK/show.json"
expect 0 C audit show "$err_idx"
out_has "^index: +$err_idx$"
out_has "^action: +read$"
out_has "^decision: +error$"
out_has "^resource: +demo:/audit-missing.txt$"
out_has "^reason: +not_found"
out_has "^latency: +[0-9]+\.[0-9]{3} ms$"
expect 1 C audit show 999999
err_has "\(not_found\)$"

# ---------------------------------------------------------------- search
step="audit search --action write"
expect 0 C audit search --action write --json
py "[r['index'] for r in j['results']] == [$base, $base + 1, $base + 4]"
py "all(r['event']['action'] == 'write' for r in j['results'])"
expect 0 C audit search --action write
[ "$(wc -l <"$WORK/out")" -eq 3 ] || fail "[$step] expected 3 lines: $(cat "$WORK/out")"
step="audit search (other filters)"
expect 0 C audit search --decision error --resource demo:/audit-missing.txt --json
py "[r['index'] for r in j['results']] == [$err_idx]"
expect 0 C audit search --resource 'demo:/audit-a.txt' --desc --limit 2 --json
py "[r['index'] for r in j['results']] == [$base + 4, $base + 2]"
expect 0 C audit search --resource 'demo:/' --prefix --action read --json
py "[r['index'] for r in j['results']] == [$base + 2, $err_idx]"

# ---------------------------------------------------------------- hash
step="audit hash"
expect 0 C audit hash x
out_has "^hmac-sha256:[0-9a-f]{64}$"
[ "$(wc -l <"$WORK/out")" -eq 1 ] || fail "[$step] more than one line: $(cat "$WORK/out")"
h1=$(cat "$WORK/out")
expect 0 C audit hash y
[ "$(cat "$WORK/out")" != "$h1" ] || fail "[$step] x and y hash alike"
expect 0 C audit hash x --json
py "j['pseudonym'] == '$h1'"

# ---------------------------------------------------------------- key, checkpoint
step="audit key"
expect 0 C audit key
out_has "^custody/[^+ ]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$"
key_online=$(cat "$WORK/out")
expect 0 C audit key --offline
[ "$(cat "$WORK/out")" = "$key_online" ] || fail "[$step] offline key '$(cat "$WORK/out")' != '$key_online'"

step="audit checkpoint"
expect 0 C audit checkpoint
origin=$(head -n 1 "$WORK/out")
[ "$key_online" != "${key_online#"$origin"+}" ] || fail "[$step] checkpoint origin '$origin' is not the key's name"
[ "$(sed -n 2p "$WORK/out")" = "$((base + 5))" ] || fail "[$step] checkpoint size: $(cat "$WORK/out")"
out_has "^— $origin [A-Za-z0-9+/]+=*$"
expect 0 C audit checkpoint --json
py "j['origin'] == '$origin' and j['size'] == $base + 5 and j['signatures'] >= 1"

# ---------------------------------------------------------------- proofs
step="audit proof"
expect 0 C audit proof "$err_idx" -o "$WORK/err.proof" --entry "$WORK/err.entry"
out_has "wrote the inclusion proof of event $err_idx"
[ "$(head -n 1 "$WORK/err.proof")" = "c2sp.org/tlog-proof@v1" ] ||
  fail "[$step] proof file starts with '$(head -n 1 "$WORK/err.proof")'"
[ "$(sed -n 2p "$WORK/err.proof")" = "index $err_idx" ] || fail "[$step] proof index line: $(sed -n 2p "$WORK/err.proof")"
grep -qx "$origin" "$WORK/err.proof" || fail "[$step] the proof lacks the checkpoint"
python3 - "$WORK/err.entry" "$WORK/show.json" <<'EOF' || fail "[$step] the entry bytes are not the shown event"
import json, sys
entry = json.load(open(sys.argv[1], 'rb'))
shown = json.load(open(sys.argv[2]))
sys.exit(0 if entry == shown['event'] else 1)
EOF
expect 0 C audit proof "$err_idx"
[ "$(head -n 1 "$WORK/out")" = "c2sp.org/tlog-proof@v1" ] || fail "[$step] stdout proof: $(head -n 2 "$WORK/out")"
cmp -s "$WORK/out" "$WORK/err.proof" || fail "[$step] the proof on stdout differs from the file"
expect 0 C audit proof "$err_idx" --entry "$WORK/err.entry2"
cmp -s "$WORK/out" "$WORK/err.proof" || fail "[$step] with --entry FILE, stdout is not just the proof"
cmp -s "$WORK/err.entry" "$WORK/err.entry2" || fail "[$step] the entry bytes differ between runs"
err_has "^wrote entry $err_idx "
expect 2 C audit proof "$err_idx" --entry -
expect 0 C audit proof "$err_idx" --json
py "j['index'] == $err_idx and j['size'] == $base + 5 and isinstance(j['proof'], list)"
expect 1 C audit proof 999999
err_has "\(not_found\)$"

step="audit consistency"
expect 0 C audit consistency 1
python3 -c '
import base64, sys
ls = open(sys.argv[1]).read().splitlines()
sys.exit(0 if ls and all(len(base64.b64decode(l, validate=True)) == 32 for l in ls) else 1)' "$WORK/out" ||
  fail "[$step] not one base64 hash per line: $(cat "$WORK/out")"
expect 0 C audit consistency 2 4 --json
py "j['old_size'] == 2 and j['size'] == 4 and len(j['proof']) >= 1"
expect 0 C audit consistency 1 -o "$WORK/cons.txt"
[ -s "$WORK/cons.txt" ] || fail "[$step] no consistency file"
expect 2 C audit consistency 0
expect 2 C audit consistency 5 3

# ---------------------------------------------------------------- tail -f
step="audit tail -f"
"$BIN/custody" --state "$STATE" audit tail -n 1 -f --json >"$WORK/follow.out" 2>"$WORK/follow.err" &
fpid=$!
# the last event is printed first: then it is following
for _ in $(seq 100); do
  [ -s "$WORK/follow.out" ] && break
  kill -0 "$fpid" 2>/dev/null || fail "[$step] tail -f ended: $(cat "$WORK/follow.err")"
  sleep 0.05
done
[ -s "$WORK/follow.out" ] || fail "[$step] tail -n 1 -f printed nothing"
expect 0 C put demo:/audit-followed.txt "$WORK/one.txt"
seen=0
for _ in $(seq 50); do
  if grep -q '"resource_id":"demo:/audit-followed.txt"' "$WORK/follow.out"; then seen=1; break; fi
  sleep 0.1
done
kill -INT "$fpid"
frc=0
wait "$fpid" || frc=$?
[ "$seen" -eq 1 ] || fail "[$step] the new event did not show: $(cat "$WORK/follow.out" "$WORK/follow.err")"
[ "$frc" -eq 0 ] || fail "[$step] tail -f exited $frc after SIGINT: $(cat "$WORK/follow.err")"
cp "$WORK/follow.out" "$WORK/out"
py "[l['index'] for l in lines] == [$base + 4, $base + 5] and lines[1]['event']['action'] == 'write'"

# ---------------------------------------------------------------- verify
step="audit verify (daemon running)"
wait_checkpointed $((base + 6))
expect 0 C audit verify --trusted "$WORK/trusted"
out_has "^ok: $((base + 6)) entries, [0-9]+ tiles, checkpoint size $((base + 6)) verified"
[ -s "$WORK/trusted" ] || fail "[$step] the trusted checkpoint was not written"
expect 0 C audit verify --trusted "$WORK/trusted"
out_has "\(consistent with trusted size $((base + 6))\)$"
expect 0 C audit verify --trusted "$WORK/trusted" --vkey "$key_online" --strict --json
py "j['ok'] is True and j['size'] == $base + 6 and j['trusted_size'] == $base + 6 and j['problem'] is None"
expect 2 C audit verify --vkey not-a-key --trusted "$WORK/trusted"

step="stop custodyd"
stop_daemon || fail "custodyd did not stop cleanly"

step="audit without custodyd"
expect 3 C audit status
err_has "\(daemon_unreachable\)$"
expect 0 C audit key
[ "$(cat "$WORK/out")" = "$key_online" ] || fail "[$step] fallback key '$(cat "$WORK/out")' != '$key_online'"
expect 0 C audit key --offline
[ "$(cat "$WORK/out")" = "$key_online" ] || fail "[$step] offline key '$(cat "$WORK/out")' != '$key_online'"

step="audit verify (daemon stopped)"
expect 0 C audit verify --trusted "$WORK/trusted"
out_has "^ok: [0-9]+ entries, [0-9]+ tiles, checkpoint size [0-9]+ verified \(consistent with trusted size $((base + 6))\)$"
expect 0 env -u HOME -u XDG_STATE_HOME "$BIN/custody" --state "$STATE" audit verify --no-update
out_has "^ok: "
expect 2 env -u HOME -u XDG_STATE_HOME "$BIN/custody" --state "$STATE" audit verify
err_has "--trusted"

step="audit verify (one byte flipped)"
cp -a "$STATE/ledger" "$WORK/ledger-copy"
expect 0 C audit verify --ledger "$WORK/ledger-copy" --trusted "$WORK/trusted" --no-update
size=$(sed -n 2p "$WORK/ledger-copy/checkpoint")
[ "$size" -gt 0 ] && [ "$size" -lt 256 ] || fail "[$step] unexpected checkpoint size '$size'"
bundle="$WORK/ledger-copy/tile/entries/000.p/$size"
[ -f "$bundle" ] || fail "[$step] no entry bundle $bundle: $(find "$WORK/ledger-copy/tile" -type f)"
python3 - "$bundle" <<'EOF' || fail "[$step] cannot flip a byte"
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[len(b) // 2] ^= 0x01
open(p, 'wb').write(bytes(b))
EOF
cp "$WORK/trusted" "$WORK/trusted.before"
expect 1 C audit verify --ledger "$WORK/ledger-copy" --trusted "$WORK/trusted"
out_has "^FAIL: .*(tile|entr)"
cmp -s "$WORK/trusted" "$WORK/trusted.before" || fail "[$step] a failed verify changed the trusted checkpoint"
expect 1 C audit verify --ledger "$WORK/ledger-copy" --trusted "$WORK/trusted" --json
py "j['ok'] is False and j['code'] == 'corrupt' and j['first_bad_entry'] is not None and j['problem']"
expect 0 C audit verify --trusted "$WORK/trusted" # the original is untouched

echo "test_audit_cli.sh: ok"
