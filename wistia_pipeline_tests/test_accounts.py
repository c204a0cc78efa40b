"""The accounts file (issue #14): a good file read in full, and one line for every bad one,
naming the file, the account and the key, never a secret's value."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from wistia_pipeline.accounts import (
    SECRET_KEYS,
    SETTING_NAMES,
    Account,
    accounts_from_environment,
    load_accounts,
    unread_variables,
)
from wistia_pipeline.settings import VARIABLES, SettingsError, database_path

SECRETS = {
    "ACME_WISTIA_API_TOKEN": "wsecretacme0123456789abcdef",
    "ACME_UPSALES_API_TOKEN": "usecretacme-0123-4567",
    "ACME_WISTIA_PUBLIC_TOKEN": "psecretacme987",
    "BETA_WISTIA_API_TOKEN": "wsecretbeta0123456789abcdef",
    "BETA_UPSALES_API_TOKEN": "usecretbeta-0123-4567",
    "GAMMA_WISTIA_API_TOKEN": "wsecretgamma0123456789abcdef",
    "GAMMA_UPSALES_API_TOKEN": "usecretgamma-0123-4567",
    "GAMMA_ALERT_WEBHOOK_URL": "https://hooks.example.com/services/HOOKSECRET/PATH",
}
# The single-account environment: in many-account mode none of it is read.
PROCESS_ONLY = {
    "WISTIA_API_TOKEN": "wsecretsingle",
    "UPSALES_API_TOKEN": "usecretsingle",
    "MIN_PERCENT_WATCHED": "90",
    "FORM_POLICY": "video",
}
ENV = {**SECRETS, **PROCESS_ONLY}
SECRET_VALUES = [*SECRETS.values(), PROCESS_ONLY["WISTIA_API_TOKEN"], PROCESS_ONLY["UPSALES_API_TOKEN"]]

GOOD = """\
defaults:                          # shared by every account
  MIN_PERCENT_WATCHED: 25
  LOOKBACK_DAYS: 5
accounts:
  - name: acme
    wistia_api_token_env: ACME_WISTIA_API_TOKEN
    upsales_api_token_env: ACME_UPSALES_API_TOKEN
    wistia_public_token_env: ACME_WISTIA_PUBLIC_TOKEN   # optional
    settings:
      MIN_PERCENT_WATCHED: 50.5
      SYNC_FORMS: true
      WISTIA_API_URL: https://api.wistia.com/v1
      WISTIA_PROJECTS: [Webinars, abc123, 42]
      PARTITIONS_START: 2026-01-01
  - name: beta
    wistia_api_token_env: BETA_WISTIA_API_TOKEN
    upsales_api_token_env: BETA_UPSALES_API_TOKEN
  - name: gamma_2
    wistia_api_token_env: GAMMA_WISTIA_API_TOKEN
    upsales_api_token_env: GAMMA_UPSALES_API_TOKEN
    alert_webhook_url_env: GAMMA_ALERT_WEBHOOK_URL
    settings:
      WISTIA_PIPELINE_DB: other/gamma.duckdb
      LOOKBACK_DAYS:                 # empty: the built-in default, not the file's defaults
"""

# The start of every account, for the error cases.
ACME = """\
accounts:
  - name: acme
    wistia_api_token_env: ACME_WISTIA_API_TOKEN
    upsales_api_token_env: ACME_UPSALES_API_TOKEN
"""
BETA = """\
  - name: beta
    wistia_api_token_env: BETA_WISTIA_API_TOKEN
    upsales_api_token_env: BETA_UPSALES_API_TOKEN
