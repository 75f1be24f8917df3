"""agents_session.py STATE WORK — enrolment, session proofs (Ed25519 signed
with the openssl CLI, an implementation we did not write), replay,
quarantine, revocation and operator-only administration over the API."""
import json, os, sys, time

sys.path.insert(0, os.path.dirname(__file__))
import agent_tool  # noqa: E402
from audit_tool import UnixConn  # noqa: E402

STATE, WORK = sys.argv[1], sys.argv[2]
SOCK = os.path.join(STATE, "custodyd.sock")


def keypair(name):
    return agent_tool.keypair(WORK, name)


def proof(agent, key, ts=None, nonce=None, binding="unix"):
    return agent_tool.proof(WORK, agent, key, ts, nonce, binding)


def call(method, url, body=None, headers=None, conn=None):
    c = conn or UnixConn(SOCK)
    c.request(method, url, body=json.dumps(body) if body is not None else None,
              headers=headers or {})
    r = c.getresponse()
    data = r.read()
    doc = json.loads(data) if data else None
    return r.status, doc, r.getheader("x-custody-audit-index")


def code(doc):
    return doc["error"]["code"]


key, pub = keypair("claude")
_, other_pub = keypair("other")
st, doc, _ = call("POST", "/v1/agents", {"name": "claude", "principal": "alice",
                                         "groups": ["coders"], "public_key": pub})
assert st == 201 and doc["key_fingerprint"].startswith("ed25519:"), (st, doc)
st, doc, _ = call("POST", "/v1/agents", {"name": "claude", "public_key": other_pub})
assert st == 409, (st, doc)
st, doc, _ = call("POST", "/v1/agents", {"name": "bad name", "public_key": other_pub})
assert st == 400, (st, doc)
st, doc, _ = call("POST", "/v1/agents", {"name": "x", "public_key": "zz"})
assert st == 400, (st, doc)

# a valid proof: the connection is the agent's
c = UnixConn(SOCK)
p = proof("claude", key)
st, doc, idx = call("GET", "/v1/whoami", headers={"custody-session": p}, conn=c)
assert st == 200 and doc["kind"] == "agent" and doc["agent"] == "claude", (st, doc)
assert doc["principal"] == "alice" and idx is not None
# later requests on the same connection need no proof, and may resend it
st, doc, _ = call("GET", "/v1/whoami", conn=c)
assert st == 200 and doc["agent"] == "claude", doc
st, doc, _ = call("GET", "/v1/whoami", headers={"custody-session": p}, conn=c)
assert st == 200 and doc["agent"] == "claude", (st, doc)
# agents cannot administer, reach data only with a capability token, and
# get one only where a policy permits (the starter policy names "demo")
st, doc, _ = call("GET", "/v1/agents", conn=c)
assert st == 403 and code(doc) == "policy_denied", (st, doc)
st, doc, _ = call("GET", "/v1/fs/demo/", conn=c)
assert st == 401 and "capability token is required" in doc["error"]["message"], (st, doc)
st, doc, _ = call("POST", "/v1/tokens", {"action": "list", "resource": "demo:/"}, conn=c)
assert st == 403 and code(doc) == "policy_denied", (st, doc)
assert 'no policy permits Agent::"claude" to list Root::"demo"' in doc["error"]["message"], doc

# the same proof on another connection is a replay
st, doc, _ = call("GET", "/v1/whoami", headers={"custody-session": p})
assert st == 401 and code(doc) == "replayed", (st, doc)
# a proof signed by another key, a stale one, another channel, garbage
k2, _ = keypair("mallory")
for bad, want in [(proof("claude", k2), "bad_signature"),
                  (proof("claude", key, ts=int(time.time()) - 3600), "token_expired"),
                  (proof("claude", key, binding="tls-exporter:00"), "bad_signature"),
                  (proof("nobody", key), "unauthenticated"),
                  ("v1 claude", "unauthenticated"),
                  ("v2 claude 1 2 3", "unauthenticated")]:
    st, doc, _ = call("GET", "/v1/whoami", headers={"custody-session": bad})
    assert st in (401, 403) and code(doc) == want, (bad[:40], st, doc, want)

# quarantine: refused at once, even on the open connection; release restores
st, doc, _ = call("POST", "/v1/agents/claude/quarantine")
assert st == 200 and doc["quarantined"] is True, (st, doc)
st, doc, _ = call("GET", "/v1/whoami", conn=c)
assert st == 403 and code(doc) == "agent_quarantined", (st, doc)
st, doc, _ = call("GET", "/v1/whoami", headers={"custody-session": proof("claude", key)})
assert st == 403 and code(doc) == "agent_quarantined", (st, doc)
st, doc, _ = call("POST", "/v1/agents/claude/quarantine", {"quarantined": False})
assert st == 200 and doc["quarantined"] is False, (st, doc)
st, doc, _ = call("GET", "/v1/whoami", conn=c)
assert st == 200, (st, doc)

# revoke bumps the epoch (tokens minted before die; see the token tests)
st, doc, _ = call("POST", "/v1/agents/claude/revoke")
assert st == 200 and doc["epoch"] == 1, (st, doc)
st, doc, _ = call("POST", "/v1/tokens/revoke", {"id": "tok-123"})
assert st == 200 and doc["revoked"] is True, (st, doc)
st, doc, _ = call("GET", "/v1/agents")
assert st == 200 and [a["name"] for a in doc["agents"]] == ["claude"], doc
assert doc["agents"][0]["epoch"] == 1

# removal: the agent's open connection is refused from the next request
st, _, _ = call("DELETE", "/v1/agents/claude")
assert st == 204
st, doc, _ = call("GET", "/v1/whoami", conn=c)
assert st == 401 and code(doc) == "revoked", (st, doc)

# everything above is in the audit log, revocations signed
st, doc, _ = call("GET", "/v1/audit/search?action=agent.revoke")
assert st == 200 and len(doc["results"]) == 1, doc
ev = doc["results"][0]["event"]
assert "signature" in ev and ev["decision"] == "allow", ev
st, doc, _ = call("GET", "/v1/audit/search?agent=claude")
assert st == 200 and len(doc["results"]) >= 5, doc
st, doc, _ = call("GET", "/v1/audit/search?action=session")
assert st == 200 and len(doc["results"]) >= 6 and \
    all(r["event"]["decision"] == "deny" for r in doc["results"]), doc
print("agents_session: ok")
