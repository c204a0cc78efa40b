"""filtered_views: views that meet the minimum % watched and come from an enabled project."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, privacy
from wistia_pipeline.sinks import registry
from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline.stages.common import (
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings, rejection_counts, table_metadata,
)
from wistia_pipeline.stages.matched import matched_views
from wistia_pipeline.stages.medias import projects_needed_by, wistia_medias


def refreshed_in_this_run(context: dg.AssetExecutionContext) -> bool:
    """Whether this run materialized wistia_medias (then an empty table is Wistia's answer)."""
    # The run's own account's table (many accounts: `<name>/wistia_medias`, issue #14).
    key = dg.AssetKey([*context.asset_key.path[:-1], *wistia_medias.key.path])
    latest = context.instance.get_latest_materialization_event(key)
    return latest is not None and latest.run_id == context.run.run_id


@dg.asset(
    **STAGE_ASSET_ARGS,
    deps=[matched_views, wistia_medias],
    description=(
        "The views each destination will post: matched views (activity log) and converted views "
        "(forms) whose percent watched reaches MIN_PERCENT_WATCHED and whose video belongs to a "
        "project in WISTIA_PROJECTS (all projects when empty; the projects come from wistia_medias). "
        "Others are recorded as below_min_percent, project_not_enabled or unknown_project."
    ),
)
def filtered_views(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                   pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        metadata = {}
        if needs := projects_needed_by(settings):
            medias = con.execute("SELECT count(*) FROM wistia_medias").fetchone()[0]
            if medias == 0 and not refreshed_in_this_run(context) and db.count(con, "converted_views", first, last):
                # Never fetched (a new file, and a UI backfill of the days alone): every view would
                # be an unknown_project, or go to the form "(no project)".
                raise dg.Failure(
                    description=f"wistia_medias is empty and {' and '.join(needs)} read it: materialize "
                                f"wistia_medias with these days (the job wistia_sync does)",
                    allow_retries=False)
            metadata["wistia_medias"] = medias
        enabled = registry.enabled(settings)
        db.rewrite_days(con, "filtered_views", first, last, {
            "min_percent": settings.min_percent_watched, "projects": list(settings.wistia_projects),
            "matched_destinations": registry.taking(registry.MATCHED, enabled),
            "converted_destinations": registry.taking(registry.CONVERTED, enabled)})
        metadata.update(table_metadata(con, "filtered_views", first, last))
        metadata.update(rejection_counts(con, "filtered_views", first, last))
        metadata.update(funnel_metadata({d: funnel(con, first, last, d) for d in enabled}))
    return dg.MaterializeResult(metadata=privacy.protect(metadata, settings.full_emails))
