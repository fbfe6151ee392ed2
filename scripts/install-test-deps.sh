#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, skipping whatever is already there:
# tmux (the full-screen TUI scenario), pkg-config + libssl-dev (rust_socketio's native-tls),
# python3-venv (the MongoDB-compatible test server), Node.js + npm (the socket.io-client
# interop test), redis-server and nginx (several nodes: the Redis adapter, the load balancer;
# the tests start their own on free ports), prlimit (util-linux: the full-disk fault test),
# chromium (Debian's, driven by playwright-core from npm: the Admin UI dashboard test); and
# from crates.io cargo-deny (licences, bans, sources) and cargo-fuzz (scripts/fuzz.sh). Needs
# root for apt-get when something is missing.
set -euo pipefail

missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v pkg-config >/dev/null || missing+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nginx >/dev/null || missing+=(nginx)
command -v prlimit >/dev/null || missing+=(util-linux)
command -v chromium >/dev/null || missing+=(chromium)

if ((${#missing[@]})); then
    echo "install-test-deps: apt-get install ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Pinned, so a new release cannot change what CI checks. Unoptimized (`--debug`): on a fresh
# 2-core machine cargo-deny builds in 1 min 47 s instead of 4 min 39 s and its check takes 5.5 s
# instead of 2; cargo-fuzz, which only drives cargo, 33 s instead of 53.
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked --version 0.20.2 --debug --quiet
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2 --debug --quiet
