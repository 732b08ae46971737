"""Who is calling the sandbox: the v1 token endpoint's signature check and the bearer check.

A bearer is either a token the token endpoint issued or a v2 self-signed JWT (``iss`` = bot ID of a
bot registered on a sandbox CTS, ``aud`` = that CTS's host, HS256 under the bot's secret; during a
rotation the previous secret too). Every failure is a ``SandboxError`` the views answer as is.
"""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.http import HttpRequest

from bots.botx.auth import JWT_ALGORITHM, token_signature
from bots.models import Bot, CtsServer
from bots.sandbox.errors import SandboxError
from bots.sandbox.models import SandboxFaults
from bots.sandbox.selectors import faults_for, sandbox_bot_list
from bots.sandbox.services.tokens import token_bot

# BotX and its bots run on different machines; allow the clock skew pybotx allows.
JWT_LEEWAY_SECONDS = 1


@dataclass(frozen=True)
class Caller:
    """The bot making a sandbox request, its CTS and that CTS's sandbox settings.

    ``origin`` is the scheme and host the request came to: the default address of the portal's own
    bot endpoints when the CTS names no ``bot_base_url``.
    """

    bot: Bot
    faults: SandboxFaults
    origin: str

    @property
    def cts(self) -> CtsServer:
        return self.bot.cts

    @property
    def bot_id(self) -> uuid.UUID:
        return self.bot.bot_id


def unauthorized(description: str) -> SandboxError:
    return SandboxError(401, "invalid_bot_credentials", description)


def origin_of(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


def caller_for(bot: Bot, request: HttpRequest) -> Caller:
    return Caller(bot=bot, faults=faults_for(bot.cts), origin=origin_of(request))


def bot_by_signature(*, bot_id: uuid.UUID, signature: str, host: str) -> Bot:
    """The sandbox bot whose secret signs ``bot_id`` as ``signature``: 404 unknown bot, 401 bad signature."""
    bots = sorted(sandbox_bot_list(bot_id), key=lambda bot: bot.cts.host != host)
    if not bots:
        raise SandboxError(404, "bot_not_found", "Bot not found", bot_id=str(bot_id))
    for bot in bots:
        for secret in bot.valid_secrets():
            if signature and hmac.compare_digest(token_signature(bot_id, secret), signature):
                return bot
    raise unauthorized("Invalid bot credentials")


def bot_by_bearer(request: HttpRequest) -> Bot:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("The authorization token was not provided")
    bot = token_bot(token=token)
    if bot is not None:
        if not bot.cts.base_url.endswith("/sandbox"):
            raise unauthorized("Invalid bot credentials")
        return bot
    if token.count(".") != 2:
        raise unauthorized("Invalid or expired token")
    return _bot_by_jwt(token)


def _bot_by_jwt(token: str) -> Bot:
    try:
        unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise unauthorized("The authorization token is malformed") from None
    issuer = unverified.get("iss")
    audience = unverified.get("aud")
    try:
        bot_id = uuid.UUID(issuer) if isinstance(issuer, str) else None
    except ValueError:
        bot_id = None
    if bot_id is None:
        raise unauthorized("Invalid issuer")
    if not isinstance(audience, str):
        raise unauthorized("Invalid audience parameter was provided")
    bots = [bot for bot in sandbox_bot_list(bot_id) if bot.cts.host == audience.lower()]
    if not bots:
        # Either the bot is unknown here or the audience is not its CTS: say which, as BotX would.
        raise unauthorized(
            "Invalid audience parameter was provided" if sandbox_bot_list(bot_id).exists() else "Invalid issuer"
        )
    failure = "Signature verification failed"
    for bot in bots:
        for secret in bot.valid_secrets():
            try:
                jwt.decode(
                    token,
                    secret,
                    algorithms=[JWT_ALGORITHM],
                    audience=bot.cts.host,
                    issuer=issuer,
                    leeway=JWT_LEEWAY_SECONDS,
                    options={"require": ["exp", "iat", "nbf", "iss", "aud"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as exc:
                # A token signed with a valid key but expired or not yet valid: no other key changes that.
                failure = str(exc) or type(exc).__name__
                break
            return bot
    raise unauthorized(failure)
