"""Three accounts against three sandboxes (issue #14's "Done when"): each its own Wistia and
Upsales, its own demo views (event keys prefixed with the account's name, so a view posted to
another account's Upsales would show), one account optionally with a rejected Upsales key."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from wistia_pipeline.sandbox import Sandbox
from wistia_pipeline.sandbox.accounts import posted_keys, start_demo_account, write_accounts_file

__all__ = ["NAMES", "Accounts", "event_keys", "posted_keys", "three_accounts"]

NAMES = ("acme", "beta", "gamma")


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


@contextlib.contextmanager
def three_accounts(directory: Path, today: date, bad_upsales_token: str | None = None,
                   alert_urls: dict[str, str] | None = None) -> Iterator[Accounts]:
    """The accounts file and its three running sandboxes; `bad_upsales_token` names the account
    whose Upsales key variable holds a key its Upsales rejects; `alert_urls` the accounts with an
    alert webhook (account name -> URL)."""
    with contextlib.ExitStack() as stack:
        accounts = [start_demo_account(stack, name, today) for name in NAMES]
        env: dict[str, str] = {}
        for account in accounts:
            env.update(account.env)
            upper = account.name.upper()
            if account.name == bad_upsales_token:
                env[f"{upper}_UPSALES_API_TOKEN"] = "not-" + account.sandbox.upsales.token
            if account.name in (alert_urls or {}):
                env[f"{upper}_ALERT_WEBHOOK_URL"] = alert_urls[account.name]
                account.entry["alert_webhook_url_env"] = f"{upper}_ALERT_WEBHOOK_URL"
        file = write_accounts_file(directory / "accounts.yaml", accounts, str(directory / "{name}.duckdb"))
        env["WISTIA_PIPELINE_ACCOUNTS"] = str(file)
        yield Accounts(file=file, sandboxes={a.name: a.sandbox for a in accounts}, env=env,
                       expected=accounts[-1].scenario.expected)
