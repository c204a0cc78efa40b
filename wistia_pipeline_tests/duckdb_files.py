"""DuckDB files in trouble, for tests: one held by another process, one cut short."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def hold_lock(path: Path, seconds: float = 60) -> subprocess.Popen:
    """Another process with the file open for writing (as a sync would), for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, duckdb\n"
                               "con = duckdb.connect(sys.argv[1])\n"
                               "print('ready', flush=True)\n"
                               "time.sleep(float(sys.argv[2]))\n", str(path), str(seconds)],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "ready"
    return holder


@pytest.fixture
def holders():
    """The lock holders a test starts (append them), killed when it ends."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


def truncate(path: Path | str, keep: float) -> None:
    """Keep the first `keep` (a fraction) of the file, as a full disk or a cut copy would."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:int(len(data) * keep)])
