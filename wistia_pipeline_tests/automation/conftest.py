"""One real `dagster dev` (webserver, daemon, code server) for this folder, against a sandbox.

It starts once for the package's tests (the machine has two cores: never two at a time), with
a temporary DAGSTER_HOME holding a copy of the project's dagster.yaml, its own DuckDB file and
the demo's settings, and is stopped by killing its process group.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from wistia_pipeline.automation import SYNC_JOB_NAME, lookback_window, range_tags
from wistia_pipeline.sandbox import DemoScenario, Sandbox, load_demo

REPO = Path(__file__).resolve().parents[2]
DAGSTER = REPO / ".venv" / "bin" / "dagster"
LOCATION = "wistia_pipeline"
STARTUP_TIMEOUT = 180
RUN_TIMEOUT = 240
# Settings a developer's shell may hold that must not leak into the test's server.
PIPELINE_SETTINGS = ("WISTIA_API_TOKEN", "WISTIA_PUBLIC_TOKEN", "WISTIA_API_URL", "UPSALES_API_TOKEN",
                     "UPSALES_API_URL", "UPSALES_CUSTOMER_ID", "SYNC_ACTIVITIES", "SYNC_FORMS",
                     "ACTIVITY_SCORE", "MIN_PERCENT_WATCHED", "WISTIA_PROJECTS", "FORM_POLICY",
                     "LOOKBACK_DAYS", "WISTIA_PIPELINE_DB", "ALERT_WEBHOOK_URL")
DONE = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@dataclass
class DagsterDev:
    """A running `dagster dev` and the sandbox it syncs from."""

    url: str
    process: subprocess.Popen
    log: Path
    sandbox: Sandbox
    scenario: DemoScenario
    today: date
    db_path: Path

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                                 timeout=timeout)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"dagster dev exited ({self.process.returncode}):\n{self.tail()}")

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def launch_sync(self, first: date, last: date) -> str:
        """Launch job wistia_sync over first..last as one run (the schedule's tags); its run id."""
        data = self.graphql(LAUNCH_RUN, {"params": {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                         "jobName": SYNC_JOB_NAME},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in range_tags(first, last).items()]},
        }})["launchRun"]
        assert data["__typename"] == "LaunchRunSuccess", data
        return data["run"]["runId"]

    def run_status(self, run_id: str) -> str:
        data = self.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
        assert data["__typename"] == "Run", data
        return data["status"]

    def wait_for_run(self, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        def finished():
            self.alive()
            status = self.run_status(run_id)
            return status if status in DONE else None

        return wait_for(finished, timeout, f"run {run_id}", interval=1.0)


LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}"""

RUN_STATUS = """
query($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"""

LOCATIONS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def _location_loaded(dev: DagsterDev) -> bool:
    dev.alive()
    try:
        requests.get(f"{dev.url}/server_info", timeout=5).raise_for_status()
        data = dev.graphql(LOCATIONS)["workspaceOrError"]
    except requests.RequestException:
        return False
    for entry in data.get("locationEntries", []):
        if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED":
            error = entry["locationOrLoadError"]
            assert error["__typename"] == "RepositoryLocation", f"code location failed to load: {error}"
            return True
    return False


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the whole group (webserver, daemon, code server, run workers), then SIGKILL."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group, if any
    except ProcessLookupError:
        pass
    process.wait(timeout=10)


@pytest.fixture(scope="package")
def dagster_dev(tmp_path_factory) -> Iterator[DagsterDev]:
    tmp = tmp_path_factory.mktemp("dagster_dev")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    today = datetime.now(timezone.utc).date()
    with Sandbox() as sb:
        scenario = load_demo(sb, today)
        env = {k: v for k, v in os.environ.items() if k not in PIPELINE_SETTINGS}
        env.update(sb.env())
        env.update(scenario.env)
        env.update({
            "DAGSTER_HOME": str(home),
            "WISTIA_PIPELINE_DB": str(tmp / "pipeline.duckdb"),
            "DAGSTER_DISABLE_TELEMETRY": "1",
            "PYTHONUNBUFFERED": "1",
        })
        port = free_port()
        log = tmp / "dagster_dev.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(DAGSTER), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as a whole below
            )
        dev = DagsterDev(url=f"http://127.0.0.1:{port}", process=process, log=log, sandbox=sb,
                         scenario=scenario, today=today, db_path=tmp / "pipeline.duckdb")
        try:
            wait_for(lambda: _location_loaded(dev), STARTUP_TIMEOUT, "dagster dev to load the code location")
            yield dev
        finally:
            stop_process_group(process)


@dataclass
class LookbackRun:
    run_id: str
    status: str
    first: date
    last: date
    posted_external_ids: list[str]


@pytest.fixture(scope="package")
def lookback_run(dagster_dev: DagsterDev) -> LookbackRun:
    """One run of the sync job over the lookback window, launched through GraphQL (as a tick would)."""
    first, last = lookback_window(dagster_dev.today, int(dagster_dev.scenario.env["LOOKBACK_DAYS"]))
    run_id = dagster_dev.launch_sync(first, last)
    status = dagster_dev.wait_for_run(run_id)
    ids = [e["externalId"] for e in dagster_dev.sandbox.upsales.events]
    return LookbackRun(run_id, status, first, last, ids)


def days_ago(today: date, *days: int) -> list[date]:
    return [today - timedelta(days=n) for n in days]
