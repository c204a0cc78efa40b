"""Which runs launched from the UI carry `wistia/account`, the tag dagster.yaml's per-account run
limit counts: launched through the webserver's own GraphQL mutations (`launchRun`,
`launchPipelineReexecution`), as the UI's buttons send them, against the code location loaded
from workspace.yaml in a code server. The instance is dagster.yaml's (its run queue), with no
daemon: every run stays queued, nothing is posted, and its tags are what the queue would count.

- The job page of one account (`wistia_sync_<name>`: launchpad, "Materialize all", a backfill
  of the job) carries it: the job's `tags`, which Dagster merges into every run launched for it.
- A re-execution of a scheduled run keeps it (the UI inherits the parent run's tags).
- A materialization from the asset graph or the catalog runs Dagster's implicit asset job, which
  has no tags of ours: it does not carry it (docs/accounts.md, "Run limits"), and this test says
  so, so that a Dagster that changes it is noticed. Its steps still take the account's pool.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
import yaml

import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from wistia_pipeline.account_defs import ACCOUNT_TAG, account_job_name, account_of_run
from wistia_pipeline.automation import range_tags
from wistia_pipeline_tests.automation.conftest import LAUNCH_RUN, LOCATION, PIPELINE_SETTINGS, REPO

pytestmark = pytest.mark.e2e

NAMES = ("acme", "beta")
REEXECUTE = """
mutation($params: ReexecutionParams!) {
  launchPipelineReexecution(reexecutionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on Error { message }
  }
}"""


@pytest.fixture
def ui(tmp_path, monkeypatch):
    """The webserver's view of a two-account code location: (request context, instance)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    for name in PIPELINE_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    entries = []
    for name in NAMES:
        upper = name.upper()
        monkeypatch.setenv(f"{upper}_WISTIA_API_TOKEN", f"{name}-wistia-token")
        monkeypatch.setenv(f"{upper}_UPSALES_API_TOKEN", f"{name}-upsales-token")
        entries.append({"name": name, "wistia_api_token_env": f"{upper}_WISTIA_API_TOKEN",
                        "upsales_api_token_env": f"{upper}_UPSALES_API_TOKEN"})
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(yaml.safe_dump({"defaults": {"WISTIA_PIPELINE_DB": str(tmp_path / "{name}.duckdb")},
                                        "accounts": entries}))
    monkeypatch.setenv("WISTIA_PIPELINE_ACCOUNTS", str(accounts))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance, \
            WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(REPO / "workspace.yaml")])) as workspace:
        yield workspace.create_request_context(), instance


def launch(context, job: str, tags: dict[str, str], assets: list[dg.AssetKey] | None = None) -> str:
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": job},
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    if assets is not None:  # the asset graph's "Materialize": the implicit job, the selected assets
        params["selector"]["assetSelection"] = [{"path": key.path} for key in assets]
        params["selector"]["assetCheckSelection"] = []
    result = execute_dagster_graphql(context, LAUNCH_RUN, {"params": params})
    assert not result.errors, result.errors
    data = result.data["launchRun"]
    assert data["__typename"] == "LaunchRunSuccess", data
    return data["run"]["runId"]


def account_limit_key() -> str:
    """The tag dagster.yaml limits per unique value: one run per account at a time."""
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    [limit] = [t for t in config["concurrency"]["runs"]["tag_concurrency_limits"]
               if t.get("value") == {"applyLimitPerUniqueValue": True}]
    return limit["key"]


def test_a_run_launched_from_an_accounts_job_page_carries_its_account_tag(ui, today):
    context, instance = ui
    days = range_tags(today - timedelta(days=2), today)
    run = instance.get_run_by_id(launch(context, account_job_name("beta"), days))
    assert account_limit_key() == ACCOUNT_TAG
    assert run.tags[ACCOUNT_TAG] == "beta"
    assert run.status == dg.DagsterRunStatus.QUEUED  # held by the queue, which counts the tag
    assert {key.path[0] for key in run.asset_selection or []} <= {"beta"}


def test_a_reexecution_from_the_ui_keeps_the_tag_of_the_run_it_repeats(ui, today):
    context, instance = ui
    parent = launch(context, account_job_name("acme"), range_tags(today, today))
    # The parent must have ended for the UI to re-execute it.
    instance.report_run_failed(instance.get_run_by_id(parent))
    result = execute_dagster_graphql(context, REEXECUTE, {"params": {"parentRunId": parent, "strategy": "ALL_STEPS"}})
    data = result.data["launchPipelineReexecution"]
    assert data["__typename"] == "LaunchRunSuccess", data
    assert instance.get_run_by_id(data["run"]["runId"]).tags[ACCOUNT_TAG] == "acme"


def test_an_asset_graph_materialization_does_not_carry_the_tag_but_names_its_account(ui, today):
    """What remains (docs/accounts.md): the implicit asset job has no tags of ours. The run is
    still one account's (the failure alert finds it by its assets), and its steps take that
    account's pool, so it never writes the DuckDB file at the same time as another run."""
    context, instance = ui
    keys = [dg.AssetKey(["acme", "wistia_events"]), dg.AssetKey(["acme", "converted_views"])]
    run = instance.get_run_by_id(launch(context, "__ASSET_JOB", range_tags(today, today), assets=keys))
    assert ACCOUNT_TAG not in run.tags
    assert account_of_run(run) == "acme"
