"""What the asset pages show: a preview that says how many rows of how many and never cuts a link,
and metadata that names the run's window (Dagster shows it under each day the run covered)."""

from __future__ import annotations

from datetime import date

import dagster as dg
import duckdb
import pytest

from wistia_pipeline import db
from wistia_pipeline.stages.common import Funnel, funnel_metadata, table_metadata, window_label

HEATMAP = ("https://api.wistia.com/v1/stats/events/1795707787_f38c98f1-1343-48a2-9194-01536e31523f/"
           "iframe.html?public_token=demo-public-token")


@pytest.fixture
def con():
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t (day DATE, event_key VARCHAR, value VARCHAR)")
        yield con


def add_rows(con, n: int, value: str = "x") -> None:
    con.executemany("INSERT INTO t VALUES (?, ?, ?)",
                    [(date(2026, 11, 24 + i % 3), f"k{i:03d}", value) for i in range(n)])


def test_a_preview_of_more_rows_than_shown_says_how_many(con):
    add_rows(con, 25)
    text = db.preview_markdown(con, "SELECT * FROM t ORDER BY event_key", [])
    table, note = text.split("\n\n")
    assert len(table.splitlines()) == 2 + 10
    assert note == "_10 of 25 rows_"
    limited = db.preview_markdown(con, "SELECT * FROM t WHERE day = ? ORDER BY event_key", [date(2026, 11, 24)],
                                  limit=5)
    assert limited.endswith("_5 of 9 rows_")


def test_a_preview_of_every_row_says_so(con):
    add_rows(con, 3)
    assert db.preview_markdown(con, "SELECT * FROM t", []).endswith("\n\n_all 3 rows_")
    add_rows(con, 7)  # exactly the limit: counted, not guessed
    assert db.preview_markdown(con, "SELECT * FROM t", []).endswith("\n\n_all 10 rows_")
    assert db.preview_markdown(con, "SELECT * FROM t WHERE false", []) == "_no rows_"


def test_a_link_is_never_cut(con):
    text = f"Anna Berg watched Product tour 2025 (83%) Heatmap: {HEATMAP}"
    assert 60 < len(text) <= db.PREVIEW_CELL_CHARS
    add_rows(con, 1, text)
    preview = db.preview_markdown(con, "SELECT * FROM t", [])
    assert f"| {text} |" in preview and preview.endswith("_all 1 row_")
    # A link that crosses the bound is kept whole; the text after it is cut, and the note says so.
    long_text = "y" * 150 + " " + HEATMAP + " " + "z" * 100
    cell, cut = db.preview_cell(long_text)
    assert cut and cell == "y" * 150 + " " + HEATMAP + " …"
    con.execute("DELETE FROM t")
    add_rows(con, 2, long_text)
    preview = db.preview_markdown(con, "SELECT * FROM t", [])
    assert HEATMAP in preview
    assert preview.endswith("_all 2 rows; cells over 200 characters cut at … (URLs kept whole)_")


def test_a_cell_is_kept_whole_up_to_the_bound_and_escaped():
    assert db.preview_cell("a" * 200) == ("a" * 200, False)
    assert db.preview_cell("a" * 201) == ("a" * 200 + " …", True)
    assert db.preview_cell(HEATMAP * 3) == (HEATMAP * 3, False)  # one URL, however long
    assert db.preview_cell("a|b\nc") == ("a\\|b c", False)
    assert db.preview_cell(None) == ("", False)


def test_metadata_names_the_runs_window(con):
    first, last = date(2026, 11, 24), date(2026, 11, 26)
    assert window_label(first, last) == "2026-11-24 .. 2026-11-26 (this run's 3 days)"
    assert window_label(last, last) == "2026-11-26 .. 2026-11-26 (this run's 1 day)"
    counts = {"activities": Funnel({"events": 193, "converted": 54, "new": 4}, first, last),
              "forms": Funnel({"events": 193, "converted": 54}, first, last)}
    metadata = funnel_metadata(counts)
    assert metadata["window"] == "2026-11-24 .. 2026-11-26 (this run's 3 days)"
    funnel = metadata["funnel"].value
    assert funnel.startswith("**This run's funnel, over its 3 days 2026-11-24 .. 2026-11-26**")
    assert "| activities | views in Wistia | 193 |" in funnel
    assert metadata["funnel_activities"] == "193 -> 54 -> 4"
    assert metadata["funnel_counts"] == dg.MetadataValue.json(
        {"activities": {"events": 193, "converted": 54, "new": 4}, "forms": {"events": 193, "converted": 54}})
    # Plain counts (no window known) still make a funnel, untitled.
    assert "window" not in funnel_metadata({"activities": {"events": 1}})

    add_rows(con, 12)
    table = table_metadata(con, "t", first, last)
    assert table["window"] == "2026-11-24 .. 2026-11-26 (this run's 3 days)"
    assert table["days"] == "2026-11-24 .. 2026-11-26"
    assert table["dagster/row_count"] == 12
    assert table["preview"].value.endswith("_10 of 12 rows_")
