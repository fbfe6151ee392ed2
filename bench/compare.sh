#!/usr/bin/env bash
# Runs the same loads against chat-server (release build, SQLite, rate limits off) and the Node
# baseline (bench/node-baseline: socket.io 4.8, express, jsonwebtoken, bcrypt) in one run on
# this machine, and prints each measurement for both with their ratio. Absolute numbers only
# compare within one run; the ratios are what the README quotes.
#
#   bench/compare.sh                 everything (about 15 minutes on 2 cores)
#   bench/compare.sh quick           the message loads only (websocket and long-polling)
#
# The websocket message loads also run on chat-server with `--write-delay-ms 0` (name
# chat-server-wd0): every packet written at once, without the default 5 ms between two writes
# to one socket, to show what that delay buys and costs. The idle loads also run with
# `--no-join-notices` (name chat-server-nj): without chapter 15's join notice, which the Node
# baseline (the seeds' protocol) does not send and which costs each connect one delivery per
# member of its room. The websocket message loads and the idle loads also run on
# socketioxide-baseline (bench/src/bin/socketioxide-baseline.rs): the Node baseline's protocol
# on chat-server's own socket layer with nothing else (no store, history or notices), so a run
# shows what the socket layer alone costs beside the whole of chat-server.
#
# Reports (JSON per load and server), the sweep SVG and the servers' logs go to
# target/bench/<time>/; the table is printed and written there as compare.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-full}"

cargo build --release -q -p chat-server -p chat-bench --bins
(cd bench/node-baseline && npm ci --no-audit --no-fund --silent)
# Ten thousand sockets on each side of one machine.
ulimit -n "$(ulimit -Hn)"

out="target/bench/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
bench=target/release/chat-bench
secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# start_server NAME: starts it on a free port; sets URL and PID.
start_server() {
    local name="$1" log="$out/$1.log" extra=()
    case "$name" in
        chat-server*)
            local data
            data="$(mktemp -d)"
            [[ "$name" == chat-server-wd0 ]] && extra=(--write-delay-ms 0)
            [[ "$name" == chat-server-nj ]] && extra=(--no-join-notices)
            JWT_SECRET="$secret" target/release/chat-server --host 127.0.0.1 --port 0 --data-dir "$data" \
                --no-rate-limits "${extra[@]}" 2>"$log" &
            ;;
        node)
            JWT_SECRET="$secret" PORT=0 node bench/node-baseline/server.mjs 2>"$log" &
            ;;
        socketioxide)
            JWT_SECRET="$secret" PORT=0 target/release/socketioxide-baseline 2>"$log" &
            ;;
    esac
    PID=$!
    pids+=("$PID")
    for _ in $(seq 100); do
        URL="$(grep -oE 'listening on http://[0-9.]+:[0-9]+( |$)' "$log" | cut -d' ' -f3 || true)"
        [[ -n "$URL" ]] && return 0
        sleep 0.1
    done
    echo "compare: $name did not start; see $log" >&2
    exit 1
}

stop_server() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
}

# measure LOAD NAME ARGS...: runs chat-bench against a fresh server NAME, saves the JSON.
measure() {
    local load="$1" name="$2"
    shift 2
    start_server "$name"
    echo "compare: $load on $name" >&2
    "$bench" --url "$URL" --label "$name" --pid "$PID" --quiet --json "$@" \
        >"$out/$load.$name.json"
    stop_server
}

flood() {
    local name="$1"
    start_server "$name"
    echo "compare: signup/login flood on $name" >&2
    "$bench" auth --url "$URL" --label "$name" --pid "$PID" --users 400 --concurrency 50 --json \
        >"$out/flood.$name.json"
    stop_server
}

loads=(
    "200/10/50ms:--clients 200 --rooms 10 --interval-ms 50 --messages 100"
    "1000/50/20ms:--clients 1000 --rooms 50 --interval-ms 20 --messages 100"
    "1000/10/10ms:--clients 1000 --rooms 10 --interval-ms 10 --messages 100"
    "200/10/50ms-polling:--clients 200 --rooms 10 --interval-ms 50 --messages 100 --transport polling"
)
for entry in "${loads[@]}"; do
    load="${entry%%:*}"
    servers=(chat-server node)
    [[ "$load" == *polling ]] || servers+=(chat-server-wd0 socketioxide)
    for name in "${servers[@]}"; do
        # shellcheck disable=SC2086 # the arguments are meant to split
        measure "${load//\//-}" "$name" ${entry#*:} --users 50
    done
done

if [[ "$mode" == full ]]; then
    for n in 5000 10000; do
        for name in chat-server chat-server-nj socketioxide node; do
            measure "idle-$n" "$name" --clients "$n" --rooms 50 --messages 0 --users 50 --hold-secs 3
        done
    done
    for name in chat-server node; do
        measure sweep "$name" --clients 1000 --rooms 50 --users 50 --messages 50 --sweep 5,10,20,40,60,80,100
    done
    "$bench" plot --svg "$out/sweep.svg" "$out/sweep.chat-server.json" "$out/sweep.node.json"
    for name in chat-server node; do
        flood "$name"
    done
    # Only chat-server replays history (the baseline has none): empty room against 50 replayed.
    start_server chat-server
    echo "compare: history replay on chat-server" >&2
    "$bench" replay --url "$URL" --label chat-server --trials 200 >"$out/replay.chat-server.txt"
    stop_server
fi

{
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)."
    echo
    header=(--header chat-server "Node socket.io")
    declare -A names=(
        [200-10-50ms]="200 clients / 10 rooms / 50 ms" [1000-50-20ms]="1000 / 50 / 20 ms"
        [1000-10-10ms]="1000 / 10 / 10 ms" [200-10-50ms-polling]="200 / 10 / 50 ms, long-polling"
        [idle-5000]="5000 idle sockets" [idle-10000]="10000 idle sockets"
        [flood]="400 signups + logins, 50 at a time"
    )
    for load in 200-10-50ms 1000-50-20ms 1000-10-10ms 200-10-50ms-polling idle-5000 idle-10000 flood; do
        [[ -f "$out/$load.chat-server.json" ]] || continue
        "$bench" compare "${header[@]}" --load "${names[$load]}" "$out/$load.chat-server.json" "$out/$load.node.json"
        header=()
    done
    for load in 200-10-50ms 1000-50-20ms 1000-10-10ms; do
        [[ -f "$out/$load.chat-server-wd0.json" ]] || continue
        "$bench" compare --load "${names[$load]}, no write delay" "$out/$load.chat-server-wd0.json" "$out/$load.node.json"
    done
    for load in idle-5000 idle-10000; do
        [[ -f "$out/$load.chat-server-nj.json" ]] || continue
        "$bench" compare --load "${names[$load]}, no join notices" "$out/$load.chat-server-nj.json" "$out/$load.node.json"
    done
    for load in 200-10-50ms 1000-50-20ms 1000-10-10ms idle-5000 idle-10000; do
        [[ -f "$out/$load.socketioxide.json" ]] || continue
        "$bench" compare --load "${names[$load]}, socketioxide baseline" "$out/$load.socketioxide.json" "$out/$load.node.json"
    done
    if [[ -f "$out/replay.chat-server.txt" ]]; then
        echo
        echo "History replay, handshake to first live message (chat-bench replay):"
        echo
        sed 's/^/    /' "$out/replay.chat-server.txt"
    fi
} | tee "$out/compare.md"
