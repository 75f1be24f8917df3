#!/usr/bin/env bash
# test_model_python.sh — the Python binding (bindings/python/custody) with
# Debian's python3 and numpy: custody.load returns DLPack tensors numpy
# reads zero-copy with the shard's bytes (tests/python/model_binding.py has
# the list), and each load is one model.load event.
source "$(dirname "$0")/lib.sh"
PY=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || fail "python3-numpy is needed (scripts/deps.txt)"
init_state
start_daemon
C=("$BIN/custody" --state "$STATE")
D=$WORK/models
mkdir -p "$D/b"
python3 "$SRC/tests/tools/mksafetensors.py" "$D/a.safetensors" --tensors 3 --elems 1000 --seed 1
# a second shard whose tensors are named b.layer.N
python3 - "$D/b.safetensors" <<'PYEOF'
import json, struct, sys, random
h = {"b.layer.0": {"dtype": "BF16", "shape": [333], "data_offsets": [0, 666]},
     "b.layer.1": {"dtype": "U8", "shape": [3, 5], "data_offsets": [666, 681]}}
j = json.dumps(h).encode()
r = random.Random(7)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(j)) + j + r.randbytes(681))
PYEOF
"${C[@]}" model add tiny --version 1 "$D/a.safetensors" "$D/b.safetensors" >/dev/null || fail "model add"
"${C[@]}" agent add demo >/dev/null && "${C[@]}" agent add other >/dev/null || fail "agents"
before=$(events --action model.load | grep -c . || true)
LIB=$BIN/../lib/libcustody.so
# an AddressSanitizer build of libcustody needs its runtime loaded first (python is not
# instrumented: its own allocations are not leak-checked)
preload=""
if ldd "$LIB" | grep libasan >/dev/null; then # (not -q: pipefail and SIGPIPE)
  preload=$(ldd "$LIB" | awk '/libasan/ {print $3}')
  export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi
LD_PRELOAD=$preload CUSTODY_SRC=$SRC CUSTODY_LIB=$LIB "$PY" "$SRC/tests/python/model_binding.py" \
  "$STATE" "$D" >"$WORK/py.out" 2>"$WORK/py.err" || fail "binding: $(tail -20 "$WORK/py.err")"
# loads: tiny@1 x3 (load, again, Model), demo 1 (with a capability), nope (not found) 1;
# agent other is refused its capability (token.mint)
out=$(wait_events $((before + 5)) --action model.load)
n=$(echo "$out" | grep -c '"decision": "allow"' || true)
[ "$n" = 4 ] || fail "want 4 allowed model.load events, have $n"
echo "$out" | grep '"agent_id": "demo"' | grep '"token_id"' >/dev/null || fail "the agent's load had no token"
has_event '"agent_id": "other"' --action token.mint --decision deny || fail "no refusal for agent other"
grep -q '^sha256:' "$WORK/py.out" || fail "no digest printed"
echo ok
