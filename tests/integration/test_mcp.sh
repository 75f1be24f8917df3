#!/usr/bin/env bash
# `custody mcp` as a drop-in for the reference MCP filesystem server
# (@modelcontextprotocol/server-filesystem, tests/mcp/package.json).
#
# tests/mcp/compare.mjs records the same scenario (every tool, success and
# error cases, roots, raw protocol checks) against the reference and against
# `custody --state STATE mcp FIX`, each on a freshly made identical fixture,
# and diffs the two transcripts (documented normalisations only; the
# 2026-07-28 checks are custody-only expectations). Then: custody mcp started
# custodyd itself, its tool calls are in the audit ledger, and an agent whose
# policy forbids writes gets an isError answer naming that policy.
#
#   cd build && ctest -R mcp --output-on-failure
#   MCP_CUSTODY=reference bash tests/integration/test_mcp.sh   # self-test of the harness:
#       the reference stands in for custody (custody-only and ledger checks skipped)
#   MCP_KEEP=DIR: copy the transcripts and the diff report to DIR
#
# Needs node and tests/mcp/node_modules (scripts/install-deps.sh: `make deps`).
source "$(dirname "$0")/lib.sh"
MCP=$SRC/tests/mcp
REF_JS=$MCP/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js
command -v node >/dev/null || fail "node is missing: run scripts/install-deps.sh (make deps)"
if [ ! -f "$REF_JS" ] || [ ! -d "$MCP/node_modules/@modelcontextprotocol/sdk" ]; then
  fail "tests/mcp/node_modules is missing: run scripts/install-deps.sh (make deps), or npm ci in tests/mcp"
fi
MODE=${MCP_CUSTODY:-custody}
case $MODE in custody | reference) ;; *) fail "MCP_CUSTODY must be custody or reference, not $MODE" ;; esac
umask 022

FIX=$WORK/fix
OUTSIDE=$WORK/outside
# The fixture of tests/mcp/compare.mjs (its header lists it). Made afresh
# before each recording: the scenario writes, edits and moves files.
make_fixture() {
  rm -rf "$FIX" "$OUTSIDE" "$FIX-sibling"
  mkdir -p "$FIX/docs/deep" "$FIX/src" "$FIX/sizes/sub" "$OUTSIDE" "$FIX-sibling"
  printf 'line 1\nline 2\nline 3\nline 4\nline 5\n' >"$FIX/notes.txt"
  printf 'a\r\nb\r\nc\r\n' >"$FIX/crlf.txt"
  printf 'h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93\n' >"$FIX/unicode.txt"
  : >"$FIX/empty.txt"
  printf '\x00\xff\xfe\x80A\n\xc3\x28' >"$FIX/binary.bin"
  base64 -d >"$FIX/image.png" <<<'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='
  printf 'ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb\x90\x00' >"$FIX/sound.mp3"
  printf 'xyz\x00\x01\x02' >"$FIX/data.xyz"
  printf 'function f() {\n    let x = 1;\n    return x;\n}\n// ``` a fence inside the file\n' >"$FIX/edit.txt"
  printf 'private\n' >"$FIX/private.txt"
  printf 'to be moved\n' >"$FIX/move_src.txt"
  printf 'a\n' >"$FIX/exists_a.txt"
  printf 'b\n' >"$FIX/exists_b.txt"
  printf '# Zeta\n' >"$FIX/Zeta.md"
  printf '# Readme\n\nSome docs.\n' >"$FIX/docs/readme.md"
  printf '# Guide\n' >"$FIX/docs/guide.md"
  printf '# Nested\n' >"$FIX/docs/deep/nested.md"
  printf 'more\n' >"$FIX/docs/deep/more.txt"
  printf 'int main(void) { return 0; }\n' >"$FIX/src/main.c"
  printf 'util\n' >"$FIX/src/util.txt"
  : >"$FIX/sizes/zero.txt"
  printf 'x' >"$FIX/sizes/tiny.txt"
  head -c 1500 /dev/zero | tr '\0' m >"$FIX/sizes/mid.txt"
  head -c 70000 /dev/zero | tr '\0' b >"$FIX/sizes/big.txt"
  head -c 2500000 /dev/zero | tr '\0' h >"$FIX/sizes/huge.txt"
  printf 'outside secret\n' >"$OUTSIDE/secret.txt"
  printf 'sibling\n' >"$FIX-sibling/x.txt"
  ln -s notes.txt "$FIX/link_in.txt"
  ln -s more.txt "$FIX/docs/deep/link_more.txt"
  ln -s "$OUTSIDE/secret.txt" "$FIX/link_out.txt"
  find "$FIX" "$OUTSIDE" -type d -exec chmod 755 {} +
  find "$FIX" "$OUTSIDE" -type f -exec chmod 644 {} +
  chmod 600 "$FIX/private.txt"
  # the same times in both runs (get_file_info's are normalised anyway)
  find "$FIX" "$OUTSIDE" -exec touch -h -d '2026-01-02 03:04:05' {} +
}

