"""`wistia-pipeline`: sync, explain, retry, forget, doctor, probe and sandbox, from any directory."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

from wistia_pipeline.errors import failure_line
from wistia_pipeline.settings import Settings, SettingsError
from wistia_pipeline.sinks import registry
from wistia_pipeline.stages.common import FUNNEL_LABELS


class UsageError(Exception):
    """A command-line value the user must fix; printed as one line."""


@dataclass
class SyncReport:
    """What one sync run did, for printing and for tests."""

    run_id: str
    success: bool
    first: date
    last: date
    funnels: dict[str, dict[str, int]] = field(default_factory=dict)
    posted: dict[str, int] = field(default_factory=dict)
    # Per destination, what the ledger step did (the `<destination>/<count>` metadata), also when
    # the run failed: posted, unconfirmed, not_attempted, rejected, carried_over, ...
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    error: str | None = None
    interrupted: bool = False  # SIGINT/SIGTERM stopped it: the next run settles what it left
    dry_run: bool = False
    payloads: dict[str, list[Any]] = field(default_factory=dict)  # dry run: the first payloads per destination
    read_back: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # --only: each post found again
    # API calls this run made, per API ('upsales', 'wistia') and endpoint (`calls/<api>/<endpoint>` metadata)
    calls: dict[str, dict[str, int]] = field(default_factory=dict)


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option} must be a date as YYYY-MM-DD, got {text!r}") from None


def sync_window(start: str | None, end: str | None, settings: Settings, today: date) -> tuple[date, date]:
    """The days to sync: --start..--end; a missing --end is today, a missing --start makes the
    window LOOKBACK_DAYS long."""
    from wistia_pipeline.automation import lookback_window

    last = parse_day(end, "--end") if end else today
    first = parse_day(start, "--start") if start else lookback_window(last, settings.lookback_days)[0]
    if first > last:
        raise UsageError(f"--start {first} is after --end {last}")
    if last > today:
        raise UsageError(f"--end {last} is in the future (today is {today} UTC)")
    if first < settings.partitions_start:  # the stage assets' first partition (stages.common)
        raise UsageError(f"--start {first} is before the first partition {settings.partitions_start} "
                         f"(PARTITIONS_START; Wistia keeps events for 2 years)")
    return first, last


def ensure_dagster_home() -> Path:
    """Runs are recorded in DAGSTER_HOME; without one, `./.dagster_home` (as `make run` uses)."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        home = str(Path(".dagster_home").resolve())
        os.environ["DAGSTER_HOME"] = home
        print(f"DAGSTER_HOME is not set: recording runs in {home}", file=sys.stderr)
    Path(home).mkdir(parents=True, exist_ok=True)
    return Path(home)


