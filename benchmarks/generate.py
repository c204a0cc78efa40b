"""Synthetic Wistia events and Upsales contacts at production scale, generated inside DuckDB.

Every row comes from one vectorised SQL statement over `range(n)` with hash-based pseudo-random
draws, so a million events take about a second and the same scale always yields the same data.
Events are produced as the JSON text Wistia serves (already cut into newest-first pages of 100);
contacts as the JSON objects Upsales serves, so the emulators only ever hand out prepared bytes.

Composition of the converted views (the rest are anonymous, a tenth of them with a `wemail=` email
but no conversion): 60 % an active contact's email (a tenth of those typed with different case
and surrounding spaces), 10 % a new person at a CRM account's domain (matched by domain), 20 % a
personal mail domain, 8 % an unknown company, 2 % an invalid email. Every 50th contact shares its
email with the one before (two accounts), every 20th is inactive, every 100th account shares its
domain with the one before (ambiguous). About `posts` contact-matched views are on medias of the
enabled project "Webinars" (WISTIA_PROJECTS), so about that many are posted by the first run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import duckdb

PROJECTS = [
    (101, "bp00000101", "Product tours"),
    (102, "bp00000102", "Webinars"),
    (103, "bp00000103", "Customer stories"),
    (104, "bp00000104", "Onboarding"),
    (105, "bp00000105", "Campaigns"),
]
ENABLED_PROJECT = "Webinars"
MEDIAS_PER_PROJECT = 10
PERSONAL_DOMAINS = ["gmail.com", "hotmail.com", "outlook.com", "yahoo.se", "icloud.com", "telia.com"]
FIRST_NAMES = ["Anna", "Erik", "Sara", "Lars", "Karin", "Olle", "Maria", "Johan", "Emma", "Nils",
               "Sofia", "Per", "Ida", "Anders", "Elin", "Mikael", "Linnea", "Jonas", "Frida", "Henrik"]
LAST_NAMES = ["Berg", "Ek", "Lund", "Holm", "Strand", "Nilsson", "Sandberg", "Madsen", "Olsson",
              "Lind", "Dahl", "Wikstrom", "Forsberg", "Sjoberg", "Nyberg", "Hedlund", "Bjork",
              "Engstrom", "Lundqvist", "Wallin"]


@dataclass(frozen=True)
class Scale:
    """How much data: views per UTC day over `days` days, contacts over accounts, posts."""

    days: int = 3
    views_per_day: int = 100_000
    converted: float = 0.30
    contacts: int = 200_000
    accounts: int = 50_000
    posts: int = 3_000

    @property
    def views(self) -> int:
        return self.days * self.views_per_day

    @property
    def colleague_domains(self) -> int:
        """Accounts whose domain new (not yet in CRM) people write from."""
        return max(1, self.accounts // 50)

    @property
    def unknown_domains(self) -> int:
        """Company domains with no contact at all in Upsales."""
        return max(1, self.accounts // 100)

    def as_dict(self) -> dict:
        return asdict(self)


def medias() -> list[dict]:
    """Wistia medias (with their projects) for the emulator's /medias.json."""
    return [
        {"id": 5000 + p * 100 + m, "hashed_id": f"bm{p:03d}{m:05d}", "name": f"{name} video {m + 1}",
         "project": {"id": p, "name": name, "hashed_id": hashed}}
        for p, hashed, name in PROJECTS for m in range(MEDIAS_PER_PROJECT)
    ]


def projects() -> list[dict]:
    return [{"id": p, "hashedId": hashed, "name": name} for p, hashed, name in PROJECTS]


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _domain(account: str) -> str:
    """SQL for the mail domain of an account id expression; every 100th shares the previous one's."""
    a = f"(CASE WHEN ({account}) % 100 = 50 THEN ({account}) - 1 ELSE ({account}) END)"
    return f"('company' || {a} || CASE WHEN {a} % 3 = 0 THEN '.com' ELSE '.se' END)"


