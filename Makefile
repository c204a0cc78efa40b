# `make run` and `make test` do all set-up on a fresh machine (Python >= 3.11 as python3).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: install run test test-fast sync clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install  ## sandbox + Dagster UI on http://127.0.0.1:3000 with the schedule on
	VENV=$(VENV) ./scripts/run_demo.sh

test: install  ## every test, end to end included
	$(PY) -m pytest

clean:
	rm -rf .run .dagster_home data
