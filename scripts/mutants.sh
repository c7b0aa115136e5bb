#!/usr/bin/env bash
# Mutation testing of raft-core with cargo-mutants: every mutant of the listed
# files must be caught by raft-core's tests plus the simulator's default seeds.
#
#   scripts/mutants.sh                 # the files the simulator issue names, 4 h budget
#   MUTANTS_BUDGET=1800 scripts/mutants.sh src/quorum.rs   # one file, 30 min
#
# MUTANTS_JOBS (default 2) builds and tests that many mutants at once;
# MUTANTS_TIMEOUT (default 25 s) ends a mutant's tests, which pass in about
# 7 s unmutated with two jobs running, so a mutant that makes the simulator
# hang counts as caught (cargo-mutants reports it under timeout.txt).
# MUTANTS_ITERATE=1 skips the mutants a previous run in target/mutants
# already caught, so an interrupted run resumes.
#
# Results (caught.txt, missed.txt, timeout.txt, unviable.txt) land in
# target/mutants/mutants.out; every missed mutant needs a test or a written
# reason in integration-tests/MUTANTS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
budget=${MUTANTS_BUDGET:-14400}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
    files=(src/log.rs src/raft/election.rs src/raft/replication.rs src/raft/read.rs
           src/raft/membership.rs src/quorum.rs src/progress.rs)
fi
if ! command -v cargo-mutants >/dev/null 2>&1; then
    cargo install --locked cargo-mutants
fi
args=()
if [ "${MUTANTS_ITERATE:-0}" = 1 ]; then
    args+=(--iterate)
fi
for f in "${files[@]}"; do
    # cargo-mutants matches --file against paths from the workspace root.
    args+=(--file "raft-core/${f#raft-core/}")
done
cd "$root"
timeout "$budget" cargo mutants -p raft-core "${args[@]}" \
    --test-package raft-core --test-package integration-tests \
    --output target/mutants --timeout "${MUTANTS_TIMEOUT:-25}" \
    --jobs "${MUTANTS_JOBS:-2}" || status=$?
echo "cargo-mutants exit status: ${status:-0} (2: missed mutants, 3: timeouts, 124: budget spent)"
for f in caught missed timeout unviable; do
    [ -f target/mutants/mutants.out/$f.txt ] && echo "$f: $(wc -l < target/mutants/mutants.out/$f.txt)"
done
