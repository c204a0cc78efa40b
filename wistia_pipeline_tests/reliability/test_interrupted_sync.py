"""SIGINT or SIGTERM in the middle of posting: the CLI stops soon, says the run was interrupted
(exit 130, no traceback), and the next sync settles what was in flight and posts the rest, each
view once (issue #10, case 6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from wistia_pipeline.sandbox import Fault
from wistia_pipeline_tests.reliability.world import assert_complete

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).with_name("wistia-pipeline")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_sync_ends_interrupted_and_the_next_one_settles_it(sandbox, pipeline_env, world, run, sig):
    env = {**os.environ, **pipeline_env, **world.env}
    days = ["--start", world.first.isoformat(), "--end", world.last.isoformat()]
    process: dict[str, subprocess.Popen] = {}
    # The third activity is stored, its answer held back 3 s: the signal lands while it is in flight.
    sandbox.upsales.inject(Fault(mode="delay", delay=3, method="POST", path_prefix="/v2/events", skip=2,
                                 on_fire=lambda: process["sync"].send_signal(sig)))
    process["sync"] = subprocess.Popen([str(CLI), "sync", *days], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
    out, err = process["sync"].communicate(timeout=120)
    assert process["sync"].returncode == 130, out + err
    assert out.splitlines()[-1].startswith("Run INTERRUPTED in synced_ledger: posts that were in flight"), out
    assert "Traceback" not in out + err and "Stack Trace" not in out + err
    assert len(sandbox.upsales.events) < len(world.activity_keys)  # it stopped part-way

    run.until_complete("after the interrupted sync")  # the stored post is found, not posted twice
