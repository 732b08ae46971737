"""The sandbox served by the live server, a CTS registered on it, bots, a small world, and a receiver
standing in for the bots' endpoints. Celery runs eagerly, so a callback is posted before the request
that caused it is answered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from bots.botx.client import BotxClient, BotxCredentials, token_cache_clear
from bots.models import Bot, CtsServer
from bots.sandbox.models import SandboxChat, SandboxFaults, SandboxMember, SandboxUser
from portal.celery import app as celery_app
from tests.sandbox.receiver import Receiver

BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")
SECRET = "bee001bee001bee001bee001bee001bee001"
OTHER_BOT_ID = uuid.UUID("8d1c6e2a-3b0f-4d7e-9a51-6f2c0b9e4a17")
OTHER_SECRET = "c0ffee00c0ffee00c0ffee00c0ffee00"


@pytest.fixture(autouse=True)
def _fresh_token_cache() -> Iterator[None]:
    # Issued tokens live in the database, which is emptied after every test.
    token_cache_clear()
    yield
    token_cache_clear()


@pytest.fixture
def eager_celery() -> Iterator[None]:
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def cts_host(live_server: Any) -> str:
    return urlsplit(live_server.url).hostname or ""


@pytest.fixture
def receiver(cts_host: str) -> Iterator[Receiver]:
    with Receiver({str(BOT_ID): SECRET, str(OTHER_BOT_ID): OTHER_SECRET}, host=cts_host) as server:
        yield server


@pytest.fixture
def sandbox_cts(live_server: Any, receiver: Receiver, eager_celery: None) -> CtsServer:
    cts = CtsServer.objects.create(name="sandbox", base_url=f"{live_server.url}/sandbox", auth_mode="v2")
    SandboxFaults.objects.create(cts=cts, bot_base_url=receiver.url + "/bots/{bot_id}")
    return cts


def faults_set(cts: CtsServer, **values: Any) -> None:
    SandboxFaults.objects.filter(cts=cts).update(**values)


def register_bot(cts: CtsServer, bot_id: uuid.UUID, secret: str, name: str) -> Bot:
    bot = Bot(bot_id=bot_id, cts=cts, name=name, handler="echo")
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


@pytest.fixture
def world(bot: Bot, other_bot: Bot) -> World:
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
