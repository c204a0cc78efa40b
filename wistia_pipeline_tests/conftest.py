"""Shared fixtures: a running sandbox, and an environment pointing the pipeline at it; a PostgreSQL
server of the session's own (postgres.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from wistia_pipeline.sandbox import Sandbox, load_demo
from wistia_pipeline_tests.postgres import postgres_db, postgres_server  # noqa: F401 (fixtures)


@pytest.fixture
def today() -> date:
    """The UTC day the test's data is built around, fixed once so midnight cannot move it."""
    return datetime.now(timezone.utc).date()


@pytest.fixture
def sandbox():
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def pipeline_env(sandbox, tmp_path, monkeypatch):
    """Environment for a pipeline run against the sandbox, with its own DuckDB and DAGSTER_HOME."""
    env = {
        **sandbox.env(),
        "WISTIA_PIPELINE_DB": str(tmp_path / "pipeline.duckdb"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    (tmp_path / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for name in ("WISTIA_PROJECTS", "MIN_PERCENT_WATCHED", "SYNC_FORMS", "SYNC_ACTIVITIES", "FORM_POLICY",
                 "ACTIVITY_SCORE", "LOOKBACK_DAYS", "WISTIA_PUBLIC_TOKEN", "UPSALES_CUSTOMER_ID", "FORM_SCORE",
                 "ACTIVITY_NOTIFY", "ACTIVITY_NOTIFY_MIN_PERCENT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def demo(sandbox, pipeline_env, today, monkeypatch):
    """The sandbox loaded with the demo data, and the demo's settings in the environment."""
    scenario = load_demo(sandbox, today)
    for name, value in scenario.env.items():
        monkeypatch.setenv(name, value)
    return scenario
