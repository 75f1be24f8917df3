#!/usr/bin/env bash
# test_pull.sh — model pull (src/pull, driven by pulltool) against real origins on loopback:
# nginx (ranged GETs, a slow location for interruption, one without range support, one that
# always answers 503) and s3rver (tests/s3, SigV4). A model is signed with pulltool sign
# (src/manifest), then:
#   - pulled with several streams and small chunks; the bytes are checked;
#   - interrupted (SIGINT: state kept, exit 130; SIGKILL mid-way) and resumed: only the rest
#     is fetched (pulltool's report and nginx's access log agree);
#   - refused: a shard altered after signing (SHA-256 mismatch, no file, no partial left),
#     a shard truncated (size), a missing shard (404), a manifest signed by another key, an
#     origin without ranges for a multi-chunk file, an origin that keeps failing (503);
#   - the same model from s3rver with s3:// URLs, and a wrong secret key -> access denied.
# s3rver does not check SigV4 signatures itself: tests/s3/sigv4_proxy.py, in front of it, does.
# Needs nginx, python3, node and tests/s3/node_modules (scripts/install-deps.sh).
source "$(dirname "$0")/lib.sh"

PULL=$BIN/pulltool
[ -x "$PULL" ] || fail "$PULL is not built"
command -v nginx >/dev/null || fail "nginx is needed (scripts/deps.txt)"
S3RVER=$SRC/tests/s3/node_modules/s3rver/bin/s3rver.js
[ -f "$S3RVER" ] || fail "tests/s3/node_modules is missing: run scripts/install-deps.sh (make deps), or npm ci in tests/s3"

PIDS=()
pull_cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  cleanup
}
trap pull_cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# mkst PATH BYTES: a safetensors file with one U8 tensor of BYTES random bytes
mkst() {
  python3 - "$1" "$2" <<'EOF'
import json, os, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
hdr = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
hdr += b" " * ((8 - len(hdr) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr + os.urandom(n))
EOF
}

# ---- keys and the signed model -------------------------------------------------------------
KEYS=$WORK/keys WWW=$WORK/www
mkdir -p "$KEYS" "$WWW/m1"
"$PULL" keygen "$KEYS/priv.pem" "$KEYS/pub.pem"
"$PULL" keygen "$KEYS/other.pem" "$KEYS/other.pub.pem"
mkst "$WWW/m1/a.safetensors" $((24 * 1024 * 1024))
mkst "$WWW/m1/b.safetensors" $((3 * 1024 * 1024 + 17))
"$PULL" sign "$KEYS/priv.pem" tiny 1.0 "$WWW/m1/manifest.dsse.json" "$WWW/m1/a.safetensors" "$WWW/m1/b.safetensors"
A_SIZE=$(stat -c %s "$WWW/m1/a.safetensors")
# m2: a shard altered after signing; m3: a shard missing; m4: a shard truncated
cp -r "$WWW/m1" "$WWW/m2"
printf '\xff\xfe' | dd of="$WWW/m2/b.safetensors" bs=1 seek=$((2 * 1024 * 1024)) conv=notrunc status=none
cp -r "$WWW/m1" "$WWW/m3"
rm "$WWW/m3/b.safetensors"
cp -r "$WWW/m1" "$WWW/m4"
truncate -s $((3 * 1024 * 1024)) "$WWW/m4/b.safetensors"

# ---- nginx --------------------------------------------------------------------------------
NG=$WORK/nginx
mkdir -p "$NG/tmp"
PORT=$(free_port)
user=""
[ "$(id -u)" -ne 0 ] || user="user root;"
cat >"$NG/nginx.conf" <<EOF
daemon off;
$user
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 256; }
http {
  log_format bytes '\$uri \$status \$body_bytes_sent "\$http_range"';
  access_log $NG/access.log bytes;
  sendfile on;
  default_type application/octet-stream;
  client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp; fastcgi_temp_path $NG/tmp;
  uwsgi_temp_path $NG/tmp; scgi_temp_path $NG/tmp;
  server {
    listen 127.0.0.1:$PORT;
    root $WWW;
    location /slow/ { alias $WWW/; sendfile off; output_buffers 1 32k; limit_rate 1m; }
    location /norange/ { alias $WWW/; max_ranges 0; }
    location /err/ { return 503; }
  }
}
EOF
nginx -c "$NG/nginx.conf" -p "$NG" -e "$NG/error.log" >"$NG/stdout.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/m1/manifest.dsse.json" && break
  sleep 0.05
