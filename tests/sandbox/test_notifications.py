"""Notifications API over HTTP: direct (async with a callback, and sync), internal; bad bodies."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from bots.botx.errors import BotxError
from bots.sandbox.models import SandboxDelivery, SandboxMessage
from tests.sandbox.conftest import BOT_ID, OTHER_BOT_ID

DIRECT = "/api/v4/botx/notifications/direct"
DIRECT_SYNC = "/api/v4/botx/notifications/direct/sync"
INTERNAL = "/api/v4/botx/notifications/internal"


def notification(chat_id, **extra):
    return {"group_chat_id": str(chat_id), "notification": {"status": "ok", "body": "Привет"}} | extra


def test_a_direct_notification_is_answered_202_and_confirmed_by_a_signed_callback(client, world, receiver):
    body = notification(
        world.group.group_chat_id,
        notification={
            "status": "ok",
            "body": "Hi, @{mention:0d4b3c4c-3f0e-4a53-a6f5-0a9f1d7e1f11}!",
            "metadata": {"order": 7},
            "opts": {"buttons_auto_adjust": True},
            "bubble": [[{"command": "/yes", "label": "Yes", "data": {"a": 1}, "opts": {"silent": True}}]],
            "keyboard": [[{"command": "/help", "label": "Help"}]],
            "mentions": [
                {
                    "mention_type": "user",
                    "mention_id": "0d4b3c4c-3f0e-4a53-a6f5-0a9f1d7e1f11",
                    "mention_data": {"user_huid": str(world.ivan.huid)},
                }
            ],
        },
        file={"file_name": "a.txt", "data": "data:text/plain;base64," + base64.b64encode(b"Hi").decode()},
    )

    result = client.request("POST", DIRECT, json=body)

    sync_id = uuid.UUID(result["sync_id"])
    [callback] = receiver.wait_for(1, kind="callback")
    assert callback.path == f"/bots/{BOT_ID}/notification/callback"
    assert callback.body == {"sync_id": str(sync_id), "status": "ok", "result": {}}
    assert callback.jwt_error == ""
    assert callback.claims["iss"] == str(BOT_ID)
    assert callback.claims["aud"] == client.credentials.host
    assert callback.claims["version"] == 2
    message = SandboxMessage.objects.get(sync_id=sync_id)
    assert message.chat == world.group
    assert message.sender_huid == BOT_ID
    assert message.metadata == {"order": 7}
    assert message.bubble[0][0]["command"] == "/yes"
    assert message.file.file_name == "a.txt"
    assert bytes(message.file.content) == b"Hi"
    assert set(message.sent_to) == {str(world.ivan.huid), str(world.maria.huid)}
    delivery = SandboxDelivery.objects.get(sync_id=sync_id)
    assert delivery.status == SandboxDelivery.Status.DELIVERED
    assert delivery.response_status == 202


def test_recipients_narrow_who_the_message_is_sent_to(client, world):
    result = client.request(
        "POST", DIRECT, json=notification(world.group.group_chat_id, recipients=[str(world.maria.huid)])
    )

    assert SandboxMessage.objects.get(sync_id=result["sync_id"]).sent_to == [str(world.maria.huid)]


def callback_of(receiver, sync_id):
    callbacks = [r.body for r in receiver.wait_for(1, kind="callback") if r.body["sync_id"] == sync_id]
    assert callbacks, receiver.received
    return callbacks[0]


def test_a_notification_to_an_unknown_chat_is_reported_in_the_callback(client, receiver):
    chat_id = uuid.uuid4()

    result = client.request("POST", DIRECT, json=notification(chat_id))

    callback = callback_of(receiver, result["sync_id"])
    assert callback["status"] == "error"
    assert callback["reason"] == "chat_not_found"
    assert callback["error_data"]["group_chat_id"] == str(chat_id)
    assert callback["error_data"]["error_description"]
    assert not SandboxMessage.objects.exists()


def test_a_notification_to_a_chat_without_the_bot_is_reported_in_the_callback(client, world, receiver):
    result = client.request("POST", DIRECT, json=notification(world.foreign.group_chat_id))

    callback = callback_of(receiver, result["sync_id"])
    assert callback["reason"] == "bot_is_not_a_chat_member"
    assert callback["error_data"]["bot_id"] == str(BOT_ID)
    assert callback["error_data"]["group_chat_id"] == str(world.foreign.group_chat_id)


def test_recipients_outside_the_chat_leave_nobody_to_send_to(client, world, receiver):
    result = client.request(
        "POST", DIRECT, json=notification(world.group.group_chat_id, recipients=[str(world.stranger.huid)])
    )

    callback = callback_of(receiver, result["sync_id"])
    assert callback["reason"] == "event_recipients_list_is_empty"
    assert callback["error_data"]["recipients_param"] == [str(world.stranger.huid)]


def test_stealth_mode_needs_a_stealth_chat(client, world, receiver):
    result = client.request("POST", DIRECT, json=notification(world.group.group_chat_id, opts={"stealth_mode": True}))

    assert callback_of(receiver, result["sync_id"])["reason"] == "stealth_mode_disabled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notification": {"status": "ok", "body": "x"}}, "group_chat_id"),
        ({"group_chat_id": "not-a-uuid", "notification": {"status": "ok", "body": "x"}}, "group_chat_id"),
        ({"group_chat_id": str(uuid.uuid4())}, "notification"),
        ({"group_chat_id": str(uuid.uuid4()), "notification": {"status": "ok"}}, "notification.body"),
        ({"group_chat_id": str(uuid.uuid4()), "notification": {"body": "x", "bubble": "no"}}, "notification.bubble"),
        ({"group_chat_id": str(uuid.uuid4()), "notification": {"body": "x"}, "recipients": ["x"]}, "recipients"),
        ({"group_chat_id": str(uuid.uuid4()), "file": {"file_name": "a", "data": "plain"}}, "file.data"),
    ],
)
def test_a_bad_body_is_answered_400_with_the_field_named(client, receiver, body, field):
    with pytest.raises(BotxError) as caught:
        client.request("POST", DIRECT, json=body)

    assert caught.value.status_code == 400
    assert caught.value.reason == "malformed_request"
    assert field in caught.value.error_data
    assert receiver.received == []


def test_a_body_that_is_not_json_is_answered_400(client):
    answer = httpx.post(
        client.credentials.base_url + DIRECT,
        content=b"{not json",
        headers={"Authorization": f"Bearer {_jwt(client)}", "Content-Type": "application/json"},
    )

    assert answer.status_code == 400
    assert answer.json()["reason"] == "malformed_request"


def _jwt(client):
    from bots.botx.auth import jwt_v2_build

    creds = client.credentials
    return jwt_v2_build(bot_id=creds.bot_id, host=creds.host, secret_key=creds.secret_key)


def test_the_sync_variant_answers_the_sync_id_without_a_callback(client, world, receiver):
    result = client.request("POST", DIRECT_SYNC, json=notification(world.personal.group_chat_id))

    assert SandboxMessage.objects.filter(sync_id=result["sync_id"], chat=world.personal).exists()
    assert receiver.callbacks() == []


def test_the_sync_variant_reports_errors_in_a_200_body(client, world):
    with pytest.raises(BotxError) as caught:
        client.request("POST", DIRECT_SYNC, json=notification(world.foreign.group_chat_id))

    assert caught.value.status_code == 200
    assert caught.value.reason == "bot_is_not_a_chat_member"


def test_an_internal_notification_reaches_the_other_bots_of_the_chat(client, world, receiver):
    result = client.request(
        "POST", INTERNAL, json={"group_chat_id": str(world.group.group_chat_id), "data": {"ping": 1}, "opts": {"x": 2}}
    )

    [command] = receiver.wait_for(1, kind="command")
    assert command.path == f"/bots/{OTHER_BOT_ID}/command"
    assert command.jwt_error == ""
    assert command.claims["iss"] == str(OTHER_BOT_ID)
    payload = command.body
    assert payload["bot_id"] == str(OTHER_BOT_ID)
    assert payload["proto_version"] == 4
    assert payload["command"]["body"] == "system:internal_bot_notification"
    assert payload["command"]["command_type"] == "system"
    assert payload["command"]["data"] == {"data": {"ping": 1}, "opts": {"x": 2}}
    assert payload["from"]["user_huid"] == str(BOT_ID)
    assert payload["from"]["group_chat_id"] == str(world.group.group_chat_id)
    assert payload["from"]["is_admin"] is True
    assert payload["from"]["host"] == client.credentials.host
    assert callback_of(receiver, result["sync_id"])["status"] == "ok"


def test_an_internal_notification_to_bots_not_in_the_chat_has_no_recipients(client, world, receiver):
    result = client.request(
        "POST",
        INTERNAL,
        json={"group_chat_id": str(world.group.group_chat_id), "data": {}, "recipients": [str(uuid.uuid4())]},
    )

    assert callback_of(receiver, result["sync_id"])["reason"] == "event_recipients_list_is_empty"
    assert receiver.commands() == []


def test_an_internal_notification_needs_data(client, world):
    with pytest.raises(BotxError) as caught:
        client.request("POST", INTERNAL, json={"group_chat_id": str(world.group.group_chat_id)})

    assert caught.value.status_code == 400
    assert "data" in caught.value.error_data


def test_a_file_larger_than_djangos_form_limit_travels_in_the_json_body(client, world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    content = bytes(range(256)) * 40

    result = client.request(
        "POST",
        DIRECT_SYNC,
        json={
            "group_chat_id": str(world.group.group_chat_id),
            "file": {
                "file_name": "big.bin",
                "data": "data:application/octet-stream;base64," + base64.b64encode(content).decode(),
            },
        },
    )

    message = SandboxMessage.objects.get(sync_id=result["sync_id"])
    assert bytes(message.file.content) == content
    assert message.body == ""
