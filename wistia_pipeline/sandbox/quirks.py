"""Quirks: switches that make an emulator behave like a wrong API assumption, one per behaviour
`wistia-pipeline probe` checks, so every red line of the probe (and the pipeline's tolerance where
it has one) can be tested against the sandbox.

Every emulator starts with no quirk on, answering exactly as without this module. Set them
in-process (`sandbox.upsales.quirks.add("ignore_q_lists")`) or, for a sandbox in another process,
through the admin API: `GET /_sandbox/quirks` lists the ones on and the ones known,
`POST /_sandbox/quirks` with a name or a list of names adds them, `DELETE /_sandbox/quirks`
clears them (`?name=<quirk>`: that one only). `set_quirks_remote` does the POST.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from .messages import ADMIN_PREFIX, Request, Response, json_response

QUIRKS_PATH = ADMIN_PREFIX + "quirks"

UPSALES_QUIRKS: dict[str, str] = {
    "ignore_q_lists": "a list value in a `q` filter matches nothing (Upsales reads the list as one value)",
    "case_sensitive_email": "filters on `email` compare case-sensitively",
    "no_domain_search": "`email=src:...` (substring) matches nothing",
    "reject_external_id_filter": "events cannot be filtered by `externalId` (400 No such attribute)",
    "no_rate_headers": "no X-RateLimit-* headers on any answer",
    "external_id_in_marketing_custom": "events carry `externalId` inside `marketingCustom`, not at the top level",
    "field_values_by_id": "form fields carry numeric ids; a submission's fieldValues carry `fieldId`, not `name`",
    "no_event_delete": "DELETE /v2/events/{id} answers 405",
    "event_date_in_local_time": "an event's `date` is read as local time (UTC+2) and served in UTC",
    "no_customer_id_in_self": "GET /v2/self has no clients[0].clientId",
    "reject_form_name_filter": "forms cannot be filtered by `name` (400 No such attribute)",
    "reject_form_submit_filter": "form submissions cannot be filtered by `formId` (400 No such attribute)",
    "no_form_score": "forms are answered without `score` (kept and applied to submissions as always)",
}

WISTIA_QUIRKS: dict[str, str] = {
    "days_in_local_time": "start_date/end_date are days of the account's time zone (UTC+2), not UTC days",
    "end_date_exclusive": "end_date is exclusive: start_date=end_date=D returns nothing",
}


class Quirks(set):
    """The quirks switched on; adding a name the emulator does not know raises ValueError, so a
    typo in a test cannot pass silently as "quirk on"."""

    def __init__(self, known: Mapping[str, str]) -> None:
        super().__init__()
        self.known = dict(known)

    def _check(self, names: Iterable[Any]) -> list[str]:
        names = list(names)
        unknown = sorted(str(n) for n in names if n not in self.known)
        if unknown:
            raise ValueError(f"unknown quirk(s) {', '.join(unknown)}; known: {', '.join(sorted(self.known))}")
        return names

    def add(self, name: str) -> None:
        super().add(self._check([name])[0])

    def update(self, *others: Iterable[str]) -> None:
        for names in others:
            super().update(self._check(names))

    def __ior__(self, other):  # `quirks |= {...}` validates too
        self.update(other)
        return self


def admin_route(quirks: Quirks, request: Request) -> Response | None:
    """The `/_sandbox/quirks` admin route, or None when the request is for another admin path."""
    if request.path.rstrip("/") != QUIRKS_PATH:
        return None
    if request.method == "POST":
        try:
            data = request.json()
            names = data.get("quirks") if isinstance(data, dict) else data
            quirks.update([names] if isinstance(names, str) else list(names or []))
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": f"invalid quirks: {exc}"})
    elif request.method == "DELETE":
        name = request.param("name")
        if name:
            quirks.discard(name)
        else:
            quirks.clear()
    elif request.method != "GET":
        return json_response(405, {"error": "GET, POST or DELETE"})
    return json_response(200, {"quirks": sorted(quirks), "known": quirks.known})


def set_quirks_remote(root_url: str, *names: str, timeout: float = 5.0) -> list[str]:
    """Switch quirks on in a sandbox running in another process; returns the quirks now on."""
    import urllib.request

    root = root_url.rstrip("/")
    for suffix in ("/v1", "/api"):
        root = root.removesuffix(suffix)
    request = urllib.request.Request(root + QUIRKS_PATH, data=json.dumps(list(names)).encode("utf-8"),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback only
        return json.loads(answer.read())["quirks"]
