"""Small builders of Wistia events and Upsales contacts in the APIs' shapes, for tests."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

_counter = itertools.count(1)


def event(day: date, *, email: str | None = None, conversion_email: str | None = None,
          conversion_type: Any = "", percent: Any = 0.5, media_id: str = "media00001",
          media_name: str = "Product tour", seconds: int | None = None, key: str | None = None,
          first_name: str | None = None, last_name: str | None = None, heatmap: str | None = None,
          **extra: Any) -> dict[str, Any]:
    """One Wistia stats event; a Turnstile conversion when `conversion_email` is given."""
    n = next(_counter)
    at = datetime.combine(day, time(0, 0), tzinfo=timezone.utc) + timedelta(seconds=seconds if seconds is not None else 60 * (n % 1400) + 5)
    key = key or f"{int(at.timestamp())}_{uuid.UUID(int=n)}"
    conversion_data: dict[str, Any] = {}
    if conversion_email is not None:
        conversion_data = {"email": conversion_email, "first_name": first_name, "last_name": last_name, "is_new_lead": True}
        conversion_type = conversion_type or "turnstile"
    return {
        "received_at": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "event_key": key,
        "visitor_key": f"{int(at.timestamp())}_{uuid.UUID(int=n + 10**6)}",
        "email": email,
        "percent_viewed": percent,
        "conversion_type": conversion_type,
        "conversion_data": conversion_data,
        "media_id": media_id,
        "media_name": media_name,
        "media_url": f"https://acme.wistia.com/medias/{media_id}",
        "iframe_heatmap_url": heatmap if heatmap is not None else
            f"https://api.wistia.com/v1/stats/events/{key}/iframe.html?public_token=pub",
        "embed_url": "https://acme.se/tour",
        "ip": "203.0.113.9",
        "country": "SE",
        "user_agent_details": {"browser": "Chrome", "browser_version": "141", "platform": "Mac", "mobile": False},
        **extra,
    }


def contact(contact_id: int, email: str, client_id: int, *, name: str | None = None, active: int = 1,
            mod_date: str = "2025-05-14T14:35:34.000Z", client_name: str | None = None) -> dict[str, Any]:
    """One Upsales contact (the keys the pipeline reads, in the API's shape)."""
    return {
        "id": contact_id,
        "name": name if name is not None else email.split("@")[0].replace(".", " ").title(),
        "firstName": None,
        "lastName": None,
        "email": email,
        "active": active,
        "client": {"id": client_id, "name": client_name or f"Account {client_id}", "users": []},
        "modDate": mod_date,
        "regDate": None,
        "score": 0,
    }
