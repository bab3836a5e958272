"""The ``lensmor`` CLI, run in-process against a FakeLensmor served from a background thread.

The CLI runs its own event loop (``asyncio.run``), so the fake server gets a loop of its
own in a thread; tests judge spending by the fake's truth ledger, never by CLI output.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import importlib.metadata
import io
import json
import os
import subprocess
import sys
import threading
import tomllib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

import lensmor_async
from lensmor_async.bulk import BulkProgress
from lensmor_async.cli import (
    EXIT_API_ERROR,
    EXIT_DECLINED,
    EXIT_NO_CREDITS,
    EXIT_OK,
    EXIT_USAGE,
    build_parser,
    exit_code_for,
    main,
)
from lensmor_async.cli import _progress as progress
from lensmor_async.cli import _render as render
from lensmor_async.cli._render import cell, describe_preview, format_table, to_jsonable
from lensmor_async.errors import (
    APIConnectionError,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    ConfirmationRequiredError,
    InsufficientCreditsError,
    InvalidRequestError,
    LensmorError,
    NotFoundError,
    ServerError,
    SpendDeclinedError,
    SpendInDoubtError,
)
from lensmor_async.guard import SpendOutcome
from lensmor_async.models import UNSET, AccessCounts, AccessSemantics, Page, UnlockOffer
from lensmor_async.testing import FakeLensmor
from lensmor_async.transport._wire import USER_AGENT

T = TypeVar("T")
SEED = 3
API_KEY = "uak_test_cli_SECRET_0123456789abcdef0123"
LOCKED = "101"  # 237 people, 50 visible in preview
UNLOCKED = "102"
PREVIEW_SENTENCE = "showing 50 of 237, unlock for 2000 credits"


# -- the fake server in a thread -------------------------------------------------------------


class ThreadedFake:
    """A FakeLensmor on its own event loop in a daemon thread."""

    def __init__(self, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._options = options
        self.fake: FakeLensmor | None = None

    def start(self) -> FakeLensmor:
        self._thread.start()

        async def create() -> FakeLensmor:
            fake = FakeLensmor(**self._options)
            await fake.start()
            return fake

        self.fake = self.run(create)
        return self.fake

    def run(self, factory: Callable[[], Any]) -> Any:
        """Run a coroutine factory on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result(timeout=30)

    def call(self, function: Callable[[], T]) -> T:
        """Run a plain function on the server's loop (state changes stay on one thread)."""

        async def wrapper() -> T:
            return function()

        result: T = self.run(wrapper)
        return result

    def stop(self) -> None:
        if self.fake is not None:
            self.run(self.fake.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class TtyInput(io.StringIO):
    """Stdin that claims to be a terminal, with scripted answers."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def server() -> Iterator[ThreadedFake]:
    threaded = ThreadedFake(seed=SEED, api_key=API_KEY, task_step_seconds=0.01)
    threaded.start()
    try:
        yield threaded
    finally:
        threaded.stop()


@pytest.fixture
def fake(server: ThreadedFake) -> FakeLensmor:
    assert server.fake is not None
    return server.fake


@pytest.fixture
def cli(
    fake: FakeLensmor, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run ``lensmor ARGS`` in-process; stdin is not a terminal unless ``stdin`` is given."""
    monkeypatch.setenv("LENSMOR_API_KEY", API_KEY)
    monkeypatch.setenv("LENSMOR_BASE_URL", fake.url)
    monkeypatch.setattr(progress, "POLL_INTERVALS", (0.01,))
    monkeypatch.setattr(progress, "FRAME_SECONDS", 0.005)

    def run(*argv: str, stdin: io.StringIO | None = None) -> Result:
        monkeypatch.setattr(sys, "stdin", stdin if stdin is not None else io.StringIO(""))
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def charged(fake: FakeLensmor) -> int:
    return fake.truth.total_charged()


def person_ids(cli: Callable[..., Result], event_id: str) -> list[str]:
    page = cli("--json", "personnel", "list", "--event", event_id).json()
    return [person["id"] for person in page["items"]]


# -- free commands ----------------------------------------------------------------------------


def test_balance_prints_total_and_buckets(cli: Callable[..., Result]) -> None:
    result = cli("balance")
    assert result.code == EXIT_OK
    assert result.out.startswith("balance: 30050 credits (subscription 30000 of ")
    assert "gift 50 of 50" in result.out


def test_balance_json_has_stable_snake_case_keys(cli: Callable[..., Result]) -> None:
    data = cli("--json", "balance").json()
    assert data["total_balance"] == 30050
    assert list(data)[:6] == [
        "total_amount",
        "total_balance",
        "subscription_amount",
        "subscription_balance",
        "gift_amount",
        "gift_balance",
    ]
    assert data["extra"] == {}


def test_lensmor_balance_loads_no_guard_mcp_bulk_otel_other_models_or_cattrs(
    fake: FakeLensmor,
) -> None:
    # Every `lensmor` call pays for what it imports: a balance needs the client and the
    # credit models, not the paid machinery, the other commands' modules or anyio's loop.
    # A fresh interpreter, since this one has loaded everything; `main` is the console script.
    code = (
        "import sys\n"
        "from lensmor_async.cli import main\n"
        "exit_code = main(['--json', 'balance'])\n"
        "heavy = [m for m in ('lensmor_async.guard', 'lensmor_async.mcp', 'mcp',\n"
        "    'lensmor_async.bulk', 'lensmor_async.otel', 'opentelemetry',\n"
        "    'lensmor_async.models.events', 'lensmor_async.models.personnel',\n"
        "    'lensmor_async.models.contacts', 'lensmor_async.models.pagination',\n"
        "    'lensmor_async.resources.events',\n"
        "    'lensmor_async.cli._demo', 'lensmor_async.testing', 'cattrs', 'sqlite3',\n"
        "    'anyio._backends._asyncio') if m in sys.modules]\n"
        "print(exit_code, ','.join(heavy), file=sys.stderr)\n"
    )
    env = {**os.environ, "LENSMOR_API_KEY": API_KEY, "LENSMOR_BASE_URL": fake.url}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert json.loads(done.stdout)["total_balance"] == 30050
    assert done.stderr.strip() == "0"


def test_main_inside_a_running_loop_raises_and_leaves_no_unawaited_coroutine() -> None:
    # A notebook runs an event loop: `main()` there cannot run its own, and says so
    # with one RuntimeError, not also a "coroutine was never awaited" warning.
    async def in_a_running_loop() -> None:
        with pytest.raises(RuntimeError, match="running event loop"):
            main(["balance"])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(in_a_running_loop())
        gc.collect()
    assert [str(w.message) for w in caught] == []


def test_global_options_work_after_the_command(cli: Callable[..., Result]) -> None:
    assert cli("balance", "--json").json()["gift_balance"] == 50


def test_events_list_prints_a_table_with_a_footer(cli: Callable[..., Result]) -> None:
    result = cli("events", "list", "--page-size", "4")
    assert result.code == EXIT_OK
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "START"]
    assert "Shoptalk Spring 2026" in result.out
    assert "page 1 of 3, 4 per page" in result.out
    assert "9 events in total" in result.out


