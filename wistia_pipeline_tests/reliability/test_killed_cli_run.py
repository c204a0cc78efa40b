"""A `wistia-pipeline sync` killed mid-post, with the project's dagster.yaml (one-slot pools).

Dagster cannot watch a CLI run's process, so the killed run would keep its pool slot and every
later run would wait for it forever; the next CLI sync fails that run and frees the slot.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import dagster as dg

from wistia_pipeline.cli import run_sync
from wistia_pipeline.sandbox import Fault
from wistia_pipeline_tests.reliability import child
from wistia_pipeline_tests.reliability.world import assert_complete

PROJECT_DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


def test_a_killed_cli_run_gives_its_pool_slot_back_and_the_next_sync_completes(
        sandbox, pipeline_env, world, tmp_path):
    shutil.copy(PROJECT_DAGSTER_YAML, Path(pipeline_env["DAGSTER_HOME"]) / "dagster.yaml")
    pid: dict[str, int] = {}
    sandbox.upsales.inject(Fault(mode="drop_after_write", method="POST", skip=3,
                                 on_fire=lambda: os.kill(pid["child"], signal.SIGKILL)))
    process = child.start_sync(dict(pipeline_env, **world.env), world.first, world.last, tmp_path / "child")
    pid["child"] = process.pid
    process.join(timeout=90)
    assert process.exitcode == -signal.SIGKILL

    with dg.DagsterInstance.get() as instance:
        (dead,) = instance.get_runs()
        assert dead.status == dg.DagsterRunStatus.STARTED  # nobody noticed the process died
        assert instance.event_log_storage.get_concurrency_info("wistia_duckdb").claimed_slots

    report = run_sync(world.first, world.last)  # would wait forever for the slot without the fix
    assert report.success, report.error
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
    assert_complete(sandbox, pipeline_env["WISTIA_PIPELINE_DB"], world)
