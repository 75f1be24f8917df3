#!/usr/bin/env bash
# bench/run.sh — custodyd against nginx, in one run, on this machine (`make bench`).
#
# Serves one data set (a 1 GiB file and BENCH_SMALL_FILES 4 KiB files) with nginx
# and with custodyd, over a Unix socket (HTTP/1.1 and HTTP/2 prior knowledge) and
# over TCP + TLS 1.3 on loopback (http/1.1 and h2 by ALPN), drives each with
# h2load and wrk, and prints every figure as a ratio against nginx measured in
# the same run (machines are noisy; absolute figures from different runs are
# not comparable). See docs/PERFORMANCE.md for the method and the bar.
#
# It is a benchmark, not a test: it exits 0 when ratios miss their target (the
# table says FAIL); it exits non-zero only when it cannot run at all.
#
# Environment:
#   BENCH_QUICK=1        3 s per measurement instead of 10 (whole run ~1.5 min)
#   BENCH_DURATION=N     seconds per measurement (overrides BENCH_QUICK)
#   BENCH_SERVERS="..."  servers to measure; the first is the peer the ratios are
#                        against. Known: nginx, nginx-ofc (nginx with
#                        open_file_cache on), nginx-nosendfile, custodyd, and h2o-file, h2o-range,
#                        h2o-mmap (need BENCH_H2O_BIN; see bench/http-stack/run.sh).
#                        Default: "nginx custodyd".
#   BENCH_ROUNDS=N       measure every figure N times, servers alternating, and keep
#                        each server's best (default 1; use 2-3 on a busy machine)
#   BENCH_ONLY=REGEX     run only the scenarios whose id matches (e.g. 'small-unix')
#   BENCH_PIN=0          do not pin (default: servers on CPU 0, load generators on
#                        CPU 1, so each side owns one core of the 2-core box)
#   BENCH_SMALL_FILES=N  number of 4 KiB files (default 1000)
#   BENCH_CUSTODYD_SET="k=v ..."  extra config.yaml edits for custodyd (dotted
#                        keys, e.g. "log.level=warn"); each key must exist
#   BENCH_QUIET_WAIT=N   before each figure, wait up to N s (default 10) for other
#                        load on the machine to stop (0: do not wait)
#   BENCH_KEEP=1         keep the temporary directory (logs, configs, data)
#   BENCH_BIN=DIR        where custody/custodyd are (default build/bin)
#   BENCH_OUT=DIR        where results.tsv/results.txt are copied (default build/bench)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${BENCH_BIN:-$repo/build/bin}
OUT=${BENCH_OUT:-$repo/build/bench}
SERVERS=${BENCH_SERVERS:-nginx custodyd}
ONLY=${BENCH_ONLY:-}
PIN=${BENCH_PIN:-1}
NSMALL=${BENCH_SMALL_FILES:-1000}
ROUNDS=${BENCH_ROUNDS:-1}
if [ -n "${BENCH_DURATION:-}" ]; then
  DUR=$BENCH_DURATION
elif [ "${BENCH_QUICK:-0}" = 1 ]; then
  DUR=3
else
  DUR=10
fi

BIG_SIZE=$((1024 * 1024 * 1024))   # the 1 GiB file
RANGE_STEP=$((16 * 1024 * 1024))   # wrk walks it in 16 MiB ranges
SMALL_CONNS=32                     # 4 KiB files: 32 connections (h2: x10 streams each)
SMALL_STREAMS=10
BIG_CONNS=4                        # 1 GiB ranged reads: 4 connections, 1 stream each

for tool in nginx h2load wrk openssl python3 curl taskset; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (make deps installs it)" >&2; exit 1; }
done
NGINX=$(command -v nginx)

# ---- workspace; everything we start is stopped on exit ----------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/custody-bench.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "bench: kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  SRV_CPU=(taskset -c 0)
  CLI_CPU=(taskset -c 1)
else
  SRV_CPU=()
  CLI_CPU=()
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

log() { printf '%s\n' "$*" >&2; }

# ---- data set ---------------------------------------------------------------
DATA=$WORK/data
log "bench: creating the data set in $DATA"
t0=$(date +%s.%N)
"$here/dataset.sh" "$DATA" "$NSMALL" "$BIG_SIZE" || exit 1
ls "$DATA/small" | sed 's|^|http://localhost/v1/fs/bench/small/|' >"$WORK/uris-small.txt"
ls "$DATA/small" | sed 's|^|/v1/fs/bench/small/|' >"$WORK/paths-small.txt"
log "bench: data set ready in $(python3 -c "print(round($(date +%s.%N) - $t0, 1))") s (1 GiB file + $NSMALL x 4 KiB, page cache warm)"

