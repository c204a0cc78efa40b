"""`make run` as a newcomer uses it: scripts/run_demo.sh starts the sandbox and `dagster dev`, a
sync is materialized from the UI (GraphQL, as its Materialize dialog does), and
`wistia-pipeline explain` in another shell, which sources only the file the README names, shows
what that sync posted. Then Ctrl-C stops everything.

Its own package, so it never runs while the automation package's `dagster dev` is up (two cores).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from wistia_pipeline.settings import VARIABLES
from wistia_pipeline_tests.automation.conftest import free_port, stop_process_group, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ASSETS = ["wistia_events", "converted_views", "matched_views", "filtered_views", "synced_ledger",
          "wistia_medias", "upsales_forms"]
STARTUP_TIMEOUT = 180

LOCATION_LOADED = """
{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"""
LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message }
  }
}"""
BACKFILL_RUNS = """
query($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status } }
  }
}"""


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_make_run_then_a_ui_sync_then_explain_in_another_shell(tmp_path: Path):
    port, wistia_port, upsales_port = free_port(), free_port(), free_port()
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in {v.name for v in VARIABLES} | {"DAGSTER_HOME"}}
    env.update({
        "PORT": str(port), "SANDBOX_WISTIA_PORT": str(wistia_port), "SANDBOX_UPSALES_PORT": str(upsales_port),
        "RUN_DIR": str(run_dir), "DAGSTER_HOME": str(tmp_path / "home"),
        "WISTIA_PIPELINE_DB": str(tmp_path / "data" / "demo.duckdb"),
        "MIN_PERCENT_WATCHED": "99",  # a stray setting of the caller's shell: the env file wins
        "DAGSTER_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1",
    })
    log = tmp_path / "make_run.log"
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        # Not `make run` itself: make would check the venv first; the script is what it runs.
        process = subprocess.Popen(["bash", str(REPO / "scripts" / "run_demo.sh")], cwd=REPO, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # a terminal's process group, for Ctrl-C

    def loaded() -> bool:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            entries = graphql(url, LOCATION_LOADED)["workspaceOrError"]["locationEntries"]
        except requests.RequestException:
            return False
        return any(e["name"] == "wistia_pipeline" and e["loadStatus"] == "LOADED" for e in entries)

    try:
        wait_for(loaded, STARTUP_TIMEOUT, "make run's dagster dev to load the code location", interval=1.0)
        env_file = run_dir / "sandbox.env"
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert values["WISTIA_PIPELINE_DB"] == env["WISTIA_PIPELINE_DB"]
        assert values["DAGSTER_HOME"] == env["DAGSTER_HOME"] and values["MIN_PERCENT_WATCHED"] == "25"
        printed = log.read_text(errors="replace")
        assert f"set -a; . {env_file}; set +a" in printed and "late views arrive at" in printed

        # The UI's Materialize all of the job wistia_sync, the demo's three days (a single-run
        # backfill of the job's seven assets, as the README says).
        first = date.fromisoformat(values["PARTITIONS_START"])
        launched = graphql(url, LAUNCH_BACKFILL, {"params": {
            "selector": {"partitionSetName": "wistia_sync_partition_set",
                         "repositorySelector": {"repositoryLocationName": "wistia_pipeline",
                                                "repositoryName": "__repository__"}},
            "assetSelection": [{"path": [a]} for a in ASSETS], "fromFailure": False,
            "partitionNames": [(first + timedelta(days=n)).isoformat() for n in range(3)]}})
        backfill_id = launched["launchPartitionBackfill"]["backfillId"]

        def finished() -> list[dict] | None:
            assert process.poll() is None, log.read_text(errors="replace")
            runs = graphql(url, BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]["results"]
            return runs if runs and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs) else None

        [run] = wait_for(finished, 300, "the UI's sync", interval=1.0)
        assert run["status"] == "SUCCESS", log.read_text(errors="replace")[-4000:]

        # Another shell, another folder, sourcing what the README says.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        shell_env = {k: v for k, v in env.items() if k not in ("WISTIA_PIPELINE_DB", "DAGSTER_HOME")}
        explained = subprocess.run(
            ["bash", "-c", f'set -a; . "{env_file}"; set +a; "{BIN / "wistia-pipeline"}" explain anna.berg@acme.se'],
            cwd=elsewhere, env=shell_env, capture_output=True, text=True, timeout=120)
        assert explained.returncode == 0, explained.stderr
        # Posted by the UI's run or by a schedule tick that fired first; a tick that fired after it
        # (at :00, :20 or :40 of the hour, whatever the time of day) was the last run over the day
        # and found it already synced: the same file and the same one entry either way.
        assert re.search(r"activities: (already synced: )?posted as Upsales id \S+", explained.stdout), explained.stdout
        assert "Warning" not in explained.stderr

        printed = log.read_text(errors="replace")
        for noise in ("will not be used", "BetaWarning", "SupersessionWarning"):
            assert noise not in printed, noise

        # Ctrl-C: the terminal sends SIGINT to the whole foreground group.
        os.killpg(process.pid, signal.SIGINT)
        wait_for(lambda: process.poll() is not None and not group_alive(process.pid), 60,
                 "Ctrl-C to stop dagster dev and the sandbox", interval=0.5)
    finally:
        if process.poll() is None or group_alive(process.pid):
            stop_process_group(process)
