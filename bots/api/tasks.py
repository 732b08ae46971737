"""The API's Celery tasks: thin, take ids, call one service; JSON only. Each may run twice harmlessly."""

from __future__ import annotations

from celery import shared_task

from bots.api.services import broadcasts, sending


@shared_task(name="api.broadcast_run", ignore_result=True)
def broadcast_run(broadcast_id: int) -> None:
    broadcasts.broadcast_run(broadcast_id=broadcast_id)


@shared_task(name="api.due", ignore_result=True)
def due() -> None:
    """Periodic (celery beat): scheduled messages and broadcasts whose time has come."""
    sending.scheduled_enqueue_due()
    broadcasts.broadcasts_due()