def _contact_email(c: str, accounts: int) -> str:
    """SQL for the email of contact id `c` (every 50th repeats the previous contact's email)."""
    e = f"(CASE WHEN ({c}) % 50 = 3 AND ({c}) > 1 THEN ({c}) - 1 ELSE ({c}) END)"
    first = f"lower({_sql_list(FIRST_NAMES)}[1 + {e} % 20])"
    last = f"lower({_sql_list(LAST_NAMES)}[1 + ({e} // 20) % 20])"
    return f"({first} || '.' || {last} || '.' || {e} || '@' || {_domain(f'1 + ({e} - 1) % {accounts}')})"


# Per mille of the views with no contact (personal and unknown domains) on the enabled project.
UNMATCHED_ENABLED_PER_MILLE = 20


def create_events(con: duckdb.DuckDBPyConnection, scale: Scale, first_day: date, offset: int = 0,
                  table: str = "bench_events") -> None:
    """Table `bench_events`: one row per view with its JSON text, day and page position.

    `offset` numbers the views from there (their keys, emails and draws follow from the number),
    so a second batch at another offset adds new views to the same days, e.g. the steady-state
    phase's 1 % of new views, in the same proportions; `table` is where they go."""
    v, c, a = scale.views_per_day, scale.contacts, scale.accounts
    webinar = next(i for i, p in enumerate(PROJECTS) if p[2] == ENABLED_PROJECT)
    others = [i for i in range(len(PROJECTS)) if i != webinar]
    media_ids = [m["hashed_id"] for m in medias()]
    media_names = [m["name"] for m in medias()]
    # The share of contact-matched views put on the enabled project's medias: about `posts` of them.
    post_share = min(1.0, scale.posts / max(1.0, scale.views * scale.converted * 0.60))
    # A table scan runs on every core; range() as the source would keep the work on one.
    con.execute(f"CREATE OR REPLACE TEMP TABLE _bench_ids AS SELECT range + {offset} AS i FROM range({scale.views})")
    con.execute(f"""
CREATE OR REPLACE TABLE {table} AS
WITH draws AS (
    SELECT i,
           DATE '{first_day.isoformat()}' + CAST((i - {offset}) // {v} AS INTEGER) AS day,
           (hash(i, 1) % 1000000) / 1e6                                   AS u_conv,
           (hash(i, 2) % 1000000) / 1e6                                   AS u_class,
           CAST(hash(i, 3) >> 1 AS BIGINT)                                                   AS h_pick,
           round((hash(i, 4) % 10000) / 1e4, 4)                           AS percent,
           CAST(hash(i, 5) >> 1 AS BIGINT)                                                   AS h_media,
           -- newest first is the order of i within a day, so pages need no sort
           ({v} - 1 - (i - {offset}) % {v}) * 86400000 // {v}                AS ms,
           CAST(hash(i, 7) >> 1 AS BIGINT)                                                   AS h_variant
    FROM _bench_ids
), classed AS (
    SELECT *,
           CASE WHEN u_conv >= {scale.converted} THEN
                     CASE WHEN u_class < 0.1 THEN 'wemail' ELSE 'anonymous' END
                WHEN u_class < 0.60 THEN 'contact'
                WHEN u_class < 0.70 THEN 'colleague'
                WHEN u_class < 0.90 THEN 'personal'
                WHEN u_class < 0.98 THEN 'unknown'
                ELSE 'invalid' END                                        AS klass,
           1 + h_pick % {c}                                               AS c_raw
    FROM draws
), emailed AS (
    SELECT *,
           CASE klass
             WHEN 'contact' THEN {_contact_email(f"CASE WHEN c_raw % 20 = 7 THEN c_raw - 1 ELSE c_raw END", a)}
             WHEN 'wemail' THEN {_contact_email('c_raw', a)}
             WHEN 'colleague' THEN 'new.person' || i || '@' || {_domain(f'1 + h_pick % {scale.colleague_domains}')}
             WHEN 'personal' THEN 'viewer' || i || '@' || {_sql_list(PERSONAL_DOMAINS)}[1 + h_pick % {len(PERSONAL_DOMAINS)}]
             WHEN 'unknown' THEN 'viewer' || i || '@unknown' || (1 + h_pick % {scale.unknown_domains}) || '.com'
             WHEN 'invalid' THEN ['viewer' || i || '@', 'viewer ' || i || '@company1.se',
                                  'viewer' || i || '@nodot'][1 + h_pick % 3]
           END                                                            AS email_clean,
           {_sql_list(FIRST_NAMES)}[1 + h_variant % 20]                   AS first_name,
           {_sql_list(LAST_NAMES)}[1 + (h_variant // 20) % 20]           AS last_name,
           klass = 'contact' AND hash(i, 8) % 1000000 < {post_share * 1e6}   AS to_post,
           -- A few viewers with no contact watch the enabled project: they would be posted if a
           -- contact appeared, so the steady state asks about them again after the refresh interval.
           klass IN ('personal', 'unknown') AND hash(i, 11) % 1000 < {UNMATCHED_ENABLED_PER_MILLE} AS unmatched_enabled
    FROM classed
), shaped AS (
    SELECT *,
           CASE WHEN klass = 'contact' AND h_variant % 10 = 0 THEN '  ' || upper(email_clean) || ' '
                ELSE email_clean END                                      AS email,
           CAST(day AS TIMESTAMP) + to_milliseconds(ms)                   AS received_at,
           CASE WHEN to_post OR unmatched_enabled THEN {webinar * MEDIAS_PER_PROJECT} + h_media % {MEDIAS_PER_PROJECT}
                ELSE {_sql_list([str(o) for o in others])}[1 + h_media % {len(others)}]::INTEGER
                     * {MEDIAS_PER_PROJECT} + (h_media // 7) % {MEDIAS_PER_PROJECT} END AS media_index
    FROM emailed
), keyed AS (
    SELECT *,
           epoch(received_at)::BIGINT || '_' || substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4'
               || substr(h, 13, 3) || '-a' || substr(h, 16, 3) || '-' || substr(h, 19, 12) AS event_key,
           {_sql_list(media_ids)}[1 + media_index]                        AS media_id,
           {_sql_list(media_names)}[1 + media_index]                      AS media_name
    FROM (SELECT *, md5('e' || i) AS h FROM shaped)
)
SELECT
    day, i, received_at, event_key, klass, to_post, to_post OR unmatched_enabled AS enabled_project,
    CASE WHEN klass NOT IN ('anonymous', 'wemail') THEN lower(trim(email)) END AS email_lower,
    CAST(json_object(
        'received_at', strftime(received_at, '%Y-%m-%dT%H:%M:%S.') || lpad(CAST(ms % 1000 AS VARCHAR), 3, '0') || 'Z',
        'event_key', event_key,
        'visitor_key', epoch(received_at)::BIGINT || '_' || md5('v' || (i // 3)),
        'email', CASE WHEN klass <> 'anonymous' THEN email END,
        'percent_viewed', percent,
        'conversion_type', CASE WHEN klass IN ('anonymous', 'wemail') THEN '' ELSE 'turnstile' END,
        'conversion_data', CASE WHEN klass IN ('anonymous', 'wemail') THEN json_object()
                                ELSE json_object('email', email, 'first_name', first_name,
                                                 'last_name', last_name, 'is_new_lead', h_variant % 2 = 0) END,
        'media_id', media_id,
        'media_name', media_name,
        'media_url', 'https://bench.wistia.com/medias/' || media_id,
        'iframe_heatmap_url', 'https://api.wistia.com/v1/stats/events/' || event_key || '/iframe.html?public_token=pub123',
        'embed_url', 'https://www.example.com/videos/' || media_id,
        'ip', '203.0.' || (h_pick % 256) || '.' || (h_media % 256),
        'org', 'Org ' || (h_pick % 5000),
        'country', ['SE', 'NO', 'DK', 'FI', 'DE', 'US'][1 + h_media % 6],
        'region', 'Region ' || (h_media % 20),
        'city', 'City ' || (h_media % 200),
        'lat', round(55 + (h_pick % 1000) / 100.0, 4),
        'lon', round(10 + (h_media % 1000) / 100.0, 4),
        'thumbnail', json_object('url', 'https://embed-ssl.wistia.com/deliveries/' || media_id || '.jpg',
                                 'width', 200, 'height', 120),
        'user_agent_details', json_object('browser', ['Chrome', 'Firefox', 'Safari', 'Edge'][1 + h_variant % 4],
                                          'browser_version', CAST(100 + h_variant % 40 AS VARCHAR),
                                          'platform', ['Mac', 'Windows', 'Linux', 'iOS'][1 + h_pick % 4],
                                          'mobile', h_pick % 4 = 3)
    ) AS VARCHAR) AS json
FROM keyed
ORDER BY i
""")
    con.execute("DROP TABLE _bench_ids")


