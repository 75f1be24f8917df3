#!/usr/bin/env python3
"""token_interop.py — Debian's python3-pymacaroons against custody tokens
(driven by test_token_interop.sh). Each subcommand prints its result on
stdout and exits 0, or explains on stderr and exits 1.

  check TOKEN INSPECT_JSON      pymacaroons reads the V1 token: identifier,
                                location and caveats equal custody's view
  attenuate TOKEN CAVEAT...     adds first-party caveats, prints V1 base64url
  attenuate-json JSON CAVEAT... the same through pymacaroons' JSON serializer;
                                checks the output has the V1 JSON shape
  binary JSON                   a JSON token re-serialised by pymacaroons as V1
  verify KEYHEX TOKEN PRED...   pymacaroons' own Verifier with the root key and
                                the given exact predicates
  tamper TOKEN OLD NEW          replaces caveat OLD by NEW, keeps the signature
"""
import binascii
import json
import sys

from pymacaroons import Macaroon, Verifier
from pymacaroons.caveat import Caveat
from pymacaroons.macaroon import MACAROON_V1
from pymacaroons.serializers.json_serializer import JsonSerializer


def die(msg):
    print("token_interop: " + msg, file=sys.stderr)
    sys.exit(1)


def caveat_ids(m):
    return [c.caveat_id for c in m.caveats]


def cmd_check(tok, inspect_json):
    want = json.loads(inspect_json)
    m = Macaroon.deserialize(tok)
    if m.version != MACAROON_V1:
        die("not read as a V1 macaroon")
    if m.identifier != want["id"]:
        die("identifier %r != %r" % (m.identifier, want["id"]))
    if m.location != want["location"]:
        die("location %r != %r" % (m.location, want["location"]))
    if caveat_ids(m) != want["caveats"]:
        die("caveats %r != %r" % (caveat_ids(m), want["caveats"]))
    if any(c.third_party() for c in m.caveats):
        die("third-party caveat found")
    # pymacaroons re-serialises the token to exactly custody's bytes
    if m.serialize() != tok:
        die("re-serialised token differs:\n%s\n%s" % (m.serialize(), tok))
    print("ok %d caveats" % len(m.caveats))


def cmd_attenuate(tok, caveats):
    m = Macaroon.deserialize(tok)
    for c in caveats:
        m.add_first_party_caveat(c)
    print(m.serialize())


def cmd_attenuate_json(js, caveats):
    m = Macaroon.deserialize(js, serializer=JsonSerializer())
    if m.version != MACAROON_V1:
        die("JSON not read as V1")
    for c in caveats:
        m.add_first_party_caveat(c)
    out = m.serialize(serializer=JsonSerializer())
    shape = json.loads(out)
    if set(shape) != {"location", "identifier", "caveats", "signature"}:
        die("unexpected JSON members: %r" % sorted(shape))
    if any(set(c) != {"cid"} for c in shape["caveats"]):
        die("caveats are not [{cid}]: %r" % shape["caveats"])
    if len(shape["signature"]) != 64:
        die("signature is not 64 hex digits")
    print(out)


def cmd_binary(js):
    m = Macaroon.deserialize(js, serializer=JsonSerializer())
    print(m.serialize())


def cmd_verify(keyhex, tok, preds):
    key = binascii.unhexlify(keyhex)
    m = Macaroon.deserialize(tok)
    v = Verifier()
    for p in preds:
        v.satisfy_exact(p)
    try:
        v.verify(m, key)
    except Exception as e:  # pymacaroons raises on any failure
        die("refused: %s: %s" % (type(e).__name__, e))
    print("ok")


def cmd_tamper(tok, old, new):
    m = Macaroon.deserialize(tok)
    ids = caveat_ids(m)
    if old not in ids:
        die("no caveat %r" % old)
    cavs = [Caveat(caveat_id=(new if c == old else c), version=MACAROON_V1) for c in ids]
    t = Macaroon(location=m.location, identifier=m.identifier, caveats=cavs,
                 signature=m.signature, version=MACAROON_V1)
    print(t.serialize())


def main(argv):
    if len(argv) < 3:
        die(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "check" and len(args) == 2:
        cmd_check(*args)
    elif cmd == "attenuate":
        cmd_attenuate(args[0], args[1:])
    elif cmd == "attenuate-json":
        cmd_attenuate_json(args[0], args[1:])
    elif cmd == "binary" and len(args) == 1:
        cmd_binary(args[0])
    elif cmd == "verify" and len(args) >= 2:
        cmd_verify(args[0], args[1], args[2:])
    elif cmd == "tamper" and len(args) == 3:
        cmd_tamper(*args)
    else:
        die(__doc__)


if __name__ == "__main__":
    main(sys.argv)
