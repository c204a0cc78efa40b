"""The one Definitions of the code location: assets, checks, job, schedule, sensor and resources."""

from __future__ import annotations

import dagster as dg
from dagster_duckdb import DuckDBResource

from wistia_pipeline.accounts import ACCOUNTS_VARIABLE, Account, load_accounts
from wistia_pipeline.alerts import alert_on_run_failure
from wistia_pipeline.automation import sync_job, wistia_sync_every_20_minutes
from wistia_pipeline.checks import CHECKS
from wistia_pipeline.clients.upsales import UpsalesResource
from wistia_pipeline.clients.wistia import WistiaResource
from wistia_pipeline.forget_job import build_forget_job
from wistia_pipeline.settings import PipelineSettings, database_path, environment, value_or_default
from wistia_pipeline.stages.converted import converted_views
from wistia_pipeline.stages.events import wistia_events
from wistia_pipeline.stages.filtered import filtered_views
from wistia_pipeline.stages.form_registry import upsales_forms
from wistia_pipeline.stages.ledger import build_synced_ledger
from wistia_pipeline.stages.matched import matched_views
from wistia_pipeline.stages.medias import wistia_medias

# The stages before the ledger; the ledger is built with the definitions, a post step per
# destination registered by then (a plug-in's, a test's).
STAGES = [wistia_events, converted_views, matched_views, filtered_views]
# The two tables the stages read whole (unpartitioned): the project filter's and the form policy's.
TABLES = [wistia_medias, upsales_forms]


def many_accounts() -> list[Account] | None:
    """The accounts of WISTIA_PIPELINE_ACCOUNTS (None: one account, from the environment). Their
    secrets are not required to load the definitions: an account whose token is missing fails its
    own runs, never the code location (and so never another account's runs)."""
    path = (environment().get(ACCOUNTS_VARIABLE) or "").strip()
    return load_accounts(path, require_secrets=False) if path else None


def build_resources() -> dict[str, object]:
    """Resources from the environment, every value read by the settings' own parsers; the tokens
    only as EnvVar references (never values), cleaned by the resources' get_client as doctor
    cleans them."""
    customer_id = value_or_default("UPSALES_CUSTOMER_ID")
    return {
        "duckdb": DuckDBResource(database=database_path()),
        # Every setting but the tokens, as EnvVar references (the launchpad may override them).
        "pipeline_settings": PipelineSettings.from_environment(),
        "wistia": WistiaResource(
            api_token=dg.EnvVar("WISTIA_API_TOKEN"),
            api_url=value_or_default("WISTIA_API_URL"),
            max_pages=value_or_default("WISTIA_MAX_PAGES"),
        ),
        "upsales": UpsalesResource(
            api_token=dg.EnvVar("UPSALES_API_TOKEN"),
            api_url=value_or_default("UPSALES_API_URL"),
            customer_id=str(customer_id) if customer_id else "",
        ),
    }


def build_defs() -> dg.Definitions:
    """Definitions bound to the current environment (the CLI calls it after reading `.env`);
    with WISTIA_PIPELINE_ACCOUNTS, every account's (account_defs.py, issue #14)."""
    accounts = many_accounts()
    if accounts is not None:
        from wistia_pipeline.account_defs import build_account_defs

        return build_account_defs(accounts, executor=dg.in_process_executor)
    return dg.Definitions(
        assets=[*STAGES, build_synced_ledger(), *TABLES],
        asset_checks=CHECKS,
        jobs=[sync_job, build_forget_job()],
        schedules=[wistia_sync_every_20_minutes],
        sensors=[alert_on_run_failure],
        resources=build_resources(),
        # Every job's executor (the sync job's, a UI materialization's): the chain is sequential
        # steps sharing one DuckDB file, so running them in the run's own process saves
        # a Python start-up per step (seconds each on a small machine) and changes nothing else;
        # the `wistia_duckdb` pool still makes steps of concurrent runs take turns.
        executor=dg.in_process_executor,
    )


defs = build_defs()