# custody mcp starts custodyd when none runs; stop the one it started (it
# writes STATE/custodyd.pid; else any custodyd whose command line names STATE).
autostarted_pids() {
  local p pids=""
  if [ -f "$STATE/custodyd.pid" ]; then pids=$(cat "$STATE/custodyd.pid" 2>/dev/null || true); fi
  for p in $pids $(pgrep -f -- "$STATE" 2>/dev/null || true); do
    [ "$(basename "$(readlink "/proc/$p/exe" 2>/dev/null)")" = custodyd ] && echo "$p"
  done | sort -u
}
stop_autostarted() {
  local p
  for p in $(autostarted_pids); do
    [ "$p" = "$DAEMON_PID" ] && continue
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
}
trap 'stop_autostarted; cleanup' EXIT

# State: root `work` = FIX, an agent `reader` that may read but not write it.
init_state
make_fixture
start_daemon
"$BIN/custody" --state "$STATE" root add work "$FIX" >/dev/null || fail "root add work"
"$BIN/custody" --state "$STATE" agent add reader >/dev/null || fail "agent add reader"
cat >"$STATE/policy/reader.cedar" <<'EOF'
@id("reader-reads-work")
permit (principal == Agent::"reader", action in Action::"readonly", resource in Root::"work");

@id("reader-no-writes")
forbid (
    principal == Agent::"reader",
    action in [Action::"write", Action::"mkdir", Action::"move", Action::"delete", Action::"rollback"],
    resource in Root::"work"
);
EOF
"$BIN/custody" --state "$STATE" policy reload >/dev/null || fail "policy reload"
ev0=$(curl -sf --unix-socket "$STATE/custodyd.sock" http://localhost/v1/audit/status |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])') || fail "audit status"
stop_daemon || fail "custodyd did not stop cleanly"
[ -z "$(autostarted_pids)" ] || fail "a custodyd still runs on $STATE"

REF_CMD=(node "$REF_JS" "$FIX")
if [ "$MODE" = custody ]; then
  CUS_CMD=("$BIN/custody" --state "$STATE" mcp "$FIX")
  AGENT_CMD=("$BIN/custody" --state "$STATE" --agent reader mcp "$FIX")
else
  echo "test_mcp: MCP_CUSTODY=reference: the reference stands in for custody (harness self-test)"
  CUS_CMD=("${REF_CMD[@]}")
fi
# ctest gives the test 300 s: each recording stops sending after 150 s
export COMPARE_BUDGET_S=${COMPARE_BUDGET_S:-150}
compare() { node "$MCP/compare.mjs" "$@"; }
# custody mcp's custodyd logs to STATE/custodyd.log (docs/mcp.md)
fail_mcp() {
  if [ -f "$STATE/custodyd.log" ]; then
    echo "--- $STATE/custodyd.log (last lines)" >&2
    tail -20 "$STATE/custodyd.log" >&2
  fi
  fail "$@"
}

compare record "$WORK/reference.json" -- "${REF_CMD[@]}" || fail "recording the reference failed"
make_fixture
compare record "$WORK/custody.json" -- "${CUS_CMD[@]}" || fail "recording custody failed"
rc=0
compare diff "$WORK/reference.json" "$WORK/custody.json" >"$WORK/diff.txt" || rc=$?
if [ -n "${MCP_KEEP:-}" ]; then
  mkdir -p "$MCP_KEEP" && cp "$WORK/reference.json" "$WORK/custody.json" "$WORK/diff.txt" "$MCP_KEEP/"
fi
if [ "$MODE" = reference ]; then
  # the reference answers the 2026-07-28 checks its own way: only the compared part counts
  sed -n '/^custody-only expectations/q;p' "$WORK/diff.txt"
  grep -q '^compared [0-9]* exchanges: [0-9]* the same, 0 different$' "$WORK/diff.txt" ||
    fail "the reference differs from itself: the scenario is not deterministic"
  echo "test_mcp: ok (harness self-test against the reference only)"
  exit 0
fi
cat "$WORK/diff.txt"
[ $rc -eq 0 ] || fail_mcp "custody mcp differs from the reference server (report above)"

# the custody run's fixture: the refused write through link_out.txt changed
# nothing, and the write through docs/deep/link_more.txt kept the link
[ -L "$FIX/link_out.txt" ] && [ "$(readlink "$FIX/link_out.txt")" = "$OUTSIDE/secret.txt" ] ||
  fail "write_file replaced the escaping link $FIX/link_out.txt"
[ "$(cat "$OUTSIDE/secret.txt")" = "outside secret" ] || fail "write_file changed $OUTSIDE/secret.txt"
[ -L "$FIX/docs/deep/link_more.txt" ] && [ "$(readlink "$FIX/docs/deep/link_more.txt")" = more.txt ] ||
  fail "write_file replaced the link $FIX/docs/deep/link_more.txt"

# custody mcp started custodyd itself (and may have left it running, like gpg-agent)
if [ -z "$(autostarted_pids)" ]; then
  start_daemon # custody mcp stopped the one it started: the ledger is read through a daemon
fi
ev=$(curl -sf --unix-socket "$STATE/custodyd.sock" http://localhost/v1/audit/status |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])') || fail_mcp "custodyd is not answering after custody mcp"
[ "$ev" -gt $((ev0 + 50)) ] ||
  fail_mcp "$((ev - ev0)) audit events from the custody run: did custody mcp start custodyd and go through it?"

# an agent whose policy forbids writes: reads work, writes are refused naming the policy
out=$(compare call read_text_file "{\"path\":\"$FIX/notes.txt\"}" -- "${AGENT_CMD[@]}") || fail_mcp "agent read: $out"
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); assert not r.get("isError") and r["content"][0]["text"].startswith("line 1"), r' "$out" ||
  fail_mcp "agent reader could not read notes.txt: $out"
out=$(compare call write_file "{\"path\":\"$FIX/agent.txt\",\"content\":\"x\"}" -- "${AGENT_CMD[@]}") || fail_mcp "agent write: $out"
python3 -c 'import json,sys; r=json.loads(sys.argv[1]); t=r["content"][0]["text"]; assert r.get("isError") is True and "reader-no-writes" in t, r' "$out" ||
  fail_mcp "the refused write does not name the policy reader-no-writes: $out"
[ ! -e "$FIX/agent.txt" ] || fail "the refused write created $FIX/agent.txt"

# the ledger: events appear once under a signed checkpoint (every 500 ms)
search() { # FILTERS...: prints the matching events as JSON (none: {"results": []})
  local out
  for _ in $(seq 40); do
    out=$("$BIN/custody" --state "$STATE" audit search --json --limit 10000 "$@") ||
      { echo "audit search $* failed" >&2; break; }
    if python3 -c 'import json,sys; sys.exit(0 if json.loads(sys.argv[1])["results"] else 1)' "$out"; then
      echo "$out"
      return 0
    fi
    sleep 0.25
  done
  echo '{"results": []}'
}
has() { # JSON PYTHON-PREDICATE-ON-e: some event matches
  python3 -c 'import json,sys
ok = any(eval(sys.argv[2], {}, {"e": r["event"]}) for r in json.loads(sys.argv[1])["results"])
sys.exit(0 if ok else 1)' "$1" "$2"
}
j=$(search --resource work:/notes.txt --action read)
has "$j" 'e["decision"] == "allow"' || fail_mcp "no allowed read of work:/notes.txt in the ledger: $j"
j=$(search --resource work:/new.txt --action write)
has "$j" 'e["decision"] == "allow"' || fail_mcp "no write of work:/new.txt in the ledger: $j"
j=$(search --resource work:/notes.txt --action read --agent reader)
has "$j" 'e["decision"] == "allow"' || fail_mcp "the agent's read is not in the ledger: $j"
j=$(search --agent reader --decision deny)
has "$j" '"reader-no-writes" in e.get("policy_ids", []) and e.get("resource_id") == "work:/agent.txt"' ||
  fail_mcp "the agent's refused write is not in the ledger with policy reader-no-writes: $j"
echo "test_mcp: ok"