def create_contacts(con: duckdb.DuckDBPyConnection, scale: Scale) -> None:
    """Table `bench_contacts`: every Upsales contact with its lower-cased email, domain and JSON."""
    a = scale.accounts
    account = "(1 + (id - 1) % " + str(a) + ")"
    con.execute(f"""
CREATE OR REPLACE TABLE bench_contacts AS
WITH base AS (
    SELECT id, {_contact_email('id', a)} AS email, {account} AS client_id,
           CASE WHEN id % 20 = 7 THEN 0 ELSE 1 END AS active,
           {_sql_list(FIRST_NAMES)}[1 + id % 20] AS first_name,
           {_sql_list(LAST_NAMES)}[1 + (id // 20) % 20] AS last_name
    FROM range(1, {scale.contacts} + 1) AS t(id)
)
SELECT id, lower(email) AS email_lower, split_part(lower(email), '@', 2) AS domain, active, client_id,
       CAST(json_object(
           'id', id, 'name', first_name || ' ' || last_name, 'phone', NULL, 'cellPhone', NULL,
           'email', email, 'title', NULL, 'notes', NULL,
           'client', json_object('operationalAccount', NULL, 'addresses', [], 'name', 'Account ' || client_id,
                                 'id', client_id, 'users', []),
           'regDate', '2024-03-01T08:00:00.000Z', 'active', active,
           'modDate', strftime(TIMESTAMP '2025-01-01' + to_seconds(CAST(hash(id, 9) % 30000000 AS BIGINT)),
                               '%Y-%m-%dT%H:%M:%S.000Z'),
           'firstName', first_name, 'lastName', last_name, 'regBy', NULL, 'categories', [], 'custom', [],
           'userRemovable', true, 'userEditable', true, 'projects', [], 'segments', [], 'unsubscribed', NULL,
           'score', CAST(hash(id, 10) % 100 AS INTEGER), 'journeyStep', 'lead', 'optins', [], 'mailBounces', [],
           'emailBounceReason', '', 'isPriority', false
       ) AS VARCHAR) AS json
FROM base
""")


