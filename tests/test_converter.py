"""The converter: the generated fast path agrees with the validating slow path, invalid
data becomes ``ResponseValidationError`` with an exact JSON path, and nothing else ever
escapes ``structure``/``structure_page``."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lensmor_async.models as models
from lensmor_async.errors import ResponseValidationError
from lensmor_async.models import (
    AccessSemantics,
    CreditBalance,
    Event,
    EventDetailResponse,
    EventRanking,
    EventUnlockResult,
    Exhibitor,
    ExhibitorProfile,
    Outreach,
    Page,
    Person,
    PrecheckResult,
    RecommendedEvent,
    RecommendedEventPage,
    RecommendedExhibitor,
    UnlockSubmission,
    UnlockTask,
    UnlockTaskItem,
)
from lensmor_async.models.converter import (
    _fast_fn,
    _page_class,
    _Shapes,
    _spec,
    _structure_slow,
    structure,
    structure_page,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

ids = st.text(max_size=8) | st.integers(min_value=0, max_value=10**12)
opt_text = st.none() | st.text(max_size=16)
digit_ms = st.integers(min_value=0, max_value=2**53).map(str)
linkedin_activity = st.fixed_dictionaries(
    {},
    optional={
        "activityLevel": st.sampled_from(["ACTIVE", "WARM", "DORMANT", "", "NEW"]),
        "isActive": st.booleans() | st.none(),
        "latestPostAt": st.none() | digit_ms | st.integers(min_value=0, max_value=2**53),
    },
)
people = st.fixed_dictionaries(
    {
        "id": ids,
        "contactUnlockStatus": st.sampled_from(["locked", "unlocking", "unlocked", "failed", "x"]),
    },
    optional={
        "fullName": opt_text,
        "title": opt_text,
        "department": opt_text,
        "seniorityLevel": opt_text,
        "linkedinUrl": opt_text,
        "companyName": opt_text,
        "sourceType": st.none()
        | st.sampled_from(["exhibitor", "social"])
        | st.lists(st.sampled_from(["exhibitor", "social", "visitors", "other"]), max_size=3),
        "email": opt_text,
        "phone": opt_text,
        "phoneUnlockStatus": st.none() | st.sampled_from(["ready", "processing", "failed"]),
        "linkedinActivity": st.none() | linkedin_activity,
        "linkedinActivityStatus": st.none() | st.sampled_from(["ready", "processing"]),
        "eventCount": st.none() | st.integers(min_value=0, max_value=10**6),
        "outreachMessageStatus": opt_text,
        "outreachMessageChannels": st.lists(st.sampled_from(["email", "linkedin_message"])),
        "futureField": json_values,
    },
)
semantics = st.fixed_dictionaries(
    {},
    optional={
        "accessMode": st.sampled_from(["preview", "full", "other"]),
        "previewLimit": st.none() | st.integers(0, 100),
        "counts": st.fixed_dictionaries(
            {}, optional={"actualTotal": st.integers(0, 999), "visibleTotal": st.integers(0, 50)}
        ),
        "pageState": st.fixed_dictionaries(
            {},
            optional={
                "requestedPage": st.integers(1, 9),
                "accessible": st.booleans(),
                "maxAccessiblePage": st.integers(0, 9),
            },
        ),
        "unlock": st.fixed_dictionaries(
            {}, optional={"actionType": opt_text, "credits": st.none() | st.integers(0, 5000)}
        ),
        "guidance": st.fixed_dictionaries({}, optional={"code": st.text(), "message": st.text()}),
    },
)


def person_pages(items: st.SearchStrategy[dict[str, Any]] = people) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {
            "items": st.lists(items, max_size=5),
            "total": st.integers(0, 10**6),
            "page": st.integers(1, 100),
            "pageSize": st.integers(1, 100),
            "totalPages": st.integers(0, 10**4),
            "hasMore": st.booleans(),
        },
        optional={"semantics": semantics, "recommendationProcessing": st.booleans()},
    )


def _path_of(call: Any) -> str:
    with pytest.raises(ResponseValidationError) as info:
        call()
    return info.value.path


def _page(items: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "items": items,
        "total": 5,
        "page": 1,
        "pageSize": 20,
        "totalPages": 1,
        "hasMore": False,
        **extra,
    }


PERSON = {"id": "1", "fullName": "A", "contactUnlockStatus": "locked"}


# --- fast path == slow path on valid data -----------------------------------------------


@SETTINGS
@given(people)
def test_fast_and_slow_paths_build_equal_people(data: dict[str, Any]) -> None:
    fast = _fast_fn(Person)(data)
    slow = _structure_slow(data, Person)
    assert fast == slow
    assert repr(fast) == repr(slow)
    assert type(fast) is Person
    assert isinstance(fast.id, str)


@SETTINGS
@given(person_pages())
def test_fast_and_slow_paths_build_equal_pages(data: dict[str, Any]) -> None:
    fast = structure_page(data, Person)
    assert fast == _structure_slow(data, Page, Person)
    assert type(fast) is Page
    assert all(type(item) is Person for item in fast.items)


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        ({**PERSON, "sourceType": "social", "x": 1}, Person),
        ({"status": "success", "skipped_personnel_ids": [1, "2"]}, UnlockSubmission),
        (
            {
                "success": True,
                "alreadyUnlocked": False,
                "creditsUsed": 2000.0,
                "balanceAfter": 5.0,
                "event": {"id": 1, "eventId": 1},
            },
            EventUnlockResult,
        ),
        (
            {"id": 1, "isRecommended": True, "reason": None, "matchReason": "legacy"},
            RecommendedExhibitor,
        ),
        ({"id": 1, "companyName": "A", "matchReason": "legacy", "new": 1}, RecommendedExhibitor),
        (
            {
                "found": True,
                "channels": [],
                "messages": {"linkedin": {"inmail": {"subject": "s"}}},
                "sources": [{"a": 1}],
                "create_time": "17",
            },
            Outreach,
        ),
    ],
)
def test_fast_and_slow_paths_agree_on_coercions(data: dict[str, Any], cls: type[Any]) -> None:
    assert _fast_fn(cls)(data) == _structure_slow(data, cls) == structure(data, cls)


def test_alias_fallback_is_the_same_in_both_fast_branches() -> None:
    every_key = {f.wire: None for f in _spec(RecommendedExhibitor)}
    complete = {**every_key, "id": "1", "matchReason": "legacy"}
    partial = {"id": "1", "matchReason": "legacy"}
    assert structure(complete, RecommendedExhibitor).reason == "legacy"
    assert structure(partial, RecommendedExhibitor).reason == "legacy"
    assert _fast_fn(RecommendedExhibitor)(complete) == _structure_slow(
        complete, RecommendedExhibitor
    )


def test_unknown_keys_are_found_when_every_known_key_is_present() -> None:
    every_key: dict[str, Any] = {f.wire: None for f in _spec(Person)}
    every_key.update(id="1", contactUnlockStatus="locked")
    decode = _fast_fn(Person)
    first = decode({**every_key, "newA": 1})
    second = decode({**every_key, "newA": 2})  # same unknown key set: remembered
    third = decode({**every_key, "newB": 3, "newC": 4})  # a different set
    assert (first.extra, second.extra, third.extra) == (
        {"newA": 1},
        {"newA": 2},
        {"newB": 3, "newC": 4},
    )
    assert decode(every_key).extra == {}


def test_many_key_sets_decode_like_the_slow_path_past_the_compile_cap() -> None:
    optional = [f.wire for f in _spec(Person) if not f.required]
    decode = _fast_fn(Person)
    shapes = [
        {**PERSON, **dict.fromkeys(optional[:size]), **{f"new{n}": n for n in range(extra)}}
        for size in range(len(optional) + 1)
        for extra in (0, 1, 2)
    ]
    assert len(shapes) > _Shapes.MAX_COMPILED
    for _ in range(2):  # the second round meets learned shapes (and the cap)
        for data in shapes:
            assert decode(data) == _structure_slow(data, Person)


def test_same_length_shapes_replace_each_other_without_wrong_results() -> None:
    decode = _fast_fn(UnlockTaskItem)
    email = {"personnelId": "1", "status": "unlocked", "email": "a@example.com"}
    failed = {"personnelId": "2", "status": "failed", "errorCode": "TASK_FAILED"}
    for _ in range(3):
        assert decode(email).email == "a@example.com"
        assert decode(failed) == UnlockTaskItem(
            personnel_id="2", status="failed", error_code="TASK_FAILED"
        )


def test_unknown_key_names_are_data_never_code() -> None:
    hostile = "'); raise SystemExit('x"
    data = {**PERSON, hostile: 1, "a\nb": 2, "__class__": 3}
    for _ in range(2):  # learn the shape, then use it
        person = structure(data, Person)
        assert dict(person.extra) == {hostile: 1, "a\nb": 2, "__class__": 3}
        assert type(person) is Person


def test_structure_page_returns_the_typed_page_subclass() -> None:
    data = _page([], status="completed", is_stale=True)
    page = structure_page(data, RecommendedEvent)
    assert type(page) is RecommendedEventPage
    assert page.is_stale is True
    assert structure(data, RecommendedEventPage) == page


def test_structure_accepts_a_parametrised_page() -> None:
    data = _page([PERSON])
    assert structure(data, Page[Person]) == structure_page(data, Person)


def test_page_class_defaults_to_the_generic_page() -> None:
    assert _page_class(Person) is Page
    assert _page_class(RecommendedEvent) is RecommendedEventPage


@pytest.mark.parametrize("cls", [c for c in vars(models).values() if attrs.has(c)])
def test_every_model_field_has_a_decoding_kind_from_its_type(cls: type[Any]) -> None:
    item_cls = Person if issubclass(cls, Page) else None
    kinds = {field.attr: field.kind for field in _spec(cls, item_cls)}
    assert "any" not in kinds.values(), kinds


# --- invalid data: exact paths ---------------------------------------------------------------


def test_bad_id_deep_in_a_page_names_its_index() -> None:
    items: list[dict[str, Any]] = [dict(PERSON, id=str(i)) for i in range(5)]
    items[3]["id"] = {"not": "an id"}
    assert _path_of(lambda: structure_page(_page(items), Person)) == "$.items[3].id"


def test_missing_required_field_names_the_wire_key() -> None:
    items = [PERSON, {"id": "2", "fullName": "B"}]
    path = _path_of(lambda: structure_page(_page(items), Person))
    assert path == "$.items[1].contactUnlockStatus"


@pytest.mark.parametrize(
    ("semantics", "path"),
    [
        ({"counts": {"actualTotal": "many"}}, "$.semantics.counts.actualTotal"),
        ({"counts": {"actualTotal": 1.5}}, "$.semantics.counts.actualTotal"),
        ({"pageState": {"accessible": "yes"}}, "$.semantics.pageState.accessible"),
        ({"unlock": {"credits": True}}, "$.semantics.unlock.credits"),
        ({"guidance": []}, "$.semantics.guidance"),
        ("preview", "$.semantics"),
    ],
)
def test_bad_semantics_values_name_their_path(semantics: Any, path: str) -> None:
    assert _path_of(lambda: structure_page(_page([], semantics=semantics), Person)) == path


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], "$"),
        ("text", "$"),
        (
            {"items": {}, "total": 1, "page": 1, "pageSize": 1, "totalPages": 1, "hasMore": True},
            "$.items",
        ),
        ({**_page([]), "hasMore": "false"}, "$.hasMore"),
        ({**_page([]), "total": None}, "$.total"),
        (_page(["not an object"]), "$.items[0]"),
        (_page([{**PERSON, "sourceType": 5}]), "$.items[0].sourceType"),
        (
            _page([{**PERSON, "linkedinActivity": {"latestPostAt": "soon"}}]),
            "$.items[0].linkedinActivity.latestPostAt",
        ),
        (
            _page([{**PERSON, "linkedinActivity": {"isActive": 1}}]),
            "$.items[0].linkedinActivity.isActive",
        ),
        (
            _page([{**PERSON, "outreachMessageChannels": "email"}]),
            "$.items[0].outreachMessageChannels",
        ),
    ],
)
def test_bad_person_pages_name_their_path(data: Any, path: str) -> None:
    assert _path_of(lambda: structure_page(data, Person)) == path


@pytest.mark.parametrize(
    ("data", "cls", "path"),
    [
        (
            {
                "totalAmount": 1,
                "totalBalance": 0.5,
                "subscriptionAmount": 1,
                "subscriptionBalance": 1,
                "giftAmount": 0,
                "giftBalance": 0,
                "resetAt": None,
            },
            CreditBalance,
            "$.totalBalance",
        ),
        (
            {
                "success": True,
                "alreadyUnlocked": False,
                "creditsUsed": 2000,
                "balanceAfter": "lots",
                "event": {"id": "1", "eventId": "1"},
            },
            EventUnlockResult,
            "$.balanceAfter",
        ),
        (
            {
                "success": True,
                "alreadyUnlocked": False,
                "creditsUsed": 2000,
                "balanceAfter": {"totalBalance": "x"},
                "event": {"id": "1", "eventId": "1"},
            },
            EventUnlockResult,
            "$.balanceAfter.totalBalance",
        ),
        (
            {"success": True, "alreadyUnlocked": False, "creditsUsed": 2000, "event": {"id": "1"}},
            EventUnlockResult,
            "$.event.eventId",
        ),
        (
            {
                "ok": True,
                "action_type": "a",
                "allowed": True,
                "should_charge": False,
                "credits": 0,
                "reason_code": "ok",
                "biz_code": "",
                "detail": {"personnel_ids": ["1", "2", None]},
            },
            PrecheckResult,
            "$.detail.personnel_ids[2]",
        ),
        ({"taskId": "1", "taskStatus": "pending", "items": None}, UnlockTask, "$.items"),
        (
            {"event": {"id": "1", "eventId": "1", "categories": [{}, 3]}},
            EventDetailResponse,
            "$.event.categories[1]",
        ),
        ({"id": "1", "matched_event_ids": [True]}, Exhibitor, "$.matched_event_ids[0]"),
        ({"id": "1", "events": [{"id": "1"}]}, ExhibitorProfile, "$.events[0].eventId"),
        ({"found": True, "channels": [], "messages": {}, "sources": [1]}, Outreach, "$.sources[0]"),
        (
            {"status": "completed", "condition_tags": [], **_page([])},
            RecommendedEventPage,
            "$.condition_tags",
        ),
    ],
)
def test_bad_values_in_other_models_name_their_path(data: Any, cls: type[Any], path: str) -> None:
    assert _path_of(lambda: structure(data, cls)) == path


def test_slow_path_checks_every_leaf_the_fast_path_trusts() -> None:
    # Leaf strings inside arrays and nullable strings are trusted by the fast path;
    # once anything sends decoding to the slow path, they are checked too.
    page = _page([{**PERSON, "sourceType": ["a", 5], "fullName": 7}])
    assert type(structure_page(page, Person)) is Page
    assert _path_of(lambda: _structure_slow(page, Page, Person)) == "$.items[0].fullName"
    page["items"][0]["fullName"] = None
    assert _path_of(lambda: _structure_slow(page, Page, Person)) == "$.items[0].sourceType[1]"


def test_required_strings_and_numbers_are_checked_on_the_fast_path() -> None:
    assert _path_of(lambda: structure({**PERSON, "contactUnlockStatus": None}, Person)) == (
        "$.contactUnlockStatus"
    )
    ranking = {"items": [{"event_id": "1", "rank": 1, "match_score": "high"}]}
    assert _path_of(lambda: structure(ranking, EventRanking)) == "$.items[0].match_score"


def test_huge_integer_id_is_a_validation_error_not_a_value_error() -> None:
    huge = 10**5000
    assert _path_of(lambda: structure({**PERSON, "id": huge}, Person)) == "$.id"
    ms = "9" * 5000
    page = _page([{**PERSON, "linkedinActivity": {"latestPostAt": ms}}])
    assert (
        _path_of(lambda: structure_page(page, Person)) == "$.items[0].linkedinActivity.latestPostAt"
    )


def test_validation_messages_name_types_never_values() -> None:
    secret = "jane.secret@example.com"
    with pytest.raises(ResponseValidationError) as info:
        structure({**PERSON, "id": [secret]}, Person)
    assert secret not in str(info.value)
    assert str(info.value) == "$.id: expected an id (string or integer), got array"


def test_fast_path_failure_is_not_chained_into_the_validation_error() -> None:
    with pytest.raises(ResponseValidationError) as info:
        structure({"id": "1"}, Person)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None


def test_a_class_the_converter_cannot_describe_still_raises_only_validation_errors() -> None:
    with pytest.raises(ResponseValidationError) as info:
        structure({"a": 1}, int)
    assert info.value.path == "$"


# --- nothing foreign escapes -----------------------------------------------------------------

MODELS = [
    Person,
    Event,
    Exhibitor,
    ExhibitorProfile,
    CreditBalance,
    EventUnlockResult,
    PrecheckResult,
    UnlockSubmission,
    UnlockTask,
    Outreach,
    AccessSemantics,
    RecommendedExhibitor,
    EventDetailResponse,
]


def _with_wire_keys(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that use the model's own wire keys, with arbitrary JSON values."""
    return st.fixed_dictionaries({}, optional={f.wire: json_values for f in _spec(cls)})


