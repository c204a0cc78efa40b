"""Demo data reproducing the seed's funnel: 193 views -> 54 converted -> 30 matched -> 20 at or
above 25 % -> 18 in enabled projects -> posted.

Everything is generated from a fixed seed relative to the given UTC `today`, over the three UTC
days today-2, today-1 and today (received_at between 00:00:05 and 23:59:55), so a run is
reproducible. Every view is in the past of `now` (default: the current time when `today` is the
current UTC day): today's views are spread over the part of today already gone, whatever the
time of day, and only their times depend on it (the funnel, emails, percents and media never
do). Four qualifying views (two on today-2, two on today-1) are *late*: hidden until
`release_hidden()`, as Wistia's API shows views with a delay.

Settings (`DemoScenario.env`): MIN_PERCENT_WATCHED=25, WISTIA_PROJECTS="<Product tours hashed
id>,Webinars" (one by hashed id, one by name), ACTIVITY_SCORE=10, LOOKBACK_DAYS=3, activities on,
forms on with FORM_POLICY=project.

Composition of the 193 views (final state, after the late views arrive):

* 139 not converted: 123 anonymous (email null, conversion_type "", conversion_data {}); 12 with
  `email` set but no conversion (conversion_type "" and conversion_data {}), several of them
  real contacts' addresses; 4 converted-looking views with invalid emails (`foo@`, `a@b@c`,
  `anna berg@acme.se`, `erik@nodot`) -> invalid_email.
* 54 converted with a valid email, of which 24 are not matched:
  - 8 personal_domain (gmail.com, hotmail.com, outlook.com, yahoo.se, telia.com, bredband.net,
    icloud.com, comhem.se). A gmail.com contact exists in Upsales, so matching by a free-mail
    domain would wrongly pick its account.
  - 12 no_match: domains without active contacts, including bengt.olsson@tallskog.se whose only
    contact is inactive (the account's other contact has an empty email).
  - 4 ambiguous_domain on vindhem.se, whose active contacts are split 2-2 between two accounts
    (an inactive third contact at one of them must not break the tie).
* 30 matched:
  - 20 by exact contact email, in both converted forms (conversion_data.email, and `email` with
    a non-empty conversion_type, once an integer), with case and whitespace variants
    (`  Anna.Berg@ACME.se `, `SOREN.MADSEN@...`, a contact stored as `Lars.Ek@Havsbris.se`).
    mikael.strand@solberg.fi is on two active contacts: the newer (id 20, Kvarnby Data AB) wins
    over the older (id 22, Solberg Consulting Oy). sofia.nilsson@havsbris.se has a newer but
    inactive duplicate: the active one (id 17) wins. Exact matches win even on an ambiguous
    domain (emma.sandberg@vindhem.se).
  - 10 by domain (anonymous), including nordkraft.se whose active contacts are at two accounts
    2-vs-1 (majority wins; an `info@nordkraft.services` contact must not count as the domain).
* Of the 30: 10 below 25 % (including 0.2499, 0.10 and 0.0); one at exactly 0.25 passes.
* Of the 20 left: 1 on a media of "Internal training" (project_not_enabled) and 1 on a media
  medias.json does not list (unknown_project) -> 18.
* Of the 18: 4 late. First run sees 189 -> 50 -> 26 -> 16 -> 14 and posts 14; after the release
  the next run sees 193 -> 54 -> 30 -> 20 -> 18 and posts the 4 new ones.

Forms branch (no matching: every valid converted view, as entered): of the 54 converted, 39 are
at or above 25 % and 31 of those are on media of the two enabled projects (the 4 late views
among them). The first run submits 27 to two forms, "Wistia: Product tours" and
"Wistia: Webinars" (policy `project`), the next run the 4 late ones: 31 in all.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import Sandbox

SEED = 20251117
PUBLIC_TOKEN = "demo-public-token"
TURNSTILE_TYPES = ("pre-roll-email", "post-roll-email", "mid-roll-email")
LATE_VIEWS = 4

# -- Wistia: projects and medias ---------------------------------------------------------------

PROJECTS = [
    {"id": 4401, "hashedId": "pt4k9x2m1q", "name": "Product tours", "description": "Guided tours of the product"},
    {"id": 4402, "hashedId": "wb7n3r8s5t", "name": "Webinars", "description": "Recorded customer webinars"},
    {"id": 4403, "hashedId": "it2c6v0z9y", "name": "Internal training", "description": "For our own staff"},
]

# (media id, hashed id, name, project index, key the project object uses, duration seconds)
MEDIAS = [
    (90011, "tq3v8k1m0a", "Product tour 2025", 0, "hashed_id", 312.4),
    (90012, "dk5x2n7p4b", "Quick start: dashboards", 0, "hashedId", 184.0),
    (90013, "ig9w4r6c1d", "Integrations overview", 0, "hashed_id", 241.7),
    (90021, "ls2h8j5t3e", "Webinar: Lead scoring that works", 1, "hashedId", 2710.2),
    (90022, "np6f1y9q7g", "Webinar: Nordic SaaS pricing", 1, "hashed_id", 3154.9),
    (90031, "ob4m7z2x8h", "Onboarding: CRM basics", 2, "hashedId", 905.3),
    (90032, "sp8c3v6n1j", "Sales playbook 2025", 2, "hashed_id", 1422.0),
]
ENABLED_MEDIAS = [m for m in MEDIAS if m[3] in (0, 1)]
INTERNAL_MEDIAS = [m for m in MEDIAS if m[3] == 2]
# Referenced by events but not listed by medias.json (deleted, or in a folder the token can't see).
UNKNOWN_MEDIA = (90099, "zx0ld7ea5r", "Launch teaser (archived)", None, None, 58.0)
EMBED_PAGES = {
    "tq3v8k1m0a": "https://www.sandboxsales.se/produkt/rundtur",
    "dk5x2n7p4b": "https://www.sandboxsales.se/kom-igang",
    "ig9w4r6c1d": "https://www.sandboxsales.se/integrationer",
    "ls2h8j5t3e": "https://www.sandboxsales.se/webinar/lead-scoring",
    "np6f1y9q7g": "https://www.sandboxsales.se/webinar/prissattning",
    "ob4m7z2x8h": "https://intranet.sandboxsales.se/utbildning/crm",
    "sp8c3v6n1j": "https://intranet.sandboxsales.se/utbildning/playbook",
    "zx0ld7ea5r": "https://www.sandboxsales.se/lansering",
}

# -- Upsales: accounts and contacts ------------------------------------------------------------

# (id, name, webpage, city, country, account manager)
ACCOUNTS = [
    (101, "Acme AB", "http://www.acme.se", "Stockholm", "SE", "Sara Holm"),
    (102, "Nordkraft Energi AB", "www.nordkraft.se", "Luleå", "SE", "Sara Holm"),
    (103, "Nordkraft Nät AB", None, "Umeå", "SE", "Jens Wahlberg"),
    (104, "Fjällsoft AS", "https://fjallsoft.no", "Oslo", "NO", "Jens Wahlberg"),
    (105, "Lund Industri AB", "www.lundindustri.se", "Lund", "SE", "Sara Holm"),
    (106, "Havsbris Marin AB", "", "Göteborg", "SE", "Amir Haddad"),
    (107, "Kvarnby Data AB", "http://kvarnbydata.se", "Malmö", "SE", "Amir Haddad"),
    (108, "Solberg Consulting Oy", "www.solberg.fi", "Helsinki", "FI", "Jens Wahlberg"),
    (109, "Vindhem Fastigheter AB", "www.vindhem.se", "Västerås", "SE", "Sara Holm"),
    (110, "Vindhem Bostäder AB", "www.vindhem.se", "Västerås", "SE", "Amir Haddad"),
    (111, "Dansk Mejeri ApS", "www.danskmejeri.dk", "Aarhus", "DK", "Jens Wahlberg"),
    (112, "Tallskog Bygg AB", "www.tallskog.se", "Sundsvall", "SE", "Sara Holm"),
    (113, "Holm Konsult", None, "Uppsala", "SE", "Amir Haddad"),
]
SELLERS = {"Sara Holm": 1, "Jens Wahlberg": 2, "Amir Haddad": 3}

# (id, first name, last name, email, account id, active, modDate, title)
CONTACTS = [
    (1, "Anna", "Berg", "anna.berg@acme.se", 101, 1, "2025-05-14T14:35:34.000Z", "Marketing lead"),
    (2, "Johan", "Sjöberg", "johan.sjoberg@acme.se", 101, 1, "2025-02-03T09:12:00.000Z", "CTO"),
    (3, "Lena", "Åkesson", "lena.akesson@acme.se", 101, 1, "2024-11-20T13:01:44.000Z", "Inköpare"),
    (4, "Per", "Nyberg", "", 101, 1, "2024-06-02T08:00:00.000Z", "Ekonomichef"),
    (5, "Karl", "Eriksson", "karl.eriksson@nordkraft.se", 102, 1, "2025-04-01T10:20:00.000Z", "VD"),
    (6, "Ingrid", "Dahl", "ingrid.dahl@nordkraft.se", 102, 1, "2025-01-15T15:45:10.000Z", "Projektledare"),
    (7, "Olof", "Wiklund", "olof.wiklund@nordkraft.se", 102, 0, "2023-09-30T07:30:00.000Z", "Säljare"),
    (8, "Maja", "Holmberg", "maja.holmberg@nordkraft.se", 103, 1, "2025-03-11T11:11:11.000Z", "Driftchef"),
    (9, "Nordkraft", "Services", "info@nordkraft.services", 103, 1, "2025-06-01T06:00:00.000Z", None),
    (10, "Ole", "Hansen", "ole.hansen@fjallsoft.no", 104, 1, "2025-08-19T12:00:00.000Z", "Daglig leder"),
    (11, "Ingrid", "Solheim", "ingrid.solheim@fjallsoft.no", 104, 1, "2025-02-27T09:40:00.000Z", "CFO"),
    (12, "Magnus", "Haugen", "magnus.haugen@fjallsoft.no", 104, 1, "2024-12-09T16:22:00.000Z", "Utvikler"),
    (13, "Erik", "Lund", "", 105, 1, "2025-03-10T08:42:20.000Z", "VD"),
    (14, "Jonas", "Ek", "jonas.ek@lundindustri.se", 105, 1, "2025-07-07T07:07:07.000Z", "Produktionschef"),
    (15, "Sara", "Lindqvist", "sara.lindqvist@lundindustri.se", 105, 1, "2025-05-30T14:00:00.000Z", "HR-chef"),
    (16, "Lars", "Ek", "Lars.Ek@Havsbris.se", 106, 1, "2025-04-22T10:00:00.000Z", "Marknadschef"),
    (17, "Sofia", "Nilsson", "sofia.nilsson@havsbris.se", 106, 1, "2024-09-01T12:00:00.000Z", "Inköpschef"),
    (18, "Sofia", "Nilsson", "sofia.nilsson@havsbris.se", 106, 0, "2025-10-01T12:00:00.000Z", "Inköpschef"),
    (19, "Maria", "Lind", "maria.lind@kvarnbydata.se", 107, 1, "2025-06-12T09:30:00.000Z", "IT-chef"),
    (20, "Mikael", "Strand", "mikael.strand@solberg.fi", 107, 1, "2025-09-20T10:15:00.000Z", "Konsult"),
    (21, "Henrik", "Ström", "henrik.strom@kvarnbydata.se", 107, 1, "2025-01-08T08:08:08.000Z", "Utvecklare"),
    (22, "Mikael", "Strand", "mikael.strand@solberg.fi", 108, 1, "2024-11-02T13:37:00.000Z", "Senior Consultant"),
    (23, "Aino", "Virtanen", "aino.virtanen@solberg.fi", 108, 1, "2025-03-03T10:00:00.000Z", "Toimitusjohtaja"),
    (24, "Juha", "Mäkinen", "juha.makinen@solberg.fi", 108, 1, "2025-02-14T11:00:00.000Z", "Myyntijohtaja"),
    (25, "Emma", "Sandberg", "emma.sandberg@vindhem.se", 109, 1, "2025-05-05T09:00:00.000Z", "Förvaltare"),
    (26, "Oskar", "Blom", "oskar.blom@vindhem.se", 109, 1, "2025-04-04T09:00:00.000Z", "Fastighetschef"),
    (27, "Gunnar", "Falk", "gunnar.falk@vindhem.se", 109, 0, "2023-02-02T09:00:00.000Z", "Vicevärd"),
    (28, "Britt", "Lövgren", "", 109, 1, "2024-10-10T10:10:10.000Z", "Ekonomiassistent"),
    (29, "Elin", "Forsberg", "elin.forsberg@vindhem.se", 110, 1, "2025-06-06T09:00:00.000Z", "Uthyrare"),
    (30, "Viktor", "Engström", "viktor.engstrom@vindhem.se", 110, 1, "2025-01-21T09:00:00.000Z", "VD"),
    (31, "Mette", "Jensen", "mette.jensen@danskmejeri.dk", 111, 1, "2025-08-08T08:00:00.000Z", "Marketingchef"),
    (32, "Søren", "Madsen", "soren.madsen@danskmejeri.dk", 111, 1, "2025-07-01T12:30:00.000Z", "Indkøber"),
    (33, "Bengt", "Olsson", "bengt.olsson@tallskog.se", 112, 0, "2024-03-15T09:00:00.000Z", "Platschef"),
    (34, "Ulla", "Persson", "", 112, 1, "2024-05-20T09:00:00.000Z", "Ekonomi"),
    (35, "Karin", "Holm", "karin.holm72@gmail.com", 113, 1, "2025-02-02T20:00:00.000Z", "Konsult"),
    (36, "Anders", "Lundgren", "anders.lundgren@acme.se", 101, 1, "2025-09-01T09:00:00.000Z", "Säljchef"),
    (37, "Camilla", "Wallin", "camilla.wallin@lundindustri.se", 105, 0, "2023-12-12T12:12:12.000Z", "Controller"),
    (38, "Fredrik", "Borg", "fredrik.borg@kvarnbydata.se", 107, 1, "2025-04-18T15:00:00.000Z", "Säljare"),
    (39, "Hanna", "Dahlberg", "hanna.dahlberg@fjallsoft.no", 104, 0, "2024-01-31T09:00:00.000Z", "Designer"),
    (40, "Tove", "Axelsson", "tove.axelsson@havsbris.se", 106, 1, "2025-03-25T09:00:00.000Z", "Kvalitetschef"),
    (41, "Rasmus", "Kjær", "rasmus.kjaer@danskmejeri.dk", 111, 1, "2025-05-19T09:00:00.000Z", "Direktør"),
    (42, "Linnea", "Ek", "", 106, 1, "2025-02-20T09:00:00.000Z", "Receptionist"),
]

# -- the converted views -----------------------------------------------------------------------
# Forms: "cd" conversion_data.email only; "cd+email" conversion_data.email and email;
# "ct" email + string conversion_type; "ct_int" email + integer conversion_type.
# Media: "enabled" (Product tours / Webinars), "internal", "unknown", "any" (decided earlier).
# Late: None, or how many days before today the hidden view is dated.

# (email as the event carries it, form, percent_viewed, media, late, matched contact id)
EXACT_VIEWS = [
    ("  Anna.Berg@ACME.se ", "cd", 0.83, "enabled", None, 1),
    ("anna.berg@acme.se", "ct", 0.10, "any", None, 1),
    ("karl.eriksson@nordkraft.se", "cd+email", 0.25, "enabled", None, 5),
    ("ingrid.dahl@nordkraft.se", "ct", 0.2499, "any", None, 6),
    ("maja.holmberg@nordkraft.se", "cd", 0.57, "enabled", None, 8),
    ("ole.hansen@fjallsoft.no", "cd", 1.0, "enabled", 2, 10),
    ("Magnus.Haugen@fjallsoft.no", "ct", 0.45, "enabled", None, 12),
    ("jonas.ek@lundindustri.se", "cd", 0.05, "any", None, 14),
    ("lars.ek@havsbris.se", "cd+email", 0.62, "enabled", None, 16),
    ("sofia.nilsson@havsbris.se", "ct", 0.91, "enabled", None, 17),
    ("mikael.strand@solberg.fi", "cd", 0.30, "enabled", 1, 20),
    ("mikael.strand@solberg.fi", "cd", 0.70, "enabled", None, 20),
    ("maria.lind@kvarnbydata.se", "ct", 0.18, "any", None, 19),
    ("aino.virtanen@solberg.fi", "cd", 0.38, "enabled", None, 23),
    ("emma.sandberg@vindhem.se", "ct_int", 0.66, "enabled", 2, 25),
    ("mette.jensen@danskmejeri.dk", "cd", 0.50, "enabled", None, 31),
    ("johan.sjoberg@acme.se", "cd+email", 0.99, "enabled", None, 2),
    ("sara.lindqvist@lundindustri.se", "ct", 0.0, "any", None, 15),
    ("tove.axelsson@havsbris.se", "cd", 0.27, "internal", None, 40),
    ("SOREN.MADSEN@danskmejeri.dk", "ct", 0.22, "any", None, 32),
]

# (email, form, percent_viewed, media, late, matched account id)
DOMAIN_VIEWS = [
    ("support@acme.se", "cd", 0.76, "enabled", None, 101),
    ("Ekonomi@Acme.se", "ct", 0.12, "any", None, 101),
    ("jenny.holm@nordkraft.se", "cd", 0.41, "enabled", None, 102),
    ("peter.sund@nordkraft.se", "cd+email", 0.88, "enabled", None, 102),
    ("driftcentral@nordkraft.se", "ct", 0.20, "any", None, 102),
    ("trond.larsen@fjallsoft.no", "cd", 0.35, "enabled", None, 104),
    ("pontus.ahl@kvarnbydata.se", "ct", 0.015, "any", None, 107),
    ("mikko.laine@solberg.fi", "cd", 0.60, "enabled", 1, 108),
    ("lars.pedersen@danskmejeri.dk", "cd", 0.08, "any", None, 111),
    ("info@havsbris.se", "ct", 0.52, "unknown", None, 106),
]

PERSONAL_EMAILS = [
    "lisa.karlsson88@gmail.com",
    "b.johansson@hotmail.com",
    "mats.nordin@outlook.com",
    "annika.w@yahoo.se",
    "gote.lindberg@telia.com",
    "kerstin.alm@bredband.net",
    "hampus.nyberg@icloud.com",
    "ronja.sk@comhem.se",
]
NO_MATCH_EMAILS = [
    "bengt.olsson@tallskog.se",  # its only contact is inactive
    "kristina.berglund@blafjall.se",
    "ola.nordgren@ostkustbank.se",
    "info@midgardmedia.se",
    "therese.lind@skargardsfisk.se",
    "alexander.roos@norrsken-it.se",
    "petra.hall@kolmarden-el.se",
    "antti.koskinen@aurora-analys.fi",
    "sigrid.bakke@bjorkvik.no",
    "jesper.holm@havnelys.dk",
    "malin.ekdahl@vasaglas.se",
    "fredrik.alm@gotaprint.se",
]
AMBIGUOUS_EMAILS = [
    "jakob.nyman@vindhem.se",
    "uthyrning@vindhem.se",
    "felicia.borg@vindhem.se",
    "Kundtjanst@Vindhem.se",
]
INVALID_EMAILS = ["foo@", "a@b@c", "anna berg@acme.se", "erik@nodot"]
# `email` known (e.g. from a `wemail=` link) but nothing converted: not a Turnstile conversion.
EMAIL_ONLY = [
    "anna.berg@acme.se",
    "karl.eriksson@nordkraft.se",
    "ole.hansen@fjallsoft.no",
    "jonas.ek@lundindustri.se",
    "lisa.karlsson88@gmail.com",
    "maria.lind@kvarnbydata.se",
    "support@acme.se",
    "henrik.strom@kvarnbydata.se",
    "viktor.engstrom@vindhem.se",
    "ulf.bergman@ostkustbank.se",
    "sofia.nilsson@havsbris.se",
    "rasmus.kjaer@danskmejeri.dk",
]
ANONYMOUS_VIEWS = 123

# Visible views per day (today-2, today-1, today): today-1 needs two pages of 100.
VISIBLE_PER_DAY = (40, 102, 47)

GEO = [
    ("SE", "Stockholm County", "Stockholm", 59.3293, 18.0686, "Telia Company AB"),
    ("SE", "Västra Götaland", "Gothenburg", 57.7089, 11.9746, "Tele2 Sverige AB"),
    ("SE", "Skåne County", "Malmö", 55.605, 13.0038, "Bahnhof AB"),
    ("SE", "Uppsala County", "Uppsala", 59.8586, 17.6389, "Telenor Sverige AB"),
    ("SE", "Östergötland County", "Linköping", 58.4108, 15.6214, "Telia Company AB"),
    ("NO", "Oslo", "Oslo", 59.9139, 10.7522, "Telenor Norge AS"),
    ("NO", "Vestland", "Bergen", 60.3913, 5.3221, "Telia Norge AS"),
    ("FI", "Uusimaa", "Helsinki", 60.1699, 24.9384, "Elisa Oyj"),
    ("DK", "Capital Region", "Copenhagen", 55.6761, 12.5683, "TDC Holding A/S"),
]
AGENTS = [
    ("Chrome", "141", "Windows", False),
    ("Chrome", "141", "Mac", False),
    ("Safari", "18.6", "Mac", False),
    ("Edge", "141", "Windows", False),
    ("Firefox", "144", "Linux", False),
    ("Safari", "18.6", "iOS (iPhone)", True),
    ("Chrome", "140", "Android", True),
]


@dataclass
class DemoScenario:
    """What the demo set up and what a correct pipeline must make of it."""

    env: dict[str, str]
    days: list[date]
    late_views: int = LATE_VIEWS
    expected: dict[str, Any] = field(default_factory=dict)


@dataclass
class _ViewSpec:
    kind: str
    email: str | None
    form: str  # "none", "email_only", "cd", "cd+email", "ct", "ct_int"
    percent: float | None
    media: str
    late: int | None = None


def _name_from_email(email: str) -> tuple[str, str]:
    local = email.strip().split("@", 1)[0]
    parts = [p for p in local.replace("_", ".").split(".") if p]
    if len(parts) >= 2 and all(p.isalpha() for p in parts[:2]) and len(parts[0]) > 1:
        return parts[0].capitalize(), parts[-1].capitalize()
    return "", ""


def _specs(rng: random.Random) -> list[_ViewSpec]:
    """Every view of the demo, before days and times are assigned."""
    def random_form() -> str:
        return rng.choice(["cd", "cd", "cd+email", "ct"])

    def random_percent() -> float:
        return rng.choice([round(rng.random(), 4), rng.random(), round(rng.random(), 2)])

    specs: list[_ViewSpec] = []
    for email, form, percent, media, late, _ in EXACT_VIEWS:
        specs.append(_ViewSpec("exact", email, form, percent, media, late))
    for email, form, percent, media, late, _ in DOMAIN_VIEWS:
        specs.append(_ViewSpec("domain", email, form, percent, media, late))
    for kind, emails in (
        ("personal_domain", PERSONAL_EMAILS),
        ("no_match", NO_MATCH_EMAILS),
        ("ambiguous_domain", AMBIGUOUS_EMAILS),
    ):
        specs.extend(_ViewSpec(kind, e, random_form(), random_percent(), "any") for e in emails)
    specs.extend(
        _ViewSpec("invalid_email", e, rng.choice(["cd", "ct"]), random_percent(), "any") for e in INVALID_EMAILS
    )
    specs.extend(_ViewSpec("email_only", e, "email_only", random_percent(), "any") for e in EMAIL_ONLY)
    specs.extend(_ViewSpec("anonymous", None, "none", None, "any") for _ in range(ANONYMOUS_VIEWS))
    return specs


def _pick_media(rng: random.Random, slot: str) -> tuple:
    if slot == "enabled":
        return rng.choice(ENABLED_MEDIAS)
    if slot == "internal":
        return rng.choice(INTERNAL_MEDIAS)
    if slot == "unknown":
        return UNKNOWN_MEDIA
    # Anything: the view stops before the project filter, so the media does not matter.
    return rng.choices(MEDIAS + [UNKNOWN_MEDIA], weights=[6, 4, 3, 5, 3, 2, 2, 1])[0]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class _EventFactory:
    """Builds raw Wistia events in the 2025 shape (docs/api/examples/wistia-stats-event.json)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.visitors: dict[str, tuple[str, tuple, tuple, str]] = {}
        self.anonymous_pool: list[str] = []
        self.contact_names = {c[3].strip().lower(): (c[1], c[2]) for c in CONTACTS if c[3]}

    def _visitor(self, key: str, first_seen: datetime) -> tuple[str, tuple, tuple, str]:
        """A stable visitor (key, place, browser, ip) per person."""
        if key not in self.visitors:
            rng = self.rng
            ip = f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randint(1, 254)}"
            visitor_key = f"{int(first_seen.timestamp()) - rng.randint(0, 3_000_000)}_{_uuid(rng)}"
            self.visitors[key] = (visitor_key, rng.choice(GEO), rng.choice(AGENTS), ip)
        return self.visitors[key]

    def build(self, spec: _ViewSpec, when: datetime) -> dict[str, Any]:
        rng = self.rng
        media_id, hashed, media_name, _, _, _ = _pick_media(rng, spec.media)
        if spec.email is not None:
            visitor = self._visitor(spec.email.strip().lower(), when)
        else:
            # Anonymous visitors come back now and then.
            if self.anonymous_pool and rng.random() < 0.3:
                key = rng.choice(self.anonymous_pool)
            else:
                key = f"anon-{len(self.anonymous_pool)}"
                self.anonymous_pool.append(key)
            visitor = self._visitor(key, when)
        visitor_key, geo, agent, ip = visitor
        country, region, city, lat, lon, org = geo
        browser, browser_version, platform, mobile = agent

        event_key = f"{int(when.timestamp())}_{_uuid(rng)}"
        with_millis = rng.random() < 0.88
        received_at = when.strftime("%Y-%m-%dT%H:%M:%S") + (".000Z" if with_millis else "Z")
        percent = spec.percent if spec.percent is not None else rng.choice([rng.random(), rng.random() ** 2, 1.0])

        email: str | None = None
        conversion_type: Any = ""
        conversion_data: dict[str, Any] = {}
        if spec.form in ("cd", "cd+email"):
            first, last = self.contact_names.get(spec.email.strip().lower(), _name_from_email(spec.email))
            conversion_type = rng.choice(TURNSTILE_TYPES)
            conversion_data = {
                "email": spec.email,
                "first_name": first,
                "last_name": last,
                "is_new_lead": spec.kind not in ("exact",),
            }
            email = spec.email if spec.form == "cd+email" else None
        elif spec.form == "ct":
            email, conversion_type = spec.email, rng.choice(TURNSTILE_TYPES)
        elif spec.form == "ct_int":
            email, conversion_type = spec.email, 1
        elif spec.form == "email_only":
            email = spec.email

        event: dict[str, Any] = {
            "received_at": received_at,
            "event_key": event_key,
            "visitor_key": visitor_key,
            "embed_url": EMBED_PAGES[hashed],
            "percent_viewed": percent,
            "ip": ip,
            "org": org,
            "country": country,
            "region": region,
            "city": city,
            "lat": lat,
            "lon": lon,
            "email": email,
            "media_id": hashed,
            "media_name": media_name,
            "media_url": f"https://sandboxsales.wistia.com/medias/{hashed}",
            "iframe_heatmap_url": (
                f"https://api.wistia.com/v1/stats/events/{event_key}/iframe.html?public_token={PUBLIC_TOKEN}"
            ),
            "conversion_type": conversion_type,
            "conversion_data": conversion_data,
            "user_agent_details": {
                "browser": browser,
                "browser_version": browser_version,
                "platform": platform,
                "mobile": mobile,
            },
        }
        if rng.random() < 0.7:
            event["thumbnail"] = {
                "url": f"https://embed-ssl.wistia.com/deliveries/{rng.getrandbits(160):040x}.bin",
                "width": 640,
                "height": 360,
                "fileSize": rng.randint(20_000, 90_000),
                "contentType": "image/jpeg",
                "type": "StillImageFile",
            }
        return event


