"""Every Python example in ``docs/`` runs against FakeLensmor, so the docs never rot.

The convention (documented for doc writers in ``docs/testing.md``):

* Every fenced ```` ```python ```` block in ``docs/**/*.md`` is a complete program and is
  executed as ``__main__``, in a temporary working directory.
* ``LENSMOR_API_KEY`` and ``LENSMOR_BASE_URL`` point at a fresh FakeLensmor (seed 0, in a
  background thread) for each block, so examples read exactly like production code:
  ``AsyncLensmor(guard=...)`` with the key from the environment. ``REDIS_URL`` points at the
  suite's real ``redis-server``. Examples that need to steer the server start their own
  ``FakeLensmor``.
* ``input()`` answers ``y`` and echoes the exchange, as a person at a terminal would.
* A fenced ```` ```text title="Output" ```` block right after a Python block is the exact
  output the program must print (``...`` matches any text, as in doctest).
* A block whose only content is a ``--8<--`` include shows a file the suite runs itself
  (it must be an existing ``tests/test_*.py`` module).
* ``<!-- docs-test: skip -->`` on the line before a fence excludes a block; there is
  currently none, and the test below keeps it that way unless a reason is given.
* **Sync twins.** Every async example (it uses ``AsyncLensmor`` or ``async def``) is followed,
  after its output block, by its sync twin: the same program on the sync client ``Lensmor``,
  in a ``??? example "Sync client"`` block (in README.md: ``<details><summary>Sync
  client</summary>``). The twin must print the async example's output, run plainly, inside
  a running event loop (as in Jupyter) and as 8 copies in 8 threads at once, each copy on a
  fake account of its own. An async example without a twin fails the suite unless the line
  before its fence says why it has none: ``<!-- sync-twin: none (the reason) -->``.
  README.md follows the same rules. A twin that writes files keeps them under
  ``os.environ.get("JOB_DIR", ".")``, and one on Redis names its keys with
  ``os.environ.get("BUDGET_KEY", ...)``: each copy gets a folder and a key of its own.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from ledger_backends import unique_redis_key
from thread_family import copies_in_threads

from lensmor_async.testing import FakeLensmor

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")
_INCLUDE = re.compile(r'^-{2}8<-{2}\s+"(?P<path>[^"]+)"\s*$')
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(?P<reason>[^>]*)-->")
_NO_TWIN = re.compile(r"<!--\s*sync-twin:\s*none\b(?P<reason>[^>]*)-->")
_TWIN = re.compile(
    r'^\s*(?:[?!]{3}\+?\s+\w+\s+"Sync client"|(?:<details>)?<summary>Sync client</summary>)\s*$'
)
README = ROOT / "README.md"


@attrs.frozen
class Block:
    """One fenced code block of a docs page."""

    page: str
    line: int
    language: str
    info: str
    code: str
    skip_reason: str | None
    twin: bool = False
    """A sync twin: the async example before it, on the sync client."""
    no_twin_reason: str | None = None

    @property
    def is_async(self) -> bool:
        return "AsyncLensmor" in self.code or "async def" in self.code

    @property
    def is_sync_program(self) -> bool:
        return "lensmor_async.sync" in self.code

    @property
    def label(self) -> str:
        return f"{self.page}:{self.line}"


@attrs.frozen
class Example:
    """A runnable Python block and the output it must print (None: not checked)."""

    block: Block
    expected: str | None


def parse_blocks(page: Path) -> list[Block]:
    """Every fenced block of a page (fences may be indented, e.g. inside admonitions)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None or not opening["info"].strip():
            index += 1
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"].strip()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != fence:
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        previous = lines[index - 1] if index > 0 else ""
        skip = _SKIP.search(previous)
        no_twin = _NO_TWIN.search(previous)
        above = next((line for line in reversed(lines[:index]) if line.strip()), "")
        blocks.append(
            Block(
                page=_page_name(page),
                line=index + 1,
                language=_language(info),
                info=info,
                code="\n".join(body) + "\n",
                skip_reason=None if skip is None else skip["reason"].strip(),
                twin=_TWIN.match(above) is not None,
                no_twin_reason=None if no_twin is None else no_twin["reason"].strip(" ()"),
            )
        )
        index = end + 1
    return blocks


def _page_name(page: Path) -> str:
    return str(page.relative_to(ROOT if page == README else DOCS))


def _language(info: str) -> str:
    """``python`` from ``python title="x"`` or from the attribute form ``{ .python ... }``."""
    if info.startswith("{"):
        classes = re.findall(r"(?<![\w-])\.([\w-]+)", info)
        return classes[0].lower() if classes else ""
    return info.split()[0].lower()


def _is_output(block: Block) -> bool:
    return block.language == "text" and 'title="Output"' in block.info


