"""A DuckDB file that a sync cannot use: damaged, or locked by another process for too long.

Either way the run fails at once (or after DB_LOCK_TIMEOUT_S) with one line naming the file and
what to do, posts nothing, and the run after the fix posts every view exactly once (small world,
both destinations).
"""

from __future__ import annotations

import os

import pytest

from wistia_pipeline import cli, db
from wistia_pipeline_tests.duckdb_files import hold_lock, holders, truncate  # noqa: F401 (holders: a fixture)

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox


def sync(world, capfd, tmp_path, monkeypatch) -> tuple[int, str, str]:
    """`wistia-pipeline sync` over the world's days: (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    code = cli.main(["sync", "--start", world.first.isoformat(), "--end", world.last.isoformat()])
    out, err = capfd.readouterr()
    return code, out, err


def posts(sandbox) -> tuple[int, int]:
    return len(sandbox.upsales.events), len(sandbox.upsales.form_submits)


def test_a_truncated_duckdb_file_fails_the_sync_in_one_line_and_moved_aside_posts_nothing_twice(
        sandbox, world, run, capfd, tmp_path, monkeypatch):
    run.until_complete("first")
    path = run.db_path
    truncate(path, 0.5)
    before = posts(sandbox)
    code, out, _ = sync(world, capfd, tmp_path, monkeypatch)
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("Run FAILED: ")]
    assert len(failed) == 1, out
    assert failed[0].startswith(f"Run FAILED: wistia_events: {path} is not a readable DuckDB database (")
    assert failed[0].endswith(f"): move it aside (mv {path} {path}.corrupt); the next sync rebuilds it from "
                              f"Wistia and Upsales and posts nothing twice")
    assert out.rstrip().endswith(failed[0])  # the last line, whole
    assert posts(sandbox) == before

    os.rename(path, f"{path}.corrupt")
    again = run.until_complete("after the corrupt DuckDB file was moved aside")
    assert again.posted == {"activities": 0, "forms": 0}


def test_a_sync_behind_a_lock_held_too_long_says_it_waits_then_fails_in_one_line(
        sandbox, world, run, capfd, tmp_path, monkeypatch, holders):
    path = run.db_path
    holder = hold_lock(path)
    holders.append(holder)
    monkeypatch.setenv("DB_LOCK_TIMEOUT_S", "3")
    monkeypatch.setattr(db, "LOCK_REPORT_SECONDS", 1.0)
    code, out, err = sync(world, capfd, tmp_path, monkeypatch)
    assert code == 1
    assert out.rstrip().splitlines()[-1] == (
        f"Run FAILED: wistia_events: the DuckDB file {path} is locked by pid {holder.pid} (another sync?) "
        f"and was not released within 3 s (DB_LOCK_TIMEOUT_S)")
    assert f"waiting for the DuckDB lock on {path} held by pid {holder.pid} (" in err  # Dagster's console
    assert posts(sandbox) == (0, 0)

    holder.kill()
    holder.wait()
    first = run.until_complete("after the lock was released")
    assert first.posted == {"activities": len(world.activity_keys), "forms": len(world.form_keys)}