# ---- TLS certificate: custody init's, or a throwaway one ----------------------
STATE=$WORK/state
CERT="" KEY=""
custody_init_ok=0
custody_note=""
if [ -x "$BIN/custody" ] && "$BIN/custody" init --state "$STATE" >"$WORK/custody-init.log" 2>&1 \
   && [ -f "$STATE/config.yaml" ]; then
  custody_init_ok=1
  if [ -f "$STATE/tls/cert.pem" ] && [ -f "$STATE/tls/key.pem" ]; then
    CERT=$STATE/tls/cert.pem KEY=$STATE/tls/key.pem
  fi
elif [ ! -x "$BIN/custody" ]; then
  custody_note="$BIN/custody not built"
else
  custody_note="\`custody init --state DIR\` did not create DIR/config.yaml (yet): $(tail -n 2 "$WORK/custody-init.log" 2>/dev/null | tr '\n' ' ')"
fi
if [ -z "$CERT" ]; then
  mkdir -p "$WORK/tls"
  CERT=$WORK/tls/cert.pem KEY=$WORK/tls/key.pem
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$KEY" -out "$CERT" >/dev/null 2>&1
  log "bench: using a throwaway certificate (no \$STATE/tls from custody init)"
fi

# ---- servers -------------------------------------------------------------------
# Each started server records: its pid (for CPU accounting and cleanup), its
# Unix socket for HTTP/1.1 and for HTTP/2 prior knowledge (nginx 1.22 needs a
# separate listener for each; custodyd and h2o detect the preface), and its TLS port.
declare -A S_PID S_H1SOCK S_H2SOCK S_TLSPORT S_OK S_NOTE

wait_for_socket() { # path pid seconds
  local i
  for i in $(seq 1 $(($3 * 10))); do
    [ -S "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_nginx() { # name sendfile(on|off) [extra http directives]
  local name=$1 sendfile=$2 extra=${3:-} dir=$WORK/$1 port
  port=$(free_port)
  mkdir -p "$dir/tmp"
  # One worker: custodyd runs one event loop, and the load generator needs the
  # other core of this 2-core box. No access log (custodyd's request log is its
  # own business, see BENCH_CUSTODYD_SET), sendfile for the plain listeners,
  # TLS 1.3 with the same certificate as custodyd, h2 by ALPN on TLS and by
  # prior knowledge on the second Unix socket.
  # As root, nginx would run its worker as "nobody", which may not reach the
  # temporary directory (mode 0700); the worker runs as the invoking user instead.
  local user=""
  [ "$(id -u)" -ne 0 ] || user="user root;"
  cat >"$dir/nginx.conf" <<EOF
daemon off;
$user
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  sendfile $sendfile;
  tcp_nopush on;
  tcp_nodelay on;
  default_type application/octet-stream;
  # A benchmark connection makes far more than nginx's default 1000 requests;
  # custodyd does not cap requests per connection either.
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  $extra
  server {
    listen unix:$dir/h1.sock;
    listen unix:$dir/h2c.sock http2;
    listen 127.0.0.1:$port ssl http2;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.3;
    location /v1/fs/bench/ { alias $DATA/; }
  }
}
EOF
  rm -f "$dir/h1.sock" "$dir/h2c.sock"
  "${SRV_CPU[@]}" "$NGINX" -c "$dir/nginx.conf" -p "$dir" -e "$dir/error.log" >>"$dir/stdout.log" 2>&1 &
  S_PID[$name]=$!
  PIDS+=("$!")
  S_H1SOCK[$name]=$dir/h1.sock S_H2SOCK[$name]=$dir/h2c.sock S_TLSPORT[$name]=$port
  if wait_for_socket "$dir/h2c.sock" "${S_PID[$name]}" 10; then
    S_OK[$name]=1
  else
    S_OK[$name]=0 S_NOTE[$name]="nginx did not start: $(tail -n 3 "$dir/error.log" "$dir/stdout.log" 2>/dev/null | tr '\n' ' ')"
  fi
}

