# 247trader — every target installs what it needs into .venv first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR := user_data/data/coinbase
PYTEST_ARGS ?=

.PHONY: demo demo-live test test-all test-compat soak lint bench backtest data install clean promtool postgres \
	chromium walk-forward mutation

$(STAMP): pyproject.toml hatch_build.py
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 required, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## data: real Coinbase candles (committed) + generated pairs (seeded, regenerated at set-up)
data: $(STAMP)
	$(BIN)/python -m trader247.datagen --out $(DATA_DIR)

## demo: the main job — replay exchange + freqtrade trade --dry-run, offline, Ctrl-C stops both
demo: data
	$(BIN)/trader247 demo

## demo-live: the same in live mode (dry_run false): real orders on the replay's private API with a
## local demo key (created in user_data/replay-keys/ on the first run, never committed)
demo-live: data
	$(BIN)/trader247 demo --live

## promtool: Prometheus' rule/config checker, needed by tests/monitoring (Debian package `prometheus`)
promtool:
	@if command -v promtool >/dev/null 2>&1; then promtool --version 2>&1 | head -1; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	else echo "promtool is missing and this user cannot install packages: as root run" \
	  "'apt-get update && apt-get install -y --no-install-recommends prometheus'," \
	  "or put a promtool binary on PATH" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "promtool is missing and apt-get is not" \
	  "available: put a promtool binary on PATH" >&2; exit 1; fi; \
	set -e; \
	$$SUDO apt-get update -qq; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then \
	  $$SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	  echo "stopped and disabled the packaged prometheus service (it would hold port 9090)"; fi; \
	promtool --version 2>&1 | head -1

## postgres: PostgreSQL server binaries for the PostgreSQL tests (Debian package `postgresql`).
## The tests start and delete a throw-away cluster of their own (tests/pg.py); the packaged
## service is stopped and disabled so that it does not hold port 5432.
PG_FOUND = command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 \
	|| ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
