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
trap 'rm -rf "$found"' EXIT
# cargo fuzz passes nightly -Z flags (sanitizer, coverage); RUSTC_BOOTSTRAP lets the machine's
# one stable toolchain take them.
RUSTC_BOOTSTRAP=1 cargo fuzz run inbound "$found" corpus/inbound -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1
