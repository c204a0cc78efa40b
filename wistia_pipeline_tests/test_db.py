"""The DuckDB plumbing under failure: an interrupt inside a transaction, a locked file."""

from __future__ import annotations

import duckdb
import pytest

from wistia_pipeline import db


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
