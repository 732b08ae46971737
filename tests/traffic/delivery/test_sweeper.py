"""The sweeper finds what was stored and then forgotten; the purge forgets what is past its time."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError

from bots import tasks
from bots.models import Bot, CallbackReceipt, DeliveryAttempt, InboundEvent, MessageEvent, OutboundMessage
from bots.sandbox.models import SandboxMessage
from bots.sandbox.services.user_send import UserMessage, sandbox_user_send
from bots.services.sweeper import purge, sweep
from portal.celery import app as celery_app
from tests.sandbox_fixtures import World
from tests.traffic.delivery.conftest import notify

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboundMessage.Status


def ago(**delta: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


def bot_said(bot: Bot, world: World) -> list[str]:
    return list(
        SandboxMessage.objects.filter(chat=world.personal, sender_huid=bot.bot_id)
        .order_by("created_at")
        .values_list("body", flat=True)
    )


def test_a_message_stuck_in_sending_past_the_cutoff_becomes_unknown_and_is_not_sent_again(
    bot: Bot, world: World
) -> None:
    cutoff = settings.BOTX_HTTP_TIMEOUT_SECONDS * 3 + 60
    lost = notify(bot, world.group.group_chat_id, "Воркер упал", held=True)
    busy = notify(bot, world.personal.group_chat_id, "Ещё отправляется", held=True)
    # Claimed by workers: one died long ago, the other is still waiting for BotX.
    OutboundMessage.objects.filter(pk=lost.pk).update(status=Status.SENDING, sent_at=ago(seconds=cutoff + 5))
    OutboundMessage.objects.filter(pk=busy.pk).update(status=Status.SENDING, sent_at=ago(seconds=5))

    counts = sweep()

    assert counts["stuck"] == 1
    lost.refresh_from_db()
    busy.refresh_from_db()
    assert lost.status == Status.UNKNOWN
    assert (lost.error_kind, lost.error_reason) == ("ambiguous", "worker_lost")
    assert lost.finished_at is not None
    assert lost.events.latest("id").status == Status.UNKNOWN
    assert busy.status == Status.SENDING
    assert not SandboxMessage.objects.exists()
    assert not DeliveryAttempt.objects.exists()


def test_due_messages_whose_task_was_lost_are_enqueued_again(bot: Bot, world: World) -> None:
    grace = settings.SWEEP_GRACE_SECONDS
    lost = notify(bot, world.group.group_chat_id, "Потерянная задача", held=True)
    recent = notify(bot, world.personal.group_chat_id, "Задача ещё в очереди", held=True)
    OutboundMessage.objects.filter(pk=lost.pk).update(next_attempt_at=ago(seconds=grace + 30))
    OutboundMessage.objects.filter(pk=recent.pk).update(next_attempt_at=ago(seconds=grace / 2))

    counts = sweep()

    assert counts["outbound"] == 1
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.status == Status.DELIVERED
    assert recent.status == Status.PENDING
    assert list(SandboxMessage.objects.values_list("body", flat=True)) == ["Потерянная задача"]


def test_commands_whose_task_was_lost_wake_a_drain_that_answers_them_with_a_fresh_queued_at(
    bot: Bot, world: World, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    grace = settings.SWEEP_GRACE_SECONDS

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("the broker is down")

    with monkeypatch.context() as broken:
        broken.setattr(type(celery_app.tasks[tasks.inbound_drain.name]), "apply_async", broker_down)
        old, new = [
            sandbox_user_send(
                bot=bot, chat=world.personal, user=world.ivan, message=UserMessage(body=text), origin=live_server.url
            )
            for text in ("давно", "только что")
        ]
    assert (old.status_code, new.status_code) == (202, 202)
    long_ago = ago(seconds=grace + 60)
    InboundEvent.objects.filter(sync_id=old.sync_id).update(queued_at=long_ago)
    just_now = ago(seconds=grace / 2)
    InboundEvent.objects.filter(sync_id=new.sync_id).update(queued_at=just_now)

    counts = sweep()

    assert counts["inbound"] == 1
    stale = InboundEvent.objects.get(sync_id=old.sync_id)
    fresh = InboundEvent.objects.get(sync_id=new.sync_id)
    assert stale.status == InboundEvent.Status.DONE
    assert stale.queued_at is not None and stale.queued_at > long_ago
    # The drain claims every stored command, the recent one too: each is answered once.
    assert (fresh.status, fresh.queued_at) == (InboundEvent.Status.DONE, just_now)
    assert bot_said(bot, world) == ["давно", "только что"]


def test_a_callback_that_waited_unmatched_is_matched_once_its_message_has_the_sync_id(
    bot: Bot, world: World, post_callback: Any
) -> None:
    message = notify(bot, world.group.group_chat_id, "Ответ потерялся", held=True)
    sync_id = uuid.uuid4()
    response = post_callback(
        bot,
        {
            "sync_id": str(sync_id),
            "status": "error",
            "reason": "chat_not_found",
            "errors": [],
            "error_data": {"group_chat_id": str(world.group.group_chat_id), "error_description": "Chat not found"},
        },
    )
    assert response.status_code == 202
    receipt = CallbackReceipt.objects.get(sync_id=sync_id)
    assert receipt.message is None
    # A stale one, past the hour the sweeper looks back, is left alone.
    stale_id = uuid.uuid4()
    post_callback(bot, {"sync_id": str(stale_id), "status": "ok", "result": {}})
    CallbackReceipt.objects.filter(sync_id=stale_id).update(received_at=ago(hours=2))
    # The worker stored the answer's sync ID, but the matching that should have followed was lost.
    OutboundMessage.objects.filter(pk=message.pk).update(status=Status.SENT, sync_id=sync_id)

    counts = sweep()

    assert counts["callbacks"] == 1
    receipt.refresh_from_db()
    message.refresh_from_db()
    assert receipt.message == message
    assert receipt.matched_at is not None
    assert message.status == Status.FAILED
    assert message.error_reason == "chat_not_found"
    assert CallbackReceipt.objects.get(sync_id=stale_id).message is None


def test_purge_deletes_what_is_older_than_each_bots_retention_and_keeps_the_rest(
    bot: Bot, other_bot: Bot, world: World, post_callback: Any
) -> None:
    Bot.objects.filter(pk=bot.pk).update(retention_days=7)

    def message(owner: Bot | None, days: float) -> OutboundMessage:
        made = notify(bot, world.group.group_chat_id, f"{owner} {days}", held=True)
        OutboundMessage.objects.filter(pk=made.pk).update(bot=owner, created_at=ago(days=days))
        MessageEvent.objects.create(message=made, status=Status.CANCELLED)
        return made

    def request(owner: Bot, days: float) -> InboundEvent:
        sync_id = uuid.uuid4()
        post_callback(owner, {"sync_id": str(sync_id), "status": "ok", "result": {}})
        event = InboundEvent.objects.get(sync_id=sync_id)
        InboundEvent.objects.filter(pk=event.pk).update(received_at=ago(days=days))
        return event

    orphan_days = settings.LEDGER_ORPHAN_RETENTION_DAYS
    gone = [message(bot, 8), message(other_bot, 91), message(None, orphan_days + 1)]
    kept = [message(bot, 6), message(other_bot, 8), message(None, orphan_days - 1)]
    gone_requests = [request(bot, 8)]
    kept_requests = [request(bot, 6), request(other_bot, 8)]

    counts = purge()

    assert counts["inbound"] > 0 and counts["outbound"] > 0  # rows, with what went with them
    remaining = set(OutboundMessage.objects.values_list("pk", flat=True))
    assert remaining == {m.pk for m in kept}
    assert not MessageEvent.objects.filter(message_id__in=[m.pk for m in gone]).exists()
    assert set(InboundEvent.objects.values_list("pk", flat=True)) == {e.pk for e in kept_requests}
    assert not CallbackReceipt.objects.filter(inbound_id__in=[e.pk for e in gone_requests]).exists()
    assert CallbackReceipt.objects.count() == 2
