"""The requests and answers the emulators exchange with their HTTP server, and the answers both
APIs build (JSON, text, an injected body's content type, a status's reason phrase)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

# Test controls hang off this path on both emulators (not part of the emulated APIs, no auth).
ADMIN_PREFIX = "/_sandbox/"


@dataclass(frozen=True)
class RequestRecord:
    """One request as the emulator saw it: what tests assert on (counts, batching, auth)."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int


@dataclass
class Request:
    """A parsed incoming request handed to the emulator's routes."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Any  # http.client.HTTPMessage: case-insensitive .get()
    body: bytes = b""

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter (APIs read single-valued params this way)."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class Response:
    """What a route answers; the handler turns it into bytes on the wire."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (or before dropping)
    drop: bool = False  # close the connection without answering at all
    cut: bool = False  # send the headers and half the body, then close the connection


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer, the content type both APIs use."""
    return Response(
        status,
        json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        "application/json; charset=utf-8",
        dict(headers or {}),
    )


def text_response(status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(status, text.encode("utf-8"), content_type)


def guess_content_type(body: str) -> str:
    """Content type for an injected body: JSON if it parses, HTML if it looks like it, else text."""
    stripped = body.lstrip()
    try:
        json.loads(body)
        return "application/json; charset=utf-8"
    except ValueError:
        pass
    if stripped.startswith("<"):
        return "text/html; charset=utf-8"
    return "text/plain; charset=utf-8"


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
