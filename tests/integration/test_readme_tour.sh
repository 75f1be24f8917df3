#!/usr/bin/env bash
# Integration: the five-minute tour in README.md runs as written. The shell
# blocks after "use the CLI" and "with curl" are extracted from README.md,
# pointed at a fresh state directory, and run with `set -e`; then their
# output is checked.
source "$(dirname "$0")/lib.sh"
init_state
start_daemon

extract() { # extract N: the N-th ```sh block after the tour heading
  awk -v want="$1" '/^## A five-minute tour/{on=1} on&&/^```sh$/{n++; if(n==want){p=1; next}} p&&/^```$/{exit} p{print}' "$SRC/README.md"
}
mkdir -p "$WORK/home"
for n in 2 3 4; do
  extract $n | sed -e "s|\$PWD/var/custody|$STATE|g" -e "s|\$PWD/build/bin/custody|$BIN/custody|g" \
                   -e "s|/tmp/projects|$WORK/projects|g" -e "s|/tmp/p0.proof|$WORK/p0.proof|g" \
                   > "$WORK/tour$n.sh"
  [ -s "$WORK/tour$n.sh" ] || fail "README tour block $n not found"
done
# the curl block uses $CUSTODY_STATE from the CLI block
( cd "$WORK/home" && bash -e -O expand_aliases -c "source $WORK/tour2.sh; source $WORK/tour3.sh; source $WORK/tour4.sh" ) \
  > "$WORK/tour.out" 2>&1 || { cat "$WORK/tour.out"; fail "README tour failed"; }
out=$(cat "$WORK/tour.out")
for want in "hello from custody" "first draft" '"status":"ok"' "path_escapes_root" "projects" '"op":"write"' \
            "added agent demo" "demo-agent-reads-and-writes-demo" 'decision: DENY' \
            "agent = demo" "todo.md"; do
  grep -qF -- "$want" "$WORK/tour.out" || { echo "$out"; fail "tour output lacks: $want"; }
done
[ "$(cat "$STATE/demo/host.txt")" = "$(cat /etc/hostname)" ] || fail "curl PUT in the tour"
[ "$(head -1 "$WORK/p0.proof")" = "c2sp.org/tlog-proof@v1" ] || fail "audit proof in the tour"
grep -qE '^ok: [0-9]+ entries' "$WORK/tour.out" || { echo "$out"; fail "audit verify in the tour"; }
echo "test_readme_tour: ok"
