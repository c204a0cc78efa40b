"""The accounts file (issue #14, "Many accounts, one deployment"): its parsing and validation.

`WISTIA_PIPELINE_ACCOUNTS=path/to/accounts.yaml` switches on many-account mode; without it the
pipeline reads one account from the environment, as before. The file's format, every key and
every error are in docs/accounts.md. In short:

- Each account has a name (`[a-z0-9_]{1,40}`), the *names* of the environment variables that
  hold its secrets (`wistia_api_token_env`, `upsales_api_token_env`, optionally
  `wistia_public_token_env` and `alert_webhook_url_env`), never the secrets themselves, and a
  `settings:` block holding any setting of the README's table but the secrets.
- An account's settings are its own `settings:` over the file's `defaults:` over the built-in
  defaults. The process environment is read for the named secrets only: a setting such as
  MIN_PERCENT_WATCHED in the environment (or `.env`) is not read in many-account mode, so one
  account never inherits another deployment's value (`unread_variables` lists those set).
- Each account has its own DuckDB file: `data/<name>.duckdb` unless its settings (or `defaults:`,
  with `{name}` in the path) set WISTIA_PIPELINE_DB; two accounts never share one.
- Every value is parsed by the parsers of settings.py, so the rules are the environment's; a bad
  file stops with one line (SettingsError) naming the file, the account and the key, and never
  holding a secret's value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import dagster as dg
import yaml

from wistia_pipeline.settings import (
    VARIABLES,
    PipelineSettings,
    Settings,
    SettingsError,
    clean_token,
    database_path,
    environment,
    variable,
)

ACCOUNTS_VARIABLE = "WISTIA_PIPELINE_ACCOUNTS"
NAME_RULE = "[a-z0-9_]{1,40}"
_NAME = re.compile(NAME_RULE)
# The name of an environment variable holding a secret: capitals, digits and _ only, so that a
# token pasted into the file by mistake (Wistia's are lowercase hex) is refused without being
# taken for a name and shown in an error.
ENV_NAME_RULE = "[A-Z_][A-Z0-9_]{0,99}"
_ENV_NAME = re.compile(ENV_NAME_RULE)
# What an unknown key may look like to be shown in an error (anything else might be a secret).
_SHOWABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")

TOP_KEYS = ("accounts", "defaults")
# Each secret of the settings table, by the account key that names its environment variable.
SECRET_KEYS: Mapping[str, str] = MappingProxyType({
    "WISTIA_API_TOKEN": "wistia_api_token_env",
    "UPSALES_API_TOKEN": "upsales_api_token_env",
    "WISTIA_PUBLIC_TOKEN": "wistia_public_token_env",
    "ALERT_WEBHOOK_URL": "alert_webhook_url_env",
})
REQUIRED_ENV_KEYS = ("wistia_api_token_env", "upsales_api_token_env")
ACCOUNT_KEYS = ("name", *SECRET_KEYS.values(), "settings")
_HOLDS = {
    "wistia_api_token_env": ("the Wistia API token", "ACME_WISTIA_API_TOKEN"),
    "upsales_api_token_env": ("the Upsales API key", "ACME_UPSALES_API_TOKEN"),
    "wistia_public_token_env": ("the Wistia public token", "ACME_WISTIA_PUBLIC_TOKEN"),
    "alert_webhook_url_env": ("the alert webhook URL", "ACME_ALERT_WEBHOOK_URL"),
}
# The settings an account (or `defaults:`) may set: the README's table but the secrets.
SETTING_NAMES = tuple(v.name for v in VARIABLES if v.name not in SECRET_KEYS)
# A list is accepted for this one setting (joined with commas, as the environment holds it).
_LIST_SETTING = "WISTIA_PROJECTS"
_DB = "WISTIA_PIPELINE_DB"


def default_db_path(name: str) -> str:
    """An account's DuckDB file when its settings do not say otherwise."""
    return f"data/{name}.duckdb"


