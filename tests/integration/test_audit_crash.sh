#!/usr/bin/env bash
# test_audit_crash.sh — the ledger survives kill -9 at any instant: 200
# kills under concurrent load (CRASH_ITERATIONS to change), each followed by
# a restart, a check by Go's x/mod of the whole ledger directory, and a check
# that every acknowledged request's event is present. See audit_crash.py.
source "$(dirname "$0")/lib.sh"
GOV=$WORK/goverify
GOCACHE=$WORK/gocache bash "$SRC/tests/interop/goverify/build.sh" "$GOV" >/dev/null ||
  fail "cannot build the Go verifier"
init_state
python3 "$SRC/tests/integration/audit_crash.py" "$BIN" "$STATE" "$GOV" "${CRASH_ITERATIONS:-200}" ||
  fail "crash test"
