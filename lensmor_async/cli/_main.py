"""Entry point and argument parsing for the ``lensmor`` console script.

The API key comes from ``LENSMOR_API_KEY`` only (never an option, so it stays out
of shell history and process lists) and is never printed. Paid commands show a quote
and ask ``Proceed? [y/N]`` on a terminal; ``--yes`` approves, ``--max-credits N``
caps, and without a terminal or ``--yes`` they refuse and spend nothing.

Exit codes (stable, for scripts):

* 0 — success
* 1 — API error (an error answer, a timeout, a lost connection)
* 2 — usage error (bad arguments, ``LENSMOR_API_KEY`` not set)
* 3 — spend declined (answered no, or no TTY and no ``--yes``)
* 4 — insufficient credits, or the cost is above ``--max-credits``
* 130 — interrupted (Ctrl-C)
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from lensmor_async._client import AsyncLensmor
from lensmor_async._version import __version__
from lensmor_async.cli import _commands as commands
from lensmor_async.cli._approve import Approver
from lensmor_async.cli._console import Console
from lensmor_async.cli._exit import (
    EXIT_CODES_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    exit_code_for,
)
from lensmor_async.cli._render import error_json
from lensmor_async.errors import ConfigurationError, InsufficientCreditsError, LensmorError

if TYPE_CHECKING:
    from lensmor_async.guard import CreditGuard

T = TypeVar("T")

API_KEY_ENV = "LENSMOR_API_KEY"
_EPILOG = f"""\
The API key is read from ${API_KEY_ENV} (never from an option) and never printed.
Paid commands (unlock, search) show the quote and ask "Proceed? [y/N]" on a terminal;
without a terminal they refuse unless --yes is given.

{EXIT_CODES_HELP}"""


# -- parsing ----------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _credits(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


FORMATS = ("table", "json", "jsonl", "csv")


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes, before or after the command name.

    Subcommand copies default to SUPPRESS so that an option given before the command
    is not overwritten by the subcommand's default.
    """

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("global options")
    group.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable output"
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        default=default(None),
        help="API base URL (default: $LENSMOR_BASE_URL, else https://platform.lensmor.com)",
    )
    group.add_argument(
        "-y",
        "--yes",
        action="store_true",
        default=default(False),
        help="approve paid commands without asking (still capped by --max-credits)",
    )
    group.add_argument(
        "--max-credits",
        metavar="N",
        type=_credits,
        default=default(None),
        help="refuse any spend above N credits (exit code 4, nothing charged)",
    )
    group.add_argument(
        "--call-source",
        choices=("api", "agent"),
        default=default("api"),
        help="X-Call-Source header value (default: api)",
    )


def _paging(parser: argparse.ArgumentParser, *, iterate: bool = True) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="table (default), json (the page; same as --json), jsonl (one row per line), csv",
    )
    parser.add_argument("--page", type=_positive_int, default=1, help="page number (default 1)")
    parser.add_argument("--page-size", type=_positive_int, default=None, metavar="N")
    if iterate:
        parser.add_argument(
            "--all",
            action="store_true",
            help="every reachable row across pages (stops at a preview window)",
        )
        parser.add_argument(
            "--limit", type=_positive_int, default=None, metavar="N", help="with --all: at most N"
        )


