"""The fast path of the email check: every plain email is valid, and SQL agrees with Python.

converted_views trusts `is_plain_email` (a DuckDB macro) and calls `is_valid_email` only for the
rest, so the pattern must never vouch for an address email_validator refuses.
"""

from __future__ import annotations

import random

import duckdb
import pytest

from wistia_pipeline import db, rules

EDGE_CASES = [
    "anna.berg@acme.se", "A+B%c_d-e@sub-d.ACME.COM", "a@1.2.com", "a@b.co", "x@acme..se", "a@b@c",
    "foo@", "erik@nodot", "anna berg@acme.se", "@acme.se", ".a@x.se", "a.@x.se", "a@-x.se", "a@x-.se",
    "a@x.s1", "a@ab--cd.com", "a@xn--80ak6aa92e.com", "a@x.test", "a@x.TEST", "a@localhost", "a@x.onion",
    "a@sub.local", "a@home.arpa", "a@x.invalid", "a" * 64 + "@x.se", "a" * 65 + "@x.se",
    "a@" + "b" * 63 + ".se", "a@" + "b" * 64 + ".se", "a@" + ("b" * 60 + ".") * 4 + "se",
    "åsa@acme.se", "a@åäö.se", "a@acme.se ", " a@acme.se", "a\t@acme.se", "a@acme.s", "a@acme.c0m",
    "o'brien@acme.ie", "a{b}@acme.se", "\"quoted\"@acme.se", "a@[127.0.0.1]", "a@acme.se.", "",
]


def corpus(n: int = 4000, seed: int = 6) -> list[str]:
    """Plausible addresses, half of them with one random edit that may or may not break them."""
    rng = random.Random(seed)

    def word(chars: str, longest: int) -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(1, longest)))

    found = []
    for _ in range(n):
        local = ".".join(word("abcXYZ019_%+-", 8) for _ in range(rng.randint(1, 3)))
        labels = [word("abcXYZ019", 6) + rng.choice(["", "-" + word("ab1", 3)]) for _ in range(rng.randint(1, 3))]
        tld = rng.choice(["se", "com", "io", "museum", "test", "local", "onion", "c0", "x", "a" * 64])
        email = f"{local}@{'.'.join(labels)}.{tld}"
        if rng.random() < 0.5:  # one edit: insert, replace or delete a character
            at = rng.randrange(len(email))
            extra = rng.choice(".-@_ '\"{}~!#åé\t") 
            email = rng.choice([email[:at] + extra + email[at:], email[:at] + extra + email[at + 1:],
                                email[:at] + email[at + 1:]])
        found.append(email)
    return EDGE_CASES + found


@pytest.fixture(scope="module")
def con():
    return db.prepare(duckdb.connect(":memory:"))


def test_every_plain_email_is_valid():
    plain = [e for e in corpus() if rules.is_plain_email(e)]
    assert len(plain) > 1000  # the corpus does exercise the fast path
    assert [e for e in plain if not rules.is_valid_email(e)] == []


def test_the_sql_macro_is_the_python_rule(con):
    emails = corpus()
    got = dict(con.execute("SELECT e, coalesce(is_plain_email(e), false) FROM unnest(?) AS t(e)", [emails]).fetchall())
    assert {e: got[e] for e in emails} == {e: rules.is_plain_email(e) for e in emails}


def test_the_converted_stage_gives_the_same_answer_as_the_python_check(con):
    emails = [e for e in corpus() if e]
    con.execute("CREATE OR REPLACE TEMP TABLE _emails AS SELECT unnest(?) AS e", [emails])
    got = dict(con.execute(
        "SELECT e, CASE WHEN is_plain_email(e) THEN true ELSE is_valid_email(e) END FROM _emails").fetchall())
    assert got == {e: rules.is_valid_email(e) for e in emails}
