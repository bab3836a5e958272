"""Argument validation before any I/O, including hostile inputs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async._core.validation import (
    MAX_UNLOCK_BATCH,
    PERSONNEL_MAX_PAGE_SIZE,
    check_choice,
    check_date,
    check_id,
    check_ids,
    check_non_negative,
    check_page,
    check_string_list,
    check_task_id,
    check_text,
)
from lensmor_async.errors import InvalidRequestError

HOSTILE_IDS = [
    "",
    ".",
    "..",
    "../admin",
    "..%2f",
    "%2e%2e",
    "a/b",
    "a\\b",
    "a b",
    " 1",
    "1 ",
    "1\r\nX-Injected: yes",
    "1\n",
    "1\x00",
    "a?b=c",
    "a#b",
    "a;b",
    "a&b",
    "é",
    "١٢٣",
    "１２３",
    "x" * 101,
]


# --- check_id -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1", "evt_123", "abc-DEF_09", "x" * 100, "-", "_"])
def test_check_id_accepts_allow_listed_ids(value: str) -> None:
    assert check_id("event_id", value) == value


def test_check_id_converts_integers_to_strings() -> None:
    assert check_id("event_id", 123) == "123"


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_check_id_refuses_hostile_ids(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="event_id"):
        check_id("event_id", value)


@pytest.mark.parametrize("value", [True, False, None, 1.5, b"123", ["1"], {"id": 1}])
def test_check_id_refuses_non_string_values(value: object) -> None:
    with pytest.raises(InvalidRequestError, match="must be a string id"):
        check_id("event_id", value)


def test_check_id_honours_a_shorter_max_length() -> None:
    assert check_id("personnel_id", "1" * 20, max_length=20) == "1" * 20
    with pytest.raises(InvalidRequestError, match="1-20"):
        check_id("personnel_id", "1" * 21, max_length=20)


def test_check_id_errors_are_value_errors_and_name_the_argument() -> None:
    with pytest.raises(ValueError, match="personnel_id"):
        check_id("personnel_id", "../x")


@given(st.text(min_size=1, max_size=120))
def test_check_id_output_is_always_path_safe(value: str) -> None:
    try:
        out = check_id("id", value)
    except InvalidRequestError:
        return
    assert out == value
    assert out not in (".", "..")
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in out)
    assert 1 <= len(out) <= 100


# --- check_task_id ------------------------------------------------------------------------


def test_check_task_id_accepts_digit_strings_and_integers() -> None:
    assert check_task_id("901") == "901"
    assert check_task_id(901) == "901"


@pytest.mark.parametrize(
    "value",
    ["", "abc", "90a", "-1", -1, "1.0", "../1", "1 ", "1\n", "١٢", "1" * 41, True, None, 1.0],
)
def test_check_task_id_refuses_anything_but_digits(value: Any) -> None:
    with pytest.raises(InvalidRequestError, match="task_id"):
        check_task_id(value)


# --- check_ids ----------------------------------------------------------------------------


def test_check_ids_removes_duplicates_keeping_first_order() -> None:
    assert check_ids("personnel_ids", ["3", "1", "3", 1, "2"]) == ("3", "1", "2")


def test_check_ids_accepts_any_iterable() -> None:
    assert check_ids("personnel_ids", (str(i) for i in range(3))) == ("0", "1", "2")


@pytest.mark.parametrize("value", ["123", b"123"])
def test_check_ids_refuses_a_single_string(value: Any) -> None:
    with pytest.raises(InvalidRequestError, match="not a single string"):
        check_ids("personnel_ids", value)


def test_check_ids_refuses_an_empty_batch() -> None:
    with pytest.raises(InvalidRequestError, match="at least one"):
        check_ids("personnel_ids", [])


def test_check_ids_accepts_the_maximum_batch() -> None:
    ids = [str(i) for i in range(MAX_UNLOCK_BATCH)]
    assert len(check_ids("personnel_ids", ids)) == MAX_UNLOCK_BATCH


def test_check_ids_refuses_one_over_the_maximum() -> None:
    with pytest.raises(InvalidRequestError, match="at most 2000"):
        check_ids("personnel_ids", [str(i) for i in range(MAX_UNLOCK_BATCH + 1)])


def test_check_ids_refuses_a_huge_batch() -> None:
    with pytest.raises(InvalidRequestError, match="100000 ids"):
        check_ids("personnel_ids", [str(i) for i in range(100_000)])


def test_check_ids_counts_the_limit_after_removing_duplicates() -> None:
    ids = [str(i) for i in range(MAX_UNLOCK_BATCH)] * 3
    assert len(check_ids("personnel_ids", ids)) == MAX_UNLOCK_BATCH


def test_check_ids_refuses_a_batch_with_one_hostile_id() -> None:
    with pytest.raises(InvalidRequestError):
        check_ids("personnel_ids", ["1", "../admin", "2"])


def test_check_ids_honours_a_custom_maximum() -> None:
    with pytest.raises(InvalidRequestError, match="at most 2"):
        check_ids("ids", ["1", "2", "3"], max_items=2)


# --- check_page ---------------------------------------------------------------------------


def test_check_page_accepts_valid_pages() -> None:
    check_page(1, None)
    check_page(7, 100)
    check_page(1, PERSONNEL_MAX_PAGE_SIZE, max_page_size=PERSONNEL_MAX_PAGE_SIZE)


@pytest.mark.parametrize("page", [0, -1, True, 1.0, "1", None])
def test_check_page_refuses_bad_page_numbers(page: Any) -> None:
    with pytest.raises(InvalidRequestError, match="page must"):
        check_page(page, None)


@pytest.mark.parametrize("size", [0, 101, -5, True, 10.0, "10"])
def test_check_page_refuses_bad_page_sizes(size: Any) -> None:
    with pytest.raises(InvalidRequestError, match="page_size"):
        check_page(1, size)


def test_check_page_applies_the_route_maximum() -> None:
    with pytest.raises(InvalidRequestError, match="1 to 50"):
        check_page(1, 51, max_page_size=PERSONNEL_MAX_PAGE_SIZE)


# --- check_date ---------------------------------------------------------------------------


def test_check_date_passes_none_through() -> None:
    assert check_date("start", None) is None


def test_check_date_accepts_iso_strings_and_dates() -> None:
    assert check_date("start", "2026-02-28") == "2026-02-28"
    assert check_date("start", "2024-02-29") == "2024-02-29"
    assert check_date("start", date(2026, 3, 1)) == "2026-03-01"


@pytest.mark.parametrize(
    "value", ["2026-02-30", "2025-02-29", "2026-13-01", "2026-00-10", "2026-04-31"]
)
def test_check_date_refuses_impossible_calendar_dates(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="real calendar date"):
        check_date("start", value)


@pytest.mark.parametrize(
    "value",
    ["2026/01/01", "26-01-01", "2026-1-1", "20260101", "2026-01-01T00:00", " 2026-01-01", "x"],
)
def test_check_date_refuses_other_formats(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="YYYY-MM-DD"):
        check_date("start", value)


@pytest.mark.parametrize("value", ["٢٠٢٦-٠١-٠١", "２０２６-０１-０１"])
def test_check_date_refuses_non_ascii_digits(value: str) -> None:
    with pytest.raises(InvalidRequestError):
        check_date("start", value)


@pytest.mark.parametrize("value", [20260101, 1.5, True])
def test_check_date_refuses_non_string_values(value: Any) -> None:
    with pytest.raises(InvalidRequestError):
        check_date("start", value)


def test_check_date_formats_a_datetime_as_its_date() -> None:
    assert check_date("start", datetime(2026, 1, 2, 3, 4)) == "2026-01-02"


# --- check_text ---------------------------------------------------------------------------


def test_check_text_passes_optional_none_through() -> None:
    assert check_text("q", None) is None


def test_check_text_requires_a_value_when_told() -> None:
    with pytest.raises(InvalidRequestError, match="required"):
        check_text("q", None, required=True)


@pytest.mark.parametrize("value", ["", "   ", "\u3000"])
def test_check_text_refuses_blank_required_values(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="blank"):
        check_text("q", value, required=True)


def test_check_text_accepts_unicode_within_the_limit() -> None:
    assert check_text("q", "Café 東京", max_length=8) == "Café 東京"


def test_check_text_refuses_text_over_the_limit() -> None:
    with pytest.raises(InvalidRequestError, match="at most 200"):
        check_text("q", "x" * 201)


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "a\x00b", "a\x1bb", "a\x7fb", "a\tb"])
def test_check_text_refuses_control_characters(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="control"):
        check_text("q", value)


@pytest.mark.parametrize("value", [5, b"x", ["x"], True])
def test_check_text_refuses_non_strings(value: Any) -> None:
    with pytest.raises(InvalidRequestError, match="must be a string"):
        check_text("q", value)


# --- check_choice / check_non_negative / check_string_list --------------------------------


def test_check_choice_accepts_a_documented_value_and_none() -> None:
    assert check_choice("sort", "asc", ("asc", "desc")) == "asc"
    assert check_choice("sort", None, ("asc", "desc")) is None


@pytest.mark.parametrize("value", ["ASC", "", "asc ", "random"])
def test_check_choice_refuses_other_values(value: str) -> None:
    with pytest.raises(InvalidRequestError, match="one of asc, desc"):
        check_choice("sort", value, ("asc", "desc"))


def test_check_non_negative_accepts_zero_positive_and_none() -> None:
    assert check_non_negative("n", 0) == 0
    assert check_non_negative("n", 12) == 12
    assert check_non_negative("n", None) is None


@pytest.mark.parametrize("value", [-1, True, 1.5, "3"])
def test_check_non_negative_refuses_other_values(value: Any) -> None:
    with pytest.raises(InvalidRequestError, match=">= 0"):
        check_non_negative("n", value)


def test_check_string_list_wraps_a_single_string() -> None:
    assert check_string_list("industries", "Software") == ("Software",)


def test_check_string_list_validates_every_item() -> None:
    assert check_string_list("industries", ["A", "B"]) == ("A", "B")
    assert check_string_list("industries", None) is None
    with pytest.raises(InvalidRequestError):
        check_string_list("industries", ["ok", "bad\nline"])
    with pytest.raises(InvalidRequestError, match="blank"):
        check_string_list("industries", ["ok", " "])
    with pytest.raises(InvalidRequestError):
        check_string_list("industries", ["x" * 11], max_length=10)
