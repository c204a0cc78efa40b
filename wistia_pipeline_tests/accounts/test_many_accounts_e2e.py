"""Issue #14's "Done when", on SQLite instance storage: with a 3-account file, each account's
sync posts exactly its own expected entries to its own Upsales, and one account whose Upsales
key is rejected fails alone."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

from wistia_pipeline.cli import main, run_sync
from wistia_pipeline.rules import external_id
from wistia_pipeline_tests.accounts.many import NAMES, event_keys, posted_keys, three_accounts

pytestmark = pytest.mark.e2e


@pytest.fixture
def accounts_env(tmp_path, monkeypatch, today):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("WISTIA_API_TOKEN", "UPSALES_API_TOKEN", "WISTIA_PIPELINE_DB", "PARTITIONS_START"):
        monkeypatch.delenv(name, raising=False)
    with three_accounts(tmp_path, today, bad_upsales_token="gamma") as accounts:
        for name, value in accounts.env.items():
            monkeypatch.setenv(name, value)
        yield accounts


def test_each_account_posts_its_own_views_to_its_own_upsales_and_a_bad_key_fails_alone(accounts_env, today):
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
