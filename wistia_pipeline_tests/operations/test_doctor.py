"""`doctor` (one green or red line per check) and the token check every run makes before posting."""

from __future__ import annotations

import re

import pytest

from wistia_pipeline import cli
from wistia_pipeline.cli import run_sync
from wistia_pipeline.operations.doctor import Check, format_checks, run_doctor

WRONG = "wrong-token-0123"


@pytest.fixture
def doctor(pipeline_env, capsys, tmp_path, monkeypatch):
    """Run `wistia-pipeline doctor`; returns (exit code, {check name: line})."""
    monkeypatch.chdir(tmp_path)  # no stray .env

    def run() -> tuple[int, dict[str, str], str]:
        code = cli.main(["doctor"])
        out = capsys.readouterr().out
        lines = {line.split(":")[0][8:]: line for line in out.splitlines()[:-1]}
        return code, lines, out

    return run


def test_all_green_against_the_sandbox(doctor, pipeline_env):
    code, lines, out = doctor()
    assert code == 0 and out.rstrip().endswith("All checks passed.")
    assert all(line.startswith("✔ OK    ") for line in lines.values())
    assert "\033[" not in out  # no colour when stdout is not a terminal
    assert lines["Wistia API token"] == "✔ OK    Wistia API token: Wistia accepted the token (projects and stats)"
    assert lines["Upsales API key"] == "✔ OK    Upsales API key: Upsales accepted the API key (GET /v2/self)"
    assert lines["WISTIA_API_TOKEN"] == "✔ OK    WISTIA_API_TOKEN: set"
    assert pipeline_env["WISTIA_API_TOKEN"] not in out and pipeline_env["UPSALES_API_TOKEN"] not in out
    assert "Upsales customer id" not in lines  # forms are off


@pytest.mark.parametrize("variable,check,message", [
    ("WISTIA_API_TOKEN", "Wistia API token", "Wistia rejected the API token (401)"),
    ("UPSALES_API_TOKEN", "Upsales API key", "Upsales rejected the API key (401)"),
])
def test_a_wrong_token_is_red_with_a_hint_and_never_shown(doctor, monkeypatch, variable, check, message):
    monkeypatch.setenv(variable, WRONG)
    code, lines, out = doctor()
    assert code == 1
    assert lines[check].startswith(f"✘ FAIL  {check}: {message} -> fix: ")
    assert variable in lines[check]  # the hint names the variable to set
    other = "Upsales API key" if check == "Wistia API token" else "Wistia API token"
    assert lines[other].startswith("✔ OK")
    assert WRONG not in out
    assert re.search(r"\n1 of \d+ checks failed\.$", out.rstrip())


def test_every_bad_setting_is_listed_and_the_tokens_still_checked(doctor, monkeypatch, tmp_path):
    monkeypatch.setenv("MIN_PERCENT_WATCHED", "120")
    monkeypatch.setenv("FORM_POLICY", "weekly")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "hooks.slack.com/services/T0/B0/secret")
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("WISTIA_PIPELINE_DB", str(tmp_path / "a-file" / "pipeline.duckdb"))
    code, lines, out = doctor()
    assert code == 1
    assert lines["MIN_PERCENT_WATCHED"] == ("✘ FAIL  MIN_PERCENT_WATCHED: must be a number from 0 to 100, got '120' "
                                            "-> fix: set it in .env or the environment (README, Settings)")
    assert lines["FORM_POLICY"].startswith("✘ FAIL  FORM_POLICY: must be one of single, project, video, got 'weekly'")
    assert lines["ALERT_WEBHOOK_URL"].startswith("✘ FAIL  ALERT_WEBHOOK_URL: must be an http(s) URL")
    assert "secret" not in out
    assert lines["DuckDB file"].startswith("✘ FAIL  DuckDB file: ") and "is not a directory" in lines["DuckDB file"]
    assert lines["Wistia API token"].startswith("✔ OK") and lines["Upsales API key"].startswith("✔ OK")


def test_a_missing_token_is_not_verified(doctor, monkeypatch):
    monkeypatch.delenv("UPSALES_API_TOKEN")
    code, lines, _ = doctor()
    assert code == 1
    assert lines["UPSALES_API_TOKEN"].startswith("✘ FAIL  UPSALES_API_TOKEN: is not set")
    assert lines["Upsales API key"].startswith("✘ FAIL  Upsales API key: not checked: UPSALES_API_TOKEN")