# Edits dotted keys of a YAML file in place, keeping comments and layout, and
# fails loudly when a key is not there (the template is another engineer's; if
# it changes, the benchmark must not silently measure a different setup).
# A key written "?key=value" is optional: skipped when absent.
yaml_set() { # file [?]key=value...
  python3 - "$@" <<'EOF'
import re, sys
path, edits = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
lines = open(path).read().split("\n")
pat = re.compile(r"^(\s*)([A-Za-z0-9_.-]+):(\s*)([^#]*?)(\s*#.*)?$")
def find(dotted):
    want, stack = dotted.split("."), []
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#") or line.lstrip().startswith("- "):
            continue
        m = pat.match(line)
        if not m:
            continue
        ind = len(m.group(1))
        while stack and stack[-1][0] >= ind:
            stack.pop()
        stack.append((ind, m.group(2)))
        if [k for _, k in stack] == want:
            return i, m
    return None, None
bad = False
for key, value in edits:
    optional = key.startswith("?")
    key = key.lstrip("?")
    i, m = find(key)
    if i is None and optional:
        continue
    if i is None:
        print("bench: %s: key %s not found; the config template changed, update bench/run.sh"
              % (path, key), file=sys.stderr)
        bad = True
        continue
    if m.group(4) == "":
        print("bench: %s: %s is a mapping, not a scalar" % (path, key), file=sys.stderr)
        bad = True
        continue
    lines[i] = "%s%s: %s%s" % (m.group(1), m.group(2), value, m.group(5) or "")
open(path, "w").write("\n".join(lines))
sys.exit(1 if bad else 0)
EOF
}

start_custodyd() {
  local name=custodyd port
  S_OK[$name]=0
  if [ ! -x "$BIN/custodyd" ]; then S_NOTE[$name]="$BIN/custodyd not built"; return; fi
  if [ "$custody_init_ok" != 1 ]; then S_NOTE[$name]=$custody_note; return; fi
  port=$(free_port)
  # Register the data directory as root "bench" (what `custody root add` will write).
  printf 'roots:\n  - name: bench\n    path: %s\n' "$DATA" >"$STATE/roots.yaml"
  # shellcheck disable=SC2086 # BENCH_CUSTODYD_SET is a list of k=v words
  if ! yaml_set "$STATE/config.yaml" listen.tcp.enabled=true '?listen.tcp.address=127.0.0.1' \
       "listen.tcp.port=$port" ${BENCH_CUSTODYD_SET:-}; then
    log "bench: ERROR: could not configure custodyd (see above)"
    exit 1
  fi
  # A socket left by a crashed run would look like a started server.
  rm -f "$STATE/custodyd.sock"
  "${SRV_CPU[@]}" "$BIN/custodyd" --state "$STATE" >>"$WORK/custodyd.log" 2>&1 &
  S_PID[$name]=$!
  PIDS+=("$!")
  S_H1SOCK[$name]=$STATE/custodyd.sock S_H2SOCK[$name]=$STATE/custodyd.sock S_TLSPORT[$name]=$port
  if wait_for_socket "$STATE/custodyd.sock" "${S_PID[$name]}" 10; then
    S_OK[$name]=1
  else
    S_NOTE[$name]="custodyd did not start: $(tail -n 3 "$WORK/custodyd.log" | tr '\n' ' ')"
  fi
}

start_h2o() { # name handler io
  local name=$1 dir=$WORK/$1 port
  S_OK[$name]=0
  if [ -z "${BENCH_H2O_BIN:-}" ] || [ ! -x "$BENCH_H2O_BIN" ]; then
    S_NOTE[$name]="BENCH_H2O_BIN not set (bench/http-stack/run.sh builds it)"
    return
  fi
  mkdir -p "$dir"
  port=$(free_port)
  "${SRV_CPU[@]}" "$BENCH_H2O_BIN" --root "$DATA" --unix "$dir/h.sock" --tls-port "$port" \
    --cert "$CERT" --key "$KEY" --handler "$2" --io "$3" >>"$dir/log" 2>&1 &
  S_PID[$name]=$!
  PIDS+=("$!")
  S_H1SOCK[$name]=$dir/h.sock S_H2SOCK[$name]=$dir/h.sock S_TLSPORT[$name]=$port
  if wait_for_socket "$dir/h.sock" "${S_PID[$name]}" 10; then
    S_OK[$name]=1
  else
    S_NOTE[$name]="h2o_static did not start: $(tail -n 3 "$dir/log" | tr '\n' ' ')"
  fi
}

