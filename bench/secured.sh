#!/usr/bin/env bash
# bench/secured.sh — the secured read path against nginx serving plain
# (`make bench`, issue 4's bar: 4 KiB requests/s >= 0.5x nginx, 1 GiB ranged
# reads >= 0.9x nginx).
#
# custodyd is loaded by an enrolled agent: each connection opens with a
# session proof (Ed25519), every request carries a capability token, and
# custodyd decides each request (token caveats + Cedar policy) and makes its
# audit event durable before answering. nginx serves the same files with no
# checks. Both are driven by the same closed-loop driver (build/bin/
# secured_bench) over a Unix socket and TLS, HTTP/1.1 keep-alive and HTTP/2,
# servers pinned to CPU 0 and the driver to CPU 1. Figures are ratios against nginx in the
# same run. A benchmark, not a test: exits 0 when a ratio misses its bar.
#
#   BENCH_SECONDS=N (default 10)  BENCH_ROUNDS=N (default 1; best of N)
#   BENCH_ONLY=REGEX (scenario ids: unix-h1 unix-h1-threads unix-h2c tls-h1 tls-h2 big-unix)
#   BENCH_OPERATOR=1 (also load custodyd as the operator, no token, on the Unix socket)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${BENCH_BIN:-$repo/build/bin}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-1}
NSMALL=1000
BIG=$((1024 * 1024 * 1024))
STEP=$((16 * 1024 * 1024))
for t in nginx openssl curl taskset python3; do
  command -v $t >/dev/null || { echo "secured bench: $t missing (make deps)" >&2; exit 1; }
done
WORK=$(mktemp -d "${TMPDIR:-/tmp}/custody-secured.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
SRV=(); CLI=()
if [ "$(nproc)" -ge 2 ]; then SRV=(taskset -c 0); CLI=(taskset -c 1); fi

DATA=$WORK/data
"$here/dataset.sh" "$DATA" $NSMALL $BIG
ls "$DATA/small" | sed 's|^|/v1/fs/bench/small/|' >"$WORK/paths.txt"

STATE=$WORK/state
"$BIN/custody" init --state "$STATE" >/dev/null
NPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# nginx, plain
mkdir -p "$WORK/nginx/tmp"
user=""; [ "$(id -u)" -ne 0 ] || user="user root;"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off; $user master_process on; worker_processes 1;
pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off; sendfile on; tcp_nopush on; keepalive_requests 10000000; keepalive_timeout 300s;
  client_body_temp_path $WORK/nginx/tmp; proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp; uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  server { listen unix:$WORK/nginx/h1.sock; listen unix:$WORK/nginx/h2c.sock http2;
           listen 127.0.0.1:$NPORT ssl http2;
           ssl_certificate $STATE/tls/cert.pem; ssl_certificate_key $STATE/tls/key.pem;
           ssl_protocols TLSv1.3; location /v1/fs/bench/ { alias $DATA/; } }
}
EOF
"${SRV[@]}" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -e "$WORK/nginx/error.log" &
PIDS+=($!)

# custodyd: the bench root, an agent, a policy that lets it read the root
printf 'roots:\n  - name: bench\n    path: %s\n' "$DATA" >"$STATE/roots.yaml"
CPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i -E "s/^([[:space:]]+port:) 8443\$/\1 $CPORT/; s/^([[:space:]]+level:) info\$/\1 warn/" "$STATE/config.yaml"
cat >"$STATE/policy/bench.cedar" <<'EOF'
@id("bench-agent-reads-bench")
permit (principal == Agent::"bench", action in Action::"readonly", resource in Root::"bench");
EOF
"${SRV[@]}" "$BIN/custodyd" --state "$STATE" >>"$WORK/custodyd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$STATE/custodyd.sock" ] && [ -S "$WORK/nginx/h1.sock" ] && break; sleep 0.1; done
openssl genpkey -algorithm ed25519 -out "$WORK/bench.pem" 2>/dev/null
pub=$(openssl pkey -in "$WORK/bench.pem" -pubout -outform DER | tail -c 32 | od -An -tx1 | tr -d ' \n')
curl -sf --unix-socket "$STATE/custodyd.sock" -d "{\"name\":\"bench\",\"public_key\":\"$pub\"}" \
  http://localhost/v1/agents >/dev/null || { echo "secured bench: cannot enroll the agent" >&2; exit 1; }