class _LazyParser(argparse.ArgumentParser):
    """A command's parser that adds its arguments (or its actions) when it is first used.

    Built eagerly, the two dozen parsers of ``lensmor`` cost ~7 ms per run (argparse looks
    up gettext translations and the terminal size for every parser and option), and one
    run uses two or three of them. Parsing, help and usage messages build it first, so
    nothing a user sees changes.
    """

    _pending: Callable[[_LazyParser], None] | None = None
    _commands: _Commands | None = None

    def build_on_use(self, build: Callable[[_LazyParser], None]) -> None:
        self._pending = build

    def add_subparsers(self, **kwargs: Any) -> _Commands:  # type: ignore[override]
        self._commands = super().add_subparsers(**kwargs)
        return self._commands

    def build_all(self) -> None:
        """Build this parser and every command's below it, as if each had been used."""
        self._build()
        if self._commands is not None:
            for command in self._commands.choices.values():
                command.build_all()

    def _build(self) -> None:
        build, self._pending = self._pending, None
        if build is not None:
            build(self)

    def parse_known_args(  # type: ignore[override]  # one signature for typeshed's overloads
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._build()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._build()
        return super().format_usage()

    def format_help(self) -> str:
        self._build()
        return super().format_help()


_Commands: TypeAlias = "argparse._SubParsersAction[_LazyParser]"


def build_parser() -> argparse.ArgumentParser:
    """The ``lensmor`` argument parser, every command's arguments in place.

    Complete, for tools that read a parser without parsing (shell completion, man pages);
    ``main`` builds a command's parser only when it is used (see ``_LazyParser``).
    """
    parser = _parser()
    parser.build_all()
    return parser


def _parser() -> _LazyParser:
    parser = _LazyParser(
        prog="lensmor",
        description="The Lensmor event-intelligence API from the shell, with guarded spending.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lensmor {__version__}")
    _global_options(parser, suppress=False)
    top = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_LazyParser
    )
    _leaf(top, "balance", "show the credit balance", commands.balance)
    _group(top, "events", "list events or show one", _events)
    _group(top, "exhibitors", "list the exhibitors of an event", _exhibitors)
    _group(top, "personnel", "list the people of an event", _personnel)
    _group(
        top, "unlock", "PAID: unlock an event, its Visitors, or contacts' emails or phones", _unlock
    )
    _group(top, "task", "look at a contact unlock task", _task)
    _group(top, "search", "PAID searches", _search)
    _leaf(top, "demo", "run the guarded workflow against an embedded fake server (no key)", None)
    serve = top.add_parser(
        "mcp",
        help="serve Lensmor to an AI agent over MCP (paid tools ask the person)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.build_on_use(_mcp_options)
    return parser


def _leaf(
    group: _Commands, name: str, help_text: str, handler: commands.Handler | None
) -> argparse.ArgumentParser:
    """A command that runs ``handler``; it takes the global options after its name too."""
    sub = group.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(sub, suppress=True)
    sub.set_defaults(handler=handler)
    return sub


def _group(top: _Commands, name: str, help_text: str, actions: Callable[[_Commands], None]) -> None:
    """A command with actions (``lensmor events list``), added when the command is used."""

    def build(parser: _LazyParser) -> None:
        actions(parser.add_subparsers(dest="action", required=True, metavar="ACTION"))

    top.add_parser(name, help=help_text, description=help_text).build_on_use(build)


def _events(group: _Commands) -> None:
    listing = _leaf(group, "list", "list events", commands.events_list)
    _paging(listing)
    listing.add_argument("--keyword")
    listing.add_argument("--country")
    listing.add_argument("--city")
    get = _leaf(group, "get", "show one event", commands.events_get)
    get.add_argument("event_id", metavar="ID")


def _exhibitors(group: _Commands) -> None:
    listing = _leaf(group, "list", "list an event's exhibitors", commands.exhibitors_list)
    listing.add_argument("--event", required=True, metavar="ID")
    _paging(listing)
    listing.add_argument("--keyword")
    listing.add_argument("--country")


def _personnel(group: _Commands) -> None:
    listing = _leaf(
        group,
        "list",
        "list an event's people (a locked event shows a preview)",
        commands.personnel_list,
    )
    listing.add_argument("--event", required=True, metavar="ID")
    _paging(listing)


def _unlock(group: _Commands) -> None:
    for name, help_text, handler in (
        ("event", "PAID: unlock an event (2000 credits)", commands.unlock_event),
        (
            "visitors",
            "PAID: unlock an event's registered Visitors (3000 credits; needs the event unlocked)",
            commands.unlock_visitors,
        ),
        (
            "full-access",
            "PAID: unlock an event and its Visitors (pays only the missing layers, up to 5000)",
            commands.unlock_full_access,
        ),
    ):
        _leaf(group, name, help_text, handler).add_argument("event_id", metavar="ID")
    contacts = _leaf(
        group,
        "contacts",
        "PAID: unlock contacts' emails (per contact) and wait for the task",
        commands.unlock_contacts,
    )
    contacts.add_argument("--event", required=True, metavar="ID")
    contacts.add_argument("personnel_ids", nargs="+", metavar="IDS")
    phones = _leaf(
        group,
        "phones",
        "PAID: unlock contacts' phone numbers (per contact) and wait for the task",
        commands.unlock_phones,
    )
    phones.add_argument("--event", required=True, metavar="ID")
    phones.add_argument("personnel_ids", nargs="+", metavar="IDS")


def _task(group: _Commands) -> None:
    status = _leaf(group, "status", "one free look at an unlock task", commands.task_status)
    status.add_argument("task_id", metavar="ID")
    status.add_argument("--phone", action="store_true", help="a phone unlock task")


def _search(group: _Commands) -> None:
    by_company = _leaf(
        group,
        "events-by-company",
        "PAID: events where a company exhibits or visits (50 credits per page)",
        commands.search_events_by_company,
    )
    by_company.add_argument("company_name", metavar="NAME")
    _paging(by_company, iterate=False)
    by_company.add_argument("--scope", choices=("all", "exhibitor", "visitor"), default=None)
    company = _leaf(
        group,
        "company",
        "PAID: exhibitors by company name (50 credits per page)",
        commands.search_company,
    )
    company.add_argument("company_name", metavar="NAME")
    _paging(company, iterate=False)
    person = _leaf(
        group,
        "person-events",
        "PAID: events of the people with this exact full name (50 credits; 0 if none found)",
        commands.search_person_events,
    )
    person.add_argument("person_name", metavar="NAME")
    _paging(person, iterate=False)
    person.add_argument(
        "--from",
        dest="date_from",
        default="2026-01-01",
        metavar="DATE",
        help="earliest event start, YYYY-MM-DD (default 2026-01-01, as the server's)",
    )
    person.add_argument("--to", dest="date_to", default=None, metavar="DATE")
    person.add_argument("--scope", choices=("all", "exhibitor_employee", "visitor"), default=None)


def _mcp_options(parser: _LazyParser) -> None:
    # Imported on use: its price list loads the cost table, which other commands need not.
    from lensmor_async.cli import _mcp as mcp

    parser.description = mcp.DESCRIPTION
    mcp.add_arguments(parser, _credits, _positive_int)


# -- running ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) and usage errors (2) end here
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    console = Console(secret=os.environ.get(API_KEY_ENV))
    # asyncio.run, not anyio.run: anyio.run loads anyio's event-loop backend and its
    # streams (~25 ms) before the command starts, and `lensmor balance` uses none of them.
    # The SDK's anyio code runs on this loop all the same (loading them when it needs them).
    try:
        if args.command == "demo":
            from lensmor_async.cli._demo import run_demo

            return _run_to_end(run_demo())
        if args.command == "mcp":
            from lensmor_async.cli._mcp import run_mcp

            return run_mcp(args, console)
        _run_to_end(_run(args, console))
    except LensmorError as exc:
        if args.json or getattr(args, "format", None) in ("json", "jsonl"):
            console.err(error_json(exc))
        else:
            console.err(f"lensmor: {describe_error(exc)}")
        return exit_code_for(exc)
    except KeyboardInterrupt:
        console.err("\nlensmor: interrupted")
        return EXIT_INTERRUPTED
    return EXIT_OK


def _run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(coro)``; where a loop already runs (a notebook), it raises before
    starting ``coro``, which is closed then so that no "never awaited" warning follows."""
    try:
        return asyncio.run(coro)
    finally:
        coro.close()  # a no-op on a coroutine that ran to its end


async def _run(args: argparse.Namespace, console: Console) -> None:
    if not os.environ.get(API_KEY_ENV):
        raise ConfigurationError(
            f"{API_KEY_ENV} is not set: export your Lensmor API key "
            "(the CLI never takes it as an option)"
        )
    approver = Approver(console, yes=args.yes, max_credits=args.max_credits)
    guard = None if args.handler in FREE_HANDLERS else _guard(approver, args.max_credits)
    async with AsyncLensmor(
        base_url=args.base_url, call_source=args.call_source, guard=guard
    ) as client:
        fmt = getattr(args, "format", None) or ("json" if args.json else "table")
        await args.handler(commands.Context(client, console, approver, args.json, fmt), args)


FREE_HANDLERS: frozenset[commands.Handler] = frozenset({commands.balance})
"""Commands that make no paid call: they run without building the CLI's guard.

The client's default guard (no confirm: fails closed) stands in, unbuilt unless a paid
call is tried, so a free command starts as fast as the SDK does.
"""


def _guard(approver: Approver, budget: int | None) -> CreditGuard:
    from lensmor_async.guard import CreditGuard

    return CreditGuard(confirm=approver, budget=budget)


def describe_error(error: LensmorError) -> str:
    """'NotFoundError: 404 EVENT_NOT_FOUND: …' (no status for refusals made before I/O)."""
    if isinstance(error, InsufficientCreditsError) and error.preflight:
        return f"{type(error).__name__}: {error.message}"
    return f"{type(error).__name__}: {error}"
