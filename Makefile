# lienthong: the two commands a fresh machine needs are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck bench docs clean browser system-packages fuzz

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## Start the main job on the embedded default with demo data: the hub on SQLite (var/lienthong.db).
## The demo's test PKI ("giả lập") is made once in var/pki (serve it: lienthong pki serve var/pki).
run: $(STAMP)
	$(BIN)/lienthong demo
	test -f var/pki/pki.json || $(BIN)/lienthong pki init var/pki
	$(BIN)/lienthong hub --demo

## Debian packages the tests use as real parts: Chromium for the browser tests (Playwright drives
## it; it never downloads a browser), SoftHSM2 as the PKCS#11 token of the signing tests, the
## openssl tool as an independent verifier of signatures, and postgresql-client's pg_dump and
## pg_restore for the backups of a PostgreSQL hub (docs/backups.md). Installed with apt-get
## when run as root; otherwise the command is printed, and the tests that need them are skipped
## outside CI (with CI=true they fail).
SYSTEM_PACKAGES ?= chromium softhsm2 openssl postgresql-client
SYSTEM_TOOLS ?= /usr/bin/chromium /usr/bin/softhsm2-util /usr/bin/openssl /usr/bin/pg_dump
system-packages:
	@missing=""; for tool in $(SYSTEM_TOOLS); do test -x $$tool || missing="$$missing $$tool"; done; \
	if test -z "$$missing"; then :; \
	elif test "$$(id -u)" = 0; then \
		echo "Installing Debian packages for the tests (apt-get install $(SYSTEM_PACKAGES)):$$missing"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(SYSTEM_PACKAGES); \
	elif test "$$CI" = true; then \
		echo "missing$$missing and this is not root: run 'sudo apt-get install -y $(SYSTEM_PACKAGES)'" >&2; \
		exit 1; \
	else \
		echo "*** missing$$missing: the tests that need them will be SKIPPED." >&2; \
		echo "*** Install them with: sudo apt-get install -y $(SYSTEM_PACKAGES)" >&2; \
	fi

## Kept for the README's older instructions: the same as system-packages.
browser: system-packages

## The whole suite: ruff, mypy (strict on src/), pytest in TEST_WORKERS processes (pytest-xdist:
## many tests wait on servers, subprocesses or a browser, so two workers fit on two cores).
TEST_WORKERS ?= 2
test: $(STAMP) system-packages
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS)

## A longer run of the hub's fuzzing suites (make test sends 600 requests per database, and
## schemathesis 150 generated requests per envelope operation): FUZZ_REQUESTS and
## OPENAPI_EXAMPLES per database, FUZZ_SEED to replay a run.
FUZZ_REQUESTS ?= 20000
OPENAPI_EXAMPLES ?= 2000
FUZZ_SEED ?= 120
fuzz: $(STAMP)
	LIENTHONG_FUZZ_REQUESTS=$(FUZZ_REQUESTS) LIENTHONG_FUZZ_SEED=$(FUZZ_SEED) \
		$(BIN)/pytest -q -n 2 tests/hub/test_fuzz.py
	LIENTHONG_OPENAPI_EXAMPLES=$(OPENAPI_EXAMPLES) LIENTHONG_OPENAPI_SEED=$(FUZZ_SEED) \
		$(BIN)/pytest -q -n 2 tests/hub/test_openapi.py -k schemathesis

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## Benchmarks; results go to docs/benchmarks.md.
bench: $(STAMP)
	$(BIN)/python bench/run.py --write docs/benchmarks.md

## Regenerate the generated documentation (docs/packets.md).
docs: $(STAMP)
	$(BIN)/lienthong spec export --format markdown --output docs/packets.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
