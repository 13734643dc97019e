# The two Quick start commands are `make run` and `make test`; each prepares what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PLUGINS := $(wildcard plugins/*/pyproject.toml)
APT_PACKAGES := zookeeper postgresql-15 chromium
APT_STAMP := $(VENV)/.apt

LINT_PATHS := $(wildcard moroccron tests bench plugins examples)
FORMAT_PATHS := $(wildcard moroccron tests plugins bench examples)

.PHONY: run test bench lint typecheck venv system-deps clean docs dist

venv: $(STAMP)

$(STAMP): pyproject.toml $(PLUGINS) constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[test]' $(foreach p,$(PLUGINS),-e $(dir $(p)))
	@touch $@

# Real servers the tests start themselves (ZooKeeper, PostgreSQL, Chromium): Debian packages.
system-deps: $(APT_STAMP)

$(APT_STAMP): | $(STAMP)
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing system packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

run: $(STAMP)
	$(VENV)/bin/moroccron serve --jobs examples/jobs

test: $(STAMP) system-deps lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: $(STAMP) system-deps
	$(PIP) install -q -c constraints.txt -e '.[bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

# The generated parts of the documentation (the field tables of docs/jobs.md).
docs: $(STAMP)
	$(PY) -m moroccron.docgen jobs

# sdist and wheel of the core and of each plugin, into dist/ (DIST_DIR=... elsewhere). Each
# wheel is built from its sdist, unpacked elsewhere: what the index would build, and no
# stale build/ folder can slip a deleted module into a wheel.
DIST_DIR ?= dist
dist: $(STAMP)
	rm -rf $(DIST_DIR) && mkdir -p $(DIST_DIR)
	$(PY) -m build --outdir $(DIST_DIR) .
	$(foreach p,$(PLUGINS),$(PY) -m build --outdir $(DIST_DIR) $(dir $(p)) &&) true
	@ls -1 $(DIST_DIR)

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(FORMAT_PATHS)

# Static types ([tool.mypy] in pyproject.toml: the core strictly, the rest of moroccron too).
typecheck: $(STAMP)
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