def run_sync(first: date, last: date, verbose: bool = False, dry_run: bool = False,
             only: list[str] | None = None, account: str | None = None) -> SyncReport:
    """Materialize the whole chain for days first..last as one run in the DAGSTER_HOME instance;
    with `account` (many-account mode), that account's job, pool and assets only."""
    import dagster as dg

    from wistia_pipeline import db, run_health
    from wistia_pipeline.automation import SYNC_JOB_NAME, range_tags
    from wistia_pipeline.definitions import build_defs
    from wistia_pipeline.stages.common import DUCKDB_POOL
    from wistia_pipeline.stages.ledger import SYNCED_LEDGER, posting_steps

    ensure_dagster_home()
    from wistia_pipeline.cli_logging import cli_console

    job_name, pool, ledger_key, ledger_op, tags = SYNC_JOB_NAME, DUCKDB_POOL, SYNCED_LEDGER, "synced_ledger", {}
    if account:
        from wistia_pipeline.account_defs import ACCOUNT_TAG, account_job_name, build_account_defs
        from wistia_pipeline.definitions import many_accounts
        from wistia_pipeline.stages.common import account_pool

        job_name, pool, ledger_key = account_job_name(account), account_pool(account), dg.AssetKey([account, "synced_ledger"])
        ledger_op, tags = f"{account}__synced_ledger", {ACCOUNT_TAG: account}
        # Only this account's definitions: building every account's is seconds per hundred.
        defs = build_account_defs(many_accounts() or [], dg.in_process_executor, only=account)
    else:
        defs = build_defs()
    job = defs.resolve_job_def(job_name).with_logger_defs({"console": cli_console})
    with dg.DagsterInstance.get() as instance:
        # A run whose process is gone would hold the pool slot for ever; then wait for the slot
        # here, out loud and interruptible, rather than silently inside Dagster's executor.
        for released in run_health.release_stuck_runs(instance):
            print(released.message, file=sys.stderr)
        run_health.wait_for_slot(instance, pool, db.lock_timeout())
        run_id = str(uuid.uuid4())
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,  # known before the run starts, for the tags naming its process
            tags={**range_tags(first, last), run_health.CLI_TAG: "cli", **run_health.process_tags(run_id), **tags},
            run_config={"loggers": {"console": {"config": {"verbose": verbose}}},
                        "ops": {ledger_op: {"config": {"dry_run": dry_run, "only_emails": list(only or [])}}}},
            raise_on_error=False,
        )
    ledger_steps = posting_steps(account)
    report = SyncReport(run_id=result.run_id, success=result.success, first=first, last=last, dry_run=dry_run)
    seen: set[Any] = set()
    for event in result.get_asset_materialization_events():
        # A step over several days reports one materialization per day, with the same metadata:
        # its calls are counted once. The ledger's numbers come from its steps (below).
        key = event.materialization.asset_key
        if key != ledger_key:
            read_metadata(report, event.materialization.metadata, calls=key not in seen)
        seen.add(key)
    # The ledger's steps, each its own destination's counts, calls and funnel, whether or not a
    # destination failed (a failed step's metadata says what it did before failing).
    for event in result.all_events:
        if event.is_successful_output and event.step_key in ledger_steps:
            read_metadata(report, event.step_output_data.metadata)
    failures = [e for e in result.all_events if e.is_step_failure]
    for failure in failures:
        user_metadata = failure.step_failure_data.user_failure_data
        if user_metadata:
            read_metadata(report, user_metadata.metadata)
    if failures:
        report.error = failure_line(failures[0])
        report.interrupted = any(is_interrupt(e.step_failure_data.error) for e in failures)
    return report


def read_metadata(report: SyncReport, metadata: Any, calls: bool = True) -> None:
    """Take the funnel (per destination, the last stage's), the `<destination>/<count>` numbers and, with
    `calls`, the step's `calls/<api>/<endpoint>` counts (added to the run's)."""
    if "funnel_counts" in metadata:  # per destination, the latest stage's
        report.funnels.update(metadata["funnel_counts"].value)
    for key, value in metadata.items():
        destination, _, name = key.partition("/")
        if destination == "calls":
            if not (calls and isinstance(value.value, int)):
                continue
            api, _, endpoint = name.partition("/")
            endpoints = report.calls.setdefault(api, {})
            endpoints[endpoint] = endpoints.get(endpoint, 0) + value.value
            continue
        if destination not in registry.names():
            continue
        if isinstance(value.value, int) and not isinstance(value.value, bool):
            report.counts.setdefault(destination, {})[name] = value.value
            if name == "posted":
                report.posted[destination] = value.value
        elif name == "would_post_payloads":
            report.payloads[destination] = value.value
        elif name == "read_back":
            report.read_back[destination] = value.value


# DuckDB raises its own (an InterruptException, or a RuntimeError "Query interrupted") when the
# interrupt lands inside a query.
INTERRUPTS = ("DagsterExecutionInterruptedError", "KeyboardInterrupt", "InterruptException")


def is_interrupt(error: Any) -> bool:
    """Whether a step failed because the run was interrupted (SIGINT/SIGTERM), not on its own."""
    pending = [error]
    while pending:
        error = pending.pop()
        if error is None:
            continue
        if error.cls_name in INTERRUPTS or "Query interrupted" in (error.message or ""):
            return True
        pending += [error.cause, getattr(error, "context", None)]
    return False


