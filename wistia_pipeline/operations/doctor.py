"""`wistia-pipeline doctor`: the seed's red or green status tab, one line per check.

Checks every setting on its own (so every bad value is listed at once, with the same one-line
messages a run would stop with), that the DuckDB file can be written (and, when it exists, is
not locked, is readable and holds this pipeline's tables), that Wistia accepts the
API token (for both the data and the stats API), that Upsales accepts the API key
(`GET /v2/self`) and, when forms are on, that the customer id is known. Settings that run but
do not do what their user likely wants are a yellow warning (exit 0): notifications asked for
with an activity score of 0, or forms that score 0 (Upsales sends no notification for a score of
0). Token values are never
shown: a token is "set" or "not set", and the services' answers are shown as the clients word
them ("Upsales rejected the API key (401)").
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from wistia_pipeline import db, redaction
from wistia_pipeline.clients.errors import ApiError, AuthError
from wistia_pipeline.clients.upsales import UpsalesResource
from wistia_pipeline.clients.wistia import EVENTS_PATH, WistiaResource
from wistia_pipeline.sinks import registry
from wistia_pipeline.settings import (
    VARIABLES,
    SettingsError,
    Variable,
    check_destinations,
    check_retention,
    database_path,
    describe_webhook,
    environment,
)

# Doctor answers quickly: short timeouts and one retry instead of a sync's patient backoff.
CLIENT_OPTIONS: dict[str, Any] = {"timeout": (5, 15), "max_attempts": 2, "backoff_base": 0.2, "backoff_max": 1.0}

SETTINGS_HINT = "set it in .env or the environment (README, Settings)"
HINTS = {
    "WISTIA_API_TOKEN": "create a token in Wistia (Account > API access) with 'Read detailed stats' and "
                        "'Read all folder and media data', and set WISTIA_API_TOKEN",
    "UPSALES_API_TOKEN": "create an API key in Upsales (Settings > API keys) and set UPSALES_API_TOKEN",
    "ALERT_WEBHOOK_URL": "set it to a Slack-compatible incoming webhook URL, or leave it empty",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found; never a token
    hint: str = ""  # what to fix, when red (or a warning)
    warning: bool = False  # ok, but likely not what was meant: shown, never failing


def shown_value(variable: Variable, value: Any, env: Mapping[str, str]) -> str:
    """A parsed setting as doctor shows it (secrets only as set / empty)."""
    if variable.name == "ALERT_WEBHOOK_URL":
        return describe_webhook(value)
    if variable.secret or variable.name == "WISTIA_PUBLIC_TOKEN":
        return "set" if value else "(empty)"
    if variable.name == "UPSALES_CUSTOMER_ID":
        return str(value) if value else "(from GET /v2/self)"
    if variable.name == "WISTIA_PROJECTS":
        return ",".join(value) or "(all projects)"
    if variable.name == "WISTIA_PIPELINE_DB":
        return database_path(env)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def check_settings(env: Mapping[str, str]) -> tuple[list[Check], dict[str, Any]]:
    """One check per variable, and the values that parsed (by variable name)."""
    checks: list[Check] = []
    values: dict[str, Any] = {}
    for variable in VARIABLES:
        try:
            value = variable.parse(env)
        except SettingsError as error:
            message = str(error).removeprefix(f"{variable.name} ")  # the line starts with the name already
            checks.append(Check(variable.name, False, message, HINTS.get(variable.name, SETTINGS_HINT)))
            continue
        values[variable.name] = value
        checks.append(Check(variable.name, True, shown_value(variable, value, env)))
    if "SYNC_ACTIVITIES" in values and "SYNC_FORMS" in values:
        try:
            check_destinations(values["SYNC_ACTIVITIES"], values["SYNC_FORMS"])
            enabled = [f"{d.name} ({d.description})" for d in registry.destinations()
                       if d.setting is None or values.get(d.setting)]
            checks.append(Check("destinations", True, "; ".join(enabled)))
        except SettingsError as error:
            checks.append(Check("destinations", False, str(error), "set SYNC_ACTIVITIES or SYNC_FORMS to true"))
    if "LOOKBACK_DAYS" in values and "RETENTION_DAYS" in values:
        try:
            check_retention(values["LOOKBACK_DAYS"], values["RETENTION_DAYS"])
            checks.append(Check("personal data", True, f"emails and raw data kept {values['RETENTION_DAYS']} days "
                                                       f"(RETENTION_DAYS); previews show emails "
                                                       f"{values.get('PREVIEW_EMAILS', 'masked')} (PREVIEW_EMAILS)"))
        except SettingsError as error:
            checks.append(Check("personal data", False, str(error),
                                "raise RETENTION_DAYS (or lower LOOKBACK_DAYS)"))
    checks += check_scoring(values)
    return checks, values


def check_scoring(values: Mapping[str, Any]) -> list[Check]:
    """What the enabled destinations score and whom they notify, in words; a warning where Upsales
    would drop it: a score of 0 sends no notification (docs/api/upsales.md, events and forms)."""
    checks = []
    if values.get("SYNC_ACTIVITIES") and {"ACTIVITY_SCORE", "ACTIVITY_NOTIFY",
                                          "ACTIVITY_NOTIFY_MIN_PERCENT"} <= values.keys():
        score, minimum = values["ACTIVITY_SCORE"], values["ACTIVITY_NOTIFY_MIN_PERCENT"]
        name = "activity notifications"
        if not values["ACTIVITY_NOTIFY"]:
            checks.append(Check(name, True, f"off (ACTIVITY_NOTIFY=false); each entry scores {score}"))
        elif score == 0:
            checks.append(Check(name, True, "ACTIVITY_NOTIFY is on but ACTIVITY_SCORE is 0: Upsales sends no "
                                            "notification for an entry that scores 0, so no one is notified",
                                "set ACTIVITY_SCORE above 0, or ACTIVITY_NOTIFY=false", warning=True))
        else:
            checks.append(Check(name, True, f"the account managers are notified of views at or above "
                                            f"{minimum:g} % (ACTIVITY_NOTIFY_MIN_PERCENT); each entry scores {score}"))
    if values.get("SYNC_FORMS") and "FORM_SCORE" in values:
        score, name = values["FORM_SCORE"], "form score"
        if score == 0:
            checks.append(Check(name, True, "FORM_SCORE is 0: form submissions add no score and send no "
                                            "notification in Upsales",
                                "set FORM_SCORE above 0 (the pipeline's forms are updated before their next "
                                "submission)", warning=True))
        else:
            checks.append(Check(name, True, f"each form submission adds {score} to the contact's lead score "
                                            f"(set on the pipeline's own forms; a form of the same name it did not "
                                            f"create keeps its own score)"))
    return checks


def check_database(path: str) -> Check:
    """The DuckDB file (or the directory it will be created in) is writable; an existing file is
    also free, readable and this pipeline's, so what would stop a sync's first step shows here."""
    name, hint = "DuckDB file", "set WISTIA_PIPELINE_DB to a file in a directory this user can write"
    target = Path(path)
    if target.exists():
        if target.is_dir():
            return Check(name, False, f"{path} is a directory, not a file", hint)
        # DuckDB also writes a .wal file next to the database.
        if os.access(target, os.W_OK) and os.access(target.parent, os.W_OK | os.X_OK):
            return inspect_database(path, f"{path} is writable ({target.stat().st_size / 1e6:.1f} MB)")
        return Check(name, False, f"{path} is not writable", hint)
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return Check(name, False, f"{path} cannot be created: {ancestor} is not a directory", hint)
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return Check(name, False, f"{path} cannot be created: {ancestor} is not writable", hint)
    return Check(name, True, f"{path} does not exist yet; the first sync creates it")


def inspect_database(path: str, writable: str) -> Check:
    """Open the file read-only without waiting (doctor must not block a sync) and read its tables."""
    name = "DuckDB file"
    try:
        con = db.open_database(path, read_only=True, lock_wait=0)
    except db.DatabaseLocked as error:
        who = db.holder_words(error.holder)
        return Check(name, False, f"{path} is locked: held by {who} (another sync?)",
                     f"wait for that sync to end (runs take turns on the file); if {who} hangs, stop it")
    except db.DatabaseCorrupt as error:
        return Check(name, False, error.problem, error.fix)
    except duckdb.Error as error:
        return Check(name, False, f"{path} cannot be opened ({db.duckdb_message(error)})",
                     "check the file, or point WISTIA_PIPELINE_DB at the pipeline's DuckDB file")
    try:
        found = {row[0] for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = 'main'").fetchall()}
    except duckdb.Error as error:
        corrupt = db.corruption(path, error)
        if corrupt is None:
            raise
        return Check(name, False, corrupt.problem, corrupt.fix)
    finally:
        con.close()
    expected = db.schema_tables()
    missing = [table for table in expected if table not in found]
    if not missing:
        return Check(name, True, f"{writable}, this pipeline's database (all {len(expected)} tables)")
    if len(missing) < len(expected):  # an older release's file: the next sync adds the rest
        return Check(name, True, f"{writable}, this pipeline's database; the next sync adds {', '.join(missing)}")
    if not found:
        return Check(name, True, f"{writable}, holds no tables yet; the first sync creates them")
    others = sorted(found)
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return Check(name, False, f"{path} is not this pipeline's database: it holds {shown} and none of "
                              f"{', '.join(expected)}",
                 "point WISTIA_PIPELINE_DB at the pipeline's DuckDB file (or at a new path for a fresh start)")


def _service_failure(name: str, error: ApiError, token_hint: str, url_variable: str) -> Check:
    if isinstance(error, AuthError):
        return Check(name, False, str(error), token_hint)
    return Check(name, False, str(error), f"check {url_variable} and the network")


def check_wistia(url: str, token: str) -> Check:
    """The token reads medias/projects (verify) and stats (one event of today).

    The client comes from the resource a run uses (its get_client cleans the token the same way),
    so a token doctor accepts is the token a sync sends."""
    name = "Wistia API token"
    try:
        client = WistiaResource(api_token=token, api_url=url).get_client(**CLIENT_OPTIONS)
    except SettingsError as error:
        return Check(name, False, str(error), HINTS["WISTIA_API_TOKEN"])
    try:
        client.verify()
        today = datetime.now(timezone.utc).date().isoformat()
        client.session.request_json("GET", EVENTS_PATH, params={
            "start_date": today, "end_date": today, "page": 1, "per_page": 1})
    except ApiError as error:
        return _service_failure(name, error, HINTS["WISTIA_API_TOKEN"], "WISTIA_API_URL")
    finally:
        client.close()
    return Check(name, True, "Wistia accepted the token (projects and stats)")


def check_upsales(url: str, token: str, customer_id: int | None, sync_forms: bool) -> list[Check]:
    """The key works (GET /v2/self) and, with forms on, the customer id for form submits is known.

    The client comes from the resource a run uses, as in check_wistia."""
    resource = UpsalesResource(api_token=token, api_url=url, customer_id=str(customer_id) if customer_id else "")
    try:
        client = resource.get_client(**CLIENT_OPTIONS)
    except SettingsError as error:
        return [Check("Upsales API key", False, str(error), HINTS["UPSALES_API_TOKEN"])]
    try:
        try:
            client.verify()
        except ApiError as error:
            return [_service_failure("Upsales API key", error, HINTS["UPSALES_API_TOKEN"], "UPSALES_API_URL")]
        checks = [Check("Upsales API key", True, "Upsales accepted the API key (GET /v2/self)")]
        if sync_forms:
            name = "Upsales customer id"
            try:
                found = client.customer_id()
            except ApiError as error:
                checks.append(Check(name, False, str(error), "set UPSALES_CUSTOMER_ID to your Upsales customer id"))
            else:
                source = "UPSALES_CUSTOMER_ID" if customer_id else "GET /v2/self"
                checks.append(Check(name, True, f"{found} (from {source}), for form submits"))
        return checks
    finally:
        client.close()


def not_checked(name: str, because: list[str]) -> Check:
    return Check(name, False, f"not checked: {', '.join(because)} must be fixed first", "see the lines above")


def run_doctor(env: Mapping[str, str] | None = None, pool: str | None = None) -> list[Check]:
    """Every check, in order: settings, DuckDB file, Dagster runs, Wistia, Upsales; `pool` is the
    DuckDB file's pool when not `wistia_duckdb` (many accounts: the account's)."""
    env = environment() if env is None else env
    checks, values = check_settings(env)
    checks.append(check_database(database_path(env)))
    if "UPSALES_DAILY_CALL_BUDGET" in values:
        checks.append(check_call_budget(database_path(env), values["UPSALES_DAILY_CALL_BUDGET"]))
    checks.append(check_runs(env, pool))  # local, like the file: before the services

    wistia_needs = [n for n in ("WISTIA_API_URL", "WISTIA_API_TOKEN") if n not in values]
    if wistia_needs:
        checks.append(not_checked("Wistia API token", wistia_needs))
    else:
        checks.append(check_wistia(values["WISTIA_API_URL"], values["WISTIA_API_TOKEN"]))

    upsales_needs = [n for n in ("UPSALES_API_URL", "UPSALES_API_TOKEN") if n not in values]
    forms = values.get("SYNC_FORMS", False)
    if upsales_needs:
        checks.append(not_checked("Upsales API key", upsales_needs))
    elif forms and "UPSALES_CUSTOMER_ID" not in values:
        checks += check_upsales(values["UPSALES_API_URL"], values["UPSALES_API_TOKEN"], None, False)
        checks.append(not_checked("Upsales customer id", ["UPSALES_CUSTOMER_ID"]))
    else:
        checks += check_upsales(values["UPSALES_API_URL"], values["UPSALES_API_TOKEN"],
                                values["UPSALES_CUSTOMER_ID"], forms)
    return checks


# Runs the projection averages over: the last few hours at the schedule's cadence.
PROJECTION_RUNS = 12


def project_daily_calls(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(runs averaged, Upsales calls a day projected): the mean Upsales calls of the last
    PROJECTION_RUNS runs that recorded calls, times the schedule's runs a day."""
    from wistia_pipeline.automation import RUNS_PER_DAY

    runs, calls = con.execute(
        "WITH runs AS (SELECT run_id, max(recorded_at) AS last_at, "
        "                     coalesce(sum(calls) FILTER (WHERE api = 'upsales'), 0) AS upsales "
        "              FROM run_calls GROUP BY run_id ORDER BY last_at DESC LIMIT ?) "
        "SELECT count(*), coalesce(sum(upsales), 0) FROM runs", [PROJECTION_RUNS]).fetchone()
    return runs, round(calls / runs * RUNS_PER_DAY) if runs else 0


