"""Wistia client: stats events, medias and projects from the legacy v1 API.

Facts and rules from docs/api/wistia.md: Bearer auth only, bare JSON arrays paged with
``page``/``per_page`` (max 100, the last page is the first short one), and one bounded UTC day
of events at a time, deduplicated on ``event_key`` because pages shift while views arrive.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import date
from typing import Any

import dagster as dg
from pydantic import Field

from wistia_pipeline.settings import DEFAULT_WISTIA_API_URL, DEFAULT_WISTIA_MAX_PAGES, clean_token

from .http import DEFAULT_TIMEOUT, ApiSession
from .retry import DEFAULT_BACKOFF_BASE, DEFAULT_BACKOFF_MAX, DEFAULT_MAX_ATTEMPTS

__all__ = ["WistiaClient", "WistiaResource", "DEFAULT_WISTIA_API_URL", "DEFAULT_WISTIA_MAX_PAGES",
           "is_higher_percent"]

# docs/api/wistia.md "Limits and errors": 600 requests per minute per account, shared with the
# account's other integrations, so stay under it with headroom.
WISTIA_RATE_WINDOW_S = 60.0
DEFAULT_WISTIA_PER_MINUTE = 500

# docs/api/wistia.md: per_page is capped at 100 (and defaults to 10 on the data API): always send
# 100.
PER_PAGE = 100
# DEFAULT_WISTIA_MAX_PAGES (settings.py): pages of one day after which a fetch stops.

EVENTS_PATH = "/stats/events.json"
MEDIAS_PATH = "/medias.json"
PROJECTS_PATH = "/projects.json"


def _as_percent(value: Any) -> float | None:
    """``percent_viewed`` as a finite float, or None when missing or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def is_higher_percent(new: Any, seen: Any) -> bool:
    """Whether a repeated event's ``percent_viewed`` beats the copy already yielded.

    A missing or non-numeric new value is never higher; any number beats a missing old one.
    """
    new_pct = _as_percent(new)
    if new_pct is None:
        return False
    seen_pct = _as_percent(seen)
    return seen_pct is None or new_pct > seen_pct


