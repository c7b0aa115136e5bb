#!/usr/bin/env bash
# bench-compare.sh — this store (3 nodes, fsync on) and one Redis node
# (appendfsync always), back to back in one run, with redis-benchmark:
# 256-byte values, random keys from a 100k keyspace (preloaded), SET at
# 1/16/64/256 clients and GET (linearizable) at 64. For each run it prints
# ops/s, p50 and p99 (ms) and the servers' CPU (user+sys, all server
# processes) in ms per 1,000 requests, and their context switches per request.
#
#   scripts/bench-compare.sh            # both, DUR=10 s per run
#   ONLY=ours scripts/bench-compare.sh  # or ONLY=redis
#   CLIENTS="64" TESTS="set" DUR=5 scripts/bench-compare.sh
#   NODE_ARGS="--peer-compress-from-kib 0" ONLY=ours scripts/bench-compare.sh
#   ONLY=all scripts/bench-compare.sh   # also etcd 3.4 x3 with its own load generator
#
# etcd (ONLY=all or ONLY=etcd) runs ../shared/bench/etcd-cluster.sh and etcd's
# `benchmark` tool (built by ../shared/bench/etcd-benchmark.sh, path in ETCD_BENCH,
# default /tmp/etcd-benchmark/benchmark): put with 8-byte keys from a 100k key
# space and 256-byte values, `--target-leader`, clients = connections; range
# with `--consistency l` (linearizable) at 64.
#
# For this store it also prints the peer traffic: bytes all nodes wrote to
# their peers per request (from each node's metrics on ports 9501-9503).
#
# The release binary is built once (target/release/raft-cli). The cluster runs
# in /tmp/bench-compare on ports 6501-6503 (peers 7501-7503); Redis on 6590.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-10}
CLIENTS=${CLIENTS:-"1 16 64 256"}
TESTS=${TESTS:-"set get"}
ONLY=${ONLY:-both}
ROOT=/tmp/bench-compare
BIN=${BIN:-target/release/raft-cli}
PIDS=()

cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

