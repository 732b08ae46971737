"""``sandbox_user_send``: real Bot API ``/command`` payloads posted to a bot over HTTP."""

from __future__ import annotations

import base64
import uuid

import pytest

from bots.sandbox import bot_api
from bots.sandbox.models import SandboxDelivery, SandboxFile, SandboxMessage
from bots.sandbox.services.user_send import UserFile, UserMessage, button_press, sandbox_user_send
from tests.sandbox.conftest import BOT_ID

DIRECT_SYNC = "/api/v4/botx/notifications/direct/sync"


def send(bot, world, message, chat=None, user=None):
    return sandbox_user_send(bot=bot, chat=chat or world.group, user=user or world.ivan, message=message)


def test_a_user_message_is_posted_signed_and_recorded(bot, world, receiver):
    result = send(bot, world, UserMessage(body="/hello world"))

    assert result.status_code == 202
    assert result.json == {"result": "accepted"}
    [command] = receiver.wait_for(1, kind="command")
    assert command.path == f"/bots/{BOT_ID}/command"
    assert command.jwt_error == ""
    assert command.claims["iss"] == str(BOT_ID)
    payload = command.body
    assert payload == result.payload
    assert payload["sync_id"] == str(result.sync_id)
    assert payload["source_sync_id"] is None
    assert payload["bot_id"] == str(BOT_ID)
    assert payload["proto_version"] == 4
    assert payload["command"] == {"body": "/hello world", "command_type": "user", "data": {}, "metadata": {}}
    assert payload["attachments"] == payload["async_files"] == payload["entities"] == []
    sender = payload["from"]
    assert sender["user_huid"] == str(world.ivan.huid)
    assert sender["group_chat_id"] == str(world.group.group_chat_id)
    assert sender["chat_type"] == "group_chat"
    assert sender["ad_login"] == "ipetrov"
    assert sender["ad_domain"] == "corp"
    assert sender["username"] == "Иван Петров"
    assert sender["is_admin"] is True
    assert sender["is_creator"] is True
    assert sender["platform"] == "web"
    assert sender["host"] == bot.cts.host
    message = SandboxMessage.objects.get(sync_id=result.sync_id)
    assert message.sender_huid == world.ivan.huid
    assert message.body == "/hello world"
    assert SandboxDelivery.objects.get(sync_id=result.sync_id).status == SandboxDelivery.Status.DELIVERED


def test_what_the_bot_answers_is_returned(bot, world, receiver):
    receiver.status = 503
    receiver.answer = {"reason": "bot_disabled", "error_data": {"status_message": "Выключен"}, "errors": []}

    result = send(bot, world, UserMessage(body="hi"))

    assert result.status_code == 503
    assert result.json["error_data"]["status_message"] == "Выключен"
    assert SandboxDelivery.objects.get(sync_id=result.sync_id).status == SandboxDelivery.Status.FAILED


def test_a_bot_that_cannot_be_reached_gives_no_status_and_an_error(bot, world, sandbox_cts):
    from tests.sandbox.conftest import faults_set

    faults_set(sandbox_cts, bot_base_url="http://127.0.0.1:9")

    result = send(bot, world, UserMessage(body="hi"))

    assert result.status_code is None
    assert result.error


def bot_message(client, world, **notification):
    body = {
        "group_chat_id": str(world.group.group_chat_id),
        "notification": {"status": "ok", "body": "?"} | notification,
    }
    return SandboxMessage.objects.get(sync_id=client.request("POST", DIRECT_SYNC, json=body)["sync_id"])


def test_a_button_press_carries_command_data_metadata_and_source(bot, client, world, receiver):
    message = bot_message(
        client,
        world,
        metadata={"poll": 1},
        bubble=[[{"command": "/vote 1", "label": "Да", "data": {"choice": 1}, "opts": {"silent": True}}]],
    )

    result = send(bot, world, button_press(message))

    command = receiver.wait_for(1, kind="command")[0].body
    assert command["source_sync_id"] == str(message.sync_id)
    assert command["command"] == {
        "body": "/vote 1",
        "command_type": "user",
        "data": {"choice": 1},
        "metadata": {"poll": 1},
    }
    assert result.message is None  # a silent press is not shown in the chat
    assert not SandboxMessage.objects.filter(sync_id=result.sync_id).exists()


def test_a_keyboard_button_that_is_not_silent_is_recorded(bot, client, world, receiver):
    message = bot_message(
        client, world, keyboard=[[{"command": "/help", "label": "Помощь", "opts": {"silent": False}}]]
    )

    result = send(bot, world, button_press(message, keyboard=True))

    assert result.message is not None
    assert result.message.body == "/help"


def test_files_go_as_attachments_or_async_files(bot, world, receiver):
    picture = b"\x89PNG\r\n\x1a\nfake"
    message = UserMessage(
        body="Смотрите",
        files=(
            UserFile("photo.png", picture),
            UserFile("report.pdf", b"%PDF", as_async_file=True, caption="Отчёт"),
        ),
        attachments=(bot_api.Location("Офис", "Москва", 55.75, 37.61),),
    )

    result = send(bot, world, message)

    payload = receiver.wait_for(1, kind="command")[0].body
    image, location = payload["attachments"]
    assert image["type"] == "image"
    assert image["data"]["file_name"] == "photo.png"
    assert image["data"]["content"] == "data:image/png;base64," + base64.b64encode(picture).decode()
    assert location == {
        "type": "location",
        "data": {"location_name": "Офис", "location_address": "Москва", "location_lat": 55.75, "location_lng": 37.61},
    }
    [document] = payload["async_files"]
    assert document["type"] == "document"
    assert document["file_name"] == "report.pdf"
    assert document["file_mime_type"] == "application/pdf"
    assert document["caption"] == "Отчёт"
    stored = SandboxFile.objects.get(file_id=document["file_id"])
    assert bytes(stored.content) == b"%PDF"
    assert result.message.file.file_name == "photo.png"
    assert "content" not in result.message.attachments[0]["data"]  # the row keeps no base64 copy


