"""`wistia-pipeline probe`: check, on the configured accounts, every API behaviour the pipeline
relies on before anything is posted, one green or red line per assumption (the model is
`doctor`: the same `Check`, the same clients, the same output).

Read-only by default: only GET requests. The assumptions are those docs/api/wistia.md and
docs/api/upsales.md mark unverified, plus the ones every sync leans on:

- Wistia: the token reads projects, medias and stats; `start_date=end_date=D` returns the views
  received on D in UTC and none of another day (days are inclusive and in UTC), checked on the
  most recent day with views and the days beside it.
- Upsales: the key works and `GET /v2/self` names the customer; the batched look-up (`q` with a
  list of emails) finds a known contact, also with its email in another case; the domain look-up
  (`email=src:@domain`) finds it; `/v2/events` accepts the `externalId` filter; with forms on,
  forms filter by name and submissions by form, and carry a readable `score` (the pipeline sets
  FORM_SCORE on its own forms; a warning, not a failure, when no form shows one); answers carry
  the rate-limit headers.

`--write-test EMAIL` also posts one marketing event (score 0, value `wistia_pipeline probe`) on
that contact, finds it again by `externalId` as a sync does after a crash, compares what comes
back and deletes it; with forms on, the same for one submission of the form `Wistia pipeline
probe`. Read-back is as tolerant as the pipeline's own (clients/readback.py). Tokens are never
shown: errors come from the clients, which mask them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from wistia_pipeline import rules
from wistia_pipeline.clients import readback
from wistia_pipeline.clients.errors import ApiError, AuthError
from wistia_pipeline.clients.upsales import CONTACTS_PATH, SELF_PATH, UpsalesClient, UpsalesResource
from wistia_pipeline.clients.wistia import EVENTS_PATH, MEDIAS_PATH, PROJECTS_PATH, WistiaClient, WistiaResource
from wistia_pipeline.operations.doctor import CLIENT_OPTIONS, HINTS, Check
from wistia_pipeline.settings import Settings, environment, variable
from wistia_pipeline.sinks.marketing_events import ENTITY_TYPE, SUB_TYPE
from wistia_pipeline.sinks.forms import EVENT_KEY_FIELD, FORM_DESCRIPTION, form_definition

PROBE_VALUE = "wistia_pipeline probe"
PROBE_FORM_NAME = "Wistia pipeline probe"
PROBE_FORM_DESCRIPTION = "Created by `wistia-pipeline probe --write-test`: test submissions only; safe to delete."
DISCOVERY_DAYS = 30  # how far back the most recent day with views is looked for
DAY_PAGES = 30  # pages (100 views each) of one day read for the day check
# docs/api/wistia.md: a view can take a few hours to show up in filtered queries, so a view the wide
# request lists is only expected in its day's answer once it is this old.
SETTLED = timedelta(hours=4)
CONTACT_SAMPLE = 100  # contacts read to find one with an email
DOMAIN_PAGES = 5  # pages of a domain's contacts read to find the known contact
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
PIPELINE_PACE = 195  # requests per 10 s the Upsales client allows itself (clients/upsales.py)

REPORT = "report it to the pipeline's maintainers with this line, and do not sync until it is settled"

# The HTTP method in messages, kept out of their text so that the SQL check (test_security) does
# not take "DELETE /v2/events/{id}" for SQL built from values.
DELETE = "DELETE"


# -- helpers -----------------------------------------------------------------------------------


def _failed(name: str, error: ApiError, hint: str) -> Check:
    return Check(name, False, str(error), hint)


def _utc(value: Any) -> datetime | None:
    """An ISO-8601 time (`...Z`, `+01:00`, milliseconds, or naive: taken as UTC) as aware UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _hours(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h} h" + (f" {m} min" if m else "")


def _domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()


def _who(contact: Mapping[str, Any]) -> str:
    """A contact as shown: its id and domain (the whole address only when the user typed it)."""
    return f"contact {contact.get('id')} (…@{_domain(str(contact.get('email') or ''))})"


def _ref_id(value: Any) -> int | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _contacts(client: UpsalesClient, params: dict[str, Any]) -> list[dict]:
    """One page of `GET /v2/contacts` with raw filters: the probe checks the API, not our wrapping."""
    body = client.session.request_json("GET", CONTACTS_PATH, params={**params, "limit": CONTACT_SAMPLE})
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise client.session.error(f"Upsales GET {CONTACTS_PATH}: unexpected response shape (data is not a list)",
                                   status=200, method="GET", path=CONTACTS_PATH)
    return [c for c in data if isinstance(c, dict)]


