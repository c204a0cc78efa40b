"""Dagster's record of a failed step, read as one line: shared by the CLI's summary and the alert
sensor (the one module both import, so neither imports the other)."""

from __future__ import annotations

from typing import Any


def root_cause(error: Any) -> str:
    """The innermost error of a Dagster step failure, as one line without the exception class."""
    if error is None:
        return "failed"
    while error.cause is not None:
        error = error.cause
    lines = [line for line in error.message.strip().splitlines() if line.strip()]
    text = lines[-1] if lines else error.cls_name or "failed"
    prefix = f"{error.cls_name}: " if error.cls_name else ""
    for candidate in (prefix, f"dagster._core.definitions.events.{prefix}"):
        if candidate and candidate in text:
            text = text.split(candidate, 1)[1]
    return text.strip()


def step_label(step_key: str | None) -> str:
    """The asset a failed step belongs to: the steps of a graph-backed asset (`synced_ledger.post_forms`)
    are named by their asset, since their failure already says which destination it was."""
    return (step_key or "a step").split(".")[0]


def failure_line(failure: Any) -> str:
    """`<asset>: <innermost error>` of a STEP_FAILURE event."""
    return f"{step_label(failure.step_key)}: {root_cause(failure.step_failure_data.error)}"
