#!/usr/bin/env bash
# bench/http-stack/run.sh — the measurement behind docs/decisions/0001-http-stack.md.
#
# Builds h2o_static.c (a minimal libh2o 2.2.5 server, Debian libh2o-evloop-dev)
# and runs the same scenarios as `make bench` (bench/run.sh) against nginx in
# the same run, with these servers:
#
#   nginx             the peer (one worker, sendfile on, open_file_cache off)
#   nginx-nosendfile  nginx with sendfile off: what a server that must copy file
#                     data through user space (as h2o 2.2.5 must) loses, on the
#                     one transport where sendfile applies (plain HTTP/1.1)
#   h2o-file          h2o's own file handler (h2o_file_register)
#   h2o-range         custom handler: openat + fstat + Range + generator API, pread
#   h2o-mmap          the same handler handing h2o iovecs into an mmap of the file
#   custodyd          when build/bin/custodyd serves (libevent + nghttp2 + own h1)
#
# Environment: as bench/run.sh (BENCH_QUICK, BENCH_DURATION, BENCH_ONLY, ...);
# BENCH_SERVERS overrides the list above. Default 5 s per figure (~5 minutes).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/build/bench
mkdir -p "$out"

"$repo/scripts/install-deps.sh"
# Built outside the CMake project on purpose: it is a throwaway measurement
# tool, not part of custody, and libh2o is not a custody dependency.
cc -O2 -g -Wall -Wextra -o "$out/h2o_static" "$here/h2o_static.c" \
  $(pkg-config --cflags --libs libh2o-evloop openssl)
echo "http-stack: built $out/h2o_static against libh2o-evloop $(pkg-config --modversion libh2o-evloop)" \
  "(h2o $(dpkg-query -W -f='${Version}' libh2o-evloop-dev))"

export BENCH_H2O_BIN=$out/h2o_static
export BENCH_SERVERS=${BENCH_SERVERS:-nginx nginx-nosendfile h2o-file h2o-range h2o-mmap custodyd}
export BENCH_OUT=${BENCH_OUT:-$out/http-stack}
if [ -z "${BENCH_DURATION:-}" ] && [ "${BENCH_QUICK:-0}" != 1 ]; then
  export BENCH_DURATION=5
fi
exec "$repo/bench/run.sh"
