"""One reading of each token and setting: what `doctor` accepts is exactly what a sync sends.

`doctor` reads the environment through the settings' parsers; a run's resources get the tokens
through Dagster's EnvVar, unparsed. Both must clean a token the same way (settings.clean_token),
or a token with a stray space passes doctor and fails every run with 401.
"""

from __future__ import annotations

import os

import dagster as dg
import pytest

from wistia_pipeline.cli import run_sync
from wistia_pipeline.clients import UpsalesResource, WistiaResource
from wistia_pipeline.definitions import build_resources
from wistia_pipeline.operations.doctor import check_upsales, check_wistia, format_checks, run_doctor
from wistia_pipeline.settings import Settings, SettingsError, clean_token

TOKENS = ("WISTIA_API_TOKEN", "UPSALES_API_TOKEN")
CHECKS = {"WISTIA_API_TOKEN": "Wistia API token", "UPSALES_API_TOKEN": "Upsales API key"}


def run_side() -> dict[str, str]:
    """What a run's clients make of the environment: build_resources' resources, EnvVar resolved by
    Dagster, each client's verify call; "ok" or the error as one line with its class."""
    outcome: dict[str, str] = {}

    @dg.asset
    def probe(wistia: WistiaResource, upsales: UpsalesResource) -> None:
        for variable, resource in (("WISTIA_API_TOKEN", wistia), ("UPSALES_API_TOKEN", upsales)):
            try:
                resource.get_client().verify()
                outcome[variable] = "ok"
            except Exception as error:  # noqa: BLE001 - what the run would fail with
                outcome[variable] = f"{type(error).__name__}: {error}"

    resources = build_resources()
    assert dg.materialize([probe], resources={"wistia": resources["wistia"], "upsales": resources["upsales"]}).success
    return outcome


@pytest.mark.parametrize("pad", [" {}", "{}\n", "\t{} \r\n"], ids=["leading space", "newline", "both"])
def test_a_token_with_surrounding_whitespace_works_in_doctor_and_in_a_run(pipeline_env, monkeypatch, pad):
    for variable in TOKENS:
        monkeypatch.setenv(variable, pad.format(pipeline_env[variable]))
    checks = {check.name: check for check in run_doctor(os.environ)}
    for variable, name in CHECKS.items():
        assert checks[variable].ok and checks[name].ok, checks[name]
    assert run_side() == {"WISTIA_API_TOKEN": "ok", "UPSALES_API_TOKEN": "ok"}


def test_a_token_with_inner_whitespace_is_the_same_one_line_error_in_doctor_and_in_a_run(pipeline_env, monkeypatch):
    parts = {"WISTIA_API_TOKEN": ("wistia-part-one", "wistia-part-two"),
             "UPSALES_API_TOKEN": ("upsales-part-one", "upsales-part-two")}
    for variable, (one, two) in parts.items():
        monkeypatch.setenv(variable, f"{one} {two}")
    checks = run_doctor(os.environ)
    shown = {check.name: check for check in checks}
    ran = run_side()
    for variable, name in CHECKS.items():
        expected = (f"{variable} has whitespace inside: an API token is one word; "
                    "copy it again without spaces or line breaks")
        assert ran[variable] == f"SettingsError: {expected}"
        assert not shown[variable].ok and f"{variable} {shown[variable].detail}" == expected
        assert not shown[name].ok  # not checked against the service
    # doctor's service checks, given such a token directly, say the same through the resources
    url = pipeline_env["WISTIA_API_URL"]
    assert check_wistia(url, "wistia-part-one wistia-part-two").detail == ran["WISTIA_API_TOKEN"].split(": ", 1)[1]
    [upsales] = check_upsales(pipeline_env["UPSALES_API_URL"], "upsales-part-one upsales-part-two", None, False)
    assert upsales.detail == ran["UPSALES_API_TOKEN"].split(": ", 1)[1]
    everything = format_checks(checks) + repr(ran) + check_wistia(url, "wistia-part-one wistia-part-two").detail
    for one, two in parts.values():
        assert one not in everything and two not in everything


def test_a_run_with_an_unusable_key_fails_on_the_one_line_error(pipeline_env, monkeypatch, today):
    monkeypatch.setenv("UPSALES_API_TOKEN", "upsales-part-one upsales-part-two")
    report = run_sync(today, today)
    assert not report.success
    assert "UPSALES_API_TOKEN has whitespace inside" in report.error and "\n" not in report.error
    assert "upsales-part" not in report.error


@pytest.mark.parametrize("value, problem", [
    ("", "is not set"), (" \n\t", "is not set"), (None, "is not set"),
    ("qwx91 zyv82", "has whitespace inside"), ("qwx91\tzyv82", "has whitespace inside"),
    ("qwx91\x00zyv82", "has a character an HTTP header cannot carry"),
    ("qwx91\x7fzyv82", "has a character an HTTP header cannot carry"),
    ("qwx91ézyv82", "has a character an HTTP header cannot carry"),
])
def test_clean_token_refuses_in_one_line_without_the_value(value, problem):
    with pytest.raises(SettingsError) as caught:
        clean_token("UPSALES_API_TOKEN", value)
    message = str(caught.value)
    assert message.startswith(f"UPSALES_API_TOKEN {problem}") and "\n" not in message
    assert "qwx91" not in message and "zyv82" not in message


def test_clean_token_keeps_the_token_itself():
    assert clean_token("WISTIA_API_TOKEN", "  abc-123_XYZ.~+/=\n") == "abc-123_XYZ.~+/="


def test_build_resources_reads_every_setting_through_its_parser(monkeypatch):
    monkeypatch.setenv("WISTIA_API_URL", " http://wistia.test/v1/ ")
    monkeypatch.setenv("UPSALES_API_URL", "http://upsales.test/api/\n")
    monkeypatch.setenv("WISTIA_PUBLIC_TOKEN", " public-token ")
    monkeypatch.setenv("UPSALES_CUSTOMER_ID", " 77 ")
    resources = build_resources()
    assert resources["wistia"].api_url == "http://wistia.test/v1"
    assert resources["upsales"].api_url == "http://upsales.test/api"
    # the public token is no resource field: the sinks read it from the settings, by its parser
    assert Settings.from_env(require_tokens=False).wistia_public_token == "public-token"
    assert resources["upsales"].customer_id == "77"
    # a bad value: the default here; the run itself stops on the setting's one-line error
    monkeypatch.setenv("WISTIA_API_URL", "wistia.test/v1")
    monkeypatch.setenv("UPSALES_CUSTOMER_ID", "acme")
    resources = build_resources()
    assert resources["wistia"].api_url == "https://api.wistia.com/v1"
    assert resources["upsales"].customer_id == ""
