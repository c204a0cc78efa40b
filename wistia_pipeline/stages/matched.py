"""matched_views: converted views matched to an Upsales contact, or anonymously to an account."""


from datetime import date

import dagster as dg
import duckdb as duckdb_module
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline.clients.upsales import UpsalesClient, UpsalesResource
from wistia_pipeline.stages.common import (
    STAGE_ASSET_ARGS, day_window, funnel, funnel_metadata, load_settings, rejection_counts, table_metadata,
)
from wistia_pipeline.stages.converted import converted_views

CONTACTS_STAGING = """
CREATE OR REPLACE TEMP TABLE _upsales_contacts (
    id BIGINT, email_lower VARCHAR, email_domain VARCHAR, name VARCHAR, active INTEGER,
    mod_date TIMESTAMP, client_id BIGINT, client_name VARCHAR)
"""


def fetch_contacts(con: duckdb_module.DuckDBPyConnection, client: UpsalesClient, first: date, last: date) -> dict[str, int]:
    """Stage the Upsales contacts the window's views can match, with as few calls as possible.

    First every distinct email in batches (one call per 100 emails), then, only for company
    domains whose views found no exact contact, one domain lookup each.
    """
    con.execute(CONTACTS_STAGING)
    # A second cursor streams the emails while the first one stages the contacts.
    emails = con.cursor().execute(
        "SELECT DISTINCT email_lower FROM converted_views WHERE day BETWEEN ? AND ? ORDER BY 1", [first, last]
    )
    stats = {"emails_looked_up": 0, "domains_looked_up": 0, "contacts_fetched": 0}

    def email_stream():
        while chunk := emails.fetchmany(1000):
            for (email,) in chunk:
                stats["emails_looked_up"] += 1
                yield email

    for page in client.iter_contacts_by_emails(email_stream()):
        db.load_page(con, "upsales_contacts_load", page)
        stats["contacts_fetched"] += len(page)
    domains = [row[0] for row in con.execute(db.sql("match_domains_to_look_up"), [first, last]).fetchall()]
    for domain in domains:
        stats["domains_looked_up"] += 1
        for page in client.iter_contacts_by_domain(domain):
            db.load_page(con, "upsales_contacts_load", page)
            stats["contacts_fetched"] += len(page)
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
def matched_views(context: dg.AssetExecutionContext, duckdb: DuckDBResource, upsales: UpsalesResource) -> dg.MaterializeResult:
    settings = load_settings()
    first, last = day_window(context)
    with db.connect(duckdb) as con:
        stats = {}
        if settings.sync_activities:
            stats = fetch_contacts(con, upsales.get_client(), first, last)
            db.rewrite_days(con, "matched_views", first, last)
        else:  # forms only: nothing to match, and no lookups spent on it
            with db.transaction(con):
                db.clear_days(con, "matched_views", first, last)
        metadata = table_metadata(con, "matched_views", first, last)
        metadata.update(stats)
        metadata.update(rejection_counts(con, "matched_views", first, last))
        metadata.update(funnel_metadata({"activities": funnel(con, first, last, upto="matched")}))
    return dg.MaterializeResult(metadata=metadata)
