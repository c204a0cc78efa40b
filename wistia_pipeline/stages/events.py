"""wistia_events: every viewing session Wistia reports for each day of the window."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from wistia_pipeline import db
from wistia_pipeline.clients.wistia import WistiaResource
from wistia_pipeline.stages.common import (
    STAGE_ASSET_ARGS, day_window, days_in, funnel, funnel_metadata, load_settings, table_metadata,
)


@dg.asset(
    **STAGE_ASSET_ARGS,
    description=(
        "Every viewing session Wistia reports for the day (Stats API, one bounded UTC day at a "
        "time, pages of 100), one row per event_key with typed columns and the raw JSON. Each "
        "run re-reads the whole lookback window, because Wistia can take hours to show a view."
    ),
)
def wistia_events(context: dg.AssetExecutionContext, duckdb: DuckDBResource, wistia: WistiaResource) -> dg.MaterializeResult:
    load_settings()
    first, last = day_window(context)
    client = wistia.get_client()
    with db.connect(duckdb) as con:
        con.execute("CREATE OR REPLACE TEMP TABLE _wistia_event_pages "
                    "(day DATE, page_no INTEGER, position INTEGER, raw JSON)")
        fetched = 0
        for day in days_in(first, last):
            for page_no, page in enumerate(client.iter_event_pages(day), start=1):
                db.load_page(con, "wistia_events_load", page, day, page_no)
                fetched += len(page)
            context.log.info(f"Wistia {day.isoformat()}: {fetched} events fetched so far")
        db.rewrite_days(con, "wistia_events", first, last)
        metadata = table_metadata(
            con, "wistia_events", first, last,
            preview_query="SELECT day, event_key, received_at, email, conversion_email, percent_viewed, media_name "
                          "FROM wistia_events WHERE day BETWEEN ? AND ? ORDER BY received_at DESC",
            preview_params=(first, last),
        )
        metadata["events_fetched"] = fetched
        metadata.update(funnel_metadata({"activities": funnel(con, first, last, upto="events")}))
    return dg.MaterializeResult(metadata=metadata)
