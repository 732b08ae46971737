"""Checking a bot's credentials against its CTS, for the admin's "check credentials" button."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from bots.botx.client import AUTH_V1, BotxClient
from bots.botx.errors import BotxError, ErrorKind
from bots.models import Bot
from bots.services.botx_clients import bot_credentials

logger = logging.getLogger(__name__)

# Harmless, read-only and available to every bot: proves a v2 JWT is accepted without changing anything.
CHATS_LIST_PATH = "/api/v3/botx/chats/list"


@dataclass(frozen=True)
class CredentialCheck:
    """The outcome, with a message for people and ``detail`` (never secrets) for logs and pages."""

    ok: bool
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


def bot_credentials_check(*, bot: Bot) -> CredentialCheck:
    """Ask the bot's CTS whether it accepts the bot's credentials, the way outbound calls will use them.

    v1 asks the token endpoint for a token; v2 signs a JWT and lists the bot's chats. BotX and network
    failures come back as ``ok=False`` with a readable message, never as an exception.
    """
    cts = bot.cts
    credentials = bot_credentials(bot)
    detail: dict[str, Any] = {"auth_mode": cts.auth_mode, "base_url": credentials.base_url}
    timeout = float(settings.BOTX_HTTP_TIMEOUT_SECONDS)
    try:
        with BotxClient(credentials, timeout=timeout) as client:
            if cts.auth_mode == AUTH_V1:
                # Asked directly, not through the token cache: a cached token would prove nothing.
                client.get_token()
                check = CredentialCheck(True, _("Token received from the CTS."), detail)
            else:
                chats = client.request("GET", CHATS_LIST_PATH)
                check = _jwt_accepted(chats, detail)
    except BotxError as exc:
        check = _failure(exc, auth_mode=cts.auth_mode, detail=detail)
    logger.info("credential check of bot %s on %s: %s", bot.bot_id, cts.base_url, "ok" if check.ok else "failed")
    return check


def _jwt_accepted(chats: Any, detail: dict[str, Any]) -> CredentialCheck:
    if not isinstance(chats, list):
        return CredentialCheck(True, _("The CTS accepted the bot's signed token."), detail)
    count = len(chats)
    message = ngettext(
        "The CTS accepted the bot's signed token; the bot is in %(count)d chat.",
        "The CTS accepted the bot's signed token; the bot is in %(count)d chats.",
        count,
    ) % {"count": count}
    return CredentialCheck(True, message, detail | {"chat_count": count})


def _failure(exc: BotxError, *, auth_mode: str, detail: dict[str, Any]) -> CredentialCheck:
    detail = detail | {
        "kind": str(exc.kind),
        "status_code": exc.status_code,
        "reason": exc.reason,
        "errors": exc.errors,
        "error_data": exc.error_data,
    }
    status = exc.status_code
    params = {"status": status, "reason": exc.reason, "error": exc.detail or exc.reason}
    if status is None:
        if exc.kind is ErrorKind.AMBIGUOUS:
            message = _("The CTS did not answer: %(error)s") % params
        else:
            message = _("The CTS could not be reached: %(error)s") % params
    elif status in (401, 403):
        message = _("The CTS rejected the bot's credentials (HTTP %(status)s, %(reason)s).") % params
    elif status == 404 and auth_mode == AUTH_V1:
        message = _("The CTS does not know this bot ID (HTTP %(status)s, %(reason)s).") % params
    elif 200 <= status < 300:
        message = _("The CTS answered, but not with a BotX response (HTTP %(status)s).") % params
    else:
        message = _("The CTS answered with an error (HTTP %(status)s, %(reason)s).") % params
    return CredentialCheck(False, message, detail)