def _q_emails(emails: list[str] | str) -> dict[str, str]:
    return {"q": json.dumps({"a": "email", "c": "eq", "v": emails}, separators=(",", ":"), ensure_ascii=False),
            "active": "eq:1"}


def _absent_email() -> str:
    return f"probe-{uuid.uuid4().hex[:12]}@example.invalid"


# -- Wistia ------------------------------------------------------------------------------------

WISTIA_READS = (  # (line, path, what it reads, the token permission it needs)
    ("Wistia projects", PROJECTS_PATH, "projects", "Read all folder and media data"),
    ("Wistia medias", MEDIAS_PATH, "medias", "Read all folder and media data"),
    ("Wistia stats", EVENTS_PATH, "stats events", "Read detailed stats"),
)


def check_wistia_reads(client: WistiaClient, today: date) -> list[Check]:
    """The token reads projects, medias and stats: one page of one item each."""
    checks = []
    for name, path, what, permission in WISTIA_READS:
        params: dict[str, Any] = {"page": 1, "per_page": 1}
        if path == EVENTS_PATH:
            params |= {"start_date": today.isoformat(), "end_date": today.isoformat()}
        try:
            body = client.session.request_json("GET", path, params=params)
        except AuthError as error:
            hint = HINTS["WISTIA_API_TOKEN"] if error.status == 401 else f"give the token '{permission}' in Wistia"
            checks.append(_failed(name, error, hint))
            continue
        except ApiError as error:
            checks.append(_failed(name, error, "check WISTIA_API_URL and the network"))
            continue
        if not isinstance(body, list):
            checks.append(Check(name, False, f"GET {path} answered a {type(body).__name__}, not the JSON list "
                                             f"of Wistia's legacy API",
                                "check that WISTIA_API_URL is https://api.wistia.com/v1"))
            continue
        checks.append(Check(name, True, f"the token reads {what}"))
    return checks


def _day_views(client: WistiaClient, day: date) -> tuple[list[tuple[str, datetime]], bool]:
    """(event_key, received_at) of what `start_date=end_date=day` returns, at most DAY_PAGES pages;
    True when it stopped at that cap."""
    views: list[tuple[str, datetime]] = []
    for n, page in enumerate(client.iter_event_pages(day), start=1):
        views += [(str(e.get("event_key")), at) for e in page if isinstance(e, dict)
                  and (at := _utc(e.get("received_at"))) is not None]
        if n >= DAY_PAGES:
            return views, True
    return views, False


def check_wistia_days(client: WistiaClient, today: date) -> Check:
    """Day semantics, on the most recent day with views (D) and the days beside it: each
    `start_date=end_date=X` returns views received on X in UTC, D's are all there, and none of
    another day. The pipeline reads one UTC day per request and keeps each view on the UTC day
    of its `received_at`; another reading of days would cost views on the window's edges."""
    name = "Wistia days"
    start = today - timedelta(days=DISCOVERY_DAYS)
    try:
        newest = client.session.request_json("GET", EVENTS_PATH, params={
            "start_date": start.isoformat(), "end_date": today.isoformat(), "page": 1, "per_page": 100})
    except ApiError as error:
        return _failed(name, error, "fix the Wistia stats line first")
    seen = [(str(e.get("event_key")), at) for e in newest if isinstance(e, dict)
            and (at := _utc(e.get("received_at"))) is not None] if isinstance(newest, list) else []
    if not seen:
        return Check(name, False, f"cannot check: Wistia lists no view received from {start} to {today}",
                     "run probe again once the account has views (the check needs one day with views)")
    day = min(max(at for _, at in seen).date(), today)
    settled = datetime.now(timezone.utc) - SETTLED
    expected = {key for key, at in seen if at.date() == day and at <= settled}  # D's views the wide request listed

    try:
        answers = {d: _day_views(client, d) for d in (day - timedelta(days=1), day, day + timedelta(days=1))
                   if d <= today}
    except ApiError as error:
        return _failed(name, error, "fix the Wistia stats line first")
    views, _ = answers[day]
    asked = f"`start_date=end_date={day}`"
    if not views:
        listed = sum(at.date() == day for _, at in seen)
        return Check(name, False, f"{asked} returned no view, though `start_date={start}&end_date={today}` listed "
                                  f"{listed} view(s) received on {day} (UTC): end_date looks exclusive",
                     f"{REPORT}: the pipeline asks each day with start_date=end_date and would read nothing")

    problems: list[str] = []
    east = west = timedelta(0)
    for asked_day, (got, _) in answers.items():
        midnight = datetime.combine(asked_day, datetime.min.time(), tzinfo=timezone.utc)
        others = [at for _, at in got if at.date() != asked_day]
        if others:
            problems.append(f"`start_date=end_date={asked_day}` returned {len(others)} view(s) received on "
                            f"another UTC day ({min(others):%Y-%m-%d %H:%M}..{max(others):%Y-%m-%d %H:%M} UTC)")
            east = max(east, midnight - min(others))
            west = max(west, max(others) - (midnight + timedelta(days=1)))
    missing = set() if answers[day][1] else expected - {key for key, _ in views}
    if missing:
        problems.append(f"{len(missing)} view(s) received on {day} (UTC) did not come back for {asked}")
    if problems:
        zone = []
        if east > timedelta(0):
            zone.append(f"Wistia's days start before 00:00 UTC (a view {_hours(east).lstrip('+')} before midnight "
                        f"UTC came back), as days of a time zone east of UTC would")
        if west > timedelta(0):
            zone.append(f"Wistia's days end after 24:00 UTC (a view {_hours(west).lstrip('+')} after midnight "
                        f"UTC came back), as days of a time zone west of UTC would")
        return Check(name, False, "; ".join(problems + zone),
                     "set WISTIA_EXTRA_DAYS=1: each sync then also reads the day before and after its window and "
                     "keeps every view on the UTC day of its received_at, so no view near midnight is missed")
    capped = any(cap for _, cap in answers.values())
    first, last = min(at for _, at in views), max(at for _, at in views)
    neighbours = " and ".join(str(d) for d in answers if d != day)
    also = f", as did {neighbours} for theirs" if neighbours else ""
    cap = f" (first {DAY_PAGES * 100} views of each day)" if capped else ""
    return Check(name, True, f"{asked} returned exactly the {len(views)} view(s) received on {day} in UTC "
                             f"({first:%H:%M}..{last:%H:%M}){also}{cap}: days are inclusive and in UTC")


