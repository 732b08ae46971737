"""The BotX client against a fake CTS over real HTTP: auth modes, the token cache, error kinds."""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
import threading
import uuid
from collections.abc import Iterator

import pytest

from bots.botx.client import BotxClient, BotxCredentials, token_cache_clear
from bots.botx.errors import BotxError, ErrorKind, classify_http_status, retry_after_seconds
from tests.fakects import CHATS_INFO, CHATS_LIST, DEFAULT_CHATS, TOKEN_PREFIX, FakeCts, unused_url

BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")
SECRET = "bee001bee001bee001bee001bee001bee001"
SIGNATURE = "5393FDE463800BB05C4271111AF68D54A4B5EC03EBE808BC2B1FCB4F91BE2DCF"


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    token_cache_clear()
    yield
    token_cache_clear()


@pytest.fixture
def cts() -> Iterator[FakeCts]:
    with FakeCts({BOT_ID: SECRET}) as server:
        yield server


def make_client(
    base_url: str,
    *,
    auth_mode: str = "v1",
    secret: str = SECRET,
    host: str = "127.0.0.1",
    timeout: float = 5.0,
) -> BotxClient:
    credentials = BotxCredentials(bot_id=BOT_ID, secret_key=secret, base_url=base_url, host=host, auth_mode=auth_mode)
    return BotxClient(credentials, timeout=timeout)


def error_of(client: BotxClient, method: str = "GET", path: str = CHATS_LIST, **kwargs) -> BotxError:
    with pytest.raises(BotxError) as caught:
        client.request(method, path, **kwargs)
    return caught.value


def authorizations(cts: FakeCts, path: str = CHATS_LIST) -> list[str]:
    return [seen.headers.get("authorization", "") for seen in cts.requests if seen.path == path]


# --- v1: the token endpoint and the cache --------------------------------------------------------------


def test_v1_fetches_a_token_once_for_two_calls(cts):
    with make_client(cts.url) as client:
        assert client.request("GET", CHATS_LIST) == DEFAULT_CHATS
        assert client.request("GET", CHATS_LIST) == DEFAULT_CHATS

    assert cts.hits(TOKEN_PREFIX) == 1
    first, second = authorizations(cts)
    assert first == second
    assert first.startswith("Bearer ")


def test_v1_token_is_shared_by_every_client_of_the_bot_in_the_process(cts):
    with make_client(cts.url) as one, make_client(cts.url) as other:
        one.request("GET", CHATS_LIST)
        other.request("GET", CHATS_LIST)

    assert cts.hits(TOKEN_PREFIX) == 1


def test_v1_concurrent_first_calls_ask_for_one_token(cts):
    results: list[object] = []

    def call() -> None:
        with make_client(cts.url) as client:
            results.append(client.request("GET", CHATS_LIST))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [DEFAULT_CHATS] * 8
    assert cts.hits(TOKEN_PREFIX) == 1


def test_v1_gets_a_new_token_once_when_botx_rejects_the_cached_one(cts):
    with make_client(cts.url) as client:
        client.request("GET", CHATS_LIST)
        cts.revoke_tokens()
        assert client.request("GET", CHATS_LIST) == DEFAULT_CHATS

    assert cts.hits(TOKEN_PREFIX) == 2
    first, rejected, retried = authorizations(cts)
    assert first == rejected != retried


def test_v1_gives_up_when_the_new_token_is_rejected_too(cts):
    cts.script(401, {"status": "error", "reason": "unauthorized"}, path=CHATS_LIST)
    cts.script(401, {"status": "error", "reason": "unauthorized"}, path=CHATS_LIST)

    with make_client(cts.url) as client:
        error = error_of(client)

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.PERMANENT, 401, "unauthorized")
    assert cts.hits(TOKEN_PREFIX) == 2
    assert cts.hits(CHATS_LIST) == 2


def test_v1_wrong_secret_is_a_permanent_error_from_the_token_endpoint(cts):
    with make_client(cts.url, secret="wrong-secret-0000") as client:
        error = error_of(client)

    assert (error.kind, error.status_code, error.reason) == (
        ErrorKind.PERMANENT,
        401,
        "invalid_bot_credentials",
    )
    assert error.path == f"/api/v2/botx/bots/{BOT_ID}/token"
    assert cts.hits(CHATS_LIST) == 0


