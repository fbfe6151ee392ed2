#!/usr/bin/env bash
# Fuzzes what clients send (shared/fuzz, target `inbound`: event arguments, identifier and
# message validation) for SECONDS (default 60), starting from the committed corpus. New inputs
# go to a temporary directory, so the committed corpus changes only by hand:
#   RUSTC_BOOTSTRAP=1 cargo fuzz cmin inbound   (in shared/fuzz, after copying finds in)
# A crash leaves its input in shared/fuzz/artifacts/inbound/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/../shared/fuzz"
seconds="${1:-60}"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2 --quiet
found="$(mktemp -d)"
log="$found.log"
trap 'rm -rf "$found" "$log"' EXIT
# cargo fuzz passes nightly -Z flags (sanitizer, coverage); RUSTC_BOOTSTRAP lets the machine's
# one stable toolchain take them. libFuzzer's progress lines go to a log; its end is shown.
if RUSTC_BOOTSTRAP=1 cargo fuzz run inbound "$found" corpus/inbound -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || tail -n 5 "$log"
else
    tail -n 60 "$log"
    echo "fuzz.sh: the fuzz run failed (a crash leaves its input in shared/fuzz/artifacts/inbound/)" >&2
    exit 1
fi
