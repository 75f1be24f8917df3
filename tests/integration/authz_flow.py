"""authz_flow.py STATE WORK — the secured data plane end to end, over the
Unix socket, with keys and signatures from the openssl CLI and token
attenuation by Debian's pymacaroons (implementations we did not write):
tokens minted after policy decisions, every request decided by token and
policy, refusals naming the policy or caveat, narrowing honoured, revocation
at the next request, atomic policy reloads recorded as signed events."""
import json, os, sys, time

sys.path.insert(0, os.path.dirname(__file__))
import agent_tool  # noqa: E402
from audit_tool import UnixConn  # noqa: E402
from pymacaroons import Macaroon  # noqa: E402
from pymacaroons.serializers import JsonSerializer  # noqa: E402

STATE, WORK = sys.argv[1], sys.argv[2]
SOCK = os.path.join(STATE, "custodyd.sock")


def keypair(name):
    return agent_tool.keypair(WORK, name)


def proof(agent, key):
    return agent_tool.proof(WORK, agent, key)


class Agent:
    def __init__(self, name, key):
        self.conn = UnixConn(SOCK)
        self.name, self.key = name, key

    def call(self, method, url, body=None, token=None, headers=None, raw=False):
        h = dict(headers or {})
        if self.conn.sock is None:  # a new connection: prove the key again
            self.conn.connect()
            h["custody-session"] = proof(self.name, self.key)
        if token:
            h["custody-token"] = token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        self.conn.request(method, url, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        if raw:
            return r.status, data, r
        return r.status, (json.loads(data) if data and r.getheader("content-type", "").startswith("application/json") else data), r


def op(method, url, body=None):
    c = UnixConn(SOCK)
    c.request(method, url, body=json.dumps(body) if body is not None else None)
    r = c.getresponse()
    data = r.read()
    return r.status, (json.loads(data) if data and r.getheader("content-type", "").startswith("application/json") else data)


def event(idx):
    st, doc = op("GET", f"/v1/audit/entries/{idx}")
    assert st == 200, (st, doc)
    return doc["event"]


def err(doc):
    return doc["error"]["code"], doc["error"]["message"]


key, pub = keypair("demo")
st, _ = op("POST", "/v1/agents", {"name": "demo", "principal": "alice", "public_key": pub})
assert st == 201, st
mkey, mpub = keypair("mallory")
st, _ = op("POST", "/v1/agents", {"name": "mallory", "public_key": mpub})
assert st == 201, st
demo = Agent("demo", key)

# 1. no token, no data
st, doc, _ = demo.call("GET", "/v1/fs/demo/hello.txt")
assert st == 401 and "capability token is required" in err(doc)[1], (st, doc)

# 2. mint after a decision: prefix demo:/, read+write+list
st, doc, _ = demo.call("POST", "/v1/tokens", {"actions": ["read", "write", "list"], "resource": "demo:/"})
assert st == 201, (st, doc)
assert doc["policies"] == ["demo-agent-reads-and-writes-demo"], doc
assert doc["agent"] == "demo" and doc["resource"] == "demo:/", doc
assert 0 < doc["expires_unix"] - time.time() <= 300 + 2, doc
tok, tid = doc["token"], doc["id"]
assert json.loads(doc["token_json"])["identifier"] == tid

st, body, r = demo.call("GET", "/v1/fs/demo/hello.txt", token=tok, raw=True)
assert st == 200 and body == b"hello from custody\n", (st, body)
ev = event(int(r.getheader("x-custody-audit-index")))
assert ev["agent_id"] == "demo" and ev["principal_id"] == "alice", ev
assert ev["policy_ids"] == ["demo-agent-reads-and-writes-demo"], ev
assert ev["token_id"] == tid and ev["peer_uid"] == os.getuid(), ev
assert ev["reason"].startswith("permitted by policy demo-agent-reads-and-writes-demo"), ev
st, doc, _ = demo.call("PUT", "/v1/fs/demo/agent-new.txt", body=b"written by an agent", token=tok)
assert st in (200, 201), (st, doc)
st, doc, _ = demo.call("GET", "/v1/fs/demo/", token=tok)
assert st == 200 and any(e["name"] == "agent-new.txt" for e in doc["entries"]), (st, doc)
# an action the token lacks (delete), although the policy would permit it
st, doc, r = demo.call("DELETE", "/v1/fs/demo/agent-new.txt", token=tok)
assert st == 403 and err(doc)[0] == "policy_denied" and "action" in err(doc)[1], (st, doc)
ev = event(int(r.getheader("x-custody-audit-index")))
assert ev["decision"] == "deny" and ev["token_id"] == tid, ev

# 3. policy refusals name the policy, or that none permitted
st, doc, _ = demo.call("POST", "/v1/tokens", {"action": "read", "resource": "nope:/x"})
assert st == 404, (st, doc)
ok, mdoc = op("POST", "/v1/tokens", {"agent": "mallory", "action": "read", "resource": "demo:/hello.txt"})
assert ok == 403 and 'no policy permits Agent::"mallory" to read File::"demo:/hello.txt"' in err(mdoc)[1], mdoc

# 4. another agent cannot use demo's token (bound to agent and key)
mal = Agent("mallory", mkey)
st, doc, _ = mal.call("GET", "/v1/fs/demo/hello.txt", token=tok)
assert st == 403 and "agent" in err(doc)[1], (st, doc)
# a bearer token alone is nothing: presented without demo's session proof
# (here on the operator's connection) it is refused
c = UnixConn(SOCK)
c.request("GET", "/v1/fs/demo/hello.txt", headers={"custody-token": tok})
r = c.getresponse()
doc = json.loads(r.read())
assert r.status == 403 and "agent" in err(doc)[1], (r.status, doc)

# 5. offline attenuation by pymacaroons, honoured by custodyd
m = Macaroon.deserialize(tok)
m.add_first_party_caveat("resource = demo:/hello.txt")
narrow = m.serialize()
st, body, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=narrow, raw=True)
assert st == 200, (st, body)
st, doc, _ = demo.call("GET", "/v1/fs/demo/notes/todo.md", token=narrow)
assert st == 403 and "resource" in err(doc)[1], (st, doc)
# ...in the V1 JSON form too
mj = Macaroon.deserialize(tok)
mj.add_first_party_caveat("action in read")
jtok = mj.serialize(serializer=JsonSerializer())
assert jtok.startswith("{")
st, body, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=jtok, raw=True)
assert st == 200, (st, body)
st, doc, _ = demo.call("PUT", "/v1/fs/demo/x.txt", body=b"x", token=jtok)
assert st == 403 and "action" in err(doc)[1], (st, doc)
# widening by adding a caveat is impossible; tampering breaks the MAC
forged = tok[:-3] + ("A" if tok[-3] != "A" else "B") + tok[-2:]
st, doc, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=forged)
assert st == 401 and err(doc)[0] == "invalid_token", (st, doc)

