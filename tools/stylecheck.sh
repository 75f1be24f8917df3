#!/usr/bin/env bash
# Style check run by `make test`: bans unsafe libc functions in our C sources
# and flags files with tabs or trailing whitespace.
set -u
cd "$(dirname "$0")/.."
fail=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files -o --exclude-standard '*.c' '*.h' 2>/dev/null)
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atoll|tmpnam|mktemp|strncpy|strncat|alloca)[[:space:]]*\('
for f in $files; do
  [ -f "$f" ] || continue
  # strip // comments and string literals crudely; report real calls
  hits=$(grep -nE "$banned" "$f" | grep -vE '^\s*[0-9]+:\s*(\*|//)' || true)
  if [ -n "$hits" ]; then
    echo "$f: banned function (use bounded/checked forms: util_strlcpy, snprintf, util_parse_u64):"
    echo "$hits" | sed 's/^/  /'
    fail=1
  fi
  if grep -nP '[ \t]+$' "$f" >/dev/null; then
    echo "$f: trailing whitespace on line(s) $(grep -nP '[ \t]+$' "$f" | cut -d: -f1 | head -5 | tr '\n' ' ')"
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "stylecheck: ok ($(echo "$files" | wc -w) files)"
exit $fail