def test_events_list_json_is_the_page_model(cli: Callable[..., Result]) -> None:
    data = cli("--json", "events", "list", "--page-size", "4").json()
    assert [key for key in data if key != "extra"][:6] == [
        "items",
        "total",
        "page",
        "page_size",
        "total_pages",
        "has_more",
    ]
    assert len(data["items"]) == 4
    assert data["has_more"] is True
    assert isinstance(data["items"][0]["attendance_identity"], list)


def test_events_list_all_fetches_every_page(cli: Callable[..., Result]) -> None:
    data = cli("--json", "events", "list", "--all", "--page-size", "4").json()
    assert len(data["items"]) == 9
    assert len({item["id"] for item in data["items"]}) == 9
    assert data["total"] == 9


def test_events_get_shows_the_event(cli: Callable[..., Result]) -> None:
    result = cli("events", "get", LOCKED)
    assert result.code == EXIT_OK
    assert "name:" in result.out
    assert "Shoptalk Spring 2026" in result.out
    assert "personnel:   237" in result.out


def test_events_get_json_parses(cli: Callable[..., Result]) -> None:
    data = cli("--json", "events", "get", LOCKED).json()
    assert data["id"] == LOCKED
    assert data["personnel_count"] == 237
    assert isinstance(data["categories"], list)


