#!/usr/bin/env bash
# The secured data plane end to end: tokens minted after policy decisions,
# every request decided (token, then policy), pymacaroons narrowing honoured,
# revocation at the next request, policy reloads as signed audit events.
source "$(dirname "$0")/lib.sh"
find_pymacaroons
init_state
start_daemon
"$PY" "$SRC/tests/integration/authz_flow.py" "$STATE" "$WORK" || fail "authz_flow.py"

# An agent over TLS: the session proof is bound to each connection by the
# RFC 9266 tls-exporter (OpenSSL's, in secured_bench), then token + policy
# per request; the same over the Unix socket.
export CUSTODY_STATE=$STATE
"$BIN/custody" agent add tester --key-out "$WORK/tester.pem" >/dev/null || fail "agent add"
cat >"$STATE/policy/tester.cedar" <<'EOF'
@id("tester-reads-demo")
permit (principal == Agent::"tester", action in Action::"readonly", resource in Root::"demo");
EOF
"$BIN/custody" policy reload >/dev/null || fail "policy reload"
port=$(sed -n 's|.*listening on https://127.0.0.1:\([0-9]*\)$|\1|p' "$WORK/daemon.log" | tail -1)
[ -n "$port" ] || fail "no TLS listener in the log (it is on by default)"
echo /v1/fs/demo/hello.txt >"$WORK/paths.txt"
for where in "--tls 127.0.0.1:$port" "--socket $STATE/custodyd.sock"; do
  # shellcheck disable=SC2086
  out=$("$BIN/secured_bench" $where --paths "$WORK/paths.txt" --conns 2 --seconds 0.5 \
        --agent tester --key "$WORK/tester.pem" --mint demo:/ 2>&1) || fail "secured_bench $where: $out"
  echo "$out" | grep -q "errors 0$" || fail "secured_bench $where: $out"
  echo "$out" | grep -qE "requests [1-9][0-9]* " || fail "secured_bench $where made no request: $out"
done
# a TLS client without a session proof gets 401 on the data plane
code=$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/v1/fs/demo/hello.txt")
[ "$code" = 401 ] || fail "unauthenticated TLS read: $code"
echo "test_authz: ok"
