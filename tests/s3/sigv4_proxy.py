#!/usr/bin/env python3
"""sigv4_proxy.py — a checking proxy in front of s3rver for tests/integration/test_pull.sh.

s3rver 3.7 parses SigV4 Authorization headers but does not verify the signature (it only
checks that the access key id exists: "Signature version 4 calculation is unimplemented").
This proxy does the verification the way S3 does, independently of src/pull (Python's hmac
and hashlib, from the AWS "Authenticating Requests (AWS Signature Version 4)" steps), answers
403 SignatureDoesNotMatch / InvalidAccessKeyId / RequestTimeTooSkewed as S3 does, and
forwards good requests to s3rver, streaming the answer back.

usage: sigv4_proxy.py LISTEN_PORT UPSTREAM_PORT ACCESS_KEY SECRET_KEY
"""
import datetime
import hashlib
import hmac
import http.client
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, AK, SK = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]


def h(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def error(code):
    return ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code>'
            '<Message>checked by sigv4_proxy.py</Message></Error>' % code).encode()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def deny(self, code):
        body = error(code)
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def check(self):
        auth = self.headers.get("Authorization")
        if auth is None:
            return None  # anonymous: s3rver decides
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "InvalidArgument"
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        ak, date, region, service, term = parts["Credential"].split("/")
        if ak != AK:
            return "InvalidAccessKeyId"
        amz = self.headers.get("x-amz-date", "")
        t = datetime.datetime.strptime(amz, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        if abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) > 900:
            return "RequestTimeTooSkewed"
        if term != "aws4_request" or service != "s3" or not amz.startswith(date):
            return "AuthorizationHeaderMalformed"
        signed = parts["SignedHeaders"].split(";")
        if "host" not in signed or signed != sorted(signed):
            return "AuthorizationHeaderMalformed"
        path, _, query = self.path.partition("?")
        q = sorted(urllib.parse.parse_qsl(query, keep_blank_values=True))
        cq = "&".join(urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~")
                      for k, v in q)
        ch = "".join("%s:%s\n" % (n, " ".join(self.headers.get(n, "").split())) for n in signed)
        creq = "\n".join([self.command, path, cq, ch, ";".join(signed),
                          self.headers.get("x-amz-content-sha256", "")])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz, "/".join([date, region, service, term]),
                         hashlib.sha256(creq.encode()).hexdigest()])
        k = h(h(h(h(("AWS4" + SK).encode(), date), region), service), term)
        want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, parts["Signature"]):
            return "SignatureDoesNotMatch"
        return None

    def do_GET(self):
        try:
            bad = self.check()
        except Exception:  # a malformed header is refused, never forwarded
            bad = "AuthorizationHeaderMalformed"
        if bad:
            self.deny(bad)
            return
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        up.request(self.command, self.path, headers=headers)
        r = up.getresponse()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "keep-alive", "date", "server"):
                self.send_header(k, v)
        body_len = r.getheader("Content-Length")
        if body_len is None:
            data = r.read()
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        else:
            self.end_headers()
            while True:
                chunk = r.read(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
        up.close()


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
