#!/usr/bin/env bash
# Proves the simulator has teeth: re-plants each bug in integration-tests/planted-bugs/
# into a scratch copy of the tree and runs the default seeds, reporting how many
# seeds failed and the first failing seed. Every bug must be caught.
#
#   scripts/planted-bugs.sh            # 500 seeds per bug (the default of `cargo test`)
#   SIM_SEEDS=2000 scripts/planted-bugs.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seeds=${SIM_SEEDS:-500}
scratch=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$scratch/tree" >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT
git -C "$root" worktree add --detach "$scratch/tree" HEAD >/dev/null 2>&1
export CARGO_TARGET_DIR="$root/target/planted-bugs"
status=0
for patch in "$root"/integration-tests/planted-bugs/*.patch; do
    name=$(basename "$patch" .patch)
    git -C "$scratch/tree" checkout -q -- .
    git -C "$scratch/tree" apply "$patch"
    out=$(cd "$scratch/tree" && SIM_SEEDS=$seeds cargo test -q --release -p integration-tests --test simulation 2>&1 || true)
    if line=$(grep -m1 -E "seeds failed; first" <<<"$out"); then
        echo "$name: CAUGHT — ${line:0:200}"
    else
        echo "$name: NOT CAUGHT in $seeds seeds"
        status=1
    fi
done
exit $status
