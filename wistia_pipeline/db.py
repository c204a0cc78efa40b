"""DuckDB plumbing shared by the stages: connections, the schema, the SQL files, day rewrites.

Every connection runs in UTC, knows the rule functions (`is_valid_email`, `is_personal_domain`)
and has the schema in place, so a stage only says what it computes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
from dagster_duckdb import DuckDBResource

from wistia_pipeline import rules

SQL_DIR = Path(__file__).parent / "sql"

# Tables holding one day's rows per partition, in chain order.
STAGE_TABLES = ("wistia_events", "converted_views", "matched_views", "filtered_views")


@cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql`."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


# DuckDB's buffer pool per database. Without a cap it may grow to 80 % of the machine's memory;
# with one, a large window (a million events, ~1 GB of raw JSON) spills to `<file>.tmp` instead,
# so a run's peak memory stays well under 1 GiB whatever the window.
MEMORY_LIMIT = "512MB"


def prepare(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Make a fresh connection ready: UTC, memory cap, rule functions, schema."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    for name, function in (("is_valid_email", rules.is_valid_email), ("is_personal_domain", rules.is_personal_domain)):
        try:
            con.create_function(name, function, [duckdb.sqltypes.VARCHAR], duckdb.sqltypes.BOOLEAN,
                                null_handling="special", side_effects=False)
        except duckdb.CatalogException:
            pass  # already registered on this connection
    con.execute(sql("schema"))
    con.execute(plain_email_macro())
    return con


def plain_email_macro() -> str:
    """`is_plain_email(e)`: rules.is_plain_email in SQL, so most emails skip the Python check."""
    special = " OR ".join(f"lower(split_part(e, '@', 2)) = '{name}' OR suffix(lower(e), '.{name}')"
                          for name in rules.SPECIAL_USE_DOMAINS)
    return (
        "CREATE OR REPLACE TEMP MACRO is_plain_email(e) AS "
        f"length(e) <= {rules.PLAIN_EMAIL_MAX_LENGTH} "
        f"AND regexp_full_match(e, '{rules.PLAIN_EMAIL_PATTERN}') "
        f"AND NOT regexp_matches(e, '[^.@]{{{rules.PLAIN_EMAIL_MAX_RUN + 1}}}') "
        f"AND NOT ({special or 'false'})"
    )


# DuckDB lets one process write a file at a time. A run that finds the file held by another
# (a backfill next to a scheduled run, a CLI sync next to the UI's) waits its turn, so two
# overlapping runs are serialized instead of failing; the ledger then sees the first one's posts.
LOCK_WAIT_SECONDS = 900.0


@contextmanager
def connect(resource: DuckDBResource, lock_wait: float = LOCK_WAIT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """A prepared connection from the Dagster DuckDB resource, waiting for another writer."""
    Path(resource.database).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_wait
    pause = 0.1
    while True:
        opening = resource.get_connection()
        try:
            con = opening.__enter__()
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
            continue
        break
    try:
        yield prepare(con)
    except BaseException:
        # The resource closes its connection only on success; a failed step must not keep the
        # file locked for other processes until garbage collection.
        con.close()
        raise
    opening.__exit__(None, None, None)


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a day is never left half rewritten.

    BEGIN and COMMIT are inside the `try`: an interrupt (SIGINT, or SIGTERM as an exception) on
    any statement must not leave the transaction open, or the connection's next BEGIN fails with
    "cannot start a transaction within a transaction" instead of the interrupt's own story.
    """
    try:
        con.execute("BEGIN TRANSACTION")
        yield con
        con.execute("COMMIT")
    except BaseException:
        rollback_quietly(con)
        raise


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back what is open; nothing open (BEGIN never ran, COMMIT did) is fine."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error as error:
        if "no transaction is active" not in str(error):
            raise


def delete_days(con: duckdb.DuckDBPyConnection, table: str, first: date, last: date) -> None:
    """Delete a stage table's rows for days first..last (table names come from code, never input)."""
    if table not in STAGE_TABLES:
        raise ValueError(f"not a partitioned stage table: {table}")
    con.execute(f"DELETE FROM {table} WHERE day BETWEEN $1 AND $2", [first, last])


