#!/usr/bin/env bash
# bench/pull.sh — model pull (src/pull, driven by tests/tools/pulltool) against curl, from a
# loopback nginx, with the same parallelism, in one run (issue 6: pull >= 0.9x curl).
#
# One signed model (one safetensors file of BENCH_PULL_SIZE bytes) is served by nginx (one
# worker, sendfile, page cache warm). Each round runs, alternating:
#   curl-procs     STREAMS curl processes, each fetching one contiguous 1/STREAMS of the file
#                  with --range into its own file;
#   curl-parallel  one curl --parallel --parallel-max STREAMS fetching the file in CHUNK-sized
#                  --range parts (what pulltool does, without hashing);
#   pulltool       manifest fetch + Ed25519 verify + STREAMS x CHUNK ranged GETs into
#                  NAME.partial, SHA-256 of every byte as it arrives, fsync, rename.
# The figure of each tool is its best round; the ratio is pulltool against the better curl.
# Everything is timed as whole-process wall time. Output files go to BENCH_PULL_DEST (default
# /dev/shm, so the disk is not measured: both sides write to the same place).
#
# A benchmark, not a test: exits 0 when the ratio misses 0.9 (it prints FAIL); non-zero only
# when it cannot run.
#
# Environment: BENCH_BIN (default build/bin), BENCH_PULL_SIZE (bytes, default 1 GiB),
# BENCH_PULL_STREAMS (8), BENCH_PULL_CHUNK (8 MiB), BENCH_ROUNDS (5), BENCH_PULL_DEST,
# BENCH_KEEP=1 (keep the temporary directory).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${BENCH_BIN:-$repo/build/bin}
SIZE=${BENCH_PULL_SIZE:-$((1024 * 1024 * 1024))}
STREAMS=${BENCH_PULL_STREAMS:-8}
CHUNK=${BENCH_PULL_CHUNK:-$((8 * 1024 * 1024))}
ROUNDS=${BENCH_ROUNDS:-5}
DEST_ROOT=${BENCH_PULL_DEST:-/dev/shm}
[ -d "$DEST_ROOT" ] && [ -w "$DEST_ROOT" ] || DEST_ROOT=${TMPDIR:-/tmp}

for tool in nginx curl python3 openssl; do
  command -v "$tool" >/dev/null || { echo "bench/pull: $tool is missing" >&2; exit 1; }
done
[ -x "$BIN/pulltool" ] || { echo "bench/pull: $BIN/pulltool is not built (cmake --build build)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/custody-pull-bench.XXXXXX")
DEST=$(mktemp -d "$DEST_ROOT/custody-pull-bench.XXXXXX")
NGINX_PID=""
cleanup() {
  local rc=$?
  if [ -n "$NGINX_PID" ]; then
    kill -TERM "$NGINX_PID" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$NGINX_PID" 2>/dev/null || true
  fi
  rm -rf "$DEST"
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench/pull: kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }

# ---- the model ------------------------------------------------------------------------------
mkdir -p "$WORK/www/m" "$WORK/keys" "$WORK/nginx/tmp"
log "bench/pull: writing a $SIZE-byte safetensors file and signing it"
python3 - "$WORK/www/m/model.safetensors" "$SIZE" <<'EOF'
import json, os, struct, sys
path, total = sys.argv[1], int(sys.argv[2])
n = total - 8 - 80
hdr = json.dumps({"w": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]}}).encode()
hdr += b" " * (80 - len(hdr))
assert len(hdr) == 80
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hdr)) + hdr)
    block = os.urandom(1 << 24)
    left = n
    while left:
        k = min(left, len(block)); f.write(block[:k]); left -= k
EOF
"$BIN/pulltool" keygen "$WORK/keys/priv.pem" "$WORK/keys/pub.pem"
"$BIN/pulltool" sign "$WORK/keys/priv.pem" bench 1 "$WORK/www/m/manifest.dsse.json" "$WORK/www/m/model.safetensors"
cat "$WORK/www/m/model.safetensors" >/dev/null # page cache warm

# ---- nginx ------------------------------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user=""
[ "$(id -u)" -ne 0 ] || user="user root;"
NG=$WORK/nginx
cat >"$NG/nginx.conf" <<EOF
daemon off;
$user
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp; fastcgi_temp_path $NG/tmp;
  uwsgi_temp_path $NG/tmp; scgi_temp_path $NG/tmp;
  server { listen 127.0.0.1:$PORT; root $WORK/www; }
}
EOF
nginx -c "$NG/nginx.conf" -p "$NG" -e "$NG/error.log" >"$NG/stdout.log" 2>&1 &
NGINX_PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/m/manifest.dsse.json" && break; sleep 0.05; done
URL=http://127.0.0.1:$PORT/m/model.safetensors

