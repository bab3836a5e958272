"""Sealed quotes: ``quote.seal()`` → an opaque token; ``guard.execute_quote(token, client)``.

A token carries the exact call, the price and balance the person saw, an expiry and a
nonce, signed with the app's secret. Tampered, foreign, expired and replayed tokens are
refused before any request; a token executes in another process; a moved price asks
again. Spending is judged by FakeLensmor's truth ledger.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from guard_helpers import Recorder, assert_books_match, connect
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lensmor_async import AsyncLensmor
from lensmor_async.errors import (
    ConfigurationError,
    LensmorError,
    QuoteExpiredError,
    QuoteReplayedError,
    QuoteTamperedError,
    QuoteTokenError,
    SpendDeclinedError,
)
from lensmor_async.guard import CreditGuard, SpendOutcome
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

SECRET = "test-secret-of-the-app-0123456789"
LOCKED_EVENT = "101"
UNLOCK_ROUTE = "/external/events/{id}/unlock"
SEARCH_ROUTE = "/external/exhibitors/search-events"
START_BALANCE = 30_050


def sealing_guard(confirm: Any = None, **options: Any) -> CreditGuard:
    return CreditGuard(confirm or Recorder(), quote_secret=SECRET, **options)


async def test_a_sealed_token_executes_once_and_pays_once(fake: FakeLensmor) -> None:
    recorder = Recorder()
    guard = sealing_guard(recorder)
    async with connect(fake, guard) as client:
        token = (await guard.quote(client.events.unlock, LOCKED_EVENT)).seal()
        result = await guard.execute_quote(token, client)
        with pytest.raises(QuoteReplayedError):
            await guard.execute_quote(token, client)
    assert result.credits_used == 2000
    assert recorder.requests == []  # the sealed approval was the approval
    assert fake.request_count(UNLOCK_ROUTE) == 1
    assert [e.intent for e in fake.truth.entries] == [("events.unlock", LOCKED_EVENT)]
    assert_books_match(guard, fake)


async def test_the_token_holds_no_api_key(fake: FakeLensmor) -> None:
    guard = sealing_guard()
    async with connect(fake, guard) as client:
        token = (await guard.quote(client.events.unlock, LOCKED_EVENT)).seal()
    assert fake.api_key not in token
    assert SECRET not in token


async def test_concurrent_executions_of_one_token_pay_once(fake: FakeLensmor) -> None:
    guard = sealing_guard()
    outcomes: list[str] = []

    async def execute(client: AsyncLensmor, token: str) -> None:
        try:
            await guard.execute_quote(token, client)
            outcomes.append("paid")
        except QuoteReplayedError:
            outcomes.append("replayed")

    async with connect(fake, guard) as client:
        token = (await guard.quote(client.exhibitors.search_events, "Acme Analytics")).seal()
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(execute, client, token)
    assert sorted(outcomes) == ["paid"] + ["replayed"] * 4
    assert fake.request_count(SEARCH_ROUTE) == 1
    assert fake.truth.net() == 50
    assert_books_match(guard, fake)


async def test_guards_sharing_a_journal_refuse_a_token_another_executed(
    fake: FakeLensmor, tmp_path: Path
) -> None:
    journal = tmp_path / "journal.sqlite"
    first, second = sealing_guard(journal=journal), sealing_guard(journal=journal)
    async with connect(fake, first) as one, connect(fake, second) as two:
        token = (await first.quote(one.exhibitors.search_events, "Acme Analytics")).seal()
        await second.execute_quote(token, two)
        with pytest.raises(QuoteReplayedError):
            await first.execute_quote(token, one)
    # A repeatable search would be bought again without the used-token record.
    assert fake.request_count(SEARCH_ROUTE) == 1
    assert fake.truth.net() == 50


async def test_an_expired_token_is_refused_before_any_request(fake: FakeLensmor) -> None:
    guard = sealing_guard()
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, LOCKED_EVENT)
        quote.expires_at = time.time() - 1
        token = quote.seal()
        before = fake.request_count()
        with pytest.raises(QuoteExpiredError):
            await guard.execute_quote(token, client)
    assert fake.request_count() == before
    assert len(fake.truth) == 0


async def test_a_token_sealed_with_another_secret_is_refused(fake: FakeLensmor) -> None:
    guard = sealing_guard()
    async with connect(fake, guard) as client:
        token = (await guard.quote(client.events.unlock, LOCKED_EVENT)).seal(
            "another-secret-0123456"
        )
        with pytest.raises(QuoteTamperedError):
            await guard.execute_quote(token, client)
    assert fake.request_count(UNLOCK_ROUTE) == 0


async def test_a_moved_balance_asks_again_and_a_decline_spends_nothing(fake: FakeLensmor) -> None:
    recorder = Recorder(requote_answer=False)
    guard = sealing_guard(recorder, balance_ttl=0.0)
    async with connect(fake, guard) as client:
        token = (await guard.quote(client.exhibitors.search_events, "Acme Analytics")).seal()
        fake.set_balance(subscription=20_000, gift=0)
        with pytest.raises(SpendDeclinedError):
            await guard.execute_quote(token, client)
    (request,) = recorder.requests
    assert request.requote is True
    assert request.current_balance == 20_000
    assert fake.request_count(SEARCH_ROUTE) == 0
    assert guard.history[-1].outcome is SpendOutcome.DECLINED


async def test_sealing_needs_a_secret_of_at_least_16_bytes(fake: FakeLensmor) -> None:
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, LOCKED_EVENT)
        with pytest.raises(ConfigurationError, match="secret"):
            quote.seal()
        with pytest.raises(ConfigurationError, match="16 bytes"):
            quote.seal("short")
    with pytest.raises(ConfigurationError, match="16 bytes"):
        CreditGuard(Recorder(), quote_secret="short")


async def test_a_token_runs_only_on_the_client_of_its_guard(fake: FakeLensmor) -> None:
    guard = sealing_guard()
    async with connect(fake, guard) as client, connect(fake, sealing_guard()) as other:
        token = (await guard.quote(client.events.unlock, LOCKED_EVENT)).seal()
        with pytest.raises(ConfigurationError, match="client this guard guards"):
            await guard.execute_quote(token, other)
    assert fake.request_count(UNLOCK_ROUTE) == 0


# ------------------------------------------------------------------ tampering


@pytest.fixture(scope="module")
def sealed_token() -> str:
    async def make() -> str:
        async with FakeLensmor(seed=0) as server:
            ids = list(server.state.rosters["103"])[:3]
            guard = sealing_guard()
            async with connect(server, guard) as client:
                return (
                    await guard.quote(client.contacts.unlock, event_id="103", personnel_ids=ids)
                ).seal()

    return anyio.run(make)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_flipping_any_byte_of_a_token_is_refused(sealed_token: str, data: st.DataObject) -> None:
    raw = bytearray(sealed_token.encode())
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    raw[index] ^= data.draw(st.integers(1, 255), label="xor")
    guard = sealing_guard()
    # Refused while the token is read: the client is never reached (no I/O possible).
    with pytest.raises(QuoteTamperedError):
        anyio.run(guard.execute_quote, bytes(raw), object())


@settings(max_examples=100)
@given(cut=st.integers(0, 400))
def test_truncated_or_extended_tokens_are_refused(sealed_token: str, cut: int) -> None:
    guard = sealing_guard()
    for token in (sealed_token[:cut] if cut < len(sealed_token) else "", sealed_token + "A"):
        with pytest.raises(QuoteTokenError):
            anyio.run(guard.execute_quote, token, object())


# ------------------------------------------------------------------ another process


def _execute_in_child(url: str, api_key: str, token: str, results: Any) -> None:
    """Child process body: a fresh client and guard execute the token sealed by the parent."""

    async def run() -> tuple[str, int]:
        guard = CreditGuard(Recorder(answer=False), quote_secret=SECRET)
        async with AsyncLensmor(api_key, base_url=url, guard=guard, testing=True) as client:
            result = await guard.execute_quote(token, client)
            try:
                await guard.execute_quote(token, client)
            except QuoteReplayedError:
                return "replay refused", result.credits_used
            return "replay paid", result.credits_used

    try:
        results.put(anyio.run(run))
    except LensmorError as exc:
        results.put((type(exc).__name__, -1))


@pytest.mark.slow
async def test_a_token_sealed_here_executes_in_a_spawned_process(fake: FakeLensmor) -> None:
    guard = sealing_guard()
    async with connect(fake, guard) as client:
        token = (await guard.quote(client.events.unlock, LOCKED_EVENT)).seal()
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_execute_in_child, args=(fake.url, fake.api_key, token, results))
    child.start()
    try:
        outcome = await anyio.to_thread.run_sync(results.get, True, 120.0)
    finally:
        await anyio.to_thread.run_sync(child.join, 30.0)
    assert outcome == ("replay refused", 2000)
    assert child.exitcode == 0
    assert [(e.intent, e.amount) for e in fake.truth.entries] == [
        (("events.unlock", LOCKED_EVENT), 2000)
    ]


async def test_a_discarded_token_never_buys_and_read_quote_shows_it(fake: FakeLensmor) -> None:
    guard = sealing_guard()
    async with connect(fake, guard) as client:
        token = (await guard.quote(client.events.unlock, LOCKED_EVENT)).seal()
        shown = guard.read_quote(token)
        await guard.discard_quote(token)
        with pytest.raises(QuoteReplayedError):
            await guard.execute_quote(token, client)
    assert (shown.method, shown.target, shown.credits, shown.balance) == (
        "events.unlock",
        LOCKED_EVENT,
        2000,
        START_BALANCE,
    )
    assert shown.expired is False
    assert fake.request_count(UNLOCK_ROUTE) == 0
