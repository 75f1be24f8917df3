#!/usr/bin/env bash
# Builds goverify, custody's independent ledger verifier (Go x/mod sumdb/note
# + sumdb/tlog from Debian golang-golang-x-mod-dev), without network access.
#   usage: bash tests/interop/goverify/build.sh OUT_BINARY
# Skips the build when OUT_BINARY is newer than main.go and this script.
set -euo pipefail
if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUT_BINARY" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
out=$1
case $out in /*) ;; *) out="$PWD/$out" ;; esac
src="$here/main.go"
if [ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$here/build.sh" ]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "goverify build: 'go' not found; install golang-go and golang-golang-x-mod-dev (bash scripts/install-deps.sh)" >&2
  exit 1
fi
gopath=/usr/share/gocode
for pkg in note tlog; do
  if [ ! -d "$gopath/src/golang.org/x/mod/sumdb/$pkg" ]; then
    echo "goverify build: $gopath/src/golang.org/x/mod/sumdb/$pkg missing; install golang-golang-x-mod-dev (bash scripts/install-deps.sh)" >&2
    exit 1
  fi
done
outdir=$(dirname "$out")
mkdir -p "$outdir"
# HOME may be unset in CI: keep Go's build cache next to the output. (No
# -trimpath: it would recompile the whole standard library, ~10 s, instead of
# reusing the prebuilt one in GOROOT/pkg.)
export GOCACHE="${GOCACHE:-$outdir/.goverify-gocache}"
export GO111MODULE=off GOPATH=$gopath GOFLAGS='' CGO_ENABLED=0
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
if ! go build -o "$tmp" "$src"; then
  echo "goverify build: go build failed" >&2
  exit 1
fi
mv -f "$tmp" "$out"
