"""Fixtures for tests that talk to the BotX sandbox, shared by more than one test package.

A conftest that imports these provides ``sandbox_cts``: the sandbox CTS (base URL under the live
server's ``/sandbox``) with its ``SandboxFaults`` row, which says where the sandbox posts callbacks and
user events. On top of it come the two bots and a small world of users and chats.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from bots.botx.client import token_cache_clear
from bots.models import Bot, CtsServer
from bots.sandbox.models import SandboxChat, SandboxFaults, SandboxMember, SandboxUser
from bots.services.botx_clients import clients_close

BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")
SECRET = "bee001bee001bee001bee001bee001bee001"
OTHER_BOT_ID = uuid.UUID("8d1c6e2a-3b0f-4d7e-9a51-6f2c0b9e4a17")
OTHER_SECRET = "c0ffee00c0ffee00c0ffee00c0ffee00"


@pytest.fixture(autouse=True)
def fresh_token_cache() -> Iterator[None]:
    # Issued v1 tokens live in the database, which is emptied after every test.
    token_cache_clear()
    yield
    token_cache_clear()


@pytest.fixture(autouse=True)
def fresh_botx_clients() -> Iterator[None]:
    # Clients are kept per process with the timeout they were made with; a test may change it.
    clients_close()
    yield
    clients_close()


def portal_sandbox_cts(live_server_url: str) -> CtsServer:
    """The CTS ``make run`` registers: the sandbox on the live server, posting users' messages and
    callbacks to the portal's own Bot API there."""
    cts = CtsServer.objects.create(name="sandbox", base_url=f"{live_server_url}/sandbox", auth_mode="v2")
    SandboxFaults.objects.create(cts=cts, bot_base_url=f"{live_server_url}/botx/{{bot_id}}")
    return cts


@pytest.fixture
def cts_host(live_server: Any) -> str:
    return urlsplit(live_server.url).hostname or ""


def faults_set(cts: CtsServer, **values: Any) -> None:
    SandboxFaults.objects.filter(cts=cts).update(**values)


def register_bot(cts: CtsServer, bot_id: uuid.UUID, secret: str, name: str, **fields: Any) -> Bot:
    bot = Bot(bot_id=bot_id, cts=cts, name=name, handler="echo", **fields)
    bot.secret_key = secret
    bot.full_clean()
    bot.save()
    return bot


@pytest.fixture
def bot(sandbox_cts: CtsServer) -> Bot:
    return register_bot(sandbox_cts, BOT_ID, SECRET, "Echo")


@pytest.fixture
def other_bot(sandbox_cts: CtsServer) -> Bot:
    return register_bot(sandbox_cts, OTHER_BOT_ID, OTHER_SECRET, "Helper")


@dataclass
class World:
    ivan: SandboxUser
    maria: SandboxUser
    stranger: SandboxUser
    group: SandboxChat  # the bot is an admin; the other bot, Ivan and Maria are members
    personal: SandboxChat  # the bot and Ivan
    channel: SandboxChat  # the bot is a plain member
    foreign: SandboxChat  # without the bot


def _chat(name: str, chat_type: str, members: list[tuple[uuid.UUID, str, bool]], creator: uuid.UUID) -> SandboxChat:
    chat = SandboxChat.objects.create(name=name, chat_type=chat_type, creator_huid=creator)
    for huid, kind, admin in members:
        SandboxMember.objects.create(chat=chat, huid=huid, kind=kind, admin=admin)
    return chat


def world_build(bot: Bot, other_bot: Bot) -> World:
    ivan = SandboxUser.objects.create(
        name="Иван Петров",
        ad_login="ipetrov",
        ad_domain="corp",
        emails=["ipetrov@corp.example.com", "ivan@example.com"],
        other_id="emp-001",
        company="Песочница",
    )
    maria = SandboxUser.objects.create(name="Мария Смирнова", ad_login="msmirnova", ad_domain="corp")
    stranger = SandboxUser.objects.create(name="Гость", user_kind=SandboxUser.Kind.UNREGISTERED)
    user, botx = SandboxMember.Kind.USER, SandboxMember.Kind.BOT
    group = _chat(
        "Общий",
        "group_chat",
        [(ivan.huid, user, True), (maria.huid, user, False), (bot.bot_id, botx, True), (other_bot.bot_id, botx, False)],
        ivan.huid,
    )
    personal = _chat("Иван", "chat", [(ivan.huid, user, True), (bot.bot_id, botx, True)], ivan.huid)
    channel = _chat("Новости", "channel", [(ivan.huid, user, True), (bot.bot_id, botx, False)], ivan.huid)
    foreign = _chat("Чужой", "group_chat", [(maria.huid, user, True)], maria.huid)
    return World(ivan, maria, stranger, group, personal, channel, foreign)


@pytest.fixture
def world(bot: Bot, other_bot: Bot) -> World:
    return world_build(bot, other_bot)
