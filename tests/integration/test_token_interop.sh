#!/usr/bin/env bash
# test_token_interop.sh — custody capability tokens against Debian's
# python3-pymacaroons (an independent macaroon implementation):
#   1. pymacaroons reads a custody token (V1 base64url): identifier, location
#      and caveats as custody sees them, and re-serialises the same bytes;
#   2. pymacaroons adds a narrowing caveat, re-serialises, and custody
#      honours the narrowing (the narrowed action refused, the other allowed);
#   3. the V1 JSON form: pymacaroons' JSON serializer reads custody's JSON,
#      attenuates, writes the same {location, identifier, caveats:[{cid}],
#      signature} shape, and custody verifies it and re-packs it as V1 bytes
#      identical to pymacaroons' own binary form;
#   4. pymacaroons' Verifier with the root key accepts custody's token with
#      custody's caveats as exact predicates (same HMAC chain), and refuses
#      it with another key or a predicate missing;
#   5. what pymacaroons cannot do to a custody token: widen it, alter a
#      caveat, hand it to another agent, use it after expiry or revocation.
# Tools: build/bin/tokentool (tests/tools/tokentool.c).
#
#   CUSTODY_BIN=build/bin CUSTODY_SRC=$PWD bash tests/integration/test_token_interop.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TT=$BIN/tokentool
[ -x "$TT" ] || fail "$TT is not built (set CUSTODY_BIN)"
find_pymacaroons
HELPER=$SRC/tests/integration/token_interop.py

step=""
# expect RC CMD...: stdout in $WORK/out, stderr in $WORK/err
expect() {
  local want=$1 rc=0
  shift
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "[$step] '$*' exited $rc, expected $want
  stdout: $(head -c 800 "$WORK/out")
  stderr: $(head -c 800 "$WORK/err")"
}
err_has() { grep -qF -- "$1" "$WORK/err" || fail "[$step] stderr lacks '$1': $(head -c 800 "$WORK/err")"; }
out() { cat "$WORK/out"; }

KEY=$WORK/token.key
FP=ed25519:3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29
NOW=$(date +%s)
AS=(--agent agent-7 --agent-key "$FP" --epoch 2 --now "$NOW")

# ---------------------------------------------------------------- mint
step=mint
expect 0 "$TT" mint "$KEY" --agent agent-7 --agent-key "$FP" --actions read,write \
  --resource demo:/proj/ --prefix --ttl 600 --policy policy-17 --epoch 2 --location custody/it
TOK=$(out)
[ "$(stat -c %a "$KEY")" = 600 ] || fail "[$step] key file mode is $(stat -c %a "$KEY")"
KEYHEX=$(head -c 64 "$KEY")
expect 0 "$TT" inspect "$TOK"
INSPECT=$(out)
expect 0 "$TT" verify "$KEY" "$TOK" "${AS[@]}" --action write --resource demo:/proj/a.txt

# ---------------------------------------------------------------- 1. pymacaroons reads it
step=pymacaroons-reads
expect 0 "$PY" "$HELPER" check "$TOK" "$INSPECT"

# ---------------------------------------------------------------- 2. pymacaroons narrows
step=pymacaroons-narrows
expect 0 "$PY" "$HELPER" attenuate "$TOK" "action in read"
NARROW=$(out)
[ "$NARROW" != "$TOK" ] || fail "[$step] the token did not change"
expect 0 "$TT" inspect "$NARROW"
"$PY" -c 'import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if j["caveats"][-1]=="action in read" and j["effective"]["actions"]==["read"] else 1)' "$(out)" ||
  fail "[$step] custody does not see the narrowing: $(out)"
expect 0 "$TT" verify "$KEY" "$NARROW" "${AS[@]}" --action read --resource demo:/proj/a.txt
expect 1 "$TT" verify "$KEY" "$NARROW" "${AS[@]}" --action write --resource demo:/proj/a.txt
err_has 'permission_denied: caveat "action in read" does not permit "write"'
# the original token is untouched
expect 0 "$TT" verify "$KEY" "$TOK" "${AS[@]}" --action write --resource demo:/proj/a.txt
# narrowing the resource too, two caveats at once
expect 0 "$PY" "$HELPER" attenuate "$NARROW" "resource_prefix = demo:/proj/sub/" "expires < $((NOW + 60))"
SUB=$(out)
expect 0 "$TT" verify "$KEY" "$SUB" "${AS[@]}" --action read --resource demo:/proj/sub/x
expect 1 "$TT" verify "$KEY" "$SUB" "${AS[@]}" --action read --resource demo:/proj/other
err_has 'caveat "resource_prefix = demo:/proj/sub/" does not permit "demo:/proj/other"'
expect 1 "$TT" verify "$KEY" "$SUB" --agent agent-7 --agent-key "$FP" --epoch 2 --now $((NOW + 60)) \
  --action read --resource demo:/proj/sub/x
err_has "token_expired: caveat \"expires < $((NOW + 60))\" has passed"

