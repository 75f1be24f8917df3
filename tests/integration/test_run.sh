#!/usr/bin/env bash
# test_run.sh — `custody run`: an agent whose only way to the roots is the
# audited view, with real custodyd, real FUSE, namespaces and Landlock.
#   - `custody run -- bash -c 'cat protected/file'` reads through the view,
#     and the read is in the ledger
#   - the backing directory cannot be reached another way: not through a
#     bind mount of / made before the run, not through custodyd's
#     /proc/PID/root, not by unmounting the view
#   - the state directory (keys, versions, the log) and custodyd's socket
#     are covered; a root not chosen with --root is hidden
#   - writes through the view are versioned; an agent refused by policy
#     gets EACCES and the refusal is in the ledger
#   - the command's exit status comes back; the view processes end with it
if ! [ -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then echo "skipped: no FUSE"; exit 0; fi
if ! python3 -c 'import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).syscall(444,None,0,1) > 0 else 1)'; then
  echo "skipped: this kernel has no Landlock"; exit 0
fi
if [ "$(id -u)" != 0 ] && ! unshare -U true 2>/dev/null; then
  echo "skipped: no root and no unprivileged user namespaces"; exit 0
fi
source "$(dirname "$0")/lib.sh"
init_state
start_daemon
C=("$BIN/custody" --state "$STATE")
mkdir -p "$WORK/protected" "$WORK/other"
echo "the protected secret" >"$WORK/protected/file"
echo "not for this agent" >"$WORK/other/file"
"${C[@]}" root add protected "$WORK/protected" >/dev/null || fail "root add protected"
"${C[@]}" root add other "$WORK/other" >/dev/null || fail "root add other"
# the views live in custody run's own mount namespace; what could outlive
# it are their processes (forks of custody run, same command line)
views_left() { pgrep -f -- "--state $STATE run" | wc -l; }

# --- the issue's example, from the directory holding the root
out=$(cd "$WORK" && "${C[@]}" run --root protected -- bash -c 'cat protected/file') ||
  fail "custody run -- cat protected/file failed"
[ "$out" = "the protected secret" ] || fail "read through the view gave: $out"
has_event . --resource protected:/file --action read --decision allow ||
  fail "the read through custody run is not in the ledger"
[ "$(views_left)" = 0 ] || fail "a view process outlived custody run"

# --- the rest of the system works as usual: temp files, heredocs, listing /
out=$("${C[@]}" run --root protected -- bash -c 't=$(mktemp); echo tmp-ok >"$t"; cat "$t"; rm "$t"
cat <<END
heredoc-ok
END
ls / >/dev/null && echo ls-ok') || fail "ordinary work inside custody run failed: $out"
[ "$(echo $out)" = "tmp-ok heredoc-ok ls-ok" ] || fail "ordinary work inside custody run gave: $out"

# --- other ways to the backing directory, all refused
mkdir -p "$WORK/alias"
mount --bind / "$WORK/alias"
probe() { # probe DESCRIPTION SHELL-CODE: the code must fail inside custody run
  if (cd "$WORK" && "${C[@]}" run --root protected -- bash -c "$2") >"$WORK/probe.out" 2>&1; then
    fail "inside custody run, $1 worked: $(head -c 300 "$WORK/probe.out")"
  fi
  if grep -q "the protected secret\|not for this agent" "$WORK/probe.out"; then
    fail "inside custody run, $1 showed protected content"
  fi
}
probe "a bind mount of / made before the run" "cat '$WORK/alias$WORK/protected/file'"
probe "custodyd's /proc/PID/root" "cat /proc/$DAEMON_PID/root$WORK/protected/file"
probe "unmounting the view" "umount -l '$WORK/protected' && cat '$WORK/protected/file'"
probe "the state directory" "cat '$STATE/config.yaml'"
probe "the state directory through the bind mount" "cat '$WORK/alias$STATE/config.yaml'"
probe "custodyd's socket" "curl -sf --unix-socket '$STATE/custodyd.sock' http://localhost/v1/health"
probe "a root not chosen with --root" "cat '$WORK/other/file'"
probe "a new device node" "mknod '$WORK/disk' b 8 0"
umount "$WORK/alias"

# --- roots inside the state directory keep their view (demo lives there)
demo=$("${C[@]}" run -- bash -c "ls '$STATE'; cat '$STATE/demo/README.md' | head -c 5") ||
  fail "the demo root (inside the state directory) is not reachable through custody run"
echo "$demo" | grep -x "demo" >/dev/null || fail "the covered state directory shows more than the demo view: $demo"
has_event . --resource demo:/README.md --action read --decision allow ||
  fail "the demo read is not in the ledger"

# --- writes are versioned; the exit status comes back
(cd "$WORK" && "${C[@]}" run --root protected -- bash -c 'echo one >protected/new.txt; echo two >>protected/new.txt') ||
  fail "a write through custody run failed"
[ "$(cat "$WORK/protected/new.txt")" = "$(printf 'one\ntwo')" ] || fail "the write did not reach the root"
n=$("${C[@]}" versions --json protected:/new.txt | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["versions"]))')
[ "$n" -ge 1 ] || fail "the write through custody run kept no version"
# a session's consent token (--consent / CUSTODY_CONSENT) reaches the edit records
(cd "$WORK" && CUSTODY_CONSENT="approved by alice, ticket 7" "${C[@]}" run --root protected -- \
  bash -c 'echo agreed >protected/consented.txt') || fail "a write with a consent token failed"
"${C[@]}" history protected:/consented.txt --json | python3 -c '
import json, sys
r = json.load(sys.stdin)["records"]
assert r and all(x["consent"] == "approved by alice, ticket 7" and x["signature"] == "ok" for x in r), r
' || fail "the consent token of custody run is not in the edit record"
rc=0
"${C[@]}" --consent "$(printf 'bad\001')" run -- true 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "an invalid --consent exited $rc, want 2"
rc=0
"${C[@]}" run --root protected -- sh -c 'exit 7' || rc=$?
[ $rc = 7 ] || fail "custody run returned $rc for a command that exited 7"
rc=0
"${C[@]}" run --root protected -- /nonexistent/cmd 2>/dev/null || rc=$?
[ $rc = 127 ] || fail "custody run returned $rc for a missing command"

# --- an agent refused by policy
"${C[@]}" agent add reader >/dev/null || fail "agent add reader"
cat >"$STATE/policy/reader.cedar" <<'CEDAR'
@id("reader-reads-protected")
permit (principal == Agent::"reader", action in Action::"readonly", resource in Root::"protected");

@id("reader-no-writes")
forbid (principal == Agent::"reader", action in [Action::"write", Action::"mkdir", Action::"move", Action::"delete"], resource in Root::"protected");
CEDAR
"${C[@]}" policy reload >/dev/null || fail "policy reload"
out=$(cd "$WORK" && "${C[@]}" --agent reader run --root protected -- bash -c 'cat protected/file') ||
  fail "the reader agent cannot read through custody run"
[ "$out" = "the protected secret" ] || fail "the reader read: $out"
if (cd "$WORK" && "${C[@]}" --agent reader run --root protected -- bash -c 'echo tamper >protected/file') 2>"$WORK/err"; then
  fail "the reader agent wrote through custody run"
fi
grep -q "Permission denied" "$WORK/err" || fail "the refused write is not EACCES: $(cat "$WORK/err")"
[ "$(cat "$WORK/protected/file")" = "the protected secret" ] || fail "a refused write changed the file"
has_event '"reader-no-writes"' --agent reader --decision deny --resource protected:/file ||
  fail "the refusal is not in the ledger with its policy"

# --- the view mints one token per action and folder, not one per file
# (custody_client_set_token_scope), and falls back to exact tokens where
# policy refuses the folder
echo "second" >"$WORK/protected/second"
has_event . --agent reader --action token.mint --decision allow || fail "no token.mint of the reader yet"
before=$(events --agent reader --action token.mint --decision allow | grep -c . || true)
(cd "$WORK" && "${C[@]}" --agent reader run --root protected -- bash -c 'cat protected/file protected/second protected/new.txt' >/dev/null) ||
  fail "the reader agent cannot read three files"
has_event "bytes through" --agent reader --resource protected:/new.txt --action read ||
  fail "the reader's third read has no usage event"
mints=$(( $(events --agent reader --action token.mint --decision allow | grep -c .) - before ))
[ "$mints" = 1 ] || fail "three reads in one folder minted $mints tokens, want 1"
"${C[@]}" agent add narrow >/dev/null || fail "agent add narrow"
cat >"$STATE/policy/narrow.cedar" <<'CEDAR'
@id("narrow-reads-one-file")
permit (principal == Agent::"narrow", action == Action::"read", resource == File::"protected:/file");
CEDAR
"${C[@]}" policy reload >/dev/null || fail "policy reload"
out=$(cd "$WORK" && "${C[@]}" --agent narrow run --root protected -- bash -c 'cat protected/file') ||
  fail "an agent allowed one file only cannot read it (the folder token refused, no exact fallback?)"
[ "$out" = "the protected secret" ] || fail "the narrow agent read: $out"
# no token for the root either: its usage report goes alone, with the file's token
has_event "bytes through" --agent narrow --resource protected:/file --action read --decision allow ||
  fail "the narrow agent's read has no usage event"
if (cd "$WORK" && "${C[@]}" --agent narrow run --root protected -- cat protected/second) >/dev/null 2>&1; then
  fail "the narrow agent read a file its policy does not name"
fi

[ "$(views_left)" = 0 ] || fail "view processes left running"
"${C[@]}" audit verify >/dev/null || fail "audit verify after custody run"

# --- a user, not root: custody run takes the user-namespace path. As root, this runs
# uid 65534's own custodyd and custody run; /dev/fuse is opened to users (0666, as on
# most desktops) only while it does. A non-root run of this test tests it as itself.
if [ "$(id -u)" = 0 ] && unshare -U true 2>/dev/null && id -u 65534 >/dev/null 2>&1; then
  U="$WORK/user"
  mkdir -p "$U" && chown 65534:65534 "$U" && chmod 0755 "$WORK"
  FUSE_MODE=$(stat -c %a /dev/fuse)
  trap 'chmod "$FUSE_MODE" /dev/fuse; pkill -f -- "--state $U/state" || true; cleanup' EXIT
  chmod 0666 /dev/fuse
  AS=(setpriv --reuid 65534 --regid 65534 --clear-groups env HOME="$U")
  UC=("${AS[@]}" "$BIN/custody" --state "$U/state")
  "${UC[@]}" init >/dev/null || fail "init as uid 65534"
  sed -i -E 's/^([[:space:]]+port:) 8443$/\1 0/' "$U/state/config.yaml"
  "${AS[@]}" "$BIN/custodyd" --state "$U/state" >"$WORK/user-daemon.log" 2>&1 &
  for _ in $(seq 100); do "${UC[@]}" status >/dev/null 2>&1 && break; sleep 0.05; done
  mkdir -p "$U/data" && echo "the user's secret" >"$U/data/f" && chown -R 65534:65534 "$U/data"
  "${UC[@]}" root add mine "$U/data" >/dev/null || fail "root add as uid 65534"
  out=$(cd "$U" && "${UC[@]}" run --root mine -- bash -c 'cat data/f; id -u') ||
    fail "custody run as uid 65534: $out"
  [ "$(echo $out)" = "the user's secret 65534" ] || fail "custody run as uid 65534 gave: $out"
  "${AS[@]}" cat "$U/state/keys/node.ed25519" >/dev/null || fail "uid 65534 cannot read its own key"
  (cd "$U" && "${UC[@]}" run --root mine -- cat state/keys/node.ed25519) >/dev/null 2>&1 &&
    fail "uid 65534's sandbox could read its state directory"
  seen=""
  for _ in $(seq 40); do # under a signed checkpoint within 500 ms
    "${UC[@]}" audit search --json --resource mine:/f --action read --decision allow |
      grep '"mine:/f"' >/dev/null && { seen=1; break; }
    sleep 0.25
  done
  [ -n "$seen" ] || fail "uid 65534's read through custody run is not in its ledger"
  chmod "$FUSE_MODE" /dev/fuse
  pkill -f -- "--state $U/state" || true
fi
echo "ok: custody run (view only, covers, Landlock, versioned writes, policy refusals, as a user)"
