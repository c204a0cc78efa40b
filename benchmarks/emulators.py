"""Benchmark-only subclasses of the sandbox emulators, fast enough for 300,000 events.

The sandbox serves a page by filtering, sorting and deep-copying every stored event, and a contact
lookup by deep-copying every contact: right for tests of a few hundred rows, but at production
scale the emulator itself, not the pipeline, would be what is measured. These subclasses keep the
sandbox's HTTP plumbing as it is (auth, the rate limiters answering 429, the request log, faults)
and swap only the data paths for pre-serialised bytes: Wistia event pages cut once by the
generator, and Upsales contacts indexed by email and by domain. Every request is also stamped
with its time, for the posting-throughput figures. Nothing here changes `wistia_pipeline/sandbox`.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from wistia_pipeline.sandbox import Sandbox
from wistia_pipeline.sandbox.messages import Request, Response
from wistia_pipeline.sandbox.upsales_api import UpsalesEmulator
from wistia_pipeline.sandbox.wistia_api import WistiaEmulator

JSON = "application/json; charset=utf-8"


class Timeline:
    """Adds (monotonic time, method, path, status) per API request to the emulator's log."""

    timeline: list[tuple[float, str, str, int]]

    def handle(self, request: Request) -> Response:  # type: ignore[override]
        response = super().handle(request)  # type: ignore[misc]
        if not request.path.startswith("/_sandbox/"):
            self.timeline.append((time.monotonic(), request.method, request.path, response.status))
        return response


class FastWistia(Timeline, WistiaEmulator):
    """Serves generated event pages as prepared bytes; `latency` simulates Wistia's response time."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.timeline = []
        self.pages: dict[date, list[bytes]] = {}
        self.latency = 0.0

    def handle(self, request: Request) -> Response:
        if self.latency and not request.path.startswith("/_sandbox/"):
            time.sleep(self.latency)  # outside the emulator's lock, like a slow upstream
        return super().handle(request)

    def route(self, request: Request) -> Response:
        if request.path.rstrip("/") == "/v1/stats/events.json" and request.method == "GET":
            start, end = request.param("start_date"), request.param("end_date")
            extra = request.param("media_id") or request.param("visitor_key")
            if start and start == end and not extra and date.fromisoformat(start) in self.pages:
                pages = self.pages[date.fromisoformat(start)]
                number = max(1, int(request.param("page") or 1))
                body = pages[number - 1] if number <= len(pages) else b"[]"
                return Response(200, body, JSON)
        return super().route(request)


class FastUpsales(Timeline, UpsalesEmulator):
    """Answers contact lookups from email and domain indexes, and event lookups by externalId."""

    def __init__(self, token: str, customer_id: int = 1234) -> None:
        super().__init__(token, customer_id)
        self.timeline = []
        self._by_email: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self._by_domain: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        self._by_external_id: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def load_contacts(self, rows: Iterable[tuple[int, str, str, int, int, str]]) -> None:
        """(id, email_lower, domain, active, client_id, json) rows; keeps minimal objects for posts."""
        with self.lock:
            for contact_id, email, domain, active, client_id, text in rows:
                entry = (contact_id, active, text)
                self._by_email[email].append(entry)
                self._by_domain[domain].append(entry)
                self.contacts[contact_id] = {"id": contact_id, "email": email, "name": email, "active": active}
                if client_id not in self.accounts:
                    self.accounts[client_id] = {"id": client_id, "name": f"Account {client_id}", "addresses": []}

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method == "GET" and path == "/api/v2/contacts":
            found = self._contacts(request)
            if found is not None:
                return self._page(found, request)
        if request.method == "GET" and path == "/api/v2/events":
            found = self._events_by_external_id(request)
            if found is not None:
                return self._page([json.dumps(e, ensure_ascii=False) for e in found], request)
        return super().route(request)

    def _create_event(self, request: Request) -> Response:
        response = super()._create_event(request)
        if response.status == 200:
            event = self.events[-1]
            self._by_external_id[str(event.get("externalId"))].append(event)
        return response

    def _contacts(self, request: Request) -> list[str] | None:
        """The q email list or `email=src:@domain` lookups, active only; None for other queries."""
        if request.query.get("active") != ["eq:1"]:
            return None
        keys = set(request.query) - {"q", "active", "limit", "offset", "email", "token"}
        if keys:
            return None
        q, email = request.query.get("q", []), request.query.get("email", [])
        if len(q) == 1 and not email:
            data = json.loads(q[0])
            if data.get("a") != "email" or data.get("c") != "eq":
                return None
            values = data["v"] if isinstance(data["v"], list) else [data["v"]]
            hits = [e for v in {str(v).casefold() for v in values} for e in self._by_email.get(v, [])]
        elif len(email) == 1 and not q and email[0].startswith("src:@"):
            hits = list(self._by_domain.get(email[0][len("src:@"):].casefold(), []))
        else:
            return None
        return [text for _, active, text in sorted(hits) if active == 1]

    def _events_by_external_id(self, request: Request) -> list[dict[str, Any]] | None:
        q = request.query.get("q", [])
        if len(q) != 1 or set(request.query) - {"q", "limit", "offset", "token"}:
            return None
        data = json.loads(q[0])
        if not isinstance(data, dict) or data.get("a") != "externalId" or data.get("c", "eq") != "eq":
            return None
        values = data["v"] if isinstance(data["v"], list) else [data["v"]]
        found = [e for v in dict.fromkeys(map(str, values)) for e in self._by_external_id.get(v, [])]
        return sorted(found, key=lambda e: e["id"])

    @staticmethod
    def _page(items: list[str], request: Request) -> Response:
        limit = min(int(request.param("limit") or 1000), 2000)
        offset = int(request.param("offset") or 0)
        page = items[offset: offset + limit] if limit else []
        head = json.dumps({"total": len(items), "limit": limit, "offset": offset})
        return Response(200, f'{{"error":null,"metadata":{head},"data":[{",".join(page)}]}}'.encode(), JSON)


class BenchSandbox(Sandbox):
    """The sandbox with the fast emulators (same ports, tokens, env and rate limits)."""

    def __init__(self) -> None:
        super().__init__()
        self.wistia = FastWistia(token=self.wistia.token)
        self.upsales = FastUpsales(token=self.upsales.token, customer_id=self.upsales.customer_id)

    def reset_logs(self) -> None:
        for emulator in (self.wistia, self.upsales):
            with emulator.lock:
                emulator.requests.clear()
                emulator.timeline.clear()


def counts_by_endpoint(emulator: Timeline, since: float = 0.0) -> dict[str, int]:
    """Requests per `METHOD path (status class)` after `since`."""
    counts: dict[str, int] = defaultdict(int)
    for at, method, path, status in emulator.timeline:
        if at >= since:
            counts[f"{method} {path}" + ("" if status < 300 else f" [{status}]")] += 1
    return dict(counts)


