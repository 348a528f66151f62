#!/usr/bin/env bash
# make bench: what the deployed pipeline costs per million forwarded CloudTrail events, metered by
# `dd0c replay --cost` over ~100k simulated records (50 accounts, 38 days: detection-dense, a cost
# event in four of those forwarded) and over real CloudTrail (the public invictus-ir dataset in
# tests/fixtures, 2,900 records of one account), at 50 million events a month (the goal's volume)
# and at 1 million. Only what the customer's rule forwards is billed (about a third of the
# simulated records, 271 of the real ones; the rest are reads, failed calls and other services).
# Reports in target/bench/cost-<input>-<volume>.json. docs/decisions/1030-cost-per-event.md,
# 1060-ingest-inbox.md, 1080-billed-per-forwarded-event.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DD0C=${DD0C:-target/bench-fast/dd0c}
OUT=target/bench
INPUT=$OUT/cost-input
mkdir -p "$OUT"
if [ ! -f "$INPUT/labels.jsonl" ]; then
    rm -rf "$INPUT"
    "$DD0C" simulate --seed 4242 --days 38 --accounts 50 --out "$INPUT" >/dev/null
fi
REAL=tests/fixtures/public/cloudtrail/invictus-ir-aws-dataset
for monthly in 50000000 1000000; do
    echo "simulated input ($INPUT/events):"
    "$DD0C" replay --quiet --cost "$OUT/cost-simulated-$monthly.json" --monthly-events "$monthly" "$INPUT/events" 2>&1 \
        | sed -n "/does not forward/p;/^dd0c cost at/,\$p"
    echo "real CloudTrail ($REAL):"
    "$DD0C" replay --quiet --cost "$OUT/cost-real-$monthly.json" --monthly-events "$monthly" "$REAL" 2>&1 \
        | sed -n "/does not forward/p;/^dd0c cost at/,/^  total/p"
done
