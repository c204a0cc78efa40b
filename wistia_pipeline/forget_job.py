"""The job `forget_viewer`: `wistia-pipeline forget` as a Dagster run, for erasure requests handled
from the UI (operations/forget.py does the work).

Its one op, `erase_viewer` (a job and its op may not share a name in one repository), runs in the
DuckDB pool, as the stages do: it never runs while a sync step holds the
file. A run's config is kept in Dagster's run storage, so the email given as `email` stays there
in plain text; `email_sha256` (printed by `wistia-pipeline forget --hash EMAIL`) erases the same
rows by their hash (free texts: by the email-shaped words whose hash it is) and keeps the email
out of Dagster altogether.
"""


import dagster as dg
from pydantic import Field
from dagster_duckdb import DuckDBResource

from wistia_pipeline.operations.forget import ForgetError, forget
from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline.stages.common import DUCKDB_POOL, AccountScope, load_settings

FORGET_JOB_NAME = "forget_viewer"


class ForgetConfig(dg.Config):
    email: str = Field(
        default="", description="the viewer's email (stays in Dagster's run storage: prefer email_sha256)")
    email_sha256: str = Field(
        default="", description="sha256 of the email: `wistia-pipeline forget --hash EMAIL` prints it")
    dry_run: bool = Field(default=False, description="count what would be erased, change nothing")


@dg.op(
    pool=DUCKDB_POOL,
    description="Erase one viewer from every table of the DuckDB file, rewrite the file so no freed block keeps "
                "them, and suppress the email (its sha256) from every later sync.",
)
def erase_viewer(context: dg.OpExecutionContext, config: ForgetConfig, duckdb: DuckDBResource,
                  pipeline_settings: PipelineSettings) -> dg.Output[None]:
    settings = load_settings(pipeline_settings)
    email, digest = config.email.strip() or None, config.email_sha256.strip() or None
    try:
        result = forget(duckdb.database, email, digest, dry_run=config.dry_run,
                        lock_wait=settings.db_lock_timeout_s)
    except ForgetError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    verb = "would erase" if result.dry_run else "erased"
    context.log.info(f"{verb} {result.total} rows; "
                     + ("added to the suppression list" if result.newly_suppressed else "already suppressed"))
    # The email's hash, never the email: metadata is kept in the run storage too.
    metadata: dict[str, object] = {f"{verb}/{table}": n for table, n in result.erased.items()}
    metadata.update({
        "email_sha256": result.email_sha256,
        "newly_suppressed": result.newly_suppressed,
        "dry_run": result.dry_run,
        "posted_to_upsales_before": dg.MetadataValue.json(
            [{"destination": d, "upsales_id": i} for d, i in result.posted]),
    })
    return dg.Output(None, metadata=metadata)


JOB_DESCRIPTION = ("Erase one viewer (run config: email_sha256 from `wistia-pipeline forget --hash EMAIL`, or "
                   "email, which Dagster then keeps in its run storage) from the DuckDB file and suppress them "
                   "from later syncs. Takes the DuckDB pool: never runs beside a sync step.")


def build_forget_job(scope: "AccountScope | None" = None,
                     resource_defs: "dict[str, object] | None" = None) -> dg.JobDefinition:
    """The job; with `scope` (many-account mode), the account's own (`forget_viewer_<name>`: its
    file, its pool), bound to the account's `resource_defs` (account_defs binds each account's
    resources to what uses them, never to the whole Definitions)."""
    if scope is None:
        return dg.JobDefinition(name=FORGET_JOB_NAME, description=JOB_DESCRIPTION,
                                graph_def=dg.GraphDefinition(name=FORGET_JOB_NAME, node_defs=[erase_viewer]))
    op = scope.op(erase_viewer)
    name = f"{FORGET_JOB_NAME}_{scope.name}"
    return dg.GraphDefinition(name=name, node_defs=[op]).to_job(
        name=name, description=f"Account {scope.name}: {JOB_DESCRIPTION}",
        resource_defs=resource_defs, tags={"wistia/account": scope.name})
