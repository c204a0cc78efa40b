"""The definitions load the way a code server loads them (the whole repository validated at once:
unique job, op and graph names, every resource bound), in both modes. Resolving one job, as most
tests do, does not check the names of the others."""

from __future__ import annotations

import dagster as dg
import yaml

from wistia_pipeline.definitions import build_defs


def test_the_single_account_definitions_load_as_a_code_server_loads_them(monkeypatch, tmp_path):
    monkeypatch.delenv("WISTIA_PIPELINE_ACCOUNTS", raising=False)
    monkeypatch.setenv("WISTIA_PIPELINE_DB", str(tmp_path / "one.duckdb"))
    defs = build_defs()
    dg.Definitions.validate_loadable(defs)
    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert "forget_viewer" in jobs


def test_the_many_account_definitions_load_as_a_code_server_loads_them(monkeypatch, tmp_path):
    file = tmp_path / "accounts.yaml"
    file.write_text(yaml.safe_dump({
        "defaults": {"WISTIA_PIPELINE_DB": str(tmp_path / "{name}.duckdb")},
        "accounts": [{"name": name, "wistia_api_token_env": f"{name.upper()}_W",
                      "upsales_api_token_env": f"{name.upper()}_U"} for name in ("acme", "beta")],
    }))
    monkeypatch.setenv("WISTIA_PIPELINE_ACCOUNTS", str(file))
    defs = build_defs()
    dg.Definitions.validate_loadable(defs)
    jobs = {job.name for job in defs.get_repository_def().get_all_jobs()}
    assert {"forget_viewer_acme", "forget_viewer_beta", "wistia_sync_acme", "wistia_sync_beta"} <= jobs
