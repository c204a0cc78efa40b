"""`Sandbox` lifecycle and `run_sandbox` as the long-running process `wistia-pipeline sandbox` starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from pathlib import Path

import pytest
import requests

from wistia_pipeline.sandbox import Sandbox
from wistia_pipeline.sandbox.runner import demo_environment, late_release
from wistia_pipeline.settings import VARIABLES

from .helpers import upsales_get, wistia_get


def test_env_points_at_the_running_servers() -> None:
    with Sandbox(wistia_token="w-tok", upsales_token="u-tok", customer_id=42) as sb:
        env = sb.env()
        assert set(env) == {"WISTIA_API_URL", "WISTIA_API_TOKEN", "UPSALES_API_URL", "UPSALES_API_TOKEN"}
        assert env["WISTIA_API_URL"] == f"http://127.0.0.1:{sb.wistia.port}/v1" == sb.wistia_url
        assert env["UPSALES_API_URL"] == f"http://127.0.0.1:{sb.upsales.port}/api" == sb.upsales_url
        assert (env["WISTIA_API_TOKEN"], env["UPSALES_API_TOKEN"]) == ("w-tok", "u-tok")
        assert sb.wistia.port != sb.upsales.port
        assert wistia_get(sb, "/medias.json", token="w-tok").status_code == 200
        assert upsales_get(sb, "/v2/self", token="u-tok").status_code == 200
    assert not sb.running


def test_start_returns_self_and_stop_is_idempotent() -> None:
    sb = Sandbox().start()
    try:
        assert sb.running
    finally:
        sb.stop()
        sb.stop()


def wait_for(path: Path, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_run_sandbox_process(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    code = (
        "from datetime import date; from pathlib import Path;"
        "from wistia_pipeline.sandbox.runner import run_sandbox;"
        f"run_sandbox(today=date(2026, 1, 15), late_after_seconds=0.3, env_file=Path({str(env_file)!r}))"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_for(env_file)
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert values["WISTIA_PROJECTS"] == "pt4k9x2m1q,Webinars"
        assert values["MIN_PERCENT_WATCHED"] == "25"
        wistia_root = values["WISTIA_API_URL"].removesuffix("/v1")
        headers = {"Authorization": f"Bearer {values['WISTIA_API_TOKEN']}"}
        events = requests.get(values["WISTIA_API_URL"] + "/stats/events.json", headers=headers, timeout=5,
                              params={"start_date": "2026-01-13", "end_date": "2026-01-15"})
        assert events.status_code == 200
        self_ = requests.get(values["UPSALES_API_URL"] + "/v2/self", timeout=5,
                             cookies={"token": values["UPSALES_API_TOKEN"]})
        assert self_.json()["data"]["clients"][0]["clientId"] == 1234
        deadline = time.monotonic() + 10
        while requests.get(wistia_root + "/_sandbox/state", timeout=5).json()["hidden"]:
            assert time.monotonic() < deadline, "late views never released"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    exports = [line for line in out.splitlines() if line.startswith("export ")]
    assert {line.split("=", 1)[0].removeprefix("export ") for line in exports} == set(values)
    assert "released 4 late views" in out
    # Every setting of the demo, the DuckDB file and DAGSTER_HOME as absolute paths.
    assert {v.name for v in VARIABLES} | {"DAGSTER_HOME"} == set(values)
    assert values["WISTIA_PIPELINE_DB"] == str(Path.cwd() / "data" / "demo.duckdb")
    assert values["DAGSTER_HOME"] == str(Path.cwd() / ".dagster_home")
    assert values["PARTITIONS_START"] == "2026-01-13"  # the demo's first day
    assert "# late views arrive in 0.3 s" in out


@pytest.mark.parametrize("started,first_tick,release", [
    ("12:10:00", "12:20", "12:39:00"),
    ("12:18:00", "12:20", "12:39:00"),  # 2 minutes: dagster dev is up by the tick
    ("12:19:00", "12:40", "12:59:00"),  # too close to 12:20: the tick after it is the first
    ("12:00:00", "12:20", "12:39:00"),
    ("23:50:30", "00:00", "00:19:00"),
    ("23:59:59", "00:20", "00:39:00"),
])
def test_late_views_arrive_a_minute_before_the_schedules_second_tick(started, first_tick, release):
    start = datetime.combine(date(2026, 11, 27), clock_time.fromisoformat(started), tzinfo=timezone.utc)
    tick, release_at = late_release(start)
    assert (tick.strftime("%H:%M"), release_at.strftime("%H:%M:%S")) == (first_tick, release)
    assert tick - start >= timedelta(seconds=90)
    assert release_at == tick + timedelta(minutes=19)


def test_the_demo_environment_is_every_setting(tmp_path):
    env = demo_environment({"WISTIA_API_URL": "http://127.0.0.1:1/v1", "WISTIA_API_TOKEN": "w"},
                           {"MIN_PERCENT_WATCHED": "25"}, date(2026, 11, 25),
                           db_path=tmp_path / "d" / ".." / "demo.duckdb", dagster_home="~/home")
    assert set(env) == {v.name for v in VARIABLES} | {"DAGSTER_HOME"}
    assert env["WISTIA_API_URL"] == "http://127.0.0.1:1/v1" and env["MIN_PERCENT_WATCHED"] == "25"
    assert env["LOOKBACK_DAYS"] == "3" and env["ALERT_WEBHOOK_URL"] == ""  # the defaults, spelled out
    assert env["PARTITIONS_START"] == "2026-11-25"
    assert env["WISTIA_PIPELINE_DB"] == str(tmp_path / "demo.duckdb")
    assert env["DAGSTER_HOME"] == str(Path.home() / "home")
