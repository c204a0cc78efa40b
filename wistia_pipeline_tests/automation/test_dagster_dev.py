"""The real webserver and daemon (`dagster dev`) against the sandbox: a run launched through the
GraphQL API syncs the lookback window; a backfill of a missed past range, launched as the UI's
Materialize dialog launches it, posts exactly the views that were missed, and nothing when it is
run again: from the job's page one run of the seven assets, from the asset group's page an asset
backfill that runs the two unpartitioned tables in a run of their own."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from wistia_pipeline.automation import RANGE_END_TAG, RANGE_START_TAG, SYNC_JOB_NAME
from wistia_pipeline.rules import external_id
from wistia_pipeline_tests.automation.conftest import DONE, LOCATION, RUN_TIMEOUT, days_ago, wait_for
from wistia_pipeline_tests.factories import event

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

STAGES = ["wistia_events", "converted_views", "matched_views", "filtered_views", "synced_ledger"]
TABLES = ["wistia_medias", "upsales_forms"]  # unpartitioned
ASSETS = STAGES + TABLES

LAUNCH_BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

BACKFILL_STATUS = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename ... on PartitionBackfill { status } } }"""

BACKFILL_RUNS = """
query($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    __typename ... on Runs { results { runId status tags { key value } assetSelection { path } } }
  }
}"""


def activity_ids(dev) -> list[str]:
    return [e["externalId"] for e in dev.sandbox.upsales.events]


def launch_backfill(dev, first: date, last: date, from_job: bool = True) -> str:
    """A backfill of the seven assets over first..last, as the UI's Materialize dialog launches
    it: from the job wistia_sync's page with the job's partition set (`from_job`), else from the
    asset group's page, where the assets' first common job is Dagster's hidden asset job."""
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    params = {"assetSelection": [{"path": [name]} for name in ASSETS], "partitionNames": days,
              "fromFailure": False, "title": f"missed {first} .. {last}"}
    if from_job:
        params["selector"] = {"partitionSetName": f"{SYNC_JOB_NAME}_partition_set", "repositorySelector": {
            "repositoryLocationName": LOCATION, "repositoryName": "__repository__"}}
    data = dev.graphql(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert data["__typename"] == "LaunchBackfillSuccess", data
    return data["backfillId"]


def backfill_runs(dev, backfill_id: str) -> list[dict]:
    return dev.graphql(BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]["results"]


def wait_for_backfill_run(dev, backfill_id: str) -> dict:
    """The backfill's run, once it has finished (the daemon submits it within ~30 s)."""
    def finished():
        dev.alive()
        runs = backfill_runs(dev, backfill_id)
        return runs if runs and all(r["status"] in DONE for r in runs) else None

    runs = wait_for(finished, RUN_TIMEOUT, f"the run of backfill {backfill_id}", interval=1.0)
    time.sleep(1.0)
    runs = backfill_runs(dev, backfill_id)
    assert len(runs) == 1, f"a single-run backfill policy makes one run, got {len(runs)}"
    assert sorted(a["path"][0] for a in runs[0]["assetSelection"]) == sorted(ASSETS)
    return runs[0]


def test_a_run_launched_through_graphql_syncs_the_lookback_window(dagster_dev, lookback_run):
    assert lookback_run.status == "SUCCESS", dagster_dev.tail()
    # The demo's first sync: 14 views posted (4 more are late and not in Wistia yet), each once,
    # whether by this run or by a scheduled tick that happened to fire meanwhile.
    ids = lookback_run.posted_external_ids
    assert len(ids) == len(set(ids)) == dagster_dev.scenario.expected["first_run"][-1] == 14


def test_a_backfill_of_a_missed_range_posts_exactly_the_missed_views(dagster_dev, lookback_run):
    dev = dagster_dev
    assert lookback_run.status == "SUCCESS"
    missed: list[dict] = []
    ignored: list[dict] = []
    for day in days_ago(dev.today, 11, 10, 9):
        missed += [
            # an exact contact match on a Product tours video
            event(day, conversion_email="anna.berg@acme.se", percent=0.8, media_id="tq3v8k1m0a",
                  media_name="Product tour 2025"),
            # matched by company domain (anonymous), on a Webinars video
            event(day, conversion_email="support@acme.se", percent=0.6, media_id="ls2h8j5t3e",
                  media_name="Webinar: Lead scoring that works"),
        ]
        ignored += [
            event(day, conversion_email="johan.sjoberg@acme.se", percent=0.1, media_id="tq3v8k1m0a",
                  media_name="Product tour 2025"),                                      # below 25 %
            event(day, conversion_email="lisa.karlsson88@gmail.com", percent=0.9),        # personal domain
            event(day, email="karl.eriksson@nordkraft.se", percent=0.9),                 # not converted
        ]
    dev.sandbox.wistia.add_events(missed + ignored)
    before = activity_ids(dev)
    first, last = days_ago(dev.today, 12, 8)  # the week the sync was down, wider than the data

    backfill_id = launch_backfill(dev, first, last)
    run = wait_for_backfill_run(dev, backfill_id)
    assert run["status"] == "SUCCESS", dev.tail()
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags[RANGE_START_TAG], tags[RANGE_END_TAG]) == (first.isoformat(), last.isoformat())
    posted = activity_ids(dev)[len(before):]
    assert sorted(posted) == sorted(external_id(e["event_key"]) for e in missed)

    again = launch_backfill(dev, first, last)
    assert wait_for_backfill_run(dev, again)["status"] == "SUCCESS", dev.tail()
    assert activity_ids(dev)[len(before):] == posted  # nothing posted twice

    status = wait_for(
        lambda: dev.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        in ("COMPLETED", "COMPLETED_SUCCESS"),
        90, "the first backfill to be marked completed", interval=1.0)
    assert status


def test_a_backfill_from_the_asset_group_runs_the_tables_in_a_run_of_their_own(dagster_dev, lookback_run):
    """*Materialize all* on the asset group's page: an asset backfill, whose runs each hold assets
    of one partitioning. The two tables run once, without a partition; the stages over the range
    (in two runs: the filter waits for the media list's run). All succeed, and the missed views
    are posted once."""
    dev = dagster_dev
    assert lookback_run.status == "SUCCESS"
    day = days_ago(dev.today, 20)[0]
    missed = [event(day, conversion_email="anna.berg@acme.se", percent=0.8, media_id="tq3v8k1m0a",
                    media_name="Product tour 2025")]
    dev.sandbox.wistia.add_events(missed)
    before = activity_ids(dev)

    backfill_id = launch_backfill(dev, day - timedelta(days=1), day, from_job=False)

    def done() -> str | None:
        dev.alive()
        status = dev.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        return status if status not in ("REQUESTED", "CANCELING") else None

    assert wait_for(done, RUN_TIMEOUT, f"backfill {backfill_id} to finish", interval=1.0) == "COMPLETED_SUCCESS"
    runs = backfill_runs(dev, backfill_id)
    assert runs and all(r["status"] == "SUCCESS" for r in runs), (runs, dev.tail())
    selections = {frozenset(a["path"][0] for a in r["assetSelection"]): {t["key"]: t["value"] for t in r["tags"]}
                  for r in runs}
    assert set().union(*selections) == set(ASSETS)
    tables = selections[frozenset(TABLES)]
    assert RANGE_START_TAG not in tables  # one materialization each, no partition
    for assets, tags in selections.items():
        if assets != frozenset(TABLES):
            assert assets <= set(STAGES) and tags[RANGE_START_TAG] == (day - timedelta(days=1)).isoformat()
    assert activity_ids(dev)[len(before):] == [external_id(e["event_key"]) for e in missed]