start_server() { # name
  case $1 in
    nginx) start_nginx nginx on ;;
    nginx-ofc) start_nginx nginx-ofc on 'open_file_cache max=10000 inactive=60s; open_file_cache_valid 60s;' ;;
    # Reads into 256 KiB buffers, like h2o-range's chunk.
    nginx-nosendfile) start_nginx nginx-nosendfile off 'output_buffers 2 256k;' ;;
    custodyd) start_custodyd ;;
    h2o-file) start_h2o h2o-file file pread ;;
    h2o-range) start_h2o h2o-range range pread ;;
    h2o-mmap) start_h2o h2o-mmap range mmap ;;
    *) log "bench: unknown server '$1'"; exit 2 ;;
  esac
  [ "${S_OK[$1]}" = 1 ] || return 0
  # Servers may open the TLS port a moment after the Unix socket.
  for _ in $(seq 1 50); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" \
      "${S_TLSPORT[$1]}" 2>/dev/null && break
    sleep 0.1
  done
}
for s in $SERVERS; do start_server "$s"; done
PEER=${SERVERS%% *}
[ "${S_OK[$PEER]}" = 1 ] || { log "bench: the peer $PEER did not start: ${S_NOTE[$PEER]:-}"; exit 1; }

# ---- transports and correctness checks ---------------------------------------
# A figure from a server that answers 404 would be meaningless: before
# measuring, each server x transport must return a small file byte-for-byte and
# a correct 206 for a range of the big file. Failures mark that cell n/a.
declare -A T_OK T_NOTE

curl_args() { # server transport -> prints curl args (one per line) and the base URL last
  local s=$1 t=$2
  case $t in
    unix-h1) printf '%s\n' --http1.1 --unix-socket "${S_H1SOCK[$s]}" "http://localhost" ;;
    unix-h2c) printf '%s\n' --http2-prior-knowledge --unix-socket "${S_H2SOCK[$s]}" "http://localhost" ;;
    tls-h1) printf '%s\n' --http1.1 -k "https://127.0.0.1:${S_TLSPORT[$s]}" ;;
    tls-h2) printf '%s\n' --http2 -k "https://127.0.0.1:${S_TLSPORT[$s]}" ;;
  esac
}

