"""`forget`: an erased viewer leaves no trace in any table nor in the DuckDB file's bytes, is never
stored or posted again, and the ledger still refuses a second post (docs/guarantees.md, 9).

The file is seeded by a real sync of the demo against the sandbox, with Anna's form submission
refused by Upsales in words that echo her email: her views, posted ledger rows, a rejected row
with Upsales' text, ledger_attempts, the look-up caches and the outcomes all hold her."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest

from wistia_pipeline import cli, db
from wistia_pipeline.cli import run_sync
from wistia_pipeline.clients.errors import ApiError
from wistia_pipeline.operations import forget as forget_module
from wistia_pipeline.operations.explain import explain, format_explanation
from wistia_pipeline.operations.forget import ForgetError, email_hash, forget
from wistia_pipeline.sandbox import Sandbox, load_demo
from wistia_pipeline.settings import Settings
from wistia_pipeline.sinks.forms import FormSink

EMAIL = "anna.berg@acme.se"
AS_ENTERED = "Anna.Berg@ACME.se"  # the demo's Turnstile has it so (with spaces around)
REFUSAL = f"Upsales returned 400 for POST /external/formSubmit: Invalid contact {AS_ENTERED}"
SETTINGS_VARIABLES = ("WISTIA_PROJECTS", "MIN_PERCENT_WATCHED", "SYNC_FORMS", "SYNC_ACTIVITIES", "FORM_POLICY",
                      "ACTIVITY_SCORE", "LOOKBACK_DAYS", "WISTIA_PUBLIC_TOKEN", "UPSALES_CUSTOMER_ID")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The demo synced once (Anna's form refused, echoing her email); the sandbox stays up for a
    sync after the erasure. Each test erases in its own copy of the file (`copy`)."""
    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=2)
    tmp = tmp_path_factory.mktemp("forget")
    with pytest.MonkeyPatch.context() as mp, Sandbox() as sb:
        for name in SETTINGS_VARIABLES:
            mp.delenv(name, raising=False)
        env = {**sb.env(), "WISTIA_PIPELINE_DB": str(tmp / "seed.duckdb"), "DAGSTER_HOME": str(tmp / "dagster_home"),
               "DB_LOCK_TIMEOUT_S": "1"}
        scenario = load_demo(sb, today)
        for name, value in {**env, **scenario.env}.items():
            mp.setenv(name, value)
        post = FormSink.post

        def refuse_anna(self, payload):
            if payload["fields"]["Contact.email"].strip().lower() == EMAIL:
                raise ApiError(REFUSAL, service="Upsales", status=400, method="POST", path="/external/formSubmit")
            return post(self, payload)

        mp.setattr(FormSink, "post", refuse_anna)
        assert not run_sync(first, today).success  # the refusal fails the run, as it should
        mp.setattr(FormSink, "post", post)
        yield SimpleNamespace(sandbox=sb, seed=env["WISTIA_PIPELINE_DB"], first=first, today=today, mp=mp)


@pytest.fixture
def copy(world, tmp_path, monkeypatch):
    path = tmp_path / "pipeline.duckdb"
    shutil.copyfile(world.seed, path)
    monkeypatch.setenv("WISTIA_PIPELINE_DB", str(path))
    return str(path)


def cells_with(path: str, needles: list[str]) -> list[str]:
    """`table.column` of every cell of every table holding a needle (any case), whatever the
    columns are: written apart from forget.py's own net, so a new column cannot hide here."""
    found = []
    with duckdb.connect(path, read_only=True) as con:
        for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                         "WHERE NOT internal AND schema_name = 'main'").fetchall():
            for needle in needles:
                n = con.execute(f'SELECT count(*) FROM "{table}" WHERE lower(CAST("{column}" AS VARCHAR)) '
                                f'LIKE \'%\' || $n || \'%\'', {"n": needle.lower()}).fetchone()[0]
                if n:
                    found.append(f"{table}.{column}")
    return sorted(set(found))


def bytes_with(path: str, needles: list[str]) -> list[str]:
    """The files (the database, any WAL or leftover copy) whose bytes hold a needle as written."""
    hits = []
    for file in Path(path).parent.glob(Path(path).name + "*"):
        data = file.read_bytes()
        hits += [f"{file.name}: {n}" for n in needles if n.encode() in data]
    return hits


NEEDLES = [EMAIL, AS_ENTERED]


