"""Upsales API emulator: the `/api/v2` and `/api/external` endpoints the pipeline uses, as
documented in `api/upsales.md` and recorded in `api/examples/`.

What it reproduces because the client must cope with it: the `{"error", "metadata", "data"}`
envelopes (errors can arrive with any status), `limit`/`offset` paging with `limit=0` for a bare
count, `field=op:value` and JSON `q` filters (comma lists, nested fields, OR groups), `sort`,
the 200-per-10-seconds budget announced in `X-RateLimit-*` headers on every response (429 over
it, no `Retry-After`), token by cookie or query, and an HTML page for unknown routes.

Sandbox rule: string comparisons (`eq`, `ne`, `src`) are case-insensitive, because Upsales runs
on a case-insensitive database collation: `email=eq:Anna.Berg@ACME.se` finds `anna.berg@acme.se`.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

from . import quirks as quirk_switches
from .emulator import Emulator
from .messages import Request, Response, json_response, reason_phrase
from .ratelimit import RateDecision, ceil_seconds

DEFAULT_LIMIT = 1000
MAX_LIMIT = 2000
VALUE_MAX = 512
EXTERNAL_ID_MAX = 36
EVENT_ENTITY_TYPES = {"MarketingCustom", "marketingCustom", "manual"}
API_USER = {"id": 13, "name": "API user", "email": "key@api.upsales.com"}
CUSTOMER_NAME = "Sandbox Sales AB"
RESERVED_PARAMS = {"limit", "offset", "sort", "q", "token", "f", "f[]"}
OPERATORS = {"eq", "ne", "gt", "gte", "lt", "lte", "src"}
_EVENT_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
# The customer's time zone under the quirk `event_date_in_local_time` (CEST).
LOCAL_UTC_OFFSET = timedelta(hours=2)

NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Error</title></head>\n"
    "<body><pre>Cannot {method} {path}</pre></body>\n</html>\n"
)

# Key order and defaults follow the recorded contact in api/examples/upsales-contacts-list.json.
CONTACT_TEMPLATE: dict[str, Any] = {
    "id": None,
    "name": "",
    "phone": None,
    "phoneCountryCode": None,
    "cellPhone": None,
    "cellPhoneCountryCode": None,
    "email": "",
    "title": None,
    "notes": None,
    "client": None,
    "regDate": None,
    "active": 1,
    "modDate": "2025-01-01T00:00:00.000Z",
    "firstName": "",
    "lastName": "",
    "regBy": None,
    "categories": [],
    "custom": [],
    "userRemovable": True,
    "userEditable": True,
    "projects": [],
    "segments": [],
    "unsubscribed": None,
    "score": 0,
    "scoreUpdateDate": None,
    "connectedClients": [],
    "hasOrder": None,
    "hadOrder": None,
    "hasOpportunity": None,
    "hadOpportunity": None,
    "hasActivity": None,
    "hadActivity": None,
    "hasMail": False,
    "hasForm": False,
    "hasVisit": False,
    "hasAppointment": None,
    "hadAppointment": None,
    "unsubscribedMailCampaign": None,
    "importId": None,
    "optins": [],
    "socialEvent": [],
    "salutation": None,
    "titleCategory": None,
    "linkedin": None,
    "journeyStep": "lead",
    "firstTouch": None,
    "mailBounces": [],
    "emailBounceReason": "",
    "supportTickets": {"hasOpen": False, "hasClosed": False},
    "isPriority": False,
}

ACCOUNT_TEMPLATE: dict[str, Any] = {
    "id": None,
    "name": "",
    "phone": None,
    "fax": None,
    "webpage": "",
    "notes": None,
    "orgNo": None,
    "dunsNo": None,
    "prospectingId": None,
    "active": 1,
    "isExternal": 0,
    "score": 0,
    "scoreUpdateDate": None,
    "addresses": [],
    "users": [],
    "categories": [],
    "custom": [],
    "projects": [],
    "parent": None,
    "operationalAccount": None,
    "connectedClients": [],
    "regDate": "2024-01-10T09:00:00.000Z",
    "regBy": None,
    "modDate": "2025-01-01T00:00:00.000Z",
    "journeyStep": "lead",
    "hasActivity": None,
    "hadActivity": None,
    "hasAppointment": None,
    "hadAppointment": None,
    "hasOpportunity": None,
    "hadOpportunity": None,
    "hasOrder": None,
    "hadOrder": None,
    "hasMail": False,
    "hasForm": False,
    "hasVisit": False,
    "userRemovable": True,
    "userEditable": True,
}

EVENT_FIELDS = {
    "id", "entityType", "subType", "entityId", "client", "contacts", "users", "date", "value",
    "score", "externalId", "integrationId", "notify", "notifyUserIds", "regDate", "modDate",
}
FORM_FIELDS = {
    "id", "uuid", "name", "title", "internalName", "description", "landingPage", "buttonText",
    "thankYouTitle", "thankYouText", "fields", "score", "regDate", "modDate", "submits",
}
FORM_SUBMIT_FIELDS = {"id", "formId", "form", "contact", "client", "score", "regDate", "fieldValues"}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def error_envelope(status: int, key: str, msg: str, error_code: int | None = None) -> Response:
    """Upsales' error shape: the `error` object is what marks a failure, whatever the status."""
    body = {"error": {"key": key, "code": status, "errorCode": error_code, "msg": msg}, "metadata": None}
    return json_response(status, body)


