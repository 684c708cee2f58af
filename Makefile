# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

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

lint: $(STAMP)
	$(BIN)/ruff check kiosk tests
	$(BIN)/ruff format --check kiosk tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
