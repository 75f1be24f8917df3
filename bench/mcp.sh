#!/usr/bin/env bash
# bench/mcp.sh — `custody mcp` against the reference MCP filesystem server
# (@modelcontextprotocol/server-filesystem, tests/mcp/package.json): MCP tool
# calls per second and p50/p99 latency for read_text_file, write_file,
# list_directory and search_files on the same files, both servers driven by
# the official SDK client in the same run (bench/mcp.mjs: one client each,
# closed loop). Prints custody/reference against the bar (>= 5x).
#
# custody mcp runs as an enrolled agent (session proof, a capability token per
# call's action and resource, a Cedar decision) and custodyd keeps its
# default audit: every call is a durable, signed ledger event before its
# answer. A benchmark, not a test: exits 0 when a ratio misses its bar; non-zero
# only when it cannot run (or a call fails).
#
#   bench/mcp.sh                     # needs build/bin and tests/mcp/node_modules (make deps)
#   BENCH_CALLS=N (default 2000)     calls per tool and server
#   BENCH_SECONDS=S                  seconds per tool and server instead of a number of calls
#   BENCH_ONLY=REGEX                 tools whose name matches (e.g. 'read|write')
#   BENCH_MCP_OPERATOR=1             custody mcp as the operator (no agent, no tokens)
#   BENCH_MCP_CUSTODY=reference      the reference on both sides (a self-test of the driver)
#   BENCH_MCP_CUSTODY=instant        bench/mcp-instant.mjs in custody's place: a server that
#                                    answers at once, i.e. the ceiling the SDK client allows
#   BENCH_KEEP=1                     keep the temporary directory (custodyd.log, data)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${BENCH_BIN:-$repo/build/bin}
REF_JS=$repo/tests/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js
for t in node curl python3; do
  command -v $t >/dev/null || { echo "mcp bench: $t missing (make deps)" >&2; exit 1; }
done
[ -f "$REF_JS" ] || { echo "mcp bench: tests/mcp/node_modules missing (make deps)" >&2; exit 1; }
if [ ! -x "$BIN/custody" ] || [ ! -x "$BIN/custodyd" ]; then echo "mcp bench: build first (make)" >&2; exit 1; fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/custody-mcp-bench.XXXXXX")
DPID=""
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  if [ -n "$DPID" ]; then
    kill -TERM "$DPID" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DPID" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "mcp bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# The data: 100 files of 4 KiB (read, listed), a tree of 10 x 20 files
# (searched), and a directory for the writes.
DATA=$WORK/data
mkdir -p "$DATA/small" "$DATA/w"
head -c 4096 /dev/urandom | base64 -w 64 | head -c 4095 >"$WORK/4k"
echo >>"$WORK/4k"
for i in $(seq 0 99); do cp "$WORK/4k" "$DATA/small/f$(printf %03d "$i").txt"; done
for d in $(seq 0 9); do
  mkdir -p "$DATA/tree/d$d"
  for f in $(seq 0 9); do
    echo "# $d $f" >"$DATA/tree/d$d/n$f.md"
    echo "$d $f" >"$DATA/tree/d$d/n$f.txt"
  done
done

# custodyd: root `bench` = DATA, an agent `bench` that may read and write it
STATE=$WORK/state
"$BIN/custody" init --state "$STATE" >/dev/null
sed -i -E 's/^([[:space:]]+port:) 8443$/\1 0/; s/^([[:space:]]+level:) info$/\1 warn/' "$STATE/config.yaml"
"$BIN/custodyd" --state "$STATE" >>"$WORK/custodyd.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do
  curl -sf --unix-socket "$STATE/custodyd.sock" http://localhost/v1/health >/dev/null 2>&1 && break
  kill -0 "$DPID" 2>/dev/null || { echo "mcp bench: custodyd exited at start" >&2; tail "$WORK/custodyd.log" >&2; exit 1; }
  sleep 0.05
done
export CUSTODY_STATE=$STATE
"$BIN/custody" root add bench "$DATA" >/dev/null
"$BIN/custody" agent add bench >/dev/null
cat >"$STATE/policy/bench.cedar" <<'EOF'
@id("bench-agent-reads-and-writes-bench")
permit (principal == Agent::"bench", action in Action::"readwrite", resource in Root::"bench");
EOF
"$BIN/custody" policy reload >/dev/null

REF=(node "$REF_JS" "$DATA")
if [ "${BENCH_MCP_CUSTODY:-custody}" = reference ]; then
  echo "mcp bench: BENCH_MCP_CUSTODY=reference: the reference on both sides (driver self-test)"
  CUS=("${REF[@]}")
elif [ "${BENCH_MCP_CUSTODY:-custody}" = instant ]; then
  echo "mcp bench: BENCH_MCP_CUSTODY=instant: a server that answers at once (the client's ceiling)"
  CUS=(node "$here/mcp-instant.mjs")
elif [ "${BENCH_MCP_OPERATOR:-0}" = 1 ]; then
  echo "mcp bench: custody mcp as the operator"
  CUS=("$BIN/custody" --state "$STATE" mcp "$DATA")
else
  echo "mcp bench: custody mcp as agent bench (token + policy per call)"
  CUS=("$BIN/custody" --state "$STATE" --agent bench mcp "$DATA")
fi
args=(--dir "$DATA")
[ -z "${BENCH_CALLS:-}" ] || args+=(--calls "$BENCH_CALLS")
[ -z "${BENCH_SECONDS:-}" ] || args+=(--seconds "$BENCH_SECONDS")
[ -z "${BENCH_ONLY:-}" ] || args+=(--only "$BENCH_ONLY")
rc=0
node "$here/mcp.mjs" "${args[@]}" --reference "${REF[@]}" --custody "${CUS[@]}" || rc=$?
ev=$(curl -sf --unix-socket "$STATE/custodyd.sock" http://localhost/v1/audit/status |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])' || echo "?")
echo "custodyd recorded $ev audit events (every call decided and durable before its answer)"
exit $rc
