#!/usr/bin/env bash
# Protocol checks against a real server: builds `chat-server` and `chat`, starts the server on a
# free loopback port with a temporary database, runs `chat check --jobs 2 examples/checks/` twice
# (the second run proves the scripts can re-run against the same server), proves that a deliberately
# wrong script fails naming its step, and stops the server. Exits non-zero on any failure.
# The JUnit report is left at $CHECKS_JUNIT (default: <target>/checks-junit.xml). Prebuilt
# binaries may be given as $CHAT_SERVER_BIN and $CHAT_BIN.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

target_dir="${CARGO_TARGET_DIR:-$root/target}"
# Binaries a caller built already may be passed in; otherwise they are built here.
server_bin="${CHAT_SERVER_BIN:-}"
chat_bin="${CHAT_BIN:-}"
if [[ -z "$server_bin" || -z "$chat_bin" ]]; then
  cargo build -p chat-server -p chat-tui --bins
  server_bin="${server_bin:-$target_dir/debug/chat-server}"
  chat_bin="${chat_bin:-$target_dir/debug/chat}"
fi
junit="${CHECKS_JUNIT:-$target_dir/checks-junit.xml}"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The config directory of `chat` is kept inside the temporary directory.
export CHAT_CONFIG_DIR="$work/config"

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A random free port; retried if another process takes it between the probe and the bind.
started=""
for _attempt in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  port_is_free "$port" || continue
  "$server_bin" --bind "127.0.0.1:$port" --database-url "sqlite://$work/chat.db" \
    --jwt-secret "checks-$RANDOM-$RANDOM-$RANDOM" >"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 150); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
      started=yes
      break
    fi
    sleep 0.2
  done
  [[ -n "$started" ]] && break
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
done
if [[ -z "$started" ]]; then
  echo "checks.sh: the server did not start; its log:" >&2
  cat "$work/server.log" >&2 || true
  exit 1
fi
export CHAT_SERVER="http://127.0.0.1:$port"
echo "checks.sh: server up at $CHAT_SERVER"

echo "checks.sh: running examples/checks/ (first run, 2 scripts at a time)"
"$chat_bin" check --jobs 2 examples/checks/ --junit "$junit"
echo "checks.sh: running examples/checks/ again on the same server"
"$chat_bin" check --jobs 2 examples/checks/ >"$work/second-run.txt" || {
  cat "$work/second-run.txt"
  echo "checks.sh: the second run failed" >&2
  exit 1
}
tail -n 1 "$work/second-run.txt"

# A script that must fail at step 3 (line 15): bob expects is_typing=false but gets true.
cp tests/data/wrong-check.toml "$work/wrong.toml"
echo "checks.sh: a deliberately wrong script must fail at its step 3"
set +e
"$chat_bin" check "$work/wrong.toml" >"$work/wrong.txt" 2>&1
code=$?
set -e
# Shown without its closing "check: 0 passed, 1 failed" line, which CI might read as ours.
grep -v '^check: ' "$work/wrong.txt" || true
fail() {
  echo "checks.sh: $1" >&2
  exit 1
}
[[ $code -eq 1 ]] || fail "the wrong script exited $code, not 1"
grep -qF "FAIL    3 bob sees alice stop typing ($work/wrong.toml:15)" "$work/wrong.txt" ||
  fail "the failure does not name step 3 and its line"
grep -qF "/is_typing: expected false, got true" "$work/wrong.txt" ||
  fail "the failure does not say what differed"
echo "checks.sh: the wrong script failed as it should, naming step 3 at line 15"
echo "checks.sh: JUnit report at $junit"
scripts=(examples/checks/*.toml)
echo "checks: $((${#scripts[@]} + 1)) passed, 0 failed"
