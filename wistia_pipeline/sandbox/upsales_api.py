"""Upsales API emulator: the `/api/v2` and `/api/external` endpoints the pipeline uses, as
documented in `docs/api/upsales.md` and recorded in `docs/api/examples/`.

What it reproduces because the client must cope with it: the `{"error", "metadata", "data"}`
envelopes (errors can arrive with any status), `limit`/`offset` paging with `limit=0` for a bare
count, `field=op:value` and JSON `q` filters (comma lists, nested fields, OR groups), `sort`,
the 200-per-10-seconds budget announced in `X-RateLimit-*` headers on every response (429 over
it, no `Retry-After`), token by cookie or query, and an HTML page for unknown routes.

Here: the routes, paging and the API's own answers (auth, 429, errors); the data and its shapes
are in upsales_store.py, the filters in upsales_filters.py, event writes in upsales_events.py,
forms and form submits in upsales_forms.py. (Sandbox rule, there: string comparisons are
case-insensitive, as on Upsales' database collation.)
"""

from __future__ import annotations

import copy
from typing import Any

from . import quirks as quirk_switches
from .emulator import Emulator
from .messages import Request, Response, json_response, reason_phrase
from .ratelimit import RateDecision, ceil_seconds
from .upsales_events import EVENT_FIELDS, create_event, delete_event, served_event
from .upsales_filters import FilterError, parse_filters, sort_items
from .upsales_forms import (
    FORM_FIELDS,
    FORM_SUBMIT_FIELDS,
    create_form,
    form_submit,
    served_form,
    served_form_submit,
    update_form,
)
from .upsales_store import (
    ACCOUNT_TEMPLATE,
    API_USER,
    CONTACT_TEMPLATE,
    CUSTOMER_NAME,
    UpsalesStore,
    error_envelope,
    validation_error,
)

DEFAULT_LIMIT = 1000
MAX_LIMIT = 2000

NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Error</title></head>\n"
    "<body><pre>Cannot {method} {path}</pre></body>\n</html>\n"
)


