# `make run` and `make test` do all set-up on a fresh machine (Python >= 3.11 as python3).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# setuptools notes every editable install of a flat layout ("Editable installation. Please be careful
# with folders ... with the same name as your package"): ten lines on each install, nothing to act on.
QUIET_PIP := PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip

.PHONY: install run test test-fast sync clean bench bench-smoke bench-accounts

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(QUIET_PIP) install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install  ## sandbox + Dagster UI on http://127.0.0.1:3000 with the schedule on
	VENV=$(VENV) ./scripts/run_demo.sh

test: install  ## every test, end to end included
	$(PY) -m pytest

test-fast: install  ## all but the end-to-end modules (marker e2e): about a minute
	$(PY) -m pytest -m "not e2e"

clean:
	rm -rf .run .dagster_home data

# Benchmarks (benchmarks/, figures in BENCHMARKS.md). The bench extra adds dlt, the peer compared with.
$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(QUIET_PIP) install --quiet -e ".[dev,bench]"
	touch $@

BENCH_ARGS ?=
bench: $(VENV)/.bench-installed  ## production scale (3 days x 100,000 views; about an hour on 2 cores: 18 minutes, then 40 for the steady-state phase; mostly rate limits), writes BENCHMARKS.md and its figures
	$(PY) -m benchmarks --json benchmarks/results/after.json $(BENCH_ARGS)

BENCH_SMOKE_OUTPUT ?= .run/bench-smoke.md
bench-smoke: $(VENV)/.bench-installed  ## every measurement at a small scale, under a minute (BENCHMARKS.md untouched)
	@mkdir -p $(dir $(BENCH_SMOKE_OUTPUT))
	$(PY) -m benchmarks --label smoke --output $(BENCH_SMOKE_OUTPUT) --repeat 1 \
		--days 2 --views-per-day 1950 --contacts 5000 --accounts 1000 --posts 100 \
		--sql-events 50000 --window-events 50000 --latency-views-per-day 500 --noop-views-per-day 300 \
		--noop-pause 0 $(BENCH_ARGS)

# Many accounts (issue #14): one schedule tick of BENCH_ACCOUNTS demo-size accounts through the real
# dagster-daemon, on SQLite and on PostgreSQL (Debian's postgresql, as the tests use); writes
# benchmarks/results/accounts.json and the section "Many accounts" of BENCHMARKS.md. 25 to 40 minutes
# at 50 accounts on 2 busy cores (four ticks of 50 runs, two runs at once).
BENCH_ACCOUNTS ?= 50
BENCH_ACCOUNTS_STORAGE ?= sqlite,postgres
bench-accounts: install  ## N accounts (BENCH_ACCOUNTS, default 50) of demo size: a tick's wall time, Dagster's overhead, memory, accounts per core
	$(PY) -m benchmarks.accounts --accounts $(BENCH_ACCOUNTS) --storage $(BENCH_ACCOUNTS_STORAGE) $(BENCH_ARGS)