def test_with_forms_on_the_customer_id_is_checked(pipeline_env, sandbox, monkeypatch):
    monkeypatch.setenv("SYNC_FORMS", "true")
    by_name = {c.name: c for c in run_doctor()}
    assert by_name["Upsales customer id"] == Check(
        "Upsales customer id", True, f"{sandbox.upsales.customer_id} (from GET /v2/self), for form submits")
    monkeypatch.setenv("UPSALES_CUSTOMER_ID", "77")
    assert run_doctor()[-1].detail == "77 (from UPSALES_CUSTOMER_ID), for form submits"


def test_colour_only_on_request():
    checks = [Check("a", True, "fine"), Check("b", False, "broken", "mend it")]
    plain = format_checks(checks)
    assert plain == "✔ OK    a: fine\n✘ FAIL  b: broken -> fix: mend it\n1 of 2 checks failed."
    coloured = format_checks(checks, colour=True)
    assert "\033[32m✔ OK  \033[0m  a: fine" in coloured and "\033[31m✘ FAIL\033[0m  b: broken" in coloured


# -- every run verifies both tokens before anything is posted ---------------------------------------


def test_a_run_with_a_wrong_upsales_key_names_upsales_and_posts_nothing(demo, sandbox, today, monkeypatch):
    monkeypatch.setenv("UPSALES_API_TOKEN", WRONG)
    report = run_sync(today, today)
    assert not report.success
    assert "Upsales rejected the API key (401)" in report.error and WRONG not in report.error
    assert sandbox.upsales.request_count(method="POST") == 0 and sandbox.upsales.events == []


def test_forms_only_the_ledger_verifies_the_upsales_key_before_posting(demo, sandbox, today, monkeypatch):
    monkeypatch.setenv("SYNC_ACTIVITIES", "false")  # nothing to match: the ledger is the first Upsales call
    monkeypatch.setenv("UPSALES_API_TOKEN", WRONG)
    report = run_sync(today, today)
    assert not report.success
    assert report.error.startswith("synced_ledger: Upsales rejected the API key (401)")
    assert sandbox.upsales.request_count(method="POST") == 0


def test_a_run_with_a_wrong_wistia_token_names_wistia_and_posts_nothing(demo, sandbox, today, monkeypatch):
    monkeypatch.setenv("WISTIA_API_TOKEN", WRONG)
    report = run_sync(today, today)
    assert not report.success
    assert report.error == "wistia_events: Wistia rejected the API token (401)"
    assert sandbox.upsales.request_count() == 0  # the run stopped before any Upsales call


