"""POST /command: what BotX gets back, and what the ledger keeps, for good, forged and malformed requests."""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from django.db import OperationalError, connection, transaction
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu.exceptions import OperationalError as BrokerUnreachable

from bots.botx import responses
from bots.botx.incoming import parse_command
from bots.models import Bot, CtsServer, InboundEvent, MessageEvent, OutboundMessage
from bots.services import bot_cache
from bots.services.registry import bot_secret_rotate
from portal.celery import app as celery_app
from tests.botx import payloads
from tests.traffic.conftest import botx_token

pytestmark = pytest.mark.django_db

Status = InboundEvent.Status
Verification = InboundEvent.Verification
OTHER_SECRET = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0"


@pytest.fixture(params=["django", "wsgi"])
def botx_path(request: pytest.FixtureRequest) -> str:
    # Every test here runs through Django's views and through the WSGI fast path (portal.wsgi) that
    # the web server serves: both must answer and store alike.
    return str(request.param)


def signed_token(bot: Bot, *, secret: str | None = None, **claims: Any) -> str:
    """A v2 token for ``bot`` with some claims changed (a claim set to None is left out)."""
    now = int(time.time())
    values: dict[str, Any] = {
        "iss": str(bot.bot_id),
        "aud": bot.cts.host,
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
        "version": 2,
    } | claims
    values = {name: value for name, value in values.items() if value is not None}
    return jwt.encode(values, secret or bot.secret_key, algorithm="HS256")


def assert_bot_disabled(response: Any, status: int, *message_parts: str) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"reason", "error_data", "errors"}
    assert body["reason"] == "bot_disabled"
    assert body["errors"] == []
    message = body["error_data"]["status_message"]
    assert isinstance(message, str)
    assert message
    for part in message_parts:
        assert part in message
    return message


def only_event() -> InboundEvent:
    return InboundEvent.objects.get(endpoint=InboundEvent.Endpoint.COMMAND)


# --- accepted --------------------------------------------------------------------------------------


