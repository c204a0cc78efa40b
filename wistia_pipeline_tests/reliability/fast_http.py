"""Short client timeouts and quick backoff for the reliability tests (production keeps its own).

The pipeline's resources build their clients with the production defaults: a 60 s read timeout
and backoff of up to a minute. A timeout fault would make a test wait that long, so the tests
swap how both resources make a client (WistiaResource.get_client, UpsalesResource.new_client:
a run still shares its one Upsales client) for one that passes test-sized values; everything
else (retry rules, rate limits, headers) stays as shipped.
"""

from __future__ import annotations

from typing import Any

from wistia_pipeline.clients.upsales import UpsalesClient, UpsalesResource
from wistia_pipeline.clients.wistia import WistiaClient, WistiaResource

# (connect, read) seconds. A sandbox answers in milliseconds; a fault that must look like a
# timeout delays its answer by TIMEOUT_FAULT_DELAY, comfortably past the read timeout.
TIMEOUT = (2.0, 1.0)
TIMEOUT_FAULT_DELAY = 1.6
BACKOFF_BASE = 0.01
BACKOFF_MAX = 2.0  # also caps Retry-After / X-RateLimit-Reset waits

CLIENT_OPTIONS: dict[str, Any] = {"timeout": TIMEOUT, "backoff_base": BACKOFF_BASE, "backoff_max": BACKOFF_MAX}


def _wistia_client(self: WistiaResource) -> WistiaClient:
    return WistiaClient(self.api_url.rstrip("/"), self.api_token, **CLIENT_OPTIONS)


def _upsales_client(self: UpsalesResource, **options: Any) -> UpsalesClient:
    return UpsalesClient(self.api_url.rstrip("/"), self.api_token, customer_id=self.customer_id or None,
                         **{**CLIENT_OPTIONS, **options})


def install(monkeypatch: Any | None = None) -> None:
    """Make both resources build test-sized clients (through `monkeypatch` when given)."""
    for cls, name, method in ((WistiaResource, "get_client", _wistia_client),
                              (UpsalesResource, "new_client", _upsales_client)):
        if monkeypatch is not None:
            monkeypatch.setattr(cls, name, method)
        else:
            setattr(cls, name, method)  # a child process of a test
