"""`Sandbox` lifecycle and `run_sandbox` as the long-running process `wistia-pipeline sandbox` starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from wistia_pipeline.sandbox import Sandbox

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