cpu_ticks() {  # PIDS... -> utime+stime in clock ticks, summed
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
switches() {  # PIDS... -> voluntary+involuntary context switches of all threads
  local s=0 p
  for p in "$@"; do
    s=$((s + $(cat /proc/"$p"/task/*/status | awk '/ctxt_switches/{n+=$2} END{print n}')))
  done
  echo "$s"
}

preload() {  # PORT
  local v; v=$(head -c 256 /dev/zero | tr '\0' v)
  awk -v v="$v" 'BEGIN{for(i=0;i<100000;i++) printf "SET key:%012d %s\r\n", i, v}' |
    redis-cli -p "$1" --pipe >/dev/null
}

peer_bytes() {  # -> bytes all of this store's nodes sent to peers (0 for Redis)
  local b=0 i
  for i in 1 2 3; do
    b=$((b + $(curl -s "http://127.0.0.1:950$i/metrics" 2>/dev/null |
      awk '/^raft_peer_sent_bytes_total/{n+=$2} END{printf "%d", n}')))
  done
  echo "$b"
}

one_run() {  # LABEL PORT TEST CLIENTS PIDS...
  local label=$1 port=$2 test=$3 c=$4; shift 4
  local probe rate n t0 t1 s0 s1 b0 b1 out hz
  hz=$(getconf CLK_TCK)
  probe=$(timeout 60 redis-benchmark -p "$port" -t "$test" -d 256 -r 100000 -c "$c" \
    -n $((c * 20 + 2000)) --csv 2>/dev/null | awk -F'"' 'NR==2{print int($4)}')
  rate=${probe:-1000}; n=$((rate * DUR)); [ "$n" -lt 1000 ] && n=1000
  t0=$(cpu_ticks "$@"); s0=$(switches "$@"); b0=$(peer_bytes)
  out=$(timeout $((DUR * 4 + 60)) redis-benchmark -p "$port" -t "$test" -d 256 -r 100000 \
    -c "$c" -n "$n" --csv 2>/dev/null | awk -F'"' 'NR==2{printf "%d %s %s", $4, $10, $14}')
  t1=$(cpu_ticks "$@"); s1=$(switches "$@"); b1=$(peer_bytes)
  awk -v l="$label" -v o="$out" -v dt=$((t1 - t0)) -v ds=$((s1 - s0)) -v db=$((b1 - b0)) \
    -v n="$n" -v hz="$hz" 'BEGIN{
    split(o, f, " ");
    printf "%-16s %8d ops/s  p50 %6.3f ms  p99 %7.3f ms  cpu %6.1f ms/1k  %5.2f switches/req",
      l, f[1], f[2], f[3], dt * 1000 / hz * 1000 / n, ds / n;
    if (db > 0) printf "  peer %6.0f B/req", db / n;
    printf "\n" }'
}

run_all() {  # NAME PORT PIDS...
  local name=$1 port=$2; shift 2
  local t c
  for t in $TESTS; do
    for c in $CLIENTS; do
      [ "$t" = get ] && [ "$c" != 64 ] && continue
      one_run "$name-$t-c$c" "$port" "$t" "$c" "$@"
    done
  done
}

ours() {
  [ -x "$BIN" ] || cargo build --release -q -p raft-cli
  rm -rf "$ROOT"; mkdir -p "$ROOT"
  local cluster=1=127.0.0.1:7501,2=127.0.0.1:7502,3=127.0.0.1:7503 i
  PIDS=()
  for i in 1 2 3; do
    "$BIN" node --id "$i" --data-dir "$ROOT/n$i" --listen-peer "127.0.0.1:750$i" \
      --listen-client "127.0.0.1:650$i" --initial-cluster "$cluster" \
      --metrics "127.0.0.1:950$i" ${NODE_ARGS:-} >"$ROOT/n$i.log" 2>&1 &
    PIDS+=($!)
  done
  local leader=""
  for _ in $(seq 100); do
    for i in 1 2 3; do
      if redis-cli -p "650$i" INFO 2>/dev/null | grep -q '^role:leader'; then leader=$i; fi
    done
    [ -n "$leader" ] && break; sleep 0.1
  done
  [ -n "$leader" ] || { echo "no leader elected" >&2; exit 1; }
  preload "650$leader"
  echo "# this store: 3 nodes, leader node $leader ($(git rev-parse --short HEAD))"
  run_all ours "650$leader" "${PIDS[@]}"
  if [ "${IDLE:-0}" -gt 0 ]; then idle_clients "$leader" "${PIDS[@]}"; fi
  cleanup; PIDS=()
}

# IDLE=N (at most 9,900: the default client limit is 10,000): N idle connections to the leader; its RSS before and after, and a
# 64-client SET run while they are held.
idle_clients() {  # LEADER PIDS...
  local leader=$1; shift
  local pid=${PIDS[$((leader - 1))]} rss0 rss1 ipid
  rss0=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  scripts/idle-clients.py "127.0.0.1:650$leader" "$IDLE" > "$ROOT/idle.out" &
  ipid=$!
  for _ in $(seq 600); do grep -q ready "$ROOT/idle.out" 2>/dev/null && break; sleep 0.1; done
  rss1=$(awk '/VmRSS/{print $2}' "/proc/$pid/status")
  echo "# $IDLE idle clients: leader RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MB, threads $(awk '/Threads/{print $2}' "/proc/$pid/status")"
  one_run "ours-set-c64-idle" "650$leader" set 64 "$@" || true
  kill "$ipid" 2>/dev/null || true
}

redis() {
  command -v redis-server >/dev/null || { echo "# redis-server not installed (../shared/bench/install-deps.sh)"; return; }
  rm -rf "$ROOT-redis"; mkdir -p "$ROOT-redis"
  redis-server --port 6590 --bind 127.0.0.1 --dir "$ROOT-redis" --daemonize no \
    --appendonly yes --appendfsync always --save '' --auto-aof-rewrite-percentage 0 \
    --logfile "$ROOT-redis/redis.log" &
  PIDS=($!)
  for _ in $(seq 50); do redis-cli -p 6590 ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  preload 6590
  echo "# redis $(redis-server --version | grep -o 'v=[0-9.]*'), appendfsync always"
  run_all redis 6590 "${PIDS[@]}"
  cleanup; PIDS=()
  rm -rf "$ROOT-redis"
}

etcd_run() {  # LABEL CLIENTS PIDS... -- BENCHMARK-ARGS...
  local label=$1 c=$2; shift 2
  local pids=() probe rate n t0 t1 s0 s1 out
  while [ "$1" != -- ]; do pids+=("$1"); shift; done; shift
  local eb=${ETCD_BENCH:-/tmp/etcd-benchmark/benchmark}
  local ep=127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793
  probe=$("$eb" --endpoints "$ep" --target-leader --clients "$c" --conns "$c" "$@" \
    --total $((c * 20 + 1000)) 2>&1 | awk '/Requests\/sec/{print int($2)}')
  rate=${probe:-500}; n=$((rate * DUR)); [ "$n" -lt 1000 ] && n=1000
  t0=$(cpu_ticks "${pids[@]}"); s0=$(switches "${pids[@]}")
  out=$("$eb" --endpoints "$ep" --target-leader --clients "$c" --conns "$c" "$@" --total "$n" 2>&1)
  t1=$(cpu_ticks "${pids[@]}"); s1=$(switches "${pids[@]}")
  awk -v l="$label" -v dt=$((t1 - t0)) -v ds=$((s1 - s0)) -v n="$n" -v hz="$(getconf CLK_TCK)" '
    /Requests\/sec/ {rps = $2} / 50% in/ {p50 = $3} / 99% in/ {p99 = $3}
    END { printf "%-16s %8d ops/s  p50 %6.3f ms  p99 %7.3f ms  cpu %6.1f ms/1k  %5.2f switches/req\n",
      l, rps, p50 * 1000, p99 * 1000, dt * 1000 / hz * 1000 / n, ds / n }' <<<"$out"
}

# (Not named `etcd`: a function of that name would shadow the binary.)
run_etcd() {
  local eb=${ETCD_BENCH:-/tmp/etcd-benchmark/benchmark} c t pids=()
  [ -x "$eb" ] || { echo "# etcd benchmark tool missing: ../shared/bench/etcd-benchmark.sh builds it"; return; }
  command -v etcd >/dev/null || { echo "# etcd not installed (../shared/bench/install-deps.sh)"; return; }
  ../shared/bench/etcd-cluster.sh start >/dev/null
  for c in 1 2 3; do pids+=("$(cat "${ETCD_BASE:-/tmp/anchors-etcd}/m$c.pid")"); done
  echo "# etcd $(etcd --version | awk '/etcd Version/{print $3}') x3, its own benchmark tool"
  for t in $TESTS; do
    for c in $CLIENTS; do
      case $t in
        set) etcd_run "etcd-put-c$c" "$c" "${pids[@]}" -- put --key-size 8 --val-size 256 \
               --key-space-size 100000 ;;
        get) [ "$c" = 64 ] && etcd_run "etcd-range-c$c" "$c" "${pids[@]}" -- range key:1 \
               --consistency l ;;
      esac
    done
  done
  ../shared/bench/etcd-cluster.sh stop >/dev/null
}

case $ONLY in
  ours) ours ;;
  redis) redis ;;
  etcd) run_etcd ;;
  all) ours; redis; run_etcd ;;
  *) ours; redis ;;
esac
