# dd0c — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
CARGO ?= cargo
export CDK_DISABLE_VERSION_CHECK := 1
export MOTO_SERVER := $(CURDIR)/$(VENV)/bin/moto_server

.PHONY: demo test test-rust test-future-clock test-pricing test-templates test-infra test-workflows \
        test-dashboard test-api-fuzz e2e chaos bench fuzz mutants lambdas lint venv clean-venv

## make demo: replay the bundled data through the whole pipeline, print the alerts, then
## serve the API and dashboard on http://127.0.0.1:8787 (DEMO_EXIT=1 exits after the replay).
demo:
	$(CARGO) build -p dd0c-cli
	./target/debug/dd0c demo

## make test: install what the tests need, then run every test.
test: venv test-rust test-future-clock test-pricing test-templates test-infra test-workflows test-dashboard test-api-fuzz e2e

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# One build of everything (the dd0c binary included, which the dashboard and fuzz tests
# run) with the same feature set as the tests, so nothing is compiled twice.
test-rust: venv
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace

## The Rust tests again with the clock two years ahead (decision 1120): nothing may pass only
## near the day it was written. After test-rust, whose executables it runs.
test-future-clock: test-rust
	CARGO=$(CARGO) scripts/test-future-clock.sh

test-pricing: venv
	scripts/test-pricing.sh

test-templates: venv
	scripts/test-templates.sh

test-infra: venv
	scripts/test-infra.sh

test-workflows: venv
	scripts/test-workflows.sh

test-dashboard:
	scripts/test-dashboard.sh

test-api-fuzz: venv
	scripts/test-api-fuzz.sh

## make e2e: the local cloud — the synthesized CDK stack's real function binaries on moto,
## API Gateway, EventBridge and SQS emulated from the template — and every user journey
## (scripts/test-e2e.sh -k NAME runs one). docs/decisions/0800-local-cloud.md.
e2e: venv
	scripts/test-e2e.sh

## make chaos: 100k events through the embedded pipeline with faults injected at random at every
## port (throttling, condition races, duplicated/redelivered/reordered messages, handler crashes,
## Slack 500/429), against a fault-free run; prints the summary (cli/tests/chaos).
## Two fault rates per port call: 5% (most messages meet a fault; many exhaust their three
## receives) and 1% (few dead letters, so most findings are held to the fault-free run's).
## CHAOS_EVENTS, CHAOS_RATES and CHAOS_SEED override; `make test` runs it on 5,000 events.
## Then CHAOS_CLOUD_EVENTS events from CHAOS_ACCOUNTS customers through the local cloud while function processes are killed
## mid-batch and invocations time out, a fault every CHAOS_INTERVAL seconds on average
## (tests/e2e/test_chaos.py; `make test` runs 60 events from 3 customers, a fault every 2 s).
CHAOS_EVENTS ?= 100000
CHAOS_RATES ?= 0.05 0.01
CHAOS_CLOUD_EVENTS ?= 2000
CHAOS_ACCOUNTS ?= 5
CHAOS_INTERVAL ?= 6
chaos: venv
	for rate in $(CHAOS_RATES); do \
		CHAOS_EVENTS=$(CHAOS_EVENTS) CHAOS_RATE=$$rate $(CARGO) test -q -p dd0c-cli --test chaos -- --nocapture; \
	done
	CHAOS_CLOUD_EVENTS=$(CHAOS_CLOUD_EVENTS) CHAOS_ACCOUNTS=$(CHAOS_ACCOUNTS) CHAOS_INTERVAL=$(CHAOS_INTERVAL) scripts/test-e2e.sh -k chaos -s

## make bench: scorer accuracy; replay throughput against serde_json on the same bytes and peak
## memory, with `dd0c replay` run on ~100k and ~1M simulated events; pricing lookups and price
## coverage; the AWS cost per million forwarded events at 50M and 1M events a month, metered by
## `dd0c replay --cost` against the $1.00 goal (scripts/bench-cost.sh); each Lambda's size and
## cold start (scripts/bench-lambdas.sh: the arm64 release bootstrap zipped, and the median init
## of BENCH_LAMBDA_RUNS cold starts of the x86_64 release binary under the Runtime API emulator,
## spawn to first `next`; goals 5 MB and 20 ms; target/bench/lambdas.json;
## docs/decisions/1020-lambda-size-and-cold-start.md); then the load journey in the local cloud
## (LOAD_ACCOUNTS accounts forwarding at once; sustained events per second and the largest
## per-account delay, also in target/e2e/load.json).
LOAD_ACCOUNTS ?= 100
LOAD_EVENTS_PER_ACCOUNT ?= 5
bench: venv
	$(CARGO) build --profile bench-fast -p dd0c-cli
	./target/bench-fast/dd0c bench
	scripts/bench-cost.sh
	scripts/bench-lambdas.sh
	LOAD_ACCOUNTS=$(LOAD_ACCOUNTS) LOAD_EVENTS_PER_ACCOUNT=$(LOAD_EVENTS_PER_ACCOUNT) scripts/test-e2e.sh -k load -s

## make fuzz: coverage-guided fuzzing (cargo-fuzz on nightly, both installed when missing) of
## every parser of outside bytes, FUZZ_SECONDS per target (default 60); prints executions and
## crashes per target and copies a crash input into fuzz/corpus/<target>/ (scripts/fuzz.sh).
## The short run is part of make test (fuzz/targets/tests/corpus.rs).
fuzz:
	scripts/fuzz.sh

## make mutants: mutation testing of the decision cores (cargo-mutants, installed if missing):
## one summary line per core, results in target/mutants/<core>/; fails under 90% caught.
## The cores and their test packages: scripts/mutants.sh (which also runs a few by name).
mutants:
	scripts/mutants.sh

## make lambdas: every function cross-compiled for Lambda (arm64) into target/lambda/<name>/bootstrap.
lambdas:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet cargo-lambda
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --profile deploy --arm64 \
		$(foreach f,ingest normalizer scorer classifier notifier digest slack stripe api,--bin $(f))

## make lint: formatting and clippy with warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean-venv:
	rm -rf $(VENV) .venv-checkov