class UpsalesEmulator(UpsalesStore, Emulator):
    """In-memory Upsales customer: accounts, contacts, marketing events, forms and submissions."""

    service = "upsales"
    api_prefix = "/api"
    default_rate_limit = (200, 10.0)

    def __init__(self, token: str, customer_id: int = 1234, rate_limit: tuple[int, float] | None = None) -> None:
        Emulator.__init__(self, token, rate_limit)
        UpsalesStore.__init__(self, customer_id)
        self.quirks = quirk_switches.Quirks(quirk_switches.UPSALES_QUIRKS)  # none on: see quirks.py

    # -- HTTP plumbing ---------------------------------------------------------------------------

    def requires_auth(self, request: Request) -> bool:
        """`/api/external/formSubmit` is the public endpoint browser form embeds post to."""
        return not request.path.startswith("/api/external/")

    def authorized(self, request: Request) -> bool:
        """The key as `Cookie: token=<key>` (what Upsales' apps send) or `?token=<key>`."""
        offered = list(request.query.get("token", []))
        for part in (request.headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "token":
                offered.append(value)
        return self.token in offered

    def unauthorized(self) -> Response:
        return error_envelope(401, "Unauthorized", "Invalid or missing API key", 1)

    def rate_limited(self, decision: RateDecision) -> Response:
        return error_envelope(429, "TooManyRequests", "Rate limit exceeded, try again later", 429)

    def budget_headers(self, decision: RateDecision) -> dict[str, str]:
        if "no_rate_headers" in self.quirks:
            return {}
        return {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(ceil_seconds(decision.reset_seconds)),
        }

    def default_error(self, status: int) -> Response:
        return error_envelope(status, reason_phrase(status).replace(" ", ""), f"Injected failure ({status})", status)

    def not_found_page(self, request: Request) -> Response:
        html = NOT_FOUND_HTML.format(method=request.method, path=request.path)
        return Response(404, html.encode("utf-8"), "text/html; charset=utf-8")

    def route(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        method = request.method
        parts = path.split("/")[1:]  # ["api", "v2", "contacts", ...]
        try:
            if parts[:2] == ["api", "external"] and parts[2:] == ["formSubmit"] and method == "POST":
                return self._form_submit(request)
            if parts[:2] != ["api", "v2"] or len(parts) < 3:
                return self.not_found_page(request)
            resource, rest = parts[2], parts[3:]
            if resource == "self" and not rest and method == "GET":
                return self._self()
            collections = {
                "contacts": (lambda: [self.served_contact(c) for c in self.contacts.values()], set(CONTACT_TEMPLATE)),
                "accounts": (lambda: [copy.deepcopy(a) for a in self.accounts.values()], set(ACCOUNT_TEMPLATE)),
                "events": (lambda: copy.deepcopy(self.events), EVENT_FIELDS),
                "forms": (lambda: copy.deepcopy(self.forms), FORM_FIELDS),
                "formSubmits": (lambda: copy.deepcopy(self.form_submits), FORM_SUBMIT_FIELDS),
            }
            if resource not in collections:
                return self.not_found_page(request)
            load, known = collections[resource]
            known = known - self._unfilterable(resource)
            if not rest and method == "GET":
                if resource == "events" and not request.query.get("q"):
                    return validation_error("Missing required parameter: q")
                return self._list(load(), request, known, serve=lambda item: self._serve(resource, item))
            if not rest and method == "POST" and resource == "events":
                return self._create_event(request)
            if not rest and method == "POST" and resource == "forms":
                return self._create_form(request)
            if len(rest) == 1 and method in ("GET", "DELETE", "PUT"):
                try:
                    item_id = int(rest[0])
                except ValueError:
                    return validation_error(f"Invalid id: {rest[0]}")
                if method == "PUT":
                    return self._update_form(item_id, request) if resource == "forms" else self.not_found_page(request)
                if method == "DELETE":
                    if resource == "events" and "no_event_delete" in self.quirks:
                        return error_envelope(405, "MethodNotAllowed", "Events cannot be deleted", 405)
                    return self._delete_event(item_id) if resource == "events" else self.not_found_page(request)
                found = [item for item in load() if item.get("id") == item_id]
                if not found:
                    return error_envelope(404, "NotFound", f"No {resource} with id {item_id}", 404)
                return json_response(200, {"error": None, "data": self._serve(resource, found[0])})
            return self.not_found_page(request)
        except FilterError as exc:
            return validation_error(str(exc))

    # -- routes ----------------------------------------------------------------------------------

    def _self(self) -> Response:
        data = {**API_USER, "clients": [{"clientId": self.customer_id, "name": CUSTOMER_NAME}]}
        if "no_customer_id_in_self" in self.quirks:
            data["clients"] = []
        return json_response(200, {"error": None, "data": data})

    # -- quirks (see quirks.py): filters refused, shapes served differently ----------------------

    def _unfilterable(self, resource: str) -> set[str]:
        """Attributes a quirk makes Upsales refuse to filter on (400 No such attribute)."""
        refused = {("events", "reject_external_id_filter"): "externalId",
                   ("forms", "reject_form_name_filter"): "name",
                   ("formSubmits", "reject_form_submit_filter"): "formId"}
        return {attribute for (where, quirk), attribute in refused.items() if where == resource and quirk in self.quirks}

    def _serve(self, resource: str, item: Any) -> Any:
        """An item as answered: stored as always, shaped by the quirks that change read-backs."""
        if not isinstance(item, dict):
            return item
        if resource == "events":
            return served_event(item, self.quirks)
        if resource == "forms":
            return served_form(item, self.quirks)
        if resource == "formSubmits":
            return served_form_submit(item, self.forms, self.quirks)
        return item

    def _list(self, items: list[dict[str, Any]], request: Request, known: set[str], serve=None) -> Response:
        """Filter, sort and page (`serve` shapes each answered item); `limit=0` answers the total alone."""
        try:
            limit = int(request.param("limit", str(DEFAULT_LIMIT)) or DEFAULT_LIMIT)
            offset = int(request.param("offset", "0") or 0)
        except ValueError:
            return validation_error("limit and offset must be integers")
        if limit < 0 or offset < 0:
            return validation_error("limit and offset must not be negative")
        limit = min(limit, MAX_LIMIT)
        nodes = parse_filters(request.query, known, self.quirks)
        selected = [item for item in items if all(node.matches(item) for node in nodes)]
        selected = sort_items(selected, request.query.get("sort", []), known)
        page = selected[offset : offset + limit] if limit else []
        if serve is not None:
            page = [serve(item) for item in page]
        body = {"error": None, "metadata": {"total": len(selected), "limit": limit, "offset": offset}, "data": page}
        return json_response(200, body)

    # -- writes (upsales_events.py, upsales_forms.py); methods, so that a subclass can wrap them --

    def _create_event(self, request: Request) -> Response:
        return create_event(self, request, self.quirks)

    def _delete_event(self, event_id: int) -> Response:
        return delete_event(self, event_id)

    def _create_form(self, request: Request) -> Response:
        return create_form(self, request, self.quirks)

    def _update_form(self, form_id: int, request: Request) -> Response:
        return update_form(self, form_id, request, self.quirks)

    def _form_submit(self, request: Request) -> Response:
        return form_submit(self, request)

    # -- admin -----------------------------------------------------------------------------------

    def admin_route(self, request: Request) -> Response:
        """Adds `/_sandbox/quirks` (see quirks.py) to the base admin routes."""
        return quirk_switches.admin_route(self.quirks, request) or super().admin_route(request)

    def admin_state(self) -> dict[str, Any]:
        return {
            **super().admin_state(),
            "events": copy.deepcopy(self.events),
            "deleted_event_ids": list(self.deleted_event_ids),
            "forms": copy.deepcopy(self.forms),
            "formSubmits": copy.deepcopy(self.form_submits),
            "accounts": len(self.accounts),
            "contacts": len(self.contacts),
        }
