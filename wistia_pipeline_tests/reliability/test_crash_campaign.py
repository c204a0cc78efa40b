"""The crash campaign: kill the sync (SIGKILL) at a random point of posting, or lose the answer to a
random post, then rerun; afterwards Upsales holds exactly one entry per qualifying view in each
destination and the ledger agrees.

Each trial is one seed: a fresh sandbox, DuckDB file and DAGSTER_HOME with the small world (both
destinations, 12 activities, 14 form submissions, 2 form creations: 28 posts in a clean run). The
sync runs in a forked child process (see child.py); the seed picks which post the fault hits
(`skip`) or after how many stored posts, plus how long after, the child is killed. The kinds:

- kill_before_write: the chosen post is cut off before Upsales sees it, and the child is killed;
- kill_after_write: Upsales stores the chosen post, then the child is killed before the answer;
- kill_async: a watcher kills the child a random few milliseconds after the N-th stored post,
  wherever it is then (between a post and its ledger update, inside a DuckDB write, ...);
- response_lost / answer_cut / timeout_after_write: Upsales stores the chosen post but its answer
  is lost (connection dropped), cut into invalid JSON, or later than the client's read timeout;
  the run goes on and fails with that view in flight.

Four more trials fail the whole run rather than one post (Upsales refusing every post of a
destination, or every post failing on a run whose oldest day then leaves the window), then let
Upsales recover. Two more trials do the same on the demo data (18 activities and 31 submissions once the late
views are released). Right after the first run, every entry Upsales holds must already have its ledger row (the intent
is written before the post leaves). Then one rerun in this process must succeed and leave
everything complete. A failure message
names the seed, the kind and the post, so `pytest -k <seed>` replays that trial exactly.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

from wistia_pipeline import cli
from wistia_pipeline.cli import run_sync
from wistia_pipeline.sandbox import Fault, load_demo
from wistia_pipeline_tests.reliability import child
from wistia_pipeline_tests.reliability.fast_http import TIMEOUT_FAULT_DELAY
from wistia_pipeline_tests.reliability.world import World, assert_complete, assert_ledger_consistent, ledger_rows

pytestmark = pytest.mark.e2e  # whole Dagster runs against the sandbox

KINDS = ("kill_before_write", "kill_after_write", "kill_async", "response_lost", "answer_cut", "timeout_after_write")
KILLING = {"kill_before_write", "kill_after_write", "kill_async"}
POSTS_IN_A_CLEAN_RUN = 12 + 14 + 2
BASE_SEED = 5_000_100
TRIALS = [(BASE_SEED + n, KINDS[n % len(KINDS)]) for n in range(24)]


def stored_posts(sandbox) -> int:
    return len(sandbox.upsales.events) + len(sandbox.upsales.form_submits) + len(sandbox.upsales.forms)


@pytest.mark.parametrize(("seed", "kind"), TRIALS, ids=[f"{seed}-{kind}" for seed, kind in TRIALS])
def test_crash_then_rerun_posts_each_view_exactly_once(sandbox, pipeline_env, world, run, tmp_path, seed, kind):
    rng = random.Random(seed)
    target = rng.randrange(POSTS_IN_A_CLEAN_RUN)  # which post (0-based) the fault hits
    after_posts = rng.randrange(1, POSTS_IN_A_CLEAN_RUN - 1)  # kill_async: after this many stored posts
    after_seconds = rng.uniform(0.0, 0.03)  # ... and this much later
    trial = (f"seed={seed} kind={kind} post={target}" if kind != "kill_async"
             else f"seed={seed} kind={kind} after {after_posts} posts + {after_seconds * 1000:.0f} ms")

    pid: dict[str, int] = {}

    def kill() -> None:
        os.kill(pid["child"], signal.SIGKILL)

    faults = {
        "kill_before_write": Fault(mode="drop", method="POST", skip=target, on_fire=kill),
        "kill_after_write": Fault(mode="drop_after_write", method="POST", skip=target, on_fire=kill),
        "response_lost": Fault(mode="drop_after_write", method="POST", skip=target),
        "answer_cut": Fault(mode="truncate", method="POST", skip=target),
        "timeout_after_write": Fault(mode="delay", delay=TIMEOUT_FAULT_DELAY, method="POST", skip=target),
    }
    fault = faults.get(kind)
    if fault is not None:
        sandbox.upsales.inject(fault)

    process = child.start_sync(dict(pipeline_env, **world.env), world.first, world.last, tmp_path / "child")
    pid["child"] = process.pid
    watcher = None
    if kind == "kill_async":
        def watch() -> None:
            while process.is_alive() and stored_posts(sandbox) < after_posts:
                time.sleep(0.002)
            time.sleep(after_seconds)
            if process.is_alive():
                kill()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
    process.join(timeout=90)
    if process.is_alive():
        process.kill()
        pytest.fail(f"the sync did not end within 90 s [{trial}]")
    if watcher is not None:
        watcher.join(timeout=5)
    log = (tmp_path / "child" / "child.log").read_text(errors="replace")[-2000:]
    if kind in KILLING:
        assert process.exitcode == -signal.SIGKILL, f"the child was not killed (exit {process.exitcode}) [{trial}]\n{log}"
    else:
        assert fault is not None and fault.fired == 1, f"the fault never fired [{trial}]\n{log}"
        assert process.exitcode == 1, f"a lost answer must fail the run (exit {process.exitcode}) [{trial}]\n{log}"
    assert_ledger_consistent(sandbox, run.db_path, f"right after the first run, {trial}")
    run.until_complete(context=trial)


DEMO_TRIALS = [(BASE_SEED + 100, "kill_after_write"), (BASE_SEED + 101, "kill_async")]


@pytest.mark.parametrize(("seed", "kind"), DEMO_TRIALS, ids=[f"demo-{seed}-{kind}" for seed, kind in DEMO_TRIALS])
def test_crash_on_the_demo_then_rerun_posts_18_activities_and_31_submissions(
        sandbox, pipeline_env, today, monkeypatch, tmp_path, seed, kind):
    scenario = load_demo(sandbox, today)
    sandbox.wistia.release_hidden()
    for name, value in scenario.env.items():
        monkeypatch.setenv(name, value)
    first, last = min(scenario.days), max(scenario.days)
    rng = random.Random(seed)
    posts = scenario.expected["posted_total"] + scenario.expected["forms_total"] + len(scenario.expected["forms_created"])
    target, after_posts, after_seconds = rng.randrange(posts), rng.randrange(1, posts - 1), rng.uniform(0.0, 0.03)
    trial = f"demo seed={seed} kind={kind} post={target} / after {after_posts} posts + {after_seconds * 1000:.0f} ms"

    process = None

    def kill() -> None:
        os.kill(process.pid, signal.SIGKILL)

    if kind == "kill_after_write":
        sandbox.upsales.inject(Fault(mode="drop_after_write", method="POST", skip=target, on_fire=kill))
    process = child.start_sync(dict(pipeline_env, **scenario.env), first, last, tmp_path / "child")
    if kind == "kill_async":
        deadline = time.monotonic() + 90
        while process.is_alive() and stored_posts(sandbox) < after_posts and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(after_seconds)
        if process.is_alive():
            kill()
    process.join(timeout=90)
    assert process.exitcode == -signal.SIGKILL, f"the child was not killed (exit {process.exitcode}) [{trial}]"
    assert_ledger_consistent(sandbox, pipeline_env["WISTIA_PIPELINE_DB"], trial)

    report = run_sync(first, last)
    assert report.success, f"{report.error} [{trial}]"
    rows = ledger_rows(pipeline_env["WISTIA_PIPELINE_DB"])
    world = World(first, last, scenario.env, activity_keys={k for d, k, _, _ in rows if d == "activities"},
                  form_keys={k for d, k, _, _ in rows if d == "forms"},
                  form_names=list(scenario.expected["forms_created"]))
    assert (len(world.activity_keys), len(world.form_keys)) == (18, 31), trial
    assert_complete(sandbox, pipeline_env["WISTIA_PIPELINE_DB"], world, trial)


# Failures of the whole run rather than of one post: Upsales refusing every post of a destination
# (a required field it started to ask for), or every post failing on a run whose oldest day then
# leaves the window. The seed picks the destination and how many posts go through first.
RUN_WIDE_KINDS = ("systematic_refusal", "oldest_day_failure")
RUN_WIDE_TRIALS = [(BASE_SEED + 200 + n, RUN_WIDE_KINDS[n % 2]) for n in range(4)]
REFUSAL = ('{"error": {"key": "FailedValidation", "code": 400, "errorCode": 26, '
           '"msg": "Missing required field: regDate"}, "metadata": null}')


@pytest.mark.parametrize(("seed", "kind"), RUN_WIDE_TRIALS, ids=[f"{seed}-{kind}" for seed, kind in RUN_WIDE_TRIALS])
def test_a_run_wide_failure_then_recovery_posts_each_view_exactly_once(sandbox, pipeline_env, world, run,
                                                                        monkeypatch, seed, kind):
    rng = random.Random(seed)
    path = rng.choice(["/v2/events", "/external/formSubmit"])
    skip = rng.randrange(0, 6)  # posts that go through before the failure begins
    trial = f"seed={seed} kind={kind} path={path} after {skip} posts"
    if kind == "systematic_refusal":
        fault = Fault(400, body=REFUSAL, count=10_000, path_prefix=path, method="POST", skip=skip)
    else:
        fault = Fault(500, count=10_000, method="POST", skip=skip)
    sandbox.upsales.inject(fault)
    first = run_sync(world.first, world.last)
    assert not first.success, trial
    assert_ledger_consistent(sandbox, run.db_path, f"right after the failing run, {trial}")
    rejected = [k for d, k, s, _ in ledger_rows(run.db_path) if s == "rejected"]
    if kind == "systematic_refusal" and skip == 0:
        assert rejected == [], f"Upsales accepted nothing, yet views were rejected [{trial}]"

    sandbox.upsales.clear_faults()
    if kind == "oldest_day_failure":
        monkeypatch.setattr(run.world, "first", world.last)  # midnight passed: the oldest day left the window
    for key in rejected:  # refused while Upsales accepted others of the run: the view's own fault, re-offered
        destination = next(d for d, k, s, _ in ledger_rows(run.db_path) if k == key and s == "rejected")
        assert cli.main(["retry", "--destination", destination, "--event-key", key]) == 0, trial
    run.until_complete(context=trial)
