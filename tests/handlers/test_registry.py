"""The registry of handler code: modules declare key, name and description; a bot names a key; a key no
module declares is an error in the console and a 503 bot_disabled on the Bot API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from bots.handlers.framework import Router
from bots.handlers.registry import HandlerInfo, handler_choices, handler_exists, handler_get, handlers
from bots.models import Bot, InboundEvent
from tests.botx import payloads
from tests.conftest import Cast
from tests.traffic.conftest import botx_token

pytestmark = pytest.mark.django_db


def test_every_handler_module_declares_a_key_a_name_and_a_router() -> None:
    found = handlers()

    assert "echo" in found
    for key, info in found.items():
        assert info.key == key
        assert str(info.name)
        assert isinstance(info.router, Router)
    echo = handler_get("echo")
    assert echo is not None
    assert str(echo.name) == "Echo and help"
    assert ("echo", "Echo and help (echo)") in handler_choices()


@pytest.fixture
def retired(bot: Bot) -> Iterator[str]:
    """A key that a module declared when the bot was set up, and no module declares any more."""
    handlers()["retired_test"] = HandlerInfo(key="retired_test", name="Retired", router=Router())
    Bot.objects.filter(pk=bot.pk).update(handler="retired_test")
    handlers().pop("retired_test")
    yield "retired_test"


def test_a_bot_whose_key_no_module_declares_answers_bot_disabled(bot: Bot, client: Client, retired: str) -> None:
    assert not handler_exists(retired)

    response = client.post(
        f"/botx/{bot.bot_id}/command",
        json.dumps(payloads.command(body="/help")),
        content_type="application/json",
        headers={"authorization": f"Bearer {botx_token(bot)}"},
    )

    assert response.status_code == 503
    assert response.json()["reason"] == "bot_disabled"
    assert InboundEvent.objects.get().status == InboundEvent.Status.REJECTED


def test_the_console_shows_the_unknown_key_as_an_error(bot: Bot, cast: Cast, client: Client, retired: str) -> None:
    client.force_login(cast.admin)

    listing = client.get(reverse("admin:bots_bot_changelist")).content.decode()
    form = client.get(reverse("admin:bots_bot_change", args=[bot.pk])).content.decode()

    assert "retired_test — no such handler code" in listing
    assert "retired_test — no such handler code" in form
