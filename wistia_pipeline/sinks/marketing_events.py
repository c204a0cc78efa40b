"""The activity-log destination ("activities"): one Upsales marketing event (`POST /v2/events`,
entityType MarketingCustom) per view, in the matched contact's or account's activity log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wistia_pipeline import rules
from wistia_pipeline.clients.readback import event_external_id
from wistia_pipeline.clients.upsales import EVENTS_PATH, UpsalesClient
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.contract import MATCHED, Destination

NAME = "activities"
ENTITY_TYPE = "MarketingCustom"
SUB_TYPE = "Video view"


def notifies(view: Mapping[str, Any], settings: Settings) -> bool:
    """Whether the entry notifies the account's managers (Upsales' `notify`): ACTIVITY_NOTIFY on and
    the view at or above ACTIVITY_NOTIFY_MIN_PERCENT, so a salesperson hears of real interest only."""
    return settings.activity_notify and rules.at_least_percent(view["percent_viewed"],
                                                               settings.activity_notify_min_percent)


def activity_payload(view: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The marketing event for one filtered view (a row of filtered_views). `notify` is sent only
    when true: the payload of a view that does not notify is what it was before ACTIVITY_NOTIFY."""
    anonymous = view["match_type"] != "contact" or view["contact_id"] is None
    heatmap = rules.heatmap_url(view["event_key"], view["heatmap_url"], settings.wistia_api_url,
                                settings.wistia_public_token)
    who = None if anonymous else (view["contact_name"] or view["email"])
    received_at = view["received_at"]
    payload: dict[str, Any] = {
        "entityType": ENTITY_TYPE,
        "subType": SUB_TYPE,
        "client": int(view["client_id"]),
        "score": settings.activity_score,
        "date": (received_at.strftime("%Y-%m-%d %H:%M:%S") if received_at is not None
                 else f"{view['day'].isoformat()} 00:00:00"),
        "externalId": rules.external_id(view["event_key"]),
        "value": rules.activity_value(who, view["media_name"], rules.whole_percent(view["percent_viewed"]), heatmap),
    }
    if not anonymous:
        payload["contact"] = int(view["contact_id"])
    if notifies(view, settings):
        payload["notify"] = True
    return payload


class MarketingEventSink:
    """Posts activity entries and finds them again by externalId after a crash."""

    destination = NAME

    def __init__(self, client: UpsalesClient, settings: Settings):
        self.client = client
        self.settings = settings

    def payload(self, view: Mapping[str, Any]) -> dict[str, Any]:
        return activity_payload(view, self.settings)

    def ledger_facts(self, view: Mapping[str, Any], payload: Mapping[str, Any]) -> dict[str, Any]:
        """What the ledger keeps of a post: enough to explain it without Upsales."""
        return {
            "external_id": payload["externalId"],
            "client_id": payload["client"],
            "contact_id": payload.get("contact"),
            "score": payload["score"],
            "value": payload["value"],
            "form_id": None,
            "form_name": None,
            "notified": bool(payload.get("notify")),
        }

    def post(self, payload: Mapping[str, Any]) -> str:
        """Create the entry; returns its Upsales id, or raises ApiError when the answer has none."""
        upsales_id = self.client.create_event(dict(payload)).get("id")
        if isinstance(upsales_id, bool) or not isinstance(upsales_id, (int, str)) or not str(upsales_id).strip():
            raise self.client.session.error(
                f"Upsales POST {EVENTS_PATH} answered without an entry id; the entry may have been stored "
                f"and is looked up by externalId before any new post",
                status=None, method="POST", path=EVENTS_PATH)
        return str(upsales_id)

    def find_existing(self, views: list[Mapping[str, Any]]) -> dict[str, str]:
        """Views of a batch that Upsales already has (by externalId): event_key -> Upsales id."""
        return self._found({rules.external_id(view["event_key"]): view["event_key"] for view in views})

    def find_posted_many(self, rows: list[tuple[str, str, int | None]]) -> dict[str, str]:
        """Of (event_key, external_id, form_id) rows left in flight, those Upsales has: event_key ->
        Upsales id (one lookup per 100 externalIds)."""
        return self._found({external_id: event_key for event_key, external_id, _ in rows if external_id})

    def _found(self, by_external_id: dict[str, str]) -> dict[str, str]:
        """event_key -> Upsales id for the externalIds (keys, mapped to event_keys) Upsales holds;
        an entry's externalId is read at the top level or inside `marketingCustom` (readback)."""
        if not by_external_id:
            return {}
        found = self.client.find_events_by_external_ids(list(by_external_id))
        return {by_external_id[external_id]: str(e["id"]) for e in found
                if (external_id := event_external_id(e)) in by_external_id}


DESTINATION = Destination(
    name=NAME,
    description="activity-log entries (Upsales marketing events) of matched views",
    takes=MATCHED,
    enabled=lambda settings: settings.sync_activities,
    make_sink=lambda ctx: MarketingEventSink(ctx.client, ctx.settings),
    setting="SYNC_ACTIVITIES",
)
