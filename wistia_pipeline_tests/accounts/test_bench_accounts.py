"""`make bench-accounts` (benchmarks/accounts.py): its whole code path with two accounts, and the
check that makes its figures count (a run that failed or posted wrong fails the benchmark).
No figure is compared with a bound: the machine is shared, and timings are the benchmark's to
report, not a test's to assert."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import pytest

from benchmarks import accounts as bench
from benchmarks import accounts_report
from wistia_pipeline.rules import external_id


def fake_account(name: str, activities: list[str], forms: list[str], own: set[str]) -> bench.BenchAccount:
    upsales = SimpleNamespace(lock=threading.Lock(), events=[{"externalId": external_id(k)} for k in activities],
                              form_submits=[{"fieldValues": [{"name": "Extra.wistia_event_key", "value": k}]}
                                            for k in forms])
    return bench.BenchAccount(name, SimpleNamespace(upsales=upsales), own)


OWN = {f"acme_{n}" for n in range(5)}
EXPECTED = {"activities": 2, "forms": 1}


def test_the_check_accepts_exactly_the_expected_entries_of_the_accounts_own_views():
    bench.verify_posts([fake_account("acme", ["acme_1", "acme_2"], ["acme_3"], OWN)], EXPECTED)


@pytest.mark.parametrize("activities, forms, problem", [
    (["acme_1"], ["acme_3"], "holds"),                          # one entry missing
    (["acme_1", "acme_2", "acme_4"], ["acme_3"], "holds"),      # one too many
    (["acme_1", "acme_1"], ["acme_3"], "posted twice"),         # the same view twice
    (["acme_1", "beta_1"], ["acme_3"], "another account"),     # another account's view
    (["acme_1", "acme_2"], ["beta_3"], "another account"),
])
def test_the_check_fails_the_benchmark_on_a_wrong_post(activities, forms, problem):
    with pytest.raises(AssertionError, match=problem):
        bench.verify_posts([fake_account("acme", activities, forms, OWN)], EXPECTED)


def test_the_section_replaces_its_earlier_self_and_keeps_the_rest_of_the_file():
    text = "# Benchmarks\n\nkept\n"
    once = accounts_report.replace_section(text, f"{accounts_report.START}\nfirst\n{accounts_report.END}\n")
    twice = accounts_report.replace_section(once + "after\n", f"{accounts_report.START}\nsecond\n{accounts_report.END}\n")
    assert twice.startswith(text) and twice.endswith("after\n")
    assert "second" in twice and "first" not in twice and twice.count(accounts_report.START) == 1


@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_the_benchmark_measures_two_accounts_through_the_daemon(tmp_path):
    figures, report = tmp_path / "accounts.json", tmp_path / "BENCHMARKS.md"
    report.write_text("# Benchmarks\n\nkept\n")
    assert bench.main(["--accounts", "2", "--storage", "sqlite", "--concurrency", "2",
                       "--json", str(figures), "--output", str(report)]) == 0

    results = json.loads(figures.read_text())
    sqlite = results["storages"]["sqlite"]
    assert [t["kind"] for t in sqlite["ticks"]] == ["first", "steady"]
    for tick in sqlite["ticks"]:
        # One run per account, each matched to its own process's record.
        assert sorted(r["account"] for r in tick["runs"]) == [bench.account_name(0), bench.account_name(1)]
        assert all(r["cpu"] > 0 and r["max_rss"] > 0 and r["steps_count"] > 0 for r in tick["runs"])
    summary = sqlite["summary"]["steady"]
    assert summary["runs"] == 2 and summary["accounts_per_core"] > 0
    text = report.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n")
    assert accounts_report.TITLE in text and "SQLite (`dagster.yaml`): steady" in text