"""


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """The test's own directory as the working directory, so relative paths (the file, the
    DuckDB files) resolve inside it and the errors read `accounts.yaml: ...`."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(directory: Path, text: str) -> str:
    (directory / "accounts.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return "accounts.yaml"


def error_of(path: str, env=ENV, **kwargs) -> str:
    with pytest.raises(SettingsError) as caught:
        load_accounts(path, env, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for value in SECRET_VALUES:
        assert value not in message
    return message


# -- the good file ----------------------------------------------------------------------------

def test_the_good_file(in_tmp):
    acme, beta, gamma = load_accounts(write(in_tmp, GOOD), ENV)
    assert [a.name for a in (acme, beta, gamma)] == ["acme", "beta", "gamma_2"]
    assert (acme.wistia_api_token_env, acme.upsales_api_token_env, acme.wistia_public_token_env) == (
        "ACME_WISTIA_API_TOKEN", "ACME_UPSALES_API_TOKEN", "ACME_WISTIA_PUBLIC_TOKEN")
    assert acme.source == "accounts.yaml"
    # The overlay holds texts as the environment would: the file's defaults under the account's own.
    assert dict(acme.overlay) == {
        "MIN_PERCENT_WATCHED": "50.5", "LOOKBACK_DAYS": "5", "SYNC_FORMS": "true",
        "WISTIA_API_URL": "https://api.wistia.com/v1", "WISTIA_PROJECTS": "Webinars,abc123,42",
        "PARTITIONS_START": "2026-01-01"}
    assert dict(beta.overlay) == {"MIN_PERCENT_WATCHED": "25", "LOOKBACK_DAYS": "5"}

    a, b, g = (account.settings(ENV) for account in (acme, beta, gamma))
    assert (a.min_percent_watched, a.lookback_days, a.sync_forms, a.wistia_projects, a.partitions_start) == (
        50.5, 5, True, ("Webinars", "abc123", "42"), date(2026, 1, 1))
    assert a.wistia_public_token == SECRETS["ACME_WISTIA_PUBLIC_TOKEN"]
    # Defaults, then built-in defaults; the process environment's MIN_PERCENT_WATCHED=90 and
    # FORM_POLICY=video are never read.
    assert (b.min_percent_watched, b.lookback_days, b.form_policy, b.sync_forms) == (25, 5, "single", False)
    assert b.wistia_public_token == "" and b.alert_webhook_url == ""
    assert (g.min_percent_watched, g.lookback_days) == (25, 3)
    assert g.alert_webhook_url == SECRETS["GAMMA_ALERT_WEBHOOK_URL"]


def test_each_account_has_its_own_duckdb_file(in_tmp):
    acme, beta, gamma = load_accounts(write(in_tmp, GOOD), ENV)
    assert [a.db_path for a in (acme, beta, gamma)] == ["data/acme.duckdb", "data/beta.duckdb", "other/gamma.duckdb"]
    assert acme.settings(ENV).db_path == "data/acme.duckdb"
    assert database_path(gamma.env(ENV)) == str(in_tmp / "other" / "gamma.duckdb")


def test_defaults_may_place_every_file_with_name(in_tmp):
    path = write(in_tmp, "defaults:\n  WISTIA_PIPELINE_DB: /srv/wistia/{name}.duckdb\n" + ACME + BETA
                 + "    settings:\n      WISTIA_PIPELINE_DB: ''\n")
    acme, beta = load_accounts(path, ENV)
    assert acme.db_path == "/srv/wistia/acme.duckdb"
    assert beta.db_path == "data/beta.duckdb"  # empty: the account's own default, never a shared file


def test_tokens_come_from_the_named_variables_only(in_tmp):
    acme, beta, gamma = load_accounts(write(in_tmp, GOOD), ENV)
    env = acme.env(ENV)
    assert env["WISTIA_API_TOKEN"] == SECRETS["ACME_WISTIA_API_TOKEN"]
    assert env["UPSALES_API_TOKEN"] == SECRETS["ACME_UPSALES_API_TOKEN"]
    assert env["WISTIA_PUBLIC_TOKEN"] == SECRETS["ACME_WISTIA_PUBLIC_TOKEN"]
    assert beta.env(ENV)["WISTIA_API_TOKEN"] == SECRETS["BETA_WISTIA_API_TOKEN"]
    # Nothing of the single-account environment: no public token, no MIN_PERCENT_WATCHED=90.
    assert "WISTIA_PUBLIC_TOKEN" not in beta.env(ENV) and "FORM_POLICY" not in beta.env(ENV)
    assert beta.env(ENV)["MIN_PERCENT_WATCHED"] == "25"
    assert gamma.env(ENV)["ALERT_WEBHOOK_URL"] == SECRETS["GAMMA_ALERT_WEBHOOK_URL"]


def test_what_the_accounts_do_not_read_is_listed(in_tmp):
    accounts = load_accounts(write(in_tmp, GOOD), ENV)
    assert unread_variables(accounts, ENV) == ["WISTIA_API_TOKEN", "UPSALES_API_TOKEN", "MIN_PERCENT_WATCHED",
                                               "FORM_POLICY"]
    # A variable an account names for a secret is read.
    renamed = Account("x", "WISTIA_API_TOKEN", "UPSALES_API_TOKEN")
    assert unread_variables([renamed], ENV) == ["MIN_PERCENT_WATCHED", "FORM_POLICY"]


def test_the_resource_holds_the_accounts_values_and_only_names_of_secrets(in_tmp, monkeypatch):
    acme, beta, gamma = load_accounts(write(in_tmp, GOOD), ENV)
    resource = acme.pipeline_settings()
    assert resource.min_percent_watched == "50.5" and resource.db_path == "data/acme.duckdb"
    # The built-in default, set: an empty field would take the environment's (video, in ENV).
    assert resource.form_policy == "single"
    assert resource.wistia_public_token == "ACME_WISTIA_PUBLIC_TOKEN"  # an EnvVar: the name
    assert gamma.pipeline_settings().alert_webhook_url == "GAMMA_ALERT_WEBHOOK_URL"
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    for account in (acme, beta, gamma):
        assert account.pipeline_settings().load() == account.settings(ENV)


def test_an_account_is_frozen_and_hashable():
    account = Account("acme", "A", "B", overlay={"SYNC_FORMS": "true"})
    with pytest.raises(AttributeError):
        account.name = "beta"  # type: ignore[misc]
    with pytest.raises(TypeError):
        account.overlay["SYNC_FORMS"] = "false"  # type: ignore[index]
    assert hash(account) == hash(Account("acme", "A", "B"))
    assert account.env({})["WISTIA_PIPELINE_DB"] == "data/acme.duckdb"


def test_the_environment_switches_many_account_mode_on(in_tmp):
    assert accounts_from_environment({}) is None
    assert accounts_from_environment({"WISTIA_PIPELINE_ACCOUNTS": "  "}) is None
    write(in_tmp, GOOD)
    accounts = accounts_from_environment({**ENV, "WISTIA_PIPELINE_ACCOUNTS": "accounts.yaml"})
    assert [a.name for a in accounts] == ["acme", "beta", "gamma_2"]


def test_the_shape_can_be_read_without_the_secrets(in_tmp):
    assert len(load_accounts(write(in_tmp, GOOD), {}, require_secrets=False)) == 3
    assert "ACME_WISTIA_API_TOKEN is not set" in error_of("accounts.yaml", {})


def test_the_secrets_are_exactly_the_secret_variables():
    """A secret added to settings.py can never be written into the file as a plain setting."""
    assert {v.name for v in VARIABLES if v.secret} <= set(SECRET_KEYS)
    assert set(SETTING_NAMES) | set(SECRET_KEYS) == {v.name for v in VARIABLES}


# -- one line for every bad file ---------------------------------------------------------------

BAD = [
    # the file
    ("", 'accounts.yaml: the file is empty: it must hold `accounts:`, a list of accounts (docs/accounts.md)'),
    ("- name: acme\n",
     "accounts.yaml: the file must be a mapping with the key `accounts` (a list of accounts), not a list"),
    ("acounts: []\n", 'accounts.yaml: unknown key "acounts" (did you mean "accounts"?)'),
    ("version: 2\n" + ACME, 'accounts.yaml: unknown key "version"; known: accounts, defaults'),
    ("defaults: {}\n", "accounts.yaml: the key `accounts` is missing: it lists the accounts (docs/accounts.md)"),
    ("accounts: []\n", "accounts.yaml: accounts is empty: list at least one account"),
    ("accounts:\n", "accounts.yaml: accounts is empty: list at least one account"),
    ("accounts:\n  acme: {}\n",
     "accounts.yaml: accounts must be a list (each account starting with `- name:`), not a mapping"),
    # YAML
    (ACME + "    settings:\n      SYNC_FORMS: true\n     LOOKBACK_DAYS: 2\n",
     "accounts.yaml: line 7, column 6: not valid YAML: expected <block end>, but found '<block mapping start>'"),
    (ACME + "    settings: {SYNC_FORMS: true\n",
     "accounts.yaml: line 6, column 1: not valid YAML: expected ',' or '}', but got '<stream end>'"),
    (ACME + "    name: beta\n",
     "accounts.yaml: line 5, column 5: name is given twice in one mapping (YAML would keep only the last): "
     "remove one"),
    # an account's keys and name
    ("accounts:\n  - acme\n",
     "accounts.yaml: account #1: must be a mapping (name:, wistia_api_token_env:, ...), not a text"),
    (ACME + "    wistia_token_env: X\n",
     'accounts.yaml: account "acme": unknown key "wistia_token_env" (did you mean "wistia_api_token_env"?)'),
    (ACME + "    MIN_PERCENT_WATCHED: 5\n",
     'accounts.yaml: account "acme": unknown key "MIN_PERCENT_WATCHED"; known: name, wistia_api_token_env, '
     "upsales_api_token_env, wistia_public_token_env, alert_webhook_url_env, settings"),
    (ACME + BETA + "  - wistia_api_token_env: A\n    upsales_api_token_env: B\n",
     "accounts.yaml: account #3: name is missing: each account needs one matching [a-z0-9_]{1,40}"),
    (ACME + BETA + "  - name: Acme\n    wistia_api_token_env: A\n    upsales_api_token_env: B\n",
     'accounts.yaml: account #3: name "Acme" must match [a-z0-9_]{1,40}'),
    (ACME + "  - name: " + "a" * 41 + "\n",
     f'accounts.yaml: account #2: name "{"a" * 41}" must match [a-z0-9_]{{1,40}}'),
    (ACME + "  - name: 2024\n",
     "accounts.yaml: account #2: name must be a text matching [a-z0-9_]{1,40} (quote it), not a number"),
    (ACME + BETA + "  - name: acme\n    wistia_api_token_env: A\n    upsales_api_token_env: B\n",
     'accounts.yaml: account #3: name "acme" is already the name of account #1: each account needs its own name'),
    ("accounts:\n  - name: acme\n    upsales_api_token_env: U\n",
     'accounts.yaml: account "acme": wistia_api_token_env is missing: name the environment variable that '
     "holds the Wistia API token (such as ACME_WISTIA_API_TOKEN)"),
    ("accounts:\n  - name: acme\n    wistia_api_token_env: W\n",
     'accounts.yaml: account "acme": upsales_api_token_env is missing: name the environment variable that '
     "holds the Upsales API key (such as ACME_UPSALES_API_TOKEN)"),
    (ACME + "    wistia_public_token_env: acme-public\n",
     'accounts.yaml: account "acme": wistia_public_token_env must be the name of an environment variable '
     "(capitals, digits and _, such as ACME_WISTIA_PUBLIC_TOKEN), never the Wistia public token itself"),
    # settings
    (ACME + "    settings:\n      MIN_PERCENT_WATCHED: 101\n",
     'accounts.yaml: account "acme": MIN_PERCENT_WATCHED must be a number from 0 to 100, got \'101\''),
    (ACME + "    settings:\n      SYNC_FORMS: maybe\n",
     'accounts.yaml: account "acme": SYNC_FORMS must be true or false, got \'maybe\''),
    (ACME + "    settings:\n      PARTITIONS_START: 2026-13-01\n",
     'accounts.yaml: account "acme": PARTITIONS_START must be a date as YYYY-MM-DD, got \'2026-13-01\''),
    (ACME + "    settings:\n      SYNC_ACTIVITIES: false\n",
     'accounts.yaml: account "acme": SYNC_ACTIVITIES and SYNC_FORMS are both false: enable at least one '
     "destination"),
    (ACME + "    settings:\n      MIN_PERCENT_WATCH: 5\n",
     'accounts.yaml: account "acme": unknown setting "MIN_PERCENT_WATCH" (did you mean "MIN_PERCENT_WATCHED"?)'),
    (ACME + "    settings:\n      min_percent_watched: 5\n",
     'accounts.yaml: account "acme": unknown setting "min_percent_watched" (did you mean "MIN_PERCENT_WATCHED"?)'),
    (ACME + "    settings:\n      WISTIA_PIPELINE_ACCOUNTS: x.yaml\n",
     'accounts.yaml: account "acme": unknown setting "WISTIA_PIPELINE_ACCOUNTS" (did you mean '
     '"WISTIA_PIPELINE_DB"?)'),
    (ACME + "    settings:\n      LOOKBACK_DAYS: [1, 2]\n",
     'accounts.yaml: account "acme": LOOKBACK_DAYS must be one value, not a list'),
    (ACME + "    settings:\n      WISTIA_PROJECTS: ['Tours, EMEA']\n",
     "accounts.yaml: account \"acme\": WISTIA_PROJECTS lists 'Tours, EMEA': a project name with a comma cannot "
     "be told apart from two"),
    (ACME + "    settings: [SYNC_FORMS]\n",
     'accounts.yaml: account "acme": settings must be a mapping of settings (NAME: value), not a list'),
    (ACME + "    settings:\n      WISTIA_API_TOKEN: abc\n",
     'accounts.yaml: account "acme": WISTIA_API_TOKEN is a secret and never written in this file: give the '
     "name of the environment variable holding it as wistia_api_token_env"),
    (ACME + "    settings:\n      upsales_api_token: abc\n",
     'accounts.yaml: account "acme": UPSALES_API_TOKEN is a secret and never written in this file: give the '
     "name of the environment variable holding it as upsales_api_token_env"),
    (ACME + "    settings:\n      ALERT_WEBHOOK_URL: https://hooks.example.com/x\n",
     'accounts.yaml: account "acme": ALERT_WEBHOOK_URL is a secret and never written in this file: give the '
     "name of the environment variable holding it as alert_webhook_url_env"),
    # defaults
    ("defaults:\n  MIN_PERCENT_WATCHED: 200\n" + ACME,
     "accounts.yaml: defaults: MIN_PERCENT_WATCHED must be a number from 0 to 100, got '200'"),
    ("defaults:\n  FORM_POLICIES: video\n" + ACME,
     'accounts.yaml: defaults: unknown setting "FORM_POLICIES" (did you mean "FORM_POLICY"?)'),
    ("defaults:\n  WISTIA_PUBLIC_TOKEN: abc\n" + ACME,
     "accounts.yaml: defaults: WISTIA_PUBLIC_TOKEN is a secret and never written in this file: give the name "
     "of the environment variable holding it as wistia_public_token_env in each account"),
    ("defaults:\n  WISTIA_PIPELINE_DB: data/all.duckdb\n" + ACME,
     "accounts.yaml: defaults: WISTIA_PIPELINE_DB must contain {name} (the account's name): each account has "
     "its own DuckDB file, got 'data/all.duckdb'"),
    ("defaults: [MIN_PERCENT_WATCHED]\n" + ACME,
     "accounts.yaml: defaults must be a mapping of settings (NAME: value), not a list"),
    # two accounts, one file
    (ACME + "    settings:\n      WISTIA_PIPELINE_DB: data/shared.duckdb\n" + BETA
     + "    settings:\n      WISTIA_PIPELINE_DB: ./data/../data/shared.duckdb\n",
     'accounts.yaml: account "beta": WISTIA_PIPELINE_DB ./data/../data/shared.duckdb is also the DuckDB file of '
     'account "acme": two accounts never share a file'),
    (ACME + "    settings:\n      WISTIA_PIPELINE_DB: data/beta.duckdb\n" + BETA,
     'accounts.yaml: account "beta": WISTIA_PIPELINE_DB data/beta.duckdb (its default) is also the DuckDB file '
     'of account "acme": two accounts never share a file'),
]


@pytest.mark.parametrize("text,line", BAD, ids=range(len(BAD)))
def test_a_bad_file_stops_with_one_line(in_tmp, text, line):
    assert error_of(write(in_tmp, text)) == line


@pytest.mark.parametrize("env,line", [
    ({k: v for k, v in ENV.items() if k != "ACME_UPSALES_API_TOKEN"},
     'accounts.yaml: account "acme": upsales_api_token_env: the environment variable ACME_UPSALES_API_TOKEN is '
     "not set or empty: it must hold the Upsales API key"),
    ({**ENV, "ACME_WISTIA_API_TOKEN": "  "},
     'accounts.yaml: account "acme": wistia_api_token_env: the environment variable ACME_WISTIA_API_TOKEN is '
     "not set or empty: it must hold the Wistia API token"),
    ({**ENV, "ACME_WISTIA_API_TOKEN": "wsecret acme"},
     'accounts.yaml: account "acme": wistia_api_token_env: ACME_WISTIA_API_TOKEN has whitespace inside: an API '
     "token is one word; copy it again without spaces or line breaks"),
    ({k: v for k, v in ENV.items() if k != "ACME_WISTIA_PUBLIC_TOKEN"},
     'accounts.yaml: account "acme": wistia_public_token_env: the environment variable ACME_WISTIA_PUBLIC_TOKEN '
     "is not set or empty: it must hold the Wistia public token"),
    ({**ENV, "GAMMA_ALERT_WEBHOOK_URL": "hooks.example.com/services/HOOKSECRET"},
     'accounts.yaml: account "gamma_2": alert_webhook_url_env: GAMMA_ALERT_WEBHOOK_URL must be an http(s) URL '
     "(a Slack-compatible incoming webhook) or empty"),
])
def test_a_missing_or_bad_secret_names_the_account_the_key_and_the_variable(in_tmp, env, line):
    message = error_of(write(in_tmp, GOOD), env)
    assert message == line
    assert "HOOKSECRET" not in message and "wsecret" not in message


def test_the_file_must_exist(in_tmp):
    assert error_of("missing.yaml") == ("missing.yaml: no such file: WISTIA_PIPELINE_ACCOUNTS must name the "
                                        "accounts file (docs/accounts.md)")
    (in_tmp / "adir").mkdir()
    assert error_of("adir") == "adir: is a directory: WISTIA_PIPELINE_ACCOUNTS must name the accounts file"
    (in_tmp / "latin1.yaml").write_bytes("accounts: [{name: \xe5}]\n".encode("latin-1"))
    assert error_of("latin1.yaml") == "latin1.yaml: is not UTF-8 text"


def test_the_file_named_by_the_environment_must_exist(in_tmp):
    with pytest.raises(SettingsError, match=r"^nowhere\.yaml: no such file: WISTIA_PIPELINE_ACCOUNTS must"):
        accounts_from_environment({"WISTIA_PIPELINE_ACCOUNTS": "nowhere.yaml"})


# -- secrets never shown -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    # a token pasted where its variable's name belongs (lowercase hex, as Wistia's)
    ACME + "    wistia_public_token_env: psecretacme987\n",
    "accounts:\n  - name: acme\n    wistia_api_token_env: wsecretacme0123456789abcdef\n    upsales_api_token_env: U\n",
    "accounts:\n  - name: acme\n    wistia_api_token_env: W\n    upsales_api_token_env: usecretacme-0123-4567\n",
    # a token written as a setting, under its own name or another
    ACME + "    settings:\n      WISTIA_API_TOKEN: wsecretacme0123456789abcdef\n",
    ACME + "    settings:\n      ACME_TOKEN: usecretacme-0123-4567\n",
    ACME + "    usecretacme-0123-4567: x\n",
    "defaults:\n  UPSALES_API_TOKEN: usecretacme-0123-4567\n" + ACME,
    ACME + "    settings:\n      ALERT_WEBHOOK_URL: https://hooks.example.com/services/HOOKSECRET/PATH\n",
    # a key given twice, the token as the key
    ACME + "    settings:\n      usecretacme-0123-4567: 1\n      usecretacme-0123-4567: 2\n",
])
def test_no_error_shows_a_secret(in_tmp, text):
    message = error_of(write(in_tmp, text))
    assert "secret" not in message.replace("is a secret", "") and "HOOKSECRET" not in message


