#!/usr/bin/env bash
# Browser tests of the chat page: installs Chromium and the node packages when missing, builds the
# server and the `chat` command line, and runs tests/browser/run.sh (which starts the server on a
# free loopback port with a temporary database, runs the tests in headless Chromium and stops it).
# Exits non-zero on failure.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export DEBIAN_FRONTEND=noninteractive
if [[ ! -x /usr/bin/chromium ]]; then
  echo "browser.sh: installing Debian's chromium"
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "browser.sh: installing node and npm"
  apt-get update -q
  apt-get install -y -q --no-install-recommends nodejs npm
fi
if ! command -v curl >/dev/null; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends curl ca-certificates
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
  echo "browser.sh: node >= 20 is needed, found $(node --version)" >&2
  exit 1
fi

# Never let an npm package download a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd tests/browser && npm ci --no-audit --no-fund)

cargo build -p chat-server -p chat-tui
target_dir="${CARGO_TARGET_DIR:-$root/target}"
exec tests/browser/run.sh "$target_dir/debug/chat-server"
