"""A small world for the reliability tests, and the invariant every test ends with.

Two UTC days (yesterday and today), both destinations on (policy `project`), a handful of
accounts and contacts. Per day: 5 views matched to a contact, 1 matched by domain, 1 on a
personal domain (forms only), 1 below the minimum %, 1 in a project not enabled, 3 anonymous
views. So 12 activities and 14 form submissions in all, to two forms: small enough that a run
takes ~3 s, varied enough that every branch of the chain is crossed.

`assert_complete` is "nothing lost, nothing twice": the sandbox holds exactly one entry per
qualifying view in each destination, each form exists once, and the ledger agrees with Upsales
(every row posted, with the id Upsales gave that view).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb

from wistia_pipeline.rules import external_id
from wistia_pipeline.sandbox import Sandbox
from wistia_pipeline.sinks.forms import EVENT_KEY_FIELD
from wistia_pipeline_tests.factories import contact, event

PROJECTS = [
    {"id": 501, "hashedId": "tours00001", "name": "Product tours"},
    {"id": 502, "hashedId": "webin00002", "name": "Webinars"},
    {"id": 503, "hashedId": "intern0003", "name": "Internal"},
]
MEDIAS = [  # (hashed id, name, project index)
    ("tourmedia1", "Product tour", 0),
    ("webmedia02", "Webinar: pricing", 1),
    ("intmedia03", "Onboarding", 2),
]
ACCOUNTS = [(7, "Acme AB"), (8, "Nordkraft AB"), (9, "Fjällsoft AS")]
CONTACTS = [
    (1, "anna.berg@acme.se", 7, "Anna Berg"),
    (2, "johan.sjoberg@acme.se", 7, "Johan Sjöberg"),
    (3, "karl.eriksson@nordkraft.se", 8, "Karl Eriksson"),
    (4, "ingrid.dahl@nordkraft.se", 8, "Ingrid Dahl"),
    (5, "ole.hansen@fjallsoft.no", 9, "Ole Hansen"),
]
SETTINGS = {
    "SYNC_ACTIVITIES": "true",
    "SYNC_FORMS": "true",
    "FORM_POLICY": "project",
    "MIN_PERCENT_WATCHED": "25",
    "WISTIA_PROJECTS": "tours00001,Webinars",
    "ACTIVITY_SCORE": "10",
    "LOOKBACK_DAYS": "2",
    "WISTIA_PUBLIC_TOKEN": "reliability-public-token",
}
FORM_NAMES = ["Wistia: Product tours", "Wistia: Webinars"]


@dataclass
class World:
    """What was loaded, and what a correct pipeline must have posted after all runs."""

    first: date
    last: date
    env: dict[str, str]
    activity_keys: set[str] = field(default_factory=set)
    form_keys: set[str] = field(default_factory=set)
    form_names: list[str] = field(default_factory=lambda: list(FORM_NAMES))

    @property
    def days(self) -> tuple[date, date]:
        return self.first, self.last


def day_views(day: date, tag: str) -> tuple[list[dict], set[str], set[str]]:
    """One day's views: (events, keys that must become activities, keys that must become forms)."""
    def key(name: str) -> str:
        return f"{tag}-{day.isoformat()}-{name}"

    media = {"tour": ("tourmedia1", "Product tour"), "web": ("webmedia02", "Webinar: pricing"),
             "internal": ("intmedia03", "Onboarding")}

    def view(name: str, email: str | None, percent: float, where: str, second: int) -> dict:
        media_id, media_name = media[where]
        return event(day, key=key(name), conversion_email=email, percent=percent, media_id=media_id,
                     media_name=media_name, seconds=second, first_name="First", last_name="Last")

    contact_emails = [c[1] for c in CONTACTS]
    events, activities, forms = [], set(), set()
    for n, email in enumerate(contact_emails):  # exact contact matches, in enabled projects
        events.append(view(f"contact{n}", email, 0.3 + n / 10, "tour" if n % 2 else "web", 3600 + 60 * n))
        activities.add(key(f"contact{n}"))
        forms.add(key(f"contact{n}"))
    events.append(view("domain", "support@acme.se", 0.8, "tour", 7200))  # anonymous, by domain
    activities.add(key("domain"))
    forms.add(key("domain"))
    events.append(view("gmail", "someone.else@gmail.com", 0.9, "web", 7300))  # personal domain
    forms.add(key("gmail"))
    events.append(view("low", "anna.berg@acme.se", 0.1, "tour", 7400))  # below 25 %
    events.append(view("internal", "karl.eriksson@nordkraft.se", 0.9, "internal", 7500))
    for n in range(3):  # no email at all
        events.append(view(f"anon{n}", None, 0.5, "tour", 8000 + n))
    return events, activities, forms


def load_world(sb: Sandbox, today: date, tag: str = "w") -> World:
    """Fill the sandbox with the small world over yesterday and today."""
    first, last = today - timedelta(days=1), today
    sb.wistia.add_projects(PROJECTS)
    sb.wistia.add_medias([
        {"id": 9000 + n, "hashed_id": hashed, "name": name,
         "project": {"id": PROJECTS[p]["id"], "name": PROJECTS[p]["name"], "hashed_id": PROJECTS[p]["hashedId"]}}
        for n, (hashed, name, p) in enumerate(MEDIAS)
    ])
    sb.upsales.add_accounts([{"id": i, "name": name} for i, name in ACCOUNTS])
    sb.upsales.add_contacts([contact(i, email, client, name=name) for i, email, client, name in CONTACTS])
    world = World(first, last, dict(SETTINGS))
    for day in (first, last):
        events, activities, forms = day_views(day, tag)
        sb.wistia.add_events(events)
        world.activity_keys |= activities
        world.form_keys |= forms
    return world


