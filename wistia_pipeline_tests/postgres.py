"""A PostgreSQL server of the test session's own, for the Postgres instance (deploy/dagster.postgres.yaml).

Debian's `postgresql` package (`.ci/run` installs it) puts its programs in
/usr/lib/postgresql/<version>/bin, off the PATH, and `initdb` and `pg_ctl` refuse to run as root:
as root (CI, this machine) the cluster is made and run by the `postgres` user (`runuser`), in a
temporary folder of its own under /tmp (pytest's own temporary folders are closed to other users).
The server listens on 127.0.0.1 at a free port, with a password (scram-sha-256) that the
instance reads from DAGSTER_PG_PASSWORD like a real deployment; it never appears in a message.

Without the programs a test using the fixtures is skipped, saying how to install them, except in
CI (CI=true), where it fails: CI installs them, so their absence is a broken set-up, not a reason
to pass without the test.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PROGRAMS = ("initdb", "pg_ctl", "createdb")
DEBIAN_BINDIRS = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # the OS user Debian's package creates; runs the server when we are root
ROLE = "dagster"  # the database superuser initdb creates
START_TIMEOUT_S = 60


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def find_bindir() -> Path | None:
    """The folder holding initdb, pg_ctl and createdb: Debian's newest version, else the PATH's."""
    candidates: list[Path] = []
    if DEBIAN_BINDIRS.is_dir():
        versions = [d for d in DEBIAN_BINDIRS.iterdir() if re.fullmatch(r"\d+(\.\d+)?", d.name)]
        candidates += [d / "bin" for d in sorted(versions, key=lambda d: float(d.name), reverse=True)]
    found = shutil.which("initdb")
    if found:
        candidates.append(Path(found).resolve().parent)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in PROGRAMS):
            return bindir
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class PostgresDatabase:
    """One database of the server, and the environment deploy/dagster.postgres.yaml reads."""

    host: str
    port: int
    user: str
    password: str
    name: str

    def env(self) -> dict[str, str]:
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.name,
        }

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg2  # comes with dagster-postgres

        with psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                              dbname=self.name, connect_timeout=10) as con, con.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


class PostgresServer:
    """initdb + pg_ctl start in a temporary folder; `stop()` stops the server and removes it all."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="wistia-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.host = "127.0.0.1"
        self.port = 0
        self.password = secrets.token_urlsafe(18)
        self.as_root = os.geteuid() == 0
        self.started = False

    def _server_command(self, *args: str) -> list[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", SERVER_USER, "--", *command] if self.as_root else command

    def _run(self, command: list[str], what: str, env: dict[str, str] | None = None) -> None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=START_TIMEOUT_S,
                                stdin=subprocess.DEVNULL, env=env)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).replace(self.password, "***")
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{what} failed ({result.returncode}):\n{output}\n{log}")

    def start(self) -> PostgresServer:
        if self.as_root:
            shutil.chown(self.root, user=SERVER_USER)
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        if self.as_root:
            shutil.chown(password_file, user=SERVER_USER)
        try:
            self._run(self._server_command("initdb", "-D", str(self.data), "-U", ROLE, f"--pwfile={password_file}",
                                           "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                                           "--no-sync"), "initdb")
        finally:
            password_file.unlink()
        self.port = free_port()
        options = (f"-c listen_addresses={self.host} -p {self.port} -k {self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(self._server_command("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
                                       "-t", str(START_TIMEOUT_S), "-o", options, "start"), "pg_ctl start")
        self.started = True
        return self

    def createdb(self, name: str | None = None) -> PostgresDatabase:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        env = {**os.environ, "PGPASSWORD": self.password}
        self._run([str(self.bindir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", ROLE, name],
                  "createdb", env=env)
        return PostgresDatabase(self.host, self.port, ROLE, self.password, name)

    def stop(self) -> None:
        try:
            if self.started:
                self._run(self._server_command("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"),
                          "pg_ctl stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def require_bindir() -> Path:
    """PostgreSQL's programs, else skip the test (off CI) or fail it (CI)."""
    bindir = find_bindir()
    if bindir is None:
        reason = ("PostgreSQL's programs (initdb, pg_ctl, createdb) were not found in "
                  f"{DEBIAN_BINDIRS}/<version>/bin or on the PATH: `apt-get install postgresql` (.ci/run does)")
        if in_ci():
            pytest.fail(f"{reason}; in CI (CI=true) they must be there", pytrace=False)
        pytest.skip(reason)
    return bindir


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(require_bindir())
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres_server: PostgresServer) -> PostgresDatabase:
    """A new, empty database on the session's server: one per test."""
    return postgres_server.createdb()
