"""What a periodic task does so that nothing stored is ever forgotten, and history is kept only so long.

* Commands stored while the broker was down (or whose task was lost) wake a drain again.
* Due outbox rows whose task was lost are enqueued again, a few to a task.
* A row a worker claimed and never finished (the worker died mid-send) becomes ``unknown``: the
  request may have reached BotX, so it is not resent blindly.
* Callbacks that came before their message's sync ID was stored are matched.
* Requests and messages older than their bot's retention period are purged.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bots.models import Bot, CallbackReceipt, InboundEvent, OutboundMessage
from bots.services import wake
from bots.services.delivery import callback_match, earlier_open_in_chat
from bots.services.outbox import message_status_change

logger = logging.getLogger(__name__)
BATCH = 500
DELIVERY_CHUNK = 16  # due messages per delivery task


def sweep() -> dict[str, int]:
    from bots import tasks

    now = timezone.now()
    grace = dt.timedelta(seconds=settings.SWEEP_GRACE_SECONDS)
    counts = {"inbound": 0, "outbound": 0, "stuck": 0, "callbacks": 0}

    stale = list(
        InboundEvent.objects.filter(
            # As the drain claims them: from inbound_queue_idx.
            status=InboundEvent.Status.RECEIVED,
            endpoint=InboundEvent.Endpoint.COMMAND,
            queued_at__lt=now - grace,
        )
        .order_by("id")
        .values_list("pk", flat=True)[:BATCH]
    )
    if stale:
        # One drain claims them all (and whatever else is waiting): a task per row would bury the
        # queue under a backlog that is merely slow, not lost.
        InboundEvent.objects.filter(pk__in=stale).update(queued_at=now)
        if wake.wake(tasks.inbound_drain):
            counts["inbound"] = len(stale)

    due = list(
        OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING, next_attempt_at__lt=now - grace)
        .filter(~earlier_open_in_chat())
        .order_by("id")
        .values_list("pk", flat=True)[:BATCH]
    )
    for start in range(0, len(due), DELIVERY_CHUNK):
        chunk = due[start : start + DELIVERY_CHUNK]
        if tasks.enqueue_safely(tasks.outbound_deliver_many, chunk):
            counts["outbound"] += len(chunk)

    stuck_before = now - dt.timedelta(seconds=settings.BOTX_HTTP_TIMEOUT_SECONDS * 3 + 60)
    for pk in OutboundMessage.objects.filter(
        status=OutboundMessage.Status.SENDING, sent_at__lt=stuck_before
    ).values_list("pk", flat=True)[:BATCH]:
        with transaction.atomic():
            message = OutboundMessage.objects.select_for_update().get(pk=pk)
            if message.status == OutboundMessage.Status.SENDING:
                message_status_change(
                    message,
                    OutboundMessage.Status.UNKNOWN,
                    note="the worker sending it stopped; it may have reached BotX",
                    error_kind="ambiguous",
                    error_reason="worker_lost",
                )
                counts["stuck"] += 1

    for receipt in CallbackReceipt.objects.filter(
        message__isnull=True, received_at__gt=now - dt.timedelta(hours=1)
    ).order_by("id")[:BATCH]:
        counts["callbacks"] += callback_match(receipt)

    if any(counts.values()):
        logger.info("sweep: %s", counts)
    return counts


def purge() -> dict[str, int]:
    """Delete what is older than each bot's retention period (deleted bots: the longest period)."""
    now = timezone.now()
    counts = {"inbound": 0, "outbound": 0}
    for bot_id, days in Bot.objects.values_list("pk", "retention_days"):
        cutoff = now - dt.timedelta(days=days)
        counts["outbound"] += OutboundMessage.objects.filter(bot_id=bot_id, created_at__lt=cutoff).delete()[0]
        counts["inbound"] += InboundEvent.objects.filter(bot_id=bot_id, received_at__lt=cutoff).delete()[0]
    orphan_cutoff = now - dt.timedelta(days=settings.LEDGER_ORPHAN_RETENTION_DAYS)
    counts["outbound"] += OutboundMessage.objects.filter(bot__isnull=True, created_at__lt=orphan_cutoff).delete()[0]
    counts["inbound"] += InboundEvent.objects.filter(bot__isnull=True, received_at__lt=orphan_cutoff).delete()[0]
    if any(counts.values()):
        logger.info("purge: %s", counts)
    return counts
