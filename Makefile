# The two commands of the set-up promise: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit bench clean browser java

# Headless Chromium for the HTML report's browser test (Debian package; installed when missing and
# when this machine can install packages — as root with apt-get, as on CI).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian chromium for the browser test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and cannot be installed here: the browser test will skip"; fi; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,spark]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shoreup demo

lint: $(STAMP)
	$(BIN)/ruff check shoreup tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# Java 17 for the Spark parity tests (Debian package, when missing and installable).
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian openjdk-17-jre-headless for the Spark tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else echo "java missing and cannot be installed here: the Spark tests will skip"; fi; }

unit: $(STAMP) browser java
	$(BIN)/python -m pytest -q -ra

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python bench/sshd_throughput.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
