"""Runs that cannot still be running: found, failed and their pool slots freed, without a person.

Dagster's default run launcher does not watch its run workers. When the whole deployment dies
(host restart, container OOM: webserver, daemon, code server and run worker killed at once), the
run in progress stays STARTED for ever and keeps its `wistia_duckdb` slot: every later schedule
tick is skipped, and every UI run, backfill and `wistia-pipeline sync` waits for the slot.

So every run records where it runs, as run tags: the host, the pid and, on Linux, the boot id and
the process's start time (a pid is reused after a reboot or a container restart; the pair is
not). The CLI tags its runs at launch; runs launched by the daemon or the UI are tagged by their
first step (`record_run_process`, called from `stages.common.day_window`, which every asset calls
first). `release_stuck_runs` then fails every run of this host whose process is gone, and frees
the slots held by runs that are not running; the schedule calls it before each tick's "is the
previous run still going" test, the CLI before each sync. A run that dies before its first step
starts (a second or two after it is launched) carries no tags: the instance's maximum runtime
(dagster.yaml `run_monitoring.max_runtime_seconds`) fails it at the latest.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import dagster as dg
from dagster._core.events import JobFailureData, RunFailureReason
from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG

CLI_TAG = "wistia_pipeline/launched_by"
HOST_TAG = "wistia_pipeline/host"
PID_TAG = "wistia_pipeline/pid"
BOOT_TAG = "wistia_pipeline/boot_id"
START_TAG = "wistia_pipeline/process_start"  # clock ticks after boot (/proc/<pid>/stat, field 22)
# The run the process tags describe: a re-execution copies its parent's tags, which describe the
# parent's process until the new run's first step replaces them.
OWNER_TAG = "wistia_pipeline/process_of_run"

# "Far longer than any real sync": a first sync of a large account posts at Upsales' 20 posts/s,
# about 72,000 views an hour, so a run of 12 h would have posted some 860,000 views. A run still
# going after that is hung; the daemon fails it (dagster.yaml, the `dagster/max_runtime` tag).
MAX_RUNTIME_S = 12 * 3600

ACTIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
GONE_MESSAGE = "its process ({where}) is gone: the deployment was restarted or the process was killed"
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


class SlotWaitTimeout(Exception):
    """The pool stayed busy for DB_LOCK_TIMEOUT_S; one line for the user."""


# --- where a run runs -------------------------------------------------------------------------

def boot_id() -> str:
    """This machine's boot id (Linux), or "" where there is none."""
    try:
        return BOOT_ID_FILE.read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state first), None when there is no such process, [] when
    /proc cannot tell (no /proc, or a process /proc hides from this user)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return [] if _pid_alive(pid) else None
    return text.rsplit(")", 1)[1].split()  # the command name in (...) may hold spaces


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks after boot; None when it is gone, "" when unknown."""
    fields = _proc_stat(pid)
    if fields is None:
        return None
    return fields[19] if len(fields) > 19 else ""


def process_tags(run_id: str, pid: int | None = None) -> dict[str, str]:
    """The tags that say which process runs `run_id` (this process by default)."""
    pid = os.getpid() if pid is None else pid
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), OWNER_TAG: run_id}
    start, boot = process_start(pid), boot_id()
    if start and boot:
        tags.update({BOOT_TAG: boot, START_TAG: start})
    return tags


_recorded: set[str] = set()


def record_run_process(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Tag `run` with this process, once per run: called at the start of every step, so that a
    run launched by the daemon or the UI can be found when its process is gone."""
    if run.run_id in _recorded:
        return
    tags = process_tags(run.run_id)
    if any(run.tags.get(key) != value for key, value in tags.items()):
        instance.add_run_tags(run.run_id, tags)
    _recorded.add(run.run_id)


