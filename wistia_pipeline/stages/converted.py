"""converted_views: the views that carry a Turnstile email, with that email checked."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, privacy
from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline.stages.common import (
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings, rejection_counts, table_metadata,
)
from wistia_pipeline.stages.events import wistia_events


@dg.asset(
    **STAGE_ASSET_ARGS,
    deps=[wistia_events],
    description=(
        "Views where the viewer left an email in a Turnstile (email gate): the email as entered "
        "(trimmed), its lower-cased form and domain for matching, name, percent watched, video "
        "and heatmap link. Views without one are recorded as not_converted, syntactically "
        "invalid emails as invalid_email (table view_rejections)."
    ),
)
def converted_views(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                    pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        db.rewrite_days(con, "converted_views", first, last)
        metadata = table_metadata(con, "converted_views", first, last)
        metadata.update(rejection_counts(con, "converted_views", first, last))
        metadata.update(funnel_metadata({"activities": funnel(con, first, last, upto="converted")}))
    return dg.MaterializeResult(metadata=privacy.protect(metadata, settings.full_emails))
