#!/usr/bin/env bash
# test_encrypt.sh — encryption at rest: the versions of a root labelled for
# encryption (store.encrypt_label, default "encrypt") are kept encrypted in
# STATE/store (no byte of them in clear), read back as plaintext (custody
# versions, cat --version, rollback, GET ?version=), tampering is refused,
# a plain root's objects stay plaintext, and a key file that others can
# read stops custodyd from starting.
source "$(dirname "$0")/lib.sh"
init_state
start_daemon
export CUSTODY_STATE=$STATE
C="$BIN/custody"
S="--unix-socket $STATE/custodyd.sock"

key="$STATE/keys/store.key"
[ -f "$key" ] || fail "custodyd made no store key"
[ "$(stat -c %a "$key")" = 600 ] || fail "store key mode $(stat -c %a "$key")"
grep -qE '^[0-9a-f]{64}$' "$key" || fail "store key is not 64 hex digits"
key_before=$(cat "$key")

mkdir -p "$WORK/vault" "$WORK/open"
"$C" root add vault "$WORK/vault" --label encrypt=true >/dev/null || fail "root add vault"
"$C" root add open "$WORK/open" --label classification=internal >/dev/null || fail "root add open"

M="CUSTODY-ENC-MARKER-$RANDOM$RANDOM"
for i in 1 2 3; do
  printf '%s version %s\n' "$M" "$i" >"$WORK/v$i"
  "$C" put vault:/secret.txt "$WORK/v$i" >/dev/null || fail "put v$i"
done
# changed behind custody's back, then written again: an "external" version
printf '%s edited outside\n' "$M" >"$WORK/vault/secret.txt"
cp "$WORK/vault/secret.txt" "$WORK/vx"
printf '%s version 4\n' "$M" >"$WORK/v4"
"$C" put vault:/secret.txt "$WORK/v4" >/dev/null || fail "put v4"
# a large one (several chunks)
python3 -c 'import sys; sys.stdout.write("".join("%s big %08d\n" % (sys.argv[1], i) for i in range(100000)))' "$M" >"$WORK/big"
"$C" put vault:/big.txt "$WORK/big" >/dev/null || fail "put big"
"$C" put vault:/big.txt "$WORK/v1" >/dev/null || fail "put over big"

P="PLAIN-MARKER-$RANDOM$RANDOM"
printf '%s one\n' "$P" >"$WORK/p1"
printf '%s two\n' "$P" >"$WORK/p2"
"$C" put open:/p.txt "$WORK/p1" >/dev/null || fail "put p1"
"$C" put open:/p.txt "$WORK/p2" >/dev/null || fail "put p2"

# ---- at rest: nothing of the vault in clear, the plain root as before
if grep -rqa "$M" "$STATE/store"; then
  fail "the marker is in clear under STATE/store: $(grep -rla "$M" "$STATE/store" | head -3)"
fi
n_enc=$(find "$STATE/store/objects-enc" -type f | wc -l)
[ "$n_enc" -ge 6 ] || fail "expected encrypted objects, found $n_enc"
for f in $(find "$STATE/store/objects-enc" -type f); do
  [ "$(head -c 7 "$f")" = CUSTENC ] || fail "$f does not start with the CUSTENC magic"
  [ "$(stat -c %a "$f")" = 444 ] || fail "$f mode $(stat -c %a "$f")"
done
grep -rqa "$P one" "$STATE/store/objects" || fail "the plain root's version is not a plaintext object"
grep -rqa "$P two" "$STATE/store/objects" || fail "the plain root's new content is not a plaintext object"
if grep -rqa "$P" "$STATE/store/objects-enc"; then fail "the plain root's content went to objects-enc"; fi
# the live file in the root is the user's working file: plaintext
grep -q "$M version 4" "$WORK/vault/secret.txt" || fail "the live file is not plaintext"

# ---- reading back
sha() { sha256sum "$1" | cut -d' ' -f1; }
"$C" versions --json vault:/secret.txt >"$WORK/versions.json" || fail "versions"
"$C" versions vault:/secret.txt >"$WORK/versions.txt" || fail "versions (text)"
grep -q " $(sha "$WORK/v2")$" "$WORK/versions.txt" || fail "versions does not list v2's sha256"
vnum() {
  python3 - "$WORK/versions.json" "$1" <<'PY'
import json, sys
vs = json.load(open(sys.argv[1]))["versions"]
m = [v for v in vs if v["sha256"] == sys.argv[2]]
assert m, "no version with sha256 " + sys.argv[2]
assert all(v.get("available", True) for v in m), m
print(m[0]["version"])
PY
}
for x in v1 v2 v3 vx v4; do
  n=$(vnum "$(sha "$WORK/$x")") || fail "no version for $x"
  "$C" cat vault:/secret.txt --version "$n" >"$WORK/got" || fail "cat --version $n ($x)"
  cmp -s "$WORK/got" "$WORK/$x" || fail "cat --version $n: not $x's content"
  eval "n_$x=$n"
