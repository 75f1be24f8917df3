#!/usr/bin/env bash
# test_mount.sh — `custody mount`: the FUSE view of a root, end to end with
# real custodyd, real FUSE, and the audit log.
#   - refuses a non-empty mount point (unless --nonempty)
#   - reads, creates, appends, mkdir, rename, unlink, rmdir; writes are
#     versioned (rollback through custodyd shows in the view)
#   - a sequential read of one open file is one decision event plus one
#     usage event (range, bytes), not one per read
#   - an agent whose policy forbids writes: reads work, a write fails with
#     EACCES, the backing file is unchanged and the refusal names the policy
#   - links and device nodes cannot be made through the view
#   - concurrent writers of one file share its staging copy
#   - custodyd restarted while mounted: operations fail cleanly, then work
#   - SIGTERM unmounts cleanly; the log verifies
if ! [ -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then echo "skipped: no FUSE"; exit 0; fi
source "$(dirname "$0")/lib.sh"
init_state
start_daemon
C=("$BIN/custody" --state "$STATE")
ROOTDIR=$("${C[@]}" root ls --json | python3 -c 'import json,sys; d=json.load(sys.stdin); r=d["roots"] if isinstance(d,dict) else d; print([x["path"] for x in r if x["name"]=="demo"][0])') ||
  fail "cannot find the demo root's directory"
MNT=$WORK/mnt
MPID=""
mount_view() { # mount_view [--agent NAME] -> MPID, waits until mounted
  "${C[@]}" "$@" mount demo "$MNT" >>"$WORK/mount.log" 2>&1 &
  MPID=$!
  for _ in $(seq 100); do
    grep -q " $MNT fuse" /proc/mounts && return 0
    kill -0 "$MPID" 2>/dev/null || fail "custody mount exited: $(tail -3 "$WORK/mount.log")"
    sleep 0.05
  done
  fail "the view did not appear"
}
unmount_view() {
  kill -TERM "$MPID"
  local rc=0
  wait "$MPID" || rc=$?
  MPID=""
  grep -q " $MNT fuse" /proc/mounts && fail "still mounted after SIGTERM"
  [ $rc -eq 0 ] || { tail -40 "$WORK/mount.log" >&2; fail "custody mount exited $rc after SIGTERM"; }
}
trap 'if [ -n "$MPID" ]; then kill -TERM $MPID 2>/dev/null; sleep 0.3; fusermount3 -u "$MNT" 2>/dev/null; fi; cleanup' EXIT

# --- a non-empty mount point is refused
mkdir -p "$MNT"
touch "$MNT/keep"
if "${C[@]}" mount demo "$MNT" 2>"$WORK/err"; then fail "mounted over a non-empty directory"; fi
grep -q "not empty" "$WORK/err" || fail "no clear error for a non-empty mount point: $(cat "$WORK/err")"
rm "$MNT/keep"

# --- the operator's view
mount_view
[ "$(cat "$MNT/hello.txt")" = "$(cat "$ROOTDIR/hello.txt")" ] || fail "read through the view"
ls "$MNT" | grep -x notes >/dev/null || fail "listing through the view"
echo "first" >"$MNT/new.txt"
[ "$(cat "$ROOTDIR/new.txt")" = first ] || fail "a created file did not reach the root"
echo "second" >>"$MNT/new.txt"
[ "$(cat "$ROOTDIR/new.txt")" = "$(printf 'first\nsecond')" ] || fail "append through the view"
n=$("${C[@]}" versions --json demo:/new.txt | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))')
[ "$n" = 2 ] || fail "echo > f then echo >> f made $n versions, want 2 (one per close)"
"${C[@]}" rollback demo:/new.txt --to 1 >/dev/null || fail "rollback"
sleep 1.1 # attribute cache
[ "$(cat "$MNT/new.txt")" = first ] || fail "the view does not show the rolled-back content"
mkdir "$MNT/d" && mv "$MNT/new.txt" "$MNT/d/moved.txt" || fail "mkdir / rename through the view"
[ -f "$ROOTDIR/d/moved.txt" ] && [ ! -e "$ROOTDIR/new.txt" ] || fail "rename did not reach the root"
rm "$MNT/d/moved.txt" && rmdir "$MNT/d" || fail "unlink / rmdir through the view"
[ ! -e "$ROOTDIR/d" ] || fail "rmdir did not reach the root"
truncate -s 3 "$MNT/hello.txt" || fail "truncate through the view"
[ "$(cat "$ROOTDIR/hello.txt")" = hel ] || fail "truncate did not reach the root"
touch -d '2020-01-02 03:04:05' "$MNT/hello.txt" || fail "utimens through the view"
[ "$(stat -c %Y "$ROOTDIR/hello.txt")" = "$(date -d '2020-01-02 03:04:05' +%s)" ] || fail "utimens did not reach the root"

