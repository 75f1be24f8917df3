#!/usr/bin/env bash
# The secured data plane end to end: tokens minted after policy decisions,
# every request decided (token, then policy), pymacaroons narrowing honoured,
# revocation at the next request, policy reloads as signed audit events.
source "$(dirname "$0")/lib.sh"
PY=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import pymacaroons' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || fail "python3-pymacaroons is needed (scripts/deps.txt)"
init_state
start_daemon
"$PY" "$SRC/tests/integration/authz_flow.py" "$STATE" "$WORK" || fail "authz_flow.py"
echo "test_authz: ok"
