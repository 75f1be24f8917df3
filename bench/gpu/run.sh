#!/usr/bin/env bash
# bench/gpu/run.sh — issue 6's GPU benchmark in one command, on the GPU machine,
# from the repository root:  bash bench/gpu/run.sh
#
# Builds the loader core (bench/gpu/CMakeLists.txt: src/model, src/loader, the
# gpu_bench driver, libcustody_loader.so), makes a bf16 safetensors file with
# torch, and measures on CUDA device 0:
#   warm page cache -> GPU: custody pinned ring (a sweep of threads x chunk),
#     safetensors.torch.load_file(device='cuda'), CPU load + pin + async copy,
#     custody again in the same Python process; checks bytes against torch's copy;
#   cold (caches dropped before each round, when /proc/sys/vm/drop_caches is
#     writable): raw O_DIRECT bandwidth of the disk (our reader, many reads in
#     flight; and dd iflag=direct bs=16M, one in flight), custody direct ring,
#     custody cuFile;
# then prints GB/s, ratios and the bars (warm >= 48 GB/s and >= 6x safetensors;
# cold >= 0.9x raw O_DIRECT).
#
# Env: BENCH_DIR (/tmp/custody-gpu-bench: the model file and the build),
#      GIB (6: model size), ROUNDS (5 warm, COLD_ROUNDS 3 cold),
#      THREADS_SWEEP ("8 12 16"), CHUNK_SWEEP ("4 8 16", MiB), SKIP_COLD=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BENCH_DIR=${BENCH_DIR:-/tmp/custody-gpu-bench}
GIB=${GIB:-6}
ROUNDS=${ROUNDS:-5}
COLD_ROUNDS=${COLD_ROUNDS:-3}
THREADS_SWEEP=${THREADS_SWEEP:-"8 12 16"}
CHUNK_SWEEP=${CHUNK_SWEEP:-"4 8 16"}
BUILD="$BENCH_DIR/build"
F="$BENCH_DIR/model.safetensors"
LOG="$BENCH_DIR/results.txt"

die() { echo "run.sh: $*" >&2; exit 1; }
say() { echo "== $*"; }

mkdir -p "$BENCH_DIR"
: > "$LOG"
command -v cmake >/dev/null || die "cmake not found"
command -v cc >/dev/null || command -v gcc >/dev/null || die "no C compiler"

say "build ($BUILD)"
cmake -S "$ROOT/bench/gpu" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null
GB="$BUILD/gpu_bench"
LIB="$BUILD/libcustody_loader.so"
[ -x "$GB" ] && [ -f "$LIB" ] || die "build did not produce gpu_bench and libcustody_loader.so"

# Does this machine have CUDA at all? gpu_bench exits 2 with the reason when not.
probe_file="$BENCH_DIR/probe.bin"
head -c 4096 /dev/zero > "$probe_file"
set +e
"$GB" load --rounds 1 --verify none "$probe_file" >/dev/null 2>"$BENCH_DIR/probe.err"
rc=$?
set -e
if [ $rc -eq 2 ]; then
  echo "run.sh: no CUDA here: $(cat "$BENCH_DIR/probe.err")" >&2
  exit 2
elif [ $rc -ne 0 ]; then
  die "gpu_bench failed on a 4 KiB file: $(cat "$BENCH_DIR/probe.err")"
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,pcie.link.gen.current,pcie.link.width.current,memory.total --format=csv,noheader || true

python3 -c 'import torch, safetensors; assert torch.cuda.is_available()' 2>/dev/null \
  || die "python3 with torch (CUDA) and safetensors is needed"

if [ ! -s "$F" ] || [ "$(cat "$F.gib" 2>/dev/null)" != "$GIB" ]; then
  say "making a ${GIB} GiB bf16 safetensors file ($F)"
  free_gib=$(df -Pk "$BENCH_DIR" | awk 'NR==2 {print int($4 / 1048576)}')
  [ "$free_gib" -gt $((GIB * 2 + 2)) ] 2>/dev/null || echo "run.sh: warning: only ${free_gib} GiB free under $BENCH_DIR" >&2
  python3 "$ROOT/bench/gpu/make_model.py" "$F" "$GIB"
  echo "$GIB" > "$F.gib"
fi
BYTES=$(stat -c %s "$F")
echo "file: $F ($BYTES bytes), $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB RAM"

warm() { cat "$F" > /dev/null; cat "$F" > /dev/null; }
result() { awk -v k="$1" '$1 == "RESULT" && $2 == k {print $3}' | tail -1; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (b + 0 > a + 0) ? b : a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }

say "warm: custody pinned ring, sweep threads x chunk (best of $ROUNDS each)"
warm
best_ring=0; best_t=0; best_c=0
for t in $THREADS_SWEEP; do
  for c in $CHUNK_SWEEP; do
    out=$("$GB" load --method ring --threads "$t" --chunk "$c" --rounds "$ROUNDS" --verify none "$F")
    g=$(echo "$out" | result ring_gbps)
    echo "  threads $t, chunk $c MiB: $g GB/s"
    if [ "$(max "$best_ring" "$g")" != "$best_ring" ]; then best_ring=$g; best_t=$t; best_c=$c; fi
  done
