"""`make bench-accounts` (issue #14): one schedule tick of N demo-size accounts, through Dagster.

What a deployment does every 20 minutes, measured on this machine:

- N accounts (default 50), each with its own sandbox (its own Wistia and Upsales emulators, its
  own tokens, the demo's data with event keys prefixed by the account's name), in one accounts
  file; the emulators live in this process, so their CPU is never counted as the pipeline's.
- The real `dagster-daemon` on the project's instance settings (`dagster.yaml` on SQLite, or
  `deploy/dagster.postgres.yaml` on a PostgreSQL server of its own, started as
  wistia_pipeline_tests/postgres.py does), with `max_concurrent_runs` set to `--concurrency`
  (default: the machine's cores): its run queue dequeues the runs and the default run launcher
  starts each in a process of its own from the code server, as in production.
- The tick is the schedule's own evaluation in a code server (`get_schedule_execution_data`)
  and the daemon's own way of creating and submitting each run request (the scheduler's
  `_submit_run_request`), at a chosen tick time: the daemon's scheduler would wait for the next
  20-minute boundary, and the benchmark needs two ticks now (the schedule itself is switched off
  for the daemon, so it never ticks on its own while measuring).
- Two ticks: the *first sync* (each account posts the demo's 14 activities and 27 form
  submissions), then, after the 4 late views arrive in every Wistia, the *steady* tick (the
  funnel 193 -> 54 -> 30 -> 20 -> 18 -> 4: 4 activities and 4 submissions each), the one that
  repeats every 20 minutes. Every run must succeed and every account's Upsales must hold exactly
  its own entries, each once: otherwise the benchmark fails rather than report figures.

Per run: wall time from launch to end, the steps' time (Dagster's step stats), Dagster's part
(wall minus steps), its CPU seconds and peak RSS (benchmarks/probe/sitecustomize.py, from the
run process itself). Per tick: the wall time from the schedule's evaluation to the last run's end,
the CPU of the daemon and code servers over it (live processes, /proc), and PostgreSQL's.
Accounts per core at a 20-minute cadence = 1200 s / (CPU seconds per account per tick).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from benchmarks import accounts_report

ROOT = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "probe"
WORKSPACE = ROOT / "workspace.yaml"
LOCATION = "wistia_pipeline"
CADENCE_S = 20 * 60
TARGET_PER_CORE = 100
# The demo's entries per account and tick (wistia_pipeline/sandbox/demo.py).
EXPECTED = {"first": {"activities": 14, "forms": 27}, "steady": {"activities": 4, "forms": 4}}
RUN_TIMEOUT_S = 3600
STARTED_PID = re.compile(r"Started process for run \(pid: (\d+)\)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accounts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50, help="accounts of demo size (default 50)")
    parser.add_argument("--storage", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2,
                        help="the instance's max_concurrent_runs (default: the machine's cores)")
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "accounts.json"),
                        help="the figures ('-': none)")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"),
                        help="the markdown file whose section 'Many accounts' is (re)written ('-': none)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--note", default="", help="a line for the report (what the figures predate, say)")
    parser.add_argument("--render", default=None,
                        help="measure nothing: rewrite the section of --output from these figures (an earlier --json)")
    return parser.parse_args(argv)


# -- accounts and their sandboxes -----------------------------------------------------------------


@dataclass
class BenchAccount:
    name: str
    sandbox: Any  # wistia_pipeline.sandbox.Sandbox
    own_keys: set[str] = field(default_factory=set)


def account_name(number: int) -> str:
    return f"a{number:04d}"


@contextlib.contextmanager
def demo_accounts(count: int, directory: Path, today: date) -> Iterator[tuple[list[BenchAccount], Path, dict[str, str]]]:
    """`count` sandboxes loaded with the demo (keys prefixed by the account's name), the accounts
    file naming them, and the variables holding their tokens."""
    from wistia_pipeline.sandbox.accounts import start_demo_account, write_accounts_file

    with contextlib.ExitStack() as stack:
        demo = [start_demo_account(stack, account_name(number), today) for number in range(count)]
        file = write_accounts_file(directory / "accounts.yaml", demo, str(directory / "data" / "{name}.duckdb"))
        env = {name: value for account in demo for name, value in account.env.items()}
        yield [BenchAccount(a.name, a.sandbox, a.own_keys) for a in demo], file, env


def posted(account: BenchAccount) -> tuple[list[str], list[str]]:
    """What the account's Upsales holds: activities' externalIds, form submissions' event keys."""
    from wistia_pipeline.sandbox.accounts import posted_keys

    return posted_keys(account.sandbox)


def verify_posts(accounts: list[BenchAccount], expected_total: dict[str, int]) -> None:
    """Every account's Upsales holds exactly `expected_total` entries per destination, each once,
    each one of its own views; AssertionError naming the first account that does not."""
    from wistia_pipeline.rules import external_id

    for account in accounts:
        activities, forms = posted(account)
        own_ids = {external_id(key) for key in account.own_keys}
        counts = {"activities": len(activities), "forms": len(forms)}
        if counts != expected_total:
            raise AssertionError(f"account {account.name}: its Upsales holds {counts}, expected {expected_total}")
        if len(set(activities)) != len(activities) or len(set(forms)) != len(forms):
            raise AssertionError(f"account {account.name}: an entry was posted twice")
        if not set(activities) <= own_ids or not set(forms) <= account.own_keys:
            raise AssertionError(f"account {account.name}: its Upsales holds another account's view")


# -- the instance ---------------------------------------------------------------------------------


def instance_home(directory: Path, storage: str, concurrency: int) -> Path:
    """A DAGSTER_HOME with the project's instance settings for `storage`, but max_concurrent_runs."""
    source = ROOT / ("dagster.yaml" if storage == "sqlite" else "deploy/dagster.postgres.yaml")
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    config["concurrency"]["runs"]["max_concurrent_runs"] = concurrency
    home = directory / f"dagster_home_{storage}"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return home


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set (the code server this process starts inherits them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def postgres_if(storage: str) -> Iterator[dict[str, Any]]:
    """For postgres: a server of its own and one database (its DAGSTER_PG_* variables and the
    postmaster's pid, for its CPU); for sqlite: nothing."""
    if storage != "postgres":
        yield {"env": {}, "postmaster": None}
        return
    from wistia_pipeline_tests.postgres import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL's programs (initdb, pg_ctl) were not found: apt-get install postgresql")
    server = PostgresServer(bindir).start()
    try:
        database = server.createdb("dagster")
        postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
        yield {"env": database.env(), "postmaster": postmaster}
    finally:
        server.stop()


# -- processes ------------------------------------------------------------------------------------


def processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, own CPU seconds: utime + stime, without waited-for children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return found


def tree_cpu(roots: list[int], exclude: set[int] = frozenset()) -> float:
    """CPU seconds of the live processes under `roots` (the roots included), but `exclude`."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, todo, seen = 0.0, [r for r in roots if r in table], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if pid not in exclude:
            total += table[pid][1]
        todo += children.get(pid, [])
    return total


def rss_of_tree(roots: list[int]) -> int:
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    total, todo = 0, list(roots)
    while todo:
        pid = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        todo += children.get(pid, [])
    return total


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(WORKSPACE)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def stop_daemon(daemon: subprocess.Popen) -> None:
    """SIGTERM to the daemon's process group (its code server included), SIGKILL after 30 s."""
    import signal

    if daemon.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(30)


def wait_until_warm(instance, daemon: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    """Until every daemon has sent a heartbeat and the daemon's process tree has been idle for a
    few seconds: its start-up (imports, the code server's definitions) is not a tick's cost."""
    deadline = time.monotonic() + timeout
    idle_since, last = None, tree_cpu([daemon.pid])
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited ({daemon.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(1.0)
        now = tree_cpu([daemon.pid])
        beating = len(instance.get_daemon_heartbeats()) >= len(instance.get_required_daemon_types())
        if beating and now - last < 0.2:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= 3:
                return
        else:
            idle_since = None
        last = now
    raise RuntimeError(f"dagster-daemon did not settle within {timeout:.0f} s")


# -- one tick -------------------------------------------------------------------------------------


def stop_schedule(instance, remote_schedule) -> None:
    """The schedule switched off, as the UI's switch does: the daemon never ticks it on its own
    (its default is on), so the only runs are the ticks the benchmark asks for."""
    from dagster._core.scheduler.instigation import (
        InstigatorState, InstigatorStatus, InstigatorType, ScheduleInstigatorData,
    )

    state = InstigatorState(remote_schedule.get_remote_origin(), InstigatorType.SCHEDULE, InstigatorStatus.STOPPED,
                            ScheduleInstigatorData(remote_schedule.cron_schedule, start_timestamp=None))
    if instance.get_instigator_state(state.instigator_origin_id, remote_schedule.selector_id):
        instance.update_instigator_state(state)
    else:
        instance.add_instigator_state(state)


def remote_schedule_of(workspace):
    from wistia_pipeline.automation import SCHEDULE_NAME

    location = workspace.create_request_context().get_code_location(LOCATION)
    [repository] = location.get_repositories().values()
    return location, repository, repository.get_schedule(SCHEDULE_NAME)


def tick(workspace, instance, tick_time: datetime) -> tuple[list[str], float]:
    """The schedule's evaluation at `tick_time` in the code server, then each run request created
    and submitted to the run queue as the daemon's scheduler does; the run ids and the seconds the
    evaluation took."""
    from dagster._core.definitions.timestamp import TimestampWithTimezone
    from dagster._scheduler.scheduler import _submit_run_request

    location, repository, remote_schedule = remote_schedule_of(workspace)
    started = time.perf_counter()
    data = location.get_schedule_execution_data(
        instance=instance, repository_handle=repository.handle, schedule_name=remote_schedule.name,
        scheduled_execution_time=TimestampWithTimezone(tick_time.timestamp(), "UTC"), log_key=None)
    evaluation = time.perf_counter() - started
    logger = logging.getLogger("bench-accounts")
    run_ids = []
    for request in data.run_requests or []:
        result = _submit_run_request(request, workspace, remote_schedule, tick_time, logger, None)
        if result.error_info:
            raise RuntimeError(f"run request {request.run_key} was not submitted: {result.error_info.to_string()}")
        run_ids.append(result.submitted_run.run_id)
    return run_ids, evaluation


def wait_for_runs(instance, run_ids: list[str], daemon: subprocess.Popen, log: Path) -> None:
    import dagster as dg

    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        runs = instance.get_runs(dg.RunsFilter(run_ids=run_ids))
        if len(runs) == len(run_ids) and all(run.status in done for run in runs):
            return
        if daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited ({daemon.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the tick's runs did not finish within {RUN_TIMEOUT_S} s")
        time.sleep(0.5)


def run_figures(instance, run_id: str, probe_dir: Path) -> dict[str, Any]:
    """One run's figures from Dagster's records and the probe; RuntimeError when it failed."""
    import dagster as dg
    from dagster._serdes import serialize_value
    from wistia_pipeline.account_defs import ACCOUNT_TAG

    [record] = instance.get_run_records(dg.RunsFilter(run_ids=[run_id]))
    run = record.dagster_run
    if run.status != dg.DagsterRunStatus.SUCCESS:
        failure = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
        message = failure[0].event_log_entry.message if failure else run.status.value
        raise RuntimeError(f"run {run_id} of account {run.tags.get(ACCOUNT_TAG)} did not succeed: {message}")
    stats = instance.get_run_stats(run_id)
    steps = instance.get_run_step_stats(run_id)
    step_seconds = sum((s.end_time or 0) - (s.start_time or 0) for s in steps if s.start_time)
    first_step = min((s.start_time for s in steps if s.start_time), default=stats.end_time)
    pid = None
    entries = instance.all_logs(run_id)
    for entry in entries:
        match = STARTED_PID.search(entry.message or "") if entry.is_dagster_event else None
        if match:
            pid = int(match.group(1))
    probe = probe_dir / f"{pid}.json"
    if pid is None or not probe.exists():
        raise RuntimeError(f"run {run_id}: no CPU record of its process (pid {pid}): was the probe on its PYTHONPATH?")
    usage = json.loads(probe.read_text(encoding="utf-8"))
    wall = stats.end_time - stats.launch_time
    return {
        "account": run.tags.get(ACCOUNT_TAG), "run_id": run_id,
        "queued": stats.launch_time - record.create_timestamp.timestamp(),
        "wall": wall, "steps": step_seconds, "dagster": wall - step_seconds,
        "before_first_step": first_step - stats.launch_time, "steps_count": len(steps),
        "process_wall": usage["ended"] - usage["started"],
        "cpu": usage["user"] + usage["system"], "max_rss": usage["max_rss"],
        # What the run leaves in the instance's event log (for the storage's load: docs/scaling.md).
        "events": len(entries), "event_bytes": sum(len(serialize_value(e)) for e in entries),
    }


def api_calls(accounts: list[BenchAccount]) -> list[tuple[int, int]]:
    """Requests each account's Wistia and Upsales have answered so far."""
    calls = []
    for account in accounts:
        with account.sandbox.wistia.lock, account.sandbox.upsales.lock:
            calls.append((len(account.sandbox.wistia.requests), len(account.sandbox.upsales.requests)))
    return calls


def measure_tick(kind: str, workspace, instance, tick_time: datetime, daemon: subprocess.Popen, log: Path,
                 probe_dir: Path, infra_roots: list[int], postmaster: int | None,
                 accounts: list[BenchAccount]) -> dict[str, Any]:
    calls_before = api_calls(accounts)
    infra_before = tree_cpu(infra_roots, exclude={os.getpid()})
    pg_before = tree_cpu([postmaster]) if postmaster else 0.0
    started = time.perf_counter()
    run_ids, evaluation = tick(workspace, instance, tick_time)
    wait_for_runs(instance, run_ids, daemon, log)
    wall = time.perf_counter() - started
    # The run processes have exited: what is left under the roots is the daemon and code servers.
    infra = tree_cpu(infra_roots, exclude={os.getpid()}) - infra_before
    pg = (tree_cpu([postmaster]) - pg_before) if postmaster else None
    runs = [run_figures(instance, run_id, probe_dir) for run_id in run_ids]
    calls = [(w - w0, u - u0) for (w, u), (w0, u0) in zip(api_calls(accounts), calls_before)]
    return {"kind": kind, "tick_time": tick_time.isoformat(), "runs": runs, "wall": wall, "evaluation": evaluation,
            "infra_cpu": infra, "postgres_cpu": pg, "infra_rss": rss_of_tree(infra_roots[:1]),
            "wistia_calls": statistics.median(w for w, _ in calls), "upsales_calls": statistics.median(u for _, u in calls)}


def bench_storage(storage: str, count: int, concurrency: int, work: Path) -> dict[str, Any]:
    """Both ticks of `count` accounts on `storage`, verified; their figures."""
    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    directory = work / storage
    (directory / "data").mkdir(parents=True)
    probe_dir = directory / "probe"
    probe_dir.mkdir()
    now = datetime.now(timezone.utc)
    # A tick time on the current UTC day (the 20-minute boundary just passed), the data built
    # around that day; the steady tick one second later, so that both read the same three days.
    first_tick = now.replace(minute=now.minute - now.minute % 20, second=0, microsecond=0)
    today = first_tick.date()
    home = instance_home(directory, storage, concurrency)
    log = directory / "dagster_daemon.log"
    with postgres_if(storage) as pg, demo_accounts(count, directory, today) as (accounts, file, tokens):
        env = {**tokens, **pg["env"], "WISTIA_PIPELINE_ACCOUNTS": str(file), "DAGSTER_HOME": str(home),
               "WISTIA_BENCH_PROBE_DIR": str(probe_dir), "DAGSTER_DISABLE_TELEMETRY": "1",
               "PYTHONPATH": os.pathsep.join([str(PROBE), str(ROOT)])}
        with environment(env), dg.DagsterInstance.from_config(str(home)) as instance, \
                WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE)])) as workspace:
            _, _, remote_schedule = remote_schedule_of(workspace)
            stop_schedule(instance, remote_schedule)
            daemon = start_daemon(dict(os.environ), log)
            try:
                wait_until_warm(instance, daemon, log)
                started = time.perf_counter()
                first = measure_tick("first", workspace, instance, first_tick, daemon, log, probe_dir,
                                     [daemon.pid, os.getpid()], pg["postmaster"], accounts)
                verify_posts(accounts, EXPECTED["first"])
                print(f"  {storage}: first tick, {count} runs in {first['wall']:.0f} s", flush=True)
                for account in accounts:
                    account.sandbox.wistia.release_hidden()
                steady = measure_tick("steady", workspace, instance, first_tick + timedelta(seconds=1), daemon, log,
                                      probe_dir, [daemon.pid, os.getpid()], pg["postmaster"], accounts)
                verify_posts(accounts, {k: EXPECTED["first"][k] + EXPECTED["steady"][k] for k in EXPECTED["first"]})
                print(f"  {storage}: steady tick, {count} runs in {steady['wall']:.0f} s", flush=True)
                total = time.perf_counter() - started
            finally:
                stop_daemon(daemon)
            daemon_log = log.read_text(errors="replace")
        for account in accounts:
            for secret in (account.sandbox.wistia.token, account.sandbox.upsales.token):
                if secret in daemon_log:
                    raise AssertionError(f"account {account.name}: a token is in the daemon's log")
    return {"storage": storage, "accounts": count, "concurrency": concurrency, "ticks": [first, steady],
            "seconds": total}


# -- summary --------------------------------------------------------------------------------------


def summarize(tick_figures: dict[str, Any]) -> dict[str, Any]:
    """The figures of one tick that the report shows, accounts per core included."""
    runs = tick_figures["runs"]
    count = len(runs)
    runs_cpu = sum(r["cpu"] for r in runs)
    everything = runs_cpu + tick_figures["infra_cpu"] + (tick_figures["postgres_cpu"] or 0.0)
    per_account = everything / count
    median = statistics.median
    return {
        "runs": count, "wall": tick_figures["wall"], "evaluation": tick_figures["evaluation"],
        "run_wall": median(r["wall"] for r in runs), "run_steps": median(r["steps"] for r in runs),
        "run_dagster": median(r["dagster"] for r in runs),
        "before_first_step": median(r["before_first_step"] for r in runs),
        "run_cpu": median(r["cpu"] for r in runs), "runs_cpu": runs_cpu,
        "events": median(r.get("events", 0) for r in runs), "event_bytes": median(r.get("event_bytes", 0) for r in runs),
        "infra_cpu": tick_figures["infra_cpu"], "postgres_cpu": tick_figures["postgres_cpu"],
        "cpu_per_account": per_account,
        "peak_rss": max(r["max_rss"] for r in runs), "median_rss": median(r["max_rss"] for r in runs),
        "infra_rss": tick_figures["infra_rss"],
        "wistia_calls": tick_figures.get("wistia_calls"), "upsales_calls": tick_figures.get("upsales_calls"),
        "accounts_per_core": CADENCE_S / per_account,
        "accounts_per_core_runs_only": CADENCE_S / (runs_cpu / count),
    }


def main(argv: list[str] | None = None) -> int:
    from benchmarks.run import machine

    opts = parse_args(argv)
    if opts.render:
        results = json.loads(Path(opts.render).read_text(encoding="utf-8"))
        if opts.note:
            results["note"] = opts.note
            Path(opts.render).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        accounts_report.write_section(Path(opts.output), results)
        print(f"wrote the section '{accounts_report.TITLE}' of {opts.output} from {opts.render}")
        return 0
    storages = [s.strip() for s in opts.storage.split(",") if s.strip()]
    for storage in storages:
        if storage not in ("sqlite", "postgres"):
            raise SystemExit(f"--storage: unknown storage {storage!r} (sqlite, postgres)")
    results: dict[str, Any] = {
        "machine": machine(), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m benchmarks.accounts", *(argv if argv is not None else sys.argv[1:])]),
        "accounts": opts.accounts, "concurrency": opts.concurrency, "storages": {}, "note": opts.note,
    }
    work = Path(tempfile.mkdtemp(prefix="wistia_bench_accounts_"))
    try:
        for storage in storages:
            print(f"{opts.accounts} accounts of demo size, {storage} instance storage, "
                  f"{opts.concurrency} runs at once", flush=True)
            figures = bench_storage(storage, opts.accounts, opts.concurrency, work)
            figures["summary"] = {t["kind"]: summarize(t) for t in figures["ticks"]}
            results["storages"][storage] = figures
            steady = figures["summary"]["steady"]
            print(f"  {storage}: {steady['cpu_per_account']:.2f} CPU-s per account and tick -> "
                  f"{steady['accounts_per_core']:.0f} accounts per core at 20 minutes", flush=True)
    finally:
        if opts.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if opts.json != "-":
        Path(opts.json).write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        print(f"wrote {opts.json}")
    if opts.output != "-":
        accounts_report.write_section(Path(opts.output), results)
        print(f"wrote the section '{accounts_report.TITLE}' of {opts.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
