#!/usr/bin/env bash
# tools/fuzz.sh smoke        — each target over fuzz/corpus/<target>/ plus 5 s of new inputs
# tools/fuzz.sh long SECONDS — each target for SECONDS, growing a scratch copy of its corpus
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-smoke}
secs=${2:-60}
bin=build-fuzz/bin
shopt -s nullglob
targets=("$bin"/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets built" >&2; exit 1; }
for t in "${targets[@]}"; do
  name=$(basename "$t")
  corpus=fuzz/corpus/${name#fuzz_}
  mkdir -p "$corpus"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  if [ "$mode" = smoke ]; then
    "$t" -runs=0 "$corpus" >"$work/log" 2>&1 || { cat "$work/log"; echo "fuzz: $name failed on its corpus" >&2; exit 1; }
    "$t" -max_total_time=5 -timeout=5 -rss_limit_mb=1024 "$work" >"$work/log" 2>&1 || { tail -40 "$work/log"; exit 1; }
  else
    "$t" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 "$work" "$corpus" 2>&1 | tail -3
  fi
  echo "fuzz: $name ok ($(ls "$corpus" | wc -l) corpus inputs)"
  rm -rf "$work"
  trap - EXIT
done
