# Shared by bench/smoke.sh and bench/full.sh (sourced): background processes they start, bounded
# chat-bench runs, and waiting for a line in a log.

# Processes started in the background; stop_started kills and reaps them.
PIDS=()
stop_started() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# bounded SECONDS OUT LABEL ARGS...: runs `$BENCH ARGS` for at most SECONDS with its output in
# OUT; when it fails, shows OUT and stops the script.
bounded() {
    local seconds=$1 out=$2 label=$3
    shift 3
    if ! timeout "$seconds" "$BENCH" "$@" >"$out" 2>&1; then
        cat "$out"
        echo "$(basename "$0"): $label failed" >&2
        exit 1
    fi
}

# wait_for FILE REGEX: prints the first match of REGEX in FILE, waiting up to 30 s; fails
# showing FILE when nothing matches.
wait_for() {
    for _ in $(seq 300); do
        if grep -o -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$(basename "$0"): nothing matching $2 in $1:" >&2
    cat "$1" >&2
    return 1
}
