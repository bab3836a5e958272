"""The confirm-spending web app (examples/webapp) through aiohttp's test client, no browser.

Every test judges spending by the fake server's truth ledger, never by the app's view.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from examples.webapp import WEBAPP, Receipt, create_app, decline_unapproved, main, offer_of
from lensmor_async import AsyncLensmor, SpendDeclinedError, SpendRequest
from lensmor_async.testing import FakeLensmor, FaultKind

pytestmark = pytest.mark.anyio

Client = TestClient[web.Request, web.Application]
LOCKED = "101"  # 237 people, 50 visible in preview, 2000 credits to unlock
UNLOCKED = "102"  # 80 people, full access
START_BALANCE = 30050


@asynccontextmanager
async def serve(fake: FakeLensmor, **options: Any) -> AsyncIterator[Client]:
    app = create_app(api_key=fake.api_key, base_url=fake.url, testing=True, **options)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


@pytest.fixture
async def http(fake_lensmor: FakeLensmor) -> AsyncIterator[Client]:
    async with serve(fake_lensmor) as client:
        yield client


async def get(http: Client, path: str) -> tuple[int, str]:
    async with http.get(path) as response:
        return response.status, await response.text()


async def post(http: Client, path: str) -> tuple[int, str]:
    """POST without following redirects: (status, Location or body)."""
    async with http.post(path, allow_redirects=False) as response:
        if response.status == 303:
            return 303, response.headers["Location"]
        return response.status, await response.text()


async def new_quote(http: Client, event_id: str = LOCKED) -> str:
    status, location = await post(http, f"/events/{event_id}/quote")
    assert status == 303
    assert location.startswith("/quotes/")
    return location.removeprefix("/quotes/").split("?")[0]


def person_rows(body: str) -> int:
    return body.count("data-person-id=")


async def test_index_lists_each_event_with_its_access_mode(http: Client) -> None:
    status, body = await get(http, "/")
    assert status == 200
    assert f'data-event-id="{LOCKED}"' in body
    assert "showing 50 of 237" in body
    assert "full access: 80 people" in body
    assert f'data-credits="{START_BALANCE}"' in body


async def test_quote_page_shows_cost_balance_and_what_unlocking_gives(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    token = await new_quote(http)
    status, body = await get(http, f"/quotes/{token}")
    assert status == 200
    assert 'data-testid="cost" data-credits="2000">2,000 credits' in body
    assert f'data-testid="balance" data-credits="{START_BALANCE}">30,050 credits' in body
    assert "28,050 credits" in body  # the balance after unlocking
    assert "no cap set" in body
    assert "Now you see 50 of 237 people" in body
    assert "187 more" in body
    assert fake_lensmor.truth.entries == []


async def test_decline_spends_nothing_and_returns_to_the_list(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    token = await new_quote(http)
    assert await post(http, f"/quotes/{token}/decline") == (303, "/?notice=declined")
    status, body = await get(http, "/?notice=declined")
    assert status == 200
    assert "Declined: nothing was spent." in body
    # The declined quote is gone: confirming it later cannot spend either.
    assert (await post(http, f"/quotes/{token}/confirm"))[0] == 404
    assert fake_lensmor.truth.entries == []


async def test_confirm_spends_once_and_shows_the_full_personnel_list(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    token = await new_quote(http)
    status, location = await post(http, f"/quotes/{token}/confirm")
    assert (status, location) == (303, f"/events/{LOCKED}?unlocked=2000")
    status, body = await get(http, location)
    assert status == 200
    assert "Unlocked: 2,000 credits spent." in body
    assert f'data-credits="{START_BALANCE - 2000}"' in body
    assert "full access: 237 people" in body
    assert person_rows(body) == 237
    charges = fake_lensmor.truth.entries
    assert [(e.intent, e.amount) for e in charges] == [(("events.unlock", LOCKED), 2000)]


async def test_a_second_confirm_of_the_same_quote_spends_nothing_more(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    token = await new_quote(http)
    assert (await post(http, f"/quotes/{token}/confirm"))[0] == 303
    status, body = await post(http, f"/quotes/{token}/confirm")
    assert status == 404
    assert "not pending" in body
    assert fake_lensmor.truth.total_charged() == 2000


async def test_an_expired_quote_shows_a_clear_message_and_spends_nothing(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    webapp = http.app[WEBAPP]
    quote = await webapp.guard.quote(webapp.client.events.unlock, LOCKED)
    quote.expires_at = time.time() - 1
    token = quote.seal()
    status, body = await get(http, f"/quotes/{token}")
    assert status == 410
    assert "This quote expired" in body
    status, body = await post(http, f"/quotes/{token}/confirm")
    assert status == 410
    assert "Quotes are valid for a few minutes and this one ran out, so nothing was spent." in body
    assert "Get a new quote" in body
    assert fake_lensmor.truth.entries == []


async def test_a_balance_drop_after_the_quote_asks_for_review_and_spends_nothing(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    token = await new_quote(http)
    fake_lensmor.set_balance(subscription=29000)  # someone else spent 1000 meanwhile
    status, location = await post(http, f"/quotes/{token}/confirm")
    assert status == 303
    assert location.endswith("?notice=changed")
    assert fake_lensmor.truth.entries == []
    status, body = await get(http, location)
    assert status == 200
    assert "The price or your balance changed since you saw the quote" in body
    assert 'data-testid="balance" data-credits="29050"' in body
    fresh = location.removeprefix("/quotes/").split("?")[0]
    assert (await post(http, f"/quotes/{fresh}/confirm"))[0] == 303
    assert fake_lensmor.truth.total_charged() == 2000


async def test_insufficient_credits_are_explained_before_any_spend(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    fake_lensmor.set_balance(subscription=100, gift=0)
    status, body = await post(http, f"/events/{LOCKED}/quote")
    assert status == 402
    assert "Not enough credits" in body
    assert "needs 2,000 credits" in body
    assert fake_lensmor.truth.entries == []


async def test_an_unlock_over_the_budget_is_flagged_and_refused(
    fake_lensmor: FakeLensmor,
) -> None:
    async with serve(fake_lensmor, budget=1000) as http:
        token = await new_quote(http)
        _, body = await get(http, f"/quotes/{token}")
        assert "1,000 credits left (this unlock is over the budget and will be refused)" in body
        status, body = await post(http, f"/quotes/{token}/confirm")
        assert status == 402
        assert "Over budget" in body
    assert fake_lensmor.truth.entries == []


async def test_event_text_is_html_escaped_everywhere(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    hostile = '<script>alert("x")</script> & <b>co</b>'
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;co&lt;/b&gt;"
    event = fake_lensmor.add_event(hostile, personnel=3, city="<i>Oslo</i>")
    token = await new_quote(http, event.id)
    for path in ("/", f"/events/{event.id}", f"/quotes/{token}"):
        status, body = await get(http, path)
        assert status == 200
        assert "<script>" not in body
        assert "<b>co</b>" not in body
        assert escaped in body
    _, body = await get(http, "/")
    assert "&lt;i&gt;Oslo&lt;/i&gt;" in body


async def test_notices_come_from_fixed_codes_and_never_reflect_the_url(http: Client) -> None:
    status, body = await get(http, "/?notice=%3Cb%3Einjected%3C/b%3E")
    assert status == 200
    assert "injected" not in body
    assert 'data-testid="notice"' not in body


async def test_an_api_failure_is_shown_as_an_error_page(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    fake_lensmor.inject(FaultKind.REDIRECT_CROSS_ORIGIN, route="/external/personnel/list")
    status, body = await get(http, "/")
    assert status == 502
    assert "Lensmor could not answer" in body
    assert fake_lensmor.api_key not in body


async def test_an_unknown_quote_token_is_not_found(http: Client) -> None:
    status, body = await get(http, "/quotes/no-such-token")
    assert status == 404
    assert "This quote is not pending" in body
    assert (await post(http, "/quotes/no-such-token/confirm"))[0] == 404


async def test_an_unknown_event_is_refused_without_spending(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    status, body = await post(http, "/events/999/quote")
    assert status == 404
    assert "No such event" in body
    status, body = await post(http, "/events/%3Cx%3E/quote")
    assert status == 400
    assert "<x>" not in body
    assert fake_lensmor.truth.entries == []


async def test_a_locked_event_page_shows_the_preview_and_offers_an_unlock(http: Client) -> None:
    status, body = await get(http, f"/events/{LOCKED}")
    assert status == 200
    assert person_rows(body) == 50
    assert "showing 50 of 237, unlock for 2,000 credits" in body
    assert f'action="/events/{LOCKED}/quote"' in body


async def test_pages_forbid_framing_and_allow_no_scripts(http: Client) -> None:
    async with http.get("/") as response:
        headers = response.headers
    assert headers["X-Frame-Options"] == "DENY"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert headers["Cache-Control"] == "no-store"


async def test_spending_outside_a_quote_is_declined_by_the_guard(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    client = http.app[WEBAPP].client
    with pytest.raises(SpendDeclinedError):
        await client.events.unlock(LOCKED)
    assert fake_lensmor.truth.entries == []


def test_the_confirm_callback_declines_every_request_it_is_asked() -> None:
    request = SpendRequest(
        operation="events.unlock",
        description="events.unlock [101]",
        targets=("101",),
        expected_credits=2000,
        current_balance=30050,
        budget_remaining=None,
        requote=True,
    )
    assert decline_unapproved(request) is False


def test_a_receipt_in_the_url_is_only_a_number_or_already() -> None:
    assert Receipt.parse("2000") == Receipt(2000, False)
    assert Receipt.parse("already") == Receipt(0, True)
    assert Receipt.parse("<b>x</b>") is None
    assert Receipt.parse("1" * 20) is None
    assert Receipt.parse(None) is None


async def test_a_tampered_quote_token_is_not_pending_and_spends_nothing(
    http: Client, fake_lensmor: FakeLensmor
) -> None:
    token = await new_quote(http)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for method in (get, post):
        status, body = await method(
            http, f"/quotes/{tampered}" + ("/confirm" if method is post else "")
        )
        assert status == 404
        assert "This quote is not pending" in body
    assert fake_lensmor.truth.entries == []


async def test_several_workers_share_quotes_through_tokens_and_spend_once(
    fake_lensmor: FakeLensmor, tmp_path: Path
) -> None:
    # Two app instances, as two worker processes would be: nothing in memory is shared,
    # only the secret and the journal.
    shared = {"quote_secret": "one-secret-for-all-workers", "journal": str(tmp_path / "j.db")}
    async with serve(fake_lensmor, **shared) as first, serve(fake_lensmor, **shared) as second:
        token = await new_quote(first)
        status, body = await get(second, f"/quotes/{token}")
        assert status == 200
        assert 'data-testid="cost" data-credits="2000"' in body
        assert await post(second, f"/quotes/{token}/confirm") == (
            303,
            f"/events/{LOCKED}?unlocked=2000",
        )
        status, body = await post(first, f"/quotes/{token}/confirm")  # a double click
        assert status == 404
        assert "not pending" in body
        declined = await new_quote(second)
        assert (await post(first, f"/quotes/{declined}/decline"))[0] == 303
        assert (await post(second, f"/quotes/{declined}/confirm"))[0] == 404
    charges = fake_lensmor.truth.entries
    assert [(e.intent, e.amount) for e in charges] == [(("events.unlock", LOCKED), 2000)]


async def test_offer_reads_the_preview_semantics(lensmor_client: AsyncLensmor) -> None:
    locked = offer_of(await lensmor_client.personnel.list(LOCKED, page_size=1))
    assert (locked.is_preview, locked.describe(), locked.locked) == (
        True,
        "showing 50 of 237",
        187,
    )
    assert locked.unlock_credits == 2000
    full = offer_of(await lensmor_client.personnel.list(UNLOCKED, page_size=1))
    assert (full.is_preview, full.describe()) == (False, "full access: 80 people")


def test_main_refuses_to_start_without_a_key_or_the_fake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LENSMOR_API_KEY", raising=False)
    assert main([]) == 2
    assert "--fake" in capsys.readouterr().err


@pytest.mark.parametrize("people", [0, 20], ids=["no-people", "all-in-the-preview"])
async def test_an_event_with_nothing_behind_its_preview_offers_no_unlock(
    fake_lensmor: FakeLensmor, people: int
) -> None:
    event = fake_lensmor.add_event("Quiet Expo 2026", personnel=people)
    async with serve(fake_lensmor) as http:
        _, index = await get(http, "/")
        _, page = await get(http, f"/events/{event.id}")
    row = index.split(f'data-event-id="{event.id}"')[1].split("</tr>")[0]
    assert "preview" in row
    assert "Review unlock" not in row
    assert f'action="/events/{event.id}/quote"' not in page
