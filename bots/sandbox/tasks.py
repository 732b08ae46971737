"""Thin Celery tasks: take a delivery id, post it. A gone or already claimed row is a quiet no-op."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="sandbox.deliver_callback", ignore_result=True)
def deliver_callback(delivery_id: int) -> None:
    # Imported here: the services module queues these tasks, so it imports this one.
    from bots.sandbox.services.deliveries import delivery_send

    delivery_send(delivery_id=delivery_id)


@shared_task(name="sandbox.deliver_command", ignore_result=True)
def deliver_command(delivery_id: int) -> None:
    from bots.sandbox.services.deliveries import delivery_send

    delivery_send(delivery_id=delivery_id)
