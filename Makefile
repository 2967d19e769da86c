# `make demo` and `make test` work on a fresh clone: they build .venv when it is missing.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing launchgate with its dev extras (about 2 minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(PY) -m pip install -q -e '.[dev]' 2>&1 | { grep -vE '^WARNING: Location|BuildBackendWarning|^ *(!!|\*+|return|with strategy|Please be|name as your|$$)' || true; }
	$(PY) -c "import launchgate, prefect, great_expectations, boto3, slack_sdk"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) examples/support-bot/demo.py

test: $(STAMP)
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) benchmarks/release_overhead.py

clean:
	rm -rf .launchgate .pytest_cache