# links and device nodes cannot be made through the view
if ln -s hello.txt "$MNT/link" 2>/dev/null; then fail "a symlink was made through the view"; fi
if ln "$MNT/hello.txt" "$MNT/hard" 2>/dev/null; then fail "a hard link was made through the view"; fi
# a symlink in the root that points outside it leads outside the view, not through it
ln -s /etc/hostname "$ROOTDIR/esc"
[ "$(readlink "$MNT/esc")" = /etc/hostname ] || fail "readlink through the view"

# --- one sequential read = one decision + one usage event
head -c $((4 << 20)) /dev/urandom >"$ROOTDIR/big.bin"
sum=$(dd if="$MNT/big.bin" bs=64k 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$sum" = "$(sha256sum <"$ROOTDIR/big.bin" | cut -d' ' -f1)" ] || fail "a 4 MiB read through the view differs"
sleep 0.2 # (release reaches the view after close returns)
ev=$(wait_events 2 --resource demo:/big.bin --action read)
[ "$(echo "$ev" | grep -c .)" = 2 ] || fail "a sequential 4 MiB read made $(echo "$ev" | grep -c .) events, want 2: $ev"
echo "$ev" | grep '"reason": *"custody fuse: open for reading' >/dev/null || fail "no open decision for big.bin: $ev"
echo "$ev" | python3 -c '
import json, sys
e = [json.loads(l)["event"] for l in sys.stdin if "bytes through" in l]
assert len(e) == 1, e
e = e[0]
assert e["bytes_transferred"] == 4 << 20, e
assert e["byte_range"] == {"start": 0, "length": 4 << 20}, e
' || fail "the usage event of big.bin lacks its range or bytes: $ev"

# --- concurrent writers of one file share its staging copy
head -c 65536 /dev/zero >"$MNT/shared.bin"
exec 7<>"$MNT/shared.bin" 8<>"$MNT/shared.bin"
printf 'AAAA' | dd of="$MNT/shared.bin" bs=1 seek=0 conv=notrunc 2>/dev/null
printf 'BBBB' | dd of="$MNT/shared.bin" bs=1 seek=60000 conv=notrunc 2>/dev/null
exec 7>&- 8>&-
sleep 0.2
[ "$(head -c 4 "$ROOTDIR/shared.bin")" = AAAA ] && [ "$(tail -c +60001 "$ROOTDIR/shared.bin" | head -c 4)" = BBBB ] ||
  fail "concurrent writers lost a write"

# --- custodyd goes away while mounted: clean failures, then recovery
stop_daemon || fail "custodyd did not stop"
if cat "$MNT/notes/"* >/dev/null 2>&1; then fail "a read succeeded while custodyd was down"; fi
if (echo x >"$MNT/while-down.txt") 2>/dev/null; then fail "a write succeeded while custodyd was down"; fi
[ ! -e "$ROOTDIR/while-down.txt" ] || fail "a write reached the root while custodyd was down"
start_daemon
cat "$MNT/README.md" >/dev/null || fail "the view did not recover after custodyd restarted"
echo back >"$MNT/after.txt" || fail "write after custodyd restarted"
unmount_view

# --- an agent whose policy forbids writes
"${C[@]}" agent add reader >/dev/null || fail "agent add reader"
cat >"$STATE/policy/reader.cedar" <<'CEDAR'
@id("reader-reads-demo")
permit (principal == Agent::"reader", action in Action::"readonly", resource in Root::"demo");

@id("reader-no-writes")
forbid (principal == Agent::"reader", action in [Action::"write", Action::"mkdir", Action::"move", Action::"delete"], resource in Root::"demo");

@id("reader-not-big")
forbid (principal == Agent::"reader", action == Action::"read", resource == File::"demo:/big.bin");
CEDAR
"${C[@]}" policy reload >/dev/null || fail "policy reload"
mount_view --agent reader
cat "$MNT/README.md" >/dev/null || fail "the reader agent cannot read through the view"
before=$(sha256sum <"$ROOTDIR/README.md")
if (echo tamper >"$MNT/README.md") 2>"$WORK/err"; then fail "the reader agent wrote through the view"; fi
grep -q "Permission denied" "$WORK/err" || fail "the refused write is not EACCES: $(cat "$WORK/err")"
[ "$(sha256sum <"$ROOTDIR/README.md")" = "$before" ] || fail "a refused write changed the file"
if mkdir "$MNT/nope" 2>/dev/null; then fail "the reader agent made a directory"; fi
grep -q "reader-no-writes" "$WORK/mount.log" || fail "the view's log does not name the refusing policy"
has_event '"reader-no-writes"' --agent reader --decision deny --resource demo:/README.md ||
  fail "the refusal is not in the ledger with its policy"

# --- reads decided with the listing: after ls, an open needs no request of
# its own while the grant lasts (2 s); a file policy refuses is not granted
sleep 2.1 # the grants of the listings above have run out
opens() { events --agent reader --resource "$1" --action read | grep -c '"custody fuse: open for reading' || true; }
o_readme=$(opens demo:/README.md)
ls "$MNT" >/dev/null || fail "ls as the reader agent"
cat "$MNT/README.md" >/dev/null || fail "read after the listing"
if cat "$MNT/big.bin" >/dev/null 2>"$WORK/err"; then fail "the reader agent read a file its policy forbids"; fi
grep -q "Permission denied" "$WORK/err" || fail "the refused read is not EACCES: $(cat "$WORK/err")"
has_event "read decided with the listing" --agent reader --resource demo:/README.md --action read ||
  fail "no read grant for README.md in the ledger"
[ "$(opens demo:/README.md)" = "$o_readme" ] || fail "a granted read still asked custodyd at open"
has_event "read decided with the listing" --agent reader --decision deny --resource demo:/big.bin ||
  fail "the refused grant of big.bin is not in the ledger"
has_event '"reader-not-big"' --agent reader --decision deny --resource demo:/big.bin ||
  fail "the refusal of big.bin does not name its policy"
sleep 2.1
cat "$MNT/README.md" >/dev/null || fail "read after the grant ran out"
sleep 0.6
[ "$(opens demo:/README.md)" -gt "$o_readme" ] || fail "an open after the grant ran out was not decided"
unmount_view

# --- the batch forms refuse what is not a file name or a report
post() { curl -s -o "$WORK/body" -w '%{http_code}' --unix-socket "$STATE/custodyd.sock" \
  -H 'content-type: application/json' -d "$2" "http://localhost/v1/fs/demo$1"; }
for bad in '["../x"]' '["a/b"]' '[""]' '["."]' '[1]' '[]' \
  "$(python3 -c 'import json; print(json.dumps(["f%d" % i for i in range(1025)]))')"; do
  code=$(post / '{"op":"access","action":"read","phase":"grant","surface":"fuse","names":'"$bad"'}')
  [ "$code" = 400 ] || fail "a grant with names ${bad:0:40} answered $code"
done
code=$(post / '{"op":"access","action":"write","phase":"grant","surface":"fuse","names":["a"]}')
[ "$code" = 400 ] || fail "a write grant answered $code"
for bad in '[{"path":"../../etc/passwd","bytes":1}]' '[{"path":"/a","bytes":-1}]' \
  '[{"path":"/a","bytes":1,"range":[5,2]}]' '[{"path":"/a"}]' '[{"path":"/a","bytes":1,"extra":1}]' '[]'; do
  code=$(post / '{"op":"access","action":"read","phase":"close","surface":"fuse","batch":'"$bad"'}')
  [ "$code" = 400 ] || fail "a usage batch $bad answered $code"
done
code=$(post / '{"op":"access","action":"read","phase":"grant","surface":"fuse","names":["README.md","nope.txt"]}')
[ "$code" = 200 ] || fail "a grant of two names answered $code: $(cat "$WORK/body")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["granted"]==[True,True] and d["ttl_ms"]>0, d' \
  "$WORK/body" || fail "the grant answer: $(cat "$WORK/body")"

stop_daemon || fail "custodyd did not stop cleanly"
"${C[@]}" audit verify --trusted "$WORK/trusted" >/dev/null || fail "audit verify after the mount session"
echo "ok: custody mount (reads, versioned writes, coalesced audit, policy refusals, restart, SIGTERM)"
