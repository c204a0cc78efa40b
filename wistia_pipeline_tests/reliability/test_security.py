"""Secrets stay secret, the sandbox stays local, TLS stays verified, SQL stays parameterised."""

from __future__ import annotations

import ast
import logging
import os
import re
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import requests

from wistia_pipeline.cli import run_sync
from wistia_pipeline.clients.upsales import UpsalesClient, UpsalesResource
from wistia_pipeline.clients.wistia import WistiaClient, WistiaResource
from wistia_pipeline.sandbox import Fault, Sandbox
from wistia_pipeline_tests.reliability.world import assert_complete, load_world

PACKAGE = Path(__file__).resolve().parents[2] / "wistia_pipeline"


def secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}{uuid.uuid4().hex}"


def leaks(data: bytes, secrets: list[str]) -> list[str]:
    """The secrets (or their random part) found in `data`."""
    found = []
    for value in secrets:
        random_part = value.rsplit("-", 1)[1]
        if value.encode() in data or random_part.encode() in data or random_part[:24].encode() in data:
            found.append(value)
    return found


def test_tokens_appear_nowhere_after_runs_with_faults_and_wrong_tokens(tmp_path, monkeypatch, capfd, caplog, today):
    wistia_token, upsales_token = secret("wistia-secret"), secret("upsales-secret")
    wrong_wistia, wrong_upsales = secret("wistia-wrong"), secret("upsales-wrong")
    secrets = [wistia_token, upsales_token, wrong_wistia, wrong_upsales]
    home, db_path = tmp_path / "dagster_home", tmp_path / "pipeline.duckdb"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")

    with Sandbox(wistia_token=wistia_token, upsales_token=upsales_token) as sb:
        world = load_world(sb, today)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("WISTIA_", "UPSALES_", "SYNC_"))},
               **sb.env(), **world.env, "WISTIA_PIPELINE_DB": str(db_path), "DAGSTER_HOME": str(home)}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        cli = [sys.executable, "-m", "wistia_pipeline.cli", "sync", "--start", world.first.isoformat(),
               "--end", world.last.isoformat()]
        outputs: list[str] = []

        def cli_sync(**overrides: str) -> subprocess.CompletedProcess:
            done = subprocess.run(cli, env={**env, **overrides}, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=240)
            outputs.append(done.stdout + done.stderr)
            return done

        # Faults whose error bodies echo the key back (a misbehaving proxy), with the right tokens.
        echo = f'{{"error": {{"key": "Echo", "code": 400, "msg": "bad cookie token={upsales_token}"}}}}'
        sb.upsales.inject(Fault(500, body=f"upstream said: Bearer {upsales_token}", path_prefix="/v2/events",
                                method="POST", skip=1),
                          Fault(mode="drop_after_write", path_prefix="/external/formSubmit", skip=2))
        sb.wistia.inject(Fault(503, headers={"Retry-After": "0"}, body=f"Bearer {wistia_token} over quota",
                               path_prefix="/stats/events.json"))
        faulty = cli_sync()
        assert faulty.returncode == 1 and "Run FAILED" in faulty.stdout

        wrong_w = cli_sync(WISTIA_API_TOKEN=wrong_wistia)
        assert wrong_w.returncode == 1 and "Wistia rejected the API token (401)" in wrong_w.stdout
        wrong_u = cli_sync(UPSALES_API_TOKEN=wrong_upsales)
        assert wrong_u.returncode == 1 and "Upsales rejected the API key (401)" in wrong_u.stdout

        # In this process, with every logger at DEBUG (urllib3's request lines included).
        caplog.set_level(logging.DEBUG)
        sb.upsales.inject(Fault(400, body=echo, path_prefix="/v2/contacts"))
        monkeypatch.setenv("UPSALES_API_TOKEN", wrong_upsales)
        assert not run_sync(world.first, world.last).success
        monkeypatch.setenv("UPSALES_API_TOKEN", upsales_token)
        # Kept look-ups would spare this run its contact look-ups: ask again, so the echo is met.
        monkeypatch.setenv("CONTACT_REFRESH_MINUTES", "0")
        failed_on_echo = run_sync(world.first, world.last)
        assert not failed_on_echo.success and "***" in (failed_on_echo.error or "")
        done = run_sync(world.first, world.last)
        assert done.success, done.error
        assert_complete(sb, db_path, world, "after the secrets runs")

        # Tokens travel in headers only: no recorded request carries one in its query.
        for emulator in (sb.wistia, sb.upsales):
            for record in emulator.requests:
                assert not leaks(repr(record.query).encode(), secrets), record

    captured = capfd.readouterr()
    places: dict[str, bytes] = {
        "captured stdout/stderr": (captured.out + captured.err).encode(),
        "log records": caplog.text.encode() + "\n".join(str(r.args) for r in caplog.records).encode(),
        "CLI output": "\n".join(outputs).encode(),
    }
    assert any("DEBUG" in r.levelname for r in caplog.records)  # the logs were really at DEBUG
    files = [p for p in home.rglob("*") if p.is_file()] + [p for p in tmp_path.glob("pipeline.duckdb*") if p.is_file()]
    assert any(p.suffix == ".db" for p in files) and any(p.name == "pipeline.duckdb" for p in files)
    for path in files:
        places[str(path.relative_to(tmp_path))] = path.read_bytes()
    found = {where: leaks(data, secrets) for where, data in places.items()}
    assert {where: hits for where, hits in found.items() if hits} == {}


