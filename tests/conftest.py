"""Shared fixtures: a CTS, bots, and the fixed cast of users for permission tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from bots.models import Bot, BotRole, CtsServer, Role
from portal.celery import app as celery_app

pytest_plugins = ["tests.browser"]

ECHO_BOT_ID = uuid.UUID("24348246-6791-4ac0-9d86-b948cd6a0e46")
ECHO_SECRET = "bee001bee001bee001bee001bee001bee001"


@pytest.fixture(scope="session", autouse=True)
def _live_servers_serve_the_deployed_application() -> Iterator[None]:
    """A live server runs what the web server runs (portal.wsgi): the Bot API's fast path in front of Django.

    Django's live server thread builds a bare ``WSGIHandler``; so the sandbox's callbacks and the
    simulator's commands in end-to-end and browser tests take the path BotX traffic takes in production.
    """
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import testcases

    from bots.views.botx_wsgi import FastBotApi

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(testcases, "WSGIHandler", lambda: FastBotApi(WSGIHandler()))
        yield


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # The cast is made of real users; PBKDF2 would spend seconds per test hashing their passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _english_by_default(settings: Any) -> None:
    # Assertions read English; the Russian catalogue has tests of its own that ask for Russian.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run in the calling thread when enqueued (after commit), so a test sees the whole turn.

    Set on the Celery app itself: its configuration was read from settings once, at start-up.
    """
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    yield
    conf.task_always_eager, conf.task_eager_propagates = saved


@pytest.fixture
def cts(db: Any) -> CtsServer:
    return CtsServer.objects.create(name="main", base_url="https://cts.example.com", auth_mode="v2")


@pytest.fixture
def make_bot(cts: CtsServer) -> Callable[..., Bot]:
    def make(**fields: Any) -> Bot:
        secret = fields.pop("secret_key", ECHO_SECRET)
        values: dict[str, Any] = {
            "bot_id": uuid.uuid4(),
            "cts": cts,
            "name": "Bot",
            "handler": "echo",
        } | fields
        bot = Bot(**values)
        bot.secret_key = secret
        bot.full_clean()
        bot.save()
        return bot

    return make


@pytest.fixture
def bot(make_bot: Callable[..., Bot]) -> Bot:
    return make_bot(bot_id=ECHO_BOT_ID, name="Echo", app_id="echo-bot")


class Cast:
    """owner, operator, auditor: a role each on ``bot``; outsider: staff with no role; admin: superuser."""

    def __init__(self, bot: Bot) -> None:
        self.password = "correct-horse-battery"
        self.owner = self._user("owner")
        self.operator = self._user("operator")
        self.auditor = self._user("auditor")
        self.outsider = self._user("outsider")
        self.admin = User.objects.create_superuser("admin", "admin@example.com", self.password)
        BotRole.objects.create(bot=bot, user=self.owner, role=Role.OWNER)
        BotRole.objects.create(bot=bot, user=self.operator, role=Role.OPERATOR)
        auditors = Group.objects.create(name="auditors")
        self.auditor.groups.add(auditors)
        BotRole.objects.create(bot=bot, group=auditors, role=Role.AUDITOR)

    def _user(self, name: str) -> User:
        return User.objects.create_user(name, f"{name}@example.com", self.password, is_staff=True)


@pytest.fixture
def cast(bot: Bot) -> Cast:
    return Cast(bot)
