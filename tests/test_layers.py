"""The architecture's layers, checked on the source: who may import what.

* ``_core`` is sans-I/O: it imports no aiohttp, anyio, asyncio or other I/O library;
* ``_core/spend.py`` (the spend decision) reads no clock, no ContextVar, no randomness;
* the guard and the pipeline share the call contract (``_call``), never each other;
* no module imports another package's private (``_``) modules;
* per-call state is never kept in a ContextVar.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lensmor_async"
IO_LIBRARIES = frozenset({"aiohttp", "anyio", "asyncio", "socket", "sqlite3", "redis", "httpx"})
IMPURE = frozenset({"time", "datetime", "contextvars", "random", "uuid", "os", "logging"})


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[str]:
    """Every absolute module (and ``module.name``) a file imports."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _sources(under: str = "") -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("_core"), ids=lambda p: p.name)
def test_core_modules_do_no_io(path: Path) -> None:
    io = {name for name in _imports(path) if name.split(".")[0] in IO_LIBRARIES}
    assert not io, f"{path.name} imports {sorted(io)}"


def test_the_spend_decision_reads_no_clock_contextvar_or_randomness() -> None:
    path = PACKAGE / "_core" / "spend.py"
    impure = {name for name in _imports(path) if name.split(".")[0] in IMPURE}
    assert not impure, f"spend.py imports {sorted(impure)}"
    own = {name for name in _imports(path) if name.startswith("lensmor_async")}
    assert not own, f"spend.py depends only on attrs and the standard library, not {own}"


@pytest.mark.parametrize("path", _sources("guard"), ids=lambda p: p.name)
def test_the_guard_does_not_import_the_pipeline_or_the_transport(path: Path) -> None:
    banned = ("lensmor_async._pipeline", "lensmor_async.transport", "lensmor_async._client")
    found = {name for name in _imports(path) if name.startswith(banned)}
    assert not found, f"{path.name} imports {sorted(found)}; share lensmor_async._call instead"


def _private_owner(name: str) -> str | None:
    """The package owning the first private segment of ``name`` (None: nothing private)."""
    parts = name.split(".")
    for index, part in enumerate(parts[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def test_no_module_imports_another_packages_private_modules() -> None:
    offenders: list[str] = []
    for path in _sources():
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for name in _imports(path):
            owner = _private_owner(name)
            if owner is not None and package != owner and not package.startswith(owner + "."):
                offenders.append(f"{module} imports {name}")
    assert not offenders, "\n".join(sorted(set(offenders)))


def test_the_layer_check_sees_a_private_import_across_packages() -> None:
    # The checker itself: a resource importing a guard module is caught, a guard module
    # importing its own package's module or the root's shared contract is not.
    assert _private_owner("lensmor_async.guard._intent") == "lensmor_async.guard"
    assert _private_owner("lensmor_async._call.Call") == "lensmor_async"
    assert _private_owner("lensmor_async.guard.CreditGuard") is None


def test_no_module_keeps_per_call_state_in_a_contextvar() -> None:
    # Per-call state travels in explicit objects (Call, SendProbe, Purchase).
    users = [p.name for p in _sources() if any(n == "contextvars" for n in _imports(p))]
    assert not users, f"contextvars imported by {users}"
