"""The Dagster shape of many accounts (issue #14): per-account assets, groups, pools, resources,
jobs, one schedule yielding a run per account, the failure alert naming the account."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest
import yaml

from wistia_pipeline import alerts
from wistia_pipeline.account_defs import ACCOUNT_TAG, account_of_run, find_account
from wistia_pipeline.automation import SCHEDULE_NAME, SCHEDULE_TAG, SYNC_JOB_NAME
from wistia_pipeline.definitions import build_defs, many_accounts
from wistia_pipeline.settings import SettingsError

NAMES = ("acme", "beta")
STAGES = ("wistia_events", "converted_views", "matched_views", "filtered_views", "wistia_medias",
          "upsales_forms", "synced_ledger")


@pytest.fixture
def accounts_file(tmp_path, monkeypatch):
    file = tmp_path / "accounts.yaml"
    file.write_text(yaml.safe_dump({
        "defaults": {"WISTIA_PIPELINE_DB": str(tmp_path / "{name}.duckdb")},
        "accounts": [{"name": name, "wistia_api_token_env": f"{name.upper()}_W",
                      "upsales_api_token_env": f"{name.upper()}_U",
                      "settings": {"LOOKBACK_DAYS": 2 if name == "beta" else 3}} for name in NAMES],
    }))
    monkeypatch.setenv("WISTIA_PIPELINE_ACCOUNTS", str(file))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    for name in NAMES:  # beta's secrets are deliberately missing: the definitions still load
        if name == "acme":
            monkeypatch.setenv("ACME_W", "acme-wistia")
            monkeypatch.setenv("ACME_U", "acme-upsales")
    return file


def test_each_account_has_its_own_assets_group_pool_and_resources(accounts_file, tmp_path):
    defs = build_defs()
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.materializable_asset_keys}
    assert keys == {f"{name}/{stage}" for name in NAMES for stage in STAGES}
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        name = key.path[0]
        assert node.group_name == name
        assert node.pools == {f"wistia_duckdb_{name}"}
        # Statically bound: an account's steps can only be handed its own resources.
        required = node.assets_def.required_resource_keys - {"io_manager"}
        assert required and all(resource.startswith(f"{name}__") for resource in required), (key, required)
        # ... and bound to its assets alone: no asset holds another account's resource.
        bound = set(node.assets_def.resource_defs) - {"io_manager"}
        assert bound and all(resource.startswith(f"{name}__") for resource in bound), (key, bound)
    assert {check.asset_key.path[0] for check in graph.asset_check_keys} == set(NAMES)
    bound = {k: v for node in (graph.get(key) for key in graph.materializable_asset_keys)
             for k, v in node.assets_def.resource_defs.items()}
    wanted = ("acme__duckdb", "beta__duckdb", "beta__pipeline_settings")
    with dg.build_resources({key: bound[key] for key in wanted}) as resources:
        assert resources.acme__duckdb.database == str(tmp_path / "acme.duckdb")
        assert resources.beta__duckdb.database == str(tmp_path / "beta.duckdb")
        assert resources.beta__pipeline_settings.lookback_days == "2"
    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert {SYNC_JOB_NAME, "wistia_sync_acme", "wistia_sync_beta"} <= jobs


def test_one_account_s_job_needs_only_its_own_secrets(accounts_file):
    from dagster._core.execution.api import create_execution_plan

    plan = create_execution_plan(build_defs().resolve_job_def("wistia_sync_acme"))
    assert {step.pool for step in plan.steps} == {"wistia_duckdb_acme"}
    assert all(step.key.startswith("acme__") for step in plan.steps)


def test_the_schedule_launches_one_run_per_account_over_its_lookback(accounts_file):
    defs = build_defs()
    schedule = defs.get_repository_def().get_schedule_def(SCHEDULE_NAME)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc))
        requests = [r for r in schedule.evaluate_tick(context).run_requests]
        assert [r.tags[ACCOUNT_TAG] for r in requests] == list(NAMES)
        by_name = {r.tags[ACCOUNT_TAG]: r for r in requests}
        assert by_name["acme"].tags["dagster/asset_partition_range_start"] == "2026-11-25"
        assert by_name["beta"].tags["dagster/asset_partition_range_start"] == "2026-11-26"
        for name, request in by_name.items():
            assert request.tags["dagster/asset_partition_range_end"] == "2026-11-27"
            assert {key.path[0] for key in request.asset_selection} == {name}
            assert len(request.asset_selection) == len(STAGES)
            assert request.asset_check_keys and {k.asset_key.path[0] for k in request.asset_check_keys} == {name}

        # acme's previous scheduled run is still going: only beta runs this tick.
        instance.add_run(dg.DagsterRun(job_name=SYNC_JOB_NAME, run_id="going", status=dg.DagsterRunStatus.STARTED,
                                       tags={SCHEDULE_TAG: SCHEDULE_NAME, ACCOUNT_TAG: "acme"}))
        requests = schedule.evaluate_tick(context).run_requests
        assert [r.tags[ACCOUNT_TAG] for r in requests] == ["beta"]


def test_the_run_s_account_comes_from_its_tag_or_its_assets():
    assert account_of_run(dg.DagsterRun(job_name="x", tags={ACCOUNT_TAG: "acme"})) == "acme"
    run = dg.DagsterRun(job_name="__ASSET_JOB", asset_selection=frozenset({dg.AssetKey(["beta", "wistia_events"])}))
    assert account_of_run(run) == "beta"
    assert account_of_run(dg.DagsterRun(job_name="wistia_sync")) is None


def test_the_alert_names_the_account():
    message = alerts.alert_message("wistia_sync_acme", "3f0c1a2b-0000", "matched_views: 401", "http://x/runs/3f",
                                   account="acme")
    assert message["account"] == "acme"
    assert message["text"].startswith("account acme: wistia_sync_acme run 3f0c1a2b failed: matched_views: 401")
    assert "account" not in alerts.alert_message("wistia_sync", "3f0c1a2b", "e", "u")


def test_find_account_lists_the_names(accounts_file):
    accounts = many_accounts()
    assert find_account(accounts, "beta").name == "beta"
    with pytest.raises(SettingsError, match=r"--account NAME is required \(one of: acme, beta\)"):
        find_account(accounts, None)
    with pytest.raises(SettingsError, match=r'no account "zeta" in the accounts file \(one of: acme, beta\)'):
        find_account(accounts, "zeta")


def test_without_the_file_nothing_changes(monkeypatch):
    monkeypatch.delenv("WISTIA_PIPELINE_ACCOUNTS", raising=False)
    assert many_accounts() is None
    keys = {key.to_user_string() for key in build_defs().resolve_asset_graph().materializable_asset_keys}
    assert keys == set(STAGES)


def test_an_account_s_forget_job_erases_in_its_own_file_with_its_own_pool(accounts_file, tmp_path):
    """forget_viewer_<name> is bound to the account's resources (not the Definitions'), so it
    loads and runs against that account's file only, in that account's pool."""
    import duckdb

    from wistia_pipeline import db
    from wistia_pipeline.operations.forget import email_hash

    for name in NAMES:  # both files exist, with the schema
        db.prepare(duckdb.connect(str(tmp_path / f"{name}.duckdb"))).close()
    job = build_defs().resolve_job_def("forget_viewer_acme")
    assert job.tags[ACCOUNT_TAG] == "acme"
    from dagster._core.execution.api import create_execution_plan
    assert {step.pool for step in create_execution_plan(job).steps} == {"wistia_duckdb_acme"}
    digest = email_hash("anna@acme.se")
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, run_config={
            "ops": {"acme__erase_viewer": {"config": {"email_sha256": digest}}}})
    assert result.success
    suppressed = {name: duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
                  .execute("SELECT email_sha256 FROM suppressed_emails").fetchall() for name in NAMES}
    assert suppressed == {"acme": [(digest,)], "beta": []}
