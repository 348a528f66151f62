#!/usr/bin/env bash
# End-to-end journeys on the local cloud (tests/localcloud, docs/decisions/0800-local-cloud.md):
#   1. the Python venv .venv (requirements-dev.txt: moto, pytest, PyJWT...)
#   2. the nine function binaries (target/debug/<name>; built only when one is missing)
#   3. `cdk synth` of staging into target/e2e/cdk.out, and a variant whose bus policy lists
#      one customer account into target/e2e/cdk.out-narrow (the bus-policy test)
#   4. pytest tests/e2e and the local cloud's own tests (the fakes, the Lambda bench's measurement);
#      extra arguments go to pytest: scripts/test-e2e.sh -k journey_name
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CDK_DIR="$ROOT/infra-cdk"
VENV="$ROOT/.venv"
OUT="$ROOT/target/e2e"
FUNCTIONS=(ingest normalizer scorer classifier notifier digest slack stripe api)

export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true JSII_DEPRECATED=quiet
# Neither synth nor the local cloud may depend on an ambient AWS identity.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
  AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL CDK_DEFAULT_ACCOUNT CDK_DEFAULT_REGION
export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

step() { printf '\n== %s\n' "$*"; }

step "python venv"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
fi
if [ ! -f "$VENV/.installed" ] || [ "$ROOT/requirements-dev.txt" -nt "$VENV/.installed" ] \
   || ! "$VENV/bin/python" -c 'import moto, jwt, pytest, boto3' 2>/dev/null; then
  "$VENV/bin/pip" install --quiet -r "$ROOT/requirements-dev.txt"
  touch "$VENV/.installed"
fi

step "function binaries"
missing=0
for f in "${FUNCTIONS[@]}"; do
  [ -x "$ROOT/target/debug/$f" ] || missing=1
done
if [ "$missing" = 1 ]; then
  (cd "$ROOT" && cargo build --bins)
fi

synth() {  # synth OUTDIR [extra cdk args...]
  local out="$1"; shift
  rm -rf "$out"
  local log="$OUT/synth-$(basename "$out").log"
  if ! (cd "$CDK_DIR" && npx --no-install cdk synth -c env=staging -c account=111111111111 -c region=us-east-1 \
        -c githubRepo=local/dd0c "$@" --quiet --no-notices -o "$out") >"$log" 2>&1; then
    if [ -f "$out/dd0c-staging.template.json" ]; then
      # cdk-nag findings fail the synth after writing the template; scripts/test-infra.sh is
      # where they fail the build. The local cloud runs the template regardless.
      echo "warning: cdk synth reported errors (template written; see $log):"
      grep -E '^(ERROR|\[Error)' "$log" | sort -u | head -5 || true
    else
      cat "$log"
      echo "cdk synth failed: no template in $out" >&2
      exit 1
    fi
  fi
}

step "cdk synth (staging) -> target/e2e/cdk.out"
mkdir -p "$OUT"
if [ ! -d "$CDK_DIR/node_modules" ]; then
  (cd "$CDK_DIR" && npm ci --no-audit --no-fund)
fi
synth "$OUT/cdk.out"
synth "$OUT/cdk.out-narrow" -c customerAccountIds=222222222222

step "chromium and playwright-core (journey 1 drives the dashboard in a browser)"
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -d "$ROOT/tests/dashboard/node_modules/playwright-core" ]; then
  (cd "$ROOT/tests/dashboard" && npm ci --no-audit --no-fund --loglevel=error)
fi

step "pytest tests/e2e tests/localcloud"
cd "$ROOT"
rm -rf "$OUT/logs"
exec "$VENV/bin/python" -m pytest tests/e2e tests/localcloud/test_fakes.py tests/localcloud/test_lambda_bench.py -q "$@"
