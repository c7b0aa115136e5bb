#!/usr/bin/env bash
# bench-snapshot.sh — how long a follower takes to catch up from a snapshot,
# and the bytes the leader sends it, with peer compression on and off.
# A 3-node cluster (ports 6511-6513, peers 7511-7513, metrics 9511-9513); one
# follower is stopped, the leader takes 100k keys of 256-byte values (VALUES=
# repeat: one byte repeated, as redis-benchmark writes; random: incompressible
# hex) and a snapshot, the follower restarts and is timed until it has applied
# the leader's commit index.
#
#   scripts/bench-snapshot.sh                       # compression default, then off
#   VALUES=random scripts/bench-snapshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/raft-cli}
VALUES=${VALUES:-repeat}
ROOT=/tmp/bench-snapshot
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
[ -x "$BIN" ] || cargo build --release -q -p raft-cli
cluster=1=127.0.0.1:7511,2=127.0.0.1:7512,3=127.0.0.1:7513

start() {  # ID EXTRA...
  local i=$1; shift
  "$BIN" node --id "$i" --data-dir "$ROOT/n$i" --listen-peer "127.0.0.1:751$i" \
    --listen-client "127.0.0.1:651$i" --initial-cluster "$cluster" \
    --metrics "127.0.0.1:951$i" "$@" >>"$ROOT/n$i.log" 2>&1 &
  PIDS[$i]=$!
}
field() { redis-cli -p "$1" INFO raft 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }
sent_to() {  # LEADER PEER -> bytes the leader wrote to PEER
  curl -s "http://127.0.0.1:951$1/metrics" | awk -v p="peer=\"$2\"" \
    '/^raft_peer_sent_bytes_total/ && index($0, p) {print $2}'
}

run() {  # LABEL EXTRA-FLAGS...
  local label=$1; shift
  cleanup; PIDS=(); rm -rf "$ROOT"; mkdir -p "$ROOT"
  for i in 1 2 3; do start "$i" "$@"; done
  local leader="" i
  for _ in $(seq 100); do
    for i in 1 2 3; do [ "$(field "651$i" role)" = leader ] && leader=$i; done
    [ -n "$leader" ] && break; sleep 0.1
  done
  [ -n "$leader" ] || { echo "no leader" >&2; exit 1; }
  local lag=$(( leader % 3 + 1 ))
  kill "${PIDS[$lag]}"; wait "${PIDS[$lag]}" 2>/dev/null || true
  awk -v kind="$VALUES" 'BEGIN{srand(7); for(i=0;i<100000;i++){
      v=""; if (kind=="random") { for(j=0;j<32;j++) v=v sprintf("%08x", int(rand()*4294967295)) }
      else { v=sprintf("%0256d", 0) }
      printf "SET key:%012d %s\r\n", i, v }}' | redis-cli -p "651$leader" --pipe >/dev/null
  redis-cli -p "651$leader" RAFT.SNAPSHOT >/dev/null
  local target b0 t0 t1 b1
  target=$(field "651$leader" commit_index)
  b0=$(sent_to "$leader" "$lag"); t0=$(date +%s%N)
  start "$lag" "$@"
  for _ in $(seq 1200); do
    local a; a=$(field "651$lag" applied_index)
    [ -n "$a" ] && [ "$a" -ge "$target" ] && break
    sleep 0.05
  done
  t1=$(date +%s%N); b1=$(sent_to "$leader" "$lag")
  printf '%-22s caught up in %5d ms, leader sent it %6.1f MB\n' "$label" \
    $(( (t1 - t0) / 1000000 )) "$(awk -v b=$((b1 - b0)) 'BEGIN{print b / 1e6}')"
}
echo "# 100k keys, 256-byte values ($VALUES), snapshot catch-up ($(git rev-parse --short HEAD))"
run "compression default"
run "compression off" --peer-compress-from-kib 0
