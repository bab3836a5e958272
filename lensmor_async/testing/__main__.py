"""Run the fake Lensmor server standalone, as stripe-mock runs for Stripe.

    python -m lensmor_async.testing [--host H] [--port P] [--seed N] [--api-key K]
                                    [--personnel EVENT=N] [--exhibitors EVENT=N]

Prints the base URL and the API key, then serves until SIGINT (Ctrl-C) or SIGTERM, which
it handles itself: a background start (``&``, ``nohup``), where SIGINT is ignored by
default, still stops on either. HTTP admin endpoints under ``/__`` (the truth ledger,
seeding, faults, the balance) let tests in any language steer it; see ``_admin``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence

from lensmor_async.testing import _admin
from lensmor_async.testing._fake import FakeLensmor


def _seeding(text: str) -> tuple[str, int]:
    event_id, _, count = text.partition("=")
    if not event_id or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"expected EVENT=N (e.g. 101=300), got {text!r}")
    return event_id, int(count)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lensmor_async.testing",
        description="Serve the fake Lensmor API (admin endpoints under /__; stop: Ctrl-C or "
        "SIGTERM).",
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
    for name in ("personnel", "exhibitors"):
        parser.add_argument(
            f"--{name}",
            type=_seeding,
            action="append",
            default=[],
            metavar="EVENT=N",
            help=f"add N generated {name} to an event (repeatable)",
        )
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
        admin=True,
    )
    for event_id, count in args.personnel:
        fake.add_personnel(event_id, count)
    for event_id, count in args.exhibitors:
        _admin.seed_exhibitors(fake, {"event_id": event_id, "count": count})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Our own handlers: SIGINT may be ignored (a background job) and SIGTERM would
        # otherwise end the process without closing the server.
        loop.add_signal_handler(signum, stop.set)
    async with fake:
        print(f"FakeLensmor listening on {fake.url}", flush=True)
        print(f"API key: {fake.api_key}", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
    print("FakeLensmor stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