# -- Upsales: read-only ------------------------------------------------------------------------


def check_customer_id(me: Mapping[str, Any], settings: Settings) -> Check:
    """`GET /v2/self` names the customer (`clients[0].clientId`, unverified), which form submits need."""
    name = "Upsales customer id"
    clients = me.get("clients")
    first = clients[0] if isinstance(clients, list) and clients else None
    raw = first.get("clientId") if isinstance(first, Mapping) else None
    found = int(raw) if isinstance(raw, (int, str)) and not isinstance(raw, bool) and str(raw).strip().isdigit() \
        else None
    configured = settings.upsales_customer_id
    if found is not None and configured is not None and found != configured:
        return Check(name, False, f"UPSALES_CUSTOMER_ID is {configured} but GET /v2/self names customer {found}",
                     "set UPSALES_CUSTOMER_ID to the id of the account this API key belongs to, or leave it empty")
    if found is not None:
        return Check(name, True, f"GET /v2/self names customer {found} (clients[0].clientId)")
    if configured is not None:
        return Check(name, True, f"GET /v2/self names no customer (no clients[0].clientId); "
                                 f"UPSALES_CUSTOMER_ID={configured} is used instead")
    if not settings.sync_forms:
        return Check(name, True, "GET /v2/self names no customer (no clients[0].clientId); "
                                 "not needed while SYNC_FORMS is off")
    return Check(name, False, "GET /v2/self names no customer (no clients[0].clientId): form submits would fail",
                 "set UPSALES_CUSTOMER_ID to your Upsales customer id")


def check_rate_headers(client: UpsalesClient) -> Check:
    """The answers carry X-RateLimit-*, which the client's limiter follows so that other users of the
    same key do not push it into 429s. Asked on `GET /v2/contacts`, the look-ups' endpoint: in the
    real answers recorded by the open-source upsales-python-sdk (tests/cassettes), `GET
    /v2/contacts`, `/v2/forms` and `/v2/formSubmits` carry them, while `POST` and `DELETE
    /v2/events` and `GET /v2/accounts` do not."""
    name = "Upsales rate-limit headers"
    try:
        response = client.session.request("GET", CONTACTS_PATH, params={"limit": 0})
    except ApiError as error:
        return _failed(name, error, "check UPSALES_API_URL and the network")
    headers = {h: response.headers.get(h) for h in RATE_HEADERS}
    missing = [h for h, value in headers.items() if value is None]
    if missing:
        return Check(name, False, f"GET {CONTACTS_PATH} answered without {', '.join(missing)}: the pipeline paces "
                                  f"itself at {PIPELINE_PACE} requests per 10 s and cannot see what other users of "
                                  f"this key spend", "give the pipeline an API key of its own (Upsales: Settings > "
                                  "API keys), so no other integration shares its budget")
    try:
        limit = int(float(headers["X-RateLimit-Limit"]))
    except ValueError:
        limit = None
    shown = ", ".join(f"{h.removeprefix('X-RateLimit-')} {v}" for h, v in headers.items())
    if limit is not None and limit < PIPELINE_PACE:
        return Check(name, False, f"Upsales allows {limit} requests (X-RateLimit-Limit), fewer than the "
                                  f"{PIPELINE_PACE} per 10 s the pipeline allows itself ({shown})",
                     f"{REPORT}: the pipeline would meet 429s and slow down")
    return Check(name, True, f"present ({shown})")


