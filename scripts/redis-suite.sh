#!/usr/bin/env bash
# Runs Redis's own test suite (7.0.15, from Debian's `redis` source package) in
# external mode against local 3-node clusters, through the leader of one and a
# follower of another, side by side, and prints pass/fail per unit. Nothing in
# Redis's harness is changed; the flags leave out what needs a local
# redis-server, replication, DEBUG or config rewrites.
#
#   scripts/redis-suite.sh                      # every unit below, leader and follower
#   UNITS="unit/type/incr unit/quit" scripts/redis-suite.sh
#   VIA=leader scripts/redis-suite.sh            # only through the leader
#   MIN_PASS=90 scripts/redis-suite.sh           # exit 1 if a unit passes under 90%
#
# Environment: RAFT_CLI (default target/release/raft-cli, built if missing),
# SRC (where the source is unpacked, default /tmp/redis-suite), PORT (client
# port of node 1 of the first cluster, default 6441; each way in has its own
# cluster, the next at PORT+10; peers use +1000), UNIT_TIMEOUT (s, 300),
# LOGS (per-unit output, default $SRC/logs).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cli=${RAFT_CLI:-target/release/raft-cli}
[ -x "$cli" ] || cargo build -q --release -p raft-cli
SRC=${SRC:-/tmp/redis-suite}
PORT=${PORT:-6441}
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}
VIA=${VIA:-leader follower}
MIN_PASS=${MIN_PASS:-0}
LOGS=${LOGS:-$SRC/logs}
UNITS=${UNITS:-unit/type/incr unit/type/string unit/keyspace unit/expire unit/type/hash \
unit/type/list unit/type/set unit/type/zset unit/multi unit/protocol unit/info-command unit/quit}
TAGS="-needs:repl -needs:debug -needs:config-maxmemory -needs:save -needs:pfdebug -needs:reset \
-needs:config-resetstat -needs:latency -needs:local-process"

# --- Redis's test suite from Debian's source package (deb-src mirrors the deb entries) ---
fetch_suite() {
    local tree
    tree=$(ls -d "$SRC"/redis-*/ 2>/dev/null | head -1 || true)
    if [ -n "$tree" ] && [ -x "$tree/runtest" ]; then echo "${tree%/}"; return; fi
    export DEBIAN_FRONTEND=noninteractive
    command -v tclsh >/dev/null 2>&1 || { apt-get update -qq >&2; apt-get install -y -qq tcl >&2; }
    local list=/etc/apt/sources.list.d/redis-suite-src.sources
    if ! apt-get source --download-only --print-uris redis >/dev/null 2>&1; then
        if [ -f /etc/apt/sources.list.d/debian.sources ]; then
            sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$list"
        else
            sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >"${list%.sources}.list"
        fi
        apt-get update -qq >&2
    fi
    mkdir -p "$SRC"
    (cd "$SRC" && apt-get source --download-only redis >&2 2>/dev/null)
    local tarball
    tarball=$(ls "$SRC"/redis_*.orig.tar.gz | head -1)
    tar -xzf "$tarball" -C "$SRC" --wildcards '*/runtest' '*/tests/*'
    tree=$(ls -d "$SRC"/redis-*/ | head -1)
    echo "${tree%/}"
}

suite=$(fetch_suite)
mkdir -p "$LOGS"
work=$(mktemp -d)
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# --- one cluster per way in (leader, follower), run side by side: the units
# wait on round trips far more than on the CPU, and two clusters never share
# a keyspace that the units flush ---
start_cluster() { # start_cluster BASE_PORT DIR
    RUST_LOG=warn "$repo/$cli" local --nodes 3 --data-dir "$2/data" --client-port "$1" \
        --peer-port "$(($1 + 1000))" >"$2/local.log" 2>&1 &
}
role_of() { redis-cli -p "$1" info raft 2>/dev/null | tr -d '\r' | sed -n 's/^role://p'; }
port_with_role() { # port_with_role BASE_PORT leader|follower
    local p
    for p in "$1" $(($1 + 1)) $(($1 + 2)); do
        [ "$(role_of "$p")" = "$2" ] && { echo "$p"; return 0; }
    done
    return 1
}

# --- one unit through one node: counts of [ok] and [err]/[exception] lines ---
# BASEPORT keeps the harnesses of two ways in off each other's ports.
run_unit() { # run_unit UNIT PORT LOG BASEPORT
    (cd "$suite" && timeout "$UNIT_TIMEOUT" ./runtest --host 127.0.0.1 --port "$2" --singledb \
        --durable --clients 1 --ignore-encoding --ignore-digest --tags "$TAGS" \
        --baseport "$4" --portcount 100 --single "$1") >"$3" 2>&1 || true
}

# Every unit through one way in, one line per unit: unit, pass, fail, note.
run_via() { # run_via VIA BASE_PORT HARNESS_PORT
    local unit port log plain pass fail note
    for unit in $UNITS; do
        port=$(port_with_role "$2" "$1") || { echo "$unit 0 1 no $1 in the cluster"; continue; }
        log="$LOGS/$(tr / _ <<<"$unit").$1.log"
        run_unit "$unit" "$port" "$log" "$3"
        plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
        pass=$(grep -c '^\[ok\]:' <<<"$plain" || true)
        fail=$(grep -c '^\[err\]:' <<<"$plain" || true)
        note=""
        if grep -q '^\[exception\]:' <<<"$plain" || ! grep -q 'All tests passed\|tests failed' <<<"$plain"; then
            note="aborted: $(grep -m1 -A1 '^\[exception\]:\|^Killing still running\|Exception\|exception' <<<"$plain" | tr '\n' ' ' | cut -c1-70 || true)"
            fail=$((fail + 1))
        fi
        echo "$unit $pass $fail $note"
    done
}

k=0
runs=()
for via in $VIA; do
    base=$((PORT + 10 * k))
    mkdir -p "$work/$via"
    start_cluster "$base" "$work/$via"
    for _ in $(seq 1 100); do port_with_role "$base" leader >/dev/null && break; sleep 0.1; done
    port_with_role "$base" leader >/dev/null || { echo "no leader; log:" >&2; cat "$work/$via/local.log" >&2; exit 1; }
    # A follower knows its leader once it has heard from it.
    for _ in $(seq 1 50); do port_with_role "$base" follower >/dev/null && break; sleep 0.1; done
    run_via "$via" "$base" $((21111 + 200 * k)) >"$work/$via/results" &
    runs+=($!)
    k=$((k + 1))
done
for r in "${runs[@]}"; do
    wait "$r" || true
done

printf '%-22s %-9s %5s %5s %6s  %s\n' unit via pass fail pass% note
worst=100
for unit in $UNITS; do
    for via in $VIA; do
        read -r _ pass fail note < <(grep "^$unit " "$work/$via/results" || echo "$unit 0 1 did not run")
        total=$((pass + fail))
        pct=0
        [ "$total" -gt 0 ] && pct=$((100 * pass / total))
        [ "$pct" -lt "$worst" ] && worst=$pct
        printf '%-22s %-9s %5d %5d %5d%%  %s\n' "$unit" "$via" "$pass" "$fail" "$pct" "$note"
    done
done
echo "logs: $LOGS"
[ "$worst" -ge "$MIN_PASS" ] || { echo "a unit passed under $MIN_PASS%" >&2; exit 1; }
