"""The demo: the whole guarded workflow against the embedded fake, with honest accounting."""

from __future__ import annotations

import re

import pytest

from lensmor_async.cli import EXIT_OK, main
from lensmor_async.cli._demo import run_demo

TRUTH_LINE = re.compile(
    r"^server truth ledger: (\d+) credits charged, (\d+) refunded, net (\d+); "
    r"SDK accounted (\d+) \(they agree\)$"
)


@pytest.fixture
async def demo_lines() -> list[str]:
    lines: list[str] = []
    assert await run_demo(lines.append) == 0
    return "\n".join(lines).splitlines()


def _index(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


@pytest.mark.anyio
async def test_demo_walks_every_step_in_order(demo_lines: list[str]) -> None:
    steps = [
        "balance: 30050 credits",
        "events: 9 found",
        "personnel of event 101: showing 50 of 237, unlock for 2000 credits",
        "iterated 50 people",
        "quote: unlock event 101",
        "Proceed? [y/N] y (auto-confirmed in the demo)",
        "event 101 (Shoptalk Spring 2026) unlocked: 2000 credits used",
        "refreshed balance: 28050 credits",
        "personnel now: full access: 237 people",
        "quote: unlock the emails of 6 contacts in event 101",
        "unlock task 901: completed",
        "task 901: ",
        "bulk: the exhibitors of all 9 events",
        "[####################] 9/9 100%",
        "bulk: 9 events, ",
        "spend history (guard.history):",
        "server truth ledger: ",
    ]
    positions = [_index(demo_lines, step) for step in steps]
    assert positions == sorted(positions)


@pytest.mark.anyio
async def test_demo_iteration_stops_at_the_preview_window(demo_lines: list[str]) -> None:
    line = demo_lines[_index(demo_lines, "iterated ")]
    assert "iterated 50 people over 3 page(s)" in line
    assert "(187 more behind the unlock)" in line


@pytest.mark.anyio
async def test_demo_contacts_report_accounts_for_every_contact(demo_lines: list[str]) -> None:
    line = demo_lines[_index(demo_lines, "task 901: ")]
    counts = [int(n) for n in re.findall(r"(\d+) (?:delivered|without|failed|unresolved)", line)]
    assert sum(counts) == 6
    assert "0 unresolved" in line


@pytest.mark.anyio
async def test_demo_history_lists_both_spends(demo_lines: list[str]) -> None:
    start = _index(demo_lines, "spend history")
    history = demo_lines[start + 3 : start + 5]
    assert history[0].split()[:3] == ["events.unlock", "101", "succeeded"]
    assert history[1].startswith("contacts.unlock")


@pytest.mark.anyio
async def test_demo_sdk_accounting_equals_the_server_net(demo_lines: list[str]) -> None:
    match = TRUTH_LINE.match(demo_lines[-1])
    assert match is not None, demo_lines[-1]
    charged, refunded, net, sdk = (int(group) for group in match.groups())
    assert net == charged - refunded
    assert sdk == net
    assert charged >= 2000


def test_demo_command_needs_no_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LENSMOR_API_KEY", raising=False)
    assert main(["demo"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "showing 50 of 237, unlock for 2000 credits" in out
    assert "(they agree)" in out
