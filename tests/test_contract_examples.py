"""Every documented 2xx response decodes into our models.

Two sources per OpenAPI file (``openapi-0.27.0.json`` and ``openapi-older.json``, the
1.0.0 spec that predates 0.21):

* every response ``example`` / ``examples`` entry of a 2xx response;
* two bodies synthesised from each 2xx response schema: one with only the required
  keys and one with every documented key, arrays holding one such item (the older spec
  has no examples at all, so this is how its shapes — e.g. ``balanceAfter`` as a bare
  number — are checked).

Each decode must succeed on the fast path alone and agree with the validating slow path.

Deliberately not modelled (and therefore not decoded here):

* 2xx bodies that are error envelopes (``errorKey``): ``USER_HAS_NO_FEATURE`` on
  visitors/full-access unlock and by-name, ``USER_CONCURRENCY_LIMIT_EXCEEDED`` on
  search-events and by-name. The pipeline turns them into ``FeatureNotAvailableError`` and
  ``ConcurrencyLimitError`` (``tests/test_business_envelopes.py`` checks every such example).
* The agent-file routes (``/external/agent-files/*``): absent from both specs, their
  status in the 0.22 contract is unclear and the SDK does not expose them.

A route added to a spec without an entry in ``DECODERS`` fails
``test_every_documented_success_response_has_a_decoder``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lensmor_async.models import (
    BalanceAfter,
    CreditBalance,
    Event,
    EventBrief,
    EventDetailResponse,
    EventRanking,
    EventUnlockResult,
    Exhibitor,
    ExhibitorEventMatch,
    ExhibitorProfile,
    FitScore,
    FullAccessUnlockResult,
    LinkedinActivityUnlockResult,
    Outreach,
    OutreachGenerationResult,
    Page,
    Person,
    PersonEvents,
    PrecheckResult,
    RecommendedEvent,
    RecommendedExhibitor,
    UnlockSubmission,
    UnlockTask,
    VisitorUnlockResult,
)
from lensmor_async.models.converter import (
    _fast_fn,
    _page_class,
    _structure_slow,
    structure,
    structure_page,
)

API_DIR = Path(__file__).resolve().parents[2] / "shared" / "api"
SPEC_FILES = ("openapi-0.27.0.json", "openapi-older.json")

if not all((API_DIR / name).is_file() for name in SPEC_FILES):
    pytest.skip(f"API specs not found in {API_DIR}", allow_module_level=True)


class _Model:
    """Decode as one model class."""

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls

    def decode(self, data: Any) -> Any:
        return structure(data, self.cls)

    def fast(self, data: Any) -> Any:
        return _fast_fn(self.cls)(data)

    def slow(self, data: Any) -> Any:
        return _structure_slow(data, self.cls)

    def __repr__(self) -> str:
        return self.cls.__name__


class _PageOf(_Model):
    """Decode as a page of one item class."""

    def decode(self, data: Any) -> Any:
        return structure_page(data, self.cls)

    def fast(self, data: Any) -> Any:
        return _fast_fn(_page_class(self.cls), self.cls)(data)

    def slow(self, data: Any) -> Any:
        return _structure_slow(data, _page_class(self.cls), self.cls)

    def __repr__(self) -> str:
        return f"Page[{self.cls.__name__}]"


# (method, path, status) → decoder; None: the status only ever carries an error envelope.
DECODERS: dict[tuple[str, str, str], _Model | None] = {
    ("GET", "/external/credits/balance", "200"): _Model(CreditBalance),
    ("POST", "/external/actions/precheck", "200"): _Model(PrecheckResult),
    ("GET", "/external/events/list", "200"): _PageOf(Event),
    ("GET", "/external/events/{id}", "200"): _Model(EventDetailResponse),
    ("GET", "/external/events/brief", "200"): _Model(EventBrief),
    ("POST", "/external/events/fit-score", "201"): _Model(FitScore),
    ("POST", "/external/events/rank", "201"): _Model(EventRanking),
    ("POST", "/external/events/{id}/unlock", "201"): _Model(EventUnlockResult),
    ("POST", "/external/events/{id}/visitors/unlock", "200"): None,
    ("POST", "/external/events/{id}/visitors/unlock", "201"): _Model(VisitorUnlockResult),
    ("POST", "/external/events/{id}/full-access/unlock", "200"): None,
    ("POST", "/external/events/{id}/full-access/unlock", "201"): _Model(FullAccessUnlockResult),
    ("GET", "/external/exhibitors/list", "200"): _PageOf(Exhibitor),
    ("POST", "/external/exhibitors/search", "201"): _PageOf(Exhibitor),
    ("POST", "/external/exhibitors/search-by-company-name", "201"): _PageOf(Exhibitor),
    ("POST", "/external/exhibitors/search-events", "200"): None,
    ("POST", "/external/exhibitors/search-events", "201"): _PageOf(ExhibitorEventMatch),
    ("GET", "/external/exhibitors/profile", "200"): _Model(ExhibitorProfile),
    ("GET", "/external/exhibitors/events", "200"): _PageOf(Event),
    ("GET", "/external/personnel/list", "200"): _PageOf(Person),
    ("GET", "/external/personnel/profile", "200"): _Model(Person),
    ("GET", "/external/personnel/events", "200"): _PageOf(Event),
    ("GET", "/external/personnel/events/by-linkedin", "200"): _Model(PersonEvents),
    ("GET", "/external/personnel/events/by-name", "200"): _PageOf(Event),
    ("POST", "/external/personnel/unlock-linkedin-activity", "201"): _Model(
        LinkedinActivityUnlockResult
    ),
    ("POST", "/external/personnel/generate-outreach-message", "201"): _Model(
        OutreachGenerationResult
    ),
    ("GET", "/external/personnel/outreach", "200"): _Model(Outreach),
    ("GET", "/external/contacts/search", "200"): _PageOf(Person),
    ("POST", "/external/contacts/unlock", "201"): _Model(UnlockSubmission),
    ("GET", "/external/contacts/unlock-tasks/{taskId}", "200"): _Model(UnlockTask),
    ("POST", "/external/contacts/unlock-phone", "201"): _Model(UnlockSubmission),
    ("GET", "/external/contacts/unlock-phone-tasks/{taskId}", "200"): _Model(UnlockTask),
    (
        "POST",
        "/external/profile-matching/actions/apply-recommended-events/paged",
        "201",
    ): _PageOf(RecommendedEvent),
    ("POST", "/external/profile-matching/recommendations/events/paged", "201"): _PageOf(
        RecommendedEvent
    ),
    ("GET", "/external/profile-matching/recommendations/exhibitors", "200"): _PageOf(
        RecommendedExhibitor
    ),
}


# Routes whose documented 2xx answer may be an error envelope (0.24+/0.27).
ENVELOPE_ROUTES = {key for key, decoder in DECODERS.items() if decoder is None} | {
    ("GET", "/external/personnel/events/by-name", "200"),
}


# --- reading the specs -------------------------------------------------------------------


def _load(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((API_DIR / name).read_text(encoding="utf-8"))
    return spec


SPECS = {name: _load(name) for name in SPEC_FILES}


def _deref(spec: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _success_responses(spec: dict[str, Any]) -> Iterator[tuple[tuple[str, str, str], Any]]:
    """((METHOD, path, status), media object) for every 2xx JSON response."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    continue
                media = _deref(spec, response).get("content", {}).get("application/json")
                if media is not None:
                    yield (method.upper(), path, status), media


