#!/usr/bin/env bash
# Load-and-fault run (loopback only, bounded): many clients chat and leave at random while the
# real chat-server binary is killed (SIGKILL) once and stopped (SIGTERM) once, each time restarted
# on the same database. Fails if any acknowledged message is lost, duplicated or misordered, or if
# a client that stayed connected missed one. Prints the figures on one "soak:" line.
#
#   scripts/soak.sh                 # 90 s, 24 users (6 of them never leave)
#   SOAK_SECONDS=300 SOAK_USERS=60 SOAK_STEADY=10 scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chat-target}"
export SOAK_SECONDS="${SOAK_SECONDS:-90}" SOAK_USERS="${SOAK_USERS:-24}" SOAK_STEADY="${SOAK_STEADY:-6}"
cargo build --quiet -p chat-server --bin chat-server
exec cargo test --quiet -p chat-e2e --test crash -- --ignored --nocapture soak_with_restarts_loses_nothing