@dataclass(frozen=True)
class Account:
    """One account of the accounts file: names of environment variables, never secrets.

    `overlay` is the account's settings as the environment would hold them (variable name ->
    text), the file's `defaults:` included; a setting not in it has its built-in default. Built by
    `load_accounts`, which has checked every value.
    """

    name: str
    wistia_api_token_env: str
    upsales_api_token_env: str
    wistia_public_token_env: str = ""
    alert_webhook_url_env: str = ""
    overlay: Mapping[str, str] = field(default_factory=dict, hash=False)
    source: str = field(default="", compare=False, repr=False)  # the file, for error lines

    def __post_init__(self) -> None:
        object.__setattr__(self, "overlay", MappingProxyType(dict(self.overlay)))

    @property
    def label(self) -> str:
        """How an error line names this account: `accounts.yaml: account "acme"`."""
        return f'{self.source}: account "{self.name}"' if self.source else f'account "{self.name}"'

    @property
    def db_path(self) -> str:
        """The account's DuckDB file as written (relative to the working directory, as the
        environment's WISTIA_PIPELINE_DB); `settings.database_path` makes it absolute."""
        return self.overlay.get(_DB) or default_db_path(self.name)

    def env(self, process_env: Mapping[str, str] | None = None) -> dict[str, str]:
        """What `Settings.from_env` reads for this account: its settings, its DuckDB file, and the
        secrets read from the variables it names (a secret it does not name stays unset; the
        process environment's own WISTIA_API_TOKEN, MIN_PERCENT_WATCHED... are not read)."""
        process_env = environment() if process_env is None else process_env
        env = {**self.overlay, _DB: self.db_path}
        for setting, key in SECRET_KEYS.items():
            if getattr(self, key):
                env[setting] = process_env.get(getattr(self, key), "")
        return env

    def check_secrets(self, process_env: Mapping[str, str] | None = None) -> None:
        """Every variable the account names is set, non-empty and usable; SettingsError naming the
        account, the key and the variable (never the value) when not."""
        process_env = environment() if process_env is None else process_env
        for key in SECRET_KEYS.values():
            name = getattr(self, key)
            if not name:
                continue
            value = (process_env.get(name) or "").strip()
            where = f"{self.label}: {key}"
            if not value:
                raise SettingsError(f"{where}: the environment variable {name} is not set or empty: "
                                    f"it must hold {_HOLDS[key][0]}")
            try:
                if key in REQUIRED_ENV_KEYS:
                    clean_token(name, value)
                elif key == "alert_webhook_url_env":
                    variable("ALERT_WEBHOOK_URL").parser(name, value)
            except SettingsError as error:
                raise SettingsError(f"{where}: {error}") from None

    def settings(self, process_env: Mapping[str, str] | None = None) -> Settings:
        """The account's validated settings, its secrets checked; SettingsError (one line naming
        the file, the account and the setting or key) when anything is wrong."""
        process_env = environment() if process_env is None else process_env
        self.check_secrets(process_env)
        try:
            return Settings.from_env(self.env(process_env))
        except SettingsError as error:
            raise SettingsError(f"{self.label}: {error}") from None

    def pipeline_settings(self) -> PipelineSettings:
        """The Dagster resource `pipeline_settings` for this account: its settings as texts, every
        field set (an unset one to its built-in default text: an empty field would take the process
        environment's value, see PipelineSettings.as_env), the public token and the webhook as
        `EnvVar`s of the variables it names, so the UI shows names only."""
        values: dict[str, Any] = {v.field: self.overlay.get(v.name, v.default) for v in VARIABLES
                                  if v.field is not None}
        values["db_path"] = self.db_path
        if self.wistia_public_token_env:
            values["wistia_public_token"] = dg.EnvVar(self.wistia_public_token_env)
        if self.alert_webhook_url_env:
            values["alert_webhook_url"] = dg.EnvVar(self.alert_webhook_url_env)
        return PipelineSettings(**values)


def accounts_from_environment(process_env: Mapping[str, str] | None = None) -> list[Account] | None:
    """The accounts of the file WISTIA_PIPELINE_ACCOUNTS names, or None when it is unset or empty
    (one account, from the environment, as before)."""
    process_env = environment() if process_env is None else process_env
    path = (process_env.get(ACCOUNTS_VARIABLE) or "").strip()
    return load_accounts(path, process_env) if path else None


