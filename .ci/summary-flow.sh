#!/usr/bin/env bash
# A client written only from the protocol document (examples/summary_flow.py, Python + websockets)
# walks the Summary Flow against the real server started as the README says. Exits non-zero on failure.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

python3 -c 'import websockets' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'websockets>=12'

cargo build -p chat-server
target_dir="${CARGO_TARGET_DIR:-$root/target}"
work="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# Port 0: the server picks a free port and logs it; no JWT_SECRET, so it generates one beside the database.
(cd "$work" && exec env -u JWT_SECRET -u DATABASE_URL "$target_dir/debug/chat-server" --bind 127.0.0.1:0 \
  --log-format json >"$work/server.log" 2>&1) &
server_pid=$!
addr=""
for _ in $(seq 1 100); do
  addr="$(grep -o '"addr":"[^"]*"' "$work/server.log" | head -n1 | cut -d'"' -f4 || true)"
  [[ -n "$addr" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "server did not start"; cat "$work/server.log"; exit 1; }

python3 examples/summary_flow.py "http://$addr"
[[ -f "$work/chat.db" && -f "$work/chat.db.jwt-secret" ]] || { echo "database or secret file missing"; exit 1; }
