#!/usr/bin/env bash
# test_policy_cli.sh — `custody agent|token|policy` end to end against a real
# custodyd: policy check/show/explain/test/replay, agent add (key file mode,
# never overwritten), ls/show/revoke/quarantine/rm, token mint/inspect/
# attenuate/revoke.
#
#   CUSTODY_BIN=build/bin bash tests/integration/test_policy_cli.sh
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || fail "python3 is needed"

step=""
# expect RC CMD...: runs CMD with stdout in $WORK/out, stderr in $WORK/err; checks the exit status.
expect() {
  local want=$1 rc=0
  shift
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$want" ] ||
    fail "[$step] '$*' exited $rc, expected $want
  stdout: $(head -c 800 "$WORK/out")
  stderr: $(head -c 800 "$WORK/err")"
}
c() { "$BIN/custody" --state "$STATE" "$@"; }
out_has() { grep -qE -- "$1" "$WORK/out" || fail "[$step] stdout lacks /$1/: $(head -c 800 "$WORK/out")"; }
out_lacks() { ! grep -qE -- "$1" "$WORK/out" || fail "[$step] stdout has /$1/: $(head -c 800 "$WORK/out")"; }
err_has() { grep -qE -- "$1" "$WORK/err" || fail "[$step] stderr lacks /$1/: $(head -c 800 "$WORK/err")"; }
# py EXPR: a Python expression over j = the JSON on stdout; must be true.
py() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$WORK/out" "$1" || fail "[$step] JSON check failed: $1
  json: $(head -c 800 "$WORK/out")"
}

init_state

# ---------------------------------------------------------------- offline: policy check
step="policy check (starter)"
expect 0 c policy check
out_has "^ok: 5 policies in 1 file \(sha256:[0-9a-f]{64}\)$"
hash=$(sed -E 's/.*sha256:([0-9a-f]{64}).*/\1/' "$WORK/out")
expect 0 c policy check "$STATE/policy/starter.cedar"
out_has "sha256:$hash"
expect 0 c policy check --json
py "j['ok'] and j['results'][0]['policies'] == 5 and j['results'][0]['hash'] == 'sha256:$hash'"

step="policy check (syntax error)"
mkdir -p "$WORK/bad"
printf '@id("fine")\npermit (principal, action, resource);\n\n@id("broken")\nforbid (principal action, resource);\n' \
  >"$WORK/bad/x.cedar"
expect 1 c policy check "$WORK/bad"
err_has "^$WORK/bad/x.cedar:5:[0-9]+: "
expect 1 c policy check "$WORK/bad/x.cedar"
err_has "^$WORK/bad/x.cedar:5:[0-9]+: "
expect 1 c policy check "$WORK/nonexistent"
expect 2 c policy frobnicate

# ---------------------------------------------------------------- offline: policy test
step="policy test"
cat >"$WORK/tests.json" <<'EOF'
{
  "policies": "state/policy",
  "entities": [
    {"uid": {"type": "Action", "id": "read"}, "parents": [{"type": "Action", "id": "readonly"}]},
    {"uid": {"type": "Action", "id": "readonly"}, "parents": [{"type": "Action", "id": "readwrite"}]},
    {"uid": {"type": "Action", "id": "readwrite"}, "parents": []},
    {"uid": {"type": "Root", "id": "demo"}, "attrs": {"name": "demo", "labels": {}}, "parents": []},
    {"uid": {"type": "File", "id": "demo:/a.txt"}, "attrs": {"labels": {}}, "parents": [{"type": "Root", "id": "demo"}]}
  ],
  "tests": [
    {"name": "demo reads demo", "principal": {"type": "Agent", "id": "demo"},
     "action": {"type": "Action", "id": "read"}, "resource": {"type": "File", "id": "demo:/a.txt"},
     "context": {"attested": false}, "expect": "allow",
     "policies": ["demo-agent-reads-and-writes-demo"]},
    {"name": "eve reads nothing", "principal": {"type": "Agent", "id": "eve"},
     "action": {"type": "Action", "id": "read"}, "resource": {"type": "File", "id": "demo:/a.txt"},
     "expect": "deny"}
  ]
}
EOF
expect 0 c policy test "$WORK/tests.json"
out_has "^ok demo reads demo$"
out_has "^ok eve reads nothing$"
out_has "^2 passed, 0 failed$"
python3 - "$WORK/tests.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["tests"][1]["expect"] = "allow"
json.dump(d, open(sys.argv[1].replace("tests.json", "tests-fail.json"), "w"))
EOF
expect 1 c policy test "$WORK/tests-fail.json"
out_has "^FAIL eve reads nothing: got deny \(determining: none\) want allow"
out_has "^1 passed, 1 failed$"
expect 1 c policy test --json "$WORK/tests-fail.json"
py "j['passed'] == 1 and j['failed'] == 1 and j['results'][0]['determining'] == ['demo-agent-reads-and-writes-demo']"

