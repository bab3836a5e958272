"""Run the fake Lensmor server standalone.

    python -m lensmor_async.testing --port 8080 [--seed N] [--api-key K]

Prints the base URL and the API key, then serves until interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

from lensmor_async.testing._fake import FakeLensmor


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lensmor_async.testing", description="Serve the fake Lensmor API."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one)")
    parser.add_argument("--seed", type=int, default=0, help="data and outcome seed")
    parser.add_argument("--api-key", default=None, help="accepted key (default: generated)")
    parser.add_argument(
        "--task-step-seconds",
        type=float,
        default=0.5,
        help="time each unlock task spends pending and processing",
    )
    parser.add_argument("--subscription-balance", type=int, default=30000)
    parser.add_argument("--gift-balance", type=int, default=50)
    return parser


async def _serve(args: argparse.Namespace, ready: asyncio.Event | None = None) -> None:
    fake = FakeLensmor(
        api_key=args.api_key,
        seed=args.seed,
        host=args.host,
        port=args.port,
        task_step_seconds=args.task_step_seconds,
        subscription_balance=args.subscription_balance,
        gift_balance=args.gift_balance,
    )
    async with fake:
        print(f"FakeLensmor listening on {fake.url}", flush=True)
        print(f"API key: {fake.api_key}", flush=True)
        if ready is not None:
            ready.set()
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