def test_unknown_event_exits_with_the_api_error_code(cli: Callable[..., Result]) -> None:
    result = cli("events", "get", "99999")
    assert result.code == EXIT_API_ERROR
    assert result.out == ""
    assert "NotFoundError: 404" in result.err
    assert "Traceback" not in result.err


def test_exhibitors_list_shows_companies_and_access(cli: Callable[..., Result]) -> None:
    result = cli("exhibitors", "list", "--event", LOCKED, "--page-size", "5")
    assert result.code == EXIT_OK
    assert "COMPANY" in result.out.splitlines()[0]
    assert "Acme Analytics" in result.out
    assert "showing 24 of 24 (preview; every match is visible)" in result.out


def test_personnel_list_states_the_preview_plainly(cli: Callable[..., Result]) -> None:
    result = cli("personnel", "list", "--event", LOCKED)
    assert result.code == EXIT_OK
    assert PREVIEW_SENTENCE in result.out
    assert f"lensmor unlock event {LOCKED}" in result.out


def test_personnel_list_json_carries_the_semantics(cli: Callable[..., Result]) -> None:
    data = cli("--json", "personnel", "list", "--event", LOCKED).json()
    semantics = data["semantics"]
    assert semantics["access_mode"] == "preview"
    assert semantics["counts"]["visible_total"] == 50
    assert semantics["counts"]["actual_total"] == 237
    assert semantics["unlock"]["credits"] == 2000


def test_personnel_list_all_stops_at_the_preview_window(cli: Callable[..., Result]) -> None:
    result = cli("personnel", "list", "--event", LOCKED, "--all", "--page-size", "20")
    assert result.code == EXIT_OK
    assert "fetched 50 people across pages" in result.out
    assert PREVIEW_SENTENCE in result.out


def test_personnel_page_outside_the_preview_window_says_so(cli: Callable[..., Result]) -> None:
    result = cli("personnel", "list", "--event", LOCKED, "--page", "9")
    assert result.code == EXIT_OK
    assert "page 9 is outside the preview window" in result.out
    assert PREVIEW_SENTENCE in result.out


