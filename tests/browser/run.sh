#!/usr/bin/env bash
# Runs the browser tests against a chat server.
#
#   tests/browser/run.sh [PATH/TO/chat-server]
#
# Starts the given server binary (default: $CHAT_SERVER_BIN, else the workspace's debug build) on
# a free loopback port with a temporary database, waits for /healthz, runs `node --test`, then
# stops the server. With CHAT_URL already set, tests that server instead and starts none.
# CHAT_CLI names the terminal client's `chat` binary (default: beside the server binary); the
# test that sends with `chat send` is skipped without it. CHAT_SERVER_BIN is exported for tests
# that start a server of their own with other flags (lib/harness.mjs, startServer); with
# CHAT_URL set and no CHAT_SERVER_BIN, they are skipped.
# Needs node >= 20, `npm ci` done here, and Chromium at /usr/bin/chromium (or $CHROMIUM_PATH).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if [[ ! -d node_modules/playwright-core || ! -d node_modules/ws ]]; then
  echo "run.sh: node_modules missing; run 'npm ci' in $here first" >&2
  exit 2
fi

server_pid=""
workdir="$(mktemp -d)"
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

if [[ -z "${CHAT_URL:-}" ]]; then
  target_dir="${CARGO_TARGET_DIR:-$here/../../target}"
  bin="${1:-${CHAT_SERVER_BIN:-$target_dir/debug/chat-server}}"
  if [[ ! -x "$bin" ]]; then
    echo "run.sh: no server binary at $bin (build it with 'cargo build -p chat-server')" >&2
    exit 2
  fi
  port="$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
  # A lower limit than the default 4000 lets a test send a message the server refuses.
  export CHAT_MAX_MESSAGE_CHARS=1000
  # The history test fills a conversation with 120 messages from one socket at once, past the
  # default frame-rate burst (100): lift it for these tests (the limits have their own tests).
  export CHAT_RATE_LIMIT_BURST=1000
  export CHAT_SERVER_BIN="$bin"
  # A closed page shows as "last seen" 300 ms later, not after the default 5 s of grace. Refresh
  # tokens rotate (the default, stated).
  JWT_SECRET="browser-tests-$(date +%s%N)" RUST_LOG="${RUST_LOG:-info}" \
    "$bin" --bind "127.0.0.1:$port" --database-url "sqlite://$workdir/chat.db" \
    --presence-grace 300ms --rotate-refresh-tokens true >"$workdir/server.log" 2>&1 &
  server_pid=$!
  export CHAT_URL="http://127.0.0.1:$port"
  # The terminal client's `chat send` is used too when it has been built beside the server.
  if [[ -z "${CHAT_CLI:-}" && -x "$(dirname "$bin")/chat" ]]; then
    export CHAT_CLI="$(dirname "$bin")/chat"
  fi
  for _ in $(seq 1 300); do
    if curl -fsS "$CHAT_URL/healthz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "run.sh: the server exited at start:" >&2
      cat "$workdir/server.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if ! curl -fsS "$CHAT_URL/healthz" >/dev/null 2>&1; then
    echo "run.sh: the server did not answer /healthz within 30 s" >&2
    cat "$workdir/server.log" >&2
    exit 1
  fi
fi

echo "run.sh: testing $CHAT_URL"
status=0
node --test --test-concurrency=1 --test-timeout=180000 ${CHAT_TESTS:-tests/} || status=$?
if [[ $status -ne 0 && -f "$workdir/server.log" ]]; then
  echo "---- last server log lines ----" >&2
  tail -n 60 "$workdir/server.log" >&2
fi
exit $status