def _outcome(call: Any) -> Any:
    try:
        return call()
    except ResponseValidationError as exc:
        return exc


def _decodes_or_refuses(call: Any, expected: type[Any]) -> None:
    result = _outcome(call)
    if isinstance(result, ResponseValidationError):
        assert result.path.startswith("$")
    else:
        assert isinstance(result, expected)


@SETTINGS
@given(st.sampled_from(MODELS), st.data())
def test_arbitrary_json_gives_a_model_or_a_validation_error(
    cls: type[Any], data: st.DataObject
) -> None:
    value = data.draw(json_values | _with_wire_keys(cls))
    _decodes_or_refuses(lambda: structure(value, cls), cls)


@SETTINGS
@given(st.sampled_from([Person, Event, Exhibitor, RecommendedEvent]), st.data())
def test_arbitrary_pages_give_a_page_or_a_validation_error(
    cls: type[Any], data: st.DataObject
) -> None:
    page_keys = {"items", "total", "page", "pageSize", "totalPages", "hasMore", "semantics"}
    items = st.lists(json_values | _with_wire_keys(cls), max_size=3)
    value = data.draw(
        json_values
        | st.fixed_dictionaries(
            {}, optional={key: (items if key == "items" else json_values) for key in page_keys}
        )
    )
    _decodes_or_refuses(lambda: structure_page(value, cls), Page)


