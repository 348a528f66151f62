#!/usr/bin/env bash
# Pricing tables: unit tests of the table builder, reproducibility of the generated tables,
# provenance check of every table. Python 3.11 standard library only; no network.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1
cd "$(dirname "$0")/.."

echo "== pricing: python unit tests"
python3 -m unittest discover -s pricing -p 'test_*.py'

echo "== pricing: regenerated tables are byte-identical to the committed ones"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 pricing/build_tables.py fixtures --out "$tmp" >/dev/null
for f in "$tmp"/*.json; do
  name="$(basename "$f")"
  if ! cmp "$f" "pricing/tables/$name"; then
    echo "pricing/tables/$name is not what 'python3 pricing/build_tables.py fixtures' produces" >&2
    diff -u "pricing/tables/$name" "$f" | head -40 >&2 || true
    exit 1
  fi
  echo "   $name: identical"
done

echo "== pricing: every table is valid JSON with its provenance recorded"
python3 pricing/build_tables.py check
