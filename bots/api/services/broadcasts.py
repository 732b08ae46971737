"""Broadcasts: one message to many chats (or users), each recipient its own outbox row, made in batches.

Starting one stores the recipients and enqueues ``api.broadcast_run`` after commit; the run makes the
outbox rows a batch per transaction, holding the broadcast's row so a cancel waits for the batch in
hand. A run that died half-way is resumed by the periodic ``api.due``: recipients that already have
their row are never given a second one. Progress is read from the outbox rows' own statuses.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from bots.api.models import ApiToken, Broadcast, BroadcastRecipient
from bots.api.services.sending import METHOD, bot_check_served
from bots.botx.outgoing import OutgoingPayloadError, validate_payload
from bots.models import Bot, OutboundMessage
from bots.services.delivery import message_cancel
from bots.services.ingress import not_served_message
from bots.services.outbox import message_enqueue
from bots.textsafe import scrub

logger = logging.getLogger(__name__)
Status = Broadcast.Status
RecipientStatus = BroadcastRecipient.Status
# A run that has not moved for this long is taken to be lost and is started again.
STALL_SECONDS = 120

COUNT_KEYS = ("queued", "pending", "sending", "sent", "delivered", "failed", "unknown", "cancelled")
OPEN = {"queued", "enqueued", "pending", "sending", "sent"}


class TooManyRecipientsError(ValueError):
    pass


@dataclass(frozen=True)
class Progress:
    state: str
    counts: dict[str, int]


def _run_after_commit(broadcast_id: int) -> None:
    from bots.api import tasks  # tasks import services; deferred to keep that one-way at load
    from bots.tasks import enqueue_safely

    transaction.on_commit(lambda: enqueue_safely(tasks.broadcast_run, broadcast_id))


def broadcast_start(
    *,
    token: ApiToken,
    bot: Bot,
    message: dict[str, Any],
    chat_ids: Sequence[uuid.UUID] = (),
    chat_id: uuid.UUID | None = None,
    user_huids: Sequence[uuid.UUID] = (),
    name: str = "",
    send_at: dt.datetime | None = None,
) -> Broadcast:
    """Store a broadcast and its recipients; checked in full first (``OutgoingPayloadError``)."""
    bot_check_served(bot)
    message = scrub(message)
    targets: list[tuple[uuid.UUID, uuid.UUID | None]] = (
        [(chat, None) for chat in dict.fromkeys(chat_ids)]
        if chat_ids
        else [(chat_id, user) for user in dict.fromkeys(user_huids)]  # type: ignore[misc]
    )
    limit = settings.API_BROADCAST_MAX_RECIPIENTS
    if len(targets) > limit:
        raise TooManyRecipientsError(limit)
    # Every recipient's payload differs only in its chat and recipients: one check covers them all.
    first_chat, first_user = targets[0]
    validate_payload(METHOD, _payload(message, first_chat, first_user))
    scheduled = send_at is not None and send_at > timezone.now()
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            bot=bot,
            token=token,
            name=name,
            payload=message,
            send_at=send_at,
            status=Status.SCHEDULED if scheduled else Status.QUEUED,
            total=len(targets),
            created_by=token.actor,
        )
        BroadcastRecipient.objects.bulk_create(
            [BroadcastRecipient(broadcast=broadcast, chat_id=chat, user_huid=user) for chat, user in targets],
            batch_size=1000,
        )
        if not scheduled:
            _run_after_commit(broadcast.pk)
    return broadcast


def _payload(message: dict[str, Any], chat_id: uuid.UUID, user_huid: uuid.UUID | None) -> dict[str, Any]:
    payload = {"chat_id": str(chat_id), **message}
    if user_huid is not None:
        payload["recipients"] = [str(user_huid)]
    return payload


def broadcast_run(*, broadcast_id: int, batch: int | None = None) -> str | None:
    """Make the outbox rows of a queued (or interrupted) broadcast. Returns its status, None if not ours."""
    size = batch or settings.API_BROADCAST_BATCH
    claimed = Broadcast.objects.filter(pk=broadcast_id, status__in=[Status.QUEUED, Status.RUNNING]).update(
        status=Status.RUNNING, started_at=Coalesce(F("started_at"), Value(timezone.now())), updated_at=timezone.now()
    )
    if not claimed:
        return None
    while True:
        with transaction.atomic():
            broadcast = Broadcast.objects.select_for_update().select_related("bot").get(pk=broadcast_id)
            if broadcast.status != Status.RUNNING:
                return broadcast.status
            todo = list(
                broadcast.recipients.select_for_update(skip_locked=True)
                .filter(status=RecipientStatus.QUEUED, message__isnull=True)
                .order_by("id")[:size]
            )
            if not todo:
                broadcast.status = Status.ENQUEUED
                broadcast.enqueued_at = timezone.now()
                broadcast.save(update_fields=["status", "enqueued_at", "updated_at"])
                return broadcast.status
            reason = not_served_message(broadcast.bot)
            for recipient in todo:
                _recipient_enqueue(broadcast, recipient, reason)
            broadcast.save(update_fields=["updated_at"])  # shows the run is alive


def _recipient_enqueue(broadcast: Broadcast, recipient: BroadcastRecipient, not_served: str | None) -> None:
    if not_served is not None:
        recipient.status, recipient.error = RecipientStatus.FAILED, f"not sent: {not_served}"
        recipient.save(update_fields=["status", "error"])
        return
    try:
        with transaction.atomic():
            message = message_enqueue(
                bot=broadcast.bot,
                method=METHOD,
                payload=_payload(broadcast.payload, recipient.chat_id, recipient.user_huid),
                correlation_id=broadcast.correlation_id,
                created_by=broadcast.created_by,
            )
    except OutgoingPayloadError as exc:
        recipient.status, recipient.error = RecipientStatus.FAILED, str(exc)
    else:
        recipient.status, recipient.message = RecipientStatus.ENQUEUED, message
    recipient.save(update_fields=["status", "error", "message"])


def broadcast_cancel(*, broadcast: Broadcast, actor: str) -> bool:
    """Stop a broadcast: recipients without a row get none, and rows still waiting are cancelled.

    False if there was nothing left to stop.
    """
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status == Status.CANCELLED:
            return False
        locked.recipients.filter(status=RecipientStatus.QUEUED, message__isnull=True).update(
            status=RecipientStatus.CANCELLED
        )
        waiting = OutboundMessage.objects.filter(
            pk__in=locked.recipients.filter(message__isnull=False).values("message_id"),
            status=OutboundMessage.Status.PENDING,
        )
        stopped = False
        for message in waiting:
            stopped |= message_cancel(message=message, actor=actor)
        if locked.status == Status.ENQUEUED and not stopped:
            return False
        locked.status = Status.CANCELLED
        locked.save(update_fields=["status", "updated_at"])
    return True


def recipients_with_status(broadcast: Broadcast) -> QuerySet[BroadcastRecipient]:
    """The recipients, each with ``effective_status``: its outbox row's status once it has one."""
    return broadcast.recipients.select_related("message").annotate(
        effective_status=Coalesce(F("message__status"), F("status"))
    )


