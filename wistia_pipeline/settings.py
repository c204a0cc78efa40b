"""Every environment setting, parsed and validated in one place.

The table lives in the README. A bad value raises `SettingsError`
whose text is one line naming the variable and what it accepts, before any API call is made.
Secrets (the two API tokens) are read here only to check them; the Dagster resources receive
them through `EnvVar`, so their values never reach run config or the UI, and clean them with the
same `clean_token` as `doctor`, so a token `doctor` accepts is the token a sync sends.
`VARIABLES` lists every variable with its own parser, so `doctor` can check each one separately
and list every bad value at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field as PydanticField


DEFAULT_DB_PATH = "data/wistia_pipeline.duckdb"
# How long a run waits for the DuckDB file's lock (or the Dagster pool slot) before giving up.
DEFAULT_DB_LOCK_TIMEOUT_S = 300
DEFAULT_WISTIA_API_URL = "https://api.wistia.com/v1"
DEFAULT_UPSALES_API_URL = "https://power.upsales.com/api"
# Pages of one day's Wistia events after which the fetch stops (100 views a page: 2,000,000
# views, far above any real day): a server that ignores `page` cannot make a fetch run forever.
# The setting WISTIA_MAX_PAGES overrides it.
DEFAULT_WISTIA_MAX_PAGES = 20000
FORM_POLICIES = ("single", "project", "video")
# The first daily partition (UTC day) of every stage asset, and the earliest day `sync --start`
# accepts. A fixed date, never one computed from today: a start that moved every day would give
# Dagster a new partitions definition each day (backfills and the partition status are keyed on
# it). 2026-01-01 is before any day this pipeline (written in 2026) has synced; a deployment sets
# PARTITIONS_START to its first synced day (or up to two years back: Wistia keeps events that
# long), so the UI's "filled" counts only days that can hold views. `make run` sets the demo's
# first day.
DEFAULT_PARTITIONS_START = "2026-01-01"
# Issue #13: a view whose outcome can still change has its email (and domain) looked up in
# Upsales again at most this often; 0 = on every run.
DEFAULT_CONTACT_REFRESH_MINUTES = 60
# Upsales includes 99,999 calls a day per customer; doctor turns red when the projected daily
# calls exceed this share of it.
UPSALES_FREE_DAILY_CALLS = 99_999
DEFAULT_UPSALES_DAILY_CALL_BUDGET = 50_000
# Issue #15: personal data (emails, names, raw Wistia JSON) of days older than this is dropped from
# the DuckDB file by every run; at least LOOKBACK_DAYS + 1, so a day is never scrubbed while the
# schedule still re-reads it.
DEFAULT_RETENTION_DAYS = 90
# How emails appear in Dagster's run storage (previews, metadata, logs): masked unless "full".
PREVIEW_EMAIL_MODES = ("masked", "full")

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
    activity_notify: bool = False
    activity_notify_min_percent: float = 50.0
    min_percent_watched: float = 0.0
    wistia_projects: tuple[str, ...] = field(default_factory=tuple)
    form_policy: str = "single"
    form_score: int = 10
    lookback_days: int = 3
    db_path: str = DEFAULT_DB_PATH
    alert_webhook_url: str = ""
    db_lock_timeout_s: int = DEFAULT_DB_LOCK_TIMEOUT_S
    wistia_max_pages: int = DEFAULT_WISTIA_MAX_PAGES
    wistia_extra_days: int = 0
    partitions_start: date = date.fromisoformat(DEFAULT_PARTITIONS_START)
    contact_refresh_minutes: int = DEFAULT_CONTACT_REFRESH_MINUTES
    upsales_daily_call_budget: int = DEFAULT_UPSALES_DAILY_CALL_BUDGET
    retention_days: int = DEFAULT_RETENTION_DAYS
    preview_emails: str = "masked"

    @property
    def full_emails(self) -> bool:
        """Whether run storage may show emails in full (PREVIEW_EMAILS=full)."""
        return self.preview_emails == "full"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, require_tokens: bool = True) -> Settings:
        """Parse and validate the environment (or `env`); raise SettingsError on the first bad value."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for variable in VARIABLES:
            if variable.field is None and not require_tokens:
                continue
            value = variable.parse(env)  # raises SettingsError naming the variable
            if variable.field is not None:
                values[variable.field] = value
        settings = cls(**values)
        check_destinations(settings.sync_activities, settings.sync_forms)
        check_retention(settings.lookback_days, settings.retention_days)
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
            "ACTIVITY_NOTIFY": str(self.activity_notify).lower(),
            "ACTIVITY_NOTIFY_MIN_PERCENT": f"{self.activity_notify_min_percent:g}",
            "MIN_PERCENT_WATCHED": f"{self.min_percent_watched:g}",
            "WISTIA_PROJECTS": ",".join(self.wistia_projects) or "(all)",
            "FORM_POLICY": self.form_policy,
            "FORM_SCORE": str(self.form_score),
            "LOOKBACK_DAYS": str(self.lookback_days),
            "WISTIA_PIPELINE_DB": self.db_path,
            "ALERT_WEBHOOK_URL": describe_webhook(self.alert_webhook_url),
            "DB_LOCK_TIMEOUT_S": str(self.db_lock_timeout_s),
            "WISTIA_MAX_PAGES": str(self.wistia_max_pages),
            "WISTIA_EXTRA_DAYS": str(self.wistia_extra_days),
            "PARTITIONS_START": self.partitions_start.isoformat(),
            "CONTACT_REFRESH_MINUTES": str(self.contact_refresh_minutes),
            "UPSALES_DAILY_CALL_BUDGET": str(self.upsales_daily_call_budget),
            "RETENTION_DAYS": str(self.retention_days),
            "PREVIEW_EMAILS": self.preview_emails,
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


