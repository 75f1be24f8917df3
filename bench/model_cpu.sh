#!/usr/bin/env bash
# model_cpu.sh — the loader's CPU path (mmap + MADV_POPULATE_READ) against
# dd from the page cache, on the same file, in one run (issue 6: CPU load
# >= 0.9x dd from page cache).
#
#   bash bench/model_cpu.sh [BUILD_DIR]        (default: build)
#
# Env: SIZE_MIB (1536), ROUNDS (5), BENCH_DIR (a fresh directory under /tmp),
#      THREADS / CHUNK (passed to load_bench; 0 = the loader's defaults).
# Makes a safetensors file of SIZE_MIB MiB of random bytes (BF16 tensors),
# reads it twice to warm the page cache, then alternates rounds of
# `dd if=F of=/dev/null bs=4M` and load_bench, keeping the best of each.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
SIZE_MIB=${SIZE_MIB:-1536}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-0}
CHUNK=${CHUNK:-0}
LB="$BUILD/bin/load_bench"
[ -x "$LB" ] || LB="$BUILD/load_bench"
if [ ! -x "$LB" ]; then
  echo "model_cpu.sh: no load_bench in $BUILD (cmake --build $BUILD --target load_bench)" >&2
  exit 1
fi
command -v python3 >/dev/null || { echo "model_cpu.sh: python3 is needed" >&2; exit 1; }

DIR=${BENCH_DIR:-$(mktemp -d /tmp/custody-model-cpu.XXXXXX)}
mkdir -p "$DIR"
cleanup() { [ -n "${BENCH_DIR:-}" ] || rm -rf "$DIR"; }
trap cleanup EXIT
F="$DIR/model.safetensors"

python3 - "$F" "$SIZE_MIB" <<'PY'
import json, os, struct, sys
path, mib = sys.argv[1], int(sys.argv[2])
total = mib << 20
per = 64 << 20                         # 64 MiB tensors of BF16
tensors, off, i = {}, 0, 0
while off < total:
    n = min(per, total - off) // 2 * 2
    if n == 0:
        break
    tensors[f"layer.{i}.weight"] = {"dtype": "BF16", "shape": [n // 2], "data_offsets": [off, off + n]}
    off += n
    i += 1
hdr = json.dumps(tensors, separators=(",", ":")).encode()
hdr += b" " * (-len(hdr) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(hdr)))
    f.write(hdr)
    left = off
    while left:
        n = min(left, 64 << 20)
        f.write(os.urandom(n))
        left -= n
PY

BYTES=$(stat -c %s "$F")
echo "file: $F ($BYTES bytes), $(nproc) CPUs, kernel $(uname -r)"
cat "$F" > /dev/null; cat "$F" > /dev/null   # warm the page cache

best_dd=0
best_cl=0
for r in $(seq 1 "$ROUNDS"); do
  # dd prints "... copied, S s, R GB/s" on stderr; compute from bytes and seconds ourselves
  secs=$(LC_ALL=C dd if="$F" of=/dev/null bs=4M 2>&1 | awk '/copied/ {for (i=1;i<=NF;i++) if ($i ~ /^s,?$/) print $(i-1)}')
  dd_gbps=$(awk -v b="$BYTES" -v s="$secs" 'BEGIN { printf "%.2f", b / s / 1e9 }')
  cl_gbps=$("$LB" --rounds 1 --threads "$THREADS" --chunk "$CHUNK" "$F" | awk '/^RESULT/ {print $3}')
  echo "round $r: dd $dd_gbps GB/s, custody $cl_gbps GB/s"
  best_dd=$(awk -v a="$best_dd" -v b="$dd_gbps" 'BEGIN { print (b > a) ? b : a }')
  best_cl=$(awk -v a="$best_cl" -v b="$cl_gbps" 'BEGIN { print (b > a) ? b : a }')
done
ratio=$(awk -v a="$best_cl" -v b="$best_dd" 'BEGIN { printf "%.2f", a / b }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.9) ? "meets" : "BELOW" }')
echo "best: dd (bs=4M, page cache) $best_dd GB/s; custody CPU load (mmap + populate) $best_cl GB/s"
echo "ratio custody/dd: $ratio ($verdict the 0.9x bar)"
