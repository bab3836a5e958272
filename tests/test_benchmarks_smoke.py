"""The benchmark harness end to end in its smoke size: it runs, and writes sane results.

Only structure is asserted (every ratio exists and is positive, every section is
filled); timings never are.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ledger_backends import redis_executable

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCIES = {1, 16, 128}
HAS_PYREQWEST = importlib.util.find_spec("pyreqwest") is not None
"""pyreqwest is a benchmark-only extra: the dev venv has it, the CI matrix's [test] venvs not."""
BASELINES = {"aiohttp+json", "aiohttp+orjson", "httpx"} | (
    {"pyreqwest"} if HAS_PYREQWEST else set()
)


SMOKE_SECONDS = 240.0
"""A smoke run takes well under a minute; past this bound it is hung, not slow."""


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    return run_harness(tmp_path_factory.mktemp("bench"))


def run_harness(out: Path, *args: str, path: tuple[Path, ...] = ()) -> tuple[dict[str, Any], str]:
    """Run the harness in its smoke size (with ``args``, ``path`` first on its import
    path); its JSON and Markdown."""
    markdown, data = out / "RESULTS.md", out / "results.json"
    command = [sys.executable, "-m", "benchmarks", "--smoke", *args, "--output", str(markdown)]
    command += ["--json", str(data)]
    # Its own session: on a timeout the whole group goes, the servers it started included
    # (a plain subprocess timeout kills only the harness and orphans them).
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(map(str, (*path, ROOT)))},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=SMOKE_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the benchmark smoke run took over {SMOKE_SECONDS:.0f} s (hung)")
    finally:
        stop_group(proc)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(data.read_text()), markdown.read_text()


def stop_group(proc: subprocess.Popen[str]) -> None:
    """Stop the harness and every process it started (TERM, then KILL after 10 s)."""
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break  # the group is gone: everyone has exited
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    proc.communicate()


