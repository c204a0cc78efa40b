"""wistia_medias: Wistia's media list (video -> project), what the project filter and the forms
policy `project` read. Unpartitioned: one table for every day, refreshed whole by each run."""

from typing import Any

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, run_health
from wistia_pipeline.clients.wistia import WistiaClient, WistiaResource
from wistia_pipeline.settings import PipelineSettings, Settings
from wistia_pipeline.stages.common import UNPARTITIONED_ASSET_ARGS, load_settings, record_calls


def projects_needed_by(settings: Settings) -> list[str]:
    """The settings that read the medias' projects (none: the media list is not needed)."""
    needs = []
    if settings.wistia_projects:
        needs.append("WISTIA_PROJECTS (the project filter)")
    if settings.sync_forms and settings.form_policy == "project":
        needs.append("FORM_POLICY=project (one form per project)")
    return needs


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


def medias_metadata(con: duckdb_module.DuckDBPyConnection) -> dict[str, Any]:
    """Row count, projects, when it was fetched and a preview by project (what the project filter
    accepts: a project's hashed id, numeric id or name)."""
    rows, projects, fetched_at = con.execute(
        "SELECT count(*), count(DISTINCT coalesce(project_hashed_id, CAST(project_id AS VARCHAR), project_name)), "
        "max(fetched_at) FROM wistia_medias").fetchone()
    return {
        "dagster/row_count": rows,
        "dagster/column_schema": db.column_schema(con, "wistia_medias"),
        "projects": projects,
        "fetched_at": f"{fetched_at.isoformat(sep=' ', timespec='seconds')} UTC" if fetched_at else "never",
        "preview": dg.MetadataValue.md(db.preview_markdown(
            con,
            "SELECT project_name, project_hashed_id, project_id, count(*) AS medias, "
            "string_agg(name, ', ' ORDER BY name) AS media_names "
            "FROM wistia_medias GROUP BY ALL ORDER BY project_name NULLS LAST, project_hashed_id", [])),
    }


@dg.asset(
    **UNPARTITIONED_ASSET_ARGS,
    description=(
        "Wistia's media list: each video's project (hashed id, numeric id, name), which the project "
        "filter (WISTIA_PROJECTS) and the forms policy `project` read. Refreshed whole from Wistia "
        "by each run that needs it; when neither needs it, no Wistia call and the table is kept "
        "as last fetched (metadata `refreshed` says why)."
    ),
)
def wistia_medias(context: dg.AssetExecutionContext, duckdb: DuckDBResource, wistia: WistiaResource,
                  pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    # As every stage does first (day_window): a run whose process is gone can then be failed.
    run_health.record_run_process(context.instance, context.run)
    settings = load_settings(pipeline_settings)
    needs = projects_needed_by(settings)
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        if needs:
            client = wistia.get_client()
            refresh_medias(con, client)
            metadata: dict[str, Any] = {"refreshed": f"yes: {' and '.join(needs)} read it"}
            metadata.update(record_calls(con, context.run.run_id, "wistia_medias", "wistia", client.session))
        else:
            metadata = {"refreshed": "no Wistia call: WISTIA_PROJECTS is empty (every project) and FORM_POLICY "
                                     "is not `project` with SYNC_FORMS on; kept as last fetched"}
        metadata.update(medias_metadata(con))
    return dg.MaterializeResult(metadata=metadata)
