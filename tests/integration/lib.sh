# lib.sh — shared helpers for integration tests (sourced).
# Gives: $BIN (build/bin), $SRC, a fresh $STATE, start_daemon, stop_daemon,
# set_limit KEY VALUE, fail MSG, events / wait_events / has_event (the audit
# log's search), and cleans everything up on exit.
set -euo pipefail
SRC=${CUSTODY_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${CUSTODY_BIN:-$SRC/build/bin}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/custody-it-XXXXXX")
STATE=$WORK/state
DAEMON_PID=""

# alive PID: the process runs. A detached daemon that exited is reparented to
# PID 1 and stays a zombie until PID 1 reaps it (seconds on some machines):
# kill -0 still succeeds on it, so that is not taken as alive.
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

cleanup() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do alive "$DAEMON_PID" || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  # unmount anything a test mounted under WORK
  local m
  for m in $(grep -o " $WORK[^ ]*" /proc/mounts 2>/dev/null | sort -r || true); do
    umount -l "$m" 2>/dev/null || true
  done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  if [ -f "$WORK/daemon.log" ]; then
    if grep -qE 'Sanitizer|runtime error' "$WORK/daemon.log"; then
      grep -E -A60 'ERROR: (Address|Leak)Sanitizer|runtime error' "$WORK/daemon.log" | head -80 >&2
    else
      tail -20 "$WORK/daemon.log" >&2
    fi
  fi
  exit 1
}

# Sets PY to the python3 that has Debian's pymacaroons (a python3 earlier in
# PATH, from pyenv or a venv, may not); fails the test when there is none.
find_pymacaroons() {
  local p
  for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import pymacaroons' 2>/dev/null; then PY=$p; return; fi
  done
  fail "python3-pymacaroons is needed (scripts/deps.txt)"
}

# The TCP listener is on by default: tests take any free port so that
# several daemons (ctest -j) never collide on 8443.
init_state() {
  "$BIN/custody" init --state "$STATE" >/dev/null
  sed -i -E 's/^([[:space:]]+port:) 8443$/\1 0/' "$STATE/config.yaml"
}

# set_limit KEY VALUE: edits one setting in config.yaml (fails if the key is absent)
set_limit() {
  grep -qE "^[[:space:]]+$1:" "$STATE/config.yaml" || fail "config key $1 not found"
  sed -i -E "s|^([[:space:]]+$1:).*|\1 $2|" "$STATE/config.yaml"
}

start_daemon() {
  "$BIN/custodyd" --state "$STATE" >>"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  for _ in $(seq 100); do
    curl -sf --unix-socket "$STATE/custodyd.sock" http://localhost/v1/health >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "custodyd exited at start"
    sleep 0.05
  done
  fail "custodyd did not answer /v1/health"
}

stop_daemon() {
  kill -TERM "$DAEMON_PID"
  local rc=0
  wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=""
  return $rc
}

# events ARGS...: `custody audit search --json` results, one JSON line each.
events() {
  "$BIN/custody" --state "$STATE" audit search --json --limit 10000 "$@" |
    python3 -c 'import json,sys; [print(json.dumps(e)) for e in json.load(sys.stdin)["results"]]'
}

# Events reach the search index under a signed checkpoint (every 500 ms), so
# these wait, 10 s at most. (They end pipelines with grep reading all its
# input: with pipefail, grep -q could SIGPIPE the search and fail the test.)
# wait_events N ARGS...: prints the matching events once there are N or more.
wait_events() {
  local want=$1 out
  shift
  for _ in $(seq 40); do
    out=$(events "$@")
    [ "$(echo "$out" | grep -c .)" -lt "$want" ] || break
    sleep 0.25
  done
  echo "$out"
}

# has_event PATTERN ARGS...: true once an event matching ARGS contains PATTERN.
has_event() {
  local pat=$1
  shift
  for _ in $(seq 40); do
    events "$@" | grep -e "$pat" >/dev/null && return 0
    sleep 0.25
  done
  return 1
}
