"""Celery tasks: thin, take ids, call one service. JSON only; late acknowledgement (settings).

A task that finds its row done or gone returns quietly: every task may run twice.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from bots.services import delivery, dispatch, sweeper

logger = logging.getLogger(__name__)


def enqueue_safely(task: Task, *args: Any, countdown: float | None = None) -> bool:
    """Enqueue, or log and leave the row for the sweeper when the broker cannot be reached.

    Called after commit: the row is safe in the database either way, so a broker outage delays work
    but loses none, and the request that created it still gets its answer.
    """
    try:
        if countdown:
            task.apply_async(args=args, countdown=countdown)
        else:
            task.apply_async(args=args)
    except Exception:
        logger.exception("could not enqueue %s%r; the sweeper will pick it up", task.name, args)
        return False
    return True


@shared_task(name="bots.inbound_process", ignore_result=True)
def inbound_process(event_id: int) -> None:
    dispatch.inbound_process(event_id=event_id)


@shared_task(name="bots.inbound_drain", ignore_result=True)
def inbound_drain() -> None:
    """Process the stored commands in batches, then deliver their answers (woken by bots/services/wake.py)."""
    dispatch.inbound_drain(linger=True)


@shared_task(name="bots.outbound_deliver", ignore_result=True)
def outbound_deliver(message_id: int) -> None:
    delivery.message_deliver(message_id=message_id)


@shared_task(name="bots.outbound_deliver_many", ignore_result=True)
def outbound_deliver_many(message_ids: list[int]) -> None:
    delivery.messages_deliver(list(message_ids))


@shared_task(name="bots.sweep", ignore_result=True)
def sweep() -> None:
    sweeper.sweep()


@shared_task(name="bots.purge", ignore_result=True)
def purge() -> None:
    sweeper.purge()
