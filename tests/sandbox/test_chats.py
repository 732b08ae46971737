"""Chats API over HTTP: list, info, personal, create, members, admins, stealth, pins."""

from __future__ import annotations

import uuid

import pytest

from bots.botx.errors import BotxError
from bots.sandbox.models import SandboxChat
from tests.sandbox.conftest import BOT_ID, OTHER_BOT_ID, faults_set

DIRECT_SYNC = "/api/v4/botx/notifications/direct/sync"


def error_of(client, method, path, **kwargs) -> BotxError:
    with pytest.raises(BotxError) as caught:
        client.request(method, path, **kwargs)
    return caught.value


def test_the_list_holds_the_chats_of_the_bot(client, world):
    chats = client.request("GET", "/api/v3/botx/chats/list")

    by_id = {chat["group_chat_id"]: chat for chat in chats}
    assert set(by_id) == {str(c.group_chat_id) for c in (world.group, world.personal, world.channel)}
    group = by_id[str(world.group.group_chat_id)]
    assert group["chat_type"] == "group_chat"
    assert group["name"] == "Общий"
    assert str(BOT_ID) in group["members"]
    assert group["shared_history"] is False
    assert group["inserted_at"].endswith("Z")


def test_info_describes_the_chat_and_its_members(client, world):
    info = client.request("GET", "/api/v3/botx/chats/info", params={"group_chat_id": str(world.group.group_chat_id)})

    assert info["group_chat_id"] == str(world.group.group_chat_id)
    assert info["creator"] == str(world.ivan.huid)
    members = {m["user_huid"]: m for m in info["members"]}
    assert members[str(BOT_ID)] == {"admin": True, "user_huid": str(BOT_ID), "user_kind": "botx"}
    assert members[str(world.maria.huid)]["user_kind"] == "user"


@pytest.mark.parametrize("which", ["unknown", "foreign"])
def test_info_of_a_chat_the_bot_cannot_see_is_chat_not_found(client, world, which):
    chat_id = uuid.uuid4() if which == "unknown" else world.foreign.group_chat_id

    error = error_of(client, "GET", "/api/v3/botx/chats/info", params={"group_chat_id": str(chat_id)})

    assert error.status_code == 404
    assert error.reason == "chat_not_found"
    assert error.error_data["group_chat_id"] == str(chat_id)


def test_info_needs_a_chat_id(client):
    error = error_of(client, "GET", "/api/v3/botx/chats/info")

    assert error.status_code == 400
    assert "group_chat_id" in error.error_data


def test_the_personal_chat_with_a_user_is_found(client, world):
    info = client.request("GET", "/api/v1/botx/chats/personal", params={"user_huid": str(world.ivan.huid)})

    assert info["group_chat_id"] == str(world.personal.group_chat_id)
    assert info["chat_type"] == "chat"


def test_a_missing_personal_chat_is_chat_not_found_with_the_user(client, world):
    error = error_of(client, "GET", "/api/v1/botx/chats/personal", params={"user_huid": str(world.maria.huid)})

    assert error.status_code == 404
    assert error.reason == "chat_not_found"
    assert error.error_data["user_huid"] == str(world.maria.huid)


def test_a_bot_creates_a_group_chat_and_the_bots_in_it_hear_of_it(client, world, receiver):
    result = client.request(
        "POST",
        "/api/v3/botx/chats/create",
        json={
            "name": "Проект",
            "description": None,
            "chat_type": "group_chat",
            "members": [str(world.ivan.huid), str(OTHER_BOT_ID)],
            "avatar": None,
            "shared_history": True,
        },
    )

    chat = SandboxChat.objects.get(group_chat_id=result["chat_id"])
    assert chat.creator_huid == BOT_ID
    assert chat.shared_history is True
    assert chat.members.get(huid=BOT_ID).admin
    events = receiver.wait_for(2, kind="command")
    assert {event.body["bot_id"] for event in events} == {str(BOT_ID), str(OTHER_BOT_ID)}
    data = events[0].body["command"]["data"]
    assert events[0].body["command"]["body"] == "system:chat_created"
    assert data["group_chat_id"] == result["chat_id"]
    assert data["creator"] == str(BOT_ID)
    assert {m["huid"]: m["user_kind"] for m in data["members"]} == {
        str(BOT_ID): "botx",
        str(world.ivan.huid): "user",
        str(OTHER_BOT_ID): "botx",
    }
    assert all(event.jwt_error == "" for event in events)


