"""What a failed call to Wistia or Upsales raises, and the server's reason in it, never a token.

``ApiError`` (and ``AuthError``, ``Cancelled``) are what the clients raise; ``error_reason`` /
``reason_from_body`` read a short human reason from either API's error body; and
``secrets_from_headers`` finds the credential values a session must mask in every message
(masking itself is ``wistia_pipeline.redaction``: always before a text is cut).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import requests

from wistia_pipeline import redaction

__all__ = [
    "ApiError",
    "AuthError",
    "Cancelled",
    "REASON_MAX_CHARS",
    "auth_message",
    "error_reason",
    "reason_from_body",
    "secrets_from_headers",
    "short_reason",
]

REASON_MAX_CHARS = 200

# Header names whose values are credentials; their values are redacted from any message.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


class ApiError(Exception):
    """A call to Wistia or Upsales failed; ``str()`` is one line and never holds a token."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        message = redaction.one_line(message)  # one line, always (masked by the caller: ApiSession.error)
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.method = method
        self.path = path

    def __str__(self) -> str:
        return self.message


class AuthError(ApiError):
    """The service rejected the credentials (401) or refused access (403): retrying cannot help."""


class Cancelled(ApiError):
    """The caller gave up on the request (SIGINT/SIGTERM, another day's error): nothing the
    service did; raised instead of sleeping on, so a stopping run is not held by a backoff."""


def auth_message(service: str, credential: str, status: int, reason: str = "") -> str:
    """The text of an AuthError: a 401 rejects the credential, a 403 lacks a permission (``reason``)."""
    if status == 401:
        return f"{service} rejected the {credential} ({status})"
    short = credential.removeprefix("API ").strip() or credential
    message = f"{service} refused access ({status}): the {short} lacks a permission"
    return f"{message}: {reason}" if reason else message


def short_reason(text: str, secrets: Iterable[str]) -> str:
    """A server's reason for a message: masked on its full length, only then cut (redaction.clean)."""
    return redaction.clean(text, secrets, REASON_MAX_CHARS)


def error_reason(response: requests.Response, secrets: Iterable[str] = ()) -> str:
    """A short human reason from an error body: ``error`` (Wistia), ``error.msg`` (Upsales),
    ``errors`` (Wistia 422), ``msg``; plain text bodies as they are; HTML pages dropped.

    ``secrets`` are masked before the reason is cut: a token echoed near the cut would
    otherwise be cut in two and its head, no longer matching, kept."""
    try:
        body = response.json()
    except ValueError:
        text = (response.text or "").strip()
        if not text or text.lstrip().startswith("<"):
            return ""  # empty or an HTML error page: nothing readable
        return short_reason(text, secrets)
    return short_reason(reason_from_body(body), secrets)


def reason_from_body(body: Any) -> str:
    """Extract a readable reason from a decoded JSON error body (see error_reason)."""
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, str) and error:
        return error
    if isinstance(error, dict):
        for key in ("msg", "message", "key"):
            if isinstance(error.get(key), str) and error[key]:
                return error[key]
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors[:5])
    if isinstance(errors, (str, dict)) and errors:
        return str(errors)
    for key in ("msg", "message"):
        if isinstance(body.get(key), str) and body[key]:
            return body[key]
    return ""


def secrets_from_headers(headers: Mapping[str, str]) -> set[str]:
    """Credential values in headers, whole and by part (``Bearer X`` -> X, ``token=X`` -> X)."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() not in SECRET_HEADERS or not value:
            continue
        value = str(value)
        found.add(value)
        scheme, _, rest = value.partition(" ")
        if rest:
            found.add(rest.strip())
        for part in value.split(";"):
            _, eq, cookie_value = part.partition("=")
            if eq and cookie_value.strip():
                found.add(cookie_value.strip())
    return {s for s in found if len(s) >= redaction.MIN_SECRET_CHARS}
