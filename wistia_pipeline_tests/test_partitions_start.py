"""PARTITIONS_START: one start for the stage assets' partitions and for `sync --start`, read
after the CLI's `.env` (the partitions are built when the first stage is defined)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from wistia_pipeline import cli
from wistia_pipeline.settings import Settings
from wistia_pipeline.stages.common import build_partitions, partitions_start

TOKENS = {"WISTIA_API_TOKEN": "w", "UPSALES_API_TOKEN": "u"}


def test_the_partitions_start_at_the_setting():
    assert partitions_start({"PARTITIONS_START": "2026-10-01"}) == date(2026, 10, 1)
    assert partitions_start({}) == date(2026, 1, 1)
    assert partitions_start({"PARTITIONS_START": "soon"}) == date(2026, 1, 1)  # the run fails on it itself
    partitions = build_partitions(date(2026, 11, 25))
    assert partitions.start.date() == date(2026, 11, 25)
    assert partitions.get_first_partition_key() == "2026-11-25"


def test_sync_refuses_a_start_before_the_first_partition():
    settings = Settings.from_env({**TOKENS, "PARTITIONS_START": "2026-11-01"})
    today = date(2026, 11, 27)
    assert cli.sync_window("2026-11-01", None, settings, today) == (date(2026, 11, 1), today)
    with pytest.raises(cli.UsageError) as caught:
        cli.sync_window("2026-10-31", "2026-11-02", settings, today)
    assert str(caught.value) == ("--start 2026-10-31 is before the first partition 2026-11-01 "
                                 "(PARTITIONS_START; Wistia keeps events for 2 years)")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PARTITIONS_START"}
    return {**env, **TOKENS, **extra}


def test_the_cli_and_the_assets_read_the_start_from_dotenv(tmp_path: Path):
    """`.env` is read by `main`, after the CLI imported stages.common: the assets still start there."""
    (tmp_path / ".env").write_text("PARTITIONS_START=2026-06-01\n")
    env = clean_env(WISTIA_PIPELINE_DB=str(tmp_path / "x.duckdb"), DAGSTER_HOME=str(tmp_path / "home"))
    refused = subprocess.run([sys.executable, "-m", "wistia_pipeline.cli", "sync", "--start", "2026-05-31",
                              "--end", "2026-06-01"], cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 2
    assert "before the first partition 2026-06-01 (PARTITIONS_START" in refused.stderr
    code = (
        "import sys; from wistia_pipeline import cli; from dotenv import load_dotenv; load_dotenv('.env');"
        "from wistia_pipeline.definitions import defs;"
        "print({str(a.partitions_def.start.date()) for a in defs.assets if a.partitions_def},"
        "      sorted(a.key.to_user_string() for a in defs.assets if not a.partitions_def))"
    )
    assets = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert assets.returncode == 0, assets.stderr
    assert assets.stdout.strip() == "{'2026-06-01'} ['upsales_forms', 'wistia_medias']"  # and two unpartitioned
