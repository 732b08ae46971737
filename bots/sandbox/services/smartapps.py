"""What Smart App bots send towards their front-ends: events, pushes and unread counters, recorded
(``SandboxSmartAppEvent``) for the simulator and tests to look at; v4 methods answer in a callback."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from bots.sandbox.auth import Caller
from bots.sandbox.errors import SandboxError
from bots.sandbox.models import SandboxSmartAppEvent
from bots.sandbox.selectors import chat_of_bot
from bots.sandbox.services.deliveries import callback_schedule


def smartapp_event_record(*, caller: Caller, group_chat_id: uuid.UUID | None, payload: dict[str, Any]) -> None:
    # Delivered only while the Smart App is open, with nothing reported back: recording it is all.
    SandboxSmartAppEvent.objects.create(
        bot=caller.bot, kind=SandboxSmartAppEvent.Kind.EVENT, group_chat_id=group_chat_id, payload=payload
    )


def _with_callback(*, caller: Caller, kind: str, group_chat_id: uuid.UUID, payload: dict[str, Any]) -> uuid.UUID:
    sync_id = uuid.uuid4()
    with transaction.atomic():
        failure: SandboxError | None = None
        try:
            chat_of_bot(bot_id=caller.bot_id, group_chat_id=group_chat_id)
            SandboxSmartAppEvent.objects.create(
                bot=caller.bot, kind=kind, group_chat_id=group_chat_id, sync_id=sync_id, payload=payload
            )
        except SandboxError as exc:
            failure = exc
        callback_schedule(bot=caller.bot, faults=caller.faults, origin=caller.origin, sync_id=sync_id, failure=failure)
    return sync_id


def smartapp_notification_send(*, caller: Caller, group_chat_id: uuid.UUID, payload: dict[str, Any]) -> uuid.UUID:
    return _with_callback(
        caller=caller, kind=SandboxSmartAppEvent.Kind.NOTIFICATION, group_chat_id=group_chat_id, payload=payload
    )


def smartapp_unread_counter_set(*, caller: Caller, group_chat_id: uuid.UUID, counter: int) -> uuid.UUID:
    return _with_callback(
        caller=caller,
        kind=SandboxSmartAppEvent.Kind.UNREAD_COUNTER,
        group_chat_id=group_chat_id,
        payload={"counter": counter},
    )