check_transport() { # server transport
  local s=$1 t=$2 args base got want
  mapfile -t args < <(curl_args "$s" "$t")
  base=${args[-1]}
  unset 'args[-1]'
  want=$(sha256sum <"$DATA/small/0007.bin" | cut -d' ' -f1)
  got=$(curl -sS --max-time 10 --fail "${args[@]}" "$base/v1/fs/bench/small/0007.bin" 2>&1 | sha256sum | cut -d' ' -f1) || true
  if [ "$got" != "$want" ]; then
    T_NOTE[$s/$t]="GET of a 4 KiB file did not return its bytes"
    return 1
  fi
  local a=$((300 * 1024 * 1024 + 5)) len=$((16 * 1024 * 1024))
  want=$(tail -c +$((a + 1)) "$DATA/big.bin" | head -c "$len" | sha256sum | cut -d' ' -f1)
  got=$(curl -sS --max-time 30 "${args[@]}" -o - -w '' -H "Range: bytes=$a-$((a + len - 1))" \
        "$base/v1/fs/bench/big.bin" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
  local code
  code=$(curl -sS --max-time 30 "${args[@]}" -o /dev/null -w '%{http_code}' \
         -H "Range: bytes=$a-$((a + len - 1))" "$base/v1/fs/bench/big.bin" 2>/dev/null) || true
  if [ "$code" != 206 ] || [ "$got" != "$want" ]; then
    T_NOTE[$s/$t]="Range GET of the 1 GiB file: status $code, bytes $([ "$got" = "$want" ] && echo ok || echo wrong)"
    return 1
  fi
  return 0
}

TRANSPORTS="unix-h1 unix-h2c tls-h1 tls-h2"
for s in $SERVERS; do
  [ "${S_OK[$s]}" = 1 ] || continue
  for t in $TRANSPORTS; do
    if check_transport "$s" "$t"; then T_OK[$s/$t]=1; else T_OK[$s/$t]=0; fi
  done
done

# ---- measurement ----------------------------------------------------------------
# CPU time (user+system, all threads) of a server and its children, in clock ticks.
cpu_ticks() { # pid
  python3 - "$1" <<'EOF'
import os, sys
root = int(sys.argv[1])
procs = {}
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        f = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    procs[int(p)] = (int(f[1]), int(f[11]) + int(f[12]))  # ppid, utime+stime
tot, todo = 0, [root]
while todo:
    p = todo.pop()
    if p in procs:
        tot += procs[p][1]
        todo += [c for c, (pp, _) in procs.items() if pp == p]
print(tot)
EOF
}
HZ=$(getconf CLK_TCK)
# Busy CPU time of the whole machine (all cores), in clock ticks.
busy_ticks() {
  awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# Other people's work on a shared box skews figures: before each measurement,
# wait (up to BENCH_QUIET_WAIT seconds, default 10) until the machine is
# otherwise idle (< 15% of one core busy over half a second).
QUIET_WAIT=${BENCH_QUIET_WAIT:-10}
wait_quiet() {
  local deadline=$((SECONDS + QUIET_WAIT)) a b
  while :; do
    a=$(busy_ticks); sleep 0.5; b=$(busy_ticks)
    [ $(((b - a) * 100 * 2 / HZ)) -lt 15 ] && return 0
    [ $SECONDS -lt $deadline ] || { log "  (machine still busy after ${QUIET_WAIT} s; measuring anyway)"; return 0; }
    sleep 1
  done
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"

# A server that exits during a measurement (a crash) gets that row marked, the
# crash reported at the end, and is started again for the next measurements
# (up to 5 times), so one bug does not hide every other figure.
declare -A S_CRASHES
CRASHLOG=$WORK/crashes.txt
: >"$CRASHLOG"
server_died() { # scenario server
  local sc=$1 s=$2 st=0 why logf
  wait "${S_PID[$s]}" 2>/dev/null || st=$?
  if [ "$st" -gt 128 ]; then why="killed by signal $((st - 128)) (SIG$(kill -l $((st - 128)) 2>/dev/null || echo '?'))"
  else why="exited with status $st"; fi
  case $s in custodyd) logf=$WORK/custodyd.log ;; nginx*) logf=$WORK/$s/error.log ;; *) logf=$WORK/$s/log ;; esac
  printf '%s\t%s\t\t\t\tcrash\t%s during this measurement\n' "$sc" "$s" "$why" >>"$RESULTS"
  {
    echo "$s $why during $sc: $(head -n 1 "$WORK/run-$sc-$s-r$round.log" 2>/dev/null)"
    tail -n 5 "$logf" 2>/dev/null | sed 's/^/    /'
  } >>"$CRASHLOG"
  log "$(printf '  %-22s %-10s' "$sc" "$s") CRASHED: $why"
  S_CRASHES[$s]=$((${S_CRASHES[$s]:-0} + 1))
  S_OK[$s]=0 S_NOTE[$s]="$why during an earlier measurement (restart limit reached)"
  if [ "${S_CRASHES[$s]}" -le 5 ]; then
    start_server "$s"
    if [ "${S_OK[$s]}" = 1 ]; then log "  (restarted $s)"; fi
  fi
}