def validation_error(msg: str) -> Response:
    return error_envelope(400, "FailedValidation", msg, 26)


class FilterError(ValueError):
    """A filter or sort Upsales would reject (400 FailedValidation)."""


# -- filters ---------------------------------------------------------------------------------------


def field_values(obj: Any, path: str) -> list[Any]:
    """Values at a dotted path; lists on the way are flattened (`contacts.id` hits every contact)."""
    current = [obj]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, list):
                item_list = item
            else:
                item_list = [item]
            for element in item_list:
                if isinstance(element, dict) and part in element:
                    nxt.append(element[part])
        current = nxt
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return 1.0 if text == "true" else 0.0
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _compare(item: Any, op: str, value: Any, case_sensitive: bool = False) -> bool:
    """One item value against one filter value (op is never `ne`; callers negate `eq`)."""
    if item is None:
        return op == "eq" and (value is None or str(value).lower() == "null")
    if isinstance(item, (bool, int, float)):
        if op == "src":
            return str(value).casefold() in str(item).casefold()
        number = _as_number(value)
        if number is None:
            return False
        left = float(item)
        return {"eq": left == number, "gt": left > number, "gte": left >= number,
                "lt": left < number, "lte": left <= number}[op]
    if isinstance(item, (dict, list)):
        return False
    # Case-insensitive collation (see module docstring); the quirk `case_sensitive_email` aside.
    left, right = str(item), "" if value is None else str(value)
    if not case_sensitive:
        left, right = left.casefold(), right.casefold()
    return {"eq": left == right, "src": right in left, "gt": left > right, "gte": left >= right,
            "lt": left < right, "lte": left <= right}[op]


@dataclass(frozen=True)
class Condition:
    """`field op values`: eq/src match any of the values, ne matches none of them."""

    field: str
    op: str
    values: tuple[Any, ...]
    case_sensitive: bool = False

    def matches(self, obj: Any) -> bool:
        items = field_values(obj, self.field)
        if self.op == "ne":
            return not any(_compare(i, "eq", v, self.case_sensitive) for i in items for v in self.values)
        if not items and self.op == "eq":
            return any(v is None or str(v).lower() == "null" for v in self.values)
        return any(_compare(i, self.op, v, self.case_sensitive) for i in items for v in self.values)


class MatchesNothing:
    """A filter the emulator (under a quirk) does not understand: it matches no item."""

    def matches(self, obj: Any) -> bool:
        return False


