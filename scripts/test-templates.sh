#!/usr/bin/env bash
# Lint the customer CloudFormation template(s) with cfn-lint and checkov (both must be clean;
# every exception is documented inline in the template), and check every pricing table is
# valid JSON with its provenance recorded. Uses the repo venv (.venv), creating it if needed.
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
missing=()
[ -x "$VENV/bin/cfn-lint" ] || missing+=(cfn-lint)
[ -x "$VENV/bin/checkov" ] || missing+=(checkov)
if [ "${#missing[@]}" -gt 0 ]; then
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "${missing[@]}"
fi
flock -u 9

templates=(cloudformation/*.yaml)

echo "== cfn-lint ${templates[*]}"
"$VENV/bin/cfn-lint" --version
"$VENV/bin/cfn-lint" --include-checks I -- "${templates[@]}"
echo "   clean (errors, warnings and informational checks)"

echo "== checkov ${templates[*]}"
"$VENV/bin/checkov" --version
# BC_SKIP_MAPPING: work offline (no download of Prisma Cloud guideline mappings).
BC_SKIP_MAPPING=TRUE "$VENV/bin/checkov" --quiet --compact --framework cloudformation \
  $(printf -- '-f %s ' "${templates[@]}")

echo "== template tests (parameter patterns, trust, rule target; the role allows exactly the SDK calls in shared/src/accounts/aws.rs and denies secret-returning reads)"
"$VENV/bin/python" -m unittest discover -s cloudformation -p 'test_*.py'

echo "== pricing tables are valid JSON"
for f in pricing/tables/*.json; do
  python3 -m json.tool "$f" >/dev/null || { echo "invalid JSON: $f" >&2; exit 1; }
done
echo "   $(ls pricing/tables/*.json | wc -l) files valid"
python3 pricing/build_tables.py check
