"""Tolerant reading of what Upsales answers back, where docs/api/upsales.md marks the shape
unverified.

One place for the pipeline's crash lookups (sinks) and for `wistia-pipeline probe`, so the probe
checks the very reading a sync relies on:

- a marketing event's ``externalId`` at the top level, or inside a nested ``marketingCustom``
  object (one field catalogue lists events that way; no public recording shows either);
- a form submission's ``fieldValues`` item by ``name``, or by ``fieldId``: the numeric id of
  the form's field, mapped to its name with the form's ``fields`` definition (``GET
  /v2/forms/{id}`` or the form object of the forms list). Recorded real forms list their
  ``fields`` with ``name``, ``title``, ``datatype``, ``sort`` and ``formId``; recorded
  ``GET /v2/formSubmits`` answers were empty, so the item shape has never been seen;
- a form's ``score`` (the lead score of each submission; no recorded form shows it): a whole
  number, or its text, else unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["event_external_id", "external_id_location", "form_field_names", "form_score",
           "needs_field_names", "field_values", "field_value"]

TOP_LEVEL = "top level"
MARKETING_CUSTOM = "marketingCustom"


def _nested_external_id(event: Mapping[str, Any]) -> Any:
    nested = event.get("marketingCustom")
    for item in nested if isinstance(nested, list) else [nested]:
        if isinstance(item, Mapping) and item.get("externalId") not in (None, ""):
            return item["externalId"]
    return None


def event_external_id(event: Any) -> str | None:
    """The event's ``externalId`` wherever Upsales put it; None when it carries none."""
    if not isinstance(event, Mapping):
        return None
    value = event.get("externalId")
    if value in (None, ""):
        value = _nested_external_id(event)
    return None if value in (None, "") else str(value)


def external_id_location(event: Any) -> str | None:
    """Where the event carries its ``externalId`` ("top level" or "marketingCustom"), for the probe."""
    if not isinstance(event, Mapping):
        return None
    if event.get("externalId") not in (None, ""):
        return TOP_LEVEL
    return MARKETING_CUSTOM if _nested_external_id(event) is not None else None


def _as_field_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def form_field_names(form: Any) -> dict[int, str]:
    """Field id -> field name from a form's ``fields`` (fields without a numeric id are left out)."""
    names: dict[int, str] = {}
    fields = form.get("fields") if isinstance(form, Mapping) else None
    for field in fields if isinstance(fields, list) else []:
        if isinstance(field, Mapping) and isinstance(field.get("name"), str):
            field_id = _as_field_id(field.get("id"))
            if field_id is not None:
                names[field_id] = field["name"]
    return names


def form_score(form: Any) -> int | None:
    """A form's ``score`` as a whole number (``10``, ``10.0``, ``"10"``); None when absent or not
    one: an unknown score, never taken for 0."""
    value = form.get("score") if isinstance(form, Mapping) else None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def needs_field_names(submit: Any) -> bool:
    """Whether some field value of a submission names its field only by a numeric ``fieldId``."""
    values = submit.get("fieldValues") if isinstance(submit, Mapping) else None
    if not isinstance(values, list):
        return False
    return any(isinstance(v, Mapping) and not v.get("name") and _as_field_id(v.get("fieldId")) is not None
               for v in values)


def field_values(submit: Any, field_names: Mapping[int, str] | None = None) -> dict[str, Any]:
    """A submission's values by field name: an item's ``name``, else its ``fieldId`` mapped through
    ``field_names`` (a ``fieldId`` that is itself a name, like ``Extra.x``, is taken as the name).
    The first non-empty value of a field wins; items naming no known field are skipped."""
    found: dict[str, Any] = {}
    values = submit.get("fieldValues") if isinstance(submit, Mapping) else None
    for item in values if isinstance(values, list) else []:
        if not isinstance(item, Mapping):
            continue
        name = item.get("name")
        if not name:
            field_id = item.get("fieldId")
            numeric = _as_field_id(field_id)
            name = (field_names or {}).get(numeric) if numeric is not None else field_id
        if isinstance(name, str) and name and found.get(name) in (None, ""):
            found[name] = item.get("value")
    return found


def field_value(submit: Any, name: str, field_names: Mapping[int, str] | None = None) -> str | None:
    """One field's non-empty value as text, or None."""
    value = field_values(submit, field_names).get(name)
    return None if value in (None, "") else str(value)
