#!/usr/bin/env bash
# Runs every test: the Rust workspace (unit, property, integration against real servers on
# port 0, the store conformance suite on SQLite and on a MongoDB-wire-compatible server, faults
# on the real binary, the TUI's plain and tmux end-to-end runs, a short chat-bench run against
# chat-server and the Node baseline), cargo deny (licences, bans,
# sources), 60 s of fuzzing what clients send, and the socket.io-client v4 interop tests.
#
# Installs what is missing (scripts/install-test-deps.sh) and starts its own MongoDB-compatible
# server (scripts/mongo-test-server.sh), unless TEST_MONGODB_URL already points at one.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

if [[ -z "${TEST_MONGODB_URL:-}" ]]; then
    # Kept apart from eval, which would ignore a failed start even under set -e.
    mongo_env="$(scripts/mongo-test-server.sh start)"
    eval "$mongo_env"
    trap 'scripts/mongo-test-server.sh stop "$MONGO_TEST_PID"' EXIT
fi
export TEST_MONGODB_URL
# Here the MongoDB suite must run: a missing server is a failure, not a skip.
export CHAT_REQUIRE_MONGO=1

# The Node baseline chat-bench's smoke test measures too (bench/node-baseline).
(cd bench/node-baseline && npm ci --no-audit --no-fund --silent)
cargo build --workspace --bins
cargo test --workspace --all-targets
# Advisories need the RustSec database from GitHub, which CI cannot reach (README, Reliability).
cargo deny --offline check licenses bans sources
scripts/fuzz.sh 60

(cd interop && npm ci --no-audit --no-fund --silent && CHAT_SERVER_BIN=../target/debug/chat-server npm test)