def test_the_seed_holds_anna_everywhere_the_erasure_must_reach(copy):
    """The precondition of every test below: without it they would prove nothing."""
    cells = cells_with(copy, [EMAIL])
    for cell in ("wistia_events.raw", "wistia_events.conversion_email", "converted_views.email",
                 "filtered_views.email", "synced_ledger.value", "synced_ledger.last_error",
                 "ledger_attempts.error", "upsales_lookups.asked", "upsales_lookup_contacts.email_lower",
                 "view_outcomes.email"):
        assert cell in cells
    assert bytes_with(copy, NEEDLES)
    with duckdb.connect(copy, read_only=True) as con:
        statuses = {r[0] for r in con.execute(
            "SELECT l.status FROM synced_ledger l JOIN converted_views c USING (event_key) WHERE c.email_lower = ?",
            [EMAIL]).fetchall()}
    assert {"posted", "rejected"} <= statuses


def test_after_forget_no_table_and_no_byte_of_the_file_holds_the_email(copy, capsys):
    assert cli.main(["forget", f"  {AS_ENTERED} "]) == 0
    out = capsys.readouterr().out
    assert "synced_ledger" in out and "added to suppressed_emails" in out and "rewritten" in out
    assert "Posted to Upsales before the erasure" in out  # her activity: to be deleted in Upsales by hand
    assert cells_with(copy, NEEDLES) == []
    assert bytes_with(copy, NEEDLES) == []
    assert not Path(copy + ".wal").exists() and not Path(copy + forget_module.FRESH_SUFFIX).exists()
    with duckdb.connect(copy, read_only=True) as con:
        assert con.execute("SELECT email_sha256 FROM suppressed_emails").fetchall() == [(email_hash(EMAIL),)]
        # Her views are still counted, with reason suppressed; the domain is kept (not personal data).
        reasons = con.execute("SELECT DISTINCT stage, reason FROM view_rejections WHERE reason = 'suppressed'").fetchall()
        assert reasons == [("converted_views", "suppressed")]
        assert con.execute("SELECT count(*) FROM upsales_lookups WHERE asked = 'acme.se'").fetchone()[0] == 1


def test_delete_and_checkpoint_without_the_rewrite_leave_the_bytes_in_the_file(copy, monkeypatch):
    """Why the file is rewritten: DuckDB keeps deleted values in freed blocks after CHECKPOINT."""
    monkeypatch.setattr(forget_module, "rewrite_file", lambda con, path, before_swap=None: con.execute("CHECKPOINT"))
    forget(copy, EMAIL)
    assert cells_with(copy, NEEDLES) == []  # gone from every table...
    assert bytes_with(copy, NEEDLES)        # ...but not from the file


def test_forget_is_idempotent_and_says_already_suppressed(copy, capsys):
    first = forget(copy, EMAIL)
    assert first.total > 0 and first.newly_suppressed
    assert cli.main(["forget", EMAIL.upper()]) == 0
    out = capsys.readouterr().out
    assert "already suppressed since" in out
    assert all(line.strip().endswith("0 rows erased") for line in out.splitlines()[1:11])


def test_a_dry_run_counts_and_changes_nothing(copy):
    before = Path(copy).read_bytes()
    result = forget(copy, EMAIL, dry_run=True)
    assert result.erased["wistia_events"] >= 2 and result.newly_suppressed
    assert cells_with(copy, [EMAIL]) and Path(copy).read_bytes() == before


def test_an_interrupt_between_the_copy_and_the_swap_leaves_the_old_file_whole(copy):
    def interrupt():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        forget(copy, EMAIL, before_swap=interrupt)
    assert not Path(copy + forget_module.FRESH_SUFFIX).exists()
    assert cells_with(copy, NEEDLES) == []  # the erasure was committed in the old file
    assert bytes_with(copy, NEEDLES)         # not yet rewritten: running forget again finishes it
    again = forget(copy, EMAIL)
    assert again.total == 0 and not again.newly_suppressed
    assert bytes_with(copy, NEEDLES) == []


def test_the_rewritten_file_keeps_the_ledger_unique_key_and_defaults(copy):
    forget(copy, EMAIL)
    with duckdb.connect(copy) as con:
        destination, key = con.execute("SELECT destination, event_key FROM synced_ledger LIMIT 1").fetchone()
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO synced_ledger (destination, event_key, day, status, first_seen_at) "
                        "VALUES (?, ?, current_date, 'pending', now())", [destination, key])
        con.execute("INSERT INTO synced_ledger (destination, event_key, day, status, first_seen_at) "
                    "VALUES ('activities', 'new-key', current_date, 'pending', now())")
        assert con.execute("SELECT attempts, lookup_first FROM synced_ledger WHERE event_key = 'new-key'"
                           ).fetchone() == (0, False)
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO suppressed_emails VALUES (?, now())", [email_hash(EMAIL)])


