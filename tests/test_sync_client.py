"""``Lensmor``, the sync client: the async implementation driven through a blocking portal.

Its signatures are the async ones (checked here, so they cannot drift); it works from
plain code, inside a running event loop (a Jupyter cell) and from 8 threads at once;
paid calls keep every guarantee of the guard; closing stops its loop thread.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sync_twins import assert_sync_twin

from lensmor_async import (
    AsyncLensmor,
    ConfigurationError,
    CreditGuard,
    SpendDeclinedError,
    SpendRequest,
    always_confirm,
)
from lensmor_async.guard import SpendOutcome
from lensmor_async.sync import Lensmor, SyncPageIterator, SyncUnlockTaskHandle
from lensmor_async.sync import _resources as sync
from lensmor_async.testing import FakeLensmor

RESOURCES = ["actions", "contacts", "credits", "events", "exhibitors", "personnel"]
RESOURCES += ["profile_matching"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLensmor]:
    with FakeLensmor(task_step_seconds=0.0) as server:
        yield server


@pytest.fixture
def client(fake: FakeLensmor) -> Iterator[Lensmor]:
    with Lensmor(
        fake.api_key, base_url=fake.url, guard=CreditGuard(always_confirm), testing=True
    ) as lensmor:
        yield lensmor


def _public_methods(cls: type[Any]) -> dict[str, Any]:
    return {
        name: member
        for name, member in vars(cls).items()
        if callable(member) and not name.startswith("_")
    }


def _paid_event(fake: FakeLensmor, name: str) -> str:
    """A locked event with people, so that unlocking it costs its price."""
    event = fake.add_event(name).id
    fake.add_personnel(event, 3)
    return event


# --- the surface ----------------------------------------------------------------------


@pytest.mark.parametrize("group", RESOURCES)
def test_every_async_method_has_a_sync_twin_with_the_same_signature(group: str) -> None:
    async_cls = type(getattr(AsyncLensmor("k", base_url="http://127.0.0.1:9"), group))
    sync_cls = getattr(sync, async_cls.__name__)
    async_methods, sync_methods = _public_methods(async_cls), _public_methods(sync_cls)
    async_methods.pop("rerouted", None)  # how quotes reroute a call; not user surface
    assert sorted(sync_methods) == sorted(async_methods)
    for name, method in async_methods.items():
        assert_sync_twin(sync_methods[name], method)


def test_the_client_takes_the_async_clients_arguments_but_a_session() -> None:
    want = dict(inspect.signature(AsyncLensmor).parameters)
    del want["session"]  # an aiohttp session belongs to the caller's loop, not ours
    assert dict(inspect.signature(Lensmor).parameters) == want
    for name in ("with_options", "recover"):
        want_params = inspect.signature(getattr(AsyncLensmor, name)).parameters
        assert inspect.signature(getattr(Lensmor, name)).parameters == want_params


def test_every_resource_group_is_there(client: Lensmor) -> None:
    for group in RESOURCES:
        assert getattr(client, group)._async is getattr(client._async, group)


# --- calls ----------------------------------------------------------------------------


def test_free_calls_pages_and_iteration_return_the_async_results(client: Lensmor) -> None:
    assert client.credits.balance().total_balance > 0
    detail = client.events.get("101")
    assert detail.name
    assert detail.response is not None
    page = client.personnel.list("101", page_size=5)
    assert len(page.items) == 5
    people = client.personnel.iterate("101")
    assert isinstance(people, SyncPageIterator)
    assert sum(1 for _ in people) == 50  # the preview window of a locked event
    assert people.last_page is not None
    assert people.last_page.is_preview
    assert [p.page for p in client.events.pages(page_size=2)][:2] == [1, 2]


def test_a_paid_call_with_a_sync_confirm_callback(fake: FakeLensmor) -> None:
    asked: list[SpendRequest] = []

    def confirm(request: SpendRequest) -> bool:
        asked.append(request)
        return request.expected_credits == 2000

    event = _paid_event(fake, "Sync Expo")
    with Lensmor(
        fake.api_key, base_url=fake.url, guard=CreditGuard(confirm), testing=True
    ) as client:
        assert client.events.unlock(event).credits_used == 2000
        assert [r.operation for r in asked] == ["events.unlock"]
        assert client.guard.history[-1].outcome is SpendOutcome.SUCCEEDED


def test_a_declining_sync_confirm_callback_spends_nothing(fake: FakeLensmor) -> None:
    event = _paid_event(fake, "Declined Expo")
    with Lensmor(
        fake.api_key, base_url=fake.url, guard=CreditGuard(lambda r: False), testing=True
    ) as client:
        with pytest.raises(SpendDeclinedError):
            client.events.unlock(event)
        assert client.guard.spent == 0


def test_quotes_tasks_raw_responses_and_recover(client: Lensmor, fake: FakeLensmor) -> None:
    event = _paid_event(fake, "Quoted Expo")
    quote = client.quote(client.events.unlock, event)
    assert quote.credits == 2000
    assert quote.execute().credits_used == 2000
    handle = client.contacts.unlock(event_id="101", personnel_ids=["700002"])
    assert isinstance(handle, SyncUnlockTaskHandle)
    report = handle.wait(deadline=10)
    assert [c.personnel_id for c in report.delivered] == ["700002"]
    raw = client.with_raw_response(client.events.get, "101")
    assert raw.status == 200
    assert raw.parse().id == "101"
    assert client.recover().actions == ()
    assert client.reconcile() == ()


def test_visitor_and_full_access_unlocks_are_charged_their_layers(
    client: Lensmor, fake: FakeLensmor
) -> None:
    based = _paid_event(fake, "Sync Visitors Expo")
    fake.unlock_event(based)  # base access granted free: only the Visitor layer is bought
    assert client.events.unlock_visitors(based).credits_spent == 3000
    assert [e.amount for e in fake.truth.for_intent(("events.unlock_visitors", based))] == [3000]
    locked = _paid_event(fake, "Sync Full Access Expo")
    assert client.events.unlock_full_access(locked).total_credits_used == 5000
    charged = [e for e in fake.truth.entries if e.intent[1:] == (locked,)]
    assert sorted(e.amount for e in charged) == [2000, 3000]


def test_person_events_by_name_is_charged_50_when_found(client: Lensmor, fake: FakeLensmor) -> None:
    fake.add_person("101", full_name="Sync Jane Roe")
    assert client.personnel.events_by_name("sync jane roe").total == 1
    charged = fake.truth.for_intent(("personnel.events_by_name", "sync jane roe"))
    assert [e.amount for e in charged] == [50]


def test_unlock_all_returns_one_sync_handle_per_batch(client: Lensmor, fake: FakeLensmor) -> None:
    event = fake.add_event("Sync Batches Expo").id
    ids = [str(i) for i in fake.add_personnel(event, 3)]
    handles = client.contacts.unlock_all(personnel_ids=ids, event_id=event, batch_size=2)
    assert [type(h) for h in handles] == [SyncUnlockTaskHandle] * 2
    reports = [handle.wait(deadline=10) for handle in handles]
    assert sorted(i for report in reports for i in report.all_ids()) == sorted(ids)
    server = [sum(e.amount for e in fake.truth.for_task(h.task_id or "")) for h in handles]
    assert server == [report.credits_spent for report in reports]
    assert sum(server) > 0


def test_a_foreign_callable_is_refused_by_quote_and_raw(client: Lensmor) -> None:
    with pytest.raises(ConfigurationError, match="method of this client"):
        client.quote(lambda: None)
    with pytest.raises(ConfigurationError, match="method of this client"):
        client.with_raw_response(len, "abc")


def test_with_options_copies_share_the_loop_and_close_nothing(client: Lensmor) -> None:
    copy = client.with_options(timeout=5.0)
    assert copy.config.timeout == 5.0
    assert copy.credits.balance().total_balance > 0
    copy.close()
    assert client.credits.balance().total_balance > 0


def test_a_hook_calling_its_own_sync_client_gets_a_clear_error(fake: FakeLensmor) -> None:
    errors: list[Exception] = []
    clients: list[Lensmor] = []

    def reentrant(event: object) -> None:
        try:
            clients[0].credits.balance()
        except ConfigurationError as exc:
            errors.append(exc)

    with Lensmor(fake.api_key, base_url=fake.url, testing=True, hooks=[reentrant]) as client:
        clients.append(client)
        client.events.get("101")
    assert errors
    assert "its own confirm callback or hook" in str(errors[0])


# --- where it runs from -----------------------------------------------------------------


def test_it_works_inside_a_running_event_loop_like_a_jupyter_cell(client: Lensmor) -> None:
    async def cell() -> str:
        return client.events.get("101").id  # blocking, as a notebook cell would

    assert asyncio.run(cell()) == "101"


def test_eight_threads_share_one_client_and_one_unlock_is_paid_once(fake: FakeLensmor) -> None:
    event = _paid_event(fake, "Threads Expo")
    with Lensmor(
        fake.api_key, base_url=fake.url, guard=CreditGuard(always_confirm), testing=True
    ) as client:
        before = client.credits.balance().total_balance
        with ThreadPoolExecutor(8) as pool:
            reads = list(pool.map(lambda _: client.events.get("101").id, range(32)))
            unlocks = list(pool.map(lambda _: client.events.unlock(event), range(8)))
        assert reads == ["101"] * 32
        assert {result.event.id for result in unlocks} == {event}
        assert client.guard.spent == 2000
        after = client.with_options().credits.balance().total_balance
        assert before - after == 2000  # the server charged once


# --- lifetime -----------------------------------------------------------------------------


def test_close_stops_the_loop_thread_and_later_calls_fail_clearly(fake: FakeLensmor) -> None:
    before = threading.active_count()
    client = Lensmor(fake.api_key, base_url=fake.url, testing=True)
    assert threading.active_count() == before + 1
    client.credits.balance()
    client.close()
    client.close()
    assert threading.active_count() == before
    with pytest.raises(ConfigurationError, match="closed"):
        client.credits.balance()


def test_a_client_dropped_without_closing_warns(fake: FakeLensmor) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = Lensmor(fake.api_key, base_url=fake.url, testing=True)
        loop = client._loop
        del client
        gc.collect()
        loop.stop()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert any("Lensmor client was dropped" in m for m in messages), messages


def test_bad_arguments_fail_at_construction_and_leave_no_thread() -> None:
    before = threading.active_count()
    with pytest.raises(ConfigurationError):
        Lensmor("k", base_url="ftp://nowhere")
    assert threading.active_count() == before


def test_threads_racing_on_a_fresh_sync_client_all_get_its_one_default_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import lensmor_async.guard as guard_package

    real = guard_package.CreditGuard

    class SlowToBuild(real):  # type: ignore[misc,valid-type]
        # Stands for any thread switch while the default guard is imported or built.
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            time.sleep(0.05)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(guard_package, "CreditGuard", SlowToBuild)
    seen: list[object] = []
    start = threading.Barrier(4)
    with Lensmor("k", base_url="http://127.0.0.1:9") as client:

        def read_guard() -> None:
            start.wait()
            seen.append(client.guard)

        threads = [threading.Thread(target=read_guard) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == 4
        assert all(guard is client.guard for guard in seen)
