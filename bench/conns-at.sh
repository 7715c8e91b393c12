#!/usr/bin/env bash
# Memory per idle connection of one commit: a release build of COMMIT in a scratch worktree,
# a database seeded by that commit's own chat-bench (a newer seed has migrations an older
# server refuses), then RUNS `conns` runs (2 by default) on a fresh server each, printing each
# run's bytes per connection. For comparing commits one at a time; bench/full.sh measures the
# tree as it is.
#
#   bench/conns-at.sh 006d14b
#   RUNS=3 bench/conns-at.sh HEAD
set -euo pipefail

COMMIT=${1:?usage: bench/conns-at.sh COMMIT}
RUNS=${RUNS:-2}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TREE=$(mktemp -d /tmp/conns-at.XXXXXX)
WORK=$(mktemp -d /tmp/conns-at-db.XXXXXX)
cleanup() {
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null || true
    git -C "$ROOT" worktree remove --force "$TREE" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

git -C "$ROOT" worktree add --detach "$TREE" "$COMMIT" >/dev/null
# Newer than any artifact in a shared target directory, so that this tree's code is built.
find "$TREE" -name '*.rs' -exec touch {} +
(cd "$TREE" && cargo build -q --release -p chat-server -p chat-bench)
BIN=$CARGO_TARGET_DIR/release
"$BIN/chat-bench" seed --db "$WORK/seed.db" --free-users 20000 >"$WORK/seed.out"
FIRST=$(grep -o '"first_free_user":[0-9]*' "$WORK/seed.out" | cut -d: -f2)
ulimit -n "$(ulimit -Hn)"
SECRET="conns-secret-$RANDOM$RANDOM"
for _ in $(seq "$RUNS"); do
    rm -f "$WORK"/chat.db*
    cp "$WORK/seed.db" "$WORK/chat.db"
    "$BIN/chat-server" --bind 127.0.0.1:8000 --database-url "sqlite://$WORK/chat.db" \
        --jwt-secret "$SECRET" --rate-limit-per-second 1000000 --rate-limit-burst 1000000 \
        --max-connections-per-user 1000000 >"$WORK/server.log" 2>&1 &
    PID=$!
    for _ in $(seq 50); do
        grep -qE "listening|serving" "$WORK/server.log" && break
        sleep 0.1
    done
    timeout 120 "$BIN/chat-bench" conns --server 127.0.0.1:8000 --jwt-secret "$SECRET" \
        --first-user "$FIRST" --connections 19000 --users 1900 --hold 10s --concurrency 256 \
        --server-pid "$PID" | tail -n 1 | grep -o '"rss_per_conn_bytes":[0-9.]*'
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
done
