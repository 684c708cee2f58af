# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Serving needs the kiosk and its own dependencies only; the test tools (Playwright, Pillow,
# ruff, ...) come with `make test`, `make lint` and `make audit`.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.bench-installed
# The benchmark serves the kiosk from an environment with only its production
# dependencies, so resident memory is not inflated by test tools (Pillow, Playwright); with
# the hub's driver (the postgres extra), which the hub scenario's kiosks load.
SERVER_VENV := bench/out/server-venv
SERVER_STAMP := $(SERVER_VENV)/.installed

.PHONY: run test test-crash lint audit bench clean translations

$(RUN_STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	$(BIN)/python -m kiosk.i18n
	touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

$(BENCH_STAMP): $(TEST_STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

$(SERVER_STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(SERVER_VENV)
	$(SERVER_VENV)/bin/pip install --quiet --upgrade pip
	$(SERVER_VENV)/bin/pip install --quiet -e '.[postgres]'
	$(SERVER_VENV)/bin/python -m kiosk.i18n
	touch $(SERVER_STAMP)

## Serve the kiosk at http://127.0.0.1:8000 (HOST, PORT, KIOSK_INSTANCE override).
run: $(RUN_STAMP)
	$(BIN)/kiosk serve

## Run every test: unit, request level and browser (Debian's Chromium), on SQLite and on a
## throwaway PostgreSQL cluster. Two workers: the crash and contention tests (one group, on one
## worker) run beside the rest instead of before it.
TEST_WORKERS ?= 2
test: $(TEST_STAMP)
	$(BIN)/ruff check kiosk tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

## Benchmark the kiosk against a bare Flask floor (wrk from Debian); writes bench/results.md.
bench: $(BENCH_STAMP) $(SERVER_STAMP)
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "Installing wrk from Debian's packages..."; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }; \
	}
	$(BIN)/python -m bench.run --server-python $(SERVER_VENV)/bin/python \
	  --profile bench/out/profile-mixed.txt
	$(BIN)/python -m bench.import_beside

## The crash test at full strength: 200 SIGKILLs (issue 5's count) instead of `make test`'s 50.
## About four minutes; CI runs it after `make test`.
test-crash: $(TEST_STAMP)
	KIOSK_CRASH_KILLS=200 $(BIN)/python -m pytest -n 0 -q tests/test_crash.py

## Security audit: bandit on our code, pip-audit on every installed package (.ci/pip_audit.py
## says plainly when PyPI's vulnerability service cannot be reached, and does not fail then).
audit: $(TEST_STAMP)
	$(BIN)/bandit -q -r kiosk -c pyproject.toml
	$(BIN)/python .ci/pip_audit.py

## Gather every interface string into each catalogue (kiosk/translations/<code>/LC_MESSAGES/
## messages.po); then translate the new, empty ones. The kiosk compiles them when it starts.
translations: $(RUN_STAMP)
	$(BIN)/pybabel --quiet extract -F babel.cfg -k _l --no-location --sort-output --no-wrap \
	  -o kiosk/translations/messages.pot .
	$(BIN)/pybabel --quiet update -i kiosk/translations/messages.pot -d kiosk/translations \
	  --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/python -m kiosk.i18n --tidy

## Lint, format check and type check (mypy: [tool.mypy] in pyproject.toml).
lint: $(TEST_STAMP)
	$(BIN)/ruff check kiosk tests bench
	$(BIN)/ruff format --check kiosk tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(SERVER_VENV) .pytest_cache .ruff_cache .mypy_cache
