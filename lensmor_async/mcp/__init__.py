"""``lensmor mcp``: an MCP server where an AI agent researches with Lensmor and spends
only what a person approved (install the ``lensmor-async[mcp]`` extra)."""

from __future__ import annotations

from lensmor_async.mcp._approval import Approval, Route, question, route
from lensmor_async.mcp._server import AgentSession, build_server, decline_unsealed, open_session
from lensmor_async.mcp._settings import McpSettings

__all__ = [
    "AgentSession",
    "Approval",
    "McpSettings",
    "Route",
    "build_server",
    "decline_unsealed",
    "open_session",
    "question",
    "route",
]
