"""Models cross process boundaries: ``pickle`` and ``copy.deepcopy`` rebuild them equal.

Bulk jobs hand results to ``ProcessPoolExecutor`` workers and ``multiprocessing``
queues; both pickle. ``extra`` and free-form fields are read-only ``mappingproxy``
views, which pickle refuses by default, so models rebuild from their field values.
"""

from __future__ import annotations

import copy
import pickle
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lensmor_async import AsyncLensmor
from lensmor_async.models import Person
from lensmor_async.testing import FakeLensmor
from tests.test_serialisation import ITEMS, MODEL_CLASSES, instances

pytestmark = pytest.mark.anyio


def _mappings_stay_read_only(original: Any, rebuilt: Any) -> None:
    for field in attrs.fields(type(original)):
        if isinstance(getattr(original, field.name), MappingProxyType):
            assert isinstance(getattr(rebuilt, field.name), MappingProxyType), field.name


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), protocol=st.integers(0, pickle.HIGHEST_PROTOCOL))
def test_every_model_survives_pickle_and_deepcopy_equal_and_still_frozen(
    cls: type[Any], data: st.DataObject, protocol: int
) -> None:
    model = data.draw(instances(cls, item=ITEMS.get(cls)))
    for rebuilt in (pickle.loads(pickle.dumps(model, protocol)), copy.deepcopy(model)):
        assert type(rebuilt) is cls
        assert rebuilt == model
        assert repr(rebuilt) == repr(model)
        _mappings_stay_read_only(model, rebuilt)


def test_an_empty_extra_comes_back_as_the_shared_empty_mapping() -> None:
    person = Person(id="1", contact_unlock_status="locked")
    assert pickle.loads(pickle.dumps(person)).extra is person.extra


def test_a_copy_is_the_same_immutable_object() -> None:
    person = Person(id="1", contact_unlock_status="locked", extra={"x": 1})
    assert copy.copy(person) is person


async def test_a_fetched_page_pickles_without_its_live_http_answer() -> None:
    async with FakeLensmor(seed=3) as fake, AsyncLensmor(fake.api_key, base_url=fake.url) as client:
        events = await client.events.list(page_size=3)
    assert events.response is not None
    rebuilt = pickle.loads(pickle.dumps(events))
    assert rebuilt == events
    assert rebuilt.response is None  # the answer belongs to the call, not to the data


@attrs.frozen
class _AnnotatedPerson(Person):
    """A user's own subclass: attrs names ``__init__`` arguments by ``alias``, not field name."""

    _note: str = ""  # a private field: the argument is ``note``
    label: str = attrs.field(default="", alias="tag")
    initials: str = attrs.field(init=False, default="")  # filled in after __init__, never passed


def test_a_user_subclass_with_private_aliased_and_non_init_fields_pickles_equal() -> None:
    person = _AnnotatedPerson(id="1", contact_unlock_status="locked", note="met at CES", tag="vip")
    object.__setattr__(person, "initials", "AB")
    for rebuilt in (pickle.loads(pickle.dumps(person)), copy.deepcopy(person)):
        assert rebuilt == person
        assert (rebuilt._note, rebuilt.label, rebuilt.initials) == ("met at CES", "vip", "AB")


def test_a_pickle_from_before_a_field_was_added_loads_with_its_default() -> None:
    person = Person(id="1", contact_unlock_status="locked", phone="+1 555")
    rebuild, (cls, values) = person.__reduce__()
    del values["phone"]  # as if pickled by a release that had no ``phone`` yet
    older = rebuild(cls, values)
    assert older == attrs.evolve(person, phone=None)
