"""matched_views: exact contact, then same-domain account, personal domains, ties, no match."""

from datetime import datetime

from wistia_pipeline_tests.factories import contact, event
from wistia_pipeline_tests.stages.conftest import DAY


def matched(stage_db, events, contacts):
    stage_db.events(events)
    stage_db.contacts(contacts)
    stage_db.run("converted_views", "matched_views")
    rows = stage_db.rows("SELECT event_key, match_type, contact_id, client_id FROM matched_views ORDER BY 1")
    return {k: (t, c, a) for k, t, c, a in rows}, stage_db.reasons("matched_views")


def test_exact_match_ignores_case_and_whitespace(stage_db):
    got, reasons = matched(stage_db, [event(DAY, key="v", conversion_email="  Anna.Berg@ACME.se ")],
                           [contact(1, "anna.berg@acme.se", 7)])
    assert got == {"v": ("contact", 1, 7)} and reasons == {}


def test_one_email_on_two_contacts_takes_the_most_recently_modified(stage_db):
    got, _ = matched(stage_db, [event(DAY, key="v", conversion_email="anna@acme.se")], [
        contact(1, "anna@acme.se", 7, mod_date="2026-01-01T00:00:00.000Z"),
        contact(2, "anna@acme.se", 8, mod_date="2026-02-01T00:00:00.000Z"),
    ])
    assert got == {"v": ("contact", 2, 8)}


def test_equal_mod_dates_take_the_highest_id(stage_db):
    got, _ = matched(stage_db, [event(DAY, key="v", conversion_email="anna@acme.se")], [
        contact(5, "anna@acme.se", 7), contact(9, "anna@acme.se", 8)])
    assert got == {"v": ("contact", 9, 8)}


def test_inactive_contact_does_not_match(stage_db):
    got, reasons = matched(stage_db, [event(DAY, key="v", conversion_email="old@acme.se")],
                           [contact(1, "old@acme.se", 7, active=0)])
    assert got == {} and reasons == {"v": "no_match"}


def test_inactive_exact_contact_falls_back_to_the_domain(stage_db):
    got, _ = matched(stage_db, [event(DAY, key="v", conversion_email="old@acme.se")],
                     [contact(1, "old@acme.se", 7, active=0), contact(2, "boss@acme.se", 7)])
    assert got == {"v": ("account", None, 7)}


def test_same_domain_single_account_is_an_anonymous_match(stage_db):
    got, _ = matched(stage_db, [event(DAY, key="v", conversion_email="support@Acme.se")],
                     [contact(1, "another@acme.se", 7), contact(2, "third@acme.se", 7)])
    assert got == {"v": ("account", None, 7)}


def test_domain_split_over_accounts_takes_the_one_with_most_contacts(stage_db):
    got, _ = matched(stage_db, [event(DAY, key="v", conversion_email="x@nordkraft.se")], [
        contact(1, "a@nordkraft.se", 7), contact(2, "b@nordkraft.se", 7), contact(3, "c@nordkraft.se", 8)])
    assert got == {"v": ("account", None, 7)}


def test_tie_between_accounts_is_ambiguous_domain(stage_db):
    got, reasons = matched(stage_db, [event(DAY, key="v", conversion_email="x@nordkraft.se")], [
        contact(1, "a@nordkraft.se", 7), contact(2, "b@nordkraft.se", 8)])
    assert got == {} and reasons == {"v": "ambiguous_domain"}


def test_personal_domain_never_matches_by_domain(stage_db):
    got, reasons = matched(stage_db, [
        event(DAY, key="gmail", conversion_email="someone@gmail.com"),
        event(DAY, key="telia", conversion_email="someone@telia.com"),
        event(DAY, key="yahoo", conversion_email="someone@yahoo.co.uk"),
        event(DAY, key="exact", conversion_email="known@gmail.com"),
    ], [contact(1, "known@gmail.com", 7), contact(2, "other@telia.com", 8), contact(3, "x@yahoo.co.uk", 9)])
    assert got == {"exact": ("contact", 1, 7)}
    assert reasons == {"gmail": "personal_domain", "telia": "personal_domain", "yahoo": "personal_domain"}


def test_no_contact_and_no_domain_is_no_match(stage_db):
    got, reasons = matched(stage_db, [event(DAY, key="v", conversion_email="who@unknown.se")],
                           [contact(1, "", 7), contact(2, "a@acme.se", 7)])
    assert got == {} and reasons == {"v": "no_match"}


def test_domain_lookup_list_skips_exact_matches_and_personal_domains(stage_db):
    stage_db.events([
        event(DAY, key="a", conversion_email="known@acme.se"),
        event(DAY, key="b", conversion_email="new@nordkraft.se"),
        event(DAY, key="c", conversion_email="me@hotmail.com"),
    ])
    stage_db.contacts([contact(1, "known@acme.se", 7)])
    stage_db.run("converted_views")
    from wistia_pipeline import db
    # Never asked: each company domain of a view with no exact contact is due, whatever its age.
    db.run_script(stage_db.con, "lookup_views", {"first": DAY, "last": DAY, "min_percent": 0.0, "projects": [],
                                                 "matched_destinations": ["activities"]})
    db.run_script(stage_db.con, "lookup_domains_to_ask", {"fresh_since": datetime(2000, 1, 1)})
    assert stage_db.con.execute("SELECT asked FROM _domains_to_ask").fetchall() == [("nordkraft.se",)]
