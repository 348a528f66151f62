#!/usr/bin/env bash
# Lint the customer CloudFormation template(s) with cfn-lint and checkov (both must be clean;
# every exception is documented inline in the template), and check every pricing table is
# valid JSON with its provenance recorded. cfn-lint comes from the repo venv (.venv), checkov
# from a venv of its own (.venv-checkov): it pins boto3, and .venv's moto needs a newer one.
# Both are created if needed.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."

VENV=.venv
# Other scripts share the venv: serialise its creation and installs.
mkdir -p "$VENV"
exec 9>"$VENV/.dd0c-install.lock"
flock 9
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if [ ! -x "$VENV/bin/cfn-lint" ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check cfn-lint
fi
flock -u 9

CHECKOV_VENV=.venv-checkov
mkdir -p "$CHECKOV_VENV"
exec 8>"$CHECKOV_VENV/.dd0c-install.lock"
flock 8
if [ ! -x "$CHECKOV_VENV/bin/checkov" ]; then
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==3.*"
fi
flock -u 8

templates=(cloudformation/*.yaml)

echo "== cfn-lint ${templates[*]}"
"$VENV/bin/cfn-lint" --version
"$VENV/bin/cfn-lint" --include-checks I -- "${templates[@]}"
echo "   clean (errors, warnings and informational checks)"

echo "== checkov ${templates[*]}"
"$CHECKOV_VENV/bin/checkov" --version
# BC_SKIP_MAPPING: work offline (no download of Prisma Cloud guideline mappings).
BC_SKIP_MAPPING=TRUE "$CHECKOV_VENV/bin/checkov" --quiet --compact --framework cloudformation \
  $(printf -- '-f %s ' "${templates[@]}")

echo "== template tests (parameter patterns, trust, rule target; the role allows exactly the SDK calls in shared/src/accounts/aws.rs and denies secret-returning reads)"
"$VENV/bin/python" -m unittest discover -s cloudformation -p 'test_*.py'

echo "== pricing tables are valid JSON"
for f in pricing/tables/*.json; do
  python3 -m json.tool "$f" >/dev/null || { echo "invalid JSON: $f" >&2; exit 1; }
done
echo "   $(ls pricing/tables/*.json | wc -l) files valid"
python3 pricing/build_tables.py check
