#!/usr/bin/env bash
# Installs what custody's build and tests need, and only what is missing:
# every Debian package listed in scripts/deps.txt that is not yet installed;
# nodejs and npm (from apt) when `node` / `npm` are not on PATH; and the npm
# packages of tests/mcp and tests/s3 (`npm ci`, from their package-lock.json)
# when node_modules is missing or older than the lock.
# Idempotent; silent when everything is present; uses sudo when not root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
list="$here/deps.txt"
mapfile -t want < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
missing=()
for p in "${want[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
# Node.js for the MCP conformance test and benchmark (tests/mcp, bench/mcp.sh).
# Checked by command, not by package: a node from elsewhere (NodeSource, nvm)
# is fine, and Debian's npm would conflict with NodeSource's nodejs.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# tests/mcp: the reference MCP server and the SDK; tests/s3: s3rver, the S3
# origin of the model pull tests (tests/integration/test_pull.sh). Exactly as
# locked. npm writes node_modules/.package-lock.json on every install: older
# than the lock (or package.json) means the lock changed since.
for sub in mcp s3; do
  dir=$repo/tests/$sub
  stamp=$dir/node_modules/.package-lock.json
  if [ -f "$dir/package-lock.json" ] &&
    { [ ! -f "$stamp" ] || [ "$dir/package-lock.json" -nt "$stamp" ] || [ "$dir/package.json" -nt "$stamp" ]; }; then
    echo "install-deps: npm ci in tests/$sub" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
  fi
done
