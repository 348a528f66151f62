#!/usr/bin/env bash
# The dashboard in a real browser: starts `dd0c demo` (replay of the bundled data, then
# `dd0c serve` on it) on a free port and drives headless Chromium through it with
# playwright-core (tests/dashboard). Installs Debian's chromium and the pinned npm package
# when missing; builds dd0c (debug) when missing. Screenshots: tests/dashboard/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium (Debian)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "== playwright-core (tests/dashboard, pinned by package-lock.json)"
if [ ! -d tests/dashboard/node_modules/playwright-core ]; then
  (cd tests/dashboard && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ ! -x target/debug/dd0c ]; then
  echo "== building dd0c"
  cargo build -p dd0c-cli
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
LOG=$(mktemp -d)
echo "== dd0c demo on 127.0.0.1:$PORT (log: $LOG)"
env -u DEMO_EXIT target/debug/dd0c demo --quiet --port "$PORT" >"$LOG/stdout" 2>"$LOG/stderr" &
SERVER=$!
stop_server() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
}
trap stop_server EXIT

for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$PORT/config.json" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "dd0c demo exited early:" >&2
    cat "$LOG/stderr" >&2
    exit 1
  fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/config.json" >/dev/null || { echo "dd0c demo did not start serving" >&2; cat "$LOG/stderr" >&2; exit 1; }

echo "== browser test"
status=0
DD0C_URL="http://127.0.0.1:$PORT" DD0C_TOKEN="$(target/debug/dd0c token)" \
  node tests/dashboard/dashboard.test.js || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- dd0c demo stderr (last 40 lines)" >&2
  tail -40 "$LOG/stderr" >&2
fi
echo "   screenshots in $ROOT/tests/dashboard/screenshots/"
exit "$status"
