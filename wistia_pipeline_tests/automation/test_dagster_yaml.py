"""The instance settings in dagster.yaml load under Dagster's own schema and say what the README says."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
from dagster._core.instance.config import PoolGranularity
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from wistia_pipeline.definitions import defs
from wistia_pipeline.stages.common import DUCKDB_POOL
from wistia_pipeline_tests.automation.conftest import REPO


@pytest.fixture
def instance(tmp_path, monkeypatch):
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:  # raises on any key the schema does not know
        yield instance


def test_pools_have_one_slot_claimed_per_step(instance):
    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 1
    assert concurrency.pool_config.pool_granularity == PoolGranularity.OP
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 60
    queue = concurrency.run_queue_config
    assert queue.max_concurrent_runs == 2
    assert queue.tag_concurrency_limits == [
        {"key": "dagster/backfill", "limit": 1},
        # Many accounts (issue #14): one run at a time per account.
        {"key": "wistia/account", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
    ]


def test_every_asset_writing_duckdb_is_in_the_pool():
    graph = defs.resolve_asset_graph()
    assert {str(k.to_user_string()): graph.get(k).pools for k in graph.materializable_asset_keys} == {
        name: {DUCKDB_POOL}
        for name in ("wistia_events", "converted_views", "matched_views", "filtered_views", "synced_ledger",
                     "wistia_medias", "upsales_forms")
    }


def test_runs_are_retried_only_after_a_crash_and_ticks_are_purged(instance):
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
    assert instance.run_retries_retry_on_asset_or_op_failure is False
    retention = instance.get_tick_retention_settings(InstigatorType.SCHEDULE)
    assert (retention[TickStatus.SKIPPED], retention[TickStatus.SUCCESS], retention[TickStatus.FAILURE]) == (7, 30, 90)