def _flatten(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    """Merge ``allOf`` parts and the first non-null ``oneOf``/``anyOf`` branch into one schema."""
    schema = _deref(spec, schema)
    merged = {k: v for k, v in schema.items() if k not in ("allOf", "oneOf", "anyOf")}
    parts = list(schema.get("allOf", []))
    branches = [b for b in schema.get("oneOf", schema.get("anyOf", [])) if _non_null(spec, b)]
    parts.extend(branches[:1])
    for part in parts:
        flat = _flatten(spec, part)
        merged["properties"] = {**merged.get("properties", {}), **flat.get("properties", {})}
        merged["required"] = [*merged.get("required", []), *flat.get("required", [])]
        for key, value in flat.items():
            merged.setdefault(key, value)
    return merged


def _non_null(spec: dict[str, Any], schema: Any) -> bool:
    return bool(_deref(spec, schema).get("type") != "null")


def _synthesise(spec: dict[str, Any], schema: Any, *, full: bool) -> Any:
    """A body that satisfies ``schema``: required keys only, or every documented key."""
    schema = _flatten(spec, schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next(value for value in schema["enum"] if value is not None)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        keys = properties if full else schema.get("required", [])
        return {
            key: _synthesise(spec, properties[key], full=full) for key in keys if key in properties
        }
    if kind == "array":
        return [_synthesise(spec, schema.get("items", {}), full=full)]
    scalars: dict[str | None, Callable[[], Any]] = {
        "string": lambda: "2026-01-12" if schema.get("format") == "date" else "123",
        "integer": lambda: 7,
        # A whole float: credit fields typed ``number`` must still decode to int.
        "number": lambda: 2.0,
        "boolean": lambda: True,
    }
    return scalars.get(kind, lambda: None)()


def _cases() -> Iterator[Any]:
    for spec in SPECS.values():
        version = spec["info"]["version"]
        for key, media in _success_responses(spec):
            label = f"{version} {' '.join(key)}"
            if "example" in media:
                yield pytest.param(key, media["example"], id=f"{label} example")
            for example_name, example in media.get("examples", {}).items():
                yield pytest.param(key, example["value"], id=f"{label} examples.{example_name}")
            for full in (False, True):
                body = _synthesise(spec, media["schema"], full=full)
                kind = "full" if full else "minimal"
                yield pytest.param(key, body, id=f"{label} synthesised-{kind}")


CASES = list(_cases())


# --- tests ---------------------------------------------------------------------------------


def test_both_specs_contribute_cases() -> None:
    labels = [case.id for case in CASES]
    assert any(label.startswith("0.27.0") and "example" in label for label in labels)
    assert any(label.startswith("1.0.0") for label in labels)


def test_every_documented_success_response_has_a_decoder() -> None:
    documented = {key for spec in SPECS.values() for key, _ in _success_responses(spec)}
    assert documented - DECODERS.keys() == set()


@pytest.mark.parametrize(("key", "body"), CASES)
def test_documented_response_decodes(key: tuple[str, str, str], body: Any) -> None:
    decoder = DECODERS[key]
    if "errorKey" in body:
        # An HTTP-2xx business error: the pipeline raises it, no model decodes it.
        assert key in ENVELOPE_ROUTES
        return
    assert decoder is not None, "a success body on a route documented as error-only"
    fast = decoder.fast(body)  # must not need the slow path
    assert fast == decoder.slow(body)
    result = decoder.decode(body)
    assert result == fast
    expected = Page if isinstance(decoder, _PageOf) else decoder.cls
    assert isinstance(result, expected)


def test_recommendation_examples_keep_page_level_status_typed() -> None:
    example = SPECS["openapi-0.27.0.json"]["paths"][
        "/external/profile-matching/actions/apply-recommended-events/paged"
    ]["post"]["responses"]["201"]["content"]["application/json"]["example"]
    page = structure_page(example, RecommendedEvent)
    assert getattr(page, "status", None) == "completed"
    assert page.items[0].match_score == 0.84


def test_older_spec_number_balance_after_decodes_to_total_balance() -> None:
    spec = SPECS["openapi-older.json"]
    media = next(m for k, m in _success_responses(spec) if k[1] == "/external/events/{id}/unlock")
    result = structure(_synthesise(spec, media["schema"], full=False), EventUnlockResult)
    assert isinstance(result.balance_after, BalanceAfter)
    assert result.balance_after.total_balance == 2