done
# GET ?version= over HTTP: the body and the ETag are the plaintext's
curl -s $S -D "$WORK/h" -o "$WORK/got" "http://localhost/v1/fs/vault/secret.txt?version=$n_v2"
cmp -s "$WORK/got" "$WORK/v2" || fail "GET ?version=: wrong body"
grep -qi "^etag: \"$(sha "$WORK/v2")\"" "$WORK/h" || fail "GET ?version=: ETag is not the plaintext's sha256: $(cat "$WORK/h")"
curl -s $S -r 5-20 -o "$WORK/got" "http://localhost/v1/fs/vault/secret.txt?version=$n_v2"
[ "$(cat "$WORK/got")" = "$(head -c 21 "$WORK/v2" | tail -c 16)" ] || fail "GET ?version= with a Range"
"$C" versions --json vault:/big.txt >"$WORK/versions.json" || fail "versions big"
nb=$(vnum "$(sha "$WORK/big")") || fail "no version for big"
"$C" cat vault:/big.txt --version "$nb" >"$WORK/got" || fail "cat big --version"
cmp -s "$WORK/got" "$WORK/big" || fail "big version: wrong content"

# ---- rollback
"$C" rollback vault:/secret.txt --to "$n_v1" >/dev/null || fail "rollback to v1"
"$C" cat vault:/secret.txt >"$WORK/got" || fail "cat after rollback"
cmp -s "$WORK/got" "$WORK/v1" || fail "rollback did not restore v1"
"$C" rollback vault:/big.txt --to "$nb" >/dev/null || fail "rollback big"
cmp -s "$WORK/vault/big.txt" "$WORK/big" || fail "rollback big: wrong content"
if grep -rqa "$M" "$STATE/store"; then fail "the marker is in clear after rollback"; fi

# ---- a restart loads the same key; history still reads
stop_daemon || fail "custodyd did not stop cleanly"
start_daemon
[ "$(cat "$key")" = "$key_before" ] || fail "the store key changed across a restart"
"$C" cat vault:/secret.txt --version "$n_v3" >"$WORK/got" || fail "cat --version after restart"
cmp -s "$WORK/got" "$WORK/v3" || fail "after restart: wrong content"

# ---- tampering is refused, never answered with garbage
obj="$STATE/store/objects-enc/$(sha "$WORK/v3" | cut -c1-2)/$(sha "$WORK/v3" | cut -c3-)"
[ -f "$obj" ] || fail "no encrypted object for v3 at $obj"
chmod 600 "$obj"
printf '\x00' | dd of="$obj" bs=1 seek=70 conv=notrunc status=none
if "$C" cat vault:/secret.txt --version "$n_v3" >"$WORK/got" 2>"$WORK/err"; then
  fail "a tampered version was served"
fi
grep -q "corrupt" "$WORK/err" || fail "the error does not say corrupt: $(cat "$WORK/err")"
[ ! -s "$WORK/got" ] || fail "a tampered version sent bytes"
code=$(curl -s $S -o /dev/null -w '%{http_code}' "http://localhost/v1/fs/vault/secret.txt?version=$n_v3")
[ "$code" = 500 ] || fail "GET of a tampered version: $code"
if "$C" rollback vault:/secret.txt --to "$n_v3" >/dev/null 2>&1; then fail "rollback to a tampered version"; fi
cmp -s "$WORK/vault/secret.txt" "$WORK/v1" || fail "a failed rollback changed the file"

# ---- a key others can read: custodyd refuses to start
stop_daemon || fail "custodyd did not stop cleanly"
chmod 644 "$key"
if timeout 20 "$BIN/custodyd" --state "$STATE" >"$WORK/refused.log" 2>&1; then
  fail "custodyd started with a 0644 store key"
fi
grep -q "keys/store.key: mode 0644" "$WORK/refused.log" || fail "no clear error: $(tail -3 "$WORK/refused.log")"
if grep -q "$key_before" "$WORK/refused.log" "$WORK/daemon.log"; then fail "the key was logged"; fi
chmod 600 "$key"
echo "test_encrypt: ok"
