"""Delivering several outbox rows in one go (what the batch drain does with its handlers' answers),
against the sandbox over real HTTP: the same outcomes as one task per row, with shared database work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from bots.models import Bot, CallbackReceipt, CtsServer, InboundEvent, OutboundMessage, SendSlot
from bots.sandbox.models import SandboxMessage
from bots.services import delivery
from bots.services.delivery import messages_deliver
from tests.sandbox_fixtures import World
from tests.traffic.delivery.conftest import faults_set, notify, release
from tests.traffic.delivery.test_delivery import history

pytestmark = [pytest.mark.django_db(transaction=True)]
# A chunk's calls overlap, and the sandbox answering them writes from several threads at once: the
# in-memory SQLite database of a test run fails the second writer at once (a file database waits).
concurrent_writers = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="the in-memory SQLite test database takes one writer at a time"
)

Status = OutboundMessage.Status


@concurrent_writers
def test_a_batch_is_sent_and_callbacks_that_came_first_settle_it_in_the_same_step(bot: Bot, world: World) -> None:
    chats = [world.personal, world.group]
    messages = [notify(bot, chat.group_chat_id, f"пакет {n}", held=True) for n, chat in enumerate(chats)]
    release(*messages)

    results = messages_deliver([m.pk for m in messages])

    # The sandbox posts each callback before it answers the send: it waits unmatched, then settles.
    assert [r.status for r in results] == [Status.DELIVERED, Status.DELIVERED]
    for message in messages:
        message.refresh_from_db()
        assert message.status == Status.DELIVERED and message.finished_at is not None
        assert history(message) == [Status.PENDING, Status.SENT, Status.DELIVERED]
        assert message.sync_id is not None
        receipt = CallbackReceipt.objects.get(sync_id=message.sync_id)
        assert receipt.message == message and receipt.matched_at is not None
        callback_request = InboundEvent.objects.get(pk=receipt.inbound_id)
        assert callback_request.correlation_id == message.correlation_id
        assert message.attempts_log.count() == 1
    assert sorted(SandboxMessage.objects.values_list("body", flat=True)) == ["пакет 0", "пакет 1"]


def test_a_batch_keeps_each_chats_order_and_leaves_the_later_message_to_its_turn(bot: Bot, world: World) -> None:
    first, second = (notify(bot, world.personal.group_chat_id, text, held=True) for text in ("раз", "два"))
    release(first, second)

    messages_deliver([second.pk, first.pk])

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.DELIVERED
    # Eager Celery: the first one's settling woke the second's own task, which sent it after the first.
    assert second.status == Status.DELIVERED
    bodies = list(SandboxMessage.objects.order_by("created_at", "pk").values_list("body", flat=True))
    assert bodies == ["раз", "два"]


def test_a_batch_past_the_rate_limit_sends_what_fits_and_reschedules_the_rest(bot: Bot, world: World) -> None:
    Bot.objects.filter(pk=bot.pk).update(rate_limit=1)
    bot.refresh_from_db()
    # The next slot is half a second away: the first send waits for it here, the second's is too far.
    SendSlot.objects.update_or_create(bot=bot, defaults={"next_at": timezone.now() + dt.timedelta(seconds=0.5)})
    chats = [world.personal, world.group]
    messages = [notify(bot, chat.group_chat_id, f"медленно {n}", held=True) for n, chat in enumerate(chats)]
    release(*messages)

    results = messages_deliver([m.pk for m in messages])

    statuses = {r.message_id: r for r in results}
    assert statuses[messages[0].pk].status == Status.DELIVERED
    later = statuses[messages[1].pk]
    assert later.status == Status.PENDING and later.retry_in is not None and later.retry_in > 0
    messages[1].refresh_from_db()
    assert messages[1].attempts == 0, "waiting for a send slot is not an attempt"
    assert 0.5 < later.retry_in <= 1.5


def test_a_server_error_in_a_batch_puts_only_that_message_back(bot: Bot, world: World, sandbox_cts: CtsServer) -> None:
    faults_set(sandbox_cts, error_rate=1.0)
    message = notify(bot, world.personal.group_chat_id, "сбой", held=True)
    release(message)

    (result,) = messages_deliver([message.pk])

    assert result.status == Status.PENDING and result.retry_in is not None
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_kind) == (Status.PENDING, 1, "transient")


@concurrent_writers
def test_the_calls_of_a_batch_to_different_chats_overlap_instead_of_waiting_for_each_other(
    bot: Bot, world: World, sandbox_cts: CtsServer
) -> None:
    faults_set(sandbox_cts, latency_ms=300)
    chats = [world.personal, world.group]
    messages = [notify(bot, chat.group_chat_id, f"вместе {n}", held=True) for n, chat in enumerate(chats)]
    release(*messages)

    results = messages_deliver([m.pk for m in messages])

    assert [r.status for r in results] == [Status.DELIVERED, Status.DELIVERED]
    attempts = [message.attempts_log.get() for message in messages]
    assert all(attempt.duration_ms >= 300 for attempt in attempts)
    # Each call began before the other one ended: they were in flight together.
    ends = [attempt.started_at + dt.timedelta(milliseconds=attempt.duration_ms) for attempt in attempts]
    assert max(attempt.started_at for attempt in attempts) < min(ends)


@concurrent_writers
def test_a_message_made_while_the_one_before_it_is_being_settled_is_not_left_waiting(
    bot: Bot, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers racing on one chat: this one settles the first message while another makes the
    second and finds the first still sending. Whichever looks last must see the other's work."""
    chat = world.personal.group_chat_id
    first = notify(bot, chat, "первое", held=True)
    release(first)
    made: list[OutboundMessage] = []
    raced = False
    go = delivery._pending_go

    def settle_then_race(pending: Any) -> None:
        nonlocal raced
        go(pending)
        if not raced:
            raced = True
            # The other worker, on its own connection: its message is committed and its own task
            # (eager) tries it at once.
            with ThreadPoolExecutor(max_workers=1) as other:
                made.append(other.submit(_in_thread, notify, bot, chat, "второе").result())

    # Where the first one's settling looks for the chat's next message: before the change it did so
    # inside its transaction, which let the race leave the second one pending.
    monkeypatch.setattr(delivery, "_pending_go", settle_then_race)
    messages_deliver([first.pk])

    (second,) = made
    second.refresh_from_db()
    assert second.status == Status.DELIVERED
    bodies = list(SandboxMessage.objects.order_by("created_at", "pk").values_list("body", flat=True))
    assert bodies == ["первое", "второе"]


def _in_thread(function: Callable[..., OutboundMessage], *args: Any) -> OutboundMessage:
    try:
        return function(*args)
    finally:
        connection.close()
