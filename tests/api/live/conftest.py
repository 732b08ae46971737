"""The API and the notifications bot against the BotX sandbox over real HTTP (the live server).

The sandbox's bot is the notifications bot here; Celery runs eagerly, so a request's messages are
delivered when its transaction commits, and the sandbox's callbacks come back to the live server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from bots.models import Bot, BotRole, CtsServer
from tests.api.conftest import Api
from tests.sandbox_fixtures import BOT_ID, SECRET, fresh_token_cache, other_bot, register_bot, world
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
def bot(sandbox_cts: CtsServer) -> Bot:
    notifier = register_bot(sandbox_cts, BOT_ID, SECRET, "Notifications")
    Bot.objects.filter(pk=notifier.pk).update(handler="notifications")
    notifier.refresh_from_db()
    return notifier


@pytest.fixture
def api(client: Client, bot: Bot, django_user_model: Any, make_token: Callable[..., str]) -> Api:
    """A corporate system's token: an operator of the notifications bot, every scope, that bot only."""
    operator = django_user_model.objects.create_user("hr-system")
    BotRole.objects.create(bot=bot, user=operator, role="operator")
    return Api(client, make_token(operator, bots=[bot]))
