"""``client.actions``: the read-only precheck."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lensmor_async._core import operations as ops
from lensmor_async._core.validation import check_text
from lensmor_async.errors import InvalidRequestError
from lensmor_async.models import PrecheckResult
from lensmor_async.resources._base import Resource, build_body, model_decoder

_PRECHECK = model_decoder(PrecheckResult)


class Actions(Resource):
    """Ask the API whether an action would be allowed and what it would cost."""

    async def precheck(
        self,
        action_type: str,
        params: Mapping[str, Any],
        *,
        locale: str | None = None,
        trace_id: str | None = None,
        conversation_id: str | None = None,
        channel_message_id: str | None = None,
    ) -> PrecheckResult:
        """``POST /external/actions/precheck``: advisory; it reserves nothing.

        ``action_type`` is e.g. ``unlock_event_contacts``, ``unlock_contact_emails``,
        ``search_exhibitor_events`` or ``query_event_personnel``; unknown types are
        answered with ``reason_code="unsupported_action"``, not an error.
        """
        check_text("action_type", action_type, max_length=100, required=True)
        if not isinstance(params, Mapping):
            raise InvalidRequestError("params must be a mapping")
        body = build_body(
            action_type=action_type,
            params=dict(params),
            call_source=self._pipeline.config.call_source,
            locale=check_text("locale", locale, max_length=20),
            trace_id=check_text("trace_id", trace_id),
            conversation_id=check_text("conversation_id", conversation_id),
            channel_message_id=check_text("channel_message_id", channel_message_id),
        )
        return await self._run(ops.ACTIONS_PRECHECK, _PRECHECK, body=body)
