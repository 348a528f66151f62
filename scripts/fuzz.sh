#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of every parser that takes outside bytes:
# each target of fuzz/fuzz_targets/ runs for FUZZ_SECONDS (default 60) from its seed corpus
# (fuzz/corpus/<target>/), then one line per target says how many inputs ran and whether it
# crashed. A crash input is copied into fuzz/corpus/<target>/ so that the corpus test of
# `make test` (fuzz/targets/tests/corpus.rs) replays it until the bug is fixed.
#
# Settings: FUZZ_SECONDS per target; FUZZ_TARGETS (space-separated, default all);
# FUZZ_SANITIZER (address, none, …; default address); FUZZ_WORK (generated corpus, crash
# artifacts and logs; default fuzz/work, git-ignored); FUZZ_TARGET_DIR (default
# $CARGO_TARGET_DIR/fuzz or target/fuzz). Installs nightly and cargo-fuzz when missing.
# Exits 1 when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
FUZZ_WORK=${FUZZ_WORK:-fuzz/work}
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/fuzz}
else
  FUZZ_TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target/fuzz}
fi
if [ -z "${FUZZ_TARGETS:-}" ]; then
  FUZZ_TARGETS=$(ls fuzz/fuzz_targets/ | sed -n 's/\.rs$//p' | tr '\n' ' ')
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi

# One build of every target (16 codegen units: a much shorter build on a small machine for
# slightly slower runs).
FUZZ_FLAGS=(--target-dir "$FUZZ_TARGET_DIR" --sanitizer "$FUZZ_SANITIZER" --codegen-units 16)
cargo +nightly fuzz build "${FUZZ_FLAGS[@]}"

mkdir -p "$FUZZ_WORK"
SUMMARY="$FUZZ_WORK/summary.txt"
printf '%-22s %8s %12s %10s %8s  %s\n' target seconds executions exec/s crashes artifact >"$SUMMARY"
FAILED=0
for target in $FUZZ_TARGETS; do
  corpus="$FUZZ_WORK/corpus/$target"
  artifacts="$FUZZ_WORK/artifacts/$target"
  log="$FUZZ_WORK/$target.log"
  mkdir -p "$corpus" "$artifacts"
  rm -f "$artifacts"/*
  echo "== $target: ${FUZZ_SECONDS}s (log: $log)"
  # New inputs go to the first corpus directory (generated), never to the checked-in seeds.
  status=0
  cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
    -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  # libFuzzer's final stats; a run that died early has at least its last `#N` status line.
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ -z "$execs" ]; then
    execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=0
  saved=-
  for artifact in "$artifacts"/*; do
    [ -e "$artifact" ] || continue
    crashes=$((crashes + 1))
    name=$(basename "$artifact")
    cp "$artifact" "fuzz/corpus/$target/$name"
    saved="fuzz/corpus/$target/$name"
  done
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    echo "$target: cargo fuzz exited with $status and no artifact; see $log" >&2
    crashes=1
  fi
  if [ "$crashes" -gt 0 ]; then
    FAILED=1
    grep -E 'panicked at|ERROR: (libFuzzer|AddressSanitizer)' "$log" | head -3 >&2 || true
  fi
  printf '%-22s %8s %12s %10s %8s  %s\n' "$target" "$FUZZ_SECONDS" "${execs:-0}" "${rate:-?}" \
    "$crashes" "$saved" | tee -a "$SUMMARY"
done

echo
cat "$SUMMARY"
if [ "$FAILED" -ne 0 ]; then
  echo "A crash input was saved in fuzz/corpus/<target>/ (the corpus test now replays it): fix the bug." >&2
  exit 1
fi
