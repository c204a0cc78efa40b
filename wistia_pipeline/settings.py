"""Every environment setting, parsed and validated in one place.

The table lives in the README (and in the product spec). A bad value raises `SettingsError`
whose text is one line naming the variable and what it accepts, before any API call is made.
Secrets (the two API tokens) are read here only to check that they are present; the Dagster
resources receive them through `EnvVar`, so their values never reach run config or the UI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_WISTIA_API_URL = "https://api.wistia.com/v1"
DEFAULT_UPSALES_API_URL = "https://power.upsales.com/api"
DEFAULT_DB_PATH = "data/wistia_pipeline.duckdb"
FORM_POLICIES = ("single", "project", "video")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot use; the message is one line for the user."""


@dataclass(frozen=True)
class Settings:
    """The validated, typed settings (tokens excluded: see module docstring)."""

    wistia_api_url: str = DEFAULT_WISTIA_API_URL
    wistia_public_token: str = ""
    upsales_api_url: str = DEFAULT_UPSALES_API_URL
    upsales_customer_id: int | None = None
    sync_activities: bool = True
    sync_forms: bool = False
    activity_score: int = 10
    min_percent_watched: float = 0.0
    wistia_projects: tuple[str, ...] = field(default_factory=tuple)
    form_policy: str = "single"
    lookback_days: int = 3
    db_path: str = DEFAULT_DB_PATH

    @property
    def destinations(self) -> tuple[str, ...]:
        """Enabled destinations, in posting order."""
        return tuple(
            name
            for name, enabled in (("activities", self.sync_activities), ("forms", self.sync_forms))
            if enabled
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_tokens: bool = True) -> Settings:
        """Parse and validate the environment (or `env`); raise SettingsError on the first bad value."""
        env = os.environ if env is None else env

        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        if require_tokens:
            for name in ("WISTIA_API_TOKEN", "UPSALES_API_TOKEN"):
                if not get(name):
                    raise SettingsError(f"{name} is not set: it must hold the API token (see README, Settings)")

        settings = cls(
            wistia_api_url=_url("WISTIA_API_URL", get("WISTIA_API_URL", DEFAULT_WISTIA_API_URL)),
            wistia_public_token=get("WISTIA_PUBLIC_TOKEN"),
            upsales_api_url=_url("UPSALES_API_URL", get("UPSALES_API_URL", DEFAULT_UPSALES_API_URL)),
            upsales_customer_id=_optional_int("UPSALES_CUSTOMER_ID", get("UPSALES_CUSTOMER_ID")),
            sync_activities=_bool("SYNC_ACTIVITIES", get("SYNC_ACTIVITIES", "true")),
            sync_forms=_bool("SYNC_FORMS", get("SYNC_FORMS", "false")),
            activity_score=_int("ACTIVITY_SCORE", get("ACTIVITY_SCORE", "10"), low=0, high=1000,
                                accepts="a whole number from 0 to 1000"),
            min_percent_watched=_percent("MIN_PERCENT_WATCHED", get("MIN_PERCENT_WATCHED", "0")),
            wistia_projects=tuple(p.strip() for p in get("WISTIA_PROJECTS").split(",") if p.strip()),
            form_policy=_choice("FORM_POLICY", get("FORM_POLICY", "single").lower(), FORM_POLICIES),
            lookback_days=_int("LOOKBACK_DAYS", get("LOOKBACK_DAYS", "3"), low=1, high=730,
                               accepts="a whole number of days from 1 to 730"),
            db_path=get("WISTIA_PIPELINE_DB", DEFAULT_DB_PATH),
        )
        if not settings.destinations:
            raise SettingsError("SYNC_ACTIVITIES and SYNC_FORMS are both false: enable at least one destination")
        return settings

    def describe(self) -> dict[str, str]:
        """Non-secret settings as text, for run metadata and `doctor`."""
        return {
            "WISTIA_API_URL": self.wistia_api_url,
            "WISTIA_PUBLIC_TOKEN": "set" if self.wistia_public_token else "(empty)",
            "UPSALES_API_URL": self.upsales_api_url,
            "UPSALES_CUSTOMER_ID": str(self.upsales_customer_id or "(from /v2/self)"),
            "SYNC_ACTIVITIES": str(self.sync_activities).lower(),
            "SYNC_FORMS": str(self.sync_forms).lower(),
            "ACTIVITY_SCORE": str(self.activity_score),
            "MIN_PERCENT_WATCHED": f"{self.min_percent_watched:g}",
            "WISTIA_PROJECTS": ",".join(self.wistia_projects) or "(all)",
            "FORM_POLICY": self.form_policy,
            "LOOKBACK_DAYS": str(self.lookback_days),
            "WISTIA_PIPELINE_DB": self.db_path,
        }


def database_path(env: Mapping[str, str] | None = None) -> str:
    """The DuckDB file as an absolute path (runs and the CLI may start in other directories)."""
    env = os.environ if env is None else env
    return str(Path((env.get("WISTIA_PIPELINE_DB") or DEFAULT_DB_PATH).strip()).expanduser().resolve())


def _url(name: str, value: str) -> str:
    if not value.startswith(("http://", "https://")) or " " in value:
        raise SettingsError(f"{name} must be an http(s) URL such as the default, got {value!r}")
    return value.rstrip("/")


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {value!r}")


def _int(name: str, value: str, *, low: int, high: int, accepts: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be {accepts}, got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be {accepts}, got {value!r}")
    return number


def _optional_int(name: str, value: str) -> int | None:
    if not value:
        return None
    return _int(name, value, low=1, high=10**12, accepts="the numeric Upsales customer id (or empty)")


def _percent(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number from 0 to 100, got {value!r}") from None
    if not 0 <= number <= 100:
        raise SettingsError(f"{name} must be a number from 0 to 100, got {value!r}")
    return number


def _choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value
