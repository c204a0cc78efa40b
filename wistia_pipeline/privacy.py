"""Viewers' emails out of Dagster's run storage (issue #15): the one place they are masked.

Dagster keeps every materialization's metadata, every check result and every log line for as long
as the instance lives, outside the DuckDB file's retention: it must not become a second copy of
personal data. So whatever this package hands Dagster (metadata, check results, log lines,
failures, alerts) passes `protect` or `mask_emails`, which mask every email-shaped word in the
text, whatever column, JSON field or error message it came from: `anna.berg@acme.se` becomes
`a•••@acme.se`. The domain stays (the account it matches is no secret, and it says why a view
matched by domain); contact ids and Upsales ids are numbers and stay visible for inspection.
PREVIEW_EMAILS=full turns masking off for metadata and logs (a deployment that accepts the copy).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import dagster as dg

__all__ = ["HIDDEN", "MaskingLog", "mask_email", "mask_emails", "protect"]

HIDDEN = "•••"

# An email-shaped word: a run of characters with no white space, quote, bracket, pipe or list
# separator, holding an `@`. Deliberately wider than a valid address: invalid emails (`foo@`,
# `a@b@c`) are personal data too, and a raw JSON cell or an error text holds them between quotes.
_EMAIL_LIKE = re.compile(r"""[^\s@|<>()\[\]{},;:"'`\\]*@[^\s|<>()\[\]{},;:"'`\\]*""")


def mask_email(email: str | None) -> str | None:
    """`anna@acme.se` -> `a•••@acme.se`: the first character of the local part (before the last
    `@`) and the domain, never more; `@acme.se` -> `•••@acme.se`; text without `@` -> `•••`
    (nothing of it shown); None stays None. Non-ASCII counts by character (`åsa@x.se` -> `å•••@x.se`).
    Masking a masked email gives it back unchanged."""
    if email is None:
        return None
    text = str(email).strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return HIDDEN
    if HIDDEN in (local, local[1:]):
        return text  # masked already
    return f"{local[:1]}{HIDDEN}@{domain}"


def mask_emails(text: str) -> str:
    """`text` with every email-shaped word masked (`mask_email`); the rest as it is."""
    text = str(text)
    if "@" not in text:
        return text
    return _EMAIL_LIKE.sub(lambda m: mask_email(m.group(0)) or "", text)


def _protect(value: Any) -> Any:
    if isinstance(value, str):
        return mask_emails(value)
    if isinstance(value, Mapping):
        return {_protect(k) if isinstance(k, str) else k: _protect(v) for k, v in value.items()}
    if isinstance(value, dg.MarkdownMetadataValue):
        return dg.MetadataValue.md(mask_emails(value.md_str or ""))
    if isinstance(value, dg.TextMetadataValue):
        return dg.MetadataValue.text(mask_emails(value.text or ""))
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(_protect(value.data))
    if isinstance(value, list):
        return [_protect(v) for v in value]
    if type(value) is tuple:
        return tuple(_protect(v) for v in value)
    return value  # numbers, schemas, booleans, dates: nothing personal


def protect(metadata: Any, full: bool = False) -> Any:
    """Metadata (a dict of values, MetadataValues, JSON, text) with every email masked, unless
    `full` (PREVIEW_EMAILS=full): the form anything personal takes on its way into run storage."""
    return metadata if full else _protect(metadata)


class MaskingLog:
    """A Dagster log (context.log) whose messages have their emails masked (unless `full`)."""

    def __init__(self, log: Any, full: bool = False) -> None:
        self._log, self._full = log, full

    def _text(self, message: Any) -> str:
        return str(message) if self._full else mask_emails(str(message))

    def debug(self, message: Any, *args: Any, **kwargs: Any) -> None:
        self._log.debug(self._text(message), *args, **kwargs)

    def info(self, message: Any, *args: Any, **kwargs: Any) -> None:
        self._log.info(self._text(message), *args, **kwargs)

    def warning(self, message: Any, *args: Any, **kwargs: Any) -> None:
        self._log.warning(self._text(message), *args, **kwargs)

    def error(self, message: Any, *args: Any, **kwargs: Any) -> None:
        self._log.error(self._text(message), *args, **kwargs)