@dataclass(frozen=True)
class Variable:
    """One environment variable: its Settings field (None for the tokens), default and parser."""

    name: str
    field: str | None
    default: str
    parser: Callable[[str, str], Any]  # (name, raw value) -> typed value, or SettingsError
    secret: bool = False

    def raw(self, env: Mapping[str, str]) -> str:
        return (env.get(self.name) or self.default).strip()

    def parse(self, env: Mapping[str, str]) -> Any:
        """This variable's typed value from `env`; SettingsError (one line, naming it) when bad."""
        return self.parser(self.name, self.raw(env))


def check_destinations(sync_activities: bool, sync_forms: bool) -> None:
    if not (sync_activities or sync_forms):
        raise SettingsError("SYNC_ACTIVITIES and SYNC_FORMS are both false: enable at least one destination")


def check_retention(lookback_days: int, retention_days: int) -> None:
    """Personal data must outlive the lookback: a day the schedule re-reads is never scrubbed."""
    if retention_days < lookback_days + 1:
        raise SettingsError(f"RETENTION_DAYS must be at least LOOKBACK_DAYS + 1 ({lookback_days + 1}), "
                            f"got {retention_days}")


def describe_webhook(url: str) -> str:
    """A webhook URL for display: only its host (the path of a Slack webhook is its secret)."""
    return f"set ({urlsplit(url).hostname})" if url else "(empty)"


def clean_token(name: str, value: str | None) -> str:
    """The one reading of an API token, by `doctor` and by every run's clients (the resources'
    `get_client`): surrounding whitespace (a space after `=`, a pasted line break) is dropped; an
    empty token, or one with whitespace or a character an HTTP header cannot carry inside, is
    refused with one line naming the variable, never the value."""
    token = (value or "").strip()
    if not token:
        raise SettingsError(f"{name} is not set: it must hold the API token (see README, Settings)")
    if any(c.isspace() for c in token):
        raise SettingsError(f"{name} has whitespace inside: an API token is one word; "
                            "copy it again without spaces or line breaks")
    if any(not "!" <= c <= "~" for c in token):
        raise SettingsError(f"{name} has a character an HTTP header cannot carry (a control or "
                            "non-ASCII character): copy the token again")
    return token


def _required_token(name: str, value: str) -> str:
    return clean_token(name, value)


def _text(name: str, value: str) -> str:
    return value


