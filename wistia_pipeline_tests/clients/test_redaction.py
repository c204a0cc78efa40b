"""A token echoed by a server never reaches an error, whole or in part, in any form, at any position.

The reason in an error is cut to 200 characters; masking must happen on the full text first, or a
token near the cut loses its tail, no longer matches and leaks its head.
"""

from __future__ import annotations

import json
from urllib.parse import quote, quote_plus

import pytest

from wistia_pipeline import redaction
from wistia_pipeline.clients import ApiError, UpsalesClient, WistiaClient

from .conftest import FAST, mount

# Characters that URL-encoding, JSON-escaping and HTML-escaping all change; no whitespace and no
# ";" (neither can be in a header value or a cookie), ASCII only.
TOKEN = 'k3y+/="\\abc&%?#<d9eF>Qx7_w8Lm'
FORMS = {
    "raw": TOKEN,
    "quote": quote(TOKEN, safe=""),
    "quote_plus": quote_plus(TOKEN),
    "json": json.dumps(TOKEN)[1:-1],
}
MESSAGE_CHARS = 400
FILLER_WORDS = "request failed. check the request. "


def pieces(n: int = 6) -> set[str]:
    """Every n-character piece of the token and of each of its encoded forms."""
    return {form[i:i + n] for form in FORMS.values() for i in range(len(form) - n + 1)}


PIECES = pieces()


def filler(n: int) -> str:
    return (FILLER_WORDS * (n // len(FILLER_WORDS) + 1))[:n]


def messages(form: str):
    """A 400-character message with ``form`` starting at every position."""
    text = filler(MESSAGE_CHARS - len(form))
    for position in range(len(text) + 1):
        yield text[:position] + form + text[position:]


def leaked(text: str) -> set[str]:
    return {piece for piece in PIECES if piece in text}


def test_the_filler_alone_holds_no_piece_of_the_token():
    assert not leaked(filler(MESSAGE_CHARS) + "Wistia Upsales returned reported error GET POST /x.json")


# (how the client is built, how the server answers a message, the method) per error path; the
# client-side rate limits are lifted: each test sends ~400 requests.
def wistia(**options):
    return WistiaClient("https://wistia.example.test/v1", TOKEN, max_attempts=1, per_minute=10**6,
                        **{**FAST, **options})


def upsales(**options):
    return UpsalesClient("https://upsales.example.test/api", TOKEN, max_attempts=1, per_10s=10**6,
                        **{**FAST, **options})


PATHS = {
    "4xx JSON error": (wistia, lambda m: (400, {"error": m}, {}), "GET"),
    "4xx text body": (wistia, lambda m: (422, m, {"Content-Type": "text/plain"}), "GET"),
    "403 with reason": (wistia, lambda m: (403, {"error": m}, {}), "GET"),
    "5xx after retries": (wistia, lambda m: (503, m, {}), "GET"),
    "5xx on a write": (upsales, lambda m: (500, {"error": {"msg": m}}, {}), "POST"),
    "200 with an error envelope": (upsales, lambda m: (200, {"error": {"msg": m, "code": 400}, "data": None}, {}),
                                   "GET"),
}


@pytest.mark.parametrize("form", sorted(FORMS))
@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_token_echoed_at_any_position_never_leaks_in_part(path, form):
    build, answer, method = PATHS[path]
    client = build()
    current = {}
    mount(client, lambda request: answer(current["message"]))
    texts = []
    for message in messages(FORMS[form]):
        current["message"] = message
        with pytest.raises(ApiError) as info:
            client.session.request(method, "/things.json", json={} if method == "POST" else None)
        text = str(info.value)
        assert not leaked(text), (message.index(FORMS[form]), text)
        assert "\n" not in text
        texts.append(text)
    assert len(texts) == MESSAGE_CHARS - len(FORMS[form]) + 1
    assert "***" in texts[0]  # the token at the start: masked where it stood


def test_masking_happens_before_the_cut():
    text = "x" * 170 + f"token={TOKEN} and more" + "y" * 100
    cut = redaction.clean(text, [TOKEN], 200)
    assert cut.startswith("x" * 170 + "token=*** and more") and cut.endswith("...")
    assert len(cut) == 200 and not leaked(cut)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_of_a_token_is_masked(form):
    assert redaction.mask(f"a {FORMS[form]} b", [TOKEN]) == "a *** b"
    # lower-case hex in a URL-encoded echo too
    assert redaction.mask(f"a {FORMS[form].lower()} b", [TOKEN]) == "a *** b"