def pick_contact(client: UpsalesClient) -> dict | None:
    """A known active contact with a usable email, from the first page of `GET /v2/contacts`."""
    for contact in client.get_contacts(limit=CONTACT_SAMPLE, active="eq:1"):
        email = contact.get("email") if isinstance(contact, dict) else None
        if isinstance(email, str) and rules.is_valid_email(email.strip()):
            return contact
    return None


def check_email_lookup(client: UpsalesClient, contact: Mapping[str, Any]) -> Check:
    """The batched look-up: `q` with a list of emails finds the known contact and nothing else."""
    name = "Upsales batched email look-up"
    email = str(contact["email"]).strip()
    try:
        got = _contacts(client, _q_emails([email, _absent_email()]))
    except ApiError as error:
        return _failed(name, error, f"{REPORT}: the pipeline looks contacts up 100 emails per request this way")
    wanted = {email.casefold()}
    others = [c for c in got if str(c.get("email") or "").strip().casefold() not in wanted]
    found = any(c.get("id") == contact.get("id") for c in got)
    if others:
        return Check(name, False, f"Upsales ignored the email list in `q`: it answered {len(got)} contact(s), "
                                  f"{len(others)} with other emails: the pipeline's batched look-up would read "
                                  f"contacts it did not ask for", f"{REPORT}")
    if not found:
        return Check(name, False, f"Upsales ignored the email list in `q` (got 0 of 1: {_who(contact)} not found "
                                  f"by its email): the pipeline's batched look-up would match nothing, so every "
                                  f"view would end as no_match", f"{REPORT}")
    return Check(name, True, f"`q` with a list of 2 emails found {_who(contact)} and nothing else")


def check_email_case(client: UpsalesClient, contact: Mapping[str, Any], list_works: bool) -> Check:
    """The look-up ignores case: the pipeline sends emails lower-cased, contacts are stored as typed."""
    name = "Upsales email case"
    email = str(contact["email"]).strip()
    other = email.lower() if email != email.lower() else email.upper()
    try:
        got = _contacts(client, _q_emails([other]))
        how = "a `q` list"
        if not got and not list_works:  # the list form is broken (line above): ask with one value
            got = _contacts(client, _q_emails(other))
            how = "a single `q` value (the list form fails, see above)"
    except ApiError as error:
        return _failed(name, error, REPORT)
    if any(c.get("id") == contact.get("id") for c in got):
        return Check(name, True, f"{how} with the email in other case ({'lower' if other == email.lower() else 'upper'}"
                                 f" case) found {_who(contact)}")
    return Check(name, False, f"Upsales compares emails case-sensitively: {_who(contact)} is stored as typed and "
                              f"was not found with its email in other case ({how}): the pipeline looks emails up "
                              f"lower-cased and would miss every contact stored with capitals",
                 f"{REPORT} (until then, store the contacts' emails in lower case in Upsales)")


def check_domain_lookup(client: UpsalesClient, contact: Mapping[str, Any]) -> Check:
    """The domain look-up (`email=src:@domain`, unverified) finds the known contact by its domain."""
    name = "Upsales domain look-up"
    domain = _domain(str(contact["email"]))
    seen = 0
    try:
        for n, page in enumerate(client.iter_contacts_by_domain(domain), start=1):
            seen += len(page)
            if any(isinstance(c, dict) and c.get("id") == contact.get("id") for c in page):
                return Check(name, True, f"`email=src:@{domain}` found {_who(contact)}")
            if n >= DOMAIN_PAGES:
                break
    except ApiError as error:
        return _failed(name, error, f"{REPORT}: views whose email has no contact are matched by domain this way")
    return Check(name, False, f"`email=src:@{domain}` did not find {_who(contact)} (got {seen} contact(s)): the "
                              f"pipeline could not match a view to an account by its email's domain (those views "
                              f"would end as no_match, not as 'Someone watched ...' entries)", REPORT)


