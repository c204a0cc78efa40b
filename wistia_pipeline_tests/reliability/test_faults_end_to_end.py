"""Every fault the sandbox can inject, through a whole Dagster run, then a rerun that ends complete.

Each case queues one fault, runs the chain over the small world's two days and checks what the
first run did (a fault the HTTP layer absorbs leaves it successful; one it must not paper over,
such as a write whose answer was lost, fails it with the view left in flight); then a rerun must
succeed and leave exactly one entry per qualifying view in each destination, with the ledger
agreeing (`assert_complete`).
"""

from __future__ import annotations

import pytest

from wistia_pipeline.sandbox import Fault
from wistia_pipeline_tests.reliability.fast_http import TIMEOUT_FAULT_DELAY
from wistia_pipeline_tests.reliability.world import assert_ledger_consistent, ledger_rows

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox

EVENTS = "/stats/events.json"
ENVELOPE_500 = '{"error": {"key": "ServerError", "code": 500, "errorCode": 1, "msg": "Try again later"}, "data": null}'
NOT_A_LIST = '{"error": null, "metadata": {"total": 1, "limit": 1000, "offset": 0}, "data": {"id": 1}}'

# (id, emulator, fault, does the first run succeed?)
CASES = [
    # Wistia: the reads are retried by the client, within the run.
    ("wistia-429-retry-after", "wistia",
     Fault(429, count=2, headers={"Retry-After": "1"}, body="Rate limit exceeded", path_prefix=EVENTS), True),
    ("wistia-503-retry-after", "wistia", Fault(503, count=2, headers={"Retry-After": "1"}, path_prefix=EVENTS), True),
    ("wistia-500", "wistia", Fault(500, count=3, path_prefix=EVENTS), True),
    ("wistia-500-medias", "wistia", Fault(500, count=2, path_prefix="/medias.json"), True),
    ("wistia-500-until-the-client-gives-up", "wistia", Fault(500, count=20, path_prefix=EVENTS), False),
    ("wistia-timeout", "wistia", Fault(mode="delay", delay=TIMEOUT_FAULT_DELAY, path_prefix=EVENTS), True),
    ("wistia-invalid-json", "wistia", Fault(200, count=2, body='[{"event_key": "cut', path_prefix=EVENTS), True),
    ("wistia-answer-cut", "wistia", Fault(mode="truncate", path_prefix=EVENTS), True),
    ("wistia-html-instead-of-json", "wistia",
     Fault(200, count=20, body="<html><body>Maintenance</body></html>", path_prefix=EVENTS), False),
    # Upsales reads: retried by the client too.
    ("upsales-429-ratelimit-reset", "upsales",
     Fault(429, count=2, headers={"X-RateLimit-Reset": "1"}, path_prefix="/v2/contacts"), True),
    ("upsales-500-contacts", "upsales", Fault(500, count=2, path_prefix="/v2/contacts"), True),
    ("upsales-timeout-contacts", "upsales",
     Fault(mode="delay", delay=TIMEOUT_FAULT_DELAY, path_prefix="/v2/contacts"), True),
    ("upsales-200-with-error-contacts", "upsales", Fault(200, count=2, body=ENVELOPE_500, path_prefix="/v2/contacts"), True),
    ("upsales-non-list-page", "upsales", Fault(200, body=NOT_A_LIST, path_prefix="/v2/contacts"), False),
    ("upsales-500-existence-check", "upsales",
     Fault(500, count=20, path_prefix="/v2/events", method="GET"), False),
    # Upsales writes: retried only when provably not stored (429); else left in flight, looked up next run.
    ("upsales-429-on-post", "upsales",
     Fault(429, count=2, headers={"X-RateLimit-Reset": "1"}, path_prefix="/v2/events", method="POST"), True),
    ("upsales-500-on-post", "upsales", Fault(500, path_prefix="/v2/events", method="POST", skip=3), False),
    ("upsales-500-on-form-submit", "upsales", Fault(500, path_prefix="/external/formSubmit", skip=2), False),
    ("upsales-500-on-form-create", "upsales", Fault(500, path_prefix="/v2/forms", method="POST"), False),
    ("upsales-200-with-error-on-post", "upsales",
     Fault(200, body=ENVELOPE_500, path_prefix="/v2/events", method="POST", skip=1), False),
    ("upsales-timeout-after-the-write", "upsales",
     Fault(mode="delay", delay=TIMEOUT_FAULT_DELAY, path_prefix="/v2/events", method="POST", skip=4), False),
    ("upsales-timeout-before-the-write", "upsales",
     Fault(500, delay=TIMEOUT_FAULT_DELAY, path_prefix="/v2/events", method="POST", skip=4), False),
    ("upsales-form-submit-timeout-after-the-write", "upsales",
     Fault(mode="delay", delay=TIMEOUT_FAULT_DELAY, path_prefix="/external/formSubmit", skip=5), False),
    ("upsales-response-lost-after-the-write", "upsales",
     Fault(mode="drop_after_write", path_prefix="/v2/events", method="POST", skip=2), False),
    ("upsales-form-submit-response-lost", "upsales",
     Fault(mode="drop_after_write", path_prefix="/external/formSubmit", skip=6), False),
    ("upsales-form-create-response-lost", "upsales",
     Fault(mode="drop_after_write", path_prefix="/v2/forms", method="POST"), False),
    ("upsales-answer-cut-after-the-write", "upsales",
     Fault(mode="truncate", path_prefix="/v2/events", method="POST", skip=5), False),
    ("upsales-form-submit-answer-cut", "upsales", Fault(mode="truncate", path_prefix="/external/formSubmit", skip=3), False),
    ("upsales-form-submit-html-instead-of-an-id", "upsales",
     Fault(200, body="<html><body>Down for maintenance</body></html>", path_prefix="/external/formSubmit", skip=1), False),
    ("upsales-form-submit-200-with-error", "upsales",
     Fault(200, body=ENVELOPE_500, path_prefix="/external/formSubmit", skip=4), False),
    ("upsales-post-200-without-an-id", "upsales",
     Fault(200, body='{"error": null, "data": {"entityType": "MarketingCustom"}}', path_prefix="/v2/events",
           method="POST", skip=2), False),
    ("upsales-connection-dropped-before-the-write", "upsales",
     Fault(mode="drop", path_prefix="/v2/events", method="POST"), False),
]


@pytest.mark.parametrize(("emulator", "fault", "first_run_succeeds"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fault_then_rerun_ends_complete(sandbox, pipeline_env, world, run, emulator, fault, first_run_succeeds):
    getattr(sandbox, emulator).inject(fault)
    first = run()
    assert fault.fired >= 1, "the fault never fired"
    assert first.success is first_run_succeeds, first.error
    if not first.success:
        assert first.error and "\n" not in first.error
        statuses = {status for _, _, status, _ in ledger_rows(pipeline_env["WISTIA_PIPELINE_DB"])}
        assert statuses <= {"posted", "in_flight", "pending"}, "a transient fault must never reject a view for good"
    assert_ledger_consistent(sandbox, pipeline_env["WISTIA_PIPELINE_DB"], "after the first run")
    sandbox.wistia.clear_faults()  # the outage is over (a fault queued for many requests may be left)
    sandbox.upsales.clear_faults()
    run.until_complete(context=f"{emulator}: {fault}")
