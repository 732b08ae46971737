"""Events API over HTTP: edit, reply, delete, typing and message status."""

from __future__ import annotations

import uuid

import pytest

from bots.botx.errors import BotxError
from bots.sandbox.models import SandboxMessage
from bots.sandbox.services.messages import message_seen

DIRECT_SYNC = "/api/v4/botx/notifications/direct/sync"


def send(client, chat, **notification):
    body = {"group_chat_id": str(chat.group_chat_id), "notification": {"status": "ok", "body": "v1"} | notification}
    return uuid.UUID(client.request("POST", DIRECT_SYNC, json=body)["sync_id"])


def test_an_edit_changes_only_what_it_names(client, world):
    sync_id = send(client, world.group, metadata={"keep": True}, bubble=[[{"command": "/a", "label": "A"}]])

    result = client.request(
        "POST", "/api/v3/botx/events/edit_event", json={"sync_id": str(sync_id), "payload": {"body": "v2"}}
    )

    assert result == "bot_command_result_pushed"
    message = SandboxMessage.objects.get(sync_id=sync_id)
    assert message.body == "v2"
    assert message.metadata == {"keep": True}
    assert message.bubble == [[{"command": "/a", "label": "A"}]]
    assert message.is_edited


def test_empty_lists_in_an_edit_clear_the_buttons(client, world):
    sync_id = send(client, world.group, bubble=[[{"command": "/a", "label": "A"}]])

    client.request(
        "POST",
        "/api/v3/botx/events/edit_event",
        json={"sync_id": str(sync_id), "payload": {"bubble": [], "metadata": {}}},
    )

    message = SandboxMessage.objects.get(sync_id=sync_id)
    assert message.bubble == []
    assert message.body == "v1"


def test_an_edit_of_an_unknown_message_is_accepted_and_ignored(client):
    assert client.request("POST", "/api/v3/botx/events/edit_event", json={"sync_id": str(uuid.uuid4())}) == (
        "bot_command_result_pushed"
    )


def test_an_edit_needs_a_sync_id(client):
    with pytest.raises(BotxError) as caught:
        client.request("POST", "/api/v3/botx/events/edit_event", json={"payload": {"body": "x"}})

    assert caught.value.status_code == 400
    assert "sync_id" in caught.value.error_data


def test_a_reply_is_posted_in_the_chat_of_the_source_message(client, world):
    source = send(client, world.group)

    result = client.request(
        "POST",
        "/api/v3/botx/events/reply_event",
        json={"source_sync_id": str(source), "reply": {"status": "ok", "body": "re"}, "opts": {"raw_mentions": True}},
    )

    assert result == "bot_reply_pushed"
    reply = SandboxMessage.objects.get(source_sync_id=source)
    assert reply.body == "re"
    assert reply.chat == world.group


def test_a_reply_needs_a_reply_object(client):
    with pytest.raises(BotxError) as caught:
        client.request("POST", "/api/v3/botx/events/reply_event", json={"source_sync_id": str(uuid.uuid4())})

    assert caught.value.status_code == 400
    assert "reply" in caught.value.error_data


def test_a_delete_marks_the_message_deleted_once(client, world):
    sync_id = send(client, world.group)

    assert client.request("POST", "/api/v3/botx/events/delete_event", json={"sync_id": str(sync_id)}) == "event_deleted"
    assert SandboxMessage.objects.get(sync_id=sync_id).is_deleted

    with pytest.raises(BotxError) as caught:
        client.request("POST", "/api/v3/botx/events/delete_event", json={"sync_id": str(sync_id)})
    assert caught.value.status_code == 404
    assert caught.value.reason == "sync_id_not_found"
    assert caught.value.error_data["sync_id"] == str(sync_id)


@pytest.mark.parametrize(
    ("path", "answer"), [("typing", "typing_event_pushed"), ("stop_typing", "stop_typing_event_pushed")]
)
def test_typing_events_are_acknowledged(client, world, path, answer):
    assert client.request(
        "POST", f"/api/v3/botx/events/{path}", json={"group_chat_id": str(world.group.group_chat_id)}
    ) == (answer)


def test_typing_needs_a_chat(client):
    with pytest.raises(BotxError) as caught:
        client.request("POST", "/api/v3/botx/events/typing", json={})

    assert caught.value.status_code == 400


def test_the_status_of_a_message_says_who_got_and_read_it(client, world):
    sync_id = send(client, world.group)
    message_seen(sync_id=sync_id, user_huid=world.ivan.huid, read=True)
    message_seen(sync_id=sync_id, user_huid=world.maria.huid, read=False)

    status = client.request("GET", f"/api/v3/botx/events/{sync_id}/status")

    assert status["group_chat_id"] == str(world.group.group_chat_id)
    assert set(status["sent_to"]) == {str(world.ivan.huid), str(world.maria.huid)}
    assert {entry["user_huid"] for entry in status["received_by"]} == {str(world.ivan.huid), str(world.maria.huid)}
    assert [entry["user_huid"] for entry in status["read_by"]] == [str(world.ivan.huid)]
    assert status["read_by"][0]["read_at"].endswith("Z")


@pytest.mark.parametrize("sync_id", [str(uuid.uuid4()), "not-a-uuid"])
def test_the_status_of_an_unknown_message_is_404(client, sync_id):
    with pytest.raises(BotxError) as caught:
        client.request("GET", f"/api/v3/botx/events/{sync_id}/status")

    assert caught.value.status_code == 404
    assert caught.value.reason == "event_not_found"
    assert caught.value.error_data["sync_id"] == sync_id
