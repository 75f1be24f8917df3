#!/usr/bin/env bash
# test_audit_diskfull.sh — fail closed when the audit log's disk is full,
# recover by itself when space returns (no restart), lose nothing.
#
# The ledger directory is a small tmpfs (in a private mount namespace, so
# nothing leaks out of this test). Under load it fills up: requests must then
# be refused with 503 audit_unavailable, /v1/health must say so, a write must
# not happen, and every request answered before must have its event. After
# the tmpfs grows, the same daemon serves again and the log verifies.
if [ -z "${CUSTODY_IN_NS:-}" ]; then
  if ! unshare -m true 2>/dev/null; then echo "skipped: needs unshare -m (root)"; exit 0; fi
  CUSTODY_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
GOV=$WORK/goverify
GOCACHE=$WORK/gocache bash "$SRC/tests/interop/goverify/build.sh" "$GOV" >/dev/null ||
  fail "cannot build the Go verifier"
init_state
mkdir -p "$STATE/ledger"
mount -t tmpfs -o size=1m tmpfs "$STATE/ledger" || { echo "skipped: cannot mount tmpfs"; exit 0; }
start_daemon
SOCK=$STATE/custodyd.sock
SRC="$SRC" python3 - "$SOCK" "$STATE" "$GOV" <<'PY' || fail "disk-full scenario"
import json, os, subprocess, sys, time
sys.path.insert(0, os.environ["SRC"] + "/tests/integration")
from audit_tool import UnixConn, missing_acks
sock, state, gov = sys.argv[1:4]

def req(method, url, body=None):
    c = UnixConn(sock)
    c.request(method, url, body=body)
    r = c.getresponse()
    data = r.read()
    return r.status, r.getheader("x-custody-audit-index"), r.getheader("x-custody-error"), data

acked = {}
# fill the disk: 2 KiB writes each leave an event (~600 bytes) in the journal
refused = 0
pad = "p" * 1500
for i in range(20000):
    name = "f%05d-%s" % (i, pad[: 200])
    st, idx, err, _ = req("GET", "/v1/fs/demo/missing/" + name)
    if st == 503:
        if err != "audit_unavailable":
            sys.exit("503 without audit_unavailable: %s" % err)
        refused += 1
        if refused >= 5:
            break
        continue
    if idx is None:
        sys.exit("answer %d without an audit index" % st)
    acked[int(idx)] = "demo:/missing/" + name
if refused < 5:
    sys.exit("the log never filled up")
print("disk full after %d acknowledged events" % len(acked))
st, _, _, body = req("GET", "/v1/health")
if st != 503 or b"audit_failing" not in body:
    sys.exit("health does not report the failing log: %d %r" % (st, body))
# a write while the log cannot record it must not happen
st, _, err, _ = req("PUT", "/v1/fs/demo/while-full.txt", body=b"must not exist")
if st != 503 or os.path.exists(os.path.join(state, "demo", "while-full.txt")):
    sys.exit("a write went through while the log was full (%d)" % st)
# give the log room: the same daemon resumes by itself
subprocess.run(["mount", "-o", "remount,size=64m", os.path.join(state, "ledger")], check=True)
deadline = time.time() + 10
while True:
    st, idx, _, _ = req("GET", "/v1/fs/demo/hello.txt")
    if st == 200:
        break
    if time.time() > deadline:
        sys.exit("service did not resume after the disk had room again")
    time.sleep(0.1)
acked[int(idx)] = "demo:/hello.txt"
st, idx, _, _ = req("PUT", "/v1/fs/demo/after.txt", body=b"ok")
if st != 201:
    sys.exit("write after recovery: %d" % st)
acked[int(idx)] = "demo:/after.txt"
st, _, _, body = req("GET", "/v1/health")
if st != 200:
    sys.exit("health still failing after recovery")
# everything acknowledged is in the log
for i, got, want in missing_acks(sock, acked)[:1]:
    sys.exit("event %d is %r, acknowledged as %r" % (i, got, want))
print("recovered; %d acknowledged events present" % len(acked))
PY
grep -q "AUDIT LOG FAILING" "$WORK/daemon.log" || fail "the failure was not logged loudly"
grep -q "audit log recovered" "$WORK/daemon.log" || fail "the recovery was not logged"
stop_daemon || fail "custodyd did not stop cleanly"
VKEY=$(CUSTODY_STATE=$STATE "$BIN/custody" audit key --offline) || fail "audit key"
"$GOV" tree "$VKEY" "$STATE/ledger" || fail "Go rejects the ledger after the disk-full episode"
echo "ok: disk full refused requests, nothing unlogged, recovered without restart"