def test_the_daily_upsales_calls_are_projected_against_the_budget(doctor, monkeypatch, pipeline_env):
    """Issue #13: mean Upsales calls of the last runs x 72 runs a day, red above the budget."""
    import duckdb

    from wistia_pipeline import db

    _, lines, _ = doctor()
    assert lines["Upsales calls per day"] == "✔ OK    Upsales calls per day: no runs recorded yet"
    con = db.prepare(duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"]))
    con.executemany("INSERT INTO run_calls VALUES (?, ?, TIMESTAMP '2026-03-10 12:00:00' + to_minutes(?), "
                    "'upsales', 'GET /v2/contacts', ?)", [["r1", "matched_views", 0, 10], ["r2", "matched_views", 20, 30],
                                                          ["r2", "synced_ledger", 20, 2]])
    con.execute("INSERT INTO run_calls VALUES ('r2', 'wistia_events', now(), 'wistia', 'GET /stats/events.json', 500)")
    con.close()
    _, lines, _ = doctor()  # (10 + 32) / 2 runs x 72 = 1,512
    assert lines["Upsales calls per day"] == (
        "✔ OK    Upsales calls per day: 1,512 projected (the last 2 runs x 72 runs a day, one every 20 minutes) "
        "of 99,999 free; budget 50,000")
    monkeypatch.setenv("UPSALES_DAILY_CALL_BUDGET", "1000")
    code, lines, _ = doctor()
    assert code == 1
    assert lines["Upsales calls per day"].startswith("✘ FAIL  Upsales calls per day: 1,512 projected")
    assert "budget 1,000 -> fix: raise CONTACT_REFRESH_MINUTES" in lines["Upsales calls per day"]


# -- issue #15: the score in use, notifications, and the settings Upsales would silently drop -------


def test_the_scores_and_notifications_in_use_are_shown(doctor, monkeypatch):
    monkeypatch.setenv("SYNC_FORMS", "true")
    monkeypatch.setenv("FORM_SCORE", "25")
    code, lines, out = doctor()
    assert code == 0 and out.rstrip().endswith("All checks passed.")
    assert lines["FORM_SCORE"] == "✔ OK    FORM_SCORE: 25"
    assert lines["ACTIVITY_NOTIFY"] == "✔ OK    ACTIVITY_NOTIFY: false"
    assert lines["ACTIVITY_NOTIFY_MIN_PERCENT"] == "✔ OK    ACTIVITY_NOTIFY_MIN_PERCENT: 50"
    assert lines["form score"].startswith("✔ OK    form score: each form submission adds 25 to the contact's lead score")
    assert lines["activity notifications"] == "✔ OK    activity notifications: off (ACTIVITY_NOTIFY=false); each entry scores 10"
    monkeypatch.setenv("ACTIVITY_NOTIFY", "true")
    monkeypatch.setenv("ACTIVITY_NOTIFY_MIN_PERCENT", "75")
    _, lines, _ = doctor()
    assert lines["activity notifications"] == (
        "✔ OK    activity notifications: the account managers are notified of views at or above 75 % "
        "(ACTIVITY_NOTIFY_MIN_PERCENT); each entry scores 10")


def test_notify_with_an_activity_score_of_0_and_forms_scoring_0_are_warnings(doctor, monkeypatch):
    """Upsales sends no notification for a score of 0: the run would work and notify no one."""
    for name, value in {"ACTIVITY_NOTIFY": "true", "ACTIVITY_SCORE": "0", "SYNC_FORMS": "true",
                        "FORM_SCORE": "0"}.items():
        monkeypatch.setenv(name, value)
    code, lines, out = doctor()
    assert code == 0  # a warning never fails
    assert lines["activity notifications"] == (
        "⚠ WARN  activity notifications: ACTIVITY_NOTIFY is on but ACTIVITY_SCORE is 0: Upsales sends no "
        "notification for an entry that scores 0, so no one is notified -> fix: set ACTIVITY_SCORE above 0, "
        "or ACTIVITY_NOTIFY=false")
    assert lines["form score"].startswith(
        "⚠ WARN  form score: FORM_SCORE is 0: form submissions add no score and send no notification in Upsales "
        "-> fix: set FORM_SCORE above 0")
    assert out.rstrip().endswith("All checks passed. 2 warnings.")
    monkeypatch.setenv("SYNC_FORMS", "false")  # forms off: their score is not a concern
    monkeypatch.setenv("ACTIVITY_NOTIFY", "false")  # nothing to notify: a score of 0 is a choice
    _, lines, out = doctor()
    assert "form score" not in lines and lines["activity notifications"].startswith("✔ OK")
    assert out.rstrip().endswith("All checks passed.")


def test_a_bad_notify_setting_is_red_and_its_summary_line_left_out(doctor, monkeypatch):
    monkeypatch.setenv("ACTIVITY_NOTIFY_MIN_PERCENT", "150")
    code, lines, _ = doctor()
    assert code == 1
    assert lines["ACTIVITY_NOTIFY_MIN_PERCENT"].startswith(
        "✘ FAIL  ACTIVITY_NOTIFY_MIN_PERCENT: must be a number from 0 to 100, got '150'")
    assert "activity notifications" not in lines


def test_a_warning_is_yellow_with_its_fix():
    checks = [Check("a", True, "fine"), Check("w", True, "odd", "mend it", warning=True)]
    assert format_checks(checks) == "✔ OK    a: fine\n⚠ WARN  w: odd -> fix: mend it\nAll checks passed. 1 warning."
    assert "\033[33m⚠ WARN\033[0m  w: odd" in format_checks(checks, colour=True)
