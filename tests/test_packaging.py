"""The floors CI tests are the floors pyproject.toml declares, on every Python we claim."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
CONSTRAINTS = sorted((ROOT / "constraints").glob("floors-py*.txt"))


def _runtime_requirements() -> list[Requirement]:
    project = PYPROJECT["project"]
    names = [*project["dependencies"], *project["optional-dependencies"]["redis"]]
    return [Requirement(text) for text in names]


def _pins(path: Path) -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        pin = line.split("#")[0].strip()
        if pin:
            name, version = pin.split("==")
            pins[name.strip()] = Version(version)
    return pins


def _floor(requirement: Requirement) -> Version:
    (floor,) = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    return floor


def _python_of(path: Path) -> str:
    match = re.fullmatch(r"floors-py(\d+\.\d+)\.txt", path.name)
    assert match is not None, path.name
    return match[1]


def test_there_are_floors_for_the_oldest_and_the_newest_python_we_claim() -> None:
    claimed = [
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert {_python_of(path) for path in CONSTRAINTS} == {claimed[0], claimed[-1]}


@pytest.mark.parametrize("path", CONSTRAINTS, ids=lambda p: p.name)
def test_every_runtime_dependency_is_pinned_at_its_declared_floor(path: Path) -> None:
    environment = {"python_version": _python_of(path)}
    declared = {
        req.name: _floor(req)
        for req in _runtime_requirements()
        if req.marker is None or req.marker.evaluate(environment)
    }
    assert _pins(path) == declared
