"""Three accounts against three sandboxes (issue #14's "Done when"): each its own Wistia and
Upsales, its own demo views (event keys prefixed with the account's name, so a view posted to
another account's Upsales would show), one account optionally with a rejected Upsales key."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from wistia_pipeline.sandbox import Sandbox, load_demo

NAMES = ("acme", "beta", "gamma")
# The demo's settings but the public token (a secret: named by wistia_public_token_env).
DEMO_SETTING_NAMES = ("MIN_PERCENT_WATCHED", "WISTIA_PROJECTS", "ACTIVITY_SCORE", "LOOKBACK_DAYS",
                      "SYNC_ACTIVITIES", "SYNC_FORMS", "FORM_POLICY")


@dataclass
class Accounts:
    file: Path
    sandboxes: dict[str, Sandbox]
    env: dict[str, str]  # the variables to set: WISTIA_PIPELINE_ACCOUNTS and each account's secrets
    expected: dict

    def db(self, name: str) -> Path:
        return self.file.parent / f"{name}.duckdb"


def event_keys(sandbox: Sandbox) -> set[str]:
    return {event["event_key"] for event in sandbox.wistia.events}


def posted_keys(sandbox: Sandbox) -> tuple[list[str], list[str]]:
    """The event keys posted to this sandbox's Upsales: activities, form submissions."""
    activities = [event["externalId"] for event in sandbox.upsales.events]
    forms = [field["value"] for submit in sandbox.upsales.form_submits for field in submit["fieldValues"]
             if field["name"] == "Extra.wistia_event_key"]
    return activities, forms


@contextlib.contextmanager
def three_accounts(directory: Path, today: date, bad_upsales_token: str | None = None,
                   alert_urls: dict[str, str] | None = None) -> Iterator[Accounts]:
    """The accounts file and its three running sandboxes; `bad_upsales_token` names the account
    whose Upsales key variable holds a key its Upsales rejects; `alert_urls` the accounts with an
    alert webhook (account name -> URL)."""
    with contextlib.ExitStack() as stack:
        sandboxes, env, entries, expected = {}, {}, [], {}
        for name in NAMES:
            sandbox = stack.enter_context(Sandbox(wistia_token=f"{name}-wistia-token",
                                                  upsales_token=f"{name}-upsales-token"))
            scenario = load_demo(sandbox, today)
            expected = scenario.expected
            # Each account's own views: the demo's, keys prefixed with its name.
            with sandbox.wistia.lock:
                for _, event in sandbox.wistia._events + sandbox.wistia._hidden:
                    event["event_key"] = f"{name}_{event['event_key']}"
            upper = name.upper()
            env[f"{upper}_WISTIA_API_TOKEN"] = sandbox.wistia.token
            env[f"{upper}_UPSALES_API_TOKEN"] = ("not-" if name == bad_upsales_token else "") + sandbox.upsales.token
            env[f"{upper}_WISTIA_PUBLIC_TOKEN"] = scenario.env["WISTIA_PUBLIC_TOKEN"]
            entries.append({
                "name": name,
                "wistia_api_token_env": f"{upper}_WISTIA_API_TOKEN",
                "upsales_api_token_env": f"{upper}_UPSALES_API_TOKEN",
                "wistia_public_token_env": f"{upper}_WISTIA_PUBLIC_TOKEN",
                "settings": {"WISTIA_API_URL": sandbox.wistia_url, "UPSALES_API_URL": sandbox.upsales_url,
                             **{key: scenario.env[key] for key in DEMO_SETTING_NAMES}},
            })
            if name in (alert_urls or {}):
                env[f"{upper}_ALERT_WEBHOOK_URL"] = alert_urls[name]
                entries[-1]["alert_webhook_url_env"] = f"{upper}_ALERT_WEBHOOK_URL"
            sandboxes[name] = sandbox
        file = directory / "accounts.yaml"
        file.write_text(yaml.safe_dump({
            "defaults": {"WISTIA_PIPELINE_DB": str(directory / "{name}.duckdb")},
            "accounts": entries,
        }, sort_keys=False))
        env["WISTIA_PIPELINE_ACCOUNTS"] = str(file)
        yield Accounts(file=file, sandboxes=sandboxes, env=env, expected=expected)