# ---------------------------------------------------------------- daemon
start_daemon

step="policy show / reload"
expect 0 c policy show
out_has "^ID +EFFECT +FILE:LINE$"
out_has "^operator +permit +starter.cedar:[0-9]+$"
out_has "^demo-agent-reads-and-writes-demo +permit +starter.cedar:[0-9]+$"
out_has "^policy set sha256:$hash \(5 policies in 1 file\)$"
expect 0 c policy show --json
py "j['hash'] == '$hash' and j['count'] == 5"
expect 0 c policy reload
out_has "^policy set sha256:$hash \(5 policies\), unchanged$"

step="agent add"
expect 0 c agent add demo
out_has "^added agent demo \(key ed25519:[0-9a-f]{64}\), private key in $STATE/agents/demo.pem$"
[ -f "$STATE/agents/demo.pem" ] || fail "[$step] no key file"
[ "$(stat -c %a "$STATE/agents/demo.pem")" = 600 ] || fail "[$step] key file mode $(stat -c %a "$STATE/agents/demo.pem")"
[ "$(stat -c %a "$STATE/agents")" = 700 ] || fail "[$step] agents dir mode"
grep -q "BEGIN PRIVATE KEY" "$STATE/agents/demo.pem" || fail "[$step] key file is not a PEM private key"
grep -q "PRIVATE KEY" "$WORK/out" "$WORK/err" && fail "[$step] the private key was printed"
fp=$(sed -E 's/.*\(key (ed25519:[0-9a-f]{64})\).*/\1/' "$WORK/out")
# the public half matches the key file
pub=$(openssl pkey -in "$STATE/agents/demo.pem" -pubout -outform DER 2>/dev/null | tail -c 32 | od -An -tx1 | tr -d ' \n' || true)
cp "$STATE/agents/demo.pem" "$WORK/demo.pem.orig"

step="agent add (existing key file)"
expect 4 c agent add demo
err_has "demo.pem exists"
cmp -s "$STATE/agents/demo.pem" "$WORK/demo.pem.orig" || fail "[$step] the key file changed"
touch "$WORK/taken.pem"
expect 4 c agent add other --key-out "$WORK/taken.pem"
[ -s "$WORK/taken.pem" ] && fail "[$step] an existing --key-out file was overwritten"
expect 1 c agent show other # refused before enrolling
err_has "\(not_found\)"
expect 2 c agent add ../evil
expect 0 c agent add bob --principal alice --group analysts --group ops --key-out "$WORK/bob.pem" --json
py "j['name'] == 'bob' and j['principal'] == 'alice' and j['groups'] == ['analysts', 'ops'] and j['key_file'] == '$WORK/bob.pem'"
[ "$(stat -c %a "$WORK/bob.pem")" = 600 ] || fail "[$step] --key-out mode"

step="agent ls / show"
expect 0 c agent ls
out_has "^NAME +PRINCIPAL +GROUPS +EPOCH +QUARANTINED +KEY$"
out_has "^bob +alice +analysts,ops +0 +no +ed25519:"
out_has "^demo +- +- +0 +no +$fp$"
expect 0 c agent ls --json
py "sorted(a['name'] for a in j['agents']) == ['bob', 'demo']"
if [ -n "$pub" ]; then
  py "[a for a in j['agents'] if a['name'] == 'demo'][0]['public_key'] == '$pub'"