def _projects(name: str, value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def _score(name: str, value: str) -> int:
    return _int(name, value, low=0, high=1000, accepts="a whole number from 0 to 1000")


def _lookback_days(name: str, value: str) -> int:
    return _int(name, value, low=1, high=730, accepts="a whole number of days from 1 to 730")


def _lock_timeout(name: str, value: str) -> int:
    return _int(name, value, low=0, high=86400, accepts="a whole number of seconds from 0 to 86400")


def _extra_days(name: str, value: str) -> int:
    return _int(name, value, low=0, high=2, accepts="0, 1 or 2 (days read beyond each edge of the window)")


def _max_pages(name: str, value: str) -> int:
    return _int(name, value, low=1, high=10**7, accepts="a whole number of pages from 1 to 10000000")


def _refresh_minutes(name: str, value: str) -> int:
    return _int(name, value, low=0, high=10080, accepts="a whole number of minutes from 0 (every run) to 10080")


def _call_budget(name: str, value: str) -> int:
    return _int(name, value, low=1, high=10**9, accepts="a whole number of Upsales calls a day, at least 1")


def _retention_days(name: str, value: str) -> int:
    return _int(name, value, low=2, high=3650, accepts="a whole number of days from 2 to 3650 "
                                                       "(at least LOOKBACK_DAYS + 1)")


def _preview_emails(name: str, value: str) -> str:
    return _choice(name, value.lower(), PREVIEW_EMAIL_MODES)


def _day(name: str, value: str) -> date:
    """A UTC day as YYYY-MM-DD, not after today (a start in the future would leave no partition)."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise SettingsError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None
    if len(value) != 10 or day > datetime.now(timezone.utc).date():
        raise SettingsError(f"{name} must be a date as YYYY-MM-DD, not after today (UTC), got {value!r}")
    return day


def _form_policy(name: str, value: str) -> str:
    return _choice(name, value.lower(), FORM_POLICIES)


def _optional_url(name: str, value: str) -> str:
    if not value:
        return ""
    if not value.startswith(("http://", "https://")) or " " in value or not urlsplit(value).hostname:
        # The value itself is not echoed: a webhook URL's path is its secret.
        raise SettingsError(f"{name} must be an http(s) URL (a Slack-compatible incoming webhook) or empty")
    return value


# Every variable, in the order they are checked (the README's settings table).
VARIABLES: tuple[Variable, ...] = (
    Variable("WISTIA_API_TOKEN", None, "", _required_token, secret=True),
    Variable("UPSALES_API_TOKEN", None, "", _required_token, secret=True),
    Variable("WISTIA_API_URL", "wistia_api_url", DEFAULT_WISTIA_API_URL, _url),
    Variable("WISTIA_PUBLIC_TOKEN", "wistia_public_token", "", _text),
    Variable("UPSALES_API_URL", "upsales_api_url", DEFAULT_UPSALES_API_URL, _url),
    Variable("UPSALES_CUSTOMER_ID", "upsales_customer_id", "", _optional_int),
    Variable("SYNC_ACTIVITIES", "sync_activities", "true", _bool),
    Variable("SYNC_FORMS", "sync_forms", "false", _bool),
    Variable("ACTIVITY_SCORE", "activity_score", "10", _score),
    Variable("ACTIVITY_NOTIFY", "activity_notify", "false", _bool),
    Variable("ACTIVITY_NOTIFY_MIN_PERCENT", "activity_notify_min_percent", "50", _percent),
    Variable("MIN_PERCENT_WATCHED", "min_percent_watched", "0", _percent),
    Variable("WISTIA_PROJECTS", "wistia_projects", "", _projects),
    Variable("FORM_POLICY", "form_policy", "single", _form_policy),
    Variable("FORM_SCORE", "form_score", "10", _score),
    Variable("LOOKBACK_DAYS", "lookback_days", "3", _lookback_days),
    Variable("WISTIA_PIPELINE_DB", "db_path", DEFAULT_DB_PATH, _text),
    Variable("ALERT_WEBHOOK_URL", "alert_webhook_url", "", _optional_url, secret=True),
    Variable("DB_LOCK_TIMEOUT_S", "db_lock_timeout_s", str(DEFAULT_DB_LOCK_TIMEOUT_S), _lock_timeout),
    Variable("WISTIA_MAX_PAGES", "wistia_max_pages", str(DEFAULT_WISTIA_MAX_PAGES), _max_pages),
    Variable("WISTIA_EXTRA_DAYS", "wistia_extra_days", "0", _extra_days),
    Variable("PARTITIONS_START", "partitions_start", DEFAULT_PARTITIONS_START, _day),
    Variable("CONTACT_REFRESH_MINUTES", "contact_refresh_minutes", str(DEFAULT_CONTACT_REFRESH_MINUTES),
             _refresh_minutes),
    Variable("UPSALES_DAILY_CALL_BUDGET", "upsales_daily_call_budget", str(DEFAULT_UPSALES_DAILY_CALL_BUDGET),
             _call_budget),
    Variable("RETENTION_DAYS", "retention_days", str(DEFAULT_RETENTION_DAYS), _retention_days),
    Variable("PREVIEW_EMAILS", "preview_emails", "masked", _preview_emails),
)


def variable(name: str) -> Variable:
    """The entry of VARIABLES for one environment variable."""
    return next(v for v in VARIABLES if v.name == name)


def value_or_default(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One setting read by its own parser, or its default when the value is bad: for what must be
    built before a run can fail (resources, partitions, lock waits); the run itself then stops on
    that setting's one-line error before any API call, so a bad value is never used."""
    var = variable(name)
    try:
        return var.parse(os.environ if env is None else env)
    except SettingsError:
        return var.parser(var.name, var.default)


# -- the settings as Dagster config ------------------------------------------------------------

def environment() -> Mapping[str, str]:
    """The process environment: the one place the package reads it (the sandbox and the CLI's own
    start-up aside), so every setting has one reading."""
    return os.environ


def _setting(name: str, meaning: str) -> Any:
    var = variable(name)
    default = f" (default: {var.default})" if var.default else ""
    return PydanticField(default=None, description=f"{name}: {meaning}{default}. Empty: the environment's value.")


class PipelineSettings(dg.ConfigurableResource):
    """Every setting of the README's table but the tokens, as Dagster config (issue #12).

    `from_environment` fills each field with an `EnvVar` of the variable set in the environment,
    so the UI shows the variable's name, never its value, and each run reads the value its own
    process sees. The launchpad can override any field for one run (a text, as in the environment:
    `min_percent_watched: "25"`). `load()` parses every value with the same parsers as `doctor`,
    `probe` and the CLI, so a bad value stops the run with the same one line.
    """

    wistia_api_url: str | None = _setting("WISTIA_API_URL", "Wistia API root")
    wistia_public_token: str | None = _setting("WISTIA_PUBLIC_TOKEN", "Wistia public token for heatmap links")
    upsales_api_url: str | None = _setting("UPSALES_API_URL", "Upsales API root")
    upsales_customer_id: str | None = _setting("UPSALES_CUSTOMER_ID", "customer id for form submits (from GET /v2/self when empty)")
    sync_activities: str | None = _setting("SYNC_ACTIVITIES", "post activity-log entries (true/false)")
    sync_forms: str | None = _setting("SYNC_FORMS", "post form submissions (true/false)")
    activity_score: str | None = _setting("ACTIVITY_SCORE", "lead score per view, 0..1000")
    activity_notify: str | None = _setting("ACTIVITY_NOTIFY", "activity entries notify the account's managers (true/false)")
    activity_notify_min_percent: str | None = _setting("ACTIVITY_NOTIFY_MIN_PERCENT", "notify only for views at or above this %, 0..100, inclusive")
    min_percent_watched: str | None = _setting("MIN_PERCENT_WATCHED", "0..100, inclusive")
    wistia_projects: str | None = _setting("WISTIA_PROJECTS", "comma-separated project hashed ids, numeric ids or exact names (empty: all)")
    form_policy: str | None = _setting("FORM_POLICY", "single, project or video")
    form_score: str | None = _setting("FORM_SCORE", "lead score of each form submission (set on the pipeline's own forms), 0..1000")
    lookback_days: str | None = _setting("LOOKBACK_DAYS", "days re-read by every scheduled run, today included")
    db_path: str | None = _setting("WISTIA_PIPELINE_DB", "the DuckDB file (the resource `duckdb` opens it)")
    alert_webhook_url: str | None = _setting("ALERT_WEBHOOK_URL", "Slack-compatible webhook for failed runs (secret)")
    db_lock_timeout_s: str | None = _setting("DB_LOCK_TIMEOUT_S", "seconds a run waits for the DuckDB file's lock")
    wistia_max_pages: str | None = _setting("WISTIA_MAX_PAGES", "pages of one day's events after which the fetch stops")
    wistia_extra_days: str | None = _setting("WISTIA_EXTRA_DAYS", "days read beyond each edge of the window, 0..2")
    partitions_start: str | None = _setting("PARTITIONS_START", "the first daily partition (read when the code loads)")
    contact_refresh_minutes: str | None = _setting("CONTACT_REFRESH_MINUTES", "an unmatched email or domain is looked up again at most this often")
    upsales_daily_call_budget: str | None = _setting("UPSALES_DAILY_CALL_BUDGET", "doctor turns red above this many projected Upsales calls a day")
    retention_days: str | None = _setting("RETENTION_DAYS", "emails, names and raw Wistia JSON of older days are dropped by every run (at least LOOKBACK_DAYS + 1)")
    preview_emails: str | None = _setting("PREVIEW_EMAILS", "masked (a•••@acme.se) or full: how emails appear in previews, metadata and logs")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> PipelineSettings:
        """An `EnvVar` for each setting the environment (or `env`) sets; the others keep their default."""
        env = environment() if env is None else env
        return cls(**{v.field: dg.EnvVar(v.name) for v in VARIABLES if v.field is not None and v.name in env})

    def as_env(self) -> dict[str, str]:
        """The settings by variable name (what `Settings.from_env` reads). A field left empty takes
        the process environment's value: run config for the resource (the launchpad overriding one
        setting) replaces the resource's whole configuration, and the other settings must stay as
        the environment has them, not fall back to their defaults."""
        process = environment()
        values: dict[str, str] = {}
        for var in VARIABLES:
            if var.field is None:
                continue
            value = getattr(self, var.field)
            # An EnvVar is resolved by Dagster when a run builds the resource; outside a run (the
            # CLI, a test) it is still the reference, read here the same way.
            if isinstance(value, dg.EnvVar):
                value = value.get_value()
            if value is None:
                value = process.get(var.name)
            if value is not None:
                values[var.name] = value
        return values

    def load(self) -> Settings:
        """The validated settings; SettingsError (one line naming the variable) when a value is bad."""
        return Settings.from_env(self.as_env(), require_tokens=False)
