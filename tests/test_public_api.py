"""The facades: sorted ``__all__``, every name importable, lazy names load on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import lensmor_async
import lensmor_async.errors
import lensmor_async.guard

FACADES = [
    "lensmor_async",
    "lensmor_async.guard",
    "lensmor_async.transport",
    "lensmor_async.errors",
    "lensmor_async.otel",
    "lensmor_async.sync",
]


@pytest.mark.parametrize("name", FACADES)
def test_all_is_sorted_and_unique(name: str) -> None:
    module = importlib.import_module(name)
    assert list(module.__all__) == sorted(set(module.__all__))


@pytest.mark.parametrize("name", FACADES)
def test_every_exported_name_resolves(name: str) -> None:
    module = importlib.import_module(name)
    missing = [attr for attr in module.__all__ if getattr(module, attr, None) is None]
    assert missing == []


def test_every_public_exception_is_reexported_by_the_package() -> None:
    errors = {n for n in lensmor_async.errors.__all__ if n.endswith("Error")}
    assert errors <= set(lensmor_async.__all__)


def test_every_exception_derives_from_the_one_root() -> None:
    for name in lensmor_async.errors.__all__:
        value = getattr(lensmor_async.errors, name)
        if isinstance(value, type):
            assert issubclass(value, lensmor_async.LensmorError), name


def test_unknown_attributes_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute"):
        _ = lensmor_async.DoesNotExist  # type: ignore[attr-defined]


def test_importing_the_package_does_not_load_models_backends_or_the_bulk_runner() -> None:
    # A fresh interpreter: this test process has loaded everything already.
    code = (
        "import sys, lensmor_async; "
        "heavy = [m for m in ('lensmor_async.models', 'lensmor_async.bulk', "
        "'lensmor_async.guard._ledger_sqlite', 'lensmor_async.guard._ledger_redis', "
        "'lensmor_async.guard._journal_sqlite', 'sqlite3') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    assert _printed_by_fresh_interpreter(code) == ""


def _printed_by_fresh_interpreter(code: str) -> str:
    """What ``code`` prints when run in a fresh interpreter (this one has loaded everything)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_lazy_names_load_on_first_use() -> None:
    assert lensmor_async.SqliteLedger is lensmor_async.guard.SqliteLedger
    assert lensmor_async.run_bulk.__module__.startswith("lensmor_async.bulk")
    assert lensmor_async.Page.__name__ == "Page"


def test_a_client_checking_the_balance_loads_no_guard_no_other_models_and_no_cattrs() -> None:
    # The first call of a CLI run or a serverless handler pays for what it imports: a
    # balance needs the credit models and the converter, not the guard, pages or the catalogue.
    code = (
        "import sys, asyncio, lensmor_async\n"
        "from lensmor_async.models.converter import structure\n"
        "async def main():\n"
        "    client = lensmor_async.AsyncLensmor('k' * 16, base_url='http://127.0.0.1:9')\n"
        "    credits = client.credits\n"
        "    structure({'totalAmount': 1, 'totalBalance': 1, 'subscriptionAmount': 0,\n"
        "               'subscriptionBalance': 0, 'giftAmount': 1, 'giftBalance': 1},\n"
        "              sys.modules['lensmor_async.models.credits'].CreditBalance)\n"
        "    await client.aclose()\n"
        "asyncio.run(main())\n"
        "heavy = [m for m in ('lensmor_async.guard', 'lensmor_async.models.events',\n"
        "    'lensmor_async.models.personnel', 'lensmor_async.models.pagination',\n"
        "    'lensmor_async.resources.events', 'cattrs')\n"
        "    if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    assert _printed_by_fresh_interpreter(code) == ""


def test_the_default_guard_is_built_on_first_use_and_shared_with_option_copies() -> None:
    client = lensmor_async.AsyncLensmor("k" * 16, base_url="http://127.0.0.1:9")
    copy = client.with_options(timeout=5.0)
    guard = client.guard
    assert isinstance(guard, lensmor_async.CreditGuard)
    assert copy.guard is guard


@pytest.mark.parametrize(
    "package", ["lensmor_async", "lensmor_async.models", "lensmor_async.resources"]
)
def test_dir_of_a_fresh_facade_lists_every_public_name_before_it_loads(package: str) -> None:
    # In a fresh interpreter nothing lazy has loaded yet: dir() (tab completion,
    # help()) must still show every name of __all__.
    code = f"import {package} as p; print(sorted(set(p.__all__) - set(dir(p))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
