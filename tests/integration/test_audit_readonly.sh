#!/usr/bin/env bash
# test_audit_readonly.sh — fail closed when the audit log's file system turns
# read-only (EROFS) or starts failing (EIO) under load, recover by itself when
# it heals (no restart), lose nothing.
#
# STATE/ledger is a real file system: faultfs (tests/tools/faultfs.c), a FUSE
# passthrough to WORK/ledger-backing whose writes fail while its control file
# says "erofs" or "eio" (a remount,ro is refused while custodyd has files open
# for writing). It runs in a private mount namespace, so nothing leaks out.
# Mid-load the file system goes bad: requests must then be refused with 503
# audit_unavailable, /v1/health must say so, a write must not happen, and
# every request answered before must have its event. After it heals, the same
# daemon serves again and the log verifies. Done once with EROFS, once with EIO.
if [ -z "${CUSTODY_IN_NS:-}" ]; then
  if [ ! -c /dev/fuse ]; then echo "skipped: needs /dev/fuse (FUSE)"; exit 0; fi
  if ! unshare -m true 2>/dev/null; then echo "skipped: needs unshare -m (root)"; exit 0; fi
  CUSTODY_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
[ -x "$BIN/faultfs" ] ||
  fail "$BIN/faultfs not built: install libfuse3-dev (bash scripts/install-deps.sh) and rebuild"
GOV=$WORK/goverify
GOCACHE=$WORK/gocache bash "$SRC/tests/interop/goverify/build.sh" "$GOV" >/dev/null ||
  fail "cannot build the Go verifier"

FAULTFS_PID=""
stop_faultfs() {
  if grep -q " $STATE/ledger fuse" /proc/mounts 2>/dev/null; then
    fusermount3 -u "$STATE/ledger" 2>/dev/null || umount -l "$STATE/ledger" 2>/dev/null || true
  fi
  if [ -n "$FAULTFS_PID" ]; then
    kill -TERM "$FAULTFS_PID" 2>/dev/null || true
    wait "$FAULTFS_PID" 2>/dev/null || true
    FAULTFS_PID=""
  fi
}
# on exit: the daemon first, then the file system under it, then lib.sh's cleanup
finish() {
  local rc=$?
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  DAEMON_PID=""
  stop_faultfs
  cleanup
  exit $rc
}
trap finish EXIT

init_state
MODE=$WORK/faultfs.mode
BACKING=$WORK/ledger-backing
echo ok >"$MODE"
mkdir -p "$BACKING" "$STATE/ledger"
cp -a "$STATE/ledger/." "$BACKING/"
FAULTFS_CONTROL=$MODE "$BIN/faultfs" "$BACKING" "$STATE/ledger" -f -s -o fsname=faultfs \
  >>"$WORK/faultfs.log" 2>&1 &
FAULTFS_PID=$!
for _ in $(seq 100); do
  grep -q " $STATE/ledger fuse" /proc/mounts && break
  kill -0 "$FAULTFS_PID" 2>/dev/null || { cat "$WORK/faultfs.log" >&2; fail "faultfs exited at start"; }
  sleep 0.05
done
grep -q " $STATE/ledger fuse" /proc/mounts || fail "faultfs did not mount $STATE/ledger"
start_daemon
SOCK=$STATE/custodyd.sock
SRC="$SRC" python3 - "$SOCK" "$STATE" "$MODE" "$DAEMON_PID" <<'PY' || fail "read-only scenario"
import json, os, sys, threading, time
sys.path.insert(0, os.environ["SRC"] + "/tests/integration")
from audit_tool import UnixConn, missing_acks
sock, state, mode_file, daemon_pid = sys.argv[1:5]

def req(method, url, body=None, conn=None):
    c = conn or UnixConn(sock)
    c.request(method, url, body=body)
    r = c.getresponse()
    data = r.read()
    return r.status, r.getheader("x-custody-audit-index"), r.getheader("x-custody-error"), data

def set_mode(m):
    tmp = mode_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(m + "\n")
    os.replace(tmp, mode_file)

acked = {}        # audit index -> resource, for every answered request
refused = set()   # resources of requests refused with 503
lock = threading.Lock()
problems = []

class Load(threading.Thread):
    """keep-alive client: reads, 404s and writes; records what was acknowledged"""
    def __init__(self, tag):
        super().__init__(daemon=True)
        self.tag, self.stop, self.refused, self.n = tag, False, 0, 0

    def run(self):
        conn = UnixConn(sock)
        i = 0
        while not self.stop:
            i += 1
            kind = i % 3
            if kind == 0:
                name = "/load-%s-%d.txt" % (self.tag, i)
                method, url, body, res = "PUT", "/v1/fs/demo" + name, b"x" * 100, "demo:" + name
            elif kind == 1:
                method, url, body, res = "GET", "/v1/fs/demo/hello.txt", None, "demo:/hello.txt"
            else:
                name = "/missing/%s-%d" % (self.tag, i)
                method, url, body, res = "GET", "/v1/fs/demo" + name, None, "demo:" + name
            try:
                st, idx, err, _ = req(method, url, body, conn)
            except Exception as e:  # the daemon may close a connection after a 503
                conn.close()
                conn = UnixConn(sock)
                continue
            if st == 503:
                if err != "audit_unavailable":
                    problems.append("503 without audit_unavailable: %s" % err)
                self.refused += 1
                with lock:
                    refused.add(res)
                time.sleep(0.002)
                continue
            if idx is None:
                problems.append("answer %d to %s %s without an audit index" % (st, method, url))
                continue
            with lock:
                if int(idx) in acked:
                    problems.append("audit index %s acknowledged twice" % idx)
                acked[int(idx)] = res
            self.n += 1
        conn.close()

