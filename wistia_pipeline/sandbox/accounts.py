"""Demo accounts for many-account mode (issue #14), for the tests and `make bench-accounts`.

Each account gets a sandbox of its own (its own Wistia and Upsales emulators and tokens) loaded
with the demo, its views' event keys prefixed with the account's name, so that a view posted to
another account's Upsales would show; `write_accounts_file` names them all in one accounts file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .demo import DemoScenario, load_demo
from .runner import Sandbox

__all__ = ["DEMO_SETTING_NAMES", "DemoAccount", "posted_keys", "start_demo_account", "write_accounts_file"]

# The demo's settings but the public token (a secret: named by wistia_public_token_env).
DEMO_SETTING_NAMES = ("MIN_PERCENT_WATCHED", "WISTIA_PROJECTS", "ACTIVITY_SCORE", "LOOKBACK_DAYS",
                      "SYNC_ACTIVITIES", "SYNC_FORMS", "FORM_POLICY")


@dataclass
class DemoAccount:
    name: str
    sandbox: Sandbox
    scenario: DemoScenario
    env: dict[str, str]        # the variables holding its secrets (names as its entry gives them)
    entry: dict[str, Any]      # its entry in the accounts file
    own_keys: set[str]         # every event key of its views, late ones included


def start_demo_account(stack: contextlib.ExitStack, name: str, today: date) -> DemoAccount:
    """A running sandbox (stopped with `stack`) holding the demo as account `name`."""
    sandbox = stack.enter_context(Sandbox(wistia_token=f"{name}-wistia-token", upsales_token=f"{name}-upsales-token"))
    scenario = load_demo(sandbox, today)
    with sandbox.wistia.lock:
        views = [event for _, event in sandbox.wistia._events + sandbox.wistia._hidden]
        for event in views:
            event["event_key"] = f"{name}_{event['event_key']}"
    upper = name.upper()
    env = {f"{upper}_WISTIA_API_TOKEN": sandbox.wistia.token,
           f"{upper}_UPSALES_API_TOKEN": sandbox.upsales.token,
           f"{upper}_WISTIA_PUBLIC_TOKEN": scenario.env["WISTIA_PUBLIC_TOKEN"]}
    entry = {
        "name": name,
        "wistia_api_token_env": f"{upper}_WISTIA_API_TOKEN",
        "upsales_api_token_env": f"{upper}_UPSALES_API_TOKEN",
        "wistia_public_token_env": f"{upper}_WISTIA_PUBLIC_TOKEN",
        "settings": {"WISTIA_API_URL": sandbox.wistia_url, "UPSALES_API_URL": sandbox.upsales_url,
                     **{key: scenario.env[key] for key in DEMO_SETTING_NAMES}},
    }
    return DemoAccount(name, sandbox, scenario, env, entry, {event["event_key"] for event in views})


def write_accounts_file(path: Path, accounts: list[DemoAccount], db_pattern: str) -> Path:
    """The accounts file naming `accounts`, each DuckDB file at `db_pattern` (with `{name}`)."""
    path.write_text(yaml.safe_dump({"defaults": {"WISTIA_PIPELINE_DB": db_pattern},
                                    "accounts": [account.entry for account in accounts]}, sort_keys=False),
                    encoding="utf-8")
    return path


def posted_keys(sandbox: Sandbox) -> tuple[list[str], list[str]]:
    """What a sandbox's Upsales holds: the activities' externalIds, the form submissions' event keys."""
    upsales = sandbox.upsales
    with upsales.lock:
        activities = [event.get("externalId") for event in upsales.events]
        forms = [field["value"] for submit in upsales.form_submits for field in submit["fieldValues"]
                 if field["name"] == "Extra.wistia_event_key"]
    return activities, forms
