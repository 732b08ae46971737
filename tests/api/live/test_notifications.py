"""The notifications bot: corporate systems post through the API; in chat the bot explains itself.

Driven through the real ``/botx/<bot_id>/command`` (a sandbox user writes) and through the API; checked
in the outbox and in what the sandbox BotX received.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from functools import partial
from typing import Any

import pytest
from django.utils import timezone

from bots.api.services.sending import scheduled_enqueue_due
from bots.models import Bot, InboundEvent, OutboundMessage
from bots.sandbox.models import SandboxChat, SandboxMessage
from bots.sandbox.services.user_send import UserMessage, sandbox_user_send
from tests.api.conftest import Api
from tests.sandbox_fixtures import World
from tests.traffic.delivery.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def from_bot(bot: Bot, chat: SandboxChat) -> list[SandboxMessage]:
    return list(SandboxMessage.objects.filter(chat=chat, sender_huid=bot.bot_id).order_by("created_at", "pk"))


def finished(api: Api, broadcast_id: int) -> dict[str, Any] | None:
    progress: dict[str, Any] = api.get(f"broadcasts/{broadcast_id}/").json()
    return progress if progress["state"] == "done" else None


def delivered(message_id: int) -> OutboundMessage | None:
    return OutboundMessage.objects.filter(pk=message_id, status=OutboundMessage.Status.DELIVERED).first()


def test_help_in_chat_says_the_bot_is_a_notification_channel(bot: Bot, world: World, live_server: Any) -> None:
    sent = sandbox_user_send(
        bot=bot, chat=world.group, user=world.maria, message=UserMessage(body="/help"), origin=live_server.url
    )

    assert sent.status_code == 202, sent.body
    (answer,) = wait_until(lambda: from_bot(bot, world.group))
    assert "notification channel" in answer.body
    assert "/chatid" in answer.body
    event = InboundEvent.objects.get(bot=bot, sync_id=sent.sync_id, endpoint="command")
    assert event.status == InboundEvent.Status.DONE
    row = OutboundMessage.objects.get(inbound=event)
    assert row.sync_id == answer.sync_id
    assert row.payload["chat_id"] == str(world.group.group_chat_id)


def test_a_chat_admin_gets_the_chat_id_and_a_member_does_not(bot: Bot, world: World, live_server: Any) -> None:
    for user in (world.ivan, world.maria):  # Ivan is an admin of the group, Maria is not
        sandbox_user_send(
            bot=bot, chat=world.group, user=user, message=UserMessage(body="/chatid"), origin=live_server.url
        )
    admin_answer, member_answer = wait_until(lambda: (m := from_bot(bot, world.group)) and len(m) == 2 and m)

    assert str(world.group.group_chat_id) in admin_answer.body
    assert str(world.group.group_chat_id) not in member_answer.body
    assert "Only an admin" in member_answer.body


def test_other_messages_get_a_hint_not_an_echo(bot: Bot, world: World, live_server: Any) -> None:
    sandbox_user_send(
        bot=bot, chat=world.personal, user=world.ivan, message=UserMessage(body="hello?"), origin=live_server.url
    )

    (answer,) = wait_until(lambda: from_bot(bot, world.personal))
    assert "/help" in answer.body
    assert "hello?" not in answer.body


def test_a_system_posts_to_the_global_chat_with_all_mention_link_button_and_file(
    api: Api, bot: Bot, world: World
) -> None:
    everyone = str(uuid.uuid4())

    answer = api.post(
        "messages/",
        {
            "bot": str(bot.bot_id),
            "chat_id": str(world.group.group_chat_id),
            "body": f"{{mention:{everyone}}} **Servers restart** at 22:00",
            "mentions": [{"type": "all", "id": everyone}],
            "bubbles": [[{"label": "Details", "link": "https://status.example.com"}]],
            "file": {"file_name": "plan.txt", "data_base64": base64.b64encode(b"step 1").decode()},
            "metadata": {"incident": 42},
            "push": True,
        },
    )

    assert answer.status_code == 202, answer.content
    message = wait_until(lambda: delivered(answer.json()["message_id"]))
    (posted,) = from_bot(bot, world.group)
    assert posted.sync_id == message.sync_id
    assert posted.body == f"@{{mention:{everyone}}} **Servers restart** at 22:00"
    assert posted.mentions[0]["mention_type"] == "all"
    assert posted.bubble[0][0]["label"] == "Details"
    assert posted.metadata == {"incident": 42}
    assert posted.file is not None and bytes(posted.file.content) == b"step 1"
    status = api.get(f"messages/{message.pk}/", {"refresh": "true"}).json()
    assert status["status"] == "delivered"
    assert status["callbacks"][0]["ok"] is True
    assert status["refresh_error"] is None
    assert status["delivery_status"]["chat_id"] == str(world.group.group_chat_id)


def test_a_message_for_later_reaches_the_chat_only_when_due(api: Api, bot: Bot, world: World) -> None:
    send_at = timezone.now() + dt.timedelta(minutes=30)
    result = api.post(
        "messages/",
        {
            "bot": str(bot.bot_id),
            "chat_id": str(world.channel.group_chat_id),
            "body": "Payday",
            "send_at": send_at.isoformat(),
        },
    ).json()

    scheduled_enqueue_due()
    assert not from_bot(bot, world.channel)

    scheduled_enqueue_due(now=send_at)
    message_id = api.get(f"scheduled/{result['scheduled_id']}/").json()["message_id"]
    wait_until(lambda: delivered(message_id))
    assert [m.body for m in from_bot(bot, world.channel)] == ["Payday"]


def test_a_broadcast_to_chats_and_users_runs_to_completion(api: Api, bot: Bot, world: World) -> None:
    chats = [world.group, world.personal, world.channel]
    to_chats = api.post(
        "broadcasts/",
        {"bot": str(bot.bot_id), "body": "Office closed on Friday", "chat_ids": [str(c.group_chat_id) for c in chats]},
    ).json()
    to_users = api.post(
        "broadcasts/",
        {
            "bot": str(bot.bot_id),
            "body": "Your badge expires",
            "chat_id": str(world.group.group_chat_id),
            "user_huids": [str(world.ivan.huid), str(world.maria.huid)],
        },
    ).json()

    for broadcast_id in (to_chats["id"], to_users["id"]):
        done: dict[str, Any] = wait_until(partial(finished, api, broadcast_id))
        assert done["counts"]["delivered"] == done["total"]
    for chat in chats:
        assert "Office closed on Friday" in [m.body for m in from_bot(bot, chat)]
    badges = [m for m in from_bot(bot, world.group) if m.body == "Your badge expires"]
    assert sorted(huid for m in badges for huid in m.recipients or []) == sorted(
        [str(world.ivan.huid), str(world.maria.huid)]
    )
    recipients = api.get(f"broadcasts/{to_users['id']}/recipients/").json()["results"]
    assert {r["status"] for r in recipients} == {"delivered"}
    assert {r["sync_id"] for r in recipients} == {str(m.sync_id) for m in badges}


def test_a_broadcast_to_a_chat_without_the_bot_reports_that_recipient_failed(api: Api, bot: Bot, world: World) -> None:
    body = api.post(
        "broadcasts/",
        {
            "bot": str(bot.bot_id),
            "body": "Hi",
            "chat_ids": [str(world.group.group_chat_id), str(world.foreign.group_chat_id)],
        },
    ).json()

    done = wait_until(lambda: finished(api, body["id"]))
    assert {k: v for k, v in done["counts"].items() if v} == {"delivered": 1, "failed": 1}
    (failed,) = api.get(f"broadcasts/{body['id']}/recipients/", {"status": "failed"}).json()["results"]
    assert failed["chat_id"] == str(world.foreign.group_chat_id)