def load_accounts(path: str | Path, process_env: Mapping[str, str] | None = None, *,
                  require_secrets: bool = True) -> list[Account]:
    """Every account of the file at `path`, checked; SettingsError with one line at the first
    problem. The file's shape is checked first (for every account), then, unless
    `require_secrets` is false, the variables each account names in `process_env` (default: the
    process environment)."""
    source = str(path)
    document = _parse(_read(Path(path).expanduser(), source), source)
    if document is None:
        raise SettingsError(f"{source}: the file is empty: it must hold `accounts:`, a list of accounts "
                            "(docs/accounts.md)")
    if not isinstance(document, dict):
        raise SettingsError(f"{source}: the file must be a mapping with the key `accounts` (a list of "
                            f"accounts), not {_kind(document)}")
    for key in document:
        if key not in TOP_KEYS:
            raise _unknown(source, "key", key, TOP_KEYS, str.lower)
    defaults = _defaults(document.get("defaults"), source)
    if "accounts" not in document:
        raise SettingsError(f"{source}: the key `accounts` is missing: it lists the accounts (docs/accounts.md)")
    entries = document["accounts"]
    if entries is None or entries == []:
        raise SettingsError(f"{source}: accounts is empty: list at least one account")
    if not isinstance(entries, list):
        raise SettingsError(f"{source}: accounts must be a list (each account starting with `- name:`), "
                            f"not {_kind(entries)}")
    accounts: list[Account] = []
    numbers: dict[str, int] = {}  # name -> its account's number
    files: dict[str, Account] = {}  # absolute DuckDB path -> its account
    for number, entry in enumerate(entries, start=1):
        account = _account(entry, number, source, defaults)
        if account.name in numbers:
            raise SettingsError(f'{source}: account #{number}: name "{account.name}" is already the name of '
                                f"account #{numbers[account.name]}: each account needs its own name")
        numbers[account.name] = number
        db = database_path({_DB: account.db_path})
        if db in files:
            given = "" if _DB in account.overlay else " (its default)"
            raise SettingsError(f"{account.label}: {_DB} {account.db_path}{given} is also the DuckDB file of "
                                f'account "{files[db].name}": two accounts never share a file')
        files[db] = account
        accounts.append(account)
    if require_secrets:
        process_env = environment() if process_env is None else process_env
        endpoints: dict[tuple[str, ...], Account] = {}  # (Wistia root, token, Upsales root, key) -> account
        for account in accounts:
            settings = account.settings(process_env)
            endpoint = (settings.wistia_api_url.rstrip("/"),
                        (process_env.get(account.wistia_api_token_env) or "").strip(),
                        settings.upsales_api_url.rstrip("/"),
                        (process_env.get(account.upsales_api_token_env) or "").strip())
            if endpoint in endpoints:
                first = endpoints[endpoint]
                raise SettingsError(
                    f"{account.label}: wistia_api_token_env {account.wistia_api_token_env} and upsales_api_token_env "
                    f"{account.upsales_api_token_env} hold the same tokens as account \"{first.name}\" "
                    f"({first.wistia_api_token_env}, {first.upsales_api_token_env}): each would post the same "
                    "views to the same Upsales from its own ledger, so twice; list the pair once")
            endpoints[endpoint] = account
    return accounts


def unread_variables(accounts: list[Account], process_env: Mapping[str, str] | None = None) -> list[str]:
    """The settings-table variables set in the process environment that many-account mode does not
    read (no account names them as a secret's variable): for `doctor` to say so."""
    process_env = environment() if process_env is None else process_env
    named = {getattr(a, key) for a in accounts for key in SECRET_KEYS.values()}
    return [v.name for v in VARIABLES if (process_env.get(v.name) or "").strip() and v.name not in named]


# -- reading ----------------------------------------------------------------------------------

