"""The Dagster resources: EnvVar tokens, defaults, and no token in repr."""

from __future__ import annotations

import dagster as dg

from wistia_pipeline.clients import UpsalesClient, UpsalesResource, WistiaClient, WistiaResource
from wistia_pipeline.settings import Settings

from .conftest import UPSALES_TOKEN, WISTIA_TOKEN


def test_defaults_and_repr_without_tokens():
    wistia = WistiaResource(api_token=WISTIA_TOKEN)
    upsales = UpsalesResource(api_token=UPSALES_TOKEN)
    assert wistia.api_url == "https://api.wistia.com/v1" and Settings().wistia_public_token == ""
    assert upsales.api_url == "https://power.upsales.com/api" and upsales.customer_id == ""
    assert WISTIA_TOKEN not in repr(wistia) and WISTIA_TOKEN not in str(wistia)
    assert UPSALES_TOKEN not in repr(upsales) and UPSALES_TOKEN not in str(upsales)
    client = WistiaResource(api_token=WISTIA_TOKEN, api_url="https://x.test/v1/").get_client()
    assert isinstance(client, WistiaClient) and client.api_url == "https://x.test/v1"
    client = UpsalesResource(api_token=UPSALES_TOKEN, api_url="https://y.test/api/",
                             customer_id="77").get_client()
    assert isinstance(client, UpsalesClient) and client.api_url == "https://y.test/api"
    assert client.customer_id() == 77


def test_env_var_tokens_in_a_run(sb, monkeypatch):
    monkeypatch.setenv("WISTIA_API_TOKEN", WISTIA_TOKEN)
    monkeypatch.setenv("UPSALES_API_TOKEN", UPSALES_TOKEN)
    seen = {}

    @dg.asset
    def probe(wistia: WistiaResource, upsales: UpsalesResource) -> None:
        wistia.get_client().verify()
        upsales.get_client().verify()
        seen["reprs"] = repr(wistia) + repr(upsales)

    result = dg.materialize(
        [probe],
        resources={
            "wistia": WistiaResource(api_token=dg.EnvVar("WISTIA_API_TOKEN"), api_url=sb.wistia_url),
            "upsales": UpsalesResource(api_token=dg.EnvVar("UPSALES_API_TOKEN"),
                                       api_url=sb.upsales_url),
        },
    )
    assert result.success
    assert sb.wistia.request_count() == 1 and sb.upsales.request_count() == 1
    assert WISTIA_TOKEN not in seen["reprs"] and UPSALES_TOKEN not in seen["reprs"]
