#!/usr/bin/env bash
# A short fuzzing run of every target (default 30 s each), for CI. Needs a nightly toolchain
# (libFuzzer's sanitizer flags); installs cargo-fuzz from crates.io when missing. Without nightly
# it says so and runs the stable stand-in, the proptest of the same properties, instead.
#
#   fuzz/smoke.sh                  # 30 s per target
#   FUZZ_SECONDS=600 fuzz/smoke.sh
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-30}"
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzz: no nightly toolchain; running the proptest stand-in instead"
  exec cargo test --quiet --manifest-path ../Cargo.toml -p chat-shared --test props
fi
if ! command -v cargo-fuzz >/dev/null; then
  cargo install --quiet --locked cargo-fuzz
fi
for target in $(cargo +nightly fuzz list); do
  echo "== fuzz $target for ${seconds}s"
  before=$(ls "artifacts/$target" 2>/dev/null | wc -l)
  cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" 2>&1 | grep -E '^(#[0-9]+ +DONE|==[0-9]+==|SUMMARY|Done )' || true
  # cargo fuzz exits non-zero on a crash; pipefail is off for the filter above, so check again.
  if [ "$(ls "artifacts/$target" 2>/dev/null | wc -l)" -gt "$before" ]; then
    echo "fuzz: $target found a failing input in fuzz/artifacts/$target" >&2
    exit 1
  fi
done
echo "fuzz: no failures"