def _condition(field: str, op: str, values: tuple[Any, ...], quirks: frozenset[str] | set[str]) -> Any:
    """A condition, bent by the quirks `case_sensitive_email` and `no_domain_search`."""
    if field == "email" and op == "src" and "no_domain_search" in quirks:
        return MatchesNothing()
    return Condition(field, op, values, case_sensitive=field == "email" and "case_sensitive_email" in quirks)


@dataclass(frozen=True)
class AnyOf:
    """An OR group: any inner AND-list matches."""

    groups: tuple[tuple[Any, ...], ...]

    def matches(self, obj: Any) -> bool:
        return any(all(node.matches(obj) for node in group) for group in self.groups)


@dataclass(frozen=True)
class AllOf:
    nodes: tuple[Any, ...]

    def matches(self, obj: Any) -> bool:
        return all(node.matches(obj) for node in self.nodes)


def _check_field(field: str, known: set[str]) -> None:
    if not field or field.split(".", 1)[0] not in known:
        raise FilterError(f"No such attribute: {field}")


def _q_node(data: Any, known: set[str], quirks: frozenset[str] | set[str] = frozenset()) -> Any:
    """Build a node from one `q` JSON value: a condition, a list (AND) or `{"or": {"q": [...]}}`."""
    if isinstance(data, list):
        return AllOf(tuple(_q_node(item, known, quirks) for item in data))
    if isinstance(data, dict) and "or" in data:
        inner = data["or"]
        groups = inner.get("q") if isinstance(inner, dict) else inner
        if not isinstance(groups, list):
            raise FilterError("Invalid q: or needs a list of groups")
        as_lists = [group if isinstance(group, list) else [group] for group in groups]
        return AnyOf(tuple(tuple(_q_node(g, known, quirks) for g in group) for group in as_lists))
    if isinstance(data, dict) and "a" in data:
        field, op = str(data["a"]), str(data.get("c", "eq"))
        if op not in OPERATORS:
            raise FilterError(f"Invalid comparison type: {op}")
        _check_field(field, known)
        value = data.get("v")
        if isinstance(value, list) and "ignore_q_lists" in quirks:
            return MatchesNothing()
        values = tuple(value) if isinstance(value, list) else (value,)
        return _condition(field, op, values, quirks)
    raise FilterError("Invalid q filter")


def parse_filters(query: dict[str, list[str]], known: set[str],
                  quirks: frozenset[str] | set[str] = frozenset()) -> list[Any]:
    """All filters of a list request: `field=op:value` params and `q` JSON params, ANDed."""
    nodes: list[Any] = []
    for name, raws in query.items():
        if name in RESERVED_PARAMS:
            continue
        _check_field(name, known)
        for raw in raws:
            op, sep, rest = raw.partition(":")
            if not (sep and op in OPERATORS):
                op, rest = "eq", raw
            values = tuple(rest.split(",")) if op in ("eq", "ne") else (rest,)
            nodes.append(_condition(name, op, values, quirks))
    for raw in query.get("q", []):
        try:
            data = json.loads(raw)
        except ValueError:
            raise FilterError("Invalid q: not JSON") from None
        nodes.append(_q_node(data, known, quirks))
    return nodes


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, (bool, int, float)):
        return (1, float(value))
    return (2, str(value).casefold())


def sort_items(items: list[dict[str, Any]], sort_params: list[str], known: set[str]) -> list[dict[str, Any]]:
    """`sort=id`, `sort=-modDate`, several keys comma-separated or repeated; default by id."""
    keys = [k.strip() for raw in sort_params for k in raw.split(",") if k.strip()]
    result = sorted(items, key=lambda item: _sort_key(item.get("id")))
    for key in reversed(keys):
        descending = key.startswith("-")
        field = key.lstrip("-+")
        _check_field(field, known)
        result.sort(key=lambda item: _sort_key((field_values(item, field) or [None])[0]), reverse=descending)
    return result