done
curl -sf -o /dev/null "http://127.0.0.1:$PORT/m1/manifest.dsse.json" || fail "nginx did not start: $(cat "$NG/error.log")"
URL=http://127.0.0.1:$PORT

same_model() { # DIR: the pulled files equal the origin's
  cmp -s "$1/a.safetensors" "$WWW/m1/a.safetensors" || fail "$1/a.safetensors differs"
  cmp -s "$1/b.safetensors" "$WWW/m1/b.safetensors" || fail "$1/b.safetensors differs"
  [ -z "$(ls "$1" | grep -E '\.partial' || true)" ] || fail "partial files left in $1: $(ls "$1")"
}

report() { # FILE NAME FIELD: a field of pulltool's "pulled NAME ..." line
  awk -v n="$2" -v f="$3" '$1 == "pulled" && $2 == n { for (i = 3; i < NF; i++) if ($i == f) print $(i + 1) }' "$1"
}

# 1. a plain pull: 4 streams, 256 KiB chunks (~100 ranged GETs for a)
"$PULL" "$URL/m1/" "$WORK/d1" --streams 4 --chunk 262144 --key "$KEYS/pub.pem" >"$WORK/p1.out" 2>"$WORK/p1.err" ||
  fail "pull failed: $(cat "$WORK/p1.err")"
same_model "$WORK/d1"
[ "$(report "$WORK/p1.out" a.safetensors requests)" -ge 96 ] || fail "expected >= 96 ranged GETs: $(cat "$WORK/p1.out")"
grep -q '^ok tiny 1.0 files 2 ' "$WORK/p1.out" || fail "no ok line: $(cat "$WORK/p1.out")"
cmp -s "$WORK/d1/manifest.dsse.json" "$WWW/m1/manifest.dsse.json" || fail "manifest not kept"
[ "$(grep -c ' 206 ' "$NG/access.log")" -ge 96 ] || fail "nginx did not serve ranges"
echo "ok: pull over 4 streams x 256 KiB"

# 2. interrupted with SIGINT (state kept, exit 130), then SIGKILL, then resumed
state_done() { sed -n 's/^done \([0-9]*\)$/\1/p' "$1" 2>/dev/null || true; }
wait_state() { # FILE MIN_BYTES
  for _ in $(seq 200); do
    local d
    d=$(state_done "$1")
    [ -n "$d" ] && [ "$d" -ge "$2" ] && return 0
    sleep 0.05
  done
  fail "no resume state with >= $2 bytes in $1"
}
D2=$WORK/d2
"$PULL" "$URL/slow/m1/" "$D2" --streams 4 --chunk 1048576 --state-ms 100 --key "$KEYS/pub.pem" \
  --no-progress >"$WORK/p2.out" 2>"$WORK/p2.err" &
PP=$!
wait_state "$D2/a.safetensors.partial.state" 1048576
kill -INT "$PP"
rc=0
wait "$PP" || rc=$?
[ "$rc" = 130 ] || fail "SIGINT: exit $rc, expected 130: $(cat "$WORK/p2.err")"
grep -q "interrupted" "$WORK/p2.err" || fail "no 'interrupted' message: $(cat "$WORK/p2.err")"
[ -f "$D2/a.safetensors.partial" ] || fail "partial file not kept"
[ ! -e "$D2/a.safetensors" ] || fail "an unverified file became visible"
kept=$(state_done "$D2/a.safetensors.partial.state")

# resume on the slow origin, then SIGKILL it mid-way
"$PULL" "$URL/slow/m1/" "$D2" --streams 4 --chunk 1048576 --state-ms 100 --key "$KEYS/pub.pem" \
  --no-progress >"$WORK/p3.out" 2>"$WORK/p3.err" &