def wait_for(what, cond, timeout):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.05)

def cycle(mode, then=None):
    """One fault: `mode` under load; with `then`, switch to it as soon as
    the first request is refused (fsync-eio then erofs: a journal record
    written but not flushed stays in the file, as on an ext4 that remounts
    read-only after an error; it must never reach the published log)."""
    base = len(acked)
    loads = [Load("%s%d" % (mode, k)) for k in range(4)]
    for t in loads:
        t.start()
    wait_for("load before the fault", lambda: len(acked) >= base + 300, 20)
    set_mode(mode)
    if then:
        wait_for("a refusal under %s" % mode, lambda: sum(t.refused for t in loads) >= 1, 5)
        set_mode(then)
        mode = "%s+%s" % (mode, then)
    t0 = time.time()
    wait_for("requests to be refused after %s" % mode,
             lambda: sum(t.refused for t in loads) >= 20, 5)
    refused_after = time.time() - t0
    # while failing, nothing may be acknowledged any more
    time.sleep(0.3)
    with lock:
        frozen = len(acked)
    time.sleep(0.5)
    with lock:
        if len(acked) != frozen:
            problems.append("%d requests acknowledged while the log was failing (%s)"
                            % (len(acked) - frozen, mode))
    for t in loads:
        t.stop = True
    for t in loads:
        t.join(30)
    if problems:
        sys.exit("\n".join(problems[:10]))
    print("%s: refused after %.2fs; %d acknowledged before" % (mode, refused_after, len(acked) - base))
    st, _, _, body = req("GET", "/v1/health")
    if st != 503 or b"audit_failing" not in body:
        sys.exit("health does not report the failing log: %d %r" % (st, body))
    st, _, err, _ = req("GET", "/v1/fs/demo/hello.txt")
    if st != 503 or err != "audit_unavailable":
        sys.exit("a read was not refused while failing: %d %s" % (st, err))
    # a write while the log cannot record it must not happen
    name = "while-%s.txt" % mode
    st, _, err, _ = req("PUT", "/v1/fs/demo/" + name, body=b"must not exist")
    if st != 503 or os.path.exists(os.path.join(state, "demo", name)):
        sys.exit("a write went through while the log was failing (%d)" % st)
    # heal the file system: the same daemon resumes by itself
    set_mode("ok")
    t0 = time.time()
    deadline = t0 + 10
    while True:
        st, idx, _, _ = req("GET", "/v1/fs/demo/hello.txt")
        if st == 200:
            break
        if time.time() > deadline:
            sys.exit("service did not resume after the file system healed (%s)" % mode)
        time.sleep(0.05)
    print("%s: resumed %.2fs after healing" % (mode, time.time() - t0))
    os.kill(int(daemon_pid), 0)  # still the same process
    acked[int(idx)] = "demo:/hello.txt"
    name = "after-%s.txt" % mode
    st, idx, _, _ = req("PUT", "/v1/fs/demo/" + name, body=b"ok")
    if st != 201:
        sys.exit("write after recovery: %d" % st)
    acked[int(idx)] = "demo:/" + name
    st, _, _, body = req("GET", "/v1/health")
    if st != 200:
        sys.exit("health still failing after recovery: %d %r" % (st, body))

def check_all():
    # everything acknowledged is in the log, at its index
    for i, got, want in missing_acks(sock, acked)[:1]:
        sys.exit("event %d is %r%s, but a request was acknowledged with index %d for %r"
                 % (i, got, " (a request refused with 503)" if got in refused else "", i, want))

for m, then in (("erofs", None), ("eio", None), ("fsync-eio", "erofs")):
    cycle(m, then)
    check_all()
print("recovered three times; %d acknowledged events present" % len(acked))
PY
[ "$(grep -c "AUDIT LOG FAILING" "$WORK/daemon.log")" -ge 3 ] || fail "the failures were not logged loudly"
[ "$(grep -c "audit log recovered" "$WORK/daemon.log")" -ge 3 ] || fail "the recoveries were not logged"
grep "AUDIT LOG FAILING" "$WORK/daemon.log" | head -2
stop_daemon || fail "custodyd did not stop cleanly"
VKEY=$(CUSTODY_STATE=$STATE "$BIN/custody" audit key --offline) || fail "audit key"
"$GOV" tree "$VKEY" "$STATE/ledger" || fail "Go rejects the ledger after the read-only episodes"
echo "ok: read-only and failing file system refused requests, nothing unlogged, recovered without restart"
