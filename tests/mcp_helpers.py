"""Helpers of the MCP server tests: a person answering elicitations, and what a client saw."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from mcp import Client
from mcp.client.session import ClientRequestContext

from lensmor_async.mcp import McpSettings, build_server
from lensmor_async.testing import FakeLensmor

Answer = Callable[[str], types.ElicitResult]
MODES = ["auto", "legacy"]
"""Both protocol eras: 2026-07-28 (``InputRequiredResult``) and standalone elicitation."""


def accept(_: str) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"approve": True})


def decline(_: str) -> types.ElicitResult:
    return types.ElicitResult(action="decline")


def cancel(_: str) -> types.ElicitResult:
    return types.ElicitResult(action="cancel")


class Person:
    """The human behind the MCP client: records every question, answers with ``answer``."""

    def __init__(self, answer: Answer = accept, *, before: Callable[[], None] | None = None):
        self.answer = answer
        self.before = before
        self.questions: list[str] = []

    async def __call__(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult:
        del context
        self.questions.append(params.message)
        if self.before is not None:
            self.before()
        return self.answer(params.message)


def seen(result: types.CallToolResult) -> str:
    """Everything of a tool result the client (and so the model) receives, as text."""
    texts = [block.text for block in result.content if isinstance(block, types.TextContent)]
    return repr(result.structured_content) + "".join(texts)


def structured(result: types.CallToolResult) -> dict[str, Any]:
    assert not result.is_error, seen(result)
    assert result.structured_content is not None
    return result.structured_content


@asynccontextmanager
async def connect(
    fake: FakeLensmor, person: Person | None, *, mode: str = "auto", **settings: Any
) -> AsyncIterator[Client]:
    """A real MCP client, in memory, on a ``lensmor mcp`` server against ``fake``."""
    options: dict[str, Any] = {"testing": True, "poll_intervals": (0.02,), **settings}
    server = build_server(McpSettings(base_url=fake.url, **options))
    async with Client(server, mode=mode, elicitation_callback=person) as client:
        yield client