def test_the_sandbox_listens_on_loopback_only():
    with Sandbox() as sb:
        for emulator in (sb.wistia, sb.upsales):
            host, port = emulator._server.server_address
            assert host == "127.0.0.1"
            assert requests.get(f"http://127.0.0.1:{port}/_sandbox/state", timeout=5).status_code == 200
            for address in other_addresses():
                with socket.socket() as probe:
                    probe.settimeout(1)
                    assert probe.connect_ex((address, port)) != 0, f"reachable on {address}:{port}"


def other_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (none in a bare container: then nothing to probe)."""
    found = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            found.add(s.getsockname()[0])
    except OSError:
        pass
    try:
        found |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    return sorted(a for a in found if not a.startswith("127.") and a != "0.0.0.0")


UNVERIFIED_TLS = re.compile(
    r"verify\s*=\s*False|\.verify\s*=\s*(False|0|None)|CERT_NONE|_create_unverified_context|"
    r"disable_warnings|InsecureRequestWarning|CURL_CA_BUNDLE|REQUESTS_CA_BUNDLE|check_hostname\s*=\s*False")


def test_tls_verification_stays_on():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if UNVERIFIED_TLS.search(line)]
    assert offenders == []
    # The clients the resources build against real hosts verify certificates (requests' default).
    clients = [UpsalesResource(api_token="k").get_client(), WistiaResource(api_token="t").get_client(),
               UpsalesClient("https://power.upsales.com/api", "k"), WistiaClient("https://api.wistia.com/v1", "t")]
    for client in clients:
        session = client.session.requests_session
        assert session.verify is True and not session.cert
        assert client.session.base_url.startswith("https://")


# --- SQL built from values ---------------------------------------------------------------------

SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|WHERE|FROM|JOIN|VALUES|PRAGMA|"
                       r"ATTACH|COPY|SET|MACRO|LIMIT|ORDER BY|GROUP BY)\b")
CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")

# Interpolations into SQL text that are not values: each names where its text comes from.
# (file, expression) -> why it is safe. A new entry needs the same kind of reason.
ALLOWED = {
    ("db.py", "table"): "a table name from code (delete_days checks it against STAGE_TABLES)",
    ("db.py", "column"): "a column name from the constant db.PERSONAL_NOT_NULL (relax_personal_columns)",
    ("db.py", "where"): "a fixed clause written in code; its values go in `params`",
    ("db.py", "query"): "query text from code (preview queries); its values go in `params`",
    ("db.py", "special or 'false'"): "built from the constant rules.SPECIAL_USE_DOMAINS",
    ("stages/common.py", "table"): "a stage table name from code",
    ("operations/forget.py", "quoted(c)"): "a column name read from the catalog (duckdb_columns), quoted as an "
                                           "identifier; the searched values go in $needles",
    ("operations/forget.py", "quoted(table)"): "a table name read from the catalog (duckdb_tables), quoted",
    ("operations/forget.py", "checks"): "count expressions built above from quoted catalog names only",
    ("operations/forget.py", "quoted(source)"): "the attached database's own name (current_database()), quoted: "
                                                "COPY FROM DATABASE takes no parameters",
    ("operations/forget.py", "quoted(d)"): "one of two database names, the file's own and the constant FRESH_ALIAS",
}


def is_constant(expr: ast.expr) -> bool:
    """An expression made only of constants: CONSTANT names, module.CONSTANT, literals, int(...)."""
    if isinstance(expr, ast.Constant):
        return True
    if isinstance(expr, ast.Name):
        return bool(CONSTANT.match(expr.id))
    if isinstance(expr, ast.Attribute):
        return bool(CONSTANT.match(expr.attr))
    if isinstance(expr, ast.BinOp):
        return is_constant(expr.left) and is_constant(expr.right)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "int":
        return True  # a number cannot carry SQL
    return False


def sql_built_from_values(path: Path) -> list[str]:
    """f-strings, %-formatting, .format() and + concatenation that put non-constants into SQL."""
    relative = path.relative_to(PACKAGE).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        text, values = "", []
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            values = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
            strings = [s for s in (node.left, node.right) if isinstance(s, ast.Constant) and isinstance(s.value, str)]
            text = " ".join(s.value for s in strings)
            values = [v for v in (node.left, node.right) if v not in strings] if strings else []
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
              and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)):
            text = node.func.value.value
            values = [*node.args, *(k.value for k in node.keywords)]
        if not SQL_WORDS.search(text):
            continue
        for value in values:
            if isinstance(value, ast.JoinedStr) or is_constant(value):
                continue  # a nested f-string is checked on its own
            if (relative, ast.unparse(value)) not in ALLOWED:
                found.append(f"{relative}:{node.lineno}: SQL built with {ast.unparse(value)!r}: {text[:60]!r}")
    return found


def test_sql_is_parameterised():
    offenders = [line for path in sorted(PACKAGE.rglob("*.py")) for line in sql_built_from_values(path)]
    assert offenders == [], "bind values as parameters (? or $n), or add a reasoned entry to ALLOWED"


def test_the_sql_check_catches_values_in_sql(tmp_path, monkeypatch):
    bad = ('def f(con, email, key):\n'
           '    con.execute(f"SELECT * FROM contacts WHERE email = \'{email}\'")\n'
           '    con.execute("DELETE FROM synced_ledger WHERE event_key = \'%s\'" % key)\n'
           '    con.execute("UPDATE t SET a = {}".format(key))\n'
           '    con.execute("SELECT * FROM t WHERE k = \'" + key)\n'
           '    con.execute(f"SELECT * FROM t LIMIT {int(key)}")\n'
           '    con.execute("SELECT * FROM t WHERE k = ?", [key])\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    sample = tmp_path / "sample.py"
    sample.write_text(bad)
    found = sql_built_from_values(sample)
    assert [line.split(":")[1] for line in found] == ["2", "3", "4", "5"]
