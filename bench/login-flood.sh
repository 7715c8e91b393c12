#!/usr/bin/env bash
# The login-flood scenario alone, RUNS times (3 by default), each on a fresh server started from
# the given binary (default: the release build) on a fresh copy of a tiny seeded database, with
# per-address attempt limits lifted so that the flood meets the password hashers, not the 429s
# (and the frame rate limit, which the chatting pair would pass).
# Prints each run's JSON line. For comparing builds: pass an older binary, and FLOOD_FLAGS=""
# when it does not know --auth-ip-login-burst.
#
#   bench/login-flood.sh                            # release build of this tree
#   FLOOD_FLAGS="" bench/login-flood.sh /tmp/chat-server-old
#   RUNS=1 BENCH_NO_BUILD=1 bench/login-flood.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=${RUNS:-3}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build -q --release -p chat-server -p chat-bench)
fi
BENCH=${BENCH:-$TARGET/release/chat-bench}
SERVER=${1:-$TARGET/release/chat-server}
FLOOD_FLAGS=${FLOOD_FLAGS---auth-ip-login-burst 1000000}
WORK=$(mktemp -d)
SECRET="flood-secret-$RANDOM$RANDOM$RANDOM"
source "$ROOT/bench/lib.sh"
cleanup() {
    stop_started
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BENCH" seed --db "$WORK/seed.db" --conversations 2 --hub-conversations 1 --messages 10 \
    --big-messages 0 --free-users 10 >"$WORK/seed.out"
FIRST=$(grep -o '"first_free_user":[0-9]*' "$WORK/seed.out" | cut -d: -f2)
for run in $(seq "$RUNS"); do
    rm -f "$WORK"/chat.db*
    cp "$WORK/seed.db" "$WORK/chat.db"
    # shellcheck disable=SC2086 # FLOOD_FLAGS is a list of flags
    "$SERVER" --bind 127.0.0.1:0 --database-url "sqlite://$WORK/chat.db" --jwt-secret "$SECRET" \
        --log-format json --auth-ip-burst 1000000 $FLOOD_FLAGS \
        --rate-limit-per-second 1000000 --rate-limit-burst 1000000 >"$WORK/server-$run.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    addr=$(wait_for "$WORK/server-$run.log" '"addr":"127\.0\.0\.1:[0-9]+"' | cut -d'"' -f4)
    echo "== run $run"
    bounded 300 "$WORK/run.out" "login-flood" login-flood --server "$addr" --jwt-secret "$SECRET" \
        --first-user "$FIRST" --server-pid "$pid" --registrations 200 --logins 200
    cat "$WORK/run.out"
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