def test_smoke_run_reports_a_positive_ratio_for_every_route_concurrency_and_baseline(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    results, _ = smoke_run
    seen = {(r["endpoint"], r["concurrency"], r["baseline"]) for r in results["ratios"]}
    expected = {
        (endpoint, conc, baseline)
        for endpoint in ("balance", "personnel")
        for conc in CONCURRENCIES
        for baseline in BASELINES
    }
    # httpx may complete nothing at C=128 in a 0.1 s smoke window; everything else must exist.
    assert expected - {("personnel", 128, "httpx"), ("balance", 128, "httpx")} <= seen
    assert all(r["median"] > 0 and r["low"] > 0 for r in results["ratios"])


def test_smoke_run_measures_every_client_without_errors(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    results, _ = smoke_run
    clients = {(s["variant"], s["endpoint"], s["concurrency"]) for s in results["throughput"]}
    assert len(clients) == (1 + len(BASELINES)) * 2 * len(CONCURRENCIES)
    assert all(s["errors"] == 0 for s in results["throughput"])
    sdk = [s for s in results["throughput"] if s["variant"] == "sdk"]
    assert all(s["rps"] > 0 for s in sdk)


def test_smoke_run_decodes_a_twenty_person_page_with_every_decoder(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    decode = smoke_run[0]["decode"]
    assert decode["items"] == 20
    assert len(decode["personnel_us"]) == 4
    assert all(us > 0 for us in decode["personnel_us"].values())


def test_smoke_bulk_runs_never_overspend_or_double_charge_per_the_server_ledger(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    bulk = smoke_run[0]["bulk"]
    assert len(bulk) == 2
    for run in bulk:
        assert run["paid"] > 0
        assert run["overspend"] == 0
        assert run["charged"] <= run["budget"]
        assert run["duplicates"] == 0
        assert run["requests_per_paid"] > 0


def test_smoke_run_reports_memory_and_import_time(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    results, _ = smoke_run
    stream = results["memory"]["stream"]
    assert stream["records"] == stream["expected"] > 0
    assert {run["variant"] for run in results["memory"]["load"]} == {"sdk", "aiohttp+json"}
    assert all(run["errors"] == 0 for run in results["memory"]["load"])
    assert set(results["imports"]["median_ms"]) == {
        "lensmor_async",
        "aiohttp+attrs+cattrs+anyio",
    }
    assert results["imports"]["ratio"] > 0


def test_smoke_markdown_lists_targets_ratios_and_the_command(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    _, markdown = smoke_run
    for heading in ("## Targets", "## Throughput ratios", "## Decode cost", "## Memory"):
        assert heading in markdown
    assert "python -m benchmarks --smoke" in markdown


def test_smoke_run_times_cold_start_of_the_sdk_the_cli_and_aiohttp_in_fresh_processes(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    cold = smoke_run[0]["coldstart"]
    assert set(cold["median_ms"]) == {"sdk", "aiohttp+json"}
    assert set(cold["wall_ms"]) == {"lensmor balance", "aiohttp+json"}
    assert all(ms > 0 for ms in (*cold["median_ms"].values(), *cold["wall_ms"].values()))
    assert cold["ratio"] > 0


def test_smoke_run_divides_the_sdk_by_the_typed_minimum_on_both_routes_at_every_concurrency(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    minimum = smoke_run[0]["minimum"]
    seen = {(r["endpoint"], r["concurrency"], r["baseline"]) for r in minimum["ratios"]}
    expected = {
        (endpoint, conc, "typed-minimum")
        for endpoint in ("balance", "personnel")
        for conc in CONCURRENCIES
    }
    assert seen == expected
    assert all(s["errors"] == 0 and s["rps"] > 0 for s in minimum["throughput"])


def test_smoke_run_measures_every_page_size_for_the_sdk_and_raw_aiohttp(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    pages = smoke_run[0]["pages"]
    assert set(pages) == {"1", "20", "50", "100", "500"}
    for by_client in pages.values():
        assert set(by_client) == {"sdk", "aiohttp+orjson", "aiohttp+json"}
        assert all(values["best_us"] > 0 for values in by_client.values())


def test_smoke_markdown_has_the_reference_sections_and_their_targets(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    _, markdown = smoke_run
    for heading in ("## Cold start", "## Against the typed minimum", "## Page size growth"):
        assert heading in markdown
    assert "cold start to first typed result ≤ 1.2× aiohttp+json" in markdown
    assert "SDK ≥ 0.9× the typed minimum" in markdown
    assert "500-item page: SDK ≥ 1.0× aiohttp+orjson" in markdown


PYREQWEST_TARGETS = [
    f"{route} C={conc}: SDK ahead of pyreqwest (≥ 1.0×)"
    for route in ("balance", "personnel.list")
    for conc in (16, 128)
]


@pytest.mark.skipif(not HAS_PYREQWEST, reason="pyreqwest (the bench extra) is not installed")
def test_smoke_run_judges_the_sdk_against_pyreqwest_on_both_routes_by_speed_and_cpu(
    smoke_run: tuple[dict[str, Any], str],
) -> None:
    results, markdown = smoke_run
    pyreqwest = [s for s in results["throughput"] if s["variant"] == "pyreqwest"]
    assert {(s["endpoint"], s["concurrency"]) for s in pyreqwest} == {
        (endpoint, conc) for endpoint in ("balance", "personnel") for conc in CONCURRENCIES
    }
    assert all(s["errors"] == 0 and s["rps"] > 0 for s in pyreqwest)
    targets = {t["target"]: t for t in results["targets"]}
    for label in PYREQWEST_TARGETS:
        assert targets[label]["met"] is not None
        assert targets[label]["cpu_met"] is not None
        assert label in markdown
    assert results["skipped"] == {}


def test_smoke_run_without_pyreqwest_leaves_it_out_and_says_why(tmp_path: Path) -> None:
    # A package that fails to import shadows the installed one: the harness must still
    # run every other client and say, in its report, why pyreqwest was not measured.
    shadow = tmp_path / "shadow" / "pyreqwest"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("hidden by the smoke test")\n')
    results, markdown = run_harness(tmp_path, "--only", "throughput", path=(shadow.parent,))
    assert (
        "pyreqwest is not importable (hidden by the smoke test)" in results["skipped"]["pyreqwest"]
    )
    assert {s["variant"] for s in results["throughput"]} == {
        "sdk",
        "aiohttp+json",
        "aiohttp+orjson",
        "httpx",
    }
    targets = {t["target"]: t for t in results["targets"]}
    for label in PYREQWEST_TARGETS:
        assert targets[label]["met"] is None
        assert targets[label]["measured"].startswith("not measured: pyreqwest is not importable")
    assert "*pyreqwest* not measured: pyreqwest is not importable" in markdown


@pytest.fixture(scope="module")
def goodput_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    return run_harness(tmp_path_factory.mktemp("goodput"), "--only", "goodput")


def test_smoke_goodput_runs_every_client_against_both_limiters_and_judges_it(
    goodput_run: tuple[dict[str, Any], str],
) -> None:
    redis_executable()  # the +redis variant needs one (the harness skips it without)
    results, markdown = goodput_run
    runs = results["goodput"]
    seen = {(run["policy"], run["variant"]) for run in runs}
    clients = {"sdk", "aiohttp retry", "sdk ×2", "sdk ×2 +redis"}
    assert seen == {(policy, client) for policy in ("fixed", "bucket") for client in clients}
    for run in runs:
        # Every call of the job completed (or failed visibly), and the server saw them all.
        assert run["calls"] + run["errors"] >= 100
        assert sum(run["arrivals_per_second"]) >= run["calls"]
        assert run["ratio"] > 0
    goodput_targets = [t for t in results["targets"] if t["target"].startswith("goodput")]
    assert len(goodput_targets) == 6  # every SDK variant against both limits
    assert "## Goodput at a rate limit" in markdown
