"""SmartApps and Stickers APIs over HTTP, and answers to paths and methods that do not exist."""

from __future__ import annotations

import uuid

import httpx
import pytest

from bots.botx.errors import BotxError
from bots.sandbox.models import SandboxSmartAppEvent
from tests.sandbox.conftest import BOT_ID


def test_a_smartapp_event_is_recorded(client, world):
    body = {
        "ref": str(uuid.uuid4()),
        "smartapp_id": str(BOT_ID),
        "group_chat_id": str(world.personal.group_chat_id),
        "data": {"type": "smartapp_rpc", "status": "ok", "result": 3},
        "opts": {},
        "smartapp_api_version": 1,
        "async_files": [],
        "encrypted": True,
    }

    assert client.request("POST", "/api/v3/botx/smartapps/event", json=body) == "smartapp_event_pushed"

    event = SandboxSmartAppEvent.objects.get()
    assert event.kind == SandboxSmartAppEvent.Kind.EVENT
    assert event.payload["data"]["result"] == 3


def test_a_smartapp_event_needs_its_ids(client):
    with pytest.raises(BotxError) as caught:
        client.request("POST", "/api/v3/botx/smartapps/event", json={"data": {}})

    assert caught.value.status_code == 400
    assert {"smartapp_id", "group_chat_id"} <= set(caught.value.error_data)


def test_a_v4_notification_is_confirmed_by_a_callback(client, world, receiver):
    result = client.request(
        "POST",
        "/api/v4/botx/smartapps/notification",
        json={"group_chat_id": str(world.personal.group_chat_id), "payload": {"title": "T", "body": "B"}, "meta": {}},
    )

    [callback] = receiver.wait_for(1, kind="callback")
    assert callback.body == {"sync_id": result["sync_id"], "status": "ok", "result": {}}
    event = SandboxSmartAppEvent.objects.get(sync_id=result["sync_id"])
    assert event.payload["payload"] == {"title": "T", "body": "B"}


def test_a_v4_notification_needs_a_title(client, world):
    with pytest.raises(BotxError) as caught:
        client.request(
            "POST",
            "/api/v4/botx/smartapps/notification",
            json={"group_chat_id": str(world.personal.group_chat_id), "payload": {"body": "B"}},
        )

    assert "payload.title" in caught.value.error_data


def test_an_unread_counter_in_an_unknown_chat_fails_in_the_callback(client, receiver):
    result = client.request(
        "POST", "/api/v4/botx/smartapps/unread_counter", json={"group_chat_id": str(uuid.uuid4()), "counter": 3}
    )

    [callback] = receiver.wait_for(1, kind="callback")
    assert callback.body["sync_id"] == result["sync_id"]
    assert callback.body["reason"] == "chat_not_found"


def test_an_unread_counter_is_recorded(client, world, receiver):
    result = client.request(
        "POST",
        "/api/v4/botx/smartapps/unread_counter",
        json={"group_chat_id": str(world.personal.group_chat_id), "counter": 5},
    )

    assert SandboxSmartAppEvent.objects.get(sync_id=result["sync_id"]).payload == {"counter": 5}
    assert receiver.wait_for(1, kind="callback")[0].body["status"] == "ok"


def test_an_unread_counter_must_be_a_whole_number(client, world):
    with pytest.raises(BotxError) as caught:
        client.request(
            "POST",
            "/api/v4/botx/smartapps/unread_counter",
            json={"group_chat_id": str(world.personal.group_chat_id), "counter": "many"},
        )

    assert caught.value.status_code == 400


def test_sticker_packs_are_listed(client):
    result = client.request("GET", "/api/v3/botx/stickers/packs", params={"limit": 10})

    assert set(result) == {"packs", "pagination"}
    assert result["pagination"] == {"after": None}
    assert {"id", "name", "public", "stickers_count"} <= set(result["packs"][0])


def test_an_unknown_path_is_an_enveloped_404(bot):
    answer = httpx.get(f"{bot.cts.base_url}/api/v3/botx/nothing/here")

    assert answer.status_code == 404
    assert answer.json()["reason"] == "not_found"


def test_a_wrong_method_is_an_enveloped_405(client):
    with pytest.raises(BotxError) as caught:
        client.request("POST", "/api/v3/botx/chats/list", json={})

    assert caught.value.status_code == 405
    assert caught.value.reason == "method_not_allowed"