@dataclass(frozen=True)
class Process:
    """The process a run's tags name."""

    host: str
    pid: int
    boot_id: str = ""
    start: str = ""

    @property
    def where(self) -> str:
        return f"pid {self.pid} on {self.host}"

    def gone(self) -> bool | None:
        """True when it is surely not running, False when it may be, None when it runs elsewhere."""
        if self.host != socket.gethostname():
            return None
        here = boot_id()
        if self.boot_id and here and self.boot_id != here:
            return True  # the machine rebooted since
        fields = _proc_stat(self.pid)
        if fields is None:
            return True
        if not fields:
            return False  # a process with that pid exists; /proc cannot say which
        if fields[0] in ("Z", "X"):
            return True  # killed, not yet reaped by its parent
        # the pid reused by another process (after a reboot or a container restart)?
        return bool(self.start) and len(fields) > 19 and fields[19] != self.start


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_process(run: dg.DagsterRun) -> Process | None:
    """The process that runs `run`, when its tags say so (tags copied from another run do not)."""
    tags = run.tags
    owner = tags.get(OWNER_TAG)
    if owner != run.run_id and (owner is not None or run.parent_run_id is not None):
        return None
    pid = tags.get(PID_TAG, "")
    if not tags.get(HOST_TAG) or not pid.isdigit() or int(pid) < 1:
        return None
    return Process(tags[HOST_TAG], int(pid), tags.get(BOOT_TAG, ""), tags.get(START_TAG, ""))


# --- finding and releasing stuck runs ---------------------------------------------------------

def dead_runs(instance: dg.DagsterInstance) -> list[tuple[dg.DagsterRun, Process]]:
    """Runs in progress whose process is gone (this host's runs only: others cannot be checked)."""
    dead = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE)):
        process = run_process(run)
        if process is not None and process.gone():
            dead.append((run, process))
    return dead


@dataclass(frozen=True)
class Holder:
    """A run that holds a pool slot (or has been given one and not yet taken it)."""

    run_id: str
    step_key: str
    since: float | None  # when the slot was given to the step (epoch seconds)
    claimed: bool


