"""Settings: defaults, and one clear line for every bad value."""

import pytest

from wistia_pipeline.sinks import registry
from wistia_pipeline.settings import Settings, SettingsError

TOKENS = {"WISTIA_API_TOKEN": "w", "UPSALES_API_TOKEN": "u"}


def test_defaults():
    s = Settings.from_env(TOKENS)
    assert (s.sync_activities, s.sync_forms, s.activity_score, s.min_percent_watched, s.form_policy,
            s.lookback_days, s.wistia_projects) == (True, False, 10, 0.0, "single", 3, ())
    assert s.wistia_api_url == "https://api.wistia.com/v1"
    assert s.upsales_api_url == "https://power.upsales.com/api"
    assert registry.enabled(s) == ("activities",)


def test_values_are_parsed():
    s = Settings.from_env({**TOKENS, "MIN_PERCENT_WATCHED": "57.5", "WISTIA_PROJECTS": " abc123, Webinars ,",
                           "FORM_POLICY": "Video", "SYNC_FORMS": "yes", "UPSALES_CUSTOMER_ID": "1234",
                           "WISTIA_API_URL": "http://127.0.0.1:9/v1/"})
    assert s.min_percent_watched == 57.5 and s.wistia_projects == ("abc123", "Webinars")
    assert s.form_policy == "video" and registry.enabled(s) == ("activities", "forms")
    assert s.upsales_customer_id == 1234 and s.wistia_api_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("name,value,message", [
    ("FORM_POLICY", "weekly", "FORM_POLICY must be one of single, project, video, got 'weekly'"),
    ("MIN_PERCENT_WATCHED", "101", "MIN_PERCENT_WATCHED must be a number from 0 to 100, got '101'"),
    ("MIN_PERCENT_WATCHED", "-1", "MIN_PERCENT_WATCHED must be a number from 0 to 100"),
    ("MIN_PERCENT_WATCHED", "half", "MIN_PERCENT_WATCHED must be a number from 0 to 100"),
    ("ACTIVITY_SCORE", "ten", "ACTIVITY_SCORE must be a whole number from 0 to 1000, got 'ten'"),
    ("LOOKBACK_DAYS", "0", "LOOKBACK_DAYS must be a whole number of days"),
    ("SYNC_FORMS", "maybe", "SYNC_FORMS must be true or false, got 'maybe'"),
    ("UPSALES_API_URL", "power.upsales.com", "UPSALES_API_URL must be an http(s) URL"),
    ("UPSALES_CUSTOMER_ID", "acme", "UPSALES_CUSTOMER_ID must be the numeric Upsales customer id"),
])
def test_bad_values_name_the_variable_in_one_line(name, value, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**TOKENS, name: value})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


@pytest.mark.parametrize("missing", ["WISTIA_API_TOKEN", "UPSALES_API_TOKEN"])
def test_missing_token(missing):
    env = dict(TOKENS)
    del env[missing]
    with pytest.raises(SettingsError, match=f"^{missing} is not set"):
        Settings.from_env(env)


def test_both_destinations_off_is_an_error():
    with pytest.raises(SettingsError, match="enable at least one destination"):
        Settings.from_env({**TOKENS, "SYNC_ACTIVITIES": "false"})


def test_partitions_start_defaults_to_a_fixed_day():
    """The same start on every day (a start moving with today would redefine the partitions daily)."""
    from datetime import date

    from wistia_pipeline.settings import DEFAULT_PARTITIONS_START, variable

    assert DEFAULT_PARTITIONS_START == "2026-01-01"
    assert variable("PARTITIONS_START").default == DEFAULT_PARTITIONS_START
    assert Settings.from_env(TOKENS).partitions_start == date(2026, 1, 1)
    assert Settings.from_env({**TOKENS, "PARTITIONS_START": " 2025-12-01 "}).partitions_start == date(2025, 12, 1)
    assert Settings.from_env(TOKENS).describe()["PARTITIONS_START"] == "2026-01-01"


@pytest.mark.parametrize("value", ["2026-13-01", "yesterday", "20260101", "2999-01-01"])
def test_a_bad_partitions_start_names_the_variable(value):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**TOKENS, "PARTITIONS_START": value})
    assert str(caught.value).startswith("PARTITIONS_START must be a date as YYYY-MM-DD")
    assert "\n" not in str(caught.value)


# -- issue #15: FORM_SCORE, ACTIVITY_NOTIFY, ACTIVITY_NOTIFY_MIN_PERCENT ---------------------------


def test_scoring_and_notification_defaults_and_values():
    s = Settings.from_env(TOKENS)
    assert (s.form_score, s.activity_notify, s.activity_notify_min_percent) == (10, False, 50.0)
    assert {k: s.describe()[k] for k in ("FORM_SCORE", "ACTIVITY_NOTIFY", "ACTIVITY_NOTIFY_MIN_PERCENT")} == {
        "FORM_SCORE": "10", "ACTIVITY_NOTIFY": "false", "ACTIVITY_NOTIFY_MIN_PERCENT": "50"}
    s = Settings.from_env({**TOKENS, "FORM_SCORE": " 0 ", "ACTIVITY_NOTIFY": "Yes", "ACTIVITY_NOTIFY_MIN_PERCENT": "57.5"})
    assert (s.form_score, s.activity_notify, s.activity_notify_min_percent) == (0, True, 57.5)
    assert Settings.from_env({**TOKENS, "FORM_SCORE": "1000", "ACTIVITY_NOTIFY_MIN_PERCENT": "100"}).form_score == 1000


@pytest.mark.parametrize("name,value,message", [
    ("FORM_SCORE", "1001", "FORM_SCORE must be a whole number from 0 to 1000, got '1001'"),
    ("FORM_SCORE", "-1", "FORM_SCORE must be a whole number from 0 to 1000, got '-1'"),
    ("FORM_SCORE", "2.5", "FORM_SCORE must be a whole number from 0 to 1000, got '2.5'"),
    ("ACTIVITY_NOTIFY", "sometimes", "ACTIVITY_NOTIFY must be true or false, got 'sometimes'"),
    # The same parser as MIN_PERCENT_WATCHED: 0..100, inclusive.
    ("ACTIVITY_NOTIFY_MIN_PERCENT", "101", "ACTIVITY_NOTIFY_MIN_PERCENT must be a number from 0 to 100, got '101'"),
    ("ACTIVITY_NOTIFY_MIN_PERCENT", "half", "ACTIVITY_NOTIFY_MIN_PERCENT must be a number from 0 to 100, got 'half'"),
])
def test_bad_scoring_and_notification_values_name_the_variable(name, value, message):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({**TOKENS, name: value})
    assert str(caught.value) == message


def test_the_launchpad_can_override_the_new_settings():
    from wistia_pipeline.settings import PipelineSettings

    settings = PipelineSettings(form_score="25", activity_notify="true", activity_notify_min_percent="80").load()
    assert (settings.form_score, settings.activity_notify, settings.activity_notify_min_percent) == (25, True, 80.0)
    with pytest.raises(SettingsError, match="^FORM_SCORE must be a whole number from 0 to 1000"):
        PipelineSettings(form_score="lots").load()
