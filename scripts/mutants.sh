#!/usr/bin/env bash
# Mutation testing of the decision cores (`make mutants`): for each core below, cargo-mutants
# mutates that one file and runs the tests of its package against each mutant. Results go to
# target/mutants/<core>/mutants.out/ (missed.txt lists the survivors); one summary line per
# core; exits non-zero when a core catches less than MUTANTS_MIN_PERCENT (90) of its viable
# mutants, or when cargo-mutants itself fails (for instance the tests fail unmutated).
#
#   scripts/mutants.sh                  every core
#   scripts/mutants.sh batch signals    only these cores (names from the table)
#   MUTANTS_ARGS="--iterate" scripts/mutants.sh batch   extra cargo-mutants flags
#
# Shared settings (timeouts, the test targets) are in .cargo/mutants.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

# name | package (its tests are run) | file | extra cargo-mutants arguments
#
# pricing: bench_lookup is `make bench`'s timing loop (it returns how long a fixed mix of
#   lookups took); which lookups it times is no decision, so its mutants are not counted.
# drift-severity: of drift.rs, the severity weights of the stack score and the validation of
#   the rules file (rule severities, conditions). cargo-mutants 27 applies --re to every
#   mutant but the deletion of a field from a struct literal, so Stack::declared's come too.
CORES='
batch          | dd0c-shared     | shared/src/batch.rs               |
signatures     | dd0c-shared     | shared/src/signatures.rs          |
governance     | dd0c-shared     | shared/src/governance/mod.rs      |
pricing        | dd0c-shared     | shared/src/pricing/mod.rs         | --exclude-re bench_lookup
signals        | dd0c-scorer     | functions/scorer/src/signals.rs   |
drift-rules    | dd0c-classifier | functions/classifier/src/rules.rs |
drift-cause    | dd0c-classifier | functions/classifier/src/cause.rs |
forwarding     | dd0c-shared     | shared/src/forwarding.rs          |
drift-severity | dd0c-shared     | shared/src/domain/drift.rs        | --re (severity_weight|stack_drift_score|RuleSet::parse|DriftRule::validate)
'
MIN_PERCENT=${MUTANTS_MIN_PERCENT:-90}
CARGO=${CARGO:-cargo}

if ! "$CARGO" mutants --version >/dev/null 2>&1; then
    "$CARGO" install cargo-mutants --locked
fi

count() { # lines in a mutants.out list (absent: 0)
    if [[ -f $1 ]]; then grep -c . "$1" || true; else echo 0; fi
}

summaries=()
status=0
while IFS='|' read -r name package file extra; do
    name=$(echo "$name" | xargs)
    [[ -z $name ]] && continue
    package=$(echo "$package" | xargs)
    file=$(echo "$file" | xargs)
    extra=$(echo "$extra" | xargs)
    if (($# > 0)) && [[ " $* " != *" $name "* ]]; then
        continue
    fi
    out="target/mutants/$name"
    mkdir -p "$out"
    echo "== $name: $file against the tests of $package"
    args=(--file "$file" --package "$package" --output "$out")
    if [[ -n $extra ]]; then
        # shellcheck disable=SC2206 # the table's extra arguments are split on spaces
        args+=($extra)
    fi
    # shellcheck disable=SC2206
    args+=(${MUTANTS_ARGS:-})
    rc=0
    # </dev/null: the table is this loop's standard input.
    "$CARGO" mutants "${args[@]}" </dev/null || rc=$?
    # 0: all caught; 2: some missed; 3: some timed out. Anything else: no result.
    if ((rc != 0 && rc != 2 && rc != 3)); then
        summaries+=("$(printf '%-15s cargo-mutants failed (exit %d); see %s/mutants.out/' "$name" "$rc" "$out")")
        status=1
        continue
    fi
    dir="$out/mutants.out"
    caught=$(count "$dir/caught.txt")
    missed=$(count "$dir/missed.txt")
    unviable=$(count "$dir/unviable.txt")
    timeout=$(count "$dir/timeout.txt")
    viable=$((caught + missed + timeout))
    if ((viable == 0)); then
        percent=100
    else
        percent=$((100 * caught / viable))
    fi
    verdict=ok
    if ((percent < MIN_PERCENT)); then
        verdict="UNDER ${MIN_PERCENT}%"
        status=1
    fi
    summaries+=("$(printf '%-15s caught %3d  missed %3d  unviable %3d  timeout %3d  %3d%% of %d viable  %s' \
        "$name" "$caught" "$missed" "$unviable" "$timeout" "$percent" "$viable" "$verdict")")
done <<<"$CORES"

echo
echo "Mutation testing (missed mutants: target/mutants/<core>/mutants.out/missed.txt)"
printf '%s\n' "${summaries[@]}"
exit "$status"
