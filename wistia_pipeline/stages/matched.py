"""matched_views: converted views matched to an Upsales contact, or anonymously to an account."""


from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db, privacy
from wistia_pipeline.sinks import registry
from wistia_pipeline.clients.upsales import UpsalesClient, UpsalesResource
from wistia_pipeline.settings import DEFAULT_CONTACT_REFRESH_MINUTES, PipelineSettings
from wistia_pipeline.stages.common import (
    record_calls, StepCalls,
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings, rejection_counts, table_metadata,
)
from wistia_pipeline.stages.converted import converted_views

# Kept answers not used by any window for this long are dropped (a later view asks again).
LOOKUP_KEEP_DAYS = 7


def fetch_contacts(con: duckdb_module.DuckDBPyConnection, client: UpsalesClient, first: date, last: date,
                   refresh_minutes: int = DEFAULT_CONTACT_REFRESH_MINUTES,
                   now: datetime | None = None, min_percent: float = 0.0,
                   projects: Sequence[str] = (), destinations: Sequence[str] = ("activities",)) -> dict[str, int]:
    """Stage the Upsales contacts the window's views can match, spending calls only where an
    outcome can still change (issue #13).

    The answers of earlier look-ups are kept in DuckDB (upsales_lookups). An email is asked again
    only when it was never asked, or when its answer is older than `refresh_minutes` and one of
    its views could still be posted: not yet posted or rejected, and passing the filters
    (`min_percent`, `projects`: a view below the minimum or on a project not enabled is never
    posted, whatever Upsales answers). That is late binding (a contact created after the view)
    and nothing posted from an old answer (a contact deactivated since), at no cost for views
    that cannot change. Batches of 100 emails per call; then, for views with no exact contact,
    one call per company domain under the same rule. Matching then reads every answer from the
    cache (lookup_stage_cached.sql).
    """
    now = now or datetime.now(timezone.utc).replace(tzinfo=None)
    fresh_since = now - timedelta(minutes=refresh_minutes)
    cached = {"first": first, "last": last, "fresh_since": fresh_since}
    db.run_script(con, "upsales_contacts_staging")
    stats = {"emails_looked_up": 0, "domains_looked_up": 0, "contacts_fetched": 0, "emails_from_cache": 0}

    db.run_script(con, "lookup_views", {"first": first, "last": last, "min_percent": min_percent,
                                        "projects": list(projects), "matched_destinations": list(destinations)})
    db.run_script(con, "lookup_emails_to_ask", {"fresh_since": fresh_since})

    def email_stream():
        """The emails to ask, a thousand at a time (keyset reads of the temp table, which only
        this connection sees, each read whole between two pages of contacts)."""
        after = ""
        while chunk := con.execute("SELECT asked FROM _emails_to_ask WHERE asked > ? ORDER BY 1 LIMIT 1000",
                                   [after]).fetchall():
            after = chunk[-1][0]
            for (email,) in chunk:
                stats["emails_looked_up"] += 1
                yield email

    for page in client.iter_contacts_by_emails(email_stream()):
        db.load_page(con, "upsales_contacts_load", page)
        stats["contacts_fetched"] += len(page)
    with db.transaction(con):
        con.execute("INSERT INTO _asked SELECT asked FROM _emails_to_ask")
        db.run_script(con, "lookup_save", {"kind": "email"})
        con.execute("DELETE FROM _asked")
    db.run_script(con, "lookup_stage_cached", cached)

    db.run_script(con, "lookup_domains_to_ask", {"fresh_since": fresh_since})
    domains = [row[0] for row in con.execute("SELECT asked FROM _domains_to_ask ORDER BY 1").fetchall()]
    for domain in domains:
        con.execute("DELETE FROM _upsales_contacts")
        for page in client.iter_contacts_by_domain(domain):
            db.load_page(con, "upsales_contacts_load", page)
            stats["contacts_fetched"] += len(page)
        with db.transaction(con):  # one domain's answer at a time: a failure later keeps it
            con.execute("INSERT INTO _asked VALUES (?)", [domain])
            db.run_script(con, "lookup_save", {"kind": "domain"})
            con.execute("DELETE FROM _asked")
        stats["domains_looked_up"] += 1
    db.run_script(con, "lookup_stage_cached", cached)
    con.execute("DELETE FROM upsales_lookups AS k WHERE k.looked_up_at < ? AND NOT EXISTS ("
                "SELECT 1 FROM converted_views AS v WHERE v.day BETWEEN ? AND ? "
                "AND k.asked IN (v.email_lower, v.email_domain))",
                [now - timedelta(days=LOOKUP_KEEP_DAYS), first, last])
    con.execute("DELETE FROM upsales_lookup_contacts AS c WHERE NOT EXISTS ("
                "SELECT 1 FROM upsales_lookups AS k WHERE k.kind = c.kind AND k.asked = c.asked)")
    (stats["emails_from_cache"],) = con.execute(
        "SELECT count(DISTINCT email_lower) FROM converted_views WHERE day BETWEEN ? AND ? AND email_lower <> ''",
        [first, last]).fetchone()
    stats["emails_from_cache"] -= stats["emails_looked_up"]
    con.execute("DROP TABLE IF EXISTS _lookup_views")
    con.execute("DROP TABLE IF EXISTS _emails_to_ask")
    con.execute("DROP TABLE IF EXISTS _domains_to_ask")
    return stats


@dg.asset(
    **STAGE_ASSET_ARGS,
    deps=[converted_views],
    description=(
        "Converted views matched to Upsales for the activity log. match_type 'contact': an active "
        "contact with exactly this email (the most recently modified one when several). "
        "'account': no such contact, but active contacts on the same company domain, all or most "
        "of them at one account; the view is posted anonymously ('Someone watched ...'). "
        "Unmatched views are recorded as personal_domain, ambiguous_domain or no_match."
    ),
)
def matched_views(context: dg.AssetExecutionContext, duckdb: DuckDBResource, upsales: UpsalesResource,
                  pipeline_settings: PipelineSettings) -> dg.MaterializeResult:
    settings = load_settings(pipeline_settings)
    first, last = day_window(context)
    with db.connect(duckdb, lock_wait=settings.db_lock_timeout_s) as con:
        stats = {}
        matching = registry.taking(registry.MATCHED, registry.enabled(settings))
        if matching:
            client = upsales.get_client()  # the run's, shared with the ledger step
            calls = StepCalls(client.session)
            stats = fetch_contacts(con, client, first, last, settings.contact_refresh_minutes,
                                   min_percent=settings.min_percent_watched, projects=settings.wistia_projects,
                                   destinations=matching)
            stats.update(record_calls(con, context.run.run_id, "matched_views", "upsales", calls))
            db.rewrite_days(con, "matched_views", first, last, {"matched_destinations": matching})
        else:  # no destination takes matched views (forms only): nothing to match, no look-ups
            with db.transaction(con):
                db.clear_days(con, "matched_views", first, last)
        metadata = table_metadata(con, "matched_views", first, last)
        metadata.update(stats)
        metadata.update(rejection_counts(con, "matched_views", first, last))
        metadata.update(funnel_metadata({"activities": funnel(con, first, last, upto="matched")}))
    return dg.MaterializeResult(metadata=privacy.protect(metadata, settings.full_emails))
