"""`wistia-pipeline probe`: one green or red line per API assumption, read-only unless
`--write-test`; against the demo sandbox every line is green, and each sandbox quirk (the API
behaving like a wrong assumption) turns exactly its own line red."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wistia_pipeline import cli
from wistia_pipeline.operations.probe import PROBE_FORM_NAME, PROBE_VALUE
from wistia_pipeline.sandbox import Fault
from wistia_pipeline_tests.factories import event

CONTACT = "anna.berg@acme.se"  # an active demo contact
WRITES = ("POST", "PUT", "PATCH", "DELETE")
READ_ONLY_LINES = {
    "Wistia projects", "Wistia medias", "Wistia stats", "Wistia days", "Upsales API key", "Upsales customer id",
    "Upsales rate-limit headers", "Upsales batched email look-up", "Upsales email case", "Upsales domain look-up",
    "Upsales externalId filter", "Upsales form name filter", "Upsales form submissions filter", "Upsales form score",
}
WRITE_LINES = {
    "Upsales test event", "Upsales test event date", "Upsales test event value and score",
    "Upsales test event deleted", "Upsales test submission", "Upsales test submission removed",
}


@pytest.fixture
def probe(demo, sandbox, today, capsys, tmp_path, monkeypatch):
    """Run `wistia-pipeline probe [args]` against the demo; returns (exit code, {line name: line}, output).

    One view just before midnight UTC yesterday makes any other reading of days show on the
    demo's most recent day, whatever the time of day the test runs."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    sandbox.wistia.add_events([event(today - timedelta(days=1), seconds=86_400 - 30 * 60, key="near-midnight")])

    def run(*args: str) -> tuple[int, dict[str, str], str]:
        code = cli.main(["probe", *args])
        out = capsys.readouterr().out
        lines = {line.split(":")[0][8:]: line for line in out.splitlines()[:-1]}
        return code, lines, out

    return run


def red(lines: dict[str, str]) -> set[str]:
    return {name for name, line in lines.items() if not line.startswith("✔ OK    ")}


def writes(sandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for emulator in (sandbox.wistia, sandbox.upsales) for r in emulator.requests
            if r.method in WRITES]


def assert_no_token(out: str, pipeline_env) -> None:
    assert pipeline_env["WISTIA_API_TOKEN"] not in out and pipeline_env["UPSALES_API_TOKEN"] not in out


def test_all_green_against_the_demo_and_read_only(probe, sandbox, pipeline_env):
    code, lines, out = probe()
    assert code == 0, out
    assert set(lines) == READ_ONLY_LINES and not red(lines)
    assert out.rstrip().endswith("All checks passed.")
    assert "\033[" not in out  # no colour when stdout is not a terminal
    assert "days are inclusive and in UTC" in lines["Wistia days"]
    assert "(GET /v2/self)" in lines["Upsales API key"] and "customer 1234" in lines["Upsales customer id"]
    assert writes(sandbox) == []  # only GETs, on both APIs
    assert_no_token(out, pipeline_env)


# (quirk, the one line it must turn red, whether the line needs --write-test)
QUIRKS = [
    ("days_in_local_time", "Wistia days", False),
    ("end_date_exclusive", "Wistia days", False),
    ("no_customer_id_in_self", "Upsales customer id", False),
    ("no_rate_headers", "Upsales rate-limit headers", False),
    ("ignore_q_lists", "Upsales batched email look-up", False),
    ("case_sensitive_email", "Upsales email case", False),
    ("no_domain_search", "Upsales domain look-up", False),
    ("reject_external_id_filter", "Upsales externalId filter", False),
    ("reject_form_name_filter", "Upsales form name filter", False),
    ("reject_form_submit_filter", "Upsales form submissions filter", False),
    ("event_date_in_local_time", "Upsales test event date", True),
    ("no_event_delete", "Upsales test event deleted", True),
]


