#!/usr/bin/env bash
# Run every fuzz target for SECONDS (default 30) each, starting from the
# corpus kept in fuzz/corpus/. Exits non-zero on the first crash; the input
# that crashed is in fuzz/artifacts/<target>/.
#
# cargo-fuzz drives libFuzzer with nightly-only rustc flags; this machine
# has only the stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable accept
# them. Without AddressSanitizer (`-s none`): the targets are safe Rust, and
# debug assertions (overflow checks) are on in fuzz builds.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
tools="$PWD/target/tools"
if [ ! -x "$tools/bin/cargo-fuzz" ]; then
    cargo install cargo-fuzz --locked --root "$tools" --quiet
fi
export PATH="$tools/bin:$PATH" RUSTC_BOOTSTRAP=1
cargo fuzz build -s none
for target in $(cargo fuzz list); do
    echo "-- $target: ${seconds} s"
    log="fuzz/target/$target.log"
    mkdir -p fuzz/target
    status=0
    cargo fuzz run -s none "$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    # libFuzzer's chatter stays in the log; show the figures and any crash.
    grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|panicked|SUMMARY|Test unit' "$log" || true
    if [ "$status" -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz target $target failed (exit $status); the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