def test_a_voice_message_has_a_duration_and_no_file_name(bot, world, receiver):
    send(bot, world, UserMessage(files=(UserFile("voice.mp3", b"ID3", mimetype="audio/mp3", duration=4),)))

    [voice] = receiver.wait_for(1, kind="command")[0].body["attachments"]
    assert voice["type"] == "voice"
    assert voice["data"]["duration"] == 4
    assert "file_name" not in voice["data"]


def test_mentions_replies_and_forwards_are_entities(bot, client, world, receiver):
    source = bot_message(client, world, body="Вопрос?")
    mention = bot_api.Mention(target=world.maria.huid, name="Мария")
    original = send(bot, world, UserMessage(body="Исходное"), chat=world.personal)

    send(bot, world, UserMessage(body=f"{mention.placeholder}, ответ", mentions=(mention,), reply_to=source.sync_id))
    send(bot, world, UserMessage(forward_of=original.sync_id))

    commands = receiver.wait_for(3, kind="command")
    reply_payload, forward_payload = commands[1].body, commands[2].body
    assert reply_payload["command"]["body"] == f"@{{mention:{mention.mention_id}}}, ответ"
    mention_entity, reply_entity = reply_payload["entities"]
    assert mention_entity == {
        "type": "mention",
        "data": {
            "mention_type": "user",
            "mention_id": str(mention.mention_id),
            "mention_data": {"user_huid": str(world.maria.huid), "name": "Мария", "conn_type": "cts"},
        },
    }
    assert reply_entity["type"] == "reply"
    assert reply_entity["data"]["source_sync_id"] == str(source.sync_id)
    assert reply_entity["data"]["sender"] == str(BOT_ID)
    assert reply_entity["data"]["body"] == "Вопрос?"
    assert reply_entity["data"]["reply_type"] == "group_chat"
    [forward] = forward_payload["entities"]
    assert forward["type"] == "forward"
    assert forward["data"]["group_chat_id"] == str(world.personal.group_chat_id)
    assert forward["data"]["sender_huid"] == str(world.ivan.huid)
    assert forward["data"]["forward_type"] == "chat"
    assert forward["data"]["source_sync_id"] == str(original.sync_id)
    assert forward_payload["command"]["body"] == "Исходное"
    assert SandboxMessage.objects.get(sync_id=commands[1].body["sync_id"]).source_sync_id == source.sync_id


def test_a_system_event_carries_only_chat_fields_in_from(bot, world, receiver):
    event = bot_api.added_to_chat([world.maria.huid])

    result = sandbox_user_send(bot=bot, chat=world.group, user=None, message=event)

    assert result.status_code == 202
    payload = receiver.wait_for(1, kind="command")[0].body
    assert payload["command"] == {
        "body": "system:added_to_chat",
        "command_type": "system",
        "data": {"added_members": [str(world.maria.huid)]},
        "metadata": {},
    }
    assert payload["from"]["group_chat_id"] == str(world.group.group_chat_id)
    assert payload["from"]["user_huid"] is None
    assert payload["from"]["host"] == bot.cts.host
    assert result.message is None


def test_a_server_event_has_no_chat(bot, world, receiver):
    sandbox_user_send(
        bot=bot, chat=None, user=None, message=bot_api.cts_login(user_huid=world.ivan.huid, cts_id=uuid.uuid4())
    )

    payload = receiver.wait_for(1, kind="command")[0].body
    assert payload["command"]["body"] == "system:cts_login"
    assert payload["from"]["group_chat_id"] is None
    assert payload["from"]["host"] == bot.cts.host


def test_a_smartapp_event_carries_the_user_context(bot, world, receiver):
    event = bot_api.smartapp_event(smartapp_id=BOT_ID, data={"type": "smartapp_rpc", "method": "sum", "params": {}})

    sandbox_user_send(bot=bot, chat=world.personal, user=world.ivan, message=event)

    payload = receiver.wait_for(1, kind="command")[0].body
    assert payload["command"]["data"]["smartapp_id"] == str(BOT_ID)
    assert payload["command"]["data"]["smartapp_api_version"] == 1
    assert payload["from"]["user_huid"] == str(world.ivan.huid)
    assert payload["from"]["locale"]


def test_a_users_edit_changes_the_recorded_message(bot, world, receiver):
    original = send(bot, world, UserMessage(body="опечтка"))

    sandbox_user_send(
        bot=bot,
        chat=world.group,
        user=world.ivan,
        message=bot_api.event_edit(sync_id=original.sync_id, body="опечатка"),
    )

    payload = receiver.wait_for(2, kind="command")[1].body
    assert payload["sync_id"] == str(original.sync_id)
    assert payload["command"]["data"] == {"body": "опечатка"}
    message = SandboxMessage.objects.get(sync_id=original.sync_id)
    assert message.body == "опечатка"
    assert message.is_edited


def test_a_bot_reply_to_a_users_message_lands_in_its_chat(bot, client, world, receiver):
    result = send(bot, world, UserMessage(body="/ping"))

    client.request(
        "POST",
        "/api/v3/botx/events/reply_event",
        json={"source_sync_id": str(result.sync_id), "reply": {"status": "ok", "body": "pong"}},
    )

    assert SandboxMessage.objects.get(source_sync_id=result.sync_id).body == "pong"


def test_a_user_message_needs_a_chat_and_a_user(bot):
    with pytest.raises(ValueError, match="chat and a user"):
        sandbox_user_send(bot=bot, chat=None, user=None, message=UserMessage(body="x"))