PP=$!
wait_state "$D2/a.safetensors.partial.state" $((kept + 2 * 1048576))
kill -KILL "$PP"
wait "$PP" 2>/dev/null || true
[ ! -e "$D2/a.safetensors" ] || fail "an unverified file became visible after SIGKILL"
kept=$(state_done "$D2/a.safetensors.partial.state")
[ "$kept" -gt 0 ] && [ "$kept" -lt "$A_SIZE" ] || fail "state after SIGKILL: done=$kept"

# the final resume on the fast origin fetches only the rest
mark=$(wc -l <"$NG/access.log")
"$PULL" "$URL/m1/" "$D2" --streams 4 --chunk 1048576 --key "$KEYS/pub.pem" >"$WORK/p4.out" 2>"$WORK/p4.err" ||
  fail "resume failed: $(cat "$WORK/p4.err")"
same_model "$D2"
resumed=$(report "$WORK/p4.out" a.safetensors resumed)
fetched=$(report "$WORK/p4.out" a.safetensors fetched)
[ "$resumed" -ge "$kept" ] || fail "resumed $resumed < state's $kept"
[ $((resumed + fetched)) = "$A_SIZE" ] || fail "resumed $resumed + fetched $fetched != $A_SIZE"
sent=$(tail -n +"$((mark + 1))" "$NG/access.log" | awk '$1 == "/m1/a.safetensors" { s += $3 } END { print s + 0 }')
[ "$sent" = "$fetched" ] || fail "nginx sent $sent bytes of a.safetensors, pulltool fetched $fetched"
echo "ok: interrupted (SIGINT, SIGKILL) and resumed: kept $resumed bytes, fetched the other $fetched"

# 3. refusals: nothing unverified ever visible
expect_fail() { # NAME DIR PATTERN -- pulltool args...
  local name=$1 dir=$2 pat=$3
  shift 4
  local rc=0
  "$PULL" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  [ "$rc" = 1 ] || fail "$name: exit $rc, expected 1: $(cat "$WORK/$name.err")"
  grep -qE "$pat" "$WORK/$name.err" || fail "$name: message does not match '$pat': $(cat "$WORK/$name.err")"
  if [ -d "$dir" ]; then
    [ ! -e "$dir/b.safetensors" ] || fail "$name: b.safetensors is visible"
    [ -z "$(ls "$dir" | grep -E '^b\.safetensors\.partial' || true)" ] || fail "$name: partial left: $(ls "$dir")"
    [ ! -e "$dir/manifest.dsse.json" ] || fail "$name: manifest written after a failure"
  fi
  echo "ok: $name refused: $(head -c 300 "$WORK/$name.err")"
}
B_SHA=$(sha256sum "$WWW/m1/b.safetensors" | cut -d' ' -f1)
BAD_SHA=$(sha256sum "$WWW/m2/b.safetensors" | cut -d' ' -f1)
expect_fail altered "$WORK/d5" "'b.safetensors': SHA-256 mismatch: the manifest says $B_SHA, the origin served $BAD_SHA" -- \
  "$URL/m2/" "$WORK/d5" --streams 3 --chunk 65536 --key "$KEYS/pub.pem"
expect_fail truncated "$WORK/d6" "the origin has 3145728 bytes, the manifest says" -- \
  "$URL/m4/" "$WORK/d6" --chunk 65536 --key "$KEYS/pub.pem"
expect_fail missing "$WORK/d7" "'b.safetensors'.*not found at the origin \(HTTP 404" -- \
  "$URL/m3/" "$WORK/d7" --key "$KEYS/pub.pem"
expect_fail badsig "$WORK/d8" "manifest refused: .*(signature|key)" -- \
  "$URL/m1/" "$WORK/d8" --key "$KEYS/other.pub.pem"
[ ! -e "$WORK/d8" ] || fail "badsig: the destination was created"
expect_fail norange "$WORK/d9" "ignored the byte range \(HTTP 200 instead of 206\)" -- \
  "$URL/norange/m1/" "$WORK/d9" --chunk 1048576 --key "$KEYS/pub.pem"
expect_fail nomanifest "$WORK/d10" "manifest: 'manifest.dsse.json': not found at the origin" -- \
  "$URL/nothing/" "$WORK/d10" --key "$KEYS/pub.pem"
