"""Both emulators as one `Sandbox` (what tests start), and `run_sandbox` (what the
`wistia-pipeline sandbox` command runs): the sandbox with demo data as a long-lived process that
prints the environment pointing the pipeline at it and delivers the late views just before the
schedule's second tick.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType

from .upsales_api import UpsalesEmulator
from .wistia_api import WistiaEmulator


class Sandbox:
    """A Wistia and an Upsales emulator on 127.0.0.1, started and stopped together."""

    def __init__(
        self,
        wistia_token: str = "sandbox-wistia-token",
        upsales_token: str = "sandbox-upsales-token",
        customer_id: int = 1234,
        wistia_port: int = 0,
        upsales_port: int = 0,
    ) -> None:
        self.wistia = WistiaEmulator(token=wistia_token)
        self.upsales = UpsalesEmulator(token=upsales_token, customer_id=customer_id)
        self._ports = (wistia_port, upsales_port)

    def start(self) -> Sandbox:
        """Start both servers (daemon threads); returns self for `Sandbox().start()`."""
        self.wistia.start(self._ports[0])
        try:
            self.upsales.start(self._ports[1])
        except BaseException:
            self.wistia.stop()
            raise
        return self

    def stop(self) -> None:
        """Shut both servers down (in parallel: each waits out a poll interval); safe to call twice."""
        other = threading.Thread(target=self.wistia.stop, daemon=True)
        other.start()
        self.upsales.stop()
        other.join()

    @property
    def running(self) -> bool:
        return self.wistia.running and self.upsales.running

    @property
    def wistia_url(self) -> str:
        """`http://127.0.0.1:<port>/v1`, the value for WISTIA_API_URL."""
        return self.wistia.url

    @property
    def upsales_url(self) -> str:
        """`http://127.0.0.1:<port>/api`, the value for UPSALES_API_URL."""
        return self.upsales.url

    def env(self) -> dict[str, str]:
        """The environment variables that point the pipeline at this sandbox."""
        return {
            "WISTIA_API_URL": self.wistia_url,
            "WISTIA_API_TOKEN": self.wistia.token,
            "UPSALES_API_URL": self.upsales_url,
            "UPSALES_API_TOKEN": self.upsales.token,
        }

    def __enter__(self) -> Sandbox:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _write_env_file(path: Path, env: Mapping[str, str]) -> None:
    """`NAME=value` lines (values shell-quoted where needed, so `. file` reads a path with a space
    too), written atomically so a watcher never reads half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{name}={shlex.quote(value)}\n" for name, value in env.items()), encoding="utf-8")
    os.replace(tmp, path)


# The schedule `wistia_sync_every_20_minutes` ticks at :00, :20 and :40 (UTC).
TICK = timedelta(minutes=20)
# Time for `dagster dev` to start before a tick counts as its first (about a minute on two cores).
BOOT = timedelta(seconds=90)
# Schedule-aligned release of the late views (the default): see `late_release`.
AT_SCHEDULE = "schedule"
DEMO_DB = "data/demo.duckdb"
DEMO_DAGSTER_HOME = ".dagster_home"