agent=(--agent bench --key "$WORK/bench.pem" --mint bench:/)
# warm custodyd's content-hash cache (ETags) the way a running server is warm
curl -sf --unix-socket "$STATE/custodyd.sock" -o /dev/null http://localhost/v1/fs/bench/big.bin
"$BIN/secured_bench" --socket "$STATE/custodyd.sock" --paths "$WORK/paths.txt" --conns 4 --seconds 1 >/dev/null
run() { # "--socket PATH" | "--tls ADDR:PORT", small|big, [driver args]
  local where=$1 kind=$2; shift 2
  # shellcheck disable=SC2086
  if [ "$kind" = small ]; then
    "${CLI[@]}" "$BIN/secured_bench" $where --paths "$WORK/paths.txt" --conns 32 --seconds "$SECS" "$@"
  else
    "${CLI[@]}" "$BIN/secured_bench" $where --range-url /v1/fs/bench/big.bin --size $BIG \
      --step $STEP --conns 4 --seconds "$SECS" "$@"
  fi
}
best() { # field: the best value of field over the rounds (stdin)
  python3 -c 'import sys; f=sys.argv[1]; v=[float(l.split()[l.split().index(f)+1]) for l in sys.stdin if f in l]; print(max(v) if v else 0)' "$1"
}
# id | label | kind | nginx where | custodyd where | extra driver args | field | bar
scenarios=(
  "unix-h1|4 KiB GET, unix, h1, 32 conns, one epoll thread|small|--socket $WORK/nginx/h1.sock|--socket $STATE/custodyd.sock|--epoll 1|requests/s|0.5"
  "unix-h1-threads|4 KiB GET, unix, h1, 32 conns, a thread each|small|--socket $WORK/nginx/h1.sock|--socket $STATE/custodyd.sock||requests/s|0.5"
  "unix-h2c|4 KiB GET, unix, h2c, 32x10 streams|small|--socket $WORK/nginx/h2c.sock|--socket $STATE/custodyd.sock|--h2 10|requests/s|0.5"
  "tls-h1|4 KiB GET, TLS 1.3, h1, 32 conns|small|--tls 127.0.0.1:$NPORT|--tls 127.0.0.1:$CPORT||requests/s|0.5"
  "tls-h2|4 KiB GET, TLS 1.3, h2, 32x10 streams|small|--tls 127.0.0.1:$NPORT|--tls 127.0.0.1:$CPORT|--h2 10|requests/s|0.5"
  "big-unix|1 GiB in 16 MiB ranges, unix, h1, 4 conns (MiB/s)|big|--socket $WORK/nginx/h1.sock|--socket $STATE/custodyd.sock||MiB/s|0.9"
)
ratio_line() { # label nginx custodyd bar last
  python3 -c 'import sys
label, n, c, bar, last = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
r = c / n if n else 0
print("%-52s %12.0f %12.0f %6.2fx %5.1fx %s   (custodyd: %s)" % (label, n, c, r, bar, "PASS" if r >= bar else "FAIL", last))' "$@"
}
printf '%-52s %12s %12s %7s %6s %s\n' "secured read path" "nginx plain" "custodyd" "ratio" "bar" "result"
for sc in "${scenarios[@]}"; do
  IFS='|' read -r id label kind nw cw extra f bar <<<"$sc"
  [ -z "${BENCH_ONLY:-}" ] || [[ $id =~ $BENCH_ONLY ]] || continue
  : >"$WORK/n.$id"; : >"$WORK/c.$id"; : >"$WORK/o.$id"
  for _ in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2086
    run "$nw" $kind $extra >>"$WORK/n.$id"
    # shellcheck disable=SC2086
    run "$cw" $kind $extra "${agent[@]}" >>"$WORK/c.$id"
    if [ "${BENCH_OPERATOR:-0}" = 1 ] && [[ $cw == --socket* ]]; then
      # shellcheck disable=SC2086
      run "$cw" $kind $extra >>"$WORK/o.$id"
    fi
  done
  ratio_line "$label" "$(best $f <"$WORK/n.$id")" "$(best $f <"$WORK/c.$id")" "$bar" \
    "$(grep -h p99_us "$WORK/c.$id" | tail -1)"
  if [ -s "$WORK/o.$id" ]; then echo "    custodyd as the operator, no token: $(tail -1 "$WORK/o.$id")"; fi
done
ev=$(curl -sf --unix-socket "$STATE/custodyd.sock" http://localhost/v1/audit/status | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])')
echo "custodyd recorded $ev audit events (every request decided and durable before its answer)"
