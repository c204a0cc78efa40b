"""The DuckDB plumbing under failure: an interrupt inside a transaction, a locked or unreadable file;
and the SQL files' named parameters."""

from __future__ import annotations

import itertools
import logging
import random
import re
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline_tests.duckdb_files import hold_lock, holders, truncate  # noqa: F401 (holders: a fixture)


class Interrupting:
    """A real connection whose `execute` is interrupted (as SIGINT or SIGTERM would) on one statement.

    `when` says whether the interrupt lands before the statement runs or just after it ran.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, statement: str, when: str) -> None:
        self.con, self.statement, self.when = con, statement, when

    def execute(self, query: str, *args):
        if query.upper().startswith(self.statement):
            if self.when == "after":
                self.con.execute(query, *args)
            raise KeyboardInterrupt
        return self.con.execute(query, *args)


@pytest.fixture
def con():
    connection = duckdb.connect(":memory:")
    connection.execute("CREATE TABLE t (n INTEGER)")
    yield connection
    connection.close()


@pytest.mark.parametrize("statement,when,kept", [
    ("BEGIN", "before", []),
    ("BEGIN", "after", []),
    ("INSERT", "after", []),  # in the body, after some of its rows were written
    ("COMMIT", "before", []),
    ("COMMIT", "after", [(1,)]),  # committed: the interrupt came too late to undo it
])
def test_an_interrupt_on_any_statement_leaves_no_transaction_open(con, statement, when, kept):
    proxy = Interrupting(con, statement, when)
    with pytest.raises(KeyboardInterrupt):
        with db.transaction(proxy):
            proxy.execute("INSERT INTO t VALUES (1)")
    assert con.execute("SELECT n FROM t").fetchall() == kept
    with db.transaction(con):  # the next transaction on the same connection just works
        con.execute("INSERT INTO t VALUES (2)")
    assert con.execute("SELECT n FROM t ORDER BY n").fetchall() == [*kept, (2,)]


def test_an_error_in_the_body_rolls_back_and_is_raised_as_it_was(con):
    with pytest.raises(ValueError, match="^boom$"):
        with db.transaction(con):
            con.execute("INSERT INTO t VALUES (1)")
            raise ValueError("boom")
    assert con.execute("SELECT count(*) FROM t").fetchone() == (0,)


# -- a DuckDB file held by another process, or one that cannot be read ------------------------------

def resource(path: Path) -> DuckDBResource:
    return DuckDBResource(database=str(path))


def test_a_lock_held_too_long_is_reported_while_waiting_then_fails_in_one_line(tmp_path, monkeypatch, caplog,
                                                                               holders):
    path = tmp_path / "pipeline.duckdb"
    holder = hold_lock(path)
    holders.append(holder)
    monkeypatch.setenv("DB_LOCK_TIMEOUT_S", "2")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), pytest.raises(db.DatabaseError) as raised:
        with db.connect(resource(path), report_every=0.5):
            pass
    assert str(raised.value) == (f"the DuckDB file {path} is locked by pid {holder.pid} (another sync?) and was "
                                 f"not released within 2 s (DB_LOCK_TIMEOUT_S)")
    assert 2 <= time.monotonic() - started < 6
    waiting = [r for r in caplog.records if r.name.startswith("dagster")]
    assert len(waiting) >= 2
    assert all(r.levelno == logging.WARNING and r.getMessage().startswith(
        f"waiting for the DuckDB lock on {path} held by pid {holder.pid} (") for r in waiting)


def test_a_lock_released_in_time_is_waited_for(tmp_path, monkeypatch, holders):
    path = tmp_path / "pipeline.duckdb"
    holders.append(hold_lock(path, seconds=1.5))
    monkeypatch.setenv("DB_LOCK_TIMEOUT_S", "30")
    with db.connect(resource(path)) as con:
        assert con.execute("SELECT count(*) FROM synced_ledger").fetchone() == (0,)


@pytest.mark.parametrize("value,seconds", [("2", 2.0), ("0", 0.0), ("soon", 300.0), ("-1", 300.0), ("", 300.0)])
def test_the_lock_timeout_comes_from_the_setting_or_its_default(monkeypatch, value, seconds):
    monkeypatch.setenv("DB_LOCK_TIMEOUT_S", value)
    assert db.lock_timeout() == seconds


def healthy_file(path: Path) -> Path:
    with db.connect(resource(path)) as con:
        con.execute("CREATE TABLE numbers AS SELECT range AS n, repeat('x', 100) AS s FROM range(200000)")
    return path


def damage(path: Path) -> None:
    """Overwrite part of the first block after DuckDB's three headers: its checksum no longer matches."""
    data = bytearray(path.read_bytes())
    data[12288 + 100:12288 + 5000] = bytes(4900)
    path.write_bytes(bytes(data))


