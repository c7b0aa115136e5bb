#!/usr/bin/env bash
# The README's and docs/operations.md's walk-through, run for real: a local
# 3-node cluster, writes and reads, a fourth node joining as a learner and
# promoted, the removal of node 1 (which must exit 0 and leave `members:`
# everywhere), a leadership transfer, a snapshot, a backup restored into a new
# cluster, and `status` from one endpoint. Every client command must finish
# within 1 s (the removed node once made each take 5 s); CI runs this.
#
#   scripts/walkthrough.sh                  # uses target/debug/raft-cli (cargo build first)
#   RAFT_CLI=target/release/raft-cli scripts/walkthrough.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${RAFT_CLI:-target/debug/raft-cli}
[ -x "$cli" ] || cargo build -q -p raft-cli
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "WALKTHROUGH FAILED: $*" >&2; exit 1; }

# Runs a client command, echoes it and its output, and fails if it errs or
# takes more than 1 s.
run() {
    local start end ms
    start=$(date +%s%N)
    out=$("$cli" "$@" 2>&1) || fail "raft-cli $* -> $out"
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    printf '  %5d ms  raft-cli %s\n' "$ms" "$*"
    [ -n "$out" ] && sed 's/^/           | /' <<<"$out"
    [ "$ms" -le 1000 ] || fail "raft-cli $* took $ms ms (limit 1000)"
}

wait_for() { # wait_for DESCRIPTION COMMAND...
    local what=$1; shift
    for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    fail "timed out waiting for $what"
}

echo "== the example settings file, merged with a flag"
printed=$("$cli" node --config examples/node.toml --id 7 --print-config)
grep -q '^id = 7$' <<<"$printed" || fail "--print-config: $printed"
grep -q '^peer-ca = ' <<<"$printed" || fail "--print-config lost the file's settings: $printed"
echo "  ok: examples/node.toml with --id 7"

echo "== local cluster"
RUST_LOG=warn "$cli" local --nodes 3 --data-dir "$work/data" >"$work/local.log" 2>&1 &
pids+=($!)
wait_for "a leader" bash -c "'$cli' status | grep -q leader"
run put greeting hello
run get greeting
run status
run top --count 2 --interval 0.3
[ "$(grep -c 'healthy=' <<<"$out")" -eq 2 ] || fail "top printed no 2 refreshes: $out"

echo "== node 4 joins as a learner, is promoted"
RUST_LOG=warn "$cli" node --id 4 --join --data-dir "$work/data/n4" \
    --listen-peer 127.0.0.1:7004 --listen-client 127.0.0.1:6004 >"$work/n4.log" 2>&1 &
pids+=($!)
wait_for "node 4's client port" bash -c "echo > /dev/tcp/127.0.0.1/6004"
run member add 4 127.0.0.1:7004 --learner
run member add 4 127.0.0.1:7004
wait_for "node 4 to vote" bash -c "'$cli' --endpoints 127.0.0.1:6004 status | grep -q 'voters: 1,2,3,4'"

echo "== node 1 is removed and exits 0"
n1=$(redis-cli -p 6001 INFO server | tr -d '\r' | sed -n 's/^process_id://p')
run member remove 1
for _ in $(seq 1 100); do kill -0 "$n1" 2>/dev/null || break; sleep 0.1; done
kill -0 "$n1" 2>/dev/null && fail "node 1 (pid $n1) still runs after its removal"
grep -q "node 1 exited (exit status: 0)" "$work/local.log" || fail "node 1 did not exit 0: $(cat "$work/local.log")"
for port in 6002 6003 6004; do
    members=$(redis-cli -p $port INFO raft | tr -d '\r' | sed -n 's/^members://p')
    [[ ",$members" == *",1="* ]] && fail "node on $port still lists node 1: $members"
    echo "  members on $port: $members"
done

echo "== with node 1 gone, the default endpoints still answer fast"
run put after-removal yes
run get after-removal
run --endpoints 127.0.0.1:6004 status
run transfer-leader 2
# A member records its client address once it is in and a leader is known;
# `snapshot` reaches every member through those records.
wait_for "every member's client address" \
    bash -c "out=\$('$cli' status) && ! grep -q 'no client address' <<<\"\$out\""
run snapshot

echo "== backup, restore into a new one-node cluster"
run backup "$work/cluster.backup"
run restore "$work/cluster.backup" --data-dir "$work/restored/n1" --id 1 \
    --initial-cluster 1=127.0.0.1:7101
RUST_LOG=warn "$cli" node --id 1 --data-dir "$work/restored/n1" --listen-peer 127.0.0.1:7101 \
    --listen-client 127.0.0.1:6101 --initial-cluster 1=127.0.0.1:7101 >"$work/restored.log" 2>&1 &
pids+=($!)
wait_for "the restored node" bash -c "'$cli' --endpoints 127.0.0.1:6101 get after-removal"
run --endpoints 127.0.0.1:6101 get greeting
echo "walkthrough: OK"
