#!/usr/bin/env bash
# Infrastructure checks for `make test`, offline and without AWS credentials:
#   1. npm ci in infra-cdk (versions pinned by package-lock.json)
#   2. TypeScript type check of the CDK app and its tests
#   3. CDK tests (jest + aws-cdk-lib assertions): queues, functions, alarms, bus policy,
#      routing parity with shared/routing.json, cdk-nag AwsSolutions with no unacknowledged finding
#   4. `cdk synth` of staging (cdk-nag runs again as a synth-time validation plugin), account-agnostic
#      and with a concrete account and region (what `cdk deploy` synthesizes)
#   5. cfn-lint on both synthesized templates, from the repo's Python venv .venv
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CDK_DIR="$ROOT/infra-cdk"
VENV="$ROOT/.venv"
CFN_LINT_VERSION="1.58.0"

export CDK_DISABLE_VERSION_CHECK=1       # no network call to check for a newer CDK
export CDK_DISABLE_CLI_TELEMETRY=true    # nor telemetry
export JSII_DEPRECATED=quiet             # cdk-nag reads a deprecated property: silence the noise
export CI="${CI:-true}"                  # jest: no watch mode, no interactive output
# Synth must never depend on whoever runs it: no ambient AWS identity or region.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
  AWS_REGION AWS_DEFAULT_REGION CDK_DEFAULT_ACCOUNT CDK_DEFAULT_REGION
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

step() { printf '\n== %s\n' "$*"; }

step "python venv + cfn-lint $CFN_LINT_VERSION"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -q "$CFN_LINT_VERSION"; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi

step "npm ci (infra-cdk)"
cd "$CDK_DIR"
npm ci --no-audit --no-fund --loglevel=error

step "tsc --noEmit"
npx --no-install tsc --noEmit

step "CDK tests (jest)"
RESULTS="$(mktemp)"
trap 'rm -f "$RESULTS"' EXIT
npx --no-install jest --ci --json --outputFile="$RESULTS"

step "cdk synth -c env=staging (cdk-nag AwsSolutions as a validation plugin)"
rm -rf cdk.out
# githubRepo only shapes the deploy role's trust policy; any owner/repo lints the same.
npx --no-install cdk synth -c env=staging -c "githubRepo=${GITHUB_REPOSITORY:-local/dd0c}" --quiet --no-notices

step "cfn-lint cdk.out/dd0c-staging.template.json"
"$VENV/bin/cfn-lint" cdk.out/dd0c-staging.template.json

# What `cdk deploy` synthesizes: a concrete account and region turn the CDK asset bucket, the
# partition and the region into literals, which the cdk-nag acknowledgements must match too.
step "cdk synth -c env=staging with a concrete account and region (as cdk deploy does)"
CONCRETE_OUT="cdk.out/concrete-account"   # inside cdk.out: ignored by git, removed with it
npx --no-install cdk synth -c env=staging -c account=111111111111 -c region=us-east-1 \
  -c "githubRepo=${GITHUB_REPOSITORY:-local/dd0c}" --quiet --no-notices -o "$CONCRETE_OUT"

step "cfn-lint $CONCRETE_OUT/dd0c-staging.template.json"
"$VENV/bin/cfn-lint" "$CONCRETE_OUT/dd0c-staging.template.json"

# One closing line with the jest counts (the synth and the lint have passed if we got here).
node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(`\ninfra: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);' "$RESULTS"
