"""The CLI in many-account mode: doctor and probe a section per account (one account's failure
hides no other's), --account where one account is meant, a one-line error otherwise."""

from __future__ import annotations

import pytest

from wistia_pipeline.cli import main
from wistia_pipeline_tests.accounts.many import three_accounts


@pytest.fixture
def accounts_env(tmp_path, monkeypatch, today):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    for name in ("WISTIA_API_TOKEN", "UPSALES_API_TOKEN", "WISTIA_PIPELINE_DB", "MIN_PERCENT_WATCHED"):
        monkeypatch.delenv(name, raising=False)
    with three_accounts(tmp_path, today, bad_upsales_token="gamma") as accounts:
        for name, value in accounts.env.items():
            monkeypatch.setenv(name, value)
        yield accounts


def sections(output: str) -> dict[str, str]:
    parts = output.split("== account ")[1:]
    return {part.split(" ==", 1)[0]: part for part in parts}


def test_doctor_checks_every_account_and_one_bad_key_fails_only_its_section(accounts_env, capsys, monkeypatch):
    monkeypatch.setenv("MIN_PERCENT_WATCHED", "90")  # not read in many-account mode: doctor says so
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    found = sections(out)
    assert list(found) == ["acme", "beta", "gamma"]
    assert "✘" not in found["acme"] and "✘" not in found["beta"]
    assert "✘ FAIL  Upsales" in found["gamma"]
    assert "not read: MIN_PERCENT_WATCHED" in out
    assert out.rstrip().endswith("Accounts with failed checks: gamma")
    for sandbox in accounts_env.sandboxes.values():
        assert sandbox.upsales.token not in out and sandbox.wistia.token not in out


def test_a_missing_secret_is_a_failed_section_not_a_stop(accounts_env, capsys, monkeypatch):
    monkeypatch.delenv("BETA_WISTIA_API_TOKEN")
    assert main(["doctor"]) == 1
    found = sections(capsys.readouterr().out)
    assert list(found) == ["acme", "beta", "gamma"]
    assert "✘" not in found["acme"]
    assert "BETA_WISTIA_API_TOKEN" in found["beta"]


def test_explain_and_retry_need_an_account(accounts_env, capsys):
    assert main(["explain", "someone@example.com"]) == 2
    assert "--account NAME is required (one of: acme, beta, gamma)" in capsys.readouterr().err
    assert main(["explain", "--account", "acme", "someone@example.com"]) == 2  # reads acme's own file
    assert "acme.duckdb does not exist" in capsys.readouterr().err
    assert main(["retry", "--destination", "activities"]) == 2
    assert "--account NAME is required" in capsys.readouterr().err


def test_account_without_the_file_is_a_usage_error(monkeypatch, capsys):
    monkeypatch.delenv("WISTIA_PIPELINE_ACCOUNTS", raising=False)
    assert main(["sync", "--account", "acme"]) == 2
    assert "WISTIA_PIPELINE_ACCOUNTS" in capsys.readouterr().err


def test_probe_checks_every_account(accounts_env, capsys):
    assert main(["probe"]) == 1
    found = sections(capsys.readouterr().out)
    assert list(found) == ["acme", "beta", "gamma"]
    assert "✘" not in found["acme"] and "✘" not in found["beta"]
    assert "✘" in found["gamma"]
