"""The BotX client of each bot, kept per process so that its HTTP connections are reused."""

from __future__ import annotations

import threading

from django.conf import settings

from bots.botx.client import BotxClient, BotxCredentials
from bots.models import Bot

_clients: dict[BotxCredentials, BotxClient] = {}
_lock = threading.Lock()
_MAX_CLIENTS = 256


def bot_credentials(bot: Bot) -> BotxCredentials:
    cts = bot.cts
    return BotxCredentials(
        bot_id=bot.bot_id,
        secret_key=bot.secret_key,
        base_url=cts.base_url,
        host=cts.host,
        auth_mode=cts.auth_mode,
        verify_tls=cts.verify_tls,
    )


def client_for(bot: Bot) -> BotxClient:
    """A shared client for the bot's current credentials (a rotated secret or a moved CTS gets a new one)."""
    credentials = bot_credentials(bot)
    with _lock:
        client = _clients.get(credentials)
        if client is None:
            if len(_clients) >= _MAX_CLIENTS:
                _clients.pop(next(iter(_clients))).close()
            client = BotxClient(credentials, timeout=float(settings.BOTX_HTTP_TIMEOUT_SECONDS))
            _clients[credentials] = client
        return client


def clients_close() -> None:
    with _lock:
        while _clients:
            _clients.popitem()[1].close()
