# `make demo` and `make test` work on a fresh clone: they build .venv when it is missing.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The load engine gets its own venv: aiperf's pins (pandas 2, rich 14, transformers) clash with .venv's.
AIPERF_VENV := .venv-aiperf
AIPERF_STAMP := $(AIPERF_VENV)/.installed-stamp
AIPERF_VERSION := 0.13.0
export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: venv aiperf sysdeps demo test lint bench clean stack stack-down

$(STAMP): pyproject.toml
	@echo "== creating $(VENV) and installing launchgate with its dev extras (about 2 minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(PY) -m pip install -q -e '.[dev]' 2>&1 | { grep -vE '^WARNING: Location|BuildBackendWarning|^ *(!!|\*+|return|with strategy|Please be|name as your|$$)' || true; }
	$(PY) -c "import launchgate, prefect, great_expectations, boto3, slack_sdk"
	touch $(STAMP)

venv: $(STAMP)

# Made only when missing (no prerequisites): ~1.2 GB, about 3 minutes the first time.
$(AIPERF_STAMP):
	@echo "== creating $(AIPERF_VENV) with aiperf $(AIPERF_VERSION), the load-test engine (~1.2 GB, about 3 minutes)"
	$(PYTHON) -m venv $(AIPERF_VENV)
	$(AIPERF_VENV)/bin/python -m pip install -q --upgrade pip 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(AIPERF_VENV)/bin/python -m pip install -q 'aiperf==$(AIPERF_VERSION)' 2>&1 | { grep -v '^WARNING: Location' || true; }
	$(AIPERF_VENV)/bin/aiperf --version
	touch $(AIPERF_STAMP)

aiperf: $(AIPERF_STAMP)

demo: $(STAMP) $(AIPERF_STAMP)
	$(PY) examples/support-bot/demo.py

# Debian packages the tests run for real: prometheus (+ promtool), chromium (the HTML report's browser) and haproxy.
# Installed with apt-get when missing; that needs root (CI runs as root), otherwise it says what to run.
SYSDEPS_BINS := prometheus promtool chromium haproxy
sysdeps:
	@missing=""; for b in $(SYSDEPS_BINS); do command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  pkgs=$$(echo "$$missing" | sed 's/promtool/prometheus/' | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	  echo "== installing Debian packages for:$$missing ($$pkgs)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$pkgs >/dev/null; \
	  else echo "run as root: apt-get install -y $$pkgs" >&2; exit 2; fi; \
	fi

test: $(STAMP) $(AIPERF_STAMP) sysdeps
	$(VENV)/bin/pytest -q -n 2 --dist loadfile

# ruff, and the import contract (pyproject's [tool.importlinter]): launchgate/ never imports prefect, tasks or flows.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

bench: $(STAMP)
	$(PY) benchmarks/release_overhead.py

# The distributed path on loopback: Prefect server + work pool + deploy + process worker, then one
# release through the `release` deployment (runs in the worker). POSTGRES=1 uses PostgreSQL
# (Debian's package) instead of SQLite. `make stack-down` stops it all.
stack: $(STAMP)
	scripts/stack.sh up $(if $(POSTGRES),--postgres,)
	scripts/stack.sh release

stack-down:
	scripts/stack.sh down

clean:
	rm -rf .launchgate .pytest_cache