# Runs one load generator against one server; appends a result row:
# scenario, server, value, unit, server CPU %, status, note.
measure() { # scenario tool transport kind server round
  local sc=$1 tool=$2 t=$3 kind=$4 s=$5 out=$WORK/run-$1-$5-r$6.log
  if [ "${S_OK[$s]}" != 1 ]; then
    printf '%s\t%s\t\t\t\tna\t%s\n' "$sc" "$s" "${S_NOTE[$s]:-not running}" >>"$RESULTS"; return
  fi
  if [ "${T_OK[$s/$t]}" != 1 ]; then
    printf '%s\t%s\t\t\t\tna\t%s\n' "$sc" "$s" "${T_NOTE[$s/$t]}" >>"$RESULTS"; return
  fi
  local cmd=() base
  case $t in
    unix-h1) base=(-B "unix:${S_H1SOCK[$s]}" --h1) ;;
    unix-h2c) base=(-B "unix:${S_H2SOCK[$s]}") ;;
    tls-h1) base=(-B "https://127.0.0.1:${S_TLSPORT[$s]}" --h1) ;;
    tls-h2) base=(-B "https://127.0.0.1:${S_TLSPORT[$s]}") ;;
  esac
  if [ "$tool" = h2load ]; then
    local conc
    if [ "$kind" = small ]; then
      if [[ $t == *h1 ]]; then conc=(-c $SMALL_CONNS); else conc=(-c $SMALL_CONNS -m $SMALL_STREAMS); fi
      cmd=(h2load "${base[@]}" "${conc[@]}" -t 1 -D "$DUR" -i "$WORK/uris-small.txt")
    else
      # The whole 1 GiB in one range per request: a long stream, the server's
      # steady-state file-to-socket throughput.
      cmd=(h2load "${base[@]}" -c $BIG_CONNS -m 1 -t 1 -D "$DUR"
           -H "Range: bytes=0-$((BIG_SIZE - 1))" "http://localhost/v1/fs/bench/big.bin")
    fi
  else
    if [ "$kind" = small ]; then
      cmd=(wrk -t1 -c$SMALL_CONNS -d"${DUR}s" --latency -s "$here/wrk-rotate.lua"
           "https://127.0.0.1:${S_TLSPORT[$s]}" -- small "$WORK/paths-small.txt")
    else
      # 16 MiB ranges walking over the 1 GiB file.
      cmd=(wrk -t1 -c$BIG_CONNS -d"${DUR}s" -s "$here/wrk-rotate.lua"
           "https://127.0.0.1:${S_TLSPORT[$s]}" -- range /v1/fs/bench/big.bin $BIG_SIZE $RANGE_STEP)
    fi
  fi
  echo "${cmd[*]}" >"$out"
  wait_quiet
  local c0 c1 t0 t1 b0 b1
  c0=$(cpu_ticks "${S_PID[$s]}")
  b0=$(busy_ticks)
  t0=$(date +%s.%N)
  # The load generator runs under a wrapper that reports its CPU time, so the
  # table can say when the client, not the server, was the bottleneck.
  timeout $((DUR + 60)) "${CLI_CPU[@]}" python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print("CLIENTCPU %.3f" % (r.ru_utime + r.ru_stime))
sys.exit(rc)' "${cmd[@]}" >>"$out" 2>&1 || true
  t1=$(date +%s.%N)
  b1=$(busy_ticks)
  if ! kill -0 "${S_PID[$s]}" 2>/dev/null; then
    server_died "$sc" "$s"
    return
  fi
  c1=$(cpu_ticks "${S_PID[$s]}")
  python3 - "$out" "$tool" "$kind" "$sc" "$s" "$c0" "$c1" "$t0" "$t1" "$HZ" "$b0" "$b1" >>"$RESULTS" <<'EOF'
import re, sys
out, tool, kind, sc, srv = sys.argv[1:6]
c0, c1, t0, t1, hz = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9]), int(sys.argv[10])
b0, b1 = int(sys.argv[11]), int(sys.argv[12])
text = open(out).read()
cpu = 100.0 * (c1 - c0) / hz / (t1 - t0)
cc = re.search(r"CLIENTCPU ([\d.]+)", text)
ccpu = 100.0 * float(cc.group(1)) / (t1 - t0) if cc else -1
# CPU used by anything else on the machine meanwhile (other people's builds):
# all busy time minus the server's and the client's.
other = max(0.0, 100.0 * (b1 - b0) / hz / (t1 - t0) - cpu - max(ccpu, 0))
def row(value, unit, status, note=""):
    print("%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%.0f\t%.0f" % (sc, srv, value, unit, cpu, status, note, ccpu, other))
if tool == "h2load":
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    tr = re.search(r"traffic: \S+ \((\d+)\) total", text)
    st = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text)
    rq = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    if not (m and tr and st and rq):
        row("", "", "err", "could not parse h2load output (see %s)" % out); sys.exit()
    secs, rps, nbytes = float(m.group(1)), float(m.group(2)), int(tr.group(1))
    ok, bad = int(st.group(1)), int(st.group(3)) + int(st.group(4))
    if ok == 0 or bad or int(rq.group(3)) or int(rq.group(4)):
        row("", "", "err", "%d 2xx, %d 4xx/5xx, %s errored, %s timeout" % (ok, bad, rq.group(3), rq.group(4)))
        sys.exit()
else:
    m = re.search(r"WRKRESULT requests=(\d+) bytes=(\d+) duration_us=(\d+) status_errors=(\d+) socket_errors=(\d+)", text)
    if not m:
        row("", "", "err", "could not parse wrk output (see %s)" % out); sys.exit()
    n, nbytes, secs = int(m.group(1)), int(m.group(2)), int(m.group(3)) / 1e6
    if n == 0 and nbytes == 0 or int(m.group(4)):
        row("", "", "err", "%s requests, %s non-2xx/3xx, %s socket errors" % (n, m.group(4), m.group(5)))
        sys.exit()
    rps = n / secs