FIRST_SECOND, LAST_SECOND = 5, 86_395  # of a demo day: 00:00:05 .. 23:59:55


def _times(rng: random.Random, day: date, count: int, now: datetime) -> list[datetime]:
    """`count` moments in the UTC day, between 00:00:05 and 23:59:55, in order and all before
    `now`: on the day of `now` the day's draws are squeezed, in order, into the whole seconds
    already gone (distinct while there is room). The random draws are the same at any time of
    day, so everything drawn after them (media, visitors, event keys) is too."""
    midnight = datetime.combine(day, time(0, 0), tzinfo=timezone.utc)
    seconds = sorted(rng.sample(range(FIRST_SECOND, LAST_SECOND + 1), count))
    gone = math.floor((now - midnight).total_seconds()) - 1  # the last whole second before now
    if gone < LAST_SECOND:
        high = max(gone, 0)
        low = min(FIRST_SECOND, high)
        scale = (high - low) / (LAST_SECOND - FIRST_SECOND)
        seconds = [low + math.floor((s - FIRST_SECOND) * scale) for s in seconds]
        if high - low + 1 >= count:  # room for distinct seconds: part the ones squeezed together
            for i in range(1, count):
                seconds[i] = max(seconds[i], seconds[i - 1] + 1)
            for i in reversed(range(count)):
                seconds[i] = min(seconds[i], high - (count - 1 - i))
    return [midnight + timedelta(seconds=s) for s in seconds]


