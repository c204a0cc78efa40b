"""deploy/dagster.postgres.yaml is dagster.yaml with PostgreSQL storage: the same sections, value for
value, so the two cannot drift; its connection comes only from DAGSTER_PG_* variables; and it
loads, against a real PostgreSQL, into an instance whose settings are those of dagster.yaml."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
import yaml
from dagster._core.scheduler.instigation import InstigatorType

from wistia_pipeline_tests.automation.conftest import REPO

PRODUCTION = REPO / "deploy" / "dagster.postgres.yaml"
PG_VARIABLES = {"hostname": "DAGSTER_PG_HOST", "port": "DAGSTER_PG_PORT", "username": "DAGSTER_PG_USER",
                "password": "DAGSTER_PG_PASSWORD", "db_name": "DAGSTER_PG_DB"}


def sections(path) -> dict:
    return yaml.safe_load(path.read_text())


def test_every_section_of_dagster_yaml_is_in_the_production_config_unchanged():
    local, production = sections(REPO / "dagster.yaml"), sections(PRODUCTION)
    assert {k: v for k, v in production.items() if k != "storage"} == local
    # What the daemon and the run queue depend on is there at all (not just "equal and empty").
    assert {"concurrency", "run_monitoring", "run_retries", "retention"} <= local.keys()


def test_the_storage_is_postgres_and_every_connection_value_comes_from_the_environment():
    storage = sections(PRODUCTION)["storage"]
    assert list(storage) == ["postgres"]
    connection = dict(storage["postgres"]["postgres_db"])
    # The driver that dagster-postgres brings (psycopg2): SQLAlchemy >= 2.1 reads a bare
    # `postgresql://` as psycopg 3, which is not installed.
    assert connection.pop("scheme") == "postgresql+psycopg2"
    assert list(storage["postgres"]) == ["postgres_db"]
    assert connection == {key: {"env": name} for key, name in PG_VARIABLES.items()}


@pytest.fixture
def instances(tmp_path, monkeypatch, postgres_db):
    """The instance of each file: dagster.yaml (SQLite) and the production one (PostgreSQL)."""
    for name, value in postgres_db.env().items():
        monkeypatch.setenv(name, value)
    homes = {}
    for name, source in (("local", REPO / "dagster.yaml"), ("production", PRODUCTION)):
        homes[name] = tmp_path / name
        homes[name].mkdir()
        shutil.copy(source, homes[name] / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(homes["local"])) as local, \
            dg.DagsterInstance.from_config(str(homes["production"])) as production:
        yield local, production


def test_the_production_instance_stores_in_postgres_with_the_settings_of_dagster_yaml(instances, postgres_db):
    local, production = instances
    assert type(production.run_storage).__name__ == "PostgresRunStorage"
    assert type(production.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(production.schedule_storage).__name__ == "PostgresScheduleStorage"
    # Dagster created its tables in the database named by DAGSTER_PG_DB.
    tables = {row[0] for row in postgres_db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "jobs", "job_ticks", "concurrency_limits"} <= tables

    def settings(instance: dg.DagsterInstance) -> dict:
        concurrency = instance.get_concurrency_config()
        return {
            "pools": (concurrency.pool_config.default_pool_limit, concurrency.pool_config.pool_granularity),
            "queue": (concurrency.run_queue_config.max_concurrent_runs,
                      concurrency.run_queue_config.tag_concurrency_limits),
            "monitoring": instance.run_monitoring_settings,
            "retries": (instance.run_retries_enabled, instance.run_retries_max_retries,
                        instance.run_retries_retry_on_asset_or_op_failure),
            "retention": [instance.get_tick_retention_settings(t) for t in (InstigatorType.SCHEDULE,
                                                                             InstigatorType.SENSOR)],
            "telemetry": instance.telemetry_enabled,
        }

    assert settings(production) == settings(local)
    # And they are the values dagster.yaml sets, not two sets of defaults.
    assert settings(production)["queue"][0] == 2


def test_the_password_is_not_in_what_the_instance_shows(instances, postgres_db):
    _, production = instances
    shown = yaml.safe_dump(production.get_settings("storage") or {}) + repr(production.get_ref())
    assert postgres_db.password not in shown