def format_report(report: SyncReport) -> str:
    lines = [f"Synced {report.first} .. {report.last} (run {report.run_id})"]
    for destination, counts in report.funnels.items():
        chain = " -> ".join(f"{n} {FUNNEL_LABELS[stage]}" for stage, n in counts.items())
        lines.append(f"{destination}: {chain}")
        if report.dry_run:
            lines += dry_run_lines(destination, report.counts.get(destination, {}), report.payloads.get(destination, []))
            continue
        lines += outcome_lines(destination, report.counts.get(destination, {}))
        for entry in report.read_back.get(destination, []):
            found = "found again in Upsales" if entry["found"] else "NOT found again in Upsales"
            lines.append(f"{destination}: {entry['event_key']} posted as Upsales id {entry['upsales_id']}, {found}")
    lines += call_lines(report.calls)
    if report.dry_run and report.success:
        lines.append("Dry run: nothing was posted and the ledger was not written.")
        return "\n".join(lines)
    if report.interrupted:
        lines.append(f"Run INTERRUPTED in {(report.error or '').split(':')[0] or 'a step'}: posts that were "
                     f"in flight are looked up in Upsales by the next sync, which posts the rest.")
    else:
        lines.append("Run succeeded." if report.success else f"Run FAILED: {report.error}")
    return "\n".join(lines)


API_NAMES = {"upsales": "Upsales", "wistia": "Wistia"}


def call_lines(calls: dict[str, dict[str, int]]) -> list[str]:
    """One line per API: the calls this run made, busiest endpoint first (issue #13)."""
    lines = []
    for api, endpoints in sorted(calls.items()):
        ranked = sorted(endpoints.items(), key=lambda item: (-item[1], item[0]))
        detail = ", ".join(f"{endpoint} {n}" for endpoint, n in ranked)
        lines.append(f"{API_NAMES.get(api, api)} calls this run: {sum(endpoints.values())} ({detail})")
    return lines


def dry_run_lines(destination: str, counts: dict[str, int], payloads: list[Any]) -> list[str]:
    """A dry run: how many would be posted, and the first payloads as they would be sent."""
    if "would_post" not in counts:
        return []
    verb = registry.get(destination).verb
    line = f"{destination}: would {verb} {counts['would_post']}"
    if counts.get("found_in_upsales"):
        line += f" ({counts['found_in_upsales']} more are already in Upsales and would only be recorded)"
    lines = [line]
    if payloads:
        lines.append(f"{destination}: the first {len(payloads)} as they would be sent:")
        lines += [f"  {json.dumps(payload, ensure_ascii=False, default=str)}" for payload in payloads]
    return lines


def outcome_lines(destination: str, counts: dict[str, int]) -> list[str]:
    """What the ledger step did for a destination: posted, and every view it left, and why."""
    if "posted" not in counts:
        return []
    verb = registry.get(destination).past
    posted = f"{destination}: {verb} {counts['posted']}"
    extras = []
    if counts.get("carried_over"):
        extras.append(f"{counts['carried_over']} of the queue from days before this window")
    if counts.get("found_in_upsales"):
        extras.append(f"{counts['found_in_upsales']} found already in Upsales and recorded")
    looked_up = counts.get("reconciled_found", 0) + counts.get("reconciled_missing", 0)
    if looked_up:
        extras.append(f"{looked_up} left unconfirmed by earlier runs looked up: {counts.get('reconciled_found', 0)} "
                      f"found, {counts.get('reconciled_missing', 0)} missing and offered again")
    lines = [posted + (f" ({'; '.join(extras)})" if extras else "")]
    left = [(counts.get("unconfirmed", 0), "unconfirmed (maybe stored: looked up before any new post)"),
            (counts.get("not_attempted", 0), "never attempted"),
            (counts.get("refused_retryable", 0), "refused while Upsales accepted nothing")]
    left = [f"{n} {what}" for n, what in left if n]
    if left:
        lines.append(f"{destination}: not {verb}: {', '.join(left)}; the next run retries them")
    if counts.get("rejected"):
        lines.append(f"{destination}: {counts['rejected']} rejected by Upsales in this run")
    if counts.get("unresolved"):
        lines.append(f"{destination}: {counts['unresolved']} queued views are not in filtered_views any more: "
                     f"a sync of their days settles them")
    if counts.get("rejected_total"):
        lines.append(f"{destination}: {counts['rejected_total']} views stay rejected by Upsales "
                     f"(`wistia-pipeline explain` says why; `wistia-pipeline retry --destination "
                     f"{destination}` re-offers them)")
    return lines