def _wistia_medias() -> list[dict[str, Any]]:
    medias = []
    for media_id, hashed, name, project_index, key, duration in MEDIAS:
        project = PROJECTS[project_index]
        medias.append(
            {
                "id": media_id,
                "name": name,
                "type": "Video",
                "archived": False,
                "created": "2025-02-10T09:30:00+00:00",
                "updated": "2025-09-01T12:00:00+00:00",
                "duration": duration,
                "hashed_id": hashed,
                "description": "",
                "progress": 1.0,
                "status": "ready",
                "thumbnail": {
                    "url": f"https://embed-ssl.wistia.com/deliveries/{hashed}thumb.jpg?image_crop_resized=200x120",
                    "width": 200,
                    "height": 120,
                },
                "project": {"id": project["id"], "name": project["name"], key: project["hashedId"]},
            }
        )
    return medias


def _upsales_accounts() -> list[dict[str, Any]]:
    accounts = []
    for account_id, name, webpage, city, country, seller in ACCOUNTS:
        accounts.append(
            {
                "id": account_id,
                "name": name,
                "webpage": webpage,
                "phone": None,
                "orgNo": f"55{account_id:04d}-{account_id * 37 % 10000:04d}",
                "addresses": [
                    {
                        "zipcode": None,
                        "country": country,
                        "address": None,
                        "city": city,
                        "latitude": None,
                        "municipality": None,
                        "state": None,
                        "type": "Visit",
                        "longitude": None,
                    }
                ],
                "users": [
                    {
                        "name": seller,
                        "id": SELLERS[seller],
                        "role": {"name": "Sales", "id": 1},
                        "email": f"{seller.split()[0].lower()}@sandboxsales.se",
                    }
                ],
                "active": 1,
                "isExternal": 0,
                "score": (account_id * 7) % 60,
                "modDate": f"2025-0{1 + account_id % 9}-1{account_id % 10}T10:00:00.000Z",
            }
        )
    return accounts


