"""The Upsales emulator's data: one customer's accounts, contacts, marketing events, forms and
form submissions, in the shapes of the recorded answers (`docs/api/examples/upsales-*.json`), and the
`{"error", "metadata", "data"}` envelopes the routes answer with."""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timezone
from typing import Any

from .messages import Request, Response, json_response

API_USER = {"id": 13, "name": "API user", "email": "key@api.upsales.com"}
CUSTOMER_NAME = "Sandbox Sales AB"

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


def json_object_body(request: Request) -> dict[str, Any] | Response:
    """The request's JSON object, or Upsales' validation error for a body that is not one."""
    try:
        body = request.json()
    except ValueError:
        return validation_error("Body is not valid JSON")
    if not isinstance(body, dict):
        return validation_error("Body must be a JSON object")
    return body


def as_id(value: Any) -> int | None:
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


def full_name(first: str, last: str) -> str:
    return " ".join(part for part in (first, last) if part)


class UpsalesStore:
    """One customer's data. The base of `UpsalesEmulator`, whose lock (`Emulator.lock`) guards it:
    every request is handled under it, and `add_accounts` / `add_contacts` take it too."""

    lock: threading.RLock

    def __init__(self, customer_id: int) -> None:
        self.customer_id = customer_id
        self.accounts: dict[int, dict[str, Any]] = {}
        self.contacts: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []  # marketing events as created (deleted ones removed)
        self.deleted_event_ids: list[int] = []
        self.forms: list[dict[str, Any]] = []
        self.form_submits: list[dict[str, Any]] = []
        self._next_ids = {"event": 22401, "form": 1, "submit": 5001}

    def new_id(self, kind: str) -> int:
        """The id of the next new ``kind`` ("event", "form", "submit"), each counting on its own."""
        new = self._next_ids[kind]
        self._next_ids[kind] = new + 1
        return new

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
                    data["name"] = full_name(data["firstName"], data["lastName"])
                if not data["firstName"] and not data["lastName"] and data["name"]:
                    data["firstName"], _, data["lastName"] = data["name"].partition(" ")
                self.contacts[int(data["id"])] = data

    def client_ref(self, client: Any) -> dict[str, Any] | None:
        """A contact's `client` object as served: built from the account when it is known."""
        account_id = as_id(client)
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
        served["client"] = self.client_ref(contact.get("client"))
        return served

    def event_client(self, account: dict[str, Any]) -> dict[str, Any]:
        """The account summary an event carries (shape of docs/api/examples/upsales-event-create.json)."""
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
    def contact_summary(contact: dict[str, Any]) -> dict[str, Any]:
        """The contact summary events and form submissions carry."""
        return {k: contact.get(k) for k in ("id", "name", "email", "phone", "cellPhone", "title")}