def chosen_account(args: argparse.Namespace):
    """The account `--account` names in many-account mode (WISTIA_PIPELINE_ACCOUNTS), else None;
    SettingsError (one line, listing the names) when it is missing or unknown, and UsageError for
    --account without an accounts file. Only the chosen account's secrets are required."""
    from wistia_pipeline.account_defs import find_account
    from wistia_pipeline.definitions import many_accounts

    accounts = many_accounts()
    if accounts is None:
        if getattr(args, "account", None):
            raise UsageError("--account needs many-account mode: WISTIA_PIPELINE_ACCOUNTS names no accounts file")
        return None
    return find_account(accounts, args.account)


def cmd_sync(args: argparse.Namespace) -> int:
    account = chosen_account(args)
    settings = Settings.from_env() if account is None else account.settings()
    first, last = sync_window(args.start, args.end, settings, utc_today())
    from wistia_pipeline.run_health import SlotWaitTimeout, interrupt_on_sigterm

    interrupt_on_sigterm()
    try:
        report = run_sync(first, last, verbose=args.verbose, dry_run=args.dry_run, only=args.only,
                          account=account.name if account else None)
    except SlotWaitTimeout as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(format_report(report))
    if report.interrupted:
        return 130
    return 0 if report.success else 1


def cmd_explain(args: argparse.Namespace) -> int:
    from wistia_pipeline.operations.explain import ExplainError, explain, format_explanation

    account = chosen_account(args)
    if account is None:
        settings, db_path = Settings.from_env(require_tokens=False), None
    else:
        from wistia_pipeline.settings import database_path

        settings = Settings.from_env(account.env(), require_tokens=False)
        db_path = database_path(account.env({}))
    try:
        result = explain(args.query, settings, utc_today(), db_path=db_path)
    except ExplainError as error:
        raise UsageError(str(error)) from None
    print(format_explanation(result))
    return 0 if result.views or result.suppressed_since else 1


def cmd_retry(args: argparse.Namespace) -> int:
    from wistia_pipeline.operations.retry import RetryError, format_retry, retry
    from wistia_pipeline.settings import database_path

    account = chosen_account(args)
    env = None if account is None else account.env()
    Settings.from_env(env, require_tokens=False)  # a bad setting stops here, in one line
    start = parse_day(args.start, "--start") if args.start else None
    end = parse_day(args.end, "--end") if args.end else None
    try:
        result = retry(database_path(env), args.destination, args.status, start=start, end=end,
                       email=args.email, event_key=args.event_key)
    except RetryError as error:
        raise UsageError(str(error)) from None
    print(format_retry(result))
    return 0 if result.total else 1


def cmd_forget(args: argparse.Namespace) -> int:
    """Erase one viewer from the DuckDB file and suppress them (operations/forget.py)."""
    from wistia_pipeline import db
    from wistia_pipeline.operations.forget import ForgetError, email_hash, forget, format_forget
    from wistia_pipeline.settings import database_path

    try:
        if args.hash:
            print(email_hash(args.email))
            return 0
        account = chosen_account(args)
        env = None if account is None else account.env()
        settings = Settings.from_env(env, require_tokens=False)  # a bad setting stops here, in one line
        result = forget(database_path(env), args.email, dry_run=args.dry_run, lock_wait=settings.db_lock_timeout_s)
    except ForgetError as error:
        raise UsageError(str(error)) from None
    except db.DatabaseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(format_forget(result))
    return 0