fi
expect 0 c agent show demo
out_has "^key: +$fp$"
out_has "^epoch: +0$"

# ---------------------------------------------------------------- tokens
step="token mint"
expect 0 c token mint --agent demo --action read,write --resource demo:/hello.txt --ttl 120
[ "$(wc -l <"$WORK/out")" -eq 1 ] || fail "[$step] the token is not alone on one line"
grep -qE '^[A-Za-z0-9_-]+$' "$WORK/out" || fail "[$step] not base64url: $(head -c 200 "$WORK/out")"
T=$(cat "$WORK/out")
expect 0 c token mint --agent demo --action read --resource demo:/hello.txt --json
py "j['agent'] == 'demo' and j['actions'] == ['read'] and 'demo-agent-reads-and-writes-demo' in j['policies'] and len(j['id']) == 32"
expect 1 c token mint --agent bob --action read --resource demo:/hello.txt # no policy permits bob
err_has "\(policy_denied\)"
expect 2 c token mint --agent demo --action fly --resource demo:/hello.txt
expect 2 c token mint --agent demo --action read

step="token inspect"
expect 0 c token inspect "$T"
out_has "^id: +[0-9a-f]{32}$"
out_has "^location: +custody"
out_has "^  agent = demo$"
out_has "^  action in read,write$"
out_has "^  resource = demo:/hello.txt$"
out_has "^  agent: +demo$"
out_has "^  actions: +read,write$"
out_has "^  resource: +demo:/hello.txt$"
out_has "^  expires: +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z \(in [0-9]+ s\)$"
out_has "^  policies: +demo-agent-reads-and-writes-demo$"
tid=$(sed -nE 's/^id: +([0-9a-f]{32})$/\1/p' "$WORK/out")
printf '  %s\n' "$T" >"$WORK/tok.txt"
"$BIN/custody" --state "$STATE" token inspect - --json <"$WORK/tok.txt" >"$WORK/out" 2>"$WORK/err" ||
  fail "[$step] inspect from stdin: $(cat "$WORK/err")"
py "j['id'] == '$tid' and 'resource = demo:/hello.txt' in j['caveats'] and j['effective']['resource'] == 'demo:/hello.txt' and j['effective']['remaining'] > 0 and j['macaroon']['identifier'] == '$tid'"
expect 4 c token inspect "not-a-token"

step="token attenuate"
expect 0 c token attenuate "$T" --action read --caveat 'resource = demo:/hello.txt' --ttl 30
T2=$(cat "$WORK/out")
[ "$T2" != "$T" ] || fail "[$step] the token did not change"
expect 0 c token inspect "$T2"
out_has "^  actions: +read$"
out_has "^  action in read$"
out_has "\(in ([0-9]|[12][0-9]|30) s\)$"
expect 0 c token mint --agent demo --action read --resource demo:/
TP=$(cat "$WORK/out")
expect 0 c token attenuate "$TP" --resource demo:/hello.txt
expect 0 c token inspect "$(cat "$WORK/out")"
out_has "^  resource: +demo:/hello.txt$"
expect 4 c token attenuate "$T" --resource demo:/other.txt # wider: refused
err_has "widen"
expect 2 c token attenuate "$T"

step="token revoke"
expect 0 c token revoke "$tid"
out_has "^revoked token $tid$"
expect 2 c token revoke nothex

# ---------------------------------------------------------------- explain
step="policy explain"
expect 0 c policy explain --agent demo --action read --resource demo:/hello.txt
out_has "demo-agent-reads-and-writes-demo"
out_has "ALLOW|allow"
expect 0 c policy explain --agent bob --action write --resource demo:/hello.txt --json
py "j['decision'] == 'deny'"
expect 0 c policy explain --action read --resource demo:/hello.txt --context '{"attested": true}'
out_has "operator"
expect 2 c policy explain --action read --resource demo:/hello.txt --context '[1]'
expect 2 c policy explain --resource demo:/hello.txt
expect 1 c policy explain --agent nobody --action read --resource demo:/hello.txt

