"""Sending a message through the API: into the outbox now, or into ScheduledMessage until its time."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from bots.api.models import ApiToken, ScheduledMessage
from bots.botx.outgoing import OutgoingPayloadError, validate_payload
from bots.models import Bot
from bots.services.ingress import not_served_message
from bots.services.outbox import message_enqueue
from bots.textsafe import scrub

logger = logging.getLogger(__name__)
METHOD = "notification"
BATCH = 200


class BotNotServedError(Exception):
    """The bot cannot send now (disabled, wrong protocol, no handler); the message was not taken."""


@dataclass(frozen=True)
class SendResult:
    message_id: int | None
    scheduled_id: int | None
    status: str
    correlation_id: uuid.UUID
    send_at: dt.datetime | None


def bot_check_served(bot: Bot) -> None:
    reason = not_served_message(bot)
    if reason is not None:
        raise BotNotServedError(reason)


def message_send(
    *,
    token: ApiToken,
    bot: Bot,
    payload: dict[str, Any],
    send_at: dt.datetime | None = None,
    correlation_id: uuid.UUID | None = None,
) -> SendResult:
    """Take a message for ``bot``: checked in full now (``OutgoingPayloadError``), sent now or at ``send_at``."""
    bot_check_served(bot)
    payload = scrub(payload)
    validate_payload(METHOD, payload)
    correlation = correlation_id or uuid.uuid4()
    if send_at is not None and send_at > timezone.now():
        scheduled = ScheduledMessage.objects.create(
            bot=bot,
            token=token,
            correlation_id=correlation,
            method=METHOD,
            chat_id=payload.get("chat_id"),
            payload=payload,
            send_at=send_at,
            created_by=token.actor,
        )
        return SendResult(None, scheduled.pk, scheduled.status, correlation, send_at)
    with transaction.atomic():
        message = message_enqueue(
            bot=bot, method=METHOD, payload=payload, correlation_id=correlation, created_by=token.actor
        )
    return SendResult(message.pk, None, message.status, correlation, None)


def scheduled_cancel(*, scheduled: ScheduledMessage) -> bool:
    """Cancel a message still waiting for its time. False if it has gone to the outbox already."""
    return bool(
        ScheduledMessage.objects.filter(pk=scheduled.pk, status=ScheduledMessage.Status.SCHEDULED).update(
            status=ScheduledMessage.Status.CANCELLED
        )
    )


def scheduled_enqueue_due(*, now: dt.datetime | None = None, batch: int = BATCH) -> int:
    """Put the scheduled messages whose time has come in the outbox. Returns how many were handled.

    Rows are claimed with SKIP LOCKED, so two beats (or a beat and a slow one) never send one twice;
    each row becomes its outbox row in the transaction that marks it enqueued.
    """
    now = now or timezone.now()
    handled = 0
    with transaction.atomic():
        due = list(
            ScheduledMessage.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("bot__cts")
            .filter(status=ScheduledMessage.Status.SCHEDULED, send_at__lte=now)
            .order_by("send_at", "id")[:batch]
        )
        for row in due:
            _enqueue_one(row)
            handled += 1
    return handled


def _enqueue_one(row: ScheduledMessage) -> None:
    reason = not_served_message(row.bot)
    if reason is not None:
        _fail(row, f"not sent: {reason}")
        return
    try:
        with transaction.atomic():
            message = message_enqueue(
                bot=row.bot,
                method=row.method,
                payload=row.payload,
                correlation_id=row.correlation_id,
                created_by=row.created_by,
            )
    except OutgoingPayloadError as exc:  # checked when taken; only a changed check gets here
        _fail(row, str(exc))
        return
    row.status = ScheduledMessage.Status.ENQUEUED
    row.message = message
    row.enqueued_at = timezone.now()
    row.save(update_fields=["status", "message", "enqueued_at"])


def _fail(row: ScheduledMessage, error: str) -> None:
    logger.warning("scheduled message %s of bot %s: %s", row.pk, row.bot.bot_id, error)
    row.status = ScheduledMessage.Status.FAILED
    row.error = error
    row.save(update_fields=["status", "error"])
