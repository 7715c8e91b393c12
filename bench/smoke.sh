#!/usr/bin/env bash
# Smoke run of every chat-bench scenario with tiny numbers against freshly started servers on
# loopback. Fails only when a scenario errors or reports lost, duplicated or reordered messages;
# the figures themselves are not checked. Bounded: every step has a timeout.
#
#   bench/smoke.sh                 # builds debug binaries first
#   BENCH_PROFILE=release bench/smoke.sh
#   BENCH_NO_BUILD=1 bench/smoke.sh   # use binaries already built
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=${BENCH_PROFILE:-debug}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
    flags=()
    [ "$PROFILE" = release ] && flags=(--release)
    (cd "$ROOT" && cargo build -q "${flags[@]}" -p chat-server -p chat-bench)
fi
BENCH=$TARGET/$PROFILE/chat-bench
SERVER=$TARGET/$PROFILE/chat-server

WORK=$(mktemp -d)
SECRET="smoke-secret-$RANDOM$RANDOM$RANDOM"
source "$ROOT/bench/lib.sh"
cleanup() {
    stop_started
    rm -rf "$WORK"
}
trap cleanup EXIT

# step NAME ARGS...: one scenario, bounded, output kept; a non-zero exit fails the smoke run.
step() {
    local name=$1
    shift
    echo "== $name"
    bounded 90 "$WORK/$name.out" "$name" "$@"
    cat "$WORK/$name.out"
    tail -n1 "$WORK/$name.out" | grep -q '"scenario"' || { echo "smoke: $name printed no JSON line" >&2; exit 1; }
}

step seed seed --db "$WORK/chat.db" --conversations 30 --hub-conversations 10 \
    --messages 3000 --big-messages 1000 --free-users 200
FREE=$(grep -o '"first_free_user":[0-9]*' "$WORK/seed.out" | cut -d: -f2)

# A load generator is not abuse: lift the per-connection rate and per-user connection limits.
LIMITS="--rate-limit-per-second 1000000 --rate-limit-burst 1000000 --max-connections-per-user 100000"
"$SERVER" --bind 127.0.0.1:0 --database-url "sqlite://$WORK/chat.db" --jwt-secret "$SECRET" \
    --log-format json $LIMITS >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
ADDR=$(wait_for "$WORK/server.log" '"addr":"127\.0\.0\.1:[0-9]+"' | cut -d'"' -f4)
T=(--server "$ADDR" --jwt-secret "$SECRET")

step conns conns "${T[@]}" --first-user "$FREE" --connections 200 --users 20 --hold 2s --server-pid "$SERVER_PID"
step pairs-open pairs "${T[@]}" --first-user "$FREE" --user-offset 20 --pairs 5 --rate 500 --duration 3s
step pairs-closed pairs "${T[@]}" --first-user "$FREE" --user-offset 40 --pairs 3 --window 4 --duration 2s
step pairs-rest pairs --server "$ADDR" --pairs 1 --rate 50 --duration 1s
step group group "${T[@]}" --first-user "$FREE" --user-offset 100 --members 20 --rate 100 --duration 2s
step group-closed group "${T[@]}" --first-user "$FREE" --user-offset 120 --members 10 --rate 0 \
    --window 4 --duration 1s
step sync sync "${T[@]}" --first-user "$FREE" --user-offset 140 --events 300
step history history "${T[@]}" --manifest "$WORK/chat.db.bench.json" --clients 10 \
    --duration 2s --list-requests 10
step history-open history "${T[@]}" --manifest "$WORK/chat.db.bench.json" --clients 10 \
    --duration 2s --rate 200 --list-requests 0
step handshake handshake "${T[@]}" --first-user $((FREE + 60)) --users 10 --rate 200 --duration 2s
step handshake-pairs handshake "${T[@]}" --first-user $((FREE + 80)) --users 10 --rate 100 \
    --duration 2s --with-pairs 2 --pairs-rate 200
# A small login flood on a server of its own (its RSS figures are for that server alone).
"$SERVER" --bind 127.0.0.1:0 --database-url "sqlite://$WORK/flood.db" --jwt-secret "$SECRET" \
    --log-format json $LIMITS --auth-ip-burst 100000 --auth-ip-login-burst 100000 \
    >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
FLOOD=$(wait_for "$WORK/flood.log" '"addr":"127\.0\.0\.1:[0-9]+"' | cut -d'"' -f4)
step login-flood login-flood --server "$FLOOD" --server-pid "$FLOOD_PID" --registrations 20 \
    --logins 20 --settle 3s --chat-every 20ms

step baseline-insert baseline-insert --messages 5000 --single 500 --batch 500 --dir "$WORK"

"$BENCH" baseline-relay --bind 127.0.0.1:0 --jwt-secret "$SECRET" >"$WORK/relay.log" 2>&1 &
PIDS+=("$!")
RELAY=$(wait_for "$WORK/relay.log" '"listening":"[^"]+"' | cut -d'"' -f4)
step relay-pairs pairs --server "$RELAY" --jwt-secret "$SECRET" --pairs 5 --rate 500 \
    --duration 2s --no-verify
step relay-conns conns --server "$RELAY" --jwt-secret "$SECRET" --connections 200 --hold 1s

"$BENCH" baseline-hold --bind 127.0.0.1:0 >"$WORK/hold.log" 2>&1 &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
HOLD=$(wait_for "$WORK/hold.log" '"listening":"[^"]+"' | cut -d'"' -f4)
step hold-conns conns --server "$HOLD" --jwt-secret "$SECRET" --connections 200 --hold 1s \
    --server-pid "$HOLD_PID"

echo "smoke: every scenario ran"