def _upsales_contacts() -> list[dict[str, Any]]:
    return [
        {
            "id": contact_id,
            "name": f"{first} {last}",
            "firstName": first,
            "lastName": last,
            "email": email,
            "title": title,
            "client": {"id": account_id},
            "active": active,
            "modDate": mod_date,
            "regDate": None if contact_id % 4 == 0 else "2023-04-01T08:00:00.000Z",
            "score": (contact_id * 13) % 50,
        }
        for contact_id, first, last, email, account_id, active, mod_date, title in CONTACTS
    ]


def _expected() -> dict[str, Any]:
    return {
        # events, converted, matched, >= min %, enabled projects, posted
        "first_run": [189, 50, 26, 16, 14, 14],
        "second_run": [193, 54, 30, 20, 18, 4],
        "posted_total": 18,
        # forms branch (no matching): events, converted, >= min %, enabled projects, submitted
        "forms_first_run": [189, 50, 35, 27, 27],
        "forms_second_run": [193, 54, 39, 31, 4],
        "forms_total": 31,
        "forms_created": ["Wistia: Product tours", "Wistia: Webinars"],
        "final_outcomes": {
            "not_converted": 135,
            "invalid_email": 4,
            "personal_domain": 8,
            "no_match": 12,
            "ambiguous_domain": 4,
            "below_min_percent": 10,
            "project_not_enabled": 1,
            "unknown_project": 1,
            "synced": 18,
        },
        # lower-cased trimmed email -> contact id that must be matched
        "contact_matches": {e.strip().lower(): c for e, *_, c in EXACT_VIEWS},
        # lower-cased email -> account id matched by domain (anonymous entry)
        "domain_matches": {e.strip().lower(): a for e, *_, a in DOMAIN_VIEWS},
    }


