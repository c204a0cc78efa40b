"""Many accounts (issue #14): the Dagster shape of an accounts file.

Each account gets its own copy of every asset and check (key prefix `<name>/`, group `<name>`,
pool `wistia_duckdb_<name>`), its own resources under keys `<name>__duckdb`, `<name>__wistia`,
`<name>__upsales`, `<name>__pipeline_settings` (its DuckDB file, its clients with its own tokens
and rate limiters, its settings), a job `wistia_sync_<name>`, and a run per tick of the one
schedule. docs/architecture.md ("Many accounts") says why per-account assets rather than an
account partition dimension. Single-account mode (no accounts file) never imports this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import urlsplit

import dagster as dg
from dagster_duckdb import DuckDBResource

from wistia_pipeline import alerts, automation, run_health
from wistia_pipeline.accounts import Account
from wistia_pipeline.checks import CHECKS
from wistia_pipeline.clients.upsales import UpsalesResource
from wistia_pipeline.clients.wistia import WistiaResource
from wistia_pipeline.forget_job import build_forget_job
from wistia_pipeline.settings import SettingsError, database_path, environment, value_or_default
from wistia_pipeline.stages.common import AccountScope, build_partitions, partitions_start
from wistia_pipeline.stages.converted import converted_views
from wistia_pipeline.stages.events import wistia_events
from wistia_pipeline.stages.filtered import filtered_views
from wistia_pipeline.stages.form_registry import upsales_forms
from wistia_pipeline.stages.ledger import build_synced_ledger
from wistia_pipeline.stages.matched import matched_views
from wistia_pipeline.stages.medias import wistia_medias

ACCOUNT_TAG = "wistia/account"  # on every run of one account: the schedule's, its job's, the CLI's
STAGES = [wistia_events, converted_views, matched_views, filtered_views, wistia_medias, upsales_forms]


def account_job_name(name: str) -> str:
    return f"{automation.SYNC_JOB_NAME}_{name}"


def shared_partitions(accounts: Sequence[Account]) -> dg.DailyPartitionsDefinition:
    """One daily partitions definition for every account, from the earliest PARTITIONS_START:
    the schedule's job spans every account's assets, and a job has one partitions definition."""
    return build_partitions(min(partitions_start(account.env({})) for account in accounts))


def account_assets(scope: AccountScope) -> list[dg.AssetsDefinition]:
    return [*(scope.asset(stage) for stage in STAGES), build_synced_ledger(scope)]


def account_checks(scope: AccountScope) -> list[dg.AssetChecksDefinition]:
    return [scope.check(check) for check in CHECKS]


def account_resources(account: Account, scope: AccountScope) -> dict[str, object]:
    """The account's resources under its own keys: its DuckDB file, its settings, and clients
    holding `EnvVar`s of the variables it names (never a value; a missing one fails its runs
    only, with the same one-line error as single-account mode)."""
    env = account.env({})  # its settings, without secrets: those stay EnvVars
    customer_id = value_or_default("UPSALES_CUSTOMER_ID", env)
    resources = {
        "duckdb": DuckDBResource(database=database_path(env)),
        "pipeline_settings": account.pipeline_settings(),
        "wistia": WistiaResource(api_token=dg.EnvVar(account.wistia_api_token_env),
                                 api_url=value_or_default("WISTIA_API_URL", env),
                                 max_pages=value_or_default("WISTIA_MAX_PAGES", env)),
        "upsales": UpsalesResource(api_token=dg.EnvVar(account.upsales_api_token_env),
                                   api_url=value_or_default("UPSALES_API_URL", env),
                                   customer_id=str(customer_id) if customer_id else ""),
    }
    return {scope.resource_keys[key]: resource for key, resource in resources.items()}


def account_selection(assets: Sequence[dg.AssetsDefinition], name: str) -> list[dg.AssetKey]:
    return [key for asset in assets for key in asset.keys if key.path[0] == name]


def account_of_run(run: dg.DagsterRun) -> str | None:
    """The account a run belongs to: its tag, else the prefix of the assets it selected (a UI
    materialization of one account's assets)."""
    if run.tags.get(ACCOUNT_TAG):
        return run.tags[ACCOUNT_TAG]
    prefixes = {key.path[0] for key in (run.asset_selection or ()) if len(key.path) > 1}
    return prefixes.pop() if len(prefixes) == 1 else None


def accounts_with_run_going(instance: dg.DagsterInstance) -> set[str]:
    """The accounts a run the schedule launched is queued or running for (one query a tick, not
    one per account)."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=automation.RUN_GOING,
                                                   tags={automation.SCHEDULE_TAG: automation.SCHEDULE_NAME}))
    return {run.tags[ACCOUNT_TAG] for run in runs if run.tags.get(ACCOUNT_TAG)}


def lookback_days(account: Account) -> int:
    try:
        return account.pipeline_settings().load().lookback_days
    except SettingsError:
        return 3  # the run itself fails with the one-line settings error


def build_schedule(accounts: Sequence[Account], assets: Sequence[dg.AssetsDefinition],
                   checks: Sequence[dg.AssetChecksDefinition], job: dg.UnresolvedAssetJobDefinition
                   ) -> dg.ScheduleDefinition:
    selections = {a.name: account_selection(assets, a.name) for a in accounts}
    check_keys = {a.name: [key for check in checks for key in check.check_keys if key.asset_key.path[0] == a.name]
                  for a in accounts}

    @dg.schedule(
        name=automation.SCHEDULE_NAME,
        cron_schedule=f"*/{automation.SCHEDULE_MINUTES} * * * *",
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Every 20 minutes, one run per account over its last LOOKBACK_DAYS days, today included; "
            "an account whose previous scheduled run is still going is skipped this tick (the others "
            "are not). Each tick first fails the runs whose process is gone and frees their slots."
        ),
    )
    def wistia_sync_every_20_minutes(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest | dg.SkipReason]:
        automation.release_stuck_runs(context)
        tick = context.scheduled_execution_time or datetime.now(timezone.utc)
        today = tick.astimezone(timezone.utc).date()
        skipped = []
        going = accounts_with_run_going(context.instance)
        for account in accounts:
            if account.name in going:
                skipped.append(account.name)
                continue
            first, last = automation.lookback_window(today, lookback_days(account))
            yield dg.RunRequest(
                # One key per account and tick (a schedule's several requests each need one).
                run_key=f"{account.name}:{tick.astimezone(timezone.utc).isoformat()}",
                asset_selection=selections[account.name], asset_check_keys=check_keys[account.name],
                tags={**automation.range_tags(first, last), ACCOUNT_TAG: account.name},
            )
        if skipped:
            context.log.info(f"Previous scheduled run still going, skipped this tick: {', '.join(skipped)}")
            if len(skipped) == len(accounts):
                yield dg.SkipReason(f"The previous scheduled sync of every account is still going: {', '.join(skipped)}")

    return wistia_sync_every_20_minutes


def build_alert_sensor(accounts: Sequence[Account]) -> dg.RunFailureSensorDefinition:
    """The failure sensor: the alert names the account and goes to its own webhook."""
    by_name = {account.name: account for account in accounts}

    @dg.run_failure_sensor(
        name=alerts.SENSOR_NAME,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "When a run of this code location fails, posts the account, job, run id, error and a link "
            "to the run to that account's alert webhook (its alert_webhook_url_env). Skips an account "
            "without one."
        ),
    )
    def alert_on_run_failure(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        name = account_of_run(run)
        account = by_name.get(name or "")
        if account is None or not account.alert_webhook_url_env:
            return dg.SkipReason(f"no alert webhook for account {name or '(none: not one account)'}")
        env = environment()
        url = alerts.webhook_url({"ALERT_WEBHOOK_URL": env.get(account.alert_webhook_url_env, "")})
        if not url:
            return dg.SkipReason(f"{account.alert_webhook_url_env} is not set: no alert for account {name}")
        secrets = {"WISTIA_API_TOKEN": env.get(account.wistia_api_token_env, ""),
                   "UPSALES_API_TOKEN": env.get(account.upsales_api_token_env, ""), "ALERT_WEBHOOK_URL": url}
        message = alerts.alert_message(run.job_name, run.run_id, alerts.error_summary(context, secrets),
                                       alerts.run_url(run.run_id), account=name)
        alerts.post_alert(url, message)
        context.log.info(f"Alert for run {run.run_id} of account {name} sent to {urlsplit(url).hostname}")
        return None

    return alert_on_run_failure


def build_account_defs(accounts: Sequence[Account], executor: dg.ExecutorDefinition,
                       only: str | None = None) -> dg.Definitions:
    """The Definitions of many-account mode: every account's assets, checks, resources and job,
    the one schedule and the one failure sensor. `only`: that account's alone (the CLI's sync of
    one account, which need not build 200 accounts' definitions), on the same partitions."""
    partitions = shared_partitions(accounts)
    if only is not None:
        accounts = [find_account(accounts, only)]
    assets: list[dg.AssetsDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    forget_jobs: list[dg.JobDefinition] = []
    for account in accounts:
        scope = AccountScope(account.name, partitions)
        # Bound to its own assets and checks here, not handed to Definitions: Definitions binds its
        # resources to every asset, merging all of them per asset (N accounts x 4 resources for each
        # of N x 20 assets and checks: a load that grew with the square of the accounts).
        resources = account_resources(account, scope)
        own = dg.with_resources([*account_assets(scope), *account_checks(scope)], resource_defs=resources)
        assets += [a for a in own if not isinstance(a, dg.AssetChecksDefinition)]
        checks += [a for a in own if isinstance(a, dg.AssetChecksDefinition)]
        jobs.append(dg.define_asset_job(
            account_job_name(account.name), selection=dg.AssetSelection.groups(account.name),
            # `tags`: what the webserver merges into every run it launches for the job (launchpad,
            # Materialize all, backfills); `run_tags` alone reach only the UI's launchpad form.
            tags={ACCOUNT_TAG: account.name},
            run_tags={ACCOUNT_TAG: account.name, automation.MAX_RUNTIME_TAG: str(run_health.MAX_RUNTIME_S)},
            description=f"Account {account.name}: the whole chain over a range of days in one run.",
        ))
        forget_jobs.append(build_forget_job(scope, resources))  # erasure: the account's file, in its pool
    # The schedule's target: each of its runs selects one account's assets (and carries its tag).
    every = dg.define_asset_job(
        automation.SYNC_JOB_NAME, selection=dg.AssetSelection.groups(*(a.name for a in accounts)),
        run_tags={automation.MAX_RUNTIME_TAG: str(run_health.MAX_RUNTIME_S)},
        description="The schedule's target: each scheduled run selects one account's assets (tag wistia/account); "
                    "to run one account, use its job wistia_sync_<name>.",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        jobs=[every, *jobs, *forget_jobs],
        schedules=[build_schedule(accounts, assets, checks, every)],
        sensors=[build_alert_sensor(accounts)],
        executor=executor,
    )


def account_names(accounts: Sequence[Account]) -> str:
    return ", ".join(account.name for account in accounts)


def find_account(accounts: Sequence[Account], name: str | None) -> Account:
    """The account called `name`; SettingsError (one line listing the names) otherwise."""
    by_name: Mapping[str, Account] = {account.name: account for account in accounts}
    if not name:
        raise SettingsError(f"many-account mode: --account NAME is required (one of: {account_names(accounts)})")
    if name not in by_name:
        raise SettingsError(f'no account "{name}" in the accounts file (one of: {account_names(accounts)})')
    return by_name[name]
