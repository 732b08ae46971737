"""The built-in bots against the BotX sandbox over real HTTP, on the live server.

The live server serves the sandbox (``/sandbox/``), the portal's Bot API (``/botx/<bot_id>/``, where
sandbox users' messages and the sandbox's callbacks arrive) and the integrations' webhooks. Celery
runs eagerly: what a request causes (the handler, the outbox delivery to the sandbox, the bridge's
HTTP call) has happened by the time the request is answered.

``bot`` is the bot under test: each test module says which handler code serves it (``handler_key``).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bots.models import Bot, CtsServer, InboundEvent, OutboundMessage
from bots.sandbox.models import SandboxChat, SandboxMember, SandboxMessage
from bots.sandbox.services.user_send import UserMessage, UserSendResult, sandbox_user_send
from tests.sandbox_fixtures import BOT_ID, SECRET, World, fresh_token_cache, other_bot, register_bot, world
from tests.traffic.delivery.conftest import celery_eager_unless_worker, fresh_botx_clients, sandbox_cts

__all__ = [
    "celery_eager_unless_worker",
    "fresh_botx_clients",
    "fresh_token_cache",
    "other_bot",
    "sandbox_cts",
    "world",
]


@pytest.fixture
def handler_key() -> str:
    return "echo"


@pytest.fixture
def bot(sandbox_cts: CtsServer, handler_key: str) -> Bot:
    bot = register_bot(sandbox_cts, BOT_ID, SECRET, "Built-in")
    bot.handler = handler_key
    bot.full_clean()
    bot.save()
    return bot


@pytest.fixture
def say(bot: Bot, world: World, live_server: Any):
    """A sandbox user writes to the bot (Ivan in his personal chat unless told otherwise)."""

    def send(
        text: str = "", *, chat: SandboxChat | None = None, user: Any = None, message: Any = None
    ) -> UserSendResult:
        sent = sandbox_user_send(
            bot=bot,
            chat=chat or world.personal,
            user=user or world.ivan,
            message=message or UserMessage(body=text),
            origin=live_server.url,
        )
        assert sent.status_code == 202, sent.body
        return sent

    return send


def bot_messages(bot: Bot, chat: SandboxChat) -> list[SandboxMessage]:
    """What the bot posted in a sandbox chat, oldest first."""
    return list(SandboxMessage.objects.filter(chat=chat, sender_huid=bot.bot_id).order_by("created_at", "pk"))


def inbound(bot: Bot, sync_id: uuid.UUID) -> InboundEvent:
    return InboundEvent.objects.get(bot=bot, sync_id=sync_id, endpoint="command")


def replies_to(event: InboundEvent) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(inbound=event).order_by("pk"))


def chat_with(name: str, chat_type: str, *members: tuple[uuid.UUID, str]) -> SandboxChat:
    chat = SandboxChat.objects.create(name=name, chat_type=chat_type)
    for huid, kind in members:
        SandboxMember.objects.create(chat=chat, huid=huid, kind=kind)
    return chat