def event_pages(con: duckdb.DuckDBPyConnection, day: date, per_page: int = 100) -> list[bytes]:
    """One day's events as Wistia serves them: newest first, JSON arrays of `per_page` (within one
    batch the order of `i` is newest first; views added later are sorted in by time)."""
    rows = con.execute("SELECT json FROM bench_events WHERE day = ? ORDER BY received_at DESC, i",
                       [day]).fetchall()
    return [("[" + ",".join(json for (json,) in rows[n: n + per_page]) + "]").encode()
            for n in range(0, len(rows), per_page)]


def days(scale: Scale, last_day: date) -> list[date]:
    """The window's UTC days, ending `last_day`."""
    return [last_day - timedelta(days=scale.days - 1 - n) for n in range(scale.days)]


def lower_bounds(con: duckdb.DuckDBPyConnection, scale: Scale, email_batch: int = 100) -> dict[str, int]:
    """The fewest requests any correct sync of this data can make, per endpoint."""
    posts = con.execute("SELECT count(*) FROM bench_events WHERE to_post").fetchone()[0]
    emails, domains = con.execute("""
        WITH converted AS (
            SELECT DISTINCT email_lower, split_part(email_lower, '@', 2) AS domain FROM bench_events
            WHERE klass IN ('contact', 'colleague', 'personal', 'unknown')
        )
        SELECT (SELECT count(*) FROM converted),
               (SELECT count(DISTINCT c.domain) FROM converted AS c
                 WHERE c.domain NOT IN (SELECT unnest(?))
                   AND NOT EXISTS (SELECT 1 FROM bench_contacts AS k
                                    WHERE k.email_lower = c.email_lower AND k.active = 1))
    """, [PERSONAL_DOMAINS]).fetchone()
    # Wistia sends no total: a day of exactly n x 100 views costs one more (empty) page than this.
    pages = scale.days * math.ceil(scale.views_per_day / 100)
    return {
        "wistia_event_pages": pages,
        "wistia_media_pages": math.ceil(len(medias()) / 100) or 1,
        "upsales_email_lookups": math.ceil(emails / email_batch),
        "upsales_domain_lookups": domains,
        "upsales_posts": posts,
    }


