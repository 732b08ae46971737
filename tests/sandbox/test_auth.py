"""Who may call the sandbox: the v1 token endpoint, issued tokens, v2 self-signed JWTs."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import httpx
import jwt
import pytest
from django.utils import timezone

from bots.botx.auth import jwt_v2_build, token_signature
from bots.botx.errors import BotxError, ErrorKind
from bots.sandbox.models import SandboxToken
from tests.sandbox.conftest import SECRET, faults_set, make_client

CHATS_LIST = "/api/v3/botx/chats/list"


def token_url(bot) -> str:
    return f"{bot.cts.base_url}/api/v2/botx/bots/{bot.bot_id}/token"


def test_the_token_endpoint_issues_a_token_for_a_good_signature(bot):
    answer = httpx.get(token_url(bot), params={"signature": token_signature(bot.bot_id, SECRET)})

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert isinstance(body["result"], str) and len(body["result"]) > 20
    stored = SandboxToken.objects.get(bot=bot)
    assert body["result"] not in stored.token_hash  # kept hashed


def test_the_token_endpoint_answers_401_to_a_bad_signature(bot):
    answer = httpx.get(token_url(bot), params={"signature": token_signature(bot.bot_id, "not-the-secret")})

    assert answer.status_code == 401
    assert answer.json()["status"] == "error"
    assert answer.json()["reason"] == "invalid_bot_credentials"


def test_the_token_endpoint_answers_404_to_an_unknown_bot(bot):
    stranger = uuid.uuid4()
    answer = httpx.get(
        f"{bot.cts.base_url}/api/v2/botx/bots/{stranger}/token", params={"signature": token_signature(stranger, SECRET)}
    )

    assert answer.status_code == 404
    assert answer.json()["reason"] == "bot_not_found"
    assert answer.json()["error_data"]["bot_id"] == str(stranger)


def test_a_v1_client_gets_a_token_and_calls_with_it(bot, v1_client):
    assert v1_client.request("GET", CHATS_LIST) == []
    assert v1_client.request("GET", CHATS_LIST) == []

    assert SandboxToken.objects.filter(bot=bot).count() == 1


def test_an_expired_token_is_refused_and_the_v1_client_fetches_a_new_one(bot, v1_client):
    v1_client.request("GET", CHATS_LIST)
    SandboxToken.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    assert v1_client.request("GET", CHATS_LIST) == []
    assert SandboxToken.objects.filter(bot=bot).count() == 2


def test_tokens_expire_after_the_lifetime_the_cts_sets(bot, v1_client):
    faults_set(bot.cts, token_lifetime_seconds=60)
    v1_client.request("GET", CHATS_LIST)

    token = SandboxToken.objects.get(bot=bot)
    assert token.expires_at is not None
    assert 50 < (token.expires_at - timezone.now()).total_seconds() <= 60


def test_a_v2_client_is_accepted(client):
    assert client.request("GET", CHATS_LIST) == []


def test_a_jwt_signed_with_another_secret_is_refused(bot):
    with make_client(bot, secret="another-secret-another-secret-0000") as client, pytest.raises(BotxError) as caught:
        client.request("GET", CHATS_LIST)

    assert caught.value.status_code == 401
    assert caught.value.kind is ErrorKind.PERMANENT
    assert caught.value.reason == "invalid_bot_credentials"
    assert caught.value.error_data["error_description"] == "Signature verification failed"


def bearer_get(bot, token: str) -> httpx.Response:
    return httpx.get(f"{bot.cts.base_url}{CHATS_LIST}", headers={"Authorization": f"Bearer {token}"})


def test_an_expired_jwt_is_refused(bot):
    token = jwt_v2_build(bot_id=bot.bot_id, host=bot.cts.host, secret_key=SECRET, now=int(time.time()) - 3600)

    answer = bearer_get(bot, token)

    assert answer.status_code == 401
    assert answer.json()["error_data"]["error_description"] == "Signature has expired"


def test_a_jwt_for_another_audience_is_refused(bot):
    token = jwt_v2_build(bot_id=bot.bot_id, host="cts.example.com", secret_key=SECRET)

    answer = bearer_get(bot, token)

    assert answer.status_code == 401
    assert answer.json()["error_data"]["error_description"] == "Invalid audience parameter was provided"


def test_a_jwt_of_an_unknown_bot_is_refused(bot):
    token = jwt_v2_build(bot_id=uuid.uuid4(), host=bot.cts.host, secret_key=SECRET)

    assert bearer_get(bot, token).status_code == 401


def test_a_jwt_without_expiry_is_refused(bot):
    token = jwt.encode({"iss": str(bot.bot_id), "aud": bot.cts.host, "iat": int(time.time())}, SECRET)

    assert bearer_get(bot, token).status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token"])
def test_requests_without_a_valid_bearer_are_refused_with_an_envelope(bot, header):
    answer = httpx.get(f"{bot.cts.base_url}{CHATS_LIST}", headers={"Authorization": header} if header else {})

    assert answer.status_code == 401
    body = answer.json()
    assert body["status"] == "error"
    assert body["reason"] == "invalid_bot_credentials"
    assert body["errors"] == []
    assert "error_description" in body["error_data"]


def test_during_a_rotation_both_keys_are_accepted(bot):
    bot.previous_secret_ciphertext = bot.secret_key_ciphertext
    bot.previous_secret_expires_at = timezone.now() + dt.timedelta(hours=1)
    bot.secret_key = "the-new-secret-the-new-secret-0001"
    bot.save()

    with make_client(bot, secret=SECRET) as old, make_client(bot, secret="the-new-secret-the-new-secret-0001") as new:
        assert old.request("GET", CHATS_LIST) == []
        assert new.request("GET", CHATS_LIST) == []
    with make_client(bot, secret=SECRET, auth_mode="v1") as old_v1:
        assert old_v1.get_token()


def test_a_bot_on_a_cts_that_is_not_the_sandbox_is_unknown_here(bot, sandbox_cts):
    from bots.models import CtsServer

    real = CtsServer.objects.create(name="real", base_url="https://cts.example.com", auth_mode="v2")
    bot.cts = real
    bot.save()
    token = jwt_v2_build(bot_id=bot.bot_id, host="cts.example.com", secret_key=SECRET)

    answer = httpx.get(f"{sandbox_cts.base_url}{CHATS_LIST}", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 401