def check_call_budget(path: str, budget: int) -> Check:
    """Issue #13: the daily Upsales calls at the current cadence, projected from the last runs,
    against the free tier and the user's budget (UPSALES_DAILY_CALL_BUDGET): red above it."""
    from wistia_pipeline.automation import RUNS_PER_DAY, SCHEDULE_MINUTES
    from wistia_pipeline.settings import UPSALES_FREE_DAILY_CALLS

    name = "Upsales calls per day"
    if not Path(path).is_file():
        return Check(name, True, "no runs recorded yet")
    try:
        con = db.open_database(path, read_only=True, lock_wait=0)
    except (db.DatabaseLocked, db.DatabaseCorrupt, duckdb.Error):
        return Check(name, True, "not projected: the DuckDB file cannot be read now (see DuckDB file)")
    try:
        runs, projected = project_daily_calls(con)
    except duckdb.CatalogException:  # a file from before run_calls: the next sync adds it
        runs, projected = 0, 0
    finally:
        con.close()
    if not runs:
        return Check(name, True, "no runs with recorded calls yet")
    detail = (f"{projected:,} projected (the last {runs} runs x {RUNS_PER_DAY} runs a day, one every "
              f"{SCHEDULE_MINUTES} minutes) of {UPSALES_FREE_DAILY_CALLS:,} free; budget {budget:,}")
    if projected > budget:
        return Check(name, False, detail,
                     "raise CONTACT_REFRESH_MINUTES (fewer look-ups of views still open) or narrow "
                     "LOOKBACK_DAYS; or raise UPSALES_DAILY_CALL_BUDGET if this is intended")
    return Check(name, True, detail)


