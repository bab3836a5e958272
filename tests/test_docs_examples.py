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
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from fake_thread import FakeInThread

from lensmor_async.testing import FakeLensmor

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})(?P<info>[^`]*)$")
_INCLUDE = re.compile(r'^-{2}8<-{2}\s+"(?P<path>[^"]+)"\s*$')
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(?P<reason>[^>]*)-->")


@attrs.frozen
class Block:
    """One fenced code block of a docs page."""

    page: str
    line: int
    language: str
    info: str
    code: str
    skip_reason: str | None

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
        blocks.append(
            Block(
                page=str(page.relative_to(DOCS)),
                line=index + 1,
                language=_language(info),
                info=info,
                code="\n".join(body) + "\n",
                skip_reason=None if skip is None else skip["reason"].strip(),
            )
        )
        index = end + 1
    return blocks


def _language(info: str) -> str:
    """``python`` from ``python title="x"`` or from the attribute form ``{ .python ... }``."""
    if info.startswith("{"):
        classes = re.findall(r"(?<![\w-])\.([\w-]+)", info)
        return classes[0].lower() if classes else ""
    return info.split()[0].lower()


def _is_output(block: Block) -> bool:
    return block.language == "text" and 'title="Output"' in block.info


def collect_examples() -> tuple[list[Example], list[Block]]:
    """Python examples (with their expected output) and the included-file blocks."""
    examples: list[Example] = []
    includes: list[Block] = []
    for page in sorted(DOCS.rglob("*.md")):
        blocks = parse_blocks(page)
        for position, block in enumerate(blocks):
            if block.language != "python" or block.skip_reason is not None:
                continue
            if _included_paths(block):
                includes.append(block)
                continue
            following = blocks[position + 1] if position + 1 < len(blocks) else None
            expected = following.code if following is not None and _is_output(following) else None
            examples.append(Example(block, expected))
    return examples, includes


def _included_paths(block: Block) -> list[str]:
    lines = [line for line in block.code.splitlines() if line.strip()]
    matches = [_INCLUDE.match(line.strip()) for line in lines]
    if lines and all(match is not None for match in matches):
        return [match["path"] for match in matches if match is not None]
    return []


EXAMPLES, INCLUDES = collect_examples()


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
    with FakeInThread(task_step_seconds=0.0) as fake:
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
    printed = capsys.readouterr().out
    if example.expected is not None:
        assert output_matches(example.expected, printed), (
            f"{example.block.label} printed:\n{printed}\nthe page shows:\n{example.expected}"
        )
    # An example that talks to the API must have reached a server (ours or its own).
    if "AsyncLensmor(" in example.block.code and "FakeLensmor(" not in example.block.code:
        assert len(docs_environment.requests) > requests_before


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
    for page in sorted(DOCS.rglob("*.md")):
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
    for example in EXAMPLES:
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