def test_call_source_option_sets_the_header_of_paid_calls(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    assert cli("--yes", "--call-source", "agent", "unlock", "event", LOCKED).code == EXIT_OK
    (unlock,) = fake.requests_for("/external/events/{id}/unlock")
    assert unlock.headers.get("x-call-source") == "agent"


# -- paid commands ----------------------------------------------------------------------------


def test_unlock_without_tty_or_yes_refuses_and_charges_nothing(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("unlock", "event", LOCKED)
    assert result.code == EXIT_DECLINED
    assert "cost:    2000 credits" in result.err
    assert "re-run with --yes" in result.err
    assert charged(fake) == 0
    assert fake.request_count("/external/events/{id}/unlock") == 0


def test_unlock_with_yes_charges_once(cli: Callable[..., Result], fake: FakeLensmor) -> None:
    result = cli("--yes", "unlock", "event", LOCKED)
    assert result.code == EXIT_OK
    assert "unlocked: 2000 credits used" in result.out
    assert "balance now: 28050 credits" in result.out
    assert [(e.operation, e.amount) for e in fake.truth.entries] == [("events.unlock", 2000)]


def test_unlock_of_an_unlocked_event_is_free_and_asks_nothing(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("unlock", "event", UNLOCKED)
    assert result.code == EXIT_OK
    assert "nothing to pay" in result.err
    assert "already unlocked" in result.out
    assert charged(fake) == 0


def test_prompt_answered_yes_on_a_terminal_charges(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("unlock", "event", LOCKED, stdin=TtyInput("y\n"))
    assert result.code == EXIT_OK
    assert "Proceed? [y/N] " in result.err
    assert fake.truth.net() == 2000


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "maybe\n"])
def test_prompt_answered_anything_but_yes_declines(
    cli: Callable[..., Result], fake: FakeLensmor, answer: str
) -> None:
    result = cli("unlock", "event", LOCKED, stdin=TtyInput(answer))
    assert result.code == EXIT_DECLINED
    assert "SpendDeclinedError" in result.err
    assert charged(fake) == 0


def test_max_credits_below_the_cost_exits_4_without_charging(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("--yes", "--max-credits", "1999", "unlock", "event", LOCKED)
    assert result.code == EXIT_NO_CREDITS
    assert "above --max-credits 1999" in result.err
    assert charged(fake) == 0
    assert fake.request_count("/external/events/{id}/unlock") == 0


def test_max_credits_at_the_cost_allows_the_spend(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("--yes", "--max-credits", "2000", "unlock", "event", LOCKED)
    assert result.code == EXIT_OK
    assert "budget:  2000 credits left" in result.err
    assert fake.truth.net() == 2000


def test_insufficient_balance_exits_4_without_charging(
    cli: Callable[..., Result], server: ThreadedFake, fake: FakeLensmor
) -> None:
    server.call(lambda: fake.set_balance(subscription=100, gift=0))
    result = cli("--yes", "unlock", "event", LOCKED)
    assert result.code == EXIT_NO_CREDITS
    assert "InsufficientCreditsError" in result.err
    assert charged(fake) == 0


def test_unlock_contacts_reports_every_contact_and_settles_with_the_server(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    cli("--yes", "unlock", "event", LOCKED)
    ids = person_ids(cli, LOCKED)
    result = cli("--yes", "--json", "unlock", "contacts", "--event", LOCKED, *ids[:4])
    assert result.code == EXIT_OK
    report = result.json()
    reported = (
        [d["personnel_id"] for d in report["delivered"]]
        + report["unlocked_without_email"]
        + [f["personnel_id"] for f in report["failed"]]
    )
    assert sorted(reported) == sorted(ids[:4])
    assert report["unresolved"] == []
    contacts_net = sum(e.amount for e in fake.truth.entries if e.operation == "contacts.unlock")
    assert report["credits_spent"] == contacts_net
    assert "cost:    60 credits" in result.err


def test_unlock_contacts_prints_a_line_per_task_state_without_a_terminal(
    cli: Callable[..., Result],
) -> None:
    ids = person_ids(cli, UNLOCKED)[:2]
    result = cli("--yes", "unlock", "contacts", "--event", UNLOCKED, *ids)
    assert result.code == EXIT_OK
    states = [line for line in result.err.splitlines() if line.startswith("unlock task ")]
    assert states[-1].endswith(": completed")
    assert len(states) == len(set(states))
    assert "\r" not in result.err
    assert result.out.splitlines()[0].split()[:2] == ["PERSONNEL", "ID"]
    assert "credits spent" in result.out


def test_unlock_contacts_refuses_without_confirmation(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("unlock", "contacts", "--event", UNLOCKED, person_ids(cli, UNLOCKED)[0])
    assert result.code == EXIT_DECLINED
    assert charged(fake) == 0


def test_search_events_by_company_charges_one_search(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("--yes", "search", "events-by-company", "Acme")
    assert result.code == EXIT_OK
    assert "cost:    50 credits" in result.err
    assert "Acme" in result.out
    assert [(e.operation, e.amount) for e in fake.truth.entries] == [
        ("exhibitors.search_events", 50)
    ]


def test_search_events_by_company_json_parses(cli: Callable[..., Result]) -> None:
    data = cli("--yes", "--json", "search", "events-by-company", "Acme").json()
    assert data["items"]
    assert all(item["matched_exhibitors"] for item in data["items"])


def test_search_company_charges_one_search_and_lists_exhibitors(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("--yes", "search", "company", "Acme")
    assert result.code == EXIT_OK
    assert "cost:    50 credits" in result.err
    assert result.out.splitlines()[0].split()[:2] == ["ID", "COMPANY"]
    assert [e.operation for e in fake.truth.entries] == ["exhibitors.search_by_company_name"]


def test_unlock_phones_reports_every_contact(cli: Callable[..., Result]) -> None:
    ids = person_ids(cli, UNLOCKED)[:2]
    report = cli("--yes", "--json", "unlock", "phones", "--event", UNLOCKED, *ids).json()
    reported = (
        [d["personnel_id"] for d in report["delivered"]]
        + report["unlocked_without_email"]
        + [f["personnel_id"] for f in report["failed"]]
    )
    assert sorted(reported) == sorted(ids)


@pytest.mark.parametrize("kind", ["contacts", "phones"])
def test_task_status_shows_a_finished_unlock_task(cli: Callable[..., Result], kind: str) -> None:
    ids = person_ids(cli, UNLOCKED)[:2]
    task_id = cli("--yes", "--json", "unlock", kind, "--event", UNLOCKED, *ids).json()["task_id"]
    phone = ["--phone"] if kind == "phones" else []
    result = cli("task", "status", task_id, *phone)
    assert result.code == EXIT_OK
    assert f"task {task_id}: completed" in result.out
    data = cli("--json", "task", "status", task_id, *phone).json()
    assert sorted(item["personnel_id"] for item in data["items"]) == sorted(ids)


# -- listing formats and errors -----------------------------------------------------------------


def test_format_jsonl_prints_one_object_per_row_and_notes_on_stderr(
    cli: Callable[..., Result],
) -> None:
    result = cli("events", "list", "--page-size", "4", "--format", "jsonl")
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert len(rows) == 4
    assert all("id" in row and "name" in row for row in rows)
    assert "page 1 of 3, 4 per page" in result.err


def test_format_csv_has_the_table_headers_and_one_line_per_row(
    cli: Callable[..., Result],
) -> None:
    result = cli("exhibitors", "list", "--event", UNLOCKED, "--page-size", "5", "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.out)))
    assert rows[0] == ["ID", "COMPANY", "INDUSTRY", "COUNTRY", "EMPLOYEES", "WEBSITE"]
    assert len(rows) == 6
    assert all(len(row) == 6 for row in rows)


def test_format_json_is_the_same_as_the_json_flag(cli: Callable[..., Result]) -> None:
    assert (
        cli("events", "list", "--format", "json").json() == cli("--json", "events", "list").json()
    )


def test_an_empty_listing_says_so_and_never_prints_page_1_of_0(cli: Callable[..., Result]) -> None:
    result = cli("events", "list", "--keyword", "no-such-event-anywhere-zzz")
    assert result.code == EXIT_OK
    assert "no events found" in result.out
    assert "of 0" not in result.out
    assert cli("events", "list", "--keyword", "no-such-event-zzz", "--format", "csv").out == (
        "ID,NAME,START,END,CITY,COUNTRY,EXHIBITORS\n"
    )


def test_errors_under_json_are_one_json_object_with_code_message_and_trace_id(
    cli: Callable[..., Result],
) -> None:
    result = cli("--json", "events", "get", "999999999")
    assert result.code == EXIT_API_ERROR
    error = json.loads(result.err)["error"]
    assert error["type"] == "NotFoundError"
    assert error["status"] == 404
    assert error["code"]
    assert error["message"]
    assert "trace_id" in error


def test_errors_made_before_any_request_are_json_too(cli: Callable[..., Result]) -> None:
    result = cli("--json", "unlock", "event", LOCKED)
    assert result.code == EXIT_DECLINED
    error = json.loads(result.err.splitlines()[-1])["error"]
    assert error["type"] == "ConfirmationRequiredError"
    assert error["trace_id"] is None


def test_unlock_visitors_shows_the_quote_and_refuses_without_yes(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("unlock", "visitors", UNLOCKED)
    assert result.code == EXIT_DECLINED
    assert "cost:    3000 credits" in result.err
    assert charged(fake) == 0


def test_unlock_visitors_with_yes_charges_3000_once(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("--yes", "unlock", "visitors", UNLOCKED)
    assert result.code == EXIT_OK
    assert f"Visitors of event {UNLOCKED}" in result.out
    assert "unlocked: 3000 credits used" in result.out
    assert [e.amount for e in fake.truth.entries] == [3000]


def test_unlock_full_access_pays_both_missing_layers(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    result = cli("--yes", "unlock", "full-access", LOCKED)
    assert result.code == EXIT_OK
    assert "cost:    5000 credits" in result.err
    assert f"full access to event {LOCKED}" in result.out
    assert "unlocked: 5000 credits used" in result.out
    assert fake.truth.net() == 5000


def test_search_person_events_charges_only_when_someone_is_found(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    name = fake.state.person(person_ids(cli, UNLOCKED)[0]).full_name  # type: ignore[union-attr]
    found = cli("--yes", "search", "person-events", name)
    nobody = cli("--yes", "search", "person-events", "Nobody Anywhere")
    assert (found.code, nobody.code) == (EXIT_OK, EXIT_OK)
    assert "cost:    50 credits" in found.err
    assert UNLOCKED in found.out
    assert [e.amount for e in fake.truth.entries] == [50]
    (first, _) = fake.requests_for("/external/personnel/events/by-name")
    assert ("date_start_from", "2026-01-01") in first.query


# -- bulk progress bar ----------------------------------------------------------------------


def _progress_of(done: int, total: int = 8) -> BulkProgress:
    return BulkProgress(
        done=done, total=total, ok=done, failed=0, skipped=0, spent=50 * done, elapsed=done / 2
    )


def test_the_bulk_bar_shows_count_rate_eta_and_credits() -> None:
    line = render.bulk_progress_line(_progress_of(2), width=8)
    assert line.startswith("[##------] 2/8  25%  2.0/s  ETA 3s  elapsed 1.0s  spent 100 credits")
    assert "ETA -" in render.bulk_progress_line(_progress_of(0), width=8)


def test_the_bulk_bar_redraws_in_place_on_a_terminal_and_ends_the_line() -> None:
    written: list[str] = []
    bar = progress.BulkBar(written.append, tty=True, width=4)
    for done in range(9):
        bar(_progress_of(done))
    assert len(written) == 9
    assert all(text.startswith("\r") for text in written)
    assert [text.endswith("\n") for text in written] == [False] * 8 + [True]


def test_the_bulk_bar_writes_one_line_per_quarter_in_a_log() -> None:
    written: list[str] = []
    bar = progress.BulkBar(written.append, tty=False, width=4)
    for done in range(9):
        bar(_progress_of(done))
    assert [line.split()[1] for line in written] == ["0/8", "2/8", "4/8", "6/8", "8/8"]


# -- configuration, usage and the key -------------------------------------------------------------


def test_missing_key_is_a_usage_error(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, fake: FakeLensmor
) -> None:
    monkeypatch.delenv("LENSMOR_API_KEY")
    result = cli("balance")
    assert result.code == EXIT_USAGE
    assert "LENSMOR_API_KEY is not set" in result.err
    assert fake.request_count() == 0


def test_wrong_key_is_an_api_error(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", "uak_test_wrong_SECRET_fedcba9876543210")
    result = cli("balance")
    assert result.code == EXIT_API_ERROR
    assert "AuthenticationError" in result.err
    assert "wrong_SECRET" not in result.out + result.err


def test_unreachable_server_is_an_api_error(cli: Callable[..., Result]) -> None:
    result = cli("--base-url", "http://127.0.0.1:9", "balance")
    assert result.code == EXIT_API_ERROR
    assert "lensmor: " in result.err
    assert "Traceback" not in result.err


def test_plain_http_to_a_remote_host_is_a_usage_error(cli: Callable[..., Result]) -> None:
    result = cli("--base-url", "http://api.example.com", "balance")
    assert result.code == EXIT_USAGE
    assert "ConfigurationError" in result.err


def test_the_key_never_appears_in_any_output(
    cli: Callable[..., Result], server: ThreadedFake, fake: FakeLensmor
) -> None:
    runs = [
        cli("balance"),
        cli("--json", "balance"),
        cli("events", "get", "99999"),
        cli("unlock", "event", LOCKED),
        cli("--yes", "--max-credits", "1", "unlock", "event", LOCKED),
        cli("--yes", "unlock", "contacts", "--event", UNLOCKED, *person_ids(cli, UNLOCKED)[:2]),
        cli("--base-url", "http://127.0.0.1:9", "balance"),
        cli("events", "list", "--page", "0"),
    ]
    server.call(lambda: fake.set_balance(subscription=0, gift=0))
    runs.append(cli("--yes", "unlock", "event", "103"))
    assert {run.code for run in runs} >= {0, 1, 2, 3, 4}
    for run in runs:
        assert API_KEY not in run.out
        assert API_KEY not in run.err
        assert API_KEY[-12:] not in run.out + run.err


def test_bad_arguments_exit_with_the_usage_code(cli: Callable[..., Result]) -> None:
    assert cli("events", "list", "--page", "0").code == EXIT_USAGE
    assert cli("bogus").code == EXIT_USAGE
    assert cli("unlock", "contacts", "--event", LOCKED).code == EXIT_USAGE


def test_invalid_ids_are_refused_before_any_request(
    cli: Callable[..., Result], fake: FakeLensmor
) -> None:
    before = fake.request_count()
    result = cli("events", "get", "not an id!")
    assert result.code == EXIT_USAGE
    assert "InvalidRequestError" in result.err
    assert fake.request_count() == before


def test_help_documents_the_exit_codes(cli: Callable[..., Result]) -> None:
    result = cli("--help")
    assert result.code == EXIT_OK
    for line in ("0  success", "1  API error", "2  usage error", "3  spend declined", "4  "):
        assert line in result.out
    assert "LENSMOR_API_KEY" in result.out


def test_version_prints_the_package_version(cli: Callable[..., Result]) -> None:
    result = cli("--version")
    assert result.code == EXIT_OK
    assert result.out.strip() == f"lensmor {lensmor_async.__version__}"


def test_the_version_is_written_once_and_shared_by_metadata_and_user_agent() -> None:
    assert importlib.metadata.version("lensmor-async") == lensmor_async.__version__
    assert f"lensmor-async/{lensmor_async.__version__}" == USER_AGENT
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]


def test_python_dash_m_runs_the_cli() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "lensmor_async", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0
    assert "exit codes:" in completed.stdout


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfirmationRequiredError("x"), EXIT_DECLINED),
        (SpendDeclinedError("x"), EXIT_DECLINED),
        (InsufficientCreditsError("x", preflight=True), EXIT_NO_CREDITS),
        (BudgetExceededError("x", required=2, available=1), EXIT_NO_CREDITS),
        (InvalidRequestError("x"), EXIT_USAGE),
        (ConfigurationError("x"), EXIT_USAGE),
        (NotFoundError("x"), EXIT_API_ERROR),
        (AuthenticationError("x"), EXIT_API_ERROR),
        (ServerError("x"), EXIT_API_ERROR),
        (APIConnectionError("x"), EXIT_API_ERROR),
        (SpendInDoubtError("x", intent=None, reason="lost"), EXIT_API_ERROR),
    ],
)
def test_every_error_class_maps_to_its_exit_code(error: LensmorError, code: int) -> None:
    assert exit_code_for(error) == code


# -- rendering and progress ----------------------------------------------------------------------


def test_json_conversion_handles_tuples_mappings_enums_and_unset() -> None:
    @attrs.frozen
    class Sample:
        ids: tuple[str, ...]
        extra: Any
        outcome: SpendOutcome
        balance_after: Any

    data = to_jsonable(Sample(("1", "2"), {"k": (1,)}, SpendOutcome.DECLINED, UNSET))
    assert data == {
        "ids": ["1", "2"],
        "extra": {"k": [1]},
        "outcome": "declined",
        "balance_after": None,
    }
    assert json.loads(json.dumps(data)) == data


def test_table_cells_are_made_terminal_safe() -> None:
    table = format_table(("NAME",), [("Evil\x1b[2J Corp",), (None,), (("a", "b"),)])
    assert "\x1b" not in table
    assert table.splitlines()[2:] == ["Evil [2J Corp", "-", "a, b"]
    assert cell("x" * 100).endswith("…")


def test_preview_sentence_comes_from_the_semantics() -> None:
    semantics = AccessSemantics(
        access_mode="preview",
        counts=AccessCounts(actual_total=237, visible_total=50),
        unlock=UnlockOffer(required_for_more_results=True, credits=2000),
    )
    page: Page[Any] = Page(
        items=(), total=50, page=1, page_size=20, total_pages=3, has_more=True, semantics=semantics
    )
    assert describe_preview(page) == PREVIEW_SENTENCE


def test_spinner_redraws_in_place_and_ends_with_a_plain_line() -> None:
    written: list[str] = []
    spinner = progress.SpinnerProgress(written.append, "unlock task 7")
    spinner.update("pending")
    spinner.tick()
    spinner.update("completed")
    spinner.finish()
    assert all(text.startswith("\r") for text in written)
    assert "pending" in written[0]
    assert written[0][1] != written[1][1]  # the frame moved
    assert written[-1].endswith("unlock task 7: completed\n")


def test_line_progress_writes_only_state_changes() -> None:
    lines: list[str] = []
    line = progress.LineProgress(lines.append, "task 9")
    for state in ("pending", "pending", "processing", "completed"):
        line.update(state)
        line.tick()
    line.finish()
    assert lines == ["task 9: pending", "task 9: processing", "task 9: completed"]


def test_unlock_contacts_beyond_one_batch_asks_once_for_the_total_and_runs_every_batch(
    cli: Callable[..., Result], fake: FakeLensmor, server: ThreadedFake
) -> None:
    ids = [str(n) for n in server.call(lambda: fake.add_personnel(UNLOCKED, 2003))]
    server.call(lambda: fake.set_balance(subscription=100_000, gift=0))
    result = cli("--yes", "--json", "unlock", "contacts", "--event", UNLOCKED, *ids)
    assert result.code == EXIT_OK, result.err
    assert result.err.count("cost:") == 1  # one quote shown, for the total
    assert "2 batches" in result.err
    reports, text = [], result.out.strip()
    decoder = json.JSONDecoder()
    while text:  # one JSON report per batch, one after the other
        report, end = decoder.raw_decode(text)
        reports.append(report)
        text = text[end:].strip()
    assert len(reports) == 2
    assert sum(len(r["delivered"]) + len(r["unlocked_without_email"]) for r in reports) > 0
    unlocks = [e for e in fake.truth.entries if e.operation == "contacts.unlock"]
    assert len({e.intent for e in unlocks}) == len(ids)  # every contact bought once


def test_build_parser_is_complete_for_tools_that_read_it_without_parsing() -> None:
    # Completion and man-page generators walk the parser; lazily built commands must
    # not show up empty to them.
    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(found[0].choices) if found else {}

    top = subcommands(build_parser())
    events_list = subcommands(top["events"])["list"]
    options = {flag for action in events_list._actions for flag in action.option_strings}
    assert {"--keyword", "--page-size", "--country"} <= options
    mcp_options = {flag for action in top["mcp"]._actions for flag in action.option_strings}
    assert "--price" in mcp_options