# 6. a byte-range token
st, doc, _ = demo.call("POST", "/v1/tokens", {"action": "read", "resource": "demo:/hello.txt", "range": "0-4"})
assert st == 201, (st, doc)
rt = doc["token"]
st, body, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=rt, headers={"Range": "bytes=0-4"}, raw=True)
assert st == 206 and body == b"hello", (st, body)
st, doc, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=rt)
assert st == 403 and "range" in err(doc)[1], (st, doc)

# 6b. demo hands a narrowed token to a sub-agent offline (pymacaroons adds
# `delegate = sub`): only sub may present it, with demo's rights, narrowed
skey, spub = keypair("sub")
st, _ = op("POST", "/v1/agents", {"name": "sub", "public_key": spub})
assert st == 201, st
sub = Agent("sub", skey)
st, doc, _ = sub.call("GET", "/v1/fs/demo/hello.txt", token=tok)
assert st == 403 and "does not permit agent" in err(doc)[1], (st, doc)
m = Macaroon.deserialize(tok)
m.add_first_party_caveat("delegate = sub")
m.add_first_party_caveat("action in read")
handed = m.serialize()
st, body, r = sub.call("GET", "/v1/fs/demo/hello.txt", token=handed, raw=True)
assert st == 200 and body == b"hello from custody\n", (st, body)
ev = event(int(r.getheader("x-custody-audit-index")))
assert ev["agent_id"] == "sub" and "handed over by agent demo" in ev["reason"], ev
st, doc, _ = sub.call("PUT", "/v1/fs/demo/sub.txt", body=b"x", token=handed)
assert st == 403 and "action" in err(doc)[1], (st, doc)
st, doc, _ = mal.call("GET", "/v1/fs/demo/hello.txt", token=handed)
assert st == 403, (st, doc)

