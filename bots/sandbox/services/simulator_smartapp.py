"""The simulator's Smart App bridge: what an eXpress client does for a Smart App front end.

``sendBotEvent`` with ``sync_request`` becomes a signed ``POST /smartapps/request`` to the bot, whose
HTTP answer goes straight back to the front end; without it, a ``system:smartapp_event`` command, which
the bot answers later through the SmartApps API (the sandbox records that as ``SandboxSmartAppEvent``).
The front end's static files are fetched from the bot as the CTS proxies them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from bots.models import Bot
from bots.sandbox import bot_api
from bots.sandbox.models import SandboxChat, SandboxSmartAppEvent, SandboxUser
from bots.sandbox.selectors import faults_for
from bots.sandbox.services.deliveries import BotAnswer, NoBotAddress, bot_base_url, post_to_bot
from bots.sandbox.services.simulator import SimulatorError, scope_check
from bots.sandbox.services.user_send import UserSendResult, sandbox_user_send

STATIC_LIMIT = 20 * 1024 * 1024


@dataclass(frozen=True)
class SmartAppSyncResult:
    """What was posted to ``/smartapps/request`` and what the bot answered."""

    payload: dict[str, Any]
    answer: BotAnswer


def _base(bot: Bot, origin: str) -> str:
    try:
        return bot_base_url(bot=bot, faults=faults_for(bot.cts), origin=origin)
    except NoBotAddress as exc:
        raise SimulatorError(_("The sandbox does not know where this bot lives: %(error)s") % {"error": exc}) from None


def smartapp_request_payload(
    *, bot: Bot, chat: SandboxChat, user: SandboxUser, method: str, params: Any
) -> dict[str, Any]:
    return {
        "bot_id": str(bot.bot_id),
        "group_chat_id": str(chat.group_chat_id),
        "method": method,
        "sender_info": {
            "user_huid": str(user.huid),
            "udid": None,
            "platform": "web",
            "client_network_contour": "internal",
        },
        "payload": {"data": params, "files": [], "opts": {}},
    }


def _method_check(method: str) -> None:
    if not method.strip():
        raise SimulatorError(_("A Smart App request needs a method name."))


def smartapp_request_send(
    *, bot: Bot, chat: SandboxChat, user: SandboxUser, method: str, params: Any, origin: str
) -> SmartAppSyncResult:
    """A synchronous Smart App request, answered within the request as BotX relays it."""
    scope_check(bot=bot, chat=chat, user=user)
    _method_check(method)
    payload = smartapp_request_payload(bot=bot, chat=chat, user=user, method=method, params=params)
    url = _base(bot, origin) + "/smartapps/request"
    answer = post_to_bot(bot=bot, url=url, payload=payload, layout=faults_for(bot.cts).callback_jwt)
    return SmartAppSyncResult(payload=payload, answer=answer)


def smartapp_event_send(
    *, bot: Bot, chat: SandboxChat, user: SandboxUser, ref: uuid.UUID, method: str, params: Any, origin: str
) -> UserSendResult:
    """An asynchronous Smart App request: a ``system:smartapp_event`` whose answer comes later."""
    scope_check(bot=bot, chat=chat, user=user)
    _method_check(method)
    event = bot_api.smartapp_event(
        smartapp_id=bot.bot_id, ref=ref, data={"type": "smartapp_rpc", "method": method, "params": params}
    )
    try:
        return sandbox_user_send(bot=bot, chat=chat, user=user, message=event, origin=origin)
    except NoBotAddress as exc:
        raise SimulatorError(_("The sandbox does not know where this bot lives: %(error)s") % {"error": exc}) from None


def smartapp_events_since(*, bot: Bot, chat: SandboxChat, after: int) -> list[SandboxSmartAppEvent]:
    """What the bot sent towards its front end in ``chat`` after the event with id ``after``."""
    return list(
        SandboxSmartAppEvent.objects.filter(bot=bot, group_chat_id=chat.group_chat_id, pk__gt=after).order_by("pk")[:50]
    )


def smartapp_last_event_id(*, bot: Bot, chat: SandboxChat) -> int:
    last = (
        SandboxSmartAppEvent.objects.filter(bot=bot, group_chat_id=chat.group_chat_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    return last or 0


@dataclass(frozen=True)
class StaticAnswer:
    status: int
    content: bytes
    content_type: str


def smartapp_static_fetch(*, bot: Bot, path: str, origin: str) -> StaticAnswer:
    """A file of the bot's Smart App front end, fetched from the bot as the CTS proxies it."""
    url = f"{_base(bot, origin)}/smartapp_files/static/{path}"
    seconds = float(settings.BOTX_HTTP_TIMEOUT_SECONDS)
    try:
        with (
            httpx.Client(timeout=httpx.Timeout(seconds, connect=min(seconds, 5.0)), follow_redirects=False) as http,
            http.stream("GET", url) as response,
        ):
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > STATIC_LIMIT:
                    return StaticAnswer(502, b"Smart App file too large", "text/plain")
                chunks.append(chunk)
            content_type = response.headers.get("content-type", "application/octet-stream")
            return StaticAnswer(response.status_code, b"".join(chunks), content_type)
    except httpx.HTTPError as exc:
        return StaticAnswer(502, f"{type(exc).__name__}: {exc}".encode()[:1000], "text/plain")
