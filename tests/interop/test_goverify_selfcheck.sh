#!/usr/bin/env bash
# Self-test of goverify, custody's independent ledger verifier (Go x/mod).
#   usage: bash tests/interop/test_goverify_selfcheck.sh [BUILD_DIR]
# Builds goverify into BUILD_DIR, generates Go-written reference logs for
# several sizes, checks that every subcommand accepts them, that a third
# implementation (Python hashlib, below) agrees on the roots and tiles, and
# that corrupted bundles, tiles, checkpoints, proofs and cosignatures are
# rejected with exit status 1. Exits 0 when every check passes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-}
if [ -z "$build" ]; then
  build=$(mktemp -d /tmp/goverify-selfcheck.XXXXXX)
  trap 'rm -rf "$build"' EXIT
fi
mkdir -p "$build"
build=$(cd "$build" && pwd)
G="$build/goverify"
bash "$here/goverify/build.sh" "$G"

work="$build/goverify-selfcheck"
rm -rf "$work"
mkdir -p "$work"

pass=0
failed=0
ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# expect_ok CMD...: must exit 0 and print a line starting "ok: ".
expect_ok() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ $rc -eq 0 ] && [ "${out#ok: }" != "$out" ]; then ok; else bad "expected success (rc=$rc): $* :: $out"; fi
}
# expect_reject WHAT CMD...: must exit 1 with a message on stderr.
expect_reject() {
  local what=$1 rc=0
  shift
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [ $rc -eq 1 ] && [ -s "$work/err" ]; then
    ok
    [ -z "${VERBOSE:-}" ] || echo "  rejected $what: $(head -c 300 "$work/err")"
  else
    bad "expected rejection (exit 1) of $what, got rc=$rc: $(cat "$work/out" "$work/err")"
  fi
}
# flip FILE OFFSET: XOR one byte (negative OFFSET counts from the end).
flip() {
  python3 - "$1" "$2" <<'EOF'
import os, sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read())
b[off] ^= 0x01
open(p + '.tmp', 'wb').write(bytes(b))
os.replace(p + '.tmp', p)
EOF
}

# b64flip FILE LINE BYTE: decode the base64 at the end of line LINE (0-based,
# negative counts from the end; the text after the last space), flip one bit
# of decoded byte BYTE, re-encode: a cryptographic corruption that still parses.
b64flip() {
  python3 - "$1" "$2" "$3" <<'EOF'
import base64, os, sys
p, ln, off = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(p, 'rb').read().split(b'\n')
if lines[-1] == b'':
    lines.pop()
    tail = b'\n'
else:
    tail = b''
head, sep, b64 = lines[ln].rpartition(b' ')
raw = bytearray(base64.b64decode(b64))
raw[off] ^= 0x01
lines[ln] = head + sep + base64.b64encode(bytes(raw))
open(p + '.tmp', 'wb').write(b'\n'.join(lines) + tail)
os.replace(p + '.tmp', p)
EOF
}

