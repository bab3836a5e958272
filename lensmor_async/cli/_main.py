"""Entry point and argument parsing for the ``lensmor`` console script."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import anyio

EXIT_OK = 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lensmor", description="Lensmor API from the shell.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the guarded research workflow against a fake server")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from lensmor_async._demo import run_demo

        return anyio.run(run_demo)
    return EXIT_OK
