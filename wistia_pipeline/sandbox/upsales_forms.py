"""Upsales' forms in the emulator: create a form (`POST /v2/forms`), the public form submit that
browser embeds post to (`POST /api/external/formSubmit`), and the shapes forms and submissions are
served in (numeric field ids under the quirk `field_values_by_id`)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Set
from typing import Any
from urllib.parse import parse_qs

from .messages import Request, Response, json_response
from .upsales_store import UpsalesStore, as_id, now_iso, validation_error

FORM_FIELDS = {
    "id", "uuid", "name", "title", "internalName", "description", "landingPage", "buttonText",
    "thankYouTitle", "thankYouText", "fields", "score", "regDate", "modDate", "submits",
}
FORM_SUBMIT_FIELDS = {"id", "formId", "form", "contact", "client", "score", "regDate", "fieldValues"}


def field_ids(form: dict[str, Any]) -> dict[str, int]:
    """Numeric ids for a form's fields under `field_values_by_id`: stable, unique per form."""
    return {f["name"]: f.get("id") or int(form["id"]) * 1000 + n + 1
            for n, f in enumerate(form.get("fields") or []) if isinstance(f, dict) and f.get("name")}


def served_form(item: dict[str, Any], quirks: Set[str]) -> dict[str, Any]:
    """A form as answered: its fields carry numeric ids under the quirk `field_values_by_id`."""
    if "field_values_by_id" not in quirks:
        return item
    ids = field_ids(item)
    return {**item, "fields": [{**f, "id": ids[f.get("name")]} if isinstance(f, dict) and f.get("name") in ids
                               else f for f in item.get("fields") or []]}


def served_form_submit(item: dict[str, Any], forms: list[dict[str, Any]], quirks: Set[str]) -> dict[str, Any]:
    """A submission as answered: under the quirk `field_values_by_id` its fieldValues name the
    form's field by `fieldId`, not by `name`."""
    if "field_values_by_id" not in quirks:
        return item
    form = next((f for f in forms if f["id"] == item.get("formId")), {})
    ids = field_ids(form)
    return {**item, "fieldValues": [
        {"fieldId": ids[v["name"]], "value": v.get("value")} if isinstance(v, dict) and v.get("name") in ids
        else v for v in item.get("fieldValues") or []]}


def create_form(store: UpsalesStore, request: Request) -> Response:
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
        "id": store.new_id("form"),
        "uuid": f"{store.customer_id}u{uuid.uuid4().hex}",
        "regDate": now_iso(),
        "modDate": now_iso(),
        "submits": 0,
    }
    store.forms.append(form)
    return json_response(200, {"error": None, "data": copy.deepcopy(form)})


def form_submit(store: UpsalesStore, request: Request) -> Response:
    """`application/x-www-form-urlencoded` submit as Upsales' embeds post it; answers the id."""
    fields = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()}
    if fields.get("formCid") != str(store.customer_id):
        return validation_error("Invalid formCid")
    form = next((f for f in store.forms if f["uuid"] == fields.get("formId")), None)
    if form is None:
        return validation_error("Invalid formId")
    email = fields.get("Contact.email", "").strip()
    if "@" not in email:
        return validation_error("Invalid Contact.email")
    candidates = [
        c
        for c in store.contacts.values()
        if c.get("active") == 1 and str(c.get("email", "")).casefold() == email.casefold()
    ]
    contact = max(candidates, key=lambda c: (str(c.get("modDate") or ""), c["id"]), default=None)
    account_id = as_id(contact.get("client")) if contact else None
    account = store.accounts.get(account_id) if account_id is not None else None
    submit = {
        "id": store.new_id("submit"),
        "formId": form["id"],
        "form": {"id": form["id"], "name": form["name"]},
        "contact": store.contact_summary(contact) if contact else None,
        "client": {"id": account["id"], "name": account["name"]} if account else None,
        "score": form.get("score", 0),
        "regDate": now_iso(),
        "fieldValues": [
            {"name": k, "value": v} for k, v in fields.items() if k.startswith(("Contact.", "Client.", "Extra."))
        ],
    }
    form["submits"] += 1
    store.form_submits.append(submit)
    return Response(200, str(submit["id"]).encode(), "text/plain; charset=utf-8")