def account_envs() -> list[tuple[Any, dict[str, str]]] | None:
    """Each account's environment as `doctor` and `probe` read it (its settings, its secrets from
    the variables it names, the process's DAGSTER_HOME), or None in single-account mode."""
    from wistia_pipeline.definitions import many_accounts
    from wistia_pipeline.settings import environment

    accounts = many_accounts()
    if accounts is None:
        return None
    process = environment()
    shared = {name: process[name] for name in ("DAGSTER_HOME", "DAGSTER_WEBSERVER_URL") if process.get(name)}
    return [(account, {**shared, **account.env(process)}) for account in accounts]


def print_sections(run, format_checks, colour: bool, each=None) -> int:
    """`run()`'s checks; in many-account mode a section per account (`each(env, account)`, default
    `run(env)`), each run whatever the others found (one account's bad setting or token hides no
    other account's checks)."""
    sections = account_envs()
    if sections is None:
        checks = run()
        print(format_checks(checks, colour=colour))
        return 0 if all(check.ok for check in checks) else 1
    from wistia_pipeline.operations.doctor import Check

    from wistia_pipeline.accounts import unread_variables

    unread = unread_variables([account for account, _ in sections])
    if unread:
        print(f"note: many-account mode reads settings from the accounts file only; set in the "
              f"environment and not read: {', '.join(unread)}")
    failed = []
    for account, env in sections:
        name = account.name
        print(f"== account {name} ==")
        checks = []
        try:  # the variables the account names, by their names (doctor's own lines say WISTIA_API_TOKEN)
            account.check_secrets()
        except SettingsError as error:
            checks.append(Check("account's variables", False, str(error), "set it, or fix the accounts file"))
        try:
            checks += each(env, account) if each else run(env)
        except SettingsError as error:
            checks.append(Check("settings", False, str(error), "docs/accounts.md"))
        print(format_checks(checks, colour=colour))
        if not all(check.ok for check in checks):
            failed.append(name)
    print(f"Accounts with failed checks: {', '.join(failed)}" if failed else f"All {len(sections)} accounts passed.")
    return 1 if failed else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from wistia_pipeline.operations.doctor import format_checks, run_doctor

    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    from wistia_pipeline.stages.common import account_pool

    return print_sections(run_doctor, format_checks, colour,
                          each=lambda env, account: run_doctor(env, pool=account_pool(account.name)))