def steady_bounds(con: duckdb.DuckDBPyConnection, kind: str, email_batch: int = 100) -> dict[str, int]:
    """The fewest Upsales look-ups and posts of a scheduled run after the first sync (issue #13),
    for a run that is `kind`:

    - "quiet": nothing new, right after another run (within the refresh interval): nothing is
      unmatched-and-due, so no look-up and no post;
    - "new": the views of table `bench_new_events` added since: only their emails not asked
      before (the earlier answers are fresh), their company domains with no exact contact not
      asked before, and a post per new view to post;
    - "refresh": nothing new, but every answer older than the refresh interval: each email with a
      view that an answer could still bring to a post (not posted, on the enabled project: a
      contact created since) once more, in batches of `email_batch`, and each company domain of
      such a view with no contact.

    Over `bench_events` (and `bench_new_events` when it exists, which "refresh" counts as synced).
    The fixed calls of a run (GET /v2/self ...) are not counted here."""
    if kind == "quiet":
        return {"upsales_email_lookups": 0, "upsales_domain_lookups": 0, "upsales_posts": 0}
    tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    new = "bench_new_events" if "bench_new_events" in tables else None
    converted = "klass IN ('contact', 'colleague', 'personal', 'unknown')"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _steady_views AS
        SELECT email_lower, split_part(email_lower, '@', 2) AS domain, to_post, enabled_project, source,
               EXISTS (SELECT 1 FROM bench_contacts AS k WHERE k.email_lower = v.email_lower AND k.active = 1)
                   AS has_contact,
               split_part(email_lower, '@', 2) IN (SELECT unnest(?)) AS personal
        FROM (SELECT *, 'old' AS source FROM bench_events
              {f"UNION ALL SELECT *, 'new' AS source FROM {new}" if new else ""}) AS v
        WHERE {converted}""", [PERSONAL_DOMAINS])
    if kind == "new":
        if new is None:
            raise ValueError("no table bench_new_events")
        emails, domains, posts = con.execute("""
            SELECT (SELECT count(DISTINCT email_lower) FROM _steady_views WHERE source = 'new'
                     AND email_lower NOT IN (SELECT email_lower FROM _steady_views WHERE source = 'old')),
                   (SELECT count(DISTINCT domain) FROM _steady_views WHERE source = 'new'
                     AND NOT has_contact AND NOT personal
                     AND domain NOT IN (SELECT domain FROM _steady_views
                                         WHERE source = 'old' AND NOT has_contact AND NOT personal)),
                   (SELECT count(*) FROM _steady_views WHERE source = 'new' AND to_post)
        """).fetchone()
    elif kind == "refresh_unfiltered":  # the same had no filter kept a view out: every unmatched view
        emails, domains = con.execute("""
            WITH unmatched AS (
                SELECT email_lower, domain, personal FROM _steady_views
                WHERE NOT has_contact
                  AND (personal OR domain NOT IN (SELECT domain FROM bench_contacts WHERE active = 1)))
            SELECT (SELECT count(DISTINCT email_lower) FROM unmatched),
                   (SELECT count(DISTINCT domain) FROM unmatched WHERE NOT personal)
        """).fetchone()
        posts = 0
    elif kind == "refresh":
        emails, domains = con.execute("""
            SELECT (SELECT count(DISTINCT email_lower) FROM _steady_views WHERE enabled_project AND NOT to_post),
                   (SELECT count(DISTINCT domain) FROM _steady_views
                     WHERE enabled_project AND NOT to_post AND NOT has_contact AND NOT personal)
        """).fetchone()
        posts = 0
    else:
        raise ValueError(kind)
    con.execute("DROP TABLE _steady_views")
    return {"upsales_email_lookups": math.ceil(emails / email_batch), "upsales_domain_lookups": domains,
            "upsales_posts": posts, "emails_due": emails}
