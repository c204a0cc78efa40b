"""Wistia API emulator: the legacy `/v1` endpoints the pipeline reads, as documented in
`docs/api/wistia.md` (bare JSON arrays, paging by `page`/`per_page` with a short last page,
Bearer-only auth, 429 with `Retry-After` and a plain-text body, no budget headers).

Events are served newest-first for whole UTC days. Events added with `hidden=True` stay invisible
until `release_hidden()`, and events added with `visible_after=<seconds>` until that much time has
passed: that is how the sandbox reproduces Wistia's late-arriving views, the reason every run
re-reads the last three days. `arrive_mid_scan()` adds views while a client pages through a day,
so later pages shift and repeat an event of the page before, as Wistia's do.
"""

from __future__ import annotations

import copy
import re
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

from . import quirks as quirk_switches
from .emulator import Emulator
from .messages import Request, Response, json_response
from .ratelimit import RateDecision, ceil_seconds

EVENTS_MAX_PER_PAGE = 100
DATA_DEFAULT_PER_PAGE = 10  # medias/projects: Wistia's default page is only 10
DATA_MAX_PER_PAGE = 100
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_received_at(value: Any) -> datetime:
    """`2014-01-27T22:42:53Z` or `2025-10-17T17:24:53.000Z` (or any ISO offset) -> aware UTC."""
    if not isinstance(value, str):
        raise ValueError(f"received_at must be an ISO-8601 string, got {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


class _BadRequest(Exception):
    """A query parameter Wistia would reject with 400."""


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.param(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _BadRequest(f"{name} must be an integer") from None


def _day_param(request: Request, name: str) -> date:
    raw = request.param(name)
    if raw is None or not _DAY.match(raw):
        raise _BadRequest(f"{name} is required, formatted YYYY-MM-DD")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _BadRequest(f"{name} is not a valid date: {raw}") from None


def _page(items: list[Any], request: Request, default_per_page: int, max_per_page: int) -> list[Any]:
    """Slice one page: `page` is 1-based; `per_page` is capped, not rejected, like Wistia."""
    page = max(1, _int_param(request, "page", 1))
    per_page = _int_param(request, "per_page", default_per_page)
    per_page = default_per_page if per_page < 1 else min(per_page, max_per_page)
    start = (page - 1) * per_page
    return items[start : start + per_page]


def _sort_key(value: Any) -> tuple[int, Any]:
    """Order None < numbers < strings without comparing across types."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value)
    return (2, str(value))


def _project_hashed_id(media: dict[str, Any]) -> str | None:
    """Older responses say `hashed_id`, newer `hashedId`: a media may carry either."""
    project = media.get("project") or {}
    return project.get("hashed_id") or project.get("hashedId")


class WistiaEmulator(Emulator):
    """In-memory Wistia account: events (visible and hidden), medias and projects."""

    service = "wistia"
    api_prefix = "/v1"
    default_rate_limit = (600, 60.0)

    def __init__(self, token: str, rate_limit: tuple[int, float] | None = None) -> None:
        super().__init__(token, rate_limit)
        self._events: list[tuple[datetime, dict[str, Any]]] = []
        self._hidden: list[tuple[datetime, dict[str, Any]]] = []
        # (clock time they become visible, received_at, event)
        self._scheduled: list[tuple[float, datetime, dict[str, Any]]] = []
        self.clock = time.monotonic  # what `visible_after` counts in; a test may set a fake one
        # [event pages still to serve before they arrive, events]
        self._arrivals: list[list[Any]] = []
        self.medias: list[dict[str, Any]] = []
        self.projects: list[dict[str, Any]] = []
        self.quirks = quirk_switches.Quirks(quirk_switches.WISTIA_QUIRKS)  # none on: see quirks.py
        self.local_utc_offset = timedelta(hours=2)  # the account's time zone under `days_in_local_time`

    # -- data ------------------------------------------------------------------------------------

    def add_events(self, events: list[dict[str, Any]], hidden: bool = False,
                   visible_after: float | None = None) -> None:
        """Add raw Wistia event dicts (kept verbatim); `hidden` ones wait for `release_hidden()`,
        ones with `visible_after` for that many seconds of `self.clock` (or `release_hidden()`,
        whichever is first)."""
        parsed = [(parse_received_at(e.get("received_at")), copy.deepcopy(e)) for e in events]
        with self.lock:
            if visible_after is not None and not hidden:
                due = self.clock() + float(visible_after)
                self._scheduled.extend((due, at, e) for at, e in parsed)
            else:
                (self._hidden if hidden else self._events).extend(parsed)

    def arrive_mid_scan(self, events: list[dict[str, Any]], after_pages: int = 1) -> None:
        """These events arrive once `after_pages` more pages of events have been served.

        Dated newer than the page already served (events are listed newest first), they push
        every later item one place down: the next page repeats the last event of the one before,
        and the new events themselves slip past the scan under way, as with Wistia.
        """
        if after_pages < 1:
            raise ValueError("after_pages must be >= 1")
        parsed = [(parse_received_at(e.get("received_at")), copy.deepcopy(e)) for e in events]
        with self.lock:
            self._arrivals.append([int(after_pages), parsed])

    def release_hidden(self) -> int:
        """Make the hidden (late) and not yet due events visible; returns how many arrived."""
        with self.lock:
            self._deliver_due()
            released = len(self._hidden) + len(self._scheduled)
            self._events.extend(self._hidden)
            self._events.extend((at, e) for _, at, e in self._scheduled)
            self._hidden.clear()
            self._scheduled.clear()
            return released

    def _deliver_due(self) -> None:
        """Scheduled events whose time has come become visible."""
        if not self._scheduled:
            return
        now = self.clock()
        due = [(at, e) for when, at, e in self._scheduled if when <= now]
        if due:
            self._scheduled = [item for item in self._scheduled if item[0] > now]
            self._events.extend(due)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Visible events (copies), in insertion order."""
        with self.lock:
            self._deliver_due()
            return [copy.deepcopy(e) for _, e in self._events]

    @property
    def hidden_events(self) -> list[dict[str, Any]]:
        """Events not visible yet (hidden, not yet due, or waiting to arrive mid-scan)."""
        with self.lock:
            self._deliver_due()
            waiting = [e for _, items in self._arrivals for _, e in items]
            return [copy.deepcopy(e) for e in [*(e for _, e in self._hidden),
                                               *(e for _, _, e in self._scheduled), *waiting]]

    def add_medias(self, medias: list[dict[str, Any]]) -> None:
        """Add medias as given; missing keys get plausible defaults, `project` stays verbatim."""
        with self.lock:
            for media in medias:
                self.medias.append(self._media_defaults(copy.deepcopy(media)))

    def add_projects(self, projects: list[dict[str, Any]]) -> None:
        """Add projects (camelCase keys, as Wistia serves them); missing keys get defaults."""
        with self.lock:
            for project in projects:
                self.projects.append(self._project_defaults(copy.deepcopy(project)))

    def _media_defaults(self, media: dict[str, Any]) -> dict[str, Any]:
        media_id = media.get("id", 1000 + len(self.medias) + 1)
        hashed = media.get("hashed_id", f"m{media_id:09d}"[-10:])
        defaults = {
            "id": media_id,
            "name": f"Media {hashed}",
            "type": "Video",
            "archived": False,
            "created": "2025-01-15T09:00:00+00:00",
            "updated": "2025-01-15T09:00:00+00:00",
            "duration": 120.0,
            "hashed_id": hashed,
            "description": "",
            "progress": 1.0,
            "status": "ready",
            "thumbnail": {
                "url": f"https://embed-ssl.wistia.com/deliveries/{hashed}.jpg?image_crop_resized=200x120",
                "width": 200,
                "height": 120,
            },
            "project": None,
        }
        return {**defaults, **media}

    def _project_defaults(self, project: dict[str, Any]) -> dict[str, Any]:
        project_id = project.get("id", 100 + len(self.projects) + 1)
        hashed = project.get("hashedId", f"p{project_id:09d}"[-10:])
        defaults = {
            "id": project_id,
            "name": f"Project {project_id}",
            "description": "",
            "mediaCount": None,  # computed when served unless given
            "created": "2024-11-04T10:00:00+00:00",
            "updated": "2025-01-15T09:00:00+00:00",
            "hashedId": hashed,
            "anonymousCanUpload": False,
            "anonymousCanDownload": False,
            "public": False,
            "publicId": hashed,
        }
        return {**defaults, **project}

    # -- HTTP ------------------------------------------------------------------------------------

    def authorized(self, request: Request) -> bool:
        """Bearer only: `api_password=` and HTTP Basic are gone from the real API."""
        scheme, _, credentials = (request.headers.get("Authorization") or "").strip().partition(" ")
        return scheme.lower() == "bearer" and credentials.strip() == self.token

    def unauthorized(self) -> Response:
        return json_response(401, {"error": "Invalid credentials.", "code": "unauthorized_credentials"})

    def rate_limited(self, decision: RateDecision) -> Response:
        return Response(
            429,
            b"Rate limit exceeded",
            "text/plain; charset=utf-8",
            {"Retry-After": str(ceil_seconds(decision.reset_seconds))},
        )

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        routes = {
            "/v1/stats/events.json": self._list_events,
            "/v1/medias.json": self._list_medias,
            "/v1/projects.json": self._list_projects,
        }
        handler = routes.get(path)
        if handler is None or request.method not in ("GET", "HEAD"):
            return json_response(404, {"error": "Not found"})
        try:
            return json_response(200, handler(request))
        except _BadRequest as exc:
            return json_response(400, {"error": str(exc)})

    def _list_events(self, request: Request) -> list[dict[str, Any]]:
        """One page of events whose `received_at` UTC day lies in [start_date, end_date]."""
        start, end = _day_param(request, "start_date"), _day_param(request, "end_date")
        self._deliver_due()
        media_id = request.param("media_id") or None
        visitor_key = request.param("visitor_key") or None
        # The quirks `days_in_local_time` and `end_date_exclusive` bend what a day means.
        shift = self.local_utc_offset if "days_in_local_time" in self.quirks else timedelta(0)
        exclusive = "end_date_exclusive" in self.quirks

        def in_range(at: datetime) -> bool:
            day = (at + shift).date()
            return start <= day < end if exclusive else start <= day <= end

        selected = [
            (at, e)
            for at, e in self._events
            if in_range(at)
            and (media_id is None or e.get("media_id") == media_id)
            and (visitor_key is None or e.get("visitor_key") == visitor_key)
        ]
        # Newest first, ties by event_key descending; sort is stable for exact duplicates.
        selected.sort(key=lambda pair: (pair[0], str(pair[1].get("event_key", ""))), reverse=True)
        page = [copy.deepcopy(e) for _, e in _page(selected, request, EVENTS_MAX_PER_PAGE, EVENTS_MAX_PER_PAGE)]
        self._page_served()
        return page

    def _page_served(self) -> None:
        """Count one served page of events towards the mid-scan arrivals."""
        for arrival in list(self._arrivals):
            arrival[0] -= 1
            if arrival[0] <= 0:
                self._events.extend(arrival[1])
                self._arrivals.remove(arrival)

    def _list_medias(self, request: Request) -> list[dict[str, Any]]:
        medias = list(self.medias)
        project_id = request.param("project_id")
        if project_id:
            medias = [
                m
                for m in medias
                if project_id in (_project_hashed_id(m), str((m.get("project") or {}).get("id")))
            ]
        medias = self._sorted(medias, request)
        return copy.deepcopy(_page(medias, request, DATA_DEFAULT_PER_PAGE, DATA_MAX_PER_PAGE))

    def _list_projects(self, request: Request) -> list[dict[str, Any]]:
        projects = []
        for project in self._sorted(list(self.projects), request):
            served = copy.deepcopy(project)
            if served.get("mediaCount") is None:
                served["mediaCount"] = sum(
                    1
                    for m in self.medias
                    if _project_hashed_id(m) == project.get("hashedId")
                    or (m.get("project") or {}).get("id") == project.get("id")
                )
            projects.append(served)
        return _page(projects, request, DATA_DEFAULT_PER_PAGE, DATA_MAX_PER_PAGE)

    @staticmethod
    def _sorted(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
        """`sort_by` a field, `sort_direction` 1 ascending (default) or 0 descending."""
        sort_by = request.param("sort_by")
        if not sort_by:
            return items
        descending = request.param("sort_direction", "1") == "0"
        return sorted(items, key=lambda item: _sort_key(item.get(sort_by)), reverse=descending)

    # -- admin -----------------------------------------------------------------------------------

    def admin_state(self) -> dict[str, Any]:
        self._deliver_due()
        return {
            **super().admin_state(),
            "events": len(self._events),
            "hidden": len(self._hidden) + len(self._scheduled),
            "medias": len(self.medias),
            "projects": len(self.projects),
        }

    def admin_route(self, request: Request) -> Response:
        """Adds `POST /_sandbox/release`: deliver the late views from another process; and
        `/_sandbox/quirks` (see quirks.py)."""
        if request.method == "POST" and request.path.rstrip("/") == "/_sandbox/release":
            return json_response(200, {"released": self.release_hidden()})
        return quirk_switches.admin_route(self.quirks, request) or super().admin_route(request)
