"""The outbox against the sandbox over real HTTP: the live server serves both the sandbox's BotX API
(``/sandbox/``) and the portal's own Bot API (``/botx/<bot_id>/``), where the sandbox posts callbacks.

Celery runs eagerly unless a test starts a real worker (``celery_worker``): a task enqueued after
commit then runs in the thread that committed, so nothing of these tests ever reaches a broker.
A message that a test wants to deliver itself is enqueued *held* (not due yet), so that the eager
task finds nothing to claim; ``release`` makes it due.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from bots.models import Bot, CtsServer, OutboundMessage
from bots.sandbox.models import SandboxDelivery
from bots.sandbox.services.deliveries import delivery_send
from bots.services.delivery import message_deliver
from bots.services.outbox import message_enqueue
from tests.sandbox_fixtures import (
    bot,
    faults_set,
    fresh_botx_clients,
    fresh_token_cache,
    other_bot,
    portal_sandbox_cts,
    world,
)
from tests.traffic.conftest import botx_token

# The sandbox's fixtures, served to this package; faults_set for its tests to import from here.
__all__ = ["bot", "faults_set", "fresh_botx_clients", "fresh_token_cache", "other_bot", "world"]

Status = OutboundMessage.Status
HELD = dt.timedelta(days=1)
FINAL = {Status.SENT, Status.DELIVERED, Status.FAILED, Status.UNKNOWN, Status.CANCELLED}


@pytest.fixture(autouse=True)
def celery_eager_unless_worker(request: pytest.FixtureRequest) -> None:
    if "celery_worker" not in request.fixturenames:
        request.getfixturevalue("eager_celery")


@pytest.fixture
def sandbox_cts(live_server: Any) -> CtsServer:
    """A sandbox CTS that posts callbacks to the portal's own Bot API on the live server."""
    return portal_sandbox_cts(live_server.url)


def notify(bot: Bot, chat_id: uuid.UUID, body: str, *, held: bool = False, **fields: Any) -> OutboundMessage:
    """A notification put in the outbox as a handler would; ``held``: not due until ``release``."""
    return enqueue(bot, "notification", {"chat_id": str(chat_id), "body": body, **fields}, held=held)


def enqueue(bot: Bot, method: str, payload: dict[str, Any], *, held: bool = False) -> OutboundMessage:
    with transaction.atomic():
        message = message_enqueue(bot=bot, method=method, payload=payload, created_by="tests")
        if held:
            OutboundMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now() + HELD)
    message.refresh_from_db()
    return message


def release(*messages: OutboundMessage) -> None:
    OutboundMessage.objects.filter(pk__in=[m.pk for m in messages]).update(next_attempt_at=timezone.now())


def deliver_until_settled(ids: Iterable[int], *, timeout: float = 15.0) -> None:
    """Call ``message_deliver`` on every open message until none is left open (or the time is up)."""
    waiting = list(ids)
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for pk in waiting:
            message_deliver(message_id=pk)
        waiting = list(
            OutboundMessage.objects.filter(pk__in=waiting).exclude(status__in=FINAL).values_list("pk", flat=True)
        )
        if waiting:
            time.sleep(0.05)
    assert not waiting, f"still open after {timeout} s: {waiting}"


def callback_release(sync_id: uuid.UUID | str) -> SandboxDelivery:
    """Post a callback the sandbox was told to drop, late, as a BotX whose callback was delayed."""
    delivery = SandboxDelivery.objects.get(kind=SandboxDelivery.Kind.CALLBACK, sync_id=sync_id)
    SandboxDelivery.objects.filter(pk=delivery.pk).update(status=SandboxDelivery.Status.PENDING)
    delivery_send(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


@pytest.fixture
def post_callback(live_server: Any) -> Callable[..., httpx.Response]:
    """POST a callback body to a bot's /notification/callback on the live server, signed as BotX signs."""

    def post(bot: Bot, body: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {botx_token(bot)}", "Content-Type": "application/json"}
        url = f"{live_server.url}/botx/{bot.bot_id}/notification/callback"
        return httpx.post(url, content=json.dumps(body), headers=headers, timeout=10)

    return post


def wait_until(condition: Callable[[], Any], *, timeout: float = 20.0, step: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {getattr(condition, '__doc__', None) or condition}")
        time.sleep(step)
