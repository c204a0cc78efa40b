"""Fixtures of the reliability tests: test-sized HTTP timeouts, the small world, a run helper."""

from __future__ import annotations

import pytest

from wistia_pipeline.cli import SyncReport, run_sync
from wistia_pipeline_tests.reliability import fast_http
from wistia_pipeline_tests.reliability.world import World, assert_complete, load_world


@pytest.fixture(autouse=True)
def fast_clients(monkeypatch):
    """Every in-process run in these tests uses short timeouts and quick backoff."""
    fast_http.install(monkeypatch)


@pytest.fixture
def world(sandbox, pipeline_env, today, monkeypatch) -> World:
    """The small world in the sandbox, its settings in the environment."""
    loaded = load_world(sandbox, today)
    for name, value in loaded.env.items():
        monkeypatch.setenv(name, value)
    return loaded


class Runner:
    """Runs the chain over the world's days and checks the end state."""

    def __init__(self, sandbox, pipeline_env, world: World) -> None:
        self.sandbox = sandbox
        self.db_path = pipeline_env["WISTIA_PIPELINE_DB"]
        self.world = world
        self.reports: list[SyncReport] = []

    def __call__(self) -> SyncReport:
        report = run_sync(self.world.first, self.world.last)
        self.reports.append(report)
        return report

    def until_complete(self, context: str = "", max_runs: int = 1) -> SyncReport:
        """Rerun (at most `max_runs` times) until a run succeeds; then everything must be there."""
        for _ in range(max_runs):
            report = self()
            if report.success:
                break
        assert report.success, f"rerun failed [{context}]: {report.error}"
        assert_complete(self.sandbox, self.db_path, self.world, context)
        return report


@pytest.fixture
def run(sandbox, pipeline_env, world) -> Runner:
    return Runner(sandbox, pipeline_env, world)