def sqlite_file(path: Path) -> None:
    path.unlink()
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE a (x)")


SPOIL = {
    "truncated to half": lambda p: truncate(p, 0.5),
    "cut inside its header": lambda p: truncate(p, 0.002),
    "empty": lambda p: truncate(p, 0),
    "random bytes": lambda p: p.write_bytes(random.Random(7).randbytes(100_000)),
    "a block damaged": damage,
    "an SQLite database": sqlite_file,
}


@pytest.mark.parametrize("kind", list(SPOIL))
def test_an_unreadable_file_fails_at_once_in_one_line_with_the_recovery(tmp_path, kind):
    path = healthy_file(tmp_path / "pipeline.duckdb")
    SPOIL[kind](path)
    started = time.monotonic()
    with pytest.raises(db.DatabaseCorrupt) as raised:
        with db.connect(resource(path)) as con:
            con.execute("SELECT count(*), sum(length(s)) FROM numbers").fetchall()
    assert time.monotonic() - started < 5  # no retrying what cannot get better
    line = str(raised.value)
    assert "\n" not in line
    assert line.startswith(f"{path} is not a readable DuckDB database (")
    assert line.endswith(f"): move it aside (mv {path} {path}.corrupt); the next sync rebuilds it from Wistia and "
                         f"Upsales and posts nothing twice")


