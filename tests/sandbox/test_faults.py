"""Fault injection per CTS: 5xx and 429 answers, latency, timeouts after receiving, dropped and
delayed callbacks, and how callbacks are signed and recorded."""

from __future__ import annotations

import time
import uuid

import pytest

from bots.botx.errors import BotxError, ErrorKind
from bots.sandbox.models import SandboxDelivery, SandboxMessage
from bots.sandbox.tasks import deliver_callback
from tests.sandbox.conftest import BOT_ID, faults_set, make_client

CHATS_LIST = "/api/v3/botx/chats/list"
DIRECT = "/api/v4/botx/notifications/direct"


def notification(chat):
    return {"group_chat_id": str(chat.group_chat_id), "notification": {"status": "ok", "body": "x"}}


def test_an_error_rate_of_1_answers_every_call_with_a_500_and_does_nothing(client, world, sandbox_cts):
    faults_set(sandbox_cts, error_rate=1.0)

    with pytest.raises(BotxError) as caught:
        client.request("POST", DIRECT, json=notification(world.group))

    assert caught.value.status_code == 500
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert caught.value.reason == "unexpected_error"
    assert not SandboxMessage.objects.exists()


def test_the_error_rate_also_hits_the_token_endpoint(bot, sandbox_cts):
    faults_set(sandbox_cts, error_rate=1.0)

    with make_client(bot, auth_mode="v1") as client, pytest.raises(BotxError) as caught:
        client.request("GET", CHATS_LIST)

    assert caught.value.status_code == 500


def test_a_throttle_rate_of_1_answers_429_with_retry_after(client, sandbox_cts):
    faults_set(sandbox_cts, throttle_rate=1.0, retry_after_seconds=7)

    with pytest.raises(BotxError) as caught:
        client.request("GET", CHATS_LIST)

    assert caught.value.status_code == 429
    assert caught.value.reason == "too_many_requests"
    assert caught.value.retry_after == 7.0
    assert caught.value.error_data["bot_id"] == str(BOT_ID)


def test_rates_of_0_change_nothing(client, sandbox_cts):
    faults_set(sandbox_cts, error_rate=0.0, throttle_rate=0.0, timeout_rate=0.0)

    for _ in range(5):
        assert client.request("GET", CHATS_LIST) == []


def test_latency_is_added_to_every_answer(client, sandbox_cts):
    faults_set(sandbox_cts, latency_ms=400)

    started = time.monotonic()
    client.request("GET", CHATS_LIST)

    assert time.monotonic() - started >= 0.4


def test_a_timeout_after_receiving_processes_the_request_but_the_client_hears_nothing(bot, world, sandbox_cts):
    faults_set(sandbox_cts, timeout_rate=1.0, timeout_hold_ms=1200)

    with make_client(bot, timeout=0.4) as client, pytest.raises(BotxError) as caught:
        client.request("POST", "/api/v4/botx/notifications/direct/sync", json=notification(world.group))

    assert caught.value.kind is ErrorKind.AMBIGUOUS
    assert caught.value.reason == "read_timeout"
    # The sandbox stores the message, then holds its answer; on a machine that stalls, the client gave up
    # before the sandbox had stored it, so the message is waited for rather than expected at once.
    deadline = time.monotonic() + 10
    while not SandboxMessage.objects.filter(chat=world.group).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert SandboxMessage.objects.filter(chat=world.group).count() == 1  # done, though unanswered
    time.sleep(1.2)  # let the held answer finish before the database is emptied


def test_a_drop_rate_of_1_drops_every_callback(client, world, receiver, sandbox_cts):
    faults_set(sandbox_cts, callback_drop_rate=1.0)

    sync_id = client.request("POST", DIRECT, json=notification(world.group))["sync_id"]

    time.sleep(0.3)
    assert receiver.callbacks() == []
    assert SandboxDelivery.objects.get(sync_id=sync_id).status == SandboxDelivery.Status.DROPPED
    assert SandboxMessage.objects.filter(sync_id=sync_id).exists()  # the message itself went out


def test_callbacks_are_delayed_as_set(client, world, receiver, sandbox_cts):
    faults_set(sandbox_cts, callback_delay_ms=500)

    started = time.monotonic()
    sync_id = client.request("POST", DIRECT, json=notification(world.group))["sync_id"]

    [callback] = receiver.wait_for(1, kind="callback")
    assert callback.body["sync_id"] == sync_id
    assert callback.at - started >= 0.5


def test_callbacks_can_carry_a_v1_layout_token(client, world, receiver, sandbox_cts):
    faults_set(sandbox_cts, callback_jwt="v1")

    client.request("POST", DIRECT, json=notification(world.group))

    [callback] = receiver.wait_for(1, kind="callback")
    assert callback.jwt_error == ""
    assert callback.claims["aud"] == [str(BOT_ID)]
    assert callback.claims["iss"] == sandbox_cts.host
    assert "version" not in callback.claims


def test_callbacks_can_go_unsigned(client, world, receiver, sandbox_cts):
    faults_set(sandbox_cts, callback_jwt="none")

    client.request("POST", DIRECT, json=notification(world.group))

    [callback] = receiver.wait_for(1, kind="callback")
    assert "Authorization" not in callback.headers


def test_a_callback_the_bot_refuses_is_recorded_as_failed(client, world, receiver):
    receiver.status = 503
    receiver.answer = {"reason": "bot_disabled", "error_data": {"status_message": "off"}, "errors": []}

    sync_id = client.request("POST", DIRECT, json=notification(world.group))["sync_id"]

    delivery = SandboxDelivery.objects.get(sync_id=sync_id)
    assert delivery.status == SandboxDelivery.Status.FAILED
    assert delivery.response_status == 503
    assert "bot_disabled" in delivery.response_body


def test_a_callback_to_nowhere_is_recorded_as_failed(client, world, sandbox_cts):
    faults_set(sandbox_cts, bot_base_url="http://127.0.0.1:9/bots/{bot_id}")

    sync_id = client.request("POST", DIRECT, json=notification(world.group))["sync_id"]

    delivery = SandboxDelivery.objects.get(sync_id=sync_id)
    assert delivery.status == SandboxDelivery.Status.FAILED
    assert delivery.response_status is None
    assert delivery.error
    assert delivery.url == f"http://127.0.0.1:9/bots/{BOT_ID}/notification/callback"


def test_a_delivery_is_posted_once_however_often_the_task_runs(client, world, receiver):
    sync_id = client.request("POST", DIRECT, json=notification(world.group))["sync_id"]
    delivery = SandboxDelivery.objects.get(sync_id=sync_id)

    deliver_callback.apply(args=(delivery.pk,))
    deliver_callback.apply(args=(10**9,))  # a row that is gone

    assert len(receiver.callbacks()) == 1


def test_without_a_bot_base_url_callbacks_go_to_the_portals_own_botx_endpoint(client, world, sandbox_cts, live_server):
    faults_set(sandbox_cts, bot_base_url="")

    sync_id = client.request("POST", DIRECT, json=notification(world.group))["sync_id"]

    delivery = SandboxDelivery.objects.get(sync_id=sync_id)
    assert delivery.url == f"{live_server.url}/botx/{BOT_ID}/notification/callback"
    assert uuid.UUID(sync_id)