def check_external_id_filter(client: UpsalesClient) -> Check:
    """`/v2/events` accepts the `externalId` filter: how a post is found again after a crash."""
    name = "Upsales externalId filter"
    random_id = str(uuid.uuid4())
    try:
        found = client.find_events_by_external_ids([random_id])
    except ApiError as error:
        return Check(name, False, f"{error}: the pipeline could not find an entry again after a crash and stops "
                                  f"posting activities at the first unconfirmed post", REPORT)
    if found:
        return Check(name, False, f"a random externalId returned {len(found)} event(s): Upsales ignores the filter, "
                                  f"so every crash look-up would read the whole activity log", REPORT)
    return Check(name, True, "`q` on externalId accepted (a random id: 200 and no rows)")


def check_form_name_filter(client: UpsalesClient) -> Check:
    """Forms filter by name: how a form is found again before any create (never created twice)."""
    name = "Upsales form name filter"
    try:
        found = client.find_forms_by_name(PROBE_FORM_NAME)
    except ApiError as error:
        return Check(name, False, f"{error}: the pipeline could not find its forms by name and might create them "
                                  f"twice", REPORT)
    return Check(name, True, f"`q` on name accepted ({len(found)} form(s) named {PROBE_FORM_NAME!r})")


def check_form_submits_filter(client: UpsalesClient) -> Check:
    """Submissions filter by form (`formId`, unverified): how a submission is found again."""
    name = "Upsales form submissions filter"
    try:
        forms = next(client.iter_forms(), [])
        forms = [f for f in forms if isinstance(f, dict) and isinstance(f.get("id"), int)]
        form = max(forms, key=lambda f: (bool(f.get("submits")), -f["id"]), default=None)
        form_id = form["id"] if form else 0
        submits = next(client.iter_form_submits(form_id), [])
    except AuthError as error:
        return Check(name, False, f"{error}: listing form submissions needs an admin or mail-admin key, and the "
                                  f"pipeline reads them to find a submission again after a crash",
                     "use an API key of an admin (or mail-admin) user")
    except ApiError as error:
        return Check(name, False, f"{error}: the pipeline could not find a submission again after a crash", REPORT)
    others = [s for s in submits if isinstance(s, dict)
              and (s.get("formId") if s.get("formId") is not None else _ref_id(s.get("form"))) != form_id]
    which = f"form {form_id}" if form else "no form yet, asked for form 0"
    if others:
        return Check(name, False, f"`formId={form_id}` returned {len(others)} submission(s) of other forms: Upsales "
                                  f"ignores the filter", REPORT)
    return Check(name, True, f"`formId` accepted ({which}: {len(submits)} submission(s) on the first page, all its own)")


def check_form_score(client: UpsalesClient, settings: Settings) -> Check:
    """Forms carry a readable `score` (no recorded form shows one): how a sync tells whether the
    pipeline's forms score FORM_SCORE. Read-only: the first page of forms."""
    name = "Upsales form score"
    try:
        forms = [f for f in next(client.iter_forms(), []) if isinstance(f, dict)]
    except ApiError as error:
        return _failed(name, error, "the key must read forms (Upsales: API key rights)")
    if not forms:
        return Check(name, True, f"no form yet: the first sync creates its forms with FORM_SCORE={settings.form_score}")
    ours = [f for f in forms if f.get("description") == FORM_DESCRIPTION]
    sample = ours or forms
    readable = [f for f in sample if readback.form_score(f) is not None]
    if not readable:
        return Check(name, True, f"none of {len(sample)} form(s) shows a `score`: a sync cannot see what a form "
                                 f"scores, so it sets FORM_SCORE once on each of its own forms it finds by name",
                     "check in Upsales (Forms) that the pipeline's forms score FORM_SCORE", warning=True)
    detail = f"`score` read on {len(readable)} of {len(sample)} {'pipeline ' if ours else ''}form(s)"
    if ours:
        other = [str(f.get("name")) for f in ours if readback.form_score(f) != settings.form_score]
        detail += (f"; the pipeline's forms score FORM_SCORE={settings.form_score}" if not other else
                   f"; {len(other)} of the pipeline's forms score otherwise ({', '.join(other[:3])}"
                   f"{', ...' if len(other) > 3 else ''}): a sync sets FORM_SCORE={settings.form_score} "
                   f"before their next submission")
    return Check(name, True, detail)


# -- Upsales: --write-test ---------------------------------------------------------------------


