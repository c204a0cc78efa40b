"""An account whose Wistia days are not UTC days (what `probe` reports on the line "Wistia days"):
with WISTIA_EXTRA_DAYS=1 every view near midnight UTC at the window's edges is still synced,
each on the UTC day of its received_at (issue #11: lose no view on the window's edges)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wistia_pipeline_tests.reliability.world import assert_complete, connect

pytestmark = pytest.mark.e2e


def test_days_five_hours_west_of_utc_lose_no_view_with_one_extra_day(sandbox, world, run, monkeypatch):
    # Wistia's day D runs from 05:00 UTC on D to 05:00 UTC on D+1, so the world's views (01:00 to
    # 02:14 UTC) are listed under the day before theirs.
    sandbox.wistia.quirks.add("days_in_local_time")
    sandbox.wistia.local_utc_offset = timedelta(hours=-5)

    without = run()
    assert without.success, without.error
    assert without.posted["activities"] < len(world.activity_keys)  # the first day's views were never read

    monkeypatch.setenv("WISTIA_EXTRA_DAYS", "1")
    run.until_complete("one extra day each side")
    with connect(run.db_path) as con:
        wrong = con.execute("SELECT count(*) FROM wistia_events WHERE day <> CAST(received_at AS DATE)").fetchone()[0]
    assert wrong == 0  # every view on the UTC day of its received_at
    assert_complete(sandbox, run.db_path, world)
