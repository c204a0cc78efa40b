"""Thin request helpers shared by the sandbox tests."""

from __future__ import annotations

import requests

from wistia_pipeline.sandbox import Sandbox

WISTIA_TOKEN = "sandbox-wistia-token"
UPSALES_TOKEN = "sandbox-upsales-token"


def wistia_get(sb: Sandbox, path: str, token: str | None = WISTIA_TOKEN, **params) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.get(sb.wistia_url + path, params=params, headers=headers, timeout=5)


def upsales_request(
    sb: Sandbox, method: str, path: str, token: str | None = UPSALES_TOKEN, **kwargs
) -> requests.Response:
    cookies = {"token": token} if token is not None else None
    return requests.request(method, sb.upsales_url + path, cookies=cookies, timeout=5, **kwargs)


def upsales_get(sb: Sandbox, path: str, params=None, token: str | None = UPSALES_TOKEN) -> requests.Response:
    return upsales_request(sb, "GET", path, token=token, params=params)
