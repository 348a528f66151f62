#!/usr/bin/env bash
# Schema-driven fuzz of the REST API: schemathesis (PyPI, in the repo's .venv) generates
# requests from the OpenAPI document `dd0c demo` serves at /v1/openapi.json and sends them,
# with a bearer token from `dd0c token`, to the demo's server. Fails on any 5xx
# (--checks not_a_server_error). Bounded: FUZZ_MAX_EXAMPLES per operation (default 25) and
# FUZZ_MAX_TIME seconds in all (default 100). Builds dd0c (debug) when missing.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."

VENV=.venv
# Pinned as requirements-dev.txt pins them, so that neither install undoes the other.
FUZZ_PACKAGES=("schemathesis==4.32.5" "pytest>=8.4,<9" "packaging>=23,<24")
mkdir -p "$VENV"
exec 9>"$VENV/.dd0c-install.lock"
flock 9
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "4.32.5"; then
  echo "== installing schemathesis into $VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${FUZZ_PACKAGES[@]}"
fi
flock -u 9

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
  curl -fsS "http://127.0.0.1:$PORT/v1/openapi.json" >/dev/null 2>&1 && break
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "dd0c demo exited early:" >&2
    cat "$LOG/stderr" >&2
    exit 1
  fi
  sleep 0.2
done

TOKEN=$(target/debug/dd0c token --ttl 3600)
echo "== schemathesis against http://127.0.0.1:$PORT/v1/openapi.json"
status=0
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/v1/openapi.json" \
  --url "http://127.0.0.1:$PORT" \
  --checks not_a_server_error \
  --header "Authorization: Bearer $TOKEN" \
  --phases examples,coverage,fuzzing \
  --max-examples "${FUZZ_MAX_EXAMPLES:-25}" \
  --max-time "${FUZZ_MAX_TIME:-100}" \
  --workers 2 \
  --request-timeout 10 \
  --seed "${FUZZ_SEED:-8787}" \
  --no-color || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- dd0c demo stderr (last 40 lines)" >&2
  tail -40 "$LOG/stderr" >&2
fi
exit "$status"
