"""What every resource shares: the call helpers, query building and pagination."""

from __future__ import annotations

import copy as _copy
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from lensmor_async._call import Call, Runner
from lensmor_async._core.operations import Operation
from lensmor_async.errors import InvalidRequestError
from lensmor_async.models.converter import structure, structure_page

if TYPE_CHECKING:
    from lensmor_async._intent import Intent
    from lensmor_async._pipeline import Pipeline
    from lensmor_async.models.pagination import Page
    from lensmor_async.transport import QueryParams

T = TypeVar("T")
QueryValue = str | int | bool | Iterable[str] | None


def model_decoder(cls: type[T]) -> Callable[[Any], T]:
    """A decoder for one model class (built once per resource module, not per call)."""

    def decode(data: Any) -> T:
        return structure(data, cls)

    return decode


def page_decoder(item_cls: type[T]) -> Callable[[Any], Page[T]]:
    """A decoder for a page of ``item_cls``."""

    def decode(data: Any) -> Page[T]:
        return structure_page(data, item_cls)

    return decode


def check_filter_names(filters: Mapping[str, object], allowed: type[Any]) -> None:
    """Refuse unknown filter names before any I/O (a typo must not silently match all)."""
    unknown = filters.keys() - allowed.__annotations__.keys()
    if unknown:
        names = ", ".join(sorted(allowed.__annotations__))
        raise InvalidRequestError(f"unknown filter(s) {', '.join(sorted(unknown))}; use {names}")


def build_query(**params: QueryValue) -> QueryParams:
    """Wire query pairs: None is left out, bools become 0/1, lists repeat the key."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        elif isinstance(value, str | int):
            pairs.append((name, str(value)))
        else:
            pairs.extend((name, str(item)) for item in value)
    return tuple(pairs)


def build_body(**fields: Any) -> dict[str, Any]:
    """A JSON body without the fields that were not given."""
    return {name: value for name, value in fields.items() if value is not None}


class Resource:
    """Base class: resources validate arguments, then hand a ``Call`` to the pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    def rerouted(self, wrap: Callable[[Runner], Runner]) -> Self:
        """A copy whose calls go to ``wrap(pipeline)`` (how ``guard.quote`` prices a call)."""
        copy = _copy.copy(self)
        copy._pipeline = wrap(self._pipeline)  # type: ignore[assignment]
        return copy

    def _run(
        self,
        operation: Operation,
        decode: Callable[[Any], T],
        *,
        path: str | None = None,
        query: QueryParams = (),
        body: Any = None,
        intent: Intent | None = None,
    ) -> Coroutine[Any, Any, T]:
        """The pipeline's coroutine for this call (``await self._run(...)``).

        A plain function, not a coroutine of its own: one frame less on every
        suspension and resumption of every request.
        """
        call = Call(
            operation=operation,
            path=path or operation.route,
            decode=decode,
            query=query,
            body=body,
            intent=intent,
        )
        return self._pipeline.run(call)


class PageIterator(Generic[T]):
    """Async iterator over items across pages; ``last_page`` tells why it stopped.

    On a preview-gated list (a locked event) iteration ends at the preview window
    without raising; ``last_page.semantics`` then says the list is locked, how many
    records remain hidden and what unlocking costs.
    """

    def __init__(self, pages: AsyncIterator[Page[T]], limit: int | None) -> None:
        self._pages = pages
        self._limit = limit
        self._items: AsyncIterator[T] = self._generate()
        self.last_page: Page[T] | None = None
        self.yielded = 0

    def __aiter__(self) -> PageIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await self._items.__anext__()

    async def _generate(self) -> AsyncIterator[T]:
        if self._limit is not None and self._limit <= 0:
            return
        async for page in self._pages:
            self.last_page = page
            for item in page.items:
                yield item
                self.yielded += 1
                if self._limit is not None and self.yielded >= self._limit:
                    return


async def iter_pages(
    fetch: Callable[[int], Awaitable[Page[T]]], *, start_page: int = 1
) -> AsyncIterator[Page[T]]:
    """Fetch pages from ``start_page`` until ``has_more`` is false or the preview window ends."""
    number = start_page
    while True:
        page = await fetch(number)
        yield page
        if not page.has_more or not page.items or page.preview_exhausted:
            return
        number += 1
