"""Intents: canonical, hashable descriptions of paid calls."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async._intent import Intent

KEY = "sk_live_0123456789abcdef"


def test_equal_intents_have_equal_keys() -> None:
    a = Intent("contacts.unlock", ("1", "2"), event_id="9", params=(("kind", "email"),))
    b = Intent("contacts.unlock", ("1", "2"), event_id="9", params=(("kind", "email"),))
    assert a == b
    assert hash(a) == hash(b)
    assert a.key == b.key


def test_key_is_a_short_hex_digest() -> None:
    key = Intent("events.unlock", ("9",)).key
    assert len(key) == 32
    int(key, 16)


def test_key_is_stable_across_processes() -> None:
    # Pinned value: the journal matches intents from many processes by this key.
    # sha256 of the canonical JSON ["events.unlock",null,["9"],[]], first 32 hex digits.
    assert Intent("events.unlock", ("9",)).key == "a4b271a1389d1fb40bbfdaabd167c12b"


@pytest.mark.parametrize(
    "other",
    [
        Intent("contacts.unlock_phone", ("1", "2"), event_id="9"),
        Intent("contacts.unlock", ("1", "3"), event_id="9"),
        Intent("contacts.unlock", ("1",), event_id="9"),
        Intent("contacts.unlock", ("1", "2"), event_id="8"),
        Intent("contacts.unlock", ("1", "2"), event_id=None),
        Intent("contacts.unlock", ("1", "2"), event_id="9", params=(("x", "y"),)),
    ],
)
def test_any_difference_changes_the_key(other: Intent) -> None:
    base = Intent("contacts.unlock", ("1", "2"), event_id="9")
    assert base.key != other.key


def test_target_order_matters_so_callers_must_sort() -> None:
    # Resources pass sorted, unique targets; the intent itself does not reorder them.
    assert Intent("contacts.unlock", ("1", "2")).key != Intent("contacts.unlock", ("2", "1")).key


def test_targets_cannot_be_confused_with_params() -> None:
    a = Intent("x.y", ("a", "b"))
    b = Intent("x.y", ("a",), params=(("b", ""),))
    assert a.key != b.key


def test_none_and_empty_event_ids_differ() -> None:
    assert Intent("x.y", ("1",), event_id=None).key != Intent("x.y", ("1",), event_id="").key


def test_intents_are_frozen() -> None:
    intent = Intent("events.unlock", ("9",))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        intent.operation = "other"  # type: ignore[misc]


@given(
    st.text(max_size=30),
    st.lists(st.text(max_size=10), max_size=5).map(tuple),
    st.none() | st.text(max_size=10),
)
def test_key_is_always_32_hex_digits(op: str, targets: tuple[str, ...], event: str | None) -> None:
    key = Intent(op, targets, event_id=event).key
    assert len(key) == 32
    assert set(key) <= set("0123456789abcdef")


def test_describe_lists_up_to_three_targets() -> None:
    assert Intent("contacts.unlock", ("1", "2", "3"), event_id="9").describe() == (
        "contacts.unlock [1, 2, 3] in event 9"
    )


def test_describe_summarises_longer_target_lists() -> None:
    text = Intent("contacts.unlock", tuple(str(i) for i in range(10))).describe()
    assert text == "contacts.unlock [0, 1, 2 (+7 more)]"


def test_describe_of_an_event_unlock_does_not_repeat_the_event() -> None:
    assert Intent("events.unlock", ("9",), event_id="9").describe() == "events.unlock [9]"


def test_describe_never_mentions_anything_but_the_intent() -> None:
    text = Intent("exhibitors.search_by_company_name", ("Acme",)).describe()
    assert text == "exhibitors.search_by_company_name [Acme]"
    assert KEY not in text
