"""Emails masked on their way into Dagster's run storage (privacy.py): the rule and the net."""

from __future__ import annotations

import dagster as dg
import pytest

from wistia_pipeline.privacy import HIDDEN, MaskingLog, mask_email, mask_emails, protect


@pytest.mark.parametrize("email, masked", [
    ("anna@acme.se", "a•••@acme.se"),
    ("  Anna.Berg@Acme.se ", "A•••@Acme.se"),     # trimmed; never more than the first character
    ("a@acme.se", "a•••@acme.se"),                # the length of the local part is not shown either
    ("@acme.se", "•••@acme.se"),                  # empty local part
    ("åsa.öberg@exempel.se", "å•••@exempel.se"),  # non-ASCII: one character, not one byte
    ("a@b@c.se", "a•••@c.se"),                    # the last @ splits
    ("foo@", "f•••@"),
    ("not an email", HIDDEN),                     # no @: nothing of it
    ("", HIDDEN),
])
def test_mask_email_shows_the_first_character_and_the_domain_only(email, masked):
    assert mask_email(email) == masked
    assert mask_email(masked) == masked  # masking twice changes nothing


def test_mask_email_keeps_none():
    assert mask_email(None) is None


def test_every_email_shaped_word_of_a_text_is_masked_and_the_rest_kept():
    text = ('| 101 | anna.berg@acme.se | {"email": "Sara@Nordkraft.se", "conversion_data": {"email": "foo@"}} '
            '| Anna Berg watched Tour (83%) Heatmap: https://acme.wistia.com/stats/x?visitor=1 |')
    masked = mask_emails(text)
    for email in ("anna.berg@acme.se", "Sara@Nordkraft.se", '"foo@"'):
        assert email not in masked
    assert "a•••@acme.se" in masked and "S•••@Nordkraft.se" in masked and '"f•••@"' in masked
    assert "| 101 |" in masked and "https://acme.wistia.com/stats/x?visitor=1" in masked


def test_protect_reaches_into_markdown_json_text_and_plain_values():
    metadata = {
        "preview": dg.MetadataValue.md("| email |\n|---|\n| anna@acme.se |"),
        "payloads": dg.MetadataValue.json([{"fieldValues": [{"name": "Contact.email", "value": "anna@acme.se"}],
                                            "contact": 7}]),
        "note": dg.MetadataValue.text("refused anna@acme.se"),
        "first": "anna@acme.se",
        "posted": 3,
    }
    masked = protect(metadata)
    assert "anna@acme.se" not in repr(masked)
    assert masked["preview"].md_str.endswith("| a•••@acme.se |")
    assert masked["payloads"].data[0]["contact"] == 7  # ids stay visible
    assert masked["posted"] == 3
    assert protect(metadata, full=True) is metadata  # PREVIEW_EMAILS=full: as it is


def test_the_masking_log_masks_unless_full():
    seen: list[str] = []

    class Log:
        def warning(self, message):
            seen.append(message)

    MaskingLog(Log()).warning("activities: k1 refused by Upsales: invalid contact anna@acme.se")
    MaskingLog(Log(), full=True).warning("anna@acme.se")
    assert seen == ["activities: k1 refused by Upsales: invalid contact a•••@acme.se", "anna@acme.se"]
