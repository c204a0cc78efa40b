"""`explain`: one view of each outcome of the demo, read back in plain words."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import duckdb
import pytest

from wistia_pipeline.sinks import registry
from wistia_pipeline import cli
from wistia_pipeline.cli import run_sync
from wistia_pipeline.clients.errors import ApiError
from wistia_pipeline.operations.explain import ExplainError, explain, format_explanation
from wistia_pipeline.sandbox import Sandbox, load_demo
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.marketing_events import MarketingEventSink

REFUSAL = "Upsales returned 400 for POST /v2/events: Invalid client"
SETTINGS_VARIABLES = ("WISTIA_PROJECTS", "MIN_PERCENT_WATCHED", "SYNC_FORMS", "SYNC_ACTIVITIES", "FORM_POLICY",
                      "ACTIVITY_SCORE", "LOOKBACK_DAYS", "WISTIA_PUBLIC_TOKEN", "UPSALES_CUSTOMER_ID")


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """The demo synced twice (before and after the late views), the second run's first activity
    refused by Upsales: every outcome is in the DuckDB file."""
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=2)
    tmp = tmp_path_factory.mktemp("explain")
    with pytest.MonkeyPatch.context() as mp, Sandbox() as sb:
        for name in SETTINGS_VARIABLES:
            mp.delenv(name, raising=False)
        env = {**sb.env(), "WISTIA_PIPELINE_DB": str(tmp / "pipeline.duckdb"),
               "DAGSTER_HOME": str(tmp / "dagster_home")}
        scenario = load_demo(sb, today)
        for name, value in {**env, **scenario.env}.items():
            mp.setenv(name, value)
        assert run_sync(first, today).success

        sb.wistia.release_hidden()
        post = MarketingEventSink.post
        calls = []

        def refuse_the_first(self, payload):
            calls.append(payload)
            if len(calls) == 1:
                raise ApiError(REFUSAL, service="Upsales", status=400, method="POST", path="/v2/events")
            return post(self, payload)

        mp.setattr(MarketingEventSink, "post", refuse_the_first)
        second = run_sync(first, today)
        mp.setattr(MarketingEventSink, "post", post)
        assert not second.success and REFUSAL in second.error

        with duckdb.connect(env["WISTIA_PIPELINE_DB"], read_only=True) as con:
            rows = con.execute(
                "SELECT coalesce(reason, outcome), any_value(event_key ORDER BY event_key) FROM view_outcomes "
                "WHERE destination = 'activities' GROUP BY ALL").fetchall()
            ledger = dict(con.execute("SELECT event_key, upsales_id FROM synced_ledger "
                                      "WHERE destination = 'activities'").fetchall())
        yield SimpleNamespace(today=today, db=env["WISTIA_PIPELINE_DB"], keys=dict(rows), ledger=ledger,
                              settings=Settings.from_env(require_tokens=False), second=second)


def activities(result) -> str:
    [view] = result.views
    [outcome] = [o for o in view.outcomes if o.destination == "activities"]
    return outcome.words


EXPECTED_WORDS = {
    "not_converted": "not converted: the viewer left no email in a Turnstile",
    "invalid_email": "invalid email ",
    "no_match": "no contact or domain match",
    "personal_domain": "personal domain (",
    "ambiguous_domain": "ambiguous domain (vindhem.se)",
    "below_min_percent": "below minimum %: watched ",
    "project_not_enabled": "project not enabled: Internal training is not in WISTIA_PROJECTS",
    "unknown_project": "unknown project: Wistia does not list video zx0ld7ea5r",
    "already_synced": "already synced: posted as Upsales id ",
    "rejected_by_upsales": f"failed: Upsales rejected it ({REFUSAL})",
}


@pytest.mark.parametrize("reason", sorted(EXPECTED_WORDS))
def test_one_view_of_each_outcome(synced, reason):
    key = synced.keys[reason]
    result = explain(key, synced.settings, synced.today, synced.db)
    words = activities(result)
    assert words.startswith(EXPECTED_WORDS[reason]), words
    assert result.views[0].event_key == key and result.views[0].in_lookback
    if reason == "already_synced":
        assert f"Upsales id {synced.ledger[key]} " in words
    if reason == "below_min_percent":
        assert words.endswith("MIN_PERCENT_WATCHED is 25 %")


def test_a_view_posted_by_the_last_run_shows_its_upsales_id(synced):
    result = explain(synced.keys["synced"], synced.settings, synced.today, synced.db)
    upsales_id = synced.ledger[synced.keys["synced"]]
    assert activities(result).startswith(f"posted as Upsales id {upsales_id} by run {synced.second.run_id[:8]}")
    outcomes = {o.destination: o for o in result.views[0].outcomes}
    assert outcomes["activities"].upsales_id == upsales_id
    assert set(outcomes) == set(registry.enabled(synced.settings))


def test_an_email_in_any_case_with_spaces_finds_every_view_of_it(synced):
    result = explain("  ANNA.Berg@acme.SE ", synced.settings, synced.today, synced.db)
    assert len(result.views) == 3  # two Turnstile conversions and one view with only `email` set
    words = [activities(dataclasses.replace(result, views=[v])) for v in result.views]
    assert sorted(w.split(":")[0] for w in words) == ["already synced", "below minimum %", "not converted"]
    assert [v.received_at for v in result.views] == sorted((v.received_at for v in result.views), reverse=True)
    text = format_explanation(result)
    assert text.startswith("3 views of ANNA.Berg@acme.SE (newest first; lookback window")
    assert "outside the lookback window" not in text


def test_a_day_outside_the_lookback_window_is_flagged(synced):
    narrow = dataclasses.replace(synced.settings, lookback_days=1)
    result = explain("anna.berg@acme.se", narrow, synced.today, synced.db)
    outside = [v for v in result.views if not v.in_lookback]
    assert outside and all(v.day < synced.today for v in outside)
    text = format_explanation(result)
    day = outside[0].day
    assert (f"outside the lookback window: the schedule no longer re-reads {day}; to apply changed settings, "
            f"run `wistia-pipeline sync --start {day} --end {day}`") in text


def test_the_command_prints_the_views_and_exits_1_when_none_match(synced, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["explain", synced.keys["personal_domain"]]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 view of ") and "activities: personal domain (" in out
    assert cli.main(["explain", "nobody@nowhere.example"]) == 1
    assert capsys.readouterr().out.startswith("No view of 'nobody@nowhere.example' in ")


def test_no_database_yet_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "never-synced.duckdb"
    with pytest.raises(ExplainError, match="^no sync has run yet: "):
        explain("anna@acme.se", Settings(), datetime.now(timezone.utc).date(), str(missing))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WISTIA_PIPELINE_DB", str(missing))
    assert cli.main(["explain", "anna@acme.se"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no sync has run yet: ") and err.count("\n") == 1
    assert not missing.exists()  # explain never creates the file
