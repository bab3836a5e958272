"""The confirm-spending web app end to end in real headless Chromium (Debian's build).

FakeLensmor and the app (or two instances of it, as two workers) run on loopback in the
test's event loop; one test runs the app as real worker processes instead (gunicorn, 4
workers on one port: tests/webapp_workers.py). Playwright's async API drives Chromium.
Spending is judged by the fake server's truth ledger. The final page is saved to
``artifacts/webapp-confirmed.png`` for a reviewer to look at (and the quote page, as the
person saw it, to ``artifacts/webapp-quote.png``).

Needs ``scripts/ensure-chromium.sh`` (Debian ``chromium`` + the ``playwright`` package);
without them the test fails when ``CI`` is set and is skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from webapp_workers import WORKER_HEADER, gunicorn_workers

from examples.webapp import create_app
from lensmor_async.testing import FakeLensmor

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
# Flags known to work on this kind of machine: no sandbox as root, and no background
# traffic (the closed network would refuse it, many times at every start).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
SCREENSHOT = ARTIFACTS / "webapp-confirmed.png"
QUOTE_SCREENSHOT = ARTIFACTS / "webapp-quote.png"
LOCKED = "101"  # 237 people, 50 visible in preview, 2000 credits to unlock
START_BALANCE = 30050


def require_browser() -> None:
    missing = [
        what
        for what, present in (
            (str(CHROMIUM), CHROMIUM.exists()),
            ("the playwright package", importlib.util.find_spec("playwright") is not None),
        )
        if not present
    ]
    if not missing:
        return
    message = f"missing {', '.join(missing)}: run scripts/ensure-chromium.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@asynccontextmanager
async def serve_webapp(fake: FakeLensmor, **options: Any) -> AsyncIterator[str]:
    app = create_app(api_key=fake.api_key, base_url=fake.url, testing=True, **options)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def chromium_page(profile: Path) -> AsyncIterator[Page]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # A persistent context on a fresh directory: Playwright refuses --user-data-dir
        # in args, and this is how a new, empty profile is passed explicitly.
        context = await playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield await context.new_page()
        finally:
            await context.close()


@asynccontextmanager
async def chromium_browser() -> AsyncIterator[Browser]:
    """One Chromium whose contexts are separate sessions (each its own connections)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def text_of(page: Page, test_id: str) -> str:
    return str(await page.get_by_test_id(test_id).first.inner_text())


async def open_quote(page: Page, base_url: str) -> None:
    await page.goto(f"{base_url}/")
    await page.locator(f'tr[data-event-id="{LOCKED}"]').get_by_test_id("review").click()
    await page.wait_for_url("**/quotes/*")


async def test_decline_spends_nothing_and_confirm_spends_once_in_chromium(
    tmp_path: Path,
) -> None:
    require_browser()
    async with (
        FakeLensmor(task_step_seconds=0.01) as fake,
        serve_webapp(fake) as base_url,
        chromium_page(tmp_path / "profile") as page,
    ):
        await open_quote(page, base_url)
        assert await page.get_by_test_id("cost").get_attribute("data-credits") == "2000"
        assert await text_of(page, "cost") == "2,000 credits"
        assert await text_of(page, "balance") == "30,050 credits"
        assert "50 of 237" in await text_of(page, "gives")

        await page.get_by_test_id("decline").click()
        await page.wait_for_url("**/?notice=declined")
        assert await text_of(page, "notice") == "Declined: nothing was spent."
        assert fake.truth.entries == []

        await open_quote(page, base_url)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(QUOTE_SCREENSHOT))
        await page.get_by_test_id("confirm").click()
        await page.wait_for_url(f"**/events/{LOCKED}?unlocked=2000")
        assert await text_of(page, "notice") == "Unlocked: 2,000 credits spent."
        balance = page.get_by_test_id("balance")
        assert await balance.get_attribute("data-credits") == str(START_BALANCE - 2000)
        rows = await page.locator("tr[data-person-id]").count()
        assert rows == 237
        assert rows > 50
        assert await text_of(page, "access") == "full access: 237 people"

        await page.screenshot(path=str(SCREENSHOT))

    charges = fake.truth.entries
    assert [(e.intent, e.amount) for e in charges] == [(("events.unlock", LOCKED), 2000)]
    assert SCREENSHOT.stat().st_size > 0


