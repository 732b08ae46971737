"""The v1 signature and the v2 JWT: the published test vector, the claims, and agreement with pybotx."""

from __future__ import annotations

import asyncio
import os
import uuid

import httpx
import jwt
import pytest
from pydantic import AnyHttpUrl

from bots.botx.auth import jwt_v2_build, token_signature
from tests.fakects import FakeCts

# Read when pybotx is imported: keeps it from reconfiguring logging for the whole test run.
os.environ.setdefault("PYBOTX_CONFIGURE_LOGGER", "0")
import pybotx
from pybotx.auth import build_botx_jwt_v2

BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")
SECRET = "bee001bee001bee001bee001bee001bee001"
HOST = "cts.example.com"
VECTOR = "5393FDE463800BB05C4271111AF68D54A4B5EC03EBE808BC2B1FCB4F91BE2DCF"
NOW = 1_700_000_000


def decode(token: str, *, secret: str = SECRET, host: str = HOST) -> dict:
    return jwt.decode(
        token, secret, algorithms=["HS256"], audience=host, options={"verify_exp": False, "verify_nbf": False}
    )


def pybotx_bot(*, cts_url: str = f"https://{HOST}", transport: httpx.AsyncBaseTransport | None = None, **kw):
    account = pybotx.BotAccountWithSecret(id=BOT_ID, cts_url=AnyHttpUrl(cts_url), secret_key=SECRET)
    client = httpx.AsyncClient(transport=transport) if transport else None
    return pybotx.Bot(collectors=[pybotx.HandlerCollector()], bot_accounts=[account], httpx_client=client, **kw)


# --- v1 signature -----------------------------------------------------------------------------------


def test_signature_matches_the_published_test_vector():
    assert token_signature(BOT_ID, SECRET) == VECTOR


@pytest.mark.parametrize("bot_id", [str(BOT_ID), str(BOT_ID).upper(), BOT_ID.hex])
def test_signature_is_the_same_however_the_bot_id_is_written(bot_id):
    assert token_signature(bot_id, SECRET) == VECTOR


def test_signature_depends_on_the_secret():
    assert token_signature(BOT_ID, SECRET + "x") != VECTOR


def test_signature_is_what_pybotx_sends_to_the_token_endpoint():
    sent: list[httpx.Request] = []

    def cts(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"status": "ok", "result": "token"})

    bot = pybotx_bot(transport=httpx.MockTransport(cts), auth_version=pybotx.BotXAuthVersion.V1)
    assert asyncio.run(bot.get_token(bot_id=BOT_ID)) == "token"

    assert sent[0].url.path == f"/api/v2/botx/bots/{BOT_ID}/token"
    assert sent[0].url.params["signature"] == token_signature(BOT_ID, SECRET)


# --- v2 JWT -----------------------------------------------------------------------------------------


def test_jwt_carries_the_claims_botx_expects():
    token = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET, now=NOW)

    claims = decode(token)
    jti = claims.pop("jti")
    assert claims == {
        "iss": str(BOT_ID),
        "aud": HOST,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 60,
        "version": 2,
    }
    assert len(jti) == 24
    int(jti, 16)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}


def test_jwt_lifetime_can_be_chosen():
    claims = decode(jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET, now=NOW, lifetime=5))
    assert claims["exp"] == NOW + 5


def test_jwt_is_unique_per_call():
    first = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET, now=NOW)
    second = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET, now=NOW)
    assert decode(first)["jti"] != decode(second)["jti"]


def test_jwt_is_current_without_an_explicit_time():
    # Verified with the default checks, so exp/nbf/iat have to hold right now.
    token = jwt_v2_build(bot_id=str(BOT_ID).upper(), host=HOST, secret_key=SECRET)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience=HOST, issuer=str(BOT_ID))
    assert claims["version"] == 2


def test_jwt_has_the_same_header_and_claims_as_pybotx_builds():
    ours = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET, now=NOW)
    jti = decode(ours)["jti"]

    theirs = build_botx_jwt_v2(bot_id=BOT_ID, bot_host=HOST, secret_key=SECRET, issued_at=NOW, token_id=jti)

    assert jwt.get_unverified_header(ours) == jwt.get_unverified_header(theirs)
    assert decode(ours) == decode(theirs)


def test_jwt_is_the_token_pyjwt_writes_for_its_claims():
    ours = jwt_v2_build(bot_id=BOT_ID, host="кц.example.com", secret_key=SECRET, now=NOW)
    claims = jwt.decode(ours, options={"verify_signature": False})

    assert ours == jwt.encode(claims, SECRET, algorithm="HS256")


def test_jwt_is_not_signed_with_an_empty_key():
    with pytest.raises(ValueError):
        jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key="")


def test_pybotx_accepts_our_jwt_and_refuses_a_forged_one():
    bot = pybotx_bot()
    query = {
        "bot_id": str(BOT_ID),
        "user_huid": "6fafda2c-6505-57a5-a088-25ea5d1d0364",
        "ad_login": "",
        "ad_domain": "",
        "is_admin": "",
        "chat_type": "chat",
    }

    def status_with(token: str) -> dict:
        return asyncio.run(bot.raw_get_status(query, request_headers={"authorization": f"Bearer {token}"}))

    ours = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key=SECRET)
    assert status_with(ours)["status"] == "ok"

    forged = jwt_v2_build(bot_id=BOT_ID, host=HOST, secret_key="not-the-secret-key-at-all-0000000000")
    with pytest.raises(pybotx.UnverifiedRequestError):
        status_with(forged)


@pytest.mark.parametrize("auth_version", ["v1", "v2"])
def test_the_fake_cts_accepts_what_pybotx_sends(auth_version):
    # The client tests lean on tests/fakects.py; this keeps the fake honest against the vendor's client.
    with FakeCts({BOT_ID: SECRET}) as cts:
        bot = pybotx_bot(cts_url=cts.url, auth_version=pybotx.BotXAuthVersion(auth_version))
        chats = asyncio.run(bot.list_chats(bot_id=BOT_ID))

    assert len(chats) == len(cts.chats)
    assert cts.hits("/api/v2/botx/bots/") == (1 if auth_version == "v1" else 0)
