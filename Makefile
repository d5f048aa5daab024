# ACE-Step LoRA Studio. `make run` to start, `make test` to test; both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_ROOT ?= $(or $(ACESTEP_DEMO_ROOT),./demo_assets)

CHROMIUM ?= /usr/bin/chromium

.PHONY: setup demo run test test-fast e2e lint bench clean

setup: $(STAMP)

# torch first, pinned, so pip takes this machine's local CPU wheel instead of a CUDA download.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: setup
	$(PY) -m daemon.demo --root $(DEMO_ROOT)

run: demo
	$(PY) run_dashboard.py --start-daemon --demo-root $(DEMO_ROOT)

# Two workers, a test file each at a time: many tests wait on a daemon or a subprocess, so two
# cores finish the suite in about 9 minutes instead of 15 (TEST_WORKERS=0 runs it in one process).
TEST_WORKERS ?= 2
TEST_ARGS := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: setup
	$(PY) -m pytest -q $(TEST_ARGS)

test-fast: setup
	$(PY) -m pytest -q $(TEST_ARGS) -m "not slow"

# The dashboard in a real browser: Debian's Chromium driven by Playwright (never a browser download).
# Screenshots of every page land in test-artifacts/e2e/.
e2e: setup
	test -x $(CHROMIUM) || (apt-get update -qq && apt-get install -y -qq chromium)
	mkdir -p test-artifacts
	ACESTEP_E2E=1 ACESTEP_E2E_CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -p no:cacheprovider \
		--basetemp=test-artifacts/e2e-tmp tests/e2e

lint: setup
	$(PY) -m ruff check shared daemon dashboard tests bench run_daemon.py run_dashboard.py

bench: setup
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .studio .pytest_cache test-artifacts
