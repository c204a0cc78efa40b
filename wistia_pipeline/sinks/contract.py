"""The destination contract: what a destination is (`Destination`) and what its sink does (`Sink`).

A destination is a way a view reaches Upsales (the activity log's marketing events, form
submissions). What differs between destinations is in its own module, which defines a
`Destination`; sinks/registry.py lists them, and the filtered stage, posting, the funnel, checks,
doctor, explain and the CLI read the registry. See docs/architecture.md, "Adding a destination".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import duckdb

    from wistia_pipeline.clients.upsales import UpsalesClient
    from wistia_pipeline.settings import Settings

# What a destination takes: views matched to an Upsales contact or account (the matched stage's
# rules and reasons apply), or every converted view (Upsales links the email itself).
MATCHED = "matched"
CONVERTED = "converted"


class Sink(Protocol):
    """How one destination posts a view and finds it again; sinks/posting.py drives it so that a
    view is posted once and never lost."""

    destination: str

    def payload(self, view: Mapping[str, Any]) -> Any:
        """What is posted for one row of filtered_views (may prepare Upsales first, e.g. a form)."""

    def post(self, payload: Any) -> str:
        """Post it; the Upsales id. ApiError when Upsales says no or does not answer."""

    def find_existing(self, views: list[Mapping[str, Any]]) -> dict[str, str]:
        """event_key -> Upsales id of the views Upsales already holds (one check per batch)."""

    def find_posted_many(self, rows: list[tuple[str, str, int | None]]) -> dict[str, str]:
        """For ledger rows (event_key, external_id, form_id) left in flight: those Upsales holds."""

    def ledger_facts(self, view: Mapping[str, Any], payload: Any) -> dict[str, Any]:
        """What the ledger keeps of a post: external_id, client_id, contact_id, score, value,
        form_id, form_name (None where it does not apply), and optionally notified."""


@dataclass(frozen=True)
class SinkContext:
    """What a sink is built from: the run's Upsales client, the settings, the DuckDB connection
    (a destination may keep state there, e.g. the forms it created) and whether nothing may be
    written (a dry run)."""

    client: UpsalesClient
    settings: Settings
    con: duckdb.DuckDBPyConnection
    dry_run: bool = False


@dataclass(frozen=True)
class Destination:
    """One destination: its name (the ledger's `destination`, metadata prefix, CLI word), what it
    takes, whether the settings enable it, and how its sink is made."""

    name: str
    description: str                                  # for doctor and explain
    takes: str                                        # MATCHED or CONVERTED
    enabled: Callable[[Settings], bool]
    make_sink: Callable[[SinkContext], Sink]
    setting: str | None = None                        # the variable that switches it (doctor's words)
    verb: str = "post"                                # the CLI's summary: "post" / "submit"
    past: str = "posted"
    metadata: Callable[[Any], dict[str, Any]] = lambda sink: {}  # extra facts of a run's sink

    def __post_init__(self) -> None:
        if self.takes not in (MATCHED, CONVERTED):
            raise ValueError(f"destination {self.name}: takes must be {MATCHED!r} or {CONVERTED!r}")
