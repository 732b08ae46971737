"""Handler tests against the BotX sandbox over real HTTP: the live server serves the sandbox's BotX API
and the portal's own Bot API, where sandbox users' messages arrive. Celery runs eagerly, so by the
time the /command request is answered the handler has run and its messages have reached the sandbox.
"""

from __future__ import annotations

from typing import Any

import pytest

from bots.models import Bot, CtsServer, InboundEvent, OutboundMessage
from bots.sandbox.models import SandboxChat, SandboxMessage, SandboxUser
from bots.sandbox.services.user_send import UserMessage, UserSendResult, sandbox_user_send
from tests import sandbox_fixtures

# The shared sandbox fixtures, registered for this package.
fresh_token_cache = sandbox_fixtures.fresh_token_cache
bot = sandbox_fixtures.bot
other_bot = sandbox_fixtures.other_bot
world = sandbox_fixtures.world
fresh_botx_clients = sandbox_fixtures.fresh_botx_clients

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def tasks_eager(eager_celery: None) -> None:
    """Every test here runs its tasks eagerly (tests/conftest.py)."""


@pytest.fixture
def sandbox_cts(live_server: Any) -> CtsServer:
    """A sandbox CTS that posts users' messages and callbacks to the portal's own Bot API."""
    return sandbox_fixtures.portal_sandbox_cts(live_server.url)


def say(bot: Bot, chat: SandboxChat, user: SandboxUser, message: UserMessage | str) -> UserSendResult:
    """A sandbox user's message to the bot, through the portal's real /command endpoint."""
    if isinstance(message, str):
        message = UserMessage(body=message)
    sent = sandbox_user_send(bot=bot, chat=chat, user=user, message=message)
    assert sent.status_code == 202, (sent.status_code, sent.body, sent.error)
    return sent


def event_of(bot: Bot, sent: UserSendResult) -> InboundEvent:
    return InboundEvent.objects.get(bot=bot, sync_id=sent.sync_id, endpoint=InboundEvent.Endpoint.COMMAND)


def outbox_of(event: InboundEvent) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(inbound=event).order_by("id"))


def bot_messages(bot: Bot, chat: SandboxChat) -> list[SandboxMessage]:
    """What the sandbox received from the bot in ``chat``, oldest first."""
    return list(SandboxMessage.objects.filter(chat=chat, sender_huid=bot.bot_id).order_by("created_at", "pk"))
