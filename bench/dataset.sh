#!/usr/bin/env bash
# bench/dataset.sh DIR NSMALL BIGBYTES — the benchmarks' data set: DIR/big.bin
# (BIGBYTES of incompressible, deterministic bytes) and DIR/small/NNNN.bin
# (NSMALL distinct 4 KiB files), then read once so the page cache is warm.
# Used by bench/run.sh and bench/secured.sh.
set -euo pipefail
dir=$1 nsmall=$2 big=$3
mkdir -p "$dir/small"
# AES-CTR over zeros: incompressible, deterministic, and ~4x faster than /dev/urandom.
openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:custody-bench -in /dev/zero 2>/dev/null |
  head -c "$big" >"$dir/big.bin" || true
[ "$(stat -c %s "$dir/big.bin")" -eq "$big" ] || { echo "bench: could not write $dir/big.bin" >&2; exit 1; }
python3 - "$dir/small" "$nsmall" <<'EOF'
import hashlib, os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    # 4 KiB of deterministic, distinct content per file.
    block = b"".join(hashlib.sha256(b"%d:%d" % (i, j)).digest() for j in range(128))
    with open(os.path.join(d, "%04d.bin" % i), "wb") as f:
        f.write(block)
EOF
cat "$dir/big.bin" "$dir"/small/* >/dev/null
