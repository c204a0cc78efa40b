"""Both emulators as one `Sandbox` (what tests start), and `run_sandbox` (what the
`wistia-pipeline sandbox` command runs): the sandbox with demo data as a long-lived process that
prints the environment pointing the pipeline at it and delivers the late views after a while.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from datetime import date, datetime, timezone
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


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    """`NAME=value` lines, written atomically so a watcher never reads half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{name}={value}\n" for name, value in env.items()), encoding="utf-8")
    os.replace(tmp, path)


def run_sandbox(
    wistia_port: int = 0,
    upsales_port: int = 0,
    today: date | None = None,
    late_after_seconds: float | None = 1200.0,
    env_file: Path | None = None,
) -> None:
    """Serve the demo until SIGINT/SIGTERM.

    Prints `export NAME=value` lines (eval-able) for the sandbox URLs and tokens plus the demo's
    settings, writes them as `NAME=value` to `env_file` when given (how `make run` hands them to
    `dagster dev`), and releases the hidden late views after `late_after_seconds` (None: never),
    so a second scheduled run has something new to post.
    """
    from .demo import load_demo  # the demo builds on Sandbox; import here to keep modules acyclic

    today = today or datetime.now(timezone.utc).date()
    sandbox = Sandbox(wistia_port=wistia_port, upsales_port=upsales_port).start()
    stop = threading.Event()
    timer: threading.Timer | None = None
    previous: dict[int, object] = {}
    try:
        scenario = load_demo(sandbox, today)
        env = {**sandbox.env(), **scenario.env}
        days = ", ".join(d.isoformat() for d in scenario.days)
        print(f"# Wistia sandbox at {sandbox.wistia_url}, Upsales sandbox at {sandbox.upsales_url}", flush=True)
        print(f"# demo views on {days} (UTC); {scenario.late_views} late views hidden", flush=True)
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        if env_file is not None:
            _write_env_file(Path(env_file), env)
            print(f"# environment written to {env_file}", flush=True)

        if late_after_seconds is not None:

            def release() -> None:
                released = sandbox.wistia.release_hidden()
                print(f"# released {released} late views", flush=True)

            timer = threading.Timer(late_after_seconds, release)
            timer.daemon = True
            timer.start()
            print(f"# late views arrive in {late_after_seconds:g} s", flush=True)

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
