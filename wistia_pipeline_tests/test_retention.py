"""Retention (RETENTION_DAYS, retention.py, sql/retention/): the boundary, the setting, and the scrub
on a DuckDB file seeded with views on both sides of the cutoff (the chain end to end:
e2e/test_personal_data.py)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pytest

from wistia_pipeline import db, retention
from wistia_pipeline.settings import Settings, SettingsError

TODAY = date(2026, 11, 27)  # the rule is pure: a fixed day, no clock


def test_today_is_day_one_so_retention_days_keeps_that_many_days():
    assert retention.cutoff(TODAY, 90) == date(2026, 8, 30)
    assert not retention.is_expired(date(2026, 8, 30), TODAY, 90)   # the 90th day back is kept
    assert retention.is_expired(date(2026, 8, 29), TODAY, 90)
    assert retention.cutoff(TODAY, 2) == TODAY - timedelta(days=1)


def settings_env(**values: str) -> dict[str, str]:
    return {"WISTIA_API_TOKEN": "w" * 12, "UPSALES_API_TOKEN": "u" * 12, **values}


def test_retention_days_must_outlive_the_lookback_in_one_line():
    with pytest.raises(SettingsError) as error:
        Settings.from_env(settings_env(LOOKBACK_DAYS="7", RETENTION_DAYS="7"))
    assert str(error.value) == "RETENTION_DAYS must be at least LOOKBACK_DAYS + 1 (8), got 7"
    assert Settings.from_env(settings_env(LOOKBACK_DAYS="7", RETENTION_DAYS="8")).retention_days == 8
    assert Settings.from_env(settings_env()).retention_days == 90


@pytest.mark.parametrize("name, value", [("RETENTION_DAYS", "ninety"), ("RETENTION_DAYS", "1"),
                                         ("RETENTION_DAYS", "4000"), ("PREVIEW_EMAILS", "partial")])
def test_bad_personal_data_settings_are_one_line_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env(settings_env(**{name: value}))
    message = str(error.value)
    assert message.startswith(f"{name} must be") and "\n" not in message and repr(value) in message


def test_preview_emails_is_masked_by_default_and_full_on_request():
    assert not Settings.from_env(settings_env()).full_emails
    assert Settings.from_env(settings_env(PREVIEW_EMAILS="FULL")).full_emails


OLD, NEW = TODAY - timedelta(days=10), TODAY  # with RETENTION_DAYS=5: OLD is past it, NEW is kept


def add_view(con, day: date, key: str, email: str, status: str | None = "posted") -> None:
    raw = json.dumps({"event_key": key, "email": email, "visitor_key": f"v-{key}"})
    con.execute("INSERT INTO wistia_events VALUES (?, ?, ?, ?, ?, 0.8, 'pre-roll', ?, 'Anna', 'Berg', 'm1', "
                "'Tour', ?, NULL, ?, now())",
                [day, key, f"{day} 10:00:00", f"v-{key}", email, email, f"https://h/{key}", raw])
    con.execute("INSERT INTO converted_views VALUES (?, ?, ?, ?, ?, 'acme.se', 'Anna', 'Berg', 0.8, 'm1', 'Tour', ?)",
                [day, key, f"{day} 10:00:00", email, email.lower(), f"https://h/{key}"])
    con.execute("INSERT INTO matched_views VALUES (?, ?, ?, ?, 0.8, 'm1', 'Tour', ?, 'contact', 7, 'Anna Berg', 101, 'Acme')",
                [day, key, f"{day} 10:00:00", email, f"https://h/{key}"])
    con.execute("INSERT INTO filtered_views VALUES (?, 'activities', ?, ?, ?, 'Anna', 'Berg', 0.8, 'm1', 'Tour', "
                "1, 'p1', 'Project', ?, 'contact', 7, 'Anna Berg', 101)",
                [day, key, f"{day} 10:00:00", email, f"https://h/{key}"])
    con.execute("INSERT INTO view_rejections VALUES (?, ?, 'forms', 'converted_views', 'invalid_email', ?)",
                [day, key, email])
    con.execute("INSERT INTO view_outcomes VALUES (?, ?, 'activities', 'already_synced', 'already_synced', "
                "'synced_ledger', '9001', ?, 'Tour', 0.8, 'r1', now())", [day, key, email])
    if status:
        con.execute("INSERT INTO synced_ledger (destination, event_key, day, status, upsales_id, external_id, "
                    "client_id, contact_id, score, value, attempts, last_error, first_seen_at, posted_at, run_id) "
                    "VALUES ('activities', ?, ?, ?, ?, 'ext', 101, 7, 10, ?, 1, ?, now(), now(), 'r1')",
                    [key, day, status, "9001" if status == "posted" else None,
                     f"{email} watched Tour (80%)", f"Upsales said: no contact {email}"])
        con.execute("INSERT INTO ledger_attempts VALUES ('activities', ?, now(), 'r1', 'unconfirmed', ?)",
                    [key, f"timeout posting {email}"])


def add_lookup(con, kind: str, asked: str, contact_email: str, age_days: int = 0) -> None:
    con.execute("INSERT INTO upsales_lookups VALUES (?, ?, now()::TIMESTAMP - to_days(?), 1)", [kind, asked, age_days])
    con.execute("INSERT INTO upsales_lookup_contacts VALUES (?, ?, 7, ?, 'acme.se', 'Anna Berg', 1, now(), 101, 'Acme')",
                [kind, asked, contact_email])


@pytest.fixture
def seeded():
    con = db.prepare(duckdb.connect())
    add_view(con, OLD, "k-old", "Old.Viewer@acme.se")
    add_view(con, OLD, "k-held", "held.viewer@acme.se", status="pending")   # not settled yet: kept
    add_view(con, OLD, "k-both-old", "both@acme.se")
    add_view(con, NEW, "k-both-new", "both@acme.se")                          # also seen on a kept day
    add_view(con, NEW, "k-new", "new.viewer@acme.se", status=None)
    add_lookup(con, "email", "old.viewer@acme.se", "old.viewer@acme.se")     # asked today, for an old view
    add_lookup(con, "domain", "acme.se", "old.viewer@acme.se")               # an answer holding that email
    add_lookup(con, "email", "new.viewer@acme.se", "new.viewer@acme.se")
    add_lookup(con, "email", "someone@else.se", "someone@else.se", age_days=30)  # older than retention
    yield con
    con.close()


def every_value(con) -> str:
    """Every value of every table of the file, as text: where an email could hide."""
    texts = []
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall():
        columns = [c for (c,) in con.execute("SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = ? AND table_schema = 'main'", [table]).fetchall()]
        select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
        texts += [str(v) for row in con.execute(f"SELECT {select} FROM {table}").fetchall() for v in row]
    return "\n".join(texts).lower()


def test_retention_removes_every_copy_of_an_old_views_email_and_keeps_the_rest(seeded):
    con = seeded
    first_kept = retention.cutoff(TODAY, 5)
    removed = retention.apply(con, first_kept, 5, "run-1")

    text = every_value(con)
    assert "old.viewer@acme.se" not in text and "v-k-old" not in text and "https://h/k-old" not in text
    assert "new.viewer@acme.se" in text and "both@acme.se" in text     # kept days keep theirs
    assert "held.viewer@acme.se" in text                                 # until its post is settled
    assert "someone@else.se" not in text                                 # a look-up older than retention
    assert removed["held_unsettled"] == 1
    assert removed["wistia_events"] == removed["converted_views"] == removed["synced_ledger"] == 2
    assert removed["upsales_lookups"] == 3  # old.viewer's, the domain answer holding it, the 30-day-old one

    # The ledger keeps its guarantee fields: the posted view is still posted, with its id.
    row = con.execute("SELECT status, upsales_id, external_id, client_id, contact_id, value, last_error "
                      "FROM synced_ledger WHERE event_key = 'k-old'").fetchone()
    assert row == ("posted", "9001", "ext", 101, 7, None, None)
    # The stage rows stay (an old day's counts and outcomes), without the person.
    assert con.execute("SELECT count(*) FROM converted_views WHERE day = ?", [OLD]).fetchone()[0] == 3
    assert con.execute("SELECT outcome, upsales_id, email FROM view_outcomes WHERE event_key = 'k-old'"
                       ).fetchone() == ("already_synced", "9001", None)
    recorded = dict(con.execute("SELECT table_name, rows FROM retention_runs WHERE run_id = 'run-1'").fetchall())
    assert recorded["wistia_events"] == 2 and "held_unsettled" not in recorded
    assert retention.removed_on(con, [OLD])[OLD] is not None

    # Once settled, the held view goes too; a run with nothing to remove writes nothing.
    con.execute("UPDATE synced_ledger SET status = 'posted', upsales_id = '9002' WHERE event_key = 'k-held'")
    assert retention.apply(con, first_kept, 5, "run-2")["wistia_events"] == 1
    assert "held.viewer@acme.se" not in every_value(con)
    again = retention.apply(con, first_kept, 5, "run-3")
    assert not any(again.values())
    assert con.execute("SELECT count(*) FROM retention_runs WHERE run_id = 'run-3'").fetchone()[0] == 0


def test_an_older_files_not_null_columns_are_relaxed_for_retention(tmp_path):
    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as con:  # as a file written before retention declared them
        con.execute("CREATE TABLE converted_views (day DATE NOT NULL, event_key VARCHAR NOT NULL, "
                    "received_at TIMESTAMP, email VARCHAR NOT NULL, email_lower VARCHAR NOT NULL, "
                    "email_domain VARCHAR NOT NULL, first_name VARCHAR, last_name VARCHAR, percent_viewed DOUBLE, "
                    "media_id VARCHAR, media_name VARCHAR, heatmap_url VARCHAR)")
    with duckdb.connect(path) as con:
        db.prepare(con)
        nullable = dict(con.execute("SELECT column_name, is_nullable FROM information_schema.columns "
                                    "WHERE table_name = 'converted_views'").fetchall())
    assert nullable["email"] == nullable["email_lower"] == "YES" and nullable["email_domain"] == "NO"
