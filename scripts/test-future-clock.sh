#!/usr/bin/env bash
# The Rust tests once more with the clock two years ahead (libfaketime), so that a test that
# passes only near the day it was written fails today rather than on a later day's CI: a
# fixture of a fixed date read through a wall clock, whose stored items expire on event time,
# or demo data served in wall-clock time (docs/decisions/1120-nothing-depends-on-the-day-it-runs.md).
#
# Runs the test executables `cargo test --workspace` builds, each in its package's folder as
# cargo runs them (rustdoc is not run: doc tests are compiled when they run, and rustdoc hung
# under libfaketime). The monotonic clock is left alone: timeouts and backoffs stay real.
# Installs Debian's faketime when it is missing.
#
#   scripts/test-future-clock.sh            two years ahead (+730d)
#   FUTURE_CLOCK=+3650d scripts/test-future-clock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
AHEAD=${FUTURE_CLOCK:-+730d}
CARGO=${CARGO:-cargo}

if ! dpkg -s libfaketime >/dev/null 2>&1; then
  echo "== installing faketime (Debian)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq faketime >/dev/null
fi
LIB=$(dpkg -L libfaketime | grep '/libfaketime\.so\.1$' | head -1)
[ -n "$LIB" ] || { echo "libfaketime.so.1 not found" >&2; exit 1; }

echo "== the Rust tests with the clock at $AHEAD ($(FAKETIME="$AHEAD" LD_PRELOAD="$LIB" date -u +%Y-%m-%d))"
list=$(mktemp)
trap 'rm -f "$list"' EXIT
"$CARGO" test --workspace --no-run --message-format=json 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    try:
        message = json.loads(line)
    except ValueError:
        continue
    if message.get("reason") == "compiler-artifact" and message.get("executable") and message["profile"]["test"]:
        print(os.path.dirname(message["manifest_path"]) + "\t" + message["executable"])
' >"$list"
[ -s "$list" ] || { echo "cargo built no test executable" >&2; exit 1; }

executables=0 passed=0 failed=()
while IFS=$'\t' read -r dir exe; do
  executables=$((executables + 1))
  if out=$(cd "$dir" && CARGO_MANIFEST_DIR="$dir" FAKETIME="$AHEAD" FAKETIME_DONT_FAKE_MONOTONIC=1 \
      LD_PRELOAD="$LIB" "$exe" 2>&1); then
    n=$(printf '%s\n' "$out" | sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' | tail -1)
    passed=$((passed + ${n:-0}))
  else
    failed+=("$exe")
    printf '%s\n' "$out" | grep -E '^test .* FAILED$|panicked at' >&2 || printf '%s\n' "$out" | tail -20 >&2
  fi
done <"$list"

echo "== $executables test executables, $passed tests passed with the clock at $AHEAD"
if ((${#failed[@]} > 0)); then
  printf 'failed with the clock at %s: %s\n' "$AHEAD" "${failed[@]}" >&2
  exit 1
fi
