# Everyday commands. `make run` starts the daemon with the embedded defaults
# (dry-run executor, SQLite state in .remediator-state/); `make test` runs
# lint, type checks and the whole test suite, installing what they need.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test test-slow lint typecheck bench demo deps system-deps clean

$(BIN)/remediator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

deps: $(BIN)/remediator

# Debian's prometheus and prometheus-alertmanager give the tests the real
# promtool, amtool and servers; installed only when missing.
system-deps:
	@command -v promtool >/dev/null && command -v amtool >/dev/null \
		&& command -v prometheus-alertmanager >/dev/null || bash .ci/system-deps

run: deps
	$(BIN)/remediator serve --config remediator.example.yaml

lint: deps
	$(BIN)/ruff check remediator tests scripts

typecheck: deps
	$(BIN)/mypy

test: deps system-deps lint typecheck
	$(BIN)/python -m pytest -q

test-slow: deps system-deps
	$(BIN)/python -m pytest -q -m slow

# wrk (Debian's) drives the throughput figure; installed only when missing.
bench: deps system-deps
	@command -v wrk >/dev/null || { SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

demo: deps system-deps
	$(BIN)/python scripts/demo.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis .remediator-state
