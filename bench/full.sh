#!/usr/bin/env bash
# The full benchmark: every scenario of docs/performance.md against a release build, each run
# RUNS times (3 by default) on fresh copies of one seeded database, with the baselines measured
# in the same rounds; then a table of medians. Takes about 3 minutes a round on the 2-core
# machine. Results (one JSON line per scenario run) are kept in $BENCH_OUT (default: a new
# directory under /tmp, printed at the end).
#
#   bench/full.sh                  # builds the release binaries first
#   RUNS=1 bench/full.sh           # one round
#   BENCH_NO_BUILD=1 bench/full.sh # use release binaries already built
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
RUNS=${RUNS:-3}
if [ -z "${BENCH_NO_BUILD:-}" ]; then
    (cd "$ROOT" && cargo build -q --release -p chat-server -p chat-bench)
fi
BENCH=$TARGET/release/chat-bench
SERVER=$TARGET/release/chat-server
OUT=${BENCH_OUT:-$(mktemp -d /tmp/chat-bench.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"
SECRET="bench-secret-$RANDOM$RANDOM$RANDOM"
ulimit -n "$(ulimit -Hn)"
CONNS=$(( $(ulimit -n) - 1000 ))   # what the open-file limit leaves room for

source "$ROOT/bench/lib.sh"
trap stop_started EXIT

# start NAME COMMAND...: starts a server in the background, waits until it listens.
start() {
    local name=$1
    shift
    "$@" >"$OUT/$name.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
    wait_for "$OUT/$name.log" "listening|serving" >/dev/null
}

# stop PID
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# run LABEL ARGS...: one scenario, bounded; its JSON line is kept under LABEL and the round.
run() {
    local label=$1
    shift
    echo "== round $ROUND: $label"
    bounded 300 "$OUT/last.out" "$label" "$@"
    grep -v '^{' "$OUT/last.out" | tail -n 4
    printf '{"label":"%s","round":%d,"result":%s}\n' "$label" "$ROUND" \
        "$(tail -n1 "$OUT/last.out")" >>"$RESULTS"
}

ROUND=0
echo "== seeding 1M messages (once)"
"$BENCH" seed --db "$OUT/seed.db" --free-users 120000 | tee "$OUT/seed.out"
FIRST=$(grep -o '"first_free_user":[0-9]*' "$OUT/seed.out" | cut -d: -f2)
LIFTED=(--rate-limit-per-second 1000000 --rate-limit-burst 1000000 --max-connections-per-user 1000000)

# chat_server DURABILITY [FLAGS...]: a server on a fresh copy of the seeded database.
chat_server() {
    local durability=$1
    shift
    rm -f "$OUT"/chat.db*
    cp "$OUT/seed.db" "$OUT/chat.db"
    cp "$OUT/seed.db.bench.json" "$OUT/chat.db.bench.json"
    start "server-$durability-$ROUND" "$SERVER" --bind 127.0.0.1:8000 --database-url "sqlite://$OUT/chat.db" \
        --jwt-secret "$SECRET" --durability "$durability" "${LIFTED[@]}" "$@"
}

for ROUND in $(seq "$RUNS"); do
    T=(--server 127.0.0.1:8000 --jwt-secret "$SECRET" --first-user "$FIRST")

    chat_server normal
    run pairs-saturation pairs "${T[@]}" --user-offset 110000 --pairs 50 --window 8 --duration 10s
    run pairs-10000 pairs "${T[@]}" --user-offset 110200 --pairs 50 --rate 10000 --duration 10s
    run history history "${T[@]}" --manifest "$OUT/chat.db.bench.json" --clients 100 --duration 10s --list-requests 30
    run history-5000 history "${T[@]}" --manifest "$OUT/chat.db.bench.json" --clients 100 --duration 10s --rate 5000 --list-requests 0
    run handshake-closed handshake "${T[@]}" --users 1000 --concurrency 32 --duration 10s
    run handshake-2000 handshake "${T[@]}" --users 1000 --rate 2000 --concurrency 2000 --duration 10s
    run handshake-during-pairs handshake --server 127.0.0.1:8000 --jwt-secret "$SECRET" \
        --first-user $((FIRST + 1000)) --users 1000 --rate 2000 --concurrency 2000 --duration 10s \
        --with-pairs 50 --pairs-rate 10000
    run group-100-saturation group "${T[@]}" --user-offset 111000 --members 100 --rate 0 --window 8 --duration 10s
    run group-100-500 group "${T[@]}" --user-offset 111000 --members 100 --rate 500 --duration 10s
    run group-1000-saturation group "${T[@]}" --user-offset 111000 --members 1000 --rate 0 --window 4 --duration 10s
    run group-1000-50 group "${T[@]}" --user-offset 111000 --members 1000 --rate 50 --duration 10s
    run sync-10000 sync "${T[@]}" --user-offset 112000 --events 10000
    stop "$LAST_PID"

    # Memory per connection on a fresh server: one that has served the scenarios above keeps
    # freed memory that new connections reuse, and the RSS growth would understate them.
    chat_server normal
    run conns conns "${T[@]}" --connections "$CONNS" --users 1900 --hold 10s --concurrency 256 --server-pid "$LAST_PID"
    stop "$LAST_PID"

    # Password hashing under a flood, on a fresh server (RSS before / peak / after): attempts
    # per address lifted so that the flood meets the hashers, not the 429s.
    chat_server normal --auth-ip-burst 1000000 --auth-ip-login-burst 1000000
    run login-flood login-flood "${T[@]}" --server-pid "$LAST_PID" --registrations 200 --logins 200
    stop "$LAST_PID"

    chat_server full
    run full-saturation pairs "${T[@]}" --user-offset 110400 --pairs 50 --window 8 --duration 10s
    run full-5000 pairs "${T[@]}" --user-offset 110600 --pairs 50 --rate 5000 --duration 10s
    stop "$LAST_PID"

    start "relay-$ROUND" "$BENCH" baseline-relay --bind 127.0.0.1:8100 --jwt-secret "$SECRET"
    run relay-saturation pairs --server 127.0.0.1:8100 --jwt-secret "$SECRET" --pairs 50 --window 8 --duration 10s --no-verify
    run relay-10000 pairs --server 127.0.0.1:8100 --jwt-secret "$SECRET" --pairs 50 --rate 10000 --duration 10s --no-verify
    run relay-handshake-closed handshake --server 127.0.0.1:8100 --jwt-secret "$SECRET" --first-user 1 --users 1000 --concurrency 32 --duration 10s
    stop "$LAST_PID"

    start "hold-$ROUND" "$BENCH" baseline-hold --bind 127.0.0.1:8200
    run hold conns --server 127.0.0.1:8200 --jwt-secret "$SECRET" --connections "$CONNS" --users 1 --hold 10s --server-pid "$LAST_PID"
    stop "$LAST_PID"

    run insert baseline-insert --messages 200000 --single 5000 --batch 500 --dir "$OUT"
    run insert-full baseline-insert --messages 100000 --single 1000 --batch 500 --full --dir "$OUT"
done

echo "== medians of $RUNS round(s); every JSON line is in $RESULTS"
python3 "$ROOT/bench/summary.py" "$RESULTS"
