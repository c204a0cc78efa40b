"""The stage SQL run on an in-memory DuckDB with hand-made API pages: rules without the network."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import pytest

from wistia_pipeline import db
from wistia_pipeline.sinks import registry
from wistia_pipeline.stages.events import stage_pages

DAY = date(2026, 3, 10)


class StageDb:
    def __init__(self) -> None:
        self.con = db.prepare(duckdb.connect(":memory:"))
        self.con.execute("CREATE TEMP TABLE _wistia_event_pages (day DATE, page_no INTEGER, position INTEGER, raw JSON)")
        db.run_script(self.con, "upsales_contacts_staging")

    def events(self, *pages: list[dict], day: date = DAY) -> None:
        self.con.execute("DELETE FROM _wistia_event_pages")  # each run stages its own pages
        stage_pages(self.con, [(day, page_no, json.dumps(page)) for page_no, page in enumerate(pages, start=1)])
        db.rewrite_days(self.con, "wistia_events", day, day)

    def contacts(self, contacts: list[dict]) -> None:
        db.load_page(self.con, "upsales_contacts_load", contacts)

    def medias(self, medias: list[dict]) -> None:
        self.con.execute("CREATE OR REPLACE TEMP TABLE _wistia_media_pages (hashed_id VARCHAR, name VARCHAR, "
                         "project_id BIGINT, project_hashed_id VARCHAR, project_name VARCHAR)")
        db.load_page(self.con, "wistia_medias_load", medias)
        self.con.execute("INSERT INTO wistia_medias SELECT *, now() FROM _wistia_media_pages")

    def run(self, *scripts: str, day: date = DAY, min_percent: float = 0.0, projects: tuple = (),
            destinations: tuple = ("activities",)) -> None:
        for script in scripts:
            extra = {
                "filtered_views": {"min_percent": min_percent, "projects": list(projects),
                                   "matched_destinations": registry.taking(registry.MATCHED, destinations),
                                   "converted_destinations": registry.taking(registry.CONVERTED, destinations)},
                "matched_views": {"matched_destinations": registry.taking(registry.MATCHED, destinations)
                                  or ["activities"]},
            }.get(script, {})
            db.rewrite_days(self.con, script, day, day, extra)

    def rows(self, query: str, *params) -> list[tuple]:
        return self.con.execute(query, list(params)).fetchall()

    def reasons(self, stage: str | None = None) -> dict[str, str]:
        query = "SELECT event_key, reason FROM view_rejections" + (" WHERE stage = ?" if stage else "")
        return dict(self.rows(query, *([stage] if stage else [])))


@pytest.fixture
def stage_db() -> StageDb:
    return StageDb()