def cmd_probe(args: argparse.Namespace) -> int:
    """Every API assumption, checked on the configured accounts; writes only with --write-test."""
    from wistia_pipeline.operations.doctor import format_checks
    from wistia_pipeline.operations.probe import run_probe
    from wistia_pipeline.rules import is_valid_email

    if args.write_test is not None and not is_valid_email(args.write_test.strip()):
        raise UsageError(f"--write-test needs the email of a contact in Upsales, got {args.write_test!r}")
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return print_sections(lambda env=None: run_probe(env, write_test=args.write_test), format_checks, colour)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from wistia_pipeline.sandbox.runner import run_sandbox

    if args.late_after is None:
        late_after = "schedule"  # a minute before the schedule's second tick (runner.late_release)
    else:
        late_after = None if args.late_after < 0 else args.late_after
    run_sandbox(
        wistia_port=args.wistia_port,
        upsales_port=args.upsales_port,
        late_after_seconds=late_after,
        env_file=Path(args.env_file) if args.env_file else None,
        db_path=args.db,
        dagster_home=args.dagster_home,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wistia-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="materialize the chain for a window of days as one Dagster run")
    sync.add_argument("--start", help="first UTC day, YYYY-MM-DD (default: start of the lookback window)")
    sync.add_argument("--end", help="last UTC day, YYYY-MM-DD (default: today)")
    sync.add_argument("--dry-run", action="store_true",
                      help="run the chain, post nothing: print what would be posted, the first payloads in full")
    sync.add_argument("--only", action="append", metavar="EMAIL",
                      help="post only this viewer's views (repeatable), then read each one back from Upsales")
    sync.add_argument("--account", metavar="NAME",
                      help="many-account mode (WISTIA_PIPELINE_ACCOUNTS): the account to sync (required there)")
    sync.add_argument("--verbose", action="store_true",
                      help="print Dagster's whole log, failures with their tracebacks")
    sync.set_defaults(handler=cmd_sync)

    explain = commands.add_parser("explain", help="what happened to every view of an email, or to one view, and why")
    explain.add_argument("query", help="an email (any case, spaces trimmed) or a Wistia event_key")
    explain.add_argument("--account", metavar="NAME",
                         help="many-account mode (WISTIA_PIPELINE_ACCOUNTS): the account whose DuckDB file to read")
    explain.set_defaults(handler=cmd_explain)

    retry = commands.add_parser(
        "retry", help="re-offer ledger rows: the next sync looks each up in Upsales and posts it if absent")
    retry.add_argument("--destination", required=True, choices=registry.names())
    retry.add_argument("--account", metavar="NAME",
                       help="many-account mode (WISTIA_PIPELINE_ACCOUNTS): the account whose ledger to re-offer")
    retry.add_argument("--status", default="rejected", choices=("rejected", "failed"),
                       help="rejected (default): refused by Upsales; failed: left queued or in flight")
    which = retry.add_mutually_exclusive_group()
    which.add_argument("--email", help="only the views of this email (any case)")
    which.add_argument("--event-key", help="only this view")
    retry.add_argument("--start", help="only views of this UTC day or later, YYYY-MM-DD")
    retry.add_argument("--end", help="only views of this UTC day or earlier, YYYY-MM-DD")
    retry.set_defaults(handler=cmd_retry)

    forget = commands.add_parser(
        "forget", help="erase a viewer from the DuckDB file and suppress their email from every later sync")
    forget.add_argument("email", help="the viewer's email (any case, spaces trimmed)")
    forget.add_argument("--account", metavar="NAME",
                        help="many-account mode (WISTIA_PIPELINE_ACCOUNTS): the account whose DuckDB file to erase in")
    forget.add_argument("--dry-run", action="store_true", help="print what would be erased, change nothing")
    forget.add_argument("--hash", action="store_true",
                        help="only print the email's sha256 (the job forget_viewer's email_sha256), touch nothing")
    forget.set_defaults(handler=cmd_forget)

    doctor = commands.add_parser("doctor", help="check every setting, the DuckDB file and both API tokens")
    doctor.set_defaults(handler=cmd_doctor)

    probe = commands.add_parser("probe", help="check every API behaviour the pipeline relies on, on your accounts "
                                              "(read-only unless --write-test)")
    probe.add_argument("--write-test", metavar="EMAIL",
                       help="also post one test activity (and, with forms on, one form submission) for the "
                            "contact with this email, read it back and delete it")
    probe.set_defaults(handler=cmd_probe)

    sandbox = commands.add_parser("sandbox", help="start the local Wistia and Upsales emulators with demo data")
    sandbox.add_argument("--wistia-port", type=int, default=0)
    sandbox.add_argument("--upsales-port", type=int, default=0)
    sandbox.add_argument("--env-file", help="also write the environment to this file (NAME=value lines)")
    sandbox.add_argument("--db", default="data/demo.duckdb",
                         help="the demo's DuckDB file, written to the environment as an absolute path")
    sandbox.add_argument("--dagster-home", default=".dagster_home",
                         help="the demo's DAGSTER_HOME, written to the environment as an absolute path")
    sandbox.add_argument("--late-after", type=float, default=None,
                         help="seconds until the demo's late views appear (-1: never; "
                              "default: a minute before the schedule's second tick)")
    sandbox.set_defaults(handler=cmd_sandbox)
    return parser


def main(argv: list[str] | None = None) -> int:
    load_dotenv(Path.cwd() / ".env", override=False)
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (SettingsError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
