#!/usr/bin/env bash
# Alternating runs of two builds on the two hot paths (pairs at saturation, history pages), each
# run on a fresh copy of its build's seeded database: on a noisy machine, alternating A, B, A, B
# spreads the noise over both. Uses two finished full.sh runs (their BENCH_OUT folders hold the
# seeded database and its manifest) and the release folders of their binaries:
#
#   A_BIN=/tmp/before/release A_OUT=/tmp/bench-before \
#   B_BIN=/tmp/after/release  B_OUT=/tmp/bench-after ROUNDS=4 bench/ab.sh
#
# Prints one line per run: round, build, pairs delivered/s, history pages/s.
set -u
: "${A_BIN:?}" "${A_OUT:?}" "${B_BIN:?}" "${B_OUT:?}"
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18500}
SECRET=ab-secret-$RANDOM$RANDOM
LIFTED=(--rate-limit-per-second 1000000 --rate-limit-burst 1000000 --max-connections-per-user 1000000)
work=$(mktemp -d /tmp/chat-ab.XXXXXX)
for round in $(seq "$ROUNDS"); do
    for build in A B; do
        bin_var=${build}_BIN out_var=${build}_OUT
        bin=${!bin_var} out=${!out_var}
        rm -f "$work"/chat.db*
        cp "$out/seed.db" "$work/chat.db"
        cp "$out/seed.db.bench.json" "$work/chat.db.bench.json"
        first=$(grep -o '"first_free_user":[0-9]*' "$out/seed.out" | cut -d: -f2)
        "$bin/chat-server" --bind "127.0.0.1:$PORT" --database-url "sqlite://$work/chat.db" \
            --jwt-secret "$SECRET" "${LIFTED[@]}" >"$work/server.log" 2>&1 &
        pid=$!
        for _ in $(seq 100); do grep -qE "listening|serving" "$work/server.log" && break; sleep 0.2; done
        common=(--server "127.0.0.1:$PORT" --jwt-secret "$SECRET" --first-user "$first")
        pairs=$(timeout 60 "$bin/chat-bench" pairs "${common[@]}" --user-offset 110000 --pairs 50 \
            --window 8 --duration 8s 2>>"$work/errors.log" | tail -1)
        history=$(timeout 60 "$bin/chat-bench" history "${common[@]}" --manifest "$work/chat.db.bench.json" \
            --clients 100 --duration 8s --list-requests 30 2>>"$work/errors.log" | tail -1)
        kill "$pid"
        wait "$pid" 2>/dev/null
        echo "$round $build $(grep -o '"delivered_per_s":[0-9.]*' <<<"$pairs") $(grep -o '"pages_per_s":[0-9.]*' <<<"$history")"
    done
done
rm -rf "$work"
