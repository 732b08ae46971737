"""The recordings notifier: its webhook over real HTTP (signed, stale, replayed, malformed, oversize),
the messages it puts in the outbox and what the sandbox received; users introduce themselves by
writing to the bot through the real /command."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from bots.integrations import signing
from bots.integrations.models import RecordingContact, RecordingIntegration, WebhookRequest
from bots.models import Bot, OutboundMessage
from tests.integrations.conftest import bot_messages, inbound, replies_to
from tests.sandbox_fixtures import World

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "rec-0123456789abcdef-secret"
RECORDING_URL = "https://records.example.com/r/42"


@pytest.fixture
def handler_key() -> str:
    return "recordings"


@pytest.fixture
def integration(bot: Bot) -> RecordingIntegration:
    integration = RecordingIntegration(bot=bot, name="Call recorder")
    integration.secret = SECRET
    integration.full_clean()
    integration.save()
    return integration


@pytest.fixture
def post(live_server: Any, integration: RecordingIntegration):
    def send(
        body: Any,
        *,
        secret: str = SECRET,
        signed_at: float | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        target: str | None = None,
    ) -> httpx.Response:
        content = raw if raw is not None else json.dumps(body).encode()
        signed = signing.signed_headers(secret, content, now=signed_at)
        url = f"{live_server.url}/integrations/recordings/{target or integration.pk}/"
        return httpx.post(url, content=content, headers={**signed, **(headers or {})}, timeout=15)

    return send


def notice(**fields: Any) -> dict[str, Any]:
    return {"recording_id": "rec-42", "url": RECORDING_URL, "title": "Weekly sync", **fields}


def last_log() -> WebhookRequest:
    return WebhookRequest.objects.order_by("-pk").first()  # type: ignore[return-value]


def test_a_user_who_writes_to_the_bot_in_a_personal_chat_is_remembered(bot: Bot, world: World, say: Any) -> None:
    sent = say("/start")

    contact = RecordingContact.objects.get(bot=bot, user_huid=world.ivan.huid)
    assert contact.chat_id == world.personal.group_chat_id
    [answer] = replies_to(inbound(bot, sent.sync_id))
    expected = "Done: I will tell you here when the recordings of your calls are ready. /stop turns it off."
    assert answer.payload["body"] == expected
    assert bot_messages(bot, world.personal)[-1].body == expected

    say("/start", chat=world.group)  # a group chat is nobody's personal chat
    assert RecordingContact.objects.count() == 1


def test_participants_are_told_in_their_personal_chats_with_a_link_button(
    bot: Bot, world: World, say: Any, post: Any
) -> None:
    say("hello")  # Ivan introduces himself; Maria never wrote to the bot

    response = post(notice(participants=[str(world.ivan.huid), str(world.maria.huid)], duration_seconds=1800))

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "accepted"
    assert answer["unreachable"] == [str(world.maria.huid)]
    [message] = OutboundMessage.objects.filter(pk__in=answer["messages"])
    assert message.chat_id == world.personal.group_chat_id
    assert message.created_by == "recordings: webhook"
    assert message.status == OutboundMessage.Status.DELIVERED
    posted = bot_messages(bot, world.personal)[-1]
    assert "Weekly sync" in posted.body and "30" in posted.body
    assert posted.bubble[0][0]["opts"]["link"] == RECORDING_URL
    log = last_log()
    assert (log.status, log.http_status, log.error) == ("accepted", 202, "")
    assert log.bot == bot and log.integration is not None
    assert log.result["messages"] == answer["messages"]
    assert '"recording_id": "rec-42"' in log.body_excerpt


def test_a_chat_is_told_and_only_the_participants_see_it(bot: Bot, world: World, post: Any) -> None:
    response = post(notice(chat_id=str(world.group.group_chat_id), participants=[str(world.maria.huid)]))

    assert response.status_code == 202, response.text
    [message] = OutboundMessage.objects.all()
    assert message.payload["recipients"] == [str(world.maria.huid)]
    posted = bot_messages(bot, world.group)[-1]
    assert posted.recipients == [str(world.maria.huid)]
    assert posted.sent_to == [str(world.maria.huid)]


def test_a_notice_naming_nobody_goes_to_the_integrations_default_chat(
    bot: Bot, world: World, post: Any, integration: RecordingIntegration
) -> None:
    integration.default_chat_id = world.group.group_chat_id
    integration.save()

    response = post(notice())

    assert response.status_code == 202
    assert not bot_messages(bot, world.personal)
    assert "Weekly sync" in bot_messages(bot, world.group)[-1].body


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ({"secret": "another-secret-of-the-wrong-kind"}, "bad_signature"),
        ({"signed_at": time.time() - 3600}, "stale_timestamp"),
        ({"signed_at": time.time() + 3600}, "stale_timestamp"),
        ({"headers": {signing.SIGNATURE_HEADER: ""}}, "signature_missing"),
        ({"headers": {signing.TIMESTAMP_HEADER: "yesterday"}}, "bad_timestamp"),
    ],
)
def test_a_bad_or_stale_signature_is_refused_401_recorded_and_sends_nothing(
    bot: Bot, world: World, post: Any, how: dict[str, Any], error: str
) -> None:
    response = post(notice(chat_id=str(world.group.group_chat_id)), **how)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error
    log = last_log()
    assert (log.status, log.http_status, log.error) == ("rejected", 401, error)
    assert log.bot == bot
    assert not OutboundMessage.objects.exists()
    assert SECRET not in json.dumps(response.json()) and SECRET not in log.detail


def test_a_replayed_request_is_refused(bot: Bot, world: World, live_server: Any, integration: Any) -> None:
    body = json.dumps(notice(chat_id=str(world.group.group_chat_id))).encode()
    headers = signing.signed_headers(SECRET, body)
    url = f"{live_server.url}/integrations/recordings/{integration.pk}/"

    first = httpx.post(url, content=body, headers=headers, timeout=15)
    replay = httpx.post(url, content=body, headers=headers, timeout=15)

    assert first.status_code == 202
    assert replay.status_code == 401
    assert replay.json()["error"] == "replayed"
    assert OutboundMessage.objects.count() == 1
    assert list(WebhookRequest.objects.order_by("pk").values_list("status", "error")) == [
        ("accepted", ""),
        ("rejected", "replayed"),
    ]


def test_invalid_json_and_invalid_fields_get_400_with_field_errors(world: World, post: Any) -> None:
    broken = post(None, raw=b"{not json")
    wrong = post({"url": "ftp://x", "participants": ["nobody"], "duration_seconds": -1, "chat_id": 5})
    array = post([1, 2])

    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
    assert array.status_code == 400 and array.json()["error"] == "invalid_json"
    assert wrong.status_code == 400
    fields = wrong.json()["fields"]
    assert set(fields) == {"recording_id", "url", "participants", "duration_seconds", "chat_id"}
    assert not OutboundMessage.objects.exists()
    assert list(WebhookRequest.objects.values_list("http_status", flat=True)) == [400, 400, 400]


def test_a_notice_nobody_can_receive_is_refused_and_nothing_is_half_sent(world: World, post: Any) -> None:
    response = post(notice(participants=[str(world.maria.huid)]))

    assert response.status_code == 422
    assert response.json()["error"] == "nobody_to_tell"
    assert not OutboundMessage.objects.exists()
    assert last_log().status == "rejected"


def test_an_oversize_body_gets_413(post: Any, settings: Any) -> None:
    settings.RECORDINGS_WEBHOOK_MAX_BYTES = 200

    response = post(notice(title="x" * 500))

    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    log = last_log()
    assert (log.http_status, log.body_size) == (413, 200)


def test_an_unknown_or_disabled_integration_is_refused(
    post: Any, integration: RecordingIntegration, world: World
) -> None:
    unknown = post(notice(), target=str(uuid.uuid4()))
    garbage = post(notice(), target="not-an-id")
    integration.enabled = False
    integration.save()
    disabled = post(notice(chat_id=str(world.group.group_chat_id)))

    assert (unknown.status_code, garbage.status_code, disabled.status_code) == (404, 404, 403)
    assert disabled.json()["error"] == "integration_disabled"
    assert not OutboundMessage.objects.exists()
    assert WebhookRequest.objects.filter(bot__isnull=True).count() == 2


def test_the_signature_format_is_the_documented_one() -> None:
    # docs/builtin-bots.md: sha256= + hex HMAC-SHA256 of "<timestamp>." + body.
    import hashlib
    import hmac

    body = b'{"recording_id": "1"}'
    expected = "sha256=" + hmac.new(b"s" * 16, b"1767225600." + body, hashlib.sha256).hexdigest()

    assert signing.signed_headers("s" * 16, body, now=1767225600) == {
        "X-Signature-Timestamp": "1767225600",
        "X-Signature": expected,
    }
    verified = signing.verify(
        secret="s" * 16, body=body, timestamp="1767225600", given=expected, max_age=300, now=1767225700
    )
    assert verified.timestamp == 1767225600


def test_a_recording_told_of_before_is_answered_duplicate_and_sends_nothing_more(
    bot: Bot, world: World, post: Any
) -> None:
    body = notice(chat_id=str(world.group.group_chat_id))
    first = post(body)
    retried = post(body, signed_at=time.time() + 1)  # the recording system retried: a new signature

    assert first.status_code == 202
    assert retried.status_code == 200
    assert retried.json() == {"status": "duplicate", "messages": first.json()["messages"], "unreachable": []}
    assert OutboundMessage.objects.count() == 1
    assert len(bot_messages(bot, world.group)) == 1
    assert list(WebhookRequest.objects.order_by("pk").values_list("status", "recording_id")) == [
        ("accepted", "rec-42"),
        ("duplicate", "rec-42"),
    ]
    assert post(notice(recording_id="rec-43", chat_id=str(world.group.group_chat_id))).status_code == 202