st, text = op("POST", "/v1/policy/explain", {"agent": "demo", "action": "read", "resource": "demo:/hello.txt"})
assert st == 200 and b"demo-agent-reads-and-writes-demo" in text, (st, text)

# 8. atomic reload, recorded; a broken file leaves the running set
pol = os.path.join(STATE, "policy")
open(os.path.join(pol, "zz-freeze.cedar"), "w").write(
    '@id("freeze-notes")\nforbid (principal, action == Action::"write", resource in Folder::"demo:/notes");\n')
st, doc = op("POST", "/v1/policy/reload")
assert st == 200 and doc["changed"] is True and doc["count"] == 6, (st, doc)
st, doc, _ = demo.call("PUT", "/v1/fs/demo/notes/todo.md", body=b"x", token=tok)
assert st == 403 and "forbidden by policy freeze-notes" in err(doc)[1], (st, doc)
open(os.path.join(pol, "zz-freeze.cedar"), "w").write("forbid (principal, action, resource) when { 1 + };\n")
st, doc = op("POST", "/v1/policy/reload")
assert st == 400 and "zz-freeze.cedar:1:" in err(doc)[1], (st, doc)
st, doc, _ = demo.call("PUT", "/v1/fs/demo/notes/todo.md", body=b"x", token=tok)
assert st == 403 and "freeze-notes" in err(doc)[1], "the old set must stay in force"
os.unlink(os.path.join(pol, "zz-freeze.cedar"))
st, doc = op("POST", "/v1/policy/reload")
assert st == 200 and doc["count"] == 5, (st, doc)
st, doc = op("GET", "/v1/audit/search?action=policy.change")
changes = [r["event"] for r in doc["results"]]
assert len(changes) >= 3 and all("signature" in e for e in changes if e["decision"] == "allow"), changes
assert any("sha256:" in e.get("reason", "") for e in changes), changes

# 9. revocation, effective at the next request
st, doc = op("POST", "/v1/tokens/revoke", {"id": tid})
assert st == 200, (st, doc)
st, doc, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=tok)
assert st == 401 and err(doc)[0] == "revoked", (st, doc)
st, doc, _ = demo.call("POST", "/v1/tokens", {"action": "read", "resource": "demo:/hello.txt"})
t2 = doc["token"]
st, _, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=t2, raw=True)
assert st == 200
st, doc = op("POST", "/v1/agents/demo/revoke")
assert st == 200, (st, doc)
st, doc, _ = demo.call("GET", "/v1/fs/demo/hello.txt", token=t2)
assert st == 401 and err(doc)[0] == "revoked", (st, doc)
st, doc = op("POST", "/v1/agents/demo/quarantine")
st, doc, _ = demo.call("POST", "/v1/tokens", {"action": "read", "resource": "demo:/hello.txt"})
assert st == 403 and err(doc)[0] == "agent_quarantined", (st, doc)
print("authz_flow: ok")
