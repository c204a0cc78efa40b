"""Upsales' list filters and sort, as the emulator applies them to any collection.

`field=op:value` parameters (comma lists for `eq`/`ne`) and JSON `q` parameters (a condition, an
AND list, `{"or": {"q": [...]}}` groups), ANDed together; `sort=field,-other`. Nested fields by
dots (`contacts.id`), lists on the way flattened. A filter Upsales would reject raises
`FilterError` (the emulator answers 400 FailedValidation).

Sandbox rule: string comparisons (`eq`, `ne`, `src`) are case-insensitive, because Upsales runs
on a case-insensitive database collation: `email=eq:Anna.Berg@ACME.se` finds `anna.berg@acme.se`.
The quirks `case_sensitive_email`, `no_domain_search` and `ignore_q_lists` (quirks.py) bend it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

RESERVED_PARAMS = {"limit", "offset", "sort", "q", "token", "f", "f[]"}
OPERATORS = {"eq", "ne", "gt", "gte", "lt", "lte", "src"}


class FilterError(ValueError):
    """A filter or sort Upsales would reject (400 FailedValidation)."""


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

