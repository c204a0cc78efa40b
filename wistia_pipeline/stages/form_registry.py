"""upsales_forms: the registry of the Upsales forms this pipeline submits to (FORM_POLICY).

A form is found by name in Upsales, or created, when a view is first posted to it (the forms
sink, in synced_ledger: creating is a write and belongs to posting), then remembered here by
name. Materializing the registry reads DuckDB alone: the remembered forms are all a run needs,
and checking them in Upsales would add a call to every run, also to one with nothing to post.
Unpartitioned: one registry for every day.
"""

from typing import Any

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, run_health
from wistia_pipeline.settings import PipelineSettings, Settings
from wistia_pipeline.stages.common import UNPARTITIONED_ASSET_ARGS, load_settings


def registry_metadata(con: duckdb_module.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """The registry for the asset page: its forms (the current policy's first), how many the
    current policy uses, how many the pipeline created, how many of those do not carry
    FORM_SCORE yet (each gets it before its next submission), and how many found forms (a
    customer's own) score otherwise and are left so."""
    policy = settings.form_policy if settings.sync_forms else None
    rows, of_policy, created, to_rescore, left_alone = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE policy = $policy), count(*) FILTER (WHERE created), "
        "count(*) FILTER (WHERE created AND score IS DISTINCT FROM $score), "
        "count(*) FILTER (WHERE NOT created AND score IS DISTINCT FROM $score) FROM upsales_forms",
        {"policy": policy, "score": settings.form_score}).fetchone()
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": db.column_schema(con, "upsales_forms"),
        "form_policy": policy or "none: SYNC_FORMS is off",
        "forms_of_the_policy": of_policy,
        "created_by_the_pipeline": created,
        "form_score": settings.form_score,
        "forms_to_rescore": to_rescore,
        "forms_left_alone": left_alone,  # not the pipeline's: their score is not changed
        "upsales_calls": "none: a form is found by name or created when a view is first posted to it (synced_ledger)",
        "preview": dg.MetadataValue.md(db.preview_markdown(
            con,
            "SELECT name, policy, form_id, form_uuid, created, score, recorded_at FROM upsales_forms "
            "ORDER BY policy IS NOT DISTINCT FROM ? DESC, policy, name", [policy])),
    }


@dg.asset(
    **UNPARTITIONED_ASSET_ARGS,
    description=(
        "The Upsales forms the forms destination submits to (FORM_POLICY: one form, one per project "
        "or one per video): name, policy, Upsales form id and uuid, whether this pipeline created it, "
        "its lead score (FORM_SCORE on the pipeline's own forms). "
        "A form is found by name in Upsales, or created, when a view is first posted to it, and "
        "remembered here; materializing the registry reads it from DuckDB (no Upsales call)."
    ),
)
def upsales_forms(context: dg.AssetExecutionContext, duckdb: DuckDBResource,
                  pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    # As every stage does first (day_window): a run whose process is gone can then be failed.
    run_health.record_run_process(context.instance, context.run)
    settings = load_settings(pipeline_settings)
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        return dg.MaterializeResult(metadata=registry_metadata(con, settings))
