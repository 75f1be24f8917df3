"""agent_tool.py — an enrolled agent's side, made with the openssl CLI (an
implementation we did not write): Ed25519 key pairs and custody-session
proofs (docs/authz.md). Shared by agents_session.py and authz_flow.py."""
import os, secrets, subprocess, time


def keypair(work, name):
    """A new key in WORK/NAME.pem; returns (path, raw public key hex)."""
    key = os.path.join(work, name + ".pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return key, der[-32:].hex()


def proof(work, agent, key, ts=None, nonce=None, binding="unix"):
    """The custody-session header value: v1 AGENT TS NONCE SIGHEX."""
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or secrets.token_hex(16)
    msg = os.path.join(work, "msg")
    with open(msg, "wb") as f:
        f.write(f"custody-session-v1\n{agent}\n{ts}\n{nonce}\n{binding}\n".encode())
    sig = subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key, "-in", msg],
                         check=True, capture_output=True).stdout
    return f"v1 {agent} {ts} {nonce} {sig.hex()}"
