#!/usr/bin/env bash
# The main job on one machine: builds both binaries, starts chat-server on its embedded
# SQLite store (data in ./chat-data, log in ./chat-data/server.log), then runs chat-tui
# against it in this terminal. Arguments go to chat-tui (e.g. --room test, --signup).
# The server stops when chat-tui exits.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-3001}"
cargo build --release --bin chat-server --bin chat-tui
mkdir -p chat-data
target/release/chat-server --host 127.0.0.1 --port "$PORT" --data-dir chat-data 2>>chat-data/server.log &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null' EXIT

for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
    kill -0 "$server" 2>/dev/null || { echo "chat-server failed to start, see chat-data/server.log" >&2; exit 1; }
    sleep 0.1
done

target/release/chat-tui --server "http://127.0.0.1:$PORT" "$@"
