"""The Dagster UI in a real browser (Playwright driving Debian's Chromium): the seven assets in the
lineage graph (the five stages and the two tables they read), and the latest materialization of
filtered_views with its funnel and preview.

A screenshot of the asset graph goes to docs/asset-graph.png when that file is missing or
UPDATE_SCREENSHOTS=1 is set, so ordinary test runs leave the work tree alone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from wistia_pipeline.stages.common import GROUP
from wistia_pipeline_tests.automation.conftest import LOCATION, REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ASSETS = ["wistia_events", "converted_views", "matched_views", "filtered_views", "synced_ledger",
          "wistia_medias", "upsales_forms"]
SCREENSHOT = REPO / "docs" / "asset-graph.png"
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    # Wide and tall enough that the graph shows each asset's full card (status, checks, partitions):
    # the five stages in a row, the two tables under the stages that read them.
    context = browser.new_context(viewport={"width": 1920, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def test_the_asset_graph_shows_the_seven_assets(dagster_dev, lookback_run, page):
    from playwright.sync_api import expect

    assert lookback_run.status == "SUCCESS"
    page.goto(f"{dagster_dev.url}/locations/{LOCATION}/asset-groups/{GROUP}")
    graph = page.locator("svg, [class*=SVGViewport]").first
    expect(graph).to_be_visible()
    for name in ASSETS:
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    # Each card has loaded its latest materialization (not "Never materialized").
    expect(page.get_by_text("Latest event")).to_have_count(len(ASSETS))
    expect(page.get_by_text("Never materialized")).to_have_count(0)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not SCREENSHOT.exists():
        page.wait_for_timeout(1000)  # let the last status fade in
        page.screenshot(path=str(SCREENSHOT))


def test_the_latest_materialization_of_filtered_views_shows_its_funnel_and_preview(dagster_dev, lookback_run, page):
    from playwright.sync_api import expect

    assert lookback_run.status == "SUCCESS"
    page.goto(f"{dagster_dev.url}/assets/filtered_views?view=events")
    # The latest materialization is selected: its partition, run and metadata.
    expect(page.get_by_text(re.compile(r"materialized in run"))).to_be_visible()
    metadata = page.locator("table", has=page.get_by_text("dagster/row_count", exact=True))
    for key in ("dagster/row_count", "dagster/column_schema", "funnel", "preview"):
        expect(metadata.get_by_text(key, exact=True).first).to_be_visible()
    # The funnel, rendered as a table, one row per stage.
    for label in ("views in Wistia", "converted (Turnstile email)", "matched to Upsales",
                  "at or above minimum %", "in enabled projects"):
        expect(metadata.get_by_text(label, exact=True).first).to_be_visible()
    # The preview: the first rows of the window's table, opened from its row.
    preview_row = metadata.locator("tr", has=page.get_by_text("preview", exact=True))
    preview_row.get_by_text("Show Markdown").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    for column in ("event_key", "email", "percent_viewed", "media_name"):
        expect(dialog.get_by_text(column, exact=True).first).to_be_visible()