def broadcast_progress(broadcast: Broadcast) -> Progress:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    rows = recipients_with_status(broadcast).values(*["effective_status"]).annotate(n=Count("id"))
    for row in rows:
        key = row["effective_status"]
        # A recipient whose outbox row was purged keeps "enqueued": it did go out.
        key = "queued" if key == RecipientStatus.QUEUED else key
        if key in counts:
            counts[key] += row["n"]
    if broadcast.status in {Status.SCHEDULED, Status.QUEUED, Status.RUNNING, Status.CANCELLED}:
        state = str(broadcast.status)
    else:
        still_open = sum(counts[key] for key in ("queued", "pending", "sending", "sent"))
        state = "sending" if still_open else "done"
    return Progress(state, counts)


def broadcasts_due(*, now: dt.datetime | None = None) -> int:
    """Start broadcasts whose time has come, and start again runs that stopped moving."""
    now = now or timezone.now()
    started = 0
    with transaction.atomic():
        due = list(
            Broadcast.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SCHEDULED, send_at__lte=now)
            .values_list("pk", flat=True)[:100]
        )
        Broadcast.objects.filter(pk__in=due).update(status=Status.QUEUED, updated_at=now)
        stalled = list(
            Broadcast.objects.filter(
                status__in=[Status.QUEUED, Status.RUNNING], updated_at__lt=now - dt.timedelta(seconds=STALL_SECONDS)
            ).values_list("pk", flat=True)[:100]
        )
        for pk in [*due, *stalled]:
            _run_after_commit(pk)
            started += 1
    return started