def test_an_accounts_repr_holds_names_never_secrets(in_tmp):
    accounts = load_accounts(write(in_tmp, GOOD), ENV)
    shown = repr(accounts) + "".join(str(a) for a in accounts) + repr([a.pipeline_settings() for a in accounts])
    for value in SECRETS.values():
        assert value not in shown
    assert "ACME_WISTIA_API_TOKEN" in shown


def test_two_accounts_with_the_same_wistia_and_upsales_tokens_are_refused(in_tmp):
    """Each account has its own ledger: the same pair of tokens twice would post every view twice.
    Compared by value, so two variable names holding one token are found too."""
    env = {**ENV, "BETA_WISTIA_API_TOKEN": SECRETS["ACME_WISTIA_API_TOKEN"] + " ",
           "BETA_UPSALES_API_TOKEN": SECRETS["ACME_UPSALES_API_TOKEN"]}
    assert error_of(write(in_tmp, ACME + BETA), env) == (
        'accounts.yaml: account "beta": wistia_api_token_env BETA_WISTIA_API_TOKEN and upsales_api_token_env '
        'BETA_UPSALES_API_TOKEN hold the same tokens as account "acme" (ACME_WISTIA_API_TOKEN, '
        "ACME_UPSALES_API_TOKEN): each would post the same views to the same Upsales from its own ledger, so "
        "twice; list the pair once")


@pytest.mark.parametrize("shared", ["wistia", "upsales"])
def test_one_shared_token_is_allowed(in_tmp, shared):
    """One Wistia account feeding two CRMs, or two Wistia accounts feeding one CRM, post different
    views or to different places: nothing is posted twice."""
    env = {**ENV, f"BETA_{shared.upper()}_API_TOKEN": SECRETS[f"ACME_{shared.upper()}_API_TOKEN"]}
    assert [a.name for a in load_accounts(write(in_tmp, ACME + BETA), env)] == ["acme", "beta"]


def test_the_same_tokens_against_other_api_roots_are_other_accounts(in_tmp):
    """A staging Upsales with the same key is another Upsales."""
    text = ACME + BETA + "    settings:\n      UPSALES_API_URL: https://staging.example.com/api\n"
    env = {**ENV, "BETA_WISTIA_API_TOKEN": SECRETS["ACME_WISTIA_API_TOKEN"],
           "BETA_UPSALES_API_TOKEN": SECRETS["ACME_UPSALES_API_TOKEN"]}
    assert len(load_accounts(write(in_tmp, text), env)) == 2
