"""API tokens: made with a random secret shown once, stored as a SHA-256, found by their prefix."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from bots.api.models import SCOPE_CAPABILITY, ApiToken, Scope
from bots.models import Bot
from bots.selectors import bot_list_for_user

TOKEN_PREFIX = "bpt"  # noqa: S105 (the visible start of every token, not a secret)
# Seen in lists and in the token itself; 8 hex characters are enough to find the row, not to guess it.
PREFIX_HEX = 8
SECRET_BYTES = 32
# The last-used time is a hint for whoever cleans up tokens; writing it on every request would
# cost an UPDATE per call.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    plaintext: str  # shown once, never stored


def token_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def _new_plaintext() -> tuple[str, str]:
    while True:
        prefix = f"{TOKEN_PREFIX}_{secrets.token_hex(PREFIX_HEX // 2)}"
        if not ApiToken.objects.filter(prefix=prefix).exists():
            return prefix, f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def token_issue_secret(token: ApiToken) -> str:
    """Give an unsaved (or re-keyed) token a fresh secret; return the plaintext, which is not kept."""
    prefix, plaintext = _new_plaintext()
    token.prefix = prefix
    token.token_hash = token_hash(plaintext)
    return plaintext


def token_create(
    *,
    owner: User,
    name: str,
    scopes: Iterable[str],
    bots: Iterable[Bot] = (),
    all_bots: bool = False,
    expires_at: dt.datetime | None = None,
    rate_limit: str = "",
    created_by: str = "",
) -> IssuedToken:
    scope_list = sorted(set(scopes))
    unknown = [s for s in scope_list if s not in Scope.values]
    if unknown:
        raise ValueError(f"Unknown scopes: {', '.join(unknown)}")
    token = ApiToken(
        owner=owner,
        name=name,
        scopes=scope_list,
        all_bots=all_bots,
        expires_at=expires_at,
        rate_limit=rate_limit,
        created_by=created_by[:150],
    )
    plaintext = token_issue_secret(token)
    token.full_clean()
    with transaction.atomic():
        token.save()
        token.bots.set(list(bots))
    return IssuedToken(token, plaintext)


def token_revoke(*, token: ApiToken) -> bool:
    """Revoke for good. False if it was revoked already."""
    return bool(ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()))


def token_authenticate(plaintext: str) -> ApiToken | None:
    """The active token this plaintext is, or None (unknown, wrong secret, revoked, expired, owner gone)."""
    parts = plaintext.split("_", 2)  # the secret part may contain "_" itself
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    prefix = f"{parts[0]}_{parts[1]}"
    token = ApiToken.objects.select_related("owner").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.token_hash, token_hash(plaintext)):
        return None
    if not token.is_active or not token.owner.is_active:
        return None
    return token


def token_touch(token: ApiToken) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION: one conditional UPDATE, usually matching nothing."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
    token.last_used_at = now


def token_bots(token: ApiToken, scope: str) -> QuerySet[Bot]:
    """The bots this token may use for ``scope``: its owner's role must allow it, and the token name it."""
    bots = bot_list_for_user(user=token.owner, capability=SCOPE_CAPABILITY[scope])
    if not token.all_bots:
        bots = bots.filter(pk__in=token.bots.values("pk"))
    return bots