def _compare_date(sent: datetime, value: Any, posted_at: datetime) -> Check:
    """The `date` sent (UTC, `YYYY-MM-DD HH:mm:ss`) against the one read back. Whether Upsales reads
    it as UTC is documented nowhere; the one recorded real post (upsales-python-sdk cassettes) sent
    a bare `2025-12-02` and got the time of the post back (`2025-12-02T15:07:25.000Z`). The test
    event is dated a day back, so a `date` ignored in favour of the post's time shows."""
    name = "Upsales test event date"
    got = _utc(value)
    sent_text = sent.strftime("%Y-%m-%d %H:%M:%S")
    if got is None:
        return Check(name, False, f"sent `date` {sent_text} (UTC), got {value!r} back: not a time",
                     f"{REPORT}: the timeline position of every view depends on it")
    naive = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).tzinfo is None
    delta = got - sent
    if delta == timedelta(0):
        zone = "without a time zone (read as UTC)" if naive else "in UTC"
        return Check(name, True, f"sent {sent_text} (UTC), got {value} back: the same moment, {zone}")
    if abs(got - posted_at) < timedelta(minutes=5):
        return Check(name, False, f"sent {sent_text} (UTC), got {value} back, the time of the post: Upsales "
                                  f"ignored `date`, so every view would show when it was synced, not when it was "
                                  f"watched", REPORT)
    if delta.total_seconds() % 900 == 0 and abs(delta) <= timedelta(hours=14):
        return Check(name, False, f"sent {sent_text} (UTC), got {value} back ({_hours(delta)}): Upsales read "
                                  f"`date` in another time zone (UTC{_hours(-delta)}), so every view would show "
                                  f"{_hours(delta).lstrip('+-')} off in the activity log",
                     f"{REPORT}: the pipeline would have to send `date` in the account's time zone")
    return Check(name, False, f"sent {sent_text} (UTC), got {value} back ({_hours(delta)})", REPORT)


def _compare_value_and_score(event: Mapping[str, Any]) -> Check:
    name = "Upsales test event value and score"
    value, score = event.get("value"), event.get("score")
    try:
        score_ok = float(score) == 0
    except (TypeError, ValueError):
        score_ok = False
    if value == PROBE_VALUE and score_ok:
        return Check(name, True, f"value {PROBE_VALUE!r} and score 0 came back as sent")
    return Check(name, False, f"sent value {PROBE_VALUE!r} and score 0, got value {value!r} and score {score!r}",
                 f"{REPORT}: the activity text and lead score of every view depend on it")


def write_test_event(client: UpsalesClient, email: str) -> list[Check]:
    """Post one marketing event on the contact with `email`, as a sync would (score 0), find it by
    externalId with the pipeline's own look-up, compare it, delete it: every step says what it saw."""
    name = "Upsales test event"
    try:
        contacts = [c for page in client.iter_contacts_by_emails([email]) for c in page if isinstance(c, dict)]
        if not contacts:  # the batched look-up may be what fails (its line says so): ask plainly
            contacts = client.get_contacts(limit=CONTACT_SAMPLE, email=f"eq:{email}", active="eq:1")
    except ApiError as error:
        return [_failed(name, error, "fix the look-up lines above first")]
    if not contacts:
        return [Check(name, False, f"no active contact has the email {email} (batched look-up): nothing was posted",
                      "give --write-test the email of an active contact in Upsales")]
    contact = max(contacts, key=lambda c: (str(c.get("modDate") or ""), c.get("id") or 0))
    account = _ref_id(contact.get("client"))
    if account is None:
        return [Check(name, False, f"contact {contact.get('id')} ({email}) belongs to no account: nothing was posted",
                      "give --write-test the email of a contact that belongs to an account")]
    posted_at = datetime.now(timezone.utc).replace(microsecond=0)
    sent = posted_at - timedelta(days=1)  # not now: a `date` Upsales ignored would show
    external_id = str(uuid.uuid4())
    payload = {"entityType": ENTITY_TYPE, "subType": SUB_TYPE, "client": account, "contact": contact["id"],
               "score": 0, "date": sent.strftime("%Y-%m-%d %H:%M:%S"), "externalId": external_id,
               "value": PROBE_VALUE}
    try:
        created = client.create_event(payload)
    except ApiError as error:
        return [Check(name, False, f"Upsales refused the test event on contact {contact['id']}: {error}",
                      f"{REPORT}: every sync posts this payload (with the view's score and text)")]
    event_id = created.get("id")
    where = f"contact {contact['id']} ({email}), account {account}"
    if not isinstance(event_id, int) or isinstance(event_id, bool):
        return [Check(name, False, f"Upsales answered the test event without an id ({event_id!r}): it may be on "
                                   f"{where} with externalId {external_id}",
                      f"find and delete it in Upsales (value {PROBE_VALUE!r}); {REPORT}")]
    checks: list[Check] = []
    try:
        try:
            found = [e for e in client.find_events_by_external_ids([external_id])
                     if readback.event_external_id(e) == external_id]
        except ApiError as error:
            found = []
            checks.append(Check(name, False, f"posted as id {event_id} on {where}, but the look-up by externalId "
                                             f"failed: {error}", REPORT))
        else:
            if not found:
                checks.append(Check(name, False, f"posted as id {event_id} on {where}, but the pipeline's look-up "
                                                 f"(`q` with a list of externalIds) did not find it (neither at the "
                                                 f"top level nor in marketingCustom): after a crash the pipeline "
                                                 f"would post the view twice", REPORT))
            else:
                top = readback.external_id_location(found[0]) == readback.TOP_LEVEL
                checks.append(Check(name, True, f"posted as id {event_id} on {where}, found again by externalId "
                                                f"(returned {'at the top level' if top else 'inside marketingCustom'})"))
        if found:
            checks.append(_compare_date(sent, found[0].get("date"), posted_at))
            checks.append(_compare_value_and_score(found[0]))
    finally:
        checks.append(_delete_event(client, event_id, external_id, where))
    return checks


