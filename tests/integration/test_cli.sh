#!/usr/bin/env bash
# test_cli.sh — end-to-end test of the `custody` CLI (and so libcustody)
# against a real custodyd: init, start, every command, exit codes, curl.
#
#   CUSTODY_BIN=build/bin bash tests/integration/test_cli.sh
#
# Exits non-zero at the first failure with a message saying what was expected.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
BIN=${CUSTODY_BIN:-$here/../../build/bin}
CUSTODY="$BIN/custody"
CUSTODYD="$BIN/custodyd"
for b in "$CUSTODY" "$CUSTODYD"; do
  [ -x "$b" ] || { echo "test_cli.sh: FAIL: $b is not built (set CUSTODY_BIN)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "test_cli.sh: FAIL: python3 is needed" >&2; exit 1; }

# a short temp dir: the socket path must fit in sockaddr_un (108 bytes)
T=$(mktemp -d "${TMPDIR:-/tmp}/custody-cli.XXXXXX")
if [ ${#T} -gt 60 ]; then
  rm -rf "$T"
  T=$(mktemp -d /tmp/custody-cli.XXXXXX)
fi
S="$T/state"
SOCK="$S/custodyd.sock"
DPID=""

cleanup() {
  if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
    kill -TERM "$DPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DPID" 2>/dev/null
    wait "$DPID" 2>/dev/null
  fi
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step=""
fail() {
  echo "test_cli.sh: FAIL [$step]: $*" >&2
  if [ -s "$T/custodyd.log" ]; then
    echo "--- last lines of custodyd's log:" >&2
    tail -n 15 "$T/custodyd.log" >&2
  fi
  exit 1
}

# expect RC CMD...: runs CMD with stdout in $T/out, stderr in $T/err; checks the exit status.
expect() {
  local want=$1
  shift
  "$@" >"$T/out" 2>"$T/err"
  local rc=$?
  [ "$rc" -eq "$want" ] ||
    fail "'$*' exited $rc, expected $want
  stdout: $(head -c 600 "$T/out")
  stderr: $(head -c 600 "$T/err")"
}
# expect_in RC STDIN_FILE CMD...: same, with stdin from a file.
expect_in() {
  local want=$1 input=$2
  shift 2
  "$@" <"$input" >"$T/out" 2>"$T/err"
  local rc=$?
  [ "$rc" -eq "$want" ] ||
    fail "'$*' < $input exited $rc, expected $want; stderr: $(head -c 600 "$T/err")"
}
c() { "$CUSTODY" --state "$S" "$@"; }
out_has() { grep -qE -- "$1" "$T/out" || fail "stdout lacks /$1/: $(head -c 800 "$T/out")"; }
err_has() { grep -qE -- "$1" "$T/err" || fail "stderr lacks /$1/: $(head -c 800 "$T/err")"; }
same_file() { cmp -s "$1" "$2" || fail "$1 and $2 differ ($(wc -c <"$1") vs $(wc -c <"$2") bytes)"; }
sha() { sha256sum "$1" | cut -c1-64; }
# py EXPR: evaluates a Python expression with j = the JSON on stdout ($T/out); must be true.
py() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' \
    "$T/out" "$1" || fail "JSON check failed: $1
  json: $(head -c 800 "$T/out")"
}

# ---------------------------------------------------------------- init
step="init"
expect 0 "$CUSTODY" init --state "$S"
out_has "custodyd --state $S"
[ -f "$S/config.yaml" ] || fail "no config.yaml after init"
[ -d "$S/demo" ] || fail "no demo root after init"
expect 0 "$CUSTODY" init --state "$S"
out_has "already initialised"
expect 0 "$CUSTODY" --state "$S" init # the global --state works as well
sed -i -E 's/^([[:space:]]+port:) 8443$/\1 0/' "$S/config.yaml" # TCP on: any free port

# ---------------------------------------------------------------- daemon down: exit 3
step="daemon not started"
expect 3 c status
err_has "is custodyd running\? start it with: custodyd --state"
err_has "\(daemon_unreachable\)"

# ---------------------------------------------------------------- start custodyd
step="start custodyd"
# run it under a private name (a symlink): a name-based kill elsewhere on the
# machine (pkill/killall custodyd, another test in a parallel ctest) cannot hit it
mkdir -p "$T/bin"
ln -s "$CUSTODYD" "$T/bin/daemon-under-test"
"$T/bin/daemon-under-test" --state "$S" >"$T/custodyd.log" 2>&1 &
DPID=$!
up=0
for _ in $(seq 100); do
  kill -0 "$DPID" 2>/dev/null || fail "custodyd exited during start-up"
  if c status >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
[ $up -eq 1 ] || fail "custodyd did not answer 'custody status' within 10 s"

# ---------------------------------------------------------------- status, version, roots
step="status"
expect 0 c status
out_has "^custodyd [0-9]"
out_has "roots: +1"
expect 0 c --json status
py "j['roots'] == 1 and j['draining'] is False and j['state_dir'] == '$S'"
expect 0 c status --json
py "'pid' in j and isinstance(j['listeners'], list)"
expect 0 "$CUSTODY" --version
out_has "^custody [0-9]+\.[0-9]+\.[0-9]+"
CUSTODY_STATE="$S" expect 0 "$CUSTODY" status # $CUSTODY_STATE as the default state
expect 0 "$CUSTODY" --socket "$SOCK" status   # an explicit socket

step="root ls"
expect 0 c root ls
out_has "^NAME +PATH +LABELS"
out_has "^demo +$S/demo +classification=public"
expect 0 c root ls --json
py "[r['name'] for r in j['roots']] == ['demo'] and j['roots'][0]['labels'] == {'classification': 'public'}"

# ---------------------------------------------------------------- put, cat, ranges
step="put into a missing directory"
printf 'hello, custody\n' >"$T/a.txt"
expect 1 c put demo:/t/a.txt "$T/a.txt"
err_has "\(not_found\)$"

step="mkdir -p"
expect 0 c mkdir -p demo:/t/sub/deep
out_has "created directory demo:/t/sub/deep"
expect 0 c mkdir -p demo:/t/sub/deep # -p: existing is fine
expect 1 c mkdir demo:/t/sub
err_has "\(already_exists\)$"

step="put from a file"
expect 0 c put demo:/t/a.txt "$T/a.txt"
out_has "^wrote demo:/t/a.txt \(15 bytes, sha256 $(sha "$T/a.txt")(, version [0-9]+)?\)$"

step="cat"
expect 0 c cat demo:/t/a.txt
same_file "$T/out" "$T/a.txt"

step="cat ranges"
expect 0 c cat demo:/t/a.txt --range 0-4
[ "$(cat "$T/out")" = "hello" ] || fail "range 0-4 gave '$(cat "$T/out")'"
expect 0 c cat --range 7- demo:/t/a.txt
printf 'custody\n' | cmp -s - "$T/out" || fail "range 7- gave '$(cat "$T/out")'"
expect 0 c cat demo:/t/a.txt --range -8
printf 'custody\n' | cmp -s - "$T/out" || fail "range -8 gave '$(cat "$T/out")'"
expect 0 c cat demo:/t/a.txt --range=5-5
[ "$(cat "$T/out")" = "," ] || fail "range 5-5 gave '$(cat "$T/out")'"
expect 1 c cat demo:/t/a.txt --range 100-
err_has "\(range_not_satisfiable\)$"
expect 2 c cat demo:/t/a.txt --range 9-3
expect 2 c cat demo:/t/a.txt --range abc

step="put from stdin"
printf 'from stdin, no newline' >"$T/b.txt"
expect_in 0 "$T/b.txt" c put demo:/t/b.txt
out_has "^wrote demo:/t/b.txt \(22 bytes, sha256 $(sha "$T/b.txt")"
printf 'from a pipe' | c put demo:/t/pipe.txt - >"$T/out" 2>"$T/err" || fail "put from a pipe: $(cat "$T/err")"
expect 0 c cat demo:/t/pipe.txt
[ "$(cat "$T/out")" = "from a pipe" ] || fail "pipe content: '$(cat "$T/out")'"
: | c put demo:/t/empty.txt >"$T/out" 2>"$T/err" || fail "empty put: $(cat "$T/err")"
out_has "\(0 bytes, sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

step="binary content, chunked and sized"
head -c 3000000 /dev/urandom >"$T/bin.dat"
printf '\0\0\r\n\0' >>"$T/bin.dat"
expect 0 c put demo:/t/bin.dat "$T/bin.dat"
cat "$T/bin.dat" | c put demo:/t/bin2.dat >"$T/out" 2>"$T/err" || fail "binary put from a pipe: $(cat "$T/err")"
c cat demo:/t/bin.dat >"$T/bin.back" 2>"$T/err" || fail "cat bin.dat: $(cat "$T/err")"
same_file "$T/bin.dat" "$T/bin.back"
c cat demo:/t/bin2.dat >"$T/bin.back" 2>"$T/err" || fail "cat bin2.dat: $(cat "$T/err")"
same_file "$T/bin.dat" "$T/bin.back"

step="names with spaces and UTF-8"
name="spaced name é?#%.txt"
printf 'odd name\n' | c put "demo:/t/$name" >"$T/out" 2>"$T/err" || fail "put odd name: $(cat "$T/err")"
expect 0 c cat "demo:/t/$name"
[ "$(cat "$T/out")" = "odd name" ] || fail "odd name content: '$(cat "$T/out")'"

# ---------------------------------------------------------------- preconditions
step="put --if-match / --create-only"
expect 1 c put demo:/t/a.txt "$T/b.txt" --if-match 0000000000000000000000000000000000000000000000000000000000000000
err_has "\(precondition_failed\)$"
expect 0 c cat demo:/t/a.txt
same_file "$T/out" "$T/a.txt" # untouched
expect 1 c put demo:/t/a.txt "$T/b.txt" --create-only
err_has "\(precondition_failed\)$"
expect 0 c put demo:/t/a.txt "$T/a.txt" --if-match "$(sha "$T/a.txt")"
expect 0 c put demo:/t/a.txt "$T/a.txt" --if-match "\"$(sha "$T/a.txt")\""
expect 0 c put demo:/t/new.txt "$T/a.txt" --create-only
expect 2 c put demo:/t/a.txt "$T/a.txt" --create-only --if-match '*'

# ---------------------------------------------------------------- stat, ls
step="stat"
expect 0 c stat demo:/t/a.txt
out_has "^type: +file$"
out_has "^size: +15$"
out_has "^sha256: +$(sha "$T/a.txt")$"
expect 0 c stat --json demo:/t/a.txt
py "j['type'] == 'file' and j['size'] == 15 and j['sha256'] == '$(sha "$T/a.txt")' and j['mtime']"
expect 0 c --json stat demo:/t/sub
py "j['type'] == 'dir' and 'sha256' not in j"
expect 1 c stat demo:/t/nope.txt
err_has "\(not_found\)$"

step="ls"
expect 0 c ls demo:/t
out_has "^TYPE +SIZE +MTIME +NAME$"
out_has "^file +15 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}  a.txt$"
out_has "^dir .* sub/$"
expect 0 c ls --json demo:/t
py "[e['name'] for e in j['entries']] == sorted([e['name'] for e in j['entries']])"
py "{e['name']: e['type'] for e in j['entries']}['sub'] == 'dir'"
py "{e['name']: e['size'] for e in j['entries']}['bin.dat'] == $(wc -c <"$T/bin.dat")"
py "'$name' in [e['name'] for e in j['entries']] and j['truncated'] is False"
expect 0 c ls demo:/t/a.txt # a file lists itself
out_has "a.txt$"
# a JSON file shaped like a listing is still a file
printf '{"resource":"demo:/","entries":[],"truncated":false}' >"$T/fake.json"
expect 0 c put demo:/t/fake.json "$T/fake.json"
expect 0 c ls --json demo:/t/fake.json
py "j['entries'][0]['name'] == 'fake.json' and j['entries'][0]['type'] == 'file'"
expect 0 c stat --json demo:/t/fake.json
py "j['type'] == 'file' and j['sha256'] == '$(sha "$T/fake.json")'"
expect 0 c cat demo:/t/fake.json
same_file "$T/out" "$T/fake.json"
expect 1 c ls demo:/t/nope
err_has "\(not_found\)$"

# ---------------------------------------------------------------- mv, rm
step="mv"
expect 0 c mv demo:/t/b.txt demo:/t/sub/c.txt
expect 1 c cat demo:/t/b.txt
err_has "\(not_found\)$"
expect 0 c cat demo:/t/sub/c.txt
same_file "$T/out" "$T/b.txt"
expect 1 c mv demo:/t/pipe.txt demo:/t/sub/c.txt
err_has "\(already_exists\)$"
expect 0 c mv demo:/t/pipe.txt demo:/t/sub/c.txt --overwrite
expect 0 c cat demo:/t/sub/c.txt
[ "$(cat "$T/out")" = "from a pipe" ] || fail "mv --overwrite content: '$(cat "$T/out")'"
expect 0 c mv demo:/t/sub/c.txt /t/c.txt # a bare /PATH: same root
expect 0 c cat demo:/t/c.txt

step="rm"
expect 0 c rm demo:/t/c.txt
out_has "^deleted demo:/t/c.txt$"
expect 1 c cat demo:/t/c.txt
err_has "\(not_found\)$"
expect 1 c rm demo:/t/sub
err_has "\(directory_not_empty\)$"
expect 0 c rm demo:/t/sub/deep
expect 1 c rm demo:/t/new.txt --if-match 0000000000000000000000000000000000000000000000000000000000000000
err_has "\(precondition_failed\)$"
expect 0 c rm demo:/t/new.txt --if-match "$(sha "$T/a.txt")"

# ---------------------------------------------------------------- versions, rollback
step="versions"
for i in 1 2 3; do
  printf 'version %s of v.txt\n' "$i" >"$T/v$i"
  expect 0 c put demo:/t/v.txt "$T/v$i"
done
expect 0 c versions demo:/t/v.txt
out_has "^VERSION +OP +SIZE +TIME +SHA256$"
out_has " $(sha "$T/v1")$"
expect 0 c versions --json demo:/t/v.txt
py "len(j['versions']) >= 3"
py "[v['version'] for v in j['versions']] == sorted(v['version'] for v in j['versions'])"
v1=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print([v["version"] for v in j["versions"] if v["sha256"]==sys.argv[2]][0])' "$T/out" "$(sha "$T/v1")") ||
  fail "no version with v1's sha256"
v2=$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print([v["version"] for v in j["versions"] if v["sha256"]==sys.argv[2]][0])' "$T/out" "$(sha "$T/v2")") ||
  fail "no version with v2's sha256"

step="cat --version"
expect 0 c cat demo:/t/v.txt --version "$v2"
same_file "$T/out" "$T/v2"
expect 1 c cat demo:/t/v.txt --version 999999
err_has "\((unknown_version|not_found)\)$"

step="rollback"
expect 0 c rollback demo:/t/v.txt --to "$v1"
out_has "^rolled back demo:/t/v.txt to version $v1 "
expect 0 c cat demo:/t/v.txt
same_file "$T/out" "$T/v1"
expect 0 c versions --json demo:/t/v.txt
py "len(j['versions']) >= 4"
expect 1 c rollback demo:/t/v.txt --to 999999
expect 2 c rollback demo:/t/v.txt
expect 2 c rollback demo:/t/v.txt --to zero

# ---------------------------------------------------------------- root add
step="root add"
mkdir -p "$T/extra/in"
printf 'outside the state dir\n' >"$T/extra/in/x.txt"
expect 0 c root add extra "$T/extra" --label classification=internal --label team=r-d
out_has "^added root extra -> "
expect 0 c root ls --json
py "{r['name']: r for r in j['roots']}['extra']['labels'] == {'classification': 'internal', 'team': 'r-d'}"
py "{r['name']: r for r in j['roots']}['extra']['path'] == '$(cd "$T/extra" && pwd -P)'"
expect 0 c ls extra:/in
out_has "x.txt$"
expect 0 c cat extra:/in/x.txt
same_file "$T/out" "$T/extra/in/x.txt"
(cd "$T" && "$CUSTODY" --state "$S" root add rel ./extra/in >"$T/out" 2>"$T/err") || fail "root add with a relative path: $(cat "$T/err")"
expect 0 c root ls --json
py "{r['name']: r for r in j['roots']}['rel']['path'] == '$(cd "$T/extra/in" && pwd -P)'"
expect 0 c cat rel:/x.txt
expect 1 c mv extra:/in/x.txt demo:/x.txt
err_has "\(cross_root\)$"
expect 4 c root add nowhere "$T/does-not-exist"
expect 2 c root add 'bad name' "$T/extra"
expect 2 c root add x "$T/extra" --label novalue

# ---------------------------------------------------------------- refusals: exit 1
step="unknown root"
expect 1 c cat nope:/x
err_has "\(unknown_root\)$"
expect 1 c ls nope:/
err_has "\(unknown_root\)$"
step="escapes and directories"
expect 1 c cat demo:/../state/config.yaml
err_has "\((path_escapes_root|bad_request|invalid_path|not_found)\)$"
expect 1 c cat demo:/t
err_has "\(is_a_directory\)$"

# ---------------------------------------------------------------- usage: exit 2
step="usage errors"
expect 2 "$CUSTODY"
expect 2 c frobnicate
err_has "unknown command"
expect 2 c cat
expect 2 c cat demo:/t/a.txt --bogus
err_has "unknown option '--bogus'"
expect 2 c cat demo:/t/a.txt extra-operand
expect 2 c put not-a-resource "$T/a.txt"
expect 2 c root
expect 2 c root frob
expect 2 c mv demo:/t/a.txt
expect 2 "$CUSTODY" --bogus status
expect 0 c cat --help
out_has "^usage: custody cat"
expect 0 "$CUSTODY" --help
out_has "exit status"

# ---------------------------------------------------------------- local I/O: exit 4
step="local I/O errors"
expect 4 c put demo:/t/z.txt "$T/does-not-exist"
err_has "cannot open"
expect 4 c put demo:/t/z.txt "$T" # a directory as input
if [ -w /dev/full ]; then
  c cat demo:/t/bin.dat >/dev/full 2>"$T/err"
  rc=$?
  [ $rc -eq 4 ] || fail "cat > /dev/full exited $rc, expected 4"
fi

# ---------------------------------------------------------------- curl on the socket
step="curl --unix-socket"
if command -v curl >/dev/null; then
  curl -sS --unix-socket "$SOCK" http://localhost/v1/health >"$T/out" || fail "curl health"
  py "j['status'] == 'ok'"
  curl -sS --unix-socket "$SOCK" -o "$T/curl.out" http://localhost/v1/fs/demo/t/a.txt || fail "curl GET"
  same_file "$T/curl.out" "$T/a.txt"
  curl -sS --unix-socket "$SOCK" "http://localhost/v1/fs/demo/t/spaced%20name%20%C3%A9%3F%23%25.txt" >"$T/out" || fail "curl GET odd name"
  [ "$(cat "$T/out")" = "odd name" ] || fail "curl odd name: '$(cat "$T/out")'"
  code=$(curl -sS --unix-socket "$SOCK" -o "$T/out" -w '%{http_code}' http://localhost/v1/fs/demo/t/nope.txt)
  [ "$code" = 404 ] || fail "curl GET of a missing file answered $code"
  py "j['error']['code'] == 'not_found' and j['error']['status'] == 404"
  curl -sS --unix-socket "$SOCK" -X PUT --data-binary 'via curl' http://localhost/v1/fs/demo/t/curl.txt >"$T/out" ||
    fail "curl PUT"
  expect 0 c cat demo:/t/curl.txt
  [ "$(cat "$T/out")" = "via curl" ] || fail "curl PUT content: '$(cat "$T/out")'"

  step="curl: metadata headers, listing entries, symlinks"
  chmod 0640 "$S/demo/t/curl.txt"
  ln -s curl.txt "$S/demo/t/curl-link"
  ln -s ../../outside.txt "$S/demo/t/out-link"
  printf 'outside\n' >"$S/outside.txt"
  curl -sS -I --unix-socket "$SOCK" http://localhost/v1/fs/demo/t/curl-link | tr -d '\r' >"$T/out" ||
    fail "curl HEAD"
  grep -qi '^x-custody-mode: 0640$' "$T/out" || fail "HEAD of a file: no x-custody-mode 0640: $(cat "$T/out")"
  grep -qiE '^x-custody-atime: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z$' "$T/out" ||
    fail "HEAD of a file: no x-custody-atime: $(cat "$T/out")"
  ! grep -qi '^x-custody-btime:' "$T/out" ||
    grep -qiE '^x-custody-btime: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z$' "$T/out" ||
    fail "HEAD of a file: malformed x-custody-btime: $(cat "$T/out")"
  curl -sS -I --unix-socket "$SOCK" http://localhost/v1/fs/demo/t | tr -d '\r' >"$T/out" || fail "curl HEAD dir"
  dmode=$(printf '%04o' "0$(stat -c %a "$S/demo/t")")
  grep -qi "^x-custody-mode: $dmode\$" "$T/out" || fail "HEAD of a directory: no x-custody-mode $dmode: $(cat "$T/out")"
  grep -qi "^x-custody-size: $(stat -c %s "$S/demo/t")\$" "$T/out" || fail "HEAD of a directory: no x-custody-size"
  grep -qi '^last-modified: ' "$T/out" || fail "HEAD of a directory: no last-modified"
  curl -sS --unix-socket "$SOCK" http://localhost/v1/fs/demo/t >"$T/out" || fail "curl GET dir"
  py "[(e['mode'], 'atime' in e, 'target' in e) for e in j['entries'] if e['name'] == 'curl.txt'] == [('0640', True, False)]"
  py "[(e['type'], e['mode'], e['size'], e['target']) for e in j['entries'] if e['name'] == 'curl-link'] == [('symlink', '0777', 8, {'type': 'file', 'size': 8})]"
  py "[(e['type'], 'target' in e) for e in j['entries'] if e['name'] == 'out-link'] == [('symlink', False)]"
  expect 0 c stat demo:/t/curl-link
  # a write through a link that leaves the root is refused; nothing changes
  code=$(curl -sS --unix-socket "$SOCK" -o "$T/out" -w '%{http_code}' -X PUT --data-binary 'x' \
    http://localhost/v1/fs/demo/t/out-link)
  [ "$code" = 403 ] || fail "PUT through an escaping link answered $code"
  py "j['error']['code'] == 'path_escapes_root'"
  [ -L "$S/demo/t/out-link" ] && [ "$(cat "$S/outside.txt")" = outside ] || fail "PUT through an escaping link changed something"
  # a write through a link inside the root writes its target; the link stays
  curl -sS --unix-socket "$SOCK" -X PUT --data-binary 'through' http://localhost/v1/fs/demo/t/curl-link >"$T/out" ||
    fail "curl PUT through a link"
  [ -L "$S/demo/t/curl-link" ] && [ "$(cat "$S/demo/t/curl.txt")" = through ] ||
    fail "PUT through a link inside the root did not write its target"
  [ "$(stat -c %a "$S/demo/t/curl.txt")" = 640 ] || fail "PUT through a link lost the target's mode"
  rm -f "$S/demo/t/curl-link" "$S/demo/t/out-link" "$S/outside.txt"
else
  echo "test_cli.sh: curl not installed, skipping the curl checks" >&2
fi

# ---------------------------------------------------------------- daemon stopped: exit 3
step="daemon stopped"
kill -TERM "$DPID"
for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DPID" 2>/dev/null && fail "custodyd did not exit on SIGTERM within 10 s"
wait "$DPID"
drc=$?
DPID=""
[ $drc -eq 0 ] || fail "custodyd exited $drc on SIGTERM, expected 0"
expect 3 c status
err_has "is custodyd running\? start it with: custodyd --state $S"
expect 3 c cat demo:/t/a.txt
expect 3 c ls demo:/

echo "test_cli.sh: ok"
