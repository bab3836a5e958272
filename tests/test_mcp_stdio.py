"""``lensmor mcp`` as a subprocess (stdio, and once Streamable HTTP), driven by a real MCP
client, against FakeLensmor.

The server gets the key and the fake's URL from its environment only. Its stderr (logs)
is captured to a file and searched for the key too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp_helpers import Person, accept, decline, seen, structured

from lensmor_async.testing import FakeLensmor

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LOCKED = "101"
UNLOCK_ROUTE = "/external/events/{id}/unlock"


@asynccontextmanager
async def lensmor_mcp(
    fake: FakeLensmor, person: Person | None, errlog: Path, *options: str
) -> AsyncIterator[Client]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LENSMOR_API_KEY": fake.api_key,
        "LENSMOR_BASE_URL": fake.url,
    }
    command = [sys.executable, "-m", "lensmor_async", "mcp", *options]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    with errlog.open("w") as stderr:
        transport = stdio_client(params, errlog=stderr)
        async with Client(transport, elicitation_callback=person) as client:
            yield client


async def test_lensmor_mcp_over_stdio_spends_only_what_the_person_accepted(
    tmp_path: Path,
) -> None:
    errlog = tmp_path / "stderr.log"
    texts: list[str] = []
    async with FakeLensmor(seed=0) as fake:
        declining, accepting = Person(decline), Person(accept)
        async with lensmor_mcp(fake, declining, errlog, "--budget", "5000") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            people = await client.call_tool("list_personnel", {"event_id": LOCKED})
            declined = await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
            texts += [seen(people), seen(declined)]
            sent_after_decline = fake.request_count(UNLOCK_ROUTE)
        async with lensmor_mcp(fake, accepting, errlog, "--budget", "5000") as client:
            accepted = await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
            report = await client.call_tool("spend_report", {})
            texts += [seen(accepted), seen(report)]
        charges = [(e.intent, e.amount) for e in fake.truth.entries]
        headers = [r.headers.get("x-call-source") for r in fake.requests_for(UNLOCK_ROUTE)]
        key = fake.api_key
    assert {"unlock_event", "unlock_contacts", "list_personnel", "spend_report"} <= tools
    assert structured(people)["access"] == "preview"
    assert structured(declined)["status"] == "declined"
    assert sent_after_decline == 0
    assert structured(accepted)["status"] == "unlocked"
    assert structured(accepted)["charged"] == 2000
    assert structured(report)["spent"] == 2000
    assert charges == [(("events.unlock", LOCKED), 2000)]
    assert headers == ["agent"]
    everything = "".join(texts + declining.questions + accepting.questions)
    assert key not in everything
    assert key not in errlog.read_text()


async def test_lensmor_mcp_over_stdio_refuses_a_client_that_cannot_ask(tmp_path: Path) -> None:
    async with FakeLensmor(seed=0) as fake:
        async with lensmor_mcp(fake, None, tmp_path / "stderr.log") as client:
            result: Any = structured(
                await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
            )
        sent = fake.request_count(UNLOCK_ROUTE)
    assert result["status"] == "refused"
    assert sent == 0


def test_lensmor_mcp_help_and_the_package_import_do_not_load_the_mcp_sdk() -> None:
    code = "import sys, lensmor_async, lensmor_async.cli; print('mcp' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert loaded.stdout.strip() == "False"
    helped = subprocess.run(
        [sys.executable, "-m", "lensmor_async", "mcp", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0
    assert "--auto-approve-up-to N" in helped.stdout
    assert "--budget N" in helped.stdout
    assert "LENSMOR_API_KEY" in helped.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _wait_for_port(port: int, process: anyio.abc.Process) -> None:
    for _ in range(200):
        if process.returncode is not None:
            raise AssertionError(f"lensmor mcp exited with {process.returncode}")
        try:
            stream = await anyio.connect_tcp("127.0.0.1", port)
        except OSError:
            await anyio.sleep(0.05)
            continue
        await stream.aclose()
        return
    raise AssertionError("lensmor mcp did not listen")


async def test_lensmor_mcp_over_streamable_http_asks_and_spends_once(tmp_path: Path) -> None:
    port = _free_port()
    async with FakeLensmor(seed=0) as fake:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "LENSMOR_API_KEY": fake.api_key,
            "LENSMOR_BASE_URL": fake.url,
        }
        command = [sys.executable, "-m", "lensmor_async", "mcp", "--transport", "streamable-http"]
        with (tmp_path / "stderr.log").open("w") as stderr:
            process = await anyio.open_process(
                [*command, "--port", str(port)], env=env, stdout=stderr, stderr=stderr
            )
            try:
                await _wait_for_port(port, process)
                person = Person(accept)
                async with Client(
                    f"http://127.0.0.1:{port}/mcp", elicitation_callback=person
                ) as client:
                    result = structured(
                        await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
                    )
            finally:
                process.terminate()
                with anyio.fail_after(10):
                    await process.wait()
        charges = [(e.intent, e.amount) for e in fake.truth.entries]
    assert len(person.questions) == 1
    assert (result["status"], result["charged"]) == ("unlocked", 2000)
    assert charges == [(("events.unlock", LOCKED), 2000)]
    assert fake.api_key not in seen_all(result, person)


def seen_all(result: dict[str, Any], person: Person) -> str:
    return repr(result) + "".join(person.questions)
