#!/usr/bin/env python3
"""audit_tool.py — helpers for the audit integration tests (stdlib only).

  load SOCK N [PREFIX]        N requests over one keep-alive connection (reads,
                              404s, writes); prints "index status" per answer
  mirror SOCK OUTDIR          downloads /audit/checkpoint and every tile the
                              checkpoint needs from the read-only mirror
                              (a tlog-tiles client, as an auditor would run)
  entry DIR INDEX OUT         extracts entry INDEX from DIR's entry bundles
"""
import http.client
import json
import os
import socket
import sys


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)


def get(conn, method, url, body=None):
    conn.request(method, url, body=body)
    r = conn.getresponse()
    data = r.read()
    return r.status, r.getheader("x-custody-audit-index"), data


def resources_at(sock, lo, hi):
    """{index: resource_id} of the events [lo, hi), read in pages of 1000
    from /v1/audit/entries (which publishes a checkpoint for durable events
    first). Raises on an error answer."""
    c = UnixConn(sock)
    out = {}
    at = lo
    while at < hi:
        st, _, data = get(c, "GET", "/v1/audit/entries?from=%d&limit=1000" % at)
        doc = json.loads(data)
        if st != 200:
            raise RuntimeError("entries: %s" % doc)
        for e in doc["entries"]:
            out[e["index"]] = e["event"].get("resource_id")
        if doc["next"] <= at:
            break
        at = doc["next"]
    return out


def missing_acks(sock, acked):
    """[(index, resource logged, resource acknowledged)] for every
    acknowledged request whose event is not at its index."""
    if not acked:
        return []
    got = resources_at(sock, min(acked), max(acked) + 1)
    return [(i, got.get(i), res) for i, res in sorted(acked.items()) if got.get(i) != res]


def tile_path(level, index, width):
    groups = []
    n = index
    while True:
        groups.append(n % 1000)
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    parts = ["x%03d" % g for g in groups[:-1]] + ["%03d" % groups[-1]]
    p = "tile/%s/%s" % ("entries" if level < 0 else str(level), "/".join(parts))
    if width < 256:
        p += ".p/%d" % width
    return p


def needed_tiles(size):
    out = []
    for level in [-1] + list(range(0, 8)):
        count = size >> (8 * max(level, 0))
        if count == 0:
            break
        for t in range(count // 256):
            out.append(tile_path(level, t, 256))
        if count % 256:
            out.append(tile_path(level, count // 256, count % 256))
    return out


def cmd_load(sock, n, prefix="load"):
    c = UnixConn(sock)
    for i in range(n):
        k = i % 4
        if k == 0:
            st, idx, _ = get(c, "GET", "/v1/fs/demo/hello.txt")
        elif k == 1:
            st, idx, _ = get(c, "GET", "/v1/fs/demo/missing-%s-%d" % (prefix, i))
        elif k == 2:
            st, idx, _ = get(c, "PUT", "/v1/fs/demo/%s-%d.txt" % (prefix, i), body=b"x%d" % i)
        else:
            st, idx, _ = get(c, "GET", "/v1/fs/demo/")
        print(idx, st)


def cmd_mirror(sock, out):
    c = UnixConn(sock)
    st, _, cp = get(c, "GET", "/audit/checkpoint")
    assert st == 200, st
    size = int(cp.split(b"\n")[1])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "checkpoint"), "wb") as f:
        f.write(cp)
    for p in needed_tiles(size):
        st, _, data = get(c, "GET", "/audit/" + p)
        if st != 200:
            sys.exit("mirror: GET /audit/%s: %d" % (p, st))
        dst = os.path.join(out, p)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
    print(size)


def cmd_entry(d, index, out):
    cp = open(os.path.join(d, "checkpoint"), "rb").read()
    size = int(cp.split(b"\n")[1])
    t = index // 256
    width = 256 if (t + 1) * 256 <= size else size % 256
    data = open(os.path.join(d, tile_path(-1, t, width)), "rb").read()
    off = 0
    for _ in range(index % 256):
        off += 2 + int.from_bytes(data[off:off + 2], "big")
    n = int.from_bytes(data[off:off + 2], "big")
    with open(out, "wb") as f:
        f.write(data[off + 2:off + 2 + n])


if __name__ == "__main__":
    a = sys.argv[1:]
    if a[0] == "load":
        cmd_load(a[1], int(a[2]), *(a[3:4]))
    elif a[0] == "mirror":
        cmd_mirror(a[1], a[2])
    elif a[0] == "entry":
        cmd_entry(a[1], int(a[2]), a[3])
    else:
        sys.exit(__doc__)
