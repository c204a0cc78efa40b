"""One Upsales client per API key per run (issue #12): the run's steps share it, and with it one
session and one rate limiter; it is closed when the run ends, and never keyed by the key itself."""

from __future__ import annotations

from collections import Counter

import dagster as dg
import pytest

from wistia_pipeline.clients import upsales as upsales_module
from wistia_pipeline.clients.upsales import UpsalesClient, UpsalesResource, key_fingerprint
from wistia_pipeline.stages.common import StepCalls

from .conftest import UPSALES_TOKEN

OTHER_TOKEN = "other-upsales-key-0123456789abcdef"


def watch_close(client: UpsalesClient, closed: list[UpsalesClient]) -> None:
    """Note when the client's HTTP session (requests.Session) is closed."""
    session = client.session.requests_session
    close = session.close

    def noted() -> None:
        closed.append(client)
        close()

    session.close = noted  # type: ignore[method-assign]


def two_steps(seen: dict[str, list[UpsalesClient]], closed: list[UpsalesClient], *, fail: bool = False):
    """Two assets run one after the other, like matched_views and synced_ledger, each taking the
    client twice from every Upsales resource it has."""

    @dg.asset
    def first(upsales: UpsalesResource, other: UpsalesResource) -> None:
        watched: set[int] = set()
        for name, resource in (("upsales", upsales), ("other", other)):
            clients = [resource.get_client(), resource.get_client()]
            seen.setdefault(name, []).extend(clients)
            if id(clients[0]) not in watched:
                watched.add(id(clients[0]))
                watch_close(clients[0], closed)
        seen["registry"] = [repr(key) for run in upsales_module._RUNS.values() for key in run.clients]

    @dg.asset(deps=[first])
    def second(upsales: UpsalesResource, other: UpsalesResource) -> None:
        seen["upsales"].append(upsales.get_client())
        seen["other"].append(other.get_client())
        if fail:
            raise dg.Failure("the step fails after using the client")

    return [first, second]


def test_the_steps_of_a_run_share_one_client_and_limiter_per_key_and_it_is_closed_after():
    seen: dict[str, list] = {}
    closed: list[UpsalesClient] = []
    result = dg.materialize(two_steps(seen, closed), resources={
        "upsales": UpsalesResource(api_token=UPSALES_TOKEN, api_url="https://y.test/api"),
        "other": UpsalesResource(api_token=OTHER_TOKEN, api_url="https://y.test/api")})
    assert result.success
    mine, theirs = seen["upsales"], seen["other"]
    assert len(mine) == 3 and all(client is mine[0] for client in mine)  # both steps, one client
    assert len({id(c.session.limiter) for c in mine}) == 1
    assert all(client is theirs[0] for client in theirs)
    # Another key, another client (its own session and limiter).
    assert theirs[0] is not mine[0] and theirs[0].session.limiter is not mine[0].session.limiter
    assert sorted(map(id, closed)) == sorted([id(mine[0]), id(theirs[0])])  # each closed once, after
    assert upsales_module._RUNS == {}
    # The registry names a key by its digest only.
    registry = " ".join(seen["registry"])
    assert UPSALES_TOKEN not in registry and OTHER_TOKEN not in registry
    assert key_fingerprint(UPSALES_TOKEN) in registry and key_fingerprint(OTHER_TOKEN) in registry


def test_two_resources_with_one_key_share_its_client():
    seen: dict[str, list] = {}
    closed: list[UpsalesClient] = []
    result = dg.materialize(two_steps(seen, closed), resources={
        "upsales": UpsalesResource(api_token=UPSALES_TOKEN, api_url="https://y.test/api"),
        "other": UpsalesResource(api_token=f" {UPSALES_TOKEN}\n", api_url="https://y.test/api/")})
    assert result.success
    assert all(client is seen["upsales"][0] for client in seen["upsales"] + seen["other"])
    assert closed == [seen["upsales"][0]]


def test_a_failed_run_closes_its_clients_too():
    seen: dict[str, list] = {}
    closed: list[UpsalesClient] = []
    result = dg.materialize(two_steps(seen, closed, fail=True), raise_on_error=False, resources={
        "upsales": UpsalesResource(api_token=UPSALES_TOKEN), "other": UpsalesResource(api_token=OTHER_TOKEN)})
    assert not result.success
    assert len(closed) == 2 and upsales_module._RUNS == {}


def test_each_run_has_its_own_client_and_outside_a_run_each_call_makes_one():
    seen: dict[str, list] = {}
    resources = {"upsales": UpsalesResource(api_token=UPSALES_TOKEN), "other": UpsalesResource(api_token=OTHER_TOKEN)}
    for _ in range(2):
        assert dg.materialize(two_steps(seen, []), resources=resources).success
    assert seen["upsales"][0] is not seen["upsales"][3]  # a run counts only its own calls
    resource = UpsalesResource(api_token=UPSALES_TOKEN)  # doctor, probe: the caller's own client
    assert resource.get_client() is not resource.get_client()


def test_a_step_records_only_the_calls_it_made_on_the_shared_session():
    class Session:
        calls = Counter({"GET /v2/contacts": 4})  # an earlier step's

    step = StepCalls(Session)
    Session.calls.update({"GET /v2/self": 1, "POST /v2/events": 2, "GET /v2/contacts": 1})
    assert step.calls == Counter({"GET /v2/self": 1, "POST /v2/events": 2, "GET /v2/contacts": 1})


@pytest.mark.parametrize("token", ["", "two words"])
def test_an_unusable_key_fails_the_step_that_asks_for_the_client_not_the_run_start(token):
    from wistia_pipeline.settings import SettingsError

    steps: list[str] = []

    @dg.asset
    def without_upsales(upsales: UpsalesResource) -> None:
        steps.append("ran")

    @dg.asset(deps=[without_upsales])
    def with_upsales(upsales: UpsalesResource) -> None:
        upsales.get_client()

    result = dg.materialize([without_upsales, with_upsales], raise_on_error=False,
                            resources={"upsales": UpsalesResource(api_token=token)})
    assert steps == ["ran"] and not result.success
    failure = result.failure_data_for_node("with_upsales")
    assert failure is not None and SettingsError.__name__ in str(failure.error)


def test_an_asset_called_directly_shares_and_closes_its_client_too():
    # Without a run (a test calling the asset function), each resource keeps one client for the call.
    seen: dict[str, list] = {}
    closed: list[UpsalesClient] = []
    first, _ = two_steps(seen, closed)
    first(upsales=UpsalesResource(api_token=UPSALES_TOKEN), other=UpsalesResource(api_token=OTHER_TOKEN))
    assert all(client is seen["upsales"][0] for client in seen["upsales"])
    assert sorted(map(id, closed)) == sorted([id(seen["upsales"][0]), id(seen["other"][0])])
    assert upsales_module._RUNS == {}
