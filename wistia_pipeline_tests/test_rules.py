"""The pure product rules."""

import pytest

from wistia_pipeline import rules


@pytest.mark.parametrize("email,valid", [
    ("anna.berg@acme.se", True), ("Anna.Berg@ACME.se", True), ("åsa@fjällsoft.no", True),
    ("foo@", False), ("a@b@c", False), ("erik@nodot", False), ("anna berg@acme.se", False),
    ("", False), (None, False), ("'; DROP TABLE x; --@acme.se", False),
])
def test_is_valid_email(email, valid):
    assert rules.is_valid_email(email) is valid


@pytest.mark.parametrize("domain,personal", [
    ("gmail.com", True), ("GMAIL.COM", True), ("hotmail.com", True), ("outlook.com", True),
    ("icloud.com", True), ("yahoo.se", True), ("yahoo.co.uk", True), ("telia.com", True),
    ("bredband.net", True), ("comhem.se", True), ("acme.se", False), ("nordkraft.se", False), ("", False),
])
def test_is_personal_domain(domain, personal):
    assert rules.is_personal_domain(domain) is personal


def test_external_id_is_a_stable_36_character_uuid_of_the_event_key():
    a = rules.external_id("1760721_0a81a338-3f6e-4c2b-9a51-2b1c0d9eabca")
    assert len(a) == 36 and a == rules.external_id("1760721_0a81a338-3f6e-4c2b-9a51-2b1c0d9eabca")
    assert a != rules.external_id("1390862572596e0.8447021404281259")


@pytest.mark.parametrize("fraction,percent", [(0.575, 58), (0.5749, 57), (0.57, 57), (0.005, 1), (1.0, 100), (0.0, 0), (None, 0)])
def test_whole_percent_rounds_half_up(fraction, percent):
    assert rules.whole_percent(fraction) == percent


def test_activity_value_with_contact_and_anonymous():
    assert rules.activity_value("Anna Berg", "Product tour", 83, "https://h/x") == \
        "Anna Berg watched Product tour (83%) Heatmap: https://h/x"
    assert rules.activity_value(None, "Product tour", 40, None) == "Someone watched Product tour (40%)"


def test_activity_value_shortens_the_video_name_first():
    heatmap = "https://api.wistia.com/v1/stats/events/k/iframe.html?public_token=p"
    value = rules.activity_value("Anna Berg", "V" * 5000, 58, heatmap)
    assert len(value) == rules.VALUE_MAX_CHARS
    assert value.startswith("Anna Berg watched VVV") and value.endswith(f" (58%) Heatmap: {heatmap}")


def test_heatmap_link_prefers_wistias_own_then_the_public_token():
    assert rules.heatmap_url("k", " https://given ", "https://api.wistia.com/v1", "pub") == "https://given"
    assert rules.heatmap_url("k", "", "https://api.wistia.com/v1/", "pub") == \
        "https://api.wistia.com/v1/stats/events/k/iframe.html?public_token=pub"
    assert rules.heatmap_url("k", None, "https://api.wistia.com/v1", "") is None
