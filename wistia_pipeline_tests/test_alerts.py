"""The run-failure alert: evaluated on a real failed run, posting to a local webhook receiver."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import dagster as dg
import pytest

from wistia_pipeline.settings import PipelineSettings
from wistia_pipeline import alerts
from wistia_pipeline.cli import run_sync
from wistia_pipeline.definitions import build_defs
from wistia_pipeline.settings import SettingsError

WRONG_KEY = "wrong-upsales-key-123"


class Receiver:
    """A webhook on 127.0.0.1: records each JSON body and answers the queued statuses (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.bodies.append(json.loads(body))
                receiver.paths.append(self.path)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secretpath"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def failure_context(run_id: str, instance: dg.DagsterInstance) -> dg.RunStatusSensorContext:
    run = instance.get_run_by_id(run_id)
    [record] = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    return dg.build_run_status_sensor_context(
        sensor_name=alerts.SENSOR_NAME, dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance, dagster_run=run,
        resources={"pipeline_settings": PipelineSettings.from_environment()},
    )


def test_a_failed_sync_run_posts_one_short_message(demo, pipeline_env, today, receiver, monkeypatch):
    monkeypatch.setenv("UPSALES_API_TOKEN", WRONG_KEY)
    report = run_sync(today, today)
    assert not report.success

    monkeypatch.setenv("ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("DAGSTER_WEBSERVER_URL", "http://dagster.example:3000/")
    with dg.DagsterInstance.get() as instance:
        assert alerts.alert_on_run_failure(failure_context(report.run_id, instance)) is None

    [message] = receiver.bodies
    assert receiver.paths == ["/services/T000/B000/secretpath"]
    assert message["job"] == "wistia_sync"
    assert message["run_id"] == report.run_id
    assert message["error"] == "matched_views: Upsales rejected the API key (401)"
    assert message["url"] == f"http://dagster.example:3000/runs/{report.run_id}"
    assert message["text"] == (f"wistia_sync run {report.run_id[:8]} failed: matched_views: Upsales rejected "
                               f"the API key (401) http://dagster.example:3000/runs/{report.run_id}")
    assert set(message) == {"text", "job", "run_id", "error", "url"}
    assert WRONG_KEY not in json.dumps(message) and pipeline_env["WISTIA_API_TOKEN"] not in json.dumps(message)


def test_without_a_webhook_the_sensor_skips(monkeypatch):
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)

    @dg.op
    def boom():
        raise RuntimeError("boom")

    @dg.job
    def tiny():
        boom()

    with dg.DagsterInstance.ephemeral() as instance:
        result = tiny.execute_in_process(instance=instance, raise_on_error=False)
        context = failure_context(result.run_id, instance)
        skipped = alerts.alert_on_run_failure(context)
        assert isinstance(skipped, dg.SkipReason) and "ALERT_WEBHOOK_URL" in skipped.skip_message

        # and the summary of a run failed by any job: the step and its innermost error, one line
        assert alerts.error_summary(context.for_run_failure()) == "boom: boom"


def test_the_post_is_retried_once_then_gives_up_naming_only_the_host():
    with Receiver(statuses=(503,)) as flaky:
        alerts.post_alert(flaky.url, {"text": "x"}, pause=0)
        assert len(flaky.bodies) == 2  # one retry, then delivered
    with Receiver(statuses=(500, 502)) as down:
        with pytest.raises(alerts.AlertError) as caught:
            alerts.post_alert(down.url, {"text": "x"}, pause=0)
        assert len(down.bodies) == 2
        assert str(caught.value) == "the alert webhook at 127.0.0.1 did not take the message (HTTP 502)"
        assert "secretpath" not in str(caught.value)
    with Receiver(statuses=(404,)) as gone:
        with pytest.raises(alerts.AlertError, match=r"\(HTTP 404\)"):
            alerts.post_alert(gone.url, {"text": "x"}, pause=0)
        assert len(gone.bodies) == 1  # a refusal is not retried


def test_secrets_are_masked_and_a_bad_webhook_url_is_one_line(monkeypatch):
    monkeypatch.setenv("UPSALES_API_TOKEN", WRONG_KEY)
    assert alerts.clean_error(f"failed with {WRONG_KEY} in it") == "failed with *** in it"
    with pytest.raises(SettingsError, match="^ALERT_WEBHOOK_URL must be an http"):
        alerts.webhook_url({"ALERT_WEBHOOK_URL": "hooks.slack.com/services/x"})
    assert alerts.webhook_url({}) == ""


def test_the_sensor_is_a_run_failure_sensor_of_the_code_location_and_starts_on():
    sensor = build_defs().resolve_sensor_def(alerts.SENSOR_NAME)
    assert isinstance(sensor, dg.RunStatusSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_a_token_in_any_form_near_the_cut_never_reaches_the_alert_in_part(monkeypatch):
    """The alert's error is cut to 300 characters: the tokens are masked on the full text first, in
    every form a message can carry them (as is, URL-encoded, JSON-escaped)."""
    token = 'k3y+/="\\abc&%?#<d9eF>Qx7_w8Lm'
    monkeypatch.setenv("UPSALES_API_TOKEN", token)
    forms = [token, quote(token, safe=""), quote_plus(token), json.dumps(token)[1:-1]]
    pieces = {form[i:i + 6] for form in forms for i in range(len(form) - 5)}

    @dg.op(config_schema={"message": str})
    def boom(context):
        raise RuntimeError(context.op_config["message"])

    @dg.job
    def tiny():
        boom()

    with dg.DagsterInstance.ephemeral() as instance:
        for form in forms:
            for start in (250, 280, 290, 297):  # where the form starts in "boom: <message>"
                message = "-" * (start - len("boom: ")) + form + " and then some" * 10
                result = tiny.execute_in_process(run_config={"ops": {"boom": {"config": {"message": message}}}},
                                                 instance=instance, raise_on_error=False)
                context = failure_context(result.run_id, instance).for_run_failure()
                summary = alerts.error_summary(context)
                assert summary.startswith("boom: ---") and len(summary) <= alerts.ERROR_MAX_CHARS
                assert not {piece for piece in pieces if piece in summary}, (form, start, summary)
