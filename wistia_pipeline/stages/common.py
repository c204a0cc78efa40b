"""What every stage asset shares: the daily partitions, the day window, settings, metadata."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from functools import cache
from typing import Any

import dagster as dg
import duckdb

from wistia_pipeline import db, run_health
from wistia_pipeline.sinks import registry
from wistia_pipeline.settings import PipelineSettings, Settings, SettingsError, value_or_default

# `backfill_policy` (below) is a beta parameter of @asset: Dagster warns once per asset every time
# the definitions are imported, i.e. five blocks on every CLI call and code-server start. We use
# it on purpose (one run per range of days), so that one message, and only it, is silenced, here,
# before any stage module defines its asset.
warnings.filterwarnings(
    "ignore", message=r"Parameter `backfill_policy` of function `asset` is currently in beta", category=dg.BetaWarning,
)

GROUP = "wistia_to_upsales"
# Every asset that writes the DuckDB file runs in this pool (size 1, see dagster.yaml), so a
# scheduled run, a UI materialization and a backfill take turns instead of meeting a file lock.
DUCKDB_POOL = "wistia_duckdb"
# Every asset's: the group (the sync job selects it), the pool, the kind; the stages add their
# partitions (below).
TABLE_ASSET_ARGS: dict[str, Any] = dict(group_name=GROUP, pool=DUCKDB_POOL, kinds={"duckdb"})
# The unpartitioned assets (wistia_medias, upsales_forms): one table for every day. Their steps
# run after the stages ready with them, just before the stage that reads them, where that work
# was done before they were assets: a run's first step is still wistia_events (a run that cannot
# open the DuckDB file or read Wistia fails there first), and the matched stage's look-ups, which
# read wistia_medias as a hint, ask Upsales what they asked before.
UNPARTITIONED_ASSET_ARGS: dict[str, Any] = dict(TABLE_ASSET_ARGS, op_tags={"dagster/priority": "-1"})


def partitions_start(env: Mapping[str, str] | None = None) -> date:
    """The first partition: PARTITIONS_START (settings.py says why its default is a fixed date), or
    its default when the value is bad (the run then stops on the setting's one-line error)."""
    return value_or_default("PARTITIONS_START", env)


def build_partitions(start: date) -> dg.DailyPartitionsDefinition:
    """One partition per UTC day of `received_at` from `start`; end_offset=1 makes today one."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


@cache
def _stage_definitions() -> dict[str, Any]:
    partitions = build_partitions(partitions_start())
    return {
        "daily_partitions": partitions,
        "STAGE_ASSET_ARGS": dict(
            partitions_def=partitions,
            # One run covers a whole range of days (the lookback window, a backfill) in one pass.
            backfill_policy=dg.BackfillPolicy.single_run(),
            **TABLE_ASSET_ARGS,
        ),
    }


def __getattr__(name: str) -> Any:
    """`daily_partitions` and `STAGE_ASSET_ARGS`, built on first use rather than at import: the CLI
    imports this module before it reads `.env`, and PARTITIONS_START may be set there."""
    if name in ("daily_partitions", "STAGE_ASSET_ARGS"):
        return _stage_definitions()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def day_window(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """First and last UTC day (inclusive) of the partitions this run materializes.

    Every asset calls it first, so it also tags the run with the process running it (once per
    run): a run whose process is gone can then be failed and its pool slot freed (run_health)."""
    run_health.record_run_process(context.instance, context.run)
    return partition_days(context)


def partition_days(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> tuple[date, date]:
    """First and last UTC day (inclusive) of the run's partitions (one day, or a range)."""
    window = context.partition_time_window
    return window.start.date(), (window.end - timedelta(days=1)).date()


def days_in(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def load_settings(pipeline_settings: PipelineSettings) -> Settings:
    """The run's validated settings (the resource, the launchpad's overrides included), or a
    one-line failure that names the variable (before any API call)."""
    try:
        return pipeline_settings.load()
    except SettingsError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None


FUNNEL_LABELS = {
    "events": "views in Wistia",
    "converted": "converted (Turnstile email)",
    "matched": "matched to Upsales",
    "at_min_percent": "at or above minimum %",
    "in_projects": "in enabled projects",
    "new": "not yet synced",
}


FUNNEL_STAGES = ("events", "converted", "matched", "at_min_percent", "in_projects")


class Funnel(dict):
    """Stage name -> views, remembering the days it counts (so its metadata can name them)."""

    def __init__(self, counts: Mapping[str, int], first: date, last: date) -> None:
        super().__init__(counts)
        self.first, self.last = first, last


def funnel(con: duckdb.DuckDBPyConnection, first: date, last: date, destination: str = "activities",
           upto: str = "in_projects", new: int | None = None) -> Funnel:
    """Stage counts of the window for one destination up to stage `upto`, from the stage tables."""
    takes_matched = registry.get(destination).takes == registry.MATCHED
    row = db.run_script(con, "funnel", {"first": first, "last": last, "destination": destination,
                                        "takes_matched": takes_matched}).fetchone()
    counts = Funnel(zip(FUNNEL_STAGES[: FUNNEL_STAGES.index(upto) + 1], row), first, last)
    if counts.get("matched", 0) is None:  # a destination taking converted views does not match
        del counts["matched"]
    if new is not None:
        counts["new"] = new
    return counts


def window_label(first: date, last: date) -> str:
    """The run's days in words: Dagster shows one run's metadata under every partition it
    materialized ("Partition 2026-11-26 materialized"), so say it counts the whole window."""
    days = (last - first).days + 1
    return f"{first.isoformat()} .. {last.isoformat()} (this run's {days} day{'s' if days != 1 else ''})"


def funnel_metadata(counts_by_destination: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """The funnel as a one-line arrow chain per destination plus a markdown table, titled with the
    run's window when the counts know it (they come from `funnel`)."""
    metadata: dict[str, Any] = {}
    lines = ["| destination | stage | views |", "|---|---|---|"]
    windows = {(c.first, c.last) for c in counts_by_destination.values() if isinstance(c, Funnel)}
    if len(windows) == 1:
        first, last = windows.pop()
        metadata["window"] = window_label(first, last)
        days = (last - first).days + 1
        lines.insert(0, f"**This run's funnel, over its {days} day{'s' if days != 1 else ''} "
                        f"{first.isoformat()} .. {last.isoformat()}** (each of its partitions shows it)\n")
    for destination, counts in counts_by_destination.items():
        metadata[f"funnel_{destination}"] = " -> ".join(str(v) for v in counts.values())
        lines += [f"| {destination} | {FUNNEL_LABELS[k]} | {v} |" for k, v in counts.items()]
    metadata["funnel"] = dg.MetadataValue.md("\n".join(lines))
    metadata["funnel_counts"] = dg.MetadataValue.json({d: dict(c) for d, c in counts_by_destination.items()})
    return metadata


def table_metadata(con: duckdb.DuckDBPyConnection, table: str, first: date, last: date,
                   preview_query: str | None = None, preview_params: Sequence[Any] = ()) -> dict[str, Any]:
    """Row count, column schema and a preview of the window's rows (saying how many of how many),
    for the asset page; `window` says the counts are the run's whole range of days."""
    query = preview_query or f"SELECT * FROM {table} WHERE day BETWEEN ? AND ? ORDER BY day, event_key"
    params = preview_params if preview_query else (first, last)
    return {
        "dagster/row_count": db.count(con, table, first, last),
        "dagster/column_schema": db.column_schema(con, table),
        "days": f"{first.isoformat()} .. {last.isoformat()}",
        "window": window_label(first, last),
        "preview": dg.MetadataValue.md(db.preview_markdown(con, query, params)),
    }


def rejection_counts(con: duckdb.DuckDBPyConnection, stage: str, first: date, last: date) -> dict[str, Any]:
    """How many views this stage stopped, by reason (metadata `skipped/<destination>/<reason>`)."""
    rows = con.execute(
        "SELECT destination, reason, count(*) FROM view_rejections WHERE stage = ? AND day BETWEEN ? AND ? "
        "GROUP BY ALL ORDER BY ALL",
        [stage, first, last],
    ).fetchall()
    return {f"skipped/{destination}/{reason}": n for destination, reason, n in rows}


class StepCalls:
    """The calls one step makes on a session the run's steps share (the run's Upsales client):
    those made since the step took it, for `record_calls` (steps of a run run one at a time)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.before = Counter(session.calls)

    @property
    def calls(self) -> Counter[str]:
        return Counter(self.session.calls) - self.before


def record_calls(con: duckdb.DuckDBPyConnection, run_id: str, step: str, api: str, *sessions: Any) -> dict[str, int]:
    """The step's calls to one API per endpoint, as metadata `calls/<api>/<METHOD path>`; also kept
    in table run_calls, from which `doctor` projects the daily Upsales calls (issue #13). Each of
    `sessions` has `.calls`: a session of the step's own, or a StepCalls of a shared one."""
    counts: Counter[str] = Counter()
    for session in sessions:
        counts.update(session.calls)
    if counts:
        con.executemany("INSERT INTO run_calls (run_id, step, recorded_at, api, endpoint, calls) "
                        "VALUES (?, ?, now() AT TIME ZONE 'UTC', ?, ?, ?)",
                        [[run_id, step, api, endpoint, n] for endpoint, n in sorted(counts.items())])
    return {f"calls/{api}/{endpoint}": n for endpoint, n in sorted(counts.items())}


# -- many accounts (issue #14): one copy of every asset per account ---------------------------

# The resources every asset and op takes, by parameter name; an account's copies take
# `<account>__<name>` instead (AccountScope.resource_keys).
RESOURCE_NAMES = ("duckdb", "pipeline_settings", "wistia", "upsales")


def account_pool(name: str) -> str:
    """The account's DuckDB pool: one writer per file, accounts in parallel (dagster.yaml's
    default pool limit gives each pool one slot)."""
    return f"{DUCKDB_POOL}_{name}"


class AccountScope:
    """How one account's copies of the assets and ops differ from the single-account ones: key
    prefix `<name>/`, group `<name>`, pool `wistia_duckdb_<name>`, op names `<name>__<op>`,
    its own daily partitions, and resource keys `<name>__duckdb` etc. bound statically, so an
    account's step can only ever be handed its own DuckDB file, clients and settings (Dagster
    allows one resource per key in a code location: the key itself carries the account)."""

    def __init__(self, name: str, partitions_def: dg.PartitionsDefinition) -> None:
        self.name = name
        self.partitions_def = partitions_def
        self.pool = account_pool(name)
        self.resource_keys = {resource: f"{name}__{resource}" for resource in RESOURCE_NAMES}

    def key(self, key: dg.AssetKey) -> dg.AssetKey:
        return dg.AssetKey([self.name, *key.path])

    def bind(self, fn: Any) -> tuple[Any, set[str]]:
        """`fn` without its resource parameters, which it is handed from the account's resource
        keys instead; and those keys (the definition's `required_resource_keys`)."""
        signature = inspect.signature(fn, eval_str=True)
        used = {param: key for param, key in self.resource_keys.items() if param in signature.parameters}
        takes_context = next(iter(signature.parameters), None) == "context"

        @functools.wraps(fn)
        def compute(context, *args, **kwargs):
            resources = context.resources.original_resource_dict
            return fn(*((context,) if takes_context else ()), *args, **kwargs,
                      **{param: resources[key] for param, key in used.items()})

        params = [p for name, p in signature.parameters.items() if name not in used]
        if not takes_context:  # the resources come from the context: the copy takes it
            params.insert(0, inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD))
        compute.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        return compute, set(used.values())

    def asset(self, asset: dg.AssetsDefinition) -> dg.AssetsDefinition:
        """The account's copy of a single-account asset (its deps the account's copies too)."""
        spec = next(iter(asset.specs))
        fn, required = self.bind(asset.op.compute_fn.decorated_fn)
        return dg.asset(
            name=asset.key.path[-1], key_prefix=[self.name], group_name=self.name, pool=self.pool,
            kinds=set(spec.kinds), description=spec.description,
            deps=[self.key(dep.asset_key) for dep in spec.deps],
            partitions_def=self.partitions_def if asset.partitions_def else None,
            backfill_policy=asset.backfill_policy, op_tags=dict(asset.op.tags),
            required_resource_keys=required,
        )(fn)

    def op(self, op: dg.OpDefinition) -> dg.OpDefinition:
        """The account's copy of an op of the ledger's graph: its own name (op names are unique
        in a code location), pool and resource keys."""
        fn, required = self.bind(op.compute_fn.decorated_fn)
        return dg.op(
            name=f"{self.name}__{op.name}", pool=self.pool, description=op.description,
            ins={name: dg.In(dg.Nothing) for name, spec in op.ins.items() if spec.dagster_type.is_nothing},
            tags=dict(op.tags), required_resource_keys=required,
        )(fn)

    def check(self, check: dg.AssetChecksDefinition) -> dg.AssetChecksDefinition:
        """The account's copy of an asset check (on the account's copy of its asset)."""
        spec = next(iter(check.check_specs))
        fn, required = self.bind(check.node_def.compute_fn.decorated_fn)
        return dg.asset_check(
            asset=self.key(spec.asset_key), name=spec.name, blocking=spec.blocking,
            description=spec.description, pool=self.pool, required_resource_keys=required,
        )(fn)
