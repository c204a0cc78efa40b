"""Fault injection: what the next matching requests get instead of the plain answer.

A `Fault` is queued on an emulator (`Emulator.inject`, `fail_next`, or `POST /_sandbox/faults` from
another process through `inject_remote`); `take_fault` picks the one a request meets. The
emulator (`emulator.py`) applies it: an answer of its own, a delay, a dropped connection, a cut
body, or a write stored while its answer is lost.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .messages import ADMIN_PREFIX, Request, Response, json_response

FAULT_MODES = ("respond", "delay", "drop", "drop_after_write", "truncate")
# Modes in which the API itself handles the request (so a write is stored) before the fault acts.
API_RUNS = ("delay", "drop_after_write", "truncate")


@dataclass
class Fault:
    """What the next matching request(s) get instead of the plain answer (`Emulator.inject`).

    `mode`:

    - `respond` (default): answer `status`, `headers` and `body` instead of the API; nothing is
      stored. With `delay`, the answer comes late (longer than the client's read timeout: a
      timeout for a request that never took effect).
    - `delay`: the API handles the request (a write is stored) and the answer leaves after
      `delay` seconds: longer than the client's read timeout, a timeout after the write.
    - `drop`: the connection is closed before the API sees the request: nothing stored, no answer.
    - `drop_after_write`: the API handles the request (a write is stored), then the connection is
      closed without an answer: the response is lost.
    - `truncate`: the API handles the request; its answer is cut off halfway through the body
      (the headers promise the whole body, the connection closes after half of it).

    A fault matches requests whose path starts with `path_prefix` (with or without the API root)
    and whose method is `method` (None: any). The first `skip` matching requests pass untouched
    (`skip` counts down as they do), the next `count` get the fault (`fired` counts them). `on_fire` (only in the sandbox's own process) is called each
    time the fault acts: after the API handled the request in the modes where it does, else before
    the answer; a test uses it to, say, SIGKILL the pipeline at that exact moment.
    """

    status: int | None = None
    count: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    path_prefix: str | None = None
    method: str | None = None
    mode: str = "respond"
    delay: float = 0.0
    skip: int = 0
    on_fire: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    fired: int = field(default=0, init=False)  # how many requests got it so far

    def __post_init__(self) -> None:
        if self.mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}, got {self.mode!r}")
        if self.mode == "respond" and self.status is None:
            raise ValueError("a 'respond' fault needs a status")
        if self.count < 1 or self.skip < 0 or self.delay < 0:
            raise ValueError("count must be >= 1, skip and delay >= 0")
        self.status = None if self.status is None else int(self.status)
        self.headers = {str(k): str(v) for k, v in (self.headers or {}).items()}
        self.method = self.method.upper() if self.method else None

    @property
    def remaining(self) -> int:
        return self.count - self.fired

    def to_json(self) -> dict[str, Any]:
        """The fault as `POST /_sandbox/faults` takes it (without `on_fire`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init and f.name != "on_fire"}

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """A fault from `POST /_sandbox/faults`' body; ValueError naming what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("a fault is a JSON object")
        known = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "on_fire"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ValueError(str(exc)) from None


def take_fault(faults: list[Fault], request: Request, matches: Callable[[str, str], bool]) -> Fault | None:
    """The first queued fault for ``request`` (``matches(path, prefix)``), counted as fired and
    removed once spent; None while a matching fault still lets requests through (``skip``)."""
    for fault in faults:
        if fault.method is not None and fault.method != request.method.upper():
            continue
        if fault.path_prefix is not None and not matches(request.path, fault.path_prefix):
            continue
        if fault.skip > 0:  # let this one through, count it
            fault.skip -= 1
            return None
        fault.fired += 1
        if fault.remaining <= 0:
            faults.remove(fault)
        return fault
    return None


def faults_admin_route(faults: list[Fault], request: Request) -> Response | None:
    """`GET`/`POST`/`DELETE /_sandbox/faults` (list, queue one fault or a list, clear) on the
    queue ``faults``; None for any other request."""
    if request.path.rstrip("/") != ADMIN_PREFIX + "faults":
        return None
    if request.method == "GET":
        return json_response(200, {"faults": [f.to_json() for f in faults]})
    if request.method == "DELETE":
        faults.clear()
        return json_response(200, {"faults": []})
    if request.method == "POST":
        try:
            data = request.json()
            queued = [Fault.from_json(item) for item in (data if isinstance(data, list) else [data])]
        except ValueError as exc:
            return json_response(400, {"error": f"invalid fault: {exc}"})
        faults.extend(queued)
        return json_response(200, {"queued": len(queued)})
    return None


def inject_remote(root_url: str, *faults: Fault, timeout: float = 5.0) -> None:
    """Queue faults in a sandbox running in another process (`POST <root>/_sandbox/faults`).

    `root_url` is the emulator's `http://127.0.0.1:<port>` (its API URL works too).
    """
    import urllib.request

    root = root_url.rstrip("/")
    for suffix in ("/v1", "/api"):
        root = root.removesuffix(suffix)
    body = json.dumps([f.to_json() for f in faults]).encode("utf-8")
    request = urllib.request.Request(root + ADMIN_PREFIX + "faults", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback only
        answer.read()