def _delete_event(client: UpsalesClient, event_id: int, external_id: str, where: str) -> Check:
    name = "Upsales test event deleted"
    left = (f"the test event {event_id} (value {PROBE_VALUE!r}, score 0, externalId {external_id}) is still on "
            f"{where}")
    try:
        client.delete_event(event_id)
    except ApiError as error:
        return Check(name, False, f"Upsales refused {DELETE} /v2/events/{event_id} ({error}): {left}",
                     "delete it by hand in Upsales (the contact's activity log); the pipeline itself never deletes")
    try:  # one value, not the pipeline's list: a list Upsales ignores would find nothing either way
        still = [e for e in client.find_events_by_external_id(external_id)
                 if readback.event_external_id(e) == external_id]
    except ApiError:
        still = []  # the look-up line above says why
    if still:
        return Check(name, False, f"{DELETE} /v2/events/{event_id} answered OK but {left}", "delete it by hand in Upsales")
    return Check(name, True, f"{DELETE} /v2/events/{event_id}: the test event is gone")


def write_test_submission(client: UpsalesClient, email: str, customer_id: int | None) -> list[Check]:
    """Submit one form submission to the form `Wistia pipeline probe` (found, else created once),
    find it by its event key as a sync does after a crash, then delete it where Upsales allows."""
    name = "Upsales test submission"
    if customer_id is None:
        return [Check(name, False, "not submitted: no customer id (see the customer id line)",
                      "set UPSALES_CUSTOMER_ID to your Upsales customer id")]
    try:
        forms = client.find_forms_by_name(PROBE_FORM_NAME)
        form = forms[0] if forms else client.create_form(
            {**form_definition(PROBE_FORM_NAME, score=0), "description": PROBE_FORM_DESCRIPTION})
    except ApiError as error:
        return [_failed(name, error, f"{REPORT}: the pipeline finds and creates its forms the same way")]
    form_id = form["id"]
    the_form = f"form {PROBE_FORM_NAME!r} (id {form_id}, {'reused' if forms else 'created'})"
    probe_key = f"wistia-pipeline-probe-{uuid.uuid4()}"
    fields = {"formCid": str(customer_id), "formId": str(form.get("uuid")), "Contact.email": email,
              "Contact.firstname": "", "Contact.lastname": "", "Extra.wistia_video": PROBE_VALUE,
              "Extra.wistia_percent_watched": "0", "Extra.wistia_heatmap": "", EVENT_KEY_FIELD: probe_key,
              "isFrame": "false", "validation": "", "isAjax": "true"}
    try:
        submission_id = client.submit_form(fields)
    except ApiError as error:
        return [Check(name, False, f"Upsales refused the test submission to {the_form}: {error}", REPORT)]

    checks: list[Check] = []
    found: dict | None = None
    by = "name"
    try:
        field_names: dict[int, str] | None = None
        for page in client.iter_form_submits(form_id):
            for submit in page:
                if readback.needs_field_names(submit) and field_names is None:
                    field_names = readback.form_field_names(client.get_form(form_id))
                    by = "fieldId (mapped with the form's fields)"
                if readback.field_value(submit, EVENT_KEY_FIELD, field_names) == probe_key:
                    found = submit
    except ApiError as error:
        checks.append(Check(name, False, f"submitted as {submission_id} to {the_form}, but reading it back "
                                         f"failed: {error}", REPORT))
    else:
        if found is None:
            unmapped = " (its field values carry fieldId, but the form's fields have no ids)" if field_names == {} else ""
            checks.append(Check(name, False, f"submitted as {submission_id} to {the_form}, but no submission of the "
                                             f"form carries its {EVENT_KEY_FIELD}{unmapped}: after a crash the "
                                             f"pipeline would submit the view twice", REPORT))
        else:
            sent_back = readback.field_value(found, "Contact.email", field_names) or ""
            if sent_back.strip().casefold() != email.strip().casefold():
                checks.append(Check(name, False, f"submitted as {submission_id} to {the_form}, found again, but its "
                                                 f"Contact.email came back as {sent_back!r}", REPORT))
            else:
                checks.append(Check(name, True, f"submitted as {submission_id} to {the_form}, found again by "
                                                f"{EVENT_KEY_FIELD} (field values by {by})"))
    checks.append(_remove_submission(client, found.get("id") if found else submission_id, the_form))
    return checks


