"""`wistia-pipeline sync` while another run holds the wistia_duckdb slot: it says whom it waits
for, gives up after DB_LOCK_TIMEOUT_S with one line (exit 1), stops at once on Ctrl-C or SIGTERM
(exit 130), and does not burn the CPU meanwhile. The real CLI in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from wistia_pipeline_tests.test_run_health import hold_slot, start_run_in

REPO = Path(__file__).resolve().parents[1]
WAITING = "waiting for the wistia_duckdb slot held by run "


@pytest.fixture
def held(tmp_path):
    """A DAGSTER_HOME whose slot is held by a running run (this test's process), and the CLI's env."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = start_run_in(instance, os.getpid())
        hold_slot(instance, run_id)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WISTIA_", "UPSALES_", "DB_LOCK"))}
    env.update({
        "DAGSTER_HOME": str(home), "WISTIA_PIPELINE_DB": str(tmp_path / "pipeline.duckdb"),
        "WISTIA_API_TOKEN": "test-wistia-token", "UPSALES_API_TOKEN": "test-upsales-token",
        "WISTIA_API_URL": "http://127.0.0.1:9", "UPSALES_API_URL": "http://127.0.0.1:9",  # never reached
        "PYTHONUNBUFFERED": "1",
    })
    return run_id, env, tmp_path


def start_sync(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Path]:
    err = cwd / "sync.err"
    with err.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "wistia_pipeline.cli", "sync"], env=env, cwd=cwd,
                                   stdout=subprocess.PIPE, stderr=sink)
    return process, err


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_it_gives_up_after_db_lock_timeout_s_with_one_line(held):
    run_id, env, cwd = held
    process, err = start_sync({**env, "DB_LOCK_TIMEOUT_S": "1"}, cwd)
    out, _ = process.communicate(timeout=120)
    lines = err.read_text().splitlines()
    assert process.returncode == 1, lines
    assert out == b""  # no report: no run was made
    assert any(line.startswith(WAITING + run_id[:8] + " (step synced_ledger, started ") for line in lines)
    [error] = [line for line in lines if line.startswith("error:")]
    assert error.startswith(f"error: gave up after 1 s (DB_LOCK_TIMEOUT_S) waiting for the wistia_duckdb slot "
                            f"held by run {run_id[:8]} (step synced_ledger, started ")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_wait_at_once_and_the_wait_is_idle(held, signum):
    _, env, cwd = held
    process, err = start_sync({**env, "DB_LOCK_TIMEOUT_S": "300"}, cwd)
    try:
        deadline = time.monotonic() + 90
        while WAITING not in err.read_text():
            assert process.poll() is None, err.read_text()
            assert time.monotonic() < deadline, "the CLI never said it was waiting"
            time.sleep(0.2)
        if Path("/proc/self/stat").exists():
            before = cpu_seconds(process.pid)
            time.sleep(2)
            assert cpu_seconds(process.pid) - before < 0.5  # polls once a second, no busy loop
        sent = time.monotonic()
        process.send_signal(signum)
        assert process.wait(timeout=10) == 130
        assert time.monotonic() - sent < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
