"""The bridge: users' messages through the real /command, forwarded to a real local HTTP endpoint
(a threaded server started here), its answers back in the sandbox chat; timeouts, retries with
backoff, failures told politely, and the delivery log."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from bots.integrations import signing
from bots.integrations.models import BridgeCall, BridgeEndpoint
from bots.integrations.services.bridge import backoff, bridge_call_attempt, bridge_sweep
from bots.models import Bot, InboundEvent, OutboundMessage
from bots.sandbox.services.user_send import button_press
from tests.integrations.conftest import bot_messages, inbound
from tests.sandbox_fixtures import World

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "bridge-0123456789abcdef"
Status = BridgeCall.Status


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-able, or bytes as they are
    delay: float = 0.0


@dataclass
class Endpoint:
    """A local HTTP endpoint answering from a script; it keeps what it was sent."""

    url: str
    script: list[Reply] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def endpoint_server() -> Iterator[Endpoint]:
    state = Endpoint(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.received.append({"headers": dict(self.headers), "body": body, "path": self.path})
                reply = state.script.pop(0) if state.script else Reply(204)
            if reply.delay:
                time.sleep(reply.delay)
            content = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            if reply.body is None:
                content = b""
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the portal gave up waiting

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def handler_key() -> str:
    return "bridge"


@pytest.fixture(autouse=True)
def _bridge_settings(settings: Any) -> None:
    settings.BRIDGE_ALLOW_PLAIN_HTTP = True  # the local endpoint has no certificate
    settings.BRIDGE_RETRY_BASE_SECONDS = 0  # retries come at once, in the same eager turn


@pytest.fixture
def endpoint(bot: Bot, endpoint_server: Endpoint) -> BridgeEndpoint:
    endpoint = BridgeEndpoint(bot=bot, url=endpoint_server.url, timeout_seconds=2, max_attempts=3)
    endpoint.secret = SECRET
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def the_call() -> BridgeCall:
    return BridgeCall.objects.get()


def test_a_message_is_forwarded_signed_and_the_answer_posted_back_with_buttons(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint, endpoint_server: Endpoint
) -> None:
    endpoint_server.script.append(
        Reply(
            200, {"text": "Sunny, +20", "buttons": [[{"label": "Tomorrow", "command": "/weather", "data": {"d": 1}}]]}
        )
    )

    sent = say("/weather Moscow")

    [request] = endpoint_server.received
    headers = request["headers"]
    verified = signing.verify(
        secret=SECRET,
        body=request["body"],
        timestamp=headers[signing.TIMESTAMP_HEADER],
        given=headers[signing.SIGNATURE_HEADER],
        max_age=60,
    )
    assert verified.timestamp <= time.time()
    forwarded = json.loads(request["body"])
    assert forwarded["text"] == "/weather Moscow"
    assert (forwarded["command"], forwarded["argument"]) == ("/weather", "Moscow")
    assert forwarded["sender"]["huid"] == str(world.ivan.huid)
    assert forwarded["sender"]["ad_login"] == "ipetrov"
    assert forwarded["chat"] == {"id": str(world.personal.group_chat_id), "type": "chat"}
    assert forwarded["message_id"] == str(sent.sync_id)
    call = the_call()
    assert headers["X-Request-Id"] == forwarded["request_id"] == str(call.request_id)
    assert (call.status, call.attempts, call.response_status) == (Status.SUCCEEDED, 1, 200)
    assert call.inbound == inbound(bot, sent.sync_id)
    reply = call.reply
    assert reply is not None and reply.status == OutboundMessage.Status.DELIVERED
    assert reply.correlation_id == call.inbound.correlation_id  # one turn in the ledger
    assert reply.payload["body"] == "Sunny, +20"
    posted = bot_messages(bot, world.personal)[-1]
    assert posted.body == "Sunny, +20"
    assert posted.bubble[0][0]["command"] == "/weather"
    assert SECRET not in json.dumps(call.request)

    # Pressing the answer's button is forwarded too, with the button's data.
    endpoint_server.script.append(Reply(200, {"text": "Cloudy"}))
    say(message=button_press(posted))

    pressed = json.loads(endpoint_server.received[-1]["body"])
    assert pressed["is_button"] is True
    assert pressed["data"] == {"d": 1}
    assert pressed["source_message_id"] == str(posted.sync_id)
    assert bot_messages(bot, world.personal)[-1].body == "Cloudy"


def test_an_empty_answer_posts_nothing(bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint) -> None:
    say("ping")  # the endpoint answers 204

    call = the_call()
    assert (call.status, call.response_status, call.reply) == (Status.SUCCEEDED, 204, None)
    assert list(OutboundMessage.objects.values_list("method", flat=True)) == ["typing"]


def test_a_5xx_is_retried_and_the_second_answer_posted(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint, endpoint_server: Endpoint
) -> None:
    endpoint_server.script += [Reply(503, {"error": "busy"}), Reply(200, {"text": "Second time lucky"})]

    say("hello")

    call = the_call()
    assert (call.status, call.attempts) == (Status.SUCCEEDED, 2)
    attempts = list(call.attempt_log.values_list("number", "status_code", "outcome"))
    assert attempts == [(1, 503, "transient"), (2, 200, "ok")]
    assert len(endpoint_server.received) == 2
    bodies = [json.loads(item["body"]) for item in endpoint_server.received]
    assert bodies[0]["request_id"] == bodies[1]["request_id"], "the endpoint can tell a retry"
    assert bot_messages(bot, world.personal)[-1].body == "Second time lucky"


def test_timeouts_until_the_attempts_are_spent_fail_politely(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint, endpoint_server: Endpoint
) -> None:
    endpoint.timeout_seconds = 0.5
    endpoint.max_attempts = 2
    endpoint.save()
    endpoint_server.script += [Reply(200, {"text": "too late"}, delay=1.5)] * 2

    say("slow question")

    call = the_call()
    assert (call.status, call.attempts) == (Status.FAILED, 2)
    assert "no answer within 0.5 s" in call.error
    assert [a.outcome for a in call.attempt_log.all()] == ["transient", "transient"]
    apology = call.reply
    assert apology is not None and apology.created_by == "bridge: failure"
    assert apology.payload["recipients"] == [str(world.ivan.huid)]
    posted = bot_messages(bot, world.personal)[-1]
    assert posted.body == "Sorry, the service behind this bot did not answer. Please try again a little later."
    assert "too late" not in [m.body for m in bot_messages(bot, world.personal)]


def test_a_4xx_is_not_retried(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint, endpoint_server: Endpoint
) -> None:
    endpoint_server.script.append(Reply(403, {"error": "forbidden"}))

    say("hello")

    call = the_call()
    assert (call.status, call.attempts, call.response_status) == (Status.FAILED, 1, 403)
    assert "forbidden" in call.response_excerpt
    assert len(endpoint_server.received) == 1
    assert "did not answer" in bot_messages(bot, world.personal)[-1].body


def test_an_invalid_answer_fails_without_retrying(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint, endpoint_server: Endpoint
) -> None:
    endpoint_server.script.append(Reply(200, {"text": "x", "buttons": [[{"label": "no action"}]]}))

    say("hello")

    call = the_call()
    assert call.status == Status.FAILED
    assert 'needs a "link" or a "command"' in call.error
    assert len(endpoint_server.received) == 1


def test_an_unreachable_endpoint_is_retried_then_fails(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint
) -> None:
    endpoint.url = "http://127.0.0.1:9/nothing-listens-here"
    endpoint.save()

    say("hello")

    call = the_call()
    assert (call.status, call.attempts) == (Status.FAILED, 3)
    assert "could not reach the endpoint" in call.error


def test_a_retry_waits_for_its_backoff(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint, endpoint_server: Endpoint, settings: Any
) -> None:
    settings.BRIDGE_RETRY_BASE_SECONDS = 30
    endpoint_server.script += [Reply(500), Reply(200, {"text": "finally"})]

    say("hello")

    call = the_call()
    assert (call.status, call.attempts) == (Status.PENDING, 1)
    assert call.next_attempt_at is not None
    wait = (call.next_attempt_at - timezone.now()).total_seconds()
    assert 10 < wait <= 30
    assert bridge_call_attempt(call_id=call.pk) is None, "not due yet"

    assert bridge_call_attempt(call_id=call.pk, now=call.next_attempt_at) == Status.SUCCEEDED
    assert bot_messages(bot, world.personal)[-1].body == "finally"


def test_backoff_doubles_with_jitter_up_to_its_ceiling(settings: Any) -> None:
    settings.BRIDGE_RETRY_BASE_SECONDS = 2
    settings.BRIDGE_RETRY_MAX_DELAY_SECONDS = 10

    delays = [backoff(attempt) for attempt in (1, 2, 3, 4, 5)]

    assert 1 <= delays[0] <= 2
    assert 2 <= delays[1] <= 4
    assert 4 <= delays[2] <= 8
    assert all(5 <= delay <= 10 for delay in delays[3:])


def test_without_an_endpoint_the_user_is_told_and_the_call_recorded_as_failed(bot: Bot, world: World, say: Any) -> None:
    sent = say("hello")

    call = the_call()
    assert call.status == Status.FAILED
    assert call.error == "no endpoint is set up for this bot"
    assert inbound(bot, sent.sync_id).status == InboundEvent.Status.DONE
    assert bot_messages(bot, world.personal)[-1].body == (
        "Sorry, this bot is not connected to its service yet. Please try again later."
    )


def test_the_sweeper_sends_a_call_whose_task_was_lost(
    bot: Bot, world: World, endpoint: BridgeEndpoint, endpoint_server: Endpoint
) -> None:
    endpoint_server.script.append(Reply(200, {"text": "found again"}))
    call = BridgeCall.objects.create(
        bot=bot,
        endpoint=endpoint,
        chat_id=world.personal.group_chat_id,
        user_huid=world.ivan.huid,
        request={"text": "lost"},
        next_attempt_at=timezone.now() - dt.timedelta(minutes=5),
    )

    counts = bridge_sweep()

    assert counts["enqueued"] == 1
    call.refresh_from_db()
    assert call.status == Status.SUCCEEDED
    assert bot_messages(bot, world.personal)[-1].body == "found again"


def test_an_operator_sends_a_failed_call_again_from_the_console(
    bot: Bot, world: World, say: Any, endpoint: BridgeEndpoint, endpoint_server: Endpoint, cast: Any
) -> None:
    from django.test import Client
    from django.urls import reverse

    endpoint_server.script += [Reply(403, {"error": "not yet"}), Reply(200, {"text": "Now it works"})]
    say("hello")
    call = the_call()
    assert call.status == Status.FAILED
    changelist = reverse("admin:integrations_bridgecall_changelist")
    action = {"action": "send_again", "_selected_action": [str(call.pk)]}

    auditor = Client()
    auditor.force_login(cast.auditor)
    auditor.post(changelist, action)
    call.refresh_from_db()
    assert call.status == Status.FAILED, "an auditor only reads"

    operator = Client()
    operator.force_login(cast.operator)
    response = operator.post(changelist, action)

    assert response.status_code == 302
    call.refresh_from_db()
    assert (call.status, call.attempts) == (Status.SUCCEEDED, 1)
    assert list(call.attempt_log.values_list("number", "status_code")) == [(1, 403), (2, 200)]
    assert bot_messages(bot, world.personal)[-1].body == "Now it works"
