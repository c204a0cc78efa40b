"""`wistia-pipeline retry`: re-offers ledger rows, keeps their history, and says what it did."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from wistia_pipeline import cli, db

DAY = date(2026, 3, 10)
ROWS = [  # (destination, event_key, day, status, last_error)
    ("activities", "rej-old", date(2026, 3, 1), "rejected", "Upsales returned 400: Invalid contact"),
    ("activities", "rej-new", DAY, "rejected", "Upsales returned 400: Invalid contact"),
    ("activities", "posted", DAY, "posted", None),
    ("activities", "flying", DAY, "in_flight", "Upsales POST /v2/events answered 503"),
    ("activities", "queued", DAY, "pending", None),
    ("forms", "rej-new", DAY, "rejected", "Upsales returned 400: Invalid formId"),
]


@pytest.fixture
def ledger_file(tmp_path, monkeypatch):
    path = tmp_path / "pipeline.duckdb"
    with db.prepare(duckdb.connect(str(path))) as con:
        for destination, key, day, status, error in ROWS:
            con.execute("INSERT INTO synced_ledger (destination, event_key, day, status, last_error, attempts, "
                        "first_seen_at, upsales_id) VALUES (?, ?, ?, ?, ?, 1, now(), ?)",
                        [destination, key, day, status, error, "9" if status == "posted" else None])
        con.execute("INSERT INTO converted_views (day, event_key, email, email_lower, email_domain) "
                    "VALUES (?, 'rej-old', 'Anna.Berg@acme.se', 'anna.berg@acme.se', 'acme.se')", [DAY])
    monkeypatch.setenv("WISTIA_PIPELINE_DB", str(path))
    return path


def state(path) -> dict[tuple[str, str], tuple[str, bool]]:
    with duckdb.connect(str(path)) as con:
        return {(d, k): (s, f) for d, k, s, f in con.execute(
            "SELECT destination, event_key, status, lookup_first FROM synced_ledger").fetchall()}


def test_rejected_rows_are_queued_again_to_be_looked_up_first_and_their_history_kept(ledger_file, capsys):
    assert cli.main(["retry", "--destination", "activities"]) == 0
    out = capsys.readouterr().out
    assert "2 activities views rejected by Upsales are queued again" in out
    after = state(ledger_file)
    assert after[("activities", "rej-old")] == ("pending", True)
    assert after[("activities", "rej-new")] == ("pending", True)
    assert after[("activities", "posted")][0] == "posted"
    assert after[("forms", "rej-new")][0] == "rejected"  # another destination: untouched
    with duckdb.connect(str(ledger_file)) as con:
        history = con.execute("SELECT event_key, outcome, error FROM ledger_attempts ORDER BY event_key").fetchall()
    assert history == [("rej-new", "retry_requested", "was rejected: Upsales returned 400: Invalid contact"),
                       ("rej-old", "retry_requested", "was rejected: Upsales returned 400: Invalid contact")]


@pytest.mark.parametrize(("args", "expected"), [
    (["--email", " ANNA.berg@acme.se "], {"rej-old"}),
    (["--event-key", "rej-new"], {"rej-new"}),
    (["--start", "2026-03-05", "--end", "2026-03-31"], {"rej-new"}),
    (["--end", "2026-03-05"], {"rej-old"}),
])
def test_the_filters_narrow_what_is_re_offered(ledger_file, args, expected):
    assert cli.main(["retry", "--destination", "activities", *args]) == 0
    requeued = {k for (d, k), (s, _) in state(ledger_file).items() if d == "activities" and k.startswith("rej") and s == "pending"}
    assert requeued == expected


def test_failed_rows_stay_in_flight_or_queued_and_are_looked_up_first(ledger_file, capsys):
    assert cli.main(["retry", "--destination", "activities", "--status", "failed"]) == 0
    assert "2 activities views were already retried by every run" in capsys.readouterr().out
    after = state(ledger_file)
    assert after[("activities", "flying")] == ("in_flight", True)  # may have been stored: still looked up
    assert after[("activities", "queued")] == ("pending", True)
    assert after[("activities", "rej-new")][0] == "rejected"


def test_nothing_to_re_offer_and_bad_values_say_so_in_one_line(ledger_file, capsys):
    assert cli.main(["retry", "--destination", "forms", "--email", "nobody@acme.se"]) == 1
    assert "No forms ledger rows match" in capsys.readouterr().out
    assert cli.main(["retry", "--destination", "activities", "--start", "2026-03-31", "--end", "2026-03-01"]) == 2
    assert capsys.readouterr().err.strip() == "error: --start 2026-03-31 is after --end 2026-03-01"
    assert cli.main(["retry", "--destination", "activities", "--start", "yesterday"]) == 2
    assert "--start must be a date as YYYY-MM-DD" in capsys.readouterr().err


def test_without_a_duckdb_file_it_says_so_and_creates_none(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "nowhere" / "pipeline.duckdb"
    monkeypatch.setenv("WISTIA_PIPELINE_DB", str(missing))
    assert cli.main(["retry", "--destination", "activities"]) == 2
    assert capsys.readouterr().err.startswith("error: no sync has run yet:")
    assert not missing.exists() and not missing.parent.exists()
