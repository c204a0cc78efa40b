"""The calls of each run, per API and endpoint, exactly: a first sync, a run with nothing new and
a run with one new view, under the settings that do and do not read Wistia's media list and the
Upsales forms. The figures are those the chain made before wistia_medias and upsales_forms were
assets of their own (measured on the code before, commit 1c41cf3): the assets move the work,
never add a call. The steady state's budget (issue #13) rests on the nothing-new run's one call.
"""

from __future__ import annotations

from collections import Counter

import pytest

from wistia_pipeline_tests.factories import event

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox

SELF = {"GET /v2/self": 1}
EVENTS = {"GET /stats/events.json": 2}  # one page per day of the world's two
MEDIAS = {"GET /medias.json": 1}

# settings over the world's, then the calls of: the first sync, nothing new, one new view.
CASES = {
    # The project filter and one form per project: both read the media list.
    "world": ({}, [
        {"upsales": {"GET /v2/contacts": 2, "GET /v2/events": 1, "GET /v2/forms": 3, "GET /v2/self": 2,
                     "POST /external/formSubmit": 14, "POST /v2/events": 12, "POST /v2/forms": 2},
         "wistia": {**MEDIAS, **EVENTS}},
        {"upsales": SELF, "wistia": {**MEDIAS, **EVENTS}},
        {"upsales": {"GET /v2/events": 1, "GET /v2/self": 2, "POST /external/formSubmit": 1, "POST /v2/events": 1},
         "wistia": {**MEDIAS, **EVENTS}},
    ]),
    # Every project and a single form: nothing reads the media list.
    "single-form-every-project": ({"WISTIA_PROJECTS": "", "FORM_POLICY": "single"}, [
        {"upsales": {"GET /v2/contacts": 2, "GET /v2/events": 1, "GET /v2/forms": 2, "GET /v2/self": 2,
                     "POST /external/formSubmit": 16, "POST /v2/events": 14, "POST /v2/forms": 1},
         "wistia": EVENTS},
        {"upsales": SELF, "wistia": EVENTS},
        {"upsales": {"GET /v2/events": 1, "GET /v2/self": 2, "POST /external/formSubmit": 1, "POST /v2/events": 1},
         "wistia": EVENTS},
    ]),
    # The benchmark's steady state: activities only, one project enabled.
    "activities-one-project": ({"SYNC_FORMS": "false"}, [
        {"upsales": {"GET /v2/contacts": 2, "GET /v2/events": 1, "GET /v2/self": 1, "POST /v2/events": 12},
         "wistia": {**MEDIAS, **EVENTS}},
        {"upsales": SELF, "wistia": {**MEDIAS, **EVENTS}},
        {"upsales": {"GET /v2/events": 1, "GET /v2/self": 1, "POST /v2/events": 1}, "wistia": {**MEDIAS, **EVENTS}},
    ]),
    # Activities only, every project: neither new asset calls anyone.
    "activities-every-project": ({"SYNC_FORMS": "false", "WISTIA_PROJECTS": ""}, [
        {"upsales": {"GET /v2/contacts": 2, "GET /v2/events": 1, "GET /v2/self": 1, "POST /v2/events": 14},
         "wistia": EVENTS},
        {"upsales": SELF, "wistia": EVENTS},
        {"upsales": {"GET /v2/events": 1, "GET /v2/self": 1, "POST /v2/events": 1}, "wistia": EVENTS},
    ]),
}


def seen(emulator, root: str) -> Counter:
    """The emulator's own log, endpoints named as the run's metadata names them."""
    return Counter(f"{r.method} {r.path.removeprefix(root)}" for r in emulator.requests)


@pytest.mark.parametrize("case", list(CASES))
def test_each_run_makes_the_calls_it_made_before_and_no_more(case, sandbox, world, run, monkeypatch):
    settings, expected = CASES[case]
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    for n, calls in enumerate(expected):
        if n == 2:  # one new view to post, on an enabled project, by a known contact
            sandbox.wistia.add_events([event(world.last, key="late-one", conversion_email="ingrid.dahl@nordkraft.se",
                                             percent=0.9, media_id="tourmedia1", media_name="Product tour",
                                             seconds=9900)])
        before = seen(sandbox.upsales, "/api"), seen(sandbox.wistia, "/v1")
        report = run()
        assert report.success, report.error
        assert report.calls == calls, f"run {n + 1}"
        made = dict(seen(sandbox.upsales, "/api") - before[0]), dict(seen(sandbox.wistia, "/v1") - before[1])
        assert made == (calls["upsales"], calls["wistia"]), f"run {n + 1}: the emulators' logs"