def test_a_valid_command_is_accepted_and_its_raw_request_is_stored_by_the_time_the_answer_is_out(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    payload = payloads.command(body="hello there")
    token = botx_token(bot)

    response = post_command(bot, payload, token=token)

    assert response.status_code == 202
    assert response.json() == {"result": "accepted"}
    event = only_event()
    assert event.bot == bot
    assert event.bot_ref == str(bot.bot_id)
    assert event.raw_body == json.dumps(payload)
    assert event.headers["authorization"] == "present"
    assert event.headers["content-type"] == "application/json"
    assert token not in json.dumps(event.headers)
    assert event.verification == Verification.VERIFIED
    assert event.http_status == 202
    assert event.status == Status.RECEIVED
    assert event.sync_id == uuid.UUID(payload["sync_id"])
    assert event.summary == parse_command(payload).summary()
    assert event.chat_id == payloads.PERSONAL_CHAT_ID
    assert event.user_huid == payloads.USER_HUID
    assert event.text == "hello there"
    assert event.queued_at is not None


def test_with_a_worker_the_echo_bots_answer_lands_in_the_outbox_under_the_same_correlation_id(
    bot: Bot,
    post_command: Callable[..., Any],
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = post_command(bot, payloads.command(body="hello there"))

    assert response.status_code == 202
    event = only_event()
    assert event.status == Status.DONE
    assert event.attempts == 1
    message = OutboundMessage.objects.get()
    assert message.method == "notification"
    assert message.payload["chat_id"] == str(payloads.PERSONAL_CHAT_ID)
    assert message.payload["body"] == "hello there"
    assert message.inbound == event
    assert message.bot == bot
    assert message.correlation_id == event.correlation_id
    assert message.chat_id == payloads.PERSONAL_CHAT_ID
    history = list(MessageEvent.objects.filter(message=message))
    assert history[0].status == OutboundMessage.Status.PENDING


def test_the_same_sync_id_again_is_acknowledged_counted_on_the_first_row_and_answered_once(
    bot: Bot,
    post_command: Callable[..., Any],
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    payload = payloads.command(body="only once")

    with django_capture_on_commit_callbacks(execute=True):
        first = post_command(bot, payload)
    with django_capture_on_commit_callbacks(execute=True):
        again = post_command(bot, payload)

    assert first.status_code == again.status_code == 202
    assert again.json() == {"result": "accepted"}
    event = only_event()
    assert event.duplicates == 1
    assert event.status == Status.DONE
    assert OutboundMessage.objects.count() == 1


# --- tokens ----------------------------------------------------------------------------------------


def _forged(bot: Bot) -> str:
    return botx_token(bot, secret=OTHER_SECRET)


def _expired(bot: Bot) -> str:
    then = int(time.time()) - 3600
    return signed_token(bot, iat=then, nbf=then, exp=then + 60)


def _not_before_in_the_future(bot: Bot) -> str:
    return signed_token(bot, nbf=int(time.time()) + 600)


def _issued_in_the_future(bot: Bot) -> str:
    return signed_token(bot, iat=int(time.time()) + 600)


def _for_another_server(bot: Bot) -> str:
    return signed_token(bot, aud="cts.elsewhere.example")


def _issued_by_another_bot(bot: Bot) -> str:
    return signed_token(bot, iss=str(uuid.uuid4()))


TOKEN_FAILURES: dict[str, tuple[Callable[[Bot], str | None], str]] = {
    "forged signature": (_forged, "Signature verification failed"),
    "expired": (_expired, "Signature has expired"),
    "not yet valid (nbf)": (_not_before_in_the_future, "The token is not yet valid (nbf)"),
    "not yet valid (iat)": (_issued_in_the_future, "The token is not yet valid (iat)"),
    "wrong audience": (_for_another_server, "Invalid audience parameter was provided."),
    "wrong issuer": (_issued_by_another_bot, "Invalid issuer"),
    "missing token": (lambda bot: None, "The authorization token was not provided."),
    "garbage": (lambda bot: "not-a-jwt", "Not enough segments"),
}


@pytest.mark.parametrize("case", TOKEN_FAILURES, ids=list(TOKEN_FAILURES))
def test_a_request_whose_token_does_not_verify_is_refused_401_stored_as_rejected_and_sends_nothing(
    case: str,
    bot: Bot,
    post_command: Callable[..., Any],
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    make_token, message = TOKEN_FAILURES[case]

    with django_capture_on_commit_callbacks(execute=True):
        response = post_command(bot, payloads.command(), token=make_token(bot))

    assert response.status_code == 401
    assert response.json() == responses.unverified_request(message)
    event = only_event()
    assert event.status == Status.REJECTED
    assert event.verification == Verification.FAILED
    assert event.http_status == 401
    assert event.error == message
    assert event.bot == bot
    assert OutboundMessage.objects.count() == 0


def test_a_rejected_forged_request_does_not_take_the_sync_id_of_the_genuine_one(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    payload = payloads.command()

    forged = post_command(bot, payload, token=_forged(bot))
    genuine = post_command(bot, payload)

    assert forged.status_code == 401
    assert genuine.status_code == 202
    forged_event, genuine_event = InboundEvent.objects.order_by("id")
    assert (forged_event.status, forged_event.verification) == (Status.REJECTED, Verification.FAILED)
    assert (genuine_event.status, genuine_event.verification) == (Status.RECEIVED, Verification.VERIFIED)
    assert genuine_event.sync_id == uuid.UUID(payload["sync_id"])
    assert genuine_event.duplicates == 0


def test_during_a_secret_rotation_the_previous_key_is_accepted_and_after_the_grace_only_the_new_one(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    old_secret = bot.secret_key
    bot = bot_secret_rotate(bot=bot, new_secret=OTHER_SECRET, grace=dt.timedelta(hours=1))

    assert post_command(bot, payloads.command(), token=botx_token(bot, secret=old_secret)).status_code == 202
    assert post_command(bot, payloads.command(), token=botx_token(bot, secret=OTHER_SECRET)).status_code == 202

    Bot.objects.filter(pk=bot.pk).update(previous_secret_expires_at=timezone.now() - dt.timedelta(seconds=1))
    bot_cache.cache_clear()  # changed behind the ORM's back: no signal tells the web process

    late = post_command(bot, payloads.command(), token=botx_token(bot, secret=old_secret))
    assert late.status_code == 401
    assert late.json() == responses.unverified_request("Signature verification failed")
    assert post_command(bot, payloads.command(), token=botx_token(bot, secret=OTHER_SECRET)).status_code == 202


def test_a_bot_that_checks_tokens_only_when_present_accepts_a_request_without_one(
    make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    bot = make_bot(jwt_policy=Bot.JwtPolicy.WHEN_PRESENT)

    response = post_command(bot, payloads.command(bot_id=bot.bot_id), token=None)

    assert response.status_code == 202
    event = only_event()
    assert event.verification == Verification.ABSENT
    assert event.status == Status.RECEIVED


def test_a_bot_that_checks_tokens_only_when_present_still_refuses_a_bad_one(
    make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    bot = make_bot(jwt_policy=Bot.JwtPolicy.WHEN_PRESENT)

    response = post_command(bot, payloads.command(bot_id=bot.bot_id), token=_forged(bot))

    assert response.status_code == 401
    assert only_event().verification == Verification.FAILED


# --- malformed bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message_part"),
    [
        (b'{"sync_id": ', "not valid JSON"),
        (b"[1, 2, 3]", "must be a JSON object"),
        (b'{"text": "caf\xe9"}', "not UTF-8"),
    ],
    ids=["not JSON", "not an object", "not UTF-8"],
)
def test_a_body_that_is_not_a_json_object_in_utf8_is_refused_400_and_still_stored(
    raw: bytes, message_part: str, bot: Bot, post_command: Callable[..., Any]
) -> None:
    response = post_command(bot, None, raw=raw)

    message = assert_bot_disabled(response, 400, message_part)
    event = only_event()
    assert event.status == Status.REJECTED
    assert event.http_status == 400
    assert event.error == message
    assert event.raw_body == raw.decode("utf-8", errors="replace")
    assert event.bot_ref == str(bot.bot_id)


def test_a_body_over_the_size_limit_is_refused_413(bot: Bot, post_command: Callable[..., Any], settings: Any) -> None:
    settings.BOTX_MAX_BODY_BYTES = 300
    payload = payloads.command(body="x" * 400)

    response = post_command(bot, payload)

    assert_bot_disabled(response, 413, "300")
    event = only_event()
    assert event.status == Status.REJECTED
    assert event.http_status == 413
    assert len(event.raw_body) <= 300


@pytest.mark.parametrize("field", ["sync_id", "command"])
def test_a_command_without_a_required_field_is_refused_400_naming_the_field(
    field: str, bot: Bot, post_command: Callable[..., Any]
) -> None:
    payload = payloads.command()
    del payload[field]

    response = post_command(bot, payload)

    assert_bot_disabled(response, 400, f'"{field}"')
    assert only_event().status == Status.REJECTED


# --- bots that are not served ----------------------------------------------------------------------


def test_a_command_for_an_unknown_bot_is_answered_503_bot_disabled(bot: Bot, post_command: Callable[..., Any]) -> None:
    unknown = uuid.uuid4()

    response = post_command(bot, payloads.command(bot_id=unknown), url=f"/botx/{unknown}/command")

    assert_bot_disabled(response, 503, str(unknown))
    event = only_event()
    assert event.status == Status.REJECTED
    assert event.bot is None
    assert event.bot_ref == str(unknown)


def test_a_command_for_a_disabled_bot_is_answered_503_with_its_status_message(
    make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    bot = make_bot(enabled=False, status_message="Closed for maintenance until Monday")

    response = post_command(bot, payloads.command(bot_id=bot.bot_id))

    assert assert_bot_disabled(response, 503) == "Closed for maintenance until Monday"
    event = only_event()
    assert event.status == Status.REJECTED
    assert event.verification == Verification.VERIFIED


def test_a_bot_registered_with_protocol_version_3_is_answered_503_asking_for_version_4(
    make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    bot = make_bot(protocol_version=3)

    response = post_command(bot, payloads.command(bot_id=bot.bot_id))

    assert_bot_disabled(response, 503, "version 4")


def test_a_body_with_protocol_version_3_is_answered_503_asking_for_version_4(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    response = post_command(bot, payloads.command(proto_version=3))

    assert_bot_disabled(response, 503, "version 3", "version 4")
    assert only_event().status == Status.REJECTED


def test_a_bot_whose_handler_code_is_gone_is_answered_503(bot: Bot, post_command: Callable[..., Any]) -> None:
    Bot.objects.filter(pk=bot.pk).update(handler="removed_long_ago")
    bot_cache.cache_clear()  # changed behind the ORM's back: no signal tells the web process

    response = post_command(bot, payloads.command())

    assert_bot_disabled(response, 503, "handler")
    assert only_event().status == Status.REJECTED


def test_a_body_naming_another_bot_than_the_url_is_refused_400(bot: Bot, post_command: Callable[..., Any]) -> None:
    response = post_command(bot, payloads.command(bot_id=uuid.uuid4()))

    assert_bot_disabled(response, 400, "bot_id")
    assert only_event().status == Status.REJECTED


# --- routing ---------------------------------------------------------------------------------------


def test_the_shared_url_routes_by_the_bot_id_in_the_body(
    bot: Bot, make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    other = make_bot(name="Other")

    response = post_command(other, payloads.command(bot_id=other.bot_id), url="/botx/command")

    assert response.status_code == 202
    event = only_event()
    assert event.bot == other
    assert event.verification == Verification.VERIFIED


def test_the_shared_url_finds_the_bot_by_the_token_when_the_body_names_none(
    bot: Bot, make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    other = make_bot(name="Other")
    payload = payloads.command()
    del payload["bot_id"]

    post_command(other, payload, url="/botx/command")

    event = only_event()
    assert event.bot == other
    assert event.bot_ref == str(other.bot_id)
    assert event.verification == Verification.VERIFIED


def test_the_shared_url_accepts_a_command_routed_by_its_token(
    bot: Bot, make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    other = make_bot(name="Other")
    payload = payloads.command()
    del payload["bot_id"]

    response = post_command(other, payload, url="/botx/command")

    assert response.status_code == 202
    assert only_event().status == Status.RECEIVED


@pytest.mark.parametrize("same_secret", [True, False], ids=["same secret", "own secrets"])
def test_a_bot_id_registered_on_two_cts_servers_is_routed_by_the_token(
    same_secret: bool, bot: Bot, make_bot: Callable[..., Bot], post_command: Callable[..., Any]
) -> None:
    # Both servers are on this machine: nothing is delivered anywhere else.
    second = CtsServer.objects.create(name="second", base_url="http://localhost:9", auth_mode="v2")
    twin = make_bot(
        bot_id=bot.bot_id,
        cts=second,
        name="Echo on the second server",
        **({} if same_secret else {"secret_key": OTHER_SECRET}),
    )
    assert twin.cts.host != bot.cts.host

    to_twin = post_command(twin, payloads.command())
    to_first = post_command(bot, payloads.command())

    assert to_twin.status_code == to_first.status_code == 202
    twin_event, first_event = InboundEvent.objects.order_by("id")
    assert twin_event.bot == twin
    assert first_event.bot == bot


# --- infrastructure failures -----------------------------------------------------------------------


def test_when_the_database_is_unreachable_botx_is_asked_to_try_again_and_the_next_request_works(
    bot: Bot, post_command: Callable[..., Any]
) -> None:
    def unreachable(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raise OperationalError("could not connect to server: Connection refused")

    bot_cache.bots_for(bot.bot_id)  # the registry is cached: the first statement is the row's own
    with connection.execute_wrapper(unreachable):
        response = post_command(bot, payloads.command())

    assert_bot_disabled(response, 503, "try again")
    assert InboundEvent.objects.count() == 0

    again = post_command(bot, payloads.command())

    assert again.status_code == 202
    assert only_event().status == Status.RECEIVED


def test_when_the_broker_is_unreachable_the_command_is_still_accepted_and_waits_as_received(
    bot: Bot,
    post_command: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    calls: list[Any] = []

    def unreachable(*args: Any, **kwargs: Any) -> None:
        calls.append(kwargs.get("args"))
        raise BrokerUnreachable("[Errno 111] Connection refused")

    monkeypatch.setattr(celery_app.tasks["bots.inbound_drain"], "apply_async", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_command(bot, payloads.command())

    assert response.status_code == 202
    assert response.json() == {"result": "accepted"}
    event = only_event()
    assert calls == [()]  # the drain takes no arguments: it claims what is stored
    assert event.status == Status.RECEIVED
    assert event.attempts == 0


def _post_in_a_savepoint(post: Callable[[], Any]) -> Any:
    # A failed save marks the test's transaction for rollback; the savepoint keeps that to this request.
    with transaction.atomic():
        return post()


@pytest.mark.parametrize(
    "payload",
    [
        payloads.command(body="before\x00after"),
        payloads.command(ad_login="anna\x00"),
        payloads.command(chat_type="chat\x00"),
        b"\x00 not json",
    ],
    ids=["in the text", "in the sender", "in the chat type", "in a rejected body"],
)
def test_a_request_with_a_nul_character_is_stored(payload: Any, bot: Bot, post_command: Callable[..., Any]) -> None:
    raw = payload if isinstance(payload, bytes) else None

    response = _post_in_a_savepoint(lambda: post_command(bot, payload, raw=raw))

    assert response.status_code in (202, 400), response.content
    assert InboundEvent.objects.count() == 1


def test_a_system_event_with_a_long_name_is_accepted_and_stored(bot: Bot, post_command: Callable[..., Any]) -> None:
    payload = payloads.system_event("call_" + "x" * 300)

    response = _post_in_a_savepoint(lambda: post_command(bot, payload))

    assert response.status_code == 202, response.content
    assert len(only_event().text) <= 255


def test_get_on_the_command_endpoint_is_not_allowed(bot: Bot, client: Client) -> None:
    assert client.get(f"/botx/{bot.bot_id}/command").status_code == 405


# --- whatever BotX (or anyone) sends ---------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    # NUL is left out on PostgreSQL: test_a_request_with_a_nul_character_is_stored pins that failure.
    | st.text(st.characters(), max_size=20)
    | st.uuids().map(str),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)

_TEMPLATE = payloads.command()
FIELD_PATHS: list[tuple[str, ...]] = (
    [(key,) for key in _TEMPLATE]
    + [("command", key) for key in _TEMPLATE["command"]]
    + [("from", key) for key in _TEMPLATE["from"]]
)
DELETE = object()
mutations = st.lists(
    st.tuples(st.sampled_from(FIELD_PATHS), st.one_of(st.just(DELETE), json_values)), min_size=1, max_size=5
)


def _mutated(payload: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    for path, value in changes:
        parent: Any = payload
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue  # an earlier change replaced the object this field lived in
        if value is DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    return payload


def _assert_answered_within_the_protocol_and_stored(post: Callable[[], Any]) -> None:
    before = InboundEvent.objects.count()
    repeats = InboundEvent.objects.aggregate(total=Sum("duplicates"))["total"] or 0
    response = _post_in_a_savepoint(post)
    if response.status_code >= 500:
        assert response.status_code == 503, response.content
        assert response.json()["reason"] == "bot_disabled"
    stored = InboundEvent.objects.count() - before
    counted = (InboundEvent.objects.aggregate(total=Sum("duplicates"))["total"] or 0) - repeats
    assert (stored, counted) in {(1, 0), (0, 1)}, response.content


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=json_values)
def test_any_json_value_is_answered_without_a_server_error_and_stored(
    value: Any, bot: Bot, post_command: Callable[..., Any]
) -> None:
    _assert_answered_within_the_protocol_and_stored(lambda: post_command(bot, value))


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=mutations)
def test_a_near_valid_command_is_answered_without_a_server_error_and_stored(
    changes: list[tuple[tuple[str, ...], Any]], bot: Bot, post_command: Callable[..., Any]
) -> None:
    payload = _mutated(payloads.command(), changes)
    _assert_answered_within_the_protocol_and_stored(lambda: post_command(bot, payload))
