"""Settings are read in one place (issue #12): the environment only by the settings module, the
CLI's start-up and the sandbox; every asset, check, the schedule and the sensor take the settings
as the Dagster resource `pipeline_settings`, which a run's config may override."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster as dg

import wistia_pipeline
from wistia_pipeline.definitions import build_defs
from wistia_pipeline.settings import VARIABLES, PipelineSettings

PACKAGE = Path(wistia_pipeline.__file__).parent
MAY_READ_THE_ENVIRONMENT = {"settings.py", "cli.py"}


def test_only_the_settings_module_the_cli_and_the_sandbox_read_the_environment():
    readers = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "sandbox" or str(relative) in MAY_READ_THE_ENVIRONMENT:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                readers.append(f"{relative}:{node.lineno}")
    assert readers == []


def test_every_setting_but_the_tokens_is_a_field_of_the_resource():
    fields = set(PipelineSettings.model_fields)
    assert fields == {v.field for v in VARIABLES if v.field is not None}


def test_assets_checks_schedule_and_sensor_take_the_settings_resource():
    defs = build_defs()
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert "pipeline_settings" in graph.get(key).assets_def.required_resource_keys, key
    from wistia_pipeline.checks import CHECKS

    for check in CHECKS:
        assert "pipeline_settings" in check.required_resource_keys, check.check_keys
    schedule = defs.resolve_schedule_def("wistia_sync_every_20_minutes")
    assert "pipeline_settings" in schedule.required_resource_keys
    sensor = defs.resolve_sensor_def("alert_on_run_failure")
    assert "pipeline_settings" in sensor.required_resource_keys


def test_the_resource_holds_environment_references_never_values(monkeypatch):
    monkeypatch.setenv("MIN_PERCENT_WATCHED", "25")
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://hooks.example.com/services/SECRET/PATH")
    monkeypatch.delenv("FORM_POLICY", raising=False)
    resource = PipelineSettings.from_environment()
    assert isinstance(resource.min_percent_watched, dg.EnvVar)
    assert isinstance(resource.alert_webhook_url, dg.EnvVar)
    assert resource.form_policy is None  # not set: the default applies
    settings = resource.load()
    assert settings.min_percent_watched == 25 and settings.form_policy == "single"
    assert settings.alert_webhook_url.endswith("/SECRET/PATH")