def test_creating_an_existing_personal_chat_answers_its_id(client, world):
    body = {"name": "x", "description": None, "chat_type": "chat", "members": [str(world.ivan.huid)], "avatar": None}

    assert client.request("POST", "/api/v3/botx/chats/create", json=body) == {
        "chat_id": str(world.personal.group_chat_id)
    }


def test_creating_chats_can_be_prohibited(client, world, sandbox_cts):
    faults_set(sandbox_cts, allow_chat_creating=False)
    body = {"name": "x", "description": None, "chat_type": "group_chat", "members": [], "avatar": None}

    error = error_of(client, "POST", "/api/v3/botx/chats/create", json=body)

    assert error.status_code == 403
    assert error.reason == "chat_creation_is_prohibited"
    assert error.error_data["bot_id"] == str(BOT_ID)


def test_creating_a_chat_with_unknown_members_is_422(client, world):
    body = {"name": "x", "description": None, "chat_type": "group_chat", "members": [str(uuid.uuid4())]}

    assert error_of(client, "POST", "/api/v3/botx/chats/create", json=body).status_code == 422


def test_creating_a_chat_of_an_unknown_type_is_400(client, world):
    body = {"name": "x", "description": None, "chat_type": "voex_call", "members": []}

    error = error_of(client, "POST", "/api/v3/botx/chats/create", json=body)

    assert error.status_code == 400
    assert "chat_type" in error.error_data


def members_body(chat, *huids):
    return {"group_chat_id": str(chat.group_chat_id), "user_huids": [str(h) for h in huids]}


def test_an_admin_bot_adds_and_removes_users_and_the_bots_hear_of_it(client, world, receiver):
    assert client.request("POST", "/api/v3/botx/chats/add_user", json=members_body(world.group, world.stranger.huid))
    assert world.group.members.filter(huid=world.stranger.huid).exists()
    added = receiver.wait_for(2, kind="command")
    assert {e.body["command"]["body"] for e in added} == {"system:added_to_chat"}
    assert added[0].body["command"]["data"] == {"added_members": [str(world.stranger.huid)]}

    assert client.request("POST", "/api/v3/botx/chats/remove_user", json=members_body(world.group, world.stranger.huid))
    assert not world.group.members.filter(huid=world.stranger.huid).exists()
    removed = receiver.wait_for(4, kind="command")[2:]
    assert {e.body["command"]["body"] for e in removed} == {"system:deleted_from_chat"}


@pytest.mark.parametrize("path", ["add_user", "remove_user"])
def test_personal_chat_members_cannot_be_changed(client, world, path):
    error = error_of(client, "POST", f"/api/v3/botx/chats/{path}", json=members_body(world.personal, world.maria.huid))

    assert error.status_code == 403
    assert error.reason == "chat_members_not_modifiable"


def test_a_bot_that_is_not_admin_may_not_change_members(client, world):
    error = error_of(client, "POST", "/api/v3/botx/chats/add_user", json=members_body(world.channel, world.maria.huid))

    assert error.status_code == 403
    assert error.reason == "no_permission_for_operation"
    assert error.error_data["group_chat_id"] == str(world.channel.group_chat_id)


def test_member_changes_in_an_unknown_chat_are_chat_not_found(client):
    error = error_of(
        client, "POST", "/api/v3/botx/chats/add_user", json={"group_chat_id": str(uuid.uuid4()), "user_huids": []}
    )

    assert error.status_code == 404
    assert error.reason == "chat_not_found"


