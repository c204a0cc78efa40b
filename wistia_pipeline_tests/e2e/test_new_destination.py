"""Issue #12's destination contract: a destination registered here, and nowhere else, flows
through the filtered stage, posting, the ledger, the funnel, the checks and `explain`, once per
view, through Dagster against the sandbox."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import duckdb
import pytest

from wistia_pipeline.cli import run_sync
from wistia_pipeline.operations.explain import explain
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks import registry
from wistia_pipeline.sinks.contract import CONVERTED, Destination, SinkContext

pytestmark = pytest.mark.e2e

NAME = "webhook_test"


class WebhookSink:
    """A destination of converted views that keeps what it receives in memory."""

    destination = NAME
    received: dict[str, dict[str, Any]] = {}  # Upsales-like id -> payload, shared by the run's sinks
    ids = itertools.count(1)

    def __init__(self, context: SinkContext):
        self.settings = context.settings

    def payload(self, view: Mapping[str, Any]) -> dict[str, Any]:
        return {"event_key": view["event_key"], "email": view["email"],
                "percent": round(view["percent_viewed"] * 100)}

    def post(self, payload: Mapping[str, Any]) -> str:
        upsales_id = f"hook-{next(self.ids)}"
        self.received[upsales_id] = dict(payload)
        return upsales_id

    def find_existing(self, views: list[Mapping[str, Any]]) -> dict[str, str]:
        held = {p["event_key"]: i for i, p in self.received.items()}
        return {v["event_key"]: held[v["event_key"]] for v in views if v["event_key"] in held}

    def find_posted_many(self, rows: list[tuple[str, str, int | None]]) -> dict[str, str]:
        held = {p["event_key"]: i for i, p in self.received.items()}
        return {key: held[key] for key, _, _ in rows if key in held}

    def ledger_facts(self, view: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
        return {"external_id": payload["event_key"], "client_id": None, "contact_id": None, "score": None,
                "value": f"{payload['email']} watched {view['media_name']}", "form_id": None, "form_name": None}


@pytest.fixture
def webhook():
    WebhookSink.received = {}
    destination = registry.register(Destination(
        name=NAME, description="a test webhook of converted views", takes=CONVERTED,
        enabled=lambda settings: True, make_sink=WebhookSink,
        metadata=lambda sink: {f"{NAME}/received_total": len(sink.received)}))
    yield WebhookSink
    registry.unregister(destination.name)


def test_a_registered_destination_flows_through_filter_post_ledger_funnel_checks_and_explain(
        webhook, demo, sandbox, pipeline_env, today):
    first, last = today - timedelta(days=2), today
    run = run_sync(first, last)
    assert run.success, run.error  # the blocking checks passed too (the sync job runs them)

    with duckdb.connect(pipeline_env["WISTIA_PIPELINE_DB"], read_only=True) as con:
        filtered = con.execute("SELECT count(*) FROM filtered_views WHERE destination = ?", [NAME]).fetchone()[0]
        forms = con.execute("SELECT count(*) FROM filtered_views WHERE destination = 'forms'").fetchone()[0]
        ledger = con.execute("SELECT status, count(*) FROM synced_ledger WHERE destination = ? GROUP BY 1",
                             [NAME]).fetchall()
        outcomes = con.execute("SELECT count(*) FROM view_outcomes WHERE destination = ?", [NAME]).fetchone()[0]
        checks = con.execute("SELECT count(*) FROM view_outcomes").fetchone()[0]
        one_email = con.execute("SELECT email FROM filtered_views WHERE destination = ? ORDER BY event_key LIMIT 1",
                                [NAME]).fetchone()[0]
    # Filter: it takes converted views, as forms do, under the same rules.
    assert filtered == forms > 0
    # Post and ledger: each view once, recorded as posted with the sink's id.
    assert len(webhook.received) == filtered and ledger == [("posted", filtered)]
    assert run.posted[NAME] == filtered
    # Funnel: its own, like every destination's.
    assert run.funnels[NAME]["in_projects"] == filtered and run.funnels[NAME]["new"] == filtered
    assert outcomes > 0 and checks > outcomes
    # explain: the destination's outcome for a view it took.
    result = explain(one_email, Settings.from_env(require_tokens=False), today)
    found = [o for view in result.views for o in view.outcomes if o.destination == NAME]
    assert found and any(o.outcome == "synced" and o.upsales_id in webhook.received for o in found)

    again = run_sync(first, last)  # never twice
    assert again.success and again.posted[NAME] == 0 and len(webhook.received) == filtered
