"""Sending through the API: every message feature reaches the outbox row; bad fields are 400 with paths."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

from django.test import override_settings
from django.utils import timezone

from bots.api.models import ScheduledMessage
from bots.api.services.sending import scheduled_enqueue_due
from bots.models import Bot, OutboundMessage
from tests.api.conftest import Api

CHAT = "6f0c4b8e-2f4a-4a8e-9d3c-1b2a3c4d5e6f"
IVAN = "0c6d9b2e-5a1f-4c3d-8e7f-9a0b1c2d3e4f"
ALL = "a6e1f0c2-4b3d-4e5f-8a9b-0c1d2e3f4a5b"


def full_message(bot: Bot) -> dict[str, Any]:
    return {
        "bot": str(bot.bot_id),
        "chat_id": CHAT,
        "recipients": [IVAN],
        "body": f"{{mention:{ALL}}} **Payday** is _tomorrow_",
        "mentions": [{"type": "all", "id": ALL}],
        "bubbles": [[{"label": "Open", "link": "https://hr.example.com/pay"}], [{"label": "OK", "command": "/ok"}]],
        "keyboard": [[{"label": "Help", "command": "/help", "data": {"from": "hr"}}]],
        "file": {"file_name": "pay.txt", "data_base64": base64.b64encode(b"salary").decode()},
        "metadata": {"widget": "payday", "version": 2},
        "stealth_mode": True,
        "push": False,
        "force_dnd": True,
        "silent_response": True,
        "buttons_auto_adjust": True,
    }


def test_a_message_with_every_feature_becomes_one_outbox_row_with_those_fields(api: Api, bot: Bot) -> None:
    body = full_message(bot)

    answer = api.post("messages/", body)

    assert answer.status_code == 202, answer.content
    result = answer.json()
    assert result["status"] == "pending"
    assert result["scheduled_id"] is None
    message = OutboundMessage.objects.get(pk=result["message_id"])
    assert str(message.correlation_id) == result["correlation_id"]
    assert message.bot == bot
    assert message.method == "notification"
    assert str(message.chat_id) == CHAT
    assert message.payload == {key: value for key, value in body.items() if key != "bot"}
    assert message.created_by.startswith("api: tests (bpt_")


def test_the_caller_may_give_the_correlation_id_to_find_the_message_by(api: Api, bot: Bot) -> None:
    mine = str(uuid.uuid4())

    answer = api.post("messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "x", "correlation_id": mine})

    assert answer.json()["correlation_id"] == mine
    assert OutboundMessage.objects.get(correlation_id=mine).text == "x"


def test_invalid_fields_are_answered_400_with_each_fields_path_and_nothing_is_sent(api: Api, bot: Bot) -> None:
    answer = api.post(
        "messages/",
        {
            "bot": "not-a-uuid",
            "chat_id": "nope",
            "bubbles": [[{"command": "/x"}]],
            "mentions": [{"type": "everyone", "id": ALL}],
            "push": "maybe",
            "colour": "red",
        },
    )

    assert answer.status_code == 400
    error = answer.json()
    assert error["error"] == "invalid"
    assert set(error["fields"]) == {"bot", "chat_id", "bubbles[0][0].label", "mentions[0].type", "push", "colour"}
    assert not OutboundMessage.objects.exists()


def test_what_only_the_outbox_checks_is_answered_400_with_its_field_too(api: Api, bot: Bot) -> None:
    base = {"bot": str(bot.bot_id), "chat_id": CHAT}
    cases: dict[str, dict[str, Any]] = {
        "body": {"body": "x" * 4097},
        "file.data_base64": {"file": {"file_name": "a.txt", "data_base64": "***"}},
        "mentions[0].user_huid": {"mentions": [{"type": "user", "id": ALL}]},
    }
    for field, fields in cases.items():
        answer = api.post("messages/", {**base, **fields})
        assert answer.status_code == 400, (field, answer.content)
        assert field in answer.json()["fields"], (field, answer.json())
    assert not OutboundMessage.objects.exists()


def test_a_body_that_is_not_a_json_object_is_answered_400(api: Api) -> None:
    for raw in (b"{not json", b"[1, 2]", "\u00ff".encode("latin-1")):
        answer = api.post("messages/", raw=raw)
        assert answer.status_code == 400
        assert answer.json()["error"] == "parse_error"


@override_settings(API_MAX_BODY_BYTES=1024)
def test_a_body_over_the_limit_is_answered_413_in_json(api: Api, bot: Bot) -> None:
    answer = api.post("messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "x" * 2000})

    assert answer.status_code == 413
    assert answer.json()["error"] == "request_too_large"
    assert not OutboundMessage.objects.exists()


def test_a_file_larger_than_djangos_form_limit_is_taken_up_to_the_api_limit(api: Api, bot: Bot) -> None:
    # 4 MB of base64: over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), under API_MAX_BODY_MB (8).
    data = base64.b64encode(b"x" * 3_000_000).decode()
    base = {"bot": str(bot.bot_id), "chat_id": CHAT}

    taken = api.post("messages/", {**base, "file": {"file_name": "big.bin", "data_base64": data}})
    refused = api.post("messages/", {**base, "file": {"file_name": "huge.bin", "data_base64": data * 3}})

    assert taken.status_code == 202
    assert OutboundMessage.objects.get().payload["file"]["data_base64"] == data
    assert refused.status_code == 413
    assert refused.json() == {"error": "request_too_large", "detail": "The request body is larger than 8388608 bytes."}


def test_a_disabled_bot_takes_no_message(api: Api, bot: Bot) -> None:
    Bot.objects.filter(pk=bot.pk).update(enabled=False, status_message="On holiday")

    answer = api.post("messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "x"})

    assert answer.status_code == 409
    assert answer.json() == {"error": "bot_disabled", "detail": "On holiday"}
    assert not OutboundMessage.objects.exists()


def test_a_message_for_later_waits_outside_the_outbox_until_its_time(api: Api, bot: Bot) -> None:
    send_at = timezone.now() + dt.timedelta(hours=1)

    answer = api.post(
        "messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "later", "send_at": send_at.isoformat()}
    )

    assert answer.status_code == 202
    result = answer.json()
    assert (result["message_id"], result["status"]) == (None, "scheduled")
    assert not OutboundMessage.objects.exists()
    assert scheduled_enqueue_due() == 0, "not before its time"
    scheduled = api.get(f"scheduled/{result['scheduled_id']}/").json()
    assert scheduled["status"] == "scheduled"

    assert scheduled_enqueue_due(now=send_at) == 1
    row = ScheduledMessage.objects.get(pk=result["scheduled_id"])
    assert row.status == ScheduledMessage.Status.ENQUEUED
    message = OutboundMessage.objects.get()
    assert row.message == message
    assert (message.text, str(message.correlation_id)) == ("later", result["correlation_id"])
    assert scheduled_enqueue_due(now=send_at) == 0, "enqueued once"
    assert api.get(f"scheduled/{row.pk}/").json()["message_id"] == message.pk


def test_a_message_for_later_can_be_cancelled_until_it_is_sent(api: Api, bot: Bot) -> None:
    send_at = timezone.now() + dt.timedelta(hours=1)
    result = api.post(
        "messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "later", "send_at": send_at.isoformat()}
    ).json()

    cancelled = api.delete(f"scheduled/{result['scheduled_id']}/")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert scheduled_enqueue_due(now=send_at) == 0
    assert not OutboundMessage.objects.exists()
    assert api.delete(f"scheduled/{result['scheduled_id']}/").status_code == 409


def test_a_scheduled_message_of_a_bot_disabled_meanwhile_fails_with_the_reason(api: Api, bot: Bot) -> None:
    send_at = timezone.now() + dt.timedelta(minutes=5)
    result = api.post(
        "messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "later", "send_at": send_at.isoformat()}
    ).json()
    Bot.objects.filter(pk=bot.pk).update(enabled=False, status_message="Off")

    scheduled_enqueue_due(now=send_at)

    row = ScheduledMessage.objects.get(pk=result["scheduled_id"])
    assert (row.status, row.error) == (ScheduledMessage.Status.FAILED, "not sent: Off")
    assert not OutboundMessage.objects.exists()


def test_a_send_at_in_the_past_sends_now(api: Api, bot: Bot) -> None:
    past = (timezone.now() - dt.timedelta(minutes=1)).isoformat()

    result = api.post("messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "now", "send_at": past}).json()

    assert result["status"] == "pending"
    assert OutboundMessage.objects.filter(pk=result["message_id"]).exists()


def test_a_messages_status_shows_its_history_and_another_bots_message_is_not_found(
    api: Api, bot: Bot, make_bot: Any
) -> None:
    result = api.post("messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "x"}).json()
    foreign = OutboundMessage.objects.create(bot=make_bot(name="Foreign"), method="notification", payload={})

    status = api.get(f"messages/{result['message_id']}/")

    assert status.status_code == 200
    body = status.json()
    assert (body["status"], body["attempts"], body["sync_id"], body["error"]) == ("pending", 0, None, None)
    assert [step["status"] for step in body["history"]] == ["pending"]
    assert api.get(f"messages/{foreign.pk}/").status_code == 404
    assert api.get("messages/999999/").status_code == 404


def test_refreshing_the_status_of_a_message_not_yet_sent_says_why_it_could_not(api: Api, bot: Bot) -> None:
    result = api.post("messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "x"}).json()

    body = api.get(f"messages/{result['message_id']}/", {"refresh": "true"}).json()

    assert body["refresh_error"] == "The message has no sync ID yet."
    assert api.get(f"messages/{result['message_id']}/", {"refresh": "perhaps"}).status_code == 400


def test_a_failure_of_ours_is_answered_500_in_json_and_logged(
    api: Api, bot: Bot, monkeypatch: Any, caplog: Any
) -> None:
    from bots.api import views

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(views, "message_send", broken)
    api.client.raise_request_exception = False

    answer = api.post("messages/", {"bot": str(bot.bot_id), "chat_id": CHAT, "body": "x"})

    assert answer.status_code == 500
    assert answer.json()["error"] == "server_error"
    assert "the database went away" not in answer.content.decode()
    assert "the database went away" in caplog.text