def late_release(started: datetime) -> tuple[datetime, datetime]:
    """(first tick, release time) for a demo started at `started`: the first tick at least BOOT
    after the start syncs the on-time views (or a sync from the UI before it does), and the late
    views arrive a minute before the tick after it, so that tick posts exactly them."""
    midnight = started.replace(hour=0, minute=0, second=0, microsecond=0)
    ticks = -(-(started + BOOT - midnight) // TICK)  # ceiling: the first tick at or after the boot
    first_tick = midnight + ticks * TICK
    return first_tick, first_tick + TICK - timedelta(minutes=1)


def demo_environment(sandbox_env: Mapping[str, str], demo_env: Mapping[str, str], first_day: date,
                     db_path: str | Path = DEMO_DB, dagster_home: str | Path = DEMO_DAGSTER_HOME) -> dict[str, str]:
    """Every setting of the demo: the sandbox's URLs and tokens, the demo's settings, the default
    of every other variable of the Settings table, PARTITIONS_START at the demo's first day, and
    WISTIA_PIPELINE_DB and DAGSTER_HOME as absolute paths. `make run` gives `dagster dev` exactly
    this, and a shell that sources it runs the CLI on the same settings and DuckDB file, whatever
    its directory, its `.env` or what it exported before."""
    from wistia_pipeline.settings import VARIABLES

    env = {v.name: v.default for v in VARIABLES}
    env.update(sandbox_env)
    env.update(demo_env)
    env["PARTITIONS_START"] = first_day.isoformat()
    env["WISTIA_PIPELINE_DB"] = str(Path(db_path).expanduser().resolve())
    env["DAGSTER_HOME"] = str(Path(dagster_home).expanduser().resolve())
    return env


def run_sandbox(
    wistia_port: int = 0,
    upsales_port: int = 0,
    today: date | None = None,
    late_after_seconds: float | str | None = AT_SCHEDULE,
    env_file: Path | None = None,
    db_path: str | Path = DEMO_DB,
    dagster_home: str | Path = DEMO_DAGSTER_HOME,
) -> None:
    """Serve the demo until SIGINT/SIGTERM.

    Prints `export NAME=value` lines (eval-able) for every setting of the demo (`demo_environment`:
    the sandbox URLs and tokens, the demo's settings, the DuckDB file and DAGSTER_HOME), writes
    them as `NAME=value` to `env_file` when given (how `make run` hands them to `dagster dev` and
    to the user's shell), and releases the hidden late views so a later run has something new to
    post: with AT_SCHEDULE (the default) a minute before the schedule's second tick
    (`late_release`), with a number after that many seconds, with None never.
    """
    from .demo import load_demo  # the demo builds on Sandbox; import here to keep modules acyclic

    started = datetime.now(timezone.utc)
    today = today or started.date()
    sandbox = Sandbox(wistia_port=wistia_port, upsales_port=upsales_port).start()
    stop = threading.Event()
    timer: threading.Timer | None = None
    previous: dict[int, object] = {}
    try:
        scenario = load_demo(sandbox, today)
        env = demo_environment(sandbox.env(), scenario.env, scenario.days[0], db_path, dagster_home)
        days = ", ".join(d.isoformat() for d in scenario.days)
        print(f"# Wistia sandbox at {sandbox.wistia_url}, Upsales sandbox at {sandbox.upsales_url}", flush=True)
        print(f"# demo views on {days} (UTC); {scenario.late_views} late views hidden", flush=True)
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}", flush=True)

        if late_after_seconds is not None:

            def release() -> None:
                released = sandbox.wistia.release_hidden()
                print(f"# released {released} late views at {datetime.now(timezone.utc):%H:%M:%S} UTC", flush=True)

            if late_after_seconds == AT_SCHEDULE:
                first_tick, release_at = late_release(started)
                delay = (release_at - datetime.now(timezone.utc)).total_seconds()
                print(f"# late views arrive at {release_at:%H:%M:%S} UTC, a minute before the schedule's tick at "
                      f"{release_at + timedelta(minutes=1):%H:%M}; the tick at {first_tick:%H:%M} (or a sync "
                      f"from the UI before it) syncs the others", flush=True)
            else:
                delay = float(late_after_seconds)
                print(f"# late views arrive in {delay:g} s", flush=True)
            timer = threading.Timer(max(delay, 0.0), release)
            timer.daemon = True
            timer.start()
        # Last: whoever waits for the file (make run) finds every line above in the output.
        if env_file is not None:
            _write_env_file(Path(env_file), env)
            print(f"# environment written to {env_file}", flush=True)

        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())
        print("# press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        if timer is not None:
            timer.cancel()
        sandbox.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        print("# sandbox stopped", file=sys.stderr, flush=True)
