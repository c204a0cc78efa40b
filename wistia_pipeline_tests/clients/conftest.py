"""Fixtures for the client tests: a running sandbox and a network-free fake transport."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter

from wistia_pipeline.sandbox import Sandbox

WISTIA_TOKEN = "wistia-secret-token-0123456789"
UPSALES_TOKEN = "upsales-secret-key-0123456789"
CUSTOMER_ID = 1234

# Short backoff keeps retry tests fast; values, not behaviour, differ from production.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
def sb():
    """A fresh pair of emulators per test (ephemeral ports)."""
    sandbox = Sandbox(wistia_token=WISTIA_TOKEN, upsales_token=UPSALES_TOKEN,
                      customer_id=CUSTOMER_ID)
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def make_events(day: date, n: int, *, start: int = 0, prefix: str = "ev") -> list[dict]:
    """``n`` Wistia events on ``day``, the first one newest (as Wistia lists them)."""
    base = datetime(day.year, day.month, day.day, 23, 0, 0, tzinfo=timezone.utc)
    events = []
    for i in range(start, start + n):
        received = base - timedelta(seconds=10 * i)
        events.append({
            "received_at": received.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "event_key": f"{1760000000 + i}_{prefix}-{i:05d}",
            "visitor_key": f"visitor-{i}",
            "email": None,
            "percent_viewed": 0.5,
            "conversion_type": "",
            "conversion_data": {},
            "media_id": "a1b2c3d4e5",
            "media_name": "Product tour",
        })
    return events


class FakeTransport(BaseAdapter):
    """A requests adapter answering from a script: no sockets, fully deterministic.

    ``script`` is a list of (status, body, headers) or a callable(request) -> that tuple;
    the last entry repeats. ``body`` may be any JSON value or raw ``str``/``bytes``.
    """

    def __init__(self, script):
        super().__init__()
        self.script = script
        self.requests: list[requests.PreparedRequest] = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        if callable(self.script):
            status, body, headers = self.script(request)
        else:
            index = min(len(self.requests) - 1, len(self.script) - 1)
            status, body, headers = self.script[index]
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers or {})
        if isinstance(body, bytes):
            response._content = body
        elif isinstance(body, str):
            response._content = body.encode()
        else:
            response._content = jsonlib.dumps(body).encode()
            response.headers.setdefault("Content-Type", "application/json")
        response.url = request.url
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self):
        pass

    def queries(self) -> list[dict[str, list[str]]]:
        return [parse_qs(urlsplit(r.url).query) for r in self.requests]


def mount(client, script) -> FakeTransport:
    """Route every request of ``client`` (a Wistia/Upsales client or an ApiSession) to a fake."""
    session = getattr(client, "session", client)
    transport = FakeTransport(script)
    session.requests_session.mount("http://", transport)
    session.requests_session.mount("https://", transport)
    return transport


def recording_sleep() -> tuple[list[float], Callable[[float], None]]:
    slept: list[float] = []
    return slept, slept.append