def submitted_keys(sb: Sandbox) -> list[str]:
    """The Wistia event_key of every form submission in the sandbox."""
    return [f["value"] for s in sb.upsales.form_submits for f in s["fieldValues"] if f["name"] == EVENT_KEY_FIELD]


def connect(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    """A connection to the pipeline's DuckDB file from the test process.

    With the configuration of Dagster's DuckDBResource: a step that failed in this process can
    leave its connection open (`DuckDBResource.get_connection` closes it only on success, until
    garbage collection), and DuckDB refuses a second connection with another configuration.
    """
    return duckdb.connect(str(db_path), config={"custom_user_agent": "dagster"})


def ledger_rows(db_path: str | Path) -> list[tuple[str, str, str, str | None]]:
    """(destination, event_key, status, upsales_id) of every ledger row."""
    with connect(db_path) as con:
        return con.execute("SELECT destination, event_key, status, upsales_id FROM synced_ledger "
                           "ORDER BY ALL").fetchall()


def assert_complete(sb: Sandbox, db_path: str | Path, world: World, context: str = "") -> None:
    """Exactly one entry per qualifying view in each destination, and the ledger agrees."""
    where = f" [{context}]" if context else ""
    by_external_id = {external_id(k): k for k in world.activity_keys}
    posted_ids = Counter(e.get("externalId") for e in sb.upsales.events)
    assert posted_ids == Counter(list(by_external_id)), (
        f"activities in Upsales differ from the qualifying views{where}: "
        f"twice {[by_external_id.get(x, x) for x, n in posted_ids.items() if n > 1]}, "
        f"missing {sorted(k for x, k in by_external_id.items() if x not in posted_ids)}, "
        f"unexpected {[x for x in posted_ids if x not in by_external_id]}")
    submitted = Counter(submitted_keys(sb))
    assert submitted == Counter(world.form_keys), (
        f"form submissions differ from the qualifying views{where}: "
        f"twice {[k for k, n in submitted.items() if n > 1]}, "
        f"missing {sorted(world.form_keys - set(submitted))}, unexpected {sorted(set(submitted) - world.form_keys)}")
    form_names = Counter(f["name"] for f in sb.upsales.forms)
    assert form_names == Counter(world.form_names), f"forms in Upsales{where}: {dict(form_names)}"

    rows = ledger_rows(db_path)
    statuses = Counter((d, s) for d, _, s, _ in rows)
    assert statuses == Counter({("activities", "posted"): len(world.activity_keys),
                                ("forms", "posted"): len(world.form_keys)}), f"ledger statuses{where}: {dict(statuses)}"
    event_ids = {e["externalId"]: str(e["id"]) for e in sb.upsales.events}
    submit_ids = {}
    for s in sb.upsales.form_submits:
        for f in s["fieldValues"]:
            if f["name"] == EVENT_KEY_FIELD:
                submit_ids[f["value"]] = str(s["id"])
    for destination, key, _, upsales_id in rows:
        expected = event_ids.get(external_id(key)) if destination == "activities" else submit_ids.get(key)
        assert upsales_id == expected, (
            f"ledger row {destination}/{key} says Upsales id {upsales_id}, Upsales has {expected}{where}")


def assert_ledger_consistent(sb: Sandbox, db_path: str | Path, context: str = "") -> None:
    """What must hold at any moment, even right after a crash: the intent is recorded before a
    post leaves, so every entry in Upsales has its ledger row (posted with that id, or still in
    flight), and a row marked posted names an entry Upsales has."""
    where = f" [{context}]" if context else ""
    with connect(db_path) as con:
        rows = {(d, k): (s, u, x) for d, k, s, u, x in con.execute(
            "SELECT destination, event_key, status, upsales_id, external_id FROM synced_ledger").fetchall()}
    by_external_id = {x: (k, s, u) for (d, k), (s, u, x) in rows.items() if d == "activities"}
    for entry in sb.upsales.events:
        assert entry["externalId"] in by_external_id, f"entry {entry['id']} is in Upsales but not in the ledger{where}"
        _, status, upsales_id = by_external_id[entry["externalId"]]
        assert status == "in_flight" or (status == "posted" and upsales_id == str(entry["id"])), (
            f"entry {entry['id']} ({entry['externalId']}): ledger says {status} {upsales_id}{where}")
    for submit in sb.upsales.form_submits:
        key = next(f["value"] for f in submit["fieldValues"] if f["name"] == EVENT_KEY_FIELD)
        status, upsales_id, _ = rows.get(("forms", key), (None, None, None))
        assert status == "in_flight" or (status == "posted" and upsales_id == str(submit["id"])), (
            f"submission {submit['id']} of {key}: ledger says {status} {upsales_id}{where}")
    stored = {str(e["id"]) for e in sb.upsales.events} | {str(s["id"]) for s in sb.upsales.form_submits}
    for (destination, key), (status, upsales_id, _) in rows.items():
        assert status != "posted" or upsales_id in stored, (
            f"ledger row {destination}/{key} is posted as {upsales_id}, which Upsales does not have{where}")