def test_add_admin_promotes_members_once(client, world):
    assert client.request("POST", "/api/v3/botx/chats/add_admin", json=members_body(world.group, world.maria.huid))
    assert world.group.members.get(huid=world.maria.huid).admin

    error = error_of(client, "POST", "/api/v3/botx/chats/add_admin", json=members_body(world.group, world.maria.huid))
    assert error.status_code == 400
    assert error.reason == "admins_not_changed"


def test_add_admin_in_a_personal_chat_is_400(client, world):
    error = error_of(client, "POST", "/api/v3/botx/chats/add_admin", json=members_body(world.personal, world.ivan.huid))

    assert error.status_code == 400
    assert error.reason == "chat_members_not_modifiable"


def test_stealth_is_set_and_disabled(client, world):
    chat_id = str(world.group.group_chat_id)
    assert client.request(
        "POST", "/api/v3/botx/chats/stealth_set", json={"group_chat_id": chat_id, "disable_web": True, "burn_in": 60}
    )
    world.group.refresh_from_db()
    assert (world.group.stealth, world.group.stealth_disable_web, world.group.stealth_burn_in) == (True, True, 60)

    # In a stealth chat, stealth-only messages are delivered.
    client.request(
        "POST",
        DIRECT_SYNC,
        json={"group_chat_id": chat_id, "notification": {"status": "ok", "body": "x"}, "opts": {"stealth_mode": True}},
    )

    assert client.request("POST", "/api/v3/botx/chats/stealth_disable", json={"group_chat_id": chat_id})
    world.group.refresh_from_db()
    assert world.group.stealth is False


def test_stealth_needs_an_admin_bot(client, world):
    error = error_of(
        client, "POST", "/api/v3/botx/chats/stealth_set", json={"group_chat_id": str(world.channel.group_chat_id)}
    )

    assert error.status_code == 403
    assert error.reason == "no_permission_for_operation"


def test_a_message_is_pinned_and_unpinned(client, world):
    chat_id = str(world.group.group_chat_id)
    sync_id = client.request(
        "POST", DIRECT_SYNC, json={"group_chat_id": chat_id, "notification": {"status": "ok", "body": "pin me"}}
    )["sync_id"]

    assert client.request("POST", "/api/v3/botx/chats/pin_message", json={"chat_id": chat_id, "sync_id": sync_id}) == (
        "message_pinned"
    )
    world.group.refresh_from_db()
    assert str(world.group.pinned_sync_id) == sync_id

    assert client.request("POST", "/api/v3/botx/chats/unpin_message", json={"chat_id": chat_id}) == "message_unpinned"
    world.group.refresh_from_db()
    assert world.group.pinned_sync_id is None


def test_pinning_in_a_channel_needs_an_admin_bot(client, world):
    chat_id = str(world.channel.group_chat_id)
    sync_id = client.request(
        "POST", DIRECT_SYNC, json={"group_chat_id": chat_id, "notification": {"status": "ok", "body": "x"}}
    )["sync_id"]

    error = error_of(client, "POST", "/api/v3/botx/chats/pin_message", json={"chat_id": chat_id, "sync_id": sync_id})
    assert error.status_code == 403
    assert error.reason == "no_permission_for_operation"
    assert error.error_data["bot_id"] == str(BOT_ID)

    error = error_of(client, "POST", "/api/v3/botx/chats/unpin_message", json={"chat_id": chat_id})
    assert error.status_code == 403


def test_pinning_in_an_unknown_chat_is_chat_not_found(client):
    error = error_of(
        client,
        "POST",
        "/api/v3/botx/chats/pin_message",
        json={"chat_id": str(uuid.uuid4()), "sync_id": str(uuid.uuid4())},
    )

    assert error.status_code == 404
    assert error.reason == "chat_not_found"
