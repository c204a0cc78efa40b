"""Upsales' forms in the emulator: create a form (`POST /v2/forms`), update one (`PUT
/v2/forms/{id}`), the public form submit that browser embeds post to (`POST
/api/external/formSubmit`), which adds the form's `score` to the matched contact's, and the shapes
forms and submissions are served in (numeric field ids under the quirk `field_values_by_id`)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Set
from typing import Any
from urllib.parse import parse_qs

from .messages import Request, Response, json_response
from .upsales_store import json_object_body, UpsalesStore, as_id, error_envelope, now_iso, validation_error

FORM_FIELDS = {
    "id", "uuid", "name", "title", "internalName", "description", "landingPage", "buttonText",
    "thankYouTitle", "thankYouText", "fields", "score", "regDate", "modDate", "submits",
}
FORM_SUBMIT_FIELDS = {"id", "formId", "form", "contact", "client", "score", "regDate", "fieldValues"}
# What a PUT may not change: set by Upsales.
READ_ONLY_FORM_FIELDS = {"id", "uuid", "regDate", "modDate", "submits"}
# (Sandbox rule) the range a form's score is accepted in: the official bound is not documented.
MAX_FORM_SCORE = 1000


def field_ids(form: dict[str, Any]) -> dict[str, int]:
    """Numeric ids for a form's fields under `field_values_by_id`: stable, unique per form."""
    return {f["name"]: f.get("id") or int(form["id"]) * 1000 + n + 1
            for n, f in enumerate(form.get("fields") or []) if isinstance(f, dict) and f.get("name")}


def written_form(item: dict[str, Any], quirks: Set[str]) -> dict[str, Any]:
    """A form as a create or update echoes it: without its `score` under the quirk `no_form_score`."""
    return {k: v for k, v in item.items() if k != "score"} if "no_form_score" in quirks else item


def served_form(item: dict[str, Any], quirks: Set[str]) -> dict[str, Any]:
    """A form as answered: without its `score` under the quirk `no_form_score`; its fields carry
    numeric ids under the quirk `field_values_by_id`."""
    item = written_form(item, quirks)
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


def form_problem(body: dict[str, Any]) -> str | None:
    """What is wrong with the fields of a form create or update, as Upsales' message; None: fine."""
    if "name" in body and not (isinstance(body["name"], str) and body["name"].strip()):
        return "Invalid name: must be a non-empty string"
    if not isinstance(body.get("fields", []), list):
        return "Invalid fields: must be a list"
    score = body.get("score", 0)
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MAX_FORM_SCORE:
        return f"Invalid score: must be a whole number from 0 to {MAX_FORM_SCORE}"
    return None


def create_form(store: UpsalesStore, request: Request, quirks: Set[str] = frozenset()) -> Response:
    """Lenient form create (the exact required set is unverified): `name` is enough."""
    try:
        body = request.json()
    except ValueError:
        return validation_error("Body is not valid JSON")
    if not isinstance(body, dict) or not (isinstance(body.get("name"), str) and body["name"].strip()):
        return validation_error("Missing required field: name")
    if (problem := form_problem(body)) is not None:
        return validation_error(problem)
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
    form["score"] = int(form["score"])
    store.forms.append(form)
    return json_response(200, {"error": None, "data": written_form(copy.deepcopy(form), quirks)})


def update_form(store: UpsalesStore, form_id: int, request: Request, quirks: Set[str] = frozenset()) -> Response:
    """`PUT /v2/forms/{id}`: the fields given replace the form's (the others are kept), so sending
    the same body twice leaves the form as once; 404 for a form that does not exist."""
    form = next((f for f in store.forms if f["id"] == form_id), None)
    if form is None:
        return error_envelope(404, "NotFound", f"No forms with id {form_id}", 404)
    body = json_object_body(request)
    if isinstance(body, Response):
        return body
    if body.get("id") is not None and as_id(body["id"]) != form_id:
        return validation_error(f"Invalid id: the body's id is not {form_id}")
    if (problem := form_problem(body)) is not None:
        return validation_error(problem)
    form.update({k: copy.deepcopy(v) for k, v in body.items() if k not in READ_ONLY_FORM_FIELDS})
    form["score"] = int(form["score"])
    form["modDate"] = now_iso()
    return json_response(200, {"error": None, "data": written_form(copy.deepcopy(form), quirks)})


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
        "score": int(form.get("score") or 0),
        "regDate": now_iso(),
        "fieldValues": [
            {"name": k, "value": v} for k, v in fields.items() if k.startswith(("Contact.", "Client.", "Extra."))
        ],
    }
    if contact is not None:  # each submission adds the form's lead score to the contact (0 adds none)
        contact["score"] = (contact.get("score") or 0) + submit["score"]
        if submit["score"]:
            contact["scoreUpdateDate"] = submit["regDate"]
    form["submits"] += 1
    store.form_submits.append(submit)
    return Response(200, str(submit["id"]).encode(), "text/plain; charset=utf-8")