expect_fail unavailable "$WORK/d11" "HTTP 503" -- \
  "$URL/err/m1/" "$WORK/d11" --key "$KEYS/pub.pem"
# a small file from an origin without ranges is fine (a 200 for the whole file)
"$PULL" "$URL/norange/m1/" "$WORK/d12" --chunk $((64 * 1024 * 1024)) --key "$KEYS/pub.pem" >/dev/null 2>"$WORK/d12.err" ||
  fail "whole-file 200 refused: $(cat "$WORK/d12.err")"
same_model "$WORK/d12"
echo "ok: origin without ranges, files within one chunk"
rm -rf "$WORK"/d*

# ---- s3rver ---------------------------------------------------------------------------------
S3P=$(free_port)
mkdir -p "$WORK/s3"
node "$S3RVER" -d "$WORK/s3" -a 127.0.0.1 -p "$S3P" --silent --configure-bucket models >"$WORK/s3rver.log" 2>&1 &
PIDS+=($!)
EP=http://127.0.0.1:$S3P
for _ in $(seq 100); do
  curl -s -o /dev/null "$EP/" && break
  sleep 0.1
done
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_DEFAULT_REGION
# upload with curl's own SigV4 (independent of the code under test)
put() { # LOCAL KEY
  curl -sf --aws-sigv4 "aws:amz:us-east-1:s3" --user "S3RVER:S3RVER" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    -T "$1" "$EP/models/$2" -o /dev/null || fail "upload of $2 to s3rver failed: $(tail -5 "$WORK/s3rver.log")"
}
for f in manifest.dsse.json a.safetensors b.safetensors; do put "$WWW/m1/$f" "llama/tiny/$f"; done
put "$WWW/m1/manifest.dsse.json" "altered/manifest.dsse.json"
put "$WWW/m1/a.safetensors" "altered/a.safetensors"
put "$WWW/m2/b.safetensors" "altered/b.safetensors"
# s3rver does not verify SigV4 signatures (only that the access key exists): pulls go through
# tests/s3/sigv4_proxy.py, which checks them as S3 does (an independent implementation in
# Python) and forwards to s3rver
PXP=$(free_port)
python3 "$SRC/tests/s3/sigv4_proxy.py" "$PXP" "$S3P" S3RVER S3RVER >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$PXP/models/llama/tiny/manifest.dsse.json" && break
  sleep 0.05
done
EP=http://127.0.0.1:$PXP

"$PULL" s3://models/llama/tiny "$WORK/s1" --endpoint "$EP" --streams 4 --chunk 1048576 --key "$KEYS/pub.pem" \
  >"$WORK/s1.out" 2>"$WORK/s1.err" || fail "s3 pull failed: $(cat "$WORK/s1.err")"
same_model "$WORK/s1"
echo "ok: s3:// pull from s3rver ($(report "$WORK/s1.out" a.safetensors requests) signed ranged GETs for a, signatures checked)"
# the endpoint from the environment
AWS_ENDPOINT_URL=$EP "$PULL" s3://models/llama/tiny/ "$WORK/s2" --key "$KEYS/pub.pem" >/dev/null 2>"$WORK/s2.err" ||
  fail "s3 pull (endpoint from AWS_ENDPOINT_URL) failed: $(cat "$WORK/s2.err")"
same_model "$WORK/s2"
AWS_SECRET_ACCESS_KEY=wrong-secret expect_fail s3-badsecret "$WORK/s3d" "access denied \(HTTP 403, SignatureDoesNotMatch" -- \
  s3://models/llama/tiny "$WORK/s3d" --endpoint "$EP" --key "$KEYS/pub.pem"
grep -q "wrong-secret" "$WORK/s3-badsecret.err" && fail "the secret key appears in a message"
AWS_ACCESS_KEY_ID=NOBODY expect_fail s3-badkey "$WORK/s4d" "access denied \(HTTP 403, InvalidAccessKeyId" -- \
  s3://models/llama/tiny "$WORK/s4d" --endpoint "$EP" --key "$KEYS/pub.pem"