def load_demo(sb: Sandbox, today: date, now: datetime | None = None) -> DemoScenario:
    """Fill both emulators of `sb` with the demo, dated relative to the UTC day `today`, every view
    before `now` (default: the current time on the current UTC day, else the end of `today`), so
    that no view of a demo started at noon is dated in the afternoon."""
    if now is None:
        current = datetime.now(timezone.utc)
        now = current if current.date() == today else datetime.combine(today + timedelta(days=1), time(0),
                                                                        tzinfo=timezone.utc)
    if now.date() < today:
        raise ValueError(f"now ({now.isoformat()}) is before the demo's last day {today}: its views would be ahead")
    rng = random.Random(SEED)
    days = [today - timedelta(days=2), today - timedelta(days=1), today]

    specs = _specs(rng)
    late = [s for s in specs if s.late is not None]
    on_time = [s for s in specs if s.late is None]
    assert len(late) == LATE_VIEWS and len(on_time) == sum(VISIBLE_PER_DAY)
    rng.shuffle(on_time)

    # Assign days and times, then build events in time order (stable visitor keys per person).
    dated: list[tuple[datetime, _ViewSpec]] = []
    start = 0
    for day, count in zip(days, VISIBLE_PER_DAY):
        day_specs = on_time[start : start + count]
        start += count
        late_here = [s for s in late if today - timedelta(days=s.late) == day]
        moments = _times(rng, day, len(day_specs) + len(late_here), now)
        dated.extend(zip(moments, day_specs + late_here))
    dated.sort(key=lambda pair: pair[0])

    factory = _EventFactory(rng)
    visible, hidden, late_keys = [], [], []
    for when, spec in dated:
        event = factory.build(spec, when)
        if spec.late is None:
            visible.append(event)
        else:
            hidden.append(event)
            late_keys.append(event["event_key"])

    sb.wistia.add_projects([dict(p) for p in PROJECTS])
    sb.wistia.add_medias(_wistia_medias())
    sb.wistia.add_events(visible)
    sb.wistia.add_events(hidden, hidden=True)
    sb.upsales.add_accounts(_upsales_accounts())
    sb.upsales.add_contacts(_upsales_contacts())

    expected = _expected()
    expected["late_event_keys"] = late_keys
    expected["views_per_day"] = {
        d.isoformat(): n for d, n in sorted(Counter(w.date() for w, _ in dated).items())
    }
    env = {
        "MIN_PERCENT_WATCHED": "25",
        "WISTIA_PROJECTS": f"{PROJECTS[0]['hashedId']},{PROJECTS[1]['name']}",
        "ACTIVITY_SCORE": "10",
        "LOOKBACK_DAYS": "3",
        "WISTIA_PUBLIC_TOKEN": PUBLIC_TOKEN,
        "SYNC_ACTIVITIES": "true",
        "SYNC_FORMS": "true",
        "FORM_POLICY": "project",
    }
    return DemoScenario(env=env, days=days, late_views=LATE_VIEWS, expected=expected)