def _fingerprint(items: list) -> bytes:
    """A cheap digest of a page's content, to tell a page repeated by a server that ignores `page`."""
    text = json.dumps(items, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _alias_project_hashed_id(media: Any) -> Any:
    """Give ``media.project`` both ``hashed_id`` and ``hashedId``.

    docs/api/wistia.md: older responses spell it ``hashed_id``, newer ones ``hashedId``; adding the
    missing alias (keeping the original) lets callers read either.
    """
    if isinstance(media, dict) and isinstance(media.get("project"), dict):
        project = media["project"]
        if "hashed_id" in project and "hashedId" not in project:
            project["hashedId"] = project["hashed_id"]
        elif "hashedId" in project and "hashed_id" not in project:
            project["hashed_id"] = project["hashedId"]
    return media


class WistiaClient:
    """Reads Wistia's legacy v1 API with a Bearer token (never a query parameter)."""

    service = "Wistia"

    def __init__(
        self,
        api_url: str,
        api_token: str,
        *,
        per_minute: int = DEFAULT_WISTIA_PER_MINUTE,
        timeout: tuple[float, float] | float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        max_pages: int = DEFAULT_WISTIA_MAX_PAGES,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.max_pages = max(1, int(max_pages))
        self.session = ApiSession(
            self.service,
            self.api_url,
            {"Authorization": f"Bearer {api_token}"},
            (per_minute, WISTIA_RATE_WINDOW_S),
            timeout=timeout,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            credential="API token",
            secrets=(api_token,),
        )

    def __repr__(self) -> str:
        return f"WistiaClient(api_url={self.api_url!r})"

    def close(self) -> None:
        self.session.close()

    # -- paging --------------------------------------------------------------------------

    def _get_list(self, path: str, params: dict[str, Any]) -> list:
        body = self.session.request_json("GET", path, params=params)
        if not isinstance(body, list):
            raise self.session.error(
                f"Wistia GET {path}: unexpected response shape"
                f" (expected a JSON list, got {type(body).__name__})",
                status=200, method="GET", path=path,
            )
        return body

    def _iter_pages(self, path: str, params: dict[str, Any] | None = None, *, what: str = "") -> Iterator[list]:
        """Pages of a bare-array endpoint until the first short (or empty) page.

        Only a short page ends the listing, so a server that ignores `page` (a caching proxy, a
        Wistia bug) would be paged forever, spending the account's whole rate limit: a page equal
        to the one before it, or a full page number ``max_pages``, stops with a one-line ApiError
        naming ``what`` (the day) instead.
        """
        what = what or path
        previous: bytes | None = None
        page = 1
        while True:
            items = self._get_list(path, {**(params or {}), "page": page, "per_page": PER_PAGE})
            if len(items) >= PER_PAGE:
                fingerprint = _fingerprint(items)
                if fingerprint == previous:
                    raise self.session.error(
                        f"Wistia returned the same page twice for {what} (page {page} repeats page {page - 1}):"
                        " the API or a proxy ignores `page`; the fetch was stopped. Check that WISTIA_API_URL"
                        " reaches Wistia without a caching proxy, then sync again",
                        status=None, method="GET", path=path,
                    )
                previous = fingerprint
            if items:
                yield items
            if len(items) < PER_PAGE:
                return
            if page >= self.max_pages:
                raise self.session.error(
                    f"Wistia still returned full pages for {what} at page {page} (WISTIA_MAX_PAGES={self.max_pages},"
                    f" {self.max_pages * PER_PAGE} items): the fetch was stopped. If it really holds more, raise"
                    " WISTIA_MAX_PAGES; otherwise the API or a proxy ignores `page`",
                    status=None, method="GET", path=path,
                )
            page += 1

    # -- public --------------------------------------------------------------------------

    def iter_event_pages(self, day: date) -> Iterator[list[dict]]:
        """Every viewing session of one UTC day, page by page (100 per request).

        New views arriving mid-scan shift later pages, so an ``event_key`` already yielded
        for this day is skipped unless its ``percent_viewed`` is higher (a live session only
        grows). Events without a string ``event_key`` are passed through untouched: the
        pipeline records them as bad input.
        """
        day_text = day.isoformat()
        best: dict[str, Any] = {}
        for page in self._iter_pages(EVENTS_PATH, {"start_date": day_text, "end_date": day_text}, what=day_text):
            fresh = []
            for event in page:
                key = event.get("event_key") if isinstance(event, dict) else None
                if not isinstance(key, str):
                    fresh.append(event)
                    continue
                percent = event.get("percent_viewed")
                if key in best and not is_higher_percent(percent, best[key]):
                    continue
                best[key] = percent  # first sighting, or a higher percent than before
                fresh.append(event)
            if fresh:
                yield fresh

    def iter_medias(self) -> Iterator[list[dict]]:
        """All medias, 100 per page; ``project`` carries both hashed-id spellings."""
        for page in self._iter_pages(MEDIAS_PATH, what="the medias"):
            yield [_alias_project_hashed_id(media) for media in page]

    def verify(self) -> None:
        """One cheap authenticated call; raises AuthError on 401/403."""
        self._get_list(PROJECTS_PATH, {"per_page": 1})


class WistiaResource(dg.ConfigurableResource):
    """Dagster resource for Wistia; use ``EnvVar("WISTIA_API_TOKEN")`` for the token."""

    api_token: str = Field(description="Wistia API token (secret; never logged).")
    api_url: str = Field(default=DEFAULT_WISTIA_API_URL, description="Wistia API root.")
    max_pages: int = Field(default=DEFAULT_WISTIA_MAX_PAGES,
                           description="Pages of one day after which a fetch stops (WISTIA_MAX_PAGES).")

    def __repr_args__(self):  # keep the token out of repr() and logs
        return [(k, v) for k, v in super().__repr_args__() if k != "api_token"]

    def get_client(self, **options: Any) -> WistiaClient:
        """A client with the token cleaned as `doctor` cleans it (settings.clean_token: a stray
        space or line break would otherwise pass doctor and fail the run); ``options`` are
        WistiaClient's (doctor's short timeouts), a run uses the defaults. SettingsError when
        the token is unusable."""
        token = clean_token("WISTIA_API_TOKEN", self.api_token)
        return WistiaClient(self.api_url.rstrip("/"), token, **{"max_pages": self.max_pages, **options})