# ---- the contenders -------------------------------------------------------------------------
run_curl_procs() {
  local per=$(((SIZE + STREAMS - 1) / STREAMS)) pids=() i a b
  for ((i = 0; i < STREAMS; i++)); do
    a=$((i * per)) b=$(((i + 1) * per - 1))
    [ $b -lt $SIZE ] || b=$((SIZE - 1))
    curl -sf -r "$a-$b" -o "$DEST/part.$i" "$URL" &
    pids+=($!)
  done
  local rc=0
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  return $rc
}

run_curl_parallel() {
  local i=0 a b
  : >"$WORK/curl.cfg"
  for ((a = 0; a < SIZE; a += CHUNK)); do
    b=$((a + CHUNK - 1))
    [ $b -lt $SIZE ] || b=$((SIZE - 1))
    printf 'url = "%s"\nrange = "%d-%d"\noutput = "%s/part.%d"\n' "$URL" "$a" "$b" "$DEST" "$i" >>"$WORK/curl.cfg"
    i=$((i + 1))
  done
  curl -sf --no-progress-meter --parallel --parallel-max "$STREAMS" -K "$WORK/curl.cfg"
}

run_pulltool() {
  "$BIN/pulltool" "http://127.0.0.1:$PORT/m/" "$DEST/pulled" --streams "$STREAMS" --chunk "$CHUNK" \
    --key "$WORK/keys/pub.pem" --no-progress >"$WORK/pulltool.out" 2>"$WORK/pulltool.err" ||
    { log "pulltool failed: $(cat "$WORK/pulltool.err")"; return 1; }
}

declare -A BEST
measure() { # name function
  rm -rf "${DEST:?}"/*
  sync
  local t0 t1 gbps
  t0=$(now)
  "$2" || { log "bench/pull: $1 failed"; exit 1; }
  t1=$(now)
  # checked outside the timed part
  if [ "$1" != pulltool ]; then
    local got
    got=$(cat "$DEST"/part.* | wc -c)
    [ "$got" = "$SIZE" ] || { log "bench/pull: $1 wrote $got bytes, not $SIZE"; exit 1; }
  else
    cmp -s "$DEST/pulled/model.safetensors" "$WORK/www/m/model.safetensors" || { log "bench/pull: pulltool: wrong bytes"; exit 1; }
  fi
  gbps=$(python3 -c "print('%.3f' % ($SIZE / ($t1 - $t0) / 1e9))")
  printf '  %-14s %6s GB/s  (%.2f s)\n' "$1" "$gbps" "$(python3 -c "print($t1 - $t0)")"
  if [ -z "${BEST[$1]:-}" ] || python3 -c "import sys; sys.exit(0 if $gbps > ${BEST[$1]} else 1)"; then
    BEST[$1]=$gbps
  fi
}

echo "bench/pull: $SIZE bytes from nginx on loopback, $STREAMS streams, chunk $CHUNK, $ROUNDS rounds, into $DEST_ROOT ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
for ((r = 1; r <= ROUNDS; r++)); do
  echo "round $r"
  measure curl-procs run_curl_procs
  measure curl-parallel run_curl_parallel
  measure pulltool run_pulltool
done
rm -rf "${DEST:?}"/*

# context: what verifying costs here. SHA-256 of the same bytes on one core (page cache)
t0=$(now)
openssl dgst -sha256 "$WORK/www/m/model.safetensors" >/dev/null
t1=$(now)
sha_gbps=$(python3 -c "print('%.3f' % ($SIZE / ($t1 - $t0) / 1e9))")

curl_best=$(python3 -c "print(max(${BEST[curl-procs]}, ${BEST[curl-parallel]}))")
ratio=$(python3 -c "print('%.2f' % (${BEST[pulltool]} / $curl_best))")
verdict=$(python3 -c "print('ok' if $ratio >= 0.9 else 'FAIL')")
echo
echo "best of $ROUNDS: curl-procs ${BEST[curl-procs]} GB/s, curl-parallel ${BEST[curl-parallel]} GB/s, pulltool ${BEST[pulltool]} GB/s (verified)"
echo "sha256 alone, one core (openssl dgst, page cache): $sha_gbps GB/s"
echo "pulltool / best curl = $ratio (bar 0.90): $verdict"