def collect_examples() -> tuple[list[Example], list[Block], list[tuple[Example, Example]]]:
    """Python examples (with their expected output), included-file blocks, sync twins.

    A twin is paired with the example right before it (only that example's output block
    may sit between them) and must print the same.
    """
    examples: list[Example] = []
    includes: list[Block] = []
    twins: list[tuple[Example, Example]] = []
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        blocks = parse_blocks(page)
        for position, block in enumerate(blocks):
            if block.language != "python" or block.skip_reason is not None:
                continue
            if _included_paths(block):
                includes.append(block)
                continue
            following = blocks[position + 1] if position + 1 < len(blocks) else None
            expected = following.code if following is not None and _is_output(following) else None
            if block.twin:
                twins.append(_pair(blocks[:position], block, examples))
            else:
                examples.append(Example(block, expected))
    return examples, includes, twins


def _pair(before: list[Block], twin: Block, examples: list[Example]) -> tuple[Example, Example]:
    code_before = [b for b in before if not _is_output(b)]
    original = examples[-1] if examples else None
    where = f"{twin.label}: a sync twin must follow its async example (and that example's output)"
    assert original is not None, where
    assert code_before, where
    assert code_before[-1] is original.block, where
    return original, Example(twin, original.expected)


def _included_paths(block: Block) -> list[str]:
    lines = [line for line in block.code.splitlines() if line.strip()]
    matches = [_INCLUDE.match(line.strip()) for line in lines]
    if lines and all(match is not None for match in matches):
        return [match["path"] for match in matches if match is not None]
    return []


EXAMPLES, INCLUDES, TWINS = collect_examples()


def output_matches(expected: str, actual: str) -> bool:
    """Exact match line by line (trailing spaces ignored); ``...`` matches anything."""

    def normal(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())

    pattern = ".*?".join(re.escape(part) for part in normal(expected).split("..."))
    return re.fullmatch(pattern, normal(actual), flags=re.DOTALL) is not None


@pytest.fixture
def docs_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeLensmor]:
    """A fresh fake server, the environment pointing at it, and a scratch directory."""
    # task_step_seconds=0: tasks finish at once, so examples do not wait for a 3 s poll.
    with FakeLensmor(task_step_seconds=0.0) as fake:
        monkeypatch.setenv("LENSMOR_API_KEY", fake.api_key)
        monkeypatch.setenv("LENSMOR_BASE_URL", fake.url)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr("builtins.input", _answer_yes)
        yield fake


def _answer_yes(prompt: object = "") -> str:
    print(f"{prompt}y")
    return "y"


