"""The one command that runs the whole performance harness and writes ``RESULTS.md``.

    python -m benchmarks                # full run (under 6 minutes on 2 cores)
    python -m benchmarks --quick        # about a minute
    python benchmarks/run.py --smoke --output /tmp/r.md --json /tmp/r.json

Everything talks over 127.0.0.1 only, and every child process is stopped at the end.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the project root importable so ``benchmarks`` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import json
from collections.abc import Sequence

from benchmarks._harness import progress, run
from benchmarks._report import render_markdown, to_json
from benchmarks._results import MODES, SECTIONS

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "RESULTS.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure lensmor-async against raw aiohttp and httpx; write RESULTS.md.",
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="about a minute, fewer rounds")
    size.add_argument("--smoke", action="store_true", help="seconds; proves the harness works")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="Markdown file")
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    return parser


def _command(argv: Sequence[str]) -> str:
    entry = "python -m benchmarks" if __package__ else "python benchmarks/run.py"
    return " ".join([entry, *argv])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(args_list)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        progress(f"unknown sections: {', '.join(unknown)}")
        return 2
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    results = run(mode, sections, _command(args_list))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render_markdown(results))
    progress(f"wrote {args.output} ({results.elapsed:.0f} s)")
    if args.json is not None:
        args.json.write_text(json.dumps(to_json(results), indent=2, default=str))
        progress(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
