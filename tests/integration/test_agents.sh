#!/usr/bin/env bash
# Agents over the API: enrolment, per-connection session proofs (signed by
# the openssl CLI), replay, quarantine, revocation, operator-only admin, and
# the audit events of all of it.
source "$(dirname "$0")/lib.sh"
init_state
start_daemon
python3 "$SRC/tests/integration/agents_session.py" "$STATE" "$WORK" || fail "agents_session.py"
# the identity store survives a restart
stop_daemon
start_daemon
n=$(curl -sf --unix-socket "$STATE/custodyd.sock" http://localhost/v1/agents | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["agents"]))')
[ "$n" = 0 ] || fail "agents after restart: $n"
[ "$(stat -c %a "$STATE/authz")" = 700 ] || fail "authz dir mode"
echo "test_agents: ok"