def _run_example(example: Example) -> None:
    code = compile(example.block.code, f"<docs/{example.block.label}>", "exec")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    try:
        exec(code, namespace)
    except BaseException:
        # Show the failing docs line, not this harness, first.
        pytest.fail(
            f"docs example {example.block.label} raised:\n{traceback.format_exc()}",
            pytrace=False,
        )


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.block.label for e in EXAMPLES])
def test_docs_example_runs_and_prints_what_the_page_shows(
    example: Example,
    docs_environment: FakeLensmor,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if "REDIS_URL" in example.block.code:
        # Only Redis examples need the real redis-server (tests/ledger_backends.py).
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    requests_before = len(docs_environment.requests)
    _run_example(example)
    _check_output(example, capsys.readouterr().out)
    # An example that talks to the API must have reached a server (ours or its own).
    if "AsyncLensmor(" in example.block.code and "FakeLensmor(" not in example.block.code:
        assert len(docs_environment.requests) > requests_before


SYNC_PROGRAMS = [twin for _, twin in TWINS] + [e for e in EXAMPLES if e.block.is_sync_program]
MODES = ["plainly", "inside_a_running_loop", "as_8_copies_in_8_threads"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("program", SYNC_PROGRAMS, ids=[p.block.label for p in SYNC_PROGRAMS])
def test_sync_program_prints_what_the_page_shows(
    program: Example,
    mode: str,
    docs_environment: FakeLensmor,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = program.block.code
    if "REDIS_URL" in code:
        assert "BUDGET_KEY" in code, "copies in threads would share Redis keys: give each its own"
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
        monkeypatch.setenv("BUDGET_KEY", unique_redis_key())  # the modes share one server
    if mode == "as_8_copies_in_8_threads":
        _run_copies_in_threads(program, monkeypatch)
        return
    requests_before = len(docs_environment.requests)
    if mode == "plainly":
        _run_example(program)
    else:
        anyio.run(_run_inside_a_running_loop, program)
    _check_output(program, capsys.readouterr().out)
    if "FakeLensmor(" not in code:
        assert len(docs_environment.requests) > requests_before


async def _run_inside_a_running_loop(program: Example) -> None:
    asyncio.get_running_loop()  # a loop runs in this thread, as in a Jupyter cell
    _run_example(program)


def _run_copies_in_threads(program: Example, monkeypatch: pytest.MonkeyPatch) -> None:
    """8 copies at once, each on a fake account, in a folder and on a Redis key of its own;
    each must print the page."""
    with ExitStack() as stack:
        fakes = [stack.enter_context(FakeLensmor(task_step_seconds=0.0)) for _ in range(8)]
        accounts = [_own_environment(fake, copy) for copy, fake in enumerate(fakes)]
        with copies_in_threads(monkeypatch, accounts) as run:
            outputs = run(lambda: _run_example(program))
    for output in outputs:
        _check_output(program, output)
    for fake in fakes:
        assert not fake.truth.duplicate_intents(), f"{program.block.label}: paid twice"
        if "FakeLensmor(" not in program.block.code:
            assert fake.requests, f"{program.block.label}: a copy never reached its server"


def _own_environment(fake: FakeLensmor, copy: int) -> dict[str, str]:
    folder = Path.cwd() / f"copy-{copy}"  # under the test's scratch directory
    folder.mkdir()
    return {
        "LENSMOR_API_KEY": fake.api_key,
        "LENSMOR_BASE_URL": fake.url,
        "JOB_DIR": str(folder),
        "BUDGET_KEY": unique_redis_key(),
    }


def _check_output(example: Example, printed: str) -> None:
    if example.expected is not None:
        assert output_matches(example.expected, printed), (
            f"{example.block.label} printed:\n{printed}\nthe page shows:\n{example.expected}"
        )


def test_every_async_example_has_a_sync_twin_or_says_why_not() -> None:
    paired = {original.block.label for original, _ in TWINS}
    for example in EXAMPLES:
        block = example.block
        if not block.is_async:
            continue
        if block.no_twin_reason is not None:
            assert block.no_twin_reason, f"{block.label}: say why it has no sync twin"
            assert block.label not in paired, f"{block.label} has a twin after all"
        else:
            assert block.label in paired, (
                f'{block.label}: add its sync twin in a ??? example "Sync client" block '
                "after its output (see the top of this module)"
            )
    assert len(TWINS) >= 25


def test_sync_twins_use_only_the_sync_client() -> None:
    for _, twin in TWINS:
        code = twin.block.code
        assert "from lensmor_async.sync import Lensmor" in code, twin.block.label
        for asynchronous in ("AsyncLensmor", "async def", "await ", "anyio.run"):
            assert asynchronous not in code, f"{twin.block.label} uses {asynchronous}"


@pytest.mark.parametrize("block", INCLUDES, ids=[b.label for b in INCLUDES])
def test_included_code_is_a_test_module_the_suite_runs(block: Block) -> None:
    for path in _included_paths(block):
        target = ROOT / path
        assert target.is_file(), f"{block.label} includes missing {path}"
        # Only tests/test_*.py modules are collected, so only they are sure to run.
        assert target.parent == ROOT / "tests", f"{block.label}: {path} is not in tests/"
        assert target.name.startswith("test_"), f"{block.label}: {path} is not collected"


def test_every_async_example_actually_runs_its_main() -> None:
    for example in EXAMPLES:
        code = example.block.code
        if "async def main" in code:
            assert re.search(r"\b(anyio|asyncio)\.run\(main", code), example.block.label


def test_no_docs_example_is_skipped_without_a_reason() -> None:
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        for block in parse_blocks(page):
            if block.skip_reason is not None:
                assert block.skip_reason, f"{block.label}: say why it cannot run"


def test_the_docs_have_examples_on_every_guide_page() -> None:
    pages = {example.block.page for example in EXAMPLES}
    for guide in ("quickstart.md", "credit-guard.md", "pagination.md", "bulk.md", "testing.md"):
        assert guide in pages
    assert INCLUDES, "docs/testing.md shows the example test module"


def test_docs_site_builds_strictly_without_a_single_warning(tmp_path: Path) -> None:
    # Not --quiet: in MkDocs 1.6 it hides warnings from --strict, so nothing would fail.
    mkdocs = Path(sys.executable).with_name("mkdocs")
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "WARNING" not in log, log
    assert (tmp_path / "site" / "reference" / "guard" / "index.html").is_file()


def test_every_python_example_and_the_readme_example_pass_mypy_strict(tmp_path: Path) -> None:
    # Readers copy these into typed code bases: an example that only runs is not enough.
    sources = tmp_path / "examples"
    sources.mkdir()
    for example in [*EXAMPLES, *(twin for _, twin in TWINS)]:
        name = re.sub(r"\W", "_", example.block.label)
        (sources / f"{name}.py").write_text(example.block.code, encoding="utf-8")
    readme = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert readme is not None, "the README shows a python example"
    (sources / "README_md.py").write_text(readme[1], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), "."],
        cwd=sources,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_output_matching_honours_ellipsis_and_trailing_spaces() -> None:
    assert output_matches("a ... c\nd", "a b b c  \nd\n")
    assert not output_matches("a ... c", "a b d")
    assert not output_matches("one", "one\ntwo")
