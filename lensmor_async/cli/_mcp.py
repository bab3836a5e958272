"""``lensmor mcp``: serve Lensmor to an AI agent over MCP (the ``mcp`` extra)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

# CostTable from _core, not the guard facade: importing the guard costs `lensmor balance` ~40 ms.
from lensmor_async._core.costs import CostTable
from lensmor_async.cli._console import Console
from lensmor_async.cli._exit import EXIT_OK, EXIT_USAGE
from lensmor_async.errors import ConfigurationError

if TYPE_CHECKING:
    from lensmor_async.mcp import McpSettings

API_KEY_ENV = "LENSMOR_API_KEY"
DESCRIPTION = """\
Serve Lensmor to an AI agent over MCP (stdio by default). The agent researches with
free tools; every paid tool asks the person through the MCP client (elicitation) and
spends only the sealed quote they accepted. The API key is read from $LENSMOR_API_KEY
only and never reaches the agent. Where your plan charges more than the API's
documented prices (or the API documents none), set them with --price. Needs:
pip install 'lensmor-async[mcp]'."""
PAID_OPERATIONS = tuple(sorted(CostTable.default().prices))


def price_option(credits: Callable[[str], int]) -> Callable[[str], tuple[str, int]]:
    """The ``--price OPERATION=CREDITS`` parser: a paid operation and a whole, non-negative
    number of credits no lower than the API documents for it, refused as a usage error
    before the server starts."""

    def parse(text: str) -> tuple[str, int]:
        name, sep, value = text.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected OPERATION=CREDITS, got {text!r}")
        name = name.strip()
        if name not in PAID_OPERATIONS:
            known = ", ".join(PAID_OPERATIONS)
            raise argparse.ArgumentTypeError(f"unknown paid operation {name!r} (one of: {known})")
        price = credits(value.strip())
        try:
            CostTable.default().with_price_map({name: price})
        except ConfigurationError as exc:  # below the documented price: never quote low
            raise argparse.ArgumentTypeError(str(exc)) from exc
        return name, price

    return parse


def add_arguments(
    parser: argparse.ArgumentParser, credits: Callable[[str], int], port: Callable[[str], int]
) -> None:
    parser.add_argument(
        "--base-url",
        metavar="URL",
        default=argparse.SUPPRESS,  # keeps a --base-url given before "mcp"
        help="API base URL (default: $LENSMOR_BASE_URL, else https://platform.lensmor.com)",
    )
    parser.add_argument(
        "--budget",
        metavar="N",
        type=credits,
        default=None,
        help="credits this server may spend in all (default: no cap; each spend is still asked)",
    )
    parser.add_argument(
        "--auto-approve-up-to",
        metavar="N",
        type=credits,
        default=None,
        help="run paid calls of at most N credits without asking (default: always ask; "
        "a client that cannot ask is refused). The cap is per call: without --budget an "
        "agent can spend without limit in calls under it, so set --budget with it",
    )
    parser.add_argument(
        "--price",
        metavar="OPERATION=CREDITS",
        dest="prices",
        action="append",
        type=price_option(credits),
        default=[],
        help="what your plan charges for a paid operation (per contact or person where "
        "the API charges per item), e.g. "
        "personnel.generate_outreach_message=5 or personnel.unlock_linkedin_activity=10 "
        "(repeatable; the last one for an operation wins; a price may raise the API's "
        "documented one, never lower it; operations: " + ", ".join(PAID_OPERATIONS) + ")",
    )
    parser.add_argument(
        "--transport",
        choices=("stdio", "streamable-http"),
        default="stdio",
        help="stdio (default, for local MCP clients) or streamable-http",
    )
    parser.add_argument("--host", default="127.0.0.1", help="streamable-http address")
    parser.add_argument("--port", type=port, default=8765, help="streamable-http port")
    parser.add_argument(
        "--wait",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="how long contact-unlock tools wait for their task (default 60)",
    )


def run_mcp(args: argparse.Namespace, console: Console) -> int:
    """Start the server; returns the exit code once it stops."""
    try:
        from lensmor_async.mcp import build_server
    except ImportError:
        console.err("lensmor mcp needs the mcp extra: pip install 'lensmor-async[mcp]'")
        return EXIT_USAGE
    if not os.environ.get(API_KEY_ENV):
        console.err(f"lensmor mcp: {API_KEY_ENV} is not set (the key never comes from the agent)")
        return EXIT_USAGE
    settings = settings_from(args)
    server = build_server(settings)
    if settings.transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=settings.host, port=settings.port)
    return EXIT_OK


def settings_from(args: argparse.Namespace) -> McpSettings:
    """The server configuration of parsed ``lensmor mcp`` arguments (needs the mcp extra)."""
    from lensmor_async.mcp import McpSettings

    prices = dict(args.prices)
    return McpSettings(
        budget=args.budget,
        auto_approve_up_to=args.auto_approve_up_to,
        base_url=args.base_url,
        transport=args.transport,
        host=args.host,
        port=args.port,
        wait_seconds=args.wait,
        costs=CostTable.default().with_price_map(prices) if prices else None,
    )
