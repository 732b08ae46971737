"""Tokens of the sandbox's v1 token endpoint: issued, stored hashed, looked up."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db.models import Q
from django.utils import timezone

from bots.models import Bot
from bots.sandbox.models import SandboxToken


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_issue(*, bot: Bot, lifetime_seconds: int = 0) -> str:
    """A new token for ``bot``; it is shown once, here, and kept only as its hash."""
    token = secrets.token_urlsafe(32)
    expires_at = timezone.now() + dt.timedelta(seconds=lifetime_seconds) if lifetime_seconds else None
    SandboxToken.objects.create(bot=bot, token_hash=_digest(token), expires_at=expires_at)
    return token


def token_bot(*, token: str) -> Bot | None:
    """The bot a still valid token was issued to."""
    row = (
        SandboxToken.objects.select_related("bot__cts")
        .filter(token_hash=_digest(token))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
        .first()
    )
    return row.bot if row is not None else None