if kind == "small":
    row("%.0f" % rps, "req/s", "ok")
else:
    row("%.3f" % (nbytes / secs / 1e9), "GB/s", "ok")
EOF
  local last
  last=$(tail -n 1 "$RESULTS")
  log "$(printf '  %-22s %-10s %s' "$sc" "$s" "$(echo "$last" | awk -F'\t' '{ if ($6=="ok") printf "%s %s (CPU: server %s%%, client %s%%, other %s%%)", $3, $4, $5, $8, $9; else printf "%s: %s", $6, $7 }')")"
}

# id | tool | transport | kind | target ratio | label
SCENARIOS="
small-unix-h1|h2load|unix-h1|small|0.8|4 KiB files, Unix socket, HTTP/1.1, h2load -c$SMALL_CONNS
small-unix-h2c|h2load|unix-h2c|small|0.8|4 KiB files, Unix socket, h2c prior knowledge, h2load -c$SMALL_CONNS -m$SMALL_STREAMS
small-tls-h1|h2load|tls-h1|small|0.8|4 KiB files, TLS 1.3, HTTP/1.1, h2load -c$SMALL_CONNS
small-tls-h2|h2load|tls-h2|small|0.8|4 KiB files, TLS 1.3, h2, h2load -c$SMALL_CONNS -m$SMALL_STREAMS
small-tls-h1-wrk|wrk|tls-h1|small|0.8|4 KiB files, TLS 1.3, HTTP/1.1, wrk -t1 -c$SMALL_CONNS
big-unix-h1|h2load|unix-h1|big|0.9|1 GiB range, Unix socket, HTTP/1.1, h2load -c$BIG_CONNS
big-unix-h2c|h2load|unix-h2c|big|0.9|1 GiB range, Unix socket, h2c prior knowledge, h2load -c$BIG_CONNS -m1
big-tls-h1|h2load|tls-h1|big|0.9|1 GiB range, TLS 1.3, HTTP/1.1, h2load -c$BIG_CONNS
big-tls-h2|h2load|tls-h2|big|0.9|1 GiB range, TLS 1.3, h2, h2load -c$BIG_CONNS -m1
big-tls-h1-wrk|wrk|tls-h1|big|0.9|16 MiB ranges over 1 GiB, TLS 1.3, HTTP/1.1, wrk -t1 -c$BIG_CONNS
"

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
log ""
log "bench: $(nproc) cores ($cpu_model), kernel $(uname -r), $(date -u +%FT%TZ)"
log "bench: servers: $SERVERS (ratios against $PEER); ${DUR} s per measurement, $ROUNDS round(s)"
if [ ${#SRV_CPU[@]} -gt 0 ]; then
  log "bench: servers pinned to CPU 0 (nginx: worker_processes 1, matching custodyd's one event loop);"
  log "       load generators (h2load -t1, wrk -t1) pinned to CPU 1, so each side owns one core."
else
  log "bench: no CPU pinning (BENCH_PIN=0 or fewer than 2 cores)"
fi
log "bench: nginx: sendfile on, tcp_nopush on, access_log off, open_file_cache off; TLS 1.3, same cert as custodyd"
for s in $SERVERS; do
  [ "${S_OK[$s]}" = 1 ] || log "bench: $s is not measured: ${S_NOTE[$s]}"
  for t in $TRANSPORTS; do
    [ "${S_OK[$s]}" = 1 ] && [ "${T_OK[$s/$t]}" != 1 ] && log "bench: $s over $t is not measured: ${T_NOTE[$s/$t]}"
  done
done
log ""

while IFS='|' read -r id tool t kind target label; do
  [ -n "$id" ] || continue
  [ -z "$ONLY" ] || [[ $id =~ $ONLY ]] || continue
  printf '%s\t%s\t%s\n' "$id" "$target" "$label" >>"$WORK/scenarios.tsv"
  # Servers take turns per scenario (and per round), so slow drift of the
  # machine hits all alike; the table keeps each server's best round.
  for round in $(seq 1 "$ROUNDS"); do
    for s in $SERVERS; do
      measure "$id" "$tool" "$t" "$kind" "$s" "$round"
    done
  done
done <<<"$SCENARIOS"

# ---- the table ------------------------------------------------------------------
mkdir -p "$OUT"
rm -f "$OUT"/run-*.log "$OUT/crashes.txt"
python3 - "$WORK/scenarios.tsv" "$RESULTS" "$PEER" $SERVERS >"$WORK/results.txt" <<'EOF'
import sys
scen_file, res_file, peer, servers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
others = [s for s in servers if s != peer]
res = {}
for line in open(res_file):
    f = line.rstrip("\n").split("\t")
    f += [""] * (9 - len(f))
    # Several rounds: keep the best successful one (noise only ever slows down).
    old = res.get((f[0], f[1]))
    if old is None or (f[5] == "ok" and (old[5] != "ok" or float(f[2]) > float(old[2]))):
        res[(f[0], f[1])] = f
scens = [l.rstrip("\n").split("\t") for l in open(scen_file)]
def fig(f):
    # A figure, its server's CPU use, and '*' when the load generator was
    # saturated while the server had spare CPU (the figure is the client's ceiling).
    if not f or f[5] != "ok":
        return None, {None: "not measured", "na": "not measured", "crash": "CRASHED"}.get(f and f[5], "error"), "-"
    star = "*" if float(f[7] or -1) >= 95 and float(f[4]) < 85 else ""
    if float(f[8] or 0) >= 15:
        star += "~"
    return float(f[2]), f[2] + star, f[4] + "%"
hdr = ["scenario", "unit", peer, "cpu"]
for s in others:
    hdr += [s, "cpu", "ratio", "target", "result"]
rows, notes, starred, noisy = [hdr], [], False, False
count = {s: {"PASS": 0, "FAIL": 0, "n/a": 0} for s in others}
for sc, target, label in scens:
    target = float(target)
    p = res.get((sc, peer))
    pv, ptxt, pcpu = fig(p)
    unit = "GB/s" if sc.startswith("big") else "req/s"
    r = [label, unit, ptxt, pcpu]
    if pv is None and p:
        notes.append((peer, sc, p[6]))
    for s in others:
        o = res.get((sc, s))
        ov, otxt, ocpu = fig(o)
        if ov is not None and pv:
            ratio = ov / pv
            verdict = "PASS" if ratio >= target else "FAIL"
            r += [otxt, ocpu, "%.3f" % ratio, ">=%.1f" % target, verdict]
        else:
            verdict = "n/a"
            r += [otxt, ocpu, "-", ">=%.1f" % target, verdict]
            if o and o[5] != "ok":
                notes.append((s, sc, o[6]))
        count[s][verdict] += 1
    starred = starred or any("*" in c for c in r[2:])
    noisy = noisy or any("~" in c for c in r[2:])
    rows.append(r)
w = [max(len(x[i]) for x in rows) for i in range(len(hdr))]
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(r)))
    if i == 0:
        print("  ".join("-" * x for x in w))
