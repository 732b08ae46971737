"""Fixtures for the traffic tests: tokens as BotX makes them, posting to the Bot API, eager Celery."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from bots.botx.auth import jwt_v2_build
from bots.models import Bot, CtsServer
from bots.services import bot_cache


@pytest.fixture(autouse=True)
def _bot_cache_cleared() -> Iterator[None]:
    # Each test's database starts afresh, the per-process copy of the registry must too.
    bot_cache.cache_clear()
    yield
    bot_cache.cache_clear()


def botx_token(bot: Bot, *, secret: str | None = None, **claims: Any) -> str:
    """A token as BotX signs its requests to a bot (the v2 layout: iss = bot ID, aud = CTS host)."""
    return jwt_v2_build(bot_id=bot.bot_id, host=bot.cts.host, secret_key=secret or bot.secret_key, **claims)


@pytest.fixture
def cts(db: Any) -> CtsServer:
    # Nothing listens on port 9 of this machine: a delivery here fails at once, and never leaves it.
    return CtsServer.objects.create(name="main", base_url="http://127.0.0.1:9", auth_mode="v2")


@pytest.fixture
def post_command(client: Client) -> Callable[..., Any]:
    def post(
        bot: Bot,
        payload: Any,
        *,
        token: str | None = "auto",  # noqa: S107 (a mode: sign a valid token, not a secret)
        url: str | None = None,
        raw: bytes | None = None,
    ) -> Any:
        headers = {}
        if token == "auto":
            token = botx_token(bot)
        if token:
            headers["authorization"] = f"Bearer {token}"
        body = raw if raw is not None else json.dumps(payload)
        return client.post(url or f"/botx/{bot.bot_id}/command", body, content_type="application/json", headers=headers)

    return post


def new_sync_id() -> str:
    return str(uuid.uuid4())