@SETTINGS
@given(person_pages(), st.data())
def test_one_corrupted_value_gives_a_model_or_a_pathful_error(
    page: dict[str, Any], data: st.DataObject
) -> None:
    if not page["items"]:
        return
    index = data.draw(st.integers(0, len(page["items"]) - 1))
    key = data.draw(st.sampled_from([f.wire for f in _spec(Person)]))
    page["items"][index][key] = data.draw(json_values)
    result = _outcome(lambda: structure_page(page, Person))
    if isinstance(result, ResponseValidationError):
        assert result.path.startswith(f"$.items[{index}].{key}")
    else:
        # The fast path trusts nullable leaf strings, so a wrong leaf type may pass.
        assert type(result) is Page
        assert attrs.has(type(result.items[index]))


def test_the_fast_path_builds_the_model_class_itself_and_it_stays_frozen() -> None:
    # Every slot is set through its descriptor on a fresh instance of the class: no twin
    # class is built and no instance is relabelled with ``__class__``.
    person = _fast_fn(Person)({"id": 7, "fullName": "Ada", "contactUnlockStatus": "locked"})
    assert type(person) is Person
    assert not [c for c in Person.__subclasses__() if c.__name__.endswith("Builder")]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        person.full_name = "Grace"  # type: ignore[misc]
    assert person == Person(id="7", full_name="Ada", contact_unlock_status="locked")


def test_a_traceback_through_generated_code_shows_its_source_line() -> None:
    fn = _fast_fn(Person)
    with pytest.raises(KeyError) as caught:
        fn({"id": "1"})
    frame = caught.traceback[-1]
    assert str(frame.path).startswith("<lensmor structure_Person")
    assert "contactUnlockStatus" in str(frame.statement)