print()
print("cpu: the server's CPU use during the measurement (100% = the one core it is pinned to).")
if starred:
    print("*: the load generator used its whole core while the server had CPU to spare; the figure")
    print("   is the client's ceiling, and the ratio says only that the server kept up with it.")
if noisy:
    print("~: other processes used >= 15% of a core during this measurement; treat it as noisy.")
for s in others:
    c = count[s]
    print("%s: %d PASS, %d FAIL, %d not measured (targets: 1 GiB ranged >= 0.9x %s, 4 KiB files >= 0.8x %s)"
          % (s, c["PASS"], c["FAIL"], c["n/a"], peer, peer))
if notes:
    print()
    print("not measured / errors:")
    bysrv = {}
    for srv, sc, why in notes:
        bysrv.setdefault((srv, why), []).append(sc)
    for (srv, why), scs in bysrv.items():
        print("  %s (%s): %s" % (srv, "all scenarios" if len(scs) == len(scens) else ", ".join(scs), why))
EOF
cp "$RESULTS" "$OUT/results.tsv"
cp "$WORK/results.txt" "$OUT/results.txt"
for f in "$WORK"/run-*.log; do cp "$f" "$OUT/"; done 2>/dev/null || true
echo
echo "custody benchmark — $(nproc) cores ($cpu_model), kernel $(uname -r), ${DUR} s per figure (best of $ROUNDS), ratios against $PEER in this run"
echo
cat "$WORK/results.txt"
echo
if [ -s "$CRASHLOG" ]; then
  echo "SERVER CRASHES (each was restarted for the measurements after it):"
  sed 's/^/  /' "$CRASHLOG"
  cp "$CRASHLOG" "$OUT/crashes.txt"
  echo
fi
echo "(figures: req/s, or GB/s = 10^9 bytes/s; per-run commands and raw output in $OUT/run-*.log)"
exit 0