def test_v1_unknown_bot_is_a_permanent_not_found(cts):
    cts.bots.clear()
    with make_client(cts.url) as client, pytest.raises(BotxError) as caught:
        client.get_token()

    assert (caught.value.kind, caught.value.status_code, caught.value.reason) == (
        ErrorKind.PERMANENT,
        404,
        "bot_not_found",
    )


def test_get_token_always_asks_the_cts(cts):
    with make_client(cts.url) as client:
        assert client.get_token() != client.get_token()

    assert cts.hits(TOKEN_PREFIX) == 2


# --- v2: self-signed JWT ---------------------------------------------------------------------------------


def test_v2_jwt_is_accepted_without_the_token_endpoint(cts):
    with make_client(cts.url, auth_mode="v2") as client:
        assert client.request("GET", CHATS_LIST) == DEFAULT_CHATS
        client.request("GET", CHATS_LIST)

    assert cts.hits(TOKEN_PREFIX) == 0
    first, second = authorizations(cts)
    assert first != second, "a fresh JWT per request"


def test_v2_jwt_for_another_host_is_rejected(cts):
    with make_client(cts.url, auth_mode="v2", host="cts.example.com") as client:
        error = error_of(client)

    assert (error.kind, error.status_code) == (ErrorKind.PERMANENT, 401)
    assert cts.hits(CHATS_LIST) == 1, "no retry in v2: the next JWT would be the same"


# --- the wire: params, bodies, envelopes -------------------------------------------------------------


def test_query_parameters_reach_botx_and_the_result_comes_back(cts):
    chat = DEFAULT_CHATS[0]
    with make_client(cts.url, auth_mode="v2") as client:
        result = client.request("GET", CHATS_INFO, params={"group_chat_id": chat["group_chat_id"]})

    assert result == chat


def test_json_bodies_are_sent_as_json(cts):
    cts.script(202, {"status": "ok", "result": {"sync_id": "a5d3b4a7-4c2b-4a3e-8c49-c2f6c5b9a1d0"}})
    body = {"group_chat_id": str(uuid.uuid4()), "notification": {"status": "ok", "body": "hi"}}

    with make_client(cts.url, auth_mode="v2") as client:
        result = client.request("POST", "/api/v4/botx/notifications/direct", json=body)

    assert result == {"sync_id": "a5d3b4a7-4c2b-4a3e-8c49-c2f6c5b9a1d0"}
    sent = cts.requests[-1]
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.body) == body


def test_error_envelope_reason_errors_and_error_data_are_kept(cts):
    missing = str(uuid.uuid4())
    with make_client(cts.url, auth_mode="v2") as client:
        error = error_of(client, path=CHATS_INFO, params={"group_chat_id": missing})

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.PERMANENT, 404, "chat_not_found")
    assert error.errors == []
    assert error.error_data == {
        "group_chat_id": missing,
        "error_description": "Chat with specified id not found",
    }
    assert "chat_not_found" in str(error)
    assert "Chat with specified id not found" in str(error)


def test_not_found_without_an_envelope_is_permanent(cts):
    with make_client(cts.url, auth_mode="v2") as client:
        error = error_of(client, path="/api/v9/nothing/here")

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.PERMANENT, 404, "not_found")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(cts, status):
    cts.script(status, "<html>upstream trouble</html>", headers={"Content-Type": "text/html"})
    with make_client(cts.url, auth_mode="v2") as client:
        error = error_of(client)

    assert (error.kind, error.status_code) == (ErrorKind.TRANSIENT, status)
    assert error.retry_after is None


def test_server_error_envelope_keeps_its_reason(cts):
    cts.script(500, {"status": "error", "reason": "error_from_messaging_service", "errors": ["boom"]})
    with make_client(cts.url, auth_mode="v2") as client:
        error = error_of(client)

    assert (error.kind, error.reason, error.errors) == (
        ErrorKind.TRANSIENT,
        "error_from_messaging_service",
        ["boom"],
    )


def test_too_many_requests_is_transient_and_says_when_to_come_back(cts):
    cts.script(429, {"status": "error", "reason": "too_many_requests"}, headers={"Retry-After": "7"})
    with make_client(cts.url, auth_mode="v2") as client:
        error = error_of(client)

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.TRANSIENT, 429, "too_many_requests")
    assert error.retry_after == 7.0


