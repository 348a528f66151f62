#!/usr/bin/env bash
# Lambda size and cold start per function (docs/decisions/1020-lambda-size-and-cold-start.md):
#   1. the arm64 build, as deployed (the `deploy` profile): `make lambdas` -> target/lambda/<fn>/bootstrap
#   2. the x86_64 build of the same binaries and profile, the local stand-in for init time
#   3. `cdk synth` of staging into target/bench/cdk.out: each function's environment
#   4. localcloud.lambda_bench: each bootstrap zipped (MB), BENCH_LAMBDA_RUNS cold starts (default
#      5) under the Runtime API emulator (median ms from spawn to the first `next`), a table
#      against the goals (<= 5 MB, <= 20 ms) and target/bench/lambdas.json
# BENCH_LAMBDA_BUILD=0 measures the binaries already built (steps 1 and 2 skipped).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET/bench"
VENV="$ROOT/.venv"
CDK_DIR="$ROOT/infra-cdk"

export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true JSII_DEPRECATED=quiet
# Neither the synth nor the functions' init may depend on an ambient AWS identity.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
  AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL CDK_DEFAULT_ACCOUNT CDK_DEFAULT_REGION

step() { printf '\n== %s\n' "$*"; }
mkdir -p "$OUT"

if [ "${BENCH_LAMBDA_BUILD:-1}" != 0 ]; then
  step "arm64 deploy build (make lambdas)"
  make -C "$ROOT" --no-print-directory lambdas
  step "x86_64 deploy build"
  (cd "$ROOT" && cargo build --profile deploy -p dd0c-lambdas --bins)
fi

step "cdk synth (staging) -> $OUT/cdk.out"
if [ ! -d "$CDK_DIR/node_modules" ]; then
  (cd "$CDK_DIR" && npm ci --no-audit --no-fund)
fi
rm -rf "$OUT/cdk.out"
if ! (cd "$CDK_DIR" && npx --no-install cdk synth -c env=staging -c account=111111111111 -c region=us-east-1 \
      -c githubRepo=local/dd0c --quiet --no-notices -o "$OUT/cdk.out") >"$OUT/synth.log" 2>&1 \
   && [ ! -f "$OUT/cdk.out/dd0c-staging.template.json" ]; then
  # cdk-nag findings fail the synth after the template is written (scripts/test-infra.sh fails
  # on them); only the functions' environment is read here.
  cat "$OUT/synth.log" >&2
  exit 1
fi

step "zip sizes and cold starts"
cd "$ROOT/tests/localcloud"
exec "$VENV/bin/python" -m localcloud.lambda_bench \
  --template "$OUT/cdk.out/dd0c-staging.template.json" \
  --binaries "$TARGET/deploy" \
  --lambda-dir "$TARGET/lambda" \
  --zips "$OUT/lambda-zips" \
  --runs "${BENCH_LAMBDA_RUNS:-5}" \
  --out "$OUT/lambdas.json"
