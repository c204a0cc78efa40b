"""Upsales' marketing events (the activity log) in the emulator: create, as validated by Upsales,
delete, and the shape an event is served in (`GET /v2/events`, the create's echo)."""

from __future__ import annotations

import copy
import re
from collections.abc import Set
from datetime import datetime, timedelta
from typing import Any

from .messages import Request, Response, json_response
from .upsales_store import json_object_body, API_USER, UpsalesStore, as_id, error_envelope, now_iso, validation_error

VALUE_MAX = 512
EXTERNAL_ID_MAX = 36
EVENT_ENTITY_TYPES = {"MarketingCustom", "marketingCustom", "manual"}
_EVENT_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
# The customer's time zone under the quirk `event_date_in_local_time` (CEST).
LOCAL_UTC_OFFSET = timedelta(hours=2)
EVENT_FIELDS = {
    "id", "entityType", "subType", "entityId", "client", "contacts", "users", "date", "value",
    "score", "externalId", "integrationId", "notify", "notifyUserIds", "regDate", "modDate",
}


def served_event(item: dict[str, Any], quirks: Set[str]) -> dict[str, Any]:
    """An event as answered: as stored, unless the quirk `external_id_in_marketing_custom` moves
    its `externalId` into `marketingCustom`."""
    if "external_id_in_marketing_custom" in quirks and "externalId" in item:
        external_id = item["externalId"]
        item = {k: v for k, v in item.items() if k != "externalId"}
        item["marketingCustom"] = {"externalId": external_id}
    return item


def create_event(store: UpsalesStore, request: Request, quirks: Set[str]) -> Response:
    """Validate like Upsales does for marketing events, then store and echo the new entry."""
    body = json_object_body(request)
    if isinstance(body, Response):
        return body
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
    client_id = as_id(body["client"])
    if client_id is None:
        return validation_error("Invalid client: must be an account id")
    account = store.accounts.get(client_id)
    if account is None:
        return validation_error(f"Invalid client: no account with id {client_id}")
    contact = None
    if body.get("contact") is not None:
        contact_id = as_id(body["contact"])
        contact = store.contacts.get(contact_id) if contact_id is not None else None
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
    notify = body.get("notify")
    if notify is not None and not isinstance(notify, bool):
        return validation_error("Invalid notify: must be true or false")
    notify_user_ids = body.get("notifyUserIds")
    if notify_user_ids is not None and not (isinstance(notify_user_ids, list)
                                            and all(as_id(u) is not None for u in notify_user_ids)):
        return validation_error("Invalid notifyUserIds: must be a list of user ids")
    date_value = body.get("date")
    if date_value is not None:
        if not isinstance(date_value, str) or not _EVENT_DATE.match(date_value):
            return validation_error("Invalid date: expected YYYY-MM-DD HH:mm:ss")
        try:
            when = datetime.strptime(date_value, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return validation_error(f"Invalid date: {date_value}")
        if "event_date_in_local_time" in quirks:
            when -= LOCAL_UTC_OFFSET
        date_iso = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    else:
        date_iso = now_iso()
    event = {
        "id": store.new_id("event"),
        "entityType": entity_type,
        "subType": sub_type or "",
        "entityId": 0,
        "client": store.event_client(account),
        "contacts": [store.contact_summary(contact)] if contact is not None else None,
        "users": [dict(API_USER)],
        "date": date_iso,
        "value": value if value is not None else "",
        "score": score,
        "externalId": external_id,
        "integrationId": body.get("integrationId"),
        "notify": notify,  # kept as sent: tests read back who was to be notified
        "notifyUserIds": notify_user_ids,
        "regDate": now_iso(),
    }
    store.events.append(event)
    return json_response(200, {"error": None, "data": served_event(copy.deepcopy(event), quirks)})


def delete_event(store: UpsalesStore, event_id: int) -> Response:
    """Remove a marketing event (its id is remembered in `deleted_event_ids`)."""
    for event in store.events:
        if event["id"] == event_id:
            store.events.remove(event)
            store.deleted_event_ids.append(event_id)
            return json_response(200, {"error": None})
    return error_envelope(404, "NotFound", f"No event with id {event_id}", 404)