def _remove_submission(client: UpsalesClient, submission_id: Any, the_form: str) -> Check:
    name = "Upsales test submission removed"
    try:
        client.delete_form_submit(submission_id)
    except ApiError as error:
        return Check(name, True, f"Upsales does not let this key delete it ({error}): submission {submission_id} "
                                 f"stays in {the_form}; the pipeline never reads that form (delete it in Upsales "
                                 f"if you like)")
    return Check(name, True, f"{DELETE} /v2/formSubmits/{submission_id}: gone; {the_form} stays for the next probe")


# -- the run -----------------------------------------------------------------------------------


def probe_upsales(client: UpsalesClient, settings: Settings, write_test: str | None) -> list[Check]:
    try:
        me = client.get_self()
    except AuthError as error:
        return [_failed("Upsales API key", error, HINTS["UPSALES_API_TOKEN"])]
    except ApiError as error:
        return [_failed("Upsales API key", error, "check UPSALES_API_URL and the network")]
    checks = [Check("Upsales API key", True, f"Upsales accepted the API key (GET {SELF_PATH})"),
              check_customer_id(me, settings), check_rate_headers(client)]
    if settings.sync_activities:
        try:
            contact = pick_contact(client)
        except ApiError as error:
            contact = None
            checks.append(_failed("Upsales contacts", error, "the key must read contacts (Upsales: API key rights)"))
        else:
            if contact is None:
                checks.append(Check("Upsales contacts", False, f"none of the first {CONTACT_SAMPLE} active contacts "
                                                               f"has an email: the look-ups cannot be checked",
                                    "run probe against an account with contacts"))
        if contact is not None:
            lookup = check_email_lookup(client, contact)
            checks += [lookup, check_email_case(client, contact, lookup.ok), check_domain_lookup(client, contact)]
        checks.append(check_external_id_filter(client))
    if settings.sync_forms:
        checks += [check_form_name_filter(client), check_form_submits_filter(client),
                   check_form_score(client, settings)]
    if write_test:
        if settings.sync_activities:
            checks += write_test_event(client, write_test)
        if settings.sync_forms:
            customer = next((c for c in checks if c.name == "Upsales customer id"), None)
            customer_id = None
            if customer is not None and customer.ok:
                try:
                    customer_id = client.customer_id()
                except ApiError:
                    customer_id = None
            checks += write_test_submission(client, write_test, customer_id)
    return checks


def run_probe(env: Mapping[str, str] | None = None, write_test: str | None = None,
              today: date | None = None) -> list[Check]:
    """Every probe, Wistia then Upsales. SettingsError (exit 2) when a setting is unusable: the
    probe needs the same settings a sync does. Writes only with `write_test` (an email)."""
    env = environment() if env is None else env
    settings = Settings.from_env(env)
    today = today or datetime.now(timezone.utc).date()
    wistia = WistiaResource(api_token=variable("WISTIA_API_TOKEN").parse(env), api_url=settings.wistia_api_url,
                            max_pages=settings.wistia_max_pages).get_client(**CLIENT_OPTIONS)
    upsales = UpsalesResource(api_token=variable("UPSALES_API_TOKEN").parse(env), api_url=settings.upsales_api_url,
                              customer_id=str(settings.upsales_customer_id or "")).get_client(**CLIENT_OPTIONS)
    try:
        checks = check_wistia_reads(wistia, today)
        stats = next(c for c in checks if c.name == "Wistia stats")
        checks.append(check_wistia_days(wistia, today) if stats.ok else
                      Check("Wistia days", False, "not checked: the token cannot read stats", "see the line above"))
        checks += probe_upsales(upsales, settings, write_test.strip() if write_test else None)
    finally:
        wistia.close()
        upsales.close()
    return checks
