"""``client.contacts``: company-scoped search and (paid) email/phone unlocks with tasks."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lensmor_async._core import operations as ops
from lensmor_async._core.operations import EMAIL, PHONE, TaskKind
from lensmor_async._core.validation import (
    MAX_UNLOCK_BATCH,
    check_id,
    check_ids,
    check_page,
    check_task_id,
    check_text,
)
from lensmor_async._intent import Intent
from lensmor_async.errors import InvalidRequestError
from lensmor_async.models import Page, Person, UnlockSubmission, UnlockTask
from lensmor_async.resources._base import (
    Resource,
    build_body,
    build_query,
    model_decoder,
    page_decoder,
)

if TYPE_CHECKING:
    from lensmor_async._pipeline import Pipeline
    from lensmor_async.guard import CreditGuard, UnlockTaskHandle

_PERSON_PAGE = page_decoder(Person)
_SUBMISSION = model_decoder(UnlockSubmission)
_TASK = model_decoder(UnlockTask)


class Contacts(Resource):
    """Find people by company; unlock their emails or phones (asynchronous tasks)."""

    def __init__(self, pipeline: Pipeline, guard: CreditGuard) -> None:
        super().__init__(pipeline)
        self._guard = guard

    async def search(
        self,
        company_name: str,
        *,
        role: str | None = None,
        person_name: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> Page[Person]:
        """``GET /external/contacts/search`` (free; never unlocks data)."""
        check_page(page, page_size)
        query = build_query(
            company_name=check_text("company_name", company_name, required=True),
            role=check_text("role", role),
            person_name=check_text("person_name", person_name),
            page=page,
            pageSize=page_size,
        )
        return await self._run(ops.CONTACTS_SEARCH, _PERSON_PAGE, query=query)

    async def unlock(
        self, *, personnel_ids: Iterable[str], event_id: str | None = None
    ) -> UnlockTaskHandle:
        """``POST /external/contacts/unlock`` — PAID (15 credits per chargeable contact).

        Up to 2,000 ids (0.24+); ``event_id`` is optional (given, every contact must
        belong to it). Duplicates are removed and contacts already unlocked or unlocking
        are left out before pricing. Returns a handle: ``await handle.wait()`` polls the
        task and returns a :class:`ContactUnlockReport`.
        """
        return await self._unlock(EMAIL, event_id, personnel_ids)

    async def unlock_phone(
        self, *, personnel_ids: Iterable[str], event_id: str | None = None
    ) -> UnlockTaskHandle:
        """``POST /external/contacts/unlock-phone`` — PAID (150 per chargeable contact).

        Priced by the ``unlock_contact_phones`` precheck, like email unlocks.
        """
        return await self._unlock(PHONE, event_id, personnel_ids)

    async def _unlock(
        self, kind: TaskKind, event_id: str | None, personnel_ids: Iterable[str]
    ) -> UnlockTaskHandle:
        event = None if event_id is None else check_id("event_id", event_id)
        ids = check_ids("personnel_ids", personnel_ids)
        intent = Intent(operation=kind.operation.name, targets=tuple(sorted(ids)), event_id=event)
        body = build_body(personnel_ids=list(ids), event_id=event)
        submission: UnlockSubmission = await self._run(
            kind.operation, _SUBMISSION, body=body, intent=intent
        )
        return self._guard.task_handle(kind, intent, submission)

    async def unlock_all(
        self,
        *,
        personnel_ids: Iterable[str],
        event_id: str | None = None,
        batch_size: int = MAX_UNLOCK_BATCH,
    ) -> list[UnlockTaskHandle]:
        """Unlock any number of contacts' emails in guarded batches, confirmed once.

        The ids (de-duplicated) are split into batches of at most ``batch_size`` (the
        API's 2,000 by default); every batch is quoted, the confirm callback is asked
        once for the total, then the batches run one after the other, each through the
        guard (held, sent once, settled by its task). A batch whose price moved since
        the quote is asked again. Returns one handle per batch; ``await handle.wait()``.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise InvalidRequestError("batch_size must be an integer")
        if not 1 <= batch_size <= MAX_UNLOCK_BATCH:
            raise InvalidRequestError(f"batch_size must be from 1 to {MAX_UNLOCK_BATCH}")
        ids = check_ids("personnel_ids", personnel_ids, max_items=sys.maxsize)
        if event_id is not None:
            check_id("event_id", event_id)
        batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
        quotes = [
            await self._guard.quote(self.unlock, personnel_ids=batch, event_id=event_id)
            for batch in batches
        ]
        scope = f" in event {event_id}" if event_id else ""
        await self._guard.confirm_quotes(
            quotes,
            description=f"contacts.unlock of {len(ids)} contacts{scope} in {len(batches)} batches",
        )
        return [await quote.execute() for quote in quotes]

    async def get_unlock_task(self, task_id: str) -> UnlockTask:
        """``GET /external/contacts/unlock-tasks/{taskId}``: one poll of an email task."""
        return await self._get_task(EMAIL, task_id)

    async def get_phone_unlock_task(self, task_id: str) -> UnlockTask:
        """``GET /external/contacts/unlock-phone-tasks/{taskId}``: one poll of a phone task."""
        return await self._get_task(PHONE, task_id)

    async def _get_task(self, kind: TaskKind, task_id: str) -> UnlockTask:
        task_id = check_task_id(task_id)
        path = kind.poll_operation.route.replace("{id}", task_id)
        return await self._run(kind.poll_operation, _TASK, path=path)

    def unlock_task_handle(self, task_id: str, *, phone: bool = False) -> UnlockTaskHandle:
        """Rebuild a handle from a ``task_id`` alone (e.g. after a restart)."""
        kind = PHONE if phone else EMAIL
        return self._guard.task_handle_for_id(kind, check_task_id(task_id))
