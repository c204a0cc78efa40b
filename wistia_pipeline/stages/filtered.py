"""filtered_views: views that meet the minimum % watched and come from an enabled project."""


import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline.sinks import registry
from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline.clients.wistia import WistiaClient, WistiaResource
from wistia_pipeline.stages.common import (
    record_calls,
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings, rejection_counts, table_metadata,
)
from wistia_pipeline.stages.matched import matched_views


def refresh_medias(con: duckdb_module.DuckDBPyConnection, client: WistiaClient) -> int:
    """Replace the media -> project table from Wistia (pages of 100 medias)."""
    db.run_script(con, "wistia_medias_staging")
    for page in client.iter_medias():
        db.load_page(con, "wistia_medias_load", page)
    with db.transaction(con):
        con.execute("DELETE FROM wistia_medias")
        con.execute("INSERT INTO wistia_medias SELECT DISTINCT ON (hashed_id) *, now() AT TIME ZONE 'UTC' "
                    "FROM _wistia_media_pages")
    return con.execute("SELECT count(*) FROM wistia_medias").fetchone()[0]


@dg.asset(
    **STAGE_ASSET_ARGS,
    deps=[matched_views],
    description=(
        "The views each destination will post: matched views (activity log) and converted views "
        "(forms) whose percent watched reaches MIN_PERCENT_WATCHED and whose video belongs to a "
        "project in WISTIA_PROJECTS (all projects when empty). Others are recorded as "
        "below_min_percent, project_not_enabled or unknown_project."
    ),
)
def filtered_views(context: dg.AssetExecutionContext, duckdb: DuckDBResource, wistia: WistiaResource,
                   pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        metadata = {}
        # Projects come from Wistia's medias: needed by the project filter and by the forms
        # policy `project` (one form per project).
        if settings.wistia_projects or (settings.sync_forms and settings.form_policy == "project"):
            client = wistia.get_client()
            metadata["wistia_medias"] = refresh_medias(con, client)
            metadata.update(record_calls(con, context.run.run_id, "filtered_views", "wistia", client.session))
        enabled = registry.enabled(settings)
        db.rewrite_days(con, "filtered_views", first, last, {
            "min_percent": settings.min_percent_watched, "projects": list(settings.wistia_projects),
            "matched_destinations": registry.taking(registry.MATCHED, enabled),
            "converted_destinations": registry.taking(registry.CONVERTED, enabled)})
        metadata.update(table_metadata(con, "filtered_views", first, last))
        metadata.update(rejection_counts(con, "filtered_views", first, last))
        metadata.update(funnel_metadata({d: funnel(con, first, last, d) for d in enabled}))
    return dg.MaterializeResult(metadata=metadata)