def test_a_sync_after_forget_stores_and_posts_nothing_of_her_and_nothing_twice(world, copy, monkeypatch):
    sandbox = world.sandbox
    forget(copy, EMAIL)
    events_before, submits_before = len(sandbox.upsales.events), len(sandbox.upsales.form_submits)
    report = run_sync(world.first, world.today)
    assert report.success, report.error
    assert len(sandbox.upsales.events) == events_before  # nothing new was due: nothing posted at all
    assert len(sandbox.upsales.form_submits) == submits_before
    ids = [event.get("externalId") for event in sandbox.upsales.events]
    assert len(ids) == len(set(ids))
    assert cells_with(copy, NEEDLES) == []  # Wistia sent her views again: stored without her email
    with duckdb.connect(copy, read_only=True) as con:
        suppressed = con.execute("SELECT count(*) FROM view_rejections WHERE reason = 'suppressed'").fetchone()[0]
        assert suppressed >= 2
        assert con.execute("SELECT count(*) FROM matched_views m JOIN view_rejections r USING (event_key) "
                           "WHERE r.reason = 'suppressed'").fetchone()[0] == 0  # no domain match either
    settings = Settings.from_env(require_tokens=False)
    said = format_explanation(explain(AS_ENTERED, settings, world.today, copy))
    assert "was erased on" in said and "suppressed" in said


def test_her_unconfirmed_posts_are_settled_by_the_next_sync_not_left_in_flight(world, copy):
    """A crash left two of her posts unconfirmed when she was erased: the one Upsales holds
    becomes posted with its id, the one it never stored leaves the ledger (she is never offered
    again); neither is reported unresolved run after run, and nothing is posted."""
    with duckdb.connect(copy) as con:
        keys = dict(con.execute(
            "SELECT destination, min(l.event_key) FROM synced_ledger AS l JOIN view_outcomes AS o USING (destination, event_key) "
            "WHERE lower(trim(o.email)) = $email AND l.status IN ('posted', 'rejected') GROUP BY destination",
            {"email": EMAIL}).fetchall())
        assert set(keys) == {"activities", "forms"}  # an activity posted, a form submission refused
        con.execute("UPDATE synced_ledger SET status = 'in_flight', upsales_id = NULL "
                    "WHERE list_contains($pairs, destination || ' ' || event_key)",
                    {"pairs": [f"{d} {k}" for d, k in keys.items()]})
    forget(copy, EMAIL)
    events_before, submits_before = len(world.sandbox.upsales.events), len(world.sandbox.upsales.form_submits)
    report = run_sync(world.first, world.today)
    assert report.success, report.error
    assert (len(world.sandbox.upsales.events), len(world.sandbox.upsales.form_submits)) == (events_before, submits_before)
    with duckdb.connect(copy, read_only=True) as con:
        rows = dict(con.execute("SELECT destination, status FROM synced_ledger "
                                "WHERE list_contains($pairs, destination || ' ' || event_key)",
                                {"pairs": [f"{d} {k}" for d, k in keys.items()]}).fetchall())
        assert rows == {"activities": "posted"}  # found in Upsales; the refused form submission withdrawn
        assert con.execute("SELECT count(*) FROM synced_ledger WHERE status = 'in_flight'").fetchone()[0] == 0


def test_the_job_erases_by_the_hash_alone(copy):
    from wistia_pipeline.definitions import build_defs

    job = build_defs().resolve_job_def("forget_viewer")
    result = job.execute_in_process(run_config={"ops": {"erase_viewer": {"config": {
        "email_sha256": email_hash(EMAIL)}}}})
    assert result.success
    assert cells_with(copy, NEEDLES) == [] and bytes_with(copy, NEEDLES) == []


@pytest.mark.parametrize("email", ["anna", "@acme.se", "anna@", "anna berg@acme.se"])
def test_a_bad_email_is_one_line_and_exit_2(copy, capsys, email):
    assert cli.main(["forget", email]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: forget needs an email address") and err.count("\n") == 1


def test_a_file_held_by_a_sync_is_the_usual_one_line_and_exit_1(copy, capsys):
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({copy!r}); "
                               "print('held', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert cli.main(["forget", EMAIL]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert "is locked by" in err and err.count("\n") == 1


def test_hash_only_mode_checks_its_argument():
    with pytest.raises(ForgetError, match="64 hex digits"):
        forget("/nonexistent/x.duckdb", email_sha256="abc")
