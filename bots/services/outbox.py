"""The outbox: everything a bot sends is a row first, delivered by a worker after the row is committed."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from bots.botx.outgoing import OutgoingPayloadError, chat_of, validate_payload
from bots.models import Bot, InboundEvent, MessageEvent, OutboundMessage
from bots.services.rows import Insert, Update, rows_insert, rows_insert_linked, rows_write
from bots.textsafe import scrub

__all__ = [
    "OutgoingPayloadError",
    "PendingMessage",
    "deliveries_collected",
    "message_build",
    "message_enqueue",
    "message_status_change",
    "messages_insert",
    "status_change_fields",
    "status_change_writes",
    "status_step",
]


def _text_of(payload: dict[str, Any]) -> str:
    body = payload.get("body") or payload.get("title") or ""
    return str(body)[:255]


@dataclass(frozen=True)
class PendingMessage:
    """An outbox row built and checked but not written yet, with the first step of its history."""

    message: OutboundMessage
    event: MessageEvent


def message_build(
    *,
    bot: Bot,
    method: str,
    payload: dict[str, Any],
    inbound: InboundEvent | None = None,
    correlation_id: uuid.UUID | None = None,
    created_by: str = "",
) -> PendingMessage:
    """The row ``message_enqueue`` writes, for ``messages_insert`` to write with others.

    A payload BotX would refuse is refused here (``OutgoingPayloadError``), not at delivery.
    """
    payload = scrub(payload)
    validate_payload(method, payload)
    chat = chat_of(method, payload)
    message = OutboundMessage(
        correlation_id=correlation_id or (inbound.correlation_id if inbound else uuid.uuid4()),
        bot=bot,
        inbound=inbound,
        method=method,
        chat_id=uuid.UUID(chat) if chat else None,
        payload=payload,
        text=_text_of(payload),
        created_by=created_by[:150],
    )
    return PendingMessage(
        message, MessageEvent(message=message, status=OutboundMessage.Status.PENDING, note=created_by)
    )


def messages_insert(pending: list[PendingMessage], *, also: Sequence[Update | Insert] = ()) -> None:
    """Write built rows in their order (ids keep each chat's order), two statements for any number (one
    for one on PostgreSQL); a worker delivers them once this transaction commits. The writes ``also``
    (``rows_write``'s) go with the last statement: a drained batch's event statuses do."""
    if not pending:
        rows_write(*also)
        return
    if len(pending) == 1:
        # The usual answer to one command: the row and its history in one statement.
        rows_insert_linked(pending[0].message, pending[0].event, link="message", also=also)
    else:
        rows_insert([item.message for item in pending])
        for item in pending:
            # The history row takes its message's id now that it has one (a new one, should an earlier
            # insert of these rows have been rolled back).
            item.event.message = item.message
        rows_write(Insert([item.event for item in pending]), *also)
    for item in pending:
        deliver_after_commit(item.message.pk)


def message_enqueue(
    *,
    bot: Bot,
    method: str,
    payload: dict[str, Any],
    inbound: InboundEvent | None = None,
    correlation_id: uuid.UUID | None = None,
    created_by: str = "",
) -> OutboundMessage:
    """Put a message in the outbox; a worker delivers it once this transaction commits.

    A payload BotX would refuse is refused here (``OutgoingPayloadError``), not at delivery.
    """
    pending = message_build(
        bot=bot, method=method, payload=payload, inbound=inbound, correlation_id=correlation_id, created_by=created_by
    )
    messages_insert([pending])
    return pending.message


FINAL_STATUSES = frozenset(
    {
        OutboundMessage.Status.DELIVERED,
        OutboundMessage.Status.FAILED,
        OutboundMessage.Status.UNKNOWN,
        OutboundMessage.Status.CANCELLED,
    }
)


def message_status_change(message: OutboundMessage, status: str, note: str = "", **fields: Any) -> None:
    """Move a message to ``status`` (the caller holds the row), and write the step to its history."""
    rows_write(*status_change_writes(message, status, note, **fields))


def status_change_writes(message: OutboundMessage, status: str, note: str = "", **fields: Any) -> list[Update | Insert]:
    """``message_status_change`` as writes not made yet, for a caller that makes them with its own
    (``rows_write``); the message's fields are set already."""
    changed = status_change_fields(status, **fields)
    for name, value in changed.items():
        setattr(message, name, value)
    # What save(update_fields) and objects.create() store, without compiling their statements anew: this
    # runs for every callback and every delivery (bots/services/rows.py). The caller holds the row,
    # so it is there to update.
    return [Update([message], sorted(changed)), Insert([status_step(status, note, message)])]


def status_change_fields(status: str, **fields: Any) -> dict[str, Any]:
    """What a move to ``status`` writes to a message: the status, ``fields``, and, for a final status,
    when it finished (unless ``fields`` say)."""
    changed = {"status": status, **fields}
    if status in FINAL_STATUSES and "finished_at" not in fields:
        changed["finished_at"] = timezone.now()
    return changed


def status_step(status: str, note: str, message: OutboundMessage | None = None) -> MessageEvent:
    """The history row of a move to ``status`` (of ``message``, where the caller knows it)."""
    return MessageEvent(message=message, status=status, note=note[:2000])


_collecting = threading.local()


@contextmanager
def deliveries_collected() -> Iterator[list[int]]:
    """Within it, messages due now are listed for the caller to deliver once its transaction has
    committed (the batch drain does), instead of a task being enqueued for each. A message listed from
    a savepoint rolled back later is simply not found by the delivery; one the caller never gets to
    deliver (its process dies) is found by the sweeper."""
    ids: list[int] = []
    outer = getattr(_collecting, "ids", None)
    _collecting.ids = ids
    try:
        yield ids
    finally:
        _collecting.ids = outer


def deliver_after_commit(message_id: int, countdown: float | None = None) -> None:
    from bots import tasks  # tasks import services; the import is deferred to keep that one-way at load

    collected = getattr(_collecting, "ids", None)
    if collected is not None and not countdown:
        collected.append(message_id)
        return

    def enqueue() -> None:
        tasks.enqueue_safely(tasks.outbound_deliver, message_id, countdown=countdown)

    transaction.on_commit(enqueue)
