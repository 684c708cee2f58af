# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint audit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Serve the kiosk at http://127.0.0.1:8000 (HOST, PORT, KIOSK_INSTANCE override).
run: $(STAMP)
	$(BIN)/kiosk serve

## Run every test: unit, request level and browser (Debian's Chromium).
test: $(STAMP)
	$(BIN)/ruff check kiosk tests
	$(BIN)/python -m pytest

## Security audit: bandit on our code, pip-audit on every installed package (.ci/pip_audit.py
## says plainly when PyPI's vulnerability service cannot be reached, and does not fail then).
audit: $(STAMP)
	$(BIN)/bandit -q -r kiosk -c pyproject.toml
	$(BIN)/python .ci/pip_audit.py

lint: $(STAMP)
	$(BIN)/ruff check kiosk tests
	$(BIN)/ruff format --check kiosk tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
