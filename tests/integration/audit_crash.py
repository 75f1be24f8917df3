#!/usr/bin/env python3
"""audit_crash.py — kill -9 custodyd at random instants under concurrent load.

Usage: audit_crash.py BIN STATE GOVERIFY ITERATIONS

Each iteration starts custodyd, runs 4 keep-alive clients (writes, reads,
refused reads), kills the daemon with SIGKILL after a random 10-200 ms, and
restarts it. After every restart:
  - the independent Go verifier accepts the ledger directory (checkpoint
    signature, entry bundles, every hash tile);
  - every request that was acknowledged (an answer with x-custody-audit-index
    arrived) has its event at that index, with the resource it touched.
"""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from audit_tool import UnixConn, resources_at  # noqa: E402

BIN, STATE, GOV, ITER = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
SOCK = os.path.join(STATE, "custodyd.sock")
LOG = open(os.path.join(os.path.dirname(STATE), "daemon.log"), "ab")


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def start():
    p = subprocess.Popen([os.path.join(BIN, "custodyd"), "--state", STATE], stdout=LOG, stderr=LOG)
    for _ in range(400):
        try:
            c = UnixConn(SOCK)
            c.request("GET", "/v1/health")
            if c.getresponse().status == 200:
                return p
        except OSError:
            pass
        if p.poll() is not None:
            fail("custodyd exited at start (rc %s); see daemon.log" % p.returncode)
        time.sleep(0.01)
    fail("custodyd did not start")


acked = {}  # index -> resource id
lock = threading.Lock()


def client(n, it, stop):
    try:
        c = UnixConn(SOCK)
        i = 0
        while not stop.is_set():
            name = "c%d-%d-%d" % (it, n, i)
            if i % 3 == 0:
                c.request("PUT", "/v1/fs/demo/crash/%s" % name, body=b"data %d" % i)
                res = "demo:/crash/%s" % name
            elif i % 3 == 1:
                c.request("GET", "/v1/fs/demo/missing/%s" % name)
                res = "demo:/missing/%s" % name
            else:
                c.request("GET", "/v1/fs/demo/hello.txt")
                res = "demo:/hello.txt"
            r = c.getresponse()
            r.read()
            idx = r.getheader("x-custody-audit-index")
            if idx is None:
                fail("answer %d without an audit index" % r.status)
            with lock:
                if int(idx) in acked:
                    fail("index %s acknowledged twice" % idx)
                acked[int(idx)] = res
            i += 1
    except (OSError, http.client.HTTPException):
        return  # the daemon died under us


def main():
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "12345")))
    os.makedirs(os.path.join(STATE, "demo", "crash"), exist_ok=True)
    vkey = None
    checked = 0
    p = start()
    for it in range(ITER):
        if vkey is None:
            c = UnixConn(SOCK)
            c.request("GET", "/v1/audit/key")
            vkey = json.loads(c.getresponse().read())["vkey"]
        stop = threading.Event()
        ts = [threading.Thread(target=client, args=(n, it, stop)) for n in range(4)]
        for t in ts:
            t.start()
        time.sleep(rnd.uniform(0.01, 0.2))
        p.send_signal(signal.SIGKILL)
        p.wait()
        stop.set()
        for t in ts:
            t.join()
        p = start()
        # the restarted log verifies with Go's x/mod
        g = subprocess.run([GOV, "tree", vkey, os.path.join(STATE, "ledger")],
                           capture_output=True, text=True)
        if g.returncode != 0:
            fail("iteration %d: Go verifier rejects the ledger: %s" % (it, g.stderr.strip()))
        c = UnixConn(SOCK)
        c.request("GET", "/v1/audit/status")
        st = json.loads(c.getresponse().read())
        size = st["checkpoint_size"]
        with lock:
            pending = {i: r for i, r in acked.items() if i >= checked}
        if pending:
            got = resources_at(SOCK, min(pending), size)
            for i, res in pending.items():
                if i >= size:
                    fail("iteration %d: acknowledged index %d beyond the log (%d)" % (it, i, size))
                if got.get(i) != res:
                    fail("iteration %d: entry %d is %r, acknowledged as %r" % (it, i, got.get(i), res))
            checked = max(pending) + 1
    p.send_signal(signal.SIGTERM)
    if p.wait() != 0:
        fail("custodyd did not stop cleanly")
    print("ok: %d kills, %d acknowledged events all present, ledger verified by Go after each"
          % (ITER, len(acked)))


main()
