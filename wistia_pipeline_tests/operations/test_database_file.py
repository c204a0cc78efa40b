"""`doctor` and `explain` on a DuckDB file that is locked, damaged or not the pipeline's."""

from __future__ import annotations

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from wistia_pipeline import cli, db
from wistia_pipeline.operations.doctor import check_database
from wistia_pipeline_tests.duckdb_files import hold_lock, holders, truncate  # noqa: F401 (holders: a fixture)

RECOVERY = ("move it aside (mv {path} {path}.corrupt); the next sync rebuilds it from Wistia and Upsales "
            "and posts nothing twice")


@pytest.fixture
def doctor(pipeline_env, capsys, tmp_path, monkeypatch):
    """Run `wistia-pipeline doctor` on the sandbox; returns (exit code, the DuckDB line, all output)."""
    monkeypatch.chdir(tmp_path)  # no stray .env

    def run() -> tuple[int, str, str]:
        code = cli.main(["doctor"])
        out = capsys.readouterr().out
        line = next(line for line in out.splitlines() if "  DuckDB file: " in line)
        return code, line, out

    return run


def pipeline_file(path) -> str:
    """A DuckDB file as the first sync leaves it: every table of the schema, a little data."""
    with db.connect(DuckDBResource(database=str(path))) as con:
        con.execute("INSERT INTO wistia_medias SELECT * FROM wistia_medias")  # touch it
    return str(path)


def test_doctor_is_green_for_a_healthy_file(doctor, pipeline_env):
    path = pipeline_file(pipeline_env["WISTIA_PIPELINE_DB"])
    code, line, out = doctor()
    assert code == 0 and out.rstrip().endswith("All checks passed.")
    assert line.startswith(f"✔ OK    DuckDB file: {path} is writable (")
    assert line.endswith(f"this pipeline's database (all {len(db.schema_tables())} tables)")


def test_doctor_is_red_for_a_file_locked_by_another_process(doctor, pipeline_env, holders):
    path = pipeline_file(pipeline_env["WISTIA_PIPELINE_DB"])
    holder = hold_lock(path)
    holders.append(holder)
    code, line, out = doctor()
    assert code == 1 and "All checks passed" not in out
    assert line == (f"✘ FAIL  DuckDB file: {path} is locked: held by pid {holder.pid} (another sync?) -> fix: "
                    f"wait for that sync to end (runs take turns on the file); if pid {holder.pid} hangs, stop it")


@pytest.mark.parametrize("keep", [0.5, 0.002, 0.0])
def test_doctor_is_red_for_a_truncated_file_and_says_how_to_recover(doctor, pipeline_env, keep):
    path = pipeline_file(pipeline_env["WISTIA_PIPELINE_DB"])
    truncate(path, keep)
    code, line, out = doctor()
    assert code == 1 and "All checks passed" not in out
    assert line.startswith(f"✘ FAIL  DuckDB file: {path} is not a readable DuckDB database (")
    assert line.endswith(f") -> fix: {RECOVERY.format(path=path)}")


def test_a_duckdb_file_of_something_else_is_not_this_pipelines(tmp_path):
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
    check = check_database(str(path))
    assert not check.ok
    assert check.detail.startswith(f"{path} is not this pipeline's database: it holds invoices and none of "
                                   f"wistia_events, ")
    assert "WISTIA_PIPELINE_DB" in check.hint


def test_an_empty_database_or_an_older_releases_file_is_green(tmp_path):
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    check = check_database(str(empty))
    assert check.ok and check.detail.endswith("holds no tables yet; the first sync creates them")

    older = pipeline_file(tmp_path / "older.duckdb")
    with duckdb.connect(older) as con:
        con.execute("DROP TABLE wistia_medias")
    check = check_database(older)
    assert check.ok and check.detail.endswith("this pipeline's database; the next sync adds wistia_medias")


def test_a_missing_file_stays_green(tmp_path):
    check = check_database(str(tmp_path / "data" / "pipeline.duckdb"))
    assert check.ok and check.detail.endswith("does not exist yet; the first sync creates it")


@pytest.mark.parametrize("keep", [0.5, 0.0])
def test_explain_on_a_truncated_file_prints_one_line_and_exits_2(tmp_path, monkeypatch, capsys, keep):
    monkeypatch.chdir(tmp_path)  # no stray .env
    path = pipeline_file(tmp_path / "pipeline.duckdb")
    truncate(path, keep)
    monkeypatch.setenv("WISTIA_PIPELINE_DB", path)
    assert cli.main(["explain", "x@y.se"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path} is not a readable DuckDB database (")
    assert captured.err.endswith(f"): {RECOVERY.format(path=path)}\n")
    assert captured.err.count("\n") == 1


def test_explain_on_a_locked_file_names_the_holder(tmp_path, monkeypatch, capsys, holders):
    monkeypatch.chdir(tmp_path)
    path = pipeline_file(tmp_path / "pipeline.duckdb")
    holder = hold_lock(path)
    holders.append(holder)
    monkeypatch.setenv("WISTIA_PIPELINE_DB", path)
    assert cli.main(["explain", "x@y.se"]) == 2
    assert capsys.readouterr().err == (f"error: {path} is in use by a running sync (pid {holder.pid}): "
                                       f"try again when it has finished\n")