def test_a_file_cut_short_behind_its_catalog_is_refused_before_anything_is_written(tmp_path):
    """DuckDB opens such a file (its catalog is at the front) and fails only on a lost block."""
    path = healthy_file(tmp_path / "pipeline.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute("CHECKPOINT")
        con.execute("CREATE TABLE more AS SELECT range AS n FROM range(2000000)")
    truncate(path, 1 - 262144 / path.stat().st_size)  # its last block lost
    with duckdb.connect(str(path), read_only=True):
        pass  # DuckDB alone does not notice
    before = path.read_bytes()
    entered = False
    with pytest.raises(db.DatabaseCorrupt, match=r"is not a readable DuckDB database \(the file is cut short: "):
        with db.connect(resource(path)):
            entered = True
    assert not entered and path.read_bytes() == before


def test_a_damaged_write_ahead_log_is_moved_aside_with_its_file(tmp_path):
    path = tmp_path / "pipeline.duckdb"
    # A process that dies before its changes are checkpointed leaves them in <file>.wal.
    subprocess.run([sys.executable, "-c", "import os, sys, duckdb\n"
                                          "con = duckdb.connect(sys.argv[1])\n"
                                          "con.execute(\"SET checkpoint_threshold = '1GB'\")\n"
                                          "con.execute('CREATE TABLE numbers AS SELECT range AS n "
                                          "FROM range(100000)')\n"
                                          "os._exit(0)\n", str(path)], check=True)
    wal = Path(f"{path}.wal")
    data = bytearray(wal.read_bytes())
    data[len(data) // 2:len(data) // 2 + 200] = bytes(200)
    wal.write_bytes(bytes(data))
    with pytest.raises(db.DatabaseCorrupt) as raised:
        with db.connect(resource(path)):
            pass
    assert f"(mv {path} {path}.corrupt; mv {wal} {path}.corrupt.wal)" in str(raised.value)
    assert "\n" not in str(raised.value)


# -- the SQL files' named parameters ---------------------------------------------------------------

def test_a_misspelled_or_missing_sql_parameter_is_a_clear_error_before_anything_runs():
    con = db.prepare(duckdb.connect(":memory:"))
    con.execute("INSERT INTO view_outcomes (day, event_key, destination, outcome, run_id, decided_at) "
                "VALUES (DATE '2026-03-10', 'k', 'activities', 'synced', 'run-1', now())")
    day = date(2026, 3, 10)
    with pytest.raises(db.SqlParameterError) as misspelled:
        db.run_script(con, "view_outcomes", {"first": day, "last": day, "destinations": ["activities"],
                                             "runid": "run-2"})
    assert str(misspelled.value) == ("view_outcomes.sql takes $destinations, $first, $last, $run_id: "
                                     "no value for $run_id; $runid not used by it")
    with pytest.raises(db.SqlParameterError) as missing:
        db.run_script(con, "ledger_withdraw", {"first": day, "last": day})
    assert str(missing.value) == "ledger_withdraw.sql takes $destination, $first, $last: no value for $destination"
    with pytest.raises(TypeError, match="named"):
        db.run_script(con, "ledger_withdraw", [day, day, "activities"])
    # Checked before the first statement: the script's DELETE did not run.
    assert con.execute("SELECT count(*) FROM view_outcomes").fetchone() == (1,)


def test_every_sql_file_lists_the_named_parameters_it_uses_in_its_header():
    for path in sorted(db.SQL_DIR.rglob("*.sql")):
        text = path.read_text(encoding="utf-8")
        header = list(itertools.takewhile(lambda line: line.startswith("--"), text.splitlines()))
        listed: list[str] = []
        if any(line.startswith("-- Parameters") for line in header):
            block = header[next(i for i, line in enumerate(header) if line.startswith("-- Parameters")) + 1:]
            listed = [m.group(1) for line in block if (m := re.match(r"--   \$(\w+): \S", line))]
        assert sorted(listed) == db.parameters(path.stem), path.name  # each once


def test_a_file_from_before_form_score_and_notify_is_migrated_in_place(tmp_path):
    """Issue #15 added `upsales_forms.score` and `synced_ledger.notified`: a file written before
    gets both columns when the next run prepares it, its rows kept (NULL: not known / not
    notified), and preparing again changes nothing."""
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        old.execute("CREATE TABLE upsales_forms (name VARCHAR PRIMARY KEY, policy VARCHAR NOT NULL, "
                    "form_id BIGINT NOT NULL, form_uuid VARCHAR NOT NULL, created BOOLEAN NOT NULL, "
                    "recorded_at TIMESTAMP NOT NULL)")
        old.execute("INSERT INTO upsales_forms VALUES ('Wistia video views', 'single', 31, '1234u31', true, now())")
        old.execute("CREATE TABLE synced_ledger (destination VARCHAR NOT NULL, event_key VARCHAR NOT NULL, "
                    "day DATE NOT NULL, status VARCHAR NOT NULL, upsales_id VARCHAR, external_id VARCHAR, "
                    "client_id BIGINT, contact_id BIGINT, score INTEGER, value VARCHAR, form_id BIGINT, "
                    "form_name VARCHAR, attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR, "
                    "first_seen_at TIMESTAMP NOT NULL, posted_at TIMESTAMP, run_id VARCHAR, "
                    "PRIMARY KEY (destination, event_key))")
        old.execute("INSERT INTO synced_ledger (destination, event_key, day, status, upsales_id, first_seen_at) "
                    "VALUES ('activities', 'k1', DATE '2026-03-10', 'posted', '22401', now())")
    for _ in range(2):
        with db.open_database(str(path)) as con:
            db.prepare(con)
            assert con.execute("SELECT name, form_id, created, score FROM upsales_forms").fetchall() == [
                ("Wistia video views", 31, True, None)]
            assert con.execute("SELECT event_key, status, lookup_first, notified FROM synced_ledger").fetchall() == [
                ("k1", "posted", False, None)]