@pytest.mark.parametrize("quirk,line,write_test", QUIRKS, ids=[q for q, _, _ in QUIRKS])
def test_each_quirk_turns_exactly_its_line_red(probe, sandbox, pipeline_env, quirk, line, write_test):
    emulator = sandbox.wistia if quirk in sandbox.wistia.quirks.known else sandbox.upsales
    emulator.quirks.add(quirk)
    code, lines, out = probe(*(["--write-test", CONTACT] if write_test else []))
    assert code == 1
    assert red(lines) == {line}, out
    assert lines[line].startswith(f"✘ FAIL  {line}: ") and " -> fix: " in lines[line]
    assert out.rstrip().endswith(f"1 of {len(lines)} checks failed.")
    assert_no_token(out, pipeline_env)


def test_the_red_lines_say_what_was_seen(probe, sandbox):
    sandbox.wistia.quirks.add("days_in_local_time")
    sandbox.upsales.quirks.update(["ignore_q_lists", "no_rate_headers"])
    code, lines, _ = probe()
    assert code == 1
    assert "received on another UTC day" in lines["Wistia days"] and "east of UTC" in lines["Wistia days"]
    assert "Upsales ignored the email list in `q` (got 0 of 1" in lines["Upsales batched email look-up"]
    assert "the pipeline's batched look-up would match nothing" in lines["Upsales batched email look-up"]
    assert "without X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset" in lines["Upsales rate-limit headers"]
    sandbox.wistia.quirks.clear()
    sandbox.wistia.quirks.add("end_date_exclusive")
    _, lines, _ = probe()
    assert "returned no view" in lines["Wistia days"] and "end_date looks exclusive" in lines["Wistia days"]


@pytest.mark.parametrize("quirk,line,shown", [
    ("external_id_in_marketing_custom", "Upsales test event", "returned inside marketingCustom"),
    ("field_values_by_id", "Upsales test submission", "field values by fieldId"),
])
def test_the_tolerated_shapes_stay_green_and_are_named(probe, sandbox, quirk, line, shown):
    """The pipeline reads both shapes (clients/readback.py), so the probe says which one it saw."""
    sandbox.upsales.quirks.add(quirk)
    code, lines, out = probe("--write-test", CONTACT)
    assert code == 0, out
    assert shown in lines[line]


def test_write_test_posts_reads_back_and_deletes_one_event_and_one_submission(probe, sandbox, pipeline_env):
    code, lines, out = probe("--write-test", CONTACT)
    assert code == 0, out
    assert set(lines) == READ_ONLY_LINES | WRITE_LINES and not red(lines)
    upsales = sandbox.upsales
    assert upsales.request_count("/v2/events", method="POST") == 1
    assert upsales.request_count("/v2/events/", method="DELETE") == 1
    assert upsales.events == []  # the probe event is gone again
    assert "found again by externalId (returned at the top level)" in lines["Upsales test event"]
    assert "the same moment, in UTC" in lines["Upsales test event date"]
    assert "DELETE /v2/events/" in lines["Upsales test event deleted"]

    assert upsales.request_count("/external/formSubmit", method="POST") == 1
    [form] = [f for f in upsales.forms if f["name"] == PROBE_FORM_NAME]
    [submission] = upsales.form_submits
    assert submission["formId"] == form["id"]
    assert {"name": "Extra.wistia_video", "value": PROBE_VALUE} in submission["fieldValues"]
    # The sandbox, like Upsales as far as anyone has recorded, has no DELETE for submissions:
    # the line names the submission that stays.
    assert f"submission {submission['id']} stays in form {PROBE_FORM_NAME!r}" in lines["Upsales test submission removed"]

    # A second probe reuses the probe form and creates no other.
    code, lines, _ = probe("--write-test", CONTACT)
    assert code == 0 and "reused" in lines["Upsales test submission"]
    assert [f["name"] for f in upsales.forms] == [PROBE_FORM_NAME]
    assert_no_token(out, pipeline_env)