# ---------------------------------------------------------------- 3. the JSON form
step=json-form
expect 0 "$TT" to-json "$TOK"
JS=$(out)
expect 0 "$PY" "$HELPER" attenuate-json "$JS" "action in read"
PYJS=$(out)
[ "${PYJS:0:1}" = "{" ] || fail "[$step] not JSON: $PYJS"
expect 0 "$TT" verify "$KEY" "$PYJS" "${AS[@]}" --action read --resource demo:/proj/a.txt
expect 1 "$TT" verify "$KEY" "$PYJS" "${AS[@]}" --action write --resource demo:/proj/a.txt
err_has 'caveat "action in read" does not permit "write"'
# custody's JSON -> V1 re-pack equals pymacaroons' own V1 bytes of the same macaroon
expect 0 "$TT" from-json "$PYJS"
REPACK=$(out)
expect 0 "$PY" "$HELPER" binary "$PYJS"
[ "$(out)" = "$REPACK" ] || fail "[$step] V1 re-pack differs from pymacaroons: $REPACK vs $(out)"
[ "$REPACK" = "$NARROW" ] || fail "[$step] JSON path and V1 path disagree"
# custody attenuates JSON and answers JSON, which pymacaroons reads back
expect 0 "$TT" attenuate "$JS" "action in read"
[ "$(head -c 1 "$WORK/out")" = "{" ] || fail "[$step] attenuated JSON is not JSON"
expect 0 "$PY" "$HELPER" attenuate-json "$(out)"

# ---------------------------------------------------------------- 4. pymacaroons' verifier
step=pymacaroons-verifier
mapfile -t CAVS < <("$PY" -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])["caveats"]))' "$INSPECT")
[ "${#CAVS[@]}" -eq 8 ] || fail "[$step] expected 8 caveats, got ${#CAVS[@]}"
expect 0 "$PY" "$HELPER" verify "$KEYHEX" "$TOK" "${CAVS[@]}"
expect 0 "$PY" "$HELPER" verify "$KEYHEX" "$NARROW" "${CAVS[@]}" "action in read"
expect 1 "$PY" "$HELPER" verify "$KEYHEX" "$NARROW" "${CAVS[@]}"   # "action in read" unknown to it
expect 1 "$PY" "$HELPER" verify "$(printf '%064d' 0)" "$TOK" "${CAVS[@]}"
err_has "Signature"

# ---------------------------------------------------------------- 5. what cannot be done
step=cannot-widen
# widening by adding a broader caveat changes nothing
expect 0 "$PY" "$HELPER" attenuate "$NARROW" "action in read,write,delete"
WIDE=$(out)
expect 1 "$TT" verify "$KEY" "$WIDE" "${AS[@]}" --action write --resource demo:/proj/a.txt
err_has 'caveat "action in read" does not permit "write"'
expect 1 "$TT" verify "$KEY" "$WIDE" "${AS[@]}" --action delete --resource demo:/proj/a.txt
# custody's own attenuate refuses the attempt outright
expect 1 "$TT" attenuate "$NARROW" "action in read,write,delete"
err_has "would widen the token: it allows only read"
step=tamper
expect 0 "$PY" "$HELPER" tamper "$NARROW" "action in read" "action in read,write"
expect 1 "$TT" verify "$KEY" "$(out)" "${AS[@]}" --action write --resource demo:/proj/a.txt
err_has "invalid_token: the token's signature does not verify"
expect 0 "$PY" "$HELPER" tamper "$TOK" "agent = agent-7" "agent = agent-8"
expect 1 "$TT" verify "$KEY" "$(out)" --agent agent-8 --agent-key "$FP" --epoch 2 \
  --action read --resource demo:/proj/a.txt
err_has "invalid_token"
step=other-agent
expect 1 "$TT" verify "$KEY" "$NARROW" --agent agent-8 --agent-key "$FP" --epoch 2 \
  --action read --resource demo:/proj/a.txt
err_has 'caveat "agent = agent-7" does not permit agent "agent-8"'
step=revoked
ID=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$INSPECT")
expect 1 "$TT" verify "$KEY" "$NARROW" "${AS[@]}" --action read --resource demo:/proj/a.txt --revoked "$ID"
err_has "revoked: token $ID is revoked"
expect 1 "$TT" verify "$KEY" "$NARROW" --agent agent-7 --agent-key "$FP" --epoch 3 \
  --action read --resource demo:/proj/a.txt
err_has "the agent's epoch is now 3"
step=unknown-caveat
expect 0 "$PY" "$HELPER" attenuate "$TOK" "time < 99999999999"
expect 1 "$TT" verify "$KEY" "$(out)" "${AS[@]}" --action read --resource demo:/proj/a.txt
err_has 'unknown caveat "time < 99999999999"'
step=bad-input
expect 1 "$TT" verify "$KEY" "${TOK:0:40}" "${AS[@]}" --action read --resource demo:/proj/a.txt
err_has "invalid_token"
expect 1 "$TT" verify "$KEY" "$(head -c 20000 /dev/zero | tr '\0' A)" "${AS[@]}" --action read \
  --resource demo:/proj/a.txt
err_has "payload_too_large"

echo "test_token_interop: ok"
