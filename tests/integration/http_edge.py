#!/usr/bin/env python3
"""HTTP edge cases against a running custodyd (started by test_http.sh).

usage: http_edge.py STATE_DIR TLS_PORT WORK_DIR

Each check talks to the real daemon over its Unix socket with raw bytes (or
curl for TLS and HTTP/2) and asserts on status codes, headers, bodies and on
the files left on disk. Limits in the config were lowered by test_http.sh:
header_timeout_ms 700, idle_timeout_ms 1500, max_body_bytes 1 MiB,
max_header_bytes 4096.
"""
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

STATE, PORT, WORK = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SOCK = os.path.join(STATE, "custodyd.sock")
DEMO = os.path.join(STATE, "demo")
failures = []
passed = 0


def check(name):
    def wrap(fn):
        global passed
        try:
            fn()
            passed += 1
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 - report every failure
            failures.append(name)
            print(f"FAIL {name}: {e!r}")
        return fn
    return wrap


def connect(timeout=5.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    return s


def read_response(s, head_only=False):
    """Reads one HTTP/1.1 response; returns (status, headers dict, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed, got {buf!r}")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    if head_only or status in (204, 304):
        n = 0
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("short body")
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def request(raw, head_only=False):
    s = connect()
    s.sendall(raw)
    st, h, b, _ = read_response(s, head_only)
    s.close()
    return st, h, b


def get(path, extra=""):
    return request(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())


def put(path, data, extra=""):
    return request(f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
                   .encode() + data)


def read_response_buffered(s, buf):
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        rest += s.recv(65536)
    return int(lines[0].split()[1]), headers, rest[:n], rest[n:]


def closed_after(s):
    """True when the server closed the connection (EOF)."""
    try:
        return s.recv(1) == b""
    except (ConnectionResetError, socket.timeout):
        return True


def err_code(body):
    return json.loads(body)["error"]["code"]


@check("oversized head -> 431 and close")
def _():
    s = connect()
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 5000 + b"\r\n\r\n")
    st, _, body, _ = read_response(s)
    assert st == 431 and err_code(body) == "headers_too_large", (st, body)
    assert closed_after(s)


@check("too many headers -> 431")
def _():
    hdrs = "".join(f"X-{i}: v\r\n" for i in range(150))
    st, _, body = request(f"GET /v1/health HTTP/1.1\r\nHost: x\r\n{hdrs}\r\n".encode())
    assert st == 431, st


@check("overlong URI -> 414")
def _():
    st, _, body = request(b"GET /v1/fs/demo/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert st == 414, st


@check("malformed request line -> 400 and close")
def _():
    for raw in [b"GET\r\n\r\n", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
                b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
                b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", b"GET /v1/health HTTP/1.1\r\n\r\n"]:
        s = connect()
        s.sendall(raw)
        st, _, _, _ = read_response(s)
        assert st == 400, (raw, st)
        assert closed_after(s), raw


@check("request smuggling framing refused")
def _():
    st, _, _ = request(b"PUT /v1/fs/demo/s.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert st == 400, st
    assert not os.path.exists(os.path.join(DEMO, "s.txt"))


@check("slow client head -> 408 after header_timeout")
def _():
    s = connect()
    t0 = time.time()
    s.sendall(b"GET /v1/health HTTP/1.1\r\n")
    for _ in range(3):
        time.sleep(0.15)
        s.sendall(b"X: y\r\n")
    st, _, _, _ = read_response(s)
    elapsed = time.time() - t0
    assert st == 408, st
    assert 0.6 < elapsed < 3, elapsed
    assert closed_after(s)


@check("idle keep-alive connection closed after idle_timeout")
def _():
    s = connect()
    s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    st, _, _, _ = read_response(s)
    assert st == 200
    t0 = time.time()
    assert closed_after(s)
    assert 1.0 < time.time() - t0 < 4


@check("body over max_body_bytes -> 413, nothing written")
def _():
    st, _, body = request(b"PUT /v1/fs/demo/big.txt HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Length: 2000000\r\n\r\n")
    assert st == 413 and err_code(body) == "payload_too_large", (st, body)
    # chunked bodies are counted as they arrive
    s = connect()
    s.sendall(b"PUT /v1/fs/demo/big.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 65536 + b"z" * 65536 + b"\r\n"
    try:
        for _ in range(20):
            s.sendall(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    st, _, _, _ = read_response(s)
    assert st == 413, st
    assert not os.path.exists(os.path.join(DEMO, "big.txt"))


@check("chunked upload, then malformed chunked upload leaves file intact")
def _():
    s = connect()
    s.sendall(b"PUT /v1/fs/demo/ch.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    st, h, body, _ = read_response(s)
    assert st == 201, (st, body)
    assert open(os.path.join(DEMO, "ch.txt"), "rb").read() == b"hello world"
    s = connect()
    s.sendall(b"PUT /v1/fs/demo/ch.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nHELLO\r\nzz\r\n")
    st, _, _, _ = read_response(s)
    assert st == 400, st
    assert open(os.path.join(DEMO, "ch.txt"), "rb").read() == b"hello world"


@check("client disconnects mid-upload: old file intact, no temp files")
def _():
    put("/v1/fs/demo/mid.txt", b"original")
    s = connect()
    s.sendall(b"PUT /v1/fs/demo/mid.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
              + b"x" * 5000)
    s.close()
    time.sleep(0.3)
    assert open(os.path.join(DEMO, "mid.txt"), "rb").read() == b"original"
    assert not [n for n in os.listdir(DEMO) if n.startswith(".custody-tmp")]


@check("early refusal with a body in flight is readable, not a reset")
def _():
    s = connect()
    s.sendall(b"PUT /v1/fs/demo/no/such/dir.txt HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 900000\r\n\r\n")
    try:
        s.sendall(b"z" * 900000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    st, h, body, _ = read_response(s)
    assert st == 404 and err_code(body) == "not_found", (st, body)
    assert h.get("x-custody-error") == "not_found", h
    assert closed_after(s)


@check("traversal and confinement")
def _():
    cases = {
        "/v1/fs/demo/%2e%2e/%2e%2e/etc/passwd": (403, "path_escapes_root"),
        "/v1/fs/demo/abs-link": (403, "path_escapes_root"),
        "/v1/fs/demo/rel-escape": (403, "path_escapes_root"),
        "/v1/fs/demo/proc-link/etc/passwd": (403, "path_escapes_root"),
        "/v1/fs/demo/fifo": (403, "permission_denied"),
        "/v1/fs/demo/bad%ffname": (400, "invalid_path"),
        "/v1/fs/demo/nul%00name": (400, "invalid_path"),
        "/v1/fs/demo/ctl%01name": (400, "invalid_path"),
        "/v1/fs/nosuchroot/x": (404, "unknown_root"),
    }
    for path, (want, code) in cases.items():
        st, _, body = get(path)
        assert (st, err_code(body)) == (want, code), (path, st, body)
    st, _, body = get("/v1/fs/demo/inner-link")
    assert st == 200 and body == b"hello from custody\n", (st, body)
    # writes through an escaping link are refused: nothing lands outside, the link stays
    st, _, body = put("/v1/fs/demo/rel-escape", b"owned")
    assert (st, err_code(body)) == (403, "path_escapes_root"), (st, body)
    assert open(os.path.join(WORK, "outside", "secret.txt")).read() == "secret\n"
    assert os.readlink(os.path.join(DEMO, "rel-escape")) == "../../outside/secret.txt"


@check("ranges: 206, suffix, open-ended, 416, several ranges -> 200")
def _():
    data = open(os.path.join(DEMO, "r1000.bin"), "rb").read()
    st, h, b = get("/v1/fs/demo/r1000.bin", "Range: bytes=10-19\r\n")
    assert st == 206 and b == data[10:20] and h["content-range"] == "bytes 10-19/1000", (st, h)
    st, h, b = get("/v1/fs/demo/r1000.bin", "Range: bytes=-100\r\n")
    assert st == 206 and b == data[-100:]
    st, h, b = get("/v1/fs/demo/r1000.bin", "Range: bytes=990-\r\n")
    assert st == 206 and b == data[990:]
    for bad in ["bytes=1000-", "bytes=5-2", "bytes=99999999999999999999999-", "bytes=x"]:
        st, h, b = get("/v1/fs/demo/r1000.bin", f"Range: {bad}\r\n")
        assert st == 416 and h["content-range"] == "bytes */1000", (bad, st, h)
    st, h, b = get("/v1/fs/demo/r1000.bin", "Range: bytes=0-1,5-6\r\n")
    assert st == 200 and b == data


@check("ETag is the content SHA-256; If-None-Match -> 304; If-Range")
def _():
    data = open(os.path.join(DEMO, "r1000.bin"), "rb").read()
    st, h, _ = get("/v1/fs/demo/r1000.bin")
    etag = h["etag"]
    assert etag == '"%s"' % hashlib.sha256(data).hexdigest(), etag
    st, h, b = get("/v1/fs/demo/r1000.bin", f"If-None-Match: {etag}\r\n")
    assert st == 304 and b == b""
    st, h, b = get("/v1/fs/demo/r1000.bin", 'Range: bytes=0-9\r\nIf-Range: "stale"\r\n')
    assert st == 200 and b == data
    st, h, b = get("/v1/fs/demo/r1000.bin", f"Range: bytes=0-9\r\nIf-Range: {etag}\r\n")
    assert st == 206 and b == data[:10]


@check("HEAD has headers and no body")
def _():
    s = connect()
    s.sendall(b"HEAD /v1/fs/demo/r1000.bin HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    st, h, b, rest = read_response(s, head_only=True)
    assert st == 200 and h["content-length"] == "1000" and b == b""
    # the next response follows immediately: no stray body bytes
    s2 = rest
    while b"\r\n\r\n" not in s2:
        s2 += s.recv(65536)
    assert s2.startswith(b"HTTP/1.1 200"), s2[:40]


@check("pipelined requests answered in order")
def _():
    s = connect()
    s.sendall(b"".join(b"GET /v1/fs/demo/r1000.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=%d-%d\r\n\r\n"
                       % (i, i) for i in range(50)))
    data = open(os.path.join(DEMO, "r1000.bin"), "rb").read()
    buf = b""
    for i in range(50):
        st, h, b, buf = read_response_buffered(s, buf)
        assert st == 206 and b == data[i:i + 1], (i, st)


@check("If-Match optimistic concurrency")
def _():
    st, h, _ = put("/v1/fs/demo/occ.txt", b"v1")
    etag = h["etag"]
    st, h, _ = put("/v1/fs/demo/occ.txt", b"v2", f"If-Match: {etag}\r\n")
    assert st == 200, st
    st, h, body = put("/v1/fs/demo/occ.txt", b"v3", f"If-Match: {etag}\r\n")
    assert st == 412 and err_code(body) == "precondition_failed", st
    st, _, _ = put("/v1/fs/demo/occ.txt", b"v4", "If-None-Match: *\r\n")
    assert st == 412
    assert open(os.path.join(DEMO, "occ.txt"), "rb").read() == b"v2"


@check("concurrent writers to one file: never torn, every write versioned")
def _():
    contents = [bytes([65 + i]) * (20000 + i) for i in range(16)]
    statuses = []

    def writer(c):
        statuses.append(put("/v1/fs/demo/race.bin", c)[0])
    ts = [threading.Thread(target=writer, args=(c,)) for c in contents]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert all(s in (200, 201) for s in statuses), statuses
    final = open(os.path.join(DEMO, "race.bin"), "rb").read()
    assert final in contents, len(final)
    st, _, body = get("/v1/versions/demo/race.bin")
    vers = json.loads(body)["versions"]
    assert len(vers) == 16, len(vers)
    assert vers[-1]["sha256"] == hashlib.sha256(final).hexdigest()


@check("versions and rollback restore exact bytes")
def _():
    put("/v1/fs/demo/rb.txt", b"one")
    put("/v1/fs/demo/rb.txt", b"two")
    st, _, body = request(b'POST /v1/fs/demo/rb.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 24\r\n\r\n'
                          b'{"op":"rollback","to":1}')
    assert st == 200, (st, body)
    assert open(os.path.join(DEMO, "rb.txt"), "rb").read() == b"one"
    st, _, b = get("/v1/fs/demo/rb.txt?version=2")
    assert st == 200 and b == b"two"


@check("bad JSON bodies and unknown ops -> 400")
def _():
    for body in [b"{", b"[]", b'{"op":"explode"}', b'{"op":"mkdir","extra":1}',
                 b'{"op":"move"}', b'{"op":"rollback","to":"x"}']:
        st, _, b = request(b"POST /v1/fs/demo/x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                           % len(body) + body)
        assert st == 400 and err_code(b) == "bad_request", (body, st, b)


@check("HTTP/2 prior knowledge on the Unix socket and TLS 1.3 with ALPN")
def _():
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--unix-socket", SOCK,
                          "-w", "\n%{http_version}", "http://localhost/v1/fs/demo/hello.txt"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "hello from custody\n\n2", out
    for flag, want in [("--http2", "2"), ("--http1.1", "1.1")]:
        out = subprocess.run(["curl", "-sk", flag, "-w", "\n%{http_version}",
                              f"https://127.0.0.1:{PORT}/v1/health"],
                             capture_output=True, text=True, check=True).stdout
        assert out.endswith("\n" + want) and '"status":"ok"' in out, (flag, out)
        # over TCP only authenticated agents get past the door
        out = subprocess.run(["curl", "-sk", flag, "-w", "\n%{http_code}",
                              f"https://127.0.0.1:{PORT}/v1/fs/demo/hello.txt"],
                             capture_output=True, text=True, check=True).stdout
        assert out.endswith("\n401") and '"unauthenticated"' in out, (flag, out)
    r = subprocess.run(["curl", "-sk", "--tls-max", "1.2", f"https://127.0.0.1:{PORT}/v1/health"],
                       capture_output=True)
    assert r.returncode != 0, "TLS 1.2 must be refused"
    # h2 upload and ranged read (h2c on the Unix socket, as the operator)
    blob = os.urandom(300000)
    p = os.path.join(WORK, "blob")
    open(p, "wb").write(blob)
    subprocess.run(["curl", "-sf", "--http2-prior-knowledge", "--unix-socket", SOCK, "-T", p,
                    "http://localhost/v1/fs/demo/h2blob"], check=True, capture_output=True)
    assert open(os.path.join(DEMO, "h2blob"), "rb").read() == blob
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--unix-socket", SOCK,
                          "-r", "100-199", "http://localhost/v1/fs/demo/h2blob"],
                         capture_output=True, check=True).stdout
    assert out == blob[100:200]


@check("SO_PEERCRED recorded for Unix-socket peers")
def _():
    st, _, body = get("/v1/status")
    doc = json.loads(body)
    assert doc["peer"]["uid"] == os.getuid(), doc
    assert doc["peer"]["pid"] == os.getpid(), doc


@check("garbage and resets do not kill the daemon")
def _():
    for _ in range(20):
        s = connect()
        s.sendall(os.urandom(3000))
        s.close()
    s = connect()
    s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(500))
    s.close()
    st, _, _ = get("/v1/health")
    assert st == 200


print(f"{passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