expect_fail s3-altered "$WORK/s5d" "'b.safetensors': SHA-256 mismatch" -- \
  s3://models/altered "$WORK/s5d" --endpoint "$EP" --chunk 65536 --key "$KEYS/pub.pem"
expect_fail s3-missing "$WORK/s6d" "not found at the origin \(HTTP 404, NoSuchKey" -- \
  s3://models/nothing "$WORK/s6d" --endpoint "$EP" --key "$KEYS/pub.pem"

# ---- custody model pull: through the CLI into custodyd's cache ------------------------------
init_state
start_daemon
C=("$BIN/custody" --state "$STATE")
"${C[@]}" model pull "$URL/m1/" --key "$KEYS/pub.pem" --streams 4 --chunk 1048576 --quiet \
  >"$WORK/cp1.out" 2>"$WORK/cp1.err" || fail "custody model pull: $(cat "$WORK/cp1.err")"
grep -q '^pulled tiny@1.0: 2 files' "$WORK/cp1.out" || fail "pull said: $(cat "$WORK/cp1.out")"
"${C[@]}" model load tiny@1.0 >/dev/null || fail "load of the pulled model"
[ -z "$(ls -A "$STATE/models/staging" 2>/dev/null)" ] || fail "staging not cleaned: $(ls -R "$STATE/models/staging")"
for f in a b; do
  o="$STATE/models/objects/$(sha256sum "$WWW/m1/$f.safetensors" | cut -c1-2)/$(sha256sum "$WWW/m1/$f.safetensors" | cut -d' ' -f1)"
  cmp -s "$o" "$WWW/m1/$f.safetensors" || fail "cached $f differs from the origin's"
done
# wrong bytes at the origin: refused, nothing registered, a refusal in the ledger
"${C[@]}" model pull "$URL/m2/" --key "$KEYS/pub.pem" --chunk 65536 --name altered --quiet \
  2>"$WORK/cp2.err" && fail "an altered shard was pulled"
grep -q "SHA-256 mismatch" "$WORK/cp2.err" || fail "altered: $(cat "$WORK/cp2.err")"
"${C[@]}" model show altered@1.0 >/dev/null 2>&1 && fail "the altered model is registered"
find "$STATE/models/staging" -name 'b.safetensors' | grep . && fail "an unverified shard is visible"
has_event 'SHA-256 mismatch' --action model.pull || fail "no model.pull refusal event"
# a manifest signed by another key
"${C[@]}" model pull "$URL/m1/" --key "$KEYS/other.pub.pem" --name other --quiet 2>"$WORK/cp3.err" &&
  fail "a manifest under an untrusted key was accepted"
grep -q "manifest refused" "$WORK/cp3.err" || fail "untrusted: $(cat "$WORK/cp3.err")"
# interrupted through the slow location, then the same command resumes
"${C[@]}" model pull "$URL/slow/m1/" --key "$KEYS/pub.pem" --name slow --streams 2 --chunk 1048576 --quiet \
  >/dev/null 2>"$WORK/cp4.err" &
pp=$!
sleep 1.5
kill -INT "$pp"
wait "$pp" && fail "the interrupted pull succeeded"
grep -q "interrupted; the same command resumes" "$WORK/cp4.err" || fail "interrupt: $(cat "$WORK/cp4.err")"
"${C[@]}" model pull "$URL/slow/m1/" --key "$KEYS/pub.pem" --name slow --streams 8 --chunk 1048576 --quiet \
  >"$WORK/cp5.out" 2>"$WORK/cp5.err" || fail "resume: $(cat "$WORK/cp5.err")"
grep -q 'the rest resumed' "$WORK/cp5.out" || fail "resume said: $(cat "$WORK/cp5.out")"
pct=$(sed -E 's/.*\(([0-9.]+)% fetched.*/\1/' "$WORK/cp5.out")
python3 -c "import sys; sys.exit(0 if float('$pct') < 100 else 1)" || fail "the resumed pull fetched everything again ($pct%)"
"${C[@]}" model load slow@1.0 >/dev/null || fail "load of the resumed model"
echo "ok: custody model pull (nginx): verified into the cache, refusals audited, resumed after an interrupt"
echo "PASS test_pull"
