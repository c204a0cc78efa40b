"""Run a sync in a child process that can be SIGKILLed, without paying Dagster's import each time.

The children are forked by a multiprocessing *forkserver* that imported the pipeline and Dagster
once (`preload`), so a child starts in ~0.1 s instead of ~3 s. A child gets its whole
environment (sandbox URLs and tokens, DuckDB file, DAGSTER_HOME, settings) as an argument, uses
test-sized HTTP timeouts, writes its output to `log_path` and its report as JSON to
`report_path`, and exits 0 when the run succeeded, 1 when it failed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from datetime import date
from pathlib import Path

# Imported here so that the forkserver, which preloads this module, holds them before forking.
import dagster  # noqa: F401
import wistia_pipeline.definitions  # noqa: F401
from wistia_pipeline.cli import run_sync
from wistia_pipeline_tests.reliability import fast_http

PIPELINE_VARIABLES = (
    "WISTIA_API_URL", "WISTIA_API_TOKEN", "WISTIA_PUBLIC_TOKEN", "UPSALES_API_URL", "UPSALES_API_TOKEN",
    "UPSALES_CUSTOMER_ID", "SYNC_ACTIVITIES", "SYNC_FORMS", "ACTIVITY_SCORE", "MIN_PERCENT_WATCHED",
    "WISTIA_PROJECTS", "FORM_POLICY", "LOOKBACK_DAYS", "WISTIA_PIPELINE_DB", "DAGSTER_HOME",
)

_context: multiprocessing.context.BaseContext | None = None


def context() -> multiprocessing.context.BaseContext:
    """The forkserver context, preloading this module (and so Dagster and the pipeline)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload([__name__])
    return _context


def _sync(env: dict[str, str], first: str, last: str, log_path: str, report_path: str) -> None:
    with open(log_path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    for name in PIPELINE_VARIABLES:
        os.environ.pop(name, None)
    os.environ.update(env)
    fast_http.install()
    report = run_sync(date.fromisoformat(first), date.fromisoformat(last))
    Path(report_path).write_text(json.dumps(
        {"success": report.success, "error": report.error, "posted": report.posted, "run_id": report.run_id}))
    sys.stdout.flush()
    os._exit(0 if report.success else 1)  # skip interpreter teardown: a child is disposable


def start_sync(env: dict[str, str], first: date, last: date, workdir: Path, name: str = "child"):
    """Start `run_sync(first, last)` in a forked child; returns the started Process."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = context().Process(
        target=_sync, name=name,
        args=(env, first.isoformat(), last.isoformat(), str(workdir / f"{name}.log"), str(workdir / f"{name}.json")),
        daemon=True,
    )
    process.start()
    return process


def read_report(workdir: Path, name: str = "child") -> dict | None:
    path = workdir / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