def _as_id(value: Any) -> int | None:
    """A reference given as a number or as `{"id": n}`; None when it is neither."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _full_name(first: str, last: str) -> str:
    return " ".join(part for part in (first, last) if part)


class UpsalesEmulator(Emulator):
    """In-memory Upsales customer: accounts, contacts, marketing events, forms and submissions."""

    service = "upsales"
    api_prefix = "/api"
    default_rate_limit = (200, 10.0)

    def __init__(self, token: str, customer_id: int = 1234, rate_limit: tuple[int, float] | None = None) -> None:
        super().__init__(token, rate_limit)
        self.customer_id = customer_id
        self.accounts: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # marketing events as created (deleted ones removed)
        self.deleted_event_ids: list[int] = []
        self.forms: list[dict[str, Any]] = []
        self.form_submits: list[dict[str, Any]] = []
        self._next_event_id = 22401
        self._next_form_id = 1
        self._next_submit_id = 5001
        self.quirks = quirk_switches.Quirks(quirk_switches.UPSALES_QUIRKS)  # none on: see quirks.py

    # -- data ------------------------------------------------------------------------------------

    def add_accounts(self, accounts: list[dict[str, Any]]) -> None:
        """Add accounts (`client` elsewhere); missing keys get the defaults of the real shape."""
        with self.lock:
            for account in accounts:
                data = {**copy.deepcopy(ACCOUNT_TEMPLATE), **copy.deepcopy(account)}
                if data["id"] is None:
                    data["id"] = max(self.accounts, default=0) + 1
                self.accounts[int(data["id"])] = data

    def add_contacts(self, contacts: list[dict[str, Any]]) -> None:
        """Add contacts; `client` may be an account id or `{"id": n}` (served from the account)."""
        with self.lock:
            for contact in contacts:
                data = {**copy.deepcopy(CONTACT_TEMPLATE), **copy.deepcopy(contact)}
                if data["id"] is None:
                    data["id"] = max(self.contacts, default=0) + 1
                if not data["name"]:
                    data["name"] = _full_name(data["firstName"], data["lastName"])
                if not data["firstName"] and not data["lastName"] and data["name"]:
                    data["firstName"], _, data["lastName"] = data["name"].partition(" ")
                self.contacts[int(data["id"])] = data

    def _client_ref(self, client: Any) -> dict[str, Any] | None:
        """A contact's `client` object as served: built from the account when it is known."""
        account_id = _as_id(client)
        account = self.accounts.get(account_id) if account_id is not None else None
        if account is None:
            return copy.deepcopy(client) if isinstance(client, dict) else ({"id": account_id} if account_id else None)
        return {
            "operationalAccount": account.get("operationalAccount"),
            "addresses": copy.deepcopy(account.get("addresses") or []),
            "name": account["name"],
            "id": account["id"],
            "users": copy.deepcopy(account.get("users") or []),
        }

    def served_contact(self, contact: dict[str, Any]) -> dict[str, Any]:
        served = copy.deepcopy(contact)
        served["client"] = self._client_ref(contact.get("client"))
        return served

    def _event_client(self, account: dict[str, Any]) -> dict[str, Any]:
        """The account summary an event carries (shape of api/examples/upsales-event-create.json)."""
        address = (account.get("addresses") or [{}])[0]
        return {
            "id": account["id"],
            "name": account["name"],
            "country": address.get("country"),
            "city": address.get("city"),
            "isExternal": account.get("isExternal", 0),
            "dunsNo": account.get("dunsNo"),
            "prospectingId": account.get("prospectingId"),
            **{k: account.get(k) for k in (
                "hasActivity", "hadActivity", "hasAppointment", "hadAppointment", "hasOpportunity",
                "hadOpportunity", "hasOrder", "hadOrder", "hasMail", "hasForm", "hasVisit")},
        }

    @staticmethod
    def _contact_summary(contact: dict[str, Any]) -> dict[str, Any]:
        return {k: contact.get(k) for k in ("id", "name", "email", "phone", "cellPhone", "title")}

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
            if len(rest) == 1 and method in ("GET", "DELETE"):
                try:
                    item_id = int(rest[0])
                except ValueError:
                    return validation_error(f"Invalid id: {rest[0]}")
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
        if resource == "events" and "external_id_in_marketing_custom" in self.quirks and "externalId" in item:
            external_id = item["externalId"]
            item = {k: v for k, v in item.items() if k != "externalId"}
            item["marketingCustom"] = {"externalId": external_id}
        if "field_values_by_id" in self.quirks:
            if resource == "forms":
                ids = self._field_ids(item)
                item = {**item, "fields": [{**f, "id": ids[f.get("name")]} if isinstance(f, dict) and f.get("name") in ids
                                           else f for f in item.get("fields") or []]}
            elif resource == "formSubmits":
                form = next((f for f in self.forms if f["id"] == item.get("formId")), {})
                ids = self._field_ids(form)
                item = {**item, "fieldValues": [
                    {"fieldId": ids[v["name"]], "value": v.get("value")} if isinstance(v, dict) and v.get("name") in ids
                    else v for v in item.get("fieldValues") or []]}
        return item

    @staticmethod
    def _field_ids(form: dict[str, Any]) -> dict[str, int]:
        """Numeric ids for a form's fields under `field_values_by_id`: stable, unique per form."""
        return {f["name"]: f.get("id") or int(form["id"]) * 1000 + n + 1
                for n, f in enumerate(form.get("fields") or []) if isinstance(f, dict) and f.get("name")}

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

    def _create_event(self, request: Request) -> Response:
        """Validate like Upsales does for marketing events, then store and echo the new entry."""
        try:
            body = request.json()
        except ValueError:
            return validation_error("Body is not valid JSON")
        if not isinstance(body, dict):
            return validation_error("Body must be a JSON object")
        entity_type = body.get("entityType")
        if not entity_type:
            return validation_error("Missing required field: entityType")
        if entity_type not in EVENT_ENTITY_TYPES:
            return validation_error(f"Invalid entityType: {entity_type}")
        sub_type = body.get("subType")
        if entity_type.lower() == "marketingcustom" and not (isinstance(sub_type, str) and sub_type.strip()):
            return validation_error("Missing required field: subType")
        if body.get("client") is None:
            return validation_error("Missing required field: client")
        client_id = _as_id(body["client"])
        if client_id is None:
            return validation_error("Invalid client: must be an account id")
        account = self.accounts.get(client_id)
        if account is None:
            return validation_error(f"Invalid client: no account with id {client_id}")
        contact = None
        if body.get("contact") is not None:
            contact_id = _as_id(body["contact"])
            contact = self.contacts.get(contact_id) if contact_id is not None else None
            if contact is None:
                return validation_error(f"Invalid contact: {body['contact']!r}")
        value = body.get("value")
        if value is not None and not isinstance(value, str):
            return validation_error("Invalid value: must be a string")
        if value is not None and len(value) > VALUE_MAX:
            return validation_error(f"Invalid value: max {VALUE_MAX} characters")
        external_id = body.get("externalId")
        if external_id is not None and not isinstance(external_id, str):
            return validation_error("Invalid externalId: must be a string")
        if external_id is not None and len(external_id) > EXTERNAL_ID_MAX:
            return validation_error(f"Invalid externalId: max {EXTERNAL_ID_MAX} characters")
        score = body.get("score", 0)
        if score is None:
            score = 0
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return validation_error("Invalid score: must be a number")
        date_value = body.get("date")
        if date_value is not None:
            if not isinstance(date_value, str) or not _EVENT_DATE.match(date_value):
                return validation_error("Invalid date: expected YYYY-MM-DD HH:mm:ss")
            try:
                when = datetime.strptime(date_value, "%Y-%m-%d %H:%M:%S")
            except ValueError:
                return validation_error(f"Invalid date: {date_value}")
            if "event_date_in_local_time" in self.quirks:
                when -= LOCAL_UTC_OFFSET
            date_iso = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        else:
            date_iso = now_iso()
        event = {
            "id": self._next_event_id,
            "entityType": entity_type,
            "subType": sub_type or "",
            "entityId": 0,
            "client": self._event_client(account),
            "contacts": [self._contact_summary(contact)] if contact is not None else None,
            "users": [dict(API_USER)],
            "date": date_iso,
            "value": value if value is not None else "",
            "score": score,
            "externalId": external_id,
            "integrationId": body.get("integrationId"),
            "notify": body.get("notify"),
            "notifyUserIds": body.get("notifyUserIds"),
            "regDate": now_iso(),
        }
        self._next_event_id += 1
        self.events.append(event)
        return json_response(200, {"error": None, "data": self._serve("events", copy.deepcopy(event))})

    def _delete_event(self, event_id: int) -> Response:
        for event in self.events:
            if event["id"] == event_id:
                self.events.remove(event)
                self.deleted_event_ids.append(event_id)
                return json_response(200, {"error": None})
        return error_envelope(404, "NotFound", f"No event with id {event_id}", 404)

    def _create_form(self, request: Request) -> Response:
        """Lenient form create (the exact required set is unverified): `name` is enough."""
        try:
            body = request.json()
        except ValueError:
            return validation_error("Body is not valid JSON")
        if not isinstance(body, dict) or not (isinstance(body.get("name"), str) and body["name"].strip()):
            return validation_error("Missing required field: name")
        if not isinstance(body.get("fields", []), list):
            return validation_error("Invalid fields: must be a list")
        form = {
            "title": body["name"],
            "internalName": body["name"],
            "description": "",
            "landingPage": "",
            "buttonText": "Send",
            "thankYouTitle": "",
            "thankYouText": "",
            "fields": [],
            "score": 0,
            **copy.deepcopy(body),
            "id": self._next_form_id,
            "uuid": f"{self.customer_id}u{uuid.uuid4().hex}",
            "regDate": now_iso(),
            "modDate": now_iso(),
            "submits": 0,
        }
        self._next_form_id += 1
        self.forms.append(form)
        return json_response(200, {"error": None, "data": copy.deepcopy(form)})

    def _form_submit(self, request: Request) -> Response:
        """`application/x-www-form-urlencoded` submit as Upsales' embeds post it; answers the id."""
        fields = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
        if fields.get("formCid") != str(self.customer_id):
            return validation_error("Invalid formCid")
        form = next((f for f in self.forms if f["uuid"] == fields.get("formId")), None)
        if form is None:
            return validation_error("Invalid formId")
        email = fields.get("Contact.email", "").strip()
        if "@" not in email:
            return validation_error("Invalid Contact.email")
        candidates = [
            c
            for c in self.contacts.values()
            if c.get("active") == 1 and str(c.get("email", "")).casefold() == email.casefold()
        ]
        contact = max(candidates, key=lambda c: (str(c.get("modDate") or ""), c["id"]), default=None)
        account_id = _as_id(contact.get("client")) if contact else None
        account = self.accounts.get(account_id) if account_id is not None else None
        submit = {
            "id": self._next_submit_id,
            "formId": form["id"],
            "form": {"id": form["id"], "name": form["name"]},
            "contact": self._contact_summary(contact) if contact else None,
            "client": {"id": account["id"], "name": account["name"]} if account else None,
            "score": form.get("score", 0),
            "regDate": now_iso(),
            "fieldValues": [
                {"name": k, "value": v} for k, v in fields.items() if k.startswith(("Contact.", "Client.", "Extra."))
            ],
        }
        self._next_submit_id += 1
        form["submits"] += 1
        self.form_submits.append(submit)
        return Response(200, str(submit["id"]).encode(), "text/plain; charset=utf-8")

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
