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
  # A table the scheduled workflow (.github/workflows/prices.yml) rebuilt from the AWS Price
  # List is no longer the fixture's; the offer files are not committed.
  if python3 -c 'import json, sys; sys.path.insert(0, "pricing"); import build_tables as bt; sys.exit(0 if bt.from_offers(json.load(open(sys.argv[1]))) else 1)' "pricing/tables/$name"; then
    echo "   $name: rebuilt from AWS Price List offer files (not compared with the fixtures)"
    continue
  fi
  if ! cmp "$f" "pricing/tables/$name"; then
    echo "pricing/tables/$name is not what 'python3 pricing/build_tables.py fixtures' produces" >&2
    diff -u "pricing/tables/$name" "$f" | head -40 >&2 || true
    exit 1
  fi
  echo "   $name: identical"
done

echo "== pricing: every table is valid JSON with its provenance recorded"
python3 pricing/build_tables.py check