def pool_holders(instance: dg.DagsterInstance, pool: str) -> tuple[list[Holder], int | None]:
    """Who holds the pool's slots, and the pool's limit (None: no limit, nothing to wait for)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return [], None
    info = storage.get_concurrency_info(pool)
    claimed = {(slot.run_id, slot.step_key) for slot in info.claimed_slots}
    holders = []
    for step in info.pending_steps:
        if step.assigned_timestamp is not None:
            key = (step.run_id, step.step_key)
            holders.append(Holder(step.run_id, step.step_key, step.assigned_timestamp.timestamp(), key in claimed))
            claimed.discard(key)
    holders += [Holder(run_id, step_key, None, True) for run_id, step_key in sorted(claimed)]
    return holders, info.limit


def not_running(instance: dg.DagsterInstance, run_ids: Iterable[str]) -> list[tuple[str, dg.DagsterRun | None]]:
    """Of `run_ids`, the runs that are finished or missing and whose process is not alive here."""
    found = []
    for run_id in sorted(set(run_ids)):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            continue
        process = run_process(run) if run is not None else None
        if process is not None and process.gone() is False:
            continue  # marked finished while its process still runs: it may still use the slot
        found.append((run_id, run))
    return found


@dataclass(frozen=True)
class Released:
    run_id: str
    message: str  # what was done, one line


def release_stuck_runs(instance: dg.DagsterInstance) -> list[Released]:
    """Fail the runs whose process is gone and free their slots; free slots of runs not running."""
    released = []
    for run, process in dead_runs(instance):
        fresh = instance.get_run_by_id(run.run_id)  # read after the process check: it may have ended
        if fresh is None or fresh.status not in ACTIVE:
            continue
        reason = GONE_MESSAGE.format(where=process.where)
        instance.report_run_failed(
            fresh, message=reason,
            job_failure_data=JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION))
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(Released(run.run_id, f"run {run.run_id[:8]} failed: {reason}; its pool slots freed"))
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id, run in not_running(instance, storage.get_concurrency_run_ids()):
            storage.free_concurrency_slots_for_run(run_id)
            state = run.status.value if run is not None else "deleted"
            released.append(Released(run_id, f"freed the pool slots of run {run_id[:8]} ({state})"))
    return released


def max_runtime_s(instance: dg.DagsterInstance, run: dg.DagsterRun) -> float:
    """The run's bound: its `dagster/max_runtime` tag, else the instance's, else MAX_RUNTIME_S."""
    for value in (run.tags.get(MAX_RUNTIME_SECONDS_TAG), instance.run_monitoring_max_runtime_seconds):
        try:
            if value and float(value) > 0:
                return float(value)
        except (TypeError, ValueError):
            continue
    return float(MAX_RUNTIME_S)


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 120 * 60:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


# --- the CLI waiting for the pool -------------------------------------------------------------

def describe_holder(holder: Holder, now: float) -> str:
    if holder.since is None:
        when = ""
    elif holder.claimed:
        when = f", started {duration(now - holder.since)} ago"
    else:
        when = f", given the slot {duration(now - holder.since)} ago and not started yet"
    return f"run {holder.run_id[:8]} (step {holder.step_key}{when})"


def wait_for_slot(instance: dg.DagsterInstance, pool: str, timeout_s: float, *, out: IO[str] | None = None,
                  poll_s: float = 1.0, report_every_s: float = 10.0,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
    """Return once the pool has a free slot; say every 10 s whom it waits for; SlotWaitTimeout
    after `timeout_s`. Without it, the CLI would wait inside Dagster's executor, silently, at
    full CPU and deaf to Ctrl-C. A run that dies meanwhile is released (`release_stuck_runs`)."""
    out = sys.stderr if out is None else out
    started = clock()
    next_report = started
    while True:
        holders, limit = pool_holders(instance, pool)
        if limit is None or len(holders) < limit:
            return
        now = clock()
        held_by = ", ".join(describe_holder(h, time.time()) for h in holders) or "no run"
        if now - started >= timeout_s:
            raise SlotWaitTimeout(
                f"gave up after {timeout_s:g} s (DB_LOCK_TIMEOUT_S) waiting for the {pool} slot held by {held_by}")
        if now >= next_report:
            print(f"waiting for the {pool} slot held by {held_by}", file=out, flush=True)
            next_report = now + report_every_s
            if now > started:
                release_stuck_runs(instance)
        sleep(min(poll_s, max(0.05, started + timeout_s - now)))


def interrupt_on_sigterm() -> None:
    """SIGTERM stops the CLI as Ctrl-C does (KeyboardInterrupt: `main` exits 130)."""
    import signal

    signal.signal(signal.SIGTERM, signal.default_int_handler)


# --- for doctor ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Health:
    problems: list[str]  # one short phrase each; empty when all is well
    slot: str  # who holds the pool, for the green line


def assess(instance: dg.DagsterInstance, pool: str, now: float | None = None) -> Health:
    """What doctor reports: runs whose process is gone, runs past their bound, a slot held by a
    run that is not running. Reads only."""
    now = time.time() if now is None else now
    problems = []
    dead_found = dead_runs(instance)
    dead = {run.run_id for run, _ in dead_found}
    for run, process in dead_found:
        problems.append(f"run {run.run_id[:8]} ({run.job_name}) is {run.status.value} but "
                        + GONE_MESSAGE.format(where=process.where))
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=ACTIVE)):
        run = record.dagster_run
        bound = max_runtime_s(instance, run)
        if run.run_id not in dead and record.start_time and now - record.start_time > bound:
            problems.append(f"run {run.run_id[:8]} ({run.job_name}) has been {run.status.value} for "
                            f"{duration(now - record.start_time)}, longer than the {duration(bound)} bound")
    holders, _ = pool_holders(instance, pool)
    stray = dict(not_running(instance, [h.run_id for h in holders]))
    for holder in holders:
        if holder.run_id in stray:
            run = stray[holder.run_id]
            state = f"is {run.status.value}" if run is not None else "no longer exists"
            problems.append(f"the {pool} slot is held by run {holder.run_id[:8]}, which {state}")
    running = [h for h in holders if h.run_id not in stray and h.run_id not in dead]
    if running:
        slot = f"the {pool} slot is held by " + ", ".join(
            f"run {h.run_id[:8]} (step {h.step_key}), running" for h in running)
    else:
        slot = f"the {pool} slot is free"
    return Health(problems, slot)


def open_instance(home: Path) -> dg.DagsterInstance | None:
    """The instance at `home` (close it after use), or None when none has been created there:
    doctor must not create one."""
    if not home.is_dir():
        return None
    config = home / "dagster.yaml"
    custom_storage = config.exists() and any(
        line.split(":")[0].strip() in ("storage", "run_storage", "event_log_storage")
        for line in config.read_text().splitlines() if line and not line.startswith((" ", "#")))
    if not custom_storage and not (home / "history" / "runs.db").exists():
        return None
    return dg.DagsterInstance.from_config(str(home))
