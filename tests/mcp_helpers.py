"""Helpers of the MCP server tests: a person answering elicitations, and what a client saw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mcp_types as types
from mcp.client.session import ClientRequestContext

Answer = Callable[[str], types.ElicitResult]


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