# ---------------------------------------------------------------- replay
step="policy replay"
for i in 1 2 3; do
  printf 'operator write %s\n' "$i" | c put "demo:/replay-$i.txt" >/dev/null 2>"$WORK/err" ||
    fail "[$step] put: $(cat "$WORK/err")"
done
c cat demo:/hello.txt >/dev/null || fail "[$step] cat"
c --agent demo cat demo:/hello.txt >/dev/null 2>"$WORK/err" || fail "[$step] cat as demo: $(cat "$WORK/err")"
mkdir -p "$WORK/candidate"
cp "$STATE/policy/starter.cedar" "$WORK/candidate/"
printf '@id("no-operator-writes")\nforbid (principal is Operator, action == Action::"write", resource);\n' \
  >"$WORK/candidate/zz-freeze.cedar"
expect 0 c policy check "$WORK/candidate"
out_has "^ok: 6 policies in 2 files"
expect 0 c policy replay --policy "$WORK/candidate"
for i in 1 2 3; do
  out_has "^[0-9]+ [0-9T:.-]+Z operator write demo:/replay-$i.txt: was allow \(operator\) -> now deny \(no-operator-writes\)$"
done
out_lacks "demo:/hello.txt"
out_has "^[0-9]+ events re-decided, 3 would change"
expect 0 c policy replay --policy "$WORK/candidate" --json
py "j['changed'] == 3 and all(x['was'] == 'allow' and x['now'] == 'deny' and x['now_policies'] == ['no-operator-writes'] for x in j['changes'])"
expect 0 c policy replay # the running set changes nothing
out_has "^[0-9]+ events re-decided, 0 would change"
out_lacks "no longer enrolled"
expect 0 c policy replay --policy "$WORK/candidate/zz-freeze.cedar" # one file
out_has "^[0-9]+ events re-decided, [0-9]+ would change \(candidate policy set sha256:[0-9a-f]{64}, 1 policy\)$"
expect 0 c policy replay --json
py "j['changed'] == 0 and j['skipped_unenrolled'] == 0"
redecided=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["redecided"])' "$WORK/out")
expect 0 c policy replay --policy "$WORK/candidate" --since 2999-01-01T00:00:00Z
out_has "^0 events re-decided, 0 would change"
expect 2 c policy replay --since yesterday
expect 1 c policy replay --policy "$WORK/bad"

# ---------------------------------------------------------------- agent lifecycle
step="agent revoke"
expect 0 c agent revoke demo
out_has "^revoked agent demo: epoch 1; every token minted before is dead$"
expect 0 c agent show demo --json
py "j['epoch'] == 1"

step="agent quarantine"
expect 0 c agent quarantine demo
out_has "quarantined"
expect 0 c agent show demo --json
py "j['quarantined'] is True"
expect 0 c agent ls
out_has "^demo +- +- +1 +yes +"
expect 0 c policy replay --json # a quarantine is no policy: demo's read is still allowed
py "j['changed'] == 0 and j['redecided'] == $redecided"
expect 0 c agent quarantine demo --release
out_has "released"
expect 0 c agent show demo --json
py "j['quarantined'] is False"

step="agent rm"
expect 0 c agent rm bob
out_has "^removed agent bob$"
expect 1 c agent rm bob
err_has "\(not_found\)"
expect 0 c agent ls --json
py "[a['name'] for a in j['agents']] == ['demo']"
expect 0 c agent rm demo
expect 0 c policy replay # demo's read cannot be re-decided without demo
out_has "^1 skipped: agent no longer enrolled$"
expect 0 c policy replay --json
py "j['skipped_unenrolled'] == 1 and j['redecided'] == $redecided - 1 and j['changed'] == 0"
expect 2 c agent
expect 2 c agent frob

# ---------------------------------------------------------------- the audit log saw it all
step="audit"
expect 0 c audit search --action agent.revoke
out_has "agent.revoke allow"
expect 0 c audit search --action token.mint
out_has "token.mint allow demo:/hello.txt"

stop_daemon || fail "custodyd exited non-zero"
echo "test_policy_cli: ok"
