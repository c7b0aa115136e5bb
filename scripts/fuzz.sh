#!/usr/bin/env bash
# Runs every cargo-fuzz target for a time budget each (default 60 s), one after
# the other, on the nightly toolchain, growing the committed corpus in
# fuzz/corpus/<target>. A crash leaves its input in fuzz/artifacts/<target> and
# fails the script; replay it with `cargo +nightly fuzz run <target> <file>`.
#
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 600        # 10 minutes per target
#   scripts/fuzz.sh 30 resp_request peer_stream
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(resp_request peer_stream wal_recovery snapshot_decode config_toml)
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo +nightly install cargo-fuzz --locked >/dev/null
fi
cargo +nightly fuzz build -O
failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    log="target/fuzz-$t.log"
    mkdir -p target
    echo "== fuzz $t for ${seconds}s (log: $log)"
    if ! cargo +nightly fuzz run -O "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
        grep -E -m1 -A3 'panicked|ERROR: libFuzzer' "$log" || tail -20 "$log"
        echo "FUZZ FAILURE in $t: see fuzz/artifacts/$t and $log" >&2
        failed+=("$t")
        continue
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$log" | sed "s/^/  $t: /" || true
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "failing targets: ${failed[*]}" >&2
    exit 1
fi
