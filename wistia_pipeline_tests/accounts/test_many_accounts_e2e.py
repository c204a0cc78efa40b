"""Issue #14's "Done when", on SQLite instance storage: with a 3-account file, each account's
sync posts exactly its own expected entries to its own Upsales, and one account whose Upsales
key is rejected fails alone."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pytest

import dagster as dg

from wistia_pipeline import alerts
from wistia_pipeline.cli import main, run_sync
from wistia_pipeline.definitions import build_defs
from wistia_pipeline.rules import external_id
from wistia_pipeline_tests.accounts.many import NAMES, event_keys, posted_keys, three_accounts
from wistia_pipeline_tests.test_alerts import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def accounts_env(tmp_path, monkeypatch, today, receiver):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("WISTIA_API_TOKEN", "UPSALES_API_TOKEN", "WISTIA_PIPELINE_DB", "PARTITIONS_START"):
        monkeypatch.delenv(name, raising=False)
    alert_urls = {"gamma": receiver.url, "beta": receiver.url}
    with three_accounts(tmp_path, today, bad_upsales_token="gamma", alert_urls=alert_urls) as accounts:
        for name, value in accounts.env.items():
            monkeypatch.setenv(name, value)
        yield accounts


def test_each_account_posts_its_own_views_to_its_own_upsales_and_a_bad_key_fails_alone(accounts_env, today, receiver):
    first, last = today - timedelta(days=2), today
    reports = {name: run_sync(first, last, account=name) for name in NAMES}

    for name in ("acme", "beta"):
        report = reports[name]
        assert report.success, (name, report.error)
        assert report.posted == {"activities": 14, "forms": 27}
        activities, forms = posted_keys(accounts_env.sandboxes[name])
        own = event_keys(accounts_env.sandboxes[name])
        # Exactly its own views, each once, in its own Upsales (activities carry the externalId
        # of the event key, forms the event key itself).
        assert len(activities) == len(set(activities)) == 14
        assert set(activities) <= {external_id(key) for key in own}
        assert len(forms) == len(set(forms)) == 27 and set(forms) <= own
        assert all(key.startswith(f"{name}_") for key in forms)
        with duckdb.connect(str(accounts_env.db(name)), read_only=True) as con:
            ledger = {key for (key,) in con.execute(
                "SELECT event_key FROM synced_ledger WHERE destination = 'activities' AND status = 'posted'").fetchall()}
        assert {external_id(key) for key in ledger} == set(activities) and ledger <= own

    # gamma's Upsales rejects its key: its run fails, nothing reaches any Upsales from it.
    assert not reports["gamma"].success
    assert "401" in reports["gamma"].error or "reject" in reports["gamma"].error.lower(), reports["gamma"].error
    assert posted_keys(accounts_env.sandboxes["gamma"]) == ([], [])

    # The failure alert names gamma and goes to gamma's webhook, its key masked.
    sensor = build_defs().get_repository_def().get_sensor_def(alerts.SENSOR_NAME)
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(reports["gamma"].run_id)
        [record] = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        context = dg.build_run_status_sensor_context(
            sensor_name=alerts.SENSOR_NAME, dagster_event=record.event_log_entry.dagster_event,
            dagster_instance=instance, dagster_run=run).for_run_failure()
        assert sensor(context) is None
    [message] = receiver.bodies
    assert message["account"] == "gamma" and message["job"] == "wistia_sync_gamma"
    assert message["text"].startswith(f"account gamma: wistia_sync_gamma run {run.run_id[:8]} failed: ")
    assert accounts_env.env["GAMMA_UPSALES_API_TOKEN"] not in json.dumps(message)

    # A second sync of each posts nothing new anywhere (each account's own ledger).
    for name in ("acme", "beta"):
        again = run_sync(first, last, account=name)
        assert again.success and again.posted == {"activities": 0, "forms": 0}
        activities, forms = posted_keys(accounts_env.sandboxes[name])
        assert (len(activities), len(forms)) == (14, 27)


def test_sync_without_account_names_the_accounts(accounts_env, capsys):
    assert main(["sync"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: many-account mode: --account NAME is required (one of: acme, beta, gamma)"
    assert main(["sync", "--account", "nope"]) == 2
    assert 'no account "nope"' in capsys.readouterr().err
