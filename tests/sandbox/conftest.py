"""The sandbox served by the live server, a CTS registered on it, and a receiver standing in for the
bots' endpoints. Celery runs eagerly, so a callback is posted before the request that caused it is
answered. The bots and the small world of users and chats come from tests/sandbox_fixtures.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bots.botx.client import BotxClient, BotxCredentials
from bots.models import Bot, CtsServer
from bots.sandbox.models import SandboxFaults
from tests import sandbox_fixtures
from tests.sandbox.receiver import Receiver
from tests.sandbox_fixtures import (  # noqa: F401 (the sandbox tests import these from here)
    BOT_ID,
    OTHER_BOT_ID,
    OTHER_SECRET,
    SECRET,
    World,
    faults_set,
    register_bot,
)

# The shared fixtures, registered for this package.
fresh_token_cache = sandbox_fixtures.fresh_token_cache
cts_host = sandbox_fixtures.cts_host
bot = sandbox_fixtures.bot
other_bot = sandbox_fixtures.other_bot
world = sandbox_fixtures.world


@pytest.fixture
def receiver(cts_host: str) -> Iterator[Receiver]:
    with Receiver({str(BOT_ID): SECRET, str(OTHER_BOT_ID): OTHER_SECRET}, host=cts_host) as server:
        yield server


@pytest.fixture
def sandbox_cts(live_server: Any, receiver: Receiver, eager_celery: None) -> CtsServer:
    cts = CtsServer.objects.create(name="sandbox", base_url=f"{live_server.url}/sandbox", auth_mode="v2")
    SandboxFaults.objects.create(cts=cts, bot_base_url=receiver.url + "/bots/{bot_id}")
    return cts


def make_client(bot: Bot, *, auth_mode: str = "v2", secret: str | None = None, timeout: float = 5.0) -> BotxClient:
    cts = bot.cts
    credentials = BotxCredentials(
        bot_id=bot.bot_id,
        secret_key=secret or bot.secret_key,
        base_url=cts.base_url,
        host=cts.host,
        auth_mode=auth_mode,
    )
    return BotxClient(credentials, timeout=timeout)


@pytest.fixture
def client(bot: Bot) -> Iterator[BotxClient]:
    with make_client(bot) as botx:
        yield botx


@pytest.fixture
def v1_client(bot: Bot) -> Iterator[BotxClient]:
    with make_client(bot, auth_mode="v1") as botx:
        yield botx