# crosscheck DIR: a third implementation (Python hashlib, RFC 6962 by its
# recursive definition) reads the bundles and tiles for the checkpoint size
# with its own path encoding and recomputes the root and the tile hashes.
crosscheck() {
  python3 - "$1" <<'EOF'
import base64, hashlib, os, struct, sys
d = sys.argv[1]
body = open(os.path.join(d, 'checkpoint'), 'rb').read().split(b'\n\n')[0].decode()
origin, size, root = body.split('\n')[:3]
size, root = int(size), base64.b64decode(root)
def tpath(level, n, w):
    s = '%03d' % (n % 1000)
    while n >= 1000:
        n //= 1000
        s = 'x%03d/%s' % (n % 1000, s)
    return os.path.join(d, 'tile', str(level), s + ('.p/%d' % w if w < 256 else ''))
leaves = []
for n in range((size + 255) // 256):
    w = min(256, size - n * 256)
    b = open(tpath('entries', n, w), 'rb').read()
    i = cnt = 0
    while i < len(b):
        (l,) = struct.unpack('>H', b[i:i + 2])
        leaves.append(hashlib.sha256(b'\x00' + b[i + 2:i + 2 + l]).digest())
        i += 2 + l
        cnt += 1
    assert i == len(b) and cnt == w, 'bundle %d' % n
def mth(lo, hi):
    if hi - lo == 1:
        return leaves[lo]
    k = 1
    while k * 2 < hi - lo:
        k *= 2
    return hashlib.sha256(b'\x01' + mth(lo, lo + k) + mth(lo + k, hi)).digest()
got = mth(0, size) if size else hashlib.sha256(b'').digest()
assert got == root, 'root mismatch %s' % base64.b64encode(got)
level = 0
while size >> (8 * level):
    nodes, span = size >> (8 * level), 1 << (8 * level)
    for n in range((nodes + 255) // 256):
        w = min(256, nodes - n * 256)
        t = open(tpath(level, n, w), 'rb').read()
        assert len(t) == 32 * w
        for j in range(0, w, 37 if level == 0 else 1):
            x = (n * 256 + j) * span
            assert t[32 * j:32 * j + 32] == mth(x, x + span), 'tile %d/%d #%d' % (level, n, j)
    level += 1
EOF
}

start=$(date +%s.%N)
for n in 0 1 2 255 256 257 1000 70000 256001; do
  d="$work/log$n"
  expect_ok "$G" gen "$d" "$n"
  expect_ok "$G" checkpoint "$d/vkey" "$d/checkpoint"
  expect_ok "$G" checkpoint "$(cat "$d/vkey")" "$d/checkpoint"
  expect_ok "$G" cosig "$d/witness.vkey" "$d/checkpoint"
  expect_ok "$G" tree "$d/vkey" "$d"
  if [ "$n" -le 70000 ]; then # (Python is slow; Go covers 256001)
    if crosscheck "$d"; then ok; else bad "python cross-check of log$n"; fi
  fi
  for p in "$d"/proofs/*.proof; do
    [ -e "$p" ] || continue
    expect_ok "$G" inclusion "$d/vkey" "$p" "${p%.proof}.entry"
  done
  for p in "$d"/consistency/*.proof; do
    [ -e "$p" ] || continue
    expect_ok "$G" consistency "$d/vkey" "${p%.proof}.checkpoint" "$d/checkpoint" "$p"
  done
  # The tiles still verify against an older checkpoint (its partials remain).
  if [ -e "$d/consistency/257.checkpoint" ]; then
    expect_ok "$G" tree "$d/vkey" "$d" "$d/consistency/257.checkpoint"
  fi
done

# gen is deterministic (a reproducible golden corpus).
"$G" gen "$work/again257" 257 >/dev/null
if diff -r "$work/log257" "$work/again257" >/dev/null; then ok; else bad "gen 257 is not deterministic"; fi

# Size-0 consistency: the empty tree is a prefix of any tree, with an empty proof.
: >"$work/empty.proof"
expect_ok "$G" consistency "$work/log0/vkey" "$work/log0/checkpoint" "$work/log0/checkpoint" "$work/empty.proof"

# ---- corruptions: each must be rejected with exit status 1 ----
# A second log under another origin (hence another deterministic key).
expect_ok "$G" gen "$work/other" 300 example.com/other-log
# Mutations happen in place; "mut FILE" first restores the files the previous
# mutation touched, then backs up FILE (copying whole logs is slow on this VM).
bak="$work/bak"
mkdir -p "$bak"
saved=()
restore() {
  local i
  for i in "${!saved[@]}"; do mv -f "$bak/$i" "${saved[$i]}"; done
  saved=()
}
mut() {
  restore
  cp -p "$1" "$bak/0"
  saved=("$1")
}
for n in 1 257 70000; do
  src="$work/log$n"
  m=$src
  last=$(cd "$src" && find tile/entries -type f | sort | tail -1)
  first=$(cd "$src" && find tile/entries -type f | sort | sed -n 1p)

  mut "$m/$last"; flip "$m/$last" -2
  expect_reject "log$n: byte of an entry in $last" "$G" tree "$m/vkey" "$m"
  mut "$m/$first"; flip "$m/$first" 0
  expect_reject "log$n: length prefix in $first" "$G" tree "$m/vkey" "$m"
  mut "$m/$last"; printf x >>"$m/$last"
  expect_reject "log$n: trailing byte in $last" "$G" tree "$m/vkey" "$m"
  # first and last hash tile of every level
  for lv in $(cd "$src/tile" && ls -d [0-9]*); do
    for t in $(cd "$src" && find "tile/$lv" -type f | sort | sed -n '1p;$p' | uniq); do
      mut "$m/$t"; flip "$m/$t" 5
      expect_reject "log$n: byte of hash tile $t" "$G" tree "$m/vkey" "$m"
    done
  done
  t=$(cd "$src" && find tile/0 -type f | sort | tail -1)
  mut "$m/$t"; rm "$m/$t"
  expect_reject "log$n: missing hash tile" "$G" tree "$m/vkey" "$m"
  mut "$m/$last"; rm "$m/$last"
  expect_reject "log$n: missing entry bundle" "$G" tree "$m/vkey" "$m"
  origin_len=$(sed -n 1p "$src/checkpoint" | wc -c)
  mut "$m/checkpoint"; flip "$m/checkpoint" "$origin_len"
  expect_reject "log$n: checkpoint size digit" "$G" tree "$m/vkey" "$m"
  expect_reject "log$n: checkpoint size digit" "$G" checkpoint "$m/vkey" "$m/checkpoint"
  mut "$m/checkpoint"; b64flip "$m/checkpoint" -2 20
  expect_reject "log$n: checkpoint log signature" "$G" checkpoint "$m/vkey" "$m/checkpoint"
  restore
  expect_reject "log$n: cosig with the log key (type 0x01)" "$G" cosig "$src/vkey" "$src/checkpoint"
  expect_reject "log$n: checkpoint with a foreign key" "$G" checkpoint "$work/other/vkey" "$src/checkpoint"
  mut "$m/checkpoint"; b64flip "$m/checkpoint" -1 30
  expect_reject "log$n: witness cosignature byte" "$G" cosig "$m/witness.vkey" "$m/checkpoint"
  expect_ok "$G" checkpoint "$m/vkey" "$m/checkpoint" # a bad foreign line is ignored by note.Open
  # A second, corrupted line by the log key (x/mod's note.Open would skip it).
  mut "$m/checkpoint"; sed -n 5p "$src/checkpoint" >>"$m/checkpoint"; b64flip "$m/checkpoint" -1 20
  expect_reject "log$n: repeated log signature line that does not verify" "$G" checkpoint "$m/vkey" "$m/checkpoint"
  mut "$m/checkpoint"; sed -n 5p "$src/checkpoint" >>"$m/checkpoint"
  expect_ok "$G" checkpoint "$m/vkey" "$m/checkpoint" # a repeated valid line is fine

  restore
  p="$src/proofs/0.proof"
  expect_reject "log$n: inclusion with the wrong entry" "$G" inclusion "$src/vkey" "$p" "$src/vkey"
  if [ "$n" -gt 1 ]; then
    expect_reject "log$n: inclusion of entry 1 at index 0" "$G" inclusion "$src/vkey" "$p" "$src/proofs/1.entry"
    mut "$m/proofs/0.proof"; b64flip "$m/proofs/0.proof" 3 7 # the first proof hash
    expect_reject "log$n: inclusion proof hash byte" "$G" inclusion "$m/vkey" "$m/proofs/0.proof" "$m/proofs/0.entry"
    mut "$m/proofs/0.proof"; sed -i 's/^index 0$/index 1/' "$m/proofs/0.proof"
    expect_reject "log$n: inclusion proof index" "$G" inclusion "$m/vkey" "$m/proofs/0.proof" "$m/proofs/0.entry"
    mut "$m/proofs/0.proof"; sed -i '4d' "$m/proofs/0.proof"
    expect_reject "log$n: inclusion proof missing a hash" "$G" inclusion "$m/vkey" "$m/proofs/0.proof" "$m/proofs/0.entry"
    c="$src/consistency"
    mut "$m/consistency/1.proof"; b64flip "$m/consistency/1.proof" 0 3
    expect_reject "log$n: consistency proof hash byte" "$G" consistency "$m/vkey" "$m/consistency/1.checkpoint" "$m/checkpoint" "$m/consistency/1.proof"
    restore
    expect_reject "log$n: consistency proof for another size" "$G" consistency "$src/vkey" "$c/1.checkpoint" "$src/checkpoint" "$c/2.proof"
    expect_reject "log$n: consistency new->old" "$G" consistency "$src/vkey" "$src/checkpoint" "$c/1.checkpoint" "$c/1.proof"
    expect_reject "log$n: consistency old checkpoint from another log" "$G" consistency "$src/vkey" "$work/other/consistency/2.checkpoint" "$src/checkpoint" "$c/2.proof"
    expect_reject "log$n: consistency proof of this log against another log" "$G" consistency "$work/other/vkey" "$work/other/consistency/2.checkpoint" "$work/other/checkpoint" "$c/2.proof"
  fi
  mut "$m/proofs/0.proof"; b64flip "$m/proofs/0.proof" -2 20
  expect_reject "log$n: log signature inside a tlog-proof" "$G" inclusion "$m/vkey" "$m/proofs/0.proof" "$m/proofs/0.entry"
  restore
done
# Every mutation above was undone.
expect_ok "$G" tree "$work/log70000/vkey" "$work/log70000"
expect_ok "$G" tree "$work/log257/vkey" "$work/log257"
# An older partial tile left on disk must agree with the tree too.
m="$work/log70000"
mut "$m/tile/0/000.p/2"; flip "$m/tile/0/000.p/2" 40
expect_reject "log70000: byte of the older partial tile/0/000.p/2" "$G" tree "$m/vkey" "$m"
restore
# Usage errors are not verification results: exit 2.
rc=0
"$G" tree >/dev/null 2>&1 || rc=$?
if [ $rc -eq 2 ]; then ok; else bad "usage error gave rc=$rc, want 2"; fi

end=$(date +%s.%N)
secs=$(python3 -c "print('%.1f' % ($end - $start))")
rm -rf "$work"
if [ $failed -ne 0 ]; then
  echo "goverify selfcheck: $failed FAILED, $pass passed (${secs}s)" >&2
  exit 1
fi
echo "goverify selfcheck: all $pass checks passed (${secs}s)"
