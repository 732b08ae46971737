"""Fixtures for the handler tests: posting a /command as BotX does and letting the worker run it, and a
handler module of a test's own served to the Echo bot."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client

from bots.handlers.framework import Router
from bots.handlers.registry import HandlerInfo, handlers
from bots.models import Bot, CtsServer, InboundEvent, OutboundMessage
from tests.traffic.conftest import botx_token

TEST_HANDLER = "handlers_test"


@pytest.fixture
def cts(db: Any) -> CtsServer:
    # Nothing listens on port 9 of this machine: a delivery fails at once and never leaves it.
    return CtsServer.objects.create(name="main", base_url="http://127.0.0.1:9", auth_mode="v2")


@pytest.fixture
def send(
    bot: Bot, client: Client, eager_celery: None, django_capture_on_commit_callbacks: Any
) -> Callable[[dict[str, Any]], InboundEvent]:
    """Post a /command for the Echo bot through the real endpoint, let the worker run, return the event."""

    def post(payload: dict[str, Any]) -> InboundEvent:
        headers = {"authorization": f"Bearer {botx_token(bot)}"}
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/botx/{bot.bot_id}/command", json.dumps(payload), content_type="application/json", headers=headers
            )
        assert response.status_code == 202, response.content
        return InboundEvent.objects.get(bot=bot, sync_id=payload["sync_id"])

    return post


@pytest.fixture
def serve(bot: Bot) -> Iterator[Callable[[Router], None]]:
    """Serve the Echo bot with a router of the test's own (registered under its own key)."""

    def use(router: Router) -> None:
        handlers()[TEST_HANDLER] = HandlerInfo(key=TEST_HANDLER, name="Handler tests", router=router)
        Bot.objects.filter(pk=bot.pk).update(handler=TEST_HANDLER)

    yield use
    handlers().pop(TEST_HANDLER, None)


def answers(event: InboundEvent) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(inbound=event).order_by("id"))


def bodies(event: InboundEvent) -> list[str]:
    return [message.payload.get("body") for message in answers(event)]