async def test_a_quote_from_one_worker_is_confirmed_on_another_and_spends_once(
    tmp_path: Path,
) -> None:
    require_browser()
    # Two instances share only what several worker processes would: the secret and the
    # journal. The person reviews on one worker and confirms on the other.
    shared = {"quote_secret": "one-secret-for-all-workers", "journal": str(tmp_path / "j.db")}
    async with (
        FakeLensmor(task_step_seconds=0.01) as fake,
        serve_webapp(fake, **shared) as first,
        serve_webapp(fake, **shared) as second,
        chromium_page(tmp_path / "profile") as page,
    ):
        await open_quote(page, first)
        quote_path = page.url.removeprefix(first)
        await page.goto(f"{second}{quote_path}")
        assert await page.get_by_test_id("cost").get_attribute("data-credits") == "2000"
        await page.get_by_test_id("confirm").click()
        await page.wait_for_url(f"{second}/events/{LOCKED}?unlocked=2000")
        assert await text_of(page, "notice") == "Unlocked: 2,000 credits spent."

        # The same quote confirmed again on the first worker (a stale tab): refused.
        await page.goto(f"{first}{quote_path}")
        await page.get_by_test_id("confirm").click()
        await page.wait_for_load_state()
        assert await page.get_by_role("heading").first.inner_text() == "This quote is not pending"

    charges = fake.truth.entries
    assert [(e.intent, e.amount) for e in charges] == [(("events.unlock", LOCKED), 2000)]


def worker_of(headers: dict[str, str]) -> int:
    return int(headers[WORKER_HEADER.lower()])


async def tab_on_another_worker(browser: Browser, url: str, avoid: int) -> tuple[Page, int]:
    """A new browser session showing ``url``, served by a worker other than ``avoid``.

    A session keeps its keep-alive connection, so one worker; sessions are opened until
    one's connection was accepted by another worker (as a second tab or device would).
    """
    for _ in range(100):
        context = await browser.new_context()
        tab = await context.new_page()
        response = await tab.goto(url)
        assert response is not None
        worker = worker_of(response.headers)
        if worker != avoid:
            return tab, worker
        await context.close()
    raise AssertionError(f"100 browser sessions all reached worker {avoid}")


async def test_chromium_confirms_on_one_worker_process_a_quote_another_rendered(
    tmp_path: Path,
) -> None:
    require_browser()
    async with (
        FakeLensmor(task_step_seconds=0.01) as fake,
        gunicorn_workers(fake, tmp_path / "journal.db") as workers,
        chromium_browser() as browser,
    ):
        first = await (await browser.new_context()).new_page()
        async with first.expect_response(lambda r: "/quotes/" in r.url) as rendered:
            await open_quote(first, workers.base_url)
        renderer = worker_of((await rendered.value).headers)
        assert await first.get_by_test_id("cost").get_attribute("data-credits") == "2000"

        tab, other = await tab_on_another_worker(browser, first.url, renderer)
        assert await tab.get_by_test_id("cost").get_attribute("data-credits") == "2000"
        async with tab.expect_response(lambda r: r.request.method == "POST") as confirmed:
            await tab.get_by_test_id("confirm").click()
        await tab.wait_for_url(f"**/events/{LOCKED}?unlocked=2000")
        assert await text_of(tab, "notice") == "Unlocked: 2,000 credits spent."
        confirmer = worker_of((await confirmed.value).headers)
        assert (confirmer, confirmer != renderer) == (other, True)
        assert {renderer, confirmer} <= workers.pids

        # The first tab, still on the rendering worker, confirms the same quote: refused.
        await first.get_by_test_id("confirm").click()
        await first.wait_for_load_state()
        assert await first.get_by_role("heading").first.inner_text() == "This quote is not pending"

    charges = fake.truth.entries
    assert [(e.intent, e.amount) for e in charges] == [(("events.unlock", LOCKED), 2000)]
    assert fake.request_count("/external/events/{id}/unlock") == 1
