"""Two `wistia-pipeline sync` processes at once over the same days post each view once.

A "scheduled" run over the lookback window and a "backfill" over a longer range start together
against one sandbox (this process) and one DuckDB file. DuckDB lets one process write the file at
a time and the ledger step holds it from the first lookup to the last post, so one run posts and
the other, waiting its turn, finds every view already in the ledger. Both must end successfully.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from wistia_pipeline.sandbox import Fault
from wistia_pipeline_tests.factories import event
from wistia_pipeline_tests.reliability.world import assert_complete, ledger_rows

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox

REPO = Path(__file__).resolve().parents[2]


def start_sync(env: dict[str, str], first, last, cwd: Path, name: str) -> tuple[subprocess.Popen, Path]:
    out = cwd / f"{name}.out"
    with open(out, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "wistia_pipeline.cli", "sync", "--start", first.isoformat(), "--end", last.isoformat()],
            env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    return process, out


@pytest.mark.parametrize("instance", ["separate_dagster_homes", "shared_dagster_home_with_pools"])
def test_a_scheduled_run_and_a_backfill_at_once_post_each_view_once(sandbox, pipeline_env, world, tmp_path, instance):
    old_day = world.first - timedelta(days=3)
    sandbox.wistia.add_events([event(old_day, key="old-view", conversion_email="anna.berg@acme.se", percent=0.9,
                                     media_id="tourmedia1", media_name="Product tour", seconds=40000)])
    world.activity_keys.add("old-view")
    world.form_keys.add("old-view")
    # Slow posts widen the window in which the two runs overlap.
    sandbox.upsales.inject(Fault(mode="delay", delay=0.05, count=10_000, method="POST"))

    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    homes = []
    for name in ("scheduled", "backfill"):
        home = tmp_path / ("home" if instance.startswith("shared") else f"home-{name}")
        if not home.exists():
            home.mkdir()
            if instance.startswith("shared"):
                shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
            else:
                (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            # An instance in use already has its storage: two processes creating a fresh one's
            # SQLite tables at the same moment collide (Dagster's, not the pipeline's, concern).
            with dg.DagsterInstance.from_config(str(home)):
                pass
        homes.append(home)

    started = time.monotonic()
    scheduled, scheduled_out = start_sync({**env, "DAGSTER_HOME": str(homes[0])}, world.first, world.last,
                                          tmp_path, "scheduled")
    backfill, backfill_out = start_sync({**env, "DAGSTER_HOME": str(homes[1])}, old_day, world.last,
                                        tmp_path, "backfill")
    try:
        codes = scheduled.wait(timeout=240), backfill.wait(timeout=240)
    finally:
        for process in (scheduled, backfill):
            if process.poll() is None:
                process.kill()
    outputs = scheduled_out.read_text(errors="replace"), backfill_out.read_text(errors="replace")
    assert codes == (0, 0), f"exit codes {codes}\n--- scheduled:\n{outputs[0][-3000:]}\n--- backfill:\n{outputs[1][-3000:]}"
    assert all("Run succeeded." in out for out in outputs)
    assert time.monotonic() - started < 240

    assert_complete(sandbox, pipeline_env["WISTIA_PIPELINE_DB"], world, instance)
    # Every view was claimed by exactly one of the two runs (one row each in the ledger).
    rows = ledger_rows(pipeline_env["WISTIA_PIPELINE_DB"])
    assert len(rows) == len({(d, k) for d, k, _, _ in rows}) == len(world.activity_keys) + len(world.form_keys)
