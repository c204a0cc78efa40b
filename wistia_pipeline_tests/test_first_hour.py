"""A newcomer's first hour: a CLI call prints no Dagster beta warnings, the package builds without
setuptools' licence deprecation, and the env file the sandbox writes for `make run` points a
shell's `wistia-pipeline` at the demo's DuckDB file whatever that shell had before."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PIPELINE_VARIABLES = ("WISTIA_PIPELINE_DB", "DAGSTER_HOME", "PARTITIONS_START", "WISTIA_API_TOKEN",
                      "UPSALES_API_TOKEN", "WISTIA_API_URL", "UPSALES_API_URL")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PIPELINE_VARIABLES}
    return {**env, **extra}


def test_a_cli_call_prints_no_beta_warning(tmp_path: Path):
    env = clean_env(WISTIA_PIPELINE_DB=str(tmp_path / "pipeline.duckdb"), DAGSTER_HOME=str(tmp_path / "home"))
    explain = subprocess.run([str(BIN / "wistia-pipeline"), "explain", "x@y.se"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
    assert explain.returncode == 2
    assert explain.stderr.startswith("error: no sync has run yet: ") and "Warning" not in explain.stderr
    # What every sync and the code server load: the assets, defined with the beta backfill_policy.
    definitions = subprocess.run([sys.executable, "-W", "default", "-c", "import wistia_pipeline.definitions"],
                                 cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert definitions.returncode == 0, definitions.stderr
    assert "BetaWarning" not in definitions.stderr and "backfill_policy" not in definitions.stderr


def test_the_package_declares_its_licence_as_setuptools_wants_it():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"  # an SPDX expression, not the deprecated table
    assert project["build-system"]["requires"] == ["setuptools>=77"]  # the first to accept it


def test_building_the_metadata_warns_about_nothing(tmp_path: Path):
    """What `pip install -e .` asks setuptools first, with the venv's setuptools (the dev extra pins
    it to the build's >= 77)."""
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    shutil.copy(REPO / "README.md", tmp_path)
    (tmp_path / "wistia_pipeline").mkdir()
    (tmp_path / "wistia_pipeline" / "__init__.py").write_text("")
    code = "from setuptools import build_meta; print(build_meta.prepare_metadata_for_build_wheel('out'))"
    (tmp_path / "out").mkdir()
    built = subprocess.run([sys.executable, "-W", "always", "-c", code], cwd=tmp_path, capture_output=True,
                           text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    assert "Warning" not in built.stdout + built.stderr
    metadata = next((tmp_path / "out").glob("*.dist-info")) / "METADATA"
    assert "License-Expression: MIT" in metadata.read_text()


def wait_for(path: Path, process: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_shell_that_sources_the_demo_env_file_uses_the_demos_duckdb_file(tmp_path: Path):
    """`make run` gives dagster dev the sandbox's env file; a shell sourcing it (README) reads the
    same DuckDB file, from another folder, with another `.env` there and another DB exported."""
    env_file = tmp_path / "run" / "sandbox.env"
    demo_db, home = tmp_path / "data" / "demo.duckdb", tmp_path / "home"
    sandbox = subprocess.Popen(
        [str(BIN / "wistia-pipeline"), "sandbox", "--env-file", str(env_file), "--db", str(demo_db),
         "--dagster-home", str(home), "--late-after", "-1"],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(env_file, sandbox)
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert values["WISTIA_PIPELINE_DB"] == str(demo_db) and values["DAGSTER_HOME"] == str(home)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / ".env").write_text(f"WISTIA_PIPELINE_DB={tmp_path / 'dotenv.duckdb'}\n")
        shell = subprocess.run(
            ["bash", "-c", f'set -a; . "{env_file}"; set +a; "{BIN / "wistia-pipeline"}" explain anna.berg@acme.se'],
            cwd=elsewhere, env=clean_env(WISTIA_PIPELINE_DB=str(tmp_path / "exported.duckdb")),
            capture_output=True, text=True, timeout=120)
        assert shell.returncode == 2
        assert shell.stderr.startswith(f"error: no sync has run yet: {demo_db} does not exist")
    finally:
        sandbox.send_signal(signal.SIGTERM)
        out, err = sandbox.communicate(timeout=20)
    assert sandbox.returncode == 0, err