def test_write_test_with_forms_off_posts_only_the_event(probe, sandbox, monkeypatch):
    monkeypatch.setenv("SYNC_FORMS", "false")
    code, lines, out = probe("--write-test", CONTACT)
    assert code == 0, out
    assert "Upsales test submission" not in lines and "Upsales form name filter" not in lines
    assert sandbox.upsales.request_count("/external/formSubmit") == 0 and sandbox.upsales.forms == []
    assert sandbox.upsales.events == []


def test_write_test_with_an_unknown_email_posts_nothing(probe, sandbox):
    code, lines, _ = probe("--write-test", "nobody@nowhere.example")
    assert code == 1
    assert lines["Upsales test event"].startswith("✘ FAIL  Upsales test event: no active contact has the email")
    assert sandbox.upsales.request_count("/v2/events", method="POST") == 0


def test_a_token_without_stats_permission_is_red_on_its_line(probe, sandbox, pipeline_env):
    sandbox.wistia.inject(Fault(403, count=100, path_prefix="/v1/stats",
                                body='{"error": "This token does not have permission to read stats"}'))
    code, lines, out = probe()
    assert code == 1
    assert red(lines) == {"Wistia stats", "Wistia days"}
    assert "Read detailed stats" in lines["Wistia stats"]
    assert lines["Wistia days"].startswith("✘ FAIL  Wistia days: not checked")
    assert_no_token(out, pipeline_env)


def test_a_rejected_upsales_key_is_one_red_line_and_never_shown(probe, monkeypatch):
    monkeypatch.setenv("UPSALES_API_TOKEN", "wrong-upsales-key-0123")
    code, lines, out = probe()
    assert code == 1
    assert lines["Upsales API key"].startswith("✘ FAIL  Upsales API key: Upsales rejected the API key (401) -> fix: ")
    assert not any(name.startswith("Upsales") and name != "Upsales API key" for name in lines)
    assert "wrong-upsales-key-0123" not in out


@pytest.mark.parametrize("args,env", [((), {"MIN_PERCENT_WATCHED": "120"}), (("--write-test", "not-an-email"), {})])
def test_bad_settings_or_arguments_exit_2_before_any_request(probe, sandbox, capsys, monkeypatch, args, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, _, _ = probe(*args)
    assert code == 2
    assert sandbox.wistia.requests == [] and sandbox.upsales.requests == []


def test_the_form_score_is_read_tolerantly(probe, sandbox):
    """Issue #15: a form's `score` is unverified; the line is green when it reads, says which of
    the pipeline's forms a sync will set FORM_SCORE on, and only warns when no form shows one."""
    from wistia_pipeline.sinks.forms import FORM_DESCRIPTION

    _, lines, _ = probe()
    assert lines["Upsales form score"] == (
        "✔ OK    Upsales form score: no form yet: the first sync creates its forms with FORM_SCORE=10")
    sandbox.upsales.forms += [
        {"id": 61, "uuid": "1234u61", "name": "Wistia: Webinars", "description": FORM_DESCRIPTION, "score": 10},
        {"id": 62, "uuid": "1234u62", "name": "Wistia: Tours", "description": FORM_DESCRIPTION, "score": 0},
        {"id": 63, "uuid": "1234u63", "name": "Contact us", "description": "", "score": 3}]
    code, lines, _ = probe()
    assert code == 0 and lines["Upsales form score"] == (
        "✔ OK    Upsales form score: `score` read on 2 of 2 pipeline form(s); 1 of the pipeline's forms score "
        "otherwise (Wistia: Tours): a sync sets FORM_SCORE=10 before their next submission")
    sandbox.upsales.quirks.add("no_form_score")
    code, lines, out = probe()
    assert code == 0 and out.rstrip().endswith("All checks passed. 1 warning.")
    assert lines["Upsales form score"].startswith("⚠ WARN  Upsales form score: none of 2 form(s) shows a `score`")
    assert writes(sandbox) == []
