"""Delivering the outbox to BotX: the sandbox over real HTTP answers, fails and calls back.

Messages are put in the outbox as handlers put them (``message_enqueue`` in a transaction); eager
Celery delivers them when that commits, or a test calls ``message_deliver`` itself where it needs to
say when. The sandbox posts its callbacks to the portal's own ``/botx/<bot_id>/notification/callback``.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bots.models import Bot, CallbackReceipt, CtsServer, DeliveryAttempt, InboundEvent, OutboundMessage, SendSlot
from bots.sandbox.models import SandboxChat, SandboxMessage, SandboxToken
from bots.sandbox.services.messages import message_seen
from bots.services.botx_clients import clients_close
from bots.services.delivery import message_cancel, message_deliver, message_resend, message_status_fetch
from bots.services.outbox import message_enqueue
from bots.services.sweeper import sweep
from tests.sandbox_fixtures import World
from tests.traffic.delivery.conftest import (
    HELD,
    callback_release,
    deliver_until_settled,
    enqueue,
    faults_set,
    notify,
    release,
)

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboundMessage.Status
Outcome = DeliveryAttempt.Outcome


def history(message: OutboundMessage) -> list[str]:
    return list(message.events.order_by("at", "id").values_list("status", flat=True))


def attempts(message: OutboundMessage) -> list[DeliveryAttempt]:
    return list(message.attempts_log.order_by("number"))


def posted(chat: SandboxChat) -> list[str]:
    return list(SandboxMessage.objects.filter(chat=chat).order_by("created_at", "pk").values_list("body", flat=True))


# --- the happy path -----------------------------------------------------------------------------------


def test_a_notification_is_sent_and_then_delivered_by_its_callback(
    bot: Bot, world: World, sandbox_cts: CtsServer
) -> None:
    # The callback is held back, to come after the send's answer as it usually does.
    faults_set(sandbox_cts, callback_drop_rate=1.0, latency_ms=50)

    message = notify(bot, world.group.group_chat_id, "Привет, группа")

    assert message.status == Status.SENT
    assert message.sync_id is not None
    assert message.attempts == 1
    assert message.result == {"sync_id": str(message.sync_id)}
    in_chat = SandboxMessage.objects.get(sync_id=message.sync_id)
    assert (in_chat.chat, in_chat.sender_huid, in_chat.body) == (world.group, bot.bot_id, "Привет, группа")
    (attempt,) = attempts(message)
    assert attempt.number == 1
    assert (attempt.http_method, attempt.path) == ("POST", "/api/v4/botx/notifications/direct")
    assert attempt.status_code == 202
    assert attempt.outcome == Outcome.OK
    assert attempt.request_body == {
        "group_chat_id": str(world.group.group_chat_id),
        "notification": {"status": "ok", "body": "Привет, группа"},
    }
    assert json.loads(attempt.response_body) == {"status": "ok", "result": {"sync_id": str(message.sync_id)}}
    assert attempt.duration_ms >= 50  # the sandbox's added latency is in it
    assert history(message) == [Status.PENDING, Status.SENT]

    callback = callback_release(message.sync_id)

    assert callback.response_status == 202
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.finished_at is not None
    assert history(message) == [Status.PENDING, Status.SENT, Status.DELIVERED]
    receipt = CallbackReceipt.objects.get(sync_id=message.sync_id)
    assert receipt.ok
    assert receipt.message == message
    assert receipt.matched_at is not None
    request = receipt.inbound
    assert (request.endpoint, request.status, request.http_status) == ("callback", "answered", 202)
    assert request.verification == InboundEvent.Verification.VERIFIED


@pytest.mark.parametrize(
    ("chat_of", "reason"),
    [
        (lambda world: world.foreign.group_chat_id, "bot_is_not_a_chat_member"),
        (lambda world: uuid.uuid4(), "chat_not_found"),
    ],
    ids=["a chat without the bot", "no such chat"],
)
def test_a_notification_to_a_chat_the_bot_is_not_in_fails_with_the_callbacks_reason(
    bot: Bot, world: World, chat_of: Any, reason: str
) -> None:
    chat_id = chat_of(world)

    message = notify(bot, chat_id, "Никуда не дойдёт")

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.error_kind == "permanent"
    assert message.error_reason == reason
    assert message.error_data["group_chat_id"] == str(chat_id)
    assert message.error_data["error_description"]
    assert message.attempts == 1
    assert history(message) == [Status.PENDING, Status.SENT, Status.FAILED]
    assert message.sync_id is not None
    assert not SandboxMessage.objects.filter(sync_id=message.sync_id).exists()
    receipt = CallbackReceipt.objects.get(sync_id=message.sync_id)
    assert (receipt.ok, receipt.reason, receipt.message) == (False, reason, message)


def test_a_callback_that_comes_before_the_sends_answer_is_processed_is_still_matched(bot: Bot, world: World) -> None:
    # Eager Celery: the sandbox posts the callback inside its own request, before our worker has the
    # answer with the sync ID (pybotx issue #482).
    message = notify(bot, world.personal.group_chat_id, "Быстрый ответ")

    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.sync_id is not None
    receipt = CallbackReceipt.objects.get(sync_id=message.sync_id)
    sent = message.events.get(status=Status.SENT)
    assert receipt.received_at < sent.at, "the callback came first"
    assert receipt.message == message
    assert receipt.matched_at is not None and receipt.matched_at >= sent.at
    assert history(message) == [Status.PENDING, Status.SENT, Status.DELIVERED]


def test_a_callback_with_an_unknown_sync_id_is_recorded_unmatched_and_accepted(bot: Bot, post_callback: Any) -> None:
    sync_id = uuid.uuid4()

    response = post_callback(bot, {"sync_id": str(sync_id), "status": "ok", "result": {}})

    assert response.status_code == 202
    assert response.json() == {"result": "accepted"}
    receipt = CallbackReceipt.objects.get(sync_id=sync_id)
    assert receipt.message is None
    assert receipt.matched_at is None
    assert receipt.bot == bot
    assert receipt.inbound.status == InboundEvent.Status.ANSWERED


def test_the_callback_request_carries_the_correlation_id_of_the_message_it_answers(bot: Bot, world: World) -> None:
    message = notify(bot, world.group.group_chat_id, "Цепочка")

    receipt = CallbackReceipt.objects.select_related("inbound").get(message=message)
    assert receipt.inbound.correlation_id == message.correlation_id


# --- transient errors and the retry budget --------------------------------------------------------------


def test_a_server_error_puts_the_message_back_and_the_next_attempt_delivers_it(
    bot: Bot, world: World, sandbox_cts: CtsServer, settings: Any
) -> None:
    settings.OUTBOX_RETRY_BASE_SECONDS = 1
    faults_set(sandbox_cts, error_rate=1.0)
    before = timezone.now()

    message = notify(bot, world.group.group_chat_id, "Вторая попытка")

    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert message.attempts == 1
    assert (message.error_kind, message.error_reason) == ("transient", "unexpected_error")
    (attempt,) = attempts(message)
    assert (attempt.status_code, attempt.outcome) == (500, Outcome.TRANSIENT)
    # At least half the base delay after the attempt (the jitter takes off up to half).
    assert message.next_attempt_at >= attempt.started_at + dt.timedelta(seconds=0.5)
    assert message.next_attempt_at > before
    assert posted(world.group) == []

    faults_set(sandbox_cts, error_rate=0.0)
    release(message)
    result = message_deliver(message_id=message.pk)

    assert result is not None
    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.attempts == 2
    assert message.error_kind == ""
    assert [a.outcome for a in attempts(message)] == [Outcome.TRANSIENT, Outcome.OK]
    assert history(message) == [Status.PENDING, Status.PENDING, Status.SENT, Status.DELIVERED]
    assert posted(world.group) == ["Вторая попытка"]


def test_a_429_puts_the_next_attempt_no_earlier_than_its_retry_after(
    bot: Bot, world: World, sandbox_cts: CtsServer
) -> None:
    faults_set(sandbox_cts, throttle_rate=1.0, retry_after_seconds=3)
    before = timezone.now()

    message = notify(bot, world.group.group_chat_id, "Помедленнее")

    message.refresh_from_db()
    assert message.status == Status.PENDING
    assert message.next_attempt_at >= before + dt.timedelta(seconds=3)
    assert message.error_reason == "too_many_requests"
    (attempt,) = attempts(message)
    assert (attempt.status_code, attempt.outcome) == (429, Outcome.TRANSIENT)
    assert message_deliver(message_id=message.pk) is None
    message.refresh_from_db()
    assert message.attempts == 1


def test_a_message_fails_when_its_retry_budget_is_spent(
    bot: Bot, world: World, sandbox_cts: CtsServer, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 2
    faults_set(sandbox_cts, error_rate=1.0)
    message = notify(bot, world.group.group_chat_id, "Увы, не судьба")
    release(message)

    message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.attempts == 2
    assert message.error_kind == "transient"
    assert [a.outcome for a in attempts(message)] == [Outcome.TRANSIENT, Outcome.TRANSIENT]
    release(message)
    assert message_deliver(message_id=message.pk) is None
    assert len(attempts(message)) == 2


# --- permanent errors -------------------------------------------------------------------------------------


def test_a_request_botx_refuses_fails_at_once_without_a_retry(bot: Bot) -> None:
    missing = uuid.uuid4()

    message = enqueue(bot, "delete", {"sync_id": str(missing)})

    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert (message.error_kind, message.error_reason) == ("permanent", "sync_id_not_found")
    assert message.error_data["sync_id"] == str(missing)
    assert message.attempts == 1
    (attempt,) = attempts(message)
    assert (attempt.path, attempt.status_code, attempt.outcome) == (
        "/api/v3/botx/events/delete_event",
        404,
        Outcome.PERMANENT,
    )
    release(message)
    assert message_deliver(message_id=message.pk) is None
    assert len(attempts(message)) == 1


def test_a_payload_changed_past_validation_fails_before_anything_is_sent(bot: Bot, world: World) -> None:
    message = notify(bot, world.group.group_chat_id, "Исправлю", held=True)
    OutboundMessage.objects.filter(pk=message.pk).update(
        payload={"chat_id": str(world.group.group_chat_id), "body": 42}
    )
    release(message)

    result = message_deliver(message_id=message.pk)

    assert result is not None and result.status == Status.FAILED
    message.refresh_from_db()
    assert message.status == Status.FAILED
    assert message.error_kind == "permanent"
    assert "body" in message.error_detail
    assert attempts(message) == []
    assert posted(world.group) == []


# --- no answer after sending -----------------------------------------------------------------------------


def test_a_send_without_an_answer_leaves_the_message_unknown_until_an_operator_sends_it_again(
    bot: Bot, world: World, sandbox_cts: CtsServer, settings: Any
) -> None:
    settings.BOTX_HTTP_TIMEOUT_SECONDS = 1
    faults_set(sandbox_cts, timeout_rate=1.0, timeout_hold_ms=1500)
    answered_by = time.monotonic() + 1.5

    message = notify(bot, world.group.group_chat_id, "Дошло?")

    message.refresh_from_db()
    assert message.status == Status.UNKNOWN
    assert (message.error_kind, message.error_reason) == ("ambiguous", "read_timeout")
    assert message.sync_id is None
    (attempt,) = attempts(message)
    assert (attempt.status_code, attempt.outcome) == (None, Outcome.AMBIGUOUS)
    assert posted(world.group) == ["Дошло?"], "it did reach BotX"
    release(message)
    assert message_deliver(message_id=message.pk) is None, "never sent again by itself"
    settings.SWEEP_GRACE_SECONDS = 0
    assert sweep()["outbound"] == 0, "nor by the sweeper"
    message.refresh_from_db()
    assert (message.status, message.attempts) == (Status.UNKNOWN, 1)

    faults_set(sandbox_cts, timeout_rate=0.0)
    settings.BOTX_HTTP_TIMEOUT_SECONDS = 10
    clients_close()  # the bot's client was made with the short timeout
    assert message_resend(message=message, actor="operator")

    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.attempts == 2
    assert message.events.filter(status=Status.PENDING, note="sent again by operator").exists()
    assert posted(world.group) == ["Дошло?", "Дошло?"]
    assert not message_resend(message=message, actor="operator"), "a delivered message is not sent again"
    # The sandbox finishes the held answer (and its request) before the test gives up its database.
    time.sleep(max(answered_by + 0.2 - time.monotonic(), 0))


# --- what an operator does ------------------------------------------------------------------------------------


def test_an_operator_sends_a_failed_message_again(
    bot: Bot, world: World, sandbox_cts: CtsServer, settings: Any
) -> None:
    settings.OUTBOX_MAX_ATTEMPTS = 1
    faults_set(sandbox_cts, error_rate=1.0)
    message = notify(bot, world.group.group_chat_id, "Ещё раз")
    message.refresh_from_db()
    assert message.status == Status.FAILED
    faults_set(sandbox_cts, error_rate=0.0)

    assert message_resend(message=message, actor="operator")

    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert message.finished_at is not None
    assert message.error_kind == ""
    assert posted(world.group) == ["Ещё раз"]


def test_an_operator_cancels_a_pending_message_and_the_next_one_in_its_chat_goes(bot: Bot, world: World) -> None:
    first = notify(bot, world.group.group_chat_id, "Отменю", held=True)
    second = notify(bot, world.group.group_chat_id, "Уйдёт", held=True)
    release(second)
    assert message_deliver(message_id=second.pk) is None, "the first one in its chat is still open"

    assert message_cancel(message=first, actor="operator")

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.CANCELLED
    assert first.finished_at is not None
    assert first.events.filter(status=Status.CANCELLED, note="cancelled by operator").exists()
    assert second.status == Status.DELIVERED
    assert posted(world.group) == ["Уйдёт"]
    release(first)
    assert message_deliver(message_id=first.pk) is None
    assert not message_cancel(message=second, actor="operator"), "a delivered message is not cancelled"


# --- order and pace ----------------------------------------------------------------------------------------------


def _deliver_in_thread(message_id: int) -> None:
    try:
        message_deliver(message_id=message_id)
    finally:
        connection.close()


@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason=(
        "SQLite's in-memory test database locks a table another connection writes instead of waiting, so "
        "parallel workers trip over each other and the live server; this runs on PostgreSQL"
    ),
)
def test_each_chats_messages_reach_the_sandbox_in_the_order_they_were_made_when_workers_race(
    bot: Bot, world: World
) -> None:
    chats = [world.group, world.personal]
    with transaction.atomic():
        made = [
            message_enqueue(
                bot=bot, method="notification", payload={"chat_id": str(chat.group_chat_id), "body": f"{chat.name} {n}"}
            )
            for n in range(10)
            for chat in chats
        ]
        OutboundMessage.objects.filter(pk__in=[m.pk for m in made]).update(next_attempt_at=timezone.now() + HELD)
    ids = [m.pk for m in made]
    release(*made)

    deadline = time.monotonic() + 20
    open_ids = ids
    with ThreadPoolExecutor(max_workers=4) as pool:
        while open_ids and time.monotonic() < deadline:
            random.shuffle(open_ids)
            list(pool.map(_deliver_in_thread, open_ids))
            open_ids = list(
                OutboundMessage.objects.filter(pk__in=ids, status__in=OutboundMessage.OPEN_STATUSES).values_list(
                    "pk", flat=True
                )
            )
            time.sleep(0.02)

    assert open_ids == []
    assert set(OutboundMessage.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Status.DELIVERED}
    for chat in chats:
        assert posted(chat) == [f"{chat.name} {n}" for n in range(10)]


def test_the_bots_rate_limit_spaces_its_sends(bot: Bot, world: World) -> None:
    Bot.objects.filter(pk=bot.pk).update(rate_limit=5)
    bot.refresh_from_db()
    chats = [world.group, world.personal, world.channel]
    started = time.monotonic()

    with transaction.atomic():
        made = [
            message_enqueue(
                bot=bot, method="notification", payload={"chat_id": str(chats[n % 3].group_chat_id), "body": str(n)}
            )
            for n in range(10)
        ]
    deliver_until_settled([m.pk for m in made])

    elapsed = time.monotonic() - started
    assert elapsed >= 1.6, f"10 messages at 5 per second took {elapsed:.2f} s"
    assert SandboxMessage.objects.filter(sender_huid=bot.bot_id).count() == 10


def test_messages_waiting_for_the_rate_limit_are_all_sent_once_their_turn_comes(bot: Bot, world: World) -> None:
    Bot.objects.filter(pk=bot.pk).update(rate_limit=2)
    bot.refresh_from_db()
    # Workers running in parallel have taken the bot's slots for the next 1.2 s (a burst).
    SendSlot.objects.update_or_create(bot=bot, defaults={"next_at": timezone.now() + dt.timedelta(seconds=1.2)})
    chats = [world.group, world.personal, world.channel]

    with transaction.atomic():
        made = [
            message_enqueue(bot=bot, method="notification", payload={"chat_id": str(chat.group_chat_id), "body": "x"})
            for chat in chats
        ]

    # At 2 per second after 1.2 s, the three are due by about 2.2 s.
    deliver_until_settled([m.pk for m in made], timeout=3.5)


# --- other CTS setups and look-ups ------------------------------------------------------------------------------


def test_a_bot_on_a_cts_with_v1_tokens_delivers_with_a_token_from_the_token_endpoint(
    bot: Bot, world: World, sandbox_cts: CtsServer
) -> None:
    sandbox_cts.auth_mode = "v1"
    sandbox_cts.save()
    bot.refresh_from_db()

    message = notify(bot, world.personal.group_chat_id, "По токену")

    message.refresh_from_db()
    assert message.status == Status.DELIVERED
    assert SandboxToken.objects.filter(bot=bot).count() == 1
    assert posted(world.personal) == ["По токену"]
    second = notify(bot, world.personal.group_chat_id, "Тот же токен")
    second.refresh_from_db()
    assert second.status == Status.DELIVERED
    assert SandboxToken.objects.filter(bot=bot).count() == 1, "the token is reused"


def test_fetching_a_messages_status_stores_who_got_and_read_it(bot: Bot, world: World) -> None:
    message = notify(bot, world.group.group_chat_id, "Прочтите")
    message.refresh_from_db()
    assert message.sync_id is not None
    message_seen(sync_id=message.sync_id, user_huid=world.ivan.huid)
    message_seen(sync_id=message.sync_id, user_huid=world.maria.huid, read=False)

    status = message_status_fetch(message=message)

    message.refresh_from_db()
    assert message.delivery_status == status
    assert message.delivery_status_at is not None
    assert status["chat_id"] == str(world.group.group_chat_id)
    assert sorted(status["sent_to"]) == sorted([str(world.ivan.huid), str(world.maria.huid)])
    assert sorted(r["user_huid"] for r in status["received_by"]) == sorted(
        [str(world.ivan.huid), str(world.maria.huid)]
    )
    assert [r["user_huid"] for r in status["read_by"]] == [str(world.ivan.huid)]
