"""bot_credentials_check against a fake CTS: both auth modes, a wrong secret, an unreachable server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bots.botx.client import token_cache_clear
from bots.models import Bot, CtsServer
from bots.services.credentials import bot_credentials_check
from tests.fakects import CHATS_LIST, DEFAULT_CHATS, TOKEN_PREFIX, FakeCts, unused_url

SECRET = "bee001bee001bee001bee001bee001bee001"


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    token_cache_clear()
    yield
    token_cache_clear()


@pytest.fixture
def fake_cts() -> Iterator[FakeCts]:
    with FakeCts(host="127.0.0.1") as server:
        yield server


@pytest.fixture
def bot_on(db, make_bot: Callable[..., Bot], fake_cts: FakeCts) -> Callable[..., Bot]:
    """A bot on a CTS row that points at ``base_url`` (the fake by default), known to the fake."""

    def make(auth_mode: str, *, base_url: str | None = None, secret_in_cts: str = SECRET) -> Bot:
        cts = CtsServer.objects.create(name=f"fake-{auth_mode}", base_url=base_url or fake_cts.url, auth_mode=auth_mode)
        bot = make_bot(cts=cts, secret_key=SECRET)
        fake_cts.add_bot(bot.bot_id, secret_in_cts)
        return bot

    return make


def test_v1_bot_gets_a_token(bot_on, fake_cts):
    bot = bot_on("v1")
    assert bot.cts.host == "127.0.0.1"

    check = bot_credentials_check(bot=bot)

    assert check.ok, check.message
    assert check.message == "Token received from the CTS."
    assert fake_cts.hits(TOKEN_PREFIX) == 1
    assert SECRET not in repr(check)


def test_v2_bot_lists_its_chats(bot_on, fake_cts):
    check = bot_credentials_check(bot=bot_on("v2"))

    assert check.ok, check.message
    assert check.detail["chat_count"] == len(DEFAULT_CHATS)
    assert "2 chats" in check.message
    assert fake_cts.hits(TOKEN_PREFIX) == 0
    assert fake_cts.hits(CHATS_LIST) == 1


@pytest.mark.parametrize("auth_mode", ["v1", "v2"])
def test_wrong_secret_is_reported_as_rejected(bot_on, auth_mode):
    check = bot_credentials_check(bot=bot_on(auth_mode, secret_in_cts="the-cts-knows-another-secret-for-this-bot"))

    assert not check.ok
    assert "rejected" in check.message
    assert "HTTP 401" in check.message
    assert check.detail["status_code"] == 401


def test_unknown_bot_on_a_v1_cts_is_reported(bot_on, fake_cts):
    bot = bot_on("v1")
    fake_cts.bots.clear()

    check = bot_credentials_check(bot=bot)

    assert not check.ok
    assert "does not know this bot" in check.message
    assert check.detail["reason"] == "bot_not_found"


@pytest.mark.parametrize("auth_mode", ["v1", "v2"])
def test_unreachable_cts_is_reported_not_raised(bot_on, auth_mode):
    check = bot_credentials_check(bot=bot_on(auth_mode, base_url=unused_url()))

    assert not check.ok
    assert check.message.startswith("The CTS could not be reached: ")
    assert check.detail["kind"] == "transient"


def test_cts_server_error_is_reported(bot_on, fake_cts):
    fake_cts.script(503, {"status": "error", "reason": "unexpected_error", "errors": [], "error_data": {}})

    check = bot_credentials_check(bot=bot_on("v2"))

    assert not check.ok
    assert check.message == "The CTS answered with an error (HTTP 503, unexpected_error)."


def test_slow_cts_is_reported_within_the_configured_timeout(bot_on, fake_cts, settings):
    settings.BOTX_HTTP_TIMEOUT_SECONDS = 0.3
    fake_cts.script(200, {"status": "ok", "result": []}, delay=3.0)

    check = bot_credentials_check(bot=bot_on("v2"))

    assert not check.ok
    assert check.message.startswith("The CTS did not answer")
    assert check.detail["reason"] == "read_timeout"