done
echo "  best: $best_ring GB/s (threads $best_t, chunk $best_c MiB)"
say "warm: custody defaults, with a full byte check against the file"
"$GB" load --method ring --rounds "$ROUNDS" --verify full "$F" | tee -a "$LOG"
default_ring=$("$GB" load --method ring --rounds "$ROUNDS" --verify none "$F" | result ring_gbps)

say "warm: safetensors, torch CPU + pin + async, custody in-process (threads $best_t, chunk $best_c MiB)"
warm
python3 "$ROOT/bench/gpu/torch_bench.py" "$F" "$LIB" "$ROUNDS" "$best_t" "$best_c" | tee "$BENCH_DIR/torch.txt"
st=$(result safetensors_cuda_gbps < "$BENCH_DIR/torch.txt")
pin=$(result torch_cpu_pin_async_gbps < "$BENCH_DIR/torch.txt")
inproc=$(result custody_ring_inproc_gbps < "$BENCH_DIR/torch.txt")
grep -q '^verify:' "$BENCH_DIR/torch.txt" || die "custody's bytes were not verified against torch's copy"

cold="skipped"
if [ "${SKIP_COLD:-0}" = 1 ]; then
  cold="skipped (SKIP_COLD=1)"
elif ! ( sync && echo 3 > /proc/sys/vm/drop_caches ) 2>/dev/null; then
  cold="skipped (/proc/sys/vm/drop_caches is not writable)"
else
  say "cold: raw O_DIRECT, custody direct ring, custody cuFile (caches dropped before each round)"
  raw=$("$GB" raw --threads 16 --chunk 16 --rounds "$COLD_ROUNDS" --drop-caches "$F" | tee -a "$LOG" | result raw_odirect_gbps)
  raw8=$("$GB" raw --threads 8 --chunk 8 --rounds "$COLD_ROUNDS" --drop-caches "$F" | tee -a "$LOG" | result raw_odirect_gbps)
  raw=$(max "$raw" "$raw8")
  dd_best=0
  for _ in $(seq 1 "$COLD_ROUNDS"); do
    sync; echo 3 > /proc/sys/vm/drop_caches
    secs=$(LC_ALL=C dd if="$F" of=/dev/null bs=16M iflag=direct 2>&1 | awk '/copied/ {for (i=1;i<=NF;i++) if ($i ~ /^s,?$/) print $(i-1)}')
    dd_best=$(max "$dd_best" "$(awk -v b="$BYTES" -v s="$secs" 'BEGIN { printf "%.2f", b / s / 1e9 }')")
  done
  direct=$("$GB" load --method direct --threads 16 --chunk 16 --rounds "$COLD_ROUNDS" --drop-caches --verify sample "$F" | tee -a "$LOG" | result direct_gbps)
  set +e
  cf_out=$(CUFILE_FORCE_COMPAT_MODE=${CUFILE_FORCE_COMPAT_MODE:-$([ -e /proc/driver/nvidia-fs ] && echo false || echo true)} \
           "$GB" load --method cufile --threads 16 --chunk 16 --rounds "$COLD_ROUNDS" --drop-caches --verify sample "$F" 2>&1)
  cf_rc=$?
  set -e
  echo "$cf_out" | tee -a "$LOG"
  cufile=$(echo "$cf_out" | result cufile_gbps)
  [ $cf_rc -eq 0 ] || cufile="n/a (exit $cf_rc)"
  cold="raw O_DIRECT $raw GB/s (dd iflag=direct bs=16M, one read in flight: $dd_best GB/s); direct ring ${direct:-n/a} GB/s ($(ratio "${direct:-0}" "$raw")x raw); cuFile $cufile GB/s ($(ratio "${cufile%% *}" "$raw")x raw)"
fi

best_custody=$(max "$best_ring" "$inproc")
x_st=$(ratio "$best_custody" "$st")
bar_warm=$(awk -v g="$best_custody" -v x="$x_st" 'BEGIN { print (g >= 48 && x >= 6) ? "MET" : "NOT MET" }')
{
  echo
  echo "==================== summary (GB = 1e9 bytes of tensor data) ===================="
  echo "warm page cache -> GPU:"
  echo "  custody pinned ring, best of sweep:  $best_ring GB/s (threads $best_t, chunk $best_c MiB)"
  echo "  custody pinned ring, defaults:       $default_ring GB/s"
  echo "  custody in the torch process:        $inproc GB/s"
  echo "  safetensors load_file(device=cuda):  $st GB/s"
  echo "  torch CPU load + pin + async copy:   $pin GB/s"
  echo "  custody / safetensors: ${x_st}x; custody / pin+async: $(ratio "$best_custody" "$pin")x"
  echo "  bar (>= 48 GB/s and >= 6x safetensors): $bar_warm"
  echo "cold: $cold"
  if [ -n "${raw:-}" ] && [ -n "${direct:-}" ]; then
    echo "  bar (direct ring >= 0.9x raw O_DIRECT): $(awk -v a="$direct" -v b="$raw" 'BEGIN { print (a >= 0.9 * b) ? "MET" : "NOT MET" }')"
  fi
  echo "correctness: full byte check of the ring against the file, 8 tensors against torch's copy: ok"
} | tee -a "$LOG"
echo "(saved in $LOG)"
