#!/usr/bin/env bash
# A throwaway MongoDB-wire-compatible server for the test suite: SecantusDB (PyPI, GPL-2.0,
# run as a separate process, never linked into the project), because MongoDB itself has no
# package for this machine.
#
#   eval "$(scripts/mongo-test-server.sh start)"     # exports TEST_MONGODB_URL, MONGO_TEST_PID
#   CHAT_REQUIRE_MONGO=1 cargo test -p chat-server
#   scripts/mongo-test-server.sh stop                # stops $MONGO_TEST_PID
#
# Commands:
#   install              create the venv (cached, reused) and print its path
#   start [PORT [DIR]]   start a server on 127.0.0.1:PORT (default: a free port) storing in
#                        DIR (default: in memory, gone at exit); wait for a real `ping`; print
#                        `export …` lines for the caller to eval
#   stop [PID]           stop the server started as PID (default: $MONGO_TEST_PID)
#
# Only the `export` lines go to stdout. Progress and errors go to stderr, the server's own
# output and pip's to log files under the cache dir ($CHAT_TEST_CACHE, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/chat-test). Needs python3 (3.9+) with venv and PyPI access;
# on Debian, run as root, it installs python3-venv when that is missing.
set -euo pipefail

SECANTUS_VERSION="0.7.0b3"
CACHE="${CHAT_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/chat-test}"
VENV="$CACHE/secantus-venv"
STAMP="$VENV/.installed-secantusdb-$SECANTUS_VERSION"
START_TIMEOUT_S="${MONGO_TEST_START_TIMEOUT_S:-60}"

say() { echo "mongo-test-server: $*" >&2; }
die() { say "error: $*"; exit 1; }

# Creates the venv once; concurrent callers wait on a lock instead of racing pip. The stamp
# is written last, so a venv left half-built by an interrupted run is rebuilt.
install_venv() {
    mkdir -p "$CACHE"
    exec 9>"$CACHE/install.lock"
    flock -w 600 9 || die "timed out waiting for another install ($CACHE/install.lock)"
    if [[ -f "$STAMP" ]]; then
        exec 9>&-
        return
    fi
    command -v python3 >/dev/null || die "python3 not found (Debian: apt-get install python3 python3-venv)"
    local log="$CACHE/install.log"
    say "installing secantusdb==$SECANTUS_VERSION into $VENV (log: $log)"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" >>"$log" 2>&1; then
        # Debian's python3 ships without ensurepip; the venv module needs python3-venv.
        if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
            say "python3 -m venv failed: installing python3-venv with apt-get"
            { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv; } >>"$log" 2>&1 \
                || die "apt-get install python3-venv failed (see $log)"
            rm -rf "$VENV"
            python3 -m venv "$VENV" >>"$log" 2>&1 || die "python3 -m venv failed (see $log)"
        else
            die "python3 -m venv failed (see $log); install python3-venv (Debian) or run as root"
        fi
    fi
    "$VENV/bin/pip" install --disable-pip-version-check -q "secantusdb==$SECANTUS_VERSION" >>"$log" 2>&1 \
        || { tail -n 20 "$log" >&2; die "pip install secantusdb==$SECANTUS_VERSION failed (see $log)"; }
    "$VENV/bin/python" -c 'import pymongo' >>"$log" 2>&1 || die "the new venv lacks pymongo (see $log)"
    touch "$STAMP"
    exec 9>&-
}

# Prints a free loopback port (for 0), or checks that the given one is free: otherwise the
# ping below could be answered by whatever already listens there.
free_port() {
    "$VENV/bin/python" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
# Like the server itself: connections of a previous run in TIME_WAIT do not count as busy.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as e:
    sys.exit(f"mongo-test-server: error: 127.0.0.1:{sys.argv[1]} is not free ({e.strerror})")
print(s.getsockname()[1])
EOF
}

# Waits until PID answers a real `ping` on PORT, or fails if it exits or the time runs out.
wait_ready() {
    local port="$1" pid="$2" log="$3"
    "$VENV/bin/python" - "$port" "$pid" "$START_TIMEOUT_S" >>"$log" 2>&1 <<'EOF' || return 1
import os, sys, time
from pymongo import MongoClient
port, pid, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + limit
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("server process exited")
    client = MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=500,
                         connectTimeoutMS=500)
    try:
        if client.admin.command("ping").get("ok") == 1:
            sys.exit(0)
    except Exception:
        time.sleep(0.1)
    finally:
        client.close()
sys.exit(f"no ping answer within {limit} s")
EOF
}

start() {
    local port="${1:-}" dir="${2:-:memory:}"
    install_venv
    port="$(free_port "${port:-0}")"
    [[ "$dir" == ":memory:" ]] || mkdir -p "$dir"
    mkdir -p "$CACHE/logs"
    local log="$CACHE/logs/secantus-$port.log" began=$SECONDS
    # An empty config file turns off the auto-discovery of ./secantusd.toml and ~/.secantus/.
    : >"$CACHE/secantusd.toml"
    # Detached from our stdout (or `eval "$(… start)"` would wait for it) and from our
    # process group (so Ctrl-C in the caller's terminal does not leave it half-stopped).
    setsid "$VENV/bin/secantusd-py" --config "$CACHE/secantusd.toml" --host 127.0.0.1 --port "$port" \
        --storage-path "$dir" --log-level WARNING </dev/null >>"$log" 2>&1 &
    local pid=$!
    # Still alive after the ping: it is the one that answered.
    if ! wait_ready "$port" "$pid" "$log" || ! kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        tail -n 20 "$log" >&2
        die "SecantusDB on 127.0.0.1:$port did not answer ping (log: $log)"
    fi
    say "SecantusDB $SECANTUS_VERSION ready on 127.0.0.1:$port (pid $pid, $((SECONDS - began)) s, log $log)"
    echo "export TEST_MONGODB_URL=mongodb://127.0.0.1:$port/chat_test"
    echo "export MONGO_TEST_PID=$pid"
}

stop() {
    local pid="${1:-${MONGO_TEST_PID:-}}"
    [[ -n "$pid" ]] || die "no PID given and MONGO_TEST_PID is unset"
    # Only ever signal our own server, even if the PID was reused since.
    if ! grep -qa secantusd "/proc/$pid/cmdline" 2>/dev/null; then
        say "pid $pid is not a running SecantusDB; nothing to stop"
        return 0
    fi
    kill "$pid"
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "pid $pid ignored SIGTERM for 10 s; killing it"
    kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
    install) install_venv && echo "$VENV" ;;
    start) shift && start "$@" ;;
    stop) shift && stop "$@" ;;
    *) sed -n '2,20p' "$0" >&2 && exit 2 ;;
esac
