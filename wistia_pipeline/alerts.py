"""Alerts: when a run of this code location fails, a short message to ALERT_WEBHOOK_URL.

The message is a Slack-compatible incoming-webhook body: `text` for the channel, plus the same
facts as fields for other receivers:

    {"text": "wistia_sync run 3f0c1a2b failed: matched_views: Upsales rejected the API key (401). <url>",
     "job": "wistia_sync", "run_id": "3f0c1a2b-...", "error": "matched_views: Upsales ...",
     "url": "http://127.0.0.1:3000/runs/3f0c1a2b-..."}

The run link starts with DAGSTER_WEBSERVER_URL (default http://127.0.0.1:3000). The error is the
first failed step's innermost error as one line, with the API tokens masked (the clients never
put them in messages; this is a second guard). The post has a timeout and is retried once; when
both attempts fail, the sensor tick fails with a one-line reason naming only the webhook's host.
Without ALERT_WEBHOOK_URL the sensor skips.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import requests

from wistia_pipeline import privacy, redaction
from wistia_pipeline.errors import failure_line, root_cause
from wistia_pipeline.settings import PipelineSettings, environment, variable

SENSOR_NAME = "alert_on_run_failure"
WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"
TIMEOUT = (5, 10)  # (connect, read) seconds
ATTEMPTS = 2  # one retry
RETRY_PAUSE = 1.0
ERROR_MAX_CHARS = 300
_SECRET_VARIABLES = ("WISTIA_API_TOKEN", "UPSALES_API_TOKEN", "ALERT_WEBHOOK_URL")


class AlertError(Exception):
    """The webhook could not be reached or refused the message; one line, without the URL's path."""


def webhook_url(env: Mapping[str, str] | None = None) -> str:
    """ALERT_WEBHOOK_URL, validated (empty when alerts are off); SettingsError when malformed."""
    return variable("ALERT_WEBHOOK_URL").parse(environment() if env is None else env)


def run_url(run_id: str, env: Mapping[str, str] | None = None) -> str:
    env = environment() if env is None else env
    base = (env.get(WEBSERVER_URL_ENV) or DEFAULT_WEBSERVER_URL).strip().rstrip("/")
    return f"{base}/runs/{run_id}"


def _secrets(env: Mapping[str, str] | None) -> list[str]:
    env = environment() if env is None else env
    return [(env.get(name) or "").strip() for name in _SECRET_VARIABLES]


def clean_error(text: str, env: Mapping[str, str] | None = None) -> str:
    """The API tokens and the webhook URL masked in every form on the full text, then one line and
    cut (redaction.clean): a secret near the cut cannot leak in part. Viewers' emails are masked
    too (privacy.py), before the cut: a chat channel is no place for them."""
    return redaction.one_line(privacy.mask_emails(redaction.mask(text, _secrets(env))), ERROR_MAX_CHARS)


def error_summary(context: dg.RunFailureSensorContext, env: Mapping[str, str] | None = None) -> str:
    """The first failed step and its innermost error, else the run's own failure message; the
    secrets of `env` (default: the environment's) masked."""
    failures = context.get_step_failure_events()
    if failures:
        first = failures[0]
        summary = failure_line(first)
        if len(failures) > 1:
            summary += f" (+{len(failures) - 1} more failed steps)"
    else:
        data = context.failure_event.event_specific_data
        error = getattr(data, "error", None)
        summary = root_cause(error) if error is not None else (context.failure_event.message or "the run failed")
    return clean_error(summary, env)


def alert_message(job: str, run_id: str, error: str, url: str, account: str | None = None) -> dict[str, Any]:
    """The webhook's body; with `account` (many accounts, issue #14) the text starts with it."""
    message = {
        "text": f"{f'account {account}: ' if account else ''}{job} run {run_id[:8]} failed: {error} {url}",
        "job": job,
        "run_id": run_id,
        "error": error,
        "url": url,
    }
    if account:
        message["account"] = account
    return message


def post_alert(url: str, message: Mapping[str, Any], *, timeout: Any = TIMEOUT, attempts: int = ATTEMPTS,
               pause: float = RETRY_PAUSE) -> None:
    """POST the message as JSON; retry once on a connection error, a timeout, 429 or 5xx."""
    host = urlsplit(url).hostname
    problem = ""
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(url, json=dict(message), timeout=timeout)
        except requests.RequestException as error:
            problem = type(error).__name__
        else:
            if response.status_code < 300:
                return
            problem = f"HTTP {response.status_code}"
            if response.status_code != 429 and response.status_code < 500:
                break  # the webhook refuses this message: another try cannot help
        if attempt < attempts:
            time.sleep(pause)
    raise AlertError(f"the alert webhook at {host} did not take the message ({problem})")


@dg.run_failure_sensor(
    name=SENSOR_NAME,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "When a run of this code location fails (the scheduled sync, a backfill, a UI "
        "materialization), posts job, run id, error and a link to the run to ALERT_WEBHOOK_URL "
        "(a Slack-compatible incoming webhook). Skips when ALERT_WEBHOOK_URL is not set."
    ),
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, pipeline_settings: PipelineSettings):
    url = webhook_url(pipeline_settings.as_env())
    if not url:
        return dg.SkipReason("ALERT_WEBHOOK_URL is not set: no alert sent")
    run = context.dagster_run
    message = alert_message(run.job_name, run.run_id, error_summary(context), run_url(run.run_id))
    post_alert(url, message)
    context.log.info(f"Alert for run {run.run_id} sent to {urlsplit(url).hostname}")
    return None
