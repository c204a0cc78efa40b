"""Secrets out of error text, then the text made one short line: always in that order.

Every error message that can reach the CLI, the ledger's `last_error`, Dagster's run storage,
logs or an alert goes through `clean` (the HTTP clients' ApiError, the alert sensor). Masking
runs on the full text first: a text cut first could cut a token in two, and its head, no longer
matching, would leak.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

__all__ = ["MASK", "MIN_SECRET_CHARS", "clean", "mask", "one_line", "secret_forms"]

MASK = "***"
# Shorter values would mask ordinary words; a real token is far longer.
MIN_SECRET_CHARS = 4


def secret_forms(secret: str) -> set[str]:
    """Every way a server can echo ``secret`` back: as is, URL-encoded (both ways, lower- or
    upper-case hex: matching ignores case), JSON-escaped (with and without escaped slashes and
    non-ASCII) and HTML-escaped."""
    secret = str(secret)
    if len(secret) < MIN_SECRET_CHARS:
        return set()
    escaped = json.dumps(secret)[1:-1]
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),  # "/" left as is
        quote_plus(secret),
        quote_plus(secret, safe="/"),
        escaped,
        escaped.replace("/", "\\/"),  # PHP's json_encode escapes slashes
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
    }


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``***`` (longest first, so a whole
    ``Bearer X`` goes before its ``X``)."""
    text = str(text)
    forms: set[str] = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    if not forms:
        return text
    pattern = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.sub(pattern, MASK, text, flags=re.IGNORECASE)


def one_line(text: str, limit: int | None = None) -> str:
    """Whitespace runs (newlines included) as one space; longer than ``limit``: cut, ending "..."."""
    text = " ".join(str(text).split())
    if limit is None or len(text) <= limit:
        return text
    return text[: max(0, limit - 3)] + "..."


def clean(text: str, secrets: Iterable[str] = (), limit: int | None = None) -> str:
    """The one way error text leaves the package: masked on its full length, then one line, then cut."""
    return one_line(mask(text, secrets), limit)