RUNS_HINT = ("the next schedule tick or `wistia-pipeline sync` on the run's machine fails a run whose "
             "process is gone and frees the slot; terminate a hung run in the UI (Runs), free a slot "
             "under Deployment > Concurrency")


def check_runs(env: Mapping[str, str], pool: str | None = None) -> Check:
    """No run is stuck: a run whose process is gone (the deployment restarted mid-run), a run past
    the maximum runtime, or a slot of the wistia_duckdb pool held by a run that is not running
    would stop the schedule and make every other run wait. Reads DAGSTER_HOME; never creates it."""
    name = "Dagster runs"
    home = Path(env.get("DAGSTER_HOME") or ".dagster_home").expanduser().resolve()
    if not home.is_dir():
        return Check(name, True, f"no runs recorded yet ({home} does not exist)")
    from wistia_pipeline import run_health
    from wistia_pipeline.stages.common import DUCKDB_POOL

    try:
        instance = run_health.open_instance(home)
        if instance is None:
            return Check(name, True, f"no runs recorded yet in {home}")
        with instance:
            health = run_health.assess(instance, pool or DUCKDB_POOL)
    except Exception as error:  # a broken instance is a finding, not a crash of doctor
        return Check(name, False, f"cannot read the Dagster instance in {home}: {redaction.one_line(str(error), 200)}",
                     "check DAGSTER_HOME and its dagster.yaml")
    if health.problems:
        return Check(name, False, "; ".join(health.problems), RUNS_HINT)
    return Check(name, True, f"no stuck runs; {health.slot}")


GREEN, RED, YELLOW, RESET = "\033[32m", "\033[31m", "\033[33m", "\033[0m"


def format_check(check: Check, colour: bool) -> str:
    warned = check.ok and check.warning
    mark = "⚠ WARN" if warned else "✔ OK  " if check.ok else "✘ FAIL"
    if colour:
        mark = f"{YELLOW if warned else GREEN if check.ok else RED}{mark}{RESET}"
    line = f"{mark}  {check.name}: {check.detail}"
    if (warned or not check.ok) and check.hint:
        line += f" -> fix: {check.hint}"
    return line


def format_checks(checks: list[Check], colour: bool = False) -> str:
    failed = sum(not c.ok for c in checks)
    warnings = sum(c.ok and c.warning for c in checks)
    summary = "All checks passed." if not failed else f"{failed} of {len(checks)} checks failed."
    if warnings:
        summary += f" {warnings} {'warning' if warnings == 1 else 'warnings'}."
    return "\n".join([*(format_check(c, colour) for c in checks), summary])