def test_an_error_envelope_on_success_status_is_permanent(cts):
    cts.script(200, {"status": "error", "reason": "file_deleted", "error_data": {}})
    with make_client(cts.url, auth_mode="v2") as client:
        error = error_of(client)

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.PERMANENT, 200, "file_deleted")


def test_a_success_status_without_an_envelope_is_ambiguous(cts):
    cts.script(200, "OK", headers={"Content-Type": "text/plain"})
    with make_client(cts.url, auth_mode="v2") as client:
        error = error_of(client)

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.AMBIGUOUS, 200, "unexpected_response")


# --- the network -------------------------------------------------------------------------------------------


def test_connection_refused_is_transient_and_nothing_was_sent():
    with make_client(unused_url(), auth_mode="v2") as client:
        error = error_of(client)

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.TRANSIENT, None, "connect_failed")
    assert not error.request_was_sent


def test_no_answer_in_time_is_ambiguous(cts):
    cts.script(200, {"status": "ok", "result": []}, delay=3.0)
    with make_client(cts.url, auth_mode="v2", timeout=0.3) as client:
        error = error_of(client)

    assert (error.kind, error.status_code, error.reason) == (ErrorKind.AMBIGUOUS, None, "read_timeout")
    assert error.request_was_sent


# --- no secrets anywhere ---------------------------------------------------------------------------------


def test_credentials_repr_hides_the_secret():
    credentials = BotxCredentials(
        bot_id=BOT_ID,
        secret_key=SECRET,
        base_url="https://cts.example.com/",
        host="cts.example.com",
        auth_mode="v1",
    )
    assert SECRET not in repr(credentials)
    assert credentials.base_url == "https://cts.example.com"


def test_errors_and_logs_show_no_secret_signature_or_token(cts, caplog):
    caplog.set_level(logging.DEBUG)
    with make_client(cts.url) as client:
        client.request("GET", CHATS_LIST)
        (token,) = {header.removeprefix("Bearer ") for header in authorizations(cts)}
        cts.script(500, {"status": "error", "reason": "boom", "errors": [], "error_data": {}}, path=CHATS_LIST)
        server_error = error_of(client)
    with make_client(cts.url, secret="wrong-secret-0000") as client:
        token_cache_clear()
        refused = error_of(client)
    with make_client(unused_url()) as client:
        unreachable = error_of(client)

    texts = [caplog.text]
    for error in (server_error, refused, unreachable):
        texts += [str(error), repr(error), repr(error.__dict__)]
    for text in texts:
        for secret in (SECRET, "wrong-secret-0000", SIGNATURE, token):
            assert secret not in text
    assert "/token for bot" in caplog.text, "the token calls are logged, by their bare path"


def test_errors_survive_pickling():
    error = BotxError(ErrorKind.TRANSIENT, "too_many_requests", status_code=429, retry_after=3.0)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301  (our own bytes)
    assert (copy.kind, copy.reason, copy.status_code, copy.retry_after) == (
        ErrorKind.TRANSIENT,
        "too_many_requests",
        429,
        3.0,
    )


# --- guards and rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["https://elsewhere.example.com/steal", "//elsewhere.example.com/x", "api/x"])
def test_a_path_must_stay_on_the_cts(path):
    with make_client("https://cts.example.com", auth_mode="v2") as client, pytest.raises(ValueError):
        client.request("GET", path)


def test_unknown_auth_mode_is_refused():
    with pytest.raises(ValueError, match="auth mode"):
        BotxCredentials(bot_id=BOT_ID, secret_key=SECRET, base_url="https://x", host="x", auth_mode="v3")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ErrorKind.PERMANENT),
        (401, ErrorKind.PERMANENT),
        (403, ErrorKind.PERMANENT),
        (404, ErrorKind.PERMANENT),
        (409, ErrorKind.PERMANENT),
        (422, ErrorKind.PERMANENT),
        (429, ErrorKind.TRANSIENT),
        (500, ErrorKind.TRANSIENT),
        (503, ErrorKind.TRANSIENT),
    ],
)
def test_http_status_classification(status, kind):
    assert classify_http_status(status) is kind


def test_retry_after_reads_seconds_and_http_dates():
    now = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None
    assert retry_after_seconds(None) is None