def _read(path: Path, source: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SettingsError(f"{source}: no such file: {ACCOUNTS_VARIABLE} must name the accounts file "
                            "(docs/accounts.md)") from None
    except IsADirectoryError:
        raise SettingsError(f"{source}: is a directory: {ACCOUNTS_VARIABLE} must name the accounts file") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{source}: is not UTF-8 text") from None
    except OSError as error:
        raise SettingsError(f"{source}: cannot be read ({error.strerror})") from None


class _DuplicateKey(yaml.constructor.ConstructorError):
    pass


class _Loader(yaml.SafeLoader):
    """`yaml.SafeLoader` (plain data only, as `yaml.safe_load`) that refuses a key given twice in
    one mapping, which YAML would silently resolve by keeping the last."""


def _mapping(loader: _Loader, node: yaml.MappingNode):
    seen = set()
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = (key_node.tag, key_node.value)
            if key in seen:
                shown = key_node.value if _SHOWABLE_KEY.fullmatch(key_node.value) else "a key"
                raise _DuplicateKey(None, None, f"{shown} is given twice in one mapping (YAML would keep "
                                    "only the last): remove one", key_node.start_mark)
            seen.add(key)
    return (yield from yaml.SafeLoader.construct_yaml_map(loader, node))


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
# A date stays the text written (PARTITIONS_START: 2026-01-01), for the settings' own parser: YAML
# would fail on 2026-13-01 with an exception of its own, and turn a time into a datetime.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_scalar)


def _parse(text: str, source: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        if isinstance(error, _DuplicateKey):
            raise SettingsError(f"{source}: {where}{error.problem}") from None
        problem = error.problem or error.context or "unreadable"
        raise SettingsError(f"{source}: {where}not valid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{source}: not valid YAML: {type(error).__name__}") from None


# -- checking ---------------------------------------------------------------------------------

def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _unknown(where: str, what: str, key: Any, known: tuple[str, ...], normalize) -> SettingsError:
    """An unknown key, with the closest known one; the key is shown only when it looks like a name
    (a value pasted in its place might be a secret)."""
    showable = isinstance(key, str) and _SHOWABLE_KEY.fullmatch(key)
    shown = f'"{key}"' if showable else "(not shown: not a name)"
    close = difflib.get_close_matches(normalize(key), known, n=1, cutoff=0.6) if showable else []
    hint = f' (did you mean "{close[0]}"?)' if close else f"; known: {', '.join(known)}"
    return SettingsError(f"{where}: unknown {what} {shown}{hint}")


def _text(where: str, name: str, value: Any) -> str:
    """A YAML value as the environment would hold it: true -> "true", 25 -> "25", a list
    (WISTIA_PROJECTS only) joined with commas, nothing -> "" (the default)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and name == _LIST_SETTING:
        items = []
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise SettingsError(f"{where}: {name} must list project ids or names, not {_kind(item)}")
            if "," in str(item):
                raise SettingsError(f"{where}: {name} lists {str(item)!r}: a project name with a comma "
                                    "cannot be told apart from two")
            items.append(str(item).strip())
        return ",".join(items)
    raise SettingsError(f"{where}: {name} must be one value, not {_kind(value)}")


def _settings(block: Any, where: str, *, in_defaults: bool) -> dict[str, str]:
    """A `settings:` or `defaults:` block as the environment would hold it (each value is parsed
    later, by Settings.from_env)."""
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise SettingsError(f"{where}: settings must be a mapping of settings (NAME: value), not {_kind(block)}")
    overlay = {}
    for key, value in block.items():
        secret = SECRET_KEYS.get(key.upper()) if isinstance(key, str) else None
        if secret:
            each = " in each account" if in_defaults else ""
            raise SettingsError(f"{where}: {key.upper()} is a secret and never written in this file: give the "
                                f"name of the environment variable holding it as {secret}{each}")
        if key not in SETTING_NAMES:
            raise _unknown(where, "setting", key, SETTING_NAMES, str.upper)
        overlay[key] = _text(where, key, value)
    return overlay


def _defaults(block: Any, source: str) -> dict[str, str]:
    if block is not None and not isinstance(block, dict):
        raise SettingsError(f"{source}: defaults must be a mapping of settings (NAME: value), not {_kind(block)}")
    where = f"{source}: defaults"
    overlay = _settings(block, where, in_defaults=True)
    if overlay.get(_DB) and "{name}" not in overlay[_DB]:
        raise SettingsError(f"{where}: {_DB} must contain {{name}} (the account's name): each account has "
                            f"its own DuckDB file, got {overlay[_DB]!r}")
    for name, text in overlay.items():
        try:
            variable(name).parse({name: text})
        except SettingsError as error:
            raise SettingsError(f"{where}: {error}") from None
    return overlay


def _env_name(entry: dict, key: str, label: str) -> str:
    value = entry.get(key)
    if value is None:
        if key in REQUIRED_ENV_KEYS:
            raise SettingsError(f"{label}: {key} is missing: name the environment variable that holds "
                                f"{_HOLDS[key][0]} (such as {_HOLDS[key][1]})")
        return ""
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        # The value is not shown: it might be the secret itself.
        raise SettingsError(f"{label}: {key} must be the name of an environment variable (capitals, digits "
                            f"and _, such as {_HOLDS[key][1]}), never {_HOLDS[key][0]} itself")
    return value


def _account(entry: Any, number: int, source: str, defaults: Mapping[str, str]) -> Account:
    numbered = f"{source}: account #{number}"
    if not isinstance(entry, dict):
        raise SettingsError(f"{numbered}: must be a mapping (name:, wistia_api_token_env:, ...), not {_kind(entry)}")
    name = entry.get("name")
    valid_name = isinstance(name, str) and _NAME.fullmatch(name)
    label = f'{source}: account "{name}"' if valid_name else numbered
    for key in entry:
        if key not in ACCOUNT_KEYS:
            raise _unknown(label, "key", key, ACCOUNT_KEYS, str.lower)
    if name is None:
        raise SettingsError(f"{numbered}: name is missing: each account needs one matching {NAME_RULE}")
    if not isinstance(name, str):
        raise SettingsError(f"{numbered}: name must be a text matching {NAME_RULE} (quote it), not {_kind(name)}")
    if not valid_name:
        raise SettingsError(f'{numbered}: name "{name}" must match {NAME_RULE}')
    env_names = {key: _env_name(entry, key, label) for key in SECRET_KEYS.values()}
    overlay = {**defaults, **_settings(entry.get("settings"), label, in_defaults=False)}
    if overlay.get(_DB):
        overlay[_DB] = overlay[_DB].replace("{name}", name)
    else:
        overlay.pop(_DB, None)  # empty: the account's own default, never the single-account file
    account = Account(name=name, **env_names, overlay=overlay, source=source)
    try:
        # Every value through the environment's parsers (the secrets are checked later).
        Settings.from_env(account.env({}), require_tokens=False)
    except SettingsError as error:
        raise SettingsError(f"{label}: {error}") from None
    return account
