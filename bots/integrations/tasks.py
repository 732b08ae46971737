"""Celery tasks of the built-in bots: thin, take ids, call one service. Each may run twice."""

from __future__ import annotations

from celery import shared_task

from bots.integrations.services import bridge, conferences


@shared_task(name="integrations.bridge_call", ignore_result=True)
def bridge_call(call_id: int) -> None:
    bridge.bridge_call_attempt(call_id=call_id)


@shared_task(name="integrations.conference_tick", ignore_result=True)
def conference_tick() -> None:
    conferences.reminders_run()
    conferences.schedules_run()


@shared_task(name="integrations.sweep", ignore_result=True)
def sweep() -> None:
    bridge.bridge_sweep()