postgres:
	@if $(PG_FOUND); then echo "PostgreSQL server binaries: $$(ls -d /usr/lib/postgresql/*/bin \
	  2>/dev/null | tail -1 || dirname "$$(command -v initdb)")"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	else echo "PostgreSQL is missing and this user cannot install packages: as root run" \
	  "'apt-get update && apt-get install -y --no-install-recommends postgresql'," \
	  "or put a directory with initdb and pg_ctl on PATH" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "PostgreSQL is missing and apt-get is" \
	  "not available: install the PostgreSQL server (initdb, pg_ctl) and put it on PATH" >&2; \
	  exit 1; fi; \
	set -e; \
	$$SUDO apt-get update -qq; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  postgresql; \
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then \
	  $$SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true; \
	elif command -v pg_ctlcluster >/dev/null 2>&1; then \
	  for c in $$(pg_lsclusters -h 2>/dev/null | awk '{print $$1"/"$$2}'); do \
	    $$SUDO pg_ctlcluster $${c%/*} $${c#*/} stop >/dev/null 2>&1 || true; done; fi; \
	echo "stopped the packaged PostgreSQL service (the tests run their own cluster)"; \
	ls -d /usr/lib/postgresql/*/bin | tail -1

## chromium: Debian's Chromium for the FreqUI browser test (tests/e2e/test_frequi.py drives it with
## Playwright's Python package and executable_path=/usr/bin/chromium: never `playwright install`,
## which downloads a browser build of its own that this offline set-up cannot fetch).
chromium:
	@if [ -x /usr/bin/chromium ]; then /usr/bin/chromium --version 2>/dev/null | head -1; exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; \
	else echo "chromium is missing and this user cannot install packages: as root run" \
	  "'apt-get update && apt-get install -y --no-install-recommends chromium'" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then echo "chromium is missing and apt-get is not" \
	  "available: install Chromium as /usr/bin/chromium" >&2; exit 1; fi; \
	set -e; \
	$$SUDO apt-get update -qq; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  -o DPkg::Lock::Timeout=300 chromium; \
	/usr/bin/chromium --version 2>/dev/null | head -1

## test: the full default suite (used by .ci/run) on TEST_WORKERS parallel workers (pytest-xdist;
## what each worker keeps to itself: tests/README.md), then the 15 slowest tests.
## The suite mostly waits on freqtrade / replay processes, so 4 workers beat 2 even on 2 cores;
## TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 4
test: data promtool postgres chromium
	$(BIN)/python -m pytest -m "not slow and not soak" -n $(TEST_WORKERS) --dist loadgroup \
	  --durations=15 $(PYTEST_ARGS)

test-all: data promtool postgres chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-compat: the compat subset (tests/compat, marker `compat`) on every supported freqtrade
## release (trader247.FREQTRADE_RELEASES), one venv each under .compat/ (reused), plus a release
## outside the range that must be refused; prints release -> pass/fail. Not part of `make test`.
test-compat: data
	$(BIN)/python tests/compat/run_matrix.py $(COMPAT_ARGS)

## soak: the full reliability suite (fault matrix, 20 kill -9 restarts, 200-pair load); tables in reports/reliability/
soak: data postgres
	$(BIN)/python -m pytest -m soak -s $(PYTEST_ARGS)
	@cat reports/reliability/*.md 2>/dev/null || true

## mutation: mutmut over the money modules ([tool.mutmut] in pyproject.toml), fast tests only;
## prints per-module scores and the survivors, writes reports/mutation/. Not part of `make test`.
## MODULES="src/trader247/core/fleet.py ..." restricts it; FRESH=1 re-traces which test runs what.
MODULES ?=
MUTATION_ARGS ?=
mutation: data postgres
	nice -n 10 $(BIN)/python -m tests.mutation.run $(if $(MODULES),--modules $(MODULES)) \
	  $(if $(FRESH),--fresh) $(MUTATION_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench user_data
	$(BIN)/mypy

## bench: every bench/*.py (the glob is the list; tests/test_bench_smoke.py runs each one's
## --smoke mode in make test). Runs them all, then lists missed goals (exit 3: ratios measured on
## this machine, reported) and fails only when a script is broken (any other non-zero exit).
BENCHES := $(sort $(wildcard bench/[!_]*.py))
BENCH_ARGS ?=
bench: data postgres
	@missed=""; broken=""; \
	for script in $(BENCHES); do \
	  echo "== $$script"; \
	  $(BIN)/python $$script $(BENCH_ARGS); code=$$?; \
	  if [ $$code -eq 3 ]; then missed="$$missed $$script"; \
	  elif [ $$code -ne 0 ]; then broken="$$broken $$script(exit $$code)"; fi; \
	done; \
	echo "== bench: $(words $(BENCHES)) scripts; goals missed:$${missed:- none}; broken:$${broken:- none}"; \
	test -z "$$broken"

## backtest: plain freqtrade backtesting over the bundled data (the replay exchange serves markets)
backtest: data
	$(BIN)/trader247 backtest -- --timerange 20250101-20250601 $(BACKTEST_ARGS)

## walk-forward: the README's out-of-sample table. Data sets: the bundled real Coinbase USD
## candles, two generated seeds (written to reports/walk-forward/data, not committed) and
## BTC-quoted pairs whose candles are cross rates of the real USD candles (datagen's ETH/BTC...).
WF_OUT := reports/walk-forward
WF_PAIRS_USD := BTC/USD ETH/USD SOL/USD ADA/USD
WF_PAIRS_BTC := ETH/BTC SOL/BTC ADA/BTC
WF_ARGS ?=
walk-forward: data
	for seed in 7 2026; do $(BIN)/python -m trader247.datagen --out $(WF_OUT)/data/seed$$seed \
	  --variant synthetic --seed $$seed --timeframes 1h --pairs $(WF_PAIRS_USD) $(WF_PAIRS_BTC); done
	$(BIN)/trader247 walk-forward --pairs $(WF_PAIRS_USD) --label "real Coinbase USD" \
	  --out $(WF_OUT)/real-usd $(WF_ARGS)
	$(BIN)/trader247 walk-forward --pairs $(WF_PAIRS_BTC) --wallet 1 --label "BTC-quoted (real)" \
	  --out $(WF_OUT)/real-btc $(WF_ARGS)
	for seed in 7 2026; do $(BIN)/trader247 walk-forward --data-dir $(WF_OUT)/data/seed$$seed \
	  --pairs $(WF_PAIRS_USD) --label "generated seed $$seed" --out $(WF_OUT)/seed$$seed $(WF_ARGS); done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