def rewrite_days(con: duckdb.DuckDBPyConnection, stage: str, first: date, last: date,
                 extra_params: Sequence[Any] = ()) -> None:
    """Replace a stage's rows and its recorded reasons for days first..last in one transaction.

    The stage's SQL file is named after its table and takes $1 = first day, $2 = last day, then
    `extra_params`.
    """
    with transaction(con):
        clear_days(con, stage, first, last)
        run_script(con, stage, [first, last, *extra_params])


def clear_days(con: duckdb.DuckDBPyConnection, stage: str, first: date, last: date) -> None:
    """Remove a stage's rows and recorded reasons for days first..last."""
    delete_days(con, stage, first, last)
    con.execute("DELETE FROM view_rejections WHERE stage = $1 AND day BETWEEN $2 AND $3", [stage, first, last])


def run_script(con: duckdb.DuckDBPyConnection, name: str, params: Sequence[Any]) -> None:
    """Run a multi-statement SQL file; `$n` means params[n-1] in every statement.

    DuckDB binds exactly the parameters a statement uses, so each statement gets its own
    renumbered list.
    """
    for statement in split_statements(sql(name)):
        used = sorted({int(n) for n in _PARAM.findall(statement)})
        mapping = {old: new for new, old in enumerate(used, start=1)}
        con.execute(_PARAM.sub(lambda m: f"${mapping[int(m.group(1))]}", statement),
                    [params[i - 1] for i in used])


_PARAM = re.compile(r"\$(\d+)")


def split_statements(text: str) -> list[str]:
    """Split a SQL file on the semicolons that end statements (our files keep ';' out of strings)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]


def load_page(con: duckdb.DuckDBPyConnection, loader: str, page: list[dict], *params: Any) -> None:
    """Stage one API page through a loader SQL file; the page (as JSON) is the last parameter.

    The page goes to DuckDB as one JSON text and is unpacked there (`json_each`), so Python never
    builds rows, and the window is held by DuckDB, not by this process.
    """
    if page:
        con.execute(sql(loader), [*params, json.dumps(page)])


def load_pages(con: duckdb.DuckDBPyConnection, loader: str, pages: Sequence[tuple[Any, ...]]) -> None:
    """Stage a batch of API pages with one statement (the loader takes one list per field).

    `pages` holds one tuple per page, the page as JSON text last. One INSERT per batch instead of
    one per page: a round trip into DuckDB costs about as much as unpacking a page.
    """
    if pages:
        con.execute(sql(loader), [list(field) for field in zip(*pages)])


@contextmanager
def zstd_compression(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Compress what is written meanwhile with zstd instead of what DuckDB's analysis picks (FSST).

    For raw JSON (the staged Wistia pages and wistia_events): DuckDB's FSST analysis takes most of
    such a write (a million events' JSON writes in about 7 s instead of 10 on two cores) and zstd
    takes less disk. Storage only: what is read back is the same.
    """
    con.execute("SET force_compression = 'zstd'")
    try:
        yield
    finally:
        con.execute("RESET force_compression")


def count(con: duckdb.DuckDBPyConnection, table: str, first: date, last: date, where: str = "",
          params: Sequence[Any] = ()) -> int:
    """Rows of a stage table for days first..last (optionally narrowed by a fixed clause)."""
    query = f"SELECT count(*) FROM {table} WHERE day BETWEEN ? AND ? {where}"
    return con.execute(query, [first, last, *params]).fetchone()[0]


def preview_markdown(con: duckdb.DuckDBPyConnection, query: str, params: Sequence[Any], limit: int = 10) -> str:
    """The first rows of a query as a markdown table for the Dagster UI."""
    relation = con.execute(f"SELECT * FROM ({query}) LIMIT {int(limit)}", list(params))
    columns = [d[0] for d in relation.description]
    rows = relation.fetchall()
    if not rows:
        return "_no rows_"

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 60 else text[:57] + "..."

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def column_schema(con: duckdb.DuckDBPyConnection, table: str):
    """The table's columns as Dagster's TableSchema (shown on the asset page)."""
    from dagster import TableColumn, TableSchema

    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return TableSchema(columns=[TableColumn(name=name, type=kind) for name, kind in rows])
