"""``python -m lensmor_async.testing``: stops on SIGINT/SIGTERM, admin endpoints under /__."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lensmor_async.testing import FakeLensmor, FakeServerError

KEY = "uak_test_standalone_0123456789abcdef"
STOP_SECONDS = 15.0
Server = tuple[subprocess.Popen[str], str]


def _start(*args: str, ignore_sigint: bool = False) -> Server:
    def background() -> None:  # what a shell does to a `&` job: SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [sys.executable, "-m", "lensmor_async.testing", "--port", "0", "--api-key", KEY, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=background if ignore_sigint else None,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    first = proc.stdout.readline()
    assert first.startswith("FakeLensmor listening on "), first + proc.stderr.read()
    proc.stdout.readline()  # the API key line
    return proc, first.removeprefix("FakeLensmor listening on ").strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


@pytest.fixture
def server() -> Iterator[Callable[..., Server]]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, ignore_sigint: bool = False) -> Server:
        proc, url = _start(*args, ignore_sigint=ignore_sigint)
        started.append(proc)
        return proc, url

    yield start
    for proc in started:
        _stop(proc)


def _call(url: str, method: str = "GET", body: Any = None, key: str = KEY) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


@pytest.mark.parametrize(
    ("signum", "ignore_sigint"),
    [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint", "sigint-in-the-background", "sigterm"],
)
def test_the_standalone_fake_stops_cleanly_on_a_signal(
    server: Callable[..., Server], signum: signal.Signals, ignore_sigint: bool
) -> None:
    proc, _ = server(ignore_sigint=ignore_sigint)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=STOP_SECONDS)
    assert proc.returncode == 0, err
    assert "FakeLensmor stopped" in out


def test_get_truth_lists_every_charge_with_totals(server: Callable[..., Server]) -> None:
    _, url = server()
    assert _call(f"{url}/__truth")[1] == {"charged": 0, "refunded": 0, "net": 0, "entries": []}
    status, _ = _call(f"{url}/external/events/101/unlock", "POST", {"event_id": "101"})
    assert 200 <= status < 300
    truth = _call(f"{url}/__truth")[1]
    assert (truth["charged"], truth["net"]) == (2000, 2000)
    assert [(e["operation"], e["amount"]) for e in truth["entries"]] == [("events.unlock", 2000)]


def test_seeding_flags_and_endpoints_add_people_and_exhibitors(
    server: Callable[..., Server],
) -> None:
    _, url = server("--exhibitors", "102=30", "--personnel", "102=300")
    exhibitors = _call(f"{url}/external/exhibitors/list?event_id=102")[1]
    people = _call(f"{url}/external/personnel/list?event_id=102")[1]
    status, seeded = _call(f"{url}/__exhibitors", "POST", {"event_id": "102", "count": 5})
    assert status == 200
    assert len(seeded["ids"]) == 5
    after = _call(f"{url}/external/exhibitors/list?event_id=102")[1]
    assert _total(after) == _total(exhibitors) + 5
    assert _total(exhibitors) >= 30
    assert _total(people) >= 300


def test_a_fault_injected_over_http_hits_the_next_request(server: Callable[..., Server]) -> None:
    _, url = server()
    assert _call(f"{url}/__faults", "POST", {"kind": "http_500_before"})[0] == 200
    assert _call(f"{url}/external/credits/balance")[0] == 500
    assert _call(f"{url}/external/credits/balance")[0] == 200


def test_admin_endpoints_refuse_a_wrong_key_and_bad_input(server: Callable[..., Server]) -> None:
    _, url = server()
    assert _call(f"{url}/__truth", key="wrong")[0] == 401
    status, body = _call(f"{url}/__faults", "POST", {"kind": "no_such_fault"})
    assert status == 400
    assert "no_such_fault" in body["error"]
    assert _call(f"{url}/__nothing")[0] == 404


def _total(response: Any) -> int:
    data = response.get("data", response)
    return int(data["total"])


def test_a_fake_served_from_its_own_thread_answers_sync_code_and_stops_on_exit() -> None:
    with FakeLensmor(subscription_balance=70, gift_balance=5) as fake:
        request = urllib.request.Request(
            f"{fake.url}/external/credits/balance",
            headers={"Authorization": f"Bearer {fake.api_key}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = json.loads(answer.read())
        url = fake.url
    assert body["totalBalance"] == 75
    with pytest.raises(FakeServerError):
        _ = fake.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/external/credits/balance", timeout=5)
